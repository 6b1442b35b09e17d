/*
 * test_request_handle.c - request_handle() (core/request.c) over a real
 * core: LMDB in a temp directory, Shamir seal with one share, initialised
 * and unsealed through the core API. Requests are built from wire pieces
 * with http_request_build() as the server does, and the responses are
 * rendered with http_response_render(), so every gate is exercised in its
 * order: route, state (sealed/uninitialised), token, handler; and every
 * outcome is checked as status and body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "core/core.h"
#include "core/request_handle.h"
#include "http/request_parse.h"
#include "http/response.h"

struct fixture
{
    char *dir;
    struct kh_config *config;
    struct kh_core *core;
    char root_token[256];
    char unseal_key[2 * KH_SHARE_BYTES_MAX + 1];
};

/* One request's outcome, rendered as the server would send it. */
struct outcome
{
    unsigned status;
    char *text;   /* NULL for an empty body */
    json_t *json; /* text parsed, NULL for an empty body */
    char request_id[KH_UUID_STR_LEN + 1];
};

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

static char *tmp_make(void)
{
    const char *base = getenv("KH_TEST_TMP");
    char *dir;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    assert_int_not_equal(asprintf(&dir, "%s/httpunit-XXXXXX", base), -1);
    if (mkdtemp(dir) == NULL) {
        /* $KH_TEST_TMP may not exist yet in a fresh build directory */
        assert_int_equal(mkdir(base, 0700) == 0 || access(base, W_OK) == 0, 1);
        assert_non_null(mkdtemp(dir));
    }
    return dir;
}

/* A core over a fresh store: uninitialised and sealed. */
static void core_open_fresh(struct fixture *f)
{
    struct kh_core_options options = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    char *text = NULL;

    memset(f, 0, sizeof(*f));
    f->dir = tmp_make();
    assert_int_not_equal(
        asprintf(&text,
                 "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n"
                 "  tls_disable = true\n}\n"
                 "storage \"lmdb\" {\n  path = \"%s/data\"\n}\n"
                 "disable_mlock = true\n",
                 f->dir),
        -1);
    f->config = kh_config_new();
    assert_non_null(f->config);
    assert_int_equal(kh_config_parse_text(f->config, text, strlen(text),
                                          "test.hcl", errmsg, sizeof(errmsg)),
                     0);
    free(text);
    options.config = f->config;
    assert_int_equal(kh_core_open(&options, &f->core, errmsg, sizeof(errmsg)),
                     0);
}

/* Initialise with one share and unseal through the core API. */
static void core_init_unseal(struct fixture *f)
{
    struct kh_init_request init = {.secret_shares = 1, .secret_threshold = 1};
    char errmsg[KH_ERRMSG_SIZE] = "";
    uint8_t key[KH_SHARE_BYTES_MAX];
    size_t key_len = 0;
    json_t *result = NULL;
    const char *s;

    assert_int_equal(
        kh_core_init(f->core, &init, &result, errmsg, sizeof(errmsg)), 0);
    s = json_string_value(json_object_get(result, "root_token"));
    assert_non_null(s);
    snprintf(f->root_token, sizeof(f->root_token), "%s", s);
    s = json_string_value(json_array_get(json_object_get(result, "keys"), 0));
    assert_non_null(s);
    snprintf(f->unseal_key, sizeof(f->unseal_key), "%s", s);
    json_decref(result);
    assert_int_equal(kh_hex_decode(f->unseal_key, strlen(f->unseal_key), key,
                                   sizeof(key), &key_len),
                     0);
    assert_int_equal(key_len, KH_ROOT_KEY_BYTES);
    assert_int_equal(
        kh_core_unseal(f->core, key, key_len, false, errmsg, sizeof(errmsg)),
        0);
    kh_wipe(key, sizeof(key));
    assert_false(barrier_sealed(f->core->barrier));
}

static int setup_fresh(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    core_open_fresh(f);
    *state = f;
    return 0;
}

