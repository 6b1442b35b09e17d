/*
 * raft_snapshot.c - snapshot files of integrated storage (raft_node.h):
 * saving the store of the leader into one, checking one, and restoring
 * one as ordinary raft batches.
 *
 * Owns no state. Every length read from a file is checked against what is
 * left and against the limits before use; records are walked with a loop,
 * never recursion. Must never restore from a file whose digest or format
 * is wrong, and never drop this cluster's own server names.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "config/limits.h"
#include "raft/raft_codec.h"
#include "raft/raft_fsm.h"
#include "raft/raft_node.h"
#include "raft/raft_node_internal.h"
#include "storage/lmdb_internal.h"

#define SNAP_BATCH_BYTES_MAX  (KH_RAFT_ENTRY_BYTES_MAX - 64u * 1024u)
#define SNAP_WALK_FOLDERS_MAX 1000000u

static int sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
    unsigned int n = 0;

    return EVP_Digest(p, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32
               ? 0
               : KH_EINTERNAL;
}

int kh_raft_node_snapshot_save(struct kh_raft_node *node, uint8_t **ret_data,
                               size_t *ret_len)
{
    struct kh_raft_wbuf dump, file;
    uint64_t index = 0, term = 0;
    uint8_t digest[32];
    int r;

    memset(&file, 0, sizeof(file));
    r = kh_raft_node_dump(node, &dump, &index, &term);
    if (r != 0)
        goto out;
    kh_raft_wbuf_init(&file, KH_RAFT_SNAPSHOT_FILE_BYTES_MAX);
    kh_raft_wbuf_put(&file, KH_RAFT_SNAPSHOT_MAGIC, 8);
    kh_raft_wbuf_put_u32(&file, KH_RAFT_SNAPSHOT_VERSION);
    kh_raft_wbuf_put_u64(&file, index);
    kh_raft_wbuf_put_u64(&file, term);
    kh_raft_wbuf_put_u64(&file, (uint64_t)time(NULL));
    kh_raft_wbuf_put_u64(&file, dump.len);
    kh_raft_wbuf_put(&file, dump.data, dump.len);
    r = kh_raft_wbuf_error(&file);
    if (r == 0)
        r = sha256(file.data, file.len, digest);
    if (r == 0) {
        kh_raft_wbuf_put(&file, digest, sizeof(digest));
        r = kh_raft_wbuf_error(&file);
    }
    if (r != 0)
        goto out;
    *ret_data = file.data;
    *ret_len = file.len;
    memset(&file, 0, sizeof(file));
    r = 0; /* success */
out:
    kh_raft_wbuf_free(&dump);
    kh_raft_wbuf_free(&file);
    return r;
}

int kh_raft_node_local_digest(struct kh_raft_node *node, uint64_t *ret_applied,
                              uint8_t ret_digest[32])
{
    struct kh_raft_wbuf dump;
    uint64_t index = 0, term = 0;
    int r;

    r = kh_raft_node_dump_local(node, &dump, &index, &term);
    if (r == 0 && dump.len < KH_RAFT_FSM_SNAP_HEADER_BYTES)
        r = KH_EIO;
    if (r == 0)
        r = sha256(dump.data + KH_RAFT_FSM_SNAP_HEADER_BYTES,
                   dump.len - KH_RAFT_FSM_SNAP_HEADER_BYTES, ret_digest);
    if (r == 0)
        *ret_applied = kh_raft_be64_get(dump.data + 8);
    kh_raft_wbuf_free(&dump);
    return r;
}

/* One record of the store data: key (NUL-free, not terminated) and
 * value. Returns 1 when there is none left, 0 for a record, KH_EINVAL. */
static int record_next(struct kh_raft_rbuf *r, const uint8_t **key,
                       size_t *key_len, const uint8_t **value,
                       size_t *value_len)
{
    if (kh_raft_rbuf_left(r) == 0)
        return 1;
    *key_len = kh_raft_rbuf_u16(r);
    *key = kh_raft_rbuf_bytes(r, *key_len);
    if (*key == NULL || *key_len == 0 || *key_len > KH_STORAGE_KEY_BYTES_MAX ||
        memchr(*key, 0, *key_len) != NULL)
        return KH_EINVAL;
    *value_len = kh_raft_rbuf_u32(r);
    if (*value_len > KH_STORAGE_VALUE_BYTES_MAX)
        return KH_EINVAL;
    *value = kh_raft_rbuf_bytes(r, *value_len);
    return *value == NULL ? KH_EINVAL : 0;
}

