/*
 * seal_shamir.c - the shamir seal: the root key is encrypted under an
 * unseal key (AES-256-GCM, the storage path as AAD); operators hold shares
 * of the unseal key (seal/shamir.c splits and combines them in core/).
 *
 * The unseal key is never stored. Never logs.
 */
#include <stdlib.h>
#include <string.h>

#include "barrier/aead.h"
#include "barrier/barrier.h"
#include "common/err.h"
#include "common/secret.h"
#include "seal/seal_backends.h"

static int shamir_wrap(struct seal *seal, const uint8_t *unseal_key,
                       const char *path, const uint8_t key[KH_ROOT_KEY_BYTES],
                       uint8_t **ret_blob, size_t *ret_blob_len)
{
    size_t size = KH_ROOT_KEY_BYTES + BARRIER_OVERHEAD;
    uint8_t *blob;
    size_t len = 0;
    int r;

    if (unseal_key == NULL)
        return KH_EINVAL;
    blob = malloc(size);
    if (blob == NULL)
        return KH_ENOMEM;
    r = aead_encrypt(unseal_key, 0, (const uint8_t *)path, strlen(path), key,
                     KH_ROOT_KEY_BYTES, blob, size, &len);
    if (r != 0) {
        free(blob);
        return r;
    }
    *ret_blob = blob;
    *ret_blob_len = len;
    return 0;
}

static int shamir_unwrap(struct seal *seal, const uint8_t *unseal_key,
                         const char *path, const uint8_t *blob,
                         size_t blob_len, uint8_t key[KH_ROOT_KEY_BYTES])
{
    uint8_t out[KH_ROOT_KEY_BYTES + BARRIER_OVERHEAD];
    size_t len = 0;
    int r;

    if (unseal_key == NULL)
        return KH_EINVAL;
    r = aead_decrypt(unseal_key, (const uint8_t *)path, strlen(path), blob,
                     blob_len, out, sizeof(out), &len);
    if (r == 0 && len != KH_ROOT_KEY_BYTES)
        r = KH_ECORRUPT;
    if (r == 0)
        memcpy(key, out, KH_ROOT_KEY_BYTES);
    kh_wipe(out, sizeof(out));
    return r;
}

static int shamir_health(struct seal *seal)
{
    return 0;
}

static const struct seal_ops seal_shamir_ops = {
    .type = "shamir",
    .auto_unseal = false,
    .wrap = shamir_wrap,
    .unwrap = shamir_unwrap,
    .health = shamir_health,
    .close = NULL,
};

int seal_shamir_init(struct seal *seal)
{
    seal->ops = &seal_shamir_ops;
    seal->impl = NULL;
    return 0;
}
