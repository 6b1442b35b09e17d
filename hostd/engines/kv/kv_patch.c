/*
 * kv_patch.c - JSON merge patch (RFC 7386) for PATCH data/:path.
 *
 * Owns only the merge: the RFC's recursive MergePatch() runs here with an
 * explicit stack of (target, patch, iterator) frames, one per nesting
 * level, bounded by KH_JSON_DEPTH_MAX (no recursion over untrusted
 * input). It never keeps references into the patch: values are
 * deep-copied into the target, which must be a different document.
 */
#include "engines/kv/kv.h"

#include <stdlib.h>

#include "common/err.h"

struct merge_frame
{
    json_t *target; /* an object of the result */
    json_t *patch;  /* the patch object merged into it */
    void *iter;     /* next member of patch; NULL when done */
};

/* Apply one member name:value of a patch object to target. For an object
 * value, *ret_child is the target object to merge it into (a new frame);
 * otherwise NULL. */
static int merge_member(json_t *target, const char *name, json_t *value,
                        json_t **ret_child)
{
    json_t *child;

    *ret_child = NULL;
    if (json_is_null(value)) {
        json_object_del(target, name);
        return 0;
    }
    if (!json_is_object(value)) {
        json_t *copy = json_deep_copy(value);
        if (copy == NULL || json_object_set_new(target, name, copy) != 0)
            return KH_ENOMEM;
        return 0;
    }
    /* RFC 7386: a non-object target member is replaced by {} first, so
     * nulls inside the patch object are dropped, never stored. */
    child = json_object_get(target, name);
    if (!json_is_object(child)) {
        child = json_object();
        if (child == NULL || json_object_set_new(target, name, child) != 0)
            return KH_ENOMEM;
    }
    *ret_child = child;
    return 0;
}

int kv_merge_patch(json_t *target, const json_t *patch)
{
    struct merge_frame stack[KH_JSON_DEPTH_MAX];
    size_t top = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(json_is_object(target));
    KH_ASSERT(json_is_object(patch));
    KH_ASSERT(target != patch);
    stack[top++] = (struct merge_frame){target, (json_t *)patch,
                                        json_object_iter((json_t *)patch)};
    while (top > 0) {
        struct merge_frame *f = &stack[top - 1];
        json_t *child = NULL;
        json_t *value;

        if (f->iter == NULL) {
            top--;
            continue;
        }
        value = json_object_iter_value(f->iter);
        r = merge_member(f->target, json_object_iter_key(f->iter), value,
                         &child);
        if (r != 0)
            goto out;
        f->iter = json_object_iter_next(f->patch, f->iter);
        if (child == NULL)
            continue;
        if (top == KH_JSON_DEPTH_MAX) {
            r = KH_ELIMIT;
            goto out;
        }
        stack[top++] =
            (struct merge_frame){child, value, json_object_iter(value)};
    }
    r = 0; /* success */
out:
    return r;
}
