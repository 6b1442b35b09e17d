/*
 * transit.h - the transit secrets engine: encryption as a service and
 * envelope encryption (Vault API: transit), with keys in software (sealed
 * by the barrier) or inside the seal's PKCS#11 token ("managed" keys).
 *
 * This header is the ops table plus the internal API shared by the files
 * of engines/transit/, one job each:
 *
 *   transit_backend.c     ops table, per-mount state, route table, 404/405
 *   transit_cache.c       the per-mount key cache, its locks, auto-rotation
 *   transit_policy.c      a key's stored record: encode, decode, versions
 *   transit_keys.c        keys/, keys/:name/{rotate,config}
 *   transit_export.c      export/:type/:name[/:version]
 *   transit_view.c        the JSON view of a key (GET keys/:name)
 *   transit_crypto.c      software crypto: AEAD, HKDF, RSA-OAEP, key gen
 *   transit_sign.c        sign/ verify/ hmac/ and their primitives
 *   transit_managed.c     managed keys: HSM objects, IV counters, use counts
 *   transit_disable.c     the disable hook: the mount's HSM objects go too
 *   transit_encrypt.c     encrypt/ decrypt/ rewrap/ datakey/ (+ batches)
 *   transit_batch.c       batch_input: per-item runs and the 400 envelope
 *   transit_ciphertext.c  the "vault:v<N>:<base64>" format
 *   transit_misc.c        random/ and hash/
 *   transit_fields.c      typed request fields over a JSON object
 *
 * Storage layout inside the mount's barrier view (every value sealed by
 * the barrier; key names are not secret):
 *
 *   policy/<name>   one key: settings and every version's material
 *
 * Software key material exists only in those records and, while the
 * mount is loaded, in the cache (heap, wiped on eviction and unmount). It
 * leaves the engine only through export/ when the key was created
 * exportable. A managed key's AES key never exists outside the token: its
 * record holds the token object's label and the IV counter reservation.
 *
 * Ciphertexts: "vault:v" <version> ":" base64(nonce | ciphertext | tag),
 * 12-byte nonce and 16-byte tag for aes256-gcm96, chacha20-poly1305 and
 * managed keys; base64(OAEP ciphertext) for RSA keys. associated_data is
 * the AEAD's AAD. Derived keys: HKDF-SHA256(key, salt = none, info =
 * context) gives the per-context key.
 *
 * Managed keys and IVs (WARNING): the token encrypts with the IV we give
 * it, so IVs are deterministic (NIST SP 800-38D §8.2.1): a 4-byte fixed
 * field chosen at random when the version is created, then a 64-bit
 * big-endian invocation counter per key version. Before counter n is
 * used, a record whose reservation is > n is stored (one write per
 * TRANSIT_MANAGED_IV_RESERVE encryptions); a reload resumes at the stored
 * reservation, so a crash may skip counters but never repeats one. The
 * counter is the version's use count; at TRANSIT_MANAGED_USES_MAX the
 * version refuses to encrypt (rotate the key).
 *
 * Concurrency: per mount, an rwlock over the cache and every stored
 * record (writes to records under the write lock) and a mutex over the
 * managed IV counters (which may persist a record under the read lock:
 * only the counter fields change then, and only under that mutex).
 */
#ifndef KH_ENGINES_TRANSIT_TRANSIT_H
#define KH_ENGINES_TRANSIT_TRANSIT_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/encoding.h"
#include "config/limits.h"
#include "engines/backend.h"
#include "hsm.h"

/* ---- limits (house style), each tested at max and max + 1 ---- */

