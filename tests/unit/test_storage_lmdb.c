/*
 * test_storage_lmdb.c - the LMDB storage backend on real files: get, put,
 * delete, Vault's one-level list, atomic batches, limits, map growth and
 * its ceiling, reopening, corrupt and unusable directories, concurrent use,
 * and choosing the backend from a config stanza.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "config/config.h"
#include "config/limits.h"
#include "storage/lmdb_internal.h"
#include "storage/storage.h"

#include "lib/fixture.h"

struct fixture
{
    char *tmp; /* fixture_tmp_make() */
    char dir[PATH_MAX];
    struct kh_storage *s;
};

static void path_join(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);

    assert_true(n > 0);
    assert_true((size_t)n < size);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_non_null(f);
    assert_int_equal(fixture_tmp_make("storage", &f->tmp), 0);
    path_join(f->dir, sizeof(f->dir), f->tmp, "db");
    assert_int_equal(
        kh_storage_lmdb_open(f->dir, 0, &f->s, errmsg, sizeof(errmsg)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    kh_storage_close(f->s);
    assert_int_equal(fixture_tmp_remove(f->tmp), 0);
    free(f);
    return 0;
}

static void put_str(struct kh_storage *s, const char *key, const char *value)
{
    assert_int_equal(
        kh_storage_put(s, key, (const uint8_t *)value, strlen(value)), 0);
}

static void check_value(struct kh_storage *s, const char *key,
                        const char *value)
{
    uint8_t *got = NULL;
    size_t len = 0;

    assert_int_equal(kh_storage_get(s, key, &got, &len), 0);
    assert_int_equal(len, strlen(value));
    assert_memory_equal(got, value, len);
    free(got);
}

static void check_missing(struct kh_storage *s, const char *key)
{
    uint8_t *got = (uint8_t *)"untouched";
    size_t len = 7;

    assert_int_equal(kh_storage_get(s, key, &got, &len), KH_ENOTFOUND);
    assert_string_equal((const char *)got, "untouched");
    assert_int_equal(len, 7);
}

static void check_list(struct kh_storage *s, const char *prefix,
                       const char *const *want, size_t want_count)
{
    struct kh_storage_list list = {NULL, 0};
    size_t i;

    assert_int_equal(kh_storage_list(s, prefix, &list), 0);
    assert_int_equal(list.count, want_count);
    for (i = 0; i < want_count; i++)
        assert_string_equal(list.keys[i], want[i]);
    kh_storage_list_free(&list);
    assert_null(list.keys);
}

/* A long key: prefix, then filler up to len bytes in total. */
static char *long_key(const char *prefix, size_t len, char fill)
{
    char *key = malloc(len + 1);
    size_t plen = strlen(prefix);

    assert_non_null(key);
    assert_true(plen <= len);
    memcpy(key, prefix, plen);
    memset(key + plen, fill, len - plen);
    key[len] = '\0';
    return key;
}

/* put then get returns the same bytes; binary values survive. */
static void test_put_get(void **state)
{
    struct fixture *f = *state;
    const uint8_t bin[5] = {0, 1, 0xff, 0, 7};
    uint8_t *got = NULL;
    size_t len = 0;

    put_str(f->s, "core/keyring", "ciphertext");
    check_value(f->s, "core/keyring", "ciphertext");
    assert_int_equal(kh_storage_put(f->s, "bin", bin, sizeof(bin)), 0);
    assert_int_equal(kh_storage_get(f->s, "bin", &got, &len), 0);
    assert_int_equal(len, sizeof(bin));
    assert_memory_equal(got, bin, sizeof(bin));
    free(got);
}

/* An empty value is stored and returned as length 0. */
static void test_empty_value(void **state)
{
    struct fixture *f = *state;
    uint8_t *got = NULL;
    size_t len = 99;

    assert_int_equal(kh_storage_put(f->s, "empty", NULL, 0), 0);
    assert_int_equal(kh_storage_get(f->s, "empty", &got, &len), 0);
    assert_int_equal(len, 0);
    assert_non_null(got);
    free(got);
}

/* A second put replaces the value, longer or shorter. */
static void test_overwrite(void **state)
{
    struct fixture *f = *state;

    put_str(f->s, "k", "first");
    put_str(f->s, "k", "a much longer second value");
    check_value(f->s, "k", "a much longer second value");
    put_str(f->s, "k", "3");
    check_value(f->s, "k", "3");
}

/* A missing key is KH_ENOTFOUND and leaves the outputs alone. */
static void test_get_missing(void **state)
{
    struct fixture *f = *state;

    check_missing(f->s, "nope");
    put_str(f->s, "nope/child", "x");
    check_missing(f->s, "nope");
}

/* delete removes a key; deleting a missing key succeeds. */
static void test_delete(void **state)
{
    struct fixture *f = *state;

    put_str(f->s, "a", "1");
    put_str(f->s, "b", "2");
    assert_int_equal(kh_storage_delete(f->s, "a"), 0);
    check_missing(f->s, "a");
    check_value(f->s, "b", "2");
    assert_int_equal(kh_storage_delete(f->s, "a"), 0);
    assert_int_equal(kh_storage_delete(f->s, "never"), 0);
}

/* Vault list: one level; "a/c/d" and "a/c/e" show once as "c/". */
static void test_list_one_level(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {"b", "c/"};
    const char *want_c[] = {"d", "e"};

    put_str(f->s, "a/b", "1");
    put_str(f->s, "a/c/d", "2");
    put_str(f->s, "a/c/e", "3");
    put_str(f->s, "b/x", "4");
    put_str(f->s, "a", "5");
    check_list(f->s, "a/", want, 2);
    check_list(f->s, "a/c/", want_c, 2);
}

/* The empty prefix lists the top level. */
static void test_list_empty_prefix(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {"core/", "logical/", "top"};

    put_str(f->s, "logical/1/x", "1");
    put_str(f->s, "core/seal/config", "2");
    put_str(f->s, "core/keyring", "3");
    put_str(f->s, "top", "4");
    check_list(f->s, "", want, 3);
}

/* Deep folders, big sub-folders skipped by seeking, and keys whose bytes
 * sort around '/' come out sorted and unique. */
static void test_list_nested_and_order(void **state)
{
    struct fixture *f = *state;
    const char *want[] = {"b", "b-c", "b.", "b/", "b0", "c/"};
    char key[64];
    unsigned i;

    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "p/b/deep/%03u/leaf", i);
        put_str(f->s, key, "x");
    }
    put_str(f->s, "p/b", "1");
    put_str(f->s, "p/b-c", "2");
    put_str(f->s, "p/b.", "3");
    put_str(f->s, "p/b0", "4");
    put_str(f->s, "p/c/1/2/3", "5");
    check_list(f->s, "p/", want, 6);
    {
        const char *deep[] = {"deep/"};

        check_list(f->s, "p/b/", deep, 1);
    }
}

