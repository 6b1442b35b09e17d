/*
 * k8s_backend.c - the Kubernetes auth method's ops table: per-mount state,
 * which paths need no token, and the dispatch of a sub-path to its handler
 * through one declarative table (CONVENTIONS 13).
 *
 * Owns the per-mount state: the mutex that rows marked locked (the
 * writes) run with - reads and logins run without it, so a login waiting
 * on the API server holds no lock - and the cache of parsed pem_keys,
 * whose lock is held only to look up or swap the cached keys. It must never
 * decide permissions (the request gate does) beyond declaring login
 * unauthenticated.
 */
#include "auth/kubernetes/kubernetes.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"

#define ROUTE_UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

struct k8s_route
{
    const char *pattern;  /* '*' is the role name segment */
    enum kh_operation op; /* KH_OP_UPDATE also serves CREATE */
    bool locked;          /* run under state->lock */
    k8s_handler_fn handler;
};

static const struct k8s_route k8s_routes[] = {
    {"login", KH_OP_UPDATE, false, k8s_login},
    {"config", KH_OP_READ, false, k8s_config_read},
    {"config", KH_OP_UPDATE, true, k8s_config_write},
    {"role", KH_OP_LIST, false, k8s_role_list},
    {"role/*", KH_OP_READ, false, k8s_role_read},
    {"role/*", KH_OP_UPDATE, true, k8s_role_write},
    {"role/*", KH_OP_DELETE, true, k8s_role_delete},
};

int k8s_respond(const struct k8s_call *call, json_t *data)
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
                      const struct k8s_route **ret, const char **cap,
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
    for (i = 0; i < KH_ARRAY_LEN(k8s_routes); i++) {
        if (!path_match(k8s_routes[i].pattern, br->subpath, len, cap, cap_len))
            continue;
        path_known = true;
        if (k8s_routes[i].op == op) {
            *ret = &k8s_routes[i];
            return 0;
        }
    }
    if (path_known)
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, "%s",
                         ROUTE_UNSUPPORTED);
    return backend_no_route(br, errmsg, errmsg_size);
}

static int k8s_handle(const struct backend_request *br,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    char name[K8S_ROLE_NAME_BYTES_MAX + 1] = "";
    const struct k8s_route *route = NULL;
    struct k8s_state *state = br->state;
    struct k8s_call call;
    const char *cap;
    size_t cap_len;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(br->view != NULL);
    r = route_find(br, &route, &cap, &cap_len, errmsg, errmsg_size);
    if (r == 0 && cap != NULL)
        r = k8s_role_name_check(cap, cap_len, name, errmsg, errmsg_size);
    if (r != 0)
        return r;
    call = (struct k8s_call){
        .br = br,
        .state = state,
        .role = name,
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

/* config and role/:name have existence checks (create vs update for the
 * ACL); everything else is an update. */
static int k8s_existence(const struct backend_request *br, bool *ret_exists)
{
    char name[K8S_ROLE_NAME_BYTES_MAX + 1] = "";
    char msg[KH_ERRMSG_SIZE];
    struct k8s_call call;
    const char *cap = NULL;
    size_t cap_len = 0;
    bool is_role;

    is_role = path_match("role/*", br->subpath, strlen(br->subpath), &cap,
                         &cap_len) &&
              k8s_role_name_check(cap, cap_len, name, msg, sizeof(msg)) == 0;
    if (!is_role && strcmp(br->subpath, "config") != 0) {
        *ret_exists = true;
        return 0;
    }
    call = (struct k8s_call){
        .br = br,
        .state = br->state,
        .role = name,
        .errmsg = msg,
        .errmsg_size = sizeof(msg),
    };
    return is_role ? k8s_role_exists(&call, ret_exists)
                   : k8s_config_exists(&call, ret_exists);
}

static bool k8s_unauthenticated(const char *subpath, enum kh_operation op)
{
    return strcmp(subpath, "login") == 0 &&
           (op == KH_OP_UPDATE || op == KH_OP_CREATE);
}

/* SHA-256 over the PEM texts of c (each followed by its NUL). */
static int keys_digest(const struct k8s_config *c, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    size_t i;

    for (i = 0; ok && i < c->pem_key_count; i++)
        ok = EVP_DigestUpdate(ctx, c->pem_keys[i],
                              strlen(c->pem_keys[i]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : KH_ENOMEM;
}

/* *dst = src with every key referenced once more. */
static void keys_share(struct k8s_jwt_keys *dst, const struct k8s_jwt_keys *src)
{
    size_t i;
    int ok;

    KH_ASSERT(src->count <= K8S_PEM_KEYS_MAX);
    *dst = *src;
    for (i = 0; i < src->count; i++) {
        ok = EVP_PKEY_up_ref(src->items[i].pkey); /* an atomic increment */
        KH_ASSERT(ok == 1);
    }
}

int k8s_state_keys(struct k8s_state *state, const struct k8s_config *c,
                   struct k8s_jwt_keys *ret, char *errmsg, size_t errmsg_size)
{
    struct k8s_keys_cache *cache = &state->cache;
    struct k8s_jwt_keys *fresh = NULL, *old = NULL;
    uint8_t digest[32];
    int r;

    r = keys_digest(c, digest);
    if (r != 0)
        return r;
    pthread_mutex_lock(&cache->lock);
    if (cache->keys != NULL && memcmp(cache->digest, digest, 32) == 0) {
        keys_share(ret, cache->keys);
        pthread_mutex_unlock(&cache->lock);
        return 0;
    }
    pthread_mutex_unlock(&cache->lock);
    fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL)
        return KH_ENOMEM;
    r = k8s_jwt_keys_parse(c->pem_keys, c->pem_key_count, fresh, errmsg,
                           errmsg_size);
    if (r != 0) {
        free(fresh);
        return r;
    }
    keys_share(ret, fresh);
    pthread_mutex_lock(&cache->lock);
    old = cache->keys;
    cache->keys = fresh;
    memcpy(cache->digest, digest, 32);
    pthread_mutex_unlock(&cache->lock);
    k8s_jwt_keys_clear(old);
    free(old);
    return 0;
}

static int k8s_init(const struct mount_entry *mount, void **ret_state)
{
    struct k8s_state *state;

    (void)mount;
    state = calloc(1, sizeof(*state));
    if (state == NULL)
        return KH_ENOMEM;
    pthread_mutex_init(&state->lock, NULL);
    pthread_mutex_init(&state->cache.lock, NULL);
    *ret_state = state;
    return 0;
}

static void k8s_cleanup(void *p)
{
    struct k8s_state *state = p;

    if (state == NULL)
        return;
    k8s_jwt_keys_clear(state->cache.keys);
    free(state->cache.keys);
    pthread_mutex_destroy(&state->cache.lock);
    pthread_mutex_destroy(&state->lock);
    free(state);
}

const struct backend_ops kubernetes_backend_ops = {
    .type = "kubernetes",
    .is_auth = true,
    .init = k8s_init,
    .cleanup = k8s_cleanup,
    .unauthenticated = k8s_unauthenticated,
    .sudo = NULL,
    .existence = k8s_existence,
    .handle = k8s_handle,
};
