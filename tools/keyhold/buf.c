/*
 * buf.c - growable capped buffers and whole-stream reads for the client.
 *
 * Owns the memory of each struct cli_buf. Must never realloc (that would
 * leave an unwiped copy of a secret on the heap) and never grow past the
 * buffer's max.
 */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define CLI_BUF_CAP_MIN 256

void cli_buf_init(struct cli_buf *buf, size_t max)
{
    KH_ASSERT(buf != NULL);
    KH_ASSERT(max > 0);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max;
}

/* Make room for need more bytes plus the NUL. */
static int buf_reserve(struct cli_buf *buf, size_t need)
{
    size_t cap;
    char *data;

    if (need > buf->max - buf->len)
        return KH_ETOOBIG;
    if (buf->data != NULL && buf->len + need < buf->cap)
        return 0;
    cap = buf->cap < CLI_BUF_CAP_MIN ? CLI_BUF_CAP_MIN : buf->cap;
    while (cap <= buf->len + need)
        cap = cap > buf->max / 2 ? buf->max + 1 : cap * 2;
    data = malloc(cap);
    if (data == NULL)
        return KH_ENOMEM;
    if (buf->data != NULL) {
        memcpy(data, buf->data, buf->len);
        kh_free_secret(buf->data, buf->cap);
    }
    data[buf->len] = '\0';
    buf->data = data;
    buf->cap = cap;
    return 0;
}

int cli_buf_append(struct cli_buf *buf, const void *p, size_t n)
{
    int r;

    KH_ASSERT(buf != NULL);
    KH_ASSERT(p != NULL || n == 0);
    r = buf_reserve(buf, n);
    if (r < 0)
        return r;
    if (n > 0)
        memcpy(buf->data + buf->len, p, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return 0;
}

int cli_buf_puts(struct cli_buf *buf, const char *s)
{
    KH_ASSERT(s != NULL);
    return cli_buf_append(buf, s, strlen(s));
}

int cli_buf_printf(struct cli_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;
    int r;

    KH_ASSERT(buf != NULL);
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KH_EINTERNAL;
    r = buf_reserve(buf, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    (void)vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}

const char *cli_buf_text(const struct cli_buf *buf)
{
    KH_ASSERT(buf != NULL);
    return buf->data != NULL ? buf->data : "";
}

int cli_buf_steal(struct cli_buf *buf, char **ret_data, size_t *ret_len)
{
    int r;

    KH_ASSERT(buf != NULL);
    KH_ASSERT(ret_data != NULL);
    r = buf_reserve(buf, 0);
    if (r < 0)
        return r;
    *ret_data = buf->data;
    *ret_len = buf->len;
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    return 0;
}

void cli_buf_free(struct cli_buf *buf)
{
    if (buf == NULL)
        return;
    kh_free_secret(buf->data, buf->cap);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

int cli_read_stream(FILE *stream, size_t max, char **ret_data, size_t *ret_len)
{
    struct cli_buf buf;
    char chunk[4096];
    size_t n;
    int r = KH_EINTERNAL;

    KH_ASSERT(stream != NULL);
    KH_ASSERT(ret_data != NULL);
    cli_buf_init(&buf, max);
    while ((n = fread(chunk, 1, sizeof(chunk), stream)) > 0) {
        r = cli_buf_append(&buf, chunk, n);
        if (r < 0)
            goto out;
    }
    if (ferror(stream)) {
        r = KH_EIO;
        goto out;
    }
    r = cli_buf_steal(&buf, ret_data, ret_len);
    if (r < 0)
        goto out;
    r = 0; /* success */
out:
    kh_wipe(chunk, sizeof(chunk));
    cli_buf_free(&buf);
    return r;
}

int cli_read_file(const char *path, size_t max, char **ret_data,
                  size_t *ret_len)
{
    FILE *f;
    int saved_errno;
    int r;

    KH_ASSERT(path != NULL);
    f = fopen(path, "rb");
    if (f == NULL)
        return KH_EIO;
    r = cli_read_stream(f, max, ret_data, ret_len);
    saved_errno = errno;
    (void)fclose(f);
    errno = saved_errno;
    return r;
}
