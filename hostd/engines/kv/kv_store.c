/*
 * kv_store.c - the KV engine's records in its barrier view and their
 * encoding (layout in kv.h).
 *
 * Owns the stored forms of the configuration, the per-secret metadata and
 * the per-version data, and the one place that commits them (a single
 * view_batch per change, so a crash leaves either the old or the new
 * state). Records come back from the barrier authenticated, yet every
 * decode still validates types and bounds and answers KH_ECORRUPT rather
 * than asserting. Plaintext copies are wiped where they die. It never
 * takes the mount lock: callers hold it.
 */
#include "engines/kv/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/secret.h"

#define KV_CONFIG_KEY  "config"
#define KV_META_FORMAT 1

/* ---- configuration ---- */

int kv_config_load(const struct barrier_view *view, struct kv_config *ret)
{
    struct kv_config config = {0, false, 0};
    uint8_t *bytes = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    json_int_t maxv, dva;
    int cas;
    int r;

    r = view_get(view, KV_CONFIG_KEY, &bytes, &len);
    if (r == KH_ENOTFOUND) {
        *ret = config;
        return 0;
    }
    if (r != 0)
        return r;
    r = KH_ECORRUPT;
    doc = json_loadb((const char *)bytes, len, 0, NULL);
    if (doc == NULL ||
        json_unpack(doc, "{s:I, s:b, s:I}", "max_versions", &maxv,
                    "cas_required", &cas, "delete_version_after", &dva) != 0)
        goto out;
    if (maxv < 0 || maxv > KV_MAX_VERSIONS_LIMIT || dva < 0 ||
        (uint64_t)dva > KV_DELETE_VERSION_AFTER_MAX_S)
        goto out;
    config.max_versions = (uint64_t)maxv;
    config.cas_required = cas != 0;
    config.delete_version_after_s = (uint64_t)dva;
    *ret = config;
    r = 0; /* success */
out:
    json_decref(doc);
    kh_free_secret(bytes, len);
    return r;
}

int kv_config_store(const struct barrier_view *view,
                    const struct kv_config *config)
{
    json_t *doc;
    char *text = NULL;
    int r = KH_ENOMEM;

    KH_ASSERT(config->max_versions <= KV_MAX_VERSIONS_LIMIT);
    KH_ASSERT(config->delete_version_after_s <= KV_DELETE_VERSION_AFTER_MAX_S);
    doc = json_pack("{s:I, s:b, s:I}", "max_versions",
                    (json_int_t)config->max_versions, "cas_required",
                    config->cas_required, "delete_version_after",
                    (json_int_t)config->delete_version_after_s);
    if (doc != NULL)
        text = json_dumps(doc, JSON_COMPACT);
    if (text != NULL)
        r = view_put(view, KV_CONFIG_KEY, (const uint8_t *)text, strlen(text));
    free(text);
    json_decref(doc);
    return r;
}

/* ---- keys ---- */

static int meta_key(const char *path, char out[KV_META_KEY_BYTES])
{
    int n = snprintf(out, KV_META_KEY_BYTES, "m/%s", path);

    return n < 0 || n >= KV_META_KEY_BYTES ? KH_ELIMIT : 0;
}

/* "v/<sha256hex(path)>/<version>": hashing keeps one fixed-size folder per
 * secret whatever its path, so no secret's versions can collide with
 * another's. */
static int version_key(const char *path, uint64_t version,
                       char out[KV_VERSION_KEY_BYTES])
{
    uint8_t digest[32];
    char hex[65];
    unsigned int digest_len = 0;
    int n;

    if (EVP_Digest(path, strlen(path), digest, &digest_len, EVP_sha256(),
                   NULL) != 1 ||
        digest_len != sizeof(digest))
        return KH_EINTERNAL;
    kh_hex_encode(digest, sizeof(digest), hex);
    n = snprintf(out, KV_VERSION_KEY_BYTES, "v/%s/%llu", hex,
                 (unsigned long long)version);
    KH_ASSERT(n > 0 && n < KV_VERSION_KEY_BYTES);
    return 0;
}

/* ---- metadata ---- */

int kv_metadata_new(struct kv_metadata **ret_meta)
{
    struct kv_metadata *meta = calloc(1, sizeof(*meta));

    if (meta == NULL)
        return KH_ENOMEM;
    meta->created_ns = kv_now_ns();
    meta->updated_ns = meta->created_ns;
    *ret_meta = meta;
    return 0;
}

void kv_metadata_free(struct kv_metadata *meta)
{
    if (meta == NULL)
        return;
    json_decref(meta->custom_metadata);
    free(meta->versions);
    free(meta);
}

struct kv_version *kv_metadata_find(const struct kv_metadata *meta,
                                    uint64_t version)
{
    size_t i;

    for (i = 0; i < meta->version_count; i++) {
        if (meta->versions[i].version == version)
            return &meta->versions[i];
    }
    return NULL;
}

