/*
 * lmdb.c - the LMDB storage backend: one environment (a directory holding
 * data.mdb and lock.mdb) with its unnamed database, durable commits, a map
 * that grows on demand, and Vault's one-level list().
 *
 * Owns the MDB_env and the process-wide list of open directories (LMDB
 * forbids opening one environment twice in a process: its locks are
 * per-process). Must never commit without fsync (no MDB_NOSYNC: this is
 * the only copy of a secrets server's data) - except a store opened with
 * kh_storage_lmdb_open_nosync(), the raft FSM's, whose durable copy is the
 * raft log -, never return a pointer into
 * the map (values are copied out inside the read transaction), and never
 * work on after LMDB reported MDB_PANIC or corruption.
 *
 * Concurrency: read transactions are MDB_NOTLS, so any thread may run any
 * number of them. Writers are serialised by write_lock. map_lock is held
 * shared around every transaction and exclusively around
 * mdb_env_set_mapsize(), which LMDB allows only while this process has no
 * transaction open; it prefers writers so that growth is not starved.
 *
 * On-disk keys: the library's compiled-in key limit (MDB_MAXKEYSIZE, 511 in
 * every stock build) is below KH_STORAGE_KEY_BYTES_MAX, so a key of up to
 * LMDB_KEY_DIRECT_MAX bytes is stored as itself, and a longer key K as
 * K[0..478) || 0x00 || SHA-256(K), its value prefixed with the 2-byte
 * big-endian length of K and K itself. Keys are C strings (no NUL), so the
 * 0x00 keeps every key's first 478 bytes in LMDB order: list() can still
 * seek by prefix, and only entries sharing such a 478-byte prefix are
 * visited in hash order (list() sorts its result anyway).
 */
#include "storage/storage.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "config/limits.h"
#include "storage/lmdb_internal.h"

#define LMDB_KEY_BYTES_MAX       511 /* MDB_MAXKEYSIZE of stock liblmdb */
#define LMDB_KEY_HASH_BYTES      32  /* SHA-256 */
#define LMDB_KEY_DIRECT_MAX      (LMDB_KEY_BYTES_MAX - 1 - LMDB_KEY_HASH_BYTES)
#define LMDB_LONG_HEADER_BYTES   2
#define LMDB_READERS_MAX         1024 /* concurrent read transactions */
#define LMDB_MAP_BYTES_MIN       (64u * 1024u)
#define LMDB_GROW_ATTEMPTS_MAX   64 /* doublings: enough for any uint64 */
#define LMDB_RESIZED_RETRIES_MAX 8
#define LMDB_DIR_BYTES_MAX       (PATH_MAX - 16) /* room for "/data.mdb" */

_Static_assert(KH_STORAGE_KEY_BYTES_MAX <= 0xffff,
               "long keys carry a 16-bit length");
_Static_assert(KH_STORAGE_KEY_BYTES_MAX > LMDB_KEY_DIRECT_MAX,
               "keys longer than LMDB's limit exist");
_Static_assert(KH_LMDB_MAP_BYTES_DEFAULT <= KH_LMDB_MAP_BYTES_MAX,
               "default map within the maximum");

struct lmdb_store
{
    struct lmdb_store *next; /* lmdb_open_list; under lmdb_open_lock */
    dev_t dev;               /* identity of the directory */
    ino_t ino;
    MDB_env *env;
    MDB_dbi dbi;
    pthread_rwlock_t map_lock;
    pthread_mutex_t write_lock;
    bool locks_ready;
    uint64_t map_bytes; /* current map size; under map_lock */
    uint64_t map_bytes_max;
    bool nosync; /* MDB_NOSYNC: the raft FSM's store only */
    int failed; /* atomic; set once, never cleared */
    char dir[PATH_MAX];
};

/* A key as LMDB stores it. */
struct lmdb_key
{
    uint8_t bytes[LMDB_KEY_BYTES_MAX];
    size_t len;
    bool is_long;
};

/* One stored entry, decoded; pointers into the map (valid in the txn). */
struct lmdb_entry
{
    const char *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

/* list() results being gathered. */
struct lmdb_names
{
    char **keys;
    size_t count;
    size_t cap;
};

static pthread_mutex_t lmdb_open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lmdb_store *lmdb_open_list;

static bool lmdb_failed(struct lmdb_store *s)
{
    return __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE) != 0;
}

/* Refuse all further work. Logged here, once, because no caller sees the
 * LMDB code that caused it. */
static void lmdb_fail(struct lmdb_store *s, int rc)
{
    if (__atomic_exchange_n(&s->failed, 1, __ATOMIC_ACQ_REL) == 0)
        log_error("storage: %s: LMDB reported a fatal error (%s); the store "
                  "refuses all further operations",
                  s->dir, mdb_strerror(rc));
}

