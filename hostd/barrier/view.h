/*
 * view.h - a barrier view: the barrier seen through a fixed key prefix.
 *
 * Each mount reads and writes only through its own view, "logical/<uuid>/"
 * for secrets engines and "auth/<uuid>/" for auth methods, so no engine can
 * reach another's data or the core's, and none can write plaintext (every
 * call goes through the barrier). Keys given to a view are relative and
 * must not start with '/' or contain ".." segments.
 */
#ifndef KH_BARRIER_VIEW_H
#define KH_BARRIER_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "barrier/barrier.h"

#define VIEW_PREFIX_MAX 64

struct barrier_view
{
    struct barrier *barrier;
    struct kh_storage *storage;     /* for view_clear only: deletes need no
                                       decryption */
    char prefix[VIEW_PREFIX_MAX];
};

/* Build "<kind>/<uuid>/" into view. kind: "logical" or "auth". */
int view_init(struct barrier_view *view, struct barrier *barrier,
              struct kh_storage *storage, const char *kind,
              const char *uuid) KH_MUST_CHECK;

int view_get(const struct barrier_view *view, const char *key,
             uint8_t **ret_value, size_t *ret_len) KH_MUST_CHECK;
int view_put(const struct barrier_view *view, const char *key,
             const uint8_t *value, size_t len) KH_MUST_CHECK;
int view_delete(const struct barrier_view *view,
                const char *key) KH_MUST_CHECK;
int view_list(const struct barrier_view *view, const char *prefix,
              struct kh_storage_list *ret) KH_MUST_CHECK;
/* ops[].key are relative to the view. */
int view_batch(const struct barrier_view *view,
               const struct kh_storage_op *ops, size_t count) KH_MUST_CHECK;

/* Remove every key under the view (unmount). */
int view_clear(const struct barrier_view *view) KH_MUST_CHECK;

#endif
