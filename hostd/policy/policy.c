/*
 * policy.c - parse one ACL policy (HCL or JSON, Vault API: policy syntax) and
 * compile it into a struct policy_ruleset (policy.h).
 *
 * Owns the policy schema: top-level keys `path` and `name`; per-path keys
 * capabilities, policy (legacy), allowed/denied/required_parameters,
 * min/max_wrapping_ttl and comment; anything else is an error that names
 * its line and column. It must never accept a rule it cannot evaluate
 * exactly (a '*' that is not last, "+*", an unknown capability), never
 * recurse over the document (the tree walk below has a fixed depth), and
 * never grow past the limits in policy.h.
 */
#include "policy/policy.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "config/hcl.h"

static_assert(POLICY_TEXT_BYTES_MAX <= KH_CONFIG_FILE_BYTES_MAX,
              "the HCL parser refuses longer text");
static_assert(POLICY_CAP_ROOT < (1u << 9), "caps fit the names table");

/* Capability names in Vault's sort order (policy_caps_names). */
static const struct
{
    const char *name;
    unsigned cap;
} cap_names[] = {
    {"create", POLICY_CAP_CREATE}, {"delete", POLICY_CAP_DELETE},
    {"deny", POLICY_CAP_DENY},     {"list", POLICY_CAP_LIST},
    {"patch", POLICY_CAP_PATCH},   {"read", POLICY_CAP_READ},
    {"root", POLICY_CAP_ROOT},     {"sudo", POLICY_CAP_SUDO},
    {"update", POLICY_CAP_UPDATE},
};
static_assert(KH_ARRAY_LEN(cap_names) == POLICY_CAP_NAMES_MAX,
              "one name per capability");

/* Legacy `policy = "..."` values (§8.1). */
#define CAPS_LEGACY_WRITE                                                      \
    (POLICY_CAP_CREATE | POLICY_CAP_READ | POLICY_CAP_UPDATE |                 \
     POLICY_CAP_DELETE | POLICY_CAP_LIST)
static const struct
{
    const char *name;
    unsigned caps;
} legacy_policies[] = {
    {"deny", POLICY_CAP_DENY},
    {"read", POLICY_CAP_READ | POLICY_CAP_LIST},
    {"write", CAPS_LEGACY_WRITE},
    {"sudo", CAPS_LEGACY_WRITE | POLICY_CAP_SUDO},
};

struct parse_ctx
{
    const char *name;
    char *errmsg;
    size_t errmsg_size;
    struct policy_rule *rules;
    size_t count;
    size_t cap;
};

static int perr(const struct parse_ctx *ctx, unsigned line, unsigned col, int r,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int perr(const struct parse_ctx *ctx, unsigned line, unsigned col, int r,
                const char *fmt, ...)
{
    char what[KH_ERRMSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return kh_errmsg(ctx->errmsg, ctx->errmsg_size, r, "%s:%u:%u: %s",
                     ctx->name, line, col, what);
}

static int nomem(const struct parse_ctx *ctx)
{
    return kh_errmsg(ctx->errmsg, ctx->errmsg_size, KH_ENOMEM,
                     "%s: out of memory while compiling the policy", ctx->name);
}

/* ---- capabilities ---- */

size_t policy_caps_names(unsigned caps, const char *names[POLICY_CAP_NAMES_MAX])
{
    size_t i, n = 0;

    if (caps & POLICY_CAP_ROOT) {
        names[0] = "root";
        return 1;
    }
    if ((caps & POLICY_CAP_DENY) || (caps & POLICY_CAPS_GRANTING) == 0) {
        names[0] = "deny";
        return 1;
    }
    for (i = 0; i < KH_ARRAY_LEN(cap_names); i++) {
        if (caps & cap_names[i].cap)
            names[n++] = cap_names[i].name;
    }
    KH_ASSERT(n >= 1);
    KH_ASSERT(n <= POLICY_CAP_NAMES_MAX);
    return n;
}

json_t *policy_caps_json(unsigned caps)
{
    const char *names[POLICY_CAP_NAMES_MAX];
    size_t i, n = policy_caps_names(caps, names);
    json_t *array = json_array();

    for (i = 0; array != NULL && i < n; i++) {
        if (json_array_append_new(array, json_string(names[i])) != 0) {
            json_decref(array);
            array = NULL;
        }
    }
    return array;
}

/* The bit for a capability name written in a policy, or 0. "root" cannot
 * be written. */
static unsigned cap_from_name(const char *name)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(cap_names); i++) {
        if (cap_names[i].cap != POLICY_CAP_ROOT &&
            strcmp(cap_names[i].name, name) == 0)
            return cap_names[i].cap;
    }
    return 0;
}

