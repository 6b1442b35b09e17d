/*
 * keyring.c - the barrier keyring: terms in memory, and its compact binary
 * serialisation (layout in keyring.h).
 *
 * Owns the term keys while they live (kh_secure_alloc pages, wiped on
 * free and on drop). Must never read past a buffer it was given, trust a
 * count before checking it against the length, or leave a key copy in
 * ordinary heap memory other than the serialised buffer it hands back.
 */
#include "barrier/keyring.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/limits.h"

static_assert(KEYRING_HEADER_BYTES == 9, "magic, format, count");
static_assert(KEYRING_ENTRY_BYTES == 56, "term, time, counter, key");
static_assert(sizeof(KEYRING_MAGIC) == KEYRING_MAGIC_BYTES + 1, "magic");
static_assert(KH_BARRIER_TERMS_MAX <= UINT32_MAX, "terms fit 32 bits");
static_assert((uint64_t)KEYRING_HEADER_BYTES +
                      (uint64_t)KH_BARRIER_TERMS_MAX * KEYRING_ENTRY_BYTES <=
                  KH_STORAGE_VALUE_BYTES_MAX - AEAD_OVERHEAD,
              "a full keyring fits one storage value");

#define KEYRING_CAP_MIN 4
#define NSEC_PER_SEC    1000000000L

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

int keyring_new(struct keyring **ret_keyring)
{
    struct keyring *kr;

    KH_ASSERT(ret_keyring != NULL);
    kr = calloc(1, sizeof(*kr));
    if (kr == NULL)
        return KH_ENOMEM;
    *ret_keyring = kr;
    return 0;
}

void keyring_free(struct keyring *kr)
{
    if (kr == NULL)
        return;
    kh_secure_free(kr->keys, kr->cap * AEAD_KEY_BYTES);
    free(kr->terms);
    kh_wipe(kr, sizeof(*kr));
    free(kr);
}

/* Make room for cap terms (cap > kr->cap): new arrays, copy, free old. */
static int keyring_reserve(struct keyring *kr, size_t cap)
{
    struct keyring_term *terms = NULL;
    uint8_t *keys = NULL;

    KH_ASSERT(cap > kr->cap);
    KH_ASSERT(cap <= KH_BARRIER_TERMS_MAX);
    terms = calloc(cap, sizeof(*terms));
    keys = kh_secure_alloc(cap * AEAD_KEY_BYTES);
    if (terms == NULL || keys == NULL) {
        free(terms);
        kh_secure_free(keys, cap * AEAD_KEY_BYTES);
        return KH_ENOMEM;
    }
    if (kr->count > 0) {
        memcpy(terms, kr->terms, kr->count * sizeof(*terms));
        memcpy(keys, kr->keys, kr->count * AEAD_KEY_BYTES);
    }
    kh_secure_free(kr->keys, kr->cap * AEAD_KEY_BYTES);
    free(kr->terms);
    kr->terms = terms;
    kr->keys = keys;
    kr->cap = cap;
    return 0;
}

int keyring_add_term(struct keyring *kr, const uint8_t key[AEAD_KEY_BYTES],
                     const struct timespec *install_time)
{
    struct keyring_term *t;
    size_t cap;
    int r;

    KH_ASSERT(kr != NULL);
    KH_ASSERT(key != NULL);
    KH_ASSERT(install_time != NULL);
    KH_ASSERT(kr->count <= kr->cap);
    if (kr->count >= KH_BARRIER_TERMS_MAX)
        return KH_ELIMIT;
    if (kr->count == kr->cap) {
        cap = kr->cap < KEYRING_CAP_MIN ? KEYRING_CAP_MIN : kr->cap * 2;
        if (cap > KH_BARRIER_TERMS_MAX)
            cap = KH_BARRIER_TERMS_MAX;
        r = keyring_reserve(kr, cap);
        if (r != 0)
            return r;
    }
    t = &kr->terms[kr->count];
    t->term = (uint32_t)(kr->count + 1);
    t->install_time = *install_time;
    t->encryptions = 0;
    memcpy(kr->keys + kr->count * AEAD_KEY_BYTES, key, AEAD_KEY_BYTES);
    kr->count++;
    return 0;
}

void keyring_drop_last(struct keyring *kr)
{
    KH_ASSERT(kr != NULL);
    KH_ASSERT(kr->count > 0);
    kr->count--;
    kh_wipe(kr->keys + kr->count * AEAD_KEY_BYTES, AEAD_KEY_BYTES);
    memset(&kr->terms[kr->count], 0, sizeof(kr->terms[kr->count]));
}

