/*
 * kv_fields.c - the KV engine's request fields (Vault API: request body rules lenient
 * typing), secret paths, times and Go-style durations.
 *
 * Owns input validation for the engine: every limit of kv.h that applies
 * to a request field is enforced here, before any storage is touched. It
 * must never log or copy field values into error messages beyond key
 * names (values may be secrets).
 */
#include "engines/kv/kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"

int64_t kv_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void kv_time_string(int64_t ns, char out[KH_TIME_STR_SIZE])
{
    struct timespec ts;

    if (ns == 0) {
        out[0] = '\0';
        return;
    }
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    kh_time_format(&ts, out);
}

void kv_duration_string(uint64_t seconds, char out[KV_DURATION_STR_SIZE])
{
    uint64_t h = seconds / 3600;
    uint64_t m = (seconds % 3600) / 60;
    uint64_t s = seconds % 60;

    /* Go prints hours and minutes only once they are non-zero, then every
     * smaller unit: 90s -> "1m30s", 3600s -> "1h0m0s". */
    if (h > 0)
        snprintf(out, KV_DURATION_STR_SIZE, "%lluh%llum%llus",
                 (unsigned long long)h, (unsigned long long)m,
                 (unsigned long long)s);
    else if (m > 0)
        snprintf(out, KV_DURATION_STR_SIZE, "%llum%llus", (unsigned long long)m,
                 (unsigned long long)s);
    else
        snprintf(out, KV_DURATION_STR_SIZE, "%llus", (unsigned long long)s);
}

bool kv_version_deleted(const struct kv_version *v, int64_t now_ns)
{
    KH_ASSERT(v != NULL);
    return v->deletion_ns != 0 && v->deletion_ns <= now_ns;
}

/* One segment of a path: not empty, not "." or "..". */
static bool segment_ok(const char *seg, size_t len)
{
    if (len == 0)
        return false;
    if (len == 1 && seg[0] == '.')
        return false;
    return !(len == 2 && seg[0] == '.' && seg[1] == '.');
}

int kv_path_check(const char *path, bool for_list, char *errmsg,
                  size_t errmsg_size)
{
    size_t len = strnlen(path, KV_PATH_BYTES_MAX + 1);
    size_t segments = 0;
    size_t start = 0;
    size_t i;

    KH_ASSERT(path != NULL);
    if (len > KV_PATH_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "path is longer than %u bytes", KV_PATH_BYTES_MAX);
    if (len == 0)
        return for_list
                   ? 0
                   : kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "missing path");
    for (i = 0; i <= len; i++) {
        if (i < len && (unsigned char)path[i] < 0x20)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "path contains control characters");
        if (i < len && path[i] != '/')
            continue;
        if (i == len && for_list && start == len)
            break; /* the trailing '/' of a folder */
        if (!segment_ok(path + start, i - start))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid path \"%s\"", path);
        if (++segments > KV_PATH_SEGMENTS_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                             "path has more than %u segments",
                             KV_PATH_SEGMENTS_MAX);
        start = i + 1;
    }
    return 0;
}

/* A non-negative integer from a JSON number or a numeric string. */
static bool json_to_u64(const json_t *v, uint64_t *ret)
{
    const char *s;
    char *end = NULL;
    unsigned long long n;

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return false;
        *ret = (uint64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    s = json_string_value(v);
    if (s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *ret = n;
    return true;
}

bool kv_fields_present(const struct kh_request *req, const char *name)
{
    json_t *v = req->data != NULL ? json_object_get(req->data, name) : NULL;

    return v != NULL && !json_is_null(v);
}

int kv_fields_cas(const struct kh_request *req, bool *ret_present,
                  uint64_t *ret_cas, char *errmsg, size_t errmsg_size)
{
    json_t *options =
        req->data != NULL ? json_object_get(req->data, "options") : NULL;
    json_t *cas;
    uint64_t value = 0;

    if (options == NULL || json_is_null(options)) {
        *ret_present = false;
        return 0;
    }
    if (!json_is_object(options))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"options\" must be an object");
    cas = json_object_get(options, "cas");
    if (cas == NULL || json_is_null(cas)) {
        *ret_present = false;
        return 0;
    }
    if (!json_to_u64(cas, &value))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"cas\" must be a non-negative integer");
    *ret_present = true;
    *ret_cas = value;
    return 0;
}