/* A prefix that is itself a key: the key is not listed (no name below
 * it); its children are. Without the slash, "x/y" lists "/" (Vault). */
static void test_list_prefix_is_key(void **state)
{
    struct fixture *f = *state;
    const char *want_slash[] = {"z"};
    const char *want_bare[] = {"/", "z"};
    const char *want_parent[] = {"y", "y/", "yz"};

    put_str(f->s, "x/y", "1");
    put_str(f->s, "x/y/", "2");
    put_str(f->s, "x/y/z", "3");
    put_str(f->s, "x/yz", "4");
    check_list(f->s, "x/y/", want_slash, 1);
    check_list(f->s, "x/y", want_bare, 2);
    check_list(f->s, "x/", want_parent, 3);
}

/* No matches: count 0, keys NULL, return 0 (also on an empty store). */
static void test_list_no_matches(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_list list = {NULL, 0};

    assert_int_equal(kh_storage_list(f->s, "", &list), 0);
    assert_int_equal(list.count, 0);
    assert_null(list.keys);
    put_str(f->s, "a/b", "1");
    assert_int_equal(kh_storage_list(f->s, "b/", &list), 0);
    assert_int_equal(list.count, 0);
    assert_null(list.keys);
    assert_int_equal(kh_storage_list(f->s, "a/b/", &list), 0);
    assert_int_equal(list.count, 0);
    kh_storage_list_free(&list);
    assert_int_equal(kh_storage_list(f->s, NULL, &list), KH_EINVAL);
}

