/*
 * token_store.c - salted-hash storage of tokens through the barrier.
 *
 * Owns the cached salt (locked memory). Token IDs are secrets: they are
 * hashed before any storage access and never logged.
 */
#include "token/token_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"

#define TOKEN_SALT_PATH "sys/token/salt"
#define TOKEN_SALT_BYTES 32
#define TOKEN_HASH_HEX (2 * 32 + 1)

struct token_store
{
    struct barrier *barrier;    /* not owned */
    pthread_mutex_t lock;       /* guards salt and salt_loaded */
    uint8_t *salt;              /* kh_secure_alloc(TOKEN_SALT_BYTES) */
    bool salt_loaded;
};

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Uniform base62 characters by rejection sampling of random bytes. */
static int random_base62(char *out, size_t count)
{
    uint8_t buf[64];
    size_t done = 0;
    int r = 0;

    while (done < count && r == 0) {
        size_t i;
        r = kh_random_bytes(buf, sizeof(buf));
        for (i = 0; r == 0 && i < sizeof(buf) && done < count; i++) {
            if (buf[i] < 248) /* 248 = 4 * 62: unbiased */
                out[done++] = base62[buf[i] % 62];
        }
    }
    out[count] = '\0';
    kh_wipe(buf, sizeof(buf));
    return r;
}

int token_store_create(struct barrier *barrier, struct token_store **ret_store)
{
    struct token_store *store;

    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return KH_ENOMEM;
    store->salt = kh_secure_alloc(TOKEN_SALT_BYTES);
    if (store->salt == NULL) {
        free(store);
        return KH_ENOMEM;
    }
    pthread_mutex_init(&store->lock, NULL);
    store->barrier = barrier;
    *ret_store = store;
    return 0;
}

