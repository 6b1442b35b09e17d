/*
 * token_store.h - the token store (vault-api.md §4), stored through the
 * barrier. Only a salted hash of each token ID is stored:
 *
 *     sys/token/salt                  32 random bytes (created at init)
 *     sys/token/id/<hmac-hex>         the entry (JSON)
 *     sys/token/accessor/<hmac-hex>   the hmac of the ID the accessor names
 *
 * where <hmac-hex> = hex(HMAC-SHA256(salt, id)). A stolen store therefore
 * yields no usable token. This file holds what the seal and the request
 * gate need today: root tokens (init, dev mode) and lookup.
 *
 * Thread safety: functions may be called concurrently; the salt is loaded
 * once per unseal under the store's mutex and wiped by token_store_seal().
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

#define TOKEN_PREFIX "hvs."
#define TOKEN_RANDOM_CHARS 24   /* base62: ~143 bits */
#define TOKEN_ID_BYTES_MAX KH_HTTP_TOKEN_BYTES_MAX
#define TOKEN_POLICIES_MAX 64
#define TOKEN_POLICY_NAME_MAX 128

struct token_store;

struct token_entry
{
    char accessor[TOKEN_RANDOM_CHARS + 1];
    char policies[TOKEN_POLICIES_MAX][TOKEN_POLICY_NAME_MAX];
    size_t policy_count;
    char display_name[128];
    char path[128];
    int64_t creation_time;      /* unix seconds */
    bool root;                  /* has the root policy */
};

int token_store_create(struct barrier *barrier,
                       struct token_store **ret_store) KH_MUST_CHECK;
void token_store_free(struct token_store *store);

/* Forget the cached salt (called when the barrier seals). */
void token_store_seal(struct token_store *store);

/* Create the salt if absent (sys/init). */
int token_store_setup(struct token_store *store) KH_MUST_CHECK;

/* Mint a root token. id: the requested ID (dev mode) or NULL for a random
 * "hvs." ID. The ID is written to out (size >= TOKEN_ID_BYTES_MAX + 1). */
int token_store_create_root(struct token_store *store, const char *id,
                            char *out, size_t out_size) KH_MUST_CHECK;

/* What an auth method asks for when it issues a token after a login
 * (token_store_issue) - the "tokenutil" fields of vault-api.md §5 after
 * the method has resolved its role. */
struct token_params
{
    const char *policies[TOKEN_POLICIES_MAX];
    size_t policy_count;
    bool no_default_policy;
    json_t *meta;                   /* object of strings, borrowed; NULL */
    const char *display_name;       /* e.g. "approle" */
    const char *path;               /* e.g. "auth/approle/login" */
    uint64_t ttl_s;                 /* 0: mount/system default */
    uint64_t max_ttl_s;             /* 0: mount/system max */
    uint64_t explicit_max_ttl_s;
    uint64_t period_s;
    unsigned num_uses;              /* 0: unlimited */
    bool renewable;
    const char *bound_cidrs[16];    /* client addresses allowed to use it */
    size_t bound_cidr_count;
    const char *type;               /* "service" (default) or "batch" */
};

/* Issue a new orphan token for a login and fill resp's "auth" block
 * (vault-api.md §1.5). The caller (an auth method's login handler) has
 * already authenticated the client. errmsg on failure. */
struct kh_response;
struct kh_request;
struct mount_entry;
int token_store_issue(struct token_store *store,
                      const struct mount_entry *mount,
                      const struct token_params *params,
                      const struct kh_request *req, struct kh_response *resp,
                      char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Look up a token ID. KH_EPERM when unknown (the caller answers 403). */
int token_store_lookup(struct token_store *store, const char *id,
                       struct token_entry *ret) KH_MUST_CHECK;

#endif
