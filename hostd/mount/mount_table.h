/*
 * mount_table.h - the tables of mounted secrets engines and auth methods
 * (Vault API: sys/mounts and sys/auth), stored through the barrier at core/mounts and
 * core/auth, loaded at unseal, dropped at seal.
 *
 * A mount entry has a path ("secret/", or "auth/approle/" for auth
 * methods: entries keep the full routed prefix), a type, a UUID that names
 * its barrier view, an accessor, options and TTL tuning. Routing takes the
 * longest mount path that prefixes the request path.
 *
 * Thread safety: one rwlock. Request handlers run with the read lock held
 * (mount_table_route() takes it, mount_table_release() drops it), so a
 * mount cannot be disabled under a running request; enable, disable, tune
 * and load take the write lock.
 */
#ifndef KH_MOUNT_MOUNT_TABLE_H
#define KH_MOUNT_MOUNT_TABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "barrier/view.h"
#include "common/encoding.h"
#include "engines/backend.h"

#define MOUNT_PATH_BYTES_MAX 256
#define MOUNT_TYPE_BYTES_MAX 32
#define MOUNT_DESCRIPTION_BYTES_MAX 1024
#define MOUNTS_MAX 512
#define MOUNT_OPTIONS_MAX 32

struct mount_entry
{
    char path[MOUNT_PATH_BYTES_MAX];        /* with trailing '/' */
    char type[MOUNT_TYPE_BYTES_MAX];
    char uuid[KH_UUID_STR_LEN + 1];
    char accessor[MOUNT_TYPE_BYTES_MAX + 16];
    char description[MOUNT_DESCRIPTION_BYTES_MAX];
    bool is_auth;
    bool local;
    bool seal_wrap;
    bool builtin;                           /* cannot be disabled */
    json_t *options;                        /* object of strings; owned */
    uint64_t default_lease_ttl_s;           /* 0 = system default */
    uint64_t max_lease_ttl_s;
    const struct backend_ops *ops;
    void *state;
    struct barrier_view view;
};

struct mount_table;

int mount_table_create(struct barrier *barrier, struct kh_storage *storage,
                       struct mount_table **ret) KH_MUST_CHECK;
void mount_table_free(struct mount_table *table);

/* At init: write the built-in mounts (auth/token/). */
int mount_table_setup(struct mount_table *table) KH_MUST_CHECK;
/* At unseal: load both tables and init every backend. */
int mount_table_load(struct mount_table *table) KH_MUST_CHECK;
/* At seal: clean every backend up and forget the tables. */
void mount_table_unload(struct mount_table *table);

/* Find the mount for path and take the read lock. On 0, *ret_mount and
 * *ret_subpath (inside path) are valid until mount_table_release().
 * KH_ENOTFOUND when no mount matches (lock not held). */
int mount_table_route(struct mount_table *table, const char *path,
                      const struct mount_entry **ret_mount,
                      const char **ret_subpath) KH_MUST_CHECK;
void mount_table_release(struct mount_table *table);

struct mount_request
{
    const char *path;               /* "secret" or "secret/"; for auth, the
                                       path below auth/ */
    const char *type;
    const char *description;
    json_t *options;                /* borrowed; may be NULL */
    bool local;
    bool seal_wrap;
    uint64_t default_lease_ttl_s;
    uint64_t max_lease_ttl_s;
};

/* Enable a mount. KH_ECONFLICT when the path overlaps an existing mount,
 * KH_EINVAL for reserved paths or an unknown type (errmsg says which). */
int mount_table_enable(struct mount_table *table, bool is_auth,
                       const struct mount_request *mreq, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;

/* Disable a mount and remove its data. Unknown paths succeed (Vault).
 * core: handed to the backend's disable hook (may be NULL). */
int mount_table_disable(struct mount_table *table, struct kh_core *core,
                        bool is_auth,
                        const char *path, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;

/* Change TTLs, description or options of a mount. */
int mount_table_tune(struct mount_table *table, bool is_auth,
                     const char *path, const struct mount_request *tune,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* The sys/mounts or sys/auth listing object, keyed by path; or one entry
 * (path not NULL) for sys/mounts/:path and its tune view. */
int mount_table_describe(struct mount_table *table, bool is_auth,
                         const char *path, bool tune_view,
                         json_t **ret) KH_MUST_CHECK;

#endif
