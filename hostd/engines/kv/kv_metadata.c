/*
 * kv_metadata.c - <mount>/metadata/:path of KV v2 (Vault API: KV v2) and
 * the JSON views of metadata that data/ reads and writes answer with.
 *
 * Owns: reading, writing, patching, deleting and listing metadata. It
 * never decrypts version data (a metadata read touches one record) and
 * never writes without the mount's write lock.
 */
#include "engines/kv/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

/* The fields of a metadata write or patch; custom is borrowed from the
 * request. */
struct meta_update
{
    bool has_max_versions;
    unsigned long long max_versions;
    bool has_cas_required;
    bool cas_required;
    bool has_delete_version_after;
    uint64_t delete_version_after_s;
    const json_t *custom;
};

json_t *kv_version_view(const struct kv_metadata *meta,
                        const struct kv_version *v)
{
    char created[KH_TIME_STR_SIZE];
    char deletion[KH_TIME_STR_SIZE];

    KH_ASSERT(meta != NULL);
    KH_ASSERT(v != NULL);
    kv_time_string(v->created_ns, created);
    kv_time_string(v->deletion_ns, deletion);
    return json_pack("{s:s, s:O?, s:s, s:b, s:I}", "created_time", created,
                     "custom_metadata", meta->custom_metadata, "deletion_time",
                     deletion, "destroyed", v->destroyed, "version",
                     (json_int_t)v->version);
}

int kv_respond_version_gone(const struct kv_call *call,
                            const struct kv_metadata *meta,
                            const struct kv_version *v)
{
    json_t *data;
    int r;

    data =
        json_pack("{s:n, s:o}", "data", "metadata", kv_version_view(meta, v));
    if (data == NULL)
        return KH_ENOMEM;
    r = kh_response_envelope(call->resp, call->br->req, data);
    if (r == 0)
        call->resp->status = 404;
    return r;
}

