/*
 * request_util.c - small helpers over struct kh_request/kh_response used by
 * every handler: field access, envelopes, clearing.
 */
#include "core/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#include "common/secret.h"
#include "config/config.h"

void kh_request_clear(struct kh_request *req)
{
    if (req == NULL)
        return;
    free(req->path);
    json_decref(req->query);
    json_decref(req->data);
    kh_wipe(req->token, sizeof(req->token));
    memset(req, 0, sizeof(*req));
}

void kh_response_clear(struct kh_response *resp)
{
    if (resp == NULL)
        return;
    json_decref(resp->body);
    json_decref(resp->lease.internal);
    if (resp->text != NULL)
        kh_wipe(resp->text, malloc_usable_size(resp->text));
    free(resp->text);
    memset(resp, 0, sizeof(*resp));
}

const char *kh_request_string(const struct kh_request *req, const char *name)
{
    json_t *v;

    if (req->data == NULL)
        return NULL;
    v = json_object_get(req->data, name);
    if (v == NULL || !json_is_string(v))
        return NULL;
    return json_string_value(v);
}

int kh_response_envelope(struct kh_response *resp,
                         const struct kh_request *req, json_t *data)
{
    json_t *body;

    body = json_pack("{s:s, s:s, s:b, s:i, s:o, s:n, s:n, s:n}", "request_id",
                     req->request_id, "lease_id", "", "renewable", 0,
                     "lease_duration", 0, "data",
                     data != NULL ? data : json_null(), "wrap_info",
                     "warnings", "auth");
    return kh_response_raw(resp, body);
}

int kh_response_raw(struct kh_response *resp, json_t *body)
{
    if (body == NULL)
        return KH_ENOMEM;
    json_decref(resp->body);
    resp->body = body;
    resp->status = 200;
    return 0;
}

void kh_response_no_content(struct kh_response *resp)
{
    json_decref(resp->body);
    resp->body = NULL;
    resp->status = 204;
}

int kh_request_uint(const struct kh_request *req, const char *name,
                    unsigned long long def, unsigned long long max,
                    unsigned long long *ret, char *errmsg, size_t errmsg_size)
{
    json_t *v = req->data != NULL ? json_object_get(req->data, name) : NULL;
    unsigned long long value = def;

    if (v != NULL && json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            goto bad;
        value = (unsigned long long)json_integer_value(v);
    } else if (v != NULL && json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        if (!isdigit((unsigned char)s[0]))
            goto bad;
        errno = 0;
        value = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0')
            goto bad;
    } else if (v != NULL && !json_is_null(v)) {
        goto bad;
    }
    if (value > max)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be at most %llu", name, max);
    *ret = value;
    return 0;
bad:
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "\"%s\" must be a non-negative integer", name);
}

int kh_request_bool(const struct kh_request *req, const char *name, bool def,
                    bool *ret, char *errmsg, size_t errmsg_size)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    json_t *v = req->data != NULL ? json_object_get(req->data, name) : NULL;
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

int kh_json_duration(const json_t *v, const char *name, uint64_t max_s,
                     bool *ret_present, uint64_t *ret_s, char *errmsg,
                     size_t errmsg_size)
{
    uint64_t s = 0;

    if (v == NULL || json_is_null(v)) {
        *ret_present = false;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        s = (uint64_t)json_integer_value(v);
    else if (!json_is_string(v) ||
             kh_duration_parse(json_string_value(v), &s) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a duration (seconds or a string "
                         "such as \"1h30m\")",
                         name);
    if (s > max_s)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" must be at most %llu seconds", name,
                         (unsigned long long)max_s);
    *ret_present = true;
    *ret_s = s;
    return 0;
}

int kh_request_duration(const struct kh_request *req, const char *name,
                        uint64_t max_s, bool *ret_present, uint64_t *ret_s,
                        char *errmsg, size_t errmsg_size)
{
    const json_t *v =
        req->data != NULL ? json_object_get(req->data, name) : NULL;

    return kh_json_duration(v, name, max_s, ret_present, ret_s, errmsg,
                            errmsg_size);
}

int kh_response_envelope_inject(struct kh_response *resp,
                                const struct kh_request *req, json_t *data)
{
    int r;

    if (data == NULL)
        return KH_ENOMEM;
    r = kh_response_envelope(resp, req, data);
    if (r == 0) {
        json_t *copy = json_deep_copy(json_object_get(resp->body, "data"));
        if (copy == NULL || json_object_update_missing(resp->body, copy) != 0)
            r = KH_ENOMEM;
        json_decref(copy);
    }
    return r;
}
