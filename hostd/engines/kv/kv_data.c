/*
 * kv_data.c - <mount>/data/:path of KV v2 (Vault API: KV v2): read a
 * version, write a new one (with check-and-set), merge-patch the current
 * one, soft-delete the current one.
 *
 * Owns the version life cycle on write: numbering, delete_version_after
 * (each version's deletion_time is set at write to created + the smallest
 * non-zero duration of mount config and key metadata, as Vault does; a
 * read compares it with the clock, so expiry needs no background job),
 * and trimming to max_versions (trimmed versions' data is deleted in the
 * same batch). Every read-modify-write holds the mount's write lock, which
 * makes check-and-set exact under concurrency. Secret plaintext is wiped
 * where it dies and never appears in error messages.
 */
#include "engines/kv/kv.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define KV_NS_PER_S 1000000000LL

int kv_data_read(const struct kv_call *call)
{
    struct kv_metadata *meta = NULL;
    unsigned long long version = 0;
    struct kv_version *v;
    json_t *data = NULL;
    json_t *out_data;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = kh_request_uint(call->br->req, "version", 0, UINT64_MAX, &version,
                            call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    kv_lock_key_read(call->state, call->path);
    r = kv_metadata_load(call->br->view, call->path, &meta);
    if (r != 0)
        goto out;
    v = kv_metadata_find(meta, version != 0 ? version : meta->current_version);
    if (v == NULL) {
        r = KH_ENOTFOUND;
        goto out;
    }
    if (v->destroyed || kv_version_deleted(v, kv_now_ns())) {
        r = kv_respond_version_gone(call, meta, v);
        goto out;
    }
    r = kv_version_data_load(call->br->view, call->path, v->version, &data);
    if (r == KH_ENOTFOUND)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINTERNAL,
                      "could not find version data");
    if (r != 0)
        goto out;
    out_data = json_pack("{s:O, s:o}", "data", data, "metadata",
                         kv_version_view(meta, v));
    r = out_data != NULL
            ? kh_response_envelope(call->resp, call->br->req, out_data)
            : KH_ENOMEM;
out:
    kv_unlock_key(call->state, call->path);
    json_decref(data);
    kv_metadata_free(meta);
    return r;
}

/* Check-and-set (Vault API: KV v2): cas must equal the current version
 * (0 = no version yet); without cas, refuse when config or key require
 * it. */
static int cas_check(const struct kv_call *call, const struct kv_config *config,
                     const struct kv_metadata *meta)
{
    bool has_cas = false;
    uint64_t cas = 0;
    int r;

    r = kv_fields_cas(call->br->req, &has_cas, &cas, call->errmsg,
                      call->errmsg_size);
    if (r != 0)
        return r;
    if (has_cas && cas != meta->current_version)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "check-and-set parameter did not match the "
                         "current version");
    if (!has_cas && (config->cas_required || meta->cas_required))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "check-and-set parameter required for this call");
    return 0;
}

/* The smallest non-zero delete_version_after of mount and key, or 0. */
static uint64_t effective_dva(const struct kv_config *config,
                              const struct kv_metadata *meta)
{
    uint64_t a = config->delete_version_after_s;
    uint64_t b = meta->delete_version_after_s;

    if (a == 0 || (b != 0 && b < a))
        return b;
    return a;
}

/* Trim meta after a new version, as Vault's KeyMetadata.AddVersion does:
 * the window is the larger non-zero max_versions of key and mount (else
 * KV_MAX_VERSIONS_DEFAULT); once current - oldest reaches it, versions up
 * to current - max go and oldest_version moves past them. The numbers
 * whose data must go are written to trimmed (room for
 * KV_MAX_VERSIONS_LIMIT + 1). */
static size_t trim_versions(const struct kv_config *config,
                            struct kv_metadata *meta, uint64_t *trimmed)
{
    uint64_t max = meta->max_versions > config->max_versions
                       ? meta->max_versions
                       : config->max_versions;
    uint64_t last;
    size_t n = 0;
    size_t i;

    if (max == 0)
        max = KV_MAX_VERSIONS_DEFAULT;
    KH_ASSERT(meta->current_version >= meta->oldest_version);
    if (meta->current_version - meta->oldest_version < max)
        return 0;
    last = meta->current_version - max;
    for (i = 0; i < meta->version_count; i++) {
        if (meta->versions[i].version <= last)
            trimmed[n++] = meta->versions[i].version;
    }
    kv_metadata_drop_through(meta, last);
    meta->oldest_version = last + 1;
    KH_ASSERT(meta->version_count <= max);
    return n;
}

/* Add version current+1 holding text, trim, commit, answer 200 with the
 * version view. Caller holds the write lock. */
static int version_write(const struct kv_call *call,
                         const struct kv_config *config,
                         struct kv_metadata *meta, const char *text, size_t len)
{
    struct kv_version v = {0};
    struct kv_commit commit = {0};
    uint64_t *trimmed = NULL;
    uint64_t dva = effective_dva(config, meta);
    json_t *view;
    int r = KH_ENOMEM;

