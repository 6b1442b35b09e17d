/*
 * test_k8s_auth.c - the Kubernetes auth method (hostd/auth/kubernetes/)
 * over a real barrier view: LMDB in a temp directory, an initialised
 * barrier, a token store on the same barrier. Requests are built from wire
 * pieces with http_request_build() as the server does and handed to the
 * backend's handle(). Logins use local validation (pem_keys) with JWTs
 * really signed here (RS256 and ES256); the TokenReview client is tested
 * for its answer parsing (the authentication.k8s.io/v1 wire format) and
 * for its bounded failure against a closed port and a server that never
 * answers. The full TokenReview exchange over TLS is in
 * tests/integration/test_k8s_auth.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "auth/kubernetes/kubernetes.h"
#include "barrier/barrier.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "http/request_parse.h"
#include "mount/mount_table.h"
#include "storage/storage.h"
#include "token/token_store.h"

#define DENIED "permission denied"
#define ISSUER "https://kubernetes.default.svc.cluster.local"

struct fixture
{
    char *dir;
    struct kh_storage *storage;
    struct barrier *barrier;
    struct kh_core *core;
    struct mount_entry mount;
};

static EVP_PKEY *g_rsa, *g_ec;
static char *g_rsa_pem, *g_ec_pem;

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char *tmp_make(void)
{
    const char *base = getenv("KH_TEST_TMP");
    char *dir;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    assert_int_not_equal(asprintf(&dir, "%s/k8sauth-XXXXXX", base), -1);
    if (mkdtemp(dir) == NULL) {
        assert_int_equal(mkdir(base, 0700) == 0 || access(base, W_OK) == 0, 1);
        assert_non_null(mkdtemp(dir));
    }
    return dir;
}

static char *pubkey_pem(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long len;

    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    len = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)len);
    BIO_free(bio);
    return out;
}

static int group_setup(void **state)
{
    (void)state;
    g_rsa = EVP_RSA_gen(2048);
    g_ec = EVP_EC_gen("P-256");
    assert_non_null(g_rsa);
    assert_non_null(g_ec);
    g_rsa_pem = pubkey_pem(g_rsa);
    g_ec_pem = pubkey_pem(g_ec);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(g_rsa);
    EVP_PKEY_free(g_ec);
    free(g_rsa_pem);
    free(g_ec_pem);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";
    uint8_t key[KH_ROOT_KEY_BYTES];

    assert_non_null(f);
    f->dir = tmp_make();
    assert_int_equal(
        kh_storage_lmdb_open(f->dir, 0, &f->storage, errmsg, sizeof(errmsg)),
        0);
    assert_int_equal(barrier_create(f->storage, &f->barrier), 0);
    assert_int_equal(kh_random_bytes(key, sizeof(key)), 0);
    assert_int_equal(barrier_initialize(f->barrier, key), 0);
    kh_wipe(key, sizeof(key));
    f->core = calloc(1, sizeof(*f->core));
    assert_non_null(f->core);
    f->core->storage = f->storage;
    f->core->barrier = f->barrier;
    assert_int_equal(token_store_create(f->barrier, &f->core->tokens), 0);
    assert_int_equal(token_store_setup(f->core->tokens), 0);
    snprintf(f->mount.path, sizeof(f->mount.path), "auth/kubernetes/");
    snprintf(f->mount.type, sizeof(f->mount.type), "kubernetes");
    assert_int_equal(kh_uuid_generate(f->mount.uuid), 0);
    f->mount.is_auth = true;
    f->mount.ops = &kubernetes_backend_ops;
    assert_int_equal(view_init(&f->mount.view, f->barrier, f->storage, "auth",
                               f->mount.uuid),
                     0);
    assert_int_equal(kubernetes_backend_ops.init(&f->mount, &f->mount.state),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    kubernetes_backend_ops.cleanup(f->mount.state);
    token_store_free(f->core->tokens);
    free(f->core);
    barrier_free(f->barrier);
    kh_storage_close(f->storage);
    assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(f->dir);
    free(f);
    return 0;
}

/* One request below the mount from remote (NULL: 127.0.0.1). */
static int call_from(struct fixture *f, const char *method, const char *subpath,
                     const char *body, const char *remote,
                     struct kh_response *resp, char *errmsg)
{
    struct http_raw_request raw = {0};
    struct kh_request req = {0};
    struct backend_request br = {0};
    char url[2048];
    int r;

