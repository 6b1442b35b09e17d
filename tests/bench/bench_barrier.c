/*
 * bench_barrier.c - what the storage barrier costs on top of raw LMDB.
 *
 * Opens two LMDB environments in a fresh temporary directory (base
 * $KH_TEST_TMP, else /tmp): one used raw through kh_storage_*, one behind
 * a barrier initialised with a random root key. Each round measures, on
 * both, single durable puts, puts in batches of BENCH_BATCH_OPS, and point
 * gets of 1 KiB values; the two sides alternate which goes first. Prints
 * every round, then the medians and the ratios barrier/raw.
 *
 * Owns the temporary directory and removes it. It prints figures and never
 * judges them: it fails (exit 1) only when an operation fails or a value
 * reads back wrong. Usage: bench_barrier [-r rounds] [-p puts]
 * [-b batches] [-g gets].
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barrier/barrier.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/limits.h"
#include "storage/storage.h"

#define BENCH_VALUE_BYTES 1024
#define BENCH_BATCH_OPS 64
#define BENCH_ROUNDS_MAX 101
#define BENCH_KEY_BYTES 32

enum bench_side { SIDE_RAW = 0, SIDE_BARRIER = 1, SIDE_COUNT = 2 };
enum bench_kind { KIND_PUT = 0, KIND_BATCH = 1, KIND_GET = 2, KIND_COUNT = 3 };

static const char *const side_names[SIDE_COUNT] = {"raw", "barrier"};
static const char *const kind_names[KIND_COUNT] = {
    "put (durable, 1 per commit)", "put (batch of 64 per commit)",
    "get (point read)"};

struct bench_params
{
    unsigned rounds;
    size_t puts;
    size_t batches;
    size_t gets;
};

/* One side under test: raw storage, or the same calls through a barrier. */
struct bench_target
{
    struct kh_storage *storage;
    struct barrier *barrier;    /* NULL on the raw side */
};

struct bench_keys
{
    char (*names)[BENCH_KEY_BYTES];
    size_t count;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Value i: a fixed pattern with i stamped in front, so reads can check. */
static void value_fill(uint8_t *value, size_t i)
{
    size_t j;

    for (j = 0; j < BENCH_VALUE_BYTES; j++)
        value[j] = (uint8_t)(j * 31u + 7u);
    memcpy(value, &i, sizeof(i));
}

/* Is value the one value_fill() makes for i? pattern is value 0. */
static bool value_check(const uint8_t *value, size_t len, size_t i,
                        const uint8_t *pattern)
{
    return len == BENCH_VALUE_BYTES && memcmp(value, &i, sizeof(i)) == 0 &&
           memcmp(value + sizeof(i), pattern + sizeof(i),
                  len - sizeof(i)) == 0;
}

static int target_put(struct bench_target *t, const char *key,
                      const uint8_t *value)
{
    if (t->barrier != NULL)
        return barrier_put(t->barrier, key, value, BENCH_VALUE_BYTES);
    return kh_storage_put(t->storage, key, value, BENCH_VALUE_BYTES);
}

static int target_batch(struct bench_target *t,
                        const struct kh_storage_op *ops, size_t count)
{
    if (t->barrier != NULL)
        return barrier_batch(t->barrier, ops, count);
    return kh_storage_batch(t->storage, ops, count);
}

static int target_get_check(struct bench_target *t, const char *key,
                            size_t i, const uint8_t *pattern)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    if (t->barrier != NULL)
        r = barrier_get(t->barrier, key, &value, &len);
    else
        r = kh_storage_get(t->storage, key, &value, &len);
    if (r != 0)
        return r;
    if (!value_check(value, len, i, pattern))
        r = KH_ECORRUPT;
    kh_free_secret(value, len);
    return r;
}

/* Run one kind of operation n times; *ret_ops_s is operations per second
 * (for batches: values stored per second). */
