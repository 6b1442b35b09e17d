/*
 * test_config.c - the configuration parser: HCL and JSON syntax (hcl.c),
 * the schema and merging (config.c), file and directory loading, limits at
 * max and max + 1, and durations (duration.c).
 *
 * Every error case asserts the exact "file:line:col: message" text, so a
 * wrong position fails the test. Files go under a fresh mkdtemp directory
 * below $KH_TEST_TMP (or /tmp), removed by the fixture.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"
#include "config/hcl.h"
#include "config/limits.h"

#define assert_contains(hay, needle)                                           \
    do {                                                                       \
        if (strstr((hay), (needle)) == NULL) {                                 \
            print_error("\"%s\"\n  does not contain \"%s\"\n", (hay),          \
                        (needle));                                             \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* ---- helpers ---------------------------------------------------------- */

static struct kh_config *parse_ok(const char *text)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_config *config = kh_config_new();
    int r;

    assert_non_null(config);
    r = kh_config_parse_text(config, text, strlen(text), "t.hcl", errmsg,
                             sizeof(errmsg));
    if (r != 0)
        print_error("unexpected error %d: %s\n", r, errmsg);
    assert_int_equal(r, 0);
    return config;
}

static void expect_error_len(const char *text, size_t len, const char *message)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_config *config = kh_config_new();
    int r;

    assert_non_null(config);
    r = kh_config_parse_text(config, text, len, "t.hcl", errmsg,
                             sizeof(errmsg));
    assert_int_equal(r, KH_ECONFIG);
    assert_contains(errmsg, message);
    kh_config_free(config);
}

static void expect_error(const char *text, const char *message)
{
    expect_error_len(text, strlen(text), message);
}

static struct kh_hcl_doc *hcl_ok(const char *text, size_t len)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_hcl_doc *doc = NULL;
    int r;

    r = kh_hcl_parse(text, len, "t.hcl", &doc, errmsg, sizeof(errmsg));
    if (r != 0)
        print_error("unexpected error %d: %s\n", r, errmsg);
    assert_int_equal(r, 0);
    assert_non_null(doc);
    return doc;
}

static void hcl_error(const char *text, size_t len, const char *message)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_hcl_doc *doc = NULL;

    assert_int_equal(
        kh_hcl_parse(text, len, "t.hcl", &doc, errmsg, sizeof(errmsg)),
        KH_ECONFIG);
    assert_null(doc);
    assert_contains(errmsg, message);
}

/* The first item of the root with the given key. */
static const struct kh_hcl_item *root_item(const struct kh_hcl_doc *doc,
                                           const char *key)
{
    const struct kh_hcl_item *item;

    for (item = kh_hcl_root(doc)->items; item != NULL; item = item->next)
        if (strcmp(item->key, key) == 0)
            return item;
    fail_msg("no item \"%s\"", key);
    return NULL;
}

static const char *string_value(const struct kh_hcl_doc *doc, const char *key)
{
    const struct kh_hcl_item *item = root_item(doc, key);

    assert_int_equal(item->value->type, KH_HCL_STRING);
    return item->value->text;
}

/* A malloc'ed buffer: prefix, n copies of c, suffix. */
static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t a = strlen(prefix);
    size_t b = strlen(suffix);
    char *s = malloc(a + n + b + 1);

    assert_non_null(s);
    memcpy(s, prefix, a);
    memset(s + a, c, n);
    memcpy(s + a + n, suffix, b + 1);
    return s;
}

/* n nested lists: "a = [[...]]" in HCL, {"a": [[...]]} in JSON. */
static char *nested_lists(size_t n, bool json)
{
    size_t len = 2 * n + 16;
    char *s = malloc(len);
    size_t i;
    size_t k;

    assert_non_null(s);
    k = (size_t)snprintf(s, len, "%s", json ? "{\"a\": " : "a = ");
    for (i = 0; i < n; i++)
        s[k++] = '[';
    for (i = 0; i < n; i++)
        s[k++] = ']';
    (void)snprintf(s + k, len - k, "%s", json ? "}" : "\n");
    return s;
}

/* ---- temporary directories ---------------------------------------------- */

struct tmp
{
    char dir[PATH_MAX - 64]; /* room for "/<name>" in a PATH_MAX buffer */
};

