/*
 * test_request_parse.c - the wire rules of Vault API: wire rules as the server
 * parses them: method mapping, LIST, paths, query, body, tokens, limits at
 * max and max + 1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "http/request_parse.h"

struct parsed
{
    struct kh_request req;
    char errmsg[KH_ERRMSG_SIZE];
    int r;
};

static struct http_raw_request raw_default(const char *method,
                                           const char *url, const char *body)
{
    struct http_raw_request raw = {
        .method = method,
        .url = url,
        .body = (const uint8_t *)(body != NULL ? body : ""),
        .body_len = body != NULL ? strlen(body) : 0,
        .body_bytes_max = KH_HTTP_BODY_BYTES_DEFAULT,
        .remote_addr = "127.0.0.1",
    };
    return raw;
}

static void parse(struct parsed *p, const struct http_raw_request *raw)
{
    memset(p, 0, sizeof(*p));
    p->r = http_request_build(raw, &p->req, p->errmsg, sizeof(p->errmsg));
}

static int parse_simple(const char *method, const char *url, const char *body)
{
    struct http_raw_request raw = raw_default(method, url, body);
    struct parsed p;
    int r;

    parse(&p, &raw);
    r = p.r;
    kh_request_clear(&p.req);
    return r;
}

/* Each HTTP method maps to its Vault operation. */
static void test_method_mapping(void **state)
{
    static const struct
    {
        const char *method;
        enum kh_operation op;
    } rows[] = {
        {"GET", KH_OP_READ},     {"LIST", KH_OP_LIST},
        {"POST", KH_OP_UPDATE},  {"PUT", KH_OP_UPDATE},
        {"DELETE", KH_OP_DELETE}, {"HEAD", KH_OP_HEAD},
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct http_raw_request raw = raw_default(rows[i].method, "/v1/a/b",
                                                  NULL);
        struct parsed p;
        parse(&p, &raw);
        assert_int_equal(p.r, 0);
        assert_int_equal(p.req.op, rows[i].op);
        kh_request_clear(&p.req);
    }
}

/* Unknown methods are 405. */
static void test_unknown_method(void **state)
{
    assert_int_equal(parse_simple("FOO", "/v1/sys/health", NULL),
                     KH_EMETHOD);
    assert_int_equal(parse_simple("TRACE", "/v1/sys/health", NULL),
                     KH_EMETHOD);
}

/* LIST appends the trailing slash the server adds. */
static void test_list_appends_slash(void **state)
{
    struct http_raw_request raw = raw_default("LIST", "/v1/secret/metadata",
                                              NULL);
    struct parsed p;

    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    assert_string_equal(p.req.path, "secret/metadata/");
    kh_request_clear(&p.req);
}

/* GET ?list= takes Go booleans; anything else is 400. */
static void test_list_query_bools(void **state)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    size_t i;

    for (i = 0; i < 6; i++) {
        struct http_query_arg q = {"list", yes[i]};
        struct http_raw_request raw = raw_default("GET", "/v1/x", NULL);
        struct parsed p;
        raw.query = &q;
        raw.query_count = 1;
        parse(&p, &raw);
        assert_int_equal(p.r, 0);
        assert_int_equal(p.req.op, KH_OP_LIST);
        assert_string_equal(p.req.path, "x/");
        assert_null(json_object_get(p.req.data, "list"));
        kh_request_clear(&p.req);
        q.value = no[i];
        parse(&p, &raw);
        assert_int_equal(p.r, 0);
        assert_int_equal(p.req.op, KH_OP_READ);
        kh_request_clear(&p.req);
    }
    {
        struct http_query_arg q = {"list", "yes"};
        struct http_raw_request raw = raw_default("GET", "/v1/x", NULL);
        struct parsed p;
        raw.query = &q;
        raw.query_count = 1;
        parse(&p, &raw);
        assert_int_equal(p.r, KH_EINVAL);
        kh_request_clear(&p.req);
    }
}

/* Non-canonical and non-API paths are refused, never cleaned. */
static void test_paths_refused(void **state)
{
    static const char *const bad[] = {
        "/v1/",          "/v1//sys/health", "/v1/sys//health",
        "/v1/sys/./health", "/v1/sys/../x", "/v1/..",
        "/v1/.",         "/sys/health",     "/v2/sys/health",
        "/v1/a/\x01b",   "/",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_simple("GET", bad[i], NULL), KH_ENOTFOUND);
    assert_int_equal(parse_simple("GET", "/v1/a/..b/c.d/.e", NULL), 0);
}

/* The path limit holds at max and refuses max + 1. */
static void test_path_length_limit(void **state)
{
    char *url = malloc(KH_HTTP_PATH_BYTES_MAX + 16);
    size_t i;

    strcpy(url, "/v1/");
    for (i = 0; i < KH_HTTP_PATH_BYTES_MAX; i++)
        url[4 + i] = (i % 2 == 0) ? 'a' : 'b';
    url[4 + KH_HTTP_PATH_BYTES_MAX] = '\0';
    assert_int_equal(parse_simple("GET", url, NULL), 0);
    url[4 + KH_HTTP_PATH_BYTES_MAX] = 'c';
    url[5 + KH_HTTP_PATH_BYTES_MAX] = '\0';
    assert_int_equal(parse_simple("GET", url, NULL), KH_ETOOBIG);
    free(url);
}

