/*
 * kv_backend.c - the KV engine's backend_ops (engines/backend.h): per-mount
 * state, the existence check, and dispatch of a sub-path and operation to
 * one handler through the route table below (Vault API: KV v2, §6.2).
 *
 * Owns the v2 route table and Vault's answers for what matches no row: a
 * sub-path outside the table is a 404 envelope with the "Invalid path for
 * a versioned K/V secrets engine" warning; a row without a handler for the
 * operation is 405. It never decides permissions (the request gate does)
 * and never touches storage itself.
 */
#include "engines/kv/kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "engines/backend_route.h"
#include "mount/mount_table.h"

#define R     BACKEND_OP(KH_OP_READ)
#define W     BACKEND_OPS_WRITE
#define PATCH BACKEND_OP(KH_OP_PATCH)
#define DEL   BACKEND_OP(KH_OP_DELETE)
#define LIST  BACKEND_OP(KH_OP_LIST)
#define EXIST BACKEND_ROUTE_EXISTENCE

/* One v2 sub-command and operation: '**' is the secret path (the rest of
 * the sub-path). A path with no row for the operation is a 405. */
struct kv_route
{
    struct backend_route route;
    kv_handler_fn handler;
};

static const struct kv_route kv_routes[] = {
    {{"config", R, 0}, kv_config_read},
    {{"config", W, 0}, kv_config_write},
    {{"data/**", R, 0}, kv_data_read},
    {{"data/**", W, EXIST}, kv_data_write},
    {{"data/**", PATCH, 0}, kv_data_patch},
    {{"data/**", DEL, 0}, kv_data_delete},
    {{"delete/**", W, 0}, kv_versions_delete},
    {{"undelete/**", W, 0}, kv_versions_undelete},
    {{"destroy/**", W, 0}, kv_versions_destroy},
    {{"metadata/**", R, 0}, kv_metadata_read},
    {{"metadata/**", W, EXIST}, kv_metadata_write},
    {{"metadata/**", PATCH, 0}, kv_metadata_patch},
    {{"metadata/**", DEL, 0}, kv_metadata_delete},
    {{"metadata/**", LIST, 0}, kv_metadata_list},
};

static const struct backend_route_table kv_table =
    BACKEND_ROUTE_TABLE(kv_routes, route, false);

void kv_lock_read(struct kv_state *state)
{
    int rc;

    KH_ASSERT(state != NULL);
    rc = pthread_rwlock_rdlock(&state->lock);
    KH_ASSERT(rc == 0);
}

void kv_lock_write(struct kv_state *state)
{
    int rc;

    KH_ASSERT(state != NULL);
    rc = pthread_rwlock_wrlock(&state->lock);
    KH_ASSERT(rc == 0);
}

void kv_unlock(struct kv_state *state)
{
    int rc;

    KH_ASSERT(state != NULL);
    rc = pthread_rwlock_unlock(&state->lock);
    KH_ASSERT(rc == 0);
}

static void kv_cleanup(void *state);

/* FNV-1a of the path picks its stripe. */
static pthread_rwlock_t *key_stripe(struct kv_state *state, const char *path)
{
    uint32_t h = 2166136261u;
    const unsigned char *p;

    for (p = (const unsigned char *)path; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return &state->stripes[h % KV_LOCK_STRIPES];
}

void kv_lock_key_read(struct kv_state *state, const char *path)
{
    kv_lock_read(state);
    KH_ASSERT(pthread_rwlock_rdlock(key_stripe(state, path)) == 0);
}

void kv_lock_key_write(struct kv_state *state, const char *path)
{
    kv_lock_read(state);
    KH_ASSERT(pthread_rwlock_wrlock(key_stripe(state, path)) == 0);
}

void kv_unlock_key(struct kv_state *state, const char *path)
{
    KH_ASSERT(pthread_rwlock_unlock(key_stripe(state, path)) == 0);
    kv_unlock(state);
}

/* The mount option "max_secret_bytes" (a decimal string or number), or
 * the default. KH_EINVAL when malformed or outside 1..ceiling. */
static int option_secret_bytes(const json_t *options, size_t *ret)
{
    const json_t *v = json_is_object(options)
                          ? json_object_get(options, "max_secret_bytes")
                          : NULL;
    unsigned long long n;
    char *end = NULL;

    if (v == NULL || json_is_null(v)) {
        *ret = KV_SECRET_BYTES_DEFAULT;
        return 0;
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) <= 0)
            return KH_EINVAL;
        n = (unsigned long long)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (s[0] < '0' || s[0] > '9')
            return KH_EINVAL;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
            return KH_EINVAL;
    } else {
        return KH_EINVAL;
    }
    if (n == 0 || n > KV_SECRET_BYTES_CEILING)
        return KH_EINVAL;
    *ret = (size_t)n;
    return 0;
}