    trimmed = calloc(KV_MAX_VERSIONS_LIMIT + 1, sizeof(*trimmed));
    if (trimmed == NULL)
        goto out;
    v.version = meta->current_version + 1;
    v.created_ns = kv_now_ns();
    v.deletion_ns = dva != 0 ? v.created_ns + (int64_t)dva * KV_NS_PER_S : 0;
    r = kv_metadata_append(meta, &v);
    if (r != 0)
        goto out;
    meta->current_version = v.version;
    meta->updated_ns = v.created_ns;
    commit.meta = meta;
    commit.put_version = v.version;
    commit.put_data = (const uint8_t *)text;
    commit.put_len = len;
    commit.delete_versions = trimmed;
    commit.delete_count = trim_versions(config, meta, trimmed);
    r = kv_store_commit(call->br->view, call->path, &commit);
    if (r != 0)
        goto out;
    view = kv_version_view(meta, &v);
    if (view == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = kh_response_envelope(call->resp, call->br->req, view);
out:
    free(trimmed);
    return r;
}

/* The "data" field, which must be present. */
static int data_field(const struct kv_call *call, json_t **ret)
{
    json_t *data = json_object_get(call->br->req->data, "data");

    if (data == NULL || json_is_null(data))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "no data provided");
    *ret = data;
    return 0;
}

int kv_data_write(const struct kv_call *call)
{
    struct kv_metadata *meta = NULL;
    struct kv_config config;
    json_t *data = NULL;
    char *text = NULL;
    size_t len = 0;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = data_field(call, &data);
    if (r == 0)
        r = kv_data_serialise(call->state, data, &text, &len, call->errmsg,
                              call->errmsg_size);
    if (r != 0)
        return r;
    kv_lock_key_write(call->state, call->path);
    r = kv_config_load(call->br->view, &config);
    if (r == 0)
        r = kv_metadata_load(call->br->view, call->path, &meta);
    if (r == KH_ENOTFOUND)
        r = kv_metadata_new(&meta);
    if (r == 0)
        r = cas_check(call, &config, meta);
    if (r == 0)
        r = version_write(call, &config, meta, text, len);
    kv_unlock_key(call->state, call->path);
    kv_metadata_free(meta);
    kh_free_secret(text, len);
    return r;
}

/* Under the write lock: the current data of a live secret merged with the
 * request's patch, serialised. KH_ENOTFOUND when there is no current
 * version; for a deleted or destroyed one the 404 envelope is the response
 * and *ret_text stays NULL. */
static int patch_apply(const struct kv_call *call, struct kv_metadata *meta,
                       const json_t *patch, char **ret_text, size_t *ret_len)
{
    struct kv_version *v = kv_metadata_find(meta, meta->current_version);
    json_t *data = NULL;
    int r;

    if (v == NULL)
        return KH_ENOTFOUND;
    if (v->destroyed || kv_version_deleted(v, kv_now_ns()))
        return kv_respond_version_gone(call, meta, v);
    r = kv_version_data_load(call->br->view, call->path, v->version, &data);
    if (r == 0) {
        r = kv_merge_patch(data, patch);
        if (r == KH_ELIMIT)
            kh_errmsg(call->errmsg, call->errmsg_size, r,
                      "patch nests deeper than %u levels", KH_JSON_DEPTH_MAX);
    }
    if (r == 0)
        r = kv_data_serialise(call->state, data, ret_text, ret_len,
                              call->errmsg, call->errmsg_size);
    json_decref(data);
    return r;
}

int kv_data_patch(const struct kv_call *call)
{
    struct kv_metadata *meta = NULL;
    struct kv_config config;
    json_t *patch = NULL;
    char *text = NULL;
    size_t len = 0;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = data_field(call, &patch);
    if (r == 0 && !json_is_object(patch))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "data must be a JSON object");
    if (r != 0)
        return r;
    kv_lock_key_write(call->state, call->path);
    r = kv_config_load(call->br->view, &config);
    if (r == 0)
        r = kv_metadata_load(call->br->view, call->path, &meta);
    if (r == 0)
        r = cas_check(call, &config, meta);
    if (r == 0)
        r = patch_apply(call, meta, patch, &text, &len);
    if (r == 0 && text != NULL)
        r = version_write(call, &config, meta, text, len);
    kv_unlock_key(call->state, call->path);
    kv_metadata_free(meta);
    kh_free_secret(text, len);
    return r;
}

int kv_data_delete(const struct kv_call *call)
{
    struct kv_metadata *meta = NULL;
    struct kv_commit commit = {0};
    struct kv_version *v;
    int64_t now = kv_now_ns();
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
    v = kv_metadata_find(meta, meta->current_version);
    if (v == NULL || v->destroyed || kv_version_deleted(v, now))
        goto done; /* nothing live: Vault answers 204 all the same */
    v->deletion_ns = now;
    commit.meta = meta;
    r = kv_store_commit(call->br->view, call->path, &commit);
    if (r != 0)
        goto out;
done:
    kh_response_no_content(call->resp);
    r = 0; /* success */
out:
    kv_unlock_key(call->state, call->path);
    kv_metadata_free(meta);
    return r;
}
