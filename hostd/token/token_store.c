/*
 * token_store.c - salted-hash storage of tokens through the barrier: the
 * salt, the storage keys, reading and writing entries, lookup (by ID and
 * by accessor), the expiry check and the consumption of uses.
 *
 * Owns the cached salt (locked memory) and the store's decode cache
 * (token_cache.c), wiped on seal. Token IDs are secrets: they are
 * hashed before any storage access, never stored, never logged; an entry
 * carries only the hash of its own ID and of its parent's.
 */
#include "token/token_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "token/token_internal.h"

int token_store_create(struct barrier *barrier, struct token_store **ret_store)
{
    pthread_condattr_t cond_attr;
    struct token_store *store;

    KH_ASSERT(barrier != NULL);
    KH_ASSERT(ret_store != NULL);
    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return KH_ENOMEM;
    store->salt = kh_secure_alloc(TOKEN_SALT_BYTES);
    if (store->salt == NULL || token_cache_create(&store->cache) != 0) {
        kh_secure_free(store->salt, TOKEN_SALT_BYTES);
        free(store);
        return KH_ENOMEM;
    }
    pthread_mutex_init(&store->lock, NULL);
    pthread_mutex_init(&store->write_lock, NULL);
    pthread_mutex_init(&store->tidy_lock, NULL);
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC); /* tidy waits */
    pthread_cond_init(&store->tidy_cond, &cond_attr);
    pthread_condattr_destroy(&cond_attr);
    store->barrier = barrier;
    *ret_store = store;
    return 0;
}

void token_store_free(struct token_store *store)
{
    if (store == NULL)
        return;
    token_store_stop_tidy(store);
    token_cache_free(store->cache);
    kh_secure_free(store->salt, TOKEN_SALT_BYTES);
    pthread_cond_destroy(&store->tidy_cond);
    pthread_mutex_destroy(&store->tidy_lock);
    pthread_mutex_destroy(&store->write_lock);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

void token_store_configure(struct token_store *store, uint64_t default_ttl_s,
                           uint64_t max_ttl_s)
{
    KH_ASSERT(store != NULL);
    pthread_mutex_lock(&store->write_lock);
    store->default_ttl_s = default_ttl_s;
    store->max_ttl_s = max_ttl_s;
    pthread_mutex_unlock(&store->write_lock);
}

void token_store_seal(struct token_store *store)
{
    KH_ASSERT(store != NULL);
    pthread_mutex_lock(&store->lock);
    kh_wipe(store->salt, TOKEN_SALT_BYTES);
    store->salt_loaded = false;
    pthread_mutex_unlock(&store->lock);
    token_cache_clear(store->cache);
}

/* Load the salt into the cache; caller holds store->lock. */
static int salt_load_locked(struct token_store *store)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    if (store->salt_loaded)
        return 0;
    r = barrier_get(store->barrier, TOKEN_SALT_PATH, &value, &len);
    if (r != 0)
        return r;
    if (len != TOKEN_SALT_BYTES) {
        kh_free_secret(value, len);
        return KH_ECORRUPT;
    }
    memcpy(store->salt, value, TOKEN_SALT_BYTES);
    kh_free_secret(value, len);
    store->salt_loaded = true;
    return 0;
}

int token_store_setup(struct token_store *store)
{
    uint8_t salt[TOKEN_SALT_BYTES];
    int r;

    KH_ASSERT(store != NULL);
    pthread_mutex_lock(&store->lock);
    r = salt_load_locked(store);
    if (r == KH_ENOTFOUND) {
        r = kh_random_bytes(salt, sizeof(salt));
        if (r == 0)
            r = barrier_put(store->barrier, TOKEN_SALT_PATH, salt,
                            sizeof(salt));
        if (r == 0)
            r = salt_load_locked(store);
    }
    pthread_mutex_unlock(&store->lock);
    kh_wipe(salt, sizeof(salt));
    return r;
}

int64_t token_now(void)
{
    return (int64_t)time(NULL);
}

int token_hash(struct token_store *store, const char *text,
               char out[TOKEN_HASH_HEX_BYTES + 1])
{
    uint8_t mac[32];
    unsigned mac_len = 0;
    int r;

    KH_ASSERT(text != NULL);
    pthread_mutex_lock(&store->lock);
    r = salt_load_locked(store);
    if (r == 0 &&
        HMAC(EVP_sha256(), store->salt, TOKEN_SALT_BYTES,
             (const unsigned char *)text, strlen(text), mac, &mac_len) == NULL)
        r = KH_EINTERNAL;
    pthread_mutex_unlock(&store->lock);
    if (r == 0) {
        KH_ASSERT(mac_len == sizeof(mac));
        kh_hex_encode(mac, sizeof(mac), out);
    }
    kh_wipe(mac, sizeof(mac));
    return r;
}