/* ---- rules: copy, clear, merge, order ---- */

void policy_rule_clear(struct policy_rule *rule)
{
    if (rule == NULL)
        return;
    free(rule->pattern);
    json_decref(rule->allowed);
    json_decref(rule->denied);
    json_decref(rule->required);
    memset(rule, 0, sizeof(*rule));
}

int policy_rule_copy(struct policy_rule *dst, const struct policy_rule *src)
{
    KH_ASSERT(src->pattern != NULL);
    *dst = *src;
    dst->pattern = strdup(src->pattern);
    if (dst->pattern == NULL) {
        memset(dst, 0, sizeof(*dst));
        return KH_ENOMEM;
    }
    json_incref(dst->allowed);
    json_incref(dst->denied);
    json_incref(dst->required);
    return 0;
}

/* Merge parameter map b into a (Vault's NewACL): per name, an empty value
 * list wins (any value); otherwise values are appended. Returns a new
 * object in *ret (NULL when both are NULL). */
static int params_merge(const json_t *a, const json_t *b, json_t **ret)
{
    const char *key;
    json_t *merged, *value;

    if (a == NULL || b == NULL) {
        *ret = json_incref((json_t *)(a != NULL ? a : b));
        return 0;
    }
    merged = json_deep_copy(a);
    if (merged == NULL)
        return KH_ENOMEM;
    json_object_foreach((json_t *)b, key, value)
    {
        json_t *have = json_object_get(merged, key);
        int fail;
        if (have == NULL)
            fail = json_object_set(merged, key, value);
        else if (json_array_size(have) == 0 || json_array_size(value) == 0)
            fail = json_array_clear(have);
        else
            fail = json_array_extend(have, value);
        if (fail != 0) {
            json_decref(merged);
            return KH_ENOMEM;
        }
    }
    *ret = merged;
    return 0;
}

/* Union of two arrays of names, without duplicates. */
static int names_union(const json_t *a, const json_t *b, json_t **ret)
{
    json_t *merged, *value;
    size_t i, j;

    if (a == NULL || b == NULL) {
        *ret = json_incref((json_t *)(a != NULL ? a : b));
        return 0;
    }
    merged = json_copy((json_t *)a);
    if (merged == NULL)
        return KH_ENOMEM;
    json_array_foreach((json_t *)b, i, value)
    {
        bool seen = false;
        for (j = 0; j < json_array_size(merged); j++)
            seen = seen || json_equal(json_array_get(merged, j), value);
        if (!seen && json_array_append(merged, value) != 0) {
            json_decref(merged);
            return KH_ENOMEM;
        }
    }
    *ret = merged;
    return 0;
}

static void set_json(json_t **slot, json_t *value)
{
    json_decref(*slot);
    *slot = value;
}

int policy_rule_merge(struct policy_rule *a, const struct policy_rule *b)
{
    json_t *allowed = NULL, *denied = NULL, *required = NULL;
    int r;

    KH_ASSERT(strcmp(a->pattern, b->pattern) == 0);
    KH_ASSERT(a->kind == b->kind);
    if ((a->caps | b->caps) & POLICY_CAP_DENY) {
        a->caps = POLICY_CAP_DENY;
        set_json(&a->allowed, NULL);
        set_json(&a->denied, NULL);
        set_json(&a->required, NULL);
        a->min_wrapping_ttl_s = 0;
        a->max_wrapping_ttl_s = 0;
        return 0;
    }
    r = params_merge(a->allowed, b->allowed, &allowed);
    if (r == 0)
        r = params_merge(a->denied, b->denied, &denied);
    if (r == 0)
        r = names_union(a->required, b->required, &required);
    if (r != 0) {
        json_decref(allowed);
        json_decref(denied);
        return r;
    }
    a->caps |= b->caps;
    set_json(&a->allowed, allowed);
    set_json(&a->denied, denied);
    set_json(&a->required, required);
    if (b->min_wrapping_ttl_s != 0 &&
        (a->min_wrapping_ttl_s == 0 ||
         b->min_wrapping_ttl_s < a->min_wrapping_ttl_s))
        a->min_wrapping_ttl_s = b->min_wrapping_ttl_s;
    if (b->max_wrapping_ttl_s > a->max_wrapping_ttl_s)
        a->max_wrapping_ttl_s = b->max_wrapping_ttl_s;
    return 0;
}

