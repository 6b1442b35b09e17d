/*
 * tokenutil.c - the token_* fields of auth method roles and users, the
 * lenient JSON field parsers behind them, and CIDR matching.
 *
 * Owns only the parsing and checking of values that come from a request or
 * a stored record; it must never touch storage, allocate long-lived state or
 * trust an input's size: every list is bounded by a named limit and every
 * string is length-checked before it is copied.
 */
#include "auth/tokenutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "http/request_parse.h"

/* ---- scalar fields ---- */

const json_t *tokenutil_field(const json_t *obj, const char *name)
{
    const json_t *v;

    if (obj == NULL || name == NULL || !json_is_object(obj))
        return NULL;
    v = json_object_get(obj, name);
    return v == NULL || json_is_null(v) ? NULL : v;
}

const char *tokenutil_pick(const json_t *obj, const char *name,
                           const char *alias)
{
    if (tokenutil_field(obj, name) != NULL)
        return name;
    if (alias != NULL && tokenutil_field(obj, alias) != NULL)
        return alias;
    return NULL;
}

/* A decimal string without sign or spaces into *ret. */
static bool parse_decimal(const char *s, uint64_t *ret)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *ret = (uint64_t)v;
    return true;
}

int tokenutil_field_duration(const json_t *obj, const char *name, uint64_t max,
                             bool *ret_present, uint64_t *ret_seconds,
                             char *errmsg, size_t errmsg_size)
{
    *ret_present = false;
    return kh_json_duration(tokenutil_field(obj, name), name, max, ret_present,
                            ret_seconds, errmsg, errmsg_size);
}

int tokenutil_field_uint(const json_t *obj, const char *name, uint64_t max,
                         bool *ret_present, uint64_t *ret, char *errmsg,
                         size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, name);
    uint64_t value = 0;
    bool ok;

    *ret_present = false;
    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        ok = json_integer_value(v) >= 0;
        value = ok ? (uint64_t)json_integer_value(v) : 0;
    } else {
        ok = json_is_string(v) && parse_decimal(json_string_value(v), &value);
    }
    if (!ok)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a non-negative integer", name);
    if (value > max)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" must be at most %llu", name,
                         (unsigned long long)max);
    *ret_present = true;
    *ret = value;
    return 0;
}

int tokenutil_field_bool(const json_t *obj, const char *name, bool *ret_present,
                         bool *ret, char *errmsg, size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, name);
    bool value = false;

    *ret_present = false;
    if (v == NULL)
        return 0;
    if (json_is_boolean(v))
        value = json_is_true(v);
    else if (!json_is_string(v) ||
             http_parse_bool(json_string_value(v), &value) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a boolean", name);
    *ret_present = true;
    *ret = value;
    return 0;
}

/* ---- comma-string-or-list fields ---- */

/* A flat table of bounded strings the CSL parser fills. */
struct csl_out
{
    char *items; /* count_max rows of item_size bytes */
    size_t item_size;
    size_t count_max;
    size_t count;
};

/* Append [p, p + len) trimmed of spaces; empty items are dropped. */
static int csl_add(struct csl_out *out, const char *name, const char *p,
                   size_t len, char *errmsg, size_t errmsg_size)
{
    while (len > 0 && isspace((unsigned char)p[0])) {
        p++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)p[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if (len >= out->item_size)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "an entry of \"%s\" is longer than %zu bytes", name,
                         out->item_size - 1);
    if (out->count >= out->count_max)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" has more than %zu entries", name,
                         out->count_max);
    if (memchr(p, '\0', len) != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" has an entry with a NUL byte", name);
    memcpy(out->items + out->count * out->item_size, p, len);
    out->items[out->count * out->item_size + len] = '\0';
    out->count++;
    return 0;
}

/* Split a "a,b,c" string into out. */
static int csl_split(struct csl_out *out, const char *name, const json_t *v,
                     char *errmsg, size_t errmsg_size)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    size_t start = 0, i, items = 0;
    int r = 0;

    for (i = 0; i <= len && r == 0; i++) {
        if (i < len && s[i] != ',')
            continue;
        if (++items > TOKENUTIL_CSL_ITEMS_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                             "\"%s\" has more than %d entries", name,
                             TOKENUTIL_CSL_ITEMS_MAX);
        r = csl_add(out, name, s + start, i - start, errmsg, errmsg_size);
        start = i + 1;
    }
    return r;
}

