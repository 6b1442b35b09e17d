/*
 * token_backend.c - the `token` auth method (Vault API: token auth): the ops
 * table, the route table of auth/token/ sub-paths with the operations and
 * sudo flag of each, and the lookup, renew, revoke, accessors and tidy
 * handlers. create* lives in token_create_request.c, roles in
 * token_roles.c.
 *
 * Permissions are the request gate's (ACL and sudo from this table); the
 * handlers only apply Vault's token rules. Status choices: an unknown
 * token on lookup is 403 "bad token"; renew of an unknown token is 400
 * "token not found"; an unknown accessor is 400 "invalid accessor";
 * revoking an unknown token succeeds (204), as in Vault. Token IDs from
 * requests are hashed before any storage access and never echoed except
 * to the client that sent them. A revocation answers at once; the leases
 * of the removed tokens are revoked by the lease manager in the
 * background (token_leases.c).
 */
#include "token/token_backend.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "engines/backend_route.h"
#include "token/token_internal.h"

struct token_call
{
    const struct backend_request *br;
    struct token_store *store;
    const char *arg; /* :name of create/:name, roles/:name */
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*token_handler_fn)(const struct token_call *call);

#define OP(op) BACKEND_OP(op)
#define OPS_W  BACKEND_OPS_WRITE
#define SUDO   BACKEND_ROUTE_SUDO

/* One row: '*' is the :name segment; a folder row ("accessors/") also
 * matches without its '/', so GET of it is a 405. */
struct token_route
{
    struct backend_route route;
    token_handler_fn fn;
};

/* The hash of a token ID from a request; KH_EPERM for impossible IDs. */
static int request_hash(const struct token_call *call, const char *id,
                        char out[TOKEN_HASH_HEX_BYTES + 1])
{
    if (id == NULL || id[0] == '\0' || strlen(id) > TOKEN_ID_BYTES_MAX)
        return KH_EPERM;
    return token_hash(call->store, id, out);
}

static int need_field(const struct token_call *call, const char *name,
                      const char **ret)
{
    *ret = kh_request_string(call->br->req, name);
    if (*ret == NULL || (*ret)[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing %s", name);
    return 0;
}

/* The token hash behind the request's accessor field; an unknown accessor
 * is 400 "invalid accessor". */
static int accessor_hash(const struct token_call *call,
                         char hash[TOKEN_HASH_HEX_BYTES + 1])
{
    const char *accessor;
    int r;

    r = need_field(call, "accessor", &accessor);
    if (r == 0)
        r = token_accessor_resolve(call->store, accessor, hash);
    if (r == KH_EPERM)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "invalid accessor");
    return r;
}

/* ---- create ---- */

static int h_create(const struct token_call *call)
{
    return token_handle_create(call->br, TOKEN_CREATE_PLAIN, NULL, call->resp,
                               call->errmsg, call->errmsg_size);
}

static int h_create_orphan(const struct token_call *call)
{
    return token_handle_create(call->br, TOKEN_CREATE_ORPHAN, NULL, call->resp,
                               call->errmsg, call->errmsg_size);
}

static int h_create_role(const struct token_call *call)
{
    return token_handle_create(call->br, TOKEN_CREATE_ROLE, call->arg,
                               call->resp, call->errmsg, call->errmsg_size);
}

/* ---- lookup ---- */

static int respond_lookup(const struct token_call *call,
                          const struct token_entry *e, const char *id)
{
    json_t *data = token_lookup_json(e, id, token_now());

    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

static int h_lookup(const struct token_call *call)
{
    const struct kh_request *req = call->br->req;
    const char *id = kh_request_string(req, "token");
    struct token_entry *e;
    int r;

    if (id == NULL || id[0] == '\0')
        id = req->has_token ? req->token : ""; /* Vault: the caller's */
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_store_lookup(call->store, id, e);
    if (r == KH_EPERM)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EPERM, "bad token");
    if (r == 0)
        r = respond_lookup(call, e, id);
    free(e);
    return r;
}

static int h_lookup_self(const struct token_call *call)
{
    if (call->br->token == NULL)
        return KH_EPERM;
    return respond_lookup(call, call->br->token, call->br->req->token);
}

static int h_lookup_accessor(const struct token_call *call)
{
    const char *accessor;
    struct token_entry *e;
    int r;

    r = need_field(call, "accessor", &accessor);
    if (r != 0)
        return r;
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_store_lookup_accessor(call->store, accessor, e);
    if (r == KH_EPERM)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "invalid accessor");
    if (r == 0)
        r = respond_lookup(call, e, "");
    free(e);
    return r;
}

/* ---- renew ---- */

