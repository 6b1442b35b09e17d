/*
 * policy_store.c - ACL policies through the barrier, a cache of compiled
 * policies, the built-in `default` policy and the implicit `root`
 * (policy_store.h; Vault API: sys/policy, §8.4).
 *
 * Owns the storage records under "sys/policy/", the cache of compiled
 * policies and the cache of ACLs per sequence of names. It must never
 * store a policy that does not parse, never let `root` be written, read
 * as text or deleted, never let `default` be deleted, never free a
 * compiled policy or cached ACL another thread may hold (references),
 * and never keep an ACL across a policy change: every change empties the
 * ACL cache under the exclusive lock and bumps a generation, and an ACL
 * whose build overlapped a change is used once, never cached.
 */
#include "policy/policy_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define POLICY_RECORD_VERSION 1
#define POLICY_STORE_KEY_BYTES                                                 \
    (sizeof(POLICY_STORE_PREFIX) + POLICY_NAME_BYTES_MAX)

/* Vault API: built-in policies: the stock `default` policy, minus the identity and
 * control-group paths Keyhold does not serve. */
static const char default_policy_text[] =
    "# Allow tokens to look up their own properties\n"
    "path \"auth/token/lookup-self\" {\n"
    "    capabilities = [\"read\"]\n"
    "}\n\n"
    "# Allow tokens to renew themselves\n"
    "path \"auth/token/renew-self\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow tokens to revoke themselves\n"
    "path \"auth/token/revoke-self\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow a token to look up its own capabilities on a path\n"
    "path \"sys/capabilities-self\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow a token to look up its resultant ACL from all policies\n"
    "path \"sys/internal/ui/resultant-acl\" {\n"
    "    capabilities = [\"read\"]\n"
    "}\n\n"
    "# Allow a token to renew a lease via lease_id in the request body\n"
    "path \"sys/leases/renew\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "path \"sys/renew\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow looking up lease properties\n"
    "path \"sys/leases/lookup\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow a token to manage its own cubbyhole\n"
    "path \"cubbyhole/*\" {\n"
    "    capabilities = [\"create\", \"read\", \"update\", \"delete\", "
    "\"list\"]\n"
    "}\n\n"
    "# Allow a token to wrap arbitrary values in a response-wrapping token\n"
    "path \"sys/wrapping/wrap\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow a token to look up the creation time and TTL of a wrapping "
    "token\n"
    "path \"sys/wrapping/lookup\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow a token to unwrap a response-wrapping token\n"
    "path \"sys/wrapping/unwrap\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n\n"
    "# Allow general purpose tools\n"
    "path \"sys/tools/hash\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n"
    "path \"sys/tools/hash/*\" {\n"
    "    capabilities = [\"update\"]\n"
    "}\n";

struct cache_entry
{
    char name[POLICY_NAME_BYTES_MAX + 1];
    struct policy *policy; /* one reference; NULL: known to be absent */
};

/* An ACL shared by the cache and the requests evaluating it. */
struct policy_store_acl
{
    atomic_uint refs;
    struct acl *acl;
};

struct acl_cache_entry
{
    char *key;      /* the names, each with its NUL; malloc'ed */
    size_t key_len; /* 0 for the empty sequence */
    struct policy_store_acl *held; /* the cache's reference */
};

struct policy_store
{
    struct barrier *barrier;
    pthread_rwlock_t lock;
    struct cache_entry *entries; /* sorted by name; guarded by lock */
    size_t count;
    size_t cap;
    /* The ACL cache, guarded by lock. generation counts the changes that
     * emptied it; acl_next is the entry replaced next when it is full. */
    struct acl_cache_entry acls[POLICY_ACL_CACHE_MAX];
    size_t acl_count;
    size_t acl_next;
    unsigned long long generation;
};

bool policy_store_name_valid(const char *name)
{
    size_t i, len = strlen(name);

    if (len == 0 || len > POLICY_NAME_BYTES_MAX)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || (c >= 'A' && c <= 'Z'))
            return false;
    }
    return true;
}

int policy_store_create(struct barrier *barrier,
                        struct policy_store **ret_store)
{
    struct policy_store *store;

