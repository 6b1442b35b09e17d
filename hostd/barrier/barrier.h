/*
 * barrier.h - the storage barrier: nothing reaches physical storage in
 * clear (hostd/README.md).
 *
 * Every value is sealed with AES-256-GCM before storage_put:
 *
 *     term (4, big endian) | version (1) | nonce (12) | ciphertext | tag (16)
 *
 * with the storage key (path) as additional authenticated data, so a value
 * moved to another path, a flipped bit or a truncated record fails
 * authentication: the read returns KH_ECORRUPT and no data.
 *
 * Keys live in a keyring of numbered terms. The keyring itself is stored at
 * BARRIER_KEYRING_PATH, sealed with the root key (same layout, term 0).
 * barrier_rotate() adds a term; old terms stay readable. Encryptions are
 * counted per term and the barrier rotates by itself before
 * KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX.
 *
 * WARNING - nonce reuse and volume limits: nonces are 96 random bits per
 * encryption. By the birthday bound, the probability of a repeat after n
 * encryptions under one key is about n^2 / 2^97; NIST SP 800-38D §8.3 caps
 * random-nonce GCM at 2^32 invocations per key. A repeated nonce reveals
 * the XOR of two plaintexts and lets an attacker forge tags. Never
 * encrypt with a term after its counter passes the limit; never reset
 * counters; persist them (they are saved in the keyring, and on unseal the
 * barrier adds a safety margin for counts that were not yet persisted).
 *
 * Paths outside the barrier: keys beginning with "core/seal/" hold the seal
 * configuration and the sealed root key; barrier_put/get refuse them
 * (KH_EINVAL) so no caller can store plaintext there through the barrier
 * by mistake, and callers use kh_storage_* directly for them. The keyring
 * path belongs to the barrier: put/get/delete/batch refuse it too, and so
 * do they an empty path or one over KH_STORAGE_KEY_BYTES_MAX (KH_EINVAL).
 *
 * Counters on disk: the stored active-term counter is a reservation. Before
 * a put may use encryption number n, a keyring whose active counter is at
 * least n is stored (one write per BARRIER_PERSIST_INTERVAL puts, which
 * reserves that many ahead); a clean seal stores the exact counts. So the
 * stored value never falls below the encryptions really made, even after
 * a kill -9, and unseal resumes from it.
 *
 * Thread safety: all functions may be called concurrently. seal/unseal/
 * rotate take the barrier's write lock; get/put/delete/list take the read
 * lock. While sealed every call but unseal/initialize returns KH_ESEALED.
 */
#ifndef KH_BARRIER_BARRIER_H
#define KH_BARRIER_BARRIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "barrier/aead.h"
#include "common/assert.h"
#include "config/limits.h"
#include "storage/storage.h"

#define BARRIER_KEYRING_PATH  "core/keyring"
#define BARRIER_UNSEALED_PATH "core/seal/" /* prefix stored in clear */
/* The record layout is aead.h's; these names stay for the barrier's users. */
#define BARRIER_VERSION      AEAD_VERSION
#define BARRIER_HEADER_BYTES AEAD_HEADER_BYTES
#define BARRIER_TAG_BYTES    AEAD_TAG_BYTES
#define BARRIER_OVERHEAD     AEAD_OVERHEAD
/* Largest value barrier_put accepts: the record must fit one storage value. */
#define BARRIER_VALUE_BYTES_MAX (KH_STORAGE_VALUE_BYTES_MAX - BARRIER_OVERHEAD)
/* Encryptions reserved by each counter write (see "Counters on disk"). */
#define BARRIER_PERSIST_INTERVAL (1ull << 16)

struct barrier;

struct barrier_key_status
{
    uint32_t term; /* active term */
    struct timespec install_time;
    uint64_t encryptions; /* under the active term */
};

/* Create a sealed barrier over storage (not owned; must outlive it). */
int barrier_create(struct kh_storage *storage,
                   struct barrier **ret_barrier) KH_MUST_CHECK;

/* True if a keyring exists in storage (the barrier was initialised). */
int barrier_initialized(struct barrier *b, bool *ret_initialized);

/* Create the keyring with term 1 and store it sealed by root_key
 * (KH_ROOT_KEY_BYTES). Fails with KH_ESTATE if a keyring exists. Leaves
 * the barrier unsealed. */
int barrier_initialize(struct barrier *b,
                       const uint8_t root_key[KH_ROOT_KEY_BYTES]) KH_MUST_CHECK;

/* Load and decrypt the keyring with root_key. KH_ECORRUPT when the root
 * key is wrong or the keyring was tampered with (the barrier stays
 * sealed), KH_EUNINIT when there is no keyring. On an unsealed barrier:
 * 0 if root_key is the one in use, else KH_ECORRUPT (stays unsealed). */
int barrier_unseal(struct barrier *b,
                   const uint8_t root_key[KH_ROOT_KEY_BYTES]) KH_MUST_CHECK;

/* Store the exact encryption counters (best effort), then wipe every key
 * and the root key copy from memory. Idempotent. */
/* Read the keyring again from storage with the root key held (a raft
 * standby becoming active: the active node may have rotated it). On
 * failure the barrier stays sealed if it was reset, else unchanged:
 * KH_ESEALED, KH_ECORRUPT (the stored keyring does not open with this root
 * key: seal and unseal again), KH_EIO. */
int barrier_reload(struct barrier *b) KH_MUST_CHECK;
/* Does the keyring stored in other open with this barrier's root key?
 * 0, KH_ECORRUPT, KH_ENOTFOUND, KH_ESEALED. */
int barrier_keyring_opens(struct barrier *b,
                          struct kh_storage *other) KH_MUST_CHECK;
void barrier_seal(struct barrier *b);
/* Seal without storing the keyring's counters: for a keyring that is no
 * longer the stored one (a restore replaced it). */
void barrier_seal_discard(struct barrier *b);

bool barrier_sealed(struct barrier *b);

/* Add a new term and make it active; persists the keyring first (if that
 * fails, the old term stays active). KH_ELIMIT at KH_BARRIER_TERMS_MAX. */
int barrier_rotate(struct barrier *b) KH_MUST_CHECK;

int barrier_key_status(struct barrier *b, struct barrier_key_status *ret);

/* Encrypt and store. value may contain secrets: the plaintext is not
 * retained. KH_EINVAL for a refused path or len > BARRIER_VALUE_BYTES_MAX;
 * rotates first when the active term is used up. */
int barrier_put(struct barrier *b, const char *path, const uint8_t *value,
                size_t len) KH_MUST_CHECK;

/* Read and decrypt. *ret_value is malloc'ed plaintext: free it with
 * kh_free_secret(value, len). KH_ENOTFOUND if absent, KH_ECORRUPT if it
 * fails authentication (nothing is returned). */
int barrier_get(struct barrier *b, const char *path, uint8_t **ret_value,
                size_t *ret_len) KH_MUST_CHECK;

int barrier_delete(struct barrier *b, const char *path) KH_MUST_CHECK;

/* One level below prefix, as kh_storage_list. */
int barrier_list(struct barrier *b, const char *prefix,
                 struct kh_storage_list *ret) KH_MUST_CHECK;

/* Encrypt several puts/deletes and commit them atomically. KH_EINVAL for
 * a refused path, an unknown kind or count > KH_STORAGE_BATCH_OPS_MAX. */
int barrier_batch(struct barrier *b, const struct kh_storage_op *ops,
                  size_t count) KH_MUST_CHECK;

/* Seal (wipe) and free; accepts NULL. Does not close the storage. */
void barrier_free(struct barrier *b);

#endif