/* list() returns up to KH_STORAGE_LIST_KEYS_MAX names; one more is
 * KH_ELIMIT, while a deeper prefix still lists. */
static void test_list_limit(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[KH_STORAGE_BATCH_OPS_MAX];
    struct kh_storage_list list = {NULL, 0};
    char(*keys)[16] = calloc(KH_STORAGE_BATCH_OPS_MAX, sizeof(*keys));
    const char *want[] = {"x"};
    size_t done = 0, i, n;

    assert_non_null(keys);
    while (done < KH_STORAGE_LIST_KEYS_MAX) {
        n = KH_STORAGE_LIST_KEYS_MAX - done;
        if (n > KH_STORAGE_BATCH_OPS_MAX)
            n = KH_STORAGE_BATCH_OPS_MAX;
        for (i = 0; i < n; i++) {
            snprintf(keys[i], sizeof(keys[i]), "l/%06zu", done + i);
            ops[i] = (struct kh_storage_op){KH_STORAGE_PUT, keys[i],
                                            (const uint8_t *)"v", 1};
        }
        assert_int_equal(kh_storage_batch(f->s, ops, n), 0);
        done += n;
    }
    assert_int_equal(kh_storage_list(f->s, "l/", &list), 0);
    assert_int_equal(list.count, KH_STORAGE_LIST_KEYS_MAX);
    assert_string_equal(list.keys[0], "000000");
    snprintf(keys[0], sizeof(keys[0]), "%06zu",
             (size_t)KH_STORAGE_LIST_KEYS_MAX - 1);
    assert_string_equal(list.keys[KH_STORAGE_LIST_KEYS_MAX - 1], keys[0]);
    kh_storage_list_free(&list);
    put_str(f->s, "l/zzz/x", "one too many");
    assert_int_equal(kh_storage_list(f->s, "l/", &list), KH_ELIMIT);
    assert_null(list.keys);
    check_list(f->s, "l/zzz/", want, 1);
    free(keys);
}

/* Keys beyond LMDB's 511-byte key limit: stored, read, overwritten,
 * listed and deleted like short ones, also when they share their first
 * 478 bytes. */
static void test_long_keys(void **state)
{
    struct fixture *f = *state;
    char *base = long_key("p/", 600, 'x');
    char k1[700], k2[700], k3[700], k4[700];
    char base_dir[610];
    const char *want[] = {"f/", "k1", "k2"};
    const char *want_f[] = {"1", "2"};
    struct kh_storage_list list = {NULL, 0};

    path_join(k1, sizeof(k1), base, "k1");
    path_join(k2, sizeof(k2), base, "k2");
    path_join(k3, sizeof(k3), base, "f/1");
    path_join(k4, sizeof(k4), base, "f/2");
    path_join(base_dir, sizeof(base_dir), base, "");
    put_str(f->s, k1, "one");
    put_str(f->s, k2, "two");
    put_str(f->s, k3, "three");
    put_str(f->s, k4, "four");
    put_str(f->s, k1, "one again");
    check_value(f->s, k1, "one again");
    check_value(f->s, k4, "four");
    check_missing(f->s, base);
    check_list(f->s, base_dir, want, 3);
    path_join(base_dir, sizeof(base_dir), base, "f/");
    check_list(f->s, base_dir, want_f, 2);
    assert_int_equal(kh_storage_list(f->s, "p/", &list), 0);
    assert_int_equal(list.count, 1);
    assert_int_equal(strlen(list.keys[0]), 599);
    kh_storage_list_free(&list);
    assert_int_equal(kh_storage_delete(f->s, k3), 0);
    check_missing(f->s, k3);
    check_value(f->s, k4, "four");
    free(base);
}

