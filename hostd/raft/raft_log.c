/*
 * raft_log.c - the raft log, term, vote and snapshot in LMDB.
 *
 * Owns one MDB_env (raft.mdb's directory) with two databases: "meta"
 * (term, vote, snapshot metadata and data) and "entries" (8-byte
 * big-endian index -> u64 term, u8 type, data). Must never report a write
 * as done before its transaction committed with fsync (no MDB_NOSYNC,
 * no MDB_NOMETASYNC), never trust a stored length, and never work on
 * after LMDB reported a fatal error.
 */
#include "raft/raft_log.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/log.h"
#include "raft/raft_codec.h"
#include "raft/raft_limits.h"

#define LOG_ENTRY_HEADER_BYTES 9u  /* u64 term, u8 type */
#define LOG_SNAP_HEADER_BYTES  28u /* u64 index, term, conf_index; u32 */
#define LOG_DBS_MAX            2
#define LOG_READERS_MAX        64
#define LOG_DIR_BYTES_MAX      (PATH_MAX - 16)

static const char log_key_term[] = "term";
static const char log_key_vote[] = "vote";
static const char log_key_snap_meta[] = "snapshot-meta";
static const char log_key_snap_data[] = "snapshot-data";

struct kh_raft_log
{
    MDB_env *env;
    MDB_dbi meta;
    MDB_dbi entries;
    int failed; /* atomic; set once */
    char dir[PATH_MAX];
};

struct kh_raft_log_txn
{
    struct kh_raft_log *log;
    MDB_txn *txn;
};

struct kh_raft_log_reader
{
    struct kh_raft_log *log;
    MDB_txn *txn;
};

static bool log_failed(struct kh_raft_log *log)
{
    return __atomic_load_n(&log->failed, __ATOMIC_ACQUIRE) != 0;
}

static int rlog_error(struct kh_raft_log *log, int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return KH_ENOTFOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
        return KH_EFULL;
    case ENOMEM:
        return KH_ENOMEM;
    case MDB_PANIC:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        if (__atomic_exchange_n(&log->failed, 1, __ATOMIC_ACQ_REL) == 0)
            log_error("raft: %s: LMDB reported a fatal error (%s); the log "
                      "refuses all further operations",
                      log->dir, mdb_strerror(rc));
        return KH_EIO;
    default:
        return KH_EIO;
    }
}

static int log_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key,
                       uint64_t *ret)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v;
    int rc;

    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *ret = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != 8)
        return EIO;
    *ret = kh_raft_be64_get(v.mv_data);
    return 0;
}

