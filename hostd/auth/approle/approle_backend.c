/*
 * approle_backend.c - the AppRole ops table: per-mount state, which paths
 * need no token, and the dispatch of a sub-path to its handler through one
 * declarative table (CONVENTIONS 13).
 *
 * Owns the mount's mutex: every handler runs with it held. It must never
 * decide permissions (the request gate does) beyond declaring login
 * unauthenticated.
 */
#include "auth/approle/approle.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define ROUTE_UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

struct approle_route
{
    const char *pattern;  /* '*' is the role name segment */
    enum kh_operation op; /* KH_OP_UPDATE also serves CREATE */
    approle_handler_fn handler;
};

static const struct approle_route approle_routes[] = {
    {"login", KH_OP_UPDATE, approle_login},
    {"role", KH_OP_LIST, approle_role_list},
    {"role/*", KH_OP_READ, approle_role_read},
    {"role/*", KH_OP_UPDATE, approle_role_write},
    {"role/*", KH_OP_DELETE, approle_role_delete},
    {"role/*/role-id", KH_OP_READ, approle_role_id_read},
    {"role/*/role-id", KH_OP_UPDATE, approle_role_id_write},
    {"role/*/secret-id", KH_OP_UPDATE, approle_secret_generate},
    {"role/*/secret-id", KH_OP_LIST, approle_secret_list},
    {"role/*/custom-secret-id", KH_OP_UPDATE, approle_secret_custom},
    {"role/*/secret-id/lookup", KH_OP_UPDATE, approle_secret_lookup},
    {"role/*/secret-id/destroy", KH_OP_UPDATE, approle_secret_destroy},
    {"role/*/secret-id/destroy", KH_OP_DELETE, approle_secret_destroy},
    {"role/*/secret-id-accessor/lookup", KH_OP_UPDATE, approle_accessor_lookup},
    {"role/*/secret-id-accessor/destroy", KH_OP_UPDATE,
     approle_accessor_destroy},
    {"role/*/secret-id-accessor/destroy", KH_OP_DELETE,
     approle_accessor_destroy},
};

int approle_respond(const struct approle_call *call, json_t *data)
{
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

/* Match path[0..len) against pattern; '*' matches one non-empty segment,
 * returned through cap/cap_len. */
static bool path_match(const char *pattern, const char *path, size_t len,
                       const char **cap, size_t *cap_len)
{
    size_t i = 0;

    for (; *pattern != '\0'; pattern++) {
        if (*pattern == '*') {
            size_t n = 0;
            while (i + n < len && path[i + n] != '/')
                n++;
            if (n == 0)
                return false;
            *cap = path + i;
            *cap_len = n;
            i += n;
        } else if (i >= len || path[i++] != *pattern) {
            return false;
        }
    }
    return i == len;
}

/* Find the route for subpath and op: KH_ENOTFOUND (no such path) or
 * KH_EMETHOD (path without this operation) with errmsg. */
static int route_find(const struct backend_request *br,
                      const struct approle_route **ret, const char **cap,
                      size_t *cap_len, char *errmsg, size_t errmsg_size)
{
    enum kh_operation op = br->req->op;
    size_t len = strlen(br->subpath), i;
    bool path_known = false;

    if (op == KH_OP_CREATE)
        op = KH_OP_UPDATE;
    if (op == KH_OP_LIST && len > 0 && br->subpath[len - 1] == '/')
        len--;
    *cap = NULL;
    *cap_len = 0;
    for (i = 0; i < KH_ARRAY_LEN(approle_routes); i++) {
        if (!path_match(approle_routes[i].pattern, br->subpath, len, cap,
                        cap_len))
            continue;
        path_known = true;
        if (approle_routes[i].op == op) {
            *ret = &approle_routes[i];
            return 0;
        }
    }
    if (path_known)
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, "%s",
                         ROUTE_UNSUPPORTED);
    return backend_no_route(br, errmsg, errmsg_size);
}

static int approle_handle(const struct backend_request *br,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    char name[APPROLE_NAME_BYTES_MAX + 1] = "";
    const struct approle_route *route = NULL;
    struct approle_state *state = br->state;
    struct approle_call call;
    const char *cap;
    size_t cap_len;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(br->view != NULL);
    r = route_find(br, &route, &cap, &cap_len, errmsg, errmsg_size);
    if (r == 0 && cap != NULL)
        r = approle_name_check(cap, cap_len, name, errmsg, errmsg_size);
    if (r != 0)
        return r;
    call = (struct approle_call){
        .br = br,
        .state = state,
        .role = name,
        .resp = resp,
        .errmsg = errmsg,
        .errmsg_size = errmsg_size,
    };
    pthread_mutex_lock(&state->lock);
    r = route->handler(&call);
    pthread_mutex_unlock(&state->lock);
    return r;
}

/* role/:role is the only path with an existence check (create vs update
 * for the ACL); everything else is an update. */
static int approle_existence(const struct backend_request *br, bool *ret_exists)
{
    char name[APPROLE_NAME_BYTES_MAX + 1];
    char msg[KH_ERRMSG_SIZE];
    struct approle_state *state = br->state;
    struct approle_call call;
    const char *cap = NULL;
    size_t cap_len = 0;
    int r;

    KH_ASSERT(state != NULL);
    if (!path_match("role/*", br->subpath, strlen(br->subpath), &cap,
                    &cap_len) ||
        approle_name_check(cap, cap_len, name, msg, sizeof(msg)) != 0) {
        *ret_exists = true;
        return 0;
    }
    call = (struct approle_call){
        .br = br,
        .state = state,
        .role = name,
        .errmsg = msg,
        .errmsg_size = sizeof(msg),
    };
    pthread_mutex_lock(&state->lock);
    r = approle_role_exists(&call, ret_exists);
    pthread_mutex_unlock(&state->lock);
    return r;
}

static bool approle_unauthenticated(const char *subpath, enum kh_operation op)
{
    return strcmp(subpath, "login") == 0 &&
           (op == KH_OP_UPDATE || op == KH_OP_CREATE);
}

static int approle_init(const struct mount_entry *mount, void **ret_state)
{
    struct approle_state *state;

    (void)mount;
    state = calloc(1, sizeof(*state));
    if (state == NULL)
        return KH_ENOMEM;
    state->salt = kh_secure_alloc(APPROLE_SALT_BYTES);
    if (state->salt == NULL) {
        free(state);
        return KH_ENOMEM;
    }
    pthread_mutex_init(&state->lock, NULL);
    *ret_state = state;
    return 0;
}

static void approle_cleanup(void *p)
{
    struct approle_state *state = p;

    if (state == NULL)
        return;
    approle_salt_forget(state);
    kh_secure_free(state->salt, APPROLE_SALT_BYTES);
    pthread_mutex_destroy(&state->lock);
    free(state);
}

const struct backend_ops approle_backend_ops = {
    .type = "approle",
    .is_auth = true,
    .init = approle_init,
    .cleanup = approle_cleanup,
    .unauthenticated = approle_unauthenticated,
    .sudo = NULL,
    .existence = approle_existence,
    .handle = approle_handle,
};