/* Keys of exactly KH_STORAGE_KEY_BYTES_MAX work; one byte more and the
 * empty key are KH_EINVAL for every operation. */
static void test_key_limits(void **state)
{
    struct fixture *f = *state;
    char *max = long_key("lim/", KH_STORAGE_KEY_BYTES_MAX, 'm');
    char *over = long_key("lim/", KH_STORAGE_KEY_BYTES_MAX + 1, 'm');
    struct kh_storage_op op = {KH_STORAGE_PUT, over, (const uint8_t *)"v", 1};
    struct kh_storage_list list = {NULL, 0};
    uint8_t *got = NULL;
    size_t len = 0;

    put_str(f->s, max, "at max");
    check_value(f->s, max, "at max");
    assert_int_equal(kh_storage_put(f->s, over, (const uint8_t *)"v", 1),
                     KH_EINVAL);
    assert_int_equal(kh_storage_get(f->s, over, &got, &len), KH_EINVAL);
    assert_int_equal(kh_storage_delete(f->s, over), KH_EINVAL);
    assert_int_equal(kh_storage_batch(f->s, &op, 1), KH_EINVAL);
    assert_int_equal(kh_storage_list(f->s, over, &list), KH_EINVAL);
    assert_int_equal(kh_storage_put(f->s, "", (const uint8_t *)"v", 1),
                     KH_EINVAL);
    assert_int_equal(kh_storage_get(f->s, "", &got, &len), KH_EINVAL);
    assert_int_equal(kh_storage_put(f->s, NULL, (const uint8_t *)"v", 1),
                     KH_EINVAL);
    assert_int_equal(kh_storage_delete(f->s, max), 0);
    check_missing(f->s, max);
    free(max);
    free(over);
}

/* A value of KH_STORAGE_VALUE_BYTES_MAX is stored; one byte more is
 * KH_EINVAL. */
static void test_value_limits(void **state)
{
    struct fixture *f = *state;
    uint8_t *value = malloc(KH_STORAGE_VALUE_BYTES_MAX + 1);
    uint8_t *got = NULL;
    size_t len = 0;

    assert_non_null(value);
    memset(value, 0x5a, KH_STORAGE_VALUE_BYTES_MAX + 1);
    value[KH_STORAGE_VALUE_BYTES_MAX - 1] = 0x01;
    assert_int_equal(
        kh_storage_put(f->s, "big", value, KH_STORAGE_VALUE_BYTES_MAX + 1),
        KH_EINVAL);
    assert_int_equal(
        kh_storage_put(f->s, "big", value, KH_STORAGE_VALUE_BYTES_MAX), 0);
    assert_int_equal(kh_storage_get(f->s, "big", &got, &len), 0);
    assert_int_equal(len, KH_STORAGE_VALUE_BYTES_MAX);
    assert_memory_equal(got, value, KH_STORAGE_VALUE_BYTES_MAX);
    free(got);
    free(value);
}

/* A batch of puts and deletes commits together. */
static void test_batch_commits(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[4] = {
        {KH_STORAGE_PUT, "b/1", (const uint8_t *)"one", 3},
        {KH_STORAGE_PUT, "b/2", (const uint8_t *)"two", 3},
        {KH_STORAGE_DELETE, "b/old", NULL, 0},
        {KH_STORAGE_PUT, "b/1", (const uint8_t *)"uno", 3},
    };
    const char *want[] = {"1", "2"};

    put_str(f->s, "b/old", "gone soon");
    assert_int_equal(kh_storage_batch(f->s, ops, 4), 0);
    check_value(f->s, "b/1", "uno");
    check_value(f->s, "b/2", "two");
    check_missing(f->s, "b/old");
    check_list(f->s, "b/", want, 2);
    assert_int_equal(kh_storage_batch(f->s, ops, 0), 0);
}

/* A batch with one invalid op (bad key, oversize value, unknown kind)
 * changes nothing; more than KH_STORAGE_BATCH_OPS_MAX ops is KH_EINVAL. */
