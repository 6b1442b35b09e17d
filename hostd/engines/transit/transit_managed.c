/*
 * transit_managed.c - managed transit keys: AES-256 keys that live in the
 * seal's PKCS#11 token and encrypt and decrypt there (hsm.h, "named
 * keys"). The API is the one of software keys; only this file differs.
 *
 * Owns the token object labels ("keyhold-transit-<mount uuid>-<name>-
 * v<N>"), the deterministic IVs (fixed field | 64-bit counter per
 * version, see transit.h), their reservations in the key's record, and
 * the use counts. It reaches the token only through the seal's handle,
 * which serialises its own calls. It must never reuse a counter: a
 * counter is handed out only after a record reserving it was stored, and
 * counters are never handed back. It never logs.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "seal/seal_backends.h"

/* Read without core->lock, on purpose: sealing takes core->lock and then
 * waits for in-flight requests to leave the mount table, so a request
 * that waited for core->lock here would deadlock the seal. Reading is
 * safe: core->seal and its ops are set before any request thread exists,
 * and a pkcs11 seal's handle is set (once, never replaced) before the
 * unseal that loaded this mount, whose mount-table lock hand-over orders
 * that write before this read; the handle is closed only after every
 * mount is unloaded. */
int transit_managed_hsm(const struct transit_call *call, struct hsm **ret_hsm)
{
    const struct kh_core *core = call->br->core;
    struct hsm *hsm = NULL;

    if (core != NULL && core->seal != NULL && core->seal->ops != NULL &&
        strcmp(core->seal->ops->type, "pkcs11") == 0)
        hsm = seal_pkcs11_hsm(core->seal);
    if (hsm == NULL)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "managed keys need the pkcs11 seal");
    *ret_hsm = hsm;
    return 0;
}

void transit_managed_label(const struct transit_state *state,
                           const char *name, uint32_t version,
                           char out[TRANSIT_LABEL_BYTES])
{
    int n = snprintf(out, TRANSIT_LABEL_BYTES, TRANSIT_LABEL_PREFIX "%s-%s-v%u",
                     state->mount_uuid, name, (unsigned)version);

    KH_ASSERT(n > 0 && n < TRANSIT_LABEL_BYTES);
}

int transit_managed_generate(const struct transit_call *call,
                             const struct transit_policy *pol,
                             struct transit_version *v)
{
    char label[TRANSIT_LABEL_BYTES];
    struct hsm *hsm = NULL;
    int r;

    KH_ASSERT(pol->managed);
    KH_ASSERT(v->key == NULL);
    r = transit_managed_hsm(call, &hsm);
    if (r != 0)
        return r;
    if (kh_random_bytes(v->iv_fixed, sizeof(v->iv_fixed)) != 0)
        return KH_EINTERNAL;
    v->iv_next = 0;
    v->iv_reserved = 0;
    transit_managed_label(call->state, pol->name, v->version, label);
    r = hsm_key_generate(hsm, label);
    if (r == KH_ECONFLICT)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ECONFLICT,
                         "the token already holds a key labelled \"%s\"; "
                         "remove it before creating this key",
                         label);
    if (r != 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, r,
                         "cannot create the key in the HSM: %s",
                         kh_strerror(r));
    return 0;
}

int transit_managed_destroy_version(const struct transit_call *call,
                                    const struct transit_policy *pol,
                                    uint32_t version,
                                    char label_out[TRANSIT_LABEL_BYTES])
{
    struct hsm *hsm = NULL;
    int r;

    KH_ASSERT(pol->managed);
    KH_ASSERT(version >= 1);
    transit_managed_label(call->state, pol->name, version, label_out);
    r = transit_managed_hsm(call, &hsm);
    if (r != 0)
        return r;
    return hsm_key_destroy(hsm, label_out);
}

int transit_managed_destroy(const struct transit_call *call,
                            const struct transit_policy *pol,
                            uint32_t from_version, size_t *ret_failed)
{
    char label[TRANSIT_LABEL_BYTES];
    char scratch[KH_ERRMSG_SIZE];
    struct transit_call quiet = *call;
    size_t failed = 0;
    uint32_t v;

    KH_ASSERT(pol->managed);
    KH_ASSERT(from_version >= 1);
    quiet.errmsg = scratch;
    quiet.errmsg_size = sizeof(scratch);
    for (v = from_version; v <= pol->latest_version; v++) {
        int r = transit_managed_destroy_version(&quiet, pol, v, label);
        if (r != 0 && r != KH_ENOTFOUND)
            failed++;
    }
    *ret_failed = failed;
    return failed == 0 ? 0 : KH_EHSM;
}

/* Take the next IV of v: reserve (store the record) when the counter
 * reaches the stored reservation. Called with the mount lock held (read
 * or write). */