static int setup_tmp(void **state)
{
    const char *base = getenv("KH_TEST_TMP");
    struct tmp *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return -1;
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    (void)mkdir(base, 0700);
    if (snprintf(t->dir, sizeof(t->dir), "%s/kh-config-XXXXXX", base) >=
            (int)sizeof(t->dir) ||
        mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    return remove(path);
}

static int teardown_tmp(void **state)
{
    struct tmp *t = *state;
    int r = nftw(t->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);

    free(t);
    return r;
}

static void write_file(const char *dir, const char *name, const char *text,
                       size_t len)
{
    char path[PATH_MAX];
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    write_file(dir, name, text, strlen(text));
}

static int load_paths(const char *const *paths, size_t count,
                      struct kh_config **ret, char *errmsg)
{
    return kh_config_load(paths, count, ret, errmsg, KH_ERRMSG_SIZE);
}

/* ---- the reference configuration, in HCL and JSON ------------------------ */

static const char full_hcl[] =
    "# keyholdd test configuration\n"
    "api_addr = \"https://10.0.0.1:8200\"\n"
    "cluster_addr = \"https://10.0.0.1:8201\" // trailing comment\n"
    "/* a block\n"
    "   comment */\n"
    "disable_mlock = true\n"
    "ui = false\n"
    "log_level = \"debug\"\n"
    "log_format = \"json\"\n"
    "default_lease_ttl = \"1h30m\"\n"
    "max_lease_ttl = 86400\n"
    "listener \"tcp\" {\n"
    "  address = \"0.0.0.0:8200\"\n"
    "  cluster_address = \"0.0.0.0:8201\"\n"
    "  tls_cert_file = \"/etc/kh/cert.pem\"\n"
    "  tls_key_file = \"/etc/kh/key.pem\"\n"
    "  tls_min_version = \"tls13\"\n"
    "  max_request_size = 1048576\n"
    "}\n"
    "listener \"tcp\" {\n"
    "  address = \"127.0.0.1:8300\"\n"
    "  tls_disable = \"true\"\n"
    "}\n"
    "storage \"raft\" {\n"
    "  path = \"/var/lib/kh\"\n"
    "  node_id = \"node-1\"\n"
    "  performance_multiplier = 5\n"
    "  retry_join {\n"
    "    leader_api_addr = \"https://10.0.0.2:8200\"\n"
    "    leader_ca_cert_file = \"/etc/kh/ca.pem\"\n"
    "  }\n"
    "  retry_join {\n"
    "    leader_api_addr = \"https://10.0.0.3:8200\"\n"
    "  }\n"
    "}\n"
    "seal \"pkcs11\" {\n"
    "  lib = \"/usr/lib/softhsm/libsofthsm2.so\"\n"
    "  slot = 0\n"
    "  pin = \"12\\\"34\"\n"
    "  key_label = \"kh-root\"\n"
    "  generate_key = true\n"
    "}\n";

static const char full_json[] =
    "{\n"
    "  \"api_addr\": \"https://10.0.0.1:8200\",\n"
    "  \"cluster_addr\": \"https://10.0.0.1:8201\",\n"
    "  \"disable_mlock\": true,\n"
    "  \"ui\": false,\n"
    "  \"log_level\": \"debug\",\n"
    "  \"log_format\": \"json\",\n"
    "  \"default_lease_ttl\": \"1h30m\",\n"
    "  \"max_lease_ttl\": 86400,\n"
    "  \"listener\": [\n"
    "    {\"tcp\": {\"address\": \"0.0.0.0:8200\",\n"
    "             \"cluster_address\": \"0.0.0.0:8201\",\n"
    "             \"tls_cert_file\": \"/etc/kh/cert.pem\",\n"
    "             \"tls_key_file\": \"/etc/kh/key.pem\",\n"
    "             \"tls_min_version\": \"tls13\",\n"
    "             \"max_request_size\": 1048576}},\n"
    "    {\"tcp\": {\"address\": \"127.0.0.1:8300\", \"tls_disable\": "
    "\"true\"}}\n"
    "  ],\n"
    "  \"storage\": {\"raft\": {\n"
    "    \"path\": \"/var/lib/kh\", \"node_id\": \"node-1\",\n"
    "    \"performance_multiplier\": 5,\n"
    "    \"retry_join\": [\n"
    "      {\"leader_api_addr\": \"https://10.0.0.2:8200\",\n"
    "       \"leader_ca_cert_file\": \"/etc/kh/ca.pem\"},\n"
    "      {\"leader_api_addr\": \"https://10.0.0.3:8200\"}\n"
    "    ]}},\n"
    "  \"seal\": {\"pkcs11\": {\"lib\": \"/usr/lib/softhsm/libsofthsm2.so\",\n"
    "    \"slot\": 0, \"pin\": \"12\\\"34\", \"key_label\": \"kh-root\",\n"
    "    \"generate_key\": true}}\n"
    "}\n";

static void assert_str_equal_or_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_stanza_equal(const struct kh_config_stanza *a,
                                const struct kh_config_stanza *b)
{
    size_t i;

    assert_str_equal_or_null(a->type, b->type);
    assert_int_equal(a->param_count, b->param_count);
    for (i = 0; i < a->param_count; i++) {
        assert_string_equal(a->params[i].name, b->params[i].name);
        assert_string_equal(a->params[i].value, b->params[i].value);
    }
}

static void assert_config_equal(const struct kh_config *a,
                                const struct kh_config *b)
{
    size_t i;

    assert_int_equal(a->listener_count, b->listener_count);
    for (i = 0; i < a->listener_count; i++) {
        const struct kh_config_listener *x = &a->listeners[i];
        const struct kh_config_listener *y = &b->listeners[i];

        assert_str_equal_or_null(x->address, y->address);
        assert_str_equal_or_null(x->cluster_address, y->cluster_address);
        assert_int_equal(x->tls_disable, y->tls_disable);
        assert_str_equal_or_null(x->tls_cert_file, y->tls_cert_file);
        assert_str_equal_or_null(x->tls_key_file, y->tls_key_file);
        assert_int_equal(x->tls_min_version, y->tls_min_version);
        assert_int_equal(x->max_request_size, y->max_request_size);
    }
    assert_stanza_equal(&a->storage, &b->storage);
    assert_stanza_equal(&a->seal, &b->seal);
    assert_str_equal_or_null(a->api_addr, b->api_addr);
    assert_str_equal_or_null(a->cluster_addr, b->cluster_addr);
    assert_int_equal(a->disable_mlock, b->disable_mlock);
    assert_str_equal_or_null(a->log_level, b->log_level);
    assert_str_equal_or_null(a->log_format, b->log_format);
    assert_int_equal(a->ui, b->ui);
    assert_int_equal(a->default_lease_ttl_s, b->default_lease_ttl_s);
    assert_int_equal(a->max_lease_ttl_s, b->max_lease_ttl_s);
}

/* ---- syntax (hcl.c) ----------------------------------------------------- */

/* Every node and item carries its line and column. */
static void test_hcl_tree_positions(void **state)
{
    static const char text[] = "a = 1\n"
                               "listener \"tcp\" {\n"
                               "  x = [1, \"two\", true,]\n"
                               "}\n";
    struct kh_hcl_doc *doc = hcl_ok(text, strlen(text));
    const struct kh_hcl_item *a = root_item(doc, "a");
    const struct kh_hcl_item *l = root_item(doc, "listener");
    const struct kh_hcl_item *x = l->value->items;
    const struct kh_hcl_node *e;

    assert_false(kh_hcl_is_json(doc));
    assert_int_equal(kh_hcl_root(doc)->count, 2);
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 1);
    assert_int_equal(a->value->type, KH_HCL_NUMBER);
    assert_string_equal(a->value->text, "1");
    assert_int_equal(a->value->col, 5);
    assert_true(l->is_block);
    assert_int_equal(l->label_count, 1);
    assert_string_equal(l->labels->text, "tcp");
    assert_int_equal(l->labels->line, 2);
    assert_int_equal(l->labels->col, 10);
    assert_int_equal(l->value->type, KH_HCL_OBJECT);
    assert_int_equal(l->value->col, 16);
    assert_string_equal(x->key, "x");
    assert_int_equal(x->line, 3);
    assert_int_equal(x->col, 3);
    assert_int_equal(x->value->type, KH_HCL_LIST);
    assert_int_equal(x->value->count, 3);
    e = x->value->elems;
    assert_int_equal(e->type, KH_HCL_NUMBER);
    assert_int_equal(e->next->type, KH_HCL_STRING);
    assert_string_equal(e->next->text, "two");
    assert_int_equal(e->next->col, 11);
    assert_int_equal(e->next->next->type, KH_HCL_BOOL);
    assert_true(e->next->next->boolean);
    assert_null(e->next->next->next);
    kh_hcl_free(doc);
}

/* String escapes decode, \u including surrogate pairs to UTF-8. */
static void test_hcl_string_escapes(void **state)
{
    static const char text[] =
        "s = \"q\\\"b\\\\ n\\n t\\t r\\r s\\/ e\\u00e9 x\\ud83d\\ude00\"\n"
        "\"quoted key\" = \"${not.interpolated}\"\n";
    struct kh_hcl_doc *doc = hcl_ok(text, strlen(text));

    assert_string_equal(string_value(doc, "s"),
                        "q\"b\\ n\n t\t r\r s/ e\xc3\xa9 x\xf0\x9f\x98\x80");
    assert_string_equal(string_value(doc, "quoted key"), "${not.interpolated}");
    kh_hcl_free(doc);
}