/* The segment limit holds at max and refuses max + 1. */
static void test_path_segment_limit(void **state)
{
    char url[8 + 2 * (KH_HTTP_PATH_SEGMENTS_MAX + 1)];
    size_t i, o = 0;

    o += (size_t)sprintf(url, "/v1/a");
    for (i = 1; i < KH_HTTP_PATH_SEGMENTS_MAX; i++)
        o += (size_t)sprintf(url + o, "/a");
    assert_int_equal(parse_simple("GET", url, NULL), 0);
    sprintf(url + o, "/a");
    assert_int_equal(parse_simple("GET", url, NULL), KH_ENOTFOUND);
}

/* Body fields merge over query fields; null body means no fields. */
static void test_body_and_query(void **state)
{
    struct http_query_arg q[2] = {{"a", "query"}, {"b", "query"}};
    struct http_raw_request raw = raw_default("POST", "/v1/x",
                                              "{\"a\":\"body\",\"n\":5}");
    struct parsed p;

    raw.query = q;
    raw.query_count = 2;
    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    assert_string_equal(kh_request_string(&p.req, "a"), "body");
    assert_string_equal(kh_request_string(&p.req, "b"), "query");
    assert_int_equal(json_integer_value(json_object_get(p.req.data, "n")), 5);
    kh_request_clear(&p.req);
    assert_int_equal(parse_simple("POST", "/v1/x", "null"), 0);
    assert_int_equal(parse_simple("POST", "/v1/x", ""), 0);
    assert_int_equal(parse_simple("POST", "/v1/x", "{}"), 0);
}

/* Bad JSON and non-object bodies are 400 with Vault's message. */
static void test_bad_json(void **state)
{
    struct http_raw_request raw = raw_default("PUT", "/v1/x", "{\"a\":");
    struct parsed p;

    parse(&p, &raw);
    assert_int_equal(p.r, KH_EINVAL);
    assert_non_null(strstr(p.errmsg, "failed to parse JSON input"));
    kh_request_clear(&p.req);
    assert_int_equal(parse_simple("PUT", "/v1/x", "[1,2]"), KH_EINVAL);
    assert_int_equal(parse_simple("PUT", "/v1/x", "\"s\""), KH_EINVAL);
    assert_int_equal(parse_simple("PUT", "/v1/x", "{\"a\":1} x"), KH_EINVAL);
    assert_int_equal(parse_simple("PUT", "/v1/x", "{\"a\":\"\xff\"}"),
                     KH_EINVAL);
}

/* GET and DELETE ignore a body. */
static void test_body_ignored_on_read(void **state)
{
    assert_int_equal(parse_simple("GET", "/v1/x", "{not json"), 0);
    assert_int_equal(parse_simple("DELETE", "/v1/x", "{not json"), 0);
}

static char *nested(unsigned depth)
{
    char *text = malloc(2 * depth + 16);
    size_t o = 0;
    unsigned i;

    o += (size_t)sprintf(text, "{\"a\":");
    for (i = 1; i < depth; i++)
        text[o++] = '[';
    text[o++] = '1';
    for (i = 1; i < depth; i++)
        text[o++] = ']';
    text[o++] = '}';
    text[o] = '\0';
    return text;
}

/* JSON depth holds at the limit and refuses limit + 1. */
static void test_json_depth_limit(void **state)
{
    char *ok = nested(KH_JSON_DEPTH_MAX);
    char *deep = nested(KH_JSON_DEPTH_MAX + 1);

    assert_int_equal(parse_simple("PUT", "/v1/x", ok), 0);
    assert_int_equal(parse_simple("PUT", "/v1/x", deep), KH_EINVAL);
    assert_true(http_json_depth_ok("\"[[[[\"", 6, 1));
    assert_true(http_json_depth_ok("{\"\\\"[[\":1}", 10, 1));
    free(ok);
    free(deep);
}

/* The body limit holds at max and refuses max + 1. */
static void test_body_size_limit(void **state)
{
    char body[64];
    struct http_raw_request raw;
    struct parsed p;

    memset(body, ' ', sizeof(body));
    memcpy(body, "{}", 2);
    raw = raw_default("PUT", "/v1/x", NULL);
    raw.body = (const uint8_t *)body;
    raw.body_len = 32;
    raw.body_bytes_max = 32;
    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    kh_request_clear(&p.req);
    raw.body_len = 33;
    parse(&p, &raw);
    assert_int_equal(p.r, KH_ETOOBIG);
    kh_request_clear(&p.req);
}