    KH_ASSERT(barrier != NULL);
    store = calloc(1, sizeof(*store));
    if (store == NULL)
        return KH_ENOMEM;
    if (pthread_rwlock_init(&store->lock, NULL) != 0) {
        free(store);
        return KH_EINTERNAL;
    }
    store->barrier = barrier;
    *ret_store = store;
    return 0;
}

/* ---- the cache (caller holds the lock) ---- */

static size_t cache_find(const struct policy_store *store, const char *name,
                         bool *found)
{
    size_t lo = 0, hi = store->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(store->entries[mid].name, name);
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

/* Cache policy (a reference taken over; NULL = absent) under name. When
 * the cache is full the entry is simply not kept. */
static void cache_set(struct policy_store *store, const char *name,
                      struct policy *policy)
{
    bool found;
    size_t i = cache_find(store, name, &found);

    KH_ASSERT(strlen(name) <= POLICY_NAME_BYTES_MAX);
    if (found) {
        policy_unref(store->entries[i].policy);
        store->entries[i].policy = policy;
        return;
    }
    if (store->count == store->cap) {
        size_t cap = store->cap == 0 ? 16 : store->cap * 2;
        struct cache_entry *grown;
        if (store->cap >= POLICY_CACHE_ENTRIES_MAX)
            goto drop;
        if (cap > POLICY_CACHE_ENTRIES_MAX)
            cap = POLICY_CACHE_ENTRIES_MAX;
        grown = realloc(store->entries, cap * sizeof(*grown));
        if (grown == NULL)
            goto drop;
        store->entries = grown;
        store->cap = cap;
    }
    memmove(&store->entries[i + 1], &store->entries[i],
            (store->count - i) * sizeof(*store->entries));
    snprintf(store->entries[i].name, sizeof(store->entries[i].name), "%s",
             name);
    store->entries[i].policy = policy;
    store->count++;
    return;
drop:
    policy_unref(policy);
}

static void cache_remove(struct policy_store *store, const char *name)
{
    bool found;
    size_t i = cache_find(store, name, &found);

    if (!found)
        return;
    policy_unref(store->entries[i].policy);
    memmove(&store->entries[i], &store->entries[i + 1],
            (store->count - i - 1) * sizeof(*store->entries));
    store->count--;
}

static void cache_clear(struct policy_store *store)
{
    size_t i;

    for (i = 0; i < store->count; i++)
        policy_unref(store->entries[i].policy);
    store->count = 0;
}

const struct acl *policy_store_acl_of(const struct policy_store_acl *held)
{
    return held->acl;
}

void policy_store_acl_release(struct policy_store_acl *held)
{
    if (held == NULL)
        return;
    if (atomic_fetch_sub(&held->refs, 1) == 1) {
        acl_free(held->acl);
        free(held);
    }
}

/* Forget every cached ACL: a policy changed (or may have). Caller holds
 * the lock exclusively. */
static void acl_cache_clear(struct policy_store *store)
{
    size_t i;

    for (i = 0; i < store->acl_count; i++) {
        free(store->acls[i].key);
        policy_store_acl_release(store->acls[i].held);
    }
    memset(store->acls, 0, sizeof(store->acls));
    store->acl_count = 0;
    store->acl_next = 0;
    store->generation++;
}

void policy_store_seal(struct policy_store *store)
{
    pthread_rwlock_wrlock(&store->lock);
    cache_clear(store);
    acl_cache_clear(store);
    pthread_rwlock_unlock(&store->lock);
}

void policy_store_invalidate(struct policy_store *store, const char *name)
{
    pthread_rwlock_wrlock(&store->lock);
    cache_remove(store, name);
    acl_cache_clear(store);
    pthread_rwlock_unlock(&store->lock);
}

void policy_store_free(struct policy_store *store)
{
    if (store == NULL)
        return;
    cache_clear(store);
    acl_cache_clear(store);
    free(store->entries);
    pthread_rwlock_destroy(&store->lock);
    free(store);
}

/* ---- records ---- */

static void storage_key(const char *name, char out[POLICY_STORE_KEY_BYTES])
{
    int n = snprintf(out, POLICY_STORE_KEY_BYTES, "%s%s", POLICY_STORE_PREFIX,
                     name);

    KH_ASSERT(n > 0);
    KH_ASSERT((size_t)n < POLICY_STORE_KEY_BYTES);
}

/* Read and compile the stored policy name. Caller holds the lock. */
static int load_locked(struct policy_store *store, const char *name,
                       struct policy **ret)
{
    char key[POLICY_STORE_KEY_BYTES], errmsg[KH_ERRMSG_SIZE];
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *stored_name = NULL, *text = NULL;
    size_t text_len = 0;
    int version = 0;
    int r = KH_EINTERNAL;

    storage_key(name, key);
    r = barrier_get(store->barrier, key, &value, &len);
    if (r != 0)
        goto out;
    doc = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL ||
        json_unpack(doc, "{s:i, s:s, s:s%}", "version", &version, "name",
                    &stored_name, "policy", &text, &text_len) != 0 ||
        version != POLICY_RECORD_VERSION || strcmp(stored_name, name) != 0) {
        r = KH_ECORRUPT;
        goto out;
    }
    r = policy_parse(name, text, text_len, ret, errmsg, sizeof(errmsg));
    if (r == KH_EINVAL || r == KH_ELIMIT)
        r = KH_ECORRUPT;
out:
    json_decref(doc);
    kh_free_secret(value, len);
    return r;
}

