/*
 * test_database_template.c - the database engine's template substitution
 * (hostd/engines/database/db_template.c): every placeholder in every
 * quoting context, hostile names and passwords, refused values, connection
 * URLs in both forms, the expiration format and error scrubbing. Pure
 * functions: no database needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "engines/database/database.h"

/* Render tmpl; assert success and compare with want. */
static void expect_render(const char *tmpl, const struct db_template_vars *v,
                          const char *want)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    char *out = NULL;

    assert_int_equal(db_template_render(tmpl, v, &out, errmsg, sizeof(errmsg)),
                     0);
    assert_string_equal(out, want);
    kh_free_secret(out, strlen(out) + 1);
}

static int render_code(const char *tmpl, const struct db_template_vars *v,
                       char *errmsg, size_t errmsg_size)
{
    char *out = NULL;
    int r = db_template_render(tmpl, v, &out, errmsg, errmsg_size);

    if (r == 0)
        kh_free_secret(out, strlen(out) + 1);
    return r;
}

/* The runbook's creation statement renders with its own quotes kept. */
static void test_runbook_statement(void **unused)
{
    struct db_template_vars v = {"v-root-ro-abc-1", "A1b-2c",
                                 "2024-05-01 10:00:00+0000"};

    (void)unused;
    expect_render("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD "
                  "'{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT "
                  "ON ALL TABLES IN SCHEMA public TO \"{{name}}\";",
                  &v,
                  "CREATE ROLE \"v-root-ro-abc-1\" WITH LOGIN PASSWORD "
                  "'A1b-2c' VALID UNTIL '2024-05-01 10:00:00+0000'; GRANT "
                  "SELECT ON ALL TABLES IN SCHEMA public TO "
                  "\"v-root-ro-abc-1\";");
}

/* A '"' in a name is doubled inside "..."; a '\'' in a password inside
 * '...': neither can end the quoted token. */
static void test_hostile_values_escaped(void **unused)
{
    struct db_template_vars v = {"v-token-app-Xy7\"q; DROP ROLE x; --",
                                 "A1a-'; DROP ROLE x; --", NULL};

    (void)unused;
    expect_render("CREATE ROLE \"{{name}}\" PASSWORD '{{password}}'", &v,
                  "CREATE ROLE \"v-token-app-Xy7\"\"q; DROP ROLE x; --\" "
                  "PASSWORD 'A1a-''; DROP ROLE x; --'");
}

/* A bare placeholder becomes a quoted identifier or literal. */
static void test_bare_placeholders_quoted(void **unused)
{
    struct db_template_vars v = {"a\"b", "p'w", "2030-01-01 00:00:00+0000"};

    (void)unused;
    expect_render("ALTER ROLE {{name}} PASSWORD {{password}} VALID UNTIL "
                  "{{expiration}}",
                  &v,
                  "ALTER ROLE \"a\"\"b\" PASSWORD 'p''w' VALID UNTIL "
                  "'2030-01-01 00:00:00+0000'");
}

/* {{username}} is the same value as {{name}}; spaces inside braces are
 * accepted; unknown placeholders stay as written. */
static void test_aliases_spaces_unknown(void **unused)
{
    struct db_template_vars v = {"u1", "pw", NULL};

    (void)unused;
    expect_render("\"{{username}}\" \"{{ name }}\" {{other}} '{{password}}'",
                  &v, "\"u1\" \"u1\" {{other}} 'pw'");
}

/* Escaped quotes and comments in the template keep the context right. */
static void test_context_tracking(void **unused)
{
    struct db_template_vars v = {"n'x", "p\"y", NULL};

    (void)unused;
    /* inside 'it''s ...' the name is still in a literal */
    expect_render("SELECT 'it''s {{name}}'", &v, "SELECT 'it''s n''x'");
    /* an apostrophe in a comment does not open a literal */
    expect_render("-- don't\nALTER ROLE \"{{name}}\" PASSWORD '{{password}}'",
                  &v, "-- don't\nALTER ROLE \"n'x\" PASSWORD 'p\"y'");
}

