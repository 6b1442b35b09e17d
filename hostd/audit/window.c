/*
 * window.c - the in-flight window of stream audit devices (window.h): a
 * byte buffer of whole lines, appended at the end and trimmed at the
 * front. Trimming only moves an offset; the held bytes are moved to the
 * start of the buffer when the end is reached, at most once per
 * bound_bytes appended, so an append costs O(line) amortised. Never
 * does I/O, never logs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/window.h"
#include "common/err.h"

int audit_window_init(struct audit_window *w, size_t bound_bytes)
{
    KH_ASSERT(w != NULL);
    KH_ASSERT(bound_bytes > 0 && bound_bytes <= SIZE_MAX / 2);
    memset(w, 0, sizeof(*w));
    w->buf = malloc(2 * bound_bytes);
    if (w->buf == NULL)
        return KH_ENOMEM;
    w->alloc = 2 * bound_bytes;
    w->bound_bytes = bound_bytes;
    return 0;
}

void audit_window_release(struct audit_window *w)
{
    if (w == NULL)
        return;
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

/* Bytes of the oldest held line, newline included. */
static size_t first_line_len(const struct audit_window *w)
{
    const char *nl = memchr(w->buf + w->off, '\n', w->len);

    KH_ASSERT(nl != NULL);
    return (size_t)(nl - (w->buf + w->off)) + 1;
}

/* Drop the oldest lines while the rest plus incoming bytes still cover
 * the bound. */
static void trim(struct audit_window *w, size_t incoming)
{
    while (w->lines > 0) {
        size_t first = first_line_len(w);
        if (w->len - first + incoming < w->bound_bytes)
            break;
        w->off += first;
        w->len -= first;
        w->lines--;
    }
    if (w->lines == 0)
        w->off = 0;
}

/* Make room for len more bytes after the held ones. */
static int make_room(struct audit_window *w, size_t len)
{
    size_t normal = 2 * w->bound_bytes;
    char *grown;

    if (w->off + w->len + len <= w->alloc)
        return 0;
    memmove(w->buf, w->buf + w->off, w->len);
    w->off = 0;
    if (w->len + len <= w->alloc) {
        /* Give back what an oversized line made us take. */
        if (w->alloc > normal && w->len + len <= normal) {
            grown = realloc(w->buf, normal);
            if (grown != NULL) {
                w->buf = grown;
                w->alloc = normal;
            }
        }
        return 0;
    }
    grown = realloc(w->buf, w->len + len);
    if (grown == NULL)
        return KH_ENOMEM;
    w->buf = grown;
    w->alloc = w->len + len;
    return 0;
}

int audit_window_append(struct audit_window *w, const char *line, size_t len)
{
    KH_ASSERT(w != NULL && w->buf != NULL);
    KH_ASSERT(line != NULL && len > 0 && line[len - 1] == '\n');
    trim(w, len);
    if (make_room(w, len) != 0) {
        w->off = 0;
        w->len = 0;
        w->lines = 0;
        return KH_ENOMEM;
    }
    memcpy(w->buf + w->off + w->len, line, len);
    w->len += len;
    w->lines++;
    return 0;
}

void audit_window_data(const struct audit_window *w, const char **ret_data,
                       size_t *ret_len)
{
    KH_ASSERT(w != NULL);
    *ret_data = w->buf != NULL ? w->buf + w->off : NULL;
    *ret_len = w->len;
}