bool token_hash_valid(const char *text)
{
    size_t i;

    for (i = 0; i < TOKEN_HASH_HEX_BYTES; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return text[i] == '\0';
}

void token_key_id(const char *hash, char out[TOKEN_KEY_BYTES])
{
    KH_ASSERT(strlen(hash) == TOKEN_HASH_HEX_BYTES);
    snprintf(out, TOKEN_KEY_BYTES, "%s%s", TOKEN_ID_PREFIX, hash);
}

void token_key_accessor(const char *acc_hash, char out[TOKEN_KEY_BYTES])
{
    KH_ASSERT(strlen(acc_hash) == TOKEN_HASH_HEX_BYTES);
    snprintf(out, TOKEN_KEY_BYTES, "%s%s", TOKEN_ACCESSOR_PREFIX, acc_hash);
}

void token_key_parent(const char *parent, const char *child,
                      char out[TOKEN_KEY_BYTES])
{
    KH_ASSERT(strlen(parent) == TOKEN_HASH_HEX_BYTES);
    KH_ASSERT(strlen(child) == TOKEN_HASH_HEX_BYTES);
    snprintf(out, TOKEN_KEY_BYTES, "%s%s/%s", TOKEN_PARENT_PREFIX, parent,
             child);
}

void token_key_children(const char *parent, char out[TOKEN_KEY_BYTES])
{
    KH_ASSERT(strlen(parent) == TOKEN_HASH_HEX_BYTES);
    snprintf(out, TOKEN_KEY_BYTES, "%s%s/", TOKEN_PARENT_PREFIX, parent);
}

bool token_entry_expired(const struct token_entry *e, int64_t now)
{
    return e->expire_time != 0 && e->expire_time <= now;
}

int token_entry_load(struct token_store *store, const char *hash,
                     struct token_entry *ret)
{
    char key[TOKEN_KEY_BYTES];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    KH_ASSERT(token_hash_valid(hash));
    token_key_id(hash, key);
    r = barrier_get(store->barrier, key, &value, &len);
    if (r != 0)
        return r;
    r = token_cache_decode(store->cache, hash, value, len, ret);
    kh_free_secret(value, len);
    return r;
}

int token_entry_load_valid(struct token_store *store, const char *hash,
                           struct token_entry *ret)
{
    int r = token_entry_load(store, hash, ret);

    if (r == KH_ENOTFOUND)
        return KH_EPERM;
    if (r == 0 && token_entry_expired(ret, token_now()))
        return KH_EPERM;
    return r;
}

int token_entry_rewrite(struct token_store *store, const struct token_entry *e)
{
    char key[TOKEN_KEY_BYTES];
    char *text = NULL;
    size_t len = 0;
    int r;

    KH_ASSERT(token_hash_valid(e->id_hash));
    r = token_entry_encode(e, &text, &len);
    if (r != 0)
        return r;
    token_key_id(e->id_hash, key);
    r = barrier_put(store->barrier, key, (const uint8_t *)text, len);
    kh_free_secret(text, len);
    return r;
}

int token_entry_insert(struct token_store *store, const struct token_entry *e)
{
    char id_key[TOKEN_KEY_BYTES];
    char acc_key[TOKEN_KEY_BYTES];
    char parent_key[TOKEN_KEY_BYTES];
    char acc_hash[TOKEN_HASH_HEX_BYTES + 1];
    struct kh_storage_op ops[3];
    char *text = NULL;
    size_t len = 0, n = 0;
    int r;

    KH_ASSERT(token_hash_valid(e->id_hash));
    KH_ASSERT(e->orphan == (e->parent[0] == '\0'));
    r = token_entry_encode(e, &text, &len);
    if (r != 0)
        return r;
    token_key_id(e->id_hash, id_key);
    ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, id_key,
                                      (const uint8_t *)text, len};
    if (e->accessor[0] != '\0') {
        r = token_hash(store, e->accessor, acc_hash);
        if (r != 0)
            goto out;
        token_key_accessor(acc_hash, acc_key);
        ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, acc_key,
                                          (const uint8_t *)e->id_hash,
                                          TOKEN_HASH_HEX_BYTES};
    }
    if (!e->orphan) {
        token_key_parent(e->parent, e->id_hash, parent_key);
        ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, parent_key,
                                          (const uint8_t *)"1", 1};
    }
    r = barrier_batch(store->barrier, ops, n);
out:
    kh_free_secret(text, len);
    return r;
}

int token_accessor_resolve(struct token_store *store, const char *accessor,
                           char ret_hash[TOKEN_HASH_HEX_BYTES + 1])
{
    char acc_hash[TOKEN_HASH_HEX_BYTES + 1];
    char key[TOKEN_KEY_BYTES];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    if (accessor == NULL || accessor[0] == '\0' ||
        strlen(accessor) > TOKEN_RANDOM_CHARS)
        return KH_EPERM;
    r = token_hash(store, accessor, acc_hash);
    if (r != 0)
        return r;
    token_key_accessor(acc_hash, key);
    r = barrier_get(store->barrier, key, &value, &len);
    if (r == KH_ENOTFOUND)
        return KH_EPERM;
    if (r != 0)
        return r;
    if (len == TOKEN_HASH_HEX_BYTES) {
        memcpy(ret_hash, value, TOKEN_HASH_HEX_BYTES);
        ret_hash[TOKEN_HASH_HEX_BYTES] = '\0';
        r = token_hash_valid(ret_hash) ? 0 : KH_ECORRUPT;
    } else {
        r = KH_ECORRUPT;
    }
    kh_free_secret(value, len);
    return r;
}