/* Map an LMDB or errno code to KH_E*; fatal codes mark the store failed. */
static int lmdb_error(struct lmdb_store *s, int rc)
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
    case MDB_READERS_FULL:
        return KH_EUNAVAIL;
    case MDB_PANIC:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        lmdb_fail(s, rc);
        return KH_EIO;
    default:
        return KH_EIO;
    }
}

/* KH_EINVAL unless key is 1..KH_STORAGE_KEY_BYTES_MAX bytes. */
static int lmdb_key_check(const char *key, size_t *ret_len)
{
    size_t len;

    if (key == NULL)
        return KH_EINVAL;
    len = strnlen(key, KH_STORAGE_KEY_BYTES_MAX + 1);
    if (len == 0 || len > KH_STORAGE_KEY_BYTES_MAX)
        return KH_EINVAL;
    *ret_len = len;
    return 0;
}

static int lmdb_key_encode(const char *key, size_t key_len,
                           struct lmdb_key *enc)
{
    unsigned int hash_len = 0;

    KH_ASSERT(key_len >= 1);
    KH_ASSERT(key_len <= KH_STORAGE_KEY_BYTES_MAX);
    if (key_len <= LMDB_KEY_DIRECT_MAX) {
        memcpy(enc->bytes, key, key_len);
        enc->len = key_len;
        enc->is_long = false;
        return 0;
    }
    memcpy(enc->bytes, key, LMDB_KEY_DIRECT_MAX);
    enc->bytes[LMDB_KEY_DIRECT_MAX] = 0;
    if (EVP_Digest(key, key_len, enc->bytes + LMDB_KEY_DIRECT_MAX + 1,
                   &hash_len, EVP_sha256(), NULL) != 1 ||
        hash_len != LMDB_KEY_HASH_BYTES)
        return KH_EINTERNAL;
    enc->len = LMDB_KEY_BYTES_MAX;
    enc->is_long = true;
    return 0;
}

/* Decode a stored entry; KH_EIO if a long-key entry is malformed. */
static int lmdb_entry_decode(const MDB_val *k, const MDB_val *v,
                             struct lmdb_entry *ret)
{
    const uint8_t *data = v->mv_data;
    size_t n;

    if (k->mv_size <= LMDB_KEY_DIRECT_MAX) {
        ret->key = k->mv_data;
        ret->key_len = k->mv_size;
        ret->value = v->mv_data;
        ret->value_len = v->mv_size;
        return 0;
    }
    if (k->mv_size != LMDB_KEY_BYTES_MAX || v->mv_size < LMDB_LONG_HEADER_BYTES)
        return KH_EIO;
    n = ((size_t)data[0] << 8) | data[1];
    if (n <= LMDB_KEY_DIRECT_MAX || n > KH_STORAGE_KEY_BYTES_MAX ||
        v->mv_size - LMDB_LONG_HEADER_BYTES < n ||
        memcmp(data + LMDB_LONG_HEADER_BYTES, k->mv_data,
               LMDB_KEY_DIRECT_MAX) != 0)
        return KH_EIO;
    ret->key = (const char *)data + LMDB_LONG_HEADER_BYTES;
    ret->key_len = n;
    ret->value = data + LMDB_LONG_HEADER_BYTES + n;
    ret->value_len = v->mv_size - LMDB_LONG_HEADER_BYTES - n;
    return 0;
}

/* Adopt a map another process grew (MDB_MAP_RESIZED). */
static int lmdb_adopt_map(struct lmdb_store *s)
{
    MDB_envinfo info;
    int rc;

    KH_ASSERT(pthread_rwlock_wrlock(&s->map_lock) == 0);
    rc = mdb_env_set_mapsize(s->env, 0);
    if (rc == 0 && mdb_env_info(s->env, &info) == 0)
        s->map_bytes = info.me_mapsize;
    KH_ASSERT(pthread_rwlock_unlock(&s->map_lock) == 0);
    if (rc != 0)
        lmdb_fail(s, rc);
    return rc == 0 ? 0 : KH_EIO;
}

/* Take map_lock shared and begin a transaction. On success the caller
 * owns *ret_txn and must end it, then call lmdb_txn_leave(). */
static int lmdb_txn_enter(struct lmdb_store *s, unsigned int flags,
                          MDB_txn **ret_txn)
{
    MDB_txn *txn = NULL;
    int attempt, rc, r;

    for (attempt = 0; attempt < LMDB_RESIZED_RETRIES_MAX; attempt++) {
        KH_ASSERT(pthread_rwlock_rdlock(&s->map_lock) == 0);
        rc = mdb_txn_begin(s->env, NULL, flags, &txn);
        if (rc == 0) {
            *ret_txn = txn;
            return 0;
        }
        KH_ASSERT(pthread_rwlock_unlock(&s->map_lock) == 0);
        if (rc != MDB_MAP_RESIZED)
            return lmdb_error(s, rc);
        r = lmdb_adopt_map(s);
        if (r != 0)
            return r;
    }
    return KH_EIO;
}

