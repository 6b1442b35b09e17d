/*
 * token_cache.c - decoded token entries remembered by the exact bytes of
 * their stored record, so the request gate does not parse the same JSON
 * on every request (token_entry_decode() is the costliest step of a
 * token lookup).
 *
 * Owns TOKEN_CACHE_SLOTS slots, each holding one entry's hash, a copy of
 * its record's plaintext and the entry decoded from it. It is not a
 * cache of tokens: every lookup still reads the record through the
 * barrier and hands it here; a slot answers only when the hash names the
 * same token and the bytes are identical to the ones it decoded, so the
 * result is by construction what token_entry_decode() would return. A
 * revoked token (record deleted), a renewed or used one (record
 * rewritten) can therefore never be served from here, with no
 * invalidation to forget, whoever wrote the storage. It must never
 * answer for bytes it has not compared, and it wipes every plaintext
 * copy and entry it drops (seal, eviction, free).
 *
 * Locking: one mutex per slot, a leaf lock held only to compare and copy.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "token/token_internal.h"

struct token_cache_slot
{
    pthread_mutex_t lock;
    char id_hash[TOKEN_HASH_HEX_BYTES + 1]; /* "": empty */
    uint8_t *record;                        /* plaintext; malloc'ed */
    size_t record_len;
    struct token_entry *entry; /* decoded from record; malloc'ed */
};

struct token_cache
{
    struct token_cache_slot slots[TOKEN_CACHE_SLOTS];
};

int token_cache_create(struct token_cache **ret_cache)
{
    struct token_cache *cache;
    size_t i;

    cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return KH_ENOMEM;
    for (i = 0; i < TOKEN_CACHE_SLOTS; i++)
        pthread_mutex_init(&cache->slots[i].lock, NULL);
    *ret_cache = cache;
    return 0;
}

/* Wipe and release what a slot holds. Caller holds its lock (or owns
 * the cache alone). */
static void slot_drop(struct token_cache_slot *slot)
{
    kh_free_secret(slot->record, slot->record_len);
    slot->record = NULL;
    slot->record_len = 0;
    if (slot->entry != NULL) {
        kh_wipe(slot->entry, sizeof(*slot->entry));
        free(slot->entry);
        slot->entry = NULL;
    }
    slot->id_hash[0] = '\0';
}

void token_cache_clear(struct token_cache *cache)
{
    size_t i;

    if (cache == NULL)
        return;
    for (i = 0; i < TOKEN_CACHE_SLOTS; i++) {
        pthread_mutex_lock(&cache->slots[i].lock);
        slot_drop(&cache->slots[i]);
        pthread_mutex_unlock(&cache->slots[i].lock);
    }
}

void token_cache_free(struct token_cache *cache)
{
    size_t i;

    if (cache == NULL)
        return;
    for (i = 0; i < TOKEN_CACHE_SLOTS; i++) {
        slot_drop(&cache->slots[i]);
        pthread_mutex_destroy(&cache->slots[i].lock);
    }
    free(cache);
}

/* The slot of a hash: its first hex digits (an HMAC output, so uniform). */
static struct token_cache_slot *slot_for(struct token_cache *cache,
                                         const char *hash)
{
    size_t index = 0;
    size_t i;

    for (i = 0; i < 4; i++) {
        char c = hash[i];
        index = index * 16 + (size_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return &cache->slots[index % TOKEN_CACHE_SLOTS];
}

/* Copy the slot's entry into ret when it was decoded from exactly these
 * bytes of this token. Caller holds the slot's lock. */
static bool slot_answer(const struct token_cache_slot *slot, const char *hash,
                        const uint8_t *bytes, size_t len,
                        struct token_entry *ret)
{
    if (slot->entry == NULL || strcmp(slot->id_hash, hash) != 0 ||
        slot->record_len != len || !kh_ct_equal(slot->record, bytes, len))
        return false;
    memcpy(ret, slot->entry, sizeof(*ret));
    return true;
}

/* Remember entry as the decoding of bytes (best effort: on allocation
 * failure the slot is simply left empty). Caller holds the lock. */
static void slot_fill(struct token_cache_slot *slot, const char *hash,
                      const uint8_t *bytes, size_t len,
                      const struct token_entry *entry)
{
    uint8_t *record = malloc(len > 0 ? len : 1);

    if (slot->entry == NULL)
        slot->entry = malloc(sizeof(*slot->entry));
    kh_free_secret(slot->record, slot->record_len);
    slot->record = NULL;
    slot->record_len = 0;
    slot->id_hash[0] = '\0';
    if (record == NULL || slot->entry == NULL) {
        free(record);
        slot_drop(slot);
        return;
    }
    memcpy(record, bytes, len);
    memcpy(slot->entry, entry, sizeof(*entry));
    slot->record = record;
    slot->record_len = len;
    memcpy(slot->id_hash, hash, TOKEN_HASH_HEX_BYTES + 1);
}

int token_cache_decode(struct token_cache *cache, const char *hash,
                       const uint8_t *bytes, size_t len,
                       struct token_entry *ret)
{
    struct token_cache_slot *slot;
    bool hit;
    int r;

    KH_ASSERT(token_hash_valid(hash));
    slot = slot_for(cache, hash);
    pthread_mutex_lock(&slot->lock);
    hit = slot_answer(slot, hash, bytes, len, ret);
    pthread_mutex_unlock(&slot->lock);
    if (hit)
        return 0;
    r = token_entry_decode(bytes, len, ret);
    if (r != 0)
        return r;
    memcpy(ret->id_hash, hash, TOKEN_HASH_HEX_BYTES + 1);
    pthread_mutex_lock(&slot->lock);
    slot_fill(slot, hash, bytes, len, ret);
    pthread_mutex_unlock(&slot->lock);
    return 0;
}
