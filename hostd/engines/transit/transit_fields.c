/*
 * transit_fields.c - typed request fields for the transit engine, read
 * from any JSON object (the request's fields or one batch_input item), with
 * Vault's lenient typing (Vault API: request body rules).
 *
 * Owns base64 decoding of client input into wiped buffers, key name
 * checks, and base64 output. It never logs and never copies field values
 * (which may be plaintext) into error messages.
 */
#include "engines/transit/transit.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"

const char *transit_field_string(const json_t *obj, const char *name)
{
    const json_t *v;

    if (!json_is_object(obj))
        return NULL;
    v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool transit_field_present(const json_t *obj, const char *name)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;

    return v != NULL && !json_is_null(v);
}

int transit_field_b64(const json_t *obj, const char *name, size_t max,
                      bool required, uint8_t **ret, size_t *ret_len,
                      char *errmsg, size_t errmsg_size)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    const char *text;
    size_t text_len, size, len = 0;
    uint8_t *buf;

    if (v == NULL || json_is_null(v)) {
        if (required)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "missing %s to process", name);
        *ret = NULL;
        *ret_len = 0;
        return 0;
    }
    if (!json_is_string(v))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "%s must be a base64 string", name);
    text = json_string_value(v);
    text_len = json_string_length(v);
    size = text_len / 4 * 3 + 3;
    if (size - 3 > max + 3)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "%s is larger than %zu bytes", name, max);
    buf = malloc(size);
    if (buf == NULL)
        return KH_ENOMEM;
    if (kh_base64_decode(text, text_len, buf, size, &len) != 0) {
        kh_free_secret(buf, size);
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "failed to base64-decode %s", name);
    }
    if (len > max) {
        kh_free_secret(buf, size);
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "%s is larger than %zu bytes", name, max);
    }
    KH_ASSERT(len <= size);
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* A decimal string of digits only. */
static int parse_decimal(const char *s, uint64_t *ret)
{
    unsigned long long n;
    char *end = NULL;

    if (!isdigit((unsigned char)s[0]))
        return KH_EINVAL;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return KH_EINVAL;
    *ret = (uint64_t)n;
    return 0;
}

int transit_field_uint(const json_t *obj, const char *name, uint64_t def,
                       uint64_t max, uint64_t *ret, char *errmsg,
                       size_t errmsg_size)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    uint64_t value = def;

    if (v != NULL && json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            goto bad;
        value = (uint64_t)json_integer_value(v);
    } else if (v != NULL && json_is_string(v)) {
        if (json_string_length(v) == 0)
            value = def;
        else if (parse_decimal(json_string_value(v), &value) != 0)
            goto bad;
    } else if (v != NULL && !json_is_null(v)) {
        goto bad;
    }
    if (value > max)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be at most %llu", name,
                         (unsigned long long)max);
    *ret = value;
    return 0;
bad:
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "\"%s\" must be a non-negative integer", name);
}

int transit_field_bool(const json_t *obj, const char *name, bool def,
                       bool *ret, char *errmsg, size_t errmsg_size)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    size_t i;

    if (v == NULL || json_is_null(v)) {
        *ret = def;
        return 0;
    }
    if (json_is_boolean(v)) {
        *ret = json_is_true(v);
        return 0;
    }
    for (i = 0; json_is_string(v) && i < KH_ARRAY_LEN(yes); i++) {
        if (strcmp(json_string_value(v), yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcmp(json_string_value(v), no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "\"%s\" must be a boolean", name);
}

int transit_field_duration(const json_t *obj, const char *name,
                           bool *ret_present, uint64_t *ret_seconds,
                           char *errmsg, size_t errmsg_size)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;
    uint64_t seconds = 0;

    if (v == NULL || json_is_null(v)) {
        *ret_present = false;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        seconds = (uint64_t)json_integer_value(v);
    } else if (!json_is_string(v) ||
               kh_duration_parse(json_string_value(v), &seconds) != 0) {
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a duration", name);
    }
    *ret_present = true;
    *ret_seconds = seconds;
    return 0;
}

char *transit_b64(const uint8_t *bytes, size_t len)
{
    char *out = malloc(kh_base64_encoded_len(len) + 1);

    if (out == NULL)
        return NULL;
    kh_base64_encode(bytes, len, true, out);
    return out;
}

int transit_name_check(const char *name, char *errmsg, size_t errmsg_size)
{
    size_t len, i;

    if (name == NULL || name[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "missing key name");
    len = strnlen(name, TRANSIT_KEY_NAME_BYTES_MAX + 1);
    if (len > TRANSIT_KEY_NAME_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "key name is longer than %d bytes",
                         TRANSIT_KEY_NAME_BYTES_MAX);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "key names may contain only letters, digits, "
                             "'-', '_' and '.'");
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid key name");
    return 0;
}
