/*
 * test_policy.c - the ACL policy language (hostd/policy/policy.c) and its
 * evaluation (acl.c), table-driven: each row of acl_cases names one
 * behaviour of Vault API: ACL policies, the policies that set it up, one request
 * and the expected decision. Further tables cover capability lists
 * (sys/capabilities-self), parse errors with their exact line:col, and
 * limits at max and max + 1.
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
#include "policy/acl.h"
#include "policy/policy.h"

#define assert_contains(hay, needle)                                           \
    do {                                                                       \
        if (strstr((hay), (needle)) == NULL) {                                 \
            print_error("\"%s\"\n  does not contain \"%s\"\n", (hay),          \
                        (needle));                                             \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* One HCL path block. */
#define P(path, caps) "path \"" path "\" { capabilities = [" caps "] }\n"
#define R             "\"read\""
#define U             "\"update\""
#define L             "\"list\""
#define D             "\"deny\""

#define OK 0
#define NO KH_EPERM

#define CASES_POLICIES_MAX 3

struct acl_case
{
    const char *behaviour;
    const char *policies[CASES_POLICIES_MAX]; /* texts; NULL ends */
    bool root;
    const char *path;
    enum kh_operation op;
    bool sudo;
    const char *data; /* JSON object text or NULL */
    int want;
};

/* The JSON form hvac sends: json.dumps(dict, indent=4, sort_keys=True). */
static const char hvac_json[] = "{\n"
                                "    \"path\": {\n"
                                "        \"secret/*\": {\n"
                                "            \"capabilities\": [\n"
                                "                \"read\",\n"
                                "                \"list\"\n"
                                "            ]\n"
                                "        }\n"
                                "    }\n"
                                "}";

static const char params_allowed[] =
    "path \"secret/p\" {\n"
    "  capabilities = [\"create\", \"update\", \"read\", \"delete\"]\n"
    "  allowed_parameters = {\n"
    "    \"ttl\" = [\"1h\", \"2h\"]\n"
    "    \"env\" = [\"prod-*\", \"*-test\"]\n"
    "    \"TAGS\" = []\n"
    "  }\n"
    "  required_parameters = [\"ttl\"]\n"
    "}\n";