static int setup_unsealed(void **state)
{
    setup_fresh(state);
    core_init_unseal(*state);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    kh_core_close(f->core);
    kh_config_free(f->config);
    assert_int_equal(nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(f->dir);
    kh_wipe(f, sizeof(*f));
    free(f);
    return 0;
}

/* Split "k=v&k2" into args (bounded), pointing into buf. */
static size_t split_query(char *buf, struct http_query_arg *args,
                          size_t args_max)
{
    char *save = NULL;
    char *pair;
    size_t n = 0;

    for (pair = strtok_r(buf, "&", &save); pair != NULL && n < args_max;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq != NULL)
            *eq++ = '\0';
        args[n].name = pair;
        args[n].value = eq;
        n++;
    }
    return n;
}

/* Send method url[?query] with body and token (NULL for none) through
 * http_request_build, request_handle and http_response_render. */
static void do_request(struct fixture *f, const char *method, const char *url,
                       const char *body, const char *token, struct outcome *out)
{
    struct http_query_arg args[8];
    struct kh_request req = {0};
    struct kh_response resp = {0};
    struct http_raw_request raw = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    char path[256];
    char *q;
    size_t len = 0;
    int r;

    memset(out, 0, sizeof(*out));
    snprintf(path, sizeof(path), "%s", url);
    q = strchr(path, '?');
    if (q != NULL) {
        *q++ = '\0';
        raw.query = args;
        raw.query_count = split_query(q, args, 8);
    }
    raw.method = method;
    raw.url = path;
    raw.content_type = "application/json";
    raw.vault_token = token;
    raw.body = (const uint8_t *)(body != NULL ? body : "");
    raw.body_len = body != NULL ? strlen(body) : 0;
    raw.body_bytes_max = KH_HTTP_BODY_BYTES_DEFAULT;
    raw.remote_addr = "127.0.0.1";
    r = http_request_build(&raw, &req, errmsg, sizeof(errmsg));
    assert_int_equal(r, 0);
    request_handle(f->core, &req, &resp);
    memcpy(out->request_id, req.request_id, sizeof(out->request_id));
    assert_int_equal(
        http_response_render(&resp, &out->text, &len, &out->status), 0);
    if (out->text != NULL) {
        json_error_t jerr;
        out->json = json_loads(out->text, 0, &jerr);
        assert_non_null(out->json);
    }
    kh_response_clear(&resp);
    kh_request_clear(&req);
}

static void outcome_free(struct outcome *out)
{
    json_decref(out->json);
    free(out->text);
    memset(out, 0, sizeof(*out));
}

/* Assert status and the single error text (NULL: "errors":[]). */
static void expect_error(struct fixture *f, const char *method, const char *url,
                         const char *body, const char *token, unsigned status,
                         const char *text)
{
    struct outcome out;
    json_t *errors;

    do_request(f, method, url, body, token, &out);
    assert_int_equal(out.status, status);
    assert_non_null(out.json);
    assert_int_equal(json_object_size(out.json), 1);
    errors = json_object_get(out.json, "errors");
    assert_true(json_is_array(errors));
    if (text == NULL) {
        assert_int_equal(json_array_size(errors), 0);
    } else {
        assert_int_equal(json_array_size(errors), 1);
        assert_string_equal(json_string_value(json_array_get(errors, 0)), text);
    }
    outcome_free(&out);
}

static bool json_bool(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);

    assert_true(json_is_boolean(v));
    return json_is_true(v);
}

