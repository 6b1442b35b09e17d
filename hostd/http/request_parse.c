/*
 * request_parse.c - from wire pieces to struct kh_request.
 *
 * Distrusts every byte: lengths are checked before copying, JSON depth is
 * checked before jansson parses (so its recursion stays shallow), the
 * path is refused rather than cleaned when it is not canonical.
 */
#include "http/request_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/secret.h"

#define API_PREFIX "/v1/"

int http_parse_bool(const char *text, bool *ret)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    size_t i;

    if (text == NULL)
        return KH_EINVAL;
    for (i = 0; i < KH_ARRAY_LEN(yes); i++) {
        if (strcmp(text, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return KH_EINVAL;
}

bool http_json_depth_ok(const char *text, size_t len, unsigned depth_max)
{
    unsigned depth = 0;
    bool in_string = false;
    size_t i;

    for (i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > depth_max)
                return false;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return true;
}

/* Refuse "", leading '/', "//", "." and ".." segments, control bytes. */
static bool path_is_canonical(const char *path, size_t len)
{
    size_t i;
    size_t seg_start = 0;
    unsigned segments = 0;

    if (len == 0 || path[0] == '/')
        return false;
    for (i = 0; i <= len; i++) {
        if (i < len && (unsigned char)path[i] < 0x20)
            return false;
        if (i == len || path[i] == '/') {
            size_t seg_len = i - seg_start;
            if (seg_len == 0 && i != len)
                return false; /* "//" */
            if ((seg_len == 1 && path[seg_start] == '.') ||
                (seg_len == 2 && path[seg_start] == '.' &&
                 path[seg_start + 1] == '.'))
                return false;
            if (++segments > KH_HTTP_PATH_SEGMENTS_MAX)
                return false;
            seg_start = i + 1;
        }
    }
    return true;
}

static int parse_operation(const struct http_raw_request *raw,
                           enum kh_operation *ret, char *errmsg,
                           size_t errmsg_size)
{
    const char *m = raw->method;

    if (strcmp(m, "GET") == 0)
        *ret = KH_OP_READ;
    else if (strcmp(m, "LIST") == 0)
        *ret = KH_OP_LIST;
    else if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0)
        *ret = KH_OP_UPDATE;
    else if (strcmp(m, "PATCH") == 0)
        *ret = KH_OP_PATCH;
    else if (strcmp(m, "DELETE") == 0)
        *ret = KH_OP_DELETE;
    else if (strcmp(m, "HEAD") == 0)
        *ret = KH_OP_HEAD;
    else
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, "%s", "");
    if (*ret == KH_OP_PATCH &&
        (raw->content_type == NULL ||
         strncasecmp(raw->content_type, "application/merge-patch+json",
                     strlen("application/merge-patch+json")) != 0))
        return kh_errmsg(errmsg, errmsg_size, KH_EMEDIATYPE,
                         "PATCH requires the Content-Type "
                         "application/merge-patch+json");
    return 0;
}

/* Query arguments become fields; "list" switches a GET to LIST. */
static int parse_query(const struct http_raw_request *raw,
                       struct kh_request *req, char *errmsg,
                       size_t errmsg_size)
{
    size_t i;

    if (raw->query_count > KH_HTTP_QUERY_ARGS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "too many query parameters (limit %d)",
                         KH_HTTP_QUERY_ARGS_MAX);
    req->query = json_object();
    if (req->query == NULL)
        return KH_ENOMEM;
    for (i = 0; i < raw->query_count; i++) {
        const char *value = raw->query[i].value ? raw->query[i].value : "";
        json_t *s = json_stringn(value, strlen(value));
        if (s == NULL)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "query parameter \"%s\" is not valid UTF-8",
                             raw->query[i].name);
        if (json_object_set_new(req->query, raw->query[i].name, s) != 0)
            return KH_EINVAL;
    }
    if (req->op == KH_OP_READ && json_object_get(req->query, "list")) {
        bool list = false;
        if (http_parse_bool(json_string_value(
                                json_object_get(req->query, "list")),
                            &list) != 0)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid value for the \"list\" parameter");
        if (list)
            req->op = KH_OP_LIST;
    }
    return 0;
}

/* Decode %XX and '+' (a space) in place; KH_EINVAL on a bad escape or an
 * escaped NUL. */
