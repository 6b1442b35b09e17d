/*
 * token_store.h - the token store (Vault API: token auth), stored through the
 * barrier. Only salted hashes of token IDs and accessors are stored:
 *
 *     sys/token/salt                      32 random bytes (created at init)
 *     sys/token/id/<hash>                 the entry (JSON, see token_codec)
 *     sys/token/accessor/<acc-hash>       the <hash> of the token it names
 *     sys/token/parent/<hash>/<child>     "1": <child> was created by <hash>
 *     sys/token/roles/<name>              a token role (JSON)
 *
 * where <hash> = hex(HMAC-SHA256(salt, id)) and <acc-hash> the same of the
 * accessor. A stolen store therefore yields no usable token or accessor.
 *
 * The module is split one job per file: token_store.c (salt, hashing,
 * entry storage, lookup, use, expiry), token_codec.c (entry JSON),
 * token_cache.c (decoded entries by the exact bytes of their record),
 * token_tree.c (parent/child index, revocation, orphaning), token_create.c
 * (create/issue, policy rules, TTLs), token_create_request.c (the create
 * endpoints' fields and caller rules), token_renew.c, token_roles.c,
 * token_tidy.c (expired-token cleanup and its thread), token_response.c
 * (auth block and lookup data), token_fields.c (lenient request fields),
 * token_cidr.c (bound CIDRs) and token_backend.c (the auth/token/ HTTP
 * backend). token_internal.h is what those files share.
 *
 * Batch tokens ("hvb.") are stored like service tokens but have no
 * accessor, cannot be renewed, cannot create tokens, cannot be revoked
 * on their own (400) and die with their parent.
 *
 * The request gate calls token_store_use() (one use consumed, expiry
 * checked), then token_entry_cidr_ok() with the client address, then
 * evaluates the ACL from entry->policies/policy_count/root.
 *
 * Thread safety: every function may be called concurrently. Lookups take
 * no lock beyond the salt's; every change of an entry or of the tree
 * (create, use of a use-limited token, renew, revoke, tidy) runs under the
 * store's write mutex, so a read-modify-write never loses an update and a
 * child is never created under a parent that is being revoked.
 */
#ifndef KH_TOKEN_TOKEN_STORE_H
#define KH_TOKEN_TOKEN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier/barrier.h"
#include "common/assert.h"
#include "config/limits.h"

#include <jansson.h>

/* ---- formats and limits (house style) ---- */

#define TOKEN_PREFIX               "hvs." /* service and root tokens */
#define TOKEN_BATCH_PREFIX         "hvb." /* batch tokens */
#define TOKEN_RANDOM_CHARS         24     /* base62: ~143 bits */
#define TOKEN_ID_BYTES_MAX         KH_HTTP_TOKEN_BYTES_MAX
#define TOKEN_HASH_HEX_BYTES       64  /* hex of HMAC-SHA256 */
#define TOKEN_POLICIES_MAX         64  /* policies of one token */
#define TOKEN_POLICY_NAME_MAX      128 /* bytes incl. NUL */
#define TOKEN_META_MAX             32  /* metadata entries of one token */
#define TOKEN_META_KEY_BYTES_MAX   128 /* incl. NUL */
#define TOKEN_META_VALUE_BYTES_MAX 512 /* incl. NUL */
#define TOKEN_DISPLAY_NAME_BYTES   128 /* stored "token-<name>" incl. NUL */
#define TOKEN_PATH_BYTES_MAX       320 /* a mount path (256) + "login/..." */
#define TOKEN_ROLE_NAME_MAX        128 /* bytes, excl. NUL */
#define TOKEN_BOUND_CIDRS_MAX      16
#define TOKEN_CIDR_BYTES_MAX       64 /* "ffff:...:ffff/128" incl. NUL */
#define TOKEN_NUM_USES_MAX         1000000u
/* Depth of the parent/child tree: a token at depth TOKEN_TREE_DEPTH_MAX
 * cannot create children, so revocation walks a stack of that size. */
#define TOKEN_TREE_DEPTH_MAX 64
/* Tokens one revocation (or one tidy pass) may remove at most. */
#define TOKEN_REVOKE_NODES_MAX 100000
/* Vault's system default and maximum lease TTL: 768h. */
#define TOKEN_TTL_SYSTEM_DEFAULT_S 2764800u
/* Longest TTL accepted anywhere: 100 years keeps now + ttl in int64. */
#define TOKEN_TTL_MAX_S (100ull * 365ull * 86400ull)
/* Period of the tidy thread. */
#define TOKEN_TIDY_INTERVAL_S 60

struct token_store;

enum token_type {
    TOKEN_TYPE_SERVICE = 1,
    TOKEN_TYPE_BATCH = 2,
};