/* The store data: header, then well-formed records to the end. */
static int data_check(const uint8_t *data, size_t len, size_t *ret_keys)
{
    struct kh_raft_rbuf r;
    const uint8_t *k, *v;
    size_t kl, vl, n = 0;
    int rc;

    kh_raft_rbuf_init(&r, data, len);
    if (kh_raft_rbuf_u32(&r) != KH_RAFT_FSM_SNAP_MAGIC ||
        kh_raft_rbuf_u32(&r) != KH_RAFT_FSM_SNAP_VERSION)
        return KH_EINVAL;
    (void)kh_raft_rbuf_u64(&r);
    while ((rc = record_next(&r, &k, &kl, &v, &vl)) == 0)
        n++;
    if (rc < 0 || !kh_raft_rbuf_ok(&r))
        return KH_EINVAL;
    if (ret_keys != NULL)
        *ret_keys = n;
    return 0;
}

int kh_raft_snapshot_check(const uint8_t *file, size_t len, uint64_t *ret_index,
                           uint64_t *ret_term, uint64_t *ret_created,
                           const uint8_t **ret_data, size_t *ret_len)
{
    struct kh_raft_rbuf r;
    uint8_t digest[32];
    uint64_t index, term, created, data_len;
    const uint8_t *magic, *data;

    if (file == NULL ||
        len < KH_RAFT_SNAPSHOT_HEADER_BYTES + KH_RAFT_SNAPSHOT_TRAILER_BYTES ||
        len > KH_RAFT_SNAPSHOT_FILE_BYTES_MAX)
        return KH_EINVAL;
    kh_raft_rbuf_init(&r, file, len - KH_RAFT_SNAPSHOT_TRAILER_BYTES);
    magic = kh_raft_rbuf_bytes(&r, 8);
    if (magic == NULL || memcmp(magic, KH_RAFT_SNAPSHOT_MAGIC, 8) != 0 ||
        kh_raft_rbuf_u32(&r) != KH_RAFT_SNAPSHOT_VERSION)
        return KH_EINVAL;
    index = kh_raft_rbuf_u64(&r);
    term = kh_raft_rbuf_u64(&r);
    created = kh_raft_rbuf_u64(&r);
    data_len = kh_raft_rbuf_u64(&r);
    if (data_len != kh_raft_rbuf_left(&r) ||
        data_len > KH_RAFT_SNAPSHOT_BYTES_MAX)
        return KH_EINVAL;
    data = kh_raft_rbuf_bytes(&r, (size_t)data_len);
    if (data == NULL ||
        sha256(file, len - KH_RAFT_SNAPSHOT_TRAILER_BYTES, digest) != 0 ||
        memcmp(digest, file + len - KH_RAFT_SNAPSHOT_TRAILER_BYTES, 32) != 0)
        return KH_EINVAL;
    if (data_check(data, (size_t)data_len, NULL) != 0)
        return KH_EINVAL;
    if (ret_index != NULL)
        *ret_index = index;
    if (ret_term != NULL)
        *ret_term = term;
    if (ret_created != NULL)
        *ret_created = created;
    if (ret_data != NULL)
        *ret_data = data;
    if (ret_len != NULL)
        *ret_len = (size_t)data_len;
    return 0;
}

/* ---- restore ---- */

/* Ops gathered into entries of bounded size. Keys are copied. */
struct restore_batch
{
    struct kh_raft_node *node;
    struct kh_storage_op ops[KH_STORAGE_BATCH_OPS_MAX];
    char *keys[KH_STORAGE_BATCH_OPS_MAX];
    size_t count;
    size_t bytes;
    size_t written; /* ops committed so far */
};