static void lmdb_txn_leave(struct lmdb_store *s)
{
    KH_ASSERT(pthread_rwlock_unlock(&s->map_lock) == 0);
}

/* Double the map, up to map_bytes_max. No transaction may be open in this
 * process meanwhile: the exclusive map_lock guarantees it. */
static int lmdb_grow(struct lmdb_store *s)
{
    uint64_t old_bytes, new_bytes;
    int rc, r = KH_EINTERNAL;

    KH_ASSERT(pthread_rwlock_wrlock(&s->map_lock) == 0);
    old_bytes = s->map_bytes;
    if (old_bytes >= s->map_bytes_max) {
        /* Logged here: the caller only sees KH_EFULL. */
        log_warn("storage: %s: LMDB map is full at %llu bytes, the maximum; "
                 "cannot grow",
                 s->dir, (unsigned long long)old_bytes);
        r = KH_EFULL;
        goto out;
    }
    new_bytes =
        old_bytes > s->map_bytes_max / 2 ? s->map_bytes_max : old_bytes * 2;
    rc = mdb_env_set_mapsize(s->env, new_bytes);
    if (rc != 0) {
        /* LMDB unmapped the old map; try to get it back. */
        if (mdb_env_set_mapsize(s->env, old_bytes) != 0)
            lmdb_fail(s, MDB_PANIC);
        r = rc == ENOMEM ? KH_EFULL : KH_EIO;
        goto out;
    }
    s->map_bytes = new_bytes;
    r = 0; /* success */
out:
    KH_ASSERT(pthread_rwlock_unlock(&s->map_lock) == 0);
    return r;
}

/* Delete one key inside txn; a missing key is success. Returns an LMDB or
 * errno code. A long key is deleted only if the stored full key matches. */
