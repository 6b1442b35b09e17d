/*
 * window.h - the in-flight window of a stream audit device: a copy of the
 * most recently sent lines, so that after a connection dies they can be
 * sent again (at-least-once delivery; the verifier skips the duplicates).
 *
 * The window holds whole lines (each ends in '\n') and keeps the shortest
 * run of the newest lines whose total is at least bound_bytes (all of them
 * while fewer were sent): every byte among the last bound_bytes sent is in
 * the window, as part of its whole line. Memory is at most
 * max(2 * bound_bytes, bound_bytes + the longest line held).
 *
 * Not thread-safe: owned by one device (its writer thread). Never logs.
 */
#ifndef KH_AUDIT_WINDOW_H
#define KH_AUDIT_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

#include "common/assert.h"

struct audit_window
{
    char *buf;       /* malloc'ed; NULL until init */
    size_t alloc;    /* bytes of buf */
    size_t off, len; /* the held lines are buf[off, off + len) */
    size_t lines;
    size_t bound_bytes;
};

/* Allocate a window for bound_bytes (> 0). 0 or KH_ENOMEM. */
int audit_window_init(struct audit_window *w, size_t bound_bytes) KH_MUST_CHECK;
/* Free the buffer; accepts a zeroed or already released window. */
void audit_window_release(struct audit_window *w);
/* Append one line (len >= 1, ending in '\n', no other '\n'), dropping the
 * oldest lines no longer needed for the bound. KH_ENOMEM when a line
 * longer than the buffer cannot be held: the window is then emptied (the
 * lines it held can no longer be replayed). */
int audit_window_append(struct audit_window *w, const char *line,
                        size_t len) KH_MUST_CHECK;
/* The held lines, oldest first, as one run of bytes (may be empty). The
 * pointer is valid until the next append or release. */
void audit_window_data(const struct audit_window *w, const char **ret_data,
                       size_t *ret_len);

#endif
