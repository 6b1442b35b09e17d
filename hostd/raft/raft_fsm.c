/*
 * raft_fsm.c - committed raft entries applied to the node's LMDB store.
 *
 * Owns the store (its directory, and the "<dir>.restore" and "<dir>.old"
 * directories a restore uses), the batch codec and the snapshot codec.
 * Must never apply an entry twice (the applied index commits with the
 * batch: kh_storage_lmdb_batch_applied()), never apply one after a local
 * store error (the node stops applying and must restart; it never skips),
 * and never trust a length in an entry or a snapshot.
 */
#include "raft/raft_fsm.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "config/limits.h"
#include "raft/raft_codec.h"
#include "raft/raft_limits.h"
#include "storage/lmdb_internal.h"

#define FSM_BATCH_VERSION 1u
#define FSM_SNAP_MAGIC KH_RAFT_FSM_SNAP_MAGIC
#define FSM_SNAP_VERSION KH_RAFT_FSM_SNAP_VERSION
#define FSM_SNAP_HEADER_BYTES 16u
#define FSM_MARK_MAGIC 0x4b48534du /* "KHSM" */
#define FSM_MARK_BYTES 16u
#define FSM_RESTORE_BATCH_BYTES (8u * 1024u * 1024u)
#define FSM_WALK_FOLDERS_MAX 1000000u
#define FSM_DIR_BYTES_MAX (PATH_MAX - 32)

struct kh_raft_fsm
{
    struct raft_fsm vtable;
    struct raft *raft;
    struct kh_storage *storage;
    uint64_t applied;
    bool failed;
    char dir[PATH_MAX];
    pthread_rwlock_t lock; /* readers against the swap of a restore */
    bool lock_ready;
};

/* The store is opened without fsync (kh_storage_lmdb_open_nosync): the
 * raft log is the durable record, the applied index commits with every
 * batch, and a store a power loss damaged is rebuilt from the log's
 * snapshot and entries (moved aside here, then refilled by raft). */
static int fsm_store_open(const char *dir, struct kh_storage **ret,
                          char *errmsg, size_t errmsg_size)
{
    char aside[PATH_MAX];
    int r;

    r = kh_storage_lmdb_open_nosync(dir, ret, errmsg, errmsg_size);
    if (r != KH_EIO || errmsg == NULL ||
        strstr(errmsg, "not a valid LMDB file") == NULL)
        return r;
    (void)snprintf(aside, sizeof(aside), "%.*s.damaged-%lld", PATH_MAX - 40,
                   dir, (long long)time(NULL));
    if (rename(dir, aside) != 0)
        return r;
    log_error("raft: the store in %s was damaged (moved to %s); rebuilding "
              "it from the raft log", dir, aside);
    return kh_storage_lmdb_open_nosync(dir, ret, errmsg, errmsg_size);
}

int kh_raft_batch_encode(const struct kh_storage_op *ops, size_t count,
                         struct raft_buffer *ret_buf)
{
    struct kh_raft_wbuf w;
    size_t i, key_len;
    int r;

