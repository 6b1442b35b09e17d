/*
 * mount_table.c - the mount tables: load/store through the barrier,
 * enable/disable/tune, routing by longest prefix.
 *
 * Owns every struct mount_entry and its backend state. The table is an
 * array of pointers, so a route result stays valid while the read lock is
 * held even if another thread waits to change the table.
 */
#include "mount/mount_table.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "mount/mount_codec.h"
#include "mount/mount_internal.h"


int mount_table_create(struct barrier *barrier, struct kh_storage *storage,
                       struct mount_table **ret)
{
    struct mount_table *table = calloc(1, sizeof(*table));

    if (table == NULL)
        return KH_ENOMEM;
    table->barrier = barrier;
    table->storage = storage;
    pthread_rwlock_init(&table->lock, NULL);
    *ret = table;
    return 0;
}

void mount_entry_free(struct mount_entry *m)
{
    if (m == NULL)
        return;
    if (m->ops != NULL && m->ops->cleanup != NULL && m->state != NULL)
        m->ops->cleanup(m->state);
    json_decref(m->options);
    free(m);
}

void mount_table_unload(struct mount_table *table)
{
    size_t i;

    pthread_rwlock_wrlock(&table->lock);
    for (i = 0; i < table->count; i++)
        mount_entry_free(table->entries[i]);
    table->count = 0;
    pthread_rwlock_unlock(&table->lock);
}

void mount_table_free(struct mount_table *table)
{
    if (table == NULL)
        return;
    mount_table_unload(table);
    pthread_rwlock_destroy(&table->lock);
    free(table);
}

/* Attach the backend and the barrier view of a decoded entry. */
int mount_entry_activate(struct mount_table *table, struct mount_entry *m)
{
    int r;

    m->ops = backend_lookup(m->type, m->is_auth);
    r = view_init(&m->view, table->barrier, table->storage,
                  m->is_auth ? "auth" : "logical", m->uuid);
    if (r != 0)
        return r;
    if (m->ops != NULL && m->ops->init != NULL)
        return m->ops->init(m, &m->state);
    return 0;
}

/* Write both tables; caller holds the write lock. */
int mount_table_store_locked(struct mount_table *table)
{
    char *text[2] = {NULL, NULL};
    struct kh_storage_op ops[2];
    int r = KH_ENOMEM;
    int kind;

    for (kind = 0; kind < 2; kind++) {
        text[kind] = mount_codec_encode(
            (const struct mount_entry *const *)table->entries, table->count,
            kind == 1);
        if (text[kind] == NULL)
            goto out;
    }
    ops[0] = (struct kh_storage_op){KH_STORAGE_PUT, MOUNT_TABLE_PATH,
                                    (const uint8_t *)text[0],
                                    strlen(text[0])};
    ops[1] = (struct kh_storage_op){KH_STORAGE_PUT, MOUNT_AUTH_TABLE_PATH,
                                    (const uint8_t *)text[1],
                                    strlen(text[1])};
    r = barrier_batch(table->barrier, ops, 2);
out:
    free(text[0]);
    free(text[1]);
    return r;
}

int mount_table_setup(struct mount_table *table)
{
    struct mount_entry *token;
    int r;

    token = calloc(1, sizeof(*token));
    if (token == NULL)
        return KH_ENOMEM;
    strcpy(token->path, "auth/token/");
    strcpy(token->type, "token");
    strcpy(token->description, "token based credentials");
    token->is_auth = true;
    token->builtin = true;
    token->options = json_object();
    r = kh_uuid_generate(token->uuid);
    if (r == 0)
        snprintf(token->accessor, sizeof(token->accessor), "auth_token_%.8s",
                 token->uuid);
    if (r != 0 || token->options == NULL) {
        mount_entry_free(token);
        return r != 0 ? r : KH_ENOMEM;
    }
    pthread_rwlock_wrlock(&table->lock);
    table->entries[table->count++] = token;
    r = mount_table_store_locked(table);
    pthread_rwlock_unlock(&table->lock);
    return r;
}

/* Load one stored table (MOUNT_TABLE_PATH or the auth one). */
static int load_kind_locked(struct mount_table *table, const char *path)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = barrier_get(table->barrier, path, &value, &len);
    if (r == KH_ENOTFOUND)
        return 0;
    if (r != 0)
        return r;
    r = mount_codec_decode((const char *)value, len, table->entries,
                           MOUNTS_MAX, &table->count);
    kh_free_secret(value, len);
    return r;
}

int mount_table_load(struct mount_table *table)
{
    size_t i;
    int r;

    pthread_rwlock_wrlock(&table->lock);
    r = load_kind_locked(table, MOUNT_TABLE_PATH);
    if (r == 0)
        r = load_kind_locked(table, MOUNT_AUTH_TABLE_PATH);
    for (i = 0; r == 0 && i < table->count; i++) {
        r = mount_entry_activate(table, table->entries[i]);
        if (r == 0 && table->entries[i]->ops == NULL)
            log_warn("mount: %s has unknown type \"%s\"; it will answer 404",
                     table->entries[i]->path, table->entries[i]->type);
    }
    pthread_rwlock_unlock(&table->lock);
    return r;
}

int mount_table_route(struct mount_table *table, const char *path,
                      const struct mount_entry **ret_mount,
                      const char **ret_subpath)
{
    const struct mount_entry *best = NULL;
    size_t path_len = strlen(path);
    size_t i;

    pthread_rwlock_rdlock(&table->lock);
    for (i = 0; i < table->count; i++) {
        const struct mount_entry *m = table->entries[i];
        size_t len = strlen(m->path);
        bool match = strncmp(m->path, path, len) == 0 ||
                     (path_len == len - 1 && strncmp(m->path, path,
                                                     path_len) == 0);
        if (match && (best == NULL || len > strlen(best->path)))
            best = m;
    }
    if (best == NULL) {
        pthread_rwlock_unlock(&table->lock);
        return KH_ENOTFOUND;
    }
    *ret_mount = best;
    *ret_subpath = path_len >= strlen(best->path)
                       ? path + strlen(best->path)
                       : path + path_len;
    return 0;
}

void mount_table_release(struct mount_table *table)
{
    pthread_rwlock_unlock(&table->lock);
}
