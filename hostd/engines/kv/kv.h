/*
 * kv.h - the KV secrets engine, versions 1 and 2 (Vault API: KV v2, §6.2).
 *
 * One backend type, "kv" (registry alias "kv-v2"): the mount option
 * "version" picks the flavour on every request ("2" = versioned, "1" or
 * absent = plain map per path), so a tune that changes the option takes
 * effect at once. This header is the public ops table plus the internal API
 * shared by the files of engines/kv/, one job each:
 *
 *   kv_backend.c   ops table, per-mount state, sub-path dispatch, 404/405
 *   kv_config.c    <mount>/config and the stored engine configuration
 *   kv_data.c      data/:path read, write, patch, delete of the latest
 *   kv_versions.c  delete/, undelete/, destroy/ of listed versions
 *   kv_metadata.c  metadata/:path and the JSON views of metadata
 *   kv_v1.c        the unversioned engine
 *   kv_store.c     records in the barrier view and their encoding
 *   kv_fields.c    request fields, paths, times and durations
 *   kv_patch.c     RFC 7386 JSON merge patch without recursion
 *
 * Storage layout inside the mount's barrier view (every value sealed by
 * the barrier; keys are not secret):
 *
 *   config                    engine configuration (v2)
 *   m/<path>                  metadata of one secret (v2): times, flags,
 *                             custom metadata, the version table
 *   v/<sha256hex(path)>/<n>   data of version n (v2), one record each
 *   d/<path>                  the map stored at path (v1)
 *
 * Reading metadata never decrypts version data; a write of a version is
 * one atomic view_batch (data + metadata + trimmed versions).
 *
 * Concurrency: a per-mount rwlock in struct kv_state and KV_LOCK_STRIPES
 * key locks under it. Every v2 read-modify-write of one secret holds the
 * mount lock for reading and its key's stripe for writing from reading the
 * metadata to the commit, so check-and-set is exact while writes to other
 * secrets proceed (on raft storage they then commit together); reads hold
 * both for reading, so a read never sees metadata and data from different
 * commits. Changing the mount's config takes the mount lock for writing.
 */
#ifndef KH_ENGINES_KV_KV_H
#define KH_ENGINES_KV_KV_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/encoding.h"
#include "config/limits.h"
#include "engines/backend.h"

/* ---- limits (house style), each tested at max and max + 1 ---- */

/* Serialised (compact JSON) size of one secret's data. A mount may lower
 * or raise it with the option "max_secret_bytes", up to the ceiling. */
#define KV_SECRET_BYTES_DEFAULT (512u * 1024u)
#define KV_SECRET_BYTES_CEILING (16u * 1024u * 1024u)
/* Top-level keys of one secret. */
#define KV_SECRET_KEYS_MAX 1024
/* A secret path: bytes and '/'-separated segments. */
#define KV_PATH_BYTES_MAX    1024
#define KV_PATH_SEGMENTS_MAX 64
/* custom_metadata: entries and sizes (Vault's own limits). */
#define KV_CUSTOM_METADATA_MAX             64
#define KV_CUSTOM_METADATA_KEY_BYTES_MAX   128
#define KV_CUSTOM_METADATA_VALUE_BYTES_MAX 512
/* Versions kept per secret: 0 in config and metadata means the default. */
#define KV_MAX_VERSIONS_DEFAULT 10
#define KV_MAX_VERSIONS_LIMIT   1000
/* Entries of a "versions" list in delete/undelete/destroy. */
#define KV_VERSIONS_PER_REQUEST_MAX 1000
/* delete_version_after: 100 years keeps created + duration in int64 ns. */
#define KV_DELETE_VERSION_AFTER_MAX_S (100ull * 365ull * 86400ull)

/* A write puts data and metadata and deletes every trimmed version; a
 * metadata delete removes the record and every version: one batch each. */
static_assert(KV_MAX_VERSIONS_LIMIT + 2 <= KH_STORAGE_BATCH_OPS_MAX,
              "one batch must hold a write with a full trim");
static_assert(KV_VERSIONS_PER_REQUEST_MAX + 1 <= KH_STORAGE_BATCH_OPS_MAX,
              "one batch must hold a destroy of every listed version");
static_assert(KV_SECRET_BYTES_CEILING <= KH_HTTP_BODY_BYTES_DEFAULT,
              "a secret must fit one request body");

/* Storage keys: "m/" + path, "v/" + 64 hex + "/" + 20 digits. */
#define KV_META_KEY_BYTES    (2 + KV_PATH_BYTES_MAX + 1)
#define KV_VERSION_KEY_BYTES (2 + 64 + 1 + 20 + 1)
#define KV_DURATION_STR_SIZE 48