int policy_rule_priority_cmp(const struct policy_rule *a,
                             const struct policy_rule *b)
{
    size_t n;
    int c;

    KH_ASSERT(a->kind != POLICY_MATCH_EXACT);
    KH_ASSERT(b->kind != POLICY_MATCH_EXACT);
    /* (a) the later the first wildcard, the higher */
    if (a->first_wc != b->first_wc)
        return a->first_wc > b->first_wc ? -1 : 1;
    /* (b) a trailing '*' is lower */
    if (a->is_prefix != b->is_prefix)
        return a->is_prefix ? 1 : -1;
    /* (c) more '+' segments is lower */
    if (a->wc_segments != b->wc_segments)
        return a->wc_segments < b->wc_segments ? -1 : 1;
    /* (d) shorter is lower */
    if (a->wc_len != b->wc_len)
        return a->wc_len > b->wc_len ? -1 : 1;
    /* (e) lexicographically lower is lower */
    n = a->wc_len;
    c = memcmp(a->pattern, b->pattern, n);
    return c > 0 ? -1 : (c < 0 ? 1 : 0);
}

static int cmp_pattern(const void *x, const void *y)
{
    const struct policy_rule *a = x, *b = y;

    return strcmp(a->pattern, b->pattern);
}

static int cmp_priority(const void *x, const void *y)
{
    return policy_rule_priority_cmp(x, y);
}

void policy_ruleset_clear(struct policy_ruleset *rs)
{
    size_t i;

    if (rs == NULL)
        return;
    for (i = 0; i < rs->exact_count; i++)
        policy_rule_clear(&rs->exact[i]);
    for (i = 0; i < rs->glob_count; i++)
        policy_rule_clear(&rs->glob[i]);
    free(rs->exact);
    free(rs->glob);
    memset(rs, 0, sizeof(*rs));
}

/* Merge runs of identical patterns in a pattern-sorted array into their
 * first rule; the others are cleared (pattern NULL). */
static int merge_identical(struct policy_rule *rules, size_t count)
{
    size_t i, head = 0;
    int r;

    for (i = 1; i < count; i++) {
        if (strcmp(rules[head].pattern, rules[i].pattern) != 0) {
            head = i;
            continue;
        }
        r = policy_rule_merge(&rules[head], &rules[i]);
        if (r != 0)
            return r;
        policy_rule_clear(&rules[i]);
    }
    return 0;
}

int policy_ruleset_build(struct policy_rule *rules, size_t count,
                         struct policy_ruleset *ret)
{
    struct policy_ruleset rs = {0};
    size_t i, exact = 0, glob = 0;
    int r = KH_ENOMEM;

    if (count > 0)
        qsort(rules, count, sizeof(*rules), cmp_pattern);
    if (merge_identical(rules, count) != 0)
        goto out;
    for (i = 0; i < count; i++) {
        if (rules[i].pattern == NULL)
            continue;
        if (rules[i].kind == POLICY_MATCH_EXACT)
            exact++;
        else
            glob++;
    }
    rs.exact = calloc(exact > 0 ? exact : 1, sizeof(*rs.exact));
    rs.glob = calloc(glob > 0 ? glob : 1, sizeof(*rs.glob));
    if (rs.exact == NULL || rs.glob == NULL)
        goto out;
    for (i = 0; i < count; i++) {
        if (rules[i].pattern == NULL)
            continue;
        if (rules[i].kind == POLICY_MATCH_EXACT)
            rs.exact[rs.exact_count++] = rules[i];
        else
            rs.glob[rs.glob_count++] = rules[i];
        memset(&rules[i], 0, sizeof(rules[i]));
    }
    KH_ASSERT(rs.exact_count == exact);
    KH_ASSERT(rs.glob_count == glob);
    if (rs.glob_count > 1)
        qsort(rs.glob, rs.glob_count, sizeof(*rs.glob), cmp_priority);
    *ret = rs;
    memset(&rs, 0, sizeof(rs));
    r = 0; /* success */
out:
    for (i = 0; i < count; i++)
        policy_rule_clear(&rules[i]);
    free(rules);
    policy_ruleset_clear(&rs);
    return r;
}