struct token_meta
{
    char key[TOKEN_META_KEY_BYTES_MAX];
    char value[TOKEN_META_VALUE_BYTES_MAX];
};

/* One token. Invariants of an entry returned by the store: policies are
 * sorted and unique; root == ("root" is one of them); orphan == (parent is
 * ""); a batch token has no accessor, no period and is not renewable. The
 * entry holds no token ID, only id_hash. */
struct token_entry
{
    char id_hash[TOKEN_HASH_HEX_BYTES + 1]; /* its storage name */
    char accessor[TOKEN_RANDOM_CHARS + 1];  /* "" for batch tokens */
    char policies[TOKEN_POLICIES_MAX][TOKEN_POLICY_NAME_MAX];
    size_t policy_count;
    struct token_meta meta[TOKEN_META_MAX];
    size_t meta_count;
    char display_name[TOKEN_DISPLAY_NAME_BYTES];
    char path[TOKEN_PATH_BYTES_MAX];
    char role[TOKEN_ROLE_NAME_MAX + 1]; /* "" unless made by a role */
    int64_t creation_time;              /* unix seconds */
    uint64_t creation_ttl_s;            /* 0: never expires */
    int64_t expire_time;                /* unix seconds; 0: never */
    uint64_t explicit_max_ttl_s;        /* 0: none */
    uint64_t max_ttl_s;                 /* renewal cap from creation; 0: none */
    uint64_t period_s;                  /* 0: not periodic */
    unsigned num_uses;                  /* uses left; 0: unlimited */
    bool renewable;
    bool orphan;
    char parent[TOKEN_HASH_HEX_BYTES + 1]; /* "" for orphans */
    unsigned depth;                        /* 0 for orphans */
    enum token_type type;
    char bound_cidrs[TOKEN_BOUND_CIDRS_MAX][TOKEN_CIDR_BYTES_MAX];
    size_t bound_cidr_count;
    int64_t last_renewal; /* unix seconds; 0: never renewed */
    bool root;            /* has the root policy */
};

int token_store_create(struct barrier *barrier,
                       struct token_store **ret_store) KH_MUST_CHECK;
/* Stops the tidy thread if running; accepts NULL. */
void token_store_free(struct token_store *store);

/* The server's default and maximum lease TTLs (config default_lease_ttl /
 * max_lease_ttl; 0 = 768h), used by token_store_issue() under a mount
 * that has no tuning of its own. Call once after token_store_create(). */
void token_store_configure(struct token_store *store, uint64_t default_ttl_s,
                           uint64_t max_ttl_s);

/* Forget the cached salt (called when the barrier seals). */
void token_store_seal(struct token_store *store);

/* Create the salt if absent (sys/init). */
int token_store_setup(struct token_store *store) KH_MUST_CHECK;

/* Mint a root token. id: the requested ID (dev mode) or NULL for a random
 * "hvs." ID. The ID is written to out (size >= TOKEN_ID_BYTES_MAX + 1). */
int token_store_create_root(struct token_store *store, const char *id,
                            char *out, size_t out_size) KH_MUST_CHECK;

/* What an auth method asks for when it issues a token after a login
 * (token_store_issue) - the "tokenutil" fields of Vault API: auth methods after
 * the method has resolved its role. */
struct token_params
{
    const char *policies[TOKEN_POLICIES_MAX];
    size_t policy_count;
    bool no_default_policy;
    json_t *meta;             /* object of strings, borrowed; NULL */
    const char *display_name; /* e.g. "approle"; NULL: the mount's
                                 name ("approle" for auth/approle/) */
    const char *path;         /* e.g. "auth/approle/login" */
    uint64_t ttl_s;           /* 0: mount/system default */
    uint64_t max_ttl_s;       /* 0: mount/system max */
    uint64_t explicit_max_ttl_s;
    uint64_t period_s;
    unsigned num_uses; /* 0: unlimited */
    bool renewable;
    const char *bound_cidrs[TOKEN_BOUND_CIDRS_MAX]; /* client addresses or
                                       CIDRs allowed to use it */
    size_t bound_cidr_count;
    const char *type; /* "service" (default) or "batch" */
};

/* Issue a new orphan token for a login and fill resp with the envelope
 * and its "auth" block (Vault API: response envelope). The caller (an auth method's
 * login handler) has already authenticated the client. TTLs: ttl_s or the
 * mount's default_lease_ttl_s, the configured default, 768h; capped by
 * max_ttl_s, the mount's max, the configured max, and explicit_max_ttl_s.
 * KH_EINVAL/KH_ELIMIT with errmsg for bad params (the client sees 400). */
