/*
 * test_backend_route.c - the shared backend route table
 * (hostd/engines/backend_route.c): the pattern syntax ('*', '**', the
 * optional final '/'), first-match order, LIST with a trailing '/', the
 * row flags, and Vault's 404 and 405 texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "engines/backend_route.h"

#define R           BACKEND_OP(KH_OP_READ)
#define W           BACKEND_OPS_WRITE
#define LIST        BACKEND_OP(KH_OP_LIST)
#define DEL         BACKEND_OP(KH_OP_DELETE)
#define NOT_FOUND   "no handler for route \"auth/t/nope\". route entry not found."
#define UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

struct test_route
{
    struct backend_route route;
    int id;
};

static const struct test_route rows[] = {
    {{"login", W, BACKEND_ROUTE_UNAUTH}, 1},
    {{"role", LIST, 0}, 2},
    {{"role/*", R, 0}, 3},
    {{"role/*", W, BACKEND_ROUTE_EXISTENCE}, 4},
    {{"role/*/secret/*", R | DEL, 0}, 5},
    {{"folder/", LIST, BACKEND_ROUTE_SUDO}, 6},
    {{"data/**", R, 0}, 7},
    {{"data/**", W, 0}, 8},
};

static const struct backend_route_table slash_table =
    BACKEND_ROUTE_TABLE(rows, route, true);
static const struct backend_route_table plain_table =
    BACKEND_ROUTE_TABLE(rows, route, false);

/* The id of the row for path/op, or the error code. */
static int find(const struct backend_route_table *table, const char *path,
                enum kh_operation op, struct backend_route_match *m)
{
    int r = backend_route_match(table, path, op, m);

    return r != 0 ? r : rows[m->index].id;
}

static void expect_capture(const struct backend_route_match *m, size_t i,
                           const char *text)
{
    assert_true(m->capture_count > i);
    assert_int_equal(m->capture[i].len, strlen(text));
    assert_memory_equal(m->capture[i].ptr, text, strlen(text));
}

/* Literal rows match exactly; the operation picks among rows of a path. */
static void test_literal_and_operations(void **state)
{
    struct backend_route_match m;

    (void)state;
    assert_int_equal(find(&plain_table, "login", KH_OP_UPDATE, &m), 1);
    assert_int_equal(find(&plain_table, "login", KH_OP_CREATE, &m), 1);
    assert_int_equal(m.capture_count, 0);
    assert_ptr_equal(m.route, &rows[0].route);
    assert_int_equal(find(&plain_table, "login", KH_OP_READ, &m), KH_EMETHOD);
    assert_int_equal(find(&plain_table, "loginx", KH_OP_UPDATE, &m),
                     KH_ENOTFOUND);
    assert_int_equal(find(&plain_table, "logi", KH_OP_UPDATE, &m),
                     KH_ENOTFOUND);
    assert_int_equal(find(&plain_table, "", KH_OP_READ, &m), KH_ENOTFOUND);
}

/* '*' is one non-empty segment, captured; '**' is the rest. */
static void test_captures(void **state)
{
    struct backend_route_match m;

    (void)state;
    assert_int_equal(find(&plain_table, "role/web", KH_OP_READ, &m), 3);
    expect_capture(&m, 0, "web");
    assert_int_equal(find(&plain_table, "role/web", KH_OP_UPDATE, &m), 4);
    assert_int_equal(find(&plain_table, "role/", KH_OP_READ, &m), KH_ENOTFOUND);
    assert_int_equal(find(&plain_table, "role/a/b", KH_OP_READ, &m),
                     KH_ENOTFOUND);
    assert_int_equal(find(&plain_table, "role/a/secret/b", KH_OP_DELETE, &m),
                     5);
    assert_int_equal(m.capture_count, 2);
    expect_capture(&m, 0, "a");
    expect_capture(&m, 1, "b");
    assert_int_equal(find(&plain_table, "data/a/b/c", KH_OP_READ, &m), 7);
    expect_capture(&m, 0, "a/b/c");
    assert_int_equal(find(&plain_table, "data/", KH_OP_UPDATE, &m), 8);
    expect_capture(&m, 0, "");
    assert_int_equal(find(&plain_table, "data", KH_OP_READ, &m), KH_ENOTFOUND);
    assert_int_equal(find(&plain_table, "data/x", KH_OP_LIST, &m), KH_EMETHOD);
}