/* A JSON array of strings, or one comma-separated string, into out. */
static int csl_collect(struct csl_out *out, const char *name, const json_t *v,
                       char *errmsg, size_t errmsg_size)
{
    size_t i;
    int r = 0;

    out->count = 0;
    if (json_is_string(v))
        return csl_split(out, name, v, errmsg, errmsg_size);
    if (!json_is_array(v))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a list or a comma-separated string",
                         name);
    if (json_array_size(v) > TOKENUTIL_CSL_ITEMS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" has more than %d entries", name,
                         TOKENUTIL_CSL_ITEMS_MAX);
    for (i = 0; i < json_array_size(v) && r == 0; i++) {
        const json_t *item = json_array_get(v, i);
        if (!json_is_string(item))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"%s\" must hold strings only", name);
        r = csl_add(out, name, json_string_value(item),
                    json_string_length(item), errmsg, errmsg_size);
    }
    return r;
}

static int compare_policy(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Lowercase, sort and drop duplicates in place. */
static void policies_normalise(struct tokenutil_policies *p)
{
    size_t i, j, kept = 0;

    for (i = 0; i < p->count; i++)
        for (j = 0; p->items[i][j] != '\0'; j++)
            p->items[i][j] = (char)tolower((unsigned char)p->items[i][j]);
    qsort(p->items, p->count, sizeof(p->items[0]), compare_policy);
    for (i = 0; i < p->count; i++) {
        if (kept > 0 && strcmp(p->items[kept - 1], p->items[i]) == 0)
            continue;
        if (kept != i)
            memcpy(p->items[kept], p->items[i], sizeof(p->items[0]));
        kept++;
    }
    p->count = kept;
}

int tokenutil_field_policies(const json_t *obj, const char *name,
                             bool *ret_present, struct tokenutil_policies *ret,
                             char *errmsg, size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, name);
    struct tokenutil_policies tmp;
    struct csl_out out = {
        .items = &tmp.items[0][0],
        .item_size = sizeof(tmp.items[0]),
        .count_max = TOKENUTIL_POLICIES_MAX,
    };
    int r;

    *ret_present = false;
    if (v == NULL)
        return 0;
    r = csl_collect(&out, name, v, errmsg, errmsg_size);
    if (r != 0)
        return r;
    tmp.count = out.count;
    policies_normalise(&tmp);
    *ret = tmp;
    *ret_present = true;
    return 0;
}

/* ---- CIDRs ---- */

