/*
 * mount_internal.h - the mount table's private state, shared by
 * mount_table.c (load, route) and mount_admin.c (enable, disable, tune).
 */
#ifndef KH_MOUNT_INTERNAL_H
#define KH_MOUNT_INTERNAL_H

#include "mount/mount_table.h"

#define MOUNT_TABLE_PATH "core/mounts"
#define MOUNT_AUTH_TABLE_PATH "core/auth"

struct mount_table
{
    struct barrier *barrier;
    struct kh_storage *storage;
    pthread_rwlock_t lock;          /* guards entries and count */
    struct mount_entry *entries[MOUNTS_MAX];
    size_t count;
};

/* Clean the backend up and free; accepts NULL. */
void mount_entry_free(struct mount_entry *m);
/* Attach backend ops, view and state. */
int mount_entry_activate(struct mount_table *table, struct mount_entry *m);
/* Persist both tables; caller holds the write lock. */
int mount_table_store_locked(struct mount_table *table);

#endif
