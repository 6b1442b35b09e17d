/*
 * storage.c - choosing a storage backend from the configuration, and the
 * backend-independent parts of the interface (close, list results).
 *
 * Owns the table of backend types. Must never know a backend's internals:
 * it reads the stanza's parameters and hands them to the backend's open.
 */
#include "storage/storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "storage/lmdb_internal.h"

struct storage_backend
{
    const char *type;
    int (*open)(const struct kh_config_stanza *stanza,
                struct kh_storage **ret_storage, char *errmsg,
                size_t errmsg_size);
};

/* storage "lmdb" { path = "/var/lib/keyhold" } */
static int storage_open_lmdb(const struct kh_config_stanza *stanza,
                             struct kh_storage **ret_storage, char *errmsg,
                             size_t errmsg_size)
{
    const char *path = kh_config_param(stanza, "path");

    if (path == NULL || path[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"lmdb\": the \"path\" parameter is "
                         "required");
    return kh_storage_lmdb_open(path, 0, ret_storage, errmsg, errmsg_size);
}

static const struct storage_backend storage_backends[] = {
    {"lmdb", storage_open_lmdb},
};

int kh_storage_open(const struct kh_config_stanza *stanza,
                    struct kh_storage **ret_storage, char *errmsg,
                    size_t errmsg_size)
{
    size_t i;

    KH_ASSERT(ret_storage != NULL);
    if (stanza == NULL || stanza->type == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage: the configuration has no storage stanza");
    for (i = 0; i < KH_ARRAY_LEN(storage_backends); i++) {
        if (strcmp(stanza->type, storage_backends[i].type) == 0)
            return storage_backends[i].open(stanza, ret_storage, errmsg,
                                            errmsg_size);
    }
    return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                     "storage: unknown type \"%s\" (supported: lmdb)",
                     stanza->type);
}

void kh_storage_close(struct kh_storage *storage)
{
    if (storage == NULL)
        return;
    KH_ASSERT(storage->ops != NULL);
    storage->ops->close(storage->impl);
    free(storage);
}

void kh_storage_list_free(struct kh_storage_list *list)
{
    size_t i;

    if (list == NULL)
        return;
    for (i = 0; i < list->count; i++)
        free(list->keys[i]);
    free(list->keys);
    list->keys = NULL;
    list->count = 0;
}

#define DELETE_PREFIX_STACK_MAX 64

int kh_storage_delete_prefix(struct kh_storage *storage, const char *prefix)
{
    char *stack[DELETE_PREFIX_STACK_MAX];
    size_t depth = 0;
    int r = 0;

    stack[depth] = strdup(prefix);
    if (stack[depth] == NULL)
        return KH_ENOMEM;
    depth++;
    while (depth > 0 && r == 0) {
        struct kh_storage_list list = {0};
        char *folder = stack[--depth];
        size_t i;
        r = kh_storage_list(storage, folder, &list);
        for (i = 0; r == 0 && i < list.count; i++) {
            char *key = NULL;
            if (asprintf(&key, "%s%s", folder, list.keys[i]) < 0) {
                r = KH_ENOMEM;
            } else if (key[strlen(key) - 1] != '/') {
                r = kh_storage_delete(storage, key);
                free(key);
            } else if (depth < DELETE_PREFIX_STACK_MAX) {
                stack[depth++] = key;
            } else {
                free(key);
                r = KH_ELIMIT;
            }
        }
        kh_storage_list_free(&list);
        free(folder);
    }
    while (depth > 0)
        free(stack[--depth]);
    return r;
}