/* Integers, negatives, decimals and exponents keep their literal text. */
static void test_hcl_numbers_and_bools(void **state)
{
    static const char text[] = "i = 42\nn = -7\nd = 3.25\ne = 1e3\n"
                               "t = true\nf = false\n";
    struct kh_hcl_doc *doc = hcl_ok(text, strlen(text));
    static const char *const keys[] = {"i", "n", "d", "e"};
    static const char *const literals[] = {"42", "-7", "3.25", "1e3"};
    size_t k;

    for (k = 0; k < 4; k++) {
        const struct kh_hcl_item *item = root_item(doc, keys[k]);

        assert_int_equal(item->value->type, KH_HCL_NUMBER);
        assert_string_equal(item->value->text, literals[k]);
    }
    assert_int_equal(root_item(doc, "t")->value->type, KH_HCL_BOOL);
    assert_true(root_item(doc, "t")->value->boolean);
    assert_false(root_item(doc, "f")->value->boolean);
    kh_hcl_free(doc);
}

/* Lists (trailing comma, nesting, empty) and objects as values. */
static void test_hcl_lists_and_objects(void **state)
{
    static const char text[] = "l = [\"a\", [1, 2], [], {k = \"v\"},]\n"
                               "o = { a = 1, b = { c = \"d\" } }\n"
                               "p = {}\n";
    struct kh_hcl_doc *doc = hcl_ok(text, strlen(text));
    const struct kh_hcl_node *l = root_item(doc, "l")->value;
    const struct kh_hcl_node *o = root_item(doc, "o")->value;

    assert_int_equal(l->count, 4);
    assert_int_equal(l->elems->next->type, KH_HCL_LIST);
    assert_int_equal(l->elems->next->count, 2);
    assert_int_equal(l->elems->next->next->count, 0);
    assert_int_equal(l->elems->next->next->next->type, KH_HCL_OBJECT);
    assert_string_equal(l->elems->next->next->next->items->value->text, "v");
    assert_int_equal(o->type, KH_HCL_OBJECT);
    assert_false(root_item(doc, "o")->is_block);
    assert_int_equal(o->count, 2);
    assert_string_equal(o->items->next->value->items->value->text, "d");
    assert_int_equal(root_item(doc, "p")->value->count, 0);
    kh_hcl_free(doc);
}

/* <<EOF keeps text verbatim; <<-EOF strips the closing line's indent. */
static void test_hcl_heredocs(void **state)
{
    static const char text[] = "a = <<EOF\n"
                               "line1\n"
                               "  line2\n"
                               "EOF\n"
                               "b = <<-EOT\n"
                               "    x\n"
                               "\n"
                               "      y\n"
                               "    EOT\n"
                               "c = <<-EOT\n"
                               "  short\n"
                               "    EOT\n"
                               "d = <<E\n"
                               "E\n"
                               "e = 1\n";
    struct kh_hcl_doc *doc = hcl_ok(text, strlen(text));

    assert_string_equal(string_value(doc, "a"), "line1\n  line2\n");
    assert_string_equal(string_value(doc, "b"), "x\n\n  y\n");
    assert_string_equal(string_value(doc, "c"), "  short\n");
    assert_string_equal(string_value(doc, "d"), "");
    assert_int_equal(root_item(doc, "e")->line, 15);
    kh_hcl_free(doc);
}

/* #, // and block comments anywhere whitespace may be, even at EOF. */
static void test_hcl_comments(void **state)
{
    static const char text[] = "# one\n"
                               "a /* in */ = /* the */ 1 // middle\n"
                               "/* multi\n line */ b = [1, # inside\n 2]\n"
                               "// last, no newline";
    struct kh_hcl_doc *doc = hcl_ok(text, strlen(text));

    assert_string_equal(root_item(doc, "a")->value->text, "1");
    assert_int_equal(root_item(doc, "b")->line, 4);
    assert_int_equal(root_item(doc, "b")->col, 10);
    assert_int_equal(root_item(doc, "b")->value->count, 2);
    kh_hcl_free(doc);
}

/* A document whose first non-space byte is '{' is JSON. */
static void test_hcl_json_tree(void **state)
{
    static const char text[] = "\n  {\"a\": {\"b\": [1, -2.5, null2]}}";
    static const char good[] = "\n  {\"a\": {\"b\": [1, -2.5]},\n\"c\": \"d\"}";
    struct kh_hcl_doc *doc = hcl_ok(good, strlen(good));
    const struct kh_hcl_item *a = root_item(doc, "a");

    assert_true(kh_hcl_is_json(doc));
    assert_int_equal(kh_hcl_root(doc)->line, 2);
    assert_int_equal(kh_hcl_root(doc)->col, 3);
    assert_int_equal(a->line, 2);
    assert_int_equal(a->col, 4);
    assert_false(a->is_block);
    assert_int_equal(a->value->items->value->count, 2);
    assert_string_equal(string_value(doc, "c"), "d");
    assert_int_equal(root_item(doc, "c")->line, 3);
    kh_hcl_free(doc);
    hcl_error(text, strlen(text),
              "t.hcl:2:25: unexpected identifier \"null2\", expected a value");
}