/* Split "1,2,3" into list (count checked by the caller's bound). */
static int versions_from_csv(const char *s, uint64_t *list, size_t *count)
{
    const char *p = s;

    *count = 0;
    while (*p != '\0') {
        char *end = NULL;
        unsigned long long n;

        if (*count == KV_VERSIONS_PER_REQUEST_MAX)
            return KH_ELIMIT;
        while (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            return KH_EINVAL;
        errno = 0;
        n = strtoull(p, &end, 10);
        if (errno != 0)
            return KH_EINVAL;
        list[(*count)++] = n;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p != '\0')
            return KH_EINVAL;
    }
    return 0;
}

static int versions_from_array(const json_t *arr, uint64_t *list, size_t *count)
{
    size_t i;

    if (json_array_size(arr) > KV_VERSIONS_PER_REQUEST_MAX)
        return KH_ELIMIT;
    for (i = 0; i < json_array_size(arr); i++) {
        if (!json_to_u64(json_array_get(arr, i), &list[i]))
            return KH_EINVAL;
    }
    *count = json_array_size(arr);
    return 0;
}

int kv_fields_versions(const struct kh_request *req, uint64_t **ret,
                       size_t *ret_count, char *errmsg, size_t errmsg_size)
{
    json_t *v =
        req->data != NULL ? json_object_get(req->data, "versions") : NULL;
    uint64_t *list = NULL;
    size_t count = 0;
    int r = KH_EINTERNAL;

    list = calloc(KV_VERSIONS_PER_REQUEST_MAX, sizeof(*list));
    if (list == NULL)
        return KH_ENOMEM;
    if (json_is_array(v))
        r = versions_from_array(v, list, &count);
    else if (json_is_string(v))
        r = versions_from_csv(json_string_value(v), list, &count);
    else if (json_is_integer(v) && json_to_u64(v, &list[0])) {
        count = 1;
        r = 0;
    } else
        r = v == NULL || json_is_null(v) ? 0 : KH_EINVAL;
    if (r == KH_ELIMIT) {
        kh_errmsg(errmsg, errmsg_size, r, "more than %u versions given",
                  KV_VERSIONS_PER_REQUEST_MAX);
        goto out;
    }
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r,
                  "\"versions\" must be a list of version numbers");
        goto out;
    }
    if (count == 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "no version number provided");
        goto out;
    }
    *ret = list;
    *ret_count = count;
    list = NULL;
    r = 0; /* success */
out:
    free(list);
    return r;
}

int kv_fields_duration(const struct kh_request *req, const char *name,
                       bool *ret_present, uint64_t *ret_seconds, char *errmsg,
                       size_t errmsg_size)
{
    return kh_request_duration(req, name, KV_DELETE_VERSION_AFTER_MAX_S,
                               ret_present, ret_seconds, errmsg, errmsg_size);
}

static bool printable(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

int kv_fields_custom_metadata(const json_t *value, char *errmsg,
                              size_t errmsg_size)
{
    const char *key;
    json_t *item;

    if (!json_is_object(value))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "custom_metadata must be a map of strings");
    if (json_object_size(value) > KV_CUSTOM_METADATA_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "custom_metadata can only have up to %u keys",
                         KV_CUSTOM_METADATA_MAX);
    json_object_foreach((json_t *)value, key, item)
    {
        if (!json_is_string(item))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "custom_metadata must be a map of strings");
        if (strlen(key) > KV_CUSTOM_METADATA_KEY_BYTES_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                             "custom_metadata keys are limited to %u bytes",
                             KV_CUSTOM_METADATA_KEY_BYTES_MAX);
        if (json_string_length(item) > KV_CUSTOM_METADATA_VALUE_BYTES_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                             "custom_metadata values are limited to %u bytes",
                             KV_CUSTOM_METADATA_VALUE_BYTES_MAX);
        if (!printable(key) || !printable(json_string_value(item)) ||
            key[0] == '\0')
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "custom_metadata keys and values must be "
                             "non-empty printable text");
    }
    return 0;
}

int kv_data_serialise(const struct kv_state *state, const json_t *data,
                      char **ret_text, size_t *ret_len, char *errmsg,
                      size_t errmsg_size)
{
    char *text;
    size_t len;

    KH_ASSERT(state != NULL);
    if (!json_is_object(data))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "data must be a JSON object");
    if (json_object_size(data) > KV_SECRET_KEYS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "a secret can have at most %u keys",
                         KV_SECRET_KEYS_MAX);
    text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return KH_ENOMEM;
    len = strlen(text);
    if (len > state->secret_bytes_max) {
        kh_free_secret(text, len);
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "secret data is %zu bytes, more than the limit of "
                         "%zu",
                         len, state->secret_bytes_max);
    }
    *ret_text = text;
    *ret_len = len;
    return 0;
}