    memset(resp, 0, sizeof(*resp));
    errmsg[0] = '\0';
    snprintf(url, sizeof(url), "/v1/%s%s", f->mount.path, subpath);
    raw.method = method;
    raw.url = url;
    raw.content_type = body != NULL ? "application/json" : NULL;
    raw.body = (const uint8_t *)(body != NULL ? body : "");
    raw.body_len = body != NULL ? strlen(body) : 0;
    raw.body_bytes_max = KH_HTTP_BODY_BYTES_DEFAULT;
    raw.remote_addr = remote != NULL ? remote : "127.0.0.1";
    assert_int_equal(http_request_build(&raw, &req, errmsg, KH_ERRMSG_SIZE), 0);
    br.core = f->core;
    br.mount = &f->mount;
    br.req = &req;
    br.subpath = req.path + strlen(f->mount.path);
    br.view = &f->mount.view;
    br.state = f->mount.state;
    r = f->mount.ops->handle(&br, resp, errmsg, KH_ERRMSG_SIZE);
    kh_request_clear(&req);
    return r;
}

static void ok(struct fixture *f, const char *method, const char *subpath,
               const char *body)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];
    int r = call_from(f, method, subpath, body, NULL, &resp, errmsg);

    if (r != 0)
        fail_msg("%s %s: %d %s", method, subpath, r, errmsg);
    kh_response_clear(&resp);
}

static void fails(struct fixture *f, const char *method, const char *subpath,
                  const char *body, int code, const char *text)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];
    int r = call_from(f, method, subpath, body, NULL, &resp, errmsg);

    if (r != code)
        fail_msg("%s %s: got %d (%s), want %d", method, subpath, r, errmsg,
                 code);
    if (text != NULL && strstr(errmsg, text) == NULL)
        fail_msg("errmsg \"%s\" lacks \"%s\"", errmsg, text);
    kh_response_clear(&resp);
}

static json_t *read_data(struct fixture *f, const char *method,
                         const char *subpath)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *data;

    assert_int_equal(call_from(f, method, subpath, NULL, NULL, &resp, errmsg),
                     0);
    data = json_incref(json_object_get(resp.body, "data"));
    assert_non_null(data);
    kh_response_clear(&resp);
    return data;
}

static bool has_string(const json_t *array, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(array); i++)
        if (strcmp(json_string_value(json_array_get(array, i)), s) == 0)
            return true;
    return false;
}

/* ---- JWTs ---- */

