/*
 * mount_admin.c - enabling, disabling, tuning and describing mounts
 * (sys/mounts, sys/auth). Every change is persisted before it is visible;
 * a failed write leaves the table as it was. Disabling also asks the
 * backend to destroy what it keeps outside its view (backend.h disable)
 * and then clears the view; neither step can keep the mount.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/err.h"
#include "common/log.h"
#include "mount/mount_codec.h"
#include "mount/mount_internal.h"

static const char *const reserved_paths[] = {"sys/", "auth/", "cubbyhole/",
                                             "identity/"};

/* "secret" -> "secret/", "/a/b/" -> "a/b/"; auth paths get "auth/". */
static int normalise_path(const char *path, bool is_auth, char *out,
                          size_t size, char *errmsg, size_t errmsg_size)
{
    const char *p = path;
    size_t len, i;
    int n;

    while (*p == '/')
        p++;
    len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
        len--;
    if (len == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "mount path must not be empty");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != '/')
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "mount path has an invalid character");
    }
    if (strstr(p, "..") != NULL || strstr(p, "//") != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "mount path must be canonical");
    n = snprintf(out, size, "%s%.*s/", is_auth ? "auth/" : "", (int)len, p);
    if (n < 0 || (size_t)n >= size)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "mount path too long (limit %d bytes)",
                         MOUNT_PATH_BYTES_MAX - 1);
    return 0;
}

static int check_free_locked(struct mount_table *table, const char *path,
                             bool is_auth, char *errmsg, size_t errmsg_size)
{
    size_t i;

    for (i = 0; !is_auth && i < KH_ARRAY_LEN(reserved_paths); i++) {
        if (strncmp(path, reserved_paths[i], strlen(reserved_paths[i])) == 0)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "cannot mount at reserved path \"%s\"",
                             reserved_paths[i]);
    }
    for (i = 0; i < table->count; i++) {
        const char *existing = table->entries[i]->path;
        if (strncmp(existing, path, strlen(existing)) == 0 ||
            strncmp(existing, path, strlen(path)) == 0)
            return kh_errmsg(errmsg, errmsg_size, KH_ECONFLICT,
                             "path is already in use at %s", existing);
    }
    if (table->count >= MOUNTS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "too many mounts (limit %d)", MOUNTS_MAX);
    return 0;
}

/* Fill a new entry from the request ("kv-v2" becomes kv version 2). */
static int entry_from_request(struct mount_entry *m, bool is_auth,
                              const struct mount_request *mreq,
                              char *errmsg, size_t errmsg_size)
{
    const char *type = strcmp(mreq->type, "kv-v2") == 0 ? "kv" : mreq->type;
    int r;

    if (backend_lookup(type, is_auth) == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "%s: unknown type \"%s\"",
                         is_auth ? "auth method" : "secrets engine",
                         mreq->type);
    snprintf(m->type, sizeof(m->type), "%s", type);
    snprintf(m->description, sizeof(m->description), "%s",
             mreq->description != NULL ? mreq->description : "");
    m->is_auth = is_auth;
    m->local = mreq->local;
    m->seal_wrap = mreq->seal_wrap;
    m->default_lease_ttl_s = mreq->default_lease_ttl_s;
    m->max_lease_ttl_s = mreq->max_lease_ttl_s;
    m->options = mreq->options != NULL ? json_deep_copy(mreq->options)
                                       : json_object();
    if (m->options == NULL)
        return KH_ENOMEM;
    if (strcmp(mreq->type, "kv-v2") == 0)
        json_object_set_new(m->options, "version", json_string("2"));
    r = kh_uuid_generate(m->uuid);
    if (r == 0)
        snprintf(m->accessor, sizeof(m->accessor), "%s_%.8s", m->type,
                 m->uuid);
    return r;
}

