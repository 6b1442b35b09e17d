/*
 * acl.c - merge a token's compiled policies into one ACL and evaluate a
 * request path against it (acl.h; Vault API: policy matching).
 *
 * Owns path matching (exact, prefix, '+' segments) and the parameter
 * constraints of the winning rule. It must never allocate while
 * evaluating (acl_match/acl_check/acl_capabilities run on every request),
 * never combine capabilities of different patterns, and never allow when
 * in doubt: an unknown operation, a parameter name too long to compare or
 * no matching rule all deny.
 */
#include "policy/acl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct acl
{
    bool root;
    struct policy_ruleset rules;
};

bool acl_is_root(const struct acl *acl)
{
    return acl->root;
}

void acl_free(struct acl *acl)
{
    if (acl == NULL)
        return;
    policy_ruleset_clear(&acl->rules);
    free(acl);
}

/* Copy every rule of the policies into one array (for merging). */
static int collect_rules(struct policy *const *policies, size_t count,
                         struct policy_rule **ret, size_t *ret_count)
{
    struct policy_rule *rules;
    size_t i, j, total = 0, n = 0;

    for (i = 0; i < count; i++) {
        if (policies[i] != NULL)
            total +=
                policies[i]->rules.exact_count + policies[i]->rules.glob_count;
    }
    if (total > ACL_RULES_MAX)
        return KH_ELIMIT;
    rules = calloc(total > 0 ? total : 1, sizeof(*rules));
    if (rules == NULL)
        return KH_ENOMEM;
    for (i = 0; i < count; i++) {
        const struct policy_ruleset *rs;
        if (policies[i] == NULL)
            continue;
        rs = &policies[i]->rules;
        for (j = 0; j < rs->exact_count + rs->glob_count; j++) {
            const struct policy_rule *src =
                j < rs->exact_count ? &rs->exact[j]
                                    : &rs->glob[j - rs->exact_count];
            if (policy_rule_copy(&rules[n], src) != 0)
                goto nomem;
            n++;
        }
    }
    KH_ASSERT(n == total);
    *ret = rules;
    *ret_count = n;
    return 0;
nomem:
    for (j = 0; j < n; j++)
        policy_rule_clear(&rules[j]);
    free(rules);
    return KH_ENOMEM;
}

int acl_create(struct policy *const *policies, size_t count, bool root,
               struct acl **ret_acl)
{
    struct acl *acl = NULL;
    struct policy_rule *rules = NULL;
    size_t rule_count = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(policies != NULL || count == 0);
    if (count > ACL_POLICIES_MAX) {
        r = KH_ELIMIT;
        goto out;
    }
    acl = calloc(1, sizeof(*acl));
    if (acl == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    acl->root = root;
    if (!root) {
        r = collect_rules(policies, count, &rules, &rule_count);
        if (r != 0)
            goto out;
        /* takes the rules over, also on failure */
        r = policy_ruleset_build(rules, rule_count, &acl->rules);
        if (r != 0)
            goto out;
    }
    *ret_acl = acl;
    acl = NULL;
    r = 0; /* success */
out:
    acl_free(acl);
    return r;
}

/* ---- matching ---- */

/* strcmp of pattern against the first len bytes of key. */
static int cmp_key(const char *pattern, const char *key, size_t len)
{
    int c = strncmp(pattern, key, len);

    if (c != 0)
        return c;
    return pattern[len] != '\0' ? 1 : 0;
}

static const struct policy_rule *find_exact(const struct policy_ruleset *rs,
                                            const char *key, size_t len)
{
    size_t lo = 0, hi = rs->exact_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(rs->exact[mid].pattern, key, len);
        if (c == 0)
            return &rs->exact[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static size_t segment_len(const char *s, const char *end)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));

    return slash != NULL ? (size_t)(slash - s) : (size_t)(end - s);
}

/* Vault's segment-wildcard match: "+" takes any one segment (even an
 * empty one), other segments must be equal, except that the last one of a
 * prefix pattern only has to begin the path's segment. */