struct kh_response;
struct kh_request;
struct mount_entry;
int token_store_issue(struct token_store *store,
                      const struct mount_entry *mount,
                      const struct token_params *params,
                      const struct kh_request *req, struct kh_response *resp,
                      char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Look up a token ID without consuming a use. KH_EPERM when unknown or
 * expired (the caller answers 403); KH_ESEALED; KH_ECORRUPT. */
int token_store_lookup(struct token_store *store, const char *id,
                       struct token_entry *ret) KH_MUST_CHECK;

/* The request gate's lookup: as token_store_lookup(), and for a
 * use-limited token atomically consume one use. The use that brings
 * num_uses to 0 succeeds (the request runs with *ret, whose num_uses is
 * then 0) and revokes the token and its children at once, so a further
 * use fails with KH_EPERM. *ret is filled in place and zeroed on any
 * failure. Every call reads the token's record through the barrier, so
 * a revocation, renewal or use is seen by the very next call. */
int token_store_use(struct token_store *store, const char *id,
                    struct token_entry *ret) KH_MUST_CHECK;

/* True when the entry has no bound CIDRs or remote_addr (an IPv4/IPv6
 * text address, as kh_request.remote_addr) lies in one of them. A
 * malformed address never matches. */
bool token_entry_cidr_ok(const struct token_entry *e, const char *remote_addr);

/* Look up by accessor (lookup-accessor). KH_EPERM when unknown/expired. */
int token_store_lookup_accessor(struct token_store *store, const char *accessor,
                                struct token_entry *ret) KH_MUST_CHECK;

/* Revoke a token and all its descendants. Unknown tokens succeed (Vault).
 * KH_EINVAL for a batch token (they cannot be revoked individually). */
int token_store_revoke(struct token_store *store, const char *id) KH_MUST_CHECK;

/* Remove expired tokens (with their descendants), dangling accessor and
 * parent index records. *ret_removed (may be NULL): tokens removed. */
int token_store_tidy(struct token_store *store,
                     size_t *ret_removed) KH_MUST_CHECK;

/* Run token_store_tidy() every interval_s seconds (0 means
 * TOKEN_TIDY_INTERVAL_S) on a background thread; passes while sealed do
 * nothing. Stop with token_store_stop_tidy() (also done by _free). */
int token_store_start_tidy(struct token_store *store,
                           unsigned interval_s) KH_MUST_CHECK;
void token_store_stop_tidy(struct token_store *store);

/* ---- what the lease manager needs (token_leases.c) ----
 *
 * A lease records the token that created it by that token's id_hash (a
 * salted hash: never the ID, and not the accessor, which is a capability
 * the store keeps only hashed). Every removal of a service or root token
 * (revoke, revoke-self, revoke-accessor, revoke-orphan, a parent's tree
 * revocation, tidy of expired tokens, use-limit exhaustion) writes
 *
 *     sys/token/revoked/<hash>            "1"
 *
 * in the same atomic batch that removes the token: a durable queue the
 * lease manager drains (revoking the token's leases, then calling
 * token_store_revoked_done). A crash between the two therefore never
 * forgets a token's leases. */

/* Up to max hashes of revoked tokens whose leases have not been handled
 * yet (oldest names first, as storage sorts them) into hashes[]; names
 * that are not hashes are skipped. */
int token_store_revoked_list(struct token_store *store,
                             char (*hashes)[TOKEN_HASH_HEX_BYTES + 1],
                             size_t max, size_t *ret_count) KH_MUST_CHECK;

/* The leases of hash are all gone: drop it from the queue. */
int token_store_revoked_done(struct token_store *store,
                             const char *hash) KH_MUST_CHECK;

/* Whether the token stored under hash (a lease's owner) still exists, and
 * the time its leases' TTL must not pass: *ret_expire_time is 0 for root,
 * periodic and non-expiring tokens, else the token's expiry (which may
 * already be past). KH_ENOTFOUND once the token is removed; KH_EINVAL for
 * a malformed hash. */
int token_store_lease_bound(struct token_store *store, const char *hash,
                            int64_t *ret_expire_time) KH_MUST_CHECK;

/* The owner to record on a lease created by e: its id_hash; for a batch
 * token its parent's (Vault: a batch token's leases are tracked by its
 * parent), "" for an orphan batch token. out has TOKEN_HASH_HEX_BYTES + 1
 * bytes. */
void token_entry_lease_owner(const struct token_entry *e,
                             char out[TOKEN_HASH_HEX_BYTES + 1]);

/* The time e bounds a lease's TTL at creation (0: no bound): root and
 * periodic tokens and tokens without expiry put none. */
int64_t token_entry_lease_bound(const struct token_entry *e);

#endif