/* Syntax errors name the exact line and column. */
static void test_hcl_syntax_errors(void **state)
{
    static const struct
    {
        const char *text;
        const char *message;
    } cases[] = {
        {"a = \"abc\n", "t.hcl:1:9: newline in string"},
        {"a = \"abc", "t.hcl:1:5: unterminated string"},
        {"x = 1\n  /* open\n", "t.hcl:2:3: unterminated /* comment"},
        {"a = 1\nb = <<EOF\nxx\n", "t.hcl:2:5: unterminated heredoc"},
        {"b = <<\nx\n", "t.hcl:1:5: expected a heredoc marker"},
        {"a 1", "t.hcl:1:3: unexpected number, expected '=' or '{'"},
        {"}", "t.hcl:1:1: unexpected '}', expected a key"},
        {"a = \"x\\qy\"", "t.hcl:1:7: invalid escape sequence"},
        {"a = \"\\u12\"", "t.hcl:1:6: expected 4 hex digits after \\u"},
        {"a = \"\\ud800x\"", "t.hcl:1:6: unpaired surrogate \\ud800"},
        {"a = \"\\udc00\"", "t.hcl:1:6: unpaired surrogate \\udc00"},
        {"a = \"\\u0000\"", "t.hcl:1:6: \\u0000 is not allowed"},
        {"a = [1 2]", "t.hcl:1:8: unexpected number, expected ',' or ']'"},
        {"a = [,]", "t.hcl:1:6: unexpected ',', expected a value"},
        {"a = foo", "t.hcl:1:5: unexpected identifier \"foo\""},
        {"a = 1.\n", "t.hcl:1:5: malformed number"},
        {"a = 12ab\n", "t.hcl:1:5: malformed number"},
        {"a = -\n", "t.hcl:1:5: malformed number"},
        {"x = {\n", "t.hcl:2:1: unexpected end of file, expected '}'"},
        {"x = [\n", "t.hcl:2:1: unexpected end of file"},
        {"a \"b\" = 1", "t.hcl:1:7: unexpected '=', expected '{' after"},
        {"a = @", "t.hcl:1:5: unexpected character '@'"},
        {"a = 1\n\t\xff", "t.hcl:2:2: unexpected byte 0xff"},
        {"a : 1", "t.hcl:1:3: unexpected ':', expected '=' or '{'"},
        {"a = \"x\x01\"", "t.hcl:1:7: control character in string"},
        {"{\"a\": 1,}", "t.hcl:1:9: unexpected '}', expected a key after"},
        {"{\n  \"a\" 1\n}", "t.hcl:2:7: unexpected number, expected ':'"},
        {"{\"a\": 1} x", "t.hcl:1:10: unexpected identifier \"x\""},
        {"{\"a\": 1 \"b\": 2}", "t.hcl:1:9: unexpected string, expected ','"},
        {"{a: 1}", "t.hcl:1:2: unexpected identifier \"a\", expected a str"},
        {"{\"a\" = 1}", "t.hcl:1:6: unexpected '=', expected ':'"},
        {"{\"a\": [1,]}", "t.hcl:1:10: unexpected ']', expected a value"},
        {"{\"a\": 1 # c\n}", "t.hcl:1:9: unexpected character '#'"},
        {"{\"a\": <<EOF\nx\nEOF\n}", "t.hcl:1:7: unexpected character '<'"},
        {"{\"a\": 1", "t.hcl:1:8: unexpected end of file, expected '}'"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        hcl_error(cases[i].text, strlen(cases[i].text), cases[i].message);
}

/* A NUL byte is never accepted: not bare, not in a heredoc. */
static void test_hcl_nul_bytes(void **state)
{
    static const char bare[] = "a = 1\n\0";
    static const char heredoc[] = "a = <<EOF\nx\0y\nEOF\n";
    static const char string[] = "a = \"x\0\"";

    hcl_error(bare, sizeof(bare) - 1, "t.hcl:2:1: unexpected byte 0x00");
    hcl_error(heredoc, sizeof(heredoc) - 1, "t.hcl:1:5: NUL byte in heredoc");
    hcl_error(string, sizeof(string) - 1,
              "t.hcl:1:7: control character in string");
}

/* Nesting at KH_CONFIG_DEPTH_MAX parses; one more level is an error. */
static void test_limit_depth(void **state)
{
    char *hcl_max = nested_lists(KH_CONFIG_DEPTH_MAX - 1, false);
    char *hcl_over = nested_lists(KH_CONFIG_DEPTH_MAX, false);
    char *json_max = nested_lists(KH_CONFIG_DEPTH_MAX - 1, true);
    char *json_over = nested_lists(KH_CONFIG_DEPTH_MAX, true);
    char message[64];

    kh_hcl_free(hcl_ok(hcl_max, strlen(hcl_max)));
    kh_hcl_free(hcl_ok(json_max, strlen(json_max)));
    (void)snprintf(message, sizeof(message),
                   "t.hcl:1:%d: nesting deeper than %d levels",
                   4 + KH_CONFIG_DEPTH_MAX, KH_CONFIG_DEPTH_MAX);
    hcl_error(hcl_over, strlen(hcl_over), message);
    (void)snprintf(message, sizeof(message),
                   "t.hcl:1:%d: nesting deeper than %d levels",
                   6 + KH_CONFIG_DEPTH_MAX, KH_CONFIG_DEPTH_MAX);
    hcl_error(json_over, strlen(json_over), message);
    expect_error(hcl_over, "nesting deeper than");
    free(hcl_max);
    free(hcl_over);
    free(json_max);
    free(json_over);
}

/* A string of KH_CONFIG_STRING_BYTES_MAX bytes parses; one more fails,
 * quoted or as a heredoc. */
static void test_limit_string_size(void **state)
{
    char *at_max = repeat("a = \"", 'x', KH_CONFIG_STRING_BYTES_MAX, "\"");
    char *over = repeat("a = \"", 'x', KH_CONFIG_STRING_BYTES_MAX + 1, "\"");
    char *here = repeat("a = <<E\n", 'x', KH_CONFIG_STRING_BYTES_MAX, "\nE");
    struct kh_hcl_doc *doc = hcl_ok(at_max, strlen(at_max));

    assert_int_equal(root_item(doc, "a")->value->text_len,
                     KH_CONFIG_STRING_BYTES_MAX);
    kh_hcl_free(doc);
    hcl_error(over, strlen(over), "t.hcl:1:5: string longer than");
    hcl_error(here, strlen(here), "t.hcl:1:5: string longer than");
    free(at_max);
    free(over);
    free(here);
}

/* A document of KH_CONFIG_FILE_BYTES_MAX bytes is accepted; one more byte
 * is refused before parsing. */
static void test_limit_file_size(void **state)
{
    const char *head = "ui = true\n#";
    char *text = repeat(head, 'x', KH_CONFIG_FILE_BYTES_MAX - strlen(head), "");
    struct kh_config *config;

    assert_int_equal(strlen(text), KH_CONFIG_FILE_BYTES_MAX);
    config = parse_ok(text);
    assert_true(config->ui);
    kh_config_free(config);
    free(text);
    text = repeat(head, 'x', KH_CONFIG_FILE_BYTES_MAX + 1 - strlen(head), "");
    expect_error(text, "t.hcl: file is larger than 1048576 bytes");
    free(text);
}

/* ---- schema (config.c) -------------------------------------------------- */

/* Defaults: no listeners, NULL strings, TLS 1.2 and the body cap. */
static void test_config_defaults(void **state)
{
    struct kh_config *config = kh_config_new();

    assert_non_null(config);
    assert_int_equal(config->listener_count, 0);
    assert_null(config->log_level);
    assert_null(config->storage.type);
    assert_null(config->seal.type);
    assert_int_equal(config->listeners[0].tls_min_version, 12);
    assert_int_equal(config->listeners[0].max_request_size,
                     KH_HTTP_BODY_BYTES_DEFAULT);
    assert_null(kh_config_param(&config->storage, "path"));
    kh_config_free(config);
    kh_config_free(NULL);
}

/* The reference HCL fills every field. */
static void test_config_full_hcl(void **state)
{
    struct kh_config *c = parse_ok(full_hcl);

    assert_string_equal(c->api_addr, "https://10.0.0.1:8200");
    assert_string_equal(c->cluster_addr, "https://10.0.0.1:8201");
    assert_true(c->disable_mlock);
    assert_false(c->ui);
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->log_format, "json");
    assert_int_equal(c->default_lease_ttl_s, 5400);
    assert_int_equal(c->max_lease_ttl_s, 86400);
    assert_int_equal(c->listener_count, 2);
    assert_string_equal(c->listeners[0].address, "0.0.0.0:8200");
    assert_string_equal(c->listeners[0].cluster_address, "0.0.0.0:8201");
    assert_false(c->listeners[0].tls_disable);
    assert_string_equal(c->listeners[0].tls_cert_file, "/etc/kh/cert.pem");
    assert_string_equal(c->listeners[0].tls_key_file, "/etc/kh/key.pem");
    assert_int_equal(c->listeners[0].tls_min_version, 13);
    assert_int_equal(c->listeners[0].max_request_size, 1048576);
    assert_true(c->listeners[1].tls_disable);
    assert_int_equal(c->listeners[1].tls_min_version, 12);
    assert_int_equal(c->listeners[1].max_request_size,
                     KH_HTTP_BODY_BYTES_DEFAULT);
    assert_null(c->listeners[1].cluster_address);
    assert_string_equal(c->storage.type, "raft");
    assert_int_equal(c->storage.param_count, 6);
    assert_string_equal(kh_config_param(&c->storage, "path"), "/var/lib/kh");
    assert_string_equal(kh_config_param(&c->storage, "performance_multiplier"),
                        "5");
    assert_string_equal(
        kh_config_param(&c->storage, "retry_join.0.leader_api_addr"),
        "https://10.0.0.2:8200");
    assert_string_equal(
        kh_config_param(&c->storage, "retry_join.0.leader_ca_cert_file"),
        "/etc/kh/ca.pem");
    assert_string_equal(
        kh_config_param(&c->storage, "retry_join.1.leader_api_addr"),
        "https://10.0.0.3:8200");
    assert_null(kh_config_param(&c->storage, "retry_join.2.leader_api_addr"));
    assert_string_equal(c->seal.type, "pkcs11");
    assert_string_equal(kh_config_param(&c->seal, "slot"), "0");
    assert_string_equal(kh_config_param(&c->seal, "pin"), "12\"34");
    assert_string_equal(kh_config_param(&c->seal, "generate_key"), "true");
    assert_null(kh_config_param(&c->seal, "token_label"));
    assert_null(kh_config_param(&c->seal, NULL));
    kh_config_free(c);
}

/* Vault's JSON form gives exactly the same config as the HCL. */
static void test_config_json_equals_hcl(void **state)
{
    struct kh_config *h = parse_ok(full_hcl);
    struct kh_config *j = parse_ok(full_json);

    assert_config_equal(h, j);
    kh_config_free(h);
    kh_config_free(j);
}

/* Every way of writing a labelled block gives the same listeners. */
static void test_config_block_forms(void **state)
{
    static const char *const forms[] = {
        "listener \"tcp\" { tls_disable = true }\n"
        "listener tcp { tls_disable = true }\n",
        "listener { tcp { tls_disable = true } }\n"
        "listener = { tcp = { tls_disable = true } }\n",
        "listener = [{ tcp = { tls_disable = true } },\n"
        "            { tcp = { tls_disable = true } }]\n",
        "{\"listener\": {\"tcp\": [{\"tls_disable\": true},\n"
        "                       {\"tls_disable\": true}]}}",
        "{\"listener\": [{\"tcp\": {\"tls_disable\": true}},\n"
        "               {\"tcp\": {\"tls_disable\": true}}]}",
    };
    size_t i;

    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct kh_config *c = parse_ok(forms[i]);

        assert_int_equal(c->listener_count, 2);
        assert_string_equal(c->listeners[1].address, "127.0.0.1:8200");
        assert_true(c->listeners[1].tls_disable);
        kh_config_free(c);
    }
}