/* The record text for a policy; *ret is malloc'ed. */
static int record_encode(const struct policy *p, char **ret, size_t *ret_len)
{
    json_t *doc =
        json_pack("{s:i, s:s, s:s%}", "version", POLICY_RECORD_VERSION, "name",
                  p->name, "policy", p->text, p->text_len);
    char *buf = NULL;
    size_t len;

    if (doc == NULL)
        return KH_EINVAL; /* the text is not valid UTF-8 */
    len = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    if (len > 0)
        buf = malloc(len);
    if (buf == NULL || json_dumpb(doc, buf, len, JSON_COMPACT) != len) {
        free(buf);
        json_decref(doc);
        return KH_ENOMEM;
    }
    json_decref(doc);
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* Refuse a new name once POLICY_COUNT_MAX are stored. Caller locks. */
static int check_count_locked(struct policy_store *store, const char *name)
{
    struct kh_storage_list list = {0};
    size_t i;
    bool exists = false;
    int r;

    r = barrier_list(store->barrier, POLICY_STORE_PREFIX, &list);
    if (r != 0)
        return r;
    for (i = 0; i < list.count && !exists; i++)
        exists = strcmp(list.keys[i], name) == 0;
    r = !exists && list.count >= POLICY_COUNT_MAX ? KH_ELIMIT : 0;
    kh_storage_list_free(&list);
    return r;
}

/* Store a compiled policy and cache it. Caller holds the write lock. */
static int put_locked(struct policy_store *store, struct policy *p,
                      char *errmsg, size_t errmsg_size)
{
    char key[POLICY_STORE_KEY_BYTES];
    char *record = NULL;
    size_t record_len = 0;
    int r;

    r = check_count_locked(store, p->name);
    if (r == KH_ELIMIT)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "cannot store more than %u policies",
                         (unsigned)POLICY_COUNT_MAX);
    if (r != 0)
        return r;
    r = record_encode(p, &record, &record_len);
    if (r == KH_EINVAL)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "policy text is not valid UTF-8");
    if (r != 0)
        return r;
    storage_key(p->name, key);
    r = barrier_put(store->barrier, key, (const uint8_t *)record, record_len);
    free(record);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "failed to store policy: %s",
                         kh_strerror(r));
    cache_set(store, p->name, policy_ref(p));
    acl_cache_clear(store);
    return 0;
}

int policy_store_put(struct policy_store *store, const char *name,
                     const char *text, size_t len, char *errmsg,
                     size_t errmsg_size)
{
    char parse_msg[KH_ERRMSG_SIZE];
    struct policy *p = NULL;
    int r;

    if (!policy_store_name_valid(name))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid policy name");
    if (strcmp(name, POLICY_ROOT_NAME) == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "cannot update \"root\" policy");
    r = policy_parse(name, text, len, &p, parse_msg, sizeof(parse_msg));
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "failed to parse policy: %s",
                         parse_msg);
    pthread_rwlock_wrlock(&store->lock);
    r = put_locked(store, p, errmsg, errmsg_size);
    pthread_rwlock_unlock(&store->lock);
    policy_unref(p);
    return r;
}