    KH_ASSERT(ret_buf != NULL);
    if (count == 0 || ops == NULL)
        return KH_EINVAL;
    if (count > KH_STORAGE_BATCH_OPS_MAX)
        return KH_ETOOBIG;
    kh_raft_wbuf_init(&w, KH_RAFT_ENTRY_BYTES_MAX);
    kh_raft_wbuf_put_u8(&w, FSM_BATCH_VERSION);
    kh_raft_wbuf_put_u32(&w, (uint32_t)count);
    for (i = 0; i < count; i++) {
        key_len = ops[i].key == NULL
                      ? 0
                      : strnlen(ops[i].key, KH_STORAGE_KEY_BYTES_MAX + 1);
        if (key_len == 0 || key_len > KH_STORAGE_KEY_BYTES_MAX ||
            (ops[i].kind != KH_STORAGE_PUT &&
             ops[i].kind != KH_STORAGE_DELETE) ||
            (ops[i].kind == KH_STORAGE_PUT && ops[i].value == NULL &&
             ops[i].len > 0)) {
            kh_raft_wbuf_free(&w);
            return KH_EINVAL;
        }
        kh_raft_wbuf_put_u8(&w, (uint8_t)ops[i].kind);
        kh_raft_wbuf_put_u16(&w, (uint16_t)key_len);
        kh_raft_wbuf_put(&w, ops[i].key, key_len);
        if (ops[i].kind == KH_STORAGE_DELETE) {
            kh_raft_wbuf_put_u32(&w, 0);
            continue;
        }
        if (ops[i].len > KH_RAFT_ENTRY_BYTES_MAX) {
            kh_raft_wbuf_free(&w);
            return KH_ETOOBIG;
        }
        kh_raft_wbuf_put_u32(&w, (uint32_t)ops[i].len);
        kh_raft_wbuf_put(&w, ops[i].value, ops[i].len);
    }
    r = kh_raft_wbuf_error(&w);
    if (r == 0) {
        ret_buf->base = raft_malloc(w.len);
        if (ret_buf->base == NULL)
            r = KH_ENOMEM;
        else
            memcpy(ret_buf->base, w.data, w.len);
        ret_buf->len = w.len;
    }
    kh_raft_wbuf_free(&w);
    return r;
}

/* Check every op header; total key bytes in *ret_keys. */
static int batch_scan(struct kh_raft_rbuf r, uint32_t count,
                      size_t *ret_keys)
{
    const uint8_t *key;
    uint32_t i, vlen;
    uint16_t klen;
    uint8_t kind;

    *ret_keys = 0;
    for (i = 0; i < count; i++) {
        kind = kh_raft_rbuf_u8(&r);
        klen = kh_raft_rbuf_u16(&r);
        key = kh_raft_rbuf_bytes(&r, klen);
        vlen = kh_raft_rbuf_u32(&r);
        if (key == NULL || klen == 0 || klen > KH_STORAGE_KEY_BYTES_MAX ||
            memchr(key, 0, klen) != NULL ||
            (kind != KH_STORAGE_PUT && kind != KH_STORAGE_DELETE) ||
            (kind == KH_STORAGE_DELETE && vlen != 0) ||
            kh_raft_rbuf_bytes(&r, vlen) == NULL)
            return KH_EINVAL;
        *ret_keys += (size_t)klen + 1;
    }
    return kh_raft_rbuf_left(&r) == 0 && kh_raft_rbuf_ok(&r) ? 0 : KH_EINVAL;
}

int kh_raft_batch_decode(const void *p, size_t len,
                         struct kh_raft_batch *ret_batch)
{
    struct kh_raft_batch b = {NULL, 0, NULL};
    struct kh_raft_rbuf r;
    size_t keys_len, off = 0, i;
    uint32_t count;
    uint16_t klen;
    int rc;

    KH_ASSERT(ret_batch != NULL);
    if (p == NULL || len > KH_RAFT_ENTRY_BYTES_MAX)
        return KH_EINVAL;
    kh_raft_rbuf_init(&r, p, len);
    if (kh_raft_rbuf_u8(&r) != FSM_BATCH_VERSION)
        return KH_EINVAL;
    count = kh_raft_rbuf_u32(&r);
    if (!kh_raft_rbuf_ok(&r) || count == 0 ||
        count > KH_STORAGE_BATCH_OPS_MAX)
        return KH_EINVAL;
    rc = batch_scan(r, count, &keys_len);
    if (rc != 0)
        return rc;
    b.ops = calloc(count, sizeof(*b.ops));
    b.keys = malloc(keys_len);
    if (b.ops == NULL || b.keys == NULL) {
        kh_raft_batch_free(&b);
        return KH_ENOMEM;
    }
    for (i = 0; i < count; i++) {
        b.ops[i].kind = kh_raft_rbuf_u8(&r);
        klen = kh_raft_rbuf_u16(&r);
        memcpy(b.keys + off, kh_raft_rbuf_bytes(&r, klen), klen);
        b.keys[off + klen] = '\0';
        b.ops[i].key = b.keys + off;
        off += (size_t)klen + 1;
        b.ops[i].len = kh_raft_rbuf_u32(&r);
        b.ops[i].value = kh_raft_rbuf_bytes(&r, b.ops[i].len);
    }
    KH_ASSERT(kh_raft_rbuf_ok(&r));
    b.count = count;
    *ret_batch = b;
    return 0;
}