static int iv_take(const struct transit_call *call, struct transit_policy *pol,
                   struct transit_version *v,
                   uint8_t iv[TRANSIT_NONCE_BYTES])
{
    uint64_t counter, old_reserved;
    int r = 0;
    int i;

    (void)pthread_mutex_lock(&call->state->iv_lock);
    if (v->iv_next >= TRANSIT_MANAGED_USES_MAX) {
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                      "version %u of key \"%s\" has reached its limit of "
                      "%llu encryptions; rotate the key",
                      (unsigned)v->version, pol->name,
                      (unsigned long long)TRANSIT_MANAGED_USES_MAX);
        goto out;
    }
    if (v->iv_next >= v->iv_reserved) {
        old_reserved = v->iv_reserved;
        v->iv_reserved = v->iv_next + TRANSIT_MANAGED_IV_RESERVE;
        if (v->iv_reserved > TRANSIT_MANAGED_USES_MAX)
            v->iv_reserved = TRANSIT_MANAGED_USES_MAX;
        r = transit_policy_store(call->br->view, pol);
        if (r != 0) {
            v->iv_reserved = old_reserved;
            goto out;
        }
    }
    counter = v->iv_next++;
    KH_ASSERT(counter < v->iv_reserved);
    memcpy(iv, v->iv_fixed, TRANSIT_IV_FIXED_BYTES);
    for (i = 0; i < 8; i++)
        iv[TRANSIT_IV_FIXED_BYTES + i] = (uint8_t)(counter >> (56 - 8 * i));
out:
    (void)pthread_mutex_unlock(&call->state->iv_lock);
    return r;
}

uint64_t transit_managed_uses(struct transit_state *state,
                              const struct transit_version *v)
{
    uint64_t uses;

    (void)pthread_mutex_lock(&state->iv_lock);
    uses = v->iv_next;
    (void)pthread_mutex_unlock(&state->iv_lock);
    return uses;
}

int transit_managed_seal(const struct transit_call *call,
                         struct transit_policy *pol,
                         struct transit_version *v, const uint8_t *aad,
                         size_t aad_len, const uint8_t *plain, size_t len,
                         uint8_t **ret_blob, size_t *ret_len)
{
    char label[TRANSIT_LABEL_BYTES];
    size_t blob_len = TRANSIT_NONCE_BYTES + len + TRANSIT_TAG_BYTES;
    size_t out_len = 0;
    struct hsm *hsm = NULL;
    uint8_t *blob;
    int r;

    KH_ASSERT(pol->managed);
    KH_ASSERT(plain != NULL || len == 0);
    r = transit_managed_hsm(call, &hsm);
    if (r != 0)
        return r;
    blob = malloc(blob_len);
    if (blob == NULL)
        return KH_ENOMEM;
    r = iv_take(call, pol, v, blob);
    if (r != 0)
        goto out;
    transit_managed_label(call->state, pol->name, v->version, label);
    r = hsm_key_encrypt(hsm, label, blob, aad, aad_len, plain, len,
                        blob + TRANSIT_NONCE_BYTES, blob_len - TRANSIT_NONCE_BYTES,
                        &out_len);
    if (r != 0) {
        r = kh_errmsg(call->errmsg, call->errmsg_size, r,
                      "HSM encryption failed: %s", kh_strerror(r));
        goto out;
    }
    KH_ASSERT(out_len == len + TRANSIT_TAG_BYTES);
    *ret_blob = blob;
    *ret_len = blob_len;
    blob = NULL;
    r = 0; /* success */
out:
    kh_free_secret(blob, blob_len);
    return r;
}

int transit_managed_open(const struct transit_call *call,
                         const struct transit_policy *pol,
                         const struct transit_version *v, const uint8_t *aad,
                         size_t aad_len, const uint8_t *blob, size_t blob_len,
                         uint8_t **ret_plain, size_t *ret_len)
{
    char label[TRANSIT_LABEL_BYTES];
    struct hsm *hsm = NULL;
    uint8_t *plain;
    size_t len, out_len = 0;
    int r;

    KH_ASSERT(pol->managed);
    KH_ASSERT(blob != NULL);
    if (blob_len < TRANSIT_NONCE_BYTES + TRANSIT_TAG_BYTES)
        return KH_ECORRUPT;
    r = transit_managed_hsm(call, &hsm);
    if (r != 0)
        return r;
    len = blob_len - TRANSIT_NONCE_BYTES;
    plain = malloc(len);
    if (plain == NULL)
        return KH_ENOMEM;
    transit_managed_label(call->state, pol->name, v->version, label);
    r = hsm_key_decrypt(hsm, label, blob, aad, aad_len,
                        blob + TRANSIT_NONCE_BYTES, len, plain, len, &out_len);
    if (r != 0) {
        kh_free_secret(plain, len);
        if (r == KH_ECORRUPT)
            return KH_ECORRUPT;
        return kh_errmsg(call->errmsg, call->errmsg_size, r,
                         "HSM decryption failed: %s", kh_strerror(r));
    }
    KH_ASSERT(out_len == len - TRANSIT_TAG_BYTES);
    *ret_plain = plain;
    *ret_len = out_len;
    return 0;
}