static int batch_flush(struct restore_batch *b)
{
    size_t i;
    int r = 0;

    if (b->count > 0)
        r = kh_raft_node_apply(b->node, b->ops, b->count);
    if (r == 0)
        b->written += b->count;
    for (i = 0; i < b->count; i++)
        free(b->keys[i]);
    b->count = 0;
    b->bytes = 0;
    return r;
}

static int batch_add(struct restore_batch *b, enum kh_storage_op_kind kind,
                     const uint8_t *key, size_t key_len, const uint8_t *value,
                     size_t value_len)
{
    size_t cost = key_len + value_len + 16;
    char *k;
    int r;

    if (cost > SNAP_BATCH_BYTES_MAX)
        return KH_ETOOBIG;
    if (b->count == KH_STORAGE_BATCH_OPS_MAX ||
        b->bytes + cost > SNAP_BATCH_BYTES_MAX) {
        r = batch_flush(b);
        if (r != 0)
            return r;
    }
    k = strndup((const char *)key, key_len);
    if (k == NULL)
        return KH_ENOMEM;
    b->keys[b->count] = k;
    b->ops[b->count] =
        (struct kh_storage_op){kind, k, kind == KH_STORAGE_PUT ? value : NULL,
                               kind == KH_STORAGE_PUT ? value_len : 0};
    b->count++;
    b->bytes += cost;
    return 0;
}

/* Keys restore never touches: this cluster's names and the marker. */
static bool key_kept(const char *key, size_t len)
{
    size_t plen = strlen(KH_RAFT_NAMES_PREFIX);

    return (len >= plen && memcmp(key, KH_RAFT_NAMES_PREFIX, plen) == 0) ||
           (len == strlen(KH_RAFT_RESTORE_MARKER) &&
            memcmp(key, KH_RAFT_RESTORE_MARKER, len) == 0);
}

/* The snapshot's records, sorted by key for lookups. */
struct snap_record
{
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

static int record_cmp(const void *pa, const void *pb)
{
    const struct snap_record *a = pa, *b = pb;
    int c = memcmp(a->key, b->key,
                   a->key_len < b->key_len ? a->key_len : b->key_len);

    if (c != 0)
        return c;
    return a->key_len < b->key_len ? -1 : (a->key_len > b->key_len);
}

static int records_load(const uint8_t *data, size_t len,
                        struct snap_record **ret, size_t *ret_count)
{
    struct kh_raft_rbuf r;
    struct snap_record *recs;
    size_t count = 0, n = 0;
    int rc;