int kv_metadata_append(struct kv_metadata *meta, const struct kv_version *v)
{
    struct kv_version *grown;

    KH_ASSERT(meta->version_count <= KV_MAX_VERSIONS_LIMIT + 1);
    KH_ASSERT(meta->version_count == 0 ||
              meta->versions[meta->version_count - 1].version < v->version);
    grown = realloc(meta->versions, (meta->version_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return KH_ENOMEM;
    meta->versions = grown;
    meta->versions[meta->version_count++] = *v;
    return 0;
}

void kv_metadata_drop_through(struct kv_metadata *meta, uint64_t last)
{
    size_t keep = 0;
    size_t i;

    for (i = 0; i < meta->version_count; i++) {
        if (meta->versions[i].version > last)
            meta->versions[keep++] = meta->versions[i];
    }
    meta->version_count = keep;
}

int kv_metadata_encode(const struct kv_metadata *meta, char **ret_text,
                       size_t *ret_len)
{
    json_t *doc = NULL;
    json_t *versions = json_array();
    char *text = NULL;
    size_t i;
    int r = KH_ENOMEM;

    KH_ASSERT(meta->version_count <= KV_MAX_VERSIONS_LIMIT + 1);
    for (i = 0; versions != NULL && i < meta->version_count; i++) {
        const struct kv_version *v = &meta->versions[i];
        if (json_array_append_new(
                versions,
                json_pack("[I, I, I, b]", (json_int_t)v->version,
                          (json_int_t)v->created_ns, (json_int_t)v->deletion_ns,
                          v->destroyed)) != 0)
            goto out;
    }
    doc = json_pack(
        "{s:i, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:O?, s:O}", "format",
        KV_META_FORMAT, "created", (json_int_t)meta->created_ns, "updated",
        (json_int_t)meta->updated_ns, "current",
        (json_int_t)meta->current_version, "oldest",
        (json_int_t)meta->oldest_version, "max_versions",
        (json_int_t)meta->max_versions, "cas_required", meta->cas_required,
        "delete_version_after", (json_int_t)meta->delete_version_after_s,
        "custom", meta->custom_metadata, "versions", versions);
    if (doc == NULL)
        goto out;
    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL)
        goto out;
    *ret_text = text;
    *ret_len = strlen(text);
    r = 0; /* success */
out:
    json_decref(versions);
    json_decref(doc);
    return r;
}

/* One stored version entry [n, created, deletion, destroyed]. */
static int version_decode(json_t *item, uint64_t current,
                          struct kv_version *ret)
{
    json_int_t n, created, deletion;
    int destroyed;

    if (json_unpack(item, "[I, I, I, b]", &n, &created, &deletion,
                    &destroyed) != 0)
        return KH_ECORRUPT;
    if (n <= 0 || (uint64_t)n > current || created < 0 || deletion < 0)
        return KH_ECORRUPT;
    ret->version = (uint64_t)n;
    ret->created_ns = created;
    ret->deletion_ns = deletion;
    ret->destroyed = destroyed != 0;
    return 0;
}

/* The scalar fields of the stored form into meta. */
static int meta_fields_decode(json_t *doc, struct kv_metadata *meta,
                              json_t **ret_custom, json_t **ret_versions)
{
    json_int_t created, updated, current, oldest, maxv, dva;
    int format, cas;

    if (json_unpack(doc,
                    "{s:i, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:o, "
                    "s:o}",
                    "format", &format, "created", &created, "updated", &updated,
                    "current", &current, "oldest", &oldest, "max_versions",
                    &maxv, "cas_required", &cas, "delete_version_after", &dva,
                    "custom", ret_custom, "versions", ret_versions) != 0)
        return KH_ECORRUPT;
    if (format != KV_META_FORMAT || created < 0 || updated < 0 || current < 0 ||
        oldest < 0 || oldest > current + 1 || maxv < 0 ||
        maxv > KV_MAX_VERSIONS_LIMIT || dva < 0 ||
        (uint64_t)dva > KV_DELETE_VERSION_AFTER_MAX_S)
        return KH_ECORRUPT;
    meta->created_ns = created;
    meta->updated_ns = updated;
    meta->current_version = (uint64_t)current;
    meta->oldest_version = (uint64_t)oldest;
    meta->max_versions = (uint64_t)maxv;
    meta->cas_required = cas != 0;
    meta->delete_version_after_s = (uint64_t)dva;
    return 0;
}

int kv_metadata_decode(const uint8_t *bytes, size_t len,
                       struct kv_metadata **ret_meta)
{
    struct kv_metadata *meta = NULL;
    json_t *doc = NULL;
    json_t *custom = NULL;
    json_t *versions = NULL;
    size_t i;
    int r = KH_ECORRUPT;

    doc = json_loadb((const char *)bytes, len, 0, NULL);
    if (doc == NULL)
        goto out;
    meta = calloc(1, sizeof(*meta));
    if (meta == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = meta_fields_decode(doc, meta, &custom, &versions);
    if (r != 0)
        goto out;
    r = KH_ECORRUPT;
    if (!json_is_array(versions) ||
        json_array_size(versions) > KV_MAX_VERSIONS_LIMIT + 1 ||
        (!json_is_null(custom) && !json_is_object(custom)))
        goto out;
    if (json_is_object(custom))
        meta->custom_metadata = json_incref(custom);
    for (i = 0; i < json_array_size(versions); i++) {
        struct kv_version v;
        r = version_decode(json_array_get(versions, i), meta->current_version,
                           &v);
        if (r == 0 && meta->version_count > 0 &&
            meta->versions[meta->version_count - 1].version >= v.version)
            r = KH_ECORRUPT;
        if (r == 0)
            r = kv_metadata_append(meta, &v);
        if (r != 0)
            goto out;
    }
    *ret_meta = meta;
    meta = NULL;
    r = 0; /* success */
out:
    kv_metadata_free(meta);
    json_decref(doc);
    return r;
}

int kv_metadata_load(const struct barrier_view *view, const char *path,
                     struct kv_metadata **ret_meta)
{
    char key[KV_META_KEY_BYTES];
    uint8_t *bytes = NULL;
    size_t len = 0;
    int r;

    r = meta_key(path, key);
    if (r == 0)
        r = view_get(view, key, &bytes, &len);
    if (r == 0)
        r = kv_metadata_decode(bytes, len, ret_meta);
    kh_free_secret(bytes, len);
    return r;
}

/* ---- version data ---- */

int kv_version_data_load(const struct barrier_view *view, const char *path,
                         uint64_t version, json_t **ret_data)
{
    char key[KV_VERSION_KEY_BYTES];
    uint8_t *bytes = NULL;
    size_t len = 0;
    json_t *data = NULL;
    int r;

    KH_ASSERT(version > 0);
    r = version_key(path, version, key);
    if (r == 0)
        r = view_get(view, key, &bytes, &len);
    if (r == 0) {
        data = json_loadb((const char *)bytes, len, 0, NULL);
        r = json_is_object(data) ? 0 : KH_ECORRUPT;
    }
    if (r == 0) {
        *ret_data = data;
        data = NULL;
    }
    json_decref(data);
    kh_free_secret(bytes, len);
    return r;
}

/* ---- commit ---- */

int kv_store_commit(const struct barrier_view *view, const char *path,
                    const struct kv_commit *c)
{
    size_t max_ops = c->delete_count + 2;
    struct kh_storage_op *ops = NULL;
    char(*vkeys)[KV_VERSION_KEY_BYTES] = NULL;
    char mkey[KV_META_KEY_BYTES];
    char *meta_text = NULL;
    size_t meta_len = 0;
    size_t n = 0;
    size_t i;
    int r = KH_ENOMEM;

    KH_ASSERT(c->delete_count <= KV_MAX_VERSIONS_LIMIT + 1);
    KH_ASSERT(c->put_version == 0 || c->put_data != NULL);
    ops = calloc(max_ops, sizeof(*ops));
    vkeys = calloc(max_ops, sizeof(*vkeys));
    if (ops == NULL || vkeys == NULL)
        goto out;
    r = meta_key(path, mkey);
    if (r == 0 && c->meta != NULL)
        r = kv_metadata_encode(c->meta, &meta_text, &meta_len);
    if (r != 0)
        goto out;
    ops[n++] = (struct kh_storage_op){
        c->meta != NULL ? KH_STORAGE_PUT : KH_STORAGE_DELETE, mkey,
        (const uint8_t *)meta_text, meta_len};
    if (c->put_version != 0) {
        r = version_key(path, c->put_version, vkeys[n]);
        if (r != 0)
            goto out;
        ops[n] = (struct kh_storage_op){KH_STORAGE_PUT, vkeys[n], c->put_data,
                                        c->put_len};
        n++;
    }
    for (i = 0; i < c->delete_count; i++, n++) {
        r = version_key(path, c->delete_versions[i], vkeys[n]);
        if (r != 0)
            goto out;
        ops[n] = (struct kh_storage_op){KH_STORAGE_DELETE, vkeys[n], NULL, 0};
    }
    KH_ASSERT(n <= max_ops);
    r = view_batch(view, ops, n);
    if (r != 0)
        goto out;
    r = 0; /* success */
out:
    kh_free_secret(meta_text, meta_len);
    free(vkeys);
    free(ops);
    return r;
}

int kv_store_list(const struct barrier_view *view, const char *root,
                  const char *prefix, struct kh_storage_list *ret)
{
    char key[KV_META_KEY_BYTES + 1];
    size_t len = strlen(prefix);
    int n;

    KH_ASSERT(strlen(root) == 2);
    n = snprintf(key, sizeof(key), "%s%s%s", root, prefix,
                 len > 0 && prefix[len - 1] != '/' ? "/" : "");
    if (n < 0 || (size_t)n >= sizeof(key))
        return KH_ELIMIT;
    return view_list(view, key, ret);
}
