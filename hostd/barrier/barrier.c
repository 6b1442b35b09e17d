/*
 * barrier.c - the storage barrier: AES-256-GCM over every value, a keyring
 * of terms sealed under the root key, counted encryptions and rotation.
 *
 * Owns the unsealed keyring and a copy of the root key (both in
 * kh_secure_alloc pages, wiped at seal). Must never write a value in
 * clear, hand back plaintext that failed authentication, encrypt under a
 * term whose counter passed the rotation threshold, or encrypt under a
 * term before the stored keyring covers it (term and counter).
 *
 * Locking: lock (rwlock, writer-preferring so rotation cannot starve) guards
 * keyring and root_key. seal, unseal, initialize and rotate take it for
 * writing; put, get, delete, list, batch and key_status for reading, and
 * bump counters with atomics. persist_lock orders the counter reservation
 * writes that readers make, so the last keyring stored is always the one
 * with the highest counters.
 *
 * Crash safety (kill -9 at any moment), the reasoning:
 *  - The keyring is always stored with one kh_storage_put, which the backend
 *    commits atomically: storage holds either the old or the new keyring.
 *  - A new term is written to storage before anything is encrypted under
 *    it: rotate holds the write lock from keyring_add_term to the end of the
 *    keyring put, so no put can see the term before it is durable; if the
 *    put fails the term is dropped again. Hence every stored record's term
 *    is in every keyring storage may hold after it, and old terms are never
 *    removed: whatever instant the process dies, all records stay readable.
 *  - Counters: encryption number n under a term happens only after a
 *    keyring with that term's counter >= n was stored (barrier_reserve), so
 *    a crash can lose unused reservations but never under-count.
 */
#include "barrier/barrier.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/barrier_internal.h"
#include "barrier/keyring.h"
#include "common/err.h"
#include "common/secret.h"

static_assert(KH_ROOT_KEY_BYTES == AEAD_KEY_BYTES, "root key is a GCM key");
static_assert(BARRIER_HEADER_BYTES == 4 + 1 + 12, "record header layout");
static_assert(BARRIER_OVERHEAD == BARRIER_HEADER_BYTES + BARRIER_TAG_BYTES,
              "record overhead");
static_assert(KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX <= (1ull << 32),
              "SP 800-38D 8.3: at most 2^32 random-nonce GCM calls per key");
static_assert(BARRIER_PERSIST_INTERVAL < KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX,
              "reservations are small against a term");
static_assert(KH_STORAGE_BATCH_OPS_MAX < BARRIER_PERSIST_INTERVAL,
              "a full batch fits one reservation");

/* A put that finds its term used up rotates and retries; a few times at
 * most, as other threads may use up the fresh term first (tiny thresholds
 * in tests only). */
#define BARRIER_ROTATE_ATTEMPTS_MAX 8
#define BARRIER_KEYRING_PATH_LEN    (sizeof(BARRIER_KEYRING_PATH) - 1)

struct barrier
{
    struct kh_storage *storage;
    pthread_rwlock_t lock;
    pthread_mutex_t persist_lock;
    struct keyring *keyring;     /* NULL while sealed */
    uint8_t *root_key;           /* kh_secure_alloc; NULL while sealed */
    uint64_t reserved;           /* atomic: active-term count stored */
    uint64_t rotation_threshold; /* atomic */
    uint64_t persist_interval;   /* atomic */
};

static void lock_read(struct barrier *b)
{
    KH_ASSERT(pthread_rwlock_rdlock(&b->lock) == 0);
}

static void lock_write(struct barrier *b)
{
    KH_ASSERT(pthread_rwlock_wrlock(&b->lock) == 0);
}

static void unlock(struct barrier *b)
{
    KH_ASSERT(pthread_rwlock_unlock(&b->lock) == 0);
}

/* Paths a caller may use through the barrier. */
static int barrier_check_path(const char *path)
{
    size_t len;

    if (path == NULL)
        return KH_EINVAL;
    len = strnlen(path, KH_STORAGE_KEY_BYTES_MAX + 1);
    if (len == 0 || len > KH_STORAGE_KEY_BYTES_MAX)
        return KH_EINVAL;
    if (strncmp(path, BARRIER_UNSEALED_PATH,
                sizeof(BARRIER_UNSEALED_PATH) - 1) == 0)
        return KH_EINVAL;
    if (strcmp(path, BARRIER_KEYRING_PATH) == 0)
        return KH_EINVAL;
    return 0;
}

