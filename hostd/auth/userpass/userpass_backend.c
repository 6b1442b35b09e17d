/*
 * userpass_backend.c - the userpass ops table: per-mount state, which
 * paths need no token, and the dispatch of a sub-path to its handler
 * through one declarative table (house style).
 *
 * Owns the mount's mutex: rows marked locked (the writes) run with it
 * held; reads and logins run without it. It must never decide permissions
 * (the request gate does) beyond declaring login unauthenticated.
 */
#include "auth/userpass/userpass.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "engines/backend_route.h"

#define OPS_W  BACKEND_OPS_WRITE
#define OP(op) BACKEND_OP(op)

/* One row: '*' is the username segment. */
struct userpass_route
{
    struct backend_route route;
    bool locked; /* run under state->lock */
    userpass_handler_fn handler;
};

static const struct userpass_route userpass_routes[] = {
    {{"login/*", OPS_W, 0}, false, userpass_login},
    {{"users", OP(KH_OP_LIST), 0}, false, userpass_users_list},
    {{"users/*", OP(KH_OP_READ), 0}, false, userpass_user_read},
    {{"users/*", OPS_W, BACKEND_ROUTE_EXISTENCE}, true, userpass_user_write},
    {{"users/*", OP(KH_OP_DELETE), 0}, true, userpass_user_delete},
    {{"users/*/password", OPS_W, 0}, true, userpass_user_password},
    {{"users/*/policies", OPS_W, 0}, true, userpass_user_policies},
};

static const struct backend_route_table userpass_table =
    BACKEND_ROUTE_TABLE(userpass_routes, route, true);

static int userpass_handle(const struct backend_request *br,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size)
{
    char name[USERPASS_NAME_BYTES_MAX + 1] = "";
    const struct userpass_route *route;
    struct userpass_state *state = br->state;
    struct backend_route_match m;
    struct userpass_call call;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(br->view != NULL);
    r = backend_route_find(&userpass_table, br, &m, errmsg, errmsg_size);
    if (r == 0 && m.capture_count > 0)
        r = userpass_name_check(m.capture[0].ptr, m.capture[0].len, name,
                                errmsg, errmsg_size);
    if (r != 0)
        return r;
    route = &userpass_routes[m.index];
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
    struct backend_route_match m;
    struct userpass_call call;

    if (backend_route_match(&userpass_table, br->subpath, KH_OP_UPDATE, &m) !=
            0 ||
        (m.route->flags & BACKEND_ROUTE_EXISTENCE) == 0 ||
        userpass_name_check(m.capture[0].ptr, m.capture[0].len, name, msg,
                            sizeof(msg)) != 0) {
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

/* Vault's unauthenticated paths are a prefix glob: every path below
 * login/ needs no token, which is wider than the one-segment handler row,
 * so this is not a row flag. */
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