struct keyring_term *keyring_active(struct keyring *kr)
{
    KH_ASSERT(kr != NULL);
    KH_ASSERT(kr->count > 0);
    KH_ASSERT(kr->terms[kr->count - 1].term == kr->count);
    return &kr->terms[kr->count - 1];
}

const uint8_t *keyring_key(const struct keyring *kr, uint32_t term)
{
    KH_ASSERT(kr != NULL);
    if (term == 0 || term > kr->count)
        return NULL;
    KH_ASSERT(kr->terms[term - 1].term == term);
    return kr->keys + (size_t)(term - 1) * AEAD_KEY_BYTES;
}

int keyring_encode(const struct keyring *kr, uint64_t active_floor,
                   uint8_t **ret_buf, size_t *ret_len)
{
    const struct keyring_term *t;
    uint64_t encryptions;
    uint8_t *buf, *p;
    size_t len, i;

    KH_ASSERT(kr != NULL);
    KH_ASSERT(kr->count > 0);
    KH_ASSERT(kr->count <= KH_BARRIER_TERMS_MAX);
    len = KEYRING_HEADER_BYTES + kr->count * KEYRING_ENTRY_BYTES;
    buf = malloc(len);
    if (buf == NULL)
        return KH_ENOMEM;
    memcpy(buf, KEYRING_MAGIC, KEYRING_MAGIC_BYTES);
    buf[KEYRING_MAGIC_BYTES] = KEYRING_FORMAT;
    put_u32(buf + KEYRING_MAGIC_BYTES + 1, (uint32_t)kr->count);
    p = buf + KEYRING_HEADER_BYTES;
    for (i = 0; i < kr->count; i++) {
        t = &kr->terms[i];
        KH_ASSERT(t->term == i + 1);
        encryptions = __atomic_load_n(&t->encryptions, __ATOMIC_ACQUIRE);
        if (i + 1 == kr->count && encryptions < active_floor)
            encryptions = active_floor;
        put_u32(p, t->term);
        put_u64(p + 4, (uint64_t)(int64_t)t->install_time.tv_sec);
        put_u32(p + 12, (uint32_t)t->install_time.tv_nsec);
        put_u64(p + 16, encryptions);
        memcpy(p + 24, kr->keys + i * AEAD_KEY_BYTES, AEAD_KEY_BYTES);
        p += KEYRING_ENTRY_BYTES;
    }
    KH_ASSERT((size_t)(p - buf) == len);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/* One entry at p into the next term of kr, checking it is that term. */
static int keyring_decode_entry(struct keyring *kr, const uint8_t *p)
{
    struct keyring_term *t;
    struct timespec install_time;
    uint64_t sec = get_u64(p + 4);
    uint32_t nsec = get_u32(p + 12);
    int r;

    if (get_u32(p) != kr->count + 1)
        return KH_ECORRUPT;
    if (sec > (uint64_t)INT64_MAX || nsec >= NSEC_PER_SEC)
        return KH_ECORRUPT;
    install_time.tv_sec = (time_t)sec;
    install_time.tv_nsec = (long)nsec;
    r = keyring_add_term(kr, p + 24, &install_time);
    if (r != 0)
        return r;
    t = keyring_active(kr);
    t->encryptions = get_u64(p + 16);
    return 0;
}

int keyring_decode(const uint8_t *buf, size_t len, struct keyring **ret_keyring)
{
    struct keyring *kr = NULL;
    size_t count, i;
    int r = KH_ECORRUPT;

    KH_ASSERT(ret_keyring != NULL);
    KH_ASSERT(buf != NULL || len == 0);
    if (len < KEYRING_HEADER_BYTES ||
        memcmp(buf, KEYRING_MAGIC, KEYRING_MAGIC_BYTES) != 0 ||
        buf[KEYRING_MAGIC_BYTES] != KEYRING_FORMAT)
        return KH_ECORRUPT;
    count = get_u32(buf + KEYRING_MAGIC_BYTES + 1);
    if (count == 0 || count > KH_BARRIER_TERMS_MAX ||
        len != KEYRING_HEADER_BYTES + count * KEYRING_ENTRY_BYTES)
        return KH_ECORRUPT;

    r = keyring_new(&kr);
    if (r != 0)
        goto out;
    r = keyring_reserve(kr, count);
    if (r != 0)
        goto out;
    for (i = 0; i < count; i++) {
        r = keyring_decode_entry(kr, buf + KEYRING_HEADER_BYTES +
                                         i * KEYRING_ENTRY_BYTES);
        if (r != 0)
            goto out;
    }
    KH_ASSERT(kr->count == count);
    *ret_keyring = kr;
    kr = NULL;
    r = 0; /* success */
out:
    keyring_free(kr);
    return r;
}