static int log_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key,
                       uint64_t value)
{
    MDB_val k = {strlen(key), (void *)key};
    uint8_t be[8];
    MDB_val v = {sizeof(be), be};

    kh_raft_be64_put(be, value);
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* Write key(s) in one durable transaction. vote_only: just the vote. */
static int log_set_meta(struct kh_raft_log *log, bool vote_only, uint64_t v)
{
    MDB_txn *txn = NULL;
    int rc;

    KH_ASSERT(log != NULL);
    if (log_failed(log))
        return KH_EIO;
    rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (rc != 0)
        return rlog_error(log, rc);
    if (vote_only) {
        rc = log_put_u64(txn, log->meta, log_key_vote, v);
    } else {
        rc = log_put_u64(txn, log->meta, log_key_term, v);
        if (rc == 0)
            rc = log_put_u64(txn, log->meta, log_key_vote, 0);
    }
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    return rlog_error(log, rc);
}

int kh_raft_log_set_term(struct kh_raft_log *log, uint64_t term)
{
    return log_set_meta(log, false, term);
}

int kh_raft_log_set_vote(struct kh_raft_log *log, uint64_t id)
{
    return log_set_meta(log, true, id);
}

int kh_raft_log_begin(struct kh_raft_log *log,
                      struct kh_raft_log_txn **ret_txn)
{
    struct kh_raft_log_txn *t;
    int rc;

    KH_ASSERT(log != NULL);
    KH_ASSERT(ret_txn != NULL);
    if (log_failed(log))
        return KH_EIO;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return KH_ENOMEM;
    rc = mdb_txn_begin(log->env, NULL, 0, &t->txn);
    if (rc != 0) {
        free(t);
        return rlog_error(log, rc);
    }
    t->log = log;
    *ret_txn = t;
    return 0;
}

/* Decode a stored snapshot-meta value. */
static int log_snap_meta_decode(const MDB_val *v,
                                struct kh_raft_log_snapshot *ret)
{
    struct kh_raft_rbuf r;
    uint32_t conf_len;

    kh_raft_rbuf_init(&r, v->mv_data, v->mv_size);
    ret->index = kh_raft_rbuf_u64(&r);
    ret->term = kh_raft_rbuf_u64(&r);
    ret->conf_index = kh_raft_rbuf_u64(&r);
    conf_len = kh_raft_rbuf_u32(&r);
    if (conf_len > KH_RAFT_CONF_BYTES_MAX)
        return KH_EIO;
    ret->conf = kh_raft_rbuf_bytes(&r, conf_len);
    ret->conf_len = conf_len;
    if (!kh_raft_rbuf_ok(&r) || kh_raft_rbuf_left(&r) != 0)
        return KH_EIO;
    return 0;
}

/* The stored snapshot's index (0 when none); an LMDB or KH code. */
static int log_snap_index(struct kh_raft_log *log, MDB_txn *txn,
                          uint64_t *ret_index)
{
    MDB_val k = {sizeof(log_key_snap_meta) - 1, (void *)log_key_snap_meta};
    struct kh_raft_log_snapshot s;
    MDB_val v;
    int rc;

    rc = mdb_get(txn, log->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *ret_index = 0;
        return 0;
    }
    if (rc != 0)
        return rlog_error(log, rc);
    if (log_snap_meta_decode(&v, &s) != 0)
        return KH_EIO;
    *ret_index = s.index;
    return 0;
}

/* First and last stored entry indexes (0, 0 when none). */
static int log_bounds(struct kh_raft_log *log, MDB_txn *txn,
                      uint64_t *ret_first, uint64_t *ret_last)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc, r = KH_EINTERNAL;

    rc = mdb_cursor_open(txn, log->entries, &cur);
    if (rc != 0)
        return rlog_error(log, rc);
    *ret_first = 0;
    *ret_last = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) {
        r = 0;
        goto out;
    }
    if (rc == 0 && k.mv_size == 8)
        *ret_first = kh_raft_be64_get(k.mv_data);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        *ret_last = kh_raft_be64_get(k.mv_data);
    if (rc != 0) {
        r = rlog_error(log, rc);
        goto out;
    }
    r = (*ret_first == 0 || *ret_last < *ret_first) ? KH_EIO : 0;
out:
    mdb_cursor_close(cur);
    return r;
}

static int log_append_checks(const struct kh_raft_log_entry *entries,
                             size_t n)
{
    size_t i;

    if (n == 0 || entries == NULL)
        return KH_EINVAL;
    if (n > KH_RAFT_APPEND_ENTRIES_MAX)
        return KH_ETOOBIG;
    for (i = 0; i < n; i++) {
        if (entries[i].len > KH_RAFT_ENTRY_BYTES_MAX)
            return KH_ETOOBIG;
        if (entries[i].data == NULL && entries[i].len > 0)
            return KH_EINVAL;
    }
    return 0;
}

