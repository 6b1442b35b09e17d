/*
 * test_router.c - router_lookup() over the sys route table
 * (router/sys_routes.c): exact matches, unknown paths (404 with Vault's
 * "no handler for route" text), known paths with the wrong operation (405),
 * GET and PUT of one path reaching different handlers, and the gate flags
 * of each row.
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
#include "core/sys/sys_handlers.h"
#include "router/router.h"

struct lookup
{
    const struct kh_route *route;
    char errmsg[KH_ERRMSG_SIZE];
    int r;
};

static void lookup(struct lookup *l, const char *path, enum kh_operation op)
{
    memset(l, 0, sizeof(*l));
    l->r = router_lookup(path, op, &l->route, l->errmsg, sizeof(l->errmsg));
}

static const struct kh_route *found(const char *path, enum kh_operation op)
{
    struct lookup l;

    lookup(&l, path, op);
    assert_int_equal(l.r, 0);
    assert_non_null(l.route);
    assert_string_equal(l.route->pattern, path);
    assert_true(l.route->ops & OP_BIT(op));
    return l.route;
}

/* Each sys path and operation reaches its handler. */
static void test_exact_matches(void **state)
{
    static const struct
    {
        const char *path;
        enum kh_operation op;
        kh_handler_fn handler;
    } rows[] = {
        {"sys/health", KH_OP_READ, sys_health},
        {"sys/health", KH_OP_HEAD, sys_health},
        {"sys/seal-status", KH_OP_READ, sys_seal_status},
        {"sys/leader", KH_OP_READ, sys_leader},
        {"sys/init", KH_OP_READ, sys_init_read},
        {"sys/init", KH_OP_UPDATE, sys_init_write},
        {"sys/init", KH_OP_CREATE, sys_init_write},
        {"sys/unseal", KH_OP_UPDATE, sys_unseal},
        {"sys/seal", KH_OP_UPDATE, sys_seal},
        {"sys/step-down", KH_OP_UPDATE, sys_step_down},
        {"sys/rotate", KH_OP_UPDATE, sys_rotate},
        {"sys/key-status", KH_OP_READ, sys_key_status},
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_ptr_equal(found(rows[i].path, rows[i].op)->handler,
                         rows[i].handler);
}

/* An unknown path is 404 with Vault's text naming the path; the route
 * output is not written. */
static void test_unknown_path(void **state)
{
    static const char *const unknown[] = {
        "sys/nope",          "sys/healthz", "sys/health/", "sys/Health",
        "SYS/health",        "sys",         "sys/",        "secret/data/x",
        "sys/seal-status/x", "sys/init2",
    };
    const struct kh_route *sentinel = (const struct kh_route *)&unknown;
    size_t i;

    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        struct lookup l;
        char want[KH_ERRMSG_SIZE];
        memset(&l, 0, sizeof(l));
        l.route = sentinel;
        l.r = router_lookup(unknown[i], KH_OP_READ, &l.route, l.errmsg,
                            sizeof(l.errmsg));
        assert_int_equal(l.r, KH_ENOTFOUND);
        assert_ptr_equal(l.route, sentinel);
        snprintf(want, sizeof(want),
                 "no handler for route \"%s\". route entry not found.",
                 unknown[i]);
        assert_string_equal(l.errmsg, want);
    }
}

/* A known path with an operation it does not answer is 405 with Vault's
 * "unsupported operation" text. */
static void test_wrong_operation(void **state)
{
    static const struct
    {
        const char *path;
        enum kh_operation op;
    } rows[] = {
        {"sys/health", KH_OP_UPDATE},    {"sys/health", KH_OP_DELETE},
        {"sys/health", KH_OP_LIST},      {"sys/health", KH_OP_PATCH},
        {"sys/seal-status", KH_OP_HEAD}, {"sys/seal-status", KH_OP_UPDATE},
        {"sys/init", KH_OP_DELETE},      {"sys/init", KH_OP_HEAD},
        {"sys/unseal", KH_OP_READ},      {"sys/seal", KH_OP_READ},
        {"sys/seal", KH_OP_DELETE},      {"sys/step-down", KH_OP_READ},
        {"sys/rotate", KH_OP_READ},      {"sys/key-status", KH_OP_UPDATE},
        {"sys/key-status", KH_OP_HEAD},  {"sys/leader", KH_OP_PATCH},
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct lookup l;
        lookup(&l, rows[i].path, rows[i].op);
        assert_int_equal(l.r, KH_EMETHOD);
        assert_null(l.route);
        assert_string_equal(l.errmsg, "1 error occurred:\n\t* unsupported "
                                      "operation\n\n");
    }
}

