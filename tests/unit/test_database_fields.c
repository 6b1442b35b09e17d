/*
 * test_database_fields.c - request fields and connection validation of the
 * database engine (hostd/engines/database/db_fields.c): statement lists in
 * their four shapes, comma-separated lists, durations, names, the
 * allowed_roles check, and db_config_validate, each limit at max and
 * max + 1. Pure functions: no database needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/err.h"
#include "engines/database/database.h"

static int statements(json_t *value, json_t **ret)
{
    char errmsg[KH_ERRMSG_SIZE];
    int r = db_fields_statements(value, "creation_statements", ret, errmsg,
                                 sizeof(errmsg));

    json_decref(value);
    return r;
}

static void expect_list(const json_t *list, size_t n, const char *first)
{
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), n);
    if (n > 0)
        assert_string_equal(json_string_value(json_array_get(list, 0)), first);
}

/* Arrays, plain strings, JSON-array strings and base64 all give a list;
 * absent or null gives none; empties are dropped. */
static void test_statements_shapes(void **unused)
{
    const char *sql = "CREATE ROLE \"{{name}}\";";
    char b64[128];
    json_t *out = NULL;

    (void)unused;
    assert_int_equal(
        statements(json_pack("[s, s, s]", sql, "  ", "GRANT x"), &out), 0);
    expect_list(out, 2, sql);
    json_decref(out);
    assert_int_equal(statements(json_string(sql), &out), 0);
    expect_list(out, 1, sql);
    json_decref(out);
    assert_int_equal(statements(json_string("[\"a;\", \"b;\"]"), &out), 0);
    expect_list(out, 2, "a;");
    json_decref(out);
    kh_base64_encode((const uint8_t *)sql, strlen(sql), true, b64);
    assert_int_equal(statements(json_string(b64), &out), 0);
    expect_list(out, 1, sql);
    json_decref(out);
    assert_int_equal(statements(json_null(), &out), 0);
    assert_null(out);
    assert_int_equal(statements(json_string(""), &out), 0);
    expect_list(out, 0, NULL);
    json_decref(out);
}

/* Non-string items and other types are refused. */
static void test_statements_types(void **unused)
{
    json_t *out = NULL;

    (void)unused;
    assert_int_equal(statements(json_pack("[i]", 1), &out), KH_EINVAL);
    assert_int_equal(statements(json_integer(3), &out), KH_EINVAL);
    assert_int_equal(statements(json_string("[1, 2]"), &out), KH_EINVAL);
}

/* DB_STATEMENTS_MAX items pass, one more is refused; a statement of
 * DB_STATEMENT_BYTES_MAX passes, one byte more is refused. */
static void test_statements_limits(void **unused)
{
    json_t *list = json_array(), *out = NULL;
    char *big = malloc(DB_STATEMENT_BYTES_MAX + 2);
    int i;

    (void)unused;
    assert_non_null(big);
    for (i = 0; i < DB_STATEMENTS_MAX; i++)
        json_array_append_new(list, json_string("SELECT 1"));
    assert_int_equal(statements(json_incref(list), &out), 0);
    json_decref(out);
    json_array_append_new(list, json_string("SELECT 1"));
    assert_int_equal(statements(list, &out), KH_ELIMIT);
    memset(big, 'x', DB_STATEMENT_BYTES_MAX);
    big[DB_STATEMENT_BYTES_MAX] = '\0';
    assert_int_equal(statements(json_pack("[s]", big), &out), 0);
    json_decref(out);
    big[DB_STATEMENT_BYTES_MAX] = 'x';
    big[DB_STATEMENT_BYTES_MAX + 1] = '\0';
    assert_int_equal(statements(json_pack("[s]", big), &out), KH_ELIMIT);
    free(big);
}

