/*
 * core_unseal.c - sys/unseal: collect key shares from operators until the
 * threshold is reached, then reconstruct the key and open the barrier
 * (Vault API: sys/unseal).
 *
 * With the shamir seal the shares are unseal key shares: the reconstructed
 * key decrypts the root key. With an auto seal (pkcs11) they are recovery
 * key shares: the reconstructed key must equal the recovery key the HSM
 * unwraps, and only then does the HSM unwrap the root key - operators
 * prove a quorum, the HSM stays the root. Shares in progress live in
 * locked memory and are wiped on reset, on success and on failure.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "core/core_internal.h"
#include "seal/shamir.h"

unsigned core_threshold(const struct kh_core *core)
{
    return core->seal->ops->auto_unseal ? core->seal_config.recovery_threshold
                                        : core->seal_config.secret_threshold;
}

int core_share_add_locked(struct kh_core *core, uint8_t *shares,
                          unsigned *progress, size_t *share_len,
                          const uint8_t *share, size_t len, char *errmsg,
                          size_t errmsg_size)
{
    unsigned total = core->seal->ops->auto_unseal
                         ? core->seal_config.recovery_shares
                         : core->seal_config.secret_shares;
    size_t expected = total == 1 ? KH_ROOT_KEY_BYTES : KH_SHARE_BYTES_MAX;
    unsigned i;

    if (len != expected)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "'key' must be a valid key share: expected %zu "
                         "bytes, got %zu", expected, len);
    if (*progress >= KH_SHAMIR_SHARES_MAX)
        return KH_ELIMIT;
    for (i = 0; i < *progress; i++) {
        if (kh_ct_equal(shares + i * expected, share, expected))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "the given key has already been provided during "
                             "this attempt");
    }
    memcpy(shares + *progress * expected, share, expected);
    *share_len = expected;
    (*progress)++;
    return 0;
}

int core_shares_combine(const uint8_t *shares, unsigned count,
                        size_t share_len, uint8_t key[KH_ROOT_KEY_BYTES])
{
    if (share_len == KH_ROOT_KEY_BYTES) {
        memcpy(key, shares, KH_ROOT_KEY_BYTES);
        return 0;
    }
    return shamir_combine(shares, count, share_len, key, KH_ROOT_KEY_BYTES);
}

int core_root_key_from_shares_locked(struct kh_core *core,
                                     const uint8_t key[KH_ROOT_KEY_BYTES],
                                     uint8_t root_key[KH_ROOT_KEY_BYTES],
                                     char *errmsg, size_t errmsg_size)
{
    uint8_t recovery[KH_ROOT_KEY_BYTES];
    int r;

    if (!core->seal->ops->auto_unseal)
        return seal_recover_key(core->seal, core->storage, key,
                                SEAL_ROOT_KEY_PATH, root_key);
    /* The candidate key goes to the seal too: tpm2 can prove it and open
     * the root key without the TPM after a PCR change; pkcs11 ignores it. */
    r = seal_connect(core->seal, errmsg, errmsg_size);
    if (r == 0)
        r = seal_recover_key(core->seal, core->storage, key,
                             SEAL_RECOVERY_KEY_PATH, recovery);
    if (r == 0 && !kh_ct_equal(recovery, key, sizeof(recovery)))
        r = KH_ECORRUPT;
    if (r == 0)
        r = seal_recover_key(core->seal, core->storage, key,
                             SEAL_ROOT_KEY_PATH, root_key);
    kh_wipe(recovery, sizeof(recovery));
    return r;
}

/* The threshold was reached: recover the root key and open the barrier.
 * A failure to prove the shares is the operator's (400); a failure after
 * the shares were proven means the stored keyring or cluster record is
 * damaged, and says so (500) instead of blaming the shares. */
static int open_locked(struct kh_core *core, char *errmsg, size_t errmsg_size)
{
    uint8_t key[KH_ROOT_KEY_BYTES];
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    int r;

    r = core_shares_combine(core->progress_shares, core->progress,
                            core->progress_share_len, key);
    if (r == 0 && core->join_doc != NULL) {
        /* A joining node: the shares answer the cluster's challenge. */
        r = core_join_unseal_locked(core, key, errmsg, errmsg_size);
        kh_wipe(key, sizeof(key));
        return r;
    }
    if (r == 0)
        r = core_root_key_from_shares_locked(core, key, root_key, errmsg,
                                             errmsg_size);
    if (r == KH_ECORRUPT) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "unseal failed: the key shares do not reconstruct the "
                      "%s key (cipher: message authentication failed)",
                      core->seal->ops->auto_unseal ? "recovery" : "unseal");
        goto out;
    }
    if (r == 0)
        r = barrier_unseal(core->barrier, root_key);
    if (r == 0)
        r = core_after_unseal_locked(core);
    if (r == KH_ECORRUPT || r == KH_EUNINIT)
        kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                  "unseal failed: the key shares are valid but the stored "
                  "keyring or cluster record failed authentication (store "
                  "damaged or tampered with)");
    else if (r != 0 && errmsg[0] == '\0')
        kh_errmsg(errmsg, errmsg_size, r, "unseal failed: %s",
                  kh_strerror(r));
    if (r == KH_EUNINIT)
        r = KH_ECORRUPT;
out:
    if (r != 0)
        core_seal_locked(core);
    kh_wipe(key, sizeof(key));
    kh_wipe(root_key, sizeof(root_key));
    return r;
}

int kh_core_unseal(struct kh_core *core, const uint8_t *share,
                   size_t share_len, bool reset, char *errmsg,
                   size_t errmsg_size)
{
    int r = 0;

    errmsg[0] = '\0';
    pthread_mutex_lock(&core->lock);
    if (!core->initialized) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "Vault is not initialized");
        goto out;
    }
    if (reset) {
        if (!barrier_sealed(core->barrier))
            r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "vault is unsealed");
        core_progress_reset_locked(core);
        goto out;
    }
    if (!barrier_sealed(core->barrier))
        goto out;
    if (share == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "'key' must be specified in request body as JSON, or "
                      "'reset' set to true");
        goto out;
    }
    if (core->progress == 0) {
        r = kh_uuid_generate(core->progress_nonce);
        if (r != 0)
            goto out;
    }
    r = core_share_add_locked(core, core->progress_shares, &core->progress,
                              &core->progress_share_len, share, share_len,
                              errmsg, errmsg_size);
    if (r != 0 || core->progress < core_threshold(core))
        goto out;
    r = open_locked(core, errmsg, errmsg_size);
    core_progress_reset_locked(core);
    if (r == 0)
        log_info("core: unsealed by %u key shares", core_threshold(core));
    else
        log_warn("core: unseal attempt failed: %s", errmsg);
out:
    pthread_mutex_unlock(&core->lock);
    return r;
}
