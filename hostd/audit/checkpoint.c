/*
 * checkpoint.c - the checkpoint key: 32 random bytes made at first use
 * that MAC the checkpoint records of every audit device (chain.h).
 *
 * "Signed" in the docs means MAC'd with a key only the seal can unwrap:
 * with an auto seal (pkcs11) the key is wrapped by the HSM's key
 * (seal->ops->wrap, the storage path bound as AAD) and stored outside the
 * barrier at AUDIT_CKEY_SEAL_PATH; with the shamir seal there is no HSM,
 * and the tpm2 seal binds what it wraps to PCR values (a planned PCR
 * change would lose the key), so there the key is stored inside the
 * barrier at AUDIT_CKEY_BARRIER_PATH and is as safe as the root key. The HSM layer has no signing operation, so
 * a verifier needs the server (sys/audit/verify-checkpoint) to check a
 * MAC. The key lives in locked memory while unsealed and is wiped at
 * unload. Never logs the key.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "barrier/barrier.h"
#include "common/secret.h"
#include "core/core.h"
#include "seal/seal.h"

static int ckey_from_barrier(struct audit_broker *b, uint8_t *key)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = barrier_get(b->core->barrier, AUDIT_CKEY_BARRIER_PATH, &value, &len);
    if (r == 0 && len != AUDIT_CKEY_BYTES)
        r = KH_ECORRUPT;
    if (r == 0)
        memcpy(key, value, AUDIT_CKEY_BYTES);
    kh_free_secret(value, len);
    if (r != KH_ENOTFOUND)
        return r;
    r = kh_random_bytes(key, AUDIT_CKEY_BYTES);
    if (r == 0)
        r = barrier_put(b->core->barrier, AUDIT_CKEY_BARRIER_PATH, key,
                        AUDIT_CKEY_BYTES);
    return r;
}

static int ckey_from_seal(struct audit_broker *b, struct seal *seal,
                          uint8_t *key)
{
    struct kh_storage *storage = b->core->storage;
    uint8_t *blob = NULL;
    size_t len = 0;
    int r;

    static_assert(AUDIT_CKEY_BYTES == KH_ROOT_KEY_BYTES,
                  "the seal wraps root-key-sized keys");
    r = kh_storage_get(storage, AUDIT_CKEY_SEAL_PATH, &blob, &len);
    if (r == 0) {
        r = seal->ops->unwrap(seal, NULL, AUDIT_CKEY_SEAL_PATH, blob, len,
                              key);
        free(blob);
        return r;
    }
    if (r != KH_ENOTFOUND)
        return r;
    r = kh_random_bytes(key, AUDIT_CKEY_BYTES);
    if (r == 0)
        r = seal->ops->wrap(seal, NULL, AUDIT_CKEY_SEAL_PATH, key, &blob,
                            &len);
    if (r == 0)
        r = kh_storage_put(storage, AUDIT_CKEY_SEAL_PATH, blob, len);
    free(blob);
    return r;
}

int audit_ckey_load(struct audit_broker *b, char *errmsg, size_t errmsg_size)
{
    struct seal *seal = b->core->seal;
    uint8_t *key;
    int r;

    KH_ASSERT(b->ckey == NULL);
    key = kh_secure_alloc(AUDIT_CKEY_BYTES);
    if (key == NULL)
        return KH_ENOMEM;
    /* The tpm2 seal binds what it wraps to PCR values and keeps no
     * recovery copy of it: after a planned PCR change the key would be
     * lost, so under tpm2 it lives in the barrier like under shamir. */
    if (seal != NULL && seal->ops != NULL && seal->ops->auto_unseal &&
        strcmp(seal->ops->type, "tpm2") != 0)
        r = ckey_from_seal(b, seal, key);
    else
        r = ckey_from_barrier(b, key);
    if (r != 0) {
        kh_secure_free(key, AUDIT_CKEY_BYTES);
        return kh_errmsg(errmsg, errmsg_size, r,
                         "audit: cannot load the checkpoint key: %s",
                         kh_strerror(r));
    }
    b->ckey = key;
    return 0;
}
