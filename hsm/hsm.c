/*
 * hsm.c - the hardware layer's dispatch: one handle, one backend vtable.
 *
 * Owns struct hsm (a const backend vtable, the backend's context, and the
 * lock that serialises every call on the handle) and the argument checks
 * shared by all backends. It never touches a device itself, never logs, and
 * never keeps a copy of a secret: unwrap output is wiped here on any
 * failure, whatever the backend did.
 */
#include "hsm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "hsm_backend.h"

struct hsm
{
    const struct hsm_backend_ops *ops;
    void *ctx;
    pthread_mutex_t lock;
};

int hsm_create(const struct hsm_backend_ops *ops, void *ctx,
               struct hsm **ret_hsm)
{
    struct hsm *hsm;

    KH_ASSERT(ops != NULL);
    KH_ASSERT(ops->close != NULL);
    KH_ASSERT(ret_hsm != NULL);
    hsm = calloc(1, sizeof(*hsm));
    if (hsm == NULL) {
        ops->close(ctx);
        return KH_ENOMEM;
    }
    if (pthread_mutex_init(&hsm->lock, NULL) != 0) {
        free(hsm);
        ops->close(ctx);
        return KH_EINTERNAL;
    }
    hsm->ops = ops;
    hsm->ctx = ctx;
    *ret_hsm = hsm;
    return 0;
}

int hsm_wrap(struct hsm *hsm, const uint8_t *aad, size_t aad_len,
             const uint8_t *secret, size_t len, uint8_t **ret_blob,
             size_t *ret_blob_len)
{
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(ret_blob != NULL);
    KH_ASSERT(ret_blob_len != NULL);
    if (secret == NULL || len == 0 || len > HSM_SECRET_BYTES_MAX)
        return KH_EINVAL;
    if (aad == NULL && aad_len > 0)
        return KH_EINVAL;
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->wrap(hsm->ctx, aad, aad_len, secret, len, ret_blob,
                       ret_blob_len);
    (void)pthread_mutex_unlock(&hsm->lock);
    KH_ASSERT(r != 0 || *ret_blob_len <= len + HSM_WRAP_OVERHEAD);
    return r;
}

int hsm_unwrap(struct hsm *hsm, const uint8_t *aad, size_t aad_len,
               const uint8_t *blob, size_t blob_len, uint8_t *out,
               size_t out_size, size_t *ret_len)
{
    size_t len = 0;
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(ret_len != NULL);
    if (out == NULL || out_size == 0)
        return KH_EINVAL;
    if (blob == NULL || (aad == NULL && aad_len > 0)) {
        kh_wipe(out, out_size);
        return KH_EINVAL;
    }
    if (blob_len == 0 || blob_len > HSM_SECRET_BYTES_MAX + HSM_WRAP_OVERHEAD) {
        kh_wipe(out, out_size);
        return KH_ECORRUPT;
    }
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->unwrap(hsm->ctx, aad, aad_len, blob, blob_len, out, out_size,
                         &len);
    (void)pthread_mutex_unlock(&hsm->lock);
    if (r != 0) {
        kh_wipe(out, out_size);
        return r;
    }
    KH_ASSERT(len <= out_size);
    *ret_len = len;
    return 0;
}

int hsm_key_attributes(struct hsm *hsm, struct hsm_key_attributes *ret)
{
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(ret != NULL);
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->key_attributes(hsm->ctx, ret);
    (void)pthread_mutex_unlock(&hsm->lock);
    return r;
}

/* ---- named keys ---- */

/* A label the backends accept: 1..HSM_KEY_LABEL_BYTES_MAX bytes. */
static bool hsm_label_ok(const char *label)
{
    size_t len;

    if (label == NULL)
        return false;
    len = strnlen(label, HSM_KEY_LABEL_BYTES_MAX + 1);
    return len > 0 && len <= HSM_KEY_LABEL_BYTES_MAX;
}

int hsm_key_generate(struct hsm *hsm, const char *label)
{
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(hsm->ops != NULL);
    if (!hsm_label_ok(label))
        return KH_EINVAL;
    if (hsm->ops->key_generate == NULL)
        return KH_EHSM;
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->key_generate(hsm->ctx, label);
    (void)pthread_mutex_unlock(&hsm->lock);
    return r;
}

