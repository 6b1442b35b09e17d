/*
 * test_response.c - the one mapping from KH_E* codes to HTTP statuses and
 * Vault's {"errors":[...]} bodies (vault-api.md §1.6), response rendering
 * (200/204 and explicit statuses, §1.5) and the standard envelope with its
 * top-level injection for sys paths (request_util.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "core/request.h"
#include "http/response.h"

#define TEST_REQUEST_ID "11111111-2222-4333-8444-555555555555"

/* The compact JSON of resp's body, checked against want. */
static void assert_body(const struct kh_response *resp, const char *want)
{
    char *text;

    assert_non_null(resp->body);
    text = json_dumps(resp->body, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

/* The single message of an error body. */
static const char *error_text(const struct kh_response *resp)
{
    json_t *errors = json_object_get(resp->body, "errors");

    assert_true(json_is_array(errors));
    assert_int_equal(json_array_size(errors), 1);
    return json_string_value(json_array_get(errors, 0));
}

/* Every code of common/err.h maps to its status; unknown codes are 500. */
static void test_status_table(void **state)
{
    static const struct
    {
        int error;
        unsigned status;
    } rows[] = {
        {KH_EINVAL, 400},    {KH_ESTATE, 400},    {KH_ELIMIT, 400},
        {KH_EPERM, 403},     {KH_ENOTFOUND, 404}, {KH_EMETHOD, 405},
        {KH_ECONFLICT, 409}, {KH_ETOOBIG, 413},   {KH_EMEDIATYPE, 415},
        {KH_EINTERNAL, 500}, {KH_EIO, 500},       {KH_ECORRUPT, 500},
        {KH_EHSM, 500},      {KH_ECONFIG, 500},   {KH_EFULL, 507},
        {KH_ESEALED, 503},   {KH_ENOMEM, 503},    {KH_EUNAVAIL, 503},
        {KH_EUNINIT, 503},
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(http_status_for_error(rows[i].error), rows[i].status);
    assert_int_equal(http_status_for_error(-1000), 500);
    assert_int_equal(http_status_for_error(12345), 500);
    assert_int_equal(http_status_for_error(0), 500);
}

/* Every code of the X-macro table, with no message, gives its status and
 * its own text (the special cases aside), so a code added later is
 * answered sensibly without touching this test. */
static void test_error_every_code(void **state)
{
    static const int codes[] = {
#define KH_ERR_VALUE(name, value, text) name,
        KH_ERROR_TABLE(KH_ERR_VALUE)
#undef KH_ERR_VALUE
    };
    struct kh_response resp = {0};
    size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        int r = codes[i];
        json_t *errors;
        http_response_error(&resp, r, "");
        assert_int_equal(resp.status, (int)http_status_for_error(r));
        assert_true(resp.status >= 400 && resp.status <= 599);
        errors = json_object_get(resp.body, "errors");
        assert_int_equal(json_object_size(resp.body), 1);
        if (r == KH_ENOTFOUND || r == KH_EMETHOD)
            assert_int_equal(json_array_size(errors), 0);
        else if (r == KH_ESEALED || r == KH_EUNINIT)
            assert_string_equal(error_text(&resp), "Vault is sealed");
        else
            assert_string_equal(error_text(&resp), kh_strerror(r));
    }
    kh_response_clear(&resp);
}

/* An error with a message gives {"errors":["msg"]} and the status. */
static void test_error_with_message(void **state)
{
    struct kh_response resp = {0};

    http_response_error(&resp, KH_EINVAL, "bad field");
    assert_int_equal(resp.status, 400);
    assert_body(&resp, "{\"errors\":[\"bad field\"]}");
    http_response_error(&resp, KH_EPERM, "permission denied");
    assert_int_equal(resp.status, 403);
    assert_body(&resp, "{\"errors\":[\"permission denied\"]}");
    http_response_error(&resp, KH_ENOTFOUND,
                        "no handler for route \"a/b\". route entry not "
                        "found.");
    assert_int_equal(resp.status, 404);
    assert_string_equal(error_text(&resp),
                        "no handler for route \"a/b\". route entry not "
                        "found.");
    http_response_error(&resp, KH_EMETHOD,
                        "1 error occurred:\n\t* unsupported operation\n\n");
    assert_int_equal(resp.status, 405);
    assert_string_equal(error_text(&resp),
                        "1 error occurred:\n\t* unsupported operation\n\n");
    kh_response_clear(&resp);
}

/* An empty or NULL message gives the code's text. */
static void test_error_empty_message(void **state)
{
    struct kh_response resp = {0};

    http_response_error(&resp, KH_EPERM, "");
    assert_int_equal(resp.status, 403);
    assert_string_equal(error_text(&resp), "permission denied");
    http_response_error(&resp, KH_EINTERNAL, NULL);
    assert_int_equal(resp.status, 500);
    assert_string_equal(error_text(&resp), kh_strerror(KH_EINTERNAL));
    http_response_error(&resp, KH_ETOOBIG, "");
    assert_int_equal(resp.status, 413);
    assert_string_equal(error_text(&resp), "request too large");
    http_response_error(&resp, -777, "");
    assert_int_equal(resp.status, 500);
    assert_string_equal(error_text(&resp), "unknown error");
    kh_response_clear(&resp);
}

/* Not found and unsupported method without text give "errors":[]. */
static void test_error_empty_list(void **state)
{
    struct kh_response resp = {0};

    http_response_error(&resp, KH_ENOTFOUND, "");
    assert_int_equal(resp.status, 404);
    assert_body(&resp, "{\"errors\":[]}");
    http_response_error(&resp, KH_ENOTFOUND, NULL);
    assert_body(&resp, "{\"errors\":[]}");
    http_response_error(&resp, KH_EMETHOD, "");
    assert_int_equal(resp.status, 405);
    assert_body(&resp, "{\"errors\":[]}");
    kh_response_clear(&resp);
}

/* Sealed always says "Vault is sealed", whatever the message. */
static void test_error_sealed_text(void **state)
{
    struct kh_response resp = {0};

    http_response_error(&resp, KH_ESEALED, "");
    assert_int_equal(resp.status, 503);
    assert_body(&resp, "{\"errors\":[\"Vault is sealed\"]}");
    http_response_error(&resp, KH_ESEALED, "barrier: sealed while reading");
    assert_int_equal(resp.status, 503);
    assert_body(&resp, "{\"errors\":[\"Vault is sealed\"]}");
    http_response_error(&resp, KH_EUNINIT, "not initialised");
    assert_int_equal(resp.status, 503);
    assert_body(&resp, "{\"errors\":[\"Vault is sealed\"]}");
    kh_response_clear(&resp);
}

/* An error replaces what the handler had already put in the response. */
static void test_error_replaces_body(void **state)
{
    struct kh_response resp = {0};

    resp.body = json_pack("{s:s}", "secret", "value");
    resp.text = strdup("text");
    resp.status = 200;
    http_response_error(&resp, KH_EIO, "disk");
    assert_int_equal(resp.status, 500);
    assert_null(resp.text);
    assert_body(&resp, "{\"errors\":[\"disk\"]}");
    kh_response_clear(&resp);
}

static void render(const struct kh_response *resp, const char *want_text,
                   unsigned want_status)
{
    char *text = NULL;
    size_t len = 99;
    unsigned status = 0;

    assert_int_equal(http_response_render(resp, &text, &len, &status), 0);
    assert_int_equal(status, want_status);
    if (want_text == NULL) {
        assert_null(text);
        assert_int_equal(len, 0);
    } else {
        assert_non_null(text);
        assert_string_equal(text, want_text);
        assert_int_equal(len, strlen(want_text));
    }
    free(text);
}

/* 200 with a body, 204 without; explicit statuses are kept. */
static void test_render_statuses(void **state)
{
    struct kh_response resp = {0};

    resp.body = json_pack("{s:i}", "a", 1);
    resp.status = 200;
    render(&resp, "{\"a\":1}", 200);
    resp.status = 0;
    render(&resp, "{\"a\":1}", 200);
    resp.status = 429;
    render(&resp, "{\"a\":1}", 429);
    resp.status = 503;
    render(&resp, "{\"a\":1}", 503);
    kh_response_clear(&resp);
    render(&resp, NULL, 204);
    resp.status = 200;
    render(&resp, NULL, 204);
    resp.status = 204;
    render(&resp, NULL, 204);
    resp.status = 503;
    render(&resp, NULL, 503);
    kh_response_no_content(&resp);
    assert_int_equal(resp.status, 204);
    render(&resp, NULL, 204);
    kh_response_clear(&resp);
}

/* A text body is sent as given, 200 unless a status is set. */
static void test_render_text(void **state)
{
    struct kh_response resp = {0};

    resp.text = strdup("# HELP x\nx 1\n");
    resp.content_type = "text/plain; version=0.0.4";
    render(&resp, "# HELP x\nx 1\n", 200);
    resp.status = 500;
    render(&resp, "# HELP x\nx 1\n", 500);
    kh_response_clear(&resp);
    assert_null(resp.text);
}

/* An error response renders as its status and compact JSON. */
static void test_render_error(void **state)
{
    struct kh_response resp = {0};

    http_response_error(&resp, KH_ENOTFOUND, "");
    render(&resp, "{\"errors\":[]}", 404);
    http_response_error(&resp, KH_ESEALED, "");
    render(&resp, "{\"errors\":[\"Vault is sealed\"]}", 503);
    kh_response_clear(&resp);
}

static void request_with_id(struct kh_request *req)
{
    memset(req, 0, sizeof(*req));
    memcpy(req->request_id, TEST_REQUEST_ID, sizeof(TEST_REQUEST_ID));
}

/* The envelope has exactly the keys of vault-api.md §1.5. */
static void test_envelope_keys(void **state)
{
    struct kh_request req;
    struct kh_response resp = {0};

    request_with_id(&req);
    assert_int_equal(
        kh_response_envelope(&resp, &req, json_pack("{s:s}", "k", "v")), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(json_object_size(resp.body), 8);
    assert_body(&resp, "{\"auth\":null,\"data\":{\"k\":\"v\"},"
                       "\"lease_duration\":0,\"lease_id\":\"\","
                       "\"renewable\":false,\"request_id\":\"" TEST_REQUEST_ID
                       "\",\"warnings\":null,\"wrap_info\":null}");
    assert_true(json_is_false(json_object_get(resp.body, "renewable")));
    assert_true(json_is_integer(json_object_get(resp.body, "lease_duration")));
    render(&resp,
           "{\"request_id\":\"" TEST_REQUEST_ID "\",\"lease_id\":\"\","
           "\"renewable\":false,\"lease_duration\":0,\"data\":{\"k\":\"v\"},"
           "\"wrap_info\":null,\"warnings\":null,\"auth\":null}",
           200);
    kh_response_clear(&resp);
}

/* An envelope around no data has "data": null; a second envelope replaces
 * the first body without leaking it. */
static void test_envelope_null_data(void **state)
{
    struct kh_request req;
    struct kh_response resp = {0};

    request_with_id(&req);
    assert_int_equal(kh_response_envelope(&resp, &req, NULL), 0);
    assert_true(json_is_null(json_object_get(resp.body, "data")));
    assert_int_equal(json_object_size(resp.body), 8);
    assert_int_equal(
        kh_response_envelope(&resp, &req, json_pack("{s:i}", "n", 2)), 0);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(resp.body, "data"), "n")),
                     2);
    kh_response_clear(&resp);
}

