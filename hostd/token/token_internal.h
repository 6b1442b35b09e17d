/*
 * token_internal.h - what the files of hostd/token/ share: the store
 * struct, storage keys, entry codec, tree walks, token creation, renewal,
 * roles, request fields and response builders. Nothing outside
 * hostd/token/ includes it; the public surface is token_store.h and
 * token_backend.h.
 *
 * Locking: store->lock guards only the cached salt (a leaf lock, taken
 * briefly by token_hash). store->write_lock serialises every change of
 * entries and of the tree; functions named *_locked require it held.
 */
#ifndef KH_TOKEN_TOKEN_INTERNAL_H
#define KH_TOKEN_TOKEN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/request.h"
#include "token/token_store.h"

struct mount_entry;

#define TOKEN_SALT_PATH       "sys/token/salt"
#define TOKEN_ID_PREFIX       "sys/token/id/"
#define TOKEN_ACCESSOR_PREFIX "sys/token/accessor/"
#define TOKEN_PARENT_PREFIX   "sys/token/parent/"
#define TOKEN_ROLE_PREFIX     "sys/token/roles/"
#define TOKEN_REVOKED_PREFIX  "sys/token/revoked/"
#define TOKEN_SALT_BYTES      32
/* Longest storage key: the parent index, two hashes. */
#define TOKEN_KEY_BYTES 192
/* A display name given by a client, before "token-" is prepended. */
#define TOKEN_DISPLAY_INPUT_MAX (TOKEN_DISPLAY_NAME_BYTES - 7)
/* Entry JSON (a bound on what the codec accepts from storage). */
#define TOKEN_ENTRY_JSON_BYTES_MAX (256u * 1024u)
/* A role's path_suffix (the path is auth/token/create/<role>/<suffix>). */
#define TOKEN_PATH_SUFFIX_MAX 96
/* Role JSON. */
#define TOKEN_ROLE_JSON_BYTES_MAX (256u * 1024u)

struct token_store
{
    struct barrier *barrier; /* not owned */
    pthread_mutex_t lock;    /* guards salt and salt_loaded */
    uint8_t *salt;           /* kh_secure_alloc(TOKEN_SALT_BYTES) */
    bool salt_loaded;
    pthread_mutex_t write_lock; /* serialises every change (see above) */
    uint64_t default_ttl_s;     /* token_store_configure; 0 = 768h */
    uint64_t max_ttl_s;
    struct token_cache *cache;  /* decoded entries (token_cache.c) */

    /* The tidy thread (token_tidy.c), guarded by tidy_lock. */
    pthread_mutex_t tidy_lock;
    pthread_cond_t tidy_cond;
    pthread_t tidy_thread;
    bool tidy_running;
    bool tidy_stop;
    unsigned tidy_interval_s;
    unsigned long tidy_failures; /* failed passes (sealed, storage) */
};

/* ---- token_store.c: hashing, keys, entry storage ---- */

int64_t token_now(void);

/* out = hex(HMAC-SHA256(salt, text)). KH_ESEALED, KH_ENOTFOUND (no salt
 * yet), KH_ECORRUPT. */
int token_hash(struct token_store *store, const char *text,
               char out[TOKEN_HASH_HEX_BYTES + 1]) KH_MUST_CHECK;

/* Storage keys of an entry, an accessor record, a parent index record
 * and a parent's index folder. */
void token_key_id(const char *hash, char out[TOKEN_KEY_BYTES]);
void token_key_accessor(const char *acc_hash, char out[TOKEN_KEY_BYTES]);
void token_key_parent(const char *parent, const char *child,
                      char out[TOKEN_KEY_BYTES]);
void token_key_children(const char *parent, char out[TOKEN_KEY_BYTES]);
/* The revoked-token queue record of hash (token_leases.c). */
void token_key_revoked(const char *hash, char out[TOKEN_KEY_BYTES]);

/* True for 64 lowercase hex characters (a name read from storage). */
bool token_hash_valid(const char *text);

bool token_entry_expired(const struct token_entry *e, int64_t now);

/* Load the entry stored under hash, expired or not. KH_ENOTFOUND. */
int token_entry_load(struct token_store *store, const char *hash,
                     struct token_entry *ret) KH_MUST_CHECK;

/* Rewrite an existing entry (use, renew, orphaning). */
int token_entry_rewrite(struct token_store *store,
                        const struct token_entry *e) KH_MUST_CHECK;

/* Store a new entry with its accessor record and its parent index record
 * in one atomic batch. */
int token_entry_insert(struct token_store *store,
                       const struct token_entry *e) KH_MUST_CHECK;

