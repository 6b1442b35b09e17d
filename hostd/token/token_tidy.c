/*
 * token_tidy.c - cleanup of the token store (auth/token/tidy, and a
 * background thread every TOKEN_TIDY_INTERVAL_S seconds):
 *
 *   1. expired tokens are revoked with all their descendants;
 *   2. accessor records whose token is gone are deleted;
 *   3. children indexed under a parent that is gone (a revocation cut
 *      short by a crash) are revoked.
 *
 * Expired tokens already fail every lookup (token_store.c); tidy only
 * reclaims their storage. Each removal re-checks its condition under the
 * write lock, so tidy never races a concurrent create, renew or revoke;
 * the lock is not held across the whole scan. Scans are bounded by the
 * storage list limit. While sealed, a pass fails with KH_ESEALED and the
 * thread simply waits for the next period.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "token/token_internal.h"

/* Revoke hash if it is (still) expired. */
static int tidy_expired(struct token_store *store, const char *hash,
                        struct token_entry *e, size_t *removed)
{
    int r;

    pthread_mutex_lock(&store->write_lock);
    r = token_entry_load(store, hash, e);
    if (r == 0 && token_entry_expired(e, token_now()))
        r = token_tree_revoke_locked(store, hash, removed);
    else if (r == KH_ENOTFOUND || r == KH_ECORRUPT)
        r = 0; /* gone meanwhile; a corrupt record is left for an operator */
    pthread_mutex_unlock(&store->write_lock);
    return r;
}

static int tidy_tokens(struct token_store *store, struct token_entry *e,
                       size_t *removed)
{
    struct kh_storage_list list = {0};
    size_t i;
    int r;

    r = barrier_list(store->barrier, TOKEN_ID_PREFIX, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        if (!token_hash_valid(list.keys[i]))
            continue;
        r = token_entry_load(store, list.keys[i], e);
        if (r == 0 && token_entry_expired(e, token_now()))
            r = tidy_expired(store, list.keys[i], e, removed);
        else if (r == KH_ENOTFOUND || r == KH_ECORRUPT)
            r = 0;
    }
    kh_storage_list_free(&list);
    return r;
}

/* Delete accessor record acc_hash if the token it names is gone. */
static int tidy_accessor(struct token_store *store, const char *acc_hash,
                         struct token_entry *e)
{
    char key[TOKEN_KEY_BYTES];
    char target[TOKEN_HASH_HEX_BYTES + 1];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    token_key_accessor(acc_hash, key);
    pthread_mutex_lock(&store->write_lock);
    r = barrier_get(store->barrier, key, &value, &len);
    if (r == 0) {
        target[0] = '\0';
        if (len == TOKEN_HASH_HEX_BYTES) {
            memcpy(target, value, len);
            target[len] = '\0';
        }
        r = token_hash_valid(target) ? token_entry_load(store, target, e)
                                     : KH_ENOTFOUND;
        if (r == KH_ENOTFOUND)
            r = barrier_delete(store->barrier, key);
    }
    pthread_mutex_unlock(&store->write_lock);
    free(value); /* a hash, not a secret */
    return r == KH_ENOTFOUND || r == KH_ECORRUPT ? 0 : r;
}

static int tidy_accessors(struct token_store *store, struct token_entry *e)
{
    struct kh_storage_list list = {0};
    size_t i;
    int r;

    r = barrier_list(store->barrier, TOKEN_ACCESSOR_PREFIX, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        if (token_hash_valid(list.keys[i]))
            r = tidy_accessor(store, list.keys[i], e);
    }
    kh_storage_list_free(&list);
    return r;
}

/* Revoke the children of parent (a "<hash>/" folder) if it is gone. */
static int tidy_parent(struct token_store *store, const char *folder,
                       struct token_entry *e, size_t *removed)
{
    char parent[TOKEN_HASH_HEX_BYTES + 1];
    char prefix[TOKEN_KEY_BYTES];
    struct kh_storage_list list = {0};
    size_t i;
    int r;

