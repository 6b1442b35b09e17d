/*
 * test_response.c - the one mapping from KH_E* codes to HTTP statuses and
 * Vault's {"errors":[...]} bodies (Vault API: errors and statuses), response rendering
 * (200/204 and explicit statuses, §1.5; the compact writer byte for byte
 * against json_dumps on crafted, declined and random documents) and the
 * standard envelope with its top-level injection for sys paths
 * (request_util.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdint.h>
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

/* ---- the compact writer against json_dumps(JSON_COMPACT) ---- */

/* Render body (stolen) and check the bytes are json_dumps()'s: the same
 * text and length, or the same refusal (KH_ENOMEM for NULL). */
static void assert_renders_as_jansson(json_t *body)
{
    struct kh_response resp = {0};
    char *want = json_dumps(body, JSON_COMPACT);
    char *text = NULL;
    size_t len = 0;
    unsigned status = 0;
    int r;

    resp.body = body;
    r = http_response_render(&resp, &text, &len, &status);
    if (want == NULL) {
        assert_int_equal(r, KH_ENOMEM);
    } else {
        assert_int_equal(r, 0);
        assert_non_null(text);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(text, want, len + 1);
        assert_int_equal(status, 200);
    }
    free(text);
    free(want);
    kh_response_clear(&resp);
}

/* Escapes of every control byte, quote, backslash, DEL, slash, NUL
 * inside a string and a key, 2/3/4-byte UTF-8, extreme integers, empty
 * containers, booleans and null: byte for byte as json_dumps. */
static void test_render_matches_jansson(void **state)
{
    char controls[40];
    json_t *doc = json_object();
    json_t *list = json_array();
    size_t i;

    for (i = 0; i < 0x20; i++)
        controls[i] = (char)i;
    memcpy(controls + 0x20, "\"\\/\x7f" "ab", 6);
    json_object_set_new(doc, "controls", json_stringn(controls, 0x26));
    json_object_set_new(doc, "utf8", json_string("\xc3\xa9\xe2\x82\xac"
                                                 "\xf0\x9f\x94\x91 k\xc3\xa9y"));
    json_object_setn_new(doc, "k\0\"ey\n", 6, json_string(""));
    json_object_set_new(doc, "\xe2\x82\xac", json_integer(INT64_MIN));
    json_array_append_new(list, json_integer(INT64_MAX));
    json_array_append_new(list, json_integer(0));
    json_array_append_new(list, json_integer(-1));
    json_array_append_new(list, json_true());
    json_array_append_new(list, json_false());
    json_array_append_new(list, json_null());
    json_array_append_new(list, json_object());
    json_array_append_new(list, json_array());
    json_array_append_new(list, json_pack("{s:[{s:{}}]}", "a", "b"));
    json_object_set_new(doc, "list", list);
    json_object_set_new(doc, "later", json_string("insertion order"));
    json_object_set_new(doc, "a", json_string("kept after later"));
    assert_renders_as_jansson(doc);
    assert_renders_as_jansson(json_array());
    assert_renders_as_jansson(json_object());
}

/* What the writer declines still renders exactly as json_dumps: reals,
 * invalid UTF-8 (refused: KH_ENOMEM as before), nesting deeper than the
 * writer's stack, a scalar body (refused). */
static void test_render_declined_as_jansson(void **state)
{
    json_t *deep = json_array();
    json_t *inner = deep;
    size_t i;

    assert_renders_as_jansson(json_pack("{s:f, s:[f, f, f]}", "pi", 3.14159,
                                        "list", 1e300, -0.0, 100.0));
    assert_renders_as_jansson(
        json_pack("{s:o}", "bad", json_stringn_nocheck("a\xff" "b", 3)));
    assert_renders_as_jansson(
        json_pack("{s:o}", "surrogate", json_stringn_nocheck("\xed\xa0\x80",
                                                             3)));
    assert_renders_as_jansson(
        json_pack("{s:o}", "overlong", json_stringn_nocheck("\xc0\xaf", 2)));
    for (i = 0; i < 300; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    json_array_append_new(inner, json_string("bottom"));
    assert_renders_as_jansson(deep);
    assert_renders_as_jansson(json_string("scalar"));
    assert_renders_as_jansson(json_integer(7));
}

/* A deterministic generator (xorshift) of random documents. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A random valid UTF-8 string of up to 40 code points, any plane. */
static json_t *random_string(uint64_t *s)
{
    char buf[40 * 4];
    size_t len = 0, n = rng_next(s) % 41, i;

    for (i = 0; i < n; i++) {
        uint32_t cp = (uint32_t)rng_next(s);
        cp = (cp & 3) == 0 ? cp % 0x80 : (cp & 3) == 1 ? cp % 0x800
                                                       : cp % 0x110000;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            cp = '\\';
        if (cp < 0x80) {
            buf[len++] = (char)cp;
        } else if (cp < 0x800) {
            buf[len++] = (char)(0xC0 | (cp >> 6));
            buf[len++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            buf[len++] = (char)(0xE0 | (cp >> 12));
            buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            buf[len++] = (char)(0x80 | (cp & 0x3F));
        } else {
            buf[len++] = (char)(0xF0 | (cp >> 18));
            buf[len++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            buf[len++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return json_stringn(buf, len);
}

/* A random scalar, or (while depth allows) a container of up to 6. */
static json_t *random_value(uint64_t *s, unsigned depth)
{
    unsigned kind = (unsigned)(rng_next(s) % (depth > 0 ? 8 : 6));
    json_t *c;
    size_t i, n;

    switch (kind) {
    case 0:
        return random_string(s);
    case 1:
        return json_integer((json_int_t)rng_next(s));
    case 2:
        return json_boolean(rng_next(s) & 1);
    case 3:
        return json_null();
    case 4:
        return json_integer((json_int_t)(rng_next(s) % 1000));
    case 5:
        return random_string(s);
    default:
        c = kind == 6 ? json_object() : json_array();
        n = rng_next(s) % 7;
        for (i = 0; i < n; i++) {
            json_t *key = random_string(s);
            if (kind == 6)
                json_object_setn_new(c, json_string_value(key),
                                     json_string_length(key),
                                     random_value(s, depth - 1));
            else
                json_array_append_new(c, random_value(s, depth - 1));
            json_decref(key);
        }
        return c;
    }
}

/* 2000 random documents (strings of any plane, keys with escapes and
 * NULs, nesting up to 6, bodies past the writer's first buffer): each
 * renders byte for byte as json_dumps. */
static void test_render_random_as_jansson(void **state)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    int i;

    for (i = 0; i < 2000; i++) {
        json_t *doc = json_object();
        json_object_set_new(doc, "data", random_value(&seed, 6));
        json_object_set_new(doc, "more", random_value(&seed, 3));
        assert_renders_as_jansson(doc);
    }
}

static void request_with_id(struct kh_request *req)
{
    memset(req, 0, sizeof(*req));
    memcpy(req->request_id, TEST_REQUEST_ID, sizeof(TEST_REQUEST_ID));
}

/* The envelope has exactly the keys of Vault API: response envelope. */
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
        cmocka_unit_test(test_render_matches_jansson),
        cmocka_unit_test(test_render_declined_as_jansson),
        cmocka_unit_test(test_render_random_as_jansson),
        cmocka_unit_test(test_envelope_keys),
        cmocka_unit_test(test_envelope_null_data),
        cmocka_unit_test(test_envelope_inject),
        cmocka_unit_test(test_envelope_inject_no_overwrite),
        cmocka_unit_test(test_envelope_inject_null),
        cmocka_unit_test(test_response_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