/* The HTTP ops table, listed in engines/registry.c. */
extern const struct backend_ops kv_backend_ops;

/* ---- per-mount state and one call ---- */

#define KV_LOCK_STRIPES 64

struct kv_state
{
    pthread_rwlock_t lock;
    pthread_rwlock_t stripes[KV_LOCK_STRIPES];
    size_t stripes_ready;
    size_t secret_bytes_max;
};

/* One request as the handlers see it. path is the secret path after the
 * sub-command ("app/db" for data/app/db). */
struct kv_call
{
    const struct backend_request *br;
    struct kv_state *state;
    const char *path;
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*kv_handler_fn)(const struct kv_call *call);

/* ---- stored records (kv_store.c) ---- */

struct kv_config
{
    uint64_t max_versions; /* 0 = KV_MAX_VERSIONS_DEFAULT */
    bool cas_required;
    uint64_t delete_version_after_s; /* 0 = off */
};

struct kv_version
{
    uint64_t version;
    int64_t created_ns;
    int64_t deletion_ns; /* 0 = not deleted (or a future time) */
    bool destroyed;
};

/* Invariants: versions ascending by number, count <= KV_MAX_VERSIONS_LIMIT
 * + 1, every number <= current_version. */
struct kv_metadata
{
    int64_t created_ns;
    int64_t updated_ns;
    uint64_t current_version;
    uint64_t oldest_version; /* 0 until a trim happened (Vault) */
    uint64_t max_versions;   /* 0 = use the config */
    bool cas_required;
    uint64_t delete_version_after_s;
    json_t *custom_metadata;     /* object of strings or NULL; owned */
    struct kv_version *versions; /* owned */
    size_t version_count;
};

/* A commit: the new metadata (NULL = delete the record), an optional new
 * version's data, and versions whose data to delete. One view_batch. */
struct kv_commit
{
    const struct kv_metadata *meta;
    uint64_t put_version;    /* 0 = none */
    const uint8_t *put_data; /* serialised data of put_version */
    size_t put_len;
    const uint64_t *delete_versions;
    size_t delete_count;
};

/* Engine configuration; defaults when none is stored. */
int kv_config_load(const struct barrier_view *view,
                   struct kv_config *ret) KH_MUST_CHECK;
int kv_config_store(const struct barrier_view *view,
                    const struct kv_config *config) KH_MUST_CHECK;

/* Load the metadata of path: KH_ENOTFOUND when there is none, KH_ECORRUPT
 * when the record is malformed. Free with kv_metadata_free. */
int kv_metadata_load(const struct barrier_view *view, const char *path,
                     struct kv_metadata **ret_meta) KH_MUST_CHECK;
/* A new, empty metadata record (no versions) created now. */
int kv_metadata_new(struct kv_metadata **ret_meta) KH_MUST_CHECK;
void kv_metadata_free(struct kv_metadata *meta);
/* The entry for version, or NULL. */
struct kv_version *kv_metadata_find(const struct kv_metadata *meta,
                                    uint64_t version);
/* Append a version (numbers must grow). KH_ENOMEM. */
int kv_metadata_append(struct kv_metadata *meta,
                       const struct kv_version *v) KH_MUST_CHECK;
/* Drop versions <= last from the table. */
void kv_metadata_drop_through(struct kv_metadata *meta, uint64_t last);

/* Encode/decode the stored form; decode returns KH_ECORRUPT on anything
 * malformed. The encoded text is malloc'ed (free with kh_free_secret). */
int kv_metadata_encode(const struct kv_metadata *meta, char **ret_text,
                       size_t *ret_len) KH_MUST_CHECK;
int kv_metadata_decode(const uint8_t *bytes, size_t len,
                       struct kv_metadata **ret_meta) KH_MUST_CHECK;

/* Read the data of one version: KH_ENOTFOUND when it is gone. */
int kv_version_data_load(const struct barrier_view *view, const char *path,
                         uint64_t version, json_t **ret_data) KH_MUST_CHECK;

/* Apply one commit for path atomically. */
int kv_store_commit(const struct barrier_view *view, const char *path,
                    const struct kv_commit *commit) KH_MUST_CHECK;

/* Keys below "m/" + prefix, one level, as kh_storage_list. */
int kv_store_list(const struct barrier_view *view, const char *root,
                  const char *prefix,
                  struct kh_storage_list *ret) KH_MUST_CHECK;

/* ---- fields, paths, times (kv_fields.c) ---- */

int64_t kv_now_ns(void);
/* RFC 3339 of ns, or "" for 0. */
void kv_time_string(int64_t ns, char out[KH_TIME_STR_SIZE]);
/* Go's time.Duration.String() of whole seconds: "0s", "1m30s", "2h0m0s". */
void kv_duration_string(uint64_t seconds, char out[KV_DURATION_STR_SIZE]);
/* True when version v reads as deleted at now_ns. */
bool kv_version_deleted(const struct kv_version *v, int64_t now_ns);