static int bench_run(struct bench_target *t, enum bench_kind kind,
                     const struct bench_keys *keys, size_t n,
                     double *ret_ops_s)
{
    struct kh_storage_op ops[BENCH_BATCH_OPS];
    uint8_t values[BENCH_BATCH_OPS][BENCH_VALUE_BYTES];
    uint8_t pattern[BENCH_VALUE_BYTES];
    size_t i, j, done = 0;
    double start;
    int r = 0;

    for (j = 0; j < BENCH_BATCH_OPS; j++)
        value_fill(values[j], 0);
    value_fill(pattern, 0);
    start = now_s();
    for (i = 0; i < n && r == 0; i++) {
        size_t k = (i * BENCH_BATCH_OPS) % keys->count;
        if (kind == KIND_PUT) {
            memcpy(values[0], &(size_t){i % keys->count}, sizeof(size_t));
            r = target_put(t, keys->names[i % keys->count], values[0]);
            done++;
        } else if (kind == KIND_GET) {
            r = target_get_check(t, keys->names[i % keys->count],
                                 i % keys->count, pattern);
            done++;
        } else {
            for (j = 0; j < BENCH_BATCH_OPS; j++) {
                memcpy(values[j], &(size_t){(k + j) % keys->count},
                       sizeof(size_t));
                ops[j] = (struct kh_storage_op){
                    KH_STORAGE_PUT, keys->names[(k + j) % keys->count],
                    values[j], BENCH_VALUE_BYTES};
            }
            r = target_batch(t, ops, BENCH_BATCH_OPS);
            done += BENCH_BATCH_OPS;
        }
    }
    if (r == 0)
        *ret_ops_s = (double)done / (now_s() - start);
    return r;
}

static int tmp_remove_one(const char *path, const struct stat *st, int type,
                          struct FTW *ftw)
{
    return remove(path);
}

static int target_open(struct bench_target *t, const char *base,
                       const char *name, bool with_barrier)
{
    char dir[512];
    char errmsg[KH_ERRMSG_SIZE] = "";
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    int r;

    snprintf(dir, sizeof(dir), "%s/%s", base, name);
    r = kh_storage_lmdb_open(dir, 0, &t->storage, errmsg, sizeof(errmsg));
    if (r != 0) {
        fprintf(stderr, "bench_barrier: open %s: %s\n", dir,
                errmsg[0] ? errmsg : kh_strerror(r));
        return r;
    }
    if (!with_barrier)
        return 0;
    r = kh_random_bytes(root_key, sizeof(root_key));
    if (r == 0)
        r = barrier_create(t->storage, &t->barrier);
    if (r == 0)
        r = barrier_initialize(t->barrier, root_key);
    kh_wipe(root_key, sizeof(root_key));
    if (r != 0)
        fprintf(stderr, "bench_barrier: barrier set-up: %s\n",
                kh_strerror(r));
    return r;
}