static bool segment_match(const struct policy_rule *rule, const char *path,
                          size_t path_len)
{
    const char *p = rule->pattern, *pend = p + rule->wc_len;
    const char *s = path, *send = path + path_len;
    unsigned i, path_segments = 1;
    size_t k;

    for (k = 0; k < path_len; k++)
        path_segments += path[k] == '/';
    if (path_segments < rule->segment_count ||
        (!rule->is_prefix && path_segments != rule->segment_count))
        return false;
    for (i = 0; i < rule->segment_count; i++) {
        size_t pl = segment_len(p, pend), sl = segment_len(s, send);
        bool last = i + 1 == rule->segment_count;
        if (!(pl == 1 && p[0] == '+') && !(pl == sl && memcmp(p, s, pl) == 0) &&
            !(rule->is_prefix && last && pl <= sl && memcmp(p, s, pl) == 0))
            return false;
        p += pl + (last ? 0 : 1);
        s += sl + (s + sl < send ? 1 : 0);
    }
    return true;
}

static bool glob_match(const struct policy_rule *rule, const char *path,
                       size_t path_len)
{
    if (rule->kind == POLICY_MATCH_PREFIX)
        return path_len >= rule->wc_len &&
               memcmp(path, rule->pattern, rule->wc_len) == 0;
    KH_ASSERT(rule->kind == POLICY_MATCH_SEGMENT);
    return segment_match(rule, path, path_len);
}

const struct policy_rule *acl_match(const struct acl *acl, const char *path,
                                    bool list_op)
{
    const struct policy_rule *rule;
    size_t i, len = strlen(path);

    if (acl->root)
        return NULL;
    /* 1. exact, and for LIST also without the trailing '/' */
    rule = find_exact(&acl->rules, path, len);
    if (rule == NULL && list_op && len > 0 && path[len - 1] == '/')
        rule = find_exact(&acl->rules, path, len - 1);
    if (rule != NULL)
        return rule;
    /* 2. the highest-priority glob or '+' rule: they are sorted */
    for (i = 0; i < acl->rules.glob_count; i++) {
        if (glob_match(&acl->rules.glob[i], path, len))
            return &acl->rules.glob[i];
    }
    return NULL;
}

/* ---- parameters ---- */

/* Vault's strutil.GlobbedStringsMatch: "*x", "x*", "*x*" or equality. */
static bool glob_string(const char *item, const char *val)
{
    size_t il = strlen(item), vl = strlen(val);
    bool head, tail;

    if (il < 2)
        return strcmp(item, val) == 0;
    head = item[0] == '*';
    tail = item[il - 1] == '*';
    if (head && tail)
        return memmem(val, vl, item + 1, il - 2) != NULL;
    if (head)
        return vl >= il - 1 &&
               memcmp(val + vl - (il - 1), item + 1, il - 1) == 0;
    if (tail)
        return vl >= il - 1 && memcmp(val, item, il - 1) == 0;
    return strcmp(item, val) == 0;
}

/* An empty list allows any value; strings match with globs; other values
 * by equality. */
static bool value_in_list(const json_t *value, const json_t *list)
{
    const json_t *el;
    size_t i;

    if (json_array_size(list) == 0)
        return true;
    json_array_foreach(list, i, el)
    {
        if (json_is_string(el) && json_is_string(value)) {
            if (glob_string(json_string_value(el), json_string_value(value)))
                return true;
        } else if (json_equal((json_t *)el, (json_t *)value)) {
            return true;
        }
    }
    return false;
}

static bool required_present(const struct policy_rule *rule, const json_t *data)
{
    const json_t *name;
    size_t i;

    json_array_foreach(rule->required, i, name)
    {
        if (data == NULL ||
            json_object_get(data, json_string_value(name)) == NULL)
            return false;
    }
    return true;
}

/* One request field against the lists; key lowercased into a bounded
 * buffer (a longer key cannot be in a list: it passes the denied list and
 * fails an allowed one). */