/* ---- patterns ---- */

/* Classify rule->pattern as Vault's parsePaths does: segment wildcards
 * when the pattern is "+", starts with "+/" or contains "/+"; otherwise a
 * trailing '*' makes a prefix rule. */
static void classify(struct policy_rule *rule)
{
    const char *p = rule->pattern;
    size_t len = strlen(p), i;
    const char *plus = strchr(p, '+');
    bool segments = strcmp(p, "+") == 0 || strncmp(p, "+/", 2) == 0 ||
                    strstr(p, "/+") != NULL;

    rule->is_prefix = len > 0 && p[len - 1] == '*';
    rule->wc_len = rule->is_prefix ? len - 1 : len;
    rule->segment_count = 1;
    for (i = 0; i < rule->wc_len; i++) {
        if (p[i] != '/')
            continue;
        rule->segment_count++;
        if (p[i + 1] == '+' && (i + 2 == rule->wc_len || p[i + 2] == '/'))
            rule->wc_segments++;
    }
    if (p[0] == '+' && (rule->wc_len == 1 || p[1] == '/'))
        rule->wc_segments++;
    if (segments) {
        rule->kind = POLICY_MATCH_SEGMENT;
        rule->first_wc = (size_t)(plus - p);
    } else if (rule->is_prefix) {
        rule->kind = POLICY_MATCH_PREFIX;
        rule->first_wc = rule->wc_len;
    } else {
        rule->kind = POLICY_MATCH_EXACT;
        rule->first_wc = len;
    }
}

/* Validate and copy a pattern into rule->pattern. */
static int set_pattern(const struct parse_ctx *ctx,
                       const struct kh_hcl_node *label,
                       struct policy_rule *rule)
{
    const char *p = label->text;
    size_t len = label->text_len;
    const char *star;

    if (len > 0 && p[0] == '/') {
        p++;
        len--;
    }
    if (len > POLICY_PATH_BYTES_MAX)
        return perr(ctx, label->line, label->col, KH_ELIMIT,
                    "path pattern longer than %u bytes",
                    (unsigned)POLICY_PATH_BYTES_MAX);
    if (strstr(p, "+*") != NULL)
        return perr(ctx, label->line, label->col, KH_EINVAL,
                    "path \"%s\": invalid use of wildcards ('+*' is "
                    "forbidden)",
                    p);
    star = strchr(p, '*');
    if (star != NULL && star != p + len - 1)
        return perr(ctx, label->line, label->col, KH_EINVAL,
                    "path \"%s\": '*' is allowed only as the last "
                    "character",
                    p);
    rule->pattern = strndup(p, len);
    if (rule->pattern == NULL)
        return nomem(ctx);
    classify(rule);
    return 0;
}

/* ---- per-path keys ---- */

static int check_type(const struct parse_ctx *ctx,
                      const struct kh_hcl_item *item, enum kh_hcl_type type,
                      const char *what)
{
    if (item->value->type == type && item->label_count == 0)
        return 0;
    return perr(ctx, item->line, item->col, KH_EINVAL, "\"%s\" must be %s",
                item->key, what);
}

static int add_capability(const struct parse_ctx *ctx,
                          const struct kh_hcl_node *node, unsigned *caps)
{
    unsigned cap;

    if (node->type != KH_HCL_STRING)
        return perr(ctx, node->line, node->col, KH_EINVAL,
                    "capabilities must be strings");
    cap = cap_from_name(node->text);
    if (cap == 0)
        return perr(ctx, node->line, node->col, KH_EINVAL,
                    "invalid capability \"%s\"", node->text);
    *caps |= cap;
    return 0;
}

static int parse_capabilities(const struct parse_ctx *ctx,
                              const struct kh_hcl_item *item, unsigned *caps)
{
    const struct kh_hcl_node *node = item->value;
    size_t i;
    int r;

    if (item->label_count == 0 && node->type == KH_HCL_STRING)
        return add_capability(ctx, node, caps);
    r = check_type(ctx, item, KH_HCL_LIST, "a list of strings");
    if (r != 0)
        return r;
    if (node->count > POLICY_CAPS_LISTED_MAX)
        return perr(ctx, item->line, item->col, KH_ELIMIT,
                    "more than %u capabilities",
                    (unsigned)POLICY_CAPS_LISTED_MAX);
    node = node->elems;
    for (i = 0; node != NULL && i < POLICY_CAPS_LISTED_MAX; i++) {
        r = add_capability(ctx, node, caps);
        if (r != 0)
            return r;
        node = node->next;
    }
    return 0;
}