/* A final '/' in a pattern is optional, for every operation. */
static void test_folder_rows(void **state)
{
    struct backend_route_match m;

    (void)state;
    assert_int_equal(find(&plain_table, "folder/", KH_OP_LIST, &m), 6);
    assert_int_equal(find(&plain_table, "folder", KH_OP_LIST, &m), 6);
    assert_int_equal(find(&plain_table, "folder", KH_OP_READ, &m), KH_EMETHOD);
    assert_int_equal(find(&plain_table, "folder/x", KH_OP_LIST, &m),
                     KH_ENOTFOUND);
}

/* list_slash tables ignore one trailing '/' of a LIST path only. */
static void test_list_slash(void **state)
{
    struct backend_route_match m;

    (void)state;
    assert_int_equal(find(&slash_table, "role/", KH_OP_LIST, &m), 2);
    assert_int_equal(find(&slash_table, "role", KH_OP_LIST, &m), 2);
    assert_int_equal(find(&slash_table, "role//", KH_OP_LIST, &m),
                     KH_ENOTFOUND);
    assert_int_equal(find(&slash_table, "role/web/", KH_OP_READ, &m),
                     KH_ENOTFOUND);
    assert_int_equal(find(&plain_table, "role/", KH_OP_LIST, &m), KH_ENOTFOUND);
    assert_int_equal(find(&slash_table, "login/", KH_OP_LIST, &m), KH_EMETHOD);
}

/* Flags are read from the rows that match the path and operation. */
static void test_flags(void **state)
{
    (void)state;
    assert_true(backend_route_flagged(
        &slash_table, "login", BACKEND_OP(KH_OP_UPDATE), BACKEND_ROUTE_UNAUTH));
    assert_false(backend_route_flagged(
        &slash_table, "login", BACKEND_OP(KH_OP_READ), BACKEND_ROUTE_UNAUTH));
    assert_false(backend_route_flagged(&slash_table, "role/x",
                                       BACKEND_OP(KH_OP_UPDATE),
                                       BACKEND_ROUTE_UNAUTH));
    assert_true(backend_route_flagged(&plain_table, "folder", BACKEND_OPS_ALL,
                                      BACKEND_ROUTE_SUDO));
    assert_true(backend_route_flagged(&plain_table, "folder/", BACKEND_OPS_ALL,
                                      BACKEND_ROUTE_SUDO));
    assert_false(backend_route_flagged(
        &plain_table, "folder", BACKEND_OP(KH_OP_READ), BACKEND_ROUTE_SUDO));
    assert_true(backend_route_flagged(&plain_table, "role/x",
                                      BACKEND_OP(KH_OP_UPDATE),
                                      BACKEND_ROUTE_EXISTENCE));
    assert_false(backend_route_flagged(&plain_table, "role/x",
                                       BACKEND_OP(KH_OP_READ),
                                       BACKEND_ROUTE_EXISTENCE));
}

/* backend_route_find answers with Vault's 404 and 405 texts. */
static void test_find_messages(void **state)
{
    struct kh_request req = {.op = KH_OP_READ};
    struct backend_request br = {.req = &req};
    struct backend_route_match m;
    char path[] = "auth/t/nope";
    char errmsg[KH_ERRMSG_SIZE] = "";

    (void)state;
    req.path = path;
    br.subpath = "nope";
    assert_int_equal(
        backend_route_find(&plain_table, &br, &m, errmsg, sizeof(errmsg)),
        KH_ENOTFOUND);
    assert_string_equal(errmsg, NOT_FOUND);
    br.subpath = "login";
    assert_int_equal(
        backend_route_find(&plain_table, &br, &m, errmsg, sizeof(errmsg)),
        KH_EMETHOD);
    assert_string_equal(errmsg, UNSUPPORTED);
    req.op = KH_OP_UPDATE;
    assert_int_equal(
        backend_route_find(&plain_table, &br, &m, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(rows[m.index].id, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_operations),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_folder_rows),
        cmocka_unit_test(test_list_slash),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_find_messages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