/* clang-format off */
static const struct acl_case acl_cases[] = {
    /* exact rules */
    {"exact rule allows its capability", {P("secret/foo", R)}, false,
     "secret/foo", KH_OP_READ, false, NULL, OK},
    {"exact rule matches only its path", {P("secret/foo", R)}, false,
     "secret/foo2", KH_OP_READ, false, NULL, NO},
    {"exact rule: capability not granted", {P("secret/foo", R)}, false,
     "secret/foo", KH_OP_UPDATE, false, NULL, NO},
    {"no policy denies", {NULL}, false, "secret/foo", KH_OP_READ, false, NULL,
     NO},
    {"root ACL allows everything", {NULL}, true, "sys/raw/x", KH_OP_DELETE,
     true, NULL, OK},
    /* globs */
    {"glob matches deeper paths", {P("secret/*", R)}, false, "secret/a/b",
     KH_OP_READ, false, NULL, OK},
    {"glob matches inside a segment", {P("secret/zip-*", R)}, false,
     "secret/zip-a/b", KH_OP_READ, false, NULL, OK},
    {"glob prefix must match", {P("secret/zip-*", R)}, false, "secret/zap",
     KH_OP_READ, false, NULL, NO},
    {"glob matches its bare prefix", {P("secret/*", R)}, false, "secret/",
     KH_OP_READ, false, NULL, OK},
    {"glob does not match shorter path", {P("secret/*", R)}, false, "secret",
     KH_OP_READ, false, NULL, NO},
    {"lone star matches everything", {P("*", R)}, false, "any/path/at/all",
     KH_OP_READ, false, NULL, OK},
    {"longest plain glob wins", {P("secret/*", R) P("secret/a/*", D)}, false,
     "secret/a/b", KH_OP_READ, false, NULL, NO},
    {"shorter glob still covers the rest",
     {P("secret/*", R) P("secret/a/*", D)},
     false, "secret/b", KH_OP_READ, false, NULL, OK},
    /* + segments */
    {"plus matches one segment", {P("secret/+/teamb", R)}, false,
     "secret/x/teamb", KH_OP_READ, false, NULL, OK},
    {"plus matches exactly one segment", {P("secret/+/teamb", R)}, false,
     "secret/x/y/teamb", KH_OP_READ, false, NULL, NO},
    {"plus needs its segment", {P("secret/+/teamb", R)}, false,
     "secret/teamb", KH_OP_READ, false, NULL, NO},
    {"plus with trailing star matches deeper", {P("secret/+/foo/*", R)},
     false, "secret/a/foo/bar/baz", KH_OP_READ, false, NULL, OK},
    {"plus with trailing star needs the slash", {P("secret/+/foo/*", R)},
     false, "secret/a/foo", KH_OP_READ, false, NULL, NO},
    {"plus with star inside last segment", {P("secret/+/foo*", R)}, false,
     "secret/a/foobar", KH_OP_READ, false, NULL, OK},
    {"plus with star: last segment prefix must match", {P("secret/+/foo*", R)},
     false, "secret/a/fo", KH_OP_READ, false, NULL, NO},
    {"leading plus", {P("+/config", R)}, false, "kv/config", KH_OP_READ,
     false, NULL, OK},
    {"lone plus is one segment", {P("+", R)}, false, "kv/config", KH_OP_READ,
     false, NULL, NO},
    /* deny and precedence */
    {"deny in a rule overrides its other capabilities",
     {P("secret/foo", R "," D)},
     false, "secret/foo", KH_OP_READ, false, NULL, NO},
    {"exact beats glob (deny glob)", {P("secret/*", D) P("secret/foo", R)},
     false, "secret/foo", KH_OP_READ, false, NULL, OK},
    {"exact beats glob (deny exact)", {P("secret/*", R) P("secret/foo", D)},
     false, "secret/foo", KH_OP_READ, false, NULL, NO},
    {"empty exact rule beats a granting glob",
     {P("secret/*", R) "path \"secret/foo\" {}\n"}, false, "secret/foo",
     KH_OP_READ, false, NULL, NO},
    {"identical patterns merge across policies (read)",
     {P("secret/*", R), P("secret/*", U)}, false, "secret/x", KH_OP_READ,
     false, NULL, OK},
    {"identical patterns merge across policies (update)",
     {P("secret/*", R), P("secret/*", U)}, false, "secret/x", KH_OP_UPDATE,
     false, NULL, OK},
    {"identical patterns merge with deny winning",
     {P("secret/*", R), P("secret/*", D), P("secret/*", U)}, false,
     "secret/x", KH_OP_READ, false, NULL, NO},
    {"different patterns are not combined (exact wins over deny glob)",
     {P("secret/*", D), P("secret/foo", R)}, false, "secret/foo", KH_OP_READ,
     false, NULL, OK},
    {"different patterns are not combined (longer glob lacks read)",
     {P("secret/*", R), P("secret/foo/*", L)}, false, "secret/foo/x",
     KH_OP_READ, false, NULL, NO},
    /* priority rules of §8.3 */
    {"(a) later first wildcard wins",
     {P("secret/+/x", R) P("secret/a/*", U)}, false, "secret/a/x",
     KH_OP_READ, false, NULL, NO},
    {"(a) later first wildcard wins (its capability)",
     {P("secret/+/x", R) P("secret/a/*", U)}, false, "secret/a/x",
     KH_OP_UPDATE, false, NULL, OK},
    {"(b) trailing star loses to none",
     {P("secret/+/x", D) P("secret/+/x*", R)},
     false, "secret/a/x", KH_OP_READ, false, NULL, NO},
    {"(b) the star rule still covers longer names",
     {P("secret/+/x", D) P("secret/+/x*", R)}, false, "secret/a/xy",
     KH_OP_READ, false, NULL, OK},
    {"(c) more plus segments lose",
     {P("secret/+/+/c", R) P("secret/+/b/c", D)}, false, "secret/a/b/c",
     KH_OP_READ, false, NULL, NO},
    {"(d) shorter loses", {P("secret/+/b*", R) P("secret/+/bc*", L)}, false,
     "secret/a/bcd", KH_OP_READ, false, NULL, NO},
    {"(d) longer wins", {P("secret/+/b*", R) P("secret/+/bc*", L)}, false,
     "secret/a/bcd", KH_OP_LIST, false, NULL, OK},
    {"(e) lexicographically higher wins",
     {P("k/+/x/+", R) P("k/+/+/y", D)}, false, "k/a/x/y", KH_OP_READ, false,
     NULL, OK},
    {"(e) lexicographically lower loses",
     {P("k/+/x/+", D) P("k/+/+/y", R)}, false, "k/a/x/y", KH_OP_READ, false,
     NULL, NO},
    /* list versus read */
    {"rule for foo matches a list of foo/", {P("secret/foo", L)}, false,
     "secret/foo/", KH_OP_LIST, false, NULL, OK},
    {"list fallback is for list only", {P("secret/foo", R)}, false,
     "secret/foo/", KH_OP_READ, false, NULL, NO},
    {"list needs the list capability", {P("secret/foo", R)}, false,
     "secret/foo/", KH_OP_LIST, false, NULL, NO},
    {"HEAD needs read", {P("sys/health", R)}, false, "sys/health", KH_OP_HEAD,
     false, NULL, OK},
    {"patch needs patch", {P("secret/p", "\"patch\"")}, false, "secret/p",
     KH_OP_PATCH, false, NULL, OK},
    {"update does not grant patch", {P("secret/p", U)}, false, "secret/p",
     KH_OP_PATCH, false, NULL, NO},
    {"create-only rule refuses update", {P("secret/c", "\"create\"")}, false,
     "secret/c", KH_OP_UPDATE, false, NULL, NO},
    {"create-only rule allows create", {P("secret/c", "\"create\"")}, false,
     "secret/c", KH_OP_CREATE, false, NULL, OK},
    /* sudo */
    {"sudo path refuses without sudo", {P("sys/audit", R)}, false,
     "sys/audit", KH_OP_READ, true, NULL, NO},
    {"sudo path allows with sudo", {P("sys/audit", R ",\"sudo\"")}, false,
     "sys/audit", KH_OP_READ, true, NULL, OK},
    {"sudo alone grants no operation", {P("sys/audit", "\"sudo\"")}, false,
     "sys/audit", KH_OP_READ, true, NULL, NO},
    /* legacy policy = */
    {"legacy write grants create",
     {"path \"secret/*\" { policy = \"write\" }"}, false, "secret/x",
     KH_OP_CREATE, false, NULL, OK},
    {"legacy write grants no sudo",
     {"path \"secret/*\" { policy = \"write\" }"}, false, "secret/x",
     KH_OP_READ, true, NULL, NO},
    {"legacy read grants list", {"path \"secret/*\" { policy = \"read\" }"},
     false, "secret/x/", KH_OP_LIST, false, NULL, OK},
    {"legacy read grants no update",
     {"path \"secret/*\" { policy = \"read\" }"}, false, "secret/x",
     KH_OP_UPDATE, false, NULL, NO},
    {"legacy sudo grants sudo", {"path \"sys/raw\" { policy = \"sudo\" }"},
     false, "sys/raw", KH_OP_DELETE, true, NULL, OK},
    {"legacy deny overrides listed capabilities",
     {"path \"s/x\" {\n policy = \"deny\"\n capabilities = [\"read\"]\n}"},
     false, "s/x", KH_OP_READ, false, NULL, NO},
    /* parameters on the winning rule */
    {"allowed value passes", {params_allowed}, false, "secret/p",
     KH_OP_UPDATE, false, "{\"ttl\":\"1h\"}", OK},
    {"value outside the allowed list fails", {params_allowed}, false,
     "secret/p", KH_OP_UPDATE, false, "{\"ttl\":\"3h\"}", NO},
    {"unlisted parameter fails", {params_allowed}, false, "secret/p",
     KH_OP_UPDATE, false, "{\"ttl\":\"1h\",\"other\":1}", NO},
    {"globbed allowed values (prefix)", {params_allowed}, false, "secret/p",
     KH_OP_UPDATE, false, "{\"ttl\":\"2h\",\"env\":\"prod-eu\"}", OK},
    {"globbed allowed values (suffix)", {params_allowed}, false, "secret/p",
     KH_OP_CREATE, false, "{\"ttl\":\"2h\",\"env\":\"eu-test\"}", OK},
    {"globbed allowed values refuse others", {params_allowed}, false,
     "secret/p", KH_OP_UPDATE, false, "{\"ttl\":\"2h\",\"env\":\"dev\"}", NO},
    {"empty value list allows any value; names are case-insensitive",
     {params_allowed}, false, "secret/p", KH_OP_UPDATE, false,
     "{\"ttl\":\"1h\",\"Tags\":[1,2]}", OK},
    {"required parameter missing fails", {params_allowed}, false, "secret/p",
     KH_OP_UPDATE, false, "{\"env\":\"prod-x\"}", NO},
    {"required parameter missing fails with no data", {params_allowed}, false,
     "secret/p", KH_OP_READ, false, NULL, NO},
    {"parameters are not checked on delete", {params_allowed}, false,
     "secret/p", KH_OP_DELETE, false, "{\"zzz\":1}", OK},
    {"allowed star allows everything",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " allowed_parameters = { \"*\" = [] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"x\":1,\"y\":\"z\"}", OK},
    {"denied parameter fails",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " denied_parameters = { \"admin\" = [] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"x\":1,\"Admin\":true}", NO},
    {"denied parameter lets others pass",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " denied_parameters = { \"admin\" = [] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"x\":1}", OK},
    {"denied value list refuses only those values",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " denied_parameters = { \"n\" = [1, true, \"bad*\"] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"n\":2}", OK},
    {"denied value list matches numbers",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " denied_parameters = { \"n\" = [1, true, \"bad*\"] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"n\":1}", NO},
    {"denied star refuses any data",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " denied_parameters = { \"*\" = [] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"x\":1}", NO},
    {"denied star allows an empty body",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " denied_parameters = { \"*\" = [] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{}", OK},
    {"constraints of a losing rule do not apply",
     {"path \"secret/*\" {\n capabilities = [\"update\"]\n"
      " allowed_parameters = { \"a\" = [] }\n}\n" P("secret/foo", U)},
     false, "secret/foo", KH_OP_UPDATE, false, "{\"b\":1}", OK},
    {"merged rules merge allowed values",
     {"path \"a\" {\n capabilities = [\"update\"]\n"
      " allowed_parameters = { \"x\" = [\"1\"] }\n}",
      "path \"a\" {\n capabilities = [\"update\"]\n"
      " allowed_parameters = { \"x\" = [\"2\"] }\n}"},
     false, "a", KH_OP_UPDATE, false, "{\"x\":\"2\"}", OK},
    /* syntax details */
    {"leading slash is stripped", {P("/secret/foo", R)}, false, "secret/foo",
     KH_OP_READ, false, NULL, OK},
    {"duplicate path blocks are merged",
     {P("secret/foo", R) P("secret/foo", U)}, false, "secret/foo",
     KH_OP_UPDATE, false, NULL, OK},
    {"duplicate path blocks merge deny",
     {P("secret/foo", R) P("secret/foo", D)},
     false, "secret/foo", KH_OP_READ, false, NULL, NO},
    {"hvac JSON form grants read", {hvac_json}, false, "secret/app",
     KH_OP_READ, false, NULL, OK},
    {"hvac JSON form grants only what it lists", {hvac_json}, false,
     "secret/app", KH_OP_UPDATE, false, NULL, NO},
    {"JSON list form", {"{\"path\":[{\"a/*\":{\"capabilities\":[\"read\"]}}]}"},
     false, "a/b", KH_OP_READ, false, NULL, OK},
    {"HCL object form", {"path = { \"a/*\" = { capabilities = [\"read\"] } }"},
     false, "a/b", KH_OP_READ, false, NULL, OK},
    {"comments of every kind", {"# one\n// two\n/* three */\n" P("a", R)},
     false, "a", KH_OP_READ, false, NULL, OK},
};
/* clang-format on */