/* Injection copies data keys to the top level next to the envelope. */
static void test_envelope_inject(void **state)
{
    struct kh_request req;
    struct kh_response resp = {0};

    request_with_id(&req);
    assert_int_equal(kh_response_envelope_inject(
                         &resp, &req,
                         json_pack("{s:i, s:s}", "term", 3, "install_time",
                                   "2024-05-01T10:00:00Z")),
                     0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(json_object_size(resp.body), 10);
    assert_int_equal(json_integer_value(json_object_get(resp.body, "term")), 3);
    assert_string_equal(
        json_string_value(json_object_get(resp.body, "install_time")),
        "2024-05-01T10:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(resp.body, "data"), "term")),
                     3);
    /* the top-level copy is a copy, not the same value */
    assert_ptr_not_equal(
        json_object_get(resp.body, "term"),
        json_object_get(json_object_get(resp.body, "data"), "term"));
    kh_response_clear(&resp);
}

/* Data keys that collide with envelope keys do not replace them. */
static void test_envelope_inject_no_overwrite(void **state)
{
    struct kh_request req;
    struct kh_response resp = {0};
    json_t *data;

    request_with_id(&req);
    data =
        json_pack("{s:s, s:s, s:b, s:i, s:s, s:s, s:s, s:s, s:s}", "request_id",
                  "forged", "lease_id", "forged", "renewable", 1,
                  "lease_duration", 99, "data", "forged", "wrap_info", "forged",
                  "warnings", "forged", "auth", "forged", "extra", "kept");
    assert_int_equal(kh_response_envelope_inject(&resp, &req, data), 0);
    assert_string_equal(
        json_string_value(json_object_get(resp.body, "request_id")),
        TEST_REQUEST_ID);
    assert_string_equal(
        json_string_value(json_object_get(resp.body, "lease_id")), "");
    assert_true(json_is_false(json_object_get(resp.body, "renewable")));
    assert_int_equal(
        json_integer_value(json_object_get(resp.body, "lease_duration")), 0);
    assert_true(json_is_object(json_object_get(resp.body, "data")));
    assert_true(json_is_null(json_object_get(resp.body, "wrap_info")));
    assert_true(json_is_null(json_object_get(resp.body, "warnings")));
    assert_true(json_is_null(json_object_get(resp.body, "auth")));
    assert_string_equal(json_string_value(json_object_get(resp.body, "extra")),
                        "kept");
    /* data itself keeps the colliding keys as the handler gave them */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(resp.body, "data"), "request_id")),
                        "forged");
    assert_int_equal(json_object_size(resp.body), 9);
    kh_response_clear(&resp);
}

