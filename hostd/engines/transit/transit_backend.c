/*
 * transit_backend.c - the transit engine's backend_ops (engines/backend.h):
 * per-mount state, the existence check, and dispatch of a sub-path and
 * operation to one handler through the route table below (the Vault HTTP API
 * §6.4).
 *
 * Owns the route table, the split of a sub-path into route word, name and
 * tail, and the answers for what matches no row (404 "no handler for
 * route") or no operation of a row (405). It never decides permissions
 * (the request gate does) and never touches storage itself; cleanup wipes
 * every cached key (disabling the mount is transit_disable.c's).
 */
#include "engines/transit/transit.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "mount/mount_table.h"

#define TRANSIT_UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"
#define ROUTE_WORD_BYTES_MAX 16

/* One route word. needs_name: "<word>/<name>" is required (except for
 * list). A NULL handler: the operation is not supported there (405). */
struct transit_route
{
    const char *word;
    bool needs_name;
    transit_handler_fn read;
    transit_handler_fn write; /* create and update */
    transit_handler_fn del;
    transit_handler_fn list;
};

static const struct transit_route transit_routes[] = {
    {"keys", true, transit_keys_read, transit_keys_write, transit_keys_delete,
     transit_keys_list},
    {"encrypt", true, NULL, transit_encrypt_write, NULL, NULL},
    {"decrypt", true, NULL, transit_decrypt_write, NULL, NULL},
    {"rewrap", true, NULL, transit_rewrap_write, NULL, NULL},
    {"datakey", true, NULL, transit_datakey_write, NULL, NULL},
    {"sign", true, NULL, transit_sign_write, NULL, NULL},
    {"verify", true, NULL, transit_verify_write, NULL, NULL},
    {"hmac", true, NULL, transit_hmac_write, NULL, NULL},
    {"export", true, transit_export_read, NULL, NULL, NULL},
    {"random", false, NULL, transit_random_write, NULL, NULL},
    {"hash", false, NULL, transit_hash_write, NULL, NULL},
};

static int transit_init(const struct mount_entry *mount, void **ret_state)
{
    struct transit_state *state;

    KH_ASSERT(mount != NULL);
    KH_ASSERT(ret_state != NULL);
    state = calloc(1, sizeof(*state));
    if (state == NULL)
        return KH_ENOMEM;
    if (pthread_rwlock_init(&state->lock, NULL) != 0) {
        free(state);
        return KH_ENOMEM;
    }
    if (pthread_mutex_init(&state->iv_lock, NULL) != 0) {
        pthread_rwlock_destroy(&state->lock);
        free(state);
        return KH_ENOMEM;
    }
    memcpy(state->mount_uuid, mount->uuid, sizeof(state->mount_uuid));
    state->mount_uuid[KH_UUID_STR_LEN] = '\0';
    *ret_state = state;
    return 0;
}

static void transit_cleanup(void *opaque)
{
    struct transit_state *state = opaque;
    size_t i;

    if (state == NULL)
        return;
    for (i = 0; i < TRANSIT_CACHE_KEYS_MAX; i++)
        transit_policy_free(state->cache[i]);
    pthread_mutex_destroy(&state->iv_lock);
    pthread_rwlock_destroy(&state->lock);
    kh_wipe(state, sizeof(*state));
    free(state);
}

/* Split subpath into word / name / tail (name and tail point into
 * subpath or are ""); name is copied to name_buf to end it. */
static const struct transit_route *
route_find(const char *subpath, char *name_buf, size_t name_size,
           const char **ret_tail)
{
    const char *slash = strchr(subpath, '/');
    size_t word_len = slash != NULL ? (size_t)(slash - subpath)
                                    : strlen(subpath);
    const char *rest = slash != NULL ? slash + 1 : "";
    const char *next = strchr(rest, '/');
    size_t name_len = next != NULL ? (size_t)(next - rest) : strlen(rest);
    size_t i;

    if (word_len >= ROUTE_WORD_BYTES_MAX || name_len >= name_size)
        return NULL;
    memcpy(name_buf, rest, name_len);
    name_buf[name_len] = '\0';
    *ret_tail = next != NULL ? next + 1 : "";
    for (i = 0; i < KH_ARRAY_LEN(transit_routes); i++) {
        if (strlen(transit_routes[i].word) == word_len &&
            strncmp(transit_routes[i].word, subpath, word_len) == 0)
            return &transit_routes[i];
    }
    return NULL;
}

static transit_handler_fn route_handler(const struct transit_route *row,
                                        enum kh_operation op)
{
    switch (op) {
    case KH_OP_READ:
        return row->read;
    case KH_OP_CREATE:
    case KH_OP_UPDATE:
        return row->write;
    case KH_OP_DELETE:
        return row->del;
    case KH_OP_LIST:
        return row->list;
    case KH_OP_PATCH:
    case KH_OP_HEAD:
        break;
    }
    return NULL;
}

/* Remember the core that serves this mount, for the disable hook (see
 * transit_state.core). Every request of a mount comes through one core. */
static void note_core(const struct backend_request *br)
{
    struct transit_state *state = br->state;

    if (br->core != NULL &&
        __atomic_load_n(&state->core, __ATOMIC_ACQUIRE) != br->core)
        __atomic_store_n(&state->core, br->core, __ATOMIC_RELEASE);
}

static int transit_handle(const struct backend_request *br,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    char name[KH_HTTP_PATH_BYTES_MAX + 1];
    struct transit_call call = {br,   br->state, name, "",
                                resp, errmsg,    errmsg_size};
    const struct transit_route *row;
    transit_handler_fn fn;

    KH_ASSERT(br->req != NULL);
    KH_ASSERT(br->subpath != NULL);
    if (br->state == NULL || br->view == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "transit mount is not initialised");
    note_core(br);
    row = route_find(br->subpath, name, sizeof(name), &call.tail);
    if (row == NULL)
        return backend_no_route(br, errmsg, errmsg_size);
    if (row->needs_name && name[0] == '\0' && br->req->op != KH_OP_LIST)
        return backend_no_route(br, errmsg, errmsg_size);
    fn = route_handler(row, br->req->op);
    if (fn == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, TRANSIT_UNSUPPORTED);
    if (br->req->op == KH_OP_LIST && (name[0] != '\0' || call.tail[0] != '\0'))
        return backend_no_route(br, errmsg, errmsg_size);
    return fn(&call);
}

/* keys/:name and encrypt/:name exist when the key does; other paths are
 * always "update". */
static int transit_existence(const struct backend_request *br,
                             bool *ret_exists)
{
    char errmsg[KH_ERRMSG_SIZE];
    char name[KH_HTTP_PATH_BYTES_MAX + 1];
    struct transit_call call = {br,   br->state, name,          "",
                                NULL, errmsg,    sizeof(errmsg)};
    const struct transit_route *row;

    if (br->state == NULL || br->view == NULL)
        return KH_EINTERNAL;
    note_core(br);
    row = route_find(br->subpath, name, sizeof(name), &call.tail);
    if (row == NULL || call.tail[0] != '\0' || name[0] == '\0' ||
        (strcmp(row->word, "keys") != 0 && strcmp(row->word, "encrypt") != 0)) {
        *ret_exists = true;
        return 0;
    }
    return transit_key_exists(&call, name, ret_exists);
}

const struct backend_ops transit_backend_ops = {
    .type = "transit",
    .is_auth = false,
    .init = transit_init,
    .cleanup = transit_cleanup,
    .unauthenticated = NULL,
    .sudo = NULL,
    .existence = transit_existence,
    .handle = transit_handle,
    .disable = transit_disable,
};