static struct acl *build_acl(const char *const *texts, size_t count, bool root)
{
    struct policy *policies[CASES_POLICIES_MAX] = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct acl *acl = NULL;
    size_t i;
    int r;

    for (i = 0; i < count; i++) {
        r = policy_parse("t", texts[i], strlen(texts[i]), &policies[i], errmsg,
                         sizeof(errmsg));
        if (r != 0)
            print_error("policy %zu: %s\n", i, errmsg);
        assert_int_equal(r, 0);
    }
    assert_int_equal(acl_create(policies, count, root, &acl), 0);
    for (i = 0; i < count; i++)
        policy_unref(policies[i]);
    return acl;
}

static size_t text_count(const char *const *texts)
{
    size_t n = 0;

    while (n < CASES_POLICIES_MAX && texts[n] != NULL)
        n++;
    return n;
}

/* Every row of acl_cases decides as §8 says. */
static void test_acl_table(void **state)
{
    size_t i, failures = 0;

    for (i = 0; i < KH_ARRAY_LEN(acl_cases); i++) {
        const struct acl_case *c = &acl_cases[i];
        char errmsg[KH_ERRMSG_SIZE] = "";
        json_t *data = NULL;
        unsigned caps = 0;
        struct acl *acl =
            build_acl(c->policies, text_count(c->policies), c->root);
        int r;

        if (c->data != NULL) {
            data = json_loads(c->data, 0, NULL);
            assert_non_null(data);
        }
        r = acl_check(acl, c->path, c->op, c->sudo, data, &caps, errmsg,
                      sizeof(errmsg));
        if (r != c->want) {
            print_error("case %zu \"%s\": got %d, want %d\n", i, c->behaviour,
                        r, c->want);
            failures++;
        }
        if (r == KH_EPERM)
            assert_string_equal(errmsg, "permission denied");
        json_decref(data);
        acl_free(acl);
    }
    assert_true(KH_ARRAY_LEN(acl_cases) >= 40);
    assert_int_equal(failures, 0);
}