void kh_raft_batch_free(struct kh_raft_batch *batch)
{
    if (batch == NULL)
        return;
    free(batch->ops);
    free(batch->keys);
    batch->ops = NULL;
    batch->keys = NULL;
    batch->count = 0;
}

static int fsm_apply(struct raft_fsm *vt, const struct raft_buffer *buf,
                     void **result)
{
    struct kh_raft_fsm *fsm = vt->data;
    struct kh_raft_batch b = {NULL, 0, NULL};
    uint64_t index;
    int r, rv = 0;

    KH_ASSERT(fsm->raft != NULL);
    *result = NULL;
    if (fsm->failed)
        return RAFT_IOERR;
    /* libraft 0.15 does not pass the index: it is the next one. */
    index = raft_last_applied(fsm->raft) + 1;
    if (kh_raft_batch_decode(buf->base, buf->len, &b) != 0)
        rv = RAFT_MALFORMED; /* every node refuses it alike: skip it */
    r = kh_storage_lmdb_batch_applied(fsm->storage, b.ops, b.count, index,
                                      &fsm->applied);
    kh_raft_batch_free(&b);
    if (r != 0) {
        fsm->failed = true;
        log_error("raft: %s: applying entry %llu failed (%s); this node "
                  "stops applying until it restarts",
                  fsm->dir, (unsigned long long)index, kh_strerror(r));
        return RAFT_IOERR;
    }
    return rv;
}

/* ---- snapshots ---- */

/* A stack of folder prefixes still to list. */
struct fsm_walk
{
    char **folders;
    size_t count;
    size_t cap;
};

static int walk_push(struct fsm_walk *wk, const char *prefix,
                     const char *name)
{
    size_t plen = strlen(prefix), nlen = strlen(name), cap;
    char **p, *s;

    if (plen + nlen > KH_STORAGE_KEY_BYTES_MAX)
        return KH_EIO;
    if (wk->count == wk->cap) {
        if (wk->cap >= FSM_WALK_FOLDERS_MAX)
            return KH_ELIMIT;
        cap = wk->cap == 0 ? 16 : wk->cap * 2;
        p = realloc(wk->folders, cap * sizeof(*p));
        if (p == NULL)
            return KH_ENOMEM;
        wk->folders = p;
        wk->cap = cap;
    }
    s = malloc(plen + nlen + 1);
    if (s == NULL)
        return KH_ENOMEM;
    memcpy(s, prefix, plen);
    memcpy(s + plen, name, nlen + 1);
    wk->folders[wk->count++] = s;
    return 0;
}

/* Append key and its value (when it exists) to w. */
static int snap_add_key(struct kh_storage *st, const char *key,
                        struct kh_raft_wbuf *w)
{
    uint8_t *value = NULL;
    size_t len = 0, klen = strlen(key);
    int r;

    if (strcmp(key, KH_STORAGE_LMDB_APPLIED_KEY) == 0)
        return 0;
    r = kh_storage_get(st, key, &value, &len);
    if (r == KH_ENOTFOUND)
        return 0;
    if (r != 0)
        return r;
    kh_raft_wbuf_put_u16(w, (uint16_t)klen);
    kh_raft_wbuf_put(w, key, klen);
    kh_raft_wbuf_put_u32(w, (uint32_t)len);
    kh_raft_wbuf_put(w, value, len);
    free(value); /* ciphertext above the barrier */
    return kh_raft_wbuf_error(w);
}

