/*
 * lease_revoke.c - renewing and revoking leases through the backend that
 * issued them. A failed revocation is recorded on the lease (attempts,
 * last error) and retried by the expiry thread; it is never dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "core/core.h"
#include "lease/lease_internal.h"
#include "mount/mount_table.h"

/* Run fn against the backend that issued record (mount read lock held). */
static int with_backend(struct lease_manager *mgr, json_t *record,
                        uint64_t ttl_s, bool renew, char *errmsg,
                        size_t errmsg_size)
{
    const char *path = json_string_value(json_object_get(record, "path"));
    const char *uuid =
        json_string_value(json_object_get(record, "mount_uuid"));
    const json_t *internal = json_object_get(record, "internal");
    const struct mount_entry *mount = NULL;
    const char *subpath = NULL;
    int r;

    if (path == NULL || uuid == NULL)
        return KH_ECORRUPT;
    r = mount_table_route(mgr->core->mounts, path, &mount, &subpath);
    if (r == KH_ENOTFOUND)
        return 0; /* the mount is gone, and its secrets with it */
    if (r != 0)
        return r;
    if (strcmp(mount->uuid, uuid) != 0 || mount->ops == NULL) {
        r = 0; /* a different mount now lives at that path */
    } else {
        struct backend_request br = {
            .core = mgr->core, .mount = mount, .subpath = subpath,
            .view = &mount->view, .state = mount->state,
        };
        if (renew)
            r = mount->ops->renew != NULL
                    ? mount->ops->renew(&br, internal, ttl_s, errmsg,
                                        errmsg_size)
                    : 0;
        else
            r = mount->ops->revoke != NULL
                    ? mount->ops->revoke(&br, internal, errmsg, errmsg_size)
                    : 0;
    }
    mount_table_release(mgr->core->mounts);
    return r;
}

int lease_backend_revoke(struct lease_manager *mgr, json_t *record,
                         char *errmsg, size_t errmsg_size)
{
    return with_backend(mgr, record, 0, false, errmsg, errmsg_size);
}

/* A lease past its expiry (due, or pending revocation because its token
 * was revoked) cannot be renewed; a live owner token caps *expire at its
 * own expiry. */
static int renew_bound(struct lease_manager *mgr, const json_t *record,
                       int64_t now, int64_t *expire, char *errmsg,
                       size_t errmsg_size)
{
    const char *owner = lease_record_owner(record);
    int64_t bound = 0;
    int r;

    if (json_integer_value(json_object_get(record, "expire_time")) <= now)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "lease expired");
    if (owner == NULL)
        return 0; /* a record from before owners were kept */
    r = lease_owner_bound(mgr, owner, &bound);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "lease expired: its token was revoked");
    if (r != 0)
        return r;
    if (bound != 0 && *expire > bound)
        *expire = bound;
    return 0;
}

int lease_renew(struct lease_manager *mgr, const char *lease_id,
                uint64_t increment_s, uint64_t *ret_ttl_s, char *errmsg,
                size_t errmsg_size)
{
    json_t *record = NULL;
    int64_t now = lease_now(), max_expire, expire;
    uint64_t ttl;
    int r;

    r = lease_id != NULL ? lease_record_load(mgr, lease_id, &record)
                         : KH_ENOTFOUND;
    if (r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid lease");
    if (r != 0)
        return r;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "lease is not renewable");
    if (!json_is_true(json_object_get(record, "renewable")))
        goto out;
    max_expire = json_integer_value(json_object_get(record,
                                                    "max_expire_time"));
    ttl = increment_s != 0
              ? increment_s
              : (uint64_t)json_integer_value(json_object_get(record, "ttl"));
    expire = now + (int64_t)ttl > max_expire ? max_expire : now + (int64_t)ttl;
    r = renew_bound(mgr, record, now, &expire, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "lease expired");
    if (expire <= now)
        goto out;
    r = with_backend(mgr, record, (uint64_t)(expire - now), true, errmsg,
                     errmsg_size);
    if (r != 0)
        goto out;
    json_object_set_new(record, "expire_time", json_integer(expire));
    json_object_set_new(record, "last_renewal", json_integer(now));
    r = lease_record_store(mgr, record);
    if (r == 0) {
        pthread_mutex_lock(&mgr->lock);
        r = lease_index_put_locked(mgr, lease_id, expire, false);
        pthread_mutex_unlock(&mgr->lock);
    }
    if (r == 0 && lease_record_owner(record) != NULL)
        lease_owner_recheck(mgr, lease_record_owner(record), lease_id);
    if (r == 0)
        *ret_ttl_s = (uint64_t)(expire - now);
out:
    json_decref(record);
    return r;
}

/* Revoke one record: backend first; on failure record the attempt. */
static int revoke_record(struct lease_manager *mgr, json_t *record,
                         bool force, char *errmsg, size_t errmsg_size)
{
    const char *id = json_string_value(json_object_get(record, "id"));
    char backend_msg[KH_ERRMSG_SIZE] = "";
    json_int_t attempts;
    int r;

    r = lease_backend_revoke(mgr, record, backend_msg, sizeof(backend_msg));
    if (r != 0 && force) {
        log_warn("lease: %s dropped by revoke-force although the backend "
                 "refused: %s", id, backend_msg);
        r = 0;
    }
    if (r == 0) {
        r = lease_record_delete(mgr, record);
        if (r == 0 || r == KH_ENOTFOUND) {
            pthread_mutex_lock(&mgr->lock);
            lease_index_remove_locked(mgr, id);
            pthread_mutex_unlock(&mgr->lock);
            r = 0;
        }
        return r;
    }
    attempts = json_integer_value(json_object_get(record,
                                                  "revoke_attempts")) + 1;
    json_object_set_new(record, "revoke_attempts", json_integer(attempts));
    json_object_set_new(record, "last_revoke_error",
                        json_string(backend_msg[0] ? backend_msg
                                                   : kh_strerror(r)));
    /* The attempt count is for operators; the retry happens either way. */
    if (lease_record_store(mgr, record) != 0)
        log_warn("lease: cannot record the failed attempt on %s", id);
    return kh_errmsg(errmsg, errmsg_size, r,
                     "failed to revoke %s (will retry): %s", id,
                     backend_msg[0] ? backend_msg : kh_strerror(r));
}