/* The id_hash of the token an accessor names. KH_EPERM when unknown. */
int token_accessor_resolve(struct token_store *store, const char *accessor,
                           char ret_hash[TOKEN_HASH_HEX_BYTES + 1])
    KH_MUST_CHECK;

/* Load by hash and refuse expired entries: KH_EPERM. */
int token_entry_load_valid(struct token_store *store, const char *hash,
                           struct token_entry *ret) KH_MUST_CHECK;

/* ---- token_cache.c: decoded entries by their record's bytes ---- */

/* Slots of the cache (one decoded entry each, ~30 KiB). */
#define TOKEN_CACHE_SLOTS 64

struct token_cache;

int token_cache_create(struct token_cache **ret_cache) KH_MUST_CHECK;
/* Wipe and free every slot; accepts NULL. */
void token_cache_free(struct token_cache *cache);
/* Wipe every slot (the barrier sealed). */
void token_cache_clear(struct token_cache *cache);

/* token_entry_decode() of the record bytes of the token stored under
 * hash, with ret->id_hash set: answered from the slot when it decoded
 * exactly these bytes of this token (compared in constant time), else
 * decoded and remembered. Same results and errors as the decoder. */
int token_cache_decode(struct token_cache *cache, const char *hash,
                       const uint8_t *bytes, size_t len,
                       struct token_entry *ret) KH_MUST_CHECK;

/* ---- token_codec.c: entry JSON ---- */

/* *ret_text is malloc'ed; free with kh_free_secret(text, len). */
int token_entry_encode(const struct token_entry *e, char **ret_text,
                       size_t *ret_len) KH_MUST_CHECK;
/* KH_ECORRUPT on anything malformed or over the limits. id_hash is not
 * part of the record: the caller sets it. */
int token_entry_decode(const uint8_t *bytes, size_t len,
                       struct token_entry *ret) KH_MUST_CHECK;

/* ---- token_tree.c: revocation ---- */

/* Revoke hash and every descendant, children first, with an explicit
 * stack of TOKEN_TREE_DEPTH_MAX frames. Missing entries are skipped.
 * *ret_count (may be NULL) += tokens removed. */
int token_tree_revoke_locked(struct token_store *store, const char *hash,
                             size_t *ret_count) KH_MUST_CHECK;
/* Revoke only hash; its children become orphans. */
int token_tree_revoke_orphan_locked(struct token_store *store,
                                    const char *hash) KH_MUST_CHECK;
/* Take the write lock and revoke a tree. */
int token_tree_revoke(struct token_store *store,
                      const char *hash) KH_MUST_CHECK;

/* ---- token_create.c: creation ---- */

/* A token to create, after request parsing and role application. */
struct token_create_req
{
    const char *id; /* requested ID (root/sudo) or NULL */
    const char *policies[TOKEN_POLICIES_MAX];
    size_t policy_count;
    bool policies_given; /* false: inherit the parent's */
    bool no_default_policy;
    const json_t *meta;       /* object of strings or NULL */
    const char *display_name; /* as given, or NULL */
    bool display_name_prefix; /* prepend "token-" (auth/token/) */
    const char *path;
    const char *role; /* NULL or the role name */
    uint64_t ttl_s;   /* 0: default */
    uint64_t explicit_max_ttl_s;
    uint64_t period_s;
    uint64_t backend_max_ttl_s; /* 0: none */
    uint64_t default_ttl_s;     /* resolved (token_ttl_limits) */
    uint64_t system_max_ttl_s;  /* resolved (token_ttl_limits) */
    unsigned num_uses;
    bool renewable;
    enum token_type type;
    bool type_given; /* "type" was in the request */
    const char *bound_cidrs[TOKEN_BOUND_CIDRS_MAX];
    size_t bound_cidr_count;
};

/* Resolve the default and max TTL: the mount's tuning (may be NULL), else
 * the configured values, else 768h; the default never exceeds the max. */
void token_ttl_limits(const struct mount_entry *mount,
                      uint64_t config_default_s, uint64_t config_max_s,
                      uint64_t *ret_default_s, uint64_t *ret_max_s);

/* Create a token. caller: the creating token (its rights were already
 * checked by the request layer), whose policies a request without
 * policies inherits; NULL for logins. Unless orphan, the caller becomes
 * the parent: under the write lock it is re-read (KH_EPERM if it is gone
 * or expired) and the child's TTL is capped by its remaining TTL. ret_id
 * receives the new ID (size TOKEN_ID_BYTES_MAX + 1), *ret the stored
 * entry. KH_EINVAL / KH_ELIMIT with errmsg for the client. */