    rc = data_check(data, len, &count);
    if (rc != 0)
        return rc;
    recs = calloc(count ? count : 1, sizeof(*recs));
    if (recs == NULL)
        return KH_ENOMEM;
    kh_raft_rbuf_init(&r, data, len);
    r.pos = KH_RAFT_FSM_SNAP_HEADER_BYTES;
    while (n < count && record_next(&r, &recs[n].key, &recs[n].key_len,
                                    &recs[n].value, &recs[n].value_len) == 0)
        n++;
    qsort(recs, n, sizeof(*recs), record_cmp);
    *ret = recs;
    *ret_count = n;
    return 0;
}

static bool records_have(const struct snap_record *recs, size_t count,
                         const char *key)
{
    struct snap_record probe = {(const uint8_t *)key, strlen(key), NULL, 0};

    return bsearch(&probe, recs, count, sizeof(*recs), record_cmp) != NULL;
}

/* A stack of folders to list while deleting what the snapshot lacks. */
struct folder_stack
{
    char **items;
    size_t count;
    size_t cap;
};

static int stack_push(struct folder_stack *st, const char *prefix,
                      const char *name)
{
    size_t len = strlen(prefix) + strlen(name);
    char **p, *s;

    if (len > KH_STORAGE_KEY_BYTES_MAX)
        return KH_EIO;
    if (st->count == st->cap) {
        if (st->cap >= SNAP_WALK_FOLDERS_MAX)
            return KH_ELIMIT;
        p = realloc(st->items, (st->cap ? st->cap * 2 : 16) * sizeof(*p));
        if (p == NULL)
            return KH_ENOMEM;
        st->items = p;
        st->cap = st->cap ? st->cap * 2 : 16;
    }
    s = malloc(len + 1);
    if (s == NULL)
        return KH_ENOMEM;
    strcpy(s, prefix);
    strcat(s, name);
    st->items[st->count++] = s;
    return 0;
}

/* Delete one listed folder's keys that the snapshot lacks; push its
 * subfolders. */
static int delete_folder(struct restore_batch *b, const char *prefix,
                         struct folder_stack *st,
                         const struct snap_record *recs, size_t count)
{
    struct kh_storage_list list = {NULL, 0};
    char key[KH_STORAGE_KEY_BYTES_MAX + 1];
    size_t i, len;
    int r;

    r = kh_storage_list(kh_raft_node_storage(b->node), prefix, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        len = strlen(list.keys[i]);
        if (len > 0 && list.keys[i][len - 1] == '/') {
            r = stack_push(st, prefix, list.keys[i]);
            continue;
        }
        if (strlen(prefix) + len > KH_STORAGE_KEY_BYTES_MAX) {
            r = KH_EIO;
            break;
        }
        strcpy(key, prefix);
        strcat(key, list.keys[i]);
        if (!key_kept(key, strlen(key)) && !records_have(recs, count, key))
            r = batch_add(b, KH_STORAGE_DELETE, (const uint8_t *)key,
                          strlen(key), NULL, 0);
    }
    kh_storage_list_free(&list);
    return r;
}

static int delete_missing(struct restore_batch *b,
                          const struct snap_record *recs, size_t count)
{
    struct folder_stack st = {NULL, 0, 0};
    char *prefix;
    int r;

    r = stack_push(&st, "", "");
    while (r == 0 && st.count > 0) {
        prefix = st.items[--st.count];
        r = delete_folder(b, prefix, &st, recs, count);
        free(prefix);
    }
    while (st.count > 0)
        free(st.items[--st.count]);
    free(st.items);
    return r;
}

/* Put every record whose stored value differs. */
static int put_changed(struct restore_batch *b, const struct snap_record *recs,
                       size_t count)
{
    char key[KH_STORAGE_KEY_BYTES_MAX + 1];
    uint8_t *cur;
    size_t i, cur_len;
    bool same;
    int r = 0;

    for (i = 0; r == 0 && i < count; i++) {
        if (key_kept((const char *)recs[i].key, recs[i].key_len))
            continue;
        memcpy(key, recs[i].key, recs[i].key_len);
        key[recs[i].key_len] = '\0';
        same = false;
        if (kh_storage_get(kh_raft_node_storage(b->node), key, &cur,
                           &cur_len) == 0) {
            same = cur_len == recs[i].value_len &&
                   memcmp(cur, recs[i].value, cur_len) == 0;
            free(cur);
        }
        if (!same)
            r = batch_add(b, KH_STORAGE_PUT, recs[i].key, recs[i].key_len,
                          recs[i].value, recs[i].value_len);
    }
    return r;
}

int kh_raft_node_snapshot_restore(struct kh_raft_node *node,
                                  const uint8_t *file, size_t len)
{
    struct restore_batch *b = NULL;
    struct snap_record *recs = NULL;
    const uint8_t *data;
    size_t data_len, count = 0;
    int r;

    r = kh_raft_snapshot_check(file, len, NULL, NULL, NULL, &data, &data_len);
    if (r == 0)
        r = records_load(data, data_len, &recs, &count);
    if (r != 0)
        goto out;
    b = calloc(1, sizeof(*b));
    r = KH_ENOMEM;
    if (b == NULL)
        goto out;
    b->node = node;
    r = kh_storage_put(kh_raft_node_storage(node), KH_RAFT_RESTORE_MARKER,
                       (const uint8_t *)"1", 1);
    if (r == 0)
        r = delete_missing(b, recs, count);
    if (r == 0)
        r = put_changed(b, recs, count);
    if (r == 0)
        r = batch_flush(b);
    if (r == 0)
        r = kh_storage_delete(kh_raft_node_storage(node),
                              KH_RAFT_RESTORE_MARKER);
out:
    if (b != NULL) {
        while (b->count > 0)
            free(b->keys[--b->count]);
        free(b);
    }
    free(recs);
    return r;
}