static int renew_and_respond(const struct token_call *call, const char *hash,
                             const char *client_token)
{
    struct token_entry *e;
    uint64_t increment = 0;
    bool present = false;
    int r;

    r = token_field_duration(call->br->req, "increment", &present, &increment,
                             call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_renew(call->store, hash, increment, e, call->errmsg,
                    call->errmsg_size);
    if (r == KH_EPERM)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "token not found");
    if (r == 0)
        r = token_respond_auth(call->resp, call->br->req, e, client_token);
    free(e);
    return r;
}

static int h_renew(const struct token_call *call)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    const char *id;
    int r;

    r = need_field(call, "token", &id);
    if (r == 0)
        r = request_hash(call, id, hash);
    if (r == KH_EPERM)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "token not found");
    return r != 0 ? r : renew_and_respond(call, hash, id);
}

static int h_renew_self(const struct token_call *call)
{
    if (call->br->token == NULL)
        return KH_EPERM;
    return renew_and_respond(call, call->br->token->id_hash,
                             call->br->req->token);
}

static int h_renew_accessor(const struct token_call *call)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    int r = accessor_hash(call, hash);

    return r != 0 ? r : renew_and_respond(call, hash, "");
}

/* ---- revoke ---- */

/* Tokens were removed: let the lease manager revoke their leases now
 * rather than at its next pass (it drains the queue either way). */
static void wake_leases(const struct token_call *call)
{
    if (call->br->core != NULL && call->br->core->leases != NULL)
        lease_manager_wake(call->br->core->leases);
}

/* Revoke the tree under hash unless it is a batch token. mode_orphan:
 * revoke-orphan (children survive as orphans). */
static int revoke_hash(const struct token_call *call, const char *hash,
                       bool mode_orphan)
{
    struct token_store *store = call->store;
    struct token_entry *e;
    int r;

    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    pthread_mutex_lock(&store->write_lock);
    r = token_entry_load(store, hash, e);
    if (r == 0 && e->type == TOKEN_TYPE_BATCH)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "batch tokens cannot be revoked");
    else if (r == 0 && mode_orphan)
        r = token_tree_revoke_orphan_locked(store, hash);
    else if (r == 0)
        r = token_tree_revoke_locked(store, hash, NULL);
    pthread_mutex_unlock(&store->write_lock);
    free(e);
    if (r == KH_ENOTFOUND)
        r = 0; /* already gone: Vault answers 204 */
    if (r == 0) {
        wake_leases(call); /* revoked in the background, as in Vault */
        kh_response_no_content(call->resp);
    }
    return r;
}

static int revoke_field(const struct token_call *call, bool mode_orphan)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    const char *id;
    int r;

    r = need_field(call, "token", &id);
    if (r == 0)
        r = request_hash(call, id, hash);
    if (r == KH_EPERM) {
        kh_response_no_content(call->resp);
        return 0;
    }
    return r != 0 ? r : revoke_hash(call, hash, mode_orphan);
}

static int h_revoke(const struct token_call *call)
{
    return revoke_field(call, false);
}

static int h_revoke_orphan(const struct token_call *call)
{
    return revoke_field(call, true);
}

static int h_revoke_self(const struct token_call *call)
{
    if (call->br->token == NULL)
        return KH_EPERM;
    return revoke_hash(call, call->br->token->id_hash, false);
}

static int h_revoke_accessor(const struct token_call *call)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    int r = accessor_hash(call, hash);

    return r != 0 ? r : revoke_hash(call, hash, false);
}

/* ---- accessors, roles, tidy ---- */

/* Accessors are stored hashed; the live ones are read from the entries. */
static int h_accessors(const struct token_call *call)
{
    struct kh_storage_list list = {0};
    struct token_entry *e = malloc(sizeof(struct token_entry));
    json_t *keys = json_array();
    int64_t now = token_now();
    size_t i;
    int r = KH_ENOMEM;

    if (e == NULL || keys == NULL)
        goto out;
    r = barrier_list(call->store->barrier, TOKEN_ID_PREFIX, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        if (!token_hash_valid(list.keys[i]) ||
            token_entry_load(call->store, list.keys[i], e) != 0 ||
            e->accessor[0] == '\0' || token_entry_expired(e, now))
            continue;
        if (json_array_append_new(keys, json_string(e->accessor)) != 0)
            r = KH_ENOMEM;
    }
    if (r == 0 && json_array_size(keys) == 0)
        r = KH_ENOTFOUND; /* Vault: an empty list is a 404 */
    if (r == 0) {
        json_t *data = json_pack("{s:O}", "keys", keys);
        r = data != NULL ? kh_response_envelope(call->resp, call->br->req, data)
                         : KH_ENOMEM;
    }
out:
    kh_storage_list_free(&list);
    json_decref(keys);
    free(e);
    return r;
}

static int h_roles_list(const struct token_call *call)
{
    return token_roles_list(call->br, call->resp, call->errmsg,
                            call->errmsg_size);
}

