/*
 * response.c - error to status mapping and response rendering.
 *
 * The table below is the only mapping from KH_E* codes to HTTP statuses in
 * the project. Error texts go to the client as given: callers never put
 * secrets in them (house style).
 *
 * Bodies are rendered by a compact writer that produces exactly the bytes
 * of jansson's json_dumps(JSON_COMPACT) for the documents it accepts
 * (objects and arrays of strings, integers, booleans and null, keys in
 * insertion order, valid UTF-8, nesting up to RENDER_DEPTH_MAX); for
 * anything else (a real number, invalid UTF-8, deeper nesting, a loop, a
 * scalar at the top) it declines and json_dumps() renders, so the output
 * is json_dumps()'s in every case, with an iterative walk and none of its
 * per-container allocations. Buffers it outgrows are wiped: bodies carry
 * secrets.
 */
#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

/* Containers open at once in the compact writer: a request body's
 * nesting plus the envelopes around it. */
#define RENDER_DEPTH_MAX (KH_JSON_DEPTH_MAX + 8)
#define RENDER_BUF_INITIAL 1024

struct status_row
{
    int error;
    unsigned status;
};

static const struct status_row status_table[] = {
    {KH_EINVAL, 400},     {KH_ESTATE, 400},      {KH_ELIMIT, 400},
    {KH_EPERM, 403},      {KH_ENOTFOUND, 404},   {KH_EMETHOD, 405},
    {KH_ECONFLICT, 409},  {KH_ETOOBIG, 413},     {KH_EMEDIATYPE, 415},
    {KH_EINTERNAL, 500},  {KH_EIO, 500},         {KH_ECORRUPT, 500},
    {KH_EHSM, 500},       {KH_EAUTH, 500},       {KH_ECONFIG, 500},     {KH_EFULL, 507},
    {KH_ENOMEM, 503},     {KH_ESEALED, 503},     {KH_EUNINIT, 503},
    {KH_EUNAVAIL, 503},
};

unsigned http_status_for_error(int r)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(status_table); i++) {
        if (status_table[i].error == r)
            return status_table[i].status;
    }
    return 500;
}

void http_response_error(struct kh_response *resp, int r, const char *errmsg)
{
    const char *text = errmsg;
    json_t *errors;

    kh_response_clear(resp);
    resp->status = (int)http_status_for_error(r);
    if (text == NULL || text[0] == '\0') {
        text = kh_strerror(r);
        if (r == KH_ENOTFOUND || r == KH_EMETHOD)
            text = NULL;
    }
    if (r == KH_ESEALED || r == KH_EUNINIT)
        text = "Vault is sealed";
    errors = json_array();
    if (errors != NULL && text != NULL)
        json_array_append_new(errors, json_string(text));
    resp->body = json_pack("{s:o}", "errors", errors);
}

/* ---- the compact writer ---- */

struct render_buf
{
    char *text;
    size_t len; /* bytes written, without the NUL */
    size_t cap;
    bool failed; /* allocation failed: the result is discarded */
};

static void buf_put(struct render_buf *b, const char *bytes, size_t n)
{
    if (b->failed)
        return;
    if (n >= b->cap - b->len) {
        size_t cap = b->cap;
        char *grown;
        while (n >= cap - b->len && cap <= SIZE_MAX / 4)
            cap *= 2;
        grown = n < cap - b->len ? malloc(cap) : NULL;
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        memcpy(grown, b->text, b->len);
        kh_free_secret(b->text, b->cap);
        b->text = grown;
        b->cap = cap;
    }
    memcpy(b->text + b->len, bytes, n);
    b->len += n;
    b->text[b->len] = '\0';
}

/* Bytes of the UTF-8 sequence at s (at most left bytes), or 0 when it is
 * not valid UTF-8 (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_sequence(const unsigned char *s, size_t left)
{
    unsigned cp;
    size_t n, i;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    cp = s[0] & (0x7Fu >> n);
    if (n > left)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* The letter of the two-character escape of c, or 'u' for \\u00XX. */
static char short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 'u';
    }
}