/* 200 with data.keys (Vault API: LIST); list must not be empty. */
int kv_respond_keys(const struct kv_call *call,
                    const struct kh_storage_list *list)
{
    json_t *keys = json_array();
    json_t *data;
    size_t i;

    KH_ASSERT(list->count > 0);
    for (i = 0; keys != NULL && i < list->count; i++) {
        if (json_array_append_new(keys, json_string(list->keys[i])) != 0) {
            json_decref(keys);
            keys = NULL;
        }
    }
    if (keys == NULL)
        return KH_ENOMEM;
    data = json_pack("{s:o}", "keys", keys);
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

/* versions {"1": {created_time, deletion_time, destroyed}, ...}. */
static json_t *versions_view(const struct kv_metadata *meta)
{
    json_t *versions = json_object();
    size_t i;

    for (i = 0; versions != NULL && i < meta->version_count; i++) {
        const struct kv_version *v = &meta->versions[i];
        char created[KH_TIME_STR_SIZE];
        char deletion[KH_TIME_STR_SIZE];
        char number[24];

        kv_time_string(v->created_ns, created);
        kv_time_string(v->deletion_ns, deletion);
        snprintf(number, sizeof(number), "%llu",
                 (unsigned long long)v->version);
        if (json_object_set_new(versions, number,
                                json_pack("{s:s, s:s, s:b}", "created_time",
                                          created, "deletion_time", deletion,
                                          "destroyed", v->destroyed)) != 0) {
            json_decref(versions);
            return NULL;
        }
    }
    return versions;
}

static json_t *metadata_view(const struct kv_metadata *meta)
{
    char created[KH_TIME_STR_SIZE];
    char updated[KH_TIME_STR_SIZE];
    char dva[KV_DURATION_STR_SIZE];
    json_t *versions = versions_view(meta);

    if (versions == NULL)
        return NULL;
    kv_time_string(meta->created_ns, created);
    kv_time_string(meta->updated_ns, updated);
    kv_duration_string(meta->delete_version_after_s, dva);
    return json_pack("{s:b, s:s, s:I, s:O?, s:s, s:I, s:I, s:s, s:o}",
                     "cas_required", meta->cas_required, "created_time",
                     created, "current_version",
                     (json_int_t)meta->current_version, "custom_metadata",
                     meta->custom_metadata, "delete_version_after", dva,
                     "max_versions", (json_int_t)meta->max_versions,
                     "oldest_version", (json_int_t)meta->oldest_version,
                     "updated_time", updated, "versions", versions);
}

int kv_metadata_read(const struct kv_call *call)
{
    struct kv_metadata *meta = NULL;
    json_t *view;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    kv_lock_key_read(call->state, call->path);
    r = kv_metadata_load(call->br->view, call->path, &meta);
    kv_unlock_key(call->state, call->path);
    if (r != 0)
        goto out;
    view = metadata_view(meta);
    r = view != NULL ? kh_response_envelope(call->resp, call->br->req, view)
                     : KH_ENOMEM;
out:
    kv_metadata_free(meta);
    return r;
}

/* Read the writable fields; custom_metadata entries may be null only in
 * a patch (null deletes the key). */
static int update_parse(const struct kv_call *call, bool patch,
                        struct meta_update *u)
{
    const struct kh_request *req = call->br->req;
    char *msg = call->errmsg;
    size_t size = call->errmsg_size;
    int r;

    memset(u, 0, sizeof(*u));
    u->has_max_versions = kv_fields_present(req, "max_versions");
    r = kh_request_uint(req, "max_versions", 0, KV_MAX_VERSIONS_LIMIT,
                        &u->max_versions, msg, size);
    u->has_cas_required = kv_fields_present(req, "cas_required");
    if (r == 0)
        r = kh_request_bool(req, "cas_required", false, &u->cas_required, msg,
                            size);
    if (r == 0)
        r = kv_fields_duration(req, "delete_version_after",
                               &u->has_delete_version_after,
                               &u->delete_version_after_s, msg, size);
    if (r != 0 || !kv_fields_present(req, "custom_metadata"))
        return r;
    u->custom = json_object_get(req->data, "custom_metadata");
    if (!patch)
        return kv_fields_custom_metadata(u->custom, msg, size);
    if (!json_is_object(u->custom))
        return kh_errmsg(msg, size, KH_EINVAL,
                         "custom_metadata must be a map of strings");
    return 0;
}

/* Apply u to meta; the merged custom metadata is checked again. */
static int update_apply(const struct kv_call *call, bool patch,
                        const struct meta_update *u, struct kv_metadata *meta)
{
    json_t *custom;
    int r;

    if (u->has_max_versions)
        meta->max_versions = u->max_versions;
    if (u->has_cas_required)
        meta->cas_required = u->cas_required;
    if (u->has_delete_version_after)
        meta->delete_version_after_s = u->delete_version_after_s;
    meta->updated_ns = kv_now_ns();
    if (u->custom == NULL)
        return 0;
    custom = patch && meta->custom_metadata != NULL
                 ? json_deep_copy(meta->custom_metadata)
                 : json_object();
    if (custom == NULL)
        return KH_ENOMEM;
    r = kv_merge_patch(custom, u->custom);
    if (r == 0)
        r = kv_fields_custom_metadata(custom, call->errmsg, call->errmsg_size);
    if (r != 0) {
        json_decref(custom);
        return r;
    }
    json_decref(meta->custom_metadata);
    meta->custom_metadata = json_object_size(custom) > 0 ? custom : NULL;
    if (meta->custom_metadata == NULL)
        json_decref(custom);
    return 0;
}

/* POST (patch false) or PATCH (patch true) metadata/:path -> 204. A write
 * creates the record if needed; a patch needs an existing one. */
static int metadata_update(const struct kv_call *call, bool patch)
{
    struct kv_metadata *meta = NULL;
    struct kv_commit commit = {0};
    struct meta_update u;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = update_parse(call, patch, &u);
    if (r != 0)
        return r;
    kv_lock_key_write(call->state, call->path);
    r = kv_metadata_load(call->br->view, call->path, &meta);
    if (r == KH_ENOTFOUND && !patch)
        r = kv_metadata_new(&meta);
    if (r != 0)
        goto out;
    r = update_apply(call, patch, &u, meta);
    if (r != 0)
        goto out;
    commit.meta = meta;
    r = kv_store_commit(call->br->view, call->path, &commit);
    if (r != 0)
        goto out;
    kh_response_no_content(call->resp);
    r = 0; /* success */
out:
    kv_unlock_key(call->state, call->path);
    kv_metadata_free(meta);
    return r;
}

int kv_metadata_write(const struct kv_call *call)
{
    return metadata_update(call, false);
}

int kv_metadata_patch(const struct kv_call *call)
{
    return metadata_update(call, true);
}

/* DELETE metadata/:path: the record and every version's data, in one
 * batch. A missing secret is not an error (Vault answers 204). */
int kv_metadata_delete(const struct kv_call *call)
{
    struct kv_metadata *meta = NULL;
    struct kv_commit commit = {0};
    uint64_t *numbers = NULL;
    size_t i;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    kv_lock_key_write(call->state, call->path);
    r = kv_metadata_load(call->br->view, call->path, &meta);
    if (r == KH_ENOTFOUND)
        goto done;
    if (r != 0)
        goto out;
    numbers = calloc(meta->version_count + 1, sizeof(*numbers));
    if (numbers == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    for (i = 0; i < meta->version_count; i++)
        numbers[i] = meta->versions[i].version;
    commit.delete_versions = numbers;
    commit.delete_count = meta->version_count;
    r = kv_store_commit(call->br->view, call->path, &commit);
    if (r != 0)
        goto out;
done:
    kh_response_no_content(call->resp);
    r = 0; /* success */
out:
    kv_unlock_key(call->state, call->path);
    free(numbers);
    kv_metadata_free(meta);
    return r;
}

int kv_metadata_list(const struct kv_call *call)
{
    struct kh_storage_list list = {NULL, 0};
    int r;

    r = kv_path_check(call->path, true, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = kv_store_list(call->br->view, "m/", call->path, &list);
    if (r != 0)
        goto out;
    if (list.count == 0) {
        r = KH_ENOTFOUND; /* Vault: an empty list is 404 {"errors":[]} */
        goto out;
    }
    r = kv_respond_keys(call, &list);
out:
    kh_storage_list_free(&list);
    return r;
}
