/*
 * hsm_backend.h - the contract between hsm.c (dispatch) and one backend.
 *
 * A backend (pkcs11.c, later tpm2.c and device.c) fills a const
 * struct hsm_backend_ops at file scope and hands it, with its own context,
 * to hsm_create(). hsm.c owns the handle, validates arguments, and holds the
 * handle's lock around every backend call, so a backend function never runs
 * twice at once on the same context. Backends never log: they return a
 * KH_E* code (see hsm.h for the meaning of each).
 *
 * Internal to hsm/: never include this header outside hsm/.
 */
#ifndef KH_HSM_BACKEND_H
#define KH_HSM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "hsm.h"

struct hsm_backend_ops
{
    const char *name;
    /* Arguments already validated by hsm.c: secret_len in
     * 1..HSM_SECRET_BYTES_MAX, aad non-NULL when aad_len > 0. The blob is
     * malloc'ed, at most secret_len + HSM_WRAP_OVERHEAD bytes. */
    int (*wrap)(void *ctx, const uint8_t *aad, size_t aad_len,
                const uint8_t *secret, size_t secret_len, uint8_t **ret_blob,
                size_t *ret_blob_len);
    /* out is wiped by hsm.c on any failure. */
    int (*unwrap)(void *ctx, const uint8_t *aad, size_t aad_len,
                  const uint8_t *blob, size_t blob_len, uint8_t *out,
                  size_t out_size, size_t *ret_len);
    int (*key_attributes)(void *ctx, struct hsm_key_attributes *ret);
    int (*ping)(void *ctx);
    /* Named keys (hsm.h). Arguments validated by hsm.c: label 1..
     * HSM_KEY_LABEL_BYTES_MAX bytes, len <= HSM_DATA_BYTES_MAX, aad_len
     * <= HSM_AAD_BYTES_MAX, out_size large enough. NULL: the backend has
     * no named keys (hsm.c answers KH_EHSM). */
    int (*key_generate)(void *ctx, const char *label);
    int (*key_encrypt)(void *ctx, const char *label, uint8_t *iv,
                       const uint8_t *aad, size_t aad_len,
                       const uint8_t *plain, size_t len, uint8_t *out,
                       size_t out_size, size_t *ret_len);
    /* out is wiped by hsm.c on any failure. */
    int (*key_decrypt)(void *ctx, const char *label, const uint8_t *iv,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, uint8_t *out, size_t out_size,
                       size_t *ret_len);
    int (*key_attributes_by_label)(void *ctx, const char *label,
                                   struct hsm_key_attributes *ret);
    int (*key_destroy)(void *ctx, const char *label);
    /* Release everything the context holds, wiping secrets; accepts
     * NULL. */
    void (*close)(void *ctx);
};

/* Wrap a backend context into a handle. Takes ownership of ctx in every
 * case: on failure (KH_ENOMEM, KH_EINTERNAL) ops->close(ctx) has been
 * called. */
int hsm_create(const struct hsm_backend_ops *ops, void *ctx,
               struct hsm **ret_hsm) KH_MUST_CHECK;

#endif