/* Serialise kr, seal it under root_key (term 0, AAD = the keyring path)
 * and store it with one put. */
static int keyring_store(struct kh_storage *storage, const struct keyring *kr,
                         const uint8_t *root_key, uint64_t active_floor)
{
    uint8_t *plain = NULL;
    uint8_t *sealed = NULL;
    size_t plain_len = 0, sealed_size = 0, sealed_len = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(kr != NULL);
    KH_ASSERT(root_key != NULL);
    r = keyring_encode(kr, active_floor, &plain, &plain_len);
    if (r != 0)
        goto out;
    sealed_size = plain_len + AEAD_OVERHEAD;
    sealed = malloc(sealed_size);
    if (sealed == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = aead_encrypt(root_key, 0, (const uint8_t *)BARRIER_KEYRING_PATH,
                     BARRIER_KEYRING_PATH_LEN, plain, plain_len, sealed,
                     sealed_size, &sealed_len);
    if (r != 0)
        goto out;
    KH_ASSERT(sealed_len == sealed_size);
    r = kh_storage_put(storage, BARRIER_KEYRING_PATH, sealed, sealed_len);
    if (r != 0)
        goto out;
    r = 0; /* success */
out:
    kh_free_secret(plain, plain_len);
    free(sealed);
    return r;
}

/* Fetch and open the stored keyring with root_key. */
static int keyring_load(struct kh_storage *storage, const uint8_t *root_key,
                        struct keyring **ret_keyring)
{
    uint8_t *sealed = NULL;
    uint8_t *plain = NULL;
    size_t sealed_len = 0, plain_size = 0, plain_len = 0;
    uint32_t term = 0;
    int r = KH_EINTERNAL;

    r = kh_storage_get(storage, BARRIER_KEYRING_PATH, &sealed, &sealed_len);
    if (r == KH_ENOTFOUND)
        r = KH_EUNINIT;
    if (r != 0)
        goto out;
    r = aead_peek_term(sealed, sealed_len, &term);
    if (r != 0)
        goto out;
    if (term != 0) {
        r = KH_ECORRUPT;
        goto out;
    }
    plain_size = sealed_len - AEAD_OVERHEAD;
    plain = malloc(plain_size + 1);
    if (plain == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = aead_decrypt(root_key, (const uint8_t *)BARRIER_KEYRING_PATH,
                     BARRIER_KEYRING_PATH_LEN, sealed, sealed_len, plain,
                     plain_size, &plain_len);
    if (r != 0)
        goto out;
    r = keyring_decode(plain, plain_len, ret_keyring);
    if (r != 0)
        goto out;
    r = 0; /* success */
out:
    kh_free_secret(plain, plain_size);
    free(sealed);
    return r;
}

static int keyring_exists(struct kh_storage *storage, bool *ret_exists)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = kh_storage_get(storage, BARRIER_KEYRING_PATH, &value, &len);
    if (r == KH_ENOTFOUND) {
        *ret_exists = false;
        return 0;
    }
    if (r != 0)
        return r;
    free(value);
    *ret_exists = true;
    return 0;
}

int barrier_create(struct kh_storage *storage, struct barrier **ret_barrier)
{
    pthread_rwlockattr_t attr;
    struct barrier *b = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(storage != NULL);
    KH_ASSERT(ret_barrier != NULL);
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return KH_ENOMEM;
    if (pthread_rwlockattr_init(&attr) != 0)
        goto out_free;
    /* Writers first: a steady stream of puts must not starve a rotation. */
    if (pthread_rwlockattr_setkind_np(
            &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) != 0 ||
        pthread_rwlock_init(&b->lock, &attr) != 0) {
        (void)pthread_rwlockattr_destroy(&attr);
        goto out_free;
    }
    (void)pthread_rwlockattr_destroy(&attr);
    if (pthread_mutex_init(&b->persist_lock, NULL) != 0)
        goto out_rwlock;
    b->storage = storage;
    b->rotation_threshold = KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX;
    b->persist_interval = BARRIER_PERSIST_INTERVAL;
    *ret_barrier = b;
    return 0;

out_rwlock:
    (void)pthread_rwlock_destroy(&b->lock);
out_free:
    free(b);
    return r;
}

void barrier_free(struct barrier *b)
{
    if (b == NULL)
        return;
    barrier_seal(b);
    KH_ASSERT(b->keyring == NULL);
    KH_ASSERT(b->root_key == NULL);
    (void)pthread_mutex_destroy(&b->persist_lock);
    (void)pthread_rwlock_destroy(&b->lock);
    free(b);
}

void barrier_set_rotation_threshold(struct barrier *b, uint64_t n)
{
    KH_ASSERT(n >= 1);
    KH_ASSERT(n <= KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX);
    __atomic_store_n(&b->rotation_threshold, n, __ATOMIC_RELEASE);
}

void barrier_set_persist_interval(struct barrier *b, uint64_t n)
{
    KH_ASSERT(n >= 1);
    KH_ASSERT(n <= BARRIER_PERSIST_INTERVAL);
    __atomic_store_n(&b->persist_interval, n, __ATOMIC_RELEASE);
}

int barrier_initialized(struct barrier *b, bool *ret_initialized)
{
    KH_ASSERT(b != NULL);
    KH_ASSERT(ret_initialized != NULL);
    return keyring_exists(b->storage, ret_initialized);
}

/* Make kr and a secure copy of root_key the unsealed state. Write lock. */
static int barrier_install(struct barrier *b, struct keyring *kr,
                           const uint8_t *root_key)
{
    uint8_t *copy;

    KH_ASSERT(b->keyring == NULL);
    KH_ASSERT(b->root_key == NULL);
    copy = kh_secure_alloc(KH_ROOT_KEY_BYTES);
    if (copy == NULL)
        return KH_ENOMEM;
    memcpy(copy, root_key, KH_ROOT_KEY_BYTES);
    b->keyring = kr;
    b->root_key = copy;
    /* The stored counter is at least every encryption ever made. */
    b->reserved = keyring_active(kr)->encryptions;
    return 0;
}

/* A keyring holding term 1 with a fresh random key. */
static int barrier_keyring_create(struct keyring **ret_keyring)
{
    struct keyring *kr = NULL;
    struct timespec now;
    uint8_t key[AEAD_KEY_BYTES];
    int r = KH_EINTERNAL;

    r = keyring_new(&kr);
    if (r != 0)
        goto out;
    r = kh_random_bytes(key, sizeof(key));
    if (r != 0)
        goto out;
    KH_ASSERT(clock_gettime(CLOCK_REALTIME, &now) == 0);
    r = keyring_add_term(kr, key, &now);
    if (r != 0)
        goto out;
    *ret_keyring = kr;
    kr = NULL;
    r = 0; /* success */
out:
    kh_wipe(key, sizeof(key));
    keyring_free(kr);
    return r;
}

int barrier_initialize(struct barrier *b,
                       const uint8_t root_key[KH_ROOT_KEY_BYTES])
{
    struct keyring *kr = NULL;
    bool exists = true;
    int r = KH_EINTERNAL;

    KH_ASSERT(b != NULL);
    KH_ASSERT(root_key != NULL);
    lock_write(b);
    if (b->keyring != NULL) {
        r = KH_ESTATE;
        goto out;
    }
    r = keyring_exists(b->storage, &exists);
    if (r != 0)
        goto out;
    if (exists) {
        r = KH_ESTATE;
        goto out;
    }
    r = barrier_keyring_create(&kr);
    if (r != 0)
        goto out;
    r = keyring_store(b->storage, kr, root_key, 0);
    if (r != 0)
        goto out;
    r = barrier_install(b, kr, root_key);
    if (r != 0)
        goto out;
    kr = NULL;
    r = 0; /* success */
out:
    unlock(b);
    keyring_free(kr);
    return r;
}

int barrier_unseal(struct barrier *b, const uint8_t root_key[KH_ROOT_KEY_BYTES])
{
    struct keyring *kr = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(b != NULL);
    KH_ASSERT(root_key != NULL);
    lock_write(b);
    if (b->keyring != NULL) {
        r = kh_ct_equal(root_key, b->root_key, KH_ROOT_KEY_BYTES) ? 0
                                                                  : KH_ECORRUPT;
        goto out;
    }
    r = keyring_load(b->storage, root_key, &kr);
    if (r != 0)
        goto out;
    r = barrier_install(b, kr, root_key);
    if (r != 0)
        goto out;
    kr = NULL;
    r = 0; /* success */
out:
    unlock(b);
    keyring_free(kr);
    return r;
}

int barrier_keyring_opens(struct barrier *b, struct kh_storage *other)
{
    struct keyring *kr = NULL;
    int r = KH_ESEALED;

    KH_ASSERT(b != NULL);
    lock_read(b);
    if (b->keyring != NULL)
        r = keyring_load(other, b->root_key, &kr);
    unlock(b);
    keyring_free(kr);
    return r;
}

int barrier_reload(struct barrier *b)
{
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    struct keyring *kr = NULL;
    int r = KH_ESEALED;

    KH_ASSERT(b != NULL);
    lock_write(b);
    if (b->keyring == NULL)
        goto out;
    r = keyring_load(b->storage, b->root_key, &kr);
    if (r != 0)
        goto out;
    memcpy(root_key, b->root_key, KH_ROOT_KEY_BYTES);
    keyring_free(b->keyring);
    b->keyring = NULL;
    kh_secure_free(b->root_key, KH_ROOT_KEY_BYTES);
    b->root_key = NULL;
    r = barrier_install(b, kr, root_key);
    kh_wipe(root_key, sizeof(root_key));
    if (r != 0)
        goto out;
    kr = NULL;
    r = 0; /* success */
out:
    unlock(b);
    keyring_free(kr);
    return r;
}

void barrier_seal_discard(struct barrier *b)
{
    if (b == NULL)
        return;
    lock_write(b);
    if (b->keyring != NULL) {
        keyring_free(b->keyring);
        b->keyring = NULL;
        kh_secure_free(b->root_key, KH_ROOT_KEY_BYTES);
        b->root_key = NULL;
    }
    b->reserved = 0;
    unlock(b);
}

void barrier_seal(struct barrier *b)
{
    if (b == NULL)
        return;
    lock_write(b);
    if (b->keyring != NULL) {
        /* Exact counts, no reservation: with the write lock held no put is
         * in flight. If this fails the stored reservation still covers
         * every encryption made, so sealing goes on regardless. */
        (void)keyring_store(b->storage, b->keyring, b->root_key, 0);
        keyring_free(b->keyring);
        b->keyring = NULL;
        kh_secure_free(b->root_key, KH_ROOT_KEY_BYTES);
        b->root_key = NULL;
    }
    b->reserved = 0;
    unlock(b);
}

bool barrier_sealed(struct barrier *b)
{
    bool sealed;

    KH_ASSERT(b != NULL);
    lock_read(b);
    sealed = b->keyring == NULL;
    unlock(b);
    return sealed;
}

/* Add a term and store the keyring before it becomes usable. Write lock. */
static int barrier_rotate_locked(struct barrier *b)
{
    uint64_t interval = __atomic_load_n(&b->persist_interval, __ATOMIC_ACQUIRE);
    struct timespec now;
    uint8_t key[AEAD_KEY_BYTES];
    int r = KH_EINTERNAL;

    KH_ASSERT(b->keyring != NULL);
    KH_ASSERT(b->root_key != NULL);
    r = kh_random_bytes(key, sizeof(key));
    if (r != 0)
        goto out;
    KH_ASSERT(clock_gettime(CLOCK_REALTIME, &now) == 0);
    r = keyring_add_term(b->keyring, key, &now);
    if (r != 0)
        goto out;
    /* The one atomic put that makes the term durable; nothing has been
     * encrypted under it yet (we hold the write lock). It also carries the
     * new term's first reservation. */
    r = keyring_store(b->storage, b->keyring, b->root_key, interval);
    if (r != 0) {
        keyring_drop_last(b->keyring);
        goto out;
    }
    __atomic_store_n(&b->reserved, interval, __ATOMIC_RELEASE);
    r = 0; /* success */
out:
    kh_wipe(key, sizeof(key));
    return r;
}

int barrier_rotate(struct barrier *b)
{
    int r;

    KH_ASSERT(b != NULL);
    lock_write(b);
    if (b->keyring == NULL)
        r = KH_ESEALED;
    else
        r = barrier_rotate_locked(b);
    unlock(b);
    return r;
}

/* Rotate if the active term passed the threshold (another thread may have
 * rotated already while we waited for the lock). */
static int barrier_rotate_exhausted(struct barrier *b)
{
    struct keyring_term *t;
    int r = 0;

    lock_write(b);
    if (b->keyring == NULL) {
        r = KH_ESEALED;
        goto out;
    }
    t = keyring_active(b->keyring);
    if (__atomic_load_n(&t->encryptions, __ATOMIC_ACQUIRE) >
        __atomic_load_n(&b->rotation_threshold, __ATOMIC_ACQUIRE))
        r = barrier_rotate_locked(b);
out:
    unlock(b);
    return r;
}

/* Store a keyring reserving encryptions up to count + interval, unless a
 * concurrent writer already covered count. Read lock held. */
static int barrier_reserve_persist(struct barrier *b, uint64_t count)
{
    uint64_t floor;
    int r = 0;

    KH_ASSERT(pthread_mutex_lock(&b->persist_lock) == 0);
    if (count > __atomic_load_n(&b->reserved, __ATOMIC_ACQUIRE)) {
        floor = count + __atomic_load_n(&b->persist_interval, __ATOMIC_ACQUIRE);
        r = keyring_store(b->storage, b->keyring, b->root_key, floor);
        if (r == 0)
            __atomic_store_n(&b->reserved, floor, __ATOMIC_RELEASE);
    }
    KH_ASSERT(pthread_mutex_unlock(&b->persist_lock) == 0);
    return r;
}

/* Count n encryptions under the active term and hand out its key, or set
 * *ret_exhausted when the term passed the threshold (encrypt nothing then:
 * the wasted count only over-counts). Read lock held, barrier unsealed. */
static int barrier_reserve(struct barrier *b, uint64_t n, uint32_t *ret_term,
                           const uint8_t **ret_key, bool *ret_exhausted)
{
    struct keyring_term *t = keyring_active(b->keyring);
    uint64_t count;
    int r;

    KH_ASSERT(n >= 1);
    KH_ASSERT(n <= KH_STORAGE_BATCH_OPS_MAX);
    count = __atomic_add_fetch(&t->encryptions, n, __ATOMIC_ACQ_REL);
    if (count > __atomic_load_n(&b->rotation_threshold, __ATOMIC_ACQUIRE)) {
        *ret_exhausted = true;
        return 0;
    }
    if (count > __atomic_load_n(&b->reserved, __ATOMIC_ACQUIRE)) {
        r = barrier_reserve_persist(b, count);
        if (r != 0)
            return r;
    }
    *ret_term = t->term;
    *ret_key = keyring_key(b->keyring, t->term);
    KH_ASSERT(*ret_key != NULL);
    *ret_exhausted = false;
    return 0;
}

int barrier_key_status(struct barrier *b, struct barrier_key_status *ret)
{
    const struct keyring_term *t;
    int r = KH_ESEALED;

    KH_ASSERT(b != NULL);
    KH_ASSERT(ret != NULL);
    lock_read(b);
    if (b->keyring != NULL) {
        t = keyring_active(b->keyring);
        ret->term = t->term;
        ret->install_time = t->install_time;
        ret->encryptions = __atomic_load_n(&t->encryptions, __ATOMIC_ACQUIRE);
        r = 0;
    }
    unlock(b);
    return r;
}

/* One attempt of put: encrypt into record (size len + overhead) and store.
 * *ret_exhausted asks the caller to rotate and retry. */
static int barrier_put_once(struct barrier *b, const char *path,
                            const uint8_t *value, size_t len, uint8_t *record,
                            bool *ret_exhausted)
{
    const uint8_t *key = NULL;
    size_t record_len = 0;
    uint32_t term = 0;
    int r;

    *ret_exhausted = false;
    lock_read(b);
    if (b->keyring == NULL) {
        r = KH_ESEALED;
        goto out;
    }
    r = barrier_reserve(b, 1, &term, &key, ret_exhausted);
    if (r != 0 || *ret_exhausted)
        goto out;
    r = aead_encrypt(key, term, (const uint8_t *)path, strlen(path), value, len,
                     record, len + AEAD_OVERHEAD, &record_len);
    if (r != 0)
        goto out;
    KH_ASSERT(record_len == len + AEAD_OVERHEAD);
    r = kh_storage_put(b->storage, path, record, record_len);
out:
    unlock(b);
    return r;
}

int barrier_put(struct barrier *b, const char *path, const uint8_t *value,
                size_t len)
{
    uint8_t *record = NULL;
    bool exhausted = false;
    int attempt;
    int r;

    KH_ASSERT(b != NULL);
    KH_ASSERT(value != NULL || len == 0);
    r = barrier_check_path(path);
    if (r != 0)
        return r;
    if (len > BARRIER_VALUE_BYTES_MAX)
        return KH_EINVAL;
    record = malloc(len + AEAD_OVERHEAD);
    if (record == NULL)
        return KH_ENOMEM;
    for (attempt = 0; attempt < BARRIER_ROTATE_ATTEMPTS_MAX; attempt++) {
        r = barrier_put_once(b, path, value, len, record, &exhausted);
        if (r != 0 || !exhausted)
            break;
        r = barrier_rotate_exhausted(b);
        if (r != 0)
            break;
    }
    if (r == 0 && exhausted)
        r = KH_ELIMIT;
    free(record); /* ciphertext only */
    return r;
}

/* Authenticate and decrypt a record read from path. Read lock held. */
static int barrier_open(const struct keyring *kr, const char *path,
                        const uint8_t *record, size_t record_len,
                        uint8_t **ret_value, size_t *ret_len)
{
    const uint8_t *key;
    uint8_t *plain = NULL;
    size_t plain_size, plain_len = 0;
    uint32_t term = 0;
    int r;

    r = aead_peek_term(record, record_len, &term);
    if (r != 0)
        return r;
    key = keyring_key(kr, term);
    if (key == NULL)
        return KH_ECORRUPT;
    plain_size = record_len - AEAD_OVERHEAD;
    plain = malloc(plain_size + 1);
    if (plain == NULL)
        return KH_ENOMEM;
    r = aead_decrypt(key, (const uint8_t *)path, strlen(path), record,
                     record_len, plain, plain_size, &plain_len);
    if (r != 0) {
        kh_free_secret(plain, plain_size);
        return r;
    }
    KH_ASSERT(plain_len == plain_size);
    *ret_value = plain;
    *ret_len = plain_len;
    return 0;
}

int barrier_get(struct barrier *b, const char *path, uint8_t **ret_value,
                size_t *ret_len)
{
    uint8_t *record = NULL;
    size_t record_len = 0;
    int r;

    KH_ASSERT(b != NULL);
    KH_ASSERT(ret_value != NULL);
    KH_ASSERT(ret_len != NULL);
    r = barrier_check_path(path);
    if (r != 0)
        return r;
    lock_read(b);
    if (b->keyring == NULL) {
        r = KH_ESEALED;
        goto out;
    }
    r = kh_storage_get(b->storage, path, &record, &record_len);
    if (r != 0)
        goto out;
    r = barrier_open(b->keyring, path, record, record_len, ret_value, ret_len);
out:
    unlock(b);
    free(record); /* ciphertext only */
    return r;
}

int barrier_delete(struct barrier *b, const char *path)
{
    int r;

    KH_ASSERT(b != NULL);
    r = barrier_check_path(path);
    if (r != 0)
        return r;
    lock_read(b);
    if (b->keyring == NULL)
        r = KH_ESEALED;
    else
        r = kh_storage_delete(b->storage, path);
    unlock(b);
    return r;
}

int barrier_list(struct barrier *b, const char *prefix,
                 struct kh_storage_list *ret)
{
    int r;

    KH_ASSERT(b != NULL);
    KH_ASSERT(ret != NULL);
    if (prefix == NULL)
        return KH_EINVAL;
    lock_read(b);
    if (b->keyring == NULL)
        r = KH_ESEALED;
    else
        r = kh_storage_list(b->storage, prefix, ret);
    unlock(b);
    return r;
}

/* Check every op; count the puts and allocate their record buffers. */
static int barrier_batch_prepare(const struct kh_storage_op *ops, size_t count,
                                 uint8_t **records, size_t *ret_puts)
{
    size_t i, puts = 0;
    int r;

    for (i = 0; i < count; i++) {
        r = barrier_check_path(ops[i].key);
        if (r != 0)
            return r;
        if (ops[i].kind == KH_STORAGE_DELETE)
            continue;
        if (ops[i].kind != KH_STORAGE_PUT ||
            ops[i].len > BARRIER_VALUE_BYTES_MAX ||
            (ops[i].value == NULL && ops[i].len > 0))
            return KH_EINVAL;
        records[i] = malloc(ops[i].len + AEAD_OVERHEAD);
        if (records[i] == NULL)
            return KH_ENOMEM;
        puts++;
    }
    *ret_puts = puts;
    return 0;
}

/* One attempt of batch: reserve all puts at once, encrypt, commit. */
static int barrier_batch_once(struct barrier *b,
                              const struct kh_storage_op *ops, size_t count,
                              size_t puts, uint8_t **records,
                              struct kh_storage_op *sealed_ops,
                              bool *ret_exhausted)
{
    const uint8_t *key = NULL;
    uint32_t term = 0;
    size_t i, len;
    int r = 0;

    lock_read(b);
    *ret_exhausted = false;
    if (b->keyring == NULL) {
        r = KH_ESEALED;
        goto out;
    }
    if (puts > 0)
        r = barrier_reserve(b, puts, &term, &key, ret_exhausted);
    if (r != 0 || *ret_exhausted)
        goto out;
    for (i = 0; i < count; i++) {
        sealed_ops[i] = ops[i];
        if (ops[i].kind != KH_STORAGE_PUT)
            continue;
        r = aead_encrypt(key, term, (const uint8_t *)ops[i].key,
                         strlen(ops[i].key), ops[i].value, ops[i].len,
                         records[i], ops[i].len + AEAD_OVERHEAD, &len);
        if (r != 0)
            goto out;
        sealed_ops[i].value = records[i];
        sealed_ops[i].len = len;
    }
    r = kh_storage_batch(b->storage, sealed_ops, count);
out:
    unlock(b);
    return r;
}

int barrier_batch(struct barrier *b, const struct kh_storage_op *ops,
                  size_t count)
{
    struct kh_storage_op *sealed_ops = NULL;
    uint8_t **records = NULL;
    bool exhausted = false;
    size_t i, puts = 0;
    int attempt, r = KH_EINTERNAL;

    KH_ASSERT(b != NULL);
    KH_ASSERT(ops != NULL || count == 0);
    if (count > KH_STORAGE_BATCH_OPS_MAX)
        return KH_EINVAL;
    sealed_ops = calloc(count + 1, sizeof(*sealed_ops));
    records = calloc(count + 1, sizeof(*records));
    if (sealed_ops == NULL || records == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = barrier_batch_prepare(ops, count, records, &puts);
    if (r != 0)
        goto out;
    if (puts > __atomic_load_n(&b->rotation_threshold, __ATOMIC_ACQUIRE)) {
        r = KH_ELIMIT;
        goto out;
    }
    for (attempt = 0; attempt < BARRIER_ROTATE_ATTEMPTS_MAX; attempt++) {
        r = barrier_batch_once(b, ops, count, puts, records, sealed_ops,
                               &exhausted);
        if (r != 0 || !exhausted)
            break;
        r = barrier_rotate_exhausted(b);
        if (r != 0)
            break;
    }
    if (r == 0 && exhausted)
        r = KH_ELIMIT;
out:
    for (i = 0; records != NULL && i < count; i++)
        free(records[i]); /* ciphertext only */
    free(records);
    free(sealed_ops);
    return r;
}
