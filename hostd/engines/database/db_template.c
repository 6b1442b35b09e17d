/*
 * db_template.c - substitution of {{name}}, {{username}}, {{password}} and
 * {{expiration}} into SQL statements and of {{username}}/{{password}} into
 * connection URLs (database.h explains the escaping rules).
 *
 * Owns the quoting-context scanner and the escaping of every value it
 * inserts. Pure functions: no I/O, no libpq, no logging. It must never
 * insert a value unescaped, and it wipes every buffer that held a value
 * before freeing it (values include passwords).
 */
#include "engines/database/database.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/secret.h"

/* Output buffer whose old storage is wiped on growth. */
struct tbuf
{
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

static void tbuf_put(struct tbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap != 0 ? b->cap : 64);
        char *grown;
        while (cap < b->len + n + 1)
            cap *= 2;
        grown = malloc(cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        if (b->len != 0)
            memcpy(grown, b->data, b->len);
        kh_free_secret(b->data, b->cap);
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void tbuf_putc(struct tbuf *b, char c)
{
    tbuf_put(b, &c, 1);
}

/* Append value with every `quote` doubled. */
static void tbuf_put_doubled(struct tbuf *b, const char *value, char quote)
{
    for (; *value != '\0'; value++) {
        tbuf_putc(b, *value);
        if (*value == quote)
            tbuf_putc(b, quote);
    }
}

/* Hand the buffer over: 0 and *ret, or KH_ENOMEM (buffer wiped). */
static int tbuf_finish(struct tbuf *b, char **ret)
{
    if (b->data == NULL)
        tbuf_put(b, "", 0);
    if (b->failed) {
        kh_free_secret(b->data, b->cap);
        return KH_ENOMEM;
    }
    *ret = b->data;
    return 0;
}

enum tctx {
    TCTX_BARE,
    TCTX_SQUOTE,
    TCTX_DQUOTE,
    TCTX_COMMENT,
};

/* Placeholder keys; the first two are identifiers. */
enum tkey {
    TKEY_NONE = -1,
    TKEY_NAME,
    TKEY_USERNAME,
    TKEY_PASSWORD,
    TKEY_EXPIRATION,
};

/* The placeholder at p ("{{key}}" or "{{ key }}") and its length in
 * *ret_len; TKEY_NONE when p starts none. */
static enum tkey placeholder_at(const char *p, size_t *ret_len)
{
    static const char *const keys[] = {"name", "username", "password",
                                       "expiration"};
    const char *q = p + 2;
    size_t i, n;

    if (strncmp(p, "{{", 2) != 0)
        return TKEY_NONE;
    while (*q == ' ')
        q++;
    for (i = 0; i < KH_ARRAY_LEN(keys); i++) {
        const char *e;
        n = strlen(keys[i]);
        if (strncmp(q, keys[i], n) != 0)
            continue;
        e = q + n;
        while (*e == ' ')
            e++;
        if (strncmp(e, "}}", 2) != 0)
            continue;
        *ret_len = (size_t)(e + 2 - p);
        return (enum tkey)i;
    }
    return TKEY_NONE;
}

static const char *key_value(const struct db_template_vars *vars, enum tkey key)
{
    switch (key) {
    case TKEY_NAME:
    case TKEY_USERNAME:
        return vars->name;
    case TKEY_PASSWORD:
        return vars->password;
    case TKEY_EXPIRATION:
        return vars->expiration;
    case TKEY_NONE:
        break;
    }
    return NULL;
}

/* Refuse values that no quoting context could hold safely. */
static int value_check(const char *value, const char *tmpl, enum tctx ctx,
                       char *errmsg, size_t errmsg_size)
{
    const char *p;

    for (p = value; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "template value contains a control character");
    }
    if (strchr(value, '$') != NULL && strchr(tmpl, '$') != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "template value contains '$' and the statement "
                         "uses dollar quoting");
    if (ctx == TCTX_SQUOTE && strchr(value, '\\') != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "template value contains a backslash inside a "
                         "string literal");
    return 0;
}

/* Emit value escaped for ctx. */
static void emit_value(struct tbuf *b, const char *value, bool is_ident,
                       enum tctx ctx)
{
    if (ctx == TCTX_DQUOTE) {
        tbuf_put_doubled(b, value, '"');
    } else if (ctx == TCTX_SQUOTE) {
        tbuf_put_doubled(b, value, '\'');
    } else {
        char q = is_ident ? '"' : '\'';
        tbuf_putc(b, q);
        tbuf_put_doubled(b, value, q);
        tbuf_putc(b, q);
    }
}

/* Advance the quoting context over the literal character(s) at p;
 * returns how many bytes were consumed (and copied to b). */
static size_t scan_literal(struct tbuf *b, const char *p, enum tctx *ctx)
{
    size_t n = 1;

    switch (*ctx) {
    case TCTX_BARE:
        if (*p == '\'')
            *ctx = TCTX_SQUOTE;
        else if (*p == '"')
            *ctx = TCTX_DQUOTE;
        else if (p[0] == '-' && p[1] == '-') {
            *ctx = TCTX_COMMENT;
            n = 2;
        }
        break;
    case TCTX_SQUOTE:
    case TCTX_DQUOTE: {
        char q = *ctx == TCTX_SQUOTE ? '\'' : '"';
        if (p[0] == q && p[1] == q)
            n = 2; /* an escaped quote stays inside */
        else if (p[0] == q)
            *ctx = TCTX_BARE;
        break;
    }
    case TCTX_COMMENT:
        if (*p == '\n')
            *ctx = TCTX_BARE;
        break;
    }
    tbuf_put(b, p, n);
    return n;
}

int db_template_render(const char *tmpl, const struct db_template_vars *vars,
                       char **ret, char *errmsg, size_t errmsg_size)
{
    struct tbuf b = {NULL, 0, 0, false};
    enum tctx ctx = TCTX_BARE;
    const char *p = tmpl;
    int r;

    KH_ASSERT(tmpl != NULL);
    KH_ASSERT(vars != NULL);
    while (*p != '\0') {
        size_t len = 0;
        enum tkey key = placeholder_at(p, &len);
        const char *value = key_value(vars, key);
        if (key == TKEY_NONE) {
            p += scan_literal(&b, p, &ctx);
            continue;
        }
        r = value == NULL
                ? kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                            "statement uses %.*s, which is not available "
                            "here",
                            (int)len, p)
                : value_check(value, tmpl, ctx, errmsg, errmsg_size);
        if (r != 0) {
            kh_free_secret(b.data, b.cap);
            return r;
        }
        emit_value(&b, value, key <= TKEY_USERNAME, ctx);
        p += len;
    }
    return tbuf_finish(&b, ret);
}