/* "a, b,,c" and ["a","b,c"] both give trimmed entries; max + 1 fails. */
static void test_csl(void **unused)
{
    char errmsg[KH_ERRMSG_SIZE];
    json_t *v, *out = NULL;

    (void)unused;
    v = json_string(" a, b,,c ");
    assert_int_equal(
        db_fields_csl(v, "allowed_roles", 8, &out, errmsg, sizeof(errmsg)), 0);
    expect_list(out, 3, "a");
    assert_string_equal(json_string_value(json_array_get(out, 2)), "c");
    json_decref(out);
    json_decref(v);
    v = json_pack("[s, s]", "a", "b,c");
    assert_int_equal(
        db_fields_csl(v, "allowed_roles", 3, &out, errmsg, sizeof(errmsg)), 0);
    expect_list(out, 3, "a");
    json_decref(out);
    assert_int_equal(
        db_fields_csl(v, "allowed_roles", 2, &out, errmsg, sizeof(errmsg)),
        KH_ELIMIT);
    json_decref(v);
    v = json_integer(1);
    assert_int_equal(
        db_fields_csl(v, "allowed_roles", 2, &out, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    json_decref(v);
}

/* Durations: TDS strings and integers, bounded. */
static void test_duration(void **unused)
{
    char errmsg[KH_ERRMSG_SIZE];
    uint64_t s = 0;
    json_t *v;

    (void)unused;
    v = json_string("1h30m");
    assert_int_equal(
        db_fields_duration(v, "ttl", 86400, &s, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(s, 5400);
    json_decref(v);
    v = json_integer(90);
    assert_int_equal(
        db_fields_duration(v, "ttl", 90, &s, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(s, 90);
    assert_int_equal(
        db_fields_duration(v, "ttl", 89, &s, errmsg, sizeof(errmsg)),
        KH_ELIMIT);
    json_decref(v);
    v = json_string("soon");
    assert_int_equal(
        db_fields_duration(v, "ttl", 90, &s, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    json_decref(v);
}

/* Names: Vault's word characters with - and ., bounded length. */
static void test_names(void **unused)
{
    char name[DB_NAME_BYTES_MAX + 2];

    (void)unused;
    assert_true(db_name_valid("orders-db"));
    assert_true(db_name_valid("a.b_c-d"));
    assert_true(db_name_valid("x"));
    assert_false(db_name_valid(""));
    assert_false(db_name_valid(NULL));
    assert_false(db_name_valid("-a"));
    assert_false(db_name_valid("a-"));
    assert_false(db_name_valid("a/b"));
    assert_false(db_name_valid("a b"));
    assert_false(db_name_valid("../x"));
    memset(name, 'n', DB_NAME_BYTES_MAX);
    name[DB_NAME_BYTES_MAX] = '\0';
    assert_true(db_name_valid(name));
    name[DB_NAME_BYTES_MAX] = 'n';
    name[DB_NAME_BYTES_MAX + 1] = '\0';
    assert_false(db_name_valid(name));
}

/* allowed_roles: exact names, "*", "prefix*"; empty allows nothing. */
static void test_role_allowed(void **unused)
{
    json_t *a = json_pack("[s, s]", "ro", "team-*");
    json_t *star = json_pack("[s]", "*");
    json_t *none = json_array();

    (void)unused;
    assert_true(db_role_allowed(a, "ro"));
    assert_true(db_role_allowed(a, "team-x"));
    assert_false(db_role_allowed(a, "rw"));
    assert_false(db_role_allowed(a, "r"));
    assert_true(db_role_allowed(star, "anything"));
    assert_false(db_role_allowed(none, "ro"));
    json_decref(a);
    json_decref(star);
    json_decref(none);
}

/* Connection settings: plugin, URL, limits, {{password}} needs one. */
static void test_config_validate(void **unused)
{
    char url[DB_URL_BYTES_MAX + 2];
    char errmsg[KH_ERRMSG_SIZE];
    struct db_config c = {0};

    (void)unused;
    c.connection_url = "postgresql://{{username}}:{{password}}@h/db";
    c.username = "admin";
    c.password = "pw";
    c.max_open_connections = DB_OPEN_CONNECTIONS_DEFAULT;
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(
        db_config_validate("mysql-database-plugin", &c, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    assert_int_equal(db_config_validate(NULL, &c, errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    c.max_open_connections = DB_OPEN_CONNECTIONS_MAX;
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)), 0);
    c.max_open_connections = DB_OPEN_CONNECTIONS_MAX + 1;
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    c.max_open_connections = 0;
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    c.max_open_connections = 1;
    c.password = NULL;
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    c.password = "pw";
    memset(url, 'u', DB_URL_BYTES_MAX);
    url[DB_URL_BYTES_MAX] = '\0';
    c.connection_url = url;
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)), 0);
    url[DB_URL_BYTES_MAX] = 'u';
    url[DB_URL_BYTES_MAX + 1] = '\0';
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)),
        KH_ELIMIT);
    c.connection_url = "";
    assert_int_equal(
        db_config_validate(DB_PLUGIN_POSTGRES, &c, errmsg, sizeof(errmsg)),
        KH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements_shapes),
        cmocka_unit_test(test_statements_types),
        cmocka_unit_test(test_statements_limits),
        cmocka_unit_test(test_csl),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_role_allowed),
        cmocka_unit_test(test_config_validate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
