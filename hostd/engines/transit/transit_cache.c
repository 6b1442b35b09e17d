/*
 * transit_cache.c - the per-mount cache of decoded keys, the mount's
 * locks, key creation and rotation (including lazy auto-rotation).
 *
 * Owns the cache slots (TRANSIT_CACHE_KEYS_MAX; when full, one is evicted
 * round robin under the write lock, which no reader holds a pointer
 * across) and the rule that records change only under the write lock.
 * An evicted managed key loses only its unused IV reservation: reloading
 * resumes at the stored reservation. It never decides permissions and
 * never answers the client itself.
 */
#include "engines/transit/transit.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

void transit_lock_read(struct transit_state *state)
{
    int rc;

    KH_ASSERT(state != NULL);
    rc = pthread_rwlock_rdlock(&state->lock);
    KH_ASSERT(rc == 0);
}

void transit_lock_write(struct transit_state *state)
{
    int rc;

    KH_ASSERT(state != NULL);
    rc = pthread_rwlock_wrlock(&state->lock);
    KH_ASSERT(rc == 0);
}

void transit_unlock(struct transit_state *state)
{
    int rc;

    KH_ASSERT(state != NULL);
    rc = pthread_rwlock_unlock(&state->lock);
    KH_ASSERT(rc == 0);
}

static struct transit_policy *cache_find(struct transit_state *state,
                                         const char *name)
{
    size_t i;

    for (i = 0; i < TRANSIT_CACHE_KEYS_MAX; i++) {
        if (state->cache[i] != NULL && strcmp(state->cache[i]->name, name) == 0)
            return state->cache[i];
    }
    return NULL;
}

void transit_cache_insert(struct transit_state *state,
                          struct transit_policy *pol)
{
    size_t i;

    KH_ASSERT(pol != NULL);
    KH_ASSERT(cache_find(state, pol->name) == NULL);
    for (i = 0; i < TRANSIT_CACHE_KEYS_MAX; i++) {
        if (state->cache[i] == NULL) {
            state->cache[i] = pol;
            return;
        }
    }
    i = state->cache_next;
    state->cache_next = (state->cache_next + 1) % TRANSIT_CACHE_KEYS_MAX;
    transit_policy_free(state->cache[i]);
    state->cache[i] = pol;
}

void transit_cache_remove(struct transit_state *state, const char *name)
{
    size_t i;

    for (i = 0; i < TRANSIT_CACHE_KEYS_MAX; i++) {
        if (state->cache[i] != NULL &&
            strcmp(state->cache[i]->name, name) == 0) {
            transit_policy_free(state->cache[i]);
            state->cache[i] = NULL;
        }
    }
}

int transit_key_find_locked(const struct transit_call *call, const char *name,
                            struct transit_policy **ret_pol)
{
    struct transit_policy *pol = cache_find(call->state, name);
    int r;

    if (pol == NULL) {
        r = transit_policy_load(call->br->view, name, &pol);
        if (r != 0)
            return r;
        transit_cache_insert(call->state, pol);
    }
    *ret_pol = pol;
    return 0;
}

/* True when pol's auto_rotate_period has passed since its latest
 * version was created. */
static bool rotation_due(const struct transit_policy *pol, int64_t now)
{
    const struct transit_version *latest;

    if (pol->auto_rotate_period_s == 0)
        return false;
    latest = transit_policy_version(pol, pol->latest_version);
    KH_ASSERT(latest != NULL);
    return now >= latest->created_s &&
           (uint64_t)(now - latest->created_s) >= pol->auto_rotate_period_s;
}

int transit_key_rotate_locked(const struct transit_call *call,
                              struct transit_policy *pol)
{
    int r;

    r = transit_policy_add_version(call, pol);
    if (r != 0)
        return r;
    r = transit_policy_store(call->br->view, pol);
    if (r != 0)
        transit_policy_drop_last(call, pol);
    return r;
}

int transit_key_acquire(const struct transit_call *call, const char *name,
                        bool write, struct transit_policy **ret_pol)
{
    struct transit_policy *pol;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(ret_pol != NULL);
    if (!write) {
        transit_lock_read(call->state);
        pol = cache_find(call->state, name);
        if (pol != NULL && !rotation_due(pol, transit_now_s())) {
            *ret_pol = pol;
            return 0;
        }
        transit_unlock(call->state);
    }
    /* A miss, a due rotation, or a writer: the write lock, kept. */
    transit_lock_write(call->state);
    r = transit_key_find_locked(call, name, &pol);
    if (r == 0 && rotation_due(pol, transit_now_s())) {
        /* A failed automatic rotation (storage, HSM, version limit)
         * leaves the key usable at its current version; the next request
         * tries again. */
        if (transit_key_rotate_locked(call, pol) != 0 &&
            call->errmsg_size > 0)
            call->errmsg[0] = '\0';
    }
    if (r != 0) {
        transit_unlock(call->state);
        return r;
    }
    *ret_pol = pol;
    return 0;
}

int transit_key_create_locked(const struct transit_call *call,
                              const char *name,
                              const struct transit_policy *settings,
                              struct transit_policy **ret_pol)
{
    struct transit_policy *pol;
    int r;

    KH_ASSERT(cache_find(call->state, name) == NULL);
    KH_ASSERT(strlen(name) <= TRANSIT_KEY_NAME_BYTES_MAX);
    pol = calloc(1, sizeof(*pol));
    if (pol == NULL)
        return KH_ENOMEM;
    *pol = *settings;
    pol->versions = NULL;
    pol->version_count = 0;
    pol->latest_version = 0;
    pol->min_decryption_version = 1;
    pol->min_encryption_version = 0;
    memcpy(pol->name, name, strlen(name) + 1);
    r = transit_policy_add_version(call, pol);
    if (r != 0)
        goto out;
    r = transit_policy_store(call->br->view, pol);
    if (r != 0) {
        transit_policy_drop_last(call, pol);
        goto out;
    }
    transit_cache_insert(call->state, pol);
    *ret_pol = pol;
    pol = NULL;
    r = 0; /* success */
out:
    transit_policy_free(pol);
    return r;
}

int transit_key_exists(const struct transit_call *call, const char *name,
                       bool *ret_exists)
{
    struct transit_policy *pol = NULL;
    int r;

    if (transit_name_check(name, call->errmsg, call->errmsg_size) != 0) {
        *ret_exists = false;
        return 0;
    }
    transit_lock_read(call->state);
    pol = cache_find(call->state, name);
    transit_unlock(call->state);
    if (pol != NULL) {
        *ret_exists = true;
        return 0;
    }
    transit_lock_read(call->state);
    r = transit_policy_load(call->br->view, name, &pol);
    transit_unlock(call->state);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    transit_policy_free(pol);
    return 0;
}
