/*
 * buf.h - a growable, capped byte buffer for the keyhold client.
 *
 * Rules: the data is always NUL-terminated (so text can be used directly);
 * growing never leaves an unwiped copy behind (copy, wipe, free instead of
 * realloc), because a buffer may hold secret values; cli_buf_free wipes.
 * A buffer refuses to grow past its max with KH_ETOOBIG.
 */
#ifndef KH_TOOLS_BUF_H
#define KH_TOOLS_BUF_H

#include <stddef.h>
#include <stdio.h>

#include "common/assert.h"

struct cli_buf
{
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
};

void cli_buf_init(struct cli_buf *buf, size_t max);
/* Append n bytes. Returns 0, KH_ENOMEM or KH_ETOOBIG. */
int cli_buf_append(struct cli_buf *buf, const void *p, size_t n) KH_MUST_CHECK;
int cli_buf_puts(struct cli_buf *buf, const char *s) KH_MUST_CHECK;
int cli_buf_printf(struct cli_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) KH_MUST_CHECK;
/* The text so far ("" when empty); valid until the next append. */
const char *cli_buf_text(const struct cli_buf *buf);
/* Hand the data over (NUL-terminated, never NULL on success) and reset the
 * buffer. The caller frees with kh_free_secret(p, len + 1). Returns 0 or
 * KH_ENOMEM. */
int cli_buf_steal(struct cli_buf *buf, char **ret_data,
                  size_t *ret_len) KH_MUST_CHECK;
/* Wipe and free; accepts an initialised or zeroed buffer. */
void cli_buf_free(struct cli_buf *buf);

/* Read all of stream into a new NUL-terminated allocation of at most max
 * bytes. The caller frees with kh_free_secret(data, len + 1). Returns 0,
 * KH_EIO, KH_ENOMEM or KH_ETOOBIG. */
int cli_read_stream(FILE *stream, size_t max, char **ret_data,
                    size_t *ret_len) KH_MUST_CHECK;
/* The same for a file by path; KH_EIO with errno set when it cannot be
 * opened. */
int cli_read_file(const char *path, size_t max, char **ret_data,
                  size_t *ret_len) KH_MUST_CHECK;

#endif