static void target_close(struct bench_target *t)
{
    barrier_free(t->barrier);
    kh_storage_close(t->storage);
    t->barrier = NULL;
    t->storage = NULL;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(const double *values, unsigned n)
{
    double sorted[BENCH_ROUNDS_MAX];

    memcpy(sorted, values, n * sizeof(*values));
    qsort(sorted, n, sizeof(*sorted), compare_double);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

struct bench_results
{
    double ops_s[SIDE_COUNT][KIND_COUNT][BENCH_ROUNDS_MAX];
};

/* Each kind runs on both sides back to back, so both see the same disk
 * and the same neighbours; which side goes first alternates by round. */
static int bench_rounds(struct bench_target targets[SIDE_COUNT],
                        const struct bench_keys *keys,
                        const struct bench_params *p,
                        struct bench_results *res)
{
    const size_t counts[KIND_COUNT] = {p->puts, p->batches, p->gets};
    unsigned round, s, k, side;
    int r;

    for (round = 0; round < p->rounds; round++) {
        for (k = 0; k < KIND_COUNT; k++) {
            for (s = 0; s < SIDE_COUNT; s++) {
                side = (s + round) % SIDE_COUNT;
                r = bench_run(&targets[side], k, keys, counts[k],
                              &res->ops_s[side][k][round]);
                if (r != 0) {
                    fprintf(stderr, "bench_barrier: %s %s: %s\n",
                            side_names[side], kind_names[k], kh_strerror(r));
                    return r;
                }
            }
        }
        printf("round %u (%s first):", round + 1,
               side_names[round % SIDE_COUNT]);
        for (side = 0; side < SIDE_COUNT; side++)
            printf("  %s put %.0f/s batch %.0f/s get %.0f/s",
                   side_names[side], res->ops_s[side][KIND_PUT][round],
                   res->ops_s[side][KIND_BATCH][round],
                   res->ops_s[side][KIND_GET][round]);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

static void bench_report(const struct bench_params *p,
                        struct bench_results *res)
{
    unsigned k;

    printf("\nmedians of %u rounds, 1 KiB values, durable LMDB commits\n",
           p->rounds);
    printf("%-29s %11s %14s %10s %11s %7s\n", "operation", "raw ops/s",
           "barrier ops/s", "raw us/op", "barr. us/op", "ratio");
    for (k = 0; k < KIND_COUNT; k++) {
        double raw = median(res->ops_s[SIDE_RAW][k], p->rounds);
        double bar = median(res->ops_s[SIDE_BARRIER][k], p->rounds);
        printf("%-29s %11.0f %14.0f %10.2f %11.2f %7.3f\n", kind_names[k],
               raw, bar, 1e6 / raw, 1e6 / bar, bar / raw);
    }
    printf("ratio = barrier/raw ops/s (1.0 = free; reference: LMDB durable "
           "commit ~0.7 ms, get ~1M/s, AES-256-GCM of 1 KiB ~2 us)\n");
}

static int parse_params(int argc, char **argv, struct bench_params *p)
{
    int opt;

    *p = (struct bench_params){7, 400, 60, 200000};
    while ((opt = getopt(argc, argv, "r:p:b:g:")) != -1) {
        unsigned long v = strtoul(optarg, NULL, 10);
        if (opt == 'r' && v >= 1 && v <= BENCH_ROUNDS_MAX)
            p->rounds = (unsigned)v;
        else if (opt == 'p' && v >= 1)
            p->puts = v;
        else if (opt == 'b' && v >= 1)
            p->batches = v;
        else if (opt == 'g' && v >= 1)
            p->gets = v;
        else
            return KH_EINVAL;
    }
    return optind == argc ? 0 : KH_EINVAL;
}

static int keys_make(struct bench_keys *keys, size_t count)
{
    size_t i;

    keys->names = calloc(count, sizeof(*keys->names));
    if (keys->names == NULL)
        return KH_ENOMEM;
    keys->count = count;
    for (i = 0; i < count; i++)
        snprintf(keys->names[i], sizeof(keys->names[i]), "bench/%010zu", i);
    return 0;
}

/* Store every key once on both sides so that gets never miss. */
static int bench_preload(struct bench_target targets[SIDE_COUNT],
                         const struct bench_keys *keys)
{
    uint8_t values[BENCH_BATCH_OPS][BENCH_VALUE_BYTES];
    struct kh_storage_op ops[BENCH_BATCH_OPS];
    size_t i, j, n, s;
    int r = 0;

    for (s = 0; s < SIDE_COUNT && r == 0; s++) {
        for (i = 0; i < keys->count && r == 0; i += n) {
            n = keys->count - i < BENCH_BATCH_OPS ? keys->count - i
                                                  : BENCH_BATCH_OPS;
            for (j = 0; j < n; j++) {
                value_fill(values[j], i + j);
                ops[j] = (struct kh_storage_op){KH_STORAGE_PUT,
                                                keys->names[i + j], values[j],
                                                BENCH_VALUE_BYTES};
            }
            r = target_batch(&targets[s], ops, n);
        }
    }
    return r;
}

int main(int argc, char **argv)
{
    struct bench_target targets[SIDE_COUNT] = {{0}};
    struct bench_keys keys = {0};
    struct bench_params p;
    static struct bench_results res;
    const char *base = getenv("KH_TEST_TMP");
    char dir[512];
    int r = KH_EINTERNAL;

    if (parse_params(argc, argv, &p) != 0) {
        fprintf(stderr, "usage: bench_barrier [-r rounds (1-%d)] [-p puts] "
                        "[-b batches of %d] [-g gets]\n",
                BENCH_ROUNDS_MAX, BENCH_BATCH_OPS);
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s/kh-bench-barrier-XXXXXX",
             base != NULL && base[0] ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("bench_barrier: mkdtemp");
        return 1;
    }
    printf("bench_barrier: %u rounds; %zu durable puts, %zu batches of %d, "
           "%zu gets per side per round; dir %s\n",
           p.rounds, p.puts, p.batches, BENCH_BATCH_OPS, p.gets, dir);
    r = keys_make(&keys, p.puts > BENCH_BATCH_OPS ? p.puts : BENCH_BATCH_OPS);
    if (r == 0)
        r = target_open(&targets[SIDE_RAW], dir, "raw", false);
    if (r == 0)
        r = target_open(&targets[SIDE_BARRIER], dir, "barrier", true);
    if (r == 0)
        r = bench_preload(targets, &keys);
    if (r == 0)
        r = bench_rounds(targets, &keys, &p, &res);
    if (r == 0)
        bench_report(&p, &res);
    target_close(&targets[SIDE_BARRIER]);
    target_close(&targets[SIDE_RAW]);
    free(keys.names);
    nftw(dir, tmp_remove_one, 16, FTW_DEPTH | FTW_PHYS);
    if (r != 0)
        fprintf(stderr, "bench_barrier: failed: %s\n", kh_strerror(r));
    return r == 0 ? 0 : 1;
}
