/*
 * approle_backend.c - the AppRole ops table: per-mount state, which paths
 * need no token, and the dispatch of a sub-path to its handler through one
 * declarative table (house style).
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
#include "engines/backend_route.h"

#define OPS_W  BACKEND_OPS_WRITE
#define OP(op) BACKEND_OP(op)

/* One row: '*' is the role name segment. */
struct approle_route
{
    struct backend_route route;
    approle_handler_fn handler;
};

static const struct approle_route approle_routes[] = {
    {{"login", OPS_W, BACKEND_ROUTE_UNAUTH}, approle_login},
    {{"role", OP(KH_OP_LIST), 0}, approle_role_list},
    {{"role/*", OP(KH_OP_READ), 0}, approle_role_read},
    {{"role/*", OPS_W, BACKEND_ROUTE_EXISTENCE}, approle_role_write},
    {{"role/*", OP(KH_OP_DELETE), 0}, approle_role_delete},
    {{"role/*/role-id", OP(KH_OP_READ), 0}, approle_role_id_read},
    {{"role/*/role-id", OPS_W, 0}, approle_role_id_write},
    {{"role/*/secret-id", OPS_W, 0}, approle_secret_generate},
    {{"role/*/secret-id", OP(KH_OP_LIST), 0}, approle_secret_list},
    {{"role/*/custom-secret-id", OPS_W, 0}, approle_secret_custom},
    {{"role/*/secret-id/lookup", OPS_W, 0}, approle_secret_lookup},
    {{"role/*/secret-id/destroy", OPS_W | OP(KH_OP_DELETE), 0},
     approle_secret_destroy},
    {{"role/*/secret-id-accessor/lookup", OPS_W, 0}, approle_accessor_lookup},
    {{"role/*/secret-id-accessor/destroy", OPS_W | OP(KH_OP_DELETE), 0},
     approle_accessor_destroy},
};

static const struct backend_route_table approle_table =
    BACKEND_ROUTE_TABLE(approle_routes, route, true);

int approle_respond(const struct approle_call *call, json_t *data)
{
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

static int approle_handle(const struct backend_request *br,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    char name[APPROLE_NAME_BYTES_MAX + 1] = "";
    struct approle_state *state = br->state;
    struct backend_route_match m;
    struct approle_call call;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(br->view != NULL);
    r = backend_route_find(&approle_table, br, &m, errmsg, errmsg_size);
    if (r == 0 && m.capture_count > 0)
        r = approle_name_check(m.capture[0].ptr, m.capture[0].len, name, errmsg,
                               errmsg_size);
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
    r = approle_routes[m.index].handler(&call);
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
    struct backend_route_match m;
    struct approle_call call;
    int r;

    KH_ASSERT(state != NULL);
    if (backend_route_match(&approle_table, br->subpath, KH_OP_UPDATE, &m) !=
            0 ||
        (m.route->flags & BACKEND_ROUTE_EXISTENCE) == 0 ||
        approle_name_check(m.capture[0].ptr, m.capture[0].len, name, msg,
                           sizeof(msg)) != 0) {
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
    return backend_route_flagged(&approle_table, subpath, OP(op),
                                 BACKEND_ROUTE_UNAUTH);
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