/* Decoded plaintext of one encrypt item, hash or hmac input. */
#define TRANSIT_PLAINTEXT_BYTES_MAX (1024u * 1024u)
/* Items of one batch_input. */
#define TRANSIT_BATCH_ITEMS_MAX 1000
/* Versions of one key (rotations stop there). */
#define TRANSIT_KEY_VERSIONS_MAX 512
/* Key names: [A-Za-z0-9._-], so a managed key's HSM label always fits. */
#define TRANSIT_KEY_NAME_BYTES_MAX 63
/* Decoded context and associated_data. */
#define TRANSIT_CONTEXT_BYTES_MAX 4096
#define TRANSIT_AAD_BYTES_MAX     (64u * 1024u)
/* random/: bytes per call (Vault's own cap). */
#define TRANSIT_RANDOM_BYTES_MAX (128u * 1024u)
/* auto_rotate_period: 0, or 1 hour to 100 years (Vault's minimum). */
#define TRANSIT_AUTO_ROTATE_MIN_S 3600ull
#define TRANSIT_AUTO_ROTATE_MAX_S (100ull * 365ull * 86400ull)
/* Keys kept decoded in memory per mount; others are loaded on use. */
#define TRANSIT_CACHE_KEYS_MAX 256

/* Managed keys: encryptions per key version, and counters reserved by
 * each stored record. 2^32 follows SP 800-38D's conservative volume
 * advice even though counter IVs would allow more. */
#define TRANSIT_MANAGED_USES_MAX   (1ull << 32)
#define TRANSIT_MANAGED_IV_RESERVE 4096ull
#define TRANSIT_IV_FIXED_BYTES     4
#define TRANSIT_LABEL_PREFIX       "keyhold-transit-"

#define TRANSIT_NONCE_BYTES 12
#define TRANSIT_TAG_BYTES   16
#define TRANSIT_AEAD_KEY_BYTES 32
#define TRANSIT_HMAC_KEY_BYTES 32

static_assert(TRANSIT_NONCE_BYTES == HSM_GCM_IV_BYTES,
              "managed ciphertexts share the software layout");
static_assert(TRANSIT_TAG_BYTES == HSM_GCM_TAG_BYTES,
              "managed ciphertexts share the software layout");
static_assert(TRANSIT_PLAINTEXT_BYTES_MAX + 512 <= HSM_DATA_BYTES_MAX,
              "a plaintext (or a data key) fits one HSM call");
static_assert(TRANSIT_AAD_BYTES_MAX <= HSM_AAD_BYTES_MAX,
              "associated data fits one HSM call");
static_assert(sizeof(TRANSIT_LABEL_PREFIX) - 1 + KH_UUID_STR_LEN + 1 +
                      TRANSIT_KEY_NAME_BYTES_MAX + 2 + 10 <=
                  HSM_KEY_LABEL_BYTES_MAX,
              "a managed key's label fits the token's label limit");
static_assert(TRANSIT_IV_FIXED_BYTES + 8 == TRANSIT_NONCE_BYTES,
              "fixed field and 64-bit counter make the IV");
static_assert(TRANSIT_MANAGED_IV_RESERVE < TRANSIT_MANAGED_USES_MAX,
              "a reservation is small against a version's uses");

#define TRANSIT_LABEL_BYTES (HSM_KEY_LABEL_BYTES_MAX + 1)
/* "policy/" + name */
#define TRANSIT_STORAGE_KEY_BYTES (7 + TRANSIT_KEY_NAME_BYTES_MAX + 1)

/* The HTTP ops table (registry.c lists it). */
extern const struct backend_ops transit_backend_ops;

/* ---- key types ---- */

enum transit_key_type {
    TRANSIT_AES256_GCM96 = 1,
    TRANSIT_CHACHA20_POLY1305,
    TRANSIT_ECDSA_P256,
    TRANSIT_ED25519,
    TRANSIT_RSA_2048,
    TRANSIT_RSA_4096,
    TRANSIT_HMAC,
};

struct transit_type_info
{
    enum transit_key_type type;
    const char *name;
    bool aead;       /* symmetric encryption */
    bool encryption; /* encrypt/decrypt (aead or RSA-OAEP) */
    bool signing;
    bool asymmetric;
};

