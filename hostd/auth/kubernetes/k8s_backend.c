/*
 * k8s_backend.c - the Kubernetes auth method's ops table: per-mount state,
 * which paths need no token, and the dispatch of a sub-path to its handler
 * through one declarative table (house style).
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
#include "engines/backend_route.h"

#define OPS_W  BACKEND_OPS_WRITE
#define OP(op) BACKEND_OP(op)

/* One row: '*' is the role name segment; locked rows run under
 * state->lock. */
struct k8s_route
{
    struct backend_route route;
    bool locked;
    k8s_handler_fn handler;
};

static const struct k8s_route k8s_routes[] = {
    {{"login", OPS_W, BACKEND_ROUTE_UNAUTH}, false, k8s_login},
    {{"config", OP(KH_OP_READ), 0}, false, k8s_config_read},
    {{"config", OPS_W, BACKEND_ROUTE_EXISTENCE}, true, k8s_config_write},
    {{"role", OP(KH_OP_LIST), 0}, false, k8s_role_list},
    {{"role/*", OP(KH_OP_READ), 0}, false, k8s_role_read},
    {{"role/*", OPS_W, BACKEND_ROUTE_EXISTENCE}, true, k8s_role_write},
    {{"role/*", OP(KH_OP_DELETE), 0}, true, k8s_role_delete},
};

static const struct backend_route_table k8s_table =
    BACKEND_ROUTE_TABLE(k8s_routes, route, true);

int k8s_respond(const struct k8s_call *call, json_t *data)
{
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

static int k8s_handle(const struct backend_request *br,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    char name[K8S_ROLE_NAME_BYTES_MAX + 1] = "";
    struct k8s_state *state = br->state;
    const struct k8s_route *route;
    struct backend_route_match m;
    struct k8s_call call;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(br->view != NULL);
    r = backend_route_find(&k8s_table, br, &m, errmsg, errmsg_size);
    if (r == 0 && m.capture_count > 0)
        r = k8s_role_name_check(m.capture[0].ptr, m.capture[0].len, name,
                                errmsg, errmsg_size);
    if (r != 0)
        return r;
    route = &k8s_routes[m.index];
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
    struct backend_route_match m;
    struct k8s_call call;

    if (backend_route_match(&k8s_table, br->subpath, KH_OP_UPDATE, &m) != 0 ||
        (m.route->flags & BACKEND_ROUTE_EXISTENCE) == 0 ||
        (m.capture_count > 0 &&
         k8s_role_name_check(m.capture[0].ptr, m.capture[0].len, name, msg,
                             sizeof(msg)) != 0)) {
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
    return m.capture_count > 0 ? k8s_role_exists(&call, ret_exists)
                               : k8s_config_exists(&call, ret_exists);
}

static bool k8s_unauthenticated(const char *subpath, enum kh_operation op)
{
    return backend_route_flagged(&k8s_table, subpath, OP(op),
                                 BACKEND_ROUTE_UNAUTH);
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