int kh_raft_log_txn_append(struct kh_raft_log_txn *t, uint64_t first_index,
                           const struct kh_raft_log_entry *entries, size_t n)
{
    uint64_t first, last, snap, index;
    uint8_t key[8], *dst;
    MDB_val k = {sizeof(key), key}, v;
    size_t i;
    int rc, r;

    KH_ASSERT(t != NULL);
    KH_ASSERT(t->txn != NULL);
    r = log_append_checks(entries, n);
    if (r != 0)
        return r;
    r = log_bounds(t->log, t->txn, &first, &last);
    if (r == 0)
        r = log_snap_index(t->log, t->txn, &snap);
    if (r != 0)
        return r;
    if (first_index != (last != 0 ? last : snap) + 1)
        return KH_EINVAL;
    for (i = 0; i < n; i++) {
        index = first_index + i;
        kh_raft_be64_put(key, index);
        v.mv_size = LOG_ENTRY_HEADER_BYTES + entries[i].len;
        v.mv_data = NULL;
        rc = mdb_put(t->txn, t->log->entries, &k, &v, MDB_RESERVE);
        if (rc != 0)
            return rlog_error(t->log, rc);
        dst = v.mv_data;
        kh_raft_be64_put(dst, entries[i].term);
        dst[8] = entries[i].type;
        if (entries[i].len > 0)
            memcpy(dst + LOG_ENTRY_HEADER_BYTES, entries[i].data,
                   entries[i].len);
    }
    return 0;
}

/* Delete the entries in [from, to] (to 0: through the last). */
static int log_delete_range(struct kh_raft_log *log, MDB_txn *txn,
                            uint64_t from, uint64_t to)
{
    MDB_cursor *cur = NULL;
    uint8_t key[8];
    MDB_val k = {sizeof(key), key}, v;
    int rc;

    rc = mdb_cursor_open(txn, log->entries, &cur);
    if (rc != 0)
        return rlog_error(log, rc);
    /* Seek again after each delete: the log is bounded and a fresh seek
     * does not depend on where LMDB leaves a cursor after a delete. */
    for (;;) {
        kh_raft_be64_put(key, from);
        k.mv_size = sizeof(key);
        k.mv_data = key;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != 0)
            break;
        if (k.mv_size != 8) {
            rc = EIO;
            break;
        }
        if (to != 0 && kh_raft_be64_get(k.mv_data) > to)
            break;
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rlog_error(log, rc);
}

int kh_raft_log_txn_truncate(struct kh_raft_log_txn *t, uint64_t index)
{
    KH_ASSERT(t != NULL);
    KH_ASSERT(t->txn != NULL);
    if (index == 0)
        return KH_EINVAL;
    return log_delete_range(t->log, t->txn, index, 0);
}

static int log_put_bytes(MDB_txn *txn, MDB_dbi dbi, const char *key,
                         const void *data, size_t len)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v = {len, (void *)data};

    return mdb_put(txn, dbi, &k, &v, 0);
}

int kh_raft_log_txn_snapshot(struct kh_raft_log_txn *t,
                             const struct kh_raft_log_snapshot *s,
                             uint64_t trailing)
{
    struct kh_raft_wbuf w;
    uint64_t old;
    int rc, r;

    KH_ASSERT(t != NULL);
    KH_ASSERT(s != NULL);
    if (s->len > KH_RAFT_SNAPSHOT_BYTES_MAX ||
        s->conf_len > KH_RAFT_CONF_BYTES_MAX)
        return KH_ETOOBIG;
    if (s->index == 0 || (s->data == NULL && s->len > 0) || s->conf == NULL)
        return KH_EINVAL;
    r = log_snap_index(t->log, t->txn, &old);
    if (r != 0)
        return r;
    if (s->index < old)
        return KH_EINVAL;
    kh_raft_wbuf_init(&w, LOG_SNAP_HEADER_BYTES + KH_RAFT_CONF_BYTES_MAX);
    kh_raft_wbuf_put_u64(&w, s->index);
    kh_raft_wbuf_put_u64(&w, s->term);
    kh_raft_wbuf_put_u64(&w, s->conf_index);
    kh_raft_wbuf_put_u32(&w, (uint32_t)s->conf_len);
    kh_raft_wbuf_put(&w, s->conf, s->conf_len);
    r = kh_raft_wbuf_error(&w);
    if (r == 0) {
        rc = log_put_bytes(t->txn, t->log->meta, log_key_snap_meta, w.data,
                           w.len);
        if (rc == 0)
            rc = log_put_bytes(t->txn, t->log->meta, log_key_snap_data,
                               s->len > 0 ? s->data : (const void *)"",
                               s->len);
        r = rlog_error(t->log, rc);
    }
    kh_raft_wbuf_free(&w);
    if (r != 0)
        return r;
    if (trailing == 0)
        return log_delete_range(t->log, t->txn, 1, 0);
    if (s->index > trailing)
        return log_delete_range(t->log, t->txn, 1, s->index - trailing);
    return 0;
}