static void test_batch_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[3] = {
        {KH_STORAGE_PUT, "t/1", (const uint8_t *)"new", 3},
        {KH_STORAGE_DELETE, "t/keep", NULL, 0},
        {KH_STORAGE_PUT, "", (const uint8_t *)"x", 1},
    };
    struct kh_storage_op *many;
    size_t i;

    put_str(f->s, "t/keep", "kept");
    assert_int_equal(kh_storage_batch(f->s, ops, 3), KH_EINVAL);
    ops[2].key = "t/2";
    ops[2].len = KH_STORAGE_VALUE_BYTES_MAX + 1;
    assert_int_equal(kh_storage_batch(f->s, ops, 3), KH_EINVAL);
    ops[2].len = 1;
    ops[2].kind = (enum kh_storage_op_kind)7;
    assert_int_equal(kh_storage_batch(f->s, ops, 3), KH_EINVAL);
    check_missing(f->s, "t/1");
    check_value(f->s, "t/keep", "kept");

    many = calloc(KH_STORAGE_BATCH_OPS_MAX + 1, sizeof(*many));
    assert_non_null(many);
    for (i = 0; i <= KH_STORAGE_BATCH_OPS_MAX; i++)
        many[i] = (struct kh_storage_op){KH_STORAGE_PUT, "m/k",
                                         (const uint8_t *)"v", 1};
    assert_int_equal(kh_storage_batch(f->s, many, KH_STORAGE_BATCH_OPS_MAX + 1),
                     KH_EINVAL);
    check_missing(f->s, "m/k");
    assert_int_equal(kh_storage_batch(f->s, many, KH_STORAGE_BATCH_OPS_MAX), 0);
    check_value(f->s, "m/k", "v");
    free(many);
}