/* Check a secret path. for_list: "" and a trailing '/' are allowed.
 * KH_EINVAL/KH_ELIMIT with errmsg. */
int kv_path_check(const char *path, bool for_list, char *errmsg,
                  size_t errmsg_size) KH_MUST_CHECK;

/* options.cas of the request: *ret_present false when absent or null. */
int kv_fields_cas(const struct kh_request *req, bool *ret_present,
                  uint64_t *ret_cas, char *errmsg,
                  size_t errmsg_size) KH_MUST_CHECK;
/* "versions": list of numbers / numeric strings, or "1,2". At least one,
 * at most KV_VERSIONS_PER_REQUEST_MAX. *ret is malloc'ed. */
int kv_fields_versions(const struct kh_request *req, uint64_t **ret,
                       size_t *ret_count, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* A duration field (seconds as a number, or a duration string); *present
 * false when absent or null. Capped at KV_DELETE_VERSION_AFTER_MAX_S. */
int kv_fields_duration(const struct kh_request *req, const char *name,
                       bool *ret_present, uint64_t *ret_seconds, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* True when the field is present and not JSON null. */
bool kv_fields_present(const struct kh_request *req, const char *name);
/* Check custom_metadata (object of strings within the limits). */
int kv_fields_custom_metadata(const json_t *value, char *errmsg,
                              size_t errmsg_size) KH_MUST_CHECK;

/* Check a secret's data: an object within the key and size limits;
 * *ret_text is its compact serialisation (free with kh_free_secret). */
int kv_data_serialise(const struct kv_state *state, const json_t *data,
                      char **ret_text, size_t *ret_len, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;

/* ---- RFC 7386 merge patch (kv_patch.c) ---- */

/* Merge patch (an object) into target (an object) in place. KH_ELIMIT if
 * the patch nests deeper than KH_JSON_DEPTH_MAX, KH_ENOMEM. */
int kv_merge_patch(json_t *target, const json_t *patch) KH_MUST_CHECK;

/* ---- JSON views (kv_metadata.c) ---- */

/* {created_time, custom_metadata, deletion_time, destroyed, version}. */
json_t *kv_version_view(const struct kv_metadata *meta,
                        const struct kv_version *v);
/* Answer 404 with a full envelope: data {data: null, metadata: view}. */
int kv_respond_version_gone(const struct kv_call *call,
                            const struct kv_metadata *meta,
                            const struct kv_version *v) KH_MUST_CHECK;

/* Answer 200 with data.keys = list's keys (list not empty). */
int kv_respond_keys(const struct kv_call *call,
                    const struct kh_storage_list *list) KH_MUST_CHECK;

/* ---- handlers ---- */

int kv_config_read(const struct kv_call *call) KH_MUST_CHECK;
int kv_config_write(const struct kv_call *call) KH_MUST_CHECK;

int kv_data_read(const struct kv_call *call) KH_MUST_CHECK;
int kv_data_write(const struct kv_call *call) KH_MUST_CHECK;
int kv_data_patch(const struct kv_call *call) KH_MUST_CHECK;
int kv_data_delete(const struct kv_call *call) KH_MUST_CHECK;

int kv_versions_delete(const struct kv_call *call) KH_MUST_CHECK;
int kv_versions_undelete(const struct kv_call *call) KH_MUST_CHECK;
int kv_versions_destroy(const struct kv_call *call) KH_MUST_CHECK;

int kv_metadata_read(const struct kv_call *call) KH_MUST_CHECK;
int kv_metadata_write(const struct kv_call *call) KH_MUST_CHECK;
int kv_metadata_patch(const struct kv_call *call) KH_MUST_CHECK;
int kv_metadata_delete(const struct kv_call *call) KH_MUST_CHECK;
int kv_metadata_list(const struct kv_call *call) KH_MUST_CHECK;

/* v1: the whole engine for one request (op from the request). */
int kv_v1_handle(const struct kv_call *call) KH_MUST_CHECK;
int kv_v1_exists(const struct kv_call *call, bool *ret_exists) KH_MUST_CHECK;

/* The lock of the whole mount (config), as the handlers take it. */
void kv_lock_read(struct kv_state *state);
void kv_lock_write(struct kv_state *state);
void kv_unlock(struct kv_state *state);
/* The lock of one secret (path), under the mount lock held for reading. */
void kv_lock_key_read(struct kv_state *state, const char *path);
void kv_lock_key_write(struct kv_state *state, const char *path);
void kv_unlock_key(struct kv_state *state, const char *path);

#endif
