/*
 * test_request_fields.c - the lenient typed request fields of
 * Vault API: request body rules (core/request_util.c): kh_request_uint (numbers and
 * numeric strings, null and absent as the default, malformed and over-max
 * refused), kh_request_bool (JSON booleans and Go's ParseBool strings) and
 * kh_request_string.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "core/request.h"

#define SENTINEL 777ull

/* A request whose fields are the JSON object text. */
static void request_from(struct kh_request *req, const char *json)
{
    json_error_t jerr;

    memset(req, 0, sizeof(*req));
    req->data = json_loads(json, 0, &jerr);
    assert_non_null(req->data);
}

/* kh_request_uint over {"v": <json>}; *ret keeps SENTINEL on error. */
static int uint_of(const char *json, unsigned long long def,
                   unsigned long long max, unsigned long long *ret,
                   char *errmsg)
{
    struct kh_request req;
    int r;

    request_from(&req, json);
    *ret = SENTINEL;
    errmsg[0] = '\0';
    r = kh_request_uint(&req, "v", def, max, ret, errmsg, KH_ERRMSG_SIZE);
    kh_request_clear(&req);
    return r;
}

static void assert_uint(const char *json, unsigned long long max,
                        unsigned long long want)
{
    char errmsg[KH_ERRMSG_SIZE];
    unsigned long long v;

    assert_int_equal(uint_of(json, 5, max, &v, errmsg), 0);
    assert_true(v == want);
}

static void assert_uint_bad(const char *json, unsigned long long max,
                            const char *want_msg)
{
    char errmsg[KH_ERRMSG_SIZE];
    unsigned long long v;

    assert_int_equal(uint_of(json, 5, max, &v, errmsg), KH_EINVAL);
    assert_true(v == SENTINEL);
    assert_string_equal(errmsg, want_msg);
}

/* Numbers and numeric strings are read; absent and null give the default. */
static void test_uint_accepts(void **state)
{
    assert_uint("{\"v\": 42}", 100, 42);
    assert_uint("{\"v\": 0}", 100, 0);
    assert_uint("{\"v\": \"42\"}", 100, 42);
    assert_uint("{\"v\": \"0\"}", 100, 0);
    assert_uint("{\"v\": \"007\"}", 100, 7);
    assert_uint("{\"v\": null}", 100, 5);
    assert_uint("{}", 100, 5);
    assert_uint("{\"other\": \"x\"}", 100, 5);
}

/* The maximum itself is accepted, one above is refused. */
static void test_uint_max(void **state)
{
    char msg[KH_ERRMSG_SIZE];

    snprintf(msg, sizeof(msg), "\"v\" must be at most %d", 599);
    assert_uint("{\"v\": 599}", 599, 599);
    assert_uint("{\"v\": \"599\"}", 599, 599);
    assert_uint_bad("{\"v\": 600}", 599, msg);
    assert_uint_bad("{\"v\": \"600\"}", 599, msg);
    assert_uint("{\"v\": \"18446744073709551615\"}", ULLONG_MAX, ULLONG_MAX);
    assert_uint("{\"v\": 9223372036854775807}", ULLONG_MAX, LLONG_MAX);
}