int policy_store_setup(struct policy_store *store)
{
    char errmsg[KH_ERRMSG_SIZE], key[POLICY_STORE_KEY_BYTES];
    struct policy *p = NULL;
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = policy_parse(POLICY_DEFAULT_NAME, default_policy_text,
                     sizeof(default_policy_text) - 1, &p, errmsg,
                     sizeof(errmsg));
    KH_ASSERT(r != KH_EINVAL); /* the built-in text always parses */
    if (r != 0)
        return r;
    storage_key(POLICY_DEFAULT_NAME, key);
    pthread_rwlock_wrlock(&store->lock);
    r = barrier_get(store->barrier, key, &value, &len);
    if (r == KH_ENOTFOUND)
        r = put_locked(store, p, errmsg, sizeof(errmsg));
    pthread_rwlock_unlock(&store->lock);
    kh_free_secret(value, len);
    policy_unref(p);
    return r;
}

/* Look name up in the cache; true when the cache answered (*ret is a new
 * reference or NULL for a known absence). Caller holds the lock. */
static bool cache_lookup(const struct policy_store *store, const char *name,
                         struct policy **ret)
{
    bool found;
    size_t i = cache_find(store, name, &found);

    if (!found)
        return false;
    *ret = store->entries[i].policy != NULL
               ? policy_ref(store->entries[i].policy)
               : NULL;
    return true;
}

int policy_store_get_compiled(struct policy_store *store, const char *name,
                              struct policy **ret_policy)
{
    struct policy *p = NULL;
    bool hit;
    int r = 0;

    if (!policy_store_name_valid(name) || strcmp(name, POLICY_ROOT_NAME) == 0)
        return KH_ENOTFOUND;
    pthread_rwlock_rdlock(&store->lock);
    hit = cache_lookup(store, name, &p);
    pthread_rwlock_unlock(&store->lock);
    if (!hit) {
        /* fill under the write lock: no put can interleave */
        pthread_rwlock_wrlock(&store->lock);
        if (!cache_lookup(store, name, &p)) {
            r = load_locked(store, name, &p);
            if (r == 0)
                cache_set(store, name, policy_ref(p));
            else if (r == KH_ENOTFOUND)
                cache_set(store, name, NULL);
        }
        pthread_rwlock_unlock(&store->lock);
    }
    if (r == 0 && p == NULL)
        r = KH_ENOTFOUND;
    if (r != 0)
        return r;
    *ret_policy = p;
    return 0;
}

int policy_store_delete(struct policy_store *store, const char *name,
                        char *errmsg, size_t errmsg_size)
{
    char key[POLICY_STORE_KEY_BYTES];
    int r;

    if (strcmp(name, POLICY_ROOT_NAME) == 0 ||
        strcmp(name, POLICY_DEFAULT_NAME) == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "cannot delete \"%s\" policy", name);
    if (!policy_store_name_valid(name))
        return 0; /* such a name is never stored */
    storage_key(name, key);
    pthread_rwlock_wrlock(&store->lock);
    r = barrier_delete(store->barrier, key);
    if (r == 0 || r == KH_ENOTFOUND) {
        cache_set(store, name, NULL);
        r = 0;
    }
    acl_cache_clear(store); /* even after a failure: the record may be gone */
    pthread_rwlock_unlock(&store->lock);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "failed to delete policy: %s",
                         kh_strerror(r));
    return 0;
}

int policy_store_list(struct policy_store *store, struct kh_storage_list *ret)
{
    return barrier_list(store->barrier, POLICY_STORE_PREFIX, ret);
}

