/*
 * seal.h - protection of the root key (hostd/README.md).
 *
 * The root key (KH_ROOT_KEY_BYTES) decrypts the barrier keyring. A seal
 * decides how the root key is kept at rest, in storage outside the barrier
 * under SEAL_ROOT_KEY_PATH:
 *
 *  - shamir: encrypted (AES-256-GCM, aead.h) under an unseal key that is
 *    split into shares for operators; the node stays sealed until a
 *    threshold of shares is entered.
 *  - pkcs11: wrapped by a never-extractable AES key inside an HSM; the node
 *    unseals itself at start. Operators hold recovery key shares instead.
 *
 * Backends implement struct seal_ops in one file each. The seal
 * configuration (type, shares, thresholds) is stored in clear at
 * SEAL_CONFIG_PATH: it is not secret, and it is needed before unseal.
 *
 * Thread safety: the core calls seal functions under its own state lock.
 */
#ifndef KH_SEAL_SEAL_H
#define KH_SEAL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "common/err.h"
#include "config/limits.h"
#include "storage/storage.h"

struct kh_config_stanza;

#define SEAL_CONFIG_PATH "core/seal/config"
#define SEAL_ROOT_KEY_PATH "core/seal/root-key"
#define SEAL_RECOVERY_KEY_PATH "core/seal/recovery-key"

/* What sys/init stored, as sys/seal-status reports it. */
struct seal_config
{
    char type[16];              /* "shamir", "pkcs11" */
    unsigned secret_shares;     /* shamir: unseal shares */
    unsigned secret_threshold;
    unsigned recovery_shares;   /* auto seals: recovery shares */
    unsigned recovery_threshold;
};

struct seal;

struct seal_ops
{
    const char *type;
    bool auto_unseal;           /* root key recoverable without operators */
    /* Protect a KH_ROOT_KEY_BYTES key that will be stored at path (bound
     * as AAD); *ret_blob is malloc'ed. For shamir, unseal_key is the key
     * the shares reconstruct; auto seals ignore it. */
    int (*wrap)(struct seal *seal, const uint8_t *unseal_key,
                const char *path, const uint8_t key[KH_ROOT_KEY_BYTES],
                uint8_t **ret_blob, size_t *ret_blob_len);
    int (*unwrap)(struct seal *seal, const uint8_t *unseal_key,
                  const char *path, const uint8_t *blob, size_t blob_len,
                  uint8_t key[KH_ROOT_KEY_BYTES]);
    /* 0 if the backing device answers (always 0 for shamir). */
    int (*health)(struct seal *seal);
    void (*close)(struct seal *seal);
};

struct seal
{
    const struct seal_ops *ops;
    void *impl;
    char errmsg[KH_ERRMSG_SIZE]; /* last backend failure, for status */
};

/* Create the seal a config stanza names (NULL stanza type = shamir).
 * Opening an HSM may fail: then *ret_seal is still returned (so the node
 * can report and retry) and the return value is the error, with errmsg. */
int seal_open(const struct kh_config_stanza *stanza, struct seal **ret_seal,
              char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* (Re)connect the backing device of an auto seal. 0 when ready. */
int seal_connect(struct seal *seal, char *errmsg, size_t errmsg_size);

/* True once seal_connect succeeded (always true for shamir). */
bool seal_ready(const struct seal *seal);

void seal_close(struct seal *seal);

/* Read the stored seal configuration: KH_ENOTFOUND if not initialised. */
int seal_config_load(struct kh_storage *storage, struct seal_config *ret);

/* Store config, the protected root key and (auto seals, recovery_key not
 * NULL) the protected recovery key in one atomic batch. */
int seal_store(struct seal *seal, struct kh_storage *storage,
               const struct seal_config *config, const uint8_t *unseal_key,
               const uint8_t root_key[KH_ROOT_KEY_BYTES],
               const uint8_t *recovery_key) KH_MUST_CHECK;

/* Recover the key stored at path (SEAL_ROOT_KEY_PATH or
 * SEAL_RECOVERY_KEY_PATH). KH_ECORRUPT: wrong unseal key or tampered blob;
 * KH_ENOTFOUND: nothing stored there. */
int seal_recover_key(struct seal *seal, struct kh_storage *storage,
                     const uint8_t *unseal_key, const char *path,
                     uint8_t key[KH_ROOT_KEY_BYTES]) KH_MUST_CHECK;

#endif
