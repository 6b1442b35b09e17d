/*
 * approle.h - the AppRole auth method (Vault API: AppRole): roles with a
 * role ID, secret IDs issued against them, and a login that trades the
 * pair for a token. The public part is the ops table (type "approle");
 * the rest is the internal API shared by the files of auth/approle/:
 *
 *   approle_backend.c  ops table, per-mount state, path dispatch
 *   approle_store.c    salt, salted hashes, records in the barrier view
 *   approle_role.c     role/:role, role/:role/role-id, LIST role
 *   approle_secret.c   secret IDs: generate, custom, list, lookup, destroy
 *   approle_login.c    login
 *
 * Storage layout inside the mount's barrier view (values sealed by the
 * barrier; keys are not secret, so no key holds a role ID or secret ID):
 *
 *   salt                          32 random bytes, created on first use
 *   role/<name>                   the role (JSON)
 *   role_id/<hmac(role_id)>       the name of the role with that role ID
 *   secret_id/<name>/<hmac(sid)>  one secret ID's entry (JSON)
 *   accessor/<name>/<accessor>    hmac(sid) of the entry it names
 *
 * where hmac(x) = hex(HMAC-SHA256(salt, domain || 0 || x)), with the domain
 * "role_id" or "secret_id". Only salted hashes of secret IDs are stored.
 *
 * Concurrency: every request runs under the mount's mutex (state->lock),
 * so a use-limited secret ID is consumed exactly once and role_id
 * uniqueness is checked and written atomically. Nothing here is slow
 * (HMAC only), so one mutex per mount is enough.
 */
#ifndef KH_AUTH_APPROLE_APPROLE_H
#define KH_AUTH_APPROLE_APPROLE_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/tokenutil.h"
#include "common/encoding.h"
#include "config/limits.h"
#include "engines/backend.h"

/* ---- limits (house style), each tested at max and max + 1 ---- */

/* Role names: 1..128 bytes of [a-z0-9_.-] (lowercased on the way in),
 * first and last character alphanumeric or '_' (Vault's \w([\w-.]*\w)?). */
#define APPROLE_NAME_BYTES_MAX 128
/* Custom role IDs and custom secret IDs. */
#define APPROLE_ROLE_ID_BYTES_MAX   256
#define APPROLE_SECRET_ID_BYTES_MAX 256
/* Secret ID metadata: the JSON text and its entries. */
#define APPROLE_METADATA_BYTES_MAX 4096
#define APPROLE_METADATA_KEYS_MAX  64
/* Live secret IDs per role (expired ones are pruned to make room). */
#define APPROLE_SECRET_IDS_PER_ROLE_MAX 500
/* secret_id_num_uses and secret_id_ttl ceilings. */
#define APPROLE_SECRET_ID_NUM_USES_MAX 1000000000ull
#define APPROLE_SECRET_ID_TTL_MAX_S    TOKENUTIL_TTL_MAX_S

#define APPROLE_SALT_BYTES     32
#define APPROLE_HMAC_HEX_BYTES (2 * 32 + 1)
/* "secret_id/" + name + "/" + hmac: the longest key the backend writes. */
#define APPROLE_KEY_BYTES_MAX (16 + APPROLE_NAME_BYTES_MAX + 1 + 64 + 1)

/* Deleting a role removes it, its index and its secret IDs in one batch. */
static_assert(2 * APPROLE_SECRET_IDS_PER_ROLE_MAX + 2 <=
                  KH_STORAGE_BATCH_OPS_MAX,
              "a role and all its secret IDs fit one batch");
static_assert(APPROLE_KEY_BYTES_MAX + 64 < KH_STORAGE_KEY_BYTES_MAX,
              "keys plus the view prefix fit the storage");

/* The ops table, listed in engines/registry.c. */
extern const struct backend_ops approle_backend_ops;

/* ---- per-mount state and one call ---- */

struct approle_state
{
    pthread_mutex_t lock; /* held for every request */
    uint8_t *salt;        /* kh_secure_alloc; valid if loaded */
    bool salt_loaded;
};

struct approle_call
{
    const struct backend_request *br;
    struct approle_state *state;
    const char *role; /* validated, lowercased; "" if none */
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*approle_handler_fn)(const struct approle_call *call);

/* ---- records ---- */

struct approle_role
{
    char name[APPROLE_NAME_BYTES_MAX + 1];
    char role_id[APPROLE_ROLE_ID_BYTES_MAX + 1];
    bool bind_secret_id;
    bool local_secret_ids;
    struct tokenutil_cidrs secret_id_bound_cidrs;
    uint64_t secret_id_num_uses;
    uint64_t secret_id_ttl_s;
    struct tokenutil token;
};