static bool field_allowed(const struct policy_rule *rule, bool allowed_all,
                          const char *key, const json_t *value)
{
    char lower[POLICY_PARAM_NAME_BYTES_MAX + 1];
    size_t i, len = strlen(key);
    const json_t *list;

    if (len > POLICY_PARAM_NAME_BYTES_MAX)
        return rule->allowed == NULL || allowed_all;
    for (i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)key[i]);
    lower[len] = '\0';
    list = rule->denied != NULL ? json_object_get(rule->denied, lower) : NULL;
    if (list != NULL && value_in_list(value, list))
        return false;
    if (rule->allowed == NULL || allowed_all)
        return true;
    list = json_object_get(rule->allowed, lower);
    return list != NULL && value_in_list(value, list);
}

/* Vault's ACL.AllowOperation parameter section, in its order. */
static bool params_allowed(const struct policy_rule *rule, const json_t *data)
{
    const char *key;
    const json_t *value;
    bool allowed_all;

    if (!required_present(rule, data))
        return false;
    if (data == NULL || json_object_size(data) == 0)
        return true;
    if (rule->allowed == NULL && rule->denied == NULL)
        return true;
    if (rule->denied != NULL && json_object_get(rule->denied, "*") != NULL)
        return false;
    allowed_all =
        rule->allowed != NULL && json_object_get(rule->allowed, "*") != NULL;
    if (allowed_all && json_object_size(rule->allowed) == 1)
        return true;
    json_object_foreach((json_t *)data, key, value)
    {
        if (!field_allowed(rule, allowed_all, key, value))
            return false;
    }
    return true;
}

/* ---- decisions ---- */

static unsigned cap_for_op(enum kh_operation op)
{
    switch (op) {
    case KH_OP_READ:
    case KH_OP_HEAD:
        return POLICY_CAP_READ;
    case KH_OP_LIST:
        return POLICY_CAP_LIST;
    case KH_OP_CREATE:
        return POLICY_CAP_CREATE;
    case KH_OP_UPDATE:
        return POLICY_CAP_UPDATE;
    case KH_OP_PATCH:
        return POLICY_CAP_PATCH;
    case KH_OP_DELETE:
        return POLICY_CAP_DELETE;
    }
    return 0;
}

static bool op_checks_params(enum kh_operation op)
{
    return op == KH_OP_READ || op == KH_OP_CREATE || op == KH_OP_UPDATE ||
           op == KH_OP_PATCH;
}

int acl_check(const struct acl *acl, const char *path, enum kh_operation op,
              bool sudo_required, const json_t *request_data,
              unsigned *ret_caps, char *errmsg, size_t errmsg_size)
{
    const struct policy_rule *rule;
    unsigned need = cap_for_op(op);

    KH_ASSERT(acl != NULL);
    KH_ASSERT(path != NULL);
    if (acl->root) {
        if (ret_caps != NULL)
            *ret_caps = POLICY_CAP_ROOT | POLICY_CAPS_GRANTING;
        return 0;
    }
    rule = acl_match(acl, path, op == KH_OP_LIST);
    if (rule == NULL || need == 0 || (rule->caps & POLICY_CAP_DENY) ||
        (rule->caps & need) == 0 ||
        (sudo_required && (rule->caps & POLICY_CAP_SUDO) == 0))
        goto denied;
    if (op_checks_params(op) && !params_allowed(rule, request_data))
        goto denied;
    if (ret_caps != NULL)
        *ret_caps = rule->caps;
    return 0;
denied:
    return kh_errmsg(errmsg, errmsg_size, KH_EPERM, "permission denied");
}

unsigned acl_capabilities(const struct acl *acl, const char *path)
{
    const struct policy_rule *rule;

    KH_ASSERT(acl != NULL);
    if (acl->root)
        return POLICY_CAP_ROOT;
    rule = acl_match(acl, path, true);
    return rule != NULL ? rule->caps : 0;
}