/* HEAD is answered only by sys/health. */
static void test_head_only_health(void **state)
{
    static const char *const paths[] = {
        "sys/seal-status", "sys/leader",    "sys/init",   "sys/unseal",
        "sys/seal",        "sys/step-down", "sys/rotate", "sys/key-status",
    };
    size_t i;

    assert_ptr_equal(found("sys/health", KH_OP_HEAD)->handler, sys_health);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct lookup l;
        lookup(&l, paths[i], KH_OP_HEAD);
        assert_int_equal(l.r, KH_EMETHOD);
    }
}

/* GET and PUT of sys/init reach different handlers. */
static void test_init_read_vs_write(void **state)
{
    const struct kh_route *read = found("sys/init", KH_OP_READ);
    const struct kh_route *write = found("sys/init", KH_OP_UPDATE);

    assert_ptr_not_equal(read, write);
    assert_ptr_equal(read->handler, sys_init_read);
    assert_ptr_equal(write->handler, sys_init_write);
    assert_int_equal(read->flags, write->flags);
}

/* The gate flags of each row. */
static void test_flags(void **state)
{
    const unsigned unauth_sealed = ROUTE_UNAUTHENTICATED | ROUTE_ALLOW_SEALED;

    assert_int_equal(found("sys/health", KH_OP_READ)->flags, unauth_sealed);
    assert_int_equal(found("sys/seal-status", KH_OP_READ)->flags,
                     unauth_sealed);
    assert_int_equal(found("sys/leader", KH_OP_READ)->flags, unauth_sealed);
    assert_int_equal(found("sys/init", KH_OP_UPDATE)->flags, unauth_sealed);
    assert_int_equal(found("sys/unseal", KH_OP_UPDATE)->flags, unauth_sealed);
    assert_int_equal(found("sys/seal", KH_OP_UPDATE)->flags, ROUTE_SUDO);
    assert_int_equal(found("sys/step-down", KH_OP_UPDATE)->flags, ROUTE_SUDO);
    assert_int_equal(found("sys/rotate", KH_OP_UPDATE)->flags, ROUTE_SUDO);
    assert_int_equal(found("sys/key-status", KH_OP_READ)->flags, 0);
    assert_false(found("sys/seal", KH_OP_UPDATE)->flags & ROUTE_ALLOW_SEALED);
    assert_false(found("sys/seal", KH_OP_UPDATE)->flags &
                 ROUTE_UNAUTHENTICATED);
}

/* Prefix rows (ending in a star) answer every path below them, for their own
 * operations; their pattern is kept as written. */
static void test_prefix_rows(void **state)
{
    static const struct
    {
        const char *path;
        enum kh_operation op;
        const char *pattern;
    } rows[] = {
        {"sys/leases/lookup/aws/creds/", KH_OP_LIST, "sys/leases/lookup/*"},
        {"sys/leases/revoke/a/b/c", KH_OP_UPDATE, "sys/leases/revoke/*"},
        {"sys/leases/revoke", KH_OP_UPDATE, "sys/leases/revoke"},
        {"sys/leases/revoke-prefix/a/", KH_OP_UPDATE,
         "sys/leases/revoke-prefix/*"},
        {"sys/policies/acl/", KH_OP_LIST, "sys/policies/acl/"},
        {"sys/policies/acl/dev", KH_OP_READ, "sys/policies/acl/*"},
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct lookup l;
        lookup(&l, rows[i].path, rows[i].op);
        assert_int_equal(l.r, 0);
        assert_string_equal(l.route->pattern, rows[i].pattern);
    }
    {
        struct lookup l;
        /* below a prefix row, an operation it lacks is 405, not 404 */
        lookup(&l, "sys/leases/lookup/x/", KH_OP_READ);
        assert_int_equal(l.r, KH_EMETHOD);
        /* a prefix row does not match its stem without the slash */
        lookup(&l, "sys/leases/revoke-prefix", KH_OP_UPDATE);
        assert_int_equal(l.r, KH_ENOTFOUND);
    }
}

/* A path longer than the message buffer is truncated, not overflowed. */
static void test_long_path_message(void **state)
{
    char *path = malloc(KH_HTTP_PATH_BYTES_MAX + 1);
    struct lookup l;

    memset(path, 'a', KH_HTTP_PATH_BYTES_MAX);
    path[KH_HTTP_PATH_BYTES_MAX] = '\0';
    lookup(&l, path, KH_OP_READ);
    assert_int_equal(l.r, KH_ENOTFOUND);
    assert_int_equal(strlen(l.errmsg), KH_ERRMSG_SIZE - 1);
    assert_memory_equal(l.errmsg, "no handler for route \"aaa", 25);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_matches),
        cmocka_unit_test(test_unknown_path),
        cmocka_unit_test(test_wrong_operation),
        cmocka_unit_test(test_head_only_health),
        cmocka_unit_test(test_init_read_vs_write),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_prefix_rows),
        cmocka_unit_test(test_long_path_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