/* List one folder: keys into w, sub-folders onto the stack. */
static int snap_folder(struct kh_storage *st, const char *prefix,
                       struct fsm_walk *wk, struct kh_raft_wbuf *w)
{
    struct kh_storage_list list = {NULL, 0};
    char key[KH_STORAGE_KEY_BYTES_MAX + 1];
    size_t i, plen = strlen(prefix), nlen;
    int r;

    r = kh_storage_list(st, prefix, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        nlen = strlen(list.keys[i]);
        if (nlen == 0 || plen + nlen > KH_STORAGE_KEY_BYTES_MAX) {
            r = KH_EIO;
            break;
        }
        memcpy(key, prefix, plen);
        memcpy(key + plen, list.keys[i], nlen + 1);
        if (list.keys[i][nlen - 1] == '/')
            r = walk_push(wk, prefix, list.keys[i]);
        if (r == 0)
            r = snap_add_key(st, key, w); /* "a/" may be a key too */
    }
    kh_storage_list_free(&list);
    return r;
}

int kh_raft_fsm_dump(struct kh_raft_fsm *fsm, struct kh_raft_wbuf *w)
{
    struct fsm_walk wk = {NULL, 0, 0};
    char *prefix;
    int r;

    kh_raft_wbuf_init(w, KH_RAFT_SNAPSHOT_BYTES_MAX);
    if (fsm->failed)
        return KH_EIO;
    kh_raft_wbuf_put_u32(w, FSM_SNAP_MAGIC);
    kh_raft_wbuf_put_u32(w, FSM_SNAP_VERSION);
    kh_raft_wbuf_put_u64(w, raft_last_applied(fsm->raft));
    r = walk_push(&wk, "", "");
    while (r == 0 && wk.count > 0) {
        prefix = wk.folders[--wk.count];
        r = snap_folder(fsm->storage, prefix, &wk, w);
        free(prefix);
    }
    if (r == 0)
        r = kh_raft_wbuf_error(w);
    while (wk.count > 0)
        free(wk.folders[--wk.count]);
    free(wk.folders);
    return r;
}

/* A raft snapshot of the FSM is a mark, not a copy: the store is flushed
 * to disk (so it durably holds every entry up to the applied index, which
 * the log may now drop) and the snapshot records only that index. Taking
 * one costs an fsync, not a walk of the whole store. When raft needs the
 * data - to send a lagging follower an InstallSnapshot - the io asks
 * kh_raft_fsm_expand() for a dump of the store as it is then; its applied
 * index may be later than the mark's, which is safe because applying an
 * entry at or below the store's applied index changes nothing. */
static int fsm_snapshot(struct raft_fsm *vt, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct kh_raft_fsm *fsm = vt->data;
    struct raft_buffer *out;
    struct kh_raft_wbuf w;

    if (fsm->failed || kh_storage_lmdb_sync(fsm->storage) != 0)
        return RAFT_IOERR;
    out = raft_calloc(1, sizeof(*out));
    if (out == NULL)
        return RAFT_NOMEM;
    out->base = raft_malloc(FSM_MARK_BYTES);
    if (out->base == NULL) {
        raft_free(out);
        return RAFT_NOMEM;
    }
    kh_raft_wbuf_init(&w, FSM_MARK_BYTES);
    kh_raft_wbuf_put_u32(&w, FSM_MARK_MAGIC);
    kh_raft_wbuf_put_u32(&w, FSM_SNAP_VERSION);
    kh_raft_wbuf_put_u64(&w, raft_last_applied(fsm->raft));
    KH_ASSERT(kh_raft_wbuf_error(&w) == 0 && w.len == FSM_MARK_BYTES);
    memcpy(out->base, w.data, w.len);
    out->len = w.len;
    kh_raft_wbuf_free(&w);
    *bufs = out;
    *n_bufs = 1;
    return 0;
}

