/*
 * userpass_backend.c - the userpass ops table: per-mount state, which
 * paths need no token, and the dispatch of a sub-path to its handler
 * through one declarative table (CONVENTIONS 13).
 *
 * Owns the mount's mutex: rows marked locked (the writes) run with it
 * held; reads and logins run without it. It must never decide permissions
 * (the request gate does) beyond declaring login unauthenticated.
 */
#include "auth/userpass/userpass.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define ROUTE_UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

struct userpass_route
{
    const char *pattern;  /* '*' is the username segment */
    enum kh_operation op; /* KH_OP_UPDATE also serves CREATE */
    bool locked;          /* run under state->lock */
    userpass_handler_fn handler;
};

static const struct userpass_route userpass_routes[] = {
    {"login/*", KH_OP_UPDATE, false, userpass_login},
    {"users", KH_OP_LIST, false, userpass_users_list},
    {"users/*", KH_OP_READ, false, userpass_user_read},
    {"users/*", KH_OP_UPDATE, true, userpass_user_write},
    {"users/*", KH_OP_DELETE, true, userpass_user_delete},
    {"users/*/password", KH_OP_UPDATE, true, userpass_user_password},
    {"users/*/policies", KH_OP_UPDATE, true, userpass_user_policies},
};

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
                      const struct userpass_route **ret, const char **cap,
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
    for (i = 0; i < KH_ARRAY_LEN(userpass_routes); i++) {
        if (!path_match(userpass_routes[i].pattern, br->subpath, len, cap,
                        cap_len))
            continue;
        path_known = true;
        if (userpass_routes[i].op == op) {
            *ret = &userpass_routes[i];
            return 0;
        }
    }
    if (path_known)
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, "%s",
                         ROUTE_UNSUPPORTED);
    return backend_no_route(br, errmsg, errmsg_size);
}

static int userpass_handle(const struct backend_request *br,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size)
{
    char name[USERPASS_NAME_BYTES_MAX + 1] = "";
    const struct userpass_route *route = NULL;
    struct userpass_state *state = br->state;
    struct userpass_call call;
    const char *cap;
    size_t cap_len;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(br->view != NULL);
    r = route_find(br, &route, &cap, &cap_len, errmsg, errmsg_size);
    if (r == 0 && cap != NULL)
        r = userpass_name_check(cap, cap_len, name, errmsg, errmsg_size);
    if (r != 0)
        return r;
    call = (struct userpass_call){
        .br = br,
        .state = state,
        .username = name,
        .resp = resp,
        .errmsg = errmsg,
        .errmsg_size = errmsg_size,
    };
    if (route->locked)
        pthread_mutex_lock(&state->lock);
    r = route->handler(&call);
    if (route->locked)
        pthread_mutex_unlock(&state->lock);
    return r;
}

/* users/:username has an existence check (create vs update for the ACL);
 * everything else is an update. */
static int userpass_existence(const struct backend_request *br,
                              bool *ret_exists)
{
    char name[USERPASS_NAME_BYTES_MAX + 1];
    char msg[KH_ERRMSG_SIZE];
    struct userpass_call call;
    const char *cap = NULL;
    size_t cap_len = 0;

    if (!path_match("users/*", br->subpath, strlen(br->subpath), &cap,
                    &cap_len) ||
        userpass_name_check(cap, cap_len, name, msg, sizeof(msg)) != 0) {
        *ret_exists = true;
        return 0;
    }
    call = (struct userpass_call){
        .br = br,
        .state = br->state,
        .username = name,
        .errmsg = msg,
        .errmsg_size = sizeof(msg),
    };
    return userpass_user_exists(&call, ret_exists);
}

static bool userpass_unauthenticated(const char *subpath, enum kh_operation op)
{
    return strncmp(subpath, "login/", 6) == 0 &&
           (op == KH_OP_UPDATE || op == KH_OP_CREATE);
}

static int userpass_init(const struct mount_entry *mount, void **ret_state)
{
    struct userpass_state *state;

    (void)mount;
    state = calloc(1, sizeof(*state));
    if (state == NULL)
        return KH_ENOMEM;
    pthread_mutex_init(&state->lock, NULL);
    *ret_state = state;
    return 0;
}

static void userpass_cleanup(void *p)
{
    struct userpass_state *state = p;

    if (state == NULL)
        return;
    pthread_mutex_destroy(&state->lock);
    free(state);
}

const struct backend_ops userpass_backend_ops = {
    .type = "userpass",
    .is_auth = true,
    .init = userpass_init,
    .cleanup = userpass_cleanup,
    .unauthenticated = userpass_unauthenticated,
    .sudo = NULL,
    .existence = userpass_existence,
    .handle = userpass_handle,
};