/* The row for a type name, or NULL. */
const struct transit_type_info *transit_type_by_name(const char *name);
const struct transit_type_info *transit_type_info(enum transit_key_type t);

/* ---- keys in memory ---- */

struct transit_version
{
    uint32_t version;
    int64_t created_s;
    /* Software keys: the AEAD or HMAC key, or the PKCS#8 DER private key
     * (asymmetric); NULL for managed keys. Owned, wiped on free. */
    uint8_t *key;
    size_t key_len;
    /* Software keys: the version's HMAC key (hmac/ with any key type). */
    uint8_t hmac_key[TRANSIT_HMAC_KEY_BYTES];
    bool has_hmac_key;
    char *public_key; /* asymmetric: PEM, or base64 for ed25519; owned */
    /* Managed keys. iv_next and iv_reserved: guarded by the iv lock. */
    uint8_t iv_fixed[TRANSIT_IV_FIXED_BYTES];
    uint64_t iv_next;
    uint64_t iv_reserved;
};

/* Invariants: versions[i].version == i + 1; version_count ==
 * latest_version <= TRANSIT_KEY_VERSIONS_MAX; min_encryption_version is
 * 0 or in min_decryption_version..latest_version. */
struct transit_policy
{
    char name[TRANSIT_KEY_NAME_BYTES_MAX + 1];
    enum transit_key_type type;
    bool derived;
    bool exportable;
    bool allow_plaintext_backup;
    bool deletion_allowed;
    bool managed;
    uint32_t latest_version;
    uint32_t min_decryption_version;
    uint32_t min_encryption_version;
    uint64_t auto_rotate_period_s;
    struct transit_version *versions;
    size_t version_count;
};

/* ---- per-mount state and one call ---- */

struct transit_state
{
    pthread_rwlock_t lock;
    pthread_mutex_t iv_lock;
    char mount_uuid[KH_UUID_STR_LEN + 1];
    /* The core of the requests served (atomic; NULL until the first):
     * the disable hook's way to the seal's HSM when the mount table
     * does not pass the core. */
    struct kh_core *core;
    struct transit_policy *cache[TRANSIT_CACHE_KEYS_MAX];
    size_t cache_next; /* next slot to evict when full */
};

/* One request as the handlers see it. name: the path segment after the
 * route word ("k1" for encrypt/k1); tail: what follows it ("" if none). */
struct transit_call
{
    const struct backend_request *br;
    struct transit_state *state;
    const char *name;
    const char *tail;
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*transit_handler_fn)(const struct transit_call *call);

/* ---- records (transit_policy.c) ---- */

void transit_policy_free(struct transit_policy *pol);
int transit_policy_encode(const struct transit_policy *pol, char **ret_text,
                          size_t *ret_len) KH_MUST_CHECK;
int transit_policy_decode(const uint8_t *bytes, size_t len,
                          struct transit_policy **ret_pol) KH_MUST_CHECK;
/* KH_ENOTFOUND when absent, KH_ECORRUPT when malformed. */
int transit_policy_load(const struct barrier_view *view, const char *name,
                        struct transit_policy **ret_pol) KH_MUST_CHECK;
int transit_policy_store(const struct barrier_view *view,
                         const struct transit_policy *pol) KH_MUST_CHECK;
int transit_policy_delete(const struct barrier_view *view,
                          const char *name) KH_MUST_CHECK;
/* Append version latest + 1 (material generated here, or in the HSM for
 * managed keys) to pol in memory. KH_ELIMIT at TRANSIT_KEY_VERSIONS_MAX.
 * The caller stores the record. */
int transit_policy_add_version(const struct transit_call *call,
                               struct transit_policy *pol) KH_MUST_CHECK;
/* Drop the last version again (after a failed store). */
void transit_policy_drop_last(const struct transit_call *call,
                              struct transit_policy *pol);