int policy_store_acl_for(struct policy_store *store, const char *const *names,
                         size_t count, struct acl **ret_acl)
{
    struct policy *policies[ACL_POLICIES_MAX] = {0};
    size_t i;
    int r = KH_EINTERNAL;

    if (count > ACL_POLICIES_MAX)
        return KH_ELIMIT;
    for (i = 0; i < count; i++) {
        if (strcmp(names[i], POLICY_ROOT_NAME) == 0)
            return acl_create(NULL, 0, true, ret_acl);
    }
    for (i = 0; i < count; i++) {
        r = policy_store_get_compiled(store, names[i], &policies[i]);
        if (r == KH_ENOTFOUND)
            r = 0; /* unknown policies grant nothing */
        if (r != 0)
            goto out;
    }
    r = acl_create(policies, count, false, ret_acl);
out:
    for (i = 0; i < count; i++)
        policy_unref(policies[i]);
    return r;
}

/* ---- the ACL cache ---- */

/* Whether a cached key is exactly the sequence names[0..count). */
static bool acl_key_equal(const struct acl_cache_entry *e,
                          const char *const *names, size_t count)
{
    size_t off = 0;
    size_t i;

    for (i = 0; i < count; i++) {
        size_t len = strlen(names[i]) + 1;
        if (len > e->key_len - off || memcmp(e->key + off, names[i], len) != 0)
            return false;
        off += len;
    }
    return off == e->key_len;
}

/* The cached ACL of names with a new reference, or NULL. Caller holds
 * the lock (shared is enough: references are atomic). */
static struct policy_store_acl *acl_cache_find(struct policy_store *store,
                                               const char *const *names,
                                               size_t count)
{
    size_t i;

    for (i = 0; i < store->acl_count; i++) {
        if (acl_key_equal(&store->acls[i], names, count)) {
            atomic_fetch_add(&store->acls[i].held->refs, 1);
            return store->acls[i].held;
        }
    }
    return NULL;
}

/* Keep held (a reference is taken) as the ACL of names, replacing the
 * oldest entry when full; nothing is kept when the key cannot be
 * allocated. Caller holds the lock exclusively. */
static void acl_cache_add(struct policy_store *store, const char *const *names,
                          size_t count, struct policy_store_acl *held)
{
    struct policy_store_acl *found = acl_cache_find(store, names, count);
    struct acl_cache_entry *e;
    size_t key_len = 0, off = 0;
    char *key;
    size_t i;

    if (found != NULL) { /* another request cached it meanwhile */
        policy_store_acl_release(found);
        return;
    }
    for (i = 0; i < count; i++)
        key_len += strlen(names[i]) + 1;
    key = malloc(key_len > 0 ? key_len : 1);
    if (key == NULL)
        return;
    for (i = 0; i < count; i++) {
        memcpy(key + off, names[i], strlen(names[i]) + 1);
        off += strlen(names[i]) + 1;
    }
    if (store->acl_count < POLICY_ACL_CACHE_MAX) {
        e = &store->acls[store->acl_count++];
    } else {
        e = &store->acls[store->acl_next];
        store->acl_next = (store->acl_next + 1) % POLICY_ACL_CACHE_MAX;
        free(e->key);
        policy_store_acl_release(e->held);
    }
    atomic_fetch_add(&held->refs, 1);
    *e = (struct acl_cache_entry){key, key_len, held};
}

int policy_store_acl_acquire(struct policy_store *store,
                             const char *const *names, size_t count,
                             struct policy_store_acl **ret_held)
{
    struct policy_store_acl *held;
    struct acl *acl = NULL;
    unsigned long long generation;
    int r;

    if (count > ACL_POLICIES_MAX)
        return KH_ELIMIT;
    pthread_rwlock_rdlock(&store->lock);
    held = acl_cache_find(store, names, count);
    generation = store->generation;
    pthread_rwlock_unlock(&store->lock);
    if (held != NULL) {
        *ret_held = held;
        return 0;
    }
    r = policy_store_acl_for(store, names, count, &acl);
    if (r != 0)
        return r;
    held = calloc(1, sizeof(*held));
    if (held == NULL) {
        acl_free(acl);
        return KH_ENOMEM;
    }
    held->acl = acl;
    atomic_init(&held->refs, 1);
    /* Kept only when no policy changed since the lookup above: the build
     * then read nothing older than the current policies. */
    pthread_rwlock_wrlock(&store->lock);
    if (store->generation == generation)
        acl_cache_add(store, names, count, held);
    pthread_rwlock_unlock(&store->lock);
    *ret_held = held;
    return 0;
}