/* tls_disable takes true/false, "true"/"false", 1/0 as Vault does. */
static void test_config_bool_forms(void **state)
{
    static const struct
    {
        const char *value;
        bool expected;
    } cases[] = {
        {"true", true},   {"\"true\"", true},   {"1", true},  {"\"1\"", true},
        {"false", false}, {"\"false\"", false}, {"0", false}, {"\"0\"", false},
    };
    char text[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kh_config *c;

        (void)snprintf(text, sizeof(text),
                       "listener \"tcp\" {\n  tls_disable = %s\n"
                       "  tls_cert_file = \"c\"\n  tls_key_file = \"k\"\n}\n",
                       cases[i].value);
        c = parse_ok(text);
        assert_int_equal(c->listeners[0].tls_disable, cases[i].expected);
        kh_config_free(c);
    }
    expect_error("listener \"tcp\" {\n  tls_disable = 2\n}\n",
                 "t.hcl:2:17: expected a boolean for \"tls_disable\"");
    expect_error("listener \"tcp\" {\n  tls_disable = \"yes\"\n}\n",
                 "t.hcl:2:17: expected a boolean for \"tls_disable\"");
    expect_error("ui = [true]", "t.hcl:1:6: expected a boolean for \"ui\"");
}

/* Durations in the config: numbers and strings, HCL and JSON. */
static void test_config_durations(void **state)
{
    struct kh_config *c = parse_ok("default_lease_ttl = 3600\n"
                                   "max_lease_ttl = \"7d\"\n");

    assert_int_equal(c->default_lease_ttl_s, 3600);
    assert_int_equal(c->max_lease_ttl_s, 604800);
    kh_config_free(c);
    c = parse_ok("{\"default_lease_ttl\": 90, \"max_lease_ttl\": \"1d12h\"}");
    assert_int_equal(c->default_lease_ttl_s, 90);
    assert_int_equal(c->max_lease_ttl_s, 129600);
    kh_config_free(c);
    expect_error("max_lease_ttl = \"soon\"",
                 "t.hcl:1:17: invalid duration \"soon\" for \"max_lease_ttl\"");
    expect_error("max_lease_ttl = -5",
                 "t.hcl:1:17: invalid duration \"-5\" for \"max_lease_ttl\"");
    expect_error("default_lease_ttl = true",
                 "t.hcl:1:21: expected a duration for \"default_lease_ttl\"");
}

/* Unknown keys are errors at every level, with the block named. */
static void test_config_unknown_keys(void **state)
{
    expect_error("ui = true\nfoo = 1\n",
                 "t.hcl:2:1: unknown key \"foo\" at top level");
    expect_error("listener \"tcp\" {\n  tls_disable = true\n  foo = 1\n}\n",
                 "t.hcl:3:3: unknown key \"foo\" in listener \"tcp\" block");
    expect_error("storage \"lmdb\" {\n path = \"/x\"\n bogus = 1\n}\n",
                 "t.hcl:3:2: unknown key \"bogus\" in storage \"lmdb\" block");
    expect_error("storage \"inmem\" {\n path = \"/x\"\n}\n",
                 "t.hcl:2:2: unknown key \"path\" in storage \"inmem\" block");
    expect_error("seal \"pkcs11\" {\n  colour = \"red\"\n}\n",
                 "t.hcl:2:3: unknown key \"colour\" in seal \"pkcs11\" block");
    expect_error("seal \"tpm2\" { pcrs = \"0,7\", slot = 1 }\n",
                 "t.hcl:1:29: unknown key \"slot\" in seal \"tpm2\" block");
    expect_error("storage \"raft\" {\n  path = \"/r\"\n  retry_join {\n"
                 "    leader = \"x\"\n  }\n}\n",
                 "t.hcl:4:5: unknown key \"leader\" in retry_join block");
    expect_error("storage \"lmdb\" {\n  path = \"/r\"\n  retry_join {}\n}\n",
                 "t.hcl:3:3: unknown key \"retry_join\" in storage \"lmdb\"");
    expect_error("{\n  \"listener\": {\"tcp\": {\"tls_disable\": true, "
                 "\"bogus\": 1}}\n}",
                 "t.hcl:2:45: unknown key \"bogus\" in listener \"tcp\" block");
}

