/*
 * token_fields.c - the lenient request fields of the token endpoints
 * (Vault API: request body rules): durations as seconds or duration strings (TDS),
 * lists as arrays or comma strings (CSL), metadata maps and policy names.
 *
 * Owns validation at the point where client data enters the token module:
 * every list is bounded, every string length-checked against the entry's
 * buffers. It never stores anything and never allocates: list items point
 * into the request's JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "token/token_internal.h"

int token_field_duration(const struct kh_request *req, const char *name,
                         bool *ret_present, uint64_t *ret_s, char *errmsg,
                         size_t errmsg_size)
{
    const json_t *v =
        req->data != NULL ? json_object_get(req->data, name) : NULL;
    int r;

    if (json_is_string(v) && json_string_length(v) == 0) {
        *ret_present = true; /* Vault reads "" as 0 */
        *ret_s = 0;
        return 0;
    }
    r = kh_request_duration(req, name, TOKEN_TTL_MAX_S, ret_present, ret_s,
                            errmsg, errmsg_size);
    if (r == 0 && !*ret_present)
        *ret_s = 0;
    return r;
}

/* A comma string as a new JSON array of trimmed, non-empty items, kept
 * alive by the caller's keep array. */
static int split_csl(const char *text, json_t *keep, json_t **ret_array)
{
    json_t *a = json_array();
    const char *p = text;

    if (a == NULL || json_array_append_new(keep, a) != 0)
        return KH_ENOMEM;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        size_t start = 0, end = len;
        while (start < end && p[start] == ' ')
            start++;
        while (end > start && p[end - 1] == ' ')
            end--;
        if (end > start &&
            json_array_append_new(a, json_stringn(p + start, end - start)) != 0)
            return KH_ENOMEM;
        p += comma != NULL ? len + 1 : len;
    }
    *ret_array = a;
    return 0;
}

int token_field_strings(const struct kh_request *req, const char *name,
                        json_t *keep, const char **out, size_t max,
                        size_t *ret_count, bool *ret_present, char *errmsg,
                        size_t errmsg_size)
{
    json_t *v = req->data != NULL ? json_object_get(req->data, name) : NULL;
    size_t i;
    int r;

    *ret_count = 0;
    *ret_present = false;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        r = split_csl(json_string_value(v), keep, &v);
        if (r != 0)
            return r;
    }
    if (!json_is_array(v))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a list of strings or a comma "
                         "separated string",
                         name);
    if (json_array_size(v) > max)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" has too many entries (limit %zu)", name, max);
    for (i = 0; i < json_array_size(v); i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"%s\" must be a list of strings", name);
        out[i] = json_string_value(s);
    }
    *ret_count = json_array_size(v);
    *ret_present = true;
    return 0;
}

int token_field_meta(const json_t *meta, char *errmsg, size_t errmsg_size)
{
    const char *key;
    const json_t *value;

    if (meta == NULL || json_is_null(meta))
        return 0;
    if (!json_is_object(meta))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"meta\" must be a map of strings");
    if (json_object_size(meta) > TOKEN_META_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"meta\" has too many entries (limit %d)",
                         TOKEN_META_MAX);
    json_object_foreach((json_t *)meta, key, value)
    {
        if (!json_is_string(value))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"meta\" must be a map of strings");
        if (key[0] == '\0' || strlen(key) >= TOKEN_META_KEY_BYTES_MAX ||
            json_string_length(value) >= TOKEN_META_VALUE_BYTES_MAX ||
            strlen(json_string_value(value)) != json_string_length(value))
            return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                             "\"meta\" keys must be 1-%d bytes and values "
                             "at most %d bytes",
                             TOKEN_META_KEY_BYTES_MAX - 1,
                             TOKEN_META_VALUE_BYTES_MAX - 1);
    }
    return 0;
}

bool token_policy_name_valid(const char *name)
{
    size_t i, len = strlen(name);

    if (len == 0 || len >= TOKEN_POLICY_NAME_MAX)
        return false;
    for (i = 0; i < len; i++) {
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    }
    return name[0] != ' ' && name[len - 1] != ' ';
}