struct caps_case
{
    const char *behaviour;
    const char *policy;
    bool root;
    const char *path;
    const char *want; /* names joined by ',' */
};

/* clang-format off */
static const struct caps_case caps_cases[] = {
    {"sorted capability names", P("secret/*", "\"update\",\"read\",\"create\""),
     false, "secret/x", "create,read,update"},
    {"every granting capability, sorted",
     P("a", "\"sudo\",\"update\",\"delete\",\"list\",\"patch\",\"read\","
            "\"create\""),
     false, "a", "create,delete,list,patch,read,sudo,update"},
    {"no matching rule reports deny", P("secret/*", R), false, "sys/mounts",
     "deny"},
    {"deny rule reports deny", P("secret/*", D), false, "secret/x", "deny"},
    {"empty rule reports deny", "path \"a\" {}", false, "a", "deny"},
    {"root token reports root", P("a", R), true, "anything", "root"},
    {"capabilities use the list fallback", P("secret/foo", L), false,
     "secret/foo/", "list"},
};
/* clang-format on */

static void join_names(unsigned caps, char *out, size_t size)
{
    const char *names[POLICY_CAP_NAMES_MAX];
    size_t i, n = policy_caps_names(caps, names);

    out[0] = '\0';
    for (i = 0; i < n; i++) {
        if (i > 0)
            strncat(out, ",", size - strlen(out) - 1);
        strncat(out, names[i], size - strlen(out) - 1);
    }
}