/* The applied index of a mark; false when buf is not one. */
static bool fsm_mark_read(const struct raft_buffer *buf, uint64_t *ret)
{
    struct kh_raft_rbuf r;

    if (buf->len != FSM_MARK_BYTES)
        return false;
    kh_raft_rbuf_init(&r, buf->base, buf->len);
    if (kh_raft_rbuf_u32(&r) != FSM_MARK_MAGIC ||
        kh_raft_rbuf_u32(&r) != FSM_SNAP_VERSION)
        return false;
    *ret = kh_raft_rbuf_u64(&r);
    return kh_raft_rbuf_ok(&r);
}

int kh_raft_fsm_expand(struct kh_raft_fsm *fsm, struct raft_buffer *buf)
{
    struct kh_raft_wbuf w;
    uint64_t mark;
    void *data;
    int r;

    if (!fsm_mark_read(buf, &mark))
        return 0; /* already the data */
    r = kh_raft_fsm_dump(fsm, &w);
    if (r == 0 && kh_raft_be64_get(w.data + 8) < mark)
        r = KH_EIO; /* the store went back: never */
    data = r == 0 ? raft_malloc(w.len) : NULL;
    if (r == 0 && data == NULL)
        r = KH_ENOMEM;
    if (r == 0) {
        memcpy(data, w.data, w.len);
        raft_free(buf->base);
        buf->base = data;
        buf->len = w.len;
    }
    kh_raft_wbuf_free(&w);
    return r;
}

/* "<dir><suffix>" into buf (PATH_MAX): dir is at most FSM_DIR_BYTES_MAX
 * bytes (checked at open), so it always fits. */
static void fsm_path(char buf[PATH_MAX], const char *dir, const char *suffix)
{
    size_t dlen = strlen(dir), slen = strlen(suffix);

    KH_ASSERT(dlen <= FSM_DIR_BYTES_MAX);
    KH_ASSERT(slen < PATH_MAX - FSM_DIR_BYTES_MAX);
    memcpy(buf, dir, dlen);
    memcpy(buf + dlen, suffix, slen + 1);
}

/* Remove an LMDB directory this FSM made (data.mdb, lock.mdb, itself). */
static int fsm_dir_remove(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char path[PATH_MAX];
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(files); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >=
            (int)sizeof(path))
            return KH_EINVAL;
        if (unlink(path) != 0 && errno != ENOENT)
            return KH_EIO;
    }
    if (rmdir(dir) != 0 && errno != ENOENT)
        return KH_EIO;
    return 0;
}

/* Write the snapshot's records into a fresh store in batches, then the
 * applied index. r positions after the header. */
static int restore_fill(struct kh_storage *st, struct kh_raft_rbuf *r,
                        uint64_t applied)
{
    struct kh_storage_op ops[64];
    char keys[KH_ARRAY_LEN(ops)][KH_STORAGE_KEY_BYTES_MAX + 1];
    const uint8_t *key;
    size_t n = 0, bytes = 0;
    uint16_t klen;
    int rc = 0;

    while (rc == 0 && kh_raft_rbuf_left(r) > 0) {
        klen = kh_raft_rbuf_u16(r);
        key = kh_raft_rbuf_bytes(r, klen);
        if (key == NULL || klen == 0 || klen > KH_STORAGE_KEY_BYTES_MAX ||
            memchr(key, 0, klen) != NULL)
            return KH_EINVAL;
        memcpy(keys[n], key, klen);
        keys[n][klen] = '\0';
        ops[n].kind = KH_STORAGE_PUT;
        ops[n].key = keys[n];
        ops[n].len = kh_raft_rbuf_u32(r);
        ops[n].value = kh_raft_rbuf_bytes(r, ops[n].len);
        if (ops[n].value == NULL)
            return KH_EINVAL;
        bytes += ops[n].len;
        if (++n == KH_ARRAY_LEN(ops) || bytes >= FSM_RESTORE_BATCH_BYTES) {
            rc = kh_storage_batch(st, ops, n);
            n = 0;
            bytes = 0;
        }
    }
    if (rc == 0 && n > 0)
        rc = kh_storage_batch(st, ops, n);
    if (rc == 0)
        rc = kh_storage_lmdb_batch_applied(st, NULL, 0, applied, NULL);
    return rc;
}