int kh_raft_log_commit(struct kh_raft_log_txn *t)
{
    struct kh_raft_log *log;
    int rc;

    KH_ASSERT(t != NULL);
    KH_ASSERT(t->txn != NULL);
    log = t->log;
    rc = mdb_txn_commit(t->txn);
    free(t);
    return rlog_error(log, rc);
}

void kh_raft_log_abort(struct kh_raft_log_txn *t)
{
    if (t == NULL)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

/* Check the stored entries: 8-byte keys, contiguous, well-formed values;
 * sum their data. */
static int log_read_scan(struct kh_raft_log *log, MDB_txn *txn,
                         struct kh_raft_log_state *st)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t expect = st->first_index, index;
    int rc, r = KH_EIO;

    rc = mdb_cursor_open(txn, log->entries, &cur);
    if (rc != 0)
        return rlog_error(log, rc);
    st->entry_bytes = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (k.mv_size != 8 || v.mv_size < LOG_ENTRY_HEADER_BYTES ||
            v.mv_size - LOG_ENTRY_HEADER_BYTES > KH_RAFT_ENTRY_BYTES_MAX)
            goto out;
        index = kh_raft_be64_get(k.mv_data);
        if (index != expect)
            goto out;
        st->entry_bytes += v.mv_size - LOG_ENTRY_HEADER_BYTES;
        expect++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    r = rc == MDB_NOTFOUND ? 0 : rlog_error(log, rc);
out:
    mdb_cursor_close(cur);
    return r;
}

/* The snapshot metadata and data, if there is a snapshot. */
static int log_read_snapshot(struct kh_raft_log *log, MDB_txn *txn,
                             struct kh_raft_log_state *st)
{
    MDB_val k = {sizeof(log_key_snap_meta) - 1, (void *)log_key_snap_meta};
    MDB_val d = {sizeof(log_key_snap_data) - 1, (void *)log_key_snap_data};
    MDB_val v;
    int rc;

    rc = mdb_get(txn, log->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rlog_error(log, rc);
    if (log_snap_meta_decode(&v, &st->snapshot) != 0 ||
        st->snapshot.index == 0)
        return KH_EIO;
    rc = mdb_get(txn, log->meta, &d, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? KH_EIO : rlog_error(log, rc);
    if (v.mv_size > KH_RAFT_SNAPSHOT_BYTES_MAX)
        return KH_EIO;
    st->snapshot.data = v.mv_data;
    st->snapshot.len = v.mv_size;
    st->has_snapshot = true;
    return 0;
}

static int log_read_state(struct kh_raft_log *log, MDB_txn *txn,
                          struct kh_raft_log_state *st)
{
    int r;

    memset(st, 0, sizeof(*st));
    r = rlog_error(log, log_get_u64(txn, log->meta, log_key_term, &st->term));
    if (r == 0)
        r = rlog_error(log,
                      log_get_u64(txn, log->meta, log_key_vote, &st->vote));
    if (r == 0)
        r = log_read_snapshot(log, txn, st);
    if (r == 0)
        r = log_bounds(log, txn, &st->first_index, &st->last_index);
    if (r == 0)
        r = log_read_scan(log, txn, st);
    if (r != 0)
        return r;
    /* The entries must reach the snapshot: no gap after it. */
    if (st->has_snapshot && st->first_index != 0 &&
        (st->first_index > st->snapshot.index + 1 ||
         st->last_index < st->snapshot.index))
        return KH_EIO;
    return 0;
}

int kh_raft_log_read_begin(struct kh_raft_log *log,
                           struct kh_raft_log_reader **ret_reader,
                           struct kh_raft_log_state *ret_state)
{
    struct kh_raft_log_reader *rd = NULL;
    struct kh_raft_log_state st;
    int rc, r = KH_EINTERNAL;

    KH_ASSERT(log != NULL);
    KH_ASSERT(ret_reader != NULL);
    KH_ASSERT(ret_state != NULL);
    if (log_failed(log))
        return KH_EIO;
    rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return KH_ENOMEM;
    rd->log = log;
    rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &rd->txn);
    if (rc != 0) {
        rd->txn = NULL;
        r = rlog_error(log, rc);
        goto out;
    }
    r = log_read_state(log, rd->txn, &st);
    if (r != 0)
        goto out;
    *ret_state = st;
    *ret_reader = rd;
    rd = NULL;
    r = 0; /* success */
out:
    kh_raft_log_read_end(rd);
    return r;
}

int kh_raft_log_read_entry(struct kh_raft_log_reader *rd, uint64_t index,
                           struct kh_raft_log_entry *ret_entry)
{
    uint8_t key[8];
    MDB_val k = {sizeof(key), key}, v;
    const uint8_t *p;
    int rc;