/* A placeholder whose value is not available is refused. */
static void test_missing_value_refused(void **unused)
{
    struct db_template_vars v = {"u", NULL, NULL};
    char errmsg[KH_ERRMSG_SIZE] = "";

    (void)unused;
    assert_int_equal(
        render_code("VALID UNTIL '{{expiration}}'", &v, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    assert_non_null(strstr(errmsg, "{{expiration}}"));
}

/* Values no quoting could hold are refused: control characters, '$'
 * with dollar quoting, a backslash inside a literal. */
static void test_unsafe_values_refused(void **unused)
{
    struct db_template_vars nl = {"a\nb", "p", NULL};
    struct db_template_vars dollar = {"a$$b", "p", NULL};
    struct db_template_vars bs = {"u", "p\\", NULL};
    char errmsg[KH_ERRMSG_SIZE];

    (void)unused;
    assert_int_equal(render_code("\"{{name}}\"", &nl, errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    assert_int_equal(render_code("DO $$ BEGIN EXECUTE '{{name}}'; END $$",
                                 &dollar, errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    /* '$' without dollar quoting is harmless */
    expect_render("\"{{name}}\"", &dollar, "\"a$$b\"");
    assert_int_equal(render_code("'{{password}}'", &bs, errmsg, sizeof(errmsg)),
                     KH_EINVAL);
}

/* URI form: user and password are percent-encoded. */
static void test_url_uri(void **unused)
{
    char *out = NULL;

    (void)unused;
    assert_int_equal(
        db_url_render("postgresql://{{username}}:{{password}}@db:5432/app"
                      "?sslmode=disable",
                      "vault admin", "p@ss:w/rd%", &out),
        0);
    assert_string_equal(out, "postgresql://vault%20admin:p%40ss%3Aw%2Frd%25"
                             "@db:5432/app?sslmode=disable");
    kh_free_secret(out, strlen(out) + 1);
}

/* key=value form: values quoted, with '\' and '\'' escaped. */
static void test_url_keyvalue(void **unused)
{
    char *out = NULL;

    (void)unused;
    assert_int_equal(db_url_render("host=db user={{username}} "
                                   "password='{{password}}'",
                                   "adm", "it's\\x", &out),
                     0);
    assert_string_equal(out, "host=db user='adm' password='it\\'s\\\\x'");
    kh_free_secret(out, strlen(out) + 1);
}

/* Literal passwords in URLs are detected, templated ones are not. */
static void test_url_literal_password(void **unused)
{
    (void)unused;
    assert_true(db_url_has_literal_password("postgresql://a:secret@h/db"));
    assert_false(db_url_has_literal_password(
        "postgresql://{{username}}:{{password}}@h/db"));
    assert_false(db_url_has_literal_password("postgresql://a@h/db"));
    assert_false(db_url_has_literal_password("postgresql://h/db?x=a:b@c"));
    assert_true(db_url_has_literal_password("host=h password=x"));
    assert_false(db_url_has_literal_password("host=h password={{password}}"));
    assert_false(db_url_has_literal_password("host=h password='{{password}}'"));
}

/* Expiration is YYYY-MM-DD HH:MM:SS+0000 in UTC. */
static void test_expiration_format(void **unused)
{
    char out[DB_EXPIRATION_SIZE];

    (void)unused;
    db_expiration_format(0, out);
    assert_string_equal(out, "1970-01-01 00:00:00+0000");
    db_expiration_format(1714557600, out);
    assert_string_equal(out, "2024-05-01 10:00:00+0000");
}

/* Error texts lose every copy of the secret. */
static void test_scrub(void **unused)
{
    char text[] = "syntax error at or near \"Ab1-x\" (Ab1-x)";

    (void)unused;
    db_scrub(text, "Ab1-x");
    assert_string_equal(text, "syntax error at or near \"*****\" (*****)");
    db_scrub(text, NULL);
    db_scrub(text, "");
    assert_string_equal(text, "syntax error at or near \"*****\" (*****)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runbook_statement),
        cmocka_unit_test(test_hostile_values_escaped),
        cmocka_unit_test(test_bare_placeholders_quoted),
        cmocka_unit_test(test_aliases_spaces_unknown),
        cmocka_unit_test(test_context_tracking),
        cmocka_unit_test(test_missing_value_refused),
        cmocka_unit_test(test_unsafe_values_refused),
        cmocka_unit_test(test_url_uri),
        cmocka_unit_test(test_url_keyvalue),
        cmocka_unit_test(test_url_literal_password),
        cmocka_unit_test(test_expiration_format),
        cmocka_unit_test(test_scrub),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