/* Build "<dir>.restore" from the snapshot and swap it in. */
static int fsm_restore_swap(struct kh_raft_fsm *fsm, struct kh_raft_rbuf *r,
                            uint64_t applied)
{
    char staging[PATH_MAX], old[PATH_MAX], errmsg[KH_ERRMSG_SIZE];
    struct kh_storage *st = NULL;
    int rc;

    fsm_path(staging, fsm->dir, ".restore");
    fsm_path(old, fsm->dir, ".old");
    rc = fsm_dir_remove(staging);
    if (rc == 0)
        rc = kh_storage_lmdb_open(staging, 0, &st, errmsg, sizeof(errmsg));
    if (rc == 0)
        rc = restore_fill(st, r, applied);
    kh_storage_close(st);
    if (rc != 0) {
        (void)fsm_dir_remove(staging);
        return rc;
    }
    /* Crash points: before the first rename the old store stands; between
     * the renames kh_raft_fsm_open() puts "<dir>.old" back; after the
     * second only "<dir>.old" is left to remove. */
    pthread_rwlock_wrlock(&fsm->lock);
    kh_storage_close(fsm->storage);
    fsm->storage = NULL;
    if (rename(fsm->dir, old) != 0 || rename(staging, fsm->dir) != 0) {
        pthread_rwlock_unlock(&fsm->lock);
        return KH_EIO;
    }
    if (fsm_dir_remove(old) != 0)
        log_warn("raft: cannot remove %s after a restore", old);
    rc = fsm_store_open(fsm->dir, &fsm->storage, errmsg, sizeof(errmsg));
    if (rc == 0)
        rc = kh_storage_lmdb_batch_applied(fsm->storage, NULL, 0, 0,
                                           &fsm->applied);
    pthread_rwlock_unlock(&fsm->lock);
    return rc;
}

static int fsm_restore(struct raft_fsm *vt, struct raft_buffer *buf)
{
    struct kh_raft_fsm *fsm = vt->data;
    struct kh_raft_rbuf r;
    uint64_t applied;
    int rc = 0;

    if (fsm->failed) {
        raft_free(buf->base);
        return RAFT_IOERR;
    }
    if (fsm_mark_read(buf, &applied)) {
        /* This node's own mark (at start): its store was flushed with at
         * least that index before the mark was stored. */
        raft_free(buf->base);
        if (fsm->applied >= applied)
            return 0;
        fsm->failed = true;
        log_error("raft: %s: the store holds index %llu but the snapshot "
                  "marks %llu: the store was lost; wipe this node's "
                  "storage directory and let it join again",
                  fsm->dir, (unsigned long long)fsm->applied,
                  (unsigned long long)applied);
        return RAFT_IOERR;
    }
    kh_raft_rbuf_init(&r, buf->base, buf->len);
    if (buf->len > KH_RAFT_SNAPSHOT_BYTES_MAX ||
        kh_raft_rbuf_u32(&r) != FSM_SNAP_MAGIC ||
        kh_raft_rbuf_u32(&r) != FSM_SNAP_VERSION) {
        raft_free(buf->base);
        return RAFT_MALFORMED;
    }
    applied = kh_raft_rbuf_u64(&r);
    /* The store already holds this state or a later one of the same log
     * (at start, raft restores its snapshot before replaying): keep it. */
    if (applied > fsm->applied)
        rc = fsm_restore_swap(fsm, &r, applied);
    raft_free(buf->base);
    if (rc == KH_EINVAL)
        return RAFT_MALFORMED;
    if (rc != 0) {
        fsm->failed = true;
        log_error("raft: %s: restoring a snapshot failed (%s); this node "
                  "stops applying until it restarts",
                  fsm->dir, kh_strerror(rc));
        return RAFT_IOERR;
    }
    return 0;
}