void token_store_free(struct token_store *store)
{
    if (store == NULL)
        return;
    kh_secure_free(store->salt, TOKEN_SALT_BYTES);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

void token_store_seal(struct token_store *store)
{
    pthread_mutex_lock(&store->lock);
    kh_wipe(store->salt, TOKEN_SALT_BYTES);
    store->salt_loaded = false;
    pthread_mutex_unlock(&store->lock);
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

/* out = prefix + hex(HMAC-SHA256(salt, id)). */
static int token_path(struct token_store *store, const char *prefix,
                      const char *id, char *out, size_t out_size)
{
    uint8_t mac[32];
    unsigned mac_len = 0;
    char hex[TOKEN_HASH_HEX];
    int r;

    pthread_mutex_lock(&store->lock);
    r = salt_load_locked(store);
    if (r == 0 && HMAC(EVP_sha256(), store->salt, TOKEN_SALT_BYTES,
                       (const unsigned char *)id, strlen(id), mac,
                       &mac_len) == NULL)
        r = KH_EINTERNAL;
    pthread_mutex_unlock(&store->lock);
    if (r != 0)
        return r;
    kh_hex_encode(mac, sizeof(mac), hex);
    if ((size_t)snprintf(out, out_size, "%s%s", prefix, hex) >= out_size)
        return KH_EINTERNAL;
    return 0;
}

static int entry_store(struct token_store *store, const char *id,
                       const struct token_entry *entry)
{
    char id_path[128];
    char accessor_path[128];
    json_t *doc = NULL;
    char *text = NULL;
    struct kh_storage_op ops[2];
    int r;

    r = token_path(store, "sys/token/id/", id, id_path, sizeof(id_path));
    if (r == 0)
        r = token_path(store, "sys/token/accessor/", entry->accessor,
                       accessor_path, sizeof(accessor_path));
    if (r != 0)
        return r;
    r = KH_ENOMEM;
    doc = json_pack("{s:s, s:[s], s:s, s:s, s:I}", "accessor",
                    entry->accessor, "policies", "root", "display_name",
                    entry->display_name, "path", entry->path,
                    "creation_time", (json_int_t)entry->creation_time);
    if (doc != NULL)
        text = json_dumps(doc, JSON_COMPACT);
    if (text != NULL) {
        ops[0] = (struct kh_storage_op){KH_STORAGE_PUT, id_path,
                                        (const uint8_t *)text, strlen(text)};
        ops[1] = (struct kh_storage_op){
            KH_STORAGE_PUT, accessor_path,
            (const uint8_t *)id_path + strlen("sys/token/id/"),
            strlen(id_path) - strlen("sys/token/id/")};
        r = barrier_batch(store->barrier, ops, 2);
    }
    free(text);
    json_decref(doc);
    return r;
}

int token_store_create_root(struct token_store *store, const char *id,
                            char *out, size_t out_size)
{
    struct token_entry entry;
    char generated[sizeof(TOKEN_PREFIX) + TOKEN_RANDOM_CHARS];
    int r;

    memset(&entry, 0, sizeof(entry));
    if (id == NULL) {
        memcpy(generated, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
        r = random_base62(generated + sizeof(TOKEN_PREFIX) - 1,
                          TOKEN_RANDOM_CHARS);
        if (r != 0)
            goto out;
        id = generated;
    }
    r = KH_EINVAL;
    if (id[0] == '\0' || strlen(id) > TOKEN_ID_BYTES_MAX ||
        strlen(id) + 1 > out_size)
        goto out;
    r = random_base62(entry.accessor, TOKEN_RANDOM_CHARS);
    if (r != 0)
        goto out;
    strcpy(entry.display_name, "root");
    strcpy(entry.path, "auth/token/root");
    entry.creation_time = (int64_t)time(NULL);
    r = entry_store(store, id, &entry);
    if (r != 0)
        goto out;
    memcpy(out, id, strlen(id) + 1);
    r = 0; /* success */
out:
    kh_wipe(generated, sizeof(generated));
    return r;
}

static int entry_parse(const uint8_t *value, size_t len,
                       struct token_entry *ret)
{
    json_t *doc = NULL;
    json_t *policies = NULL;
    const char *accessor = NULL, *display = NULL, *path = NULL;
    json_int_t created = 0;
    size_t i;
    int r = KH_ECORRUPT;

    memset(ret, 0, sizeof(*ret));
    doc = json_loadb((const char *)value, len, 0, NULL);
    if (doc == NULL ||
        json_unpack(doc, "{s:s, s:o, s:s, s:s, s:I}", "accessor", &accessor,
                    "policies", &policies, "display_name", &display, "path",
                    &path, "creation_time", &created) != 0 ||
        !json_is_array(policies) ||
        json_array_size(policies) > TOKEN_POLICIES_MAX ||
        strlen(accessor) >= sizeof(ret->accessor) ||
        strlen(display) >= sizeof(ret->display_name) ||
        strlen(path) >= sizeof(ret->path))
        goto out;
    for (i = 0; i < json_array_size(policies); i++) {
        const char *name = json_string_value(json_array_get(policies, i));
        if (name == NULL || strlen(name) >= TOKEN_POLICY_NAME_MAX)
            goto out;
        strcpy(ret->policies[i], name);
        if (strcmp(name, "root") == 0)
            ret->root = true;
    }
    ret->policy_count = json_array_size(policies);
    strcpy(ret->accessor, accessor);
    strcpy(ret->display_name, display);
    strcpy(ret->path, path);
    ret->creation_time = (int64_t)created;
    r = 0; /* success */
out:
    json_decref(doc);
    return r;
}

int token_store_lookup(struct token_store *store, const char *id,
                       struct token_entry *ret)
{
    char path[128];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    if (id == NULL || id[0] == '\0' || strlen(id) > TOKEN_ID_BYTES_MAX)
        return KH_EPERM;
    r = token_path(store, "sys/token/id/", id, path, sizeof(path));
    if (r != 0)
        return r;
    r = barrier_get(store->barrier, path, &value, &len);
    if (r == KH_ENOTFOUND)
        return KH_EPERM;
    if (r != 0)
        return r;
    r = entry_parse(value, len, ret);
    kh_free_secret(value, len);
    return r;
}