/* Unknown backend and listener types are named in the error. */
static void test_config_unknown_types(void **state)
{
    expect_error("storage \"consul\" {}",
                 "t.hcl:1:9: unknown storage type \"consul\" "
                 "(expected lmdb, raft or inmem)");
    expect_error("seal \"awskms\" {}",
                 "t.hcl:1:6: unknown seal type \"awskms\" "
                 "(expected shamir, pkcs11 or tpm2)");
    expect_error("{\"seal\": {\"transit\": {}}}",
                 "t.hcl:1:11: unknown seal type \"transit\"");
    expect_error("listener \"unix\" {}",
                 "t.hcl:1:10: unsupported listener type \"unix\"");
}

/* Values of the wrong type are reported at the value. */
static void test_config_wrong_types(void **state)
{
    expect_error("listener \"tcp\" {\n  address = 8200\n}\n",
                 "t.hcl:2:13: expected a string for \"address\"");
    expect_error("api_addr = { a = 1 }",
                 "t.hcl:1:12: expected a string for \"api_addr\"");
    expect_error("log_level \"x\" {}",
                 "t.hcl:1:15: expected a string for \"log_level\"");
    expect_error("log_format = \"xml\"",
                 "t.hcl:1:14: invalid value \"xml\" for \"log_format\"");
    expect_error("log_level = \"loud\"",
                 "t.hcl:1:13: invalid value \"loud\" for \"log_level\"");
    expect_error("listener \"tcp\" { tls_min_version = \"tls11\" }",
                 "t.hcl:1:36: expected \"tls12\" or \"tls13\"");
    expect_error("listener \"tcp\" { max_request_size = \"big\" }",
                 "t.hcl:1:37: expected a non-negative integer");
    expect_error("listener \"tcp\" { max_request_size = -1 }",
                 "t.hcl:1:37: expected a non-negative integer");
    expect_error("listener \"tcp\" { max_request_size = 268435457 }",
                 "t.hcl:1:37: \"max_request_size\" must be at most");
    expect_error("storage \"lmdb\" { path = [\"/a\"] }",
                 "t.hcl:1:25: expected a string, number or boolean for "
                 "\"path\"");
    expect_error("listener = \"tcp\"",
                 "t.hcl:1:12: expected a block for \"listener\"");
    expect_error("listener = { tcp = 1 }",
                 "t.hcl:1:20: expected a block for \"listener\"");
    expect_error("storage \"raft\" \"x\" {}",
                 "t.hcl:1:16: \"storage\" takes exactly one label");
    expect_error("storage \"raft\" { path = \"/r\"\n retry_join \"a\" {} }",
                 "t.hcl:2:13: \"retry_join\" takes no label");
}

/* Stanza values: numbers and booleans are kept as text. */
static void test_config_stanza_rendering(void **state)
{
    struct kh_config *c = parse_ok(
        "storage \"lmdb\" {\n  path = \"/x\"\n  map_size = 1.5e3\n}\n"
        "seal \"tpm2\" {\n  tcti = \"swtpm:port=2321\"\n  pcrs = \"0,7\"\n"
        "  pcr_bank = \"sha256\"\n}\n");

    assert_string_equal(kh_config_param(&c->storage, "map_size"), "1.5e3");
    assert_string_equal(kh_config_param(&c->seal, "tcti"), "swtpm:port=2321");
    assert_int_equal(c->seal.param_count, 3);
    kh_config_free(c);
    c = parse_ok("storage \"inmem\" {}\nseal \"shamir\" {}\n");
    assert_string_equal(c->storage.type, "inmem");
    assert_int_equal(c->storage.param_count, 0);
    assert_string_equal(c->seal.type, "shamir");
    kh_config_free(c);
}

/* Required values: storage path, TLS files unless tls_disable. */
static void test_config_required(void **state)
{
    expect_error("storage \"lmdb\" {\n  map_size = 1\n}\n",
                 "t.hcl:1:9: storage \"lmdb\" block needs \"path\"");
    expect_error("{\"storage\": {\"raft\": {\"node_id\": \"a\"}}}",
                 "t.hcl:1:14: storage \"raft\" block needs \"path\"");
    expect_error("listener \"tcp\" {\n  tls_cert_file = \"c\"\n}\n",
                 "t.hcl:1:10: listener \"tcp\" needs tls_cert_file and "
                 "tls_key_file unless tls_disable is true");
}

/* A stanza or key twice in one file is an error; later files override. */
static void test_config_duplicates(void **state)
{
    expect_error("storage \"inmem\" {}\nstorage \"lmdb\" { path = \"/x\" }\n",
                 "t.hcl:2:9: duplicate storage stanza");
    expect_error("{\"seal\": {\"shamir\": {}, \"pkcs11\": {}}}",
                 "t.hcl:1:25: duplicate seal stanza");
    expect_error("ui = true\nui = false\n",
                 "t.hcl:2:1: duplicate key \"ui\" at top level");
    expect_error("listener \"tcp\" {\n tls_disable = true\n tls_disable = 1\n}",
                 "t.hcl:3:2: duplicate key \"tls_disable\" in listener");
    expect_error("seal \"pkcs11\" {\n pin = \"1\"\n pin = \"2\"\n}",
                 "t.hcl:3:2: duplicate key \"pin\" in seal \"pkcs11\" block");
}

/* Later documents override scalars and stanzas; listeners accumulate; a
 * failing document leaves the config as it was. */
