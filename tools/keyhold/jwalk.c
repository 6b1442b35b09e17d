/*
 * jwalk.c - the client's only traversal of nested JSON.
 *
 * Owns the explicit, fixed-size stack of a walk and the sorted key arrays
 * of the objects on it. Must never recurse and never descend deeper than
 * CLI_JSON_DEPTH_MAX containers.
 */
#include "jwalk.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/err.h"

struct jwalk_frame
{
    const json_t *node;
    const char **keys; /* objects only: sorted keys, owned */
    size_t count;
    size_t next;
};

static int key_compare(const void *a, const void *b)
{
    const char *const *ka = a;
    const char *const *kb = b;

    return strcmp(*ka, *kb);
}

int cli_json_sorted_keys(const json_t *object, const char ***ret_keys,
                         size_t *ret_count)
{
    const char **keys;
    const char *key;
    json_t *value;
    size_t count;
    size_t i = 0;

    KH_ASSERT(json_is_object(object));
    KH_ASSERT(ret_keys != NULL);
    count = json_object_size(object);
    if (count == 0) {
        *ret_keys = NULL;
        *ret_count = 0;
        return 0;
    }
    keys = calloc(count, sizeof(*keys));
    if (keys == NULL)
        return KH_ENOMEM;
    /* jansson's iteration API takes a non-const object but does not
     * modify it. */
    json_object_foreach((json_t *)object, key, value)
    {
        KH_ASSERT(i < count);
        keys[i++] = key;
    }
    KH_ASSERT(i == count);
    qsort(keys, count, sizeof(*keys), key_compare);
    *ret_keys = keys;
    *ret_count = count;
    return 0;
}

int cli_json_is_open_container(const json_t *value)
{
    if (json_is_object(value))
        return json_object_size(value) > 0;
    if (json_is_array(value))
        return json_array_size(value) > 0;
    return 0;
}

static int frame_open(struct jwalk_frame *frame, const json_t *node)
{
    frame->node = node;
    frame->keys = NULL;
    frame->next = 0;
    if (json_is_object(node))
        return cli_json_sorted_keys(node, &frame->keys, &frame->count);
    KH_ASSERT(json_is_array(node));
    frame->count = json_array_size(node);
    return 0;
}

int cli_jwalk(const json_t *root, const struct cli_jwalk_ops *ops, void *ctx)
{
    struct jwalk_frame stack[CLI_JSON_DEPTH_MAX];
    size_t depth = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(root != NULL);
    KH_ASSERT(ops != NULL);
    r = ops->value(ctx, NULL, NULL, 0, root, 0);
    if (r < 0 || !(json_is_object(root) || json_is_array(root)))
        goto out;
    r = frame_open(&stack[0], root);
    if (r < 0)
        goto out;
    depth = 1;
    while (depth > 0) {
        struct jwalk_frame *frame = &stack[depth - 1];
        const char *key = NULL;
        const json_t *child;
        size_t index;

        if (frame->next == frame->count) {
            r = ops->leave(ctx, frame->node, depth - 1);
            free(frame->keys);
            depth--;
            if (r < 0)
                goto out;
            continue;
        }
        index = frame->next++;
        if (frame->keys != NULL) {
            key = frame->keys[index];
            child = json_object_get(frame->node, key);
        } else {
            child = json_array_get(frame->node, index);
        }
        KH_ASSERT(child != NULL);
        r = ops->value(ctx, frame->node, key, index, child, depth);
        if (r < 0)
            goto out;
        if (!(json_is_object(child) || json_is_array(child)))
            continue;
        if (depth == CLI_JSON_DEPTH_MAX) {
            r = KH_ELIMIT;
            goto out;
        }
        r = frame_open(&stack[depth], child);
        if (r < 0)
            goto out;
        depth++;
    }
    r = 0; /* success */
out:
    while (depth > 0)
        free(stack[--depth].keys);
    return r;
}