/* ---- connection URLs ---- */

static bool url_is_uri(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 ||
           strncmp(url, "postgres://", 11) == 0;
}

static void put_percent_encoded(struct tbuf *b, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *value != '\0'; value++) {
        unsigned char c = (unsigned char)*value;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            tbuf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            tbuf_put(b, esc, 3);
        }
    }
}

/* key=value form: a value inside '...' escapes \ and ' with '\'. */
static void put_conninfo_value(struct tbuf *b, const char *value, bool quoted)
{
    if (!quoted)
        tbuf_putc(b, '\'');
    for (; *value != '\0'; value++) {
        if (*value == '\\' || *value == '\'')
            tbuf_putc(b, '\\');
        tbuf_putc(b, *value);
    }
    if (!quoted)
        tbuf_putc(b, '\'');
}

int db_url_render(const char *url, const char *username, const char *password,
                  char **ret)
{
    struct db_template_vars vars = {username, password, NULL};
    struct tbuf b = {NULL, 0, 0, false};
    bool uri = url_is_uri(url), quoted = false;
    const char *p = url;

    KH_ASSERT(url != NULL);
    while (*p != '\0') {
        size_t len = 0;
        enum tkey key = placeholder_at(p, &len);
        const char *value = key_value(&vars, key);
        if (key == TKEY_NONE || key == TKEY_EXPIRATION) {
            if (*p == '\'' && (p == url || p[-1] != '\\'))
                quoted = !quoted;
            tbuf_putc(&b, *p++);
            continue;
        }
        if (value == NULL)
            value = "";
        if (uri)
            put_percent_encoded(&b, value);
        else
            put_conninfo_value(&b, value, quoted);
        p += len;
    }
    return tbuf_finish(&b, ret);
}

bool db_url_has_literal_password(const char *url)
{
    const char *at, *colon, *slash, *kv;

    if (url_is_uri(url)) {
        const char *auth = strstr(url, "://") + 3;
        slash = strchr(auth, '/');
        at = strchr(auth, '@');
        if (at == NULL || (slash != NULL && slash < at))
            return false;
        colon = memchr(auth, ':', (size_t)(at - auth));
        return colon != NULL && (size_t)(at - colon - 1) > 0 &&
               strncmp(colon + 1, "{{password}}", 12) != 0;
    }
    kv = strstr(url, "password=");
    if (kv == NULL)
        return false;
    kv += strlen("password=");
    if (*kv == '\'')
        kv++;
    return strncmp(kv, "{{password}}", 12) != 0;
}

void db_expiration_format(int64_t t, char out[DB_EXPIRATION_SIZE])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, DB_EXPIRATION_SIZE, "%Y-%m-%d %H:%M:%S+0000", &tm) == 0)
        snprintf(out, DB_EXPIRATION_SIZE, "1970-01-01 00:00:00+0000");
}

void db_scrub(char *text, const char *secret)
{
    size_t n;
    char *hit;

    if (text == NULL || secret == NULL || secret[0] == '\0')
        return;
    n = strlen(secret);
    while ((hit = strstr(text, secret)) != NULL)
        memset(hit, '*', n);
}