struct cidr
{
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

/* "a.b.c.d", "a.b.c.d/n", "x::y", "x::y/n". IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) become IPv4 so a dual-stack listener matches. */
static bool cidr_parse(const char *text, struct cidr *ret)
{
    char buf[TOKENUTIL_CIDR_BYTES_MAX + 1];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    char *slash;
    uint64_t prefix = 0;
    bool has_prefix;

    if (strlen(text) >= sizeof(buf))
        return false;
    memcpy(buf, text, strlen(text) + 1);
    slash = strchr(buf, '/');
    has_prefix = slash != NULL;
    if (has_prefix) {
        *slash = '\0';
        if (!parse_decimal(slash + 1, &prefix))
            return false;
    }
    memset(ret, 0, sizeof(*ret));
    if (inet_pton(AF_INET, buf, ret->addr) == 1) {
        ret->family = AF_INET;
        ret->prefix = has_prefix ? (unsigned)prefix : 32;
        return prefix <= 32;
    }
    if (inet_pton(AF_INET6, buf, ret->addr) != 1 || prefix > 128)
        return false;
    ret->family = AF_INET6;
    ret->prefix = has_prefix ? (unsigned)prefix : 128;
    if (memcmp(ret->addr, mapped, sizeof(mapped)) == 0 && ret->prefix >= 96) {
        memmove(ret->addr, ret->addr + 12, 4);
        memset(ret->addr + 4, 0, 12);
        ret->family = AF_INET;
        ret->prefix -= 96;
    }
    return true;
}

/* True when inner (an address or network) lies inside outer. */
static bool cidr_contains(const struct cidr *outer, const struct cidr *inner)
{
    unsigned full = outer->prefix / 8, rest = outer->prefix % 8;

    if (outer->family != inner->family || inner->prefix < outer->prefix)
        return false;
    if (memcmp(outer->addr, inner->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((outer->addr[full] ^ inner->addr[full]) &
            (uint8_t)(0xff << (8 - rest))) == 0;
}

int tokenutil_field_cidrs(const json_t *obj, const char *name,
                          bool *ret_present, struct tokenutil_cidrs *ret,
                          char *errmsg, size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, name);
    struct tokenutil_cidrs tmp;
    struct csl_out out = {
        .items = &tmp.items[0][0],
        .item_size = sizeof(tmp.items[0]),
        .count_max = TOKENUTIL_CIDRS_MAX,
    };
    struct cidr c;
    size_t i;
    int r;

    *ret_present = false;
    if (v == NULL)
        return 0;
    r = csl_collect(&out, name, v, errmsg, errmsg_size);
    if (r != 0)
        return r;
    for (i = 0; i < out.count; i++) {
        if (!cidr_parse(tmp.items[i], &c))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"%s\": invalid CIDR block \"%s\"", name,
                             tmp.items[i]);
    }
    tmp.count = out.count;
    *ret = tmp;
    *ret_present = true;
    return 0;
}

bool tokenutil_cidrs_allow(const struct tokenutil_cidrs *list,
                           const char *remote_addr)
{
    struct cidr addr, net;
    size_t i;

    KH_ASSERT(list->count <= TOKENUTIL_CIDRS_MAX);
    if (list->count == 0)
        return true;
    if (remote_addr == NULL || strchr(remote_addr, '/') != NULL ||
        !cidr_parse(remote_addr, &addr))
        return false;
    for (i = 0; i < list->count; i++) {
        if (cidr_parse(list->items[i], &net) && cidr_contains(&net, &addr))
            return true;
    }
    return false;
}

bool tokenutil_cidrs_subset(const struct tokenutil_cidrs *inner,
                            const struct tokenutil_cidrs *outer)
{
    size_t i, j;

    KH_ASSERT(inner->count <= TOKENUTIL_CIDRS_MAX);
    KH_ASSERT(outer->count <= TOKENUTIL_CIDRS_MAX);
    if (outer->count == 0)
        return true;
    for (i = 0; i < inner->count; i++) {
        struct cidr in, out;
        bool inside = false;
        if (!cidr_parse(inner->items[i], &in))
            return false;
        for (j = 0; j < outer->count && !inside; j++)
            inside =
                cidr_parse(outer->items[j], &out) && cidr_contains(&out, &in);
        if (!inside)
            return false;
    }
    return true;
}

json_t *tokenutil_cidrs_json(const struct tokenutil_cidrs *list)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < list->count; i++) {
        if (json_array_append_new(a, json_string(list->items[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* ---- the token field set ---- */

void tokenutil_init(struct tokenutil *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->type, sizeof(t->type), "%s", "default");
}

/* The four durations with their aliases. */
static int parse_durations(struct tokenutil *t, const json_t *obj, char *errmsg,
                           size_t errmsg_size)
{
    static const char *const names[4][2] = {
        {"token_ttl", "ttl"},
        {"token_max_ttl", "max_ttl"},
        {"token_period", "period"},
        {"token_explicit_max_ttl", NULL},
    };
    uint64_t *fields[4] = {&t->ttl_s, &t->max_ttl_s, &t->period_s,
                           &t->explicit_max_ttl_s};
    size_t i;
    int r = 0;

    for (i = 0; i < KH_ARRAY_LEN(names) && r == 0; i++) {
        const char *name = tokenutil_pick(obj, names[i][0], names[i][1]);
        bool present;
        if (name != NULL)
            r = tokenutil_field_duration(obj, name, TOKENUTIL_TTL_MAX_S,
                                         &present, fields[i], errmsg,
                                         errmsg_size);
    }
    return r;
}

static int parse_type(struct tokenutil *t, const json_t *obj, char *errmsg,
                      size_t errmsg_size)
{
    static const char *const types[] = {"default", "service", "batch"};
    const json_t *v = tokenutil_field(obj, "token_type");
    size_t i;

    if (v == NULL)
        return 0;
    for (i = 0; json_is_string(v) && i < KH_ARRAY_LEN(types); i++) {
        if (strcmp(json_string_value(v), types[i]) == 0) {
            snprintf(t->type, sizeof(t->type), "%s", types[i]);
            return 0;
        }
    }
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "invalid \"token_type\" value: must be \"service\", "
                     "\"batch\" or \"default\"");
}

/* Lists, uses and the no-default flag. */
static int parse_others(struct tokenutil *t, const json_t *obj, char *errmsg,
                        size_t errmsg_size)
{
    const char *name;
    bool present;
    int r = 0;

    name = tokenutil_pick(obj, "token_policies", "policies");
    if (name != NULL)
        r = tokenutil_field_policies(obj, name, &present, &t->policies, errmsg,
                                     errmsg_size);
    name = tokenutil_pick(obj, "token_bound_cidrs", "bound_cidrs");
    if (r == 0 && name != NULL)
        r = tokenutil_field_cidrs(obj, name, &present, &t->bound_cidrs, errmsg,
                                  errmsg_size);
    name = tokenutil_pick(obj, "token_num_uses", "num_uses");
    if (r == 0 && name != NULL)
        r = tokenutil_field_uint(obj, name, TOKENUTIL_NUM_USES_MAX, &present,
                                 &t->num_uses, errmsg, errmsg_size);
    if (r == 0)
        r = tokenutil_field_bool(obj, "token_no_default_policy", &present,
                                 &t->no_default_policy, errmsg, errmsg_size);
    if (r == 0)
        r = parse_type(t, obj, errmsg, errmsg_size);
    return r;
}

int tokenutil_parse(struct tokenutil *t, const json_t *obj, char *errmsg,
                    size_t errmsg_size)
{
    struct tokenutil *tmp;
    int r;

    KH_ASSERT(t != NULL);
    KH_ASSERT(t->policies.count <= TOKENUTIL_POLICIES_MAX);
    tmp = malloc(sizeof(*tmp));
    if (tmp == NULL)
        return KH_ENOMEM;
    *tmp = *t;
    r = parse_durations(tmp, obj, errmsg, errmsg_size);
    if (r == 0)
        r = parse_others(tmp, obj, errmsg, errmsg_size);
    if (r == 0 && tmp->max_ttl_s != 0 && tmp->ttl_s > tmp->max_ttl_s)
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "\"token_ttl\" cannot be greater than "
                      "\"token_max_ttl\"");
    if (r == 0 && strcmp(tmp->type, "batch") == 0 &&
        (tmp->period_s != 0 || tmp->num_uses != 0))
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "batch tokens cannot be periodic or use-limited");
    if (r == 0)
        *t = *tmp;
    free(tmp);
    return r;
}

static json_t *policies_json(const struct tokenutil_policies *p)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < p->count; i++) {
        if (json_array_append_new(a, json_string(p->items[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* Set the token_* names, and with aliases also the legacy ones. */
static int put_fields(const struct tokenutil *t, json_t *obj, bool aliases)
{
    int r = 0;

    r |= json_object_set_new(obj, "token_ttl",
                             json_integer((json_int_t)t->ttl_s));
    r |= json_object_set_new(obj, "token_max_ttl",
                             json_integer((json_int_t)t->max_ttl_s));
    r |= json_object_set_new(obj, "token_period",
                             json_integer((json_int_t)t->period_s));
    r |= json_object_set_new(obj, "token_explicit_max_ttl",
                             json_integer((json_int_t)t->explicit_max_ttl_s));
    r |= json_object_set_new(obj, "token_num_uses",
                             json_integer((json_int_t)t->num_uses));
    r |= json_object_set_new(obj, "token_no_default_policy",
                             json_boolean(t->no_default_policy));
    r |= json_object_set_new(obj, "token_type", json_string(t->type));
    r |=
        json_object_set_new(obj, "token_policies", policies_json(&t->policies));
    r |= json_object_set_new(obj, "token_bound_cidrs",
                             tokenutil_cidrs_json(&t->bound_cidrs));
    if (aliases) {
        r |=
            json_object_set_new(obj, "ttl", json_integer((json_int_t)t->ttl_s));
        r |= json_object_set_new(obj, "max_ttl",
                                 json_integer((json_int_t)t->max_ttl_s));
        r |= json_object_set_new(obj, "period",
                                 json_integer((json_int_t)t->period_s));
        r |= json_object_set_new(obj, "num_uses",
                                 json_integer((json_int_t)t->num_uses));
        r |= json_object_set_new(obj, "policies", policies_json(&t->policies));
        r |= json_object_set_new(obj, "bound_cidrs",
                                 tokenutil_cidrs_json(&t->bound_cidrs));
    }
    return r != 0 ? KH_ENOMEM : 0;
}

int tokenutil_encode(const struct tokenutil *t, json_t *obj)
{
    return put_fields(t, obj, false);
}

int tokenutil_describe(const struct tokenutil *t, json_t *obj)
{
    return put_fields(t, obj, true);
}

void tokenutil_params(const struct tokenutil *t, struct token_params *params)
{
    size_t i;

    KH_ASSERT(t->policies.count <= TOKENUTIL_POLICIES_MAX);
    KH_ASSERT(t->bound_cidrs.count <= TOKENUTIL_CIDRS_MAX);
    for (i = 0; i < t->policies.count; i++)
        params->policies[i] = t->policies.items[i];
    params->policy_count = t->policies.count;
    params->no_default_policy = t->no_default_policy;
    params->ttl_s = t->ttl_s;
    params->max_ttl_s = t->max_ttl_s;
    params->explicit_max_ttl_s = t->explicit_max_ttl_s;
    params->period_s = t->period_s;
    params->num_uses = (unsigned)t->num_uses;
    for (i = 0; i < t->bound_cidrs.count; i++)
        params->bound_cidrs[i] = t->bound_cidrs.items[i];
    params->bound_cidr_count = t->bound_cidrs.count;
    params->type = strcmp(t->type, "batch") == 0 ? "batch" : "service";
}