/* A 64 KiB map grows on demand to take 10 MB of values, then reopens. */
static void test_map_grows(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX + 8], key[32], errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;
    uint8_t value[64 * 1024], *got = NULL;
    size_t len = 0;
    unsigned i;

    path_join(dir, sizeof(dir), f->tmp, "grow");
    assert_int_equal(
        kh_storage_lmdb_open(dir, 64 * 1024, &s, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(kh_storage_lmdb_map_bytes(s), 64 * 1024);
    for (i = 0; i < 160; i++) {
        memset(value, (int)i, sizeof(value));
        snprintf(key, sizeof(key), "g/%03u", i);
        assert_int_equal(kh_storage_put(s, key, value, sizeof(value)), 0);
    }
    assert_true(kh_storage_lmdb_map_bytes(s) >= 10u * 1024 * 1024);
    kh_storage_close(s);
    s = NULL;
    assert_int_equal(
        kh_storage_lmdb_open(dir, 64 * 1024, &s, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(kh_storage_get(s, "g/159", &got, &len), 0);
    assert_int_equal(len, sizeof(value));
    assert_int_equal(got[0], 159);
    free(got);
    kh_storage_close(s);
}

/* At its ceiling the map cannot grow: KH_EFULL, and the store still
 * serves reads, deletes and small writes. */
static void test_map_full(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX + 8], key[32], errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;
    uint8_t value[16 * 1024], *got = NULL;
    size_t len = 0;
    unsigned i;
    int r = 0;

    path_join(dir, sizeof(dir), f->tmp, "full");
    assert_int_equal(kh_storage_lmdb_open_with_max(dir, 64 * 1024, 256 * 1024,
                                                   &s, errmsg, sizeof(errmsg)),
                     0);
    memset(value, 0xab, sizeof(value));
    for (i = 0; i < 64 && r == 0; i++) {
        snprintf(key, sizeof(key), "f/%02u", i);
        r = kh_storage_put(s, key, value, sizeof(value));
    }
    assert_int_equal(r, KH_EFULL);
    assert_true(i > 4);
    assert_int_equal(kh_storage_lmdb_map_bytes(s), 256 * 1024);
    check_missing(s, key);
    assert_int_equal(kh_storage_get(s, "f/00", &got, &len), 0);
    assert_int_equal(len, sizeof(value));
    assert_memory_equal(got, value, len);
    free(got);
    assert_int_equal(kh_storage_delete(s, "f/00"), 0);
    assert_int_equal(kh_storage_delete(s, "f/01"), 0);
    put_str(s, "small", "fits");
    check_value(s, "small", "fits");
    /* A map larger than its ceiling is refused at open. */
    kh_storage_close(s);
    s = NULL;
    assert_int_equal(kh_storage_lmdb_open_with_max(dir, 512 * 1024, 256 * 1024,
                                                   &s, errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    assert_null(s);
}

/* Data survives close and reopen, long keys included. */
static void test_reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    char errmsg[KH_ERRMSG_SIZE] = "";
    char *key = long_key("r/", 1000, 'r');
    const char *want[] = {"a", "b/", key + 2};

    put_str(f->s, "r/a", "alpha");
    put_str(f->s, "r/b/c", "beta");
    put_str(f->s, key, "long");
    kh_storage_close(f->s);
    f->s = NULL;
    assert_int_equal(
        kh_storage_lmdb_open(f->dir, 0, &f->s, errmsg, sizeof(errmsg)), 0);
    check_value(f->s, "r/a", "alpha");
    check_value(f->s, "r/b/c", "beta");
    check_value(f->s, key, "long");
    check_list(f->s, "r/", want, 3);
    free(key);
}

static void write_file(const char *path, uint8_t byte, size_t len)
{
    uint8_t buf[4096];
    FILE *fp = fopen(path, "wb");
    size_t done;

    assert_non_null(fp);
    memset(buf, byte, sizeof(buf));
    for (done = 0; done < len; done += sizeof(buf))
        assert_int_equal(fwrite(buf, 1, sizeof(buf), fp), sizeof(buf));
    assert_int_equal(fclose(fp), 0);
}

/* A garbage data.mdb is refused with a message naming the file. */
static void test_corrupt_file(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX + 8], path[PATH_MAX + 32];
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;

    path_join(dir, sizeof(dir), f->tmp, "corrupt");
    assert_int_equal(mkdir(dir, 0700), 0);
    path_join(path, sizeof(path), dir, "data.mdb");
    write_file(path, 0xa5, 16384);
    assert_int_equal(kh_storage_lmdb_open(dir, 0, &s, errmsg, sizeof(errmsg)),
                     KH_EIO);
    assert_null(s);
    assert_non_null(strstr(errmsg, "data.mdb is not a valid LMDB file"));
    assert_non_null(strstr(errmsg, dir));
    /* The failed open released the directory: a retry fails the same. */
    assert_int_equal(kh_storage_lmdb_open(dir, 0, &s, errmsg, sizeof(errmsg)),
                     KH_EIO);
    assert_non_null(strstr(errmsg, "is not a valid LMDB file"));
}

/* Corruption found while running marks the store failed: KH_EIO from then
 * on for every operation. */
static void test_corruption_marks_failed(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 32];
    struct kh_storage_list list = {NULL, 0};
    uint8_t zeros[4096], *got = NULL;
    size_t len = 0;
    off_t off, size;
    int fd;

    put_str(f->s, "c/1", "one");
    put_str(f->s, "c/2", "two");
    path_join(path, sizeof(path), f->dir, "data.mdb");
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    size = lseek(fd, 0, SEEK_END);
    memset(zeros, 0, sizeof(zeros));
    /* Pages 0 and 1 are the meta pages; zero every tree page after them. */
    for (off = 2 * 4096; off < size; off += 4096)
        assert_int_equal(pwrite(fd, zeros, sizeof(zeros), off), 4096);
    assert_int_equal(close(fd), 0);
    assert_int_equal(kh_storage_get(f->s, "c/1", &got, &len), KH_EIO);
    assert_int_equal(kh_storage_get(f->s, "c/2", &got, &len), KH_EIO);
    assert_int_equal(kh_storage_put(f->s, "c/3", (const uint8_t *)"x", 1),
                     KH_EIO);
    assert_int_equal(kh_storage_delete(f->s, "c/1"), KH_EIO);
    assert_int_equal(kh_storage_list(f->s, "c/", &list), KH_EIO);
}

/* A directory that cannot be created (a path below a regular file) is
 * KH_EIO naming the path and the reason. */
static void test_unwritable_dir(void **state)
{
    struct fixture *f = *state;
    char file[PATH_MAX + 8], dir[PATH_MAX + 16];
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;

    path_join(file, sizeof(file), f->tmp, "file");
    write_file(file, 0, 4096);
    path_join(dir, sizeof(dir), file, "sub");
    assert_int_equal(kh_storage_lmdb_open(dir, 0, &s, errmsg, sizeof(errmsg)),
                     KH_EIO);
    assert_null(s);
    assert_non_null(strstr(errmsg, dir));
    assert_non_null(strstr(errmsg, strerror(ENOTDIR)));
    /* The regular file itself is not a directory either. */
    assert_int_equal(kh_storage_lmdb_open(file, 0, &s, errmsg, sizeof(errmsg)),
                     KH_EIO);
    assert_non_null(strstr(errmsg, "not a directory"));
    assert_int_equal(kh_storage_lmdb_open("", 0, &s, errmsg, sizeof(errmsg)),
                     KH_EINVAL);
}

/* Missing parent directories are created. */
static void test_creates_parents(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX + 16], errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;
    struct stat st;

    path_join(dir, sizeof(dir), f->tmp, "x/y/z/");
    assert_int_equal(kh_storage_lmdb_open(dir, 0, &s, errmsg, sizeof(errmsg)),
                     0);
    put_str(s, "k", "v");
    kh_storage_close(s);
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
}

