/*
 * token_codec.c - the stored form of a token entry: one compact JSON
 * object per token, sealed by the barrier.
 *
 * Owns the record layout and its validation on the way back in: every
 * string is length-checked against the struct's buffers, every list
 * against its limit, and anything malformed is KH_ECORRUPT (the barrier
 * authenticates records, so malformed means a bug or an old layout, never
 * an attacker). Fields added after the first layout (root tokens of the
 * initial store) are optional with their defaults. It never sees a token
 * ID: entries hold hashes only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "token/token_internal.h"

static json_t *strings_json(const char *base, size_t stride, size_t count)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < count; i++) {
        if (json_array_append_new(a, json_string(base + i * stride)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *meta_json(const struct token_entry *e)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o != NULL && i < e->meta_count; i++) {
        if (json_object_set_new(o, e->meta[i].key,
                                json_string(e->meta[i].value)) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int token_entry_encode(const struct token_entry *e, char **ret_text,
                       size_t *ret_len)
{
    json_t *doc;
    char *text;

    KH_ASSERT(e->policy_count <= TOKEN_POLICIES_MAX);
    KH_ASSERT(e->meta_count <= TOKEN_META_MAX);
    KH_ASSERT(e->bound_cidr_count <= TOKEN_BOUND_CIDRS_MAX);
    doc = json_pack(
        "{s:i, s:s, s:o, s:o, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:b, s:s, s:i, s:s, s:o, s:I}",
        "v", 1, "accessor", e->accessor, "policies",
        strings_json(e->policies[0], TOKEN_POLICY_NAME_MAX, e->policy_count),
        "meta", meta_json(e), "display_name", e->display_name, "path", e->path,
        "role", e->role, "creation_time", (json_int_t)e->creation_time,
        "creation_ttl", (json_int_t)e->creation_ttl_s, "expire_time",
        (json_int_t)e->expire_time, "explicit_max_ttl",
        (json_int_t)e->explicit_max_ttl_s, "max_ttl", (json_int_t)e->max_ttl_s,
        "period", (json_int_t)e->period_s, "num_uses", (json_int_t)e->num_uses,
        "renewable", e->renewable, "parent", e->parent, "depth", (int)e->depth,
        "type", e->type == TOKEN_TYPE_BATCH ? "batch" : "service",
        "bound_cidrs",
        strings_json(e->bound_cidrs[0], TOKEN_CIDR_BYTES_MAX,
                     e->bound_cidr_count),
        "last_renewal", (json_int_t)e->last_renewal);
    if (doc == NULL)
        return KH_ENOMEM;
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return KH_ENOMEM;
    *ret_text = text;
    *ret_len = strlen(text);
    return 0;
}

/* Copy a string of doc[name] into out (size); absent: "" unless required. */
static int get_string(const json_t *doc, const char *name, bool required,
                      char *out, size_t size)
{
    const json_t *v = json_object_get(doc, name);

    if (v == NULL && !required) {
        out[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) >= size ||
        strlen(json_string_value(v)) != json_string_length(v))
        return KH_ECORRUPT;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* A non-negative integer field; absent: 0. */
static int get_uint(const json_t *doc, const char *name, uint64_t max,
                    uint64_t *out)
{
    const json_t *v = json_object_get(doc, name);

    if (v == NULL) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return KH_ECORRUPT;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* An array of strings into fixed rows (stride bytes each). */
static int get_strings(const json_t *doc, const char *name, char *base,
                       size_t stride, size_t max, size_t *ret_count)
{
    const json_t *a = json_object_get(doc, name);
    size_t i;

    *ret_count = 0;
    if (a == NULL)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > max)
        return KH_ECORRUPT;
    for (i = 0; i < json_array_size(a); i++) {
        const json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || json_string_length(s) >= stride)
            return KH_ECORRUPT;
        memcpy(base + i * stride, json_string_value(s),
               json_string_length(s) + 1);
    }
    *ret_count = json_array_size(a);
    return 0;
}