/* acl_capabilities + policy_caps_names give what capabilities-self shows. */
static void test_capabilities_table(void **state)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(caps_cases); i++) {
        const struct caps_case *c = &caps_cases[i];
        struct acl *acl = build_acl(&c->policy, 1, c->root);
        char joined[256];
        json_t *array;

        join_names(acl_capabilities(acl, c->path), joined, sizeof(joined));
        if (strcmp(joined, c->want) != 0)
            print_error("case \"%s\": got %s\n", c->behaviour, joined);
        assert_string_equal(joined, c->want);
        array = policy_caps_json(acl_capabilities(acl, c->path));
        assert_non_null(array);
        assert_true(json_array_size(array) >= 1);
        json_decref(array);
        acl_free(acl);
    }
}

struct parse_case
{
    const char *behaviour;
    const char *text;
    int want;
    const char *message; /* exact errmsg */
};

/* clang-format off */
static const struct parse_case parse_cases[] = {
    {"unknown capability",
     "\n\npath \"a\" {\n  capabilities = [\"read\", \"bogus\"]\n}", KH_EINVAL,
     "t:4:27: invalid capability \"bogus\""},
    {"root is not a capability", "path \"a\" { capabilities = [\"root\"] }",
     KH_EINVAL, "t:1:28: invalid capability \"root\""},
    {"unknown key in a path block",
     "path \"a\" {\n  capabilities = [\"read\"]\n  capability = [\"x\"]\n}",
     KH_EINVAL, "t:3:3: path \"a\": invalid key \"capability\""},
    {"unknown top-level key", "paths \"a\" { }", KH_EINVAL,
     "t:1:1: invalid key \"paths\""},
    {"plus-star is illegal", "path \"secret/+*\" { capabilities = [\"read\"] }",
     KH_EINVAL,
     "t:1:6: path \"secret/+*\": invalid use of wildcards ('+*' is "
     "forbidden)"},
    {"star before the end is illegal",
     "path \"secret/*/x\" { capabilities = [\"read\"] }", KH_EINVAL,
     "t:1:6: path \"secret/*/x\": '*' is allowed only as the last "
     "character"},
    {"unknown legacy policy", "path \"a\" { policy = \"admin\" }", KH_EINVAL,
     "t:1:21: invalid policy \"admin\""},
    {"capabilities must be a list", "path \"a\" { capabilities = 5 }",
     KH_EINVAL, "t:1:12: \"capabilities\" must be a list of strings"},
    {"parameter values must be a list",
     "path \"a\" { allowed_parameters = { \"x\" = \"y\" } }", KH_EINVAL,
     "t:1:35: \"x\" must be a list of values"},
    {"two labels on path", "path \"a\" \"b\" { }", KH_EINVAL,
     "t:1:1: \"path\" takes one label"},
    {"bad duration",
     "path \"a\" { capabilities = [\"read\"]\n max_wrapping_ttl = \"1y\" }",
     KH_EINVAL, "t:2:2: \"max_wrapping_ttl\" must be a duration"},
    {"max below min wrapping TTL",
     "path \"a\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"1h\"\n"
     " max_wrapping_ttl = 60\n}",
     KH_EINVAL,
     "t:1:6: path \"a\": max_wrapping_ttl cannot be less than "
     "min_wrapping_ttl"},
    {"syntax errors carry line:col",
     "path \"a\" {\n  capabilities = [\"read\"\n}", KH_EINVAL, "t:3:1: "},
    {"JSON rule must be an object", "{\"path\": {\"a\": 5}}", KH_EINVAL,
     "t:1:16: path \"a\": expected an object"},
    {"all the accepted keys",
     "name = \"t\"\npath \"a\" {\n comment = \"c\"\n"
     " capabilities = [\"read\"]\n policy = \"read\"\n"
     " allowed_parameters = { \"x\" = [] }\n"
     " denied_parameters = { \"y\" = [] }\n"
     " required_parameters = [\"x\"]\n min_wrapping_ttl = \"1s\"\n"
     " max_wrapping_ttl = \"1h\"\n}",
     0, ""},
    {"empty policy", "", 0, ""},
};
/* clang-format on */