struct approle_secret
{
    char accessor[KH_UUID_STR_LEN + 1];
    json_t *metadata; /* object of strings; owned */
    struct tokenutil_cidrs cidr_list;
    struct tokenutil_cidrs token_bound_cidrs;
    uint64_t num_uses; /* remaining; 0 = unlimited */
    uint64_t ttl_s;
    int64_t creation_time;   /* unix seconds */
    int64_t expiration_time; /* 0 = never */
    int64_t last_updated_time;
};

/* ---- store (approle_store.c) ---- */

/* hex(HMAC-SHA256(salt, domain || 0 || text)) into out, creating the salt
 * on first use. Caller holds state->lock. */
int approle_hmac(struct approle_state *state, const struct barrier_view *view,
                 const char *domain, const char *text,
                 char out[APPROLE_HMAC_HEX_BYTES]) KH_MUST_CHECK;
/* Forget the salt (wiped). */
void approle_salt_forget(struct approle_state *state);

/* Copy name lowercased into out; KH_EINVAL with errmsg when it breaks the
 * name rules. */
int approle_name_check(const char *name, size_t len,
                       char out[APPROLE_NAME_BYTES_MAX + 1], char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;

/* A new role with Vault's defaults and a random role ID. */
int approle_role_new(const char *name, struct approle_role *ret) KH_MUST_CHECK;
/* KH_ENOTFOUND when absent, KH_ECORRUPT when malformed. */
int approle_role_load(const struct barrier_view *view, const char *name,
                      struct approle_role *ret) KH_MUST_CHECK;
/* Serialise (text malloc'ed; free with kh_free_secret). */
int approle_role_encode(const struct approle_role *role, char **ret_text,
                        size_t *ret_len) KH_MUST_CHECK;

/* Secret ID entries: load by hmac (KH_ENOTFOUND, KH_ECORRUPT), encode,
 * free the members. */
int approle_secret_load(const struct barrier_view *view, const char *role,
                        const char *hmac,
                        struct approle_secret *ret) KH_MUST_CHECK;
int approle_secret_encode(const struct approle_secret *secret, char **ret_text,
                          size_t *ret_len) KH_MUST_CHECK;
void approle_secret_clear(struct approle_secret *secret);
/* Delete one entry and its accessor index. */
int approle_secret_remove(const struct barrier_view *view, const char *role,
                          const char *hmac, const char *accessor) KH_MUST_CHECK;
/* True when the entry has expired at now. */
bool approle_secret_expired(const struct approle_secret *secret, int64_t now);

/* Storage keys; KH_ELIMIT if they do not fit (cannot happen for checked
 * names). */
int approle_key(char out[APPROLE_KEY_BYTES_MAX], const char *kind,
                const char *role, const char *leaf) KH_MUST_CHECK;

int64_t approle_now(void);

/* A random version-4 UUID for role IDs, secret IDs and accessors, drawn
 * straight from the kernel CSPRNG (kh_uuid_generate keeps an unwiped pool
 * meant for request IDs, so it is not used for secrets). */
int approle_uuid(char out[KH_UUID_STR_LEN + 1]) KH_MUST_CHECK;

/* Answer 200 with the envelope around data (stolen); KH_ENOMEM when data
 * is NULL (a failed json_pack). */
int approle_respond(const struct approle_call *call,
                    json_t *data) KH_MUST_CHECK;

/* ---- handlers ---- */

int approle_role_list(const struct approle_call *call) KH_MUST_CHECK;
int approle_role_read(const struct approle_call *call) KH_MUST_CHECK;
int approle_role_write(const struct approle_call *call) KH_MUST_CHECK;
int approle_role_delete(const struct approle_call *call) KH_MUST_CHECK;
int approle_role_id_read(const struct approle_call *call) KH_MUST_CHECK;
int approle_role_id_write(const struct approle_call *call) KH_MUST_CHECK;
int approle_role_exists(const struct approle_call *call,
                        bool *ret_exists) KH_MUST_CHECK;

int approle_secret_generate(const struct approle_call *call) KH_MUST_CHECK;
int approle_secret_custom(const struct approle_call *call) KH_MUST_CHECK;
int approle_secret_list(const struct approle_call *call) KH_MUST_CHECK;
int approle_secret_lookup(const struct approle_call *call) KH_MUST_CHECK;
int approle_secret_destroy(const struct approle_call *call) KH_MUST_CHECK;
int approle_accessor_lookup(const struct approle_call *call) KH_MUST_CHECK;
int approle_accessor_destroy(const struct approle_call *call) KH_MUST_CHECK;

int approle_login(const struct approle_call *call) KH_MUST_CHECK;

#endif