    KH_ASSERT(rd != NULL);
    KH_ASSERT(ret_entry != NULL);
    kh_raft_be64_put(key, index);
    rc = mdb_get(rd->txn, rd->log->entries, &k, &v);
    if (rc != 0)
        return rlog_error(rd->log, rc);
    if (v.mv_size < LOG_ENTRY_HEADER_BYTES ||
        v.mv_size - LOG_ENTRY_HEADER_BYTES > KH_RAFT_ENTRY_BYTES_MAX)
        return KH_EIO;
    p = v.mv_data;
    ret_entry->term = kh_raft_be64_get(p);
    ret_entry->type = p[8];
    ret_entry->data = p + LOG_ENTRY_HEADER_BYTES;
    ret_entry->len = v.mv_size - LOG_ENTRY_HEADER_BYTES;
    return 0;
}

void kh_raft_log_read_end(struct kh_raft_log_reader *rd)
{
    if (rd == NULL)
        return;
    if (rd->txn != NULL)
        mdb_txn_abort(rd->txn);
    free(rd);
}

static int log_env_open(struct kh_raft_log *log, char *errmsg,
                        size_t errmsg_size)
{
    MDB_txn *txn = NULL;
    int rc;

    rc = mdb_env_create(&log->env);
    if (rc != 0) {
        log->env = NULL;
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "raft: cannot create LMDB environment: %s",
                         mdb_strerror(rc));
    }
    rc = mdb_env_set_maxdbs(log->env, LOG_DBS_MAX);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(log->env, LOG_READERS_MAX);
    if (rc == 0)
        rc = mdb_env_set_mapsize(log->env, KH_RAFT_LOG_MAP_BYTES);
    if (rc == 0)
        rc = mdb_env_open(log->env, log->dir, MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &log->meta);
        if (rc == 0)
            rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &log->entries);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "raft: cannot open the raft log in %s: %s", log->dir,
                         mdb_strerror(rc));
    return 0;
}

int kh_raft_log_open(const char *dir, struct kh_raft_log **ret_log,
                     char *errmsg, size_t errmsg_size)
{
    struct kh_raft_log *log = NULL;
    size_t len;
    int r = KH_EINTERNAL;

    KH_ASSERT(ret_log != NULL);
    if (dir == NULL || (len = strnlen(dir, LOG_DIR_BYTES_MAX + 1)) == 0 ||
        len > LOG_DIR_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "raft: the log directory is empty or too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "raft: cannot create %s: %s", dir, strerror(errno));
    log = calloc(1, sizeof(*log));
    if (log == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "raft: out of memory");
    memcpy(log->dir, dir, len + 1);
    r = log_env_open(log, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    *ret_log = log;
    log = NULL;
    r = 0; /* success */
out:
    kh_raft_log_close(log);
    return r;
}

void kh_raft_log_close(struct kh_raft_log *log)
{
    if (log == NULL)
        return;
    if (log->env != NULL)
        mdb_env_close(log->env);
    free(log);
}
