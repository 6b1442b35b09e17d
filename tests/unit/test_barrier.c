/*
 * test_barrier.c - the storage barrier (hostd/barrier/barrier.c) and its
 * keyring (keyring.c): round trips, tamper detection, terms and rotation,
 * counters across seal/unseal and crashes, sealed behaviour, refused paths,
 * list/batch, concurrency; over an in-memory store (with fault injection)
 * and, when the LMDB backend is built, over real LMDB in a temp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "barrier/barrier.h"
#include "barrier/barrier_internal.h"
#include "barrier/keyring.h"
#include "common/err.h"
#include "common/secret.h"

#include "lib/fixture.h"

/* ---- an in-memory kh_storage: sorted array behind a mutex ---- */

struct mem_entry
{
    char *key;
    uint8_t *value;
    size_t len;
};

struct mem_store
{
    pthread_mutex_t mu;
    struct mem_entry *entries;
    size_t count;
    size_t cap;
    const char *fail_put_key; /* puts (and batches) to it fail: KH_EIO */
    bool fail_batch;
    struct kh_storage storage;
};

/* Index of key, or where it would go (*found false). Caller locks. */
static size_t mem_find(struct mem_store *m, const char *key, bool *found)
{
    size_t lo = 0, hi = m->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->entries[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int mem_get(void *impl, const char *key, uint8_t **ret_value,
                   size_t *ret_len)
{
    struct mem_store *m = impl;
    bool found;
    size_t i;
    int r = KH_ENOTFOUND;

    pthread_mutex_lock(&m->mu);
    i = mem_find(m, key, &found);
    if (found) {
        *ret_value = malloc(m->entries[i].len + 1);
        assert_non_null(*ret_value);
        memcpy(*ret_value, m->entries[i].value, m->entries[i].len);
        *ret_len = m->entries[i].len;
        r = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return r;
}

/* Caller locks. */
static void mem_put_locked(struct mem_store *m, const char *key,
                           const uint8_t *value, size_t len)
{
    bool found;
    size_t i = mem_find(m, key, &found);
    uint8_t *copy = malloc(len + 1);

    assert_non_null(copy);
    memcpy(copy, value, len);
    if (found) {
        free(m->entries[i].value);
    } else {
        if (m->count == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 16;
            m->entries = realloc(m->entries, m->cap * sizeof(*m->entries));
            assert_non_null(m->entries);
        }
        memmove(&m->entries[i + 1], &m->entries[i],
                (m->count - i) * sizeof(*m->entries));
        m->entries[i].key = strdup(key);
        assert_non_null(m->entries[i].key);
        m->count++;
    }
    m->entries[i].value = copy;
    m->entries[i].len = len;
}

static void mem_del_locked(struct mem_store *m, const char *key)
{
    bool found;
    size_t i = mem_find(m, key, &found);

    if (!found)
        return;
    free(m->entries[i].key);
    free(m->entries[i].value);
    memmove(&m->entries[i], &m->entries[i + 1],
            (m->count - i - 1) * sizeof(*m->entries));
    m->count--;
}

static int mem_put(void *impl, const char *key, const uint8_t *value,
                   size_t len)
{
    struct mem_store *m = impl;
    int r = 0;

    pthread_mutex_lock(&m->mu);
    if (m->fail_put_key != NULL && strcmp(key, m->fail_put_key) == 0)
        r = KH_EIO;
    else
        mem_put_locked(m, key, value, len);
    pthread_mutex_unlock(&m->mu);
    return r;
}

static int mem_del(void *impl, const char *key)
{
    struct mem_store *m = impl;

    pthread_mutex_lock(&m->mu);
    mem_del_locked(m, key);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static int mem_list(void *impl, const char *prefix, struct kh_storage_list *ret)
{
    struct mem_store *m = impl;
    size_t plen = strlen(prefix), i, n = 0;
    char **keys;

    pthread_mutex_lock(&m->mu);
    keys = calloc(m->count + 1, sizeof(*keys));
    assert_non_null(keys);
    for (i = 0; i < m->count; i++) {
        const char *rest = m->entries[i].key + plen;
        const char *slash;
        size_t len;

        if (strncmp(m->entries[i].key, prefix, plen) != 0)
            continue;
        slash = strchr(rest, '/');
        len = slash ? (size_t)(slash - rest) + 1 : strlen(rest);
        if (n > 0 && strlen(keys[n - 1]) == len &&
            strncmp(keys[n - 1], rest, len) == 0)
            continue;
        keys[n] = strndup(rest, len);
        assert_non_null(keys[n]);
        n++;
    }
    pthread_mutex_unlock(&m->mu);
    ret->keys = keys;
    ret->count = n;
    return 0;
}

static int mem_batch(void *impl, const struct kh_storage_op *ops, size_t count)
{
    struct mem_store *m = impl;
    size_t i;
    int r = 0;

    pthread_mutex_lock(&m->mu);
    for (i = 0; i < count; i++)
        if (m->fail_batch || (m->fail_put_key != NULL &&
                              strcmp(ops[i].key, m->fail_put_key) == 0))
            r = KH_EIO;
    for (i = 0; r == 0 && i < count; i++) {
        if (ops[i].kind == KH_STORAGE_PUT)
            mem_put_locked(m, ops[i].key, ops[i].value, ops[i].len);
        else
            mem_del_locked(m, ops[i].key);
    }
    pthread_mutex_unlock(&m->mu);
    return r;
}

static void mem_close(void *impl)
{
    struct mem_store *m = impl;
    size_t i;

    for (i = 0; i < m->count; i++) {
        free(m->entries[i].key);
        free(m->entries[i].value);
    }
    free(m->entries);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const struct kh_storage_ops mem_ops = {
    .name = "mem",
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .list = mem_list,
    .batch = mem_batch,
    .close = mem_close,
};

static struct mem_store *mem_open(void)
{
    struct mem_store *m = calloc(1, sizeof(*m));

    assert_non_null(m);
    pthread_mutex_init(&m->mu, NULL);
    m->storage.ops = &mem_ops;
    m->storage.impl = m;
    return m;
}

static void list_free(struct kh_storage_list *list)
{
    size_t i;

    for (i = 0; i < list->count; i++)
        free(list->keys[i]);
    free(list->keys);
    list->keys = NULL;
    list->count = 0;
}

/* ---- fixture: a barrier initialised over a fresh mem store ---- */

static const uint8_t root_key[KH_ROOT_KEY_BYTES] = {
    0x52, 0x6f, 0x6f, 0x74, 0x4b, 0x65, 0x79, 0x21, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
static const uint8_t wrong_key[KH_ROOT_KEY_BYTES] = {0x01};

struct fixture
{
    struct mem_store *mem;
    struct barrier *b;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->mem = mem_open();
    assert_int_equal(barrier_create(&f->mem->storage, &f->b), 0);
    assert_int_equal(barrier_initialize(f->b, root_key), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    barrier_free(f->b);
    mem_close(f->mem);
    free(f);
    return 0;
}

static void put_str(struct barrier *b, const char *path, const char *value)
{
    assert_int_equal(
        barrier_put(b, path, (const uint8_t *)value, strlen(value)), 0);
}

static void expect_str(struct barrier *b, const char *path, const char *want)
{
    uint8_t *value = NULL;
    size_t len = 0;

    assert_int_equal(barrier_get(b, path, &value, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(value, want, len);
    kh_free_secret(value, len);
}

/* A get that must fail with want and hand back nothing. */
static void expect_get_fails(struct barrier *b, const char *path, int want)
{
    uint8_t sentinel;
    uint8_t *value = &sentinel;
    size_t len = 777;

    assert_int_equal(barrier_get(b, path, &value, &len), want);
    assert_ptr_equal(value, &sentinel);
    assert_int_equal(len, 777);
}

static uint32_t active_term(struct barrier *b)
{
    struct barrier_key_status st;

    assert_int_equal(barrier_key_status(b, &st), 0);
    return st.term;
}

static void raw_get(struct fixture *f, const char *path, uint8_t **value,
                    size_t *len)
{
    assert_int_equal(kh_storage_get(&f->mem->storage, path, value, len), 0);
}

static void raw_put(struct fixture *f, const char *path, const uint8_t *value,
                    size_t len)
{
    assert_int_equal(kh_storage_put(&f->mem->storage, path, value, len), 0);
}

static bool contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle,
                     size_t needle_len)
{
    size_t i;

    for (i = 0; i + needle_len <= hay_len; i++)
        if (memcmp(hay + i, needle, needle_len) == 0)
            return true;
    return false;
}

/* ---- lifecycle ---- */

/* A new barrier is sealed and reports no keyring until initialised. */
static void test_create_sealed_uninitialized(void **state)
{
    struct mem_store *m = mem_open();
    struct barrier *b = NULL;
    bool init = true;

    (void)state;
    assert_int_equal(barrier_create(&m->storage, &b), 0);
    assert_true(barrier_sealed(b));
    assert_int_equal(barrier_initialized(b, &init), 0);
    assert_false(init);
    assert_int_equal(barrier_unseal(b, root_key), KH_EUNINIT);
    assert_true(barrier_sealed(b));
    assert_int_equal(barrier_initialize(b, root_key), 0);
    assert_false(barrier_sealed(b));
    assert_int_equal(barrier_initialized(b, &init), 0);
    assert_true(init);
    barrier_free(b);
    barrier_free(NULL);
    mem_close(m);
}

/* Initialising over an existing keyring fails with KH_ESTATE. */
static void test_initialize_twice(void **state)
{
    struct fixture *f = *state;
    struct barrier *b2 = NULL;

    assert_int_equal(barrier_initialize(f->b, root_key), KH_ESTATE);
    barrier_seal(f->b);
    assert_int_equal(barrier_initialize(f->b, root_key), KH_ESTATE);
    assert_int_equal(barrier_create(&f->mem->storage, &b2), 0);
    assert_int_equal(barrier_initialize(b2, wrong_key), KH_ESTATE);
    barrier_free(b2);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    assert_int_equal(active_term(f->b), 1);
}

/* key_status after initialise: term 1, no encryptions, installed now. */
static void test_key_status_initial(void **state)
{
    struct fixture *f = *state;
    struct barrier_key_status st;
    struct timespec now;

    assert_int_equal(barrier_key_status(f->b, &st), 0);
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &now), 0);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.encryptions, 0);
    assert_true(st.install_time.tv_sec <= now.tv_sec);
    assert_true(st.install_time.tv_sec >= now.tv_sec - 60);
    put_str(f->b, "a", "1");
    put_str(f->b, "b", "2");
    put_str(f->b, "a", "3");
    assert_int_equal(barrier_key_status(f->b, &st), 0);
    assert_int_equal(st.encryptions, 3);
}

/* ---- round trips ---- */

/* Values of many sizes (0 to 1 MiB) read back identical. */
static void test_round_trip_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, 16, 1000, 4096, 1u << 20};
    struct fixture *f = *state;
    uint8_t *value, *got = NULL;
    size_t i, j, len = 0;

    for (i = 0; i < KH_ARRAY_LEN(sizes); i++) {
        value = malloc(sizes[i] + 1);
        assert_non_null(value);
        for (j = 0; j < sizes[i]; j++)
            value[j] = (uint8_t)(j ^ i);
        assert_int_equal(barrier_put(f->b, "logical/x/v", value, sizes[i]), 0);
        assert_int_equal(barrier_get(f->b, "logical/x/v", &got, &len), 0);
        assert_int_equal(len, sizes[i]);
        if (len > 0)
            assert_memory_equal(got, value, len);
        kh_free_secret(got, len);
        free(value);
    }
}

/* Overwrites win, deletes remove, absent paths are KH_ENOTFOUND. */
static void test_overwrite_delete_notfound(void **state)
{
    struct fixture *f = *state;

    expect_get_fails(f->b, "nope", KH_ENOTFOUND);
    put_str(f->b, "k", "first");
    put_str(f->b, "k", "second");
    expect_str(f->b, "k", "second");
    assert_int_equal(barrier_delete(f->b, "k"), 0);
    expect_get_fails(f->b, "k", KH_ENOTFOUND);
    assert_int_equal(barrier_delete(f->b, "k"), 0);
}

/* The stored record has the documented layout under the active term. */
static void test_record_layout(void **state)
{
    struct fixture *f = *state;
    uint8_t *raw = NULL;
    size_t len = 0;
    uint32_t term = 0;

    put_str(f->b, "p", "hello");
    raw_get(f, "p", &raw, &len);
    assert_int_equal(len, 5 + BARRIER_OVERHEAD);
    assert_int_equal(aead_peek_term(raw, len, &term), 0);
    assert_int_equal(term, 1);
    assert_int_equal(raw[4], BARRIER_VERSION);
    free(raw);
}

/* Neither values nor the root key ever reach storage in clear. */
static void test_no_plaintext_in_storage(void **state)
{
    struct fixture *f = *state;
    uint8_t secret[64];
    size_t i;

    memset(secret, 0, sizeof(secret));
    memcpy(secret, "TOP-SECRET-PLAINTEXT-MARKER-0123456789", 38);
    for (i = 0; i < 20; i++) {
        char path[32];
        snprintf(path, sizeof(path), "logical/%zu", i);
        assert_int_equal(barrier_put(f->b, path, secret, sizeof(secret)), 0);
    }
    assert_int_equal(barrier_rotate(f->b), 0);
    barrier_seal(f->b);
    for (i = 0; i < f->mem->count; i++) {
        const struct mem_entry *e = &f->mem->entries[i];
        assert_false(contains(e->value, e->len, secret, 16));
        assert_false(contains(e->value, e->len, secret + 16, 16));
        assert_false(contains(e->value, e->len, root_key, 16));
        assert_false(contains(e->value, e->len, (const uint8_t *)"KHKR", 4));
    }
    assert_true(f->mem->count == 21);
}

/* ---- tamper detection ---- */

/* Flipping any byte of a stored record makes the read fail, no output. */
static void test_flip_each_byte(void **state)
{
    struct fixture *f = *state;
    uint8_t *raw = NULL;
    size_t len = 0, i;

    put_str(f->b, "flip", "some value worth protecting");
    raw_get(f, "flip", &raw, &len);
    for (i = 0; i < len; i++) {
        raw[i] ^= 0x01;
        raw_put(f, "flip", raw, len);
        expect_get_fails(f->b, "flip", KH_ECORRUPT);
        raw[i] ^= 0x01;
    }
    raw_put(f, "flip", raw, len);
    expect_str(f->b, "flip", "some value worth protecting");
    free(raw);
}

/* A record copied to another path fails authentication there. */
static void test_moved_record(void **state)
{
    struct fixture *f = *state;
    uint8_t *raw = NULL;
    size_t len = 0;

    put_str(f->b, "logical/a/password", "hunter2");
    raw_get(f, "logical/a/password", &raw, &len);
    raw_put(f, "logical/b/password", raw, len);
    expect_get_fails(f->b, "logical/b/password", KH_ECORRUPT);
    expect_str(f->b, "logical/a/password", "hunter2");
    free(raw);
}

/* Records truncated by 1..N bytes, or extended by one, fail. */
static void test_truncated_record(void **state)
{
    struct fixture *f = *state;
    uint8_t *raw = NULL, *longer;
    size_t len = 0, cut;

    put_str(f->b, "t", "truncate me");
    raw_get(f, "t", &raw, &len);
    for (cut = 1; cut <= len; cut++) {
        raw_put(f, "t", raw, len - cut);
        expect_get_fails(f->b, "t", KH_ECORRUPT);
    }
    longer = calloc(1, len + 1);
    assert_non_null(longer);
    memcpy(longer, raw, len);
    raw_put(f, "t", longer, len + 1);
    expect_get_fails(f->b, "t", KH_ECORRUPT);
    free(longer);
    free(raw);
}

/* A record naming a term the keyring lacks (or term 0) is corrupt. */
static void test_unknown_term(void **state)
{
    struct fixture *f = *state;
    uint8_t *raw = NULL;
    size_t len = 0;

    put_str(f->b, "u", "value");
    raw_get(f, "u", &raw, &len);
    raw[3] = 9;
    raw_put(f, "u", raw, len);
    expect_get_fails(f->b, "u", KH_ECORRUPT);
    raw[3] = 0;
    raw_put(f, "u", raw, len);
    expect_get_fails(f->b, "u", KH_ECORRUPT);
    raw[0] = 0xff;
    raw_put(f, "u", raw, len);
    expect_get_fails(f->b, "u", KH_ECORRUPT);
    free(raw);
}

/* ---- terms and rotation ---- */

/* After three rotations, values written under each term still read. */
static void test_rotate_three_times(void **state)
{
    struct fixture *f = *state;
    char path[16], value[16];
    uint8_t *raw = NULL;
    size_t len = 0;
    uint32_t t, term = 0;

    for (t = 1; t <= 4; t++) {
        assert_int_equal(active_term(f->b), t);
        snprintf(path, sizeof(path), "term%u", t);
        snprintf(value, sizeof(value), "value%u", t);
        put_str(f->b, path, value);
        raw_get(f, path, &raw, &len);
        assert_int_equal(aead_peek_term(raw, len, &term), 0);
        assert_int_equal(term, t);
        free(raw);
        if (t < 4)
            assert_int_equal(barrier_rotate(f->b), 0);
    }
    barrier_seal(f->b);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    assert_int_equal(active_term(f->b), 4);
    for (t = 1; t <= 4; t++) {
        snprintf(path, sizeof(path), "term%u", t);
        snprintf(value, sizeof(value), "value%u", t);
        expect_str(f->b, path, value);
    }
}

/* Rotation resets the counter and stamps a new install time. */
static void test_rotate_key_status(void **state)
{
    struct fixture *f = *state;
    struct barrier_key_status before, after;

    put_str(f->b, "x", "1");
    assert_int_equal(barrier_key_status(f->b, &before), 0);
    assert_int_equal(before.encryptions, 1);
    assert_int_equal(barrier_rotate(f->b), 0);
    assert_int_equal(barrier_key_status(f->b, &after), 0);
    assert_int_equal(after.term, before.term + 1);
    assert_int_equal(after.encryptions, 0);
    assert_true(after.install_time.tv_sec > before.install_time.tv_sec ||
                (after.install_time.tv_sec == before.install_time.tv_sec &&
                 after.install_time.tv_nsec >= before.install_time.tv_nsec));
}

/* Passing the threshold (10) rotates by itself; every value reads. */
static void test_automatic_rotation(void **state)
{
    struct fixture *f = *state;
    struct barrier_key_status st;
    char path[16];
    int i;

    barrier_set_rotation_threshold(f->b, 10);
    for (i = 0; i < 10; i++) {
        snprintf(path, sizeof(path), "auto%d", i);
        put_str(f->b, path, path);
    }
    assert_int_equal(barrier_key_status(f->b, &st), 0);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.encryptions, 10);
    put_str(f->b, "auto10", "auto10");
    assert_int_equal(barrier_key_status(f->b, &st), 0);
    assert_int_equal(st.term, 2);
    assert_int_equal(st.encryptions, 1);
    for (i = 11; i < 35; i++) {
        snprintf(path, sizeof(path), "auto%d", i);
        put_str(f->b, path, path);
    }
    assert_int_equal(active_term(f->b), 4);
    for (i = 0; i < 35; i++) {
        snprintf(path, sizeof(path), "auto%d", i);
        expect_str(f->b, path, path);
    }
}

/* A batch counts one encryption per put, rotates when it would pass the
 * threshold, and cannot exceed a whole term. */
static void test_batch_rotation_limit(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[6];
    const uint8_t v[] = "v";
    int i;

    barrier_set_rotation_threshold(f->b, 10);
    for (i = 0; i < 6; i++)
        ops[i] = (struct kh_storage_op){KH_STORAGE_PUT, "bk", v, 1};
    assert_int_equal(barrier_batch(f->b, ops, 6), 0);
    assert_int_equal(active_term(f->b), 1);
    assert_int_equal(barrier_batch(f->b, ops, 6), 0);
    assert_int_equal(active_term(f->b), 2);
    barrier_set_rotation_threshold(f->b, 5);
    assert_int_equal(barrier_batch(f->b, ops, 6), KH_ELIMIT);
    expect_str(f->b, "bk", "v");
}

/* A failed keyring write during rotation keeps the old term active and
 * every value readable. */
static void test_rotate_failure_keeps_term(void **state)
{
    struct fixture *f = *state;

    put_str(f->b, "before", "b");
    f->mem->fail_put_key = BARRIER_KEYRING_PATH;
    assert_int_equal(barrier_rotate(f->b), KH_EIO);
    f->mem->fail_put_key = NULL;
    assert_int_equal(active_term(f->b), 1);
    put_str(f->b, "after", "a");
    barrier_seal(f->b);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    assert_int_equal(active_term(f->b), 1);
    expect_str(f->b, "before", "b");
    expect_str(f->b, "after", "a");
    assert_int_equal(barrier_rotate(f->b), 0);
    assert_int_equal(active_term(f->b), 2);
}

/* ---- counters ---- */

/* Counters survive seal/unseal and never go backwards. */
static void test_counter_persists_across_seal(void **state)
{
    struct fixture *f = *state;
    struct barrier_key_status before, after;
    int i;

    for (i = 0; i < 25; i++)
        put_str(f->b, "c", "x");
    assert_int_equal(barrier_key_status(f->b, &before), 0);
    barrier_seal(f->b);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    assert_int_equal(barrier_key_status(f->b, &after), 0);
    assert_int_equal(after.term, before.term);
    assert_true(after.encryptions >= before.encryptions);
    assert_int_equal(after.install_time.tv_sec, before.install_time.tv_sec);
    assert_int_equal(after.install_time.tv_nsec, before.install_time.tv_nsec);
}

/* Without a clean seal (a crash), the stored reservation still covers
 * every encryption made: a second barrier over the same storage sees a
 * counter at least as high. */
static void test_counter_reservation_survives_crash(void **state)
{
    struct fixture *f = *state;
    struct barrier_key_status live, loaded;
    struct barrier *b2 = NULL;
    int i;

    barrier_set_persist_interval(f->b, 4);
    for (i = 0; i < 10; i++) {
        put_str(f->b, "r", "x");
        assert_int_equal(barrier_create(&f->mem->storage, &b2), 0);
        assert_int_equal(barrier_unseal(b2, root_key), 0);
        assert_int_equal(barrier_key_status(f->b, &live), 0);
        assert_int_equal(barrier_key_status(b2, &loaded), 0);
        assert_true(loaded.encryptions >= live.encryptions);
        assert_true(loaded.encryptions <= live.encryptions + 4);
        barrier_free(b2); /* its clean seal writes exact counts */
        b2 = NULL;
    }
}

/* A put whose counter reservation cannot be stored encrypts nothing. */
static void test_reservation_failure_fails_put(void **state)
{
    struct fixture *f = *state;

    f->mem->fail_put_key = BARRIER_KEYRING_PATH;
    assert_int_equal(barrier_put(f->b, "nores", (const uint8_t *)"x", 1),
                     KH_EIO);
    f->mem->fail_put_key = NULL;
    expect_get_fails(f->b, "nores", KH_ENOTFOUND);
    put_str(f->b, "nores", "x");
    expect_str(f->b, "nores", "x");
}

/* ---- seal and unseal ---- */

/* A wrong root key fails with KH_ECORRUPT and the barrier stays sealed. */
static void test_unseal_wrong_key(void **state)
{
    struct fixture *f = *state;

    put_str(f->b, "w", "v");
    barrier_seal(f->b);
    assert_int_equal(barrier_unseal(f->b, wrong_key), KH_ECORRUPT);
    assert_true(barrier_sealed(f->b));
    expect_get_fails(f->b, "w", KH_ESEALED);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    assert_false(barrier_sealed(f->b));
    expect_str(f->b, "w", "v");
    /* Unsealed: the same key is a no-op, another one is refused. */
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    assert_int_equal(barrier_unseal(f->b, wrong_key), KH_ECORRUPT);
    assert_false(barrier_sealed(f->b));
}

/* A tampered or swapped keyring record fails unseal with KH_ECORRUPT. */
static void test_unseal_tampered_keyring(void **state)
{
    struct fixture *f = *state;
    uint8_t *raw = NULL;
    size_t len = 0, i;

    barrier_seal(f->b);
    raw_get(f, BARRIER_KEYRING_PATH, &raw, &len);
    for (i = 0; i < len; i += 7) {
        raw[i] ^= 0x40;
        raw_put(f, BARRIER_KEYRING_PATH, raw, len);
        assert_int_equal(barrier_unseal(f->b, root_key), KH_ECORRUPT);
        assert_true(barrier_sealed(f->b));
        raw[i] ^= 0x40;
    }
    raw_put(f, BARRIER_KEYRING_PATH, raw, len - 1);
    assert_int_equal(barrier_unseal(f->b, root_key), KH_ECORRUPT);
    raw_put(f, BARRIER_KEYRING_PATH, raw, len);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    free(raw);
}

/* While sealed every data call returns KH_ESEALED. */
static void test_sealed_refuses_everything(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op op = {KH_STORAGE_PUT, "s", (const uint8_t *)"v", 1};
    struct kh_storage_list list = {0};
    struct barrier_key_status st;
    uint8_t *value = NULL;
    size_t len = 0;

    put_str(f->b, "s", "v");
    barrier_seal(f->b);
    barrier_seal(f->b); /* idempotent */
    assert_true(barrier_sealed(f->b));
    assert_int_equal(barrier_put(f->b, "s", (const uint8_t *)"v", 1),
                     KH_ESEALED);
    assert_int_equal(barrier_get(f->b, "s", &value, &len), KH_ESEALED);
    assert_int_equal(barrier_delete(f->b, "s"), KH_ESEALED);
    assert_int_equal(barrier_list(f->b, "", &list), KH_ESEALED);
    assert_int_equal(barrier_batch(f->b, &op, 1), KH_ESEALED);
    assert_int_equal(barrier_batch(f->b, &op, 0), KH_ESEALED);
    assert_int_equal(barrier_rotate(f->b), KH_ESEALED);
    assert_int_equal(barrier_key_status(f->b, &st), KH_ESEALED);
    assert_null(value);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    expect_str(f->b, "s", "v");
}

/* ---- paths and limits ---- */

/* Paths under core/seal/, the keyring path, empty and over-long paths are
 * refused. */
static void test_refused_paths(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op op = {KH_STORAGE_PUT, "core/seal/config",
                               (const uint8_t *)"v", 1};
    const uint8_t v[] = "v";
    char *longp = malloc(KH_STORAGE_KEY_BYTES_MAX + 2);

    assert_non_null(longp);
    assert_int_equal(barrier_put(f->b, "core/seal/config", v, 1), KH_EINVAL);
    assert_int_equal(barrier_put(f->b, "core/seal/", v, 1), KH_EINVAL);
    expect_get_fails(f->b, "core/seal/root", KH_EINVAL);
    assert_int_equal(barrier_delete(f->b, "core/seal/root"), KH_EINVAL);
    assert_int_equal(barrier_batch(f->b, &op, 1), KH_EINVAL);
    assert_int_equal(barrier_put(f->b, BARRIER_KEYRING_PATH, v, 1), KH_EINVAL);
    expect_get_fails(f->b, BARRIER_KEYRING_PATH, KH_EINVAL);
    assert_int_equal(barrier_delete(f->b, BARRIER_KEYRING_PATH), KH_EINVAL);
    assert_int_equal(barrier_put(f->b, "", v, 1), KH_EINVAL);
    assert_int_equal(barrier_put(f->b, NULL, v, 1), KH_EINVAL);
    /* "core/sealed" is not under the prefix and is allowed. */
    put_str(f->b, "core/sealed", "ok");
    memset(longp, 'a', KH_STORAGE_KEY_BYTES_MAX);
    longp[KH_STORAGE_KEY_BYTES_MAX] = '\0';
    put_str(f->b, longp, "max");
    expect_str(f->b, longp, "max");
    longp[KH_STORAGE_KEY_BYTES_MAX] = 'a';
    longp[KH_STORAGE_KEY_BYTES_MAX + 1] = '\0';
    assert_int_equal(barrier_put(f->b, longp, v, 1), KH_EINVAL);
    free(longp);
}

/* Values up to BARRIER_VALUE_BYTES_MAX are accepted, one more refused. */
static void test_value_size_limit(void **state)
{
    struct fixture *f = *state;
    uint8_t *big = calloc(1, BARRIER_VALUE_BYTES_MAX);
    uint8_t *got = NULL;
    size_t len = 0;

    assert_non_null(big);
    big[BARRIER_VALUE_BYTES_MAX - 1] = 0x5a;
    assert_int_equal(barrier_put(f->b, "big", big, BARRIER_VALUE_BYTES_MAX + 1),
                     KH_EINVAL);
    assert_int_equal(barrier_put(f->b, "big", big, BARRIER_VALUE_BYTES_MAX), 0);
    assert_int_equal(barrier_get(f->b, "big", &got, &len), 0);
    assert_int_equal(len, BARRIER_VALUE_BYTES_MAX);
    assert_int_equal(got[len - 1], 0x5a);
    kh_free_secret(got, len);
    free(big);
}

/* ---- list and batch ---- */

/* list through the barrier returns one level of plain key names. */
static void test_list(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_list list = {0};

    put_str(f->b, "logical/m/a", "1");
    put_str(f->b, "logical/m/b/c", "2");
    put_str(f->b, "logical/m/b/d", "3");
    put_str(f->b, "logical/n", "4");
    assert_int_equal(barrier_list(f->b, "logical/m/", &list), 0);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.keys[0], "a");
    assert_string_equal(list.keys[1], "b/");
    list_free(&list);
    assert_int_equal(barrier_list(f->b, NULL, &list), KH_EINVAL);
}

/* A batch of puts and deletes commits encrypted values together. */
static void test_batch_commits(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[3] = {
        {KH_STORAGE_PUT, "b/one", (const uint8_t *)"111", 3},
        {KH_STORAGE_PUT, "b/two", (const uint8_t *)"BATCHSECRET", 11},
        {KH_STORAGE_DELETE, "b/old", NULL, 0},
    };
    struct barrier_key_status st;
    uint8_t *raw = NULL;
    size_t len = 0;

    put_str(f->b, "b/old", "gone");
    assert_int_equal(barrier_batch(f->b, ops, 3), 0);
    expect_str(f->b, "b/one", "111");
    expect_str(f->b, "b/two", "BATCHSECRET");
    expect_get_fails(f->b, "b/old", KH_ENOTFOUND);
    raw_get(f, "b/two", &raw, &len);
    assert_int_equal(len, 11 + BARRIER_OVERHEAD);
    assert_false(contains(raw, len, (const uint8_t *)"BATCHSECRET", 11));
    free(raw);
    assert_int_equal(barrier_key_status(f->b, &st), 0);
    assert_int_equal(st.encryptions, 3);
}

/* A failing batch leaves storage unchanged: nothing of it is written. */
static void test_batch_atomic(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[2] = {
        {KH_STORAGE_PUT, "a1", (const uint8_t *)"new", 3},
        {KH_STORAGE_DELETE, "a2", NULL, 0},
    };
    struct kh_storage_op bad[2] = {
        {KH_STORAGE_PUT, "a1", (const uint8_t *)"new", 3},
        {(enum kh_storage_op_kind)7, "a2", NULL, 0},
    };

    put_str(f->b, "a1", "old");
    put_str(f->b, "a2", "keep");
    f->mem->fail_batch = true;
    assert_int_equal(barrier_batch(f->b, ops, 2), KH_EIO);
    f->mem->fail_batch = false;
    expect_str(f->b, "a1", "old");
    expect_str(f->b, "a2", "keep");
    assert_int_equal(barrier_batch(f->b, bad, 2), KH_EINVAL);
    assert_int_equal(barrier_batch(f->b, ops, KH_STORAGE_BATCH_OPS_MAX + 1),
                     KH_EINVAL);
    expect_str(f->b, "a1", "old");
    assert_int_equal(barrier_batch(f->b, ops, 2), 0);
    expect_str(f->b, "a1", "new");
    expect_get_fails(f->b, "a2", KH_ENOTFOUND);
}

/* ---- keyring serialisation ---- */

/* The keyring encodes and decodes to the same terms, keys and counters;
 * malformed encodings are KH_ECORRUPT. */
static void test_keyring_codec(void **state)
{
    struct keyring *kr = NULL, *back = NULL;
    struct timespec ts = {1700000000, 123456789};
    uint8_t key[AEAD_KEY_BYTES];
    uint8_t *buf = NULL;
    size_t len = 0;
    int t;

    (void)state;
    assert_int_equal(keyring_new(&kr), 0);
    for (t = 1; t <= 9; t++) {
        memset(key, t, sizeof(key));
        assert_int_equal(keyring_add_term(kr, key, &ts), 0);
        keyring_active(kr)->encryptions = (uint64_t)t * 1000;
    }
    assert_int_equal(keyring_encode(kr, 50000, &buf, &len), 0);
    assert_int_equal(len, KEYRING_HEADER_BYTES + 9 * KEYRING_ENTRY_BYTES);
    assert_int_equal(keyring_decode(buf, len, &back), 0);
    assert_int_equal(back->count, 9);
    assert_int_equal(keyring_active(back)->encryptions, 50000);
    assert_int_equal(back->terms[2].encryptions, 3000);
    assert_int_equal(back->terms[4].install_time.tv_nsec, 123456789);
    assert_memory_equal(keyring_key(back, 5), keyring_key(kr, 5),
                        AEAD_KEY_BYTES);
    assert_null(keyring_key(back, 0));
    assert_null(keyring_key(back, 10));
    keyring_free(back);
    back = NULL;
    assert_int_equal(keyring_decode(buf, len - 1, &back), KH_ECORRUPT);
    buf[KEYRING_HEADER_BYTES + KEYRING_ENTRY_BYTES + 3] = 7; /* term 2 -> 7 */
    assert_int_equal(keyring_decode(buf, len, &back), KH_ECORRUPT);
    buf[0] = 'X';
    assert_int_equal(keyring_decode(buf, len, &back), KH_ECORRUPT);
    assert_int_equal(keyring_decode(buf, 0, &back), KH_ECORRUPT);
    assert_null(back);
    kh_free_secret(buf, len);
    keyring_free(kr);
}

/* ---- concurrency ---- */

struct worker
{
    struct barrier *b;
    int id;
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char path[32], value[64];
    uint8_t *got = NULL;
    size_t len = 0;
    int i;

    for (i = 0; i < 400; i++) {
        snprintf(path, sizeof(path), "w%d/%d", w->id, i % 50);
        snprintf(value, sizeof(value), "worker %d iteration %d", w->id, i);
        if (barrier_put(w->b, path, (const uint8_t *)value, strlen(value)))
            w->failures++;
        if (barrier_get(w->b, path, &got, &len) != 0) {
            w->failures++;
            continue;
        }
        if (len != strlen(value) || memcmp(got, value, len) != 0)
            w->failures++;
        kh_free_secret(got, len);
    }
    return NULL;
}

/* Four threads put and get while the main thread rotates (and the low
 * threshold rotates by itself): every read returns what was written. */
static void test_concurrent_with_rotation(void **state)
{
    struct fixture *f = *state;
    struct worker w[4];
    pthread_t th[4];
    int i;

    barrier_set_rotation_threshold(f->b, 300);
    barrier_set_persist_interval(f->b, 16);
    for (i = 0; i < 4; i++) {
        w[i] = (struct worker){f->b, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (i = 0; i < 3; i++) {
        assert_int_equal(barrier_rotate(f->b), 0);
        usleep(2000);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    /* 1600 encryptions, at most 300 per term. */
    assert_true(active_term(f->b) >= 6);
    barrier_seal(f->b);
    assert_int_equal(barrier_unseal(f->b, root_key), 0);
    expect_str(f->b, "w3/49", "worker 3 iteration 399");
}

/* ---- over real LMDB ---- */

/* A fresh directory under $KH_TEST_TMP (or /tmp); free with tmp_remove. */
static char *tmp_make(void)
{
    char *dir = NULL;

    assert_int_equal(fixture_tmp_make("barrier", &dir), 0);
    return dir;
}

static void tmp_remove(char *dir)
{
    assert_int_equal(fixture_tmp_remove(dir), 0);
}

static struct kh_storage *lmdb_open_dir(const char *dir)
{
    struct kh_storage *s = NULL;
    char errmsg[KH_ERRMSG_SIZE] = "";
    char *sub;
    int r;

    assert_true(asprintf(&sub, "%s/db", dir) > 0);
    r = kh_storage_lmdb_open(sub, 0, &s, errmsg, sizeof(errmsg));
    if (r != 0)
        fail_msg("lmdb open: %s", errmsg);
    free(sub);
    return s;
}

/* The whole data file, for scanning. */
static uint8_t *read_file(const char *dir, const char *name, size_t *ret_len)
{
    char *path;
    FILE *fp;
    uint8_t *buf;
    long len;

    assert_true(asprintf(&path, "%s/db/%s", dir, name) > 0);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    len = ftell(fp);
    assert_true(len > 0);
    rewind(fp);
    buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    free(path);
    *ret_len = (size_t)len;
    return buf;
}

/* Over LMDB: values written under two terms survive close and reopen,
 * and neither they nor the root key appear in the data file. */
static void test_lmdb_round_trip_reopen(void **state)
{
    static const char marker[] = "LMDB-PLAINTEXT-MARKER-ABCDEFGHIJ";
    char *dir = tmp_make();
    struct kh_storage *s = lmdb_open_dir(dir);
    struct barrier *b = NULL;
    char path[32];
    uint8_t *file;
    size_t file_len;
    int i;

    (void)state;
    assert_int_equal(barrier_create(s, &b), 0);
    assert_int_equal(barrier_initialize(b, root_key), 0);
    for (i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "logical/k%d", i);
        put_str(b, path, marker);
        if (i == 19)
            assert_int_equal(barrier_rotate(b), 0);
    }
    barrier_free(b);
    kh_storage_close(s);
    file = read_file(dir, "data.mdb", &file_len);
    assert_false(contains(file, file_len, (const uint8_t *)marker, 16));
    assert_false(contains(file, file_len, root_key, 16));
    free(file);

    s = lmdb_open_dir(dir);
    assert_int_equal(barrier_create(s, &b), 0);
    assert_int_equal(barrier_unseal(b, wrong_key), KH_ECORRUPT);
    assert_int_equal(barrier_unseal(b, root_key), 0);
    assert_int_equal(active_term(b), 2);
    for (i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "logical/k%d", i);
        expect_str(b, path, marker);
    }
    barrier_free(b);
    kh_storage_close(s);
    tmp_remove(dir);
}

/* What the crash child reports after each completed put. */
struct crash_report
{
    int i;
    uint32_t term;
    uint64_t encryptions;
};

/* The child: put, rotate now and then (and by itself: threshold 5), report
 * each completed put, until killed. Never returns. */
static _Noreturn void crash_child(const char *dir, int fd, int start)
{
    struct kh_storage *s = NULL;
    struct barrier *b = NULL;
    struct barrier_key_status st;
    struct crash_report rep;
    char errmsg[KH_ERRMSG_SIZE], path[32], value[32], *sub;
    int i;

    if (asprintf(&sub, "%s/db", dir) < 0 ||
        kh_storage_lmdb_open(sub, 0, &s, errmsg, sizeof(errmsg)) != 0 ||
        barrier_create(s, &b) != 0 || barrier_unseal(b, root_key) != 0)
        _exit(2);
    barrier_set_rotation_threshold(b, 5);
    barrier_set_persist_interval(b, 3);
    for (i = start;; i++) {
        snprintf(path, sizeof(path), "crash/%06d", i);
        snprintf(value, sizeof(value), "value %d", i);
        if (barrier_put(b, path, (const uint8_t *)value, strlen(value)) != 0)
            _exit(3);
        if (i % 7 == 0 && barrier_rotate(b) != 0)
            _exit(4);
        if (barrier_key_status(b, &st) != 0)
            _exit(5);
        rep = (struct crash_report){i, st.term, st.encryptions};
        if (write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(6);
    }
}

/* Run the child, kill -9 it after `acks` reports; the last report read. */
static struct crash_report crash_round(const char *dir, int start, int acks)
{
    struct crash_report rep = {start - 1, 0, 0}, next;
    int fds[2], status = 0, n = 0;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(dir, fds[1], start);
    }
    close(fds[1]);
    while (read(fds[0], &next, sizeof(next)) == (ssize_t)sizeof(next)) {
        rep = next;
        if (++n == acks) {
            usleep((useconds_t)(acks % 4) * 300); /* vary the moment */
            assert_int_equal(kill(pid, SIGKILL), 0);
        }
    }
    close(fds[0]);
    assert_true(n >= acks);
    assert_true(rep.i >= start + acks - 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    return rep;
}

/* After each check, everything acknowledged reads back, nothing stored is
 * corrupt, and the counter did not go backwards. */
static void crash_check(const char *dir, const struct crash_report *last)
{
    struct kh_storage *s = lmdb_open_dir(dir);
    struct kh_storage_list list = {0};
    struct barrier_key_status st;
    struct barrier *b = NULL;
    char path[32], value[32];
    uint8_t *got = NULL;
    size_t i, len = 0;
    int k;

    assert_int_equal(barrier_create(s, &b), 0);
    assert_int_equal(barrier_unseal(b, root_key), 0);
    for (k = 0; k <= last->i; k++) {
        snprintf(path, sizeof(path), "crash/%06d", k);
        snprintf(value, sizeof(value), "value %d", k);
        expect_str(b, path, value);
    }
    assert_int_equal(barrier_list(b, "crash/", &list), 0);
    assert_true(list.count >= (size_t)last->i + 1);
    for (i = 0; i < list.count; i++) {
        snprintf(path, sizeof(path), "crash/%s", list.keys[i]);
        assert_int_equal(barrier_get(b, path, &got, &len), 0);
        kh_free_secret(got, len);
    }
    kh_storage_list_free(&list);
    assert_int_equal(barrier_key_status(b, &st), 0);
    assert_true(st.term >= last->term);
    if (st.term == last->term)
        assert_true(st.encryptions >= last->encryptions);
    barrier_free(b);
    kh_storage_close(s);
}

/* kill -9 of a process busy putting and rotating over LMDB, at several
 * moments, never leaves an unreadable store or a lost counter. */
static void test_lmdb_kill9(void **state)
{
    char *dir = tmp_make();
    struct kh_storage *s = lmdb_open_dir(dir);
    struct barrier *b = NULL;
    struct crash_report last = {-1, 0, 0};
    int round;

    (void)state;
    assert_int_equal(barrier_create(s, &b), 0);
    assert_int_equal(barrier_initialize(b, root_key), 0);
    barrier_free(b);
    kh_storage_close(s);
    for (round = 0; round < 4; round++) {
        last = crash_round(dir, last.i + 1, 10 + round * 9);
        crash_check(dir, &last);
    }
    tmp_remove(dir);
}

#define BARRIER_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_sealed_uninitialized),
        BARRIER_TEST(test_initialize_twice),
        BARRIER_TEST(test_key_status_initial),
        BARRIER_TEST(test_round_trip_sizes),
        BARRIER_TEST(test_overwrite_delete_notfound),
        BARRIER_TEST(test_record_layout),
        BARRIER_TEST(test_no_plaintext_in_storage),
        BARRIER_TEST(test_flip_each_byte),
        BARRIER_TEST(test_moved_record),
        BARRIER_TEST(test_truncated_record),
        BARRIER_TEST(test_unknown_term),
        BARRIER_TEST(test_rotate_three_times),
        BARRIER_TEST(test_rotate_key_status),
        BARRIER_TEST(test_automatic_rotation),
        BARRIER_TEST(test_batch_rotation_limit),
        BARRIER_TEST(test_rotate_failure_keeps_term),
        BARRIER_TEST(test_counter_persists_across_seal),
        BARRIER_TEST(test_counter_reservation_survives_crash),
        BARRIER_TEST(test_reservation_failure_fails_put),
        BARRIER_TEST(test_unseal_wrong_key),
        BARRIER_TEST(test_unseal_tampered_keyring),
        BARRIER_TEST(test_sealed_refuses_everything),
        BARRIER_TEST(test_refused_paths),
        BARRIER_TEST(test_value_size_limit),
        BARRIER_TEST(test_list),
        BARRIER_TEST(test_batch_commits),
        BARRIER_TEST(test_batch_atomic),
        cmocka_unit_test(test_keyring_codec),
        BARRIER_TEST(test_concurrent_with_rotation),
        cmocka_unit_test(test_lmdb_round_trip_reopen),
        cmocka_unit_test(test_lmdb_kill9),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
