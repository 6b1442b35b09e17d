/*
 * fuzz_policy.c - libFuzzer target for the ACL policy language: the input
 * is policy text (HCL or JSON) for policy_parse(); when it compiles, an
 * ACL is built from it (twice, so identical patterns merge) and evaluated
 * against fixed paths and against every pattern of the policy itself,
 * with and without parameters. Crashes, sanitizer reports, leaks and a
 * broken rule-set invariant (KH_ASSERT) are findings.
 *
 * The input is not NUL-terminated, so any read past size is caught by
 * ASan. Never writes files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "policy/acl.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed_paths[] = {
    "",           "/",           "secret",       "secret/",
    "secret/foo", "secret/foo/", "a/b/c/d",      "secret/a/foo/bar",
    "+",          "*",           "sys/policy/x", "cubbyhole/x/",
};

static void check_path(const struct acl *acl, const char *path,
                       const json_t *params)
{
    static const enum kh_operation ops[] = {
        KH_OP_READ,  KH_OP_LIST,   KH_OP_CREATE, KH_OP_UPDATE,
        KH_OP_PATCH, KH_OP_DELETE, KH_OP_HEAD,
    };
    char errmsg[KH_ERRMSG_SIZE];
    const char *names[POLICY_CAP_NAMES_MAX];
    unsigned caps = 0;
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        int r = acl_check(acl, path, ops[i], i % 2 == 0, params, &caps, errmsg,
                          sizeof(errmsg));
        if (r != 0 && r != KH_EPERM)
            __builtin_trap();
    }
    if (policy_caps_names(acl_capabilities(acl, path), names) == 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct policy *p = NULL;
    struct policy *twice[2];
    struct acl *acl = NULL;
    json_t *params;
    size_t i;

    if (policy_parse("fuzz", (const char *)data, size, &p, errmsg,
                     sizeof(errmsg)) != 0)
        return 0;
    twice[0] = p;
    twice[1] = p;
    params = json_pack("{s:s, s:i, s:b}", "ttl", "1h", "Count", 3, "x", 1);
    if (acl_create(twice, 2, false, &acl) == 0) {
        for (i = 0; i < sizeof(fixed_paths) / sizeof(fixed_paths[0]); i++)
            check_path(acl, fixed_paths[i], params);
        for (i = 0; i < p->rules.exact_count; i++)
            check_path(acl, p->rules.exact[i].pattern, params);
        for (i = 0; i < p->rules.glob_count; i++)
            check_path(acl, p->rules.glob[i].pattern, NULL);
        acl_free(acl);
    }
    json_decref(params);
    policy_unref(p);
    return 0;
}