/* PATCH needs application/merge-patch+json (415 otherwise). */
static void test_patch_content_type(void **state)
{
    struct http_raw_request raw = raw_default("PATCH", "/v1/x", "{}");
    struct parsed p;

    parse(&p, &raw);
    assert_int_equal(p.r, KH_EMEDIATYPE);
    kh_request_clear(&p.req);
    raw.content_type = "application/json";
    parse(&p, &raw);
    assert_int_equal(p.r, KH_EMEDIATYPE);
    kh_request_clear(&p.req);
    raw.content_type = "application/merge-patch+json";
    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    assert_int_equal(p.req.op, KH_OP_PATCH);
    kh_request_clear(&p.req);
}

/* A form body is read only with the form content type. */
static void test_form_body(void **state)
{
    struct http_raw_request raw = raw_default("PUT", "/v1/x", "a=1&b=two");
    struct parsed p;

    raw.content_type = "application/x-www-form-urlencoded";
    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    assert_string_equal(kh_request_string(&p.req, "b"), "two");
    kh_request_clear(&p.req);
    raw.content_type = NULL;
    parse(&p, &raw);
    assert_int_equal(p.r, KH_EINVAL);
    kh_request_clear(&p.req);
    /* Values are URL-decoded; '+' is a space; a NUL or an escaped NUL is
     * refused rather than cutting the body short. */
    raw = raw_default("PUT", "/v1/x", "pass%20word=p+w%26x&k%3D=v");
    raw.content_type = "application/x-www-form-urlencoded";
    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    assert_string_equal(kh_request_string(&p.req, "pass word"), "p w&x");
    assert_string_equal(kh_request_string(&p.req, "k="), "v");
    kh_request_clear(&p.req);
    raw.body = (const uint8_t *)"a=\0bbbbbbbb";
    raw.body_len = 11;
    parse(&p, &raw);
    assert_int_equal(p.r, KH_EINVAL);
    kh_request_clear(&p.req);
    raw = raw_default("PUT", "/v1/x", "a=%00b");
    raw.content_type = "application/x-www-form-urlencoded";
    parse(&p, &raw);
    assert_int_equal(p.r, KH_EINVAL);
    kh_request_clear(&p.req);
}

/* X-Vault-Token wins over Bearer; over-long tokens are kept unusable. */
static void test_tokens(void **state)
{
    struct http_raw_request raw = raw_default("GET", "/v1/x", NULL);
    char long_token[KH_HTTP_TOKEN_BYTES_MAX + 2];
    struct parsed p;

    raw.authorization = "Bearer abc";
    parse(&p, &raw);
    assert_true(p.req.has_token);
    assert_string_equal(p.req.token, "abc");
    kh_request_clear(&p.req);
    raw.vault_token = "xyz";
    parse(&p, &raw);
    assert_string_equal(p.req.token, "xyz");
    kh_request_clear(&p.req);
    memset(long_token, 'a', sizeof(long_token) - 1);
    long_token[KH_HTTP_TOKEN_BYTES_MAX] = '\0';
    raw.vault_token = long_token;
    parse(&p, &raw);
    assert_string_equal(p.req.token, long_token);
    kh_request_clear(&p.req);
    long_token[KH_HTTP_TOKEN_BYTES_MAX] = 'a';
    long_token[KH_HTTP_TOKEN_BYTES_MAX + 1] = '\0';
    parse(&p, &raw);
    assert_true(p.req.has_token);
    assert_string_equal(p.req.token, "");
    kh_request_clear(&p.req);
}

/* The query argument limit holds at max and refuses max + 1. */
static void test_query_count_limit(void **state)
{
    struct http_query_arg args[KH_HTTP_QUERY_ARGS_MAX + 1];
    char names[KH_HTTP_QUERY_ARGS_MAX + 1][8];
    struct http_raw_request raw = raw_default("GET", "/v1/x", NULL);
    struct parsed p;
    size_t i;

    for (i = 0; i <= KH_HTTP_QUERY_ARGS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "q%zu", i);
        args[i].name = names[i];
        args[i].value = "v";
    }
    raw.query = args;
    raw.query_count = KH_HTTP_QUERY_ARGS_MAX;
    parse(&p, &raw);
    assert_int_equal(p.r, 0);
    kh_request_clear(&p.req);
    raw.query_count = KH_HTTP_QUERY_ARGS_MAX + 1;
    parse(&p, &raw);
    assert_int_equal(p.r, KH_EINVAL);
    kh_request_clear(&p.req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_mapping),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_list_appends_slash),
        cmocka_unit_test(test_list_query_bools),
        cmocka_unit_test(test_paths_refused),
        cmocka_unit_test(test_path_length_limit),
        cmocka_unit_test(test_path_segment_limit),
        cmocka_unit_test(test_body_and_query),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_body_ignored_on_read),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_body_size_limit),
        cmocka_unit_test(test_patch_content_type),
        cmocka_unit_test(test_form_body),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_query_count_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