static int lmdb_apply_delete(struct lmdb_store *s, MDB_txn *txn,
                             const struct lmdb_key *enc, const char *key,
                             size_t key_len)
{
    struct lmdb_entry entry;
    MDB_val k = {enc->len, (void *)enc->bytes};
    MDB_val v;
    int rc;

    if (enc->is_long) {
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc != 0)
            return rc;
        if (lmdb_entry_decode(&k, &v, &entry) != 0)
            return EIO;
        if (entry.key_len != key_len || memcmp(entry.key, key, key_len) != 0)
            return 0;
    }
    rc = mdb_del(txn, s->dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Put one key inside txn, writing straight into the reserved space. */
static int lmdb_apply_put(struct lmdb_store *s, MDB_txn *txn,
                          const struct lmdb_key *enc, const char *key,
                          size_t key_len, const struct kh_storage_op *op)
{
    MDB_val k = {enc->len, (void *)enc->bytes};
    MDB_val v;
    uint8_t *dst;
    int rc;

    v.mv_size = op->len;
    if (enc->is_long)
        v.mv_size += LMDB_LONG_HEADER_BYTES + key_len;
    v.mv_data = NULL;
    rc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    dst = v.mv_data;
    if (enc->is_long) {
        dst[0] = (uint8_t)(key_len >> 8);
        dst[1] = (uint8_t)key_len;
        memcpy(dst + LMDB_LONG_HEADER_BYTES, key, key_len);
        dst += LMDB_LONG_HEADER_BYTES + key_len;
    }
    if (op->len > 0)
        memcpy(dst, op->value, op->len);
    return 0;
}

/* Apply validated ops in order inside txn; an LMDB or errno code. */
static int lmdb_apply_ops(struct lmdb_store *s, MDB_txn *txn,
                          const struct kh_storage_op *ops, size_t count)
{
    struct lmdb_key enc;
    size_t i, key_len;
    int rc;

    for (i = 0; i < count; i++) {
        key_len = strlen(ops[i].key);
        if (lmdb_key_encode(ops[i].key, key_len, &enc) != 0)
            return EINVAL;
        if (ops[i].kind == KH_STORAGE_DELETE)
            rc = lmdb_apply_delete(s, txn, &enc, ops[i].key, key_len);
        else
            rc = lmdb_apply_put(s, txn, &enc, ops[i].key, key_len, &ops[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* KH_EINVAL unless every op is well-formed; checked before any write so a
 * bad batch changes nothing. */
static int lmdb_ops_check(const struct kh_storage_op *ops, size_t count)
{
    size_t i, key_len;

    if (count > KH_STORAGE_BATCH_OPS_MAX || (ops == NULL && count > 0))
        return KH_EINVAL;
    for (i = 0; i < count; i++) {
        if (lmdb_key_check(ops[i].key, &key_len) != 0)
            return KH_EINVAL;
        if (ops[i].kind == KH_STORAGE_DELETE)
            continue;
        if (ops[i].kind != KH_STORAGE_PUT ||
            ops[i].len > KH_STORAGE_VALUE_BYTES_MAX ||
            (ops[i].value == NULL && ops[i].len > 0))
            return KH_EINVAL;
    }
    return 0;
}

/* Commit ops in one durable write transaction, growing the map as needed:
 * on MDB_MAP_FULL the transaction is aborted, the map doubled, and the
 * whole transaction retried. */
static int lmdb_write(struct lmdb_store *s, const struct kh_storage_op *ops,
                      size_t count)
{
    MDB_txn *txn = NULL;
    int attempt, rc, r = KH_EINTERNAL;

    r = lmdb_ops_check(ops, count);
    if (r != 0)
        return r;
    if (count == 0)
        return 0;
    KH_ASSERT(pthread_mutex_lock(&s->write_lock) == 0);
    for (attempt = 0; attempt < LMDB_GROW_ATTEMPTS_MAX; attempt++) {
        if (lmdb_failed(s)) {
            r = KH_EIO;
            break;
        }
        r = lmdb_txn_enter(s, 0, &txn);
        if (r != 0)
            break;
        rc = lmdb_apply_ops(s, txn, ops, count);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        lmdb_txn_leave(s);
        if (rc != MDB_MAP_FULL) {
            r = lmdb_error(s, rc);
            break;
        }
        r = lmdb_grow(s);
        if (r != 0)
            break;
    }
    if (attempt == LMDB_GROW_ATTEMPTS_MAX)
        r = KH_EFULL;
    KH_ASSERT(pthread_mutex_unlock(&s->write_lock) == 0);
    return r;
}

static int lmdb_put(void *impl, const char *key, const uint8_t *value,
                    size_t len)
{
    struct lmdb_store *s = impl;
    struct kh_storage_op op = {KH_STORAGE_PUT, key, value, len};

    KH_ASSERT(s != NULL);
    if (lmdb_failed(s))
        return KH_EIO;
    return lmdb_write(s, &op, 1);
}

static int lmdb_del(void *impl, const char *key)
{
    struct lmdb_store *s = impl;
    struct kh_storage_op op = {KH_STORAGE_DELETE, key, NULL, 0};

    KH_ASSERT(s != NULL);
    if (lmdb_failed(s))
        return KH_EIO;
    return lmdb_write(s, &op, 1);
}

static int lmdb_batch(void *impl, const struct kh_storage_op *ops, size_t count)
{
    struct lmdb_store *s = impl;

    KH_ASSERT(s != NULL);
    if (lmdb_failed(s))
        return KH_EIO;
    return lmdb_write(s, ops, count);
}

static int lmdb_get(void *impl, const char *key, uint8_t **ret_value,
                    size_t *ret_len)
{
    struct lmdb_store *s = impl;
    struct lmdb_key enc;
    struct lmdb_entry entry;
    MDB_txn *txn = NULL;
    MDB_val k, v;
    uint8_t *copy = NULL;
    size_t key_len;
    int r = KH_EINTERNAL;

    KH_ASSERT(s != NULL);
    KH_ASSERT(ret_value != NULL);
    KH_ASSERT(ret_len != NULL);
    if (lmdb_failed(s))
        return KH_EIO;
    r = lmdb_key_check(key, &key_len);
    if (r != 0)
        return r;
    r = lmdb_key_encode(key, key_len, &enc);
    if (r != 0)
        goto out;
    r = lmdb_txn_enter(s, MDB_RDONLY, &txn);
    if (r != 0)
        goto out;
    k.mv_size = enc.len;
    k.mv_data = enc.bytes;
    r = lmdb_error(s, mdb_get(txn, s->dbi, &k, &v));
    if (r != 0)
        goto out;
    r = lmdb_entry_decode(&k, &v, &entry);
    if (r != 0)
        goto out;
    if (entry.key_len != key_len || memcmp(entry.key, key, key_len) != 0) {
        r = KH_ENOTFOUND; /* a long key sharing its hash bucket */
        goto out;
    }
    copy = malloc(entry.value_len > 0 ? entry.value_len : 1);
    if (copy == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    if (entry.value_len > 0)
        memcpy(copy, entry.value, entry.value_len);
    *ret_value = copy;
    *ret_len = entry.value_len;
    copy = NULL;
    r = 0; /* success */
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
        lmdb_txn_leave(s);
    }
    free(copy);
    return r;
}

static int lmdb_names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates. */
static void lmdb_names_compact(struct lmdb_names *names)
{
    size_t i, out = 0;

    if (names->count == 0)
        return;
    qsort(names->keys, names->count, sizeof(names->keys[0]), lmdb_names_cmp);
    for (i = 1; i < names->count; i++) {
        if (strcmp(names->keys[i], names->keys[out]) == 0) {
            free(names->keys[i]);
            continue;
        }
        names->keys[++out] = names->keys[i];
    }
    names->count = out + 1;
}

/* Make room for one more name; at the limit, first compact, then see if
 * the name is already there (*ret_present). */
static int lmdb_names_reserve(struct lmdb_names *names, const char *name,
                              bool *ret_present)
{
    char **keys;
    size_t cap;

    *ret_present = false;
    if (names->count < names->cap)
        return 0;
    if (names->cap == KH_STORAGE_LIST_KEYS_MAX) {
        lmdb_names_compact(names);
        *ret_present = bsearch(&name, names->keys, names->count,
                               sizeof(names->keys[0]), lmdb_names_cmp) != NULL;
        return *ret_present || names->count < names->cap ? 0 : KH_ELIMIT;
    }
    cap = names->cap == 0 ? 64 : names->cap * 2;
    if (cap > KH_STORAGE_LIST_KEYS_MAX)
        cap = KH_STORAGE_LIST_KEYS_MAX;
    keys = realloc(names->keys, cap * sizeof(keys[0]));
    if (keys == NULL)
        return KH_ENOMEM;
    names->keys = keys;
    names->cap = cap;
    return 0;
}

static int lmdb_names_add(struct lmdb_names *names, const char *name,
                          size_t len)
{
    char *copy;
    bool present;
    int r;

    KH_ASSERT(len >= 1);
    if (names->count > 0) {
        const char *last = names->keys[names->count - 1];

        if (strncmp(last, name, len) == 0 && last[len] == '\0')
            return 0; /* the common, sorted duplicate */
    }
    copy = strndup(name, len);
    if (copy == NULL)
        return KH_ENOMEM;
    r = lmdb_names_reserve(names, copy, &present);
    if (r != 0 || present) {
        free(copy);
        return r;
    }
    names->keys[names->count++] = copy;
    return 0;
}

static void lmdb_names_free(struct lmdb_names *names)
{
    size_t i;

    for (i = 0; i < names->count; i++)
        free(names->keys[i]);
    free(names->keys);
    names->keys = NULL;
    names->count = 0;
    names->cap = 0;
}

/* Record the name one entry contributes under prefix and move the cursor
 * (its LMDB code in *ret_rc) to the next entry worth visiting: past a whole
 * sub-folder in one seek when the folder's LMDB keys are contiguous (folder
 * at most LMDB_KEY_DIRECT_MAX bytes), else to the next entry. */
static int lmdb_list_entry(MDB_cursor *cur, const struct lmdb_entry *e,
                           const char *prefix, size_t prefix_len,
                           struct lmdb_names *names, MDB_val *k, MDB_val *v,
                           int *ret_rc)
{
    uint8_t seek[LMDB_KEY_BYTES_MAX];
    const char *rest, *slash;
    size_t rest_len, name_len, folder_len;
    int r;

    /* A key equal to the prefix has no name below it; in a long-key
     * bucket, entries that do not match the full prefix are skipped. */
    if (e->key_len <= prefix_len || memcmp(e->key, prefix, prefix_len) != 0) {
        *ret_rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
        return 0;
    }
    rest = e->key + prefix_len;
    rest_len = e->key_len - prefix_len;
    slash = memchr(rest, '/', rest_len);
    name_len = slash == NULL ? rest_len : (size_t)(slash - rest) + 1;
    r = lmdb_names_add(names, rest, name_len);
    if (r != 0)
        return r;
    folder_len = prefix_len + name_len;
    if (slash == NULL || folder_len > LMDB_KEY_DIRECT_MAX) {
        *ret_rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
        return 0;
    }
    /* "<prefix><folder>0" is the least key after every "<prefix><folder>/.."
     * ('0' follows '/'). */
    memcpy(seek, e->key, folder_len);
    seek[folder_len - 1] = '/' + 1;
    k->mv_size = folder_len;
    k->mv_data = seek;
    *ret_rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    return 0;
}

/* Walk the LMDB keys that can hold keys under prefix, gathering names. */
static int lmdb_list_scan(struct lmdb_store *s, MDB_cursor *cur,
                          const char *prefix, size_t prefix_len,
                          struct lmdb_names *names)
{
    uint8_t scan[LMDB_KEY_BYTES_MAX];
    struct lmdb_entry e;
    size_t scan_len;
    MDB_val k, v;
    int rc, r;

    /* Every stored key under prefix starts with these LMDB bytes. */
    scan_len = prefix_len <= LMDB_KEY_DIRECT_MAX ? prefix_len
                                                 : LMDB_KEY_DIRECT_MAX + 1;
    memcpy(scan, prefix, scan_len);
    if (prefix_len > LMDB_KEY_DIRECT_MAX)
        scan[LMDB_KEY_DIRECT_MAX] = 0;
    k.mv_size = scan_len;
    k.mv_data = scan;
    rc = mdb_cursor_get(cur, &k, &v, scan_len == 0 ? MDB_FIRST : MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < scan_len || memcmp(k.mv_data, scan, scan_len) != 0)
            return 0;
        if (lmdb_entry_decode(&k, &v, &e) != 0)
            return KH_EIO;
        r = lmdb_list_entry(cur, &e, prefix, prefix_len, names, &k, &v, &rc);
        if (r != 0)
            return r;
    }
    return rc == MDB_NOTFOUND ? 0 : lmdb_error(s, rc);
}

static int lmdb_list(void *impl, const char *prefix,
                     struct kh_storage_list *ret)
{
    struct lmdb_store *s = impl;
    struct lmdb_names names = {NULL, 0, 0};
    MDB_cursor *cur = NULL;
    MDB_txn *txn = NULL;
    size_t prefix_len;
    int r = KH_EINTERNAL;

    KH_ASSERT(s != NULL);
    KH_ASSERT(ret != NULL);
    if (lmdb_failed(s))
        return KH_EIO;
    if (prefix == NULL)
        return KH_EINVAL;
    prefix_len = strnlen(prefix, KH_STORAGE_KEY_BYTES_MAX + 1);
    if (prefix_len > KH_STORAGE_KEY_BYTES_MAX)
        return KH_EINVAL;
    r = lmdb_txn_enter(s, MDB_RDONLY, &txn);
    if (r != 0)
        goto out;
    r = lmdb_error(s, mdb_cursor_open(txn, s->dbi, &cur));
    if (r != 0)
        goto out;
    r = lmdb_list_scan(s, cur, prefix, prefix_len, &names);
    if (r != 0)
        goto out;
    lmdb_names_compact(&names);
    ret->keys = names.count > 0 ? names.keys : NULL;
    ret->count = names.count;
    if (names.count == 0)
        free(names.keys);
    names.keys = NULL;
    names.count = 0;
    r = 0; /* success */
out:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL) {
        mdb_txn_abort(txn);
        lmdb_txn_leave(s);
    }
    lmdb_names_free(&names);
    return r;
}

/* Remove s from the open list (if it is there). */
static void lmdb_unregister(struct lmdb_store *s)
{
    struct lmdb_store **p;

    KH_ASSERT(pthread_mutex_lock(&lmdb_open_lock) == 0);
    for (p = &lmdb_open_list; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    KH_ASSERT(pthread_mutex_unlock(&lmdb_open_lock) == 0);
    s->next = NULL;
}

/* Add s to the open list unless its directory is already open. */
static int lmdb_register(struct lmdb_store *s, char *errmsg, size_t errmsg_size)
{
    struct lmdb_store *it;
    int r = 0;

    KH_ASSERT(pthread_mutex_lock(&lmdb_open_lock) == 0);
    for (it = lmdb_open_list; it != NULL; it = it->next) {
        if (it->dev == s->dev && it->ino == s->ino) {
            r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                          "storage: %s is already open in this process "
                          "(as %s)",
                          s->dir, it->dir);
            break;
        }
    }
    if (r == 0) {
        s->next = lmdb_open_list;
        lmdb_open_list = s;
    }
    KH_ASSERT(pthread_mutex_unlock(&lmdb_open_lock) == 0);
    return r;
}

static void lmdb_store_free(struct lmdb_store *s)
{
    if (s == NULL)
        return;
    lmdb_unregister(s);
    if (s->env != NULL)
        mdb_env_close(s->env);
    if (s->locks_ready) {
        KH_ASSERT(pthread_rwlock_destroy(&s->map_lock) == 0);
        KH_ASSERT(pthread_mutex_destroy(&s->write_lock) == 0);
    }
    free(s);
}

static void lmdb_close(void *impl)
{
    lmdb_store_free(impl);
}

static const struct kh_storage_ops lmdb_ops = {
    .name = "lmdb",
    .get = lmdb_get,
    .put = lmdb_put,
    .del = lmdb_del,
    .list = lmdb_list,
    .batch = lmdb_batch,
    .close = lmdb_close,
};

/* mkdir -p dir (mode 0700 for what is created), then check it is a
 * writable directory and record its identity in s. */
static int lmdb_dir_prepare(struct lmdb_store *s, char *errmsg,
                            size_t errmsg_size)
{
    char path[PATH_MAX];
    struct stat st;
    size_t i, len = strlen(s->dir);

    memcpy(path, s->dir, len + 1);
    for (i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                             "storage: cannot create directory %s: %s", path,
                             strerror(errno));
        path[i] = s->dir[i];
    }
    if (stat(s->dir, &st) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "storage: %s: %s", s->dir,
                         strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "storage: %s is not a directory", s->dir);
    if (access(s->dir, W_OK | X_OK) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "storage: directory %s is not writable: %s", s->dir,
                         strerror(errno));
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    return 0;
}

static bool lmdb_rc_is_corrupt(int rc)
{
    return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
           rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND;
}

/* Open the environment and its unnamed database; read the map size. */
static int lmdb_env_start(struct lmdb_store *s, uint64_t map_bytes,
                          char *errmsg, size_t errmsg_size)
{
    MDB_envinfo info;
    MDB_txn *txn = NULL;
    int dead = 0, rc;

    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        s->env = NULL;
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "storage: cannot create LMDB environment: %s",
                         mdb_strerror(rc));
    }
    rc = mdb_env_set_maxreaders(s->env, LMDB_READERS_MAX);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, map_bytes);
    if (rc == 0)
        rc = mdb_env_open(s->env, s->dir,
                          MDB_NOTLS | (s->nosync ? MDB_NOSYNC : 0), 0600);
    if (rc == 0)
        (void)mdb_reader_check(s->env, &dead); /* crashed readers */
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, &s->dbi);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc == 0)
        rc = mdb_env_info(s->env, &info);
    if (rc != 0 && lmdb_rc_is_corrupt(rc))
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "storage: %s/data.mdb is not a valid LMDB file (%s)",
                         s->dir, mdb_strerror(rc));
    if (rc != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "storage: cannot open LMDB environment in %s: %s",
                         s->dir, mdb_strerror(rc));
    if (mdb_env_get_maxkeysize(s->env) < LMDB_KEY_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage: liblmdb was built with keys limited to %d "
                         "bytes; %d are needed",
                         mdb_env_get_maxkeysize(s->env), LMDB_KEY_BYTES_MAX);
    s->map_bytes = info.me_mapsize;
    return 0;
}