/* Finish or undo a restore a crash interrupted (see fsm_restore_swap). */
static int fsm_recover_dirs(const char *dir)
{
    char staging[PATH_MAX], old[PATH_MAX];
    struct stat st;

    fsm_path(staging, dir, ".restore");
    fsm_path(old, dir, ".old");
    if (stat(old, &st) == 0) {
        if (stat(dir, &st) == 0)
            return fsm_dir_remove(old);
        if (rename(old, dir) != 0)
            return KH_EIO;
    }
    return fsm_dir_remove(staging);
}

int kh_raft_fsm_open(const char *dir, struct kh_raft_fsm **ret_fsm,
                     char *errmsg, size_t errmsg_size)
{
    struct kh_raft_fsm *fsm = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(ret_fsm != NULL);
    if (dir == NULL || strlen(dir) == 0 || strlen(dir) > FSM_DIR_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "raft: the FSM directory is empty or too long");
    if (fsm_recover_dirs(dir) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "raft: cannot clean up an interrupted restore "
                         "beside %s",
                         dir);
    fsm = calloc(1, sizeof(*fsm));
    if (fsm == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "raft: out of memory");
    memcpy(fsm->dir, dir, strlen(dir) + 1);
    pthread_rwlock_init(&fsm->lock, NULL);
    fsm->lock_ready = true;
    r = fsm_store_open(dir, &fsm->storage, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = kh_storage_lmdb_batch_applied(fsm->storage, NULL, 0, 0, &fsm->applied);
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r,
                      "raft: cannot read the applied index in %s", dir);
        goto out;
    }
    fsm->vtable.version = 1;
    fsm->vtable.data = fsm;
    fsm->vtable.apply = fsm_apply;
    fsm->vtable.snapshot = fsm_snapshot;
    fsm->vtable.restore = fsm_restore;
    *ret_fsm = fsm;
    fsm = NULL;
    r = 0; /* success */
out:
    kh_raft_fsm_close(fsm);
    return r;
}

void kh_raft_fsm_close(struct kh_raft_fsm *fsm)
{
    if (fsm == NULL)
        return;
    /* A failed flush loses nothing: the raft log replays what is missing. */
    if (fsm->storage != NULL && kh_storage_lmdb_sync(fsm->storage) != 0)
        log_warn("raft: %s: cannot flush the store at close", fsm->dir);
    kh_storage_close(fsm->storage);
    if (fsm->lock_ready)
        pthread_rwlock_destroy(&fsm->lock);
    free(fsm);
}

void kh_raft_fsm_read_lock(struct kh_raft_fsm *fsm)
{
    pthread_rwlock_rdlock(&fsm->lock);
}

void kh_raft_fsm_read_unlock(struct kh_raft_fsm *fsm)
{
    pthread_rwlock_unlock(&fsm->lock);
}

struct raft_fsm *kh_raft_fsm_vtable(struct kh_raft_fsm *fsm)
{
    KH_ASSERT(fsm != NULL);
    return &fsm->vtable;
}

void kh_raft_fsm_attach(struct kh_raft_fsm *fsm, struct raft *raft)
{
    KH_ASSERT(fsm != NULL);
    KH_ASSERT(raft != NULL);
    fsm->raft = raft;
}

struct kh_storage *kh_raft_fsm_storage(struct kh_raft_fsm *fsm)
{
    KH_ASSERT(fsm != NULL);
    return fsm->storage;
}

uint64_t kh_raft_fsm_applied(const struct kh_raft_fsm *fsm)
{
    KH_ASSERT(fsm != NULL);
    return fsm->applied;
}

bool kh_raft_fsm_failed(const struct kh_raft_fsm *fsm)
{
    KH_ASSERT(fsm != NULL);
    return fsm->failed;
}