int lease_revoke(struct lease_manager *mgr, const char *lease_id,
                 char *errmsg, size_t errmsg_size)
{
    json_t *record = NULL;
    int r;

    if (lease_id == NULL || lease_id[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "missing lease_id");
    r = lease_record_load(mgr, lease_id, &record);
    if (r == KH_ENOTFOUND)
        return 0; /* revoking an unknown lease succeeds, as in Vault */
    if (r != 0)
        return r;
    r = revoke_record(mgr, record, false, errmsg, errmsg_size);
    json_decref(record);
    return r;
}

int lease_revoke_prefix(struct lease_manager *mgr, const char *prefix,
                        bool force, char *errmsg, size_t errmsg_size)
{
    char **ids = NULL;
    size_t count = 0, i;
    int r = 0, first = 0;

    pthread_mutex_lock(&mgr->lock);
    ids = calloc(mgr->count + 1, sizeof(*ids));
    for (i = 0; ids != NULL && i < mgr->count; i++) {
        if (strncmp(mgr->slots[i].id, prefix, strlen(prefix)) == 0)
            ids[count++] = strdup(mgr->slots[i].id);
    }
    pthread_mutex_unlock(&mgr->lock);
    if (ids == NULL)
        return KH_ENOMEM;
    for (i = 0; i < count; i++) {
        json_t *record = NULL;
        if (ids[i] == NULL || lease_record_load(mgr, ids[i], &record) != 0)
            continue;
        r = revoke_record(mgr, record, force, errmsg, errmsg_size);
        if (r != 0 && first == 0)
            first = r;
        json_decref(record);
    }
    for (i = 0; i < count; i++)
        free(ids[i]);
    free(ids);
    return first;
}

/* Append to ops/paths a delete of the record of lease id (owner NULL) or
 * of its index entry under owner. */
static int add_delete(struct kh_storage_op *ops, char **paths, size_t *n,
                      const char *owner, const char *id)
{
    char *key = malloc(LEASE_INDEX_KEY_BYTES);
    int r = 0;

    if (key == NULL)
        return KH_ENOMEM;
    if (owner != NULL)
        r = lease_owner_key(owner, id, key);
    else if ((size_t)snprintf(key, LEASE_INDEX_KEY_BYTES, "%s%s",
                              LEASE_RECORD_PREFIX, id) >= LEASE_INDEX_KEY_BYTES)
        r = KH_ELIMIT;
    if (r != 0) {
        free(key);
        return r;
    }
    paths[*n] = key;
    ops[*n] = (struct kh_storage_op){KH_STORAGE_DELETE, key, NULL, 0};
    (*n)++;
    return 0;
}

/* Revoke the leases ids[0..count) through their backends and delete the
 * records (and owner index entries) of those the backends confirmed in
 * one atomic batch (one durable commit for many leases, instead of one
 * each). Failures are recorded on their leases for a later retry. */
size_t lease_revoke_many(struct lease_manager *mgr, char *const *ids,
                         size_t count)
{
    struct kh_storage_op *ops = calloc(2 * count, sizeof(*ops));
    char **paths = calloc(2 * count, sizeof(*paths));
    const char **done_ids = calloc(count, sizeof(*done_ids));
    char errmsg[KH_ERRMSG_SIZE];
    size_t done = 0, n = 0, i;

    KH_ASSERT(count <= LEASE_EXPIRE_BATCH);
    if (ops == NULL || paths == NULL || done_ids == NULL)
        goto out;
    for (i = 0; i < count; i++) {
        json_t *record = NULL;
        char backend_msg[KH_ERRMSG_SIZE] = "";
        const char *owner;
        if (lease_record_load(mgr, ids[i], &record) != 0)
            continue;
        owner = lease_record_owner(record);
        if (lease_backend_revoke(mgr, record, backend_msg,
                                 sizeof(backend_msg)) != 0) {
            /* Records the attempt; the expiry pass retries later. */
            if (revoke_record(mgr, record, false, errmsg, sizeof(errmsg)) != 0)
                log_warn("lease: expired lease not yet revoked: %s", errmsg);
        } else if (add_delete(ops, paths, &n, NULL, ids[i]) == 0) {
            done_ids[done++] = ids[i];
            /* Without it a stale index entry remains, which the owner
             * drain removes when it finds no record. */
            if (owner != NULL)
                (void)add_delete(ops, paths, &n, owner, ids[i]);
        }
        json_decref(record);
    }
    if (n > 0 && barrier_batch(mgr->core->barrier, ops, n) != 0)
        done = 0; /* the records stay; the next pass revokes them again */
    pthread_mutex_lock(&mgr->lock);
    for (i = 0; i < done; i++)
        lease_index_remove_locked(mgr, done_ids[i]);
    pthread_mutex_unlock(&mgr->lock);
out:
    for (i = 0; paths != NULL && i < 2 * count; i++)
        free(paths[i]);
    free(paths);
    free(done_ids);
    free(ops);
    return done;
}