/* Parse errors: the exact message, with line and column. */
static void test_parse_errors(void **state)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        char errmsg[KH_ERRMSG_SIZE] = "";
        struct policy *p = NULL;
        int r = policy_parse("t", c->text, strlen(c->text), &p, errmsg,
                             sizeof(errmsg));

        if (r != c->want)
            print_error("case \"%s\": got %d (%s)\n", c->behaviour, r, errmsg);
        assert_int_equal(r, c->want);
        if (c->want == 0) {
            assert_non_null(p);
            policy_unref(p);
            continue;
        }
        assert_null(p);
        if (strncmp(errmsg, c->message, strlen(c->message)) != 0 ||
            (c->message[strlen(c->message) - 1] != ' ' &&
             strcmp(errmsg, c->message) != 0))
            print_error("case \"%s\": errmsg \"%s\"\n", c->behaviour, errmsg);
        assert_int_equal(strncmp(errmsg, c->message, strlen(c->message)), 0);
        if (c->message[strlen(c->message) - 1] != ' ')
            assert_string_equal(errmsg, c->message);
    }
}

/* The compiled form: exact rules sorted, globs by priority, text kept. */
static void test_compiled_form(void **state)
{
    const char *text =
        P("b", R) P("a", R) P("x/*", R) P("x/y/*", R) P("x/+/z", R) P("/a", U);
    char errmsg[KH_ERRMSG_SIZE];
    struct policy *p = NULL;

    assert_int_equal(
        policy_parse("name", text, strlen(text), &p, errmsg, sizeof(errmsg)),
        0);
    assert_string_equal(p->name, "name");
    assert_string_equal(p->text, text);
    assert_int_equal(p->rules.exact_count, 2);
    assert_string_equal(p->rules.exact[0].pattern, "a");
    assert_int_equal(p->rules.exact[0].caps,
                     POLICY_CAP_READ | POLICY_CAP_UPDATE);
    assert_string_equal(p->rules.exact[1].pattern, "b");
    assert_int_equal(p->rules.glob_count, 3);
    assert_string_equal(p->rules.glob[0].pattern, "x/y/*");
    assert_string_equal(p->rules.glob[1].pattern, "x/+/z");
    assert_string_equal(p->rules.glob[2].pattern, "x/*");
    assert_int_equal(p->rules.glob[1].kind, POLICY_MATCH_SEGMENT);
    assert_int_equal(p->rules.glob[1].wc_segments, 1);
    /* references: the policy survives until the last unref */
    policy_ref(p);
    policy_unref(p);
    assert_string_equal(p->name, "name");
    policy_unref(p);
}