static int h_role(const struct token_call *call)
{
    switch (call->br->req->op) {
    case KH_OP_READ:
        return token_role_read(call->br, call->arg, call->resp, call->errmsg,
                               call->errmsg_size);
    case KH_OP_DELETE:
        return token_role_delete(call->br, call->arg, call->resp, call->errmsg,
                                 call->errmsg_size);
    default:
        return token_role_write(call->br, call->arg, call->resp, call->errmsg,
                                call->errmsg_size);
    }
}

static int h_tidy(const struct token_call *call)
{
    char warning[128];
    size_t removed = 0;
    int r;

    r = token_store_tidy(call->store, &removed);
    if (r != 0)
        return r;
    if (removed > 0)
        wake_leases(call);
    r = kh_response_envelope(call->resp, call->br->req, NULL);
    snprintf(warning, sizeof(warning),
             "Tidy operation completed: %zu expired or dangling tokens "
             "removed",
             removed);
    if (r == 0 && json_object_set_new(call->resp->body, "warnings",
                                      json_pack("[s]", warning)) != 0)
        r = KH_ENOMEM;
    return r;
}

static const struct token_route token_routes[] = {
    {{"create", OPS_W, 0}, h_create},
    {{"create-orphan", OPS_W, 0}, h_create_orphan},
    {{"create/*", OPS_W, 0}, h_create_role},
    {{"lookup", OPS_W | OP(KH_OP_READ), 0}, h_lookup},
    {{"lookup-self", OPS_W | OP(KH_OP_READ), 0}, h_lookup_self},
    {{"lookup-accessor", OPS_W, 0}, h_lookup_accessor},
    {{"renew", OPS_W, 0}, h_renew},
    {{"renew-self", OPS_W, 0}, h_renew_self},
    {{"renew-accessor", OPS_W, 0}, h_renew_accessor},
    {{"revoke", OPS_W, 0}, h_revoke},
    {{"revoke-self", OPS_W, 0}, h_revoke_self},
    {{"revoke-accessor", OPS_W, 0}, h_revoke_accessor},
    {{"revoke-orphan", OPS_W, SUDO}, h_revoke_orphan},
    {{"accessors/", OP(KH_OP_LIST), SUDO}, h_accessors},
    {{"roles/", OP(KH_OP_LIST), 0}, h_roles_list},
    {{"roles/*", OPS_W | OP(KH_OP_READ) | OP(KH_OP_DELETE),
      BACKEND_ROUTE_EXISTENCE},
     h_role},
    {{"tidy", OPS_W, 0}, h_tidy},
};

static const struct backend_route_table token_table =
    BACKEND_ROUTE_TABLE(token_routes, route, false);

/* Root-protected paths of the token store (Vault API: capabilities), for every
 * operation. */
static bool token_sudo(const char *subpath, enum kh_operation op)
{
    (void)op;
    return backend_route_flagged(&token_table, subpath, BACKEND_OPS_ALL,
                                 BACKEND_ROUTE_SUDO);
}

static int token_existence(const struct backend_request *br, bool *ret_exists)
{
    char name[TOKEN_ROLE_NAME_MAX + 1];
    char msg[KH_ERRMSG_SIZE];
    struct backend_route_match m;
    json_t *role = NULL;
    int r;

    *ret_exists = true; /* no existence check: always "update" */
    if (backend_route_match(&token_table, br->subpath, KH_OP_UPDATE, &m) != 0 ||
        (m.route->flags & BACKEND_ROUTE_EXISTENCE) == 0 ||
        token_role_name_ok(m.capture[0].ptr, name, msg, sizeof(msg)) != 0)
        return 0;
    r = token_role_load(br->core->tokens, name, &role);
    json_decref(role);
    if (r == KH_ENOTFOUND) {
        *ret_exists = false;
        r = 0;
    }
    return r;
}

static int token_handle(const struct backend_request *br,
                        struct kh_response *resp, char *errmsg,
                        size_t errmsg_size)
{
    struct token_call call = {br,   br->core->tokens, NULL,
                              resp, errmsg,           errmsg_size};
    struct backend_route_match m;
    int r;

    KH_ASSERT(br->core->tokens != NULL);
    KH_ASSERT(br->subpath != NULL);
    r = backend_route_find(&token_table, br, &m, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (m.capture_count > 0)
        call.arg = m.capture[0].ptr; /* the last segment: NUL-terminated */
    return token_routes[m.index].fn(&call);
}

const struct backend_ops token_backend_ops = {
    .type = "token",
    .is_auth = true,
    .init = NULL,
    .cleanup = NULL,
    .unauthenticated = NULL,
    .sudo = token_sudo,
    .existence = token_existence,
    .handle = token_handle,
};
