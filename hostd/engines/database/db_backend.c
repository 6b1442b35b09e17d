/*
 * db_backend.c - the database engine's backend_ops (engines/backend.h):
 * per-mount state, the existence check, the lease callbacks and dispatch
 * of a sub-path and operation to one handler through the route table
 * below (Vault API: database engine).
 *
 * Owns the route table and the mount lifecycle (pools, rotation thread).
 * It never decides permissions (the request gate does) and never touches
 * storage or PostgreSQL itself.
 */
#include "engines/database/database.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "mount/mount_table.h"

#define DB_UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

/* One route: prefix "config" matches "config" and "config/<name>". A
 * NULL handler means the operation is not supported there (405). The
 * list handler answers the bare prefix; the others need a name. */
struct db_route
{
    const char *prefix;
    db_handler_fn read;
    db_handler_fn write; /* create and update */
    db_handler_fn del;
    db_handler_fn list;
};

static const struct db_route db_routes[] = {
    {"config", db_config_read, db_config_write, db_config_delete,
     db_config_list},
    {"roles", db_roles_read, db_roles_write, db_roles_delete, db_roles_list},
    {"creds", db_creds_read, NULL, NULL, NULL},
    {"rotate-root", NULL, db_root_rotate, NULL, NULL},
    {"reset", NULL, db_reset_write, NULL, NULL},
    {"static-roles", db_static_read, db_static_write, db_static_delete,
     db_static_list},
    {"static-creds", db_static_creds_read, NULL, NULL, NULL},
    {"rotate-role", NULL, db_static_rotate_role, NULL, NULL},
};

static int db_init(const struct mount_entry *mount, void **ret_state)
{
    struct db_state *state;
    int r;

    KH_ASSERT(mount != NULL);
    KH_ASSERT(ret_state != NULL);
    state = calloc(1, sizeof(*state));
    if (state == NULL)
        return KH_ENOMEM;
    state->view = mount->view;
    pthread_mutex_init(&state->records_lock, NULL);
    pthread_mutex_init(&state->static_lock, NULL);
    pthread_mutex_init(&state->pools_lock, NULL);
    pthread_mutex_init(&state->thread_lock, NULL);
    pthread_cond_init(&state->thread_wake, NULL);
    r = db_static_thread_start(state);
    if (r != 0) {
        pthread_cond_destroy(&state->thread_wake);
        pthread_mutex_destroy(&state->thread_lock);
        pthread_mutex_destroy(&state->pools_lock);
        pthread_mutex_destroy(&state->static_lock);
        pthread_mutex_destroy(&state->records_lock);
        free(state);
        return r;
    }
    *ret_state = state;
    return 0;
}

static void db_cleanup(void *arg)
{
    struct db_state *state = arg;

    if (state == NULL)
        return;
    db_static_thread_stop(state);
    db_pools_close(state);
    pthread_cond_destroy(&state->thread_wake);
    pthread_mutex_destroy(&state->thread_lock);
    pthread_mutex_destroy(&state->pools_lock);
    pthread_mutex_destroy(&state->static_lock);
    pthread_mutex_destroy(&state->records_lock);
    free(state);
}

/* The row for subpath and the name after "<prefix>/" ("" for the bare
 * prefix or "<prefix>/"). */
static const struct db_route *route_find(const char *subpath,
                                         const char **ret_name)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(db_routes); i++) {
        size_t n = strlen(db_routes[i].prefix);
        if (strncmp(subpath, db_routes[i].prefix, n) != 0)
            continue;
        if (subpath[n] == '\0') {
            *ret_name = "";
            return &db_routes[i];
        }
        if (subpath[n] == '/') {
            *ret_name = subpath + n + 1;
            return &db_routes[i];
        }
    }
    return NULL;
}

static db_handler_fn route_handler(const struct db_route *row,
                                   enum kh_operation op, const char *name)
{
    if (op == KH_OP_LIST)
        return name[0] == '\0' ? row->list : NULL;
    if (name[0] == '\0')
        return NULL;
    switch (op) {
    case KH_OP_READ:
        return row->read;
    case KH_OP_CREATE:
    case KH_OP_UPDATE:
        return row->write;
    case KH_OP_DELETE:
        return row->del;
    case KH_OP_PATCH:
    case KH_OP_LIST:
    case KH_OP_HEAD:
        break;
    }
    return NULL;
}

static int db_handle(const struct backend_request *br, struct kh_response *resp,
                     char *errmsg, size_t errmsg_size)
{
    struct db_call call = {br, br->state, "", resp, errmsg, errmsg_size};
    const struct db_route *row;
    db_handler_fn fn;
    int r;

    KH_ASSERT(br->req != NULL);
    KH_ASSERT(br->subpath != NULL);
    if (br->state == NULL || br->view == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "database mount is not initialised");
    row = route_find(br->subpath, &call.name);
    if (row == NULL)
        return backend_no_route(br, errmsg, errmsg_size);
    if (call.name[0] != '\0' && !db_name_valid(call.name))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid name \"%.*s\"", DB_NAME_BYTES_MAX, call.name);
    fn = route_handler(row, br->req->op, call.name);
    if (fn == NULL && br->req->op == KH_OP_LIST)
        return backend_no_route(br, errmsg, errmsg_size);
    if (fn == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, DB_UNSUPPORTED);
    r = fn(&call);
    /* An unreachable database is the backend's failure (500, as Vault);
     * 503 would tell clients that Keyhold itself is sealed or down. */
    return r == KH_EUNAVAIL ? KH_EINTERNAL : r;
}

/* config/, roles/ and static-roles/ items exist when stored; every other
 * path is an update. */
static int db_existence(const struct backend_request *br, bool *ret_exists)
{
    struct db_state *state = br->state;
    const struct db_route *row;
    const char *name = "";
    const char *kind = NULL;

    if (state == NULL)
        return KH_EINTERNAL;
    row = route_find(br->subpath, &name);
    if (row != NULL && row->read == db_config_read)
        kind = "config";
    else if (row != NULL && row->read == db_roles_read)
        kind = "role";
    else if (row != NULL && row->read == db_static_read)
        kind = "static-role";
    *ret_exists = true;
    if (kind == NULL || !db_name_valid(name))
        return 0;
    return db_record_exists(&state->view, kind, name, ret_exists);
}

static int db_revoke(const struct backend_request *br, const json_t *internal,
                     char *errmsg, size_t errmsg_size)
{
    if (br->state == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "database mount is not initialised");
    return db_creds_revoke(br->state, internal, errmsg, errmsg_size);
}

static int db_renew(const struct backend_request *br, const json_t *internal,
                    uint64_t ttl_s, char *errmsg, size_t errmsg_size)
{
    if (br->state == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "database mount is not initialised");
    return db_creds_renew(br->state, internal, ttl_s, errmsg, errmsg_size);
}

const struct backend_ops database_backend_ops = {
    .type = "database",
    .is_auth = false,
    .init = db_init,
    .cleanup = db_cleanup,
    .unauthenticated = NULL,
    .sudo = NULL,
    .existence = db_existence,
    .handle = db_handle,
    .revoke = db_revoke,
    .renew = db_renew,
};