int hsm_key_encrypt(struct hsm *hsm, const char *label,
                    uint8_t iv[HSM_GCM_IV_BYTES], const uint8_t *aad,
                    size_t aad_len, const uint8_t *plain, size_t len,
                    uint8_t *out, size_t out_size, size_t *ret_len)
{
    size_t out_len = 0;
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(ret_len != NULL);
    if (!hsm_label_ok(label) || iv == NULL || out == NULL ||
        (plain == NULL && len > 0) || (aad == NULL && aad_len > 0))
        return KH_EINVAL;
    if (len > HSM_DATA_BYTES_MAX || aad_len > HSM_AAD_BYTES_MAX ||
        out_size < len + HSM_GCM_TAG_BYTES)
        return KH_EINVAL;
    if (hsm->ops->key_encrypt == NULL)
        return KH_EHSM;
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->key_encrypt(hsm->ctx, label, iv, aad, aad_len, plain, len,
                              out, out_size, &out_len);
    (void)pthread_mutex_unlock(&hsm->lock);
    if (r != 0)
        return r;
    KH_ASSERT(out_len == len + HSM_GCM_TAG_BYTES);
    *ret_len = out_len;
    return 0;
}

int hsm_key_decrypt(struct hsm *hsm, const char *label,
                    const uint8_t iv[HSM_GCM_IV_BYTES], const uint8_t *aad,
                    size_t aad_len, const uint8_t *in, size_t len,
                    uint8_t *out, size_t out_size, size_t *ret_len)
{
    size_t out_len = 0;
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(ret_len != NULL);
    if (out == NULL)
        return KH_EINVAL;
    r = KH_EINVAL;
    if (!hsm_label_ok(label) || iv == NULL || in == NULL ||
        (aad == NULL && aad_len > 0) || aad_len > HSM_AAD_BYTES_MAX)
        goto fail;
    r = KH_ECORRUPT;
    if (len < HSM_GCM_TAG_BYTES ||
        len > HSM_DATA_BYTES_MAX + HSM_GCM_TAG_BYTES)
        goto fail;
    r = KH_EINVAL;
    if (out_size < len - HSM_GCM_TAG_BYTES)
        goto fail;
    r = KH_EHSM;
    if (hsm->ops->key_decrypt == NULL)
        goto fail;
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->key_decrypt(hsm->ctx, label, iv, aad, aad_len, in, len, out,
                              out_size, &out_len);
    (void)pthread_mutex_unlock(&hsm->lock);
    if (r != 0)
        goto fail;
    KH_ASSERT(out_len == len - HSM_GCM_TAG_BYTES);
    *ret_len = out_len;
    return 0;
fail:
    kh_wipe(out, out_size);
    return r;
}

int hsm_key_attributes_by_label(struct hsm *hsm, const char *label,
                                struct hsm_key_attributes *ret)
{
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(ret != NULL);
    if (!hsm_label_ok(label))
        return KH_EINVAL;
    if (hsm->ops->key_attributes_by_label == NULL)
        return KH_EHSM;
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->key_attributes_by_label(hsm->ctx, label, ret);
    (void)pthread_mutex_unlock(&hsm->lock);
    return r;
}

int hsm_key_destroy(struct hsm *hsm, const char *label)
{
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(hsm->ops != NULL);
    if (!hsm_label_ok(label))
        return KH_EINVAL;
    if (hsm->ops->key_destroy == NULL)
        return KH_EHSM;
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->key_destroy(hsm->ctx, label);
    (void)pthread_mutex_unlock(&hsm->lock);
    return r;
}

int hsm_ping(struct hsm *hsm)
{
    int r;

    KH_ASSERT(hsm != NULL);
    KH_ASSERT(hsm->ops->ping != NULL);
    (void)pthread_mutex_lock(&hsm->lock);
    r = hsm->ops->ping(hsm->ctx);
    (void)pthread_mutex_unlock(&hsm->lock);
    return r;
}

const char *hsm_backend_name(const struct hsm *hsm)
{
    KH_ASSERT(hsm != NULL);
    KH_ASSERT(hsm->ops->name != NULL);
    return hsm->ops->name;
}

void hsm_close(struct hsm *hsm)
{
    if (hsm == NULL)
        return;
    hsm->ops->close(hsm->ctx);
    (void)pthread_mutex_destroy(&hsm->lock);
    free(hsm);
}