static int kv_init(const struct mount_entry *mount, void **ret_state)
{
    struct kv_state *state;
    size_t bytes_max = 0;
    int r;

    KH_ASSERT(mount != NULL);
    KH_ASSERT(ret_state != NULL);
    r = option_secret_bytes(mount->options, &bytes_max);
    if (r != 0)
        return r;
    state = calloc(1, sizeof(*state));
    if (state == NULL)
        return KH_ENOMEM;
    if (pthread_rwlock_init(&state->lock, NULL) != 0) {
        free(state);
        return KH_ENOMEM;
    }
    for (; state->stripes_ready < KV_LOCK_STRIPES; state->stripes_ready++) {
        if (pthread_rwlock_init(&state->stripes[state->stripes_ready],
                                NULL) != 0) {
            kv_cleanup(state);
            return KH_ENOMEM;
        }
    }
    state->secret_bytes_max = bytes_max;
    *ret_state = state;
    return 0;
}

static void kv_cleanup(void *state)
{
    struct kv_state *s = state;

    if (s == NULL)
        return;
    while (s->stripes_ready > 0)
        pthread_rwlock_destroy(&s->stripes[--s->stripes_ready]);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

/* True for a versioned mount: options {"version": "2"}. */
static bool kv_is_v2(const struct mount_entry *mount)
{
    const json_t *v;

    if (mount == NULL || !json_is_object(mount->options))
        return false;
    v = json_object_get(mount->options, "version");
    return json_is_string(v) && strcmp(json_string_value(v), "2") == 0;
}

/* Vault's answer for a v2 sub-path outside the table: 404 with a full
 * envelope, data null and a warning naming the CLI sub-command. */
static int respond_invalid_path(const struct kv_call *call)
{
    static const char *const verbs[] = {
        [KH_OP_READ] = "get",    [KH_OP_LIST] = "list",
        [KH_OP_CREATE] = "put",  [KH_OP_UPDATE] = "put",
        [KH_OP_PATCH] = "patch", [KH_OP_DELETE] = "delete",
        [KH_OP_HEAD] = "get",
    };
    enum kh_operation op = call->br->req->op;
    const char *verb = (size_t)op < KH_ARRAY_LEN(verbs) && verbs[op] != NULL
                           ? verbs[op]
                           : "get";
    char text[256];
    int r;

    snprintf(text, sizeof(text),
             "Invalid path for a versioned K/V secrets engine. See the API "
             "docs for the appropriate API endpoints to use. If using the "
             "Vault CLI, use 'vault kv %s' for this operation.",
             verb);
    r = kh_response_envelope(call->resp, call->br->req, NULL);
    if (r != 0)
        return r;
    if (json_object_set_new(call->resp->body, "warnings",
                            json_pack("[s]", text)) != 0)
        return KH_ENOMEM;
    call->resp->status = 404;
    return 0;
}

static int kv_handle(const struct backend_request *br, struct kh_response *resp,
                     char *errmsg, size_t errmsg_size)
{
    struct kv_call call = {br,   br->state, br->subpath,
                           resp, errmsg,    errmsg_size};
    struct backend_route_match m;
    int r;

    KH_ASSERT(br->req != NULL);
    KH_ASSERT(br->subpath != NULL);
    if (br->state == NULL || br->view == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "kv mount is not initialised");
    if (!kv_is_v2(br->mount))
        return kv_v1_handle(&call);
    r = backend_route_match(&kv_table, br->subpath, br->req->op, &m);
    if (r == KH_ENOTFOUND)
        return respond_invalid_path(&call);
    if (r == KH_EMETHOD)
        return backend_route_unsupported(errmsg, errmsg_size);
    call.path = m.capture_count > 0 ? m.capture[0].ptr : "";
    return kv_routes[m.index].handler(&call);
}

/* v2: data/:path exists when it has a current version, metadata/:path
 * when it has metadata; other paths are always "update". v1: the key. */
static int kv_existence(const struct backend_request *br, bool *ret_exists)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct kv_call call = {br,   br->state, br->subpath,
                           NULL, errmsg,    sizeof(errmsg)};
    struct kv_metadata *meta = NULL;
    struct backend_route_match m;
    bool is_metadata;
    int r;

    if (br->state == NULL || br->view == NULL)
        return KH_EINTERNAL;
    if (!kv_is_v2(br->mount))
        return kv_v1_exists(&call, ret_exists);
    if (backend_route_match(&kv_table, br->subpath, KH_OP_UPDATE, &m) != 0 ||
        (m.route->flags & BACKEND_ROUTE_EXISTENCE) == 0) {
        *ret_exists = true;
        return 0;
    }
    call.path = m.capture[0].ptr;
    is_metadata = kv_routes[m.index].handler == kv_metadata_write;
    if (kv_path_check(call.path, false, errmsg, sizeof(errmsg)) != 0) {
        *ret_exists = false;
        return 0;
    }
    kv_lock_key_read(call.state, call.path);
    r = kv_metadata_load(br->view, call.path, &meta);
    kv_unlock_key(call.state, call.path);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0 && (is_metadata || meta->current_version > 0);
    kv_metadata_free(meta);
    return 0;
}

const struct backend_ops kv_backend_ops = {
    .type = "kv",
    .is_auth = false,
    .init = kv_init,
    .cleanup = kv_cleanup,
    .unauthenticated = NULL,
    .sudo = NULL,
    .existence = kv_existence,
    .handle = kv_handle,
};