int token_create(struct token_store *store, const struct token_entry *caller,
                 bool orphan, const struct token_create_req *c,
                 char ret_id[TOKEN_ID_BYTES_MAX + 1], struct token_entry *ret,
                 char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* "token-<name>" with [^A-Za-z0-9-] turned into '-' (prefix), or the name
 * sanitised alone; "token" when name is NULL or empty. */
void token_display_name(const char *name, bool prefix,
                        char out[TOKEN_DISPLAY_NAME_BYTES]);

/* Validate one CIDR or address ("10.0.0.0/8", "::1"). */
bool token_cidr_valid(const char *cidr);

/* Simple glob: '*' matches any run of characters (go-glob). */
bool token_glob_match(const char *pattern, const char *text);

/* ---- token_renew.c ---- */

/* Renew the token stored under hash by increment_s (0: its creation TTL;
 * periodic tokens renew to their period), capped by its max TTL, its
 * explicit max TTL and its parent's expiry. *ret receives the entry.
 * KH_EINVAL with errmsg when it cannot be renewed, KH_EPERM if gone. */
int token_renew(struct token_store *store, const char *hash,
                uint64_t increment_s, struct token_entry *ret, char *errmsg,
                size_t errmsg_size) KH_MUST_CHECK;

/* ---- token_response.c ---- */

/* Seconds until expiry at now; 0 for tokens that never expire. */
uint64_t token_ttl_remaining(const struct token_entry *e, int64_t now);

/* The auth block of Vault API: response envelope; client_token may be "" (renew by
 * accessor). NULL on allocation failure. */
json_t *token_auth_json(const struct token_entry *e, const char *client_token,
                        int64_t now);

/* The lookup data of Vault API: token lookup, renew, revoke; id "" for lookup-accessor. */
json_t *token_lookup_json(const struct token_entry *e, const char *id,
                          int64_t now);

/* resp = envelope with data null and the auth block of e. */
int token_respond_auth(struct kh_response *resp, const struct kh_request *req,
                       const struct token_entry *e,
                       const char *client_token) KH_MUST_CHECK;

/* ---- token_fields.c: lenient request fields (Vault API: request body rules) ---- */

/* A TDS field: seconds as a number or a numeric/duration string; absent
 * or null: *ret_present false and *ret 0. KH_EINVAL with errmsg. */
int token_field_duration(const struct kh_request *req, const char *name,
                         bool *ret_present, uint64_t *ret_s, char *errmsg,
                         size_t errmsg_size) KH_MUST_CHECK;

/* A CSL field: JSON array of strings or "a,b" (items trimmed, empty ones
 * dropped). out[] points into req->data, or for a comma string into a new
 * array appended to keep (a JSON array the caller owns): valid while both
 * live. KH_ELIMIT above max items, KH_EINVAL for other types. */
int token_field_strings(const struct kh_request *req, const char *name,
                        json_t *keep, const char **out, size_t max,
                        size_t *ret_count, bool *ret_present, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;

/* Validate a metadata object (strings within TOKEN_META_* limits). */
int token_field_meta(const json_t *meta, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;

/* Validate a policy name: non-empty, < TOKEN_POLICY_NAME_MAX, no control
 * characters or whitespace at either end. */
bool token_policy_name_valid(const char *name);

/* ---- token_roles.c ---- */

struct backend_request;

/* Load role name as its stored JSON object (caller decrefs). KH_ENOTFOUND
 * when absent. name must already be valid (token_role_name_ok). */
int token_role_load(struct token_store *store, const char *name,
                    json_t **ret_role) KH_MUST_CHECK;

/* Check and lowercase a role name from a path into out. */
int token_role_name_ok(const char *name, char out[TOKEN_ROLE_NAME_MAX + 1],
                       char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Apply a role to a create request (Vault API: token roles): orphan, period,
 * explicit max TTL, token type, bound CIDRs, path, renewable, default
 * policy, and the policy rules: without policies in the request the
 * role's allowed_policies (else the caller's); with allowed lists every
 * policy must be allowed (*ret_checked = true: the parent-subset rule is
 * replaced); none may be disallowed. Strings stay owned by role, caller
 * and the request. path_buf (TOKEN_PATH_BYTES_MAX) receives the path. */
int token_role_apply(const json_t *role, const char *name,
                     const struct token_entry *caller,
                     struct token_create_req *c, bool *ret_orphan,
                     bool *ret_checked, char *path_buf, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;

/* roles/ (LIST), roles/:name (READ, UPDATE/CREATE, DELETE). */
int token_roles_list(const struct backend_request *br, struct kh_response *resp,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
int token_role_read(const struct backend_request *br, const char *name,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;
int token_role_write(const struct backend_request *br, const char *name,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;
int token_role_delete(const struct backend_request *br, const char *name,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;

#endif