/* A default above max is refused too (max is a hard limit). */
static void test_uint_default_above_max(void **state)
{
    struct kh_request req;
    char errmsg[KH_ERRMSG_SIZE];
    unsigned long long v = SENTINEL;

    request_from(&req, "{}");
    assert_int_equal(
        kh_request_uint(&req, "v", 10, 9, &v, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    assert_true(v == SENTINEL);
    kh_request_clear(&req);
}

/* Negative, signed, empty, trailing junk, overflow, floats and other JSON
 * types are refused. */
static void test_uint_refuses(void **state)
{
    static const char *const bad[] = {
        "{\"v\": -1}",
        "{\"v\": \"-1\"}",
        "{\"v\": \"12x\"}",
        "{\"v\": \"\"}",
        "{\"v\": \"+1\"}",
        "{\"v\": \" 1\"}",
        "{\"v\": \" -1\"}",
        "{\"v\": \"0x10\"}",
        "{\"v\": \"1.5\"}",
        "{\"v\": \"1e3\"}",
        "{\"v\": \"18446744073709551616\"}",
        "{\"v\": \"99999999999999999999999\"}",
        "{\"v\": 1.5}",
        "{\"v\": 1e3}",
        "{\"v\": true}",
        "{\"v\": [1]}",
        "{\"v\": {\"n\": 1}}",
        "{\"v\": \"1 \"}",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_uint_bad(bad[i], ULLONG_MAX,
                        "\"v\" must be a non-negative integer");
}

/* A request with no fields at all gives the default. */
static void test_uint_no_data(void **state)
{
    struct kh_request req;
    char errmsg[KH_ERRMSG_SIZE];
    unsigned long long v = 0;

    memset(&req, 0, sizeof(req));
    assert_int_equal(
        kh_request_uint(&req, "v", 9, 10, &v, errmsg, sizeof(errmsg)), 0);
    assert_true(v == 9);
}

/* kh_request_bool over {"v": <json>}, default def. */
static int bool_of(const char *json, bool def, bool *ret, char *errmsg)
{
    struct kh_request req;
    int r;

    request_from(&req, json);
    errmsg[0] = '\0';
    r = kh_request_bool(&req, "v", def, ret, errmsg, KH_ERRMSG_SIZE);
    kh_request_clear(&req);
    return r;
}

/* JSON booleans and every Go ParseBool spelling are read. */
static void test_bool_accepts(void **state)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    char errmsg[KH_ERRMSG_SIZE];
    char json[64];
    bool v;
    size_t i;

    v = false;
    assert_int_equal(bool_of("{\"v\": true}", false, &v, errmsg), 0);
    assert_true(v);
    assert_int_equal(bool_of("{\"v\": false}", true, &v, errmsg), 0);
    assert_false(v);
    for (i = 0; i < 6; i++) {
        snprintf(json, sizeof(json), "{\"v\": \"%s\"}", yes[i]);
        v = false;
        assert_int_equal(bool_of(json, false, &v, errmsg), 0);
        assert_true(v);
        snprintf(json, sizeof(json), "{\"v\": \"%s\"}", no[i]);
        v = true;
        assert_int_equal(bool_of(json, true, &v, errmsg), 0);
        assert_false(v);
    }
}

/* Absent and null give the default. */
static void test_bool_default(void **state)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_request req;
    bool v;

    v = false;
    assert_int_equal(bool_of("{\"v\": null}", true, &v, errmsg), 0);
    assert_true(v);
    v = true;
    assert_int_equal(bool_of("{}", false, &v, errmsg), 0);
    assert_false(v);
    memset(&req, 0, sizeof(req));
    v = false;
    assert_int_equal(
        kh_request_bool(&req, "v", true, &v, errmsg, sizeof(errmsg)), 0);
    assert_true(v);
}

/* Anything else is refused, and *ret is left alone. */
static void test_bool_refuses(void **state)
{
    static const char *const bad[] = {
        "{\"v\": \"yes\"}",  "{\"v\": \"no\"}",    "{\"v\": \"\"}",
        "{\"v\": \"tRUE\"}", "{\"v\": \"true \"}", "{\"v\": \"2\"}",
        "{\"v\": 1}",        "{\"v\": 0}",         "{\"v\": [true]}",
        "{\"v\": {}}",       "{\"v\": 1.0}",
    };
    char errmsg[KH_ERRMSG_SIZE];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool v = true;
        assert_int_equal(bool_of(bad[i], false, &v, errmsg), KH_EINVAL);
        assert_true(v);
        assert_string_equal(errmsg, "\"v\" must be a boolean");
    }
}

/* Strings are returned; absent, null and non-strings are NULL. */
static void test_string(void **state)
{
    struct kh_request req;

    request_from(&req, "{\"s\": \"text\", \"e\": \"\", \"n\": null, "
                       "\"i\": 3, \"b\": true, \"o\": {\"s\": \"x\"}}");
    assert_string_equal(kh_request_string(&req, "s"), "text");
    assert_string_equal(kh_request_string(&req, "e"), "");
    assert_null(kh_request_string(&req, "n"));
    assert_null(kh_request_string(&req, "i"));
    assert_null(kh_request_string(&req, "b"));
    assert_null(kh_request_string(&req, "o"));
    assert_null(kh_request_string(&req, "missing"));
    kh_request_clear(&req);
    assert_null(req.data);
    assert_null(kh_request_string(&req, "s"));
}

/* kh_request_clear wipes the token and frees every member. */
static void test_request_clear(void **state)
{
    struct kh_request req;

    request_from(&req, "{\"a\": 1}");
    req.query = json_object();
    req.path = strdup("sys/health");
    memcpy(req.token, "hvs.secret", sizeof("hvs.secret"));
    req.has_token = true;
    kh_request_clear(&req);
    assert_null(req.path);
    assert_null(req.query);
    assert_null(req.data);
    assert_false(req.has_token);
    assert_int_equal(req.token[0], 0);
    assert_int_equal(req.token[4], 0);
    kh_request_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint_accepts),
        cmocka_unit_test(test_uint_max),
        cmocka_unit_test(test_uint_default_above_max),
        cmocka_unit_test(test_uint_refuses),
        cmocka_unit_test(test_uint_no_data),
        cmocka_unit_test(test_bool_accepts),
        cmocka_unit_test(test_bool_default),
        cmocka_unit_test(test_bool_refuses),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_request_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