static void test_config_merge(void **state)
{
    static const char first[] =
        "ui = true\nlog_level = \"info\"\n"
        "storage \"lmdb\" { path = \"/a\" }\nseal \"shamir\" {}\n"
        "listener \"tcp\" { tls_disable = true }\n";
    static const char second[] =
        "{\"log_level\": \"warn\", \"storage\": {\"inmem\": {}},\n"
        " \"listener\": {\"tcp\": {\"address\": \"0.0.0.0:1\", "
        "\"tls_disable\": 1}}}";
    static const char bad[] = "log_level = \"error\"\n"
                              "storage \"raft\" { path = \"/r\" }\nfoo = 1\n";
    struct kh_config *c = kh_config_new();
    char errmsg[KH_ERRMSG_SIZE];

    assert_int_equal(kh_config_parse_text(c, first, strlen(first), "1.hcl",
                                          errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(kh_config_parse_text(c, second, strlen(second), "2.json",
                                          errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(kh_config_parse_text(c, bad, strlen(bad), "3.hcl", errmsg,
                                          sizeof(errmsg)),
                     KH_ECONFIG);
    assert_string_equal(errmsg, "3.hcl:3:1: unknown key \"foo\" at top level");
    assert_true(c->ui);
    assert_string_equal(c->log_level, "warn");
    assert_string_equal(c->storage.type, "inmem");
    assert_null(kh_config_param(&c->storage, "path"));
    assert_string_equal(c->seal.type, "shamir");
    assert_int_equal(c->listener_count, 2);
    assert_string_equal(c->listeners[0].address, "127.0.0.1:8200");
    assert_string_equal(c->listeners[1].address, "0.0.0.0:1");
    kh_config_free(c);
}

/* KH_CONFIG_LISTENERS_MAX listeners load; one more is an error, in one
 * file or across files. */
static void test_limit_listeners(void **state)
{
    static const char one[] = "listener \"tcp\" { tls_disable = true }\n";
    char text[1024] = "";
    char errmsg[KH_ERRMSG_SIZE];
    char message[64];
    struct kh_config *c;
    size_t i;

    for (i = 0; i < KH_CONFIG_LISTENERS_MAX; i++)
        strcat(text, one);
    c = parse_ok(text);
    assert_int_equal(c->listener_count, KH_CONFIG_LISTENERS_MAX);
    assert_int_equal(kh_config_parse_text(c, one, strlen(one), "more.hcl",
                                          errmsg, sizeof(errmsg)),
                     KH_ECONFIG);
    assert_string_equal(errmsg, "more.hcl:1:10: more than 8 listeners");
    assert_int_equal(c->listener_count, KH_CONFIG_LISTENERS_MAX);
    kh_config_free(c);
    strcat(text, one);
    (void)snprintf(message, sizeof(message),
                   "t.hcl:%d:10: more than %d listeners",
                   KH_CONFIG_LISTENERS_MAX + 1, KH_CONFIG_LISTENERS_MAX);
    expect_error(text, message);
}

/* A raft stanza with path + n retry_join addresses: n + 1 parameters. */
static char *raft_with_joins(size_t n)
{
    size_t cap = 64 + n * 64;
    char *text = malloc(cap);
    size_t k;
    size_t i;

    assert_non_null(text);
    k = (size_t)snprintf(text, cap, "storage \"raft\" {\n  path = \"/r\"\n");
    for (i = 0; i < n; i++)
        k += (size_t)snprintf(text + k, cap - k,
                              "  retry_join { leader_api_addr = \"h%zu\" }\n",
                              i);
    (void)snprintf(text + k, cap - k, "}\n");
    return text;
}

/* KH_CONFIG_PARAMS_MAX stanza parameters load; one more is an error. */
static void test_limit_params(void **state)
{
    char *at_max = raft_with_joins(KH_CONFIG_PARAMS_MAX - 1);
    char *over = raft_with_joins(KH_CONFIG_PARAMS_MAX);
    struct kh_config *c = parse_ok(at_max);
    char name[64];
    char message[96];

    assert_int_equal(c->storage.param_count, KH_CONFIG_PARAMS_MAX);
    (void)snprintf(name, sizeof(name), "retry_join.%d.leader_api_addr",
                   KH_CONFIG_PARAMS_MAX - 2);
    assert_string_equal(kh_config_param(&c->storage, name), "h62");
    kh_config_free(c);
    (void)snprintf(message, sizeof(message),
                   "t.hcl:%d:16: more than %d parameters in storage \"raft\"",
                   KH_CONFIG_PARAMS_MAX + 2, KH_CONFIG_PARAMS_MAX);
    expect_error(over, message);
    free(at_max);
    free(over);
}

/* ---- files and directories ---------------------------------------------- */

/* A directory loads its *.hcl and *.json in name order, skipping others;
 * the later file overrides the earlier. */
static void test_load_directory_merge(void **state)
{
    struct tmp *t = *state;
    static const char base[] = "ui = true\nlog_level = \"info\"\n"
                               "storage \"lmdb\" { path = \"/a\" }\n"
                               "listener \"tcp\" { tls_disable = true }\n";
    static const char over[] = "{\"log_level\": \"debug\",\n"
                               " \"storage\": {\"inmem\": {}},\n"
                               " \"listener\": {\"tcp\": {\"address\": "
                               "\"0.0.0.0:2\", \"tls_disable\": true}}}\n";
    const char *paths[] = {t->dir};
    char sub[PATH_MAX];
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_config *c = NULL;

    write_text(t->dir, "20-override.json", over);
    write_text(t->dir, "10-base.hcl", base);
    write_text(t->dir, "README.txt", "not = [config");
    (void)snprintf(sub, sizeof(sub), "%s/30-dir.hcl", t->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(load_paths(paths, 1, &c, errmsg), 0);
    assert_true(c->ui);
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->storage.type, "inmem");
    assert_int_equal(c->listener_count, 2);
    assert_string_equal(c->listeners[0].address, "127.0.0.1:8200");
    assert_string_equal(c->listeners[1].address, "0.0.0.0:2");
    kh_config_free(c);
}

/* Several paths (file and file) merge in the given order. */
static void test_load_files_in_order(void **state)
{
    struct tmp *t = *state;
    char a[PATH_MAX];
    char b[PATH_MAX];
    const char *paths[] = {b, a};
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_config *c = NULL;

    write_text(t->dir, "a.hcl", "api_addr = \"a\"\n");
    write_text(t->dir, "b.conf", "api_addr = \"b\"\n");
    (void)snprintf(a, sizeof(a), "%s/a.hcl", t->dir);
    (void)snprintf(b, sizeof(b), "%s/b.conf", t->dir);
    assert_int_equal(load_paths(paths, 2, &c, errmsg), 0);
    assert_string_equal(c->api_addr, "a");
    kh_config_free(c);
}

/* An error in a file names that file's path, line and column. */
static void test_load_error_names_file(void **state)
{
    struct tmp *t = *state;
    const char *paths[] = {t->dir};
    char expected[PATH_MAX + 64];
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_config *c = NULL;

    write_text(t->dir, "1.hcl", "ui = true\n");
    write_text(t->dir, "2.hcl", "ui = true\n\n  listener \"tcp\" {}\n");
    assert_int_equal(load_paths(paths, 1, &c, errmsg), KH_ECONFIG);
    assert_null(c);
    (void)snprintf(expected, sizeof(expected),
                   "%s/2.hcl:3:12: listener \"tcp\" needs", t->dir);
    assert_contains(errmsg, expected);
}

/* A directory without config files, a missing path and no path at all
 * are errors; a missing file is KH_EIO with the system's reason. */
static void test_load_empty_and_missing(void **state)
{
    struct tmp *t = *state;
    char missing[PATH_MAX];
    const char *paths[] = {t->dir};
    const char *missing_paths[] = {missing};
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_config *c = NULL;

    assert_int_equal(load_paths(paths, 1, &c, errmsg), KH_ECONFIG);
    assert_contains(errmsg, "no *.hcl or *.json files in directory");
    write_text(t->dir, "notes.txt", "x");
    assert_int_equal(load_paths(paths, 1, &c, errmsg), KH_ECONFIG);
    assert_contains(errmsg, "no *.hcl or *.json files in directory");
    (void)snprintf(missing, sizeof(missing), "%s/nope.hcl", t->dir);
    assert_int_equal(load_paths(missing_paths, 1, &c, errmsg), KH_EIO);
    assert_contains(errmsg, "nope.hcl: No such file or directory");
    assert_int_equal(load_paths(paths, 0, &c, errmsg), KH_ECONFIG);
    assert_null(c);
}

/* A dangling symlink named *.hcl in a directory is KH_EIO, not skipped. */
static void test_load_unreadable_entry(void **state)
{
    struct tmp *t = *state;
    const char *paths[] = {t->dir};
    char link[PATH_MAX];
    char errmsg[KH_ERRMSG_SIZE];
    struct kh_config *c = NULL;

    write_text(t->dir, "a.hcl", "ui = true\n");
    (void)snprintf(link, sizeof(link), "%s/b.hcl", t->dir);
    assert_int_equal(symlink("/nonexistent/kh-config-target", link), 0);
    assert_int_equal(load_paths(paths, 1, &c, errmsg), KH_EIO);
    assert_contains(errmsg, "b.hcl: No such file or directory");
    assert_null(c);
}

/* KH_CONFIG_FILES_MAX files in a directory load; one more is an error. */
static void test_limit_files(void **state)
{
    struct tmp *t = *state;
    const char *paths[] = {t->dir};
    char errmsg[KH_ERRMSG_SIZE];
    char name[PATH_MAX];
    struct kh_config *c = NULL;
    int i;

    for (i = 0; i < KH_CONFIG_FILES_MAX; i++) {
        (void)snprintf(name, sizeof(name), "%03d.hcl", i);
        write_text(t->dir, name, "ui = true\n");
    }
    write_text(t->dir, "999.hcl", "ui = false\n");
    assert_int_equal(load_paths(paths, 1, &c, errmsg), KH_ECONFIG);
    assert_contains(errmsg, "more than 64 configuration files");
    (void)snprintf(name, sizeof(name), "%s/999.hcl", t->dir);
    assert_int_equal(unlink(name), 0);
    assert_int_equal(load_paths(paths, 1, &c, errmsg), 0);
    assert_true(c->ui);
    kh_config_free(c);
}

/* A file on disk above KH_CONFIG_FILE_BYTES_MAX is refused by size. */
static void test_load_file_too_big(void **state)
{
    struct tmp *t = *state;
    char path[PATH_MAX];
    const char *paths[] = {path};
    char errmsg[KH_ERRMSG_SIZE];
    char *text = repeat("#", 'x', KH_CONFIG_FILE_BYTES_MAX, "");
    struct kh_config *c = NULL;

    write_file(t->dir, "big.hcl", text, KH_CONFIG_FILE_BYTES_MAX + 1);
    write_file(t->dir, "max.hcl", text, KH_CONFIG_FILE_BYTES_MAX);
    (void)snprintf(path, sizeof(path), "%s/max.hcl", t->dir);
    assert_int_equal(load_paths(paths, 1, &c, errmsg), 0);
    kh_config_free(c);
    c = NULL;
    (void)snprintf(path, sizeof(path), "%s/big.hcl", t->dir);
    assert_int_equal(load_paths(paths, 1, &c, errmsg), KH_ECONFIG);
    assert_contains(errmsg, "big.hcl: file is larger than 1048576 bytes");
    assert_null(c);
    free(text);
}

/* ---- durations (duration.c) --------------------------------------------- */

/* Accepted durations and their values in seconds. */
static void test_duration_valid(void **state)
{
    static const struct
    {
        const char *text;
        uint64_t seconds;
    } cases[] = {
        {"0", 0},
        {"90", 90},
        {"30s", 30},
        {"30m", 1800},
        {"1h30m", 5400},
        {"90s", 90},
        {"7d", 604800},
        {"1d12h", 129600},
        {"1h1m1s", 3661},
        {"768h", 2764800},
        {"1.5h", 5400},
        {".5m", 30},
        {"2.h", 7200},
        {"0s", 0},
        {"007m", 420},
        {"9223372036854775807", 9223372036854775807ull},
        {"106751991167300d", 106751991167300ull * 86400},
    };
    uint64_t v;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = 12345;
        if (kh_duration_parse(cases[i].text, &v) != 0)
            fail_msg("rejected \"%s\"", cases[i].text);
        assert_int_equal(v, cases[i].seconds);
    }
}

/* Rejected durations: empty, signs, spaces, junk, missing units, overflow;
 * the output is untouched. */
static void test_duration_invalid(void **state)
{
    static const char *const cases[] = {
        "",
        "-1",
        "-5m",
        "+5",
        " 5",
        "5 ",
        "abc",
        "5x",
        "1h30",
        "h",
        ".h",
        "1.5",
        "1..5h",
        "5ms",
        "1d-2h",
        "1e3s",
        "9223372036854775808",
        "18446744073709551616",
        "106751991167301d",
        "213503982334602d",
        "99999999999999999999s",
    };
    uint64_t v = 777;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (kh_duration_parse(cases[i], &v) != KH_EINVAL)
            fail_msg("accepted \"%s\"", cases[i]);
    assert_int_equal(kh_duration_parse(NULL, &v), KH_EINVAL);
    assert_int_equal(v, 777);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hcl_tree_positions),
        cmocka_unit_test(test_hcl_string_escapes),
        cmocka_unit_test(test_hcl_numbers_and_bools),
        cmocka_unit_test(test_hcl_lists_and_objects),
        cmocka_unit_test(test_hcl_heredocs),
        cmocka_unit_test(test_hcl_comments),
        cmocka_unit_test(test_hcl_json_tree),
        cmocka_unit_test(test_hcl_syntax_errors),
        cmocka_unit_test(test_hcl_nul_bytes),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_string_size),
        cmocka_unit_test(test_limit_file_size),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_full_hcl),
        cmocka_unit_test(test_config_json_equals_hcl),
        cmocka_unit_test(test_config_block_forms),
        cmocka_unit_test(test_config_bool_forms),
        cmocka_unit_test(test_config_durations),
        cmocka_unit_test(test_config_unknown_keys),
        cmocka_unit_test(test_config_unknown_types),
        cmocka_unit_test(test_config_wrong_types),
        cmocka_unit_test(test_config_stanza_rendering),
        cmocka_unit_test(test_config_required),
        cmocka_unit_test(test_config_duplicates),
        cmocka_unit_test(test_config_merge),
        cmocka_unit_test(test_limit_listeners),
        cmocka_unit_test(test_limit_params),
        cmocka_unit_test_setup_teardown(test_load_directory_merge, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_files_in_order, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_error_names_file, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_empty_and_missing, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_unreadable_entry, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_limit_files, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_load_file_too_big, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test(test_duration_valid),
        cmocka_unit_test(test_duration_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
