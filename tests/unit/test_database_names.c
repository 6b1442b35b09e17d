/*
 * test_database_names.c - generated user names and passwords of the
 * database engine (hostd/engines/database/db_names.c): Vault's username
 * pattern, the 63-byte PostgreSQL limit, sanitising, uniqueness, and the
 * password policy over many draws.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "engines/database/database.h"

#define DRAWS 1000

/* v-<display[0:8]>-<role[0:8]>-<random20>-<time>. */
static void test_username_pattern(void **unused)
{
    char out[DB_USERNAME_BYTES_MAX + 1];

    (void)unused;
    db_username_format("root", "order-service-readonly", "kW3x9tq2ZpL8mN4rB7cD",
                       1714557600, out);
    assert_string_equal(out, "v-root-order-se-kW3x9tq2ZpL8mN4rB7cD-1714557600");
    db_username_format(NULL, "ro", "AAAAAAAAAAAAAAAAAAAA", 1, out);
    assert_string_equal(out, "v-token-ro-AAAAAAAAAAAAAAAAAAAA-1");
}

/* Characters outside [A-Za-z0-9_-] become '_'. */
static void test_username_sanitised(void **unused)
{
    char out[DB_USERNAME_BYTES_MAX + 1];

    (void)unused;
    db_username_format("a\"b c", "r;x'", "BBBBBBBBBBBBBBBBBBBB", 7, out);
    assert_string_equal(out, "v-a_b_c-r_x_-BBBBBBBBBBBBBBBBBBBB-7");
}

/* Long display and role names are cut to 8 characters each, so even the
 * widest time keeps the name within PostgreSQL's 63 bytes. */
static void test_username_truncated(void **unused)
{
    char out[DB_USERNAME_BYTES_MAX + 1];

    (void)unused;
    db_username_format("kubernetes-ns-sa", "very-long-role-name",
                       "CCCCCCCCCCCCCCCCCCCC", INT64_MIN, out);
    assert_string_equal(out, "v-kubernet-very-lon-CCCCCCCCCCCCCCCCCCCC-"
                             "-9223372036854775808");
    assert_true(strlen(out) <= DB_USERNAME_BYTES_MAX);
}

/* Generated names are unique and well formed. */
static void test_username_generate(void **unused)
{
    char names[64][DB_USERNAME_BYTES_MAX + 1];
    int i, j;

    (void)unused;
    for (i = 0; i < 64; i++) {
        assert_int_equal(
            db_username_generate("root", "ro", 1714557600, names[i]), 0);
        assert_int_equal(strncmp(names[i], "v-root-ro-", 10), 0);
        assert_int_equal(strlen(names[i]), 10 + 20 + 1 + 10);
        for (j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
    }
}

/* The policy: 20+ characters of [A-Za-z0-9-], every class present. */
static void test_password_policy(void **unused)
{
    (void)unused;
    assert_true(db_password_policy_ok("Aa1-Aa1-Aa1-Aa1-Aa1-"));
    assert_false(db_password_policy_ok("Aa1-Aa1-Aa1-Aa1-Aa1"));  /* 19 */
    assert_false(db_password_policy_ok("aaa1-aaa1-aaa1-aaa1-")); /* upper */
    assert_false(db_password_policy_ok("AAA1-AAA1-AAA1-AAA1-")); /* lower */
    assert_false(db_password_policy_ok("Aaaa-Aaaa-Aaaa-Aaaa-")); /* digit */
    assert_false(db_password_policy_ok("Aa11Aa11Aa11Aa11Aa11")); /* dash */
    assert_false(db_password_policy_ok("Aa1-Aa1-Aa1-Aa1-Aa1'")); /* char */
}

/* Every generated password meets the policy; none repeats. */
static void test_password_generate(void **unused)
{
    char(*pw)[DB_PASSWORD_CHARS + 1] = calloc(DRAWS, sizeof(*pw));
    int i, j;

    (void)unused;
    assert_non_null(pw);
    for (i = 0; i < DRAWS; i++) {
        assert_int_equal(db_password_generate(pw[i]), 0);
        assert_int_equal(strlen(pw[i]), DB_PASSWORD_CHARS);
        assert_true(db_password_policy_ok(pw[i]));
    }
    for (i = 0; i < DRAWS; i++) {
        for (j = 0; j < i; j++)
            assert_string_not_equal(pw[i], pw[j]);
    }
    free(pw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_username_pattern),
        cmocka_unit_test(test_username_sanitised),
        cmocka_unit_test(test_username_truncated),
        cmocka_unit_test(test_username_generate),
        cmocka_unit_test(test_password_policy),
        cmocka_unit_test(test_password_generate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