/* The version, or NULL. */
struct transit_version *transit_policy_version(const struct transit_policy *pol,
                                               uint64_t version);
int64_t transit_now_s(void);

/* ---- cache and locks (transit_cache.c) ---- */

/* Find the key (loading it into the cache) and return with the mount
 * lock held: the write lock when write, else the read lock (or the write
 * lock when a due auto-rotation had to run). A key whose
 * auto_rotate_period has passed is rotated first. KH_ENOTFOUND with the
 * lock released when there is no such key. */
int transit_key_acquire(const struct transit_call *call, const char *name,
                        bool write,
                        struct transit_policy **ret_pol) KH_MUST_CHECK;
void transit_lock_read(struct transit_state *state);
void transit_lock_write(struct transit_state *state);
void transit_unlock(struct transit_state *state);
/* Write lock held: the key from the cache, loaded on a miss. */
int transit_key_find_locked(const struct transit_call *call, const char *name,
                            struct transit_policy **ret_pol) KH_MUST_CHECK;
/* Write lock held: add a new policy to the cache (stolen) / forget one. */
void transit_cache_insert(struct transit_state *state,
                          struct transit_policy *pol);
void transit_cache_remove(struct transit_state *state, const char *name);
/* Write lock held: rotate pol (new version, stored). */
int transit_key_rotate_locked(const struct transit_call *call,
                              struct transit_policy *pol) KH_MUST_CHECK;
/* Create a key named name of the given type with latest_version 1 and
 * store it; the caller holds the write lock and checked it is absent.
 * On success the cache owns *ret_pol. */
int transit_key_create_locked(const struct transit_call *call,
                              const char *name,
                              const struct transit_policy *settings,
                              struct transit_policy **ret_pol) KH_MUST_CHECK;

/* ---- fields (transit_fields.c) ---- */

/* A string field, or NULL when absent, null or not a string. */
const char *transit_field_string(const json_t *obj, const char *name);
/* True when present and not null. */
bool transit_field_present(const json_t *obj, const char *name);
/* Base64 field decoded into a malloc'ed buffer (free with
 * kh_free_secret). Absent or null: *ret NULL, *ret_len 0, or KH_EINVAL
 * when required. KH_ELIMIT above max bytes decoded. */
