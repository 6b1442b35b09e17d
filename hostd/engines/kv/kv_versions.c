/*
 * kv_versions.c - <mount>/delete/:path, undelete/:path and destroy/:path
 * of KV v2 (Vault API: KV v2): {"versions": [...]} -> 204.
 *
 * Owns the three state changes of listed versions: soft delete (deletion
 * time = now), undelete (deletion time cleared) and destroy (data removed
 * for good, the version kept in metadata as destroyed). Unknown versions
 * are skipped, as Vault does. A destroy removes the data and updates the
 * metadata in one batch; nothing is written without the write lock.
 */
#include "engines/kv/kv.h"

#include <stdlib.h>

#include "common/err.h"

enum version_action {
    VERSION_DELETE,
    VERSION_UNDELETE,
    VERSION_DESTROY,
};

/* Apply action to v; true when something changed. */
static bool version_apply(enum version_action action, struct kv_version *v,
                          int64_t now)
{
    if (v->destroyed)
        return false;
    switch (action) {
    case VERSION_DELETE:
        if (kv_version_deleted(v, now))
            return false;
        v->deletion_ns = now;
        return true;
    case VERSION_UNDELETE:
        if (v->deletion_ns == 0)
            return false;
        v->deletion_ns = 0;
        return true;
    case VERSION_DESTROY:
        v->destroyed = true;
        return true;
    }
    KH_ASSERT(!"unknown version action");
    return false;
}

static int versions_change(const struct kv_call *call,
                           enum version_action action)
{
    struct kv_metadata *meta = NULL;
    struct kv_commit commit = {0};
    uint64_t *numbers = NULL;
    uint64_t *destroyed = NULL;
    size_t count = 0;
    size_t changed = 0;
    int64_t now = kv_now_ns();
    size_t i;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = kv_fields_versions(call->br->req, &numbers, &count, call->errmsg,
                               call->errmsg_size);
    if (r != 0)
        return r;
    destroyed = calloc(count, sizeof(*destroyed));
    if (destroyed == NULL) {
        free(numbers);
        return KH_ENOMEM;
    }
    kv_lock_key_write(call->state, call->path);
    r = kv_metadata_load(call->br->view, call->path, &meta);
    if (r == KH_ENOTFOUND)
        goto done;
    if (r != 0)
        goto out;
    for (i = 0; i < count; i++) {
        struct kv_version *v = kv_metadata_find(meta, numbers[i]);
        if (v == NULL || !version_apply(action, v, now))
            continue;
        changed++;
        if (action == VERSION_DESTROY)
            destroyed[commit.delete_count++] = v->version;
    }
    KH_ASSERT(commit.delete_count <= count);
    commit.meta = meta;
    commit.delete_versions = destroyed;
    r = changed > 0 ? kv_store_commit(call->br->view, call->path, &commit) : 0;
    if (r != 0)
        goto out;
done:
    kh_response_no_content(call->resp);
    r = 0; /* success */
out:
    kv_unlock_key(call->state, call->path);
    kv_metadata_free(meta);
    free(destroyed);
    free(numbers);
    return r;
}

int kv_versions_delete(const struct kv_call *call)
{
    return versions_change(call, VERSION_DELETE);
}

int kv_versions_undelete(const struct kv_call *call)
{
    return versions_change(call, VERSION_UNDELETE);
}

int kv_versions_destroy(const struct kv_call *call)
{
    return versions_change(call, VERSION_DESTROY);
}