/* sys/health answers 200 with its raw (non-envelope) body. */
static void test_health_active(void **state)
{
    struct fixture *f = *state;
    struct outcome out;

    do_request(f, "GET", "/v1/sys/health", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_true(json_bool(out.json, "initialized"));
    assert_false(json_bool(out.json, "sealed"));
    assert_false(json_bool(out.json, "standby"));
    assert_non_null(json_object_get(out.json, "cluster_name"));
    assert_non_null(json_object_get(out.json, "server_time_utc"));
    assert_null(json_object_get(out.json, "request_id"));
    assert_null(json_object_get(out.json, "data"));
    outcome_free(&out);
    do_request(f, "HEAD", "/v1/sys/health", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    outcome_free(&out);
}

/* A token-gated path without a token, or with a wrong one, is 403. */
static void test_key_status_needs_token(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "GET", "/v1/sys/key-status", NULL, NULL, 403,
                 "permission denied");
    expect_error(f, "GET", "/v1/sys/key-status", NULL, "hvs.not-a-token", 403,
                 "permission denied");
    expect_error(f, "GET", "/v1/sys/key-status", NULL, "", 403,
                 "permission denied");
}

/* With the root token, sys/key-status is an envelope with term 1 and the
 * data keys injected at the top level. */
static void test_key_status_root(void **state)
{
    struct fixture *f = *state;
    struct outcome out;
    json_t *data;

    do_request(f, "GET", "/v1/sys/key-status", NULL, f->root_token, &out);
    assert_int_equal(out.status, 200);
    assert_string_equal(
        json_string_value(json_object_get(out.json, "request_id")),
        out.request_id);
    assert_string_equal(
        json_string_value(json_object_get(out.json, "lease_id")), "");
    assert_true(json_is_null(json_object_get(out.json, "auth")));
    data = json_object_get(out.json, "data");
    assert_true(json_is_object(data));
    assert_int_equal(json_integer_value(json_object_get(data, "term")), 1);
    assert_int_equal(json_integer_value(json_object_get(out.json, "term")), 1);
    assert_true(json_equal(json_object_get(data, "install_time"),
                           json_object_get(out.json, "install_time")));
    assert_non_null(json_object_get(out.json, "encryptions"));
    outcome_free(&out);
    /* Authorization: Bearer works as well as X-Vault-Token */
    {
        char bearer[300];
        struct kh_request req = {0};
        struct kh_response resp = {0};
        char errmsg[KH_ERRMSG_SIZE];
        struct http_raw_request raw = {
            .method = "GET",
            .url = "/v1/sys/key-status",
            .body = (const uint8_t *)"",
            .body_bytes_max = 1024,
            .authorization = bearer,
        };
        snprintf(bearer, sizeof(bearer), "Bearer %s", f->root_token);
        assert_int_equal(http_request_build(&raw, &req, errmsg, sizeof(errmsg)),
                         0);
        request_handle(f->core, &req, &resp);
        assert_int_equal(resp.status, 200);
        kh_response_clear(&resp);
        kh_request_clear(&req);
    }
}

/* An unknown path is 404 naming the route; a wrong method is 405. */
static void test_unknown_path_and_method(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "GET", "/v1/sys/nope", NULL, f->root_token, 404,
                 "no handler for route \"sys/nope\". route entry not "
                 "found.");
    expect_error(f, "GET", "/v1/secret/data/x", NULL, NULL, 404,
                 "no handler for route \"secret/data/x\". route entry not "
                 "found.");
    expect_error(f, "DELETE", "/v1/sys/health", NULL, NULL, 405,
                 "1 error occurred:\n\t* unsupported operation\n\n");
    expect_error(f, "GET", "/v1/sys/seal", NULL, f->root_token, 405,
                 "1 error occurred:\n\t* unsupported operation\n\n");
}

/* sys/seal needs the root token (403 without, even though unsealed). */
static void test_seal_needs_token(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "PUT", "/v1/sys/seal", NULL, NULL, 403,
                 "permission denied");
    expect_error(f, "PUT", "/v1/sys/seal", NULL, "bogus", 403,
                 "permission denied");
    assert_false(barrier_sealed(f->core->barrier));
}

/* After sys/seal (204), gated paths are 503 "Vault is sealed" even with a
 * valid token, health is 503 with its body, seal-status is 200. */