static int parse_legacy(const struct parse_ctx *ctx,
                        const struct kh_hcl_item *item, unsigned *caps)
{
    size_t i;
    int r;

    r = check_type(ctx, item, KH_HCL_STRING, "a string");
    if (r != 0)
        return r;
    for (i = 0; i < KH_ARRAY_LEN(legacy_policies); i++) {
        if (strcmp(legacy_policies[i].name, item->value->text) == 0) {
            *caps |= legacy_policies[i].caps;
            return 0;
        }
    }
    return perr(ctx, item->value->line, item->value->col, KH_EINVAL,
                "invalid policy \"%s\"", item->value->text);
}

static int parse_ttl(const struct parse_ctx *ctx,
                     const struct kh_hcl_item *item, uint64_t *ret)
{
    const struct kh_hcl_node *v = item->value;
    uint64_t s = 0;

    if (item->label_count != 0 ||
        (v->type != KH_HCL_STRING && v->type != KH_HCL_NUMBER) ||
        kh_duration_parse(v->text, &s) != 0)
        return perr(ctx, item->line, item->col, KH_EINVAL,
                    "\"%s\" must be a duration", item->key);
    *ret = s;
    return 0;
}

/* Lowercase a parameter name into out (POLICY_PARAM_NAME_BYTES_MAX + 1). */
static int param_name(const struct parse_ctx *ctx, const char *name,
                      unsigned line, unsigned col, char *out)
{
    size_t i, len = strlen(name);

    if (len > POLICY_PARAM_NAME_BYTES_MAX)
        return perr(ctx, line, col, KH_ELIMIT,
                    "parameter name longer than %u bytes",
                    (unsigned)POLICY_PARAM_NAME_BYTES_MAX);
    for (i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    out[len] = '\0';
    return 0;
}

/* A scalar HCL node as a new JSON value (strings, numbers, booleans). */
static json_t *scalar_json(const struct kh_hcl_node *node)
{
    char *end = NULL;

    switch (node->type) {
    case KH_HCL_STRING:
        return json_stringn(node->text, node->text_len);
    case KH_HCL_BOOL:
        return json_boolean(node->boolean);
    case KH_HCL_NUMBER:
        if (strpbrk(node->text, ".eE") == NULL) {
            long long v;
            errno = 0;
            v = strtoll(node->text, &end, 10);
            if (errno == 0 && *end == '\0')
                return json_integer(v);
        }
        return json_real(strtod(node->text, NULL));
    case KH_HCL_LIST:
    case KH_HCL_OBJECT:
        break;
    }
    return NULL;
}

/* The value list of one parameter as a new JSON array. */
static int param_values(const struct parse_ctx *ctx,
                        const struct kh_hcl_item *item, json_t **ret)
{
    const struct kh_hcl_node *node = item->value->elems;
    json_t *values;
    size_t i;
    int r;

    r = check_type(ctx, item, KH_HCL_LIST, "a list of values");
    if (r != 0)
        return r;
    if (item->value->count > POLICY_PARAM_VALUES_MAX)
        return perr(ctx, item->line, item->col, KH_ELIMIT,
                    "more than %u values", (unsigned)POLICY_PARAM_VALUES_MAX);
    values = json_array();
    for (i = 0; values != NULL && node != NULL; i++, node = node->next) {
        json_t *v;
        if (node->type == KH_HCL_LIST || node->type == KH_HCL_OBJECT) {
            json_decref(values);
            return perr(ctx, node->line, node->col, KH_EINVAL,
                        "parameter values must be scalars");
        }
        v = scalar_json(node);
        if (v == NULL || json_array_append_new(values, v) != 0) {
            json_decref(values);
            values = NULL;
        }
    }
    if (values == NULL)
        return nomem(ctx);
    *ret = values;
    return 0;
}

/* Add one `name = [values]` to the map obj, merging a repeated name. */
static int param_add(const struct parse_ctx *ctx, json_t *obj,
                     const struct kh_hcl_item *param)
{
    char name[POLICY_PARAM_NAME_BYTES_MAX + 1];
    json_t *values = NULL, *have;
    int r;

    r = param_name(ctx, param->key, param->line, param->col, name);
    if (r == 0)
        r = param_values(ctx, param, &values);
    if (r != 0)
        return r;
    have = json_object_get(obj, name);
    if (have == NULL) {
        r = json_object_set_new(obj, name, values) != 0 ? nomem(ctx) : 0;
        return r;
    }
    if (json_array_size(have) == 0 || json_array_size(values) == 0)
        r = json_array_clear(have);
    else
        r = json_array_extend(have, values);
    json_decref(values);
    return r != 0 ? nomem(ctx) : 0;
}

/* allowed_parameters / denied_parameters: { name = [values] ... }. A
 * repeated key in the same block merges into *slot. */
static int parse_params(const struct parse_ctx *ctx,
                        const struct kh_hcl_item *item, json_t **slot)
{
    const struct kh_hcl_item *param;
    size_t i;
    int r;

    r = check_type(ctx, item, KH_HCL_OBJECT, "an object of value lists");
    if (r != 0)
        return r;
    if (*slot == NULL && (*slot = json_object()) == NULL)
        return nomem(ctx);
    param = item->value->items;
    for (i = 0; param != NULL; i++, param = param->next) {
        if (json_object_size(*slot) >= POLICY_PARAMS_MAX)
            return perr(ctx, param->line, param->col, KH_ELIMIT,
                        "more than %u parameters", (unsigned)POLICY_PARAMS_MAX);
        if (param->label_count != 0)
            return perr(ctx, param->line, param->col, KH_EINVAL,
                        "parameter \"%s\" must be a list of values",
                        param->key);
        r = param_add(ctx, *slot, param);
        if (r != 0)
            return r;
    }
    return 0;
}

static int parse_required(const struct parse_ctx *ctx,
                          const struct kh_hcl_item *item, json_t **slot)
{
    char name[POLICY_PARAM_NAME_BYTES_MAX + 1];
    const struct kh_hcl_node *node;
    size_t i;
    int r;

    r = check_type(ctx, item, KH_HCL_LIST, "a list of strings");
    if (r != 0)
        return r;
    if (*slot == NULL && (*slot = json_array()) == NULL)
        return nomem(ctx);
    for (node = item->value->elems; node != NULL; node = node->next) {
        bool seen = false;
        if (node->type != KH_HCL_STRING)
            return perr(ctx, node->line, node->col, KH_EINVAL,
                        "required_parameters must be strings");
        if (json_array_size(*slot) >= POLICY_PARAMS_MAX)
            return perr(ctx, node->line, node->col, KH_ELIMIT,
                        "more than %u parameters", (unsigned)POLICY_PARAMS_MAX);
        r = param_name(ctx, node->text, node->line, node->col, name);
        if (r != 0)
            return r;
        for (i = 0; i < json_array_size(*slot); i++)
            seen = seen || strcmp(json_string_value(json_array_get(*slot, i)),
                                  name) == 0;
        if (!seen && json_array_append_new(*slot, json_string(name)) != 0)
            return nomem(ctx);
    }
    return 0;
}

/* One key of a path block. */
static int parse_rule_key(const struct parse_ctx *ctx,
                          const struct kh_hcl_item *item,
                          struct policy_rule *rule, unsigned *listed,
                          unsigned *legacy)
{
    const char *k = item->key;

    if (strcmp(k, "capabilities") == 0)
        return parse_capabilities(ctx, item, listed);
    if (strcmp(k, "policy") == 0)
        return parse_legacy(ctx, item, legacy);
    if (strcmp(k, "allowed_parameters") == 0)
        return parse_params(ctx, item, &rule->allowed);
    if (strcmp(k, "denied_parameters") == 0)
        return parse_params(ctx, item, &rule->denied);
    if (strcmp(k, "required_parameters") == 0)
        return parse_required(ctx, item, &rule->required);
    if (strcmp(k, "min_wrapping_ttl") == 0)
        return parse_ttl(ctx, item, &rule->min_wrapping_ttl_s);
    if (strcmp(k, "max_wrapping_ttl") == 0)
        return parse_ttl(ctx, item, &rule->max_wrapping_ttl_s);
    if (strcmp(k, "comment") == 0)
        return check_type(ctx, item, KH_HCL_STRING, "a string");
    return perr(ctx, item->line, item->col, KH_EINVAL,
                "path \"%s\": invalid key \"%s\"", rule->pattern, k);
}

/* Drop empty parameter containers so "no constraint" is always NULL. */
static void params_normalise(struct policy_rule *rule)
{
    if (rule->allowed != NULL && json_object_size(rule->allowed) == 0)
        set_json(&rule->allowed, NULL);
    if (rule->denied != NULL && json_object_size(rule->denied) == 0)
        set_json(&rule->denied, NULL);
    if (rule->required != NULL && json_array_size(rule->required) == 0)
        set_json(&rule->required, NULL);
}

/* Finish a rule's capabilities: DENY stands alone and carries nothing. */
static int rule_finish(const struct parse_ctx *ctx,
                       const struct kh_hcl_node *label,
                       struct policy_rule *rule, unsigned caps)
{
    if (caps & POLICY_CAP_DENY) {
        rule->caps = POLICY_CAP_DENY;
        set_json(&rule->allowed, NULL);
        set_json(&rule->denied, NULL);
        set_json(&rule->required, NULL);
        rule->min_wrapping_ttl_s = 0;
        rule->max_wrapping_ttl_s = 0;
        return 0;
    }
    rule->caps = caps;
    params_normalise(rule);
    if (rule->min_wrapping_ttl_s != 0 && rule->max_wrapping_ttl_s != 0 &&
        rule->max_wrapping_ttl_s < rule->min_wrapping_ttl_s)
        return perr(ctx, label->line, label->col, KH_EINVAL,
                    "path \"%s\": max_wrapping_ttl cannot be less than "
                    "min_wrapping_ttl",
                    rule->pattern);
    return 0;
}

static int rules_push(struct parse_ctx *ctx, const struct kh_hcl_node *label,
                      struct policy_rule *rule)
{
    struct policy_rule *grown;

    if (ctx->count >= POLICY_RULES_MAX)
        return perr(ctx, label->line, label->col, KH_ELIMIT,
                    "more than %u path rules", (unsigned)POLICY_RULES_MAX);
    if (ctx->count == ctx->cap) {
        size_t cap = ctx->cap == 0 ? 16 : ctx->cap * 2;
        grown = realloc(ctx->rules, cap * sizeof(*grown));
        if (grown == NULL)
            return nomem(ctx);
        ctx->rules = grown;
        ctx->cap = cap;
    }
    ctx->rules[ctx->count++] = *rule;
    memset(rule, 0, sizeof(*rule));
    return 0;
}

/* One `path "<pattern>" { body }`; label carries the pattern. */
static int parse_rule(struct parse_ctx *ctx, const struct kh_hcl_node *label,
                      const struct kh_hcl_node *body)
{
    struct policy_rule rule = {0};
    const struct kh_hcl_item *item;
    unsigned listed = 0, legacy = 0;
    int r;

    if (label->type != KH_HCL_STRING)
        return perr(ctx, label->line, label->col, KH_EINVAL,
                    "a path must be a string");
    r = set_pattern(ctx, label, &rule);
    if (r != 0)
        goto out;
    if (body->type != KH_HCL_OBJECT) {
        r = perr(ctx, body->line, body->col, KH_EINVAL,
                 "path \"%s\": expected an object", rule.pattern);
        goto out;
    }
    for (item = body->items; item != NULL; item = item->next) {
        r = parse_rule_key(ctx, item, &rule, &listed, &legacy);
        if (r != 0)
            goto out;
    }
    r = rule_finish(ctx, label, &rule, legacy | listed);
    if (r == 0)
        r = rules_push(ctx, label, &rule);
out:
    policy_rule_clear(&rule);
    return r;
}

/* The value of a label-less `path` item: an object { "<pattern>" {...} }
 * (JSON, hvac's form) or a list of such objects. */
static int parse_path_object(struct parse_ctx *ctx,
                             const struct kh_hcl_node *obj)
{
    const struct kh_hcl_item *item;
    struct kh_hcl_node label;
    int r;

    if (obj->type != KH_HCL_OBJECT)
        return perr(ctx, obj->line, obj->col, KH_EINVAL,
                    "\"path\" must be an object of path rules");
    for (item = obj->items; item != NULL; item = item->next) {
        if (item->label_count != 0)
            return perr(ctx, item->line, item->col, KH_EINVAL,
                        "path \"%s\": unexpected label", item->key);
        memset(&label, 0, sizeof(label));
        label.type = KH_HCL_STRING;
        label.line = item->line;
        label.col = item->col;
        label.text = item->key;
        label.text_len = strlen(item->key);
        r = parse_rule(ctx, &label, item->value);
        if (r != 0)
            return r;
    }
    return 0;
}

static int parse_path_item(struct parse_ctx *ctx,
                           const struct kh_hcl_item *item)
{
    const struct kh_hcl_node *elem;
    int r;

    if (item->label_count == 1)
        return parse_rule(ctx, item->labels, item->value);
    if (item->label_count > 1)
        return perr(ctx, item->line, item->col, KH_EINVAL,
                    "\"path\" takes one label");
    if (item->value->type != KH_HCL_LIST)
        return parse_path_object(ctx, item->value);
    for (elem = item->value->elems; elem != NULL; elem = elem->next) {
        r = parse_path_object(ctx, elem);
        if (r != 0)
            return r;
    }
    return 0;
}

static int parse_root(struct parse_ctx *ctx, const struct kh_hcl_node *root)
{
    const struct kh_hcl_item *item;
    int r;

    KH_ASSERT(root->type == KH_HCL_OBJECT);
    for (item = root->items; item != NULL; item = item->next) {
        if (strcmp(item->key, "path") == 0)
            r = parse_path_item(ctx, item);
        else if (strcmp(item->key, "name") == 0)
            r = check_type(ctx, item, KH_HCL_STRING, "a string");
        else
            r = perr(ctx, item->line, item->col, KH_EINVAL,
                     "invalid key \"%s\"", item->key);
        if (r != 0)
            return r;
    }
    return 0;
}

/* ---- the policy ---- */

struct policy *policy_ref(struct policy *p)
{
    unsigned before;

    KH_ASSERT(p != NULL);
    before = atomic_fetch_add(&p->refs, 1);
    KH_ASSERT(before > 0);
    return p;
}

void policy_unref(struct policy *p)
{
    unsigned before;

    if (p == NULL)
        return;
    before = atomic_fetch_sub(&p->refs, 1);
    KH_ASSERT(before > 0);
    if (before != 1)
        return;
    policy_ruleset_clear(&p->rules);
    free(p->text);
    free(p);
}

static int policy_new(const char *name, const char *text, size_t len,
                      struct policy **ret)
{
    struct policy *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return KH_ENOMEM;
    p->text = malloc(len + 1);
    if (p->text == NULL) {
        free(p);
        return KH_ENOMEM;
    }
    memcpy(p->text, text, len);
    p->text[len] = '\0';
    p->text_len = len;
    snprintf(p->name, sizeof(p->name), "%s", name);
    atomic_init(&p->refs, 1);
    *ret = p;
    return 0;
}

int policy_parse(const char *name, const char *text, size_t len,
                 struct policy **ret_policy, char *errmsg, size_t errmsg_size)
{
    struct parse_ctx ctx = {
        .name = name, .errmsg = errmsg, .errmsg_size = errmsg_size};
    struct kh_hcl_doc *doc = NULL;
    struct policy *p = NULL;
    size_t i;
    int r = KH_EINTERNAL;

    KH_ASSERT(name != NULL);
    KH_ASSERT(text != NULL || len == 0);
    if (len > POLICY_TEXT_BYTES_MAX) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                      "%s: policy text longer than %u bytes", name,
                      (unsigned)POLICY_TEXT_BYTES_MAX);
        goto out;
    }
    r = kh_hcl_parse(text != NULL ? text : "", len, name, &doc, errmsg,
                     errmsg_size);
    if (r != 0) {
        r = r == KH_ECONFIG ? KH_EINVAL : r;
        goto out;
    }
    r = parse_root(&ctx, kh_hcl_root(doc));
    if (r != 0)
        goto out;
    r = policy_new(name, text != NULL ? text : "", len, &p);
    if (r != 0) {
        r = nomem(&ctx);
        goto out;
    }
    /* policy_ruleset_build takes the rules over, also when it fails */
    r = policy_ruleset_build(ctx.rules, ctx.count, &p->rules);
    ctx.rules = NULL;
    ctx.count = 0;
    if (r != 0) {
        r = nomem(&ctx);
        goto out;
    }
    *ret_policy = p;
    p = NULL;
    r = 0; /* success */
out:
    for (i = 0; i < ctx.count; i++)
        policy_rule_clear(&ctx.rules[i]);
    free(ctx.rules);
    policy_unref(p);
    kh_hcl_free(doc);
    return r;
}
