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

#include "lib/fixture.h"

struct fixture
{
    struct fixture_core fc;
};

/* One request's outcome, rendered as the server would send it. */
struct outcome
{
    unsigned status;
    char *text;   /* NULL for an empty body */
    json_t *json; /* text parsed, NULL for an empty body */
    char request_id[KH_UUID_STR_LEN + 1];
};

/* A core over a fresh store: uninitialised and sealed. */
static int setup_fresh(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_non_null(f);
    if (fixture_core_open(&f->fc, "httpunit",
                          "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n"
                          "  tls_disable = true\n}\n",
                          errmsg, sizeof(errmsg)) != 0)
        fail_msg("core: %s", errmsg);
    *state = f;
    return 0;
}

/* Initialised with one share and unsealed through the core API. */
static int setup_unsealed(void **state)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct fixture *f;

    setup_fresh(state);
    f = *state;
    if (fixture_core_init_unseal(&f->fc, errmsg, sizeof(errmsg)) != 0)
        fail_msg("init and unseal: %s", errmsg);
    assert_false(barrier_sealed(f->fc.core->barrier));
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(fixture_core_close(&f->fc), 0);
    free(f);
    return 0;
}

/* Send method url[?query] with body and token (NULL for none) through
 * http_request_build, request_handle and http_response_render. */
static void do_request(struct fixture *f, const char *method, const char *url,
                       const char *body, const char *token, struct outcome *out)
{
    struct fixture_request spec = {method, url, body, token, NULL};
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE] = "";
    size_t len = 0;

    memset(out, 0, sizeof(*out));
    assert_int_equal(fixture_request_handle(f->fc.core, &spec, &resp,
                                            out->request_id, errmsg,
                                            sizeof(errmsg)),
                     0);
    assert_int_equal(
        http_response_render(&resp, &out->text, &len, &out->status), 0);
    if (out->text != NULL) {
        json_error_t jerr;
        out->json = json_loads(out->text, 0, &jerr);
        assert_non_null(out->json);
    }
    kh_response_clear(&resp);
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

    do_request(f, "GET", "/v1/sys/key-status", NULL, f->fc.root_token, &out);
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
        snprintf(bearer, sizeof(bearer), "Bearer %s", f->fc.root_token);
        assert_int_equal(http_request_build(&raw, &req, errmsg, sizeof(errmsg)),
                         0);
        request_handle(f->fc.core, &req, &resp);
        assert_int_equal(resp.status, 200);
        kh_response_clear(&resp);
        kh_request_clear(&req);
    }
}

/* An unknown path is 404 naming the route; a wrong method is 405. */
static void test_unknown_path_and_method(void **state)
{
    struct fixture *f = *state;

    expect_error(f, "GET", "/v1/sys/nope", NULL, f->fc.root_token, 404,
                 "no handler for route \"sys/nope\". route entry not "
                 "found.");
    expect_error(f, "GET", "/v1/secret/data/x", NULL, NULL, 404,
                 "no handler for route \"secret/data/x\". route entry not "
                 "found.");
    expect_error(f, "DELETE", "/v1/sys/health", NULL, NULL, 405,
                 "1 error occurred:\n\t* unsupported operation\n\n");
    expect_error(f, "GET", "/v1/sys/seal", NULL, f->fc.root_token, 405,
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
    assert_false(barrier_sealed(f->fc.core->barrier));
}

/* After sys/seal (204), gated paths are 503 "Vault is sealed" even with a
 * valid token, health is 503 with its body, seal-status is 200. */
static void test_seal_then_gates(void **state)
{
    struct fixture *f = *state;
    struct outcome out;

    do_request(f, "PUT", "/v1/sys/seal", NULL, f->fc.root_token, &out);
    assert_int_equal(out.status, 204);
    assert_null(out.text);
    outcome_free(&out);
    assert_true(barrier_sealed(f->fc.core->barrier));

    expect_error(f, "GET", "/v1/sys/key-status", NULL, f->fc.root_token, 503,
                 "Vault is sealed");
    expect_error(f, "GET", "/v1/sys/key-status", NULL, NULL, 503,
                 "Vault is sealed");
    expect_error(f, "PUT", "/v1/sys/seal", NULL, f->fc.root_token, 503,
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

    do_request(f, "PUT", "/v1/sys/seal", NULL, f->fc.root_token, &out);
    assert_int_equal(out.status, 204);
    outcome_free(&out);
    snprintf(body, sizeof(body), "{\"key\": \"%s\"}", f->fc.unseal_key);
    do_request(f, "PUT", "/v1/sys/unseal", body, NULL, &out);
    assert_int_equal(out.status, 200);
    assert_false(json_bool(out.json, "sealed"));
    assert_int_equal(json_integer_value(json_object_get(out.json, "progress")),
                     0);
    assert_non_null(json_object_get(out.json, "cluster_id"));
    outcome_free(&out);
    do_request(f, "GET", "/v1/sys/key-status", NULL, f->fc.root_token, &out);
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
    do_request(f, "PUT", "/v1/sys/seal", NULL, f->fc.root_token, &out);
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
    assert_true(barrier_sealed(f->fc.core->barrier));
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
    do_request(f, "PUT", "/v1/sys/seal", NULL, f->fc.root_token, &out);
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