/* Injection of no data is an allocation failure, and leaves resp alone. */
static void test_envelope_inject_null(void **state)
{
    struct kh_request req;
    struct kh_response resp = {0};

    request_with_id(&req);
    assert_int_equal(kh_response_envelope_inject(&resp, &req, NULL), KH_ENOMEM);
    assert_null(resp.body);
    assert_int_equal(resp.status, 0);
}

/* A raw body is answered as is, 200; a NULL raw body is ENOMEM. */
static void test_response_raw(void **state)
{
    struct kh_response resp = {0};

    assert_int_equal(kh_response_raw(&resp, json_pack("{s:b}", "sealed", 0)),
                     0);
    assert_int_equal(resp.status, 200);
    render(&resp, "{\"sealed\":false}", 200);
    assert_int_equal(kh_response_raw(&resp, NULL), KH_ENOMEM);
    assert_non_null(resp.body);
    kh_response_clear(&resp);
    kh_response_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_error_every_code),
        cmocka_unit_test(test_error_with_message),
        cmocka_unit_test(test_error_empty_message),
        cmocka_unit_test(test_error_empty_list),
        cmocka_unit_test(test_error_sealed_text),
        cmocka_unit_test(test_error_replaces_body),
        cmocka_unit_test(test_render_statuses),
        cmocka_unit_test(test_render_text),
        cmocka_unit_test(test_render_error),
        cmocka_unit_test(test_envelope_keys),
        cmocka_unit_test(test_envelope_null_data),
        cmocka_unit_test(test_envelope_inject),
        cmocka_unit_test(test_envelope_inject_no_overwrite),
        cmocka_unit_test(test_envelope_inject_null),
        cmocka_unit_test(test_response_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
