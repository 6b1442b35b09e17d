/*
 * view.c - prefixing every key of a mount before it reaches the barrier.
 * Never touches storage directly.
 */
#include "barrier/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

int view_init(struct barrier_view *view, struct barrier *barrier,
              struct kh_storage *storage, const char *kind, const char *uuid)
{
    int n;

    KH_ASSERT(barrier != NULL);
    n = snprintf(view->prefix, sizeof(view->prefix), "%s/%s/", kind, uuid);
    if (n < 0 || (size_t)n >= sizeof(view->prefix))
        return KH_EINVAL;
    view->barrier = barrier;
    view->storage = storage;
    return 0;
}

static bool key_valid(const char *key)
{
    const char *p;

    if (key == NULL || key[0] == '/')
        return false;
    for (p = key; (p = strstr(p, "..")) != NULL; p += 2) {
        bool starts = p == key || p[-1] == '/';
        bool ends = p[2] == '\0' || p[2] == '/';
        if (starts && ends)
            return false;
    }
    return true;
}

/* Join prefix and key into a malloc'ed full path. */
static int full_path(const struct barrier_view *view, const char *key,
                     char **ret)
{
    if (!key_valid(key))
        return KH_EINVAL;
    if (strlen(view->prefix) + strlen(key) > KH_STORAGE_KEY_BYTES_MAX)
        return KH_EINVAL;
    if (asprintf(ret, "%s%s", view->prefix, key) < 0)
        return KH_ENOMEM;
    return 0;
}

int view_get(const struct barrier_view *view, const char *key,
             uint8_t **ret_value, size_t *ret_len)
{
    char *path = NULL;
    int r;

    r = full_path(view, key, &path);
    if (r == 0)
        r = barrier_get(view->barrier, path, ret_value, ret_len);
    free(path);
    return r;
}

int view_put(const struct barrier_view *view, const char *key,
             const uint8_t *value, size_t len)
{
    char *path = NULL;
    int r;

    r = full_path(view, key, &path);
    if (r == 0)
        r = barrier_put(view->barrier, path, value, len);
    free(path);
    return r;
}

int view_delete(const struct barrier_view *view, const char *key)
{
    char *path = NULL;
    int r;

    r = full_path(view, key, &path);
    if (r == 0)
        r = barrier_delete(view->barrier, path);
    free(path);
    return r;
}

int view_list(const struct barrier_view *view, const char *prefix,
              struct kh_storage_list *ret)
{
    char *path = NULL;
    int r;

    r = full_path(view, prefix, &path);
    if (r == 0)
        r = barrier_list(view->barrier, path, ret);
    free(path);
    return r;
}

int view_batch(const struct barrier_view *view,
               const struct kh_storage_op *ops, size_t count)
{
    struct kh_storage_op *prefixed;
    size_t i;
    int r = 0;

    if (count > KH_STORAGE_BATCH_OPS_MAX)
        return KH_ELIMIT;
    prefixed = calloc(count, sizeof(*prefixed));
    if (prefixed == NULL)
        return KH_ENOMEM;
    for (i = 0; i < count && r == 0; i++) {
        char *path = NULL;
        prefixed[i] = ops[i];
        r = full_path(view, ops[i].key, &path);
        prefixed[i].key = path;
    }
    if (r == 0)
        r = barrier_batch(view->barrier, prefixed, count);
    for (i = 0; i < count; i++)
        free((char *)prefixed[i].key);
    free(prefixed);
    return r;
}

int view_clear(const struct barrier_view *view)
{
    return kh_storage_delete_prefix(view->storage, view->prefix);
}