static int get_meta(const json_t *doc, struct token_entry *e)
{
    const json_t *o = json_object_get(doc, "meta");
    const char *key;
    const json_t *value;

    if (o == NULL || json_is_null(o))
        return 0;
    if (!json_is_object(o) || json_object_size(o) > TOKEN_META_MAX)
        return KH_ECORRUPT;
    json_object_foreach((json_t *)o, key, value)
    {
        struct token_meta *m = &e->meta[e->meta_count];
        if (!json_is_string(value) || strlen(key) >= sizeof(m->key) ||
            json_string_length(value) >= sizeof(m->value))
            return KH_ECORRUPT;
        strcpy(m->key, key);
        memcpy(m->value, json_string_value(value),
               json_string_length(value) + 1);
        e->meta_count++;
    }
    return 0;
}

/* Scalars after the first layout. */
static int get_scalars(const json_t *doc, struct token_entry *e)
{
    uint64_t created = 0, expire = 0, uses = 0, depth = 0, renewed = 0;
    char type[16];
    int r = 0;

    r |= get_uint(doc, "creation_time", INT64_MAX, &created);
    r |= get_uint(doc, "creation_ttl", TOKEN_TTL_MAX_S, &e->creation_ttl_s);
    r |= get_uint(doc, "expire_time", INT64_MAX, &expire);
    r |= get_uint(doc, "explicit_max_ttl", TOKEN_TTL_MAX_S,
                  &e->explicit_max_ttl_s);
    r |= get_uint(doc, "max_ttl", TOKEN_TTL_MAX_S, &e->max_ttl_s);
    r |= get_uint(doc, "period", TOKEN_TTL_MAX_S, &e->period_s);
    r |= get_uint(doc, "num_uses", TOKEN_NUM_USES_MAX, &uses);
    r |= get_uint(doc, "depth", TOKEN_TREE_DEPTH_MAX, &depth);
    r |= get_uint(doc, "last_renewal", INT64_MAX, &renewed);
    r |= get_string(doc, "type", false, type, sizeof(type));
    if (r != 0)
        return KH_ECORRUPT;
    e->creation_time = (int64_t)created;
    e->expire_time = (int64_t)expire;
    e->num_uses = (unsigned)uses;
    e->depth = (unsigned)depth;
    e->last_renewal = (int64_t)renewed;
    e->renewable = json_is_true(json_object_get(doc, "renewable"));
    if (strcmp(type, "batch") == 0)
        e->type = TOKEN_TYPE_BATCH;
    else if (type[0] == '\0' || strcmp(type, "service") == 0)
        e->type = TOKEN_TYPE_SERVICE;
    else
        return KH_ECORRUPT;
    return 0;
}

int token_entry_decode(const uint8_t *bytes, size_t len,
                       struct token_entry *ret)
{
    json_t *doc = NULL;
    size_t i;
    int r = KH_ECORRUPT;

    memset(ret, 0, sizeof(*ret));
    if (len > TOKEN_ENTRY_JSON_BYTES_MAX)
        goto out;
    doc = json_loadb((const char *)bytes, len, 0, NULL);
    if (!json_is_object(doc))
        goto out;
    if (get_string(doc, "accessor", true, ret->accessor,
                   sizeof(ret->accessor)) != 0 ||
        get_string(doc, "display_name", true, ret->display_name,
                   sizeof(ret->display_name)) != 0 ||
        get_string(doc, "path", true, ret->path, sizeof(ret->path)) != 0 ||
        get_string(doc, "role", false, ret->role, sizeof(ret->role)) != 0 ||
        get_string(doc, "parent", false, ret->parent, sizeof(ret->parent)) !=
            0 ||
        get_strings(doc, "policies", ret->policies[0], TOKEN_POLICY_NAME_MAX,
                    TOKEN_POLICIES_MAX, &ret->policy_count) != 0 ||
        get_strings(doc, "bound_cidrs", ret->bound_cidrs[0],
                    TOKEN_CIDR_BYTES_MAX, TOKEN_BOUND_CIDRS_MAX,
                    &ret->bound_cidr_count) != 0 ||
        get_meta(doc, ret) != 0 || get_scalars(doc, ret) != 0)
        goto out;
    if (ret->parent[0] != '\0' && !token_hash_valid(ret->parent))
        goto out;
    ret->orphan = ret->parent[0] == '\0';
    for (i = 0; i < ret->policy_count; i++) {
        if (strcmp(ret->policies[i], "root") == 0)
            ret->root = true;
    }
    r = 0; /* success */
out:
    json_decref(doc);
    if (r != 0)
        memset(ret, 0, sizeof(*ret));
    return r;
}