/* One directory cannot be open twice in a process, however spelled; after
 * close it can be opened again. */
static void test_open_twice(void **state)
{
    struct fixture *f = *state;
    char other[PATH_MAX + 8], errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;

    assert_int_equal(
        kh_storage_lmdb_open(f->dir, 0, &s, errmsg, sizeof(errmsg)),
        KH_ECONFIG);
    assert_null(s);
    assert_non_null(strstr(errmsg, "already open"));
    path_join(other, sizeof(other), f->tmp, "./db/");
    assert_int_equal(kh_storage_lmdb_open(other, 0, &s, errmsg, sizeof(errmsg)),
                     KH_ECONFIG);
    kh_storage_close(f->s);
    f->s = NULL;
    assert_int_equal(
        kh_storage_lmdb_open(other, 0, &f->s, errmsg, sizeof(errmsg)), 0);
}

/* kh_storage_open picks the backend named by the stanza and rejects a
 * missing stanza, an unknown type and a missing path. */
static void test_open_from_stanza(void **state)
{
    struct fixture *f = *state;
    struct kh_config_stanza stanza;
    char type[16] = "lmdb", name[8] = "path", dir[PATH_MAX + 8];
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;

    memset(&stanza, 0, sizeof(stanza));
    path_join(dir, sizeof(dir), f->tmp, "stanza");
    assert_int_equal(kh_storage_open(&stanza, &s, errmsg, sizeof(errmsg)),
                     KH_ECONFIG);
    stanza.type = type;
    assert_int_equal(kh_storage_open(&stanza, &s, errmsg, sizeof(errmsg)),
                     KH_ECONFIG);
    assert_non_null(strstr(errmsg, "path"));
    stanza.params[0].name = name;
    stanza.params[0].value = dir;
    stanza.param_count = 1;
    assert_int_equal(kh_storage_open(&stanza, &s, errmsg, sizeof(errmsg)), 0);
    assert_string_equal(s->ops->name, "lmdb");
    put_str(s, "k", "v");
    check_value(s, "k", "v");
    kh_storage_close(s);
    s = NULL;
    snprintf(type, sizeof(type), "consul");
    assert_int_equal(kh_storage_open(&stanza, &s, errmsg, sizeof(errmsg)),
                     KH_ECONFIG);
    assert_non_null(strstr(errmsg, "consul"));
    assert_null(s);
    kh_storage_close(NULL);
}