static void test_seal_then_gates(void **state)
{
    struct fixture *f = *state;
    struct outcome out;

    do_request(f, "PUT", "/v1/sys/seal", NULL, f->root_token, &out);
    assert_int_equal(out.status, 204);
    assert_null(out.text);
    outcome_free(&out);
    assert_true(barrier_sealed(f->core->barrier));

    expect_error(f, "GET", "/v1/sys/key-status", NULL, f->root_token, 503,
                 "Vault is sealed");
    expect_error(f, "GET", "/v1/sys/key-status", NULL, NULL, 503,
                 "Vault is sealed");
    expect_error(f, "PUT", "/v1/sys/seal", NULL, f->root_token, 503,
                 "Vault is sealed");
    /* the state gate speaks before the route gate */
    expect_error(f, "GET", "/v1/sys/nope", NULL, NULL, 503, "Vault is sealed");
    expect_error(f, "GET", "/v1/sys/leader", NULL, NULL, 503,
                 "Vault is sealed");

    do_request(f, "GET", "/v1/sys/health", NULL, NULL, &out);
    assert_int_equal(out.status, 503);
    assert_true(json_bool(out.json, "sealed"));
    assert_true(json_bool(out.json, "initialized"));
    assert_null(json_object_get(out.json, "cluster_name"));
    outcome_free(&out);

    do_request(f, "GET", "/v1/sys/seal-status", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_true(json_bool(out.json, "sealed"));
    assert_true(json_bool(out.json, "initialized"));
    assert_string_equal(json_string_value(json_object_get(out.json, "type")),
                        "shamir");
    assert_int_equal(json_integer_value(json_object_get(out.json, "t")), 1);
    assert_int_equal(json_integer_value(json_object_get(out.json, "n")), 1);
    outcome_free(&out);
}

/* PUT sys/unseal with the key opens the vault again; the token works. */
static void test_unseal_via_request(void **state)
{
    struct fixture *f = *state;
    struct outcome out;
    char body[256];

    do_request(f, "PUT", "/v1/sys/seal", NULL, f->root_token, &out);
    assert_int_equal(out.status, 204);
    outcome_free(&out);
    snprintf(body, sizeof(body), "{\"key\": \"%s\"}", f->unseal_key);
    do_request(f, "PUT", "/v1/sys/unseal", body, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_false(json_bool(out.json, "sealed"));
    assert_int_equal(json_integer_value(json_object_get(out.json, "progress")),
                     0);
    assert_non_null(json_object_get(out.json, "cluster_id"));
    outcome_free(&out);
    do_request(f, "GET", "/v1/sys/key-status", NULL, f->root_token, &out);
    assert_int_equal(out.status, 200);
    outcome_free(&out);
    /* unsealing an unsealed vault is a no-op answering the status */
    do_request(f, "POST", "/v1/sys/unseal", body, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_false(json_bool(out.json, "sealed"));
    outcome_free(&out);
}

/* A garbage or wrong key is 400; the vault stays sealed. */
static void test_unseal_bad_keys(void **state)
{
    struct fixture *f = *state;
    struct outcome out;
    char body[256];
    char wrong[2 * KH_ROOT_KEY_BYTES + 1];

    expect_error(f, "PUT", "/v1/sys/unseal", "{\"key\": \"not a key!\"}", NULL,
                 400, "'key' must be a valid hex or base64 string");
    do_request(f, "PUT", "/v1/sys/seal", NULL, f->root_token, &out);
    assert_int_equal(out.status, 204);
    outcome_free(&out);
    expect_error(f, "PUT", "/v1/sys/unseal", "{\"key\": \"zz%\"}", NULL, 400,
                 "'key' must be a valid hex or base64 string");
    expect_error(f, "PUT", "/v1/sys/unseal", "{}", NULL, 400,
                 "'key' must be specified in request body as JSON, or "
                 "'reset' set to true");
    expect_error(f, "PUT", "/v1/sys/unseal", "{\"key\": 5}", NULL, 400,
                 "'key' must be specified in request body as JSON, or "
                 "'reset' set to true");
    expect_error(f, "PUT", "/v1/sys/unseal", "{\"migrate\": true}", NULL, 400,
                 "seal migration is not supported");
    /* a well-formed key of the right length that is not the key */
    memset(wrong, 'a', sizeof(wrong) - 1);
    wrong[sizeof(wrong) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"key\": \"%s\"}", wrong);
    do_request(f, "PUT", "/v1/sys/unseal", body, NULL, &out);
    assert_int_equal(out.status, 400);
    outcome_free(&out);
    assert_true(barrier_sealed(f->core->barrier));
    do_request(f, "PUT", "/v1/sys/unseal", "{\"reset\": true}", NULL, &out);
    assert_int_equal(out.status, 200);
    assert_true(json_bool(out.json, "sealed"));
    assert_int_equal(json_integer_value(json_object_get(out.json, "progress")),
                     0);
    outcome_free(&out);
}

/* sys/init on an initialised vault is 400; GET sys/init says true. */
static void test_init_twice(void **state)
{
    struct fixture *f = *state;
    struct outcome out;

    expect_error(f, "PUT", "/v1/sys/init",
                 "{\"secret_shares\": 1, \"secret_threshold\": 1}", NULL, 400,
                 "Vault is already initialized");
    do_request(f, "GET", "/v1/sys/init", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_true(json_bool(out.json, "initialized"));
    outcome_free(&out);
}

/* Health status overrides: a code is used as given; a bad one is 400. */
static void test_health_overrides(void **state)
{
    struct fixture *f = *state;
    struct outcome out;

    do_request(f, "GET", "/v1/sys/health?activecode=299&standbyok=True", NULL,
               NULL, &out);
    assert_int_equal(out.status, 299);
    assert_false(json_bool(out.json, "sealed"));
    outcome_free(&out);
    expect_error(f, "GET", "/v1/sys/health?activecode=abc", NULL, NULL, 400,
                 "\"activecode\" must be a non-negative integer");
    expect_error(f, "GET", "/v1/sys/health?activecode=600", NULL, NULL, 400,
                 "\"activecode\" must be at most 599");
    expect_error(f, "GET", "/v1/sys/health?sealedcode=99", NULL, NULL, 400,
                 "\"sealedcode\" must be an HTTP status code");
    expect_error(f, "GET", "/v1/sys/health?standbyok=yes", NULL, NULL, 400,
                 "\"standbyok\" must be a boolean");
    do_request(f, "PUT", "/v1/sys/seal", NULL, f->root_token, &out);
    outcome_free(&out);
    do_request(f, "GET", "/v1/sys/health?sealedcode=299", NULL, NULL, &out);
    assert_int_equal(out.status, 299);
    assert_true(json_bool(out.json, "sealed"));
    outcome_free(&out);
    do_request(f, "HEAD", "/v1/sys/health?sealedcode=200", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    outcome_free(&out);
    expect_error(f, "GET", "/v1/sys/health?activecode=abc", NULL, NULL, 400,
                 "\"activecode\" must be a non-negative integer");
}

/* An uninitialised vault: health 501, init-read false, gated paths 503,
 * unseal 400, and sys/init over the API creates the vault. */
static void test_uninitialized(void **state)
{
    struct fixture *f = *state;
    struct outcome out;

    do_request(f, "GET", "/v1/sys/health", NULL, NULL, &out);
    assert_int_equal(out.status, 501);
    assert_false(json_bool(out.json, "initialized"));
    outcome_free(&out);
    do_request(f, "GET", "/v1/sys/health?uninitcode=204", NULL, NULL, &out);
    assert_int_equal(out.status, 204);
    outcome_free(&out);
    do_request(f, "GET", "/v1/sys/init", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_false(json_bool(out.json, "initialized"));
    outcome_free(&out);
    expect_error(f, "GET", "/v1/sys/key-status", NULL, "x", 503,
                 "Vault is sealed");
    expect_error(f, "PUT", "/v1/sys/unseal", "{\"key\": \"aa\"}", NULL, 400,
                 "Vault is not initialized");
    expect_error(f, "PUT", "/v1/sys/init",
                 "{\"secret_shares\": 2, \"secret_threshold\": 3}", NULL, 400,
                 "invalid seal configuration: threshold cannot be larger "
                 "than shares");
    expect_error(f, "PUT", "/v1/sys/init",
                 "{\"secret_shares\": \"x\", \"secret_threshold\": 1}", NULL,
                 400, "\"secret_shares\" must be a non-negative integer");
    do_request(f, "PUT", "/v1/sys/init",
               "{\"secret_shares\": 1, \"secret_threshold\": 1}", NULL, &out);
    assert_int_equal(out.status, 200);
    assert_int_equal(json_array_size(json_object_get(out.json, "keys")), 1);
    assert_int_equal(json_array_size(json_object_get(out.json, "keys_base64")),
                     1);
    assert_non_null(json_string_value(json_object_get(out.json, "root_token")));
    outcome_free(&out);
    do_request(f, "GET", "/v1/sys/seal-status", NULL, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_true(json_bool(out.json, "initialized"));
    assert_true(json_bool(out.json, "sealed"));
    outcome_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_active, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_status_needs_token,
                                        setup_unsealed, teardown),
        cmocka_unit_test_setup_teardown(test_key_status_root, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_and_method,
                                        setup_unsealed, teardown),
        cmocka_unit_test_setup_teardown(test_seal_needs_token, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_seal_then_gates, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unseal_via_request, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unseal_bad_keys, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_init_twice, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_overrides, setup_unsealed,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_uninitialized, setup_fresh,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