/* The hash of a presented ID; KH_EPERM for IDs that cannot exist. */
static int id_hash(struct token_store *store, const char *id,
                   char out[TOKEN_HASH_HEX_BYTES + 1])
{
    if (id == NULL || id[0] == '\0' || strlen(id) > TOKEN_ID_BYTES_MAX)
        return KH_EPERM;
    return token_hash(store, id, out);
}

int token_store_lookup(struct token_store *store, const char *id,
                       struct token_entry *ret)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    int r;

    KH_ASSERT(store != NULL);
    KH_ASSERT(ret != NULL);
    r = id_hash(store, id, hash);
    if (r == 0)
        r = token_entry_load_valid(store, hash, ret);
    return r;
}

int token_store_lookup_accessor(struct token_store *store, const char *accessor,
                                struct token_entry *ret)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    int r;

    KH_ASSERT(store != NULL);
    r = token_accessor_resolve(store, accessor, hash);
    if (r == 0)
        r = token_entry_load_valid(store, hash, ret);
    return r;
}

/* Consume one use of a use-limited token under the write lock. */
static int use_limited(struct token_store *store, const char *hash,
                       struct token_entry *ret)
{
    int r;

    pthread_mutex_lock(&store->write_lock);
    r = token_entry_load_valid(store, hash, ret);
    if (r != 0 || ret->num_uses == 0)
        goto out;
    ret->num_uses--;
    if (ret->num_uses == 0)
        r = token_tree_revoke_locked(store, hash, NULL);
    else
        r = token_entry_rewrite(store, ret);
out:
    pthread_mutex_unlock(&store->write_lock);
    return r;
}

int token_store_use(struct token_store *store, const char *id,
                    struct token_entry *ret)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    int r;

    KH_ASSERT(store != NULL);
    KH_ASSERT(ret != NULL);
    r = id_hash(store, id, hash);
    if (r != 0)
        return r;
    /* Loaded in place (the gate's entry is ~30 KiB): a refused token
     * leaves nothing of its entry behind in *ret. */
    r = token_entry_load_valid(store, hash, ret);
    if (r == 0 && ret->num_uses > 0)
        r = use_limited(store, hash, ret);
    if (r != 0)
        memset(ret, 0, sizeof(*ret));
    return r;
}

/* The root-token entry: never expires, policy "root", an orphan. */
static void root_entry(struct token_entry *e)
{
    memset(e, 0, sizeof(*e));
    strcpy(e->policies[0], "root");
    e->policy_count = 1;
    e->root = true;
    strcpy(e->display_name, "root");
    strcpy(e->path, "auth/token/root");
    e->creation_time = token_now();
    e->orphan = true;
    e->type = TOKEN_TYPE_SERVICE;
}

int token_store_create_root(struct token_store *store, const char *id,
                            char *out, size_t out_size)
{
    struct token_entry *entry = NULL;
    char generated[sizeof(TOKEN_PREFIX) + TOKEN_RANDOM_CHARS];
    int r = KH_ENOMEM;

    KH_ASSERT(store != NULL);
    KH_ASSERT(out != NULL);
    entry = malloc(sizeof(*entry));
    if (entry == NULL)
        goto out;
    root_entry(entry);
    if (id == NULL) {
        memcpy(generated, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
        r = kh_random_base62(generated + sizeof(TOKEN_PREFIX) - 1,
                             TOKEN_RANDOM_CHARS);
        if (r != 0)
            goto out;
        id = generated;
    }
    r = KH_EINVAL;
    if (id[0] == '\0' || strlen(id) > TOKEN_ID_BYTES_MAX ||
        strlen(id) + 1 > out_size)
        goto out;
    r = kh_random_base62(entry->accessor, TOKEN_RANDOM_CHARS);
    if (r == 0)
        r = token_hash(store, id, entry->id_hash);
    if (r != 0)
        goto out;
    pthread_mutex_lock(&store->write_lock);
    r = token_entry_insert(store, entry);
    pthread_mutex_unlock(&store->write_lock);
    if (r != 0)
        goto out;
    memcpy(out, id, strlen(id) + 1);
    r = 0; /* success */
out:
    free(entry);
    kh_wipe(generated, sizeof(generated));
    return r;
}

int token_store_revoke(struct token_store *store, const char *id)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    struct token_entry *e;
    int r;

    KH_ASSERT(store != NULL);
    r = id_hash(store, id, hash);
    if (r == KH_EPERM)
        return 0;
    if (r != 0)
        return r;
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_entry_load(store, hash, e);
    if (r == 0 && e->type == TOKEN_TYPE_BATCH)
        r = KH_EINVAL;
    else if (r == 0 || r == KH_ENOTFOUND)
        r = token_tree_revoke(store, hash);
    free(e);
    return r;
}