static char *b64url(const uint8_t *in, size_t len)
{
    char *out = malloc(kh_base64_encoded_len(len) + 1);
    size_t i;

    assert_non_null(out);
    kh_base64_encode(in, len, false, out);
    for (i = 0; out[i] != '\0'; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

/* A service-account JWT for ns/name signed with key (RS256 for RSA,
 * ES256 for EC), expiring exp_s from now, with audience aud. */
static char *sa_jwt(EVP_PKEY *key, const char *ns, const char *name,
                    long long exp_s, const char *aud)
{
    bool ec = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC;
    long long now = (long long)time(NULL);
    char *claims, *h, *p, *input, *s, *out;
    const char *hdr;
    uint8_t sig[512], raw[64];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    assert_int_not_equal(
        asprintf(&claims,
                 "{\"aud\":[\"%s\"],\"exp\":%lld,\"iat\":%lld,\"iss\":\"%s\","
                 "\"kubernetes.io\":{\"namespace\":\"%s\",\"pod\":{\"name\":"
                 "\"p-1\",\"uid\":\"pod-uid\"},\"serviceaccount\":{\"name\":"
                 "\"%s\",\"uid\":\"uid-%s-%s\"}},\"nbf\":%lld,\"sub\":"
                 "\"system:serviceaccount:%s:%s\"}",
                 aud, now + exp_s, now - 10, ISSUER, ns, name, ns, name,
                 now - 10, ns, name),
        -1);
    hdr = ec ? "{\"alg\":\"ES256\",\"kid\":\"e\"}"
             : "{\"alg\":\"RS256\",\"kid\":\"r\"}";
    h = b64url((const uint8_t *)hdr, strlen(hdr));
    p = b64url((const uint8_t *)claims, strlen(claims));
    assert_int_not_equal(asprintf(&input, "%s.%s", h, p), -1);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestSign(ctx, sig, &sig_len, (uint8_t *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (ec) {
        const uint8_t *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sig_len);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        s = b64url(raw, sizeof(raw));
    } else {
        s = b64url(sig, sig_len);
    }
    assert_int_not_equal(asprintf(&out, "%s.%s", input, s), -1);
    free(claims);
    free(h);
    free(p);
    free(input);
    free(s);
    return out;
}

/* Configure local validation with both keys. */
static void configure_local(struct fixture *f, const char *extra)
{
    json_t *body =
        json_pack("{s:s, s:[s,s], s:s, s:b}", "kubernetes_host",
                  "https://127.0.0.1:1/", "pem_keys", g_rsa_pem, g_ec_pem,
                  "issuer", ISSUER, "disable_local_ca_jwt", 1);
    char *text;

    if (extra != NULL) {
        json_t *more = json_loads(extra, 0, NULL);
        assert_non_null(more);
        json_object_update(body, more);
        json_decref(more);
    }
    text = json_dumps(body, JSON_COMPACT);
    ok(f, "POST", "config", text);
    free(text);
    json_decref(body);
}

static int login_as(struct fixture *f, const char *role, const char *jwt,
                    const char *remote, json_t **ret_auth, char *errmsg)
{
    struct kh_response resp;
    json_t *body = json_pack("{s:s, s:s}", "role", role, "jwt", jwt);
    char *text = json_dumps(body, JSON_COMPACT);
    int r;

    r = call_from(f, "POST", "login", text, remote, &resp, errmsg);
    if (r == 0 && ret_auth != NULL)
        *ret_auth = json_incref(json_object_get(resp.body, "auth"));
    kh_response_clear(&resp);
    free(text);
    json_decref(body);
    return r;
}

/* Log in as ns/name signed by key; returns the error code. */
static int login_sa(struct fixture *f, const char *role, EVP_PKEY *key,
                    const char *ns, const char *name)
{
    char errmsg[KH_ERRMSG_SIZE];
    char *jwt = sa_jwt(key, ns, name, 600, "vault");
    int r = login_as(f, role, jwt, NULL, NULL, errmsg);

    if (r != 0)
        assert_string_equal(errmsg, r == KH_EPERM ? DENIED : errmsg);
    free(jwt);
    return r;
}

/* ---- config ---- */

/* A config write is read back without the reviewer JWT (only whether one
 * is set), with Vault's defaults; the stored record keeps it. */
static void test_config_write_read(void **state)
{
    struct fixture *f = *state;
    uint8_t *v = NULL;
    size_t len = 0;
    char *text;
    json_t *d;

    fails(f, "GET", "config", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "config",
       "{\"kubernetes_host\":\"https://10.96.0.1:443/\","
       "\"token_reviewer_jwt\":\"reviewer.jwt.secret\"}");
    d = read_data(f, "GET", "config");
    assert_string_equal(
        json_string_value(json_object_get(d, "kubernetes_host")),
        "https://10.96.0.1:443");
    assert_null(json_object_get(d, "token_reviewer_jwt"));
    assert_true(json_is_true(json_object_get(d, "token_reviewer_jwt_set")));
    assert_true(json_is_true(json_object_get(d, "disable_iss_validation")));
    assert_true(json_is_false(json_object_get(d, "disable_local_ca_jwt")));
    assert_int_equal(json_array_size(json_object_get(d, "pem_keys")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(d, "tokenreview_timeout")),
        K8S_REVIEW_TIMEOUT_S);
    text = json_dumps(d, JSON_COMPACT);
    assert_null(strstr(text, "reviewer.jwt.secret"));
    free(text);
    json_decref(d);
    assert_int_equal(view_get(&f->mount.view, "config", &v, &len), 0);
    assert_non_null(memmem(v, len, "reviewer.jwt.secret", 19));
    kh_free_secret(v, len);
    /* a rewrite without the reviewer JWT clears it (Vault replaces) */
    ok(f, "POST", "config", "{\"kubernetes_host\":\"https://10.96.0.1\"}");
    d = read_data(f, "GET", "config");
    assert_true(json_is_false(json_object_get(d, "token_reviewer_jwt_set")));
    json_decref(d);
}

/* Config validation: https host required, CA and pem_keys must parse,
 * timeouts bounded, the reviewer JWT cannot smuggle header lines. */
static void test_config_validation(void **state)
{
    struct fixture *f = *state;
    char body[512];

    fails(f, "POST", "config", "{}", KH_EINVAL, "no host");
    fails(f, "POST", "config", "{\"kubernetes_host\":\"http://10.0.0.1\"}",
          KH_EINVAL, "https://");
    fails(f, "POST", "config",
          "{\"kubernetes_host\":\"https://a\",\"kubernetes_ca_cert\":\"x\"}",
          KH_EINVAL, "kubernetes_ca_cert");
    fails(f, "POST", "config",
          "{\"kubernetes_host\":\"https://a\",\"pem_keys\":[\"junk\"]}",
          KH_EINVAL, "pem_keys[0]");
    fails(f, "POST", "config",
          "{\"kubernetes_host\":\"https://a\",\"token_reviewer_jwt\":"
          "\"a\\r\\nX-Evil: 1\"}",
          KH_EINVAL, "whitespace");
    snprintf(body, sizeof(body),
             "{\"kubernetes_host\":\"https://a\",\"tokenreview_timeout\":%u}",
             K8S_REVIEW_TIMEOUT_S_MAX + 1);
    fails(f, "POST", "config", body, KH_ELIMIT, "tokenreview_timeout");
    snprintf(body, sizeof(body),
             "{\"kubernetes_host\":\"https://a\",\"tokenreview_timeout\":%u,"
             "\"tokenreview_connect_timeout\":\"1s\"}",
             K8S_REVIEW_TIMEOUT_S_MAX);
    ok(f, "POST", "config", body);
    fails(f, "POST", "config",
          "{\"kubernetes_host\":\"https://a\",\"tokenreview_timeout\":2,"
          "\"tokenreview_connect_timeout\":3}",
          KH_EINVAL, "connect timeout");
    fails(f, "POST", "config",
          "{\"kubernetes_host\":\"https://a\",\"disable_iss_validation\":"
          "\"maybe\"}",
          KH_EINVAL, NULL);
}

/* ---- roles ---- */

/* The runbook's role is written with CSL fields, read back with both the
 * token_* and legacy names, listed and deleted. */
static void test_role_crud(void **state)
{
    struct fixture *f = *state;
    json_t *d;

    fails(f, "LIST", "role", NULL, KH_ENOTFOUND, NULL);
    fails(f, "GET", "role/order-service", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "role/Order-Service",
       "{\"bound_service_account_names\":\"order-service\","
       "\"bound_service_account_namespaces\":\"production\","
       "\"policies\":\"order-service-production\",\"ttl\":\"1h\"}");
    d = read_data(f, "GET", "role/order-service");
    assert_true(has_string(json_object_get(d, "bound_service_account_names"),
                           "order-service"));
    assert_true(has_string(
        json_object_get(d, "bound_service_account_namespaces"), "production"));
    assert_true(
        has_string(json_object_get(d, "policies"), "order-service-production"));
    assert_true(has_string(json_object_get(d, "token_policies"),
                           "order-service-production"));
    assert_int_equal(json_integer_value(json_object_get(d, "ttl")), 3600);
    assert_int_equal(json_integer_value(json_object_get(d, "token_ttl")), 3600);
    assert_string_equal(
        json_string_value(json_object_get(d, "alias_name_source")),
        "serviceaccount_uid");
    assert_string_equal(json_string_value(json_object_get(d, "audience")), "");
    json_decref(d);
    /* an update keeps what it does not mention */
    ok(f, "POST", "role/order-service",
       "{\"audience\":\"vault\",\"alias_name_source\":\"serviceaccount_"
       "name\"}");
    d = read_data(f, "GET", "role/order-service");
    assert_string_equal(json_string_value(json_object_get(d, "audience")),
                        "vault");
    assert_true(has_string(json_object_get(d, "token_policies"),
                           "order-service-production"));
    json_decref(d);
    ok(f, "POST", "role/second",
       "{\"bound_service_account_names\":[\"a\",\"b\"],"
       "\"bound_service_account_namespaces\":[\"*\"]}");
    d = read_data(f, "LIST", "role");
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 2);
    assert_true(has_string(json_object_get(d, "keys"), "order-service"));
    json_decref(d);
    ok(f, "DELETE", "role/second", NULL);
    d = read_data(f, "LIST", "role");
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 1);
    json_decref(d);
    fails(f, "PUT", "login/x", "{}", KH_ENOTFOUND, "no handler");
    fails(f, "DELETE", "config", NULL, KH_EMETHOD, NULL);
}

/* A role body with names and namespace "ns" (text to free). */
static char *role_body(json_t *names)
{
    json_t *obj = json_pack("{s:O, s:s}", "bound_service_account_names", names,
                            "bound_service_account_namespaces", "ns");
    char *text = json_dumps(obj, JSON_COMPACT);

    json_decref(obj);
    return text;
}

/* Role rules: both lists required, "*" alone, not both "*", known alias
 * sources; entry count and size limits at max and max + 1. */
static void test_role_validation(void **state)
{
    struct fixture *f = *state;
    char item[K8S_BOUND_ITEM_BYTES_MAX + 2];
    json_t *names = json_array();
    char *body;
    int i;

    fails(f, "POST", "role/r", "{\"bound_service_account_names\":\"a\"}",
          KH_EINVAL, "bound_service_account_namespaces");
    fails(f, "POST", "role/r", "{\"bound_service_account_namespaces\":\"a\"}",
          KH_EINVAL, "bound_service_account_names");
    fails(f, "POST", "role/r",
          "{\"bound_service_account_names\":\"*\","
          "\"bound_service_account_namespaces\":\"*\"}",
          KH_EINVAL, "both");
    fails(f, "POST", "role/r",
          "{\"bound_service_account_names\":\"*,a\","
          "\"bound_service_account_namespaces\":\"x\"}",
          KH_EINVAL, "mix");
    fails(f, "POST", "role/r",
          "{\"bound_service_account_names\":\"a\","
          "\"bound_service_account_namespaces\":\"x\","
          "\"alias_name_source\":\"pod\"}",
          KH_EINVAL, "alias_name_source");
    fails(f, "POST", "role/-bad", "{}", KH_EINVAL, "role name");
    for (i = 0; i < K8S_BOUND_ITEMS_MAX; i++) {
        snprintf(item, sizeof(item), "sa-%d", i);
        json_array_append_new(names, json_string(item));
    }
    body = role_body(names);
    ok(f, "POST", "role/many", body);
    free(body);
    json_array_append_new(names, json_string("one-more"));
    body = role_body(names);
    fails(f, "POST", "role/many", body, KH_ELIMIT, "more than");
    free(body);
    json_decref(names);
    memset(item, 'a', K8S_BOUND_ITEM_BYTES_MAX);
    item[K8S_BOUND_ITEM_BYTES_MAX] = '\0';
    assert_int_not_equal(asprintf(&body,
                                  "{\"bound_service_account_names\":\"%s\","
                                  "\"bound_service_account_namespaces\":\"n\"}",
                                  item),
                         -1);
    ok(f, "POST", "role/long", body);
    free(body);
    item[K8S_BOUND_ITEM_BYTES_MAX] = 'a';
    item[K8S_BOUND_ITEM_BYTES_MAX + 1] = '\0';
    assert_int_not_equal(asprintf(&body,
                                  "{\"bound_service_account_names\":\"%s\","
                                  "\"bound_service_account_namespaces\":\"n\"}",
                                  item),
                         -1);
    fails(f, "POST", "role/long", body, KH_EINVAL, "entries");
    free(body);
}

/* Globs: '*' matches any run, anywhere, without recursion. */
static void test_glob(void **state)
{
    static const struct
    {
        const char *pattern, *value;
        bool match;
    } cases[] = {
        {"*", "anything", true},
        {"order-*", "order-service", true},
        {"order-*", "orders", false},
        {"*-service", "order-service", true},
        {"prod-*-eu", "prod-a-b-eu", true},
        {"prod-*-eu", "prod-eu", false},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXbY", false},
        {"exact", "exact", true},
        {"exact", "exactly", false},
        {"**", "", true},
        {"a", "", false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(cases); i++) {
        if (k8s_glob_match(cases[i].pattern, cases[i].value) != cases[i].match)
            fail_msg("glob \"%s\" vs \"%s\"", cases[i].pattern, cases[i].value);
    }
}

/* ---- login (local validation) ---- */

/* The runbook: order-service in production logs in (RS256 and ES256
 * tokens), gets the role's policies and metadata; the same service
 * account in staging gets 403 "permission denied". */
static void test_login_runbook(void **state)
{
    struct fixture *f = *state;
    struct token_entry *e = calloc(1, sizeof(*e));
    char errmsg[KH_ERRMSG_SIZE];
    json_t *auth = NULL, *meta;
    char *jwt;

    assert_non_null(e);
    configure_local(f, NULL);
    ok(f, "POST", "role/order-service",
       "{\"bound_service_account_names\":\"order-service\","
       "\"bound_service_account_namespaces\":\"production\","
       "\"policies\":\"order-service-production\",\"ttl\":\"1h\"}");
    jwt = sa_jwt(g_rsa, "production", "order-service", 600, "vault");
    assert_int_equal(login_as(f, "order-service", jwt, NULL, &auth, errmsg), 0);
    assert_true(has_string(json_object_get(auth, "policies"),
                           "order-service-production"));
    assert_true(has_string(json_object_get(auth, "policies"), "default"));
    assert_int_equal(
        json_integer_value(json_object_get(auth, "lease_duration")), 3600);
    meta = json_object_get(auth, "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "role")),
                        "order-service");
    assert_string_equal(
        json_string_value(json_object_get(meta, "service_account_namespace")),
        "production");
    assert_string_equal(
        json_string_value(json_object_get(meta, "service_account_uid")),
        "uid-production-order-service");
    assert_int_equal(
        token_store_lookup(
            f->core->tokens,
            json_string_value(json_object_get(auth, "client_token")), e),
        0);
    assert_string_equal(e->path, "auth/kubernetes/login");
    json_decref(auth);
    free(jwt);
    assert_int_equal(
        login_sa(f, "order-service", g_ec, "production", "order-service"), 0);
    assert_int_equal(
        login_sa(f, "order-service", g_rsa, "staging", "order-service"),
        KH_EPERM);
    assert_int_equal(
        login_sa(f, "order-service", g_rsa, "production", "billing"), KH_EPERM);
    free(e);
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 200 local-validation logins (RS256, then ES256) all succeed; prints
 * the CPU cost of one login, token issue included. */
static void test_login_cost(void **state)
{
    struct fixture *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    EVP_PKEY *keys[2] = {g_rsa, g_ec};
    const char *names[2] = {"RS256", "ES256"};
    double t0;
    char *jwt;
    int i, k;

    configure_local(f, NULL);
    ok(f, "POST", "role/order-service",
       "{\"bound_service_account_names\":\"order-service\","
       "\"bound_service_account_namespaces\":\"production\"}");
    kh_log_set_level(KH_LOG_WARN);
    for (k = 0; k < 2; k++) {
        jwt = sa_jwt(keys[k], "production", "order-service", 600, "vault");
        t0 = cpu_s();
        for (i = 0; i < 100; i++)
            assert_int_equal(
                login_as(f, "order-service", jwt, NULL, NULL, errmsg), 0);
        print_message("local %s login: %.0f us CPU each (token issue "
                      "included)\n",
                      names[k], (cpu_s() - t0) / 100 * 1e6);
        free(jwt);
    }
    kh_log_set_level(KH_LOG_INFO);
}

/* Binding with "*" and globs on names and namespaces. */
static void test_login_binding_globs(void **state)
{
    struct fixture *f = *state;

    configure_local(f, NULL);
    ok(f, "POST", "role/any-ns",
       "{\"bound_service_account_names\":\"builder\","
       "\"bound_service_account_namespaces\":\"*\"}");
    ok(f, "POST", "role/any-name",
       "{\"bound_service_account_names\":\"*\","
       "\"bound_service_account_namespaces\":\"ci\"}");
    ok(f, "POST", "role/globs",
       "{\"bound_service_account_names\":\"order-*,*-worker\","
       "\"bound_service_account_namespaces\":\"prod-*\"}");
    assert_int_equal(login_sa(f, "any-ns", g_rsa, "team-a", "builder"), 0);
    assert_int_equal(login_sa(f, "any-ns", g_rsa, "team-a", "other"), KH_EPERM);
    assert_int_equal(login_sa(f, "any-name", g_ec, "ci", "whatever"), 0);
    assert_int_equal(login_sa(f, "any-name", g_ec, "cd", "whatever"), KH_EPERM);
    assert_int_equal(login_sa(f, "globs", g_rsa, "prod-eu", "order-api"), 0);
    assert_int_equal(login_sa(f, "globs", g_rsa, "prod-us", "mail-worker"), 0);
    assert_int_equal(login_sa(f, "globs", g_rsa, "staging", "order-api"),
                     KH_EPERM);
    assert_int_equal(login_sa(f, "globs", g_rsa, "prod-eu", "orders"),
                     KH_EPERM);
}

/* Refusals: bad signature, expired, wrong audience (role audience),
 * wrong issuer (validation on), alg none, bound CIDRs, oversize JWT - all
 * 403 "permission denied"; missing fields and unknown roles are 400s. */
static void test_login_refusals(void **state)
{
    struct fixture *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    char *jwt, *big, *none;

    fails(f, "POST", "login", "{\"jwt\":\"a.b.c\"}", KH_EINVAL, "missing role");
    fails(f, "POST", "login", "{\"role\":\"r\"}", KH_EINVAL, "missing jwt");
    fails(f, "POST", "login", "{\"role\":\"r\",\"jwt\":\"a.b.c\"}", KH_EINVAL,
          "invalid role name \"r\"");
    ok(f, "POST", "role/r",
       "{\"bound_service_account_names\":\"app\","
       "\"bound_service_account_namespaces\":\"default\","
       "\"audience\":\"vault\",\"token_bound_cidrs\":\"127.0.0.0/8\"}");
    fails(f, "POST", "login", "{\"role\":\"r\",\"jwt\":\"a.b.c\"}", KH_EINVAL,
          "configuration");
    configure_local(f, "{\"disable_iss_validation\":false}");
    assert_int_equal(login_sa(f, "r", g_rsa, "default", "app"), 0);
    jwt = sa_jwt(g_rsa, "default", "app", -3600, "vault");
    assert_int_equal(login_as(f, "r", jwt, NULL, NULL, errmsg), KH_EPERM);
    assert_string_equal(errmsg, DENIED);
    free(jwt);
    jwt = sa_jwt(g_rsa, "default", "app", 600, "not-vault");
    assert_int_equal(login_as(f, "r", jwt, NULL, NULL, errmsg), KH_EPERM);
    free(jwt);
    jwt = sa_jwt(g_ec, "default", "app", 600, "vault");
    assert_int_equal(login_as(f, "r", jwt, "10.1.2.3", NULL, errmsg), KH_EPERM);
    assert_string_equal(errmsg, DENIED);
    jwt[strlen(jwt) - 3] = jwt[strlen(jwt) - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(login_as(f, "r", jwt, NULL, NULL, errmsg), KH_EPERM);
    free(jwt);
    none = strdup("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.");
    assert_int_equal(login_as(f, "r", none, NULL, NULL, errmsg), KH_EPERM);
    free(none);
    big = malloc(K8S_JWT_BYTES_MAX + 2);
    memset(big, 'a', K8S_JWT_BYTES_MAX + 1);
    big[K8S_JWT_BYTES_MAX + 1] = '\0';
    assert_int_equal(login_as(f, "r", big, NULL, NULL, errmsg), KH_EPERM);
    assert_string_equal(errmsg, DENIED);
    free(big);
    configure_local(f, "{\"disable_iss_validation\":false,\"issuer\":"
                       "\"https://other\"}");
    assert_int_equal(login_sa(f, "r", g_rsa, "default", "app"), KH_EPERM);
}

/* Local validation with only the EC key: an RS256 token is refused, an
 * ES256 one accepted (the key decides the algorithm); the per-mount key
 * cache follows every change of pem_keys. */
static void test_login_key_pins_alg(void **state)
{
    struct fixture *f = *state;
    json_t *body =
        json_pack("{s:s, s:[s], s:b}", "kubernetes_host", "https://127.0.0.1:1",
                  "pem_keys", g_ec_pem, "disable_local_ca_jwt", 1);
    char *text = json_dumps(body, JSON_COMPACT);

    ok(f, "POST", "role/r",
       "{\"bound_service_account_names\":\"app\","
       "\"bound_service_account_namespaces\":\"default\"}");
    configure_local(f, NULL);
    assert_int_equal(login_sa(f, "r", g_rsa, "default", "app"), 0);
    ok(f, "POST", "config", text);
    assert_int_equal(login_sa(f, "r", g_ec, "default", "app"), 0);
    assert_int_equal(login_sa(f, "r", g_rsa, "default", "app"), KH_EPERM);
    configure_local(f, NULL);
    assert_int_equal(login_sa(f, "r", g_rsa, "default", "app"), 0);
    free(text);
    json_decref(body);
}

/* ---- TokenReview ---- */

/* The request body speaks authentication.k8s.io/v1; audiences are omitted
 * when empty. */
static void test_review_body(void **state)
{
    json_t *aud = json_pack("[s]", "https://kubernetes.default.svc");
    json_t *body = k8s_review_body("tok", aud);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);

    (void)state;
    assert_string_equal(text,
                        "{\"apiVersion\":\"authentication.k8s.io/v1\","
                        "\"kind\":\"TokenReview\",\"spec\":{\"audiences\":"
                        "[\"https://kubernetes.default.svc\"],\"token\":"
                        "\"tok\"}}");
    free(text);
    json_decref(body);
    json_array_clear(aud);
    body = k8s_review_body("tok", aud);
    text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_null(strstr(text, "audiences"));
    free(text);
    json_decref(body);
    json_decref(aud);
}

#define OK_USER                                                                \
    "\"user\":{\"username\":\"system:serviceaccount:default:app\","            \
    "\"uid\":\"u-1\",\"groups\":[\"system:serviceaccounts\"]}"

/* Every rejection case of Vault API: Kubernetes auth is KH_EPERM; the real API
 * server's 201 answer is accepted with its user. */
static const struct review_case
{
    long status;
    const char *body;
    int want;
} review_cases[] = {
    {201,
     "{\"apiVersion\":\"authentication.k8s.io/"
     "v1\",\"kind\":\"TokenReview\","
     "\"status\":{\"authenticated\":true," OK_USER ",\"audiences\":[\"a\","
     "\"vault\"]}}",
     0},
    {200,
     "{\"status\":{\"authenticated\":true," OK_USER
     ",\"audiences\":[\"vault\"]}}",
     0},
    {401,
     "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":"
     "\"Unauthorized\",\"code\":401}",
     KH_EPERM},
    {500, "", KH_EPERM},
    {200, "{\"kind\":\"Status\",\"status\":\"Failure\"}", KH_EPERM},
    {201,
     "{\"status\":{\"authenticated\":true,\"error\":\"boom\"," OK_USER
     ",\"audiences\":[\"vault\"]}}",
     KH_EPERM},
    {201, "{\"status\":{\"authenticated\":false}}", KH_EPERM},
    {201, "{\"status\":{\"user\":{}}}", KH_EPERM},
    {201,
     "{\"status\":{\"authenticated\":true," OK_USER
     ",\"audiences\":[\"other\"]}}",
     KH_EPERM},
    {201, "{\"status\":{\"authenticated\":true," OK_USER "}}", KH_EPERM},
    {201,
     "{\"status\":{\"authenticated\":true,\"user\":{\"username\":"
     "\"system:serviceaccount:default\"},\"audiences\":[\"vault\"]}}",
     KH_EPERM},
    {201,
     "{\"status\":{\"authenticated\":true,\"user\":{\"username\":"
     "\"system:serviceaccount:a:b:c\"},\"audiences\":[\"vault\"]}}",
     KH_EPERM},
    {201,
     "{\"status\":{\"authenticated\":true,\"user\":{\"username\":"
     "\"system:node:n1\"},\"audiences\":[\"vault\"]}}",
     KH_EPERM},
    {201, "not json", KH_EPERM},
};

static void test_review_parse(void **state)
{
    json_t *aud = json_pack("[s]", "vault");
    struct k8s_review_result res;
    char errmsg[KH_ERRMSG_SIZE];
    size_t i;
    int r;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(review_cases); i++) {
        errmsg[0] = '\0';
        r = k8s_review_parse(review_cases[i].status, review_cases[i].body,
                             strlen(review_cases[i].body), aud, &res, errmsg,
                             sizeof(errmsg));
        if (r != review_cases[i].want)
            fail_msg("case %zu: got %d (%s), want %d", i, r, errmsg,
                     review_cases[i].want);
        if (r != 0)
            assert_true(errmsg[0] != '\0');
    }
    assert_int_equal(k8s_review_parse(201, review_cases[0].body,
                                      strlen(review_cases[0].body), aud, &res,
                                      errmsg, sizeof(errmsg)),
                     0);
    assert_string_equal(res.username, "system:serviceaccount:default:app");
    assert_string_equal(res.uid, "u-1");
    /* no requested audiences: status.audiences is not needed */
    json_array_clear(aud);
    assert_int_equal(k8s_review_parse(201, review_cases[9].body,
                                      strlen(review_cases[9].body), aud, &res,
                                      errmsg, sizeof(errmsg)),
                     0);
    json_decref(aud);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A listening socket that never accepts (TCP connects, TLS never
 * answers); its port in *ret_port. */
static int silent_listener(int *ret_port)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

/* An API server that is down fails fast, one that never answers fails
 * after the total timeout; both are KH_EUNAVAIL with a message that says
 * which (and names the timeout). */
static void test_review_unavailable(void **state)
{
    struct k8s_review_request rq = {0};
    struct k8s_review_result res;
    char errmsg[KH_ERRMSG_SIZE], host[64];
    double t0, t;
    int fd, port;

    (void)state;
    rq.host = "https://127.0.0.1:1";
    rq.bearer = "b";
    rq.token = "t";
    rq.connect_timeout_s = 1;
    rq.timeout_s = 1;
    t0 = now_s();
    assert_int_equal(k8s_review(&rq, &res, errmsg, sizeof(errmsg)),
                     KH_EUNAVAIL);
    assert_true(now_s() - t0 < 1.0);
    assert_non_null(strstr(errmsg, "cannot reach"));
    fd = silent_listener(&port);
    snprintf(host, sizeof(host), "https://127.0.0.1:%d", port);
    rq.host = host;
    t0 = now_s();
    assert_int_equal(k8s_review(&rq, &res, errmsg, sizeof(errmsg)),
                     KH_EUNAVAIL);
    t = now_s() - t0;
    print_message("silent API server: refused after %.2f s: %s\n", t, errmsg);
    assert_true(t >= 0.9 && t < 3.0);
    assert_non_null(strstr(errmsg, "timed out"));
    assert_non_null(strstr(errmsg, "total timeout 1 s"));
    close(fd);
}

/* A login through TokenReview against a silent API server is refused
 * with 403 "permission denied" within the configured timeout. */
static void test_login_review_timeout(void **state)
{
    struct fixture *f = *state;
    char errmsg[KH_ERRMSG_SIZE], body[256];
    double t0, t;
    char *jwt;
    int fd, port;

    fd = silent_listener(&port);
    snprintf(body, sizeof(body),
             "{\"kubernetes_host\":\"https://127.0.0.1:%d\","
             "\"tokenreview_timeout\":1,\"tokenreview_connect_timeout\":1,"
             "\"disable_local_ca_jwt\":true}",
             port);
    ok(f, "POST", "config", body);
    ok(f, "POST", "role/r",
       "{\"bound_service_account_names\":\"app\","
       "\"bound_service_account_namespaces\":\"default\"}");
    jwt = sa_jwt(g_rsa, "default", "app", 600, "vault");
    t0 = now_s();
    assert_int_equal(login_as(f, "r", jwt, NULL, NULL, errmsg), KH_EPERM);
    t = now_s() - t0;
    assert_string_equal(errmsg, DENIED);
    assert_true(t < 3.0);
    free(jwt);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_write_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_validation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_role_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_validation, setup, teardown),
        cmocka_unit_test(test_glob),
        cmocka_unit_test_setup_teardown(test_login_runbook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_binding_globs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_key_pins_alg, setup,
                                        teardown),
        cmocka_unit_test(test_review_body),
        cmocka_unit_test(test_review_parse),
        cmocka_unit_test(test_review_unavailable),
        cmocka_unit_test_setup_teardown(test_login_review_timeout, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