int mount_table_enable(struct mount_table *table, bool is_auth,
                       const struct mount_request *mreq, char *errmsg,
                       size_t errmsg_size)
{
    struct mount_entry *m;
    int r;

    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return KH_ENOMEM;
    r = normalise_path(mreq->path, is_auth, m->path, sizeof(m->path), errmsg,
                       errmsg_size);
    if (r == 0)
        r = entry_from_request(m, is_auth, mreq, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    pthread_rwlock_wrlock(&table->lock);
    r = check_free_locked(table, m->path, is_auth, errmsg, errmsg_size);
    if (r == 0)
        r = mount_entry_activate(table, m);
    if (r == 0) {
        table->entries[table->count++] = m;
        r = mount_table_store_locked(table);
        if (r != 0)
            table->count--;
        else
            m = NULL;
    }
    pthread_rwlock_unlock(&table->lock);
    if (r == 0)
        log_info("mount: enabled %s", mreq->path);
out:
    mount_entry_free(m);
    return r;
}

static ssize_t find_locked(struct mount_table *table, const char *path)
{
    size_t i;

    for (i = 0; i < table->count; i++) {
        if (strcmp(table->entries[i]->path, path) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Let the backend destroy what it keeps outside the view (a transit
 * mount's HSM objects) while the view is still readable. The mount goes
 * whatever happens (Vault's disable always succeeds), never silently: the
 * backend has logged each object it left behind, and this logs the
 * summary. */
static void disable_backend(const struct mount_entry *m,
                            struct kh_core *core)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct backend_request br;
    int r;

    KH_ASSERT(m != NULL);
    if (m->ops == NULL || m->ops->disable == NULL)
        return;
    memset(&br, 0, sizeof(br));
    br.core = core;
    br.mount = m;
    br.view = &m->view;
    br.state = m->state;
    r = m->ops->disable(&br, errmsg, sizeof(errmsg));
    if (r != 0)
        log_warn("mount: disabling %s: %s; the mount is disabled anyway",
                 m->path, errmsg[0] != '\0' ? errmsg : kh_strerror(r));
}

int mount_table_disable(struct mount_table *table, struct kh_core *core,
                        bool is_auth,
                        const char *path, char *errmsg, size_t errmsg_size)
{
    char normal[MOUNT_PATH_BYTES_MAX];
    struct mount_entry *removed = NULL;
    ssize_t i;
    int r;

    r = normalise_path(path, is_auth, normal, sizeof(normal), errmsg,
                       errmsg_size);
    if (r != 0)
        return r;
    for (i = 0; !is_auth && i < (ssize_t)KH_ARRAY_LEN(reserved_paths); i++) {
        if (strcmp(normal, reserved_paths[i]) == 0)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "cannot unmount \"%s\"", normal);
    }
    pthread_rwlock_wrlock(&table->lock);
    i = find_locked(table, normal);
    if (i >= 0 && table->entries[i]->builtin) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "cannot unmount \"%s\"", normal);
    } else if (i >= 0) {
        removed = table->entries[i];
        table->entries[i] = table->entries[table->count - 1];
        table->count--;
        r = mount_table_store_locked(table);
        if (r != 0) {
            table->entries[table->count++] = removed;
            removed = NULL;
        }
    }
    pthread_rwlock_unlock(&table->lock);
    if (removed != NULL) {
        /* Data goes after the entry: a crash in between leaves orphaned
         * ciphertext under an unused UUID, never a mount without data.
         * The backend's objects outside the view go first, while the view
         * still says what they are. */
        disable_backend(removed, core);
        r = view_clear(&removed->view);
        log_info("mount: disabled %s", normal);
        mount_entry_free(removed);
    }
    return r;
}

int mount_table_tune(struct mount_table *table, bool is_auth,
                     const char *path, const struct mount_request *tune,
                     char *errmsg, size_t errmsg_size)
{
    char normal[MOUNT_PATH_BYTES_MAX];
    struct mount_entry saved;
    struct mount_entry *m;
    ssize_t i;
    int r;

    r = normalise_path(path, is_auth, normal, sizeof(normal), errmsg,
                       errmsg_size);
    if (r != 0)
        return r;
    pthread_rwlock_wrlock(&table->lock);
    i = find_locked(table, normal);
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "no mount at %s", normal);
    if (i < 0)
        goto out;
    m = table->entries[i];
    saved = *m;
    if (tune->description != NULL)
        snprintf(m->description, sizeof(m->description), "%s",
                 tune->description);
    if (tune->default_lease_ttl_s != 0)
        m->default_lease_ttl_s = tune->default_lease_ttl_s;
    if (tune->max_lease_ttl_s != 0)
        m->max_lease_ttl_s = tune->max_lease_ttl_s;
    if (tune->options != NULL)
        json_object_update(m->options, tune->options);
    r = mount_table_store_locked(table);
    if (r != 0) {
        memcpy(m->description, saved.description, sizeof(m->description));
        m->default_lease_ttl_s = saved.default_lease_ttl_s;
        m->max_lease_ttl_s = saved.max_lease_ttl_s;
    }
out:
    pthread_rwlock_unlock(&table->lock);
    return r;
}

int mount_table_describe(struct mount_table *table, bool is_auth,
                         const char *path, bool tune_view, json_t **ret)
{
    char normal[MOUNT_PATH_BYTES_MAX];
    json_t *out = NULL;
    size_t i;
    int r = 0;

    if (path != NULL && normalise_path(path, is_auth, normal, sizeof(normal),
                                       NULL, 0) != 0)
        return KH_EINVAL;
    out = json_object();
    if (out == NULL)
        return KH_ENOMEM;
    pthread_rwlock_rdlock(&table->lock);
    for (i = 0; i < table->count && r == 0; i++) {
        const struct mount_entry *m = table->entries[i];
        const char *key = m->is_auth ? m->path + strlen("auth/") : m->path;
        if (m->is_auth != is_auth)
            continue;
        if (path != NULL && strcmp(m->path, normal) != 0)
            continue;
        if (json_object_set_new(out, key, mount_codec_describe(m)) != 0)
            r = KH_ENOMEM;
    }
    pthread_rwlock_unlock(&table->lock);
    if (r == 0 && path != NULL) {
        json_t *one = json_incref(json_object_iter_value(
            json_object_iter(out)));
        json_decref(out);
        out = one;
        r = out == NULL ? KH_ENOTFOUND : 0;
        if (out != NULL && tune_view)
            json_object_update(out, json_object_get(out, "config"));
    }
    if (r != 0) {
        json_decref(out);
        return r;
    }
    *ret = out;
    return 0;
}