/* The ACL owns its rules: it outlives the policies it came from. */
static void test_acl_outlives_policies(void **state)
{
    const char *text = P("secret/*", R);
    char errmsg[KH_ERRMSG_SIZE];
    struct policy *p = NULL;
    struct acl *acl = NULL;

    assert_int_equal(
        policy_parse("p", text, strlen(text), &p, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(acl_create(&p, 1, false, &acl), 0);
    policy_unref(p);
    assert_int_equal(acl_check(acl, "secret/a", KH_OP_READ, false, NULL, NULL,
                               errmsg, sizeof(errmsg)),
                     0);
    assert_false(acl_is_root(acl));
    assert_non_null(acl_match(acl, "secret/a", false));
    acl_free(acl);
    acl_free(NULL);
    policy_unref(NULL);
}

/* Text size: POLICY_TEXT_BYTES_MAX parses, one byte more is refused. */
static void test_limit_text(void **state)
{
    char errmsg[KH_ERRMSG_SIZE];
    size_t len = POLICY_TEXT_BYTES_MAX;
    char *text = malloc(len + 1);
    struct policy *p = NULL;

    assert_non_null(text);
    memset(text, ' ', len + 1);
    memcpy(text, P("a", R), strlen(P("a", R)));
    assert_int_equal(policy_parse("t", text, len, &p, errmsg, sizeof(errmsg)),
                     0);
    policy_unref(p);
    p = NULL;
    assert_int_equal(
        policy_parse("t", text, len + 1, &p, errmsg, sizeof(errmsg)),
        KH_ELIMIT);
    assert_null(p);
    free(text);
}

static char *many_rules(size_t count)
{
    size_t size = count * 48 + 1, off = 0, i;
    char *text = malloc(size);

    assert_non_null(text);
    for (i = 0; i < count; i++)
        off += (size_t)snprintf(
            text + off, size - off,
            "path \"p/%zu\" { capabilities = [\"read\"] }\n", i);
    return text;
}

/* Rules: POLICY_RULES_MAX path blocks compile, one more is refused; the
 * ACL merges across policies and evaluates the last one. */
static void test_limit_rules(void **state)
{
    char errmsg[KH_ERRMSG_SIZE];
    char *text = many_rules(POLICY_RULES_MAX);
    struct policy *p = NULL;
    struct acl *acl = NULL;

    assert_int_equal(
        policy_parse("t", text, strlen(text), &p, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(p->rules.exact_count, POLICY_RULES_MAX);
    assert_int_equal(acl_create(&p, 1, false, &acl), 0);
    assert_int_equal(acl_check(acl, "p/9999", KH_OP_READ, false, NULL, NULL,
                               errmsg, sizeof(errmsg)),
                     0);
    acl_free(acl);
    policy_unref(p);
    free(text);
    text = many_rules(POLICY_RULES_MAX + 1);
    p = NULL;
    assert_int_equal(
        policy_parse("t", text, strlen(text), &p, errmsg, sizeof(errmsg)),
        KH_ELIMIT);
    assert_contains(errmsg, "more than 10000 path rules");
    free(text);
}

/* Pattern length: POLICY_PATH_BYTES_MAX is fine, one more is refused. */
static void test_limit_pattern(void **state)
{
    char errmsg[KH_ERRMSG_SIZE];
    size_t n;

    for (n = POLICY_PATH_BYTES_MAX; n <= POLICY_PATH_BYTES_MAX + 1; n++) {
        char *text = malloc(n + 64);
        struct policy *p = NULL;
        int r;
        assert_non_null(text);
        memcpy(text, "path \"", 6);
        memset(text + 6, 'a', n);
        strcpy(text + 6 + n, "\" { capabilities = [\"read\"] }");
        r = policy_parse("t", text, strlen(text), &p, errmsg, sizeof(errmsg));
        assert_int_equal(r, n == POLICY_PATH_BYTES_MAX ? 0 : KH_ELIMIT);
        policy_unref(p);
        free(text);
    }
}

/* Parameter lists: POLICY_PARAM_VALUES_MAX values, one more refused. */
static void test_limit_param_values(void **state)
{
    char errmsg[KH_ERRMSG_SIZE];
    size_t n;

    for (n = POLICY_PARAM_VALUES_MAX; n <= POLICY_PARAM_VALUES_MAX + 1; n++) {
        size_t size = n * 8 + 128, off, i;
        char *text = malloc(size);
        struct policy *p = NULL;
        int r;
        assert_non_null(text);
        off = (size_t)snprintf(text, size,
                               "path \"a\" { allowed_parameters = { x = [");
        for (i = 0; i < n; i++)
            off += (size_t)snprintf(text + off, size - off, "%zu,", i);
        snprintf(text + off, size - off, "] } }");
        r = policy_parse("t", text, strlen(text), &p, errmsg, sizeof(errmsg));
        assert_int_equal(r, n == POLICY_PARAM_VALUES_MAX ? 0 : KH_ELIMIT);
        policy_unref(p);
        free(text);
    }
}

/* Policies per ACL: ACL_POLICIES_MAX, one more refused. */
static void test_limit_acl_policies(void **state)
{
    struct policy *policies[ACL_POLICIES_MAX + 1] = {0};
    struct acl *acl = NULL;

    assert_int_equal(acl_create(policies, ACL_POLICIES_MAX, false, &acl), 0);
    acl_free(acl);
    acl = NULL;
    assert_int_equal(acl_create(policies, ACL_POLICIES_MAX + 1, false, &acl),
                     KH_ELIMIT);
    assert_null(acl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_table),
        cmocka_unit_test(test_capabilities_table),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_compiled_form),
        cmocka_unit_test(test_acl_outlives_policies),
        cmocka_unit_test(test_limit_text),
        cmocka_unit_test(test_limit_rules),
        cmocka_unit_test(test_limit_pattern),
        cmocka_unit_test(test_limit_param_values),
        cmocka_unit_test(test_limit_acl_policies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