int transit_field_b64(const json_t *obj, const char *name, size_t max,
                      bool required, uint8_t **ret, size_t *ret_len,
                      char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
int transit_field_uint(const json_t *obj, const char *name, uint64_t def,
                       uint64_t max, uint64_t *ret, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
int transit_field_bool(const json_t *obj, const char *name, bool def,
                       bool *ret, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* Seconds as a number or a duration string; *ret_present false when
 * absent or null. */
int transit_field_duration(const json_t *obj, const char *name,
                           bool *ret_present, uint64_t *ret_seconds,
                           char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* Standard padded base64 of len bytes, malloc'ed (NULL on ENOMEM). */
char *transit_b64(const uint8_t *bytes, size_t len);
/* Check a key name. KH_EINVAL / KH_ELIMIT with errmsg. */
int transit_name_check(const char *name, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;

/* ---- ciphertext format (transit_ciphertext.c) ---- */

/* "vault:v<version>:" + base64(blob), malloc'ed. */
char *transit_ciphertext_format(uint32_t version, const uint8_t *blob,
                                size_t len);
/* Parse text (NUL-terminated). *ret_blob malloc'ed (free with
 * kh_free_secret). KH_EINVAL with Vault's messages: "invalid ciphertext:
 * no prefix", "... could not decode version", "... could not decode
 * base64". Never reads past the NUL. */
int transit_ciphertext_parse(const char *text, uint32_t *ret_version,
                             uint8_t **ret_blob, size_t *ret_len,
                             char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* ---- software crypto (transit_crypto.c) ---- */

/* Fill v's material for a fresh software version of type. */
int transit_crypto_generate(enum transit_key_type type,
                            struct transit_version *v) KH_MUST_CHECK;
/* HKDF-SHA256(key, info = context) into out (TRANSIT_AEAD_KEY_BYTES). */
int transit_crypto_derive(const uint8_t *key, size_t key_len,
                          const uint8_t *context, size_t context_len,
                          uint8_t out[TRANSIT_AEAD_KEY_BYTES]) KH_MUST_CHECK;
/* AEAD (aes256-gcm96 or chacha20-poly1305) with a random nonce:
 * *ret_blob = nonce | ciphertext | tag, malloc'ed. */
int transit_crypto_seal(enum transit_key_type type, const uint8_t *key,
                        const uint8_t *aad, size_t aad_len,
                        const uint8_t *plain, size_t len, uint8_t **ret_blob,
                        size_t *ret_len) KH_MUST_CHECK;
/* The inverse; KH_ECORRUPT on authentication failure. *ret_plain is
 * malloc'ed (at least one byte), free with kh_free_secret. */
int transit_crypto_open(enum transit_key_type type, const uint8_t *key,
                        const uint8_t *aad, size_t aad_len,
                        const uint8_t *blob, size_t blob_len,
                        uint8_t **ret_plain, size_t *ret_len) KH_MUST_CHECK;
/* RSA-OAEP (SHA-256) with the version's private key. */
int transit_crypto_rsa_encrypt(const struct transit_version *v,
                               const uint8_t *plain, size_t len,
                               uint8_t **ret_blob,
                               size_t *ret_len) KH_MUST_CHECK;
int transit_crypto_rsa_decrypt(const struct transit_version *v,
                               const uint8_t *blob, size_t blob_len,
                               uint8_t **ret_plain,
                               size_t *ret_len) KH_MUST_CHECK;
/* Private key for PEM export: "-----BEGIN ... PRIVATE KEY-----". */
int transit_crypto_private_pem(const struct transit_version *v,
                               char **ret_pem) KH_MUST_CHECK;

/* ---- managed keys (transit_managed.c) ---- */

/* The seal's HSM: KH_EINVAL "managed keys need the pkcs11 seal". */
int transit_managed_hsm(const struct transit_call *call,
                        struct hsm **ret_hsm) KH_MUST_CHECK;
/* "keyhold-transit-<mount uuid>-<name>-v<version>". */
void transit_managed_label(const struct transit_state *state,
                           const char *name, uint32_t version,
                           char out[TRANSIT_LABEL_BYTES]);
/* Create the token object of version v (a fresh version of pol). */
int transit_managed_generate(const struct transit_call *call,
                             const struct transit_policy *pol,
                             struct transit_version *v) KH_MUST_CHECK;
/* Destroy the token objects of every version; *ret_failed counts those
 * that could not be destroyed (KH_ENOTFOUND counts as done). */
int transit_managed_destroy(const struct transit_call *call,
                            const struct transit_policy *pol,
                            uint32_t from_version, size_t *ret_failed);
/* Destroy the token object of one version of pol; its label is written
 * to label_out whatever the outcome. KH_ENOTFOUND: it was already gone;
 * KH_EINVAL (errmsg) without the pkcs11 seal. */
int transit_managed_destroy_version(const struct transit_call *call,
                                    const struct transit_policy *pol,
                                    uint32_t version,
                                    char label_out[TRANSIT_LABEL_BYTES])
    KH_MUST_CHECK;
/* Encrypt inside the token: *ret_blob = iv | ciphertext | tag. */
int transit_managed_seal(const struct transit_call *call,
                         struct transit_policy *pol,
                         struct transit_version *v, const uint8_t *aad,
                         size_t aad_len, const uint8_t *plain, size_t len,
                         uint8_t **ret_blob, size_t *ret_len) KH_MUST_CHECK;
int transit_managed_open(const struct transit_call *call,
                         const struct transit_policy *pol,
                         const struct transit_version *v, const uint8_t *aad,
                         size_t aad_len, const uint8_t *blob, size_t blob_len,
                         uint8_t **ret_plain, size_t *ret_len) KH_MUST_CHECK;
/* The use count of v (under the iv lock). */
uint64_t transit_managed_uses(struct transit_state *state,
                              const struct transit_version *v);

/* ---- encryption core (transit_encrypt.c) ---- */

/* Encrypt plain with pol at version (0 = latest) for the item's context
 * and associated_data; *ret_text is the "vault:v..." string. */
int transit_encrypt_bytes(const struct transit_call *call,
                          struct transit_policy *pol, const json_t *item,
                          uint64_t version, const uint8_t *plain, size_t len,
                          char **ret_text,
                          uint32_t *ret_version) KH_MUST_CHECK;
int transit_decrypt_text(const struct transit_call *call,
                         struct transit_policy *pol, const json_t *item,
                         const char *text, uint8_t **ret_plain,
                         size_t *ret_len) KH_MUST_CHECK;

/* ---- batches (transit_batch.c) ---- */

enum transit_item_kind {
    TRANSIT_ITEM_ENCRYPT = 1,
    TRANSIT_ITEM_DECRYPT,
    TRANSIT_ITEM_REWRAP,
    TRANSIT_ITEM_SIGN,
    TRANSIT_ITEM_VERIFY,
    TRANSIT_ITEM_HMAC,
};

/* Answer a request of kind with pol (lock held): one item from the
 * request fields, or each of batch_input (400 envelope when any failed,
 * or partial_failure_response_code when some succeeded). */
int transit_batch_run(const struct transit_call *call,
                      struct transit_policy *pol,
                      enum transit_item_kind kind) KH_MUST_CHECK;
/* One item: fill result (an object) or return an error with
 * call->errmsg (the batch runner gives each item its own buffer). */
int transit_item_encrypt(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result) KH_MUST_CHECK;
int transit_item_decrypt(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result) KH_MUST_CHECK;
int transit_item_rewrap(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result) KH_MUST_CHECK;
int transit_item_sign(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result) KH_MUST_CHECK;
int transit_item_verify(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result) KH_MUST_CHECK;
int transit_item_hmac(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result) KH_MUST_CHECK;

/* ---- signatures (transit_sign.c) ---- */

/* "sha2-256" etc. (sha2-224/256/384/512, sha3-224/256/384/512), or
 * NULL. */
const EVP_MD *transit_md_by_name(const char *name);

/* ---- key view (transit_view.c) ---- */

/* GET keys/:name data. */
json_t *transit_key_view(struct transit_state *state,
                         const struct transit_policy *pol);

/* ---- disabling the mount (transit_disable.c) ---- */

/* backend_ops.disable: destroy the token objects of every version of
 * every managed key in br->view, logging each one left behind (by label)
 * or found already gone. 0 when none was left behind; else KH_EHSM (or
 * the error that stopped the walk) with a summary in errmsg. */
int transit_disable(const struct backend_request *br, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;

/* ---- handlers ---- */

int transit_keys_list(const struct transit_call *call) KH_MUST_CHECK;
int transit_keys_read(const struct transit_call *call) KH_MUST_CHECK;
int transit_keys_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_keys_delete(const struct transit_call *call) KH_MUST_CHECK;
int transit_export_read(const struct transit_call *call) KH_MUST_CHECK;
int transit_encrypt_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_decrypt_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_rewrap_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_datakey_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_sign_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_verify_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_hmac_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_random_write(const struct transit_call *call) KH_MUST_CHECK;
int transit_hash_write(const struct transit_call *call) KH_MUST_CHECK;

/* True when the key exists (existence check for create vs update). */
int transit_key_exists(const struct transit_call *call, const char *name,
                       bool *ret_exists) KH_MUST_CHECK;

#endif