static int form_unescape(char *text)
{
    char *out = text;
    const char *in = text;

    while (*in != '\0') {
        if (*in == '+') {
            *out++ = ' ';
            in++;
        } else if (*in == '%') {
            int hi = isxdigit((unsigned char)in[1]) ? in[1] : -1;
            int lo = hi >= 0 && isxdigit((unsigned char)in[2]) ? in[2] : -1;
            unsigned v;
            if (lo < 0 || sscanf(in + 1, "%2x", &v) != 1 || v == 0)
                return KH_EINVAL;
            *out++ = (char)v;
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return 0;
}

static int parse_form(const struct http_raw_request *raw, json_t *data)
{
    char *copy;
    char *save = NULL;
    char *pair;
    int r = 0;

    /* A form body is text: a NUL in it is refused, not silently cut. */
    if (memchr(raw->body, '\0', raw->body_len) != NULL)
        return KH_EINVAL;
    copy = malloc(raw->body_len + 1);
    if (copy == NULL)
        return KH_ENOMEM;
    memcpy(copy, raw->body, raw->body_len);
    copy[raw->body_len] = '\0';
    for (pair = strtok_r(copy, "&", &save); pair != NULL && r == 0;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        json_t *s;
        if (eq != NULL)
            *eq++ = '\0';
        r = form_unescape(pair);
        if (r == 0 && eq != NULL)
            r = form_unescape(eq);
        if (r != 0)
            break;
        s = json_string(eq != NULL ? eq : "");
        if (s == NULL || json_object_set_new(data, pair, s) != 0)
            r = KH_EINVAL;
    }
    kh_free_secret(copy, raw->body_len + 1);
    return r;
}

static bool body_is_form(const struct http_raw_request *raw)
{
    return raw->content_type != NULL &&
           strncasecmp(raw->content_type, "application/x-www-form-urlencoded",
                       strlen("application/x-www-form-urlencoded")) == 0 &&
           raw->body_len > 0 && raw->body[0] != '{' && raw->body[0] != '[';
}

/* The body (POST/PUT/PATCH) as a JSON object merged over the query. */
static int parse_body(const struct http_raw_request *raw,
                      struct kh_request *req, char *errmsg,
                      size_t errmsg_size)
{
    json_error_t jerr;
    json_t *body;

    if (raw->body_len > raw->body_bytes_max)
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "request body too large (limit %zu bytes)",
                         raw->body_bytes_max);
    if (raw->body_len == 0)
        return 0; /* an empty body means no fields */
    /* A raft snapshot upload is a binary file, not fields. */
    if (strncmp(req->path, "sys/storage/raft/snapshot", 25) == 0)
        return 0;
    if (body_is_form(raw))
        return parse_form(raw, req->data) == 0
                   ? 0
                   : kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                               "failed to parse form input");
    if (!http_json_depth_ok((const char *)raw->body, raw->body_len,
                            KH_JSON_DEPTH_MAX))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "failed to parse JSON input: nesting deeper than %d",
                         KH_JSON_DEPTH_MAX);
    body = json_loadb((const char *)raw->body, raw->body_len,
                      JSON_DECODE_ANY, &jerr);
    if (body == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "failed to parse JSON input: %s", jerr.text);
    if (!json_is_object(body) && !json_is_null(body)) {
        json_decref(body);
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "failed to parse JSON input: the body must be a "
                         "JSON object");
    }
    if (json_is_object(body) && json_object_update(req->data, body) != 0) {
        json_decref(body);
        return KH_ENOMEM;
    }
    json_decref(body);
    return 0;
}

static int parse_token(const struct http_raw_request *raw,
                       struct kh_request *req)
{
    const char *token = raw->vault_token;

    if ((token == NULL || token[0] == '\0') && raw->authorization != NULL &&
        strncasecmp(raw->authorization, "Bearer ", 7) == 0)
        token = raw->authorization + 7;
    if (token == NULL || token[0] == '\0')
        return 0;
    /* An over-long token cannot be valid: keep has_token false with a
     * marker so the token gate answers 403. */
    if (strlen(token) > KH_HTTP_TOKEN_BYTES_MAX) {
        req->has_token = true;
        req->token[0] = '\0';
        return 0;
    }
    memcpy(req->token, token, strlen(token) + 1);
    req->has_token = true;
    return 0;
}

static int parse_path(const struct http_raw_request *raw,
                      struct kh_request *req, char *errmsg,
                      size_t errmsg_size)
{
    size_t len;

    if (strncmp(raw->url, API_PREFIX, strlen(API_PREFIX)) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOTFOUND, "%s", "");
    len = strlen(raw->url + strlen(API_PREFIX));
    if (len > KH_HTTP_PATH_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "request path too long (limit %d bytes)",
                         KH_HTTP_PATH_BYTES_MAX);
    if (!path_is_canonical(raw->url + strlen(API_PREFIX), len))
        return kh_errmsg(errmsg, errmsg_size, KH_ENOTFOUND,
                         "invalid request path");
    /* Room for the "/" a LIST may append. */
    req->path = malloc(len + 2);
    if (req->path == NULL)
        return KH_ENOMEM;
    memcpy(req->path, raw->url + strlen(API_PREFIX), len + 1);
    return 0;
}

int http_request_build(const struct http_raw_request *raw,
                       struct kh_request *req, char *errmsg,
                       size_t errmsg_size)
{
    int r;

    KH_ASSERT(raw->method != NULL);
    KH_ASSERT(raw->url != NULL);
    snprintf(req->remote_addr, sizeof(req->remote_addr), "%s",
             raw->remote_addr != NULL ? raw->remote_addr : "");
    r = kh_uuid_generate(req->request_id);
    if (r == 0)
        r = parse_operation(raw, &req->op, errmsg, errmsg_size);
    if (r == 0)
        r = parse_path(raw, req, errmsg, errmsg_size);
    if (r == 0)
        r = parse_query(raw, req, errmsg, errmsg_size);
    if (r != 0)
        return r;
    req->data = json_deep_copy(req->query);
    if (req->data == NULL)
        return KH_ENOMEM;
    json_object_del(req->data, "list");
    if (req->op == KH_OP_UPDATE || req->op == KH_OP_PATCH) {
        r = parse_body(raw, req, errmsg, errmsg_size);
        if (r != 0)
            return r;
        req->raw_body = raw->body;
        req->raw_body_len = raw->body_len;
    }
    if (req->op == KH_OP_LIST && req->path[strlen(req->path) - 1] != '/')
        strcat(req->path, "/");
    return parse_token(raw, req);
}