struct worker
{
    struct kh_storage *s;
    int role; /* 0 writer, 1 reader, 2 lister */
    unsigned seed;
    unsigned long ops;
    int errors;
};

static unsigned long written; /* keys c/0 .. c/(written-1) exist */
static int stop;

static void make_value(char *buf, size_t size, unsigned long i)
{
    memset(buf, 'a' + (int)(i % 26), size);
    snprintf(buf, size, "%lu", i);
}

static int worker_step(struct worker *w)
{
    char key[32], value[1024];
    struct kh_storage_list list = {NULL, 0};
    unsigned long n = __atomic_load_n(&written, __ATOMIC_ACQUIRE), i;
    uint8_t *got = NULL;
    size_t len = 0;
    int bad;

    if (w->role == 0) {
        snprintf(key, sizeof(key), "c/%lu", n);
        make_value(value, sizeof(value), n);
        if (kh_storage_put(w->s, key, (uint8_t *)value, sizeof(value)) != 0)
            return 1;
        __atomic_store_n(&written, n + 1, __ATOMIC_RELEASE);
        return 0;
    }
    if (w->role == 2) {
        if (kh_storage_list(w->s, "c/", &list) != 0)
            return 1;
        bad = list.count < n;
        kh_storage_list_free(&list);
        return bad;
    }
    if (n == 0)
        return 0;
    i = (unsigned long)rand_r(&w->seed) % n;
    snprintf(key, sizeof(key), "c/%lu", i);
    make_value(value, sizeof(value), i);
    if (kh_storage_get(w->s, key, &got, &len) != 0)
        return 1;
    bad = len != sizeof(value) || memcmp(got, value, len) != 0;
    free(got);
    return bad;
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;

    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        w->errors += worker_step(w);
        w->ops++;
    }
    return NULL;
}

/* One writer, two readers and a lister for a second on a map that starts
 * at 64 KiB, so it grows while readers run: no errors, no stale data. */
static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX + 8], errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_storage *s = NULL;
    struct worker w[4];
    pthread_t t[4];
    struct timespec one_second = {1, 0};
    unsigned i;

    path_join(dir, sizeof(dir), f->tmp, "concurrent");
    assert_int_equal(
        kh_storage_lmdb_open(dir, 64 * 1024, &s, errmsg, sizeof(errmsg)), 0);
    written = 0;
    stop = 0;
    for (i = 0; i < 4; i++) {
        w[i] = (struct worker){s, i == 0 ? 0 : (i == 3 ? 2 : 1), i + 1, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    nanosleep(&one_second, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].errors, 0);
        assert_true(w[i].ops > 0);
    }
    print_message("concurrent: %lu writes, %lu+%lu reads, %lu lists, map "
                  "%llu bytes\n",
                  w[0].ops, w[1].ops, w[2].ops, w[3].ops,
                  (unsigned long long)kh_storage_lmdb_map_bytes(s));
    assert_true(kh_storage_lmdb_map_bytes(s) > 64 * 1024);
    kh_storage_close(s);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_put_get),
        T(test_empty_value),
        T(test_overwrite),
        T(test_get_missing),
        T(test_delete),
        T(test_list_one_level),
        T(test_list_empty_prefix),
        T(test_list_nested_and_order),
        T(test_list_prefix_is_key),
        T(test_list_no_matches),
        T(test_list_limit),
        T(test_long_keys),
        T(test_key_limits),
        T(test_value_limits),
        T(test_batch_commits),
        T(test_batch_all_or_nothing),
        T(test_map_grows),
        T(test_map_full),
        T(test_reopen_keeps_data),
        T(test_corrupt_file),
        T(test_corruption_marks_failed),
        T(test_unwritable_dir),
        T(test_creates_parents),
        T(test_open_twice),
        T(test_open_from_stanza),
        T(test_concurrent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