/* Round up to whole pages, as LMDB asks of map sizes. */
static uint64_t lmdb_page_round(uint64_t bytes)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

    return (bytes + page - 1) / page * page;
}

static int lmdb_open_check(const char *dir, uint64_t map_bytes,
                           uint64_t map_bytes_max, char *errmsg,
                           size_t errmsg_size)
{
    size_t len;

    if (dir == NULL || (len = strnlen(dir, LMDB_DIR_BYTES_MAX + 1)) == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "storage: an LMDB directory is required");
    if (len > LMDB_DIR_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "storage: LMDB directory path longer than %d bytes",
                         LMDB_DIR_BYTES_MAX);
    if (map_bytes < LMDB_MAP_BYTES_MIN || map_bytes > map_bytes_max ||
        map_bytes_max > KH_LMDB_MAP_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "storage: LMDB map size %llu bytes is outside "
                         "%u..%llu",
                         (unsigned long long)map_bytes, LMDB_MAP_BYTES_MIN,
                         (unsigned long long)map_bytes_max);
    return 0;
}

static int lmdb_open_full(const char *dir, uint64_t map_bytes,
                          uint64_t map_bytes_max, bool nosync,
                          struct kh_storage **ret_storage, char *errmsg,
                          size_t errmsg_size)
{
    struct kh_storage *storage = NULL;
    struct lmdb_store *s = NULL;
    pthread_rwlockattr_t attr;
    int r = KH_EINTERNAL;

    KH_ASSERT(ret_storage != NULL);
    if (map_bytes == 0)
        map_bytes = KH_LMDB_MAP_BYTES_DEFAULT < map_bytes_max
                        ? KH_LMDB_MAP_BYTES_DEFAULT
                        : map_bytes_max;
    map_bytes = lmdb_page_round(map_bytes);
    r = lmdb_open_check(dir, map_bytes, map_bytes_max, errmsg, errmsg_size);
    if (r != 0)
        return r;
    storage = calloc(1, sizeof(*storage));
    s = calloc(1, sizeof(*s));
    if (storage == NULL || s == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "storage: out of memory");
        goto out;
    }
    memcpy(s->dir, dir, strlen(dir) + 1);
    s->map_bytes_max = map_bytes_max;
    s->nosync = nosync;
    KH_ASSERT(pthread_rwlockattr_init(&attr) == 0);
    KH_ASSERT(pthread_rwlockattr_setkind_np(
                  &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) == 0);
    KH_ASSERT(pthread_rwlock_init(&s->map_lock, &attr) == 0);
    KH_ASSERT(pthread_rwlockattr_destroy(&attr) == 0);
    KH_ASSERT(pthread_mutex_init(&s->write_lock, NULL) == 0);
    s->locks_ready = true;
    r = lmdb_dir_prepare(s, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = lmdb_register(s, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = lmdb_env_start(s, map_bytes, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    storage->ops = &lmdb_ops;
    storage->impl = s;
    *ret_storage = storage;
    storage = NULL;
    s = NULL;
    r = 0; /* success */
out:
    lmdb_store_free(s);
    free(storage);
    return r;
}

int kh_storage_lmdb_open_with_max(const char *dir, uint64_t map_bytes,
                                  uint64_t map_bytes_max,
                                  struct kh_storage **ret_storage, char *errmsg,
                                  size_t errmsg_size)
{
    return lmdb_open_full(dir, map_bytes, map_bytes_max, false, ret_storage,
                          errmsg, errmsg_size);
}

int kh_storage_lmdb_open_nosync(const char *dir,
                                struct kh_storage **ret_storage, char *errmsg,
                                size_t errmsg_size)
{
    return lmdb_open_full(dir, 0, KH_LMDB_MAP_BYTES_MAX, true, ret_storage,
                          errmsg, errmsg_size);
}

int kh_storage_lmdb_sync(struct kh_storage *storage)
{
    struct lmdb_store *s;

    KH_ASSERT(storage != NULL);
    s = storage->impl;
    if (s->env == NULL)
        return KH_EIO;
    return mdb_env_sync(s->env, 1) == 0 ? 0 : KH_EIO;
}

int kh_storage_lmdb_open(const char *dir, uint64_t map_bytes,
                         struct kh_storage **ret_storage, char *errmsg,
                         size_t errmsg_size)
{
    return kh_storage_lmdb_open_with_max(dir, map_bytes, KH_LMDB_MAP_BYTES_MAX,
                                         ret_storage, errmsg, errmsg_size);
}

uint64_t kh_storage_lmdb_map_bytes(const struct kh_storage *storage)
{
    struct lmdb_store *s;
    uint64_t bytes;

    KH_ASSERT(storage != NULL);
    KH_ASSERT(storage->ops == &lmdb_ops);
    s = storage->impl;
    KH_ASSERT(pthread_rwlock_rdlock(&s->map_lock) == 0);
    bytes = s->map_bytes;
    KH_ASSERT(pthread_rwlock_unlock(&s->map_lock) == 0);
    return bytes;
}

/* The applied index stored in txn (0 when none); an LMDB or errno code. */
static int lmdb_applied_read(struct lmdb_store *s, MDB_txn *txn,
                             uint64_t *ret_index)
{
    static const char key[] = KH_STORAGE_LMDB_APPLIED_KEY;
    MDB_val k = {sizeof(key) - 1, (void *)key};
    MDB_val v;
    const uint8_t *p;
    uint64_t index = 0;
    size_t i;
    int rc;

    rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *ret_index = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != sizeof(uint64_t))
        return EIO;
    p = v.mv_data;
    for (i = 0; i < sizeof(uint64_t); i++)
        index = (index << 8) | p[i];
    *ret_index = index;
    return 0;
}

/* One attempt of kh_storage_lmdb_batch_applied(): an LMDB or errno code,
 * the applied index after it in *applied. */
static int lmdb_applied_txn(struct lmdb_store *s, MDB_txn *txn,
                            const struct kh_storage_op *ops, size_t count,
                            uint64_t index, uint64_t *applied)
{
    static const char key[] = KH_STORAGE_LMDB_APPLIED_KEY;
    MDB_val k = {sizeof(key) - 1, (void *)key};
    uint8_t be[sizeof(uint64_t)];
    MDB_val v = {sizeof(be), be};
    size_t i;
    int rc;

    rc = lmdb_applied_read(s, txn, applied);
    if (rc != 0 || index <= *applied)
        return rc;
    rc = lmdb_apply_ops(s, txn, ops, count);
    if (rc != 0)
        return rc;
    for (i = 0; i < sizeof(be); i++)
        be[i] = (uint8_t)(index >> (8 * (sizeof(be) - 1 - i)));
    rc = mdb_put(txn, s->dbi, &k, &v, 0);
    if (rc == 0)
        *applied = index;
    return rc;
}

int kh_storage_lmdb_batch_applied(struct kh_storage *storage,
                                  const struct kh_storage_op *ops,
                                  size_t count, uint64_t index,
                                  uint64_t *ret_applied)
{
    struct lmdb_store *s;
    MDB_txn *txn = NULL;
    uint64_t applied = 0;
    int attempt, rc, r = KH_EINTERNAL;

    KH_ASSERT(storage != NULL);
    KH_ASSERT(storage->ops == &lmdb_ops);
    s = storage->impl;
    r = lmdb_ops_check(ops, count);
    if (r != 0)
        return r;
    KH_ASSERT(pthread_mutex_lock(&s->write_lock) == 0);
    for (attempt = 0; attempt < LMDB_GROW_ATTEMPTS_MAX; attempt++) {
        if (lmdb_failed(s)) {
            r = KH_EIO;
            break;
        }
        r = lmdb_txn_enter(s, index == 0 ? MDB_RDONLY : 0, &txn);
        if (r != 0)
            break;
        rc = lmdb_applied_txn(s, txn, ops, count, index, &applied);
        if (rc == 0 && index != 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        lmdb_txn_leave(s);
        if (rc != MDB_MAP_FULL) {
            r = lmdb_error(s, rc);
            break;
        }
        r = lmdb_grow(s);
        if (r != 0)
            break;
    }
    if (attempt == LMDB_GROW_ATTEMPTS_MAX)
        r = KH_EFULL;
    KH_ASSERT(pthread_mutex_unlock(&s->write_lock) == 0);
    if (r == 0 && ret_applied != NULL)
        *ret_applied = applied;
    return r;
}