    if (strlen(folder) != TOKEN_HASH_HEX_BYTES + 1)
        return 0;
    memcpy(parent, folder, TOKEN_HASH_HEX_BYTES);
    parent[TOKEN_HASH_HEX_BYTES] = '\0';
    if (!token_hash_valid(parent))
        return 0;
    pthread_mutex_lock(&store->write_lock);
    r = token_entry_load(store, parent, e);
    if (r != KH_ENOTFOUND)
        goto out; /* the parent lives (or cannot be read): nothing to do */
    token_key_children(parent, prefix);
    r = barrier_list(store->barrier, prefix, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        char edge[TOKEN_KEY_BYTES];
        if (!token_hash_valid(list.keys[i]))
            continue;
        r = token_tree_revoke_locked(store, list.keys[i], removed);
        token_key_parent(parent, list.keys[i], edge);
        if (r == 0)
            r = barrier_delete(store->barrier, edge);
    }
out:
    pthread_mutex_unlock(&store->write_lock);
    kh_storage_list_free(&list);
    return r == KH_ECORRUPT ? 0 : r;
}

static int tidy_parents(struct token_store *store, struct token_entry *e,
                        size_t *removed)
{
    struct kh_storage_list list = {0};
    size_t i;
    int r;

    r = barrier_list(store->barrier, TOKEN_PARENT_PREFIX, &list);
    for (i = 0; r == 0 && i < list.count; i++)
        r = tidy_parent(store, list.keys[i], e, removed);
    kh_storage_list_free(&list);
    return r;
}

int token_store_tidy(struct token_store *store, size_t *ret_removed)
{
    struct token_entry *e;
    size_t removed = 0;
    int r;

    KH_ASSERT(store != NULL);
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = tidy_tokens(store, e, &removed);
    if (r == 0)
        r = tidy_accessors(store, e);
    if (r == 0)
        r = tidy_parents(store, e, &removed);
    free(e);
    if (r == 0 && ret_removed != NULL)
        *ret_removed = removed;
    return r;
}

static void *tidy_main(void *arg)
{
    struct token_store *store = arg;
    struct timespec deadline;
    int r;

    pthread_mutex_lock(&store->tidy_lock);
    while (!store->tidy_stop) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += store->tidy_interval_s;
        while (!store->tidy_stop &&
               pthread_cond_timedwait(&store->tidy_cond, &store->tidy_lock,
                                      &deadline) != ETIMEDOUT)
            ;
        if (store->tidy_stop)
            break;
        pthread_mutex_unlock(&store->tidy_lock);
        /* Errors (sealed, storage) are retried at the next period; the
         * store stays correct because expired tokens fail lookups. */
        r = token_store_tidy(store, NULL);
        pthread_mutex_lock(&store->tidy_lock);
        if (r != 0)
            store->tidy_failures++;
    }
    pthread_mutex_unlock(&store->tidy_lock);
    return NULL;
}

int token_store_start_tidy(struct token_store *store, unsigned interval_s)
{
    int r = 0;

    KH_ASSERT(store != NULL);
    pthread_mutex_lock(&store->tidy_lock);
    if (!store->tidy_running) {
        store->tidy_interval_s =
            interval_s != 0 ? interval_s : TOKEN_TIDY_INTERVAL_S;
        store->tidy_stop = false;
        if (pthread_create(&store->tidy_thread, NULL, tidy_main, store) != 0)
            r = KH_ENOMEM;
        else
            store->tidy_running = true;
    }
    pthread_mutex_unlock(&store->tidy_lock);
    return r;
}

void token_store_stop_tidy(struct token_store *store)
{
    bool running;

    if (store == NULL)
        return;
    pthread_mutex_lock(&store->tidy_lock);
    running = store->tidy_running;
    store->tidy_stop = true;
    pthread_cond_broadcast(&store->tidy_cond);
    pthread_mutex_unlock(&store->tidy_lock);
    if (running)
        pthread_join(store->tidy_thread, NULL);
    pthread_mutex_lock(&store->tidy_lock);
    store->tidy_running = false;
    pthread_mutex_unlock(&store->tidy_lock);
}