/* A JSON string with jansson's escapes; false on invalid UTF-8. */
static bool put_string(struct render_buf *b, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, start = 0;

    buf_put(b, "\"", 1);
    while (i < len) {
        char esc[7] = {'\\', 'u', '0', '0', 0, 0, 0};
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return false;
        if (n > 1 || (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')) {
            i += n;
            continue;
        }
        buf_put(b, text + start, i - start);
        esc[1] = short_escape(s[i]);
        if (esc[1] != 'u') {
            buf_put(b, esc, 2);
        } else {
            esc[4] = hex[s[i] >> 4];
            esc[5] = hex[s[i] & 0xF];
            buf_put(b, esc, 6);
        }
        start = ++i;
    }
    buf_put(b, text + start, i - start);
    buf_put(b, "\"", 1);
    return true;
}

/* A string, integer, boolean or null; false for anything else. */
static bool put_scalar(struct render_buf *b, const json_t *v)
{
    char number[32];
    int n;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return put_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        buf_put(b, number, (size_t)n);
        return true;
    case JSON_TRUE:
        buf_put(b, "true", 4);
        return true;
    case JSON_FALSE:
        buf_put(b, "false", 5);
        return true;
    case JSON_NULL:
        buf_put(b, "null", 4);
        return true;
    default:
        return false; /* reals: json_dumps() formats them */
    }
}

/* One open container: an object with its iterator, or an array with the
 * index of its next element. */
struct render_frame
{
    json_t *container;
    void *iter;
    size_t index;
};

/* The next value of the innermost container (writing the separator and
 * key before it), or NULL after writing its close when it is done. */
static json_t *frame_next(struct render_buf *b, struct render_frame *f,
                          bool *ok)
{
    if (json_is_object(f->container)) {
        void *iter = f->iter;
        if (iter == NULL) {
            buf_put(b, "}", 1);
            return NULL;
        }
        if (f->index++ > 0)
            buf_put(b, ",", 1);
        *ok = put_string(b, json_object_iter_key(iter),
                         json_object_iter_key_len(iter));
        buf_put(b, ":", 1);
        f->iter = json_object_iter_next(f->container, iter);
        return json_object_iter_value(iter);
    }
    if (f->index == json_array_size(f->container)) {
        buf_put(b, "]", 1);
        return NULL;
    }
    if (f->index > 0)
        buf_put(b, ",", 1);
    return json_array_get(f->container, f->index++);
}

/* Write root (an object or array) into b; false when it declines. */
static bool render_compact(json_t *root, struct render_buf *b)
{
    struct render_frame stack[RENDER_DEPTH_MAX];
    size_t depth = 0;
    json_t *v = root;
    bool ok = true;

    while (ok && !b->failed) {
        if (v != NULL && (json_is_object(v) || json_is_array(v))) {
            if (depth == RENDER_DEPTH_MAX)
                return false;
            stack[depth++] = (struct render_frame){
                v, json_is_object(v) ? json_object_iter(v) : NULL, 0};
            buf_put(b, json_is_object(v) ? "{" : "[", 1);
        } else if (v != NULL && !put_scalar(b, v)) {
            return false;
        }
        v = NULL;
        while (v == NULL && depth > 0 && ok) {
            v = frame_next(b, &stack[depth - 1], &ok);
            if (v == NULL)
                depth--;
        }
        if (v == NULL && depth == 0)
            break;
    }
    return ok;
}

/* The body as json_dumps(JSON_COMPACT) renders it; NULL when it cannot
 * (as json_dumps: allocation failure, or a document it refuses). */
static char *render_json(json_t *body, size_t *ret_len)
{
    struct render_buf b = {NULL, 0, RENDER_BUF_INITIAL, false};
    char *text;

    if (json_is_object(body) || json_is_array(body)) {
        b.text = malloc(b.cap);
        b.failed = b.text == NULL;
        if (b.text != NULL)
            b.text[0] = '\0';
        if (render_compact(body, &b) && !b.failed) {
            *ret_len = b.len;
            return b.text;
        }
        kh_free_secret(b.text, b.cap);
    }
    text = json_dumps(body, JSON_COMPACT);
    if (text != NULL)
        *ret_len = strlen(text);
    return text;
}

int http_response_render(const struct kh_response *resp, char **ret_text,
                         size_t *ret_len, unsigned *ret_status)
{
    char *text = NULL;
    size_t len = 0;

    if (resp->text != NULL) {
        len = resp->text_len != 0 ? resp->text_len : strlen(resp->text);
        text = malloc(len + 1);
        if (text == NULL)
            return KH_ENOMEM;
        memcpy(text, resp->text, len);
        text[len] = '\0';
        *ret_status = resp->status != 0 ? (unsigned)resp->status : 200;
    } else if (resp->body != NULL) {
        text = render_json(resp->body, &len);
        if (text == NULL)
            return KH_ENOMEM;
        *ret_status = resp->status != 0 ? (unsigned)resp->status : 200;
    } else {
        *ret_status = resp->status != 0 && resp->status != 200
                          ? (unsigned)resp->status
                          : 204;
    }
    *ret_text = text;
    *ret_len = len;
    return 0;
}
