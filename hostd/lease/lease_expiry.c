/*
 * lease_expiry.c - the in-memory index of leases and the expiry thread
 * that revokes them when they are due, retrying failures with capped
 * exponential backoff, forever. Each pass first drains the queue of
 * revoked tokens (lease_owner.c), whose leases become due at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "core/core.h"
#include "lease/lease_internal.h"

#define LEASE_LOAD_STACK_MAX 64

int lease_manager_create(struct kh_core *core, struct lease_manager **ret)
{
    struct lease_manager *mgr = calloc(1, sizeof(*mgr));

    if (mgr == NULL)
        return KH_ENOMEM;
    mgr->core = core;
    pthread_mutex_init(&mgr->lock, NULL);
    pthread_mutex_init(&mgr->mark_lock, NULL);
    pthread_cond_init(&mgr->wake, NULL);
    *ret = mgr;
    return 0;
}

static void index_clear_locked(struct lease_manager *mgr)
{
    size_t i;

    for (i = 0; i < mgr->count; i++)
        free(mgr->slots[i].id);
    mgr->count = 0;
}

void lease_manager_free(struct lease_manager *mgr)
{
    if (mgr == NULL)
        return;
    lease_manager_stop(mgr);
    free(mgr->slots);
    pthread_cond_destroy(&mgr->wake);
    pthread_mutex_destroy(&mgr->mark_lock);
    pthread_mutex_destroy(&mgr->lock);
    free(mgr);
}

struct lease_slot *lease_index_find_locked(struct lease_manager *mgr,
                                           const char *id)
{
    size_t i;

    for (i = 0; i < mgr->count; i++) {
        if (strcmp(mgr->slots[i].id, id) == 0)
            return &mgr->slots[i];
    }
    return NULL;
}

int lease_index_put_locked(struct lease_manager *mgr, const char *id,
                           int64_t expire_time, bool is_new)
{
    struct lease_slot *slot =
        is_new ? NULL : lease_index_find_locked(mgr, id);

    if (slot == NULL) {
        if (mgr->count == mgr->capacity) {
            size_t cap = mgr->capacity ? mgr->capacity * 2 : 64;
            struct lease_slot *grown;
            if (cap > LEASES_MAX)
                cap = LEASES_MAX;
            if (mgr->count >= cap)
                return KH_ELIMIT;
            grown = realloc(mgr->slots, cap * sizeof(*grown));
            if (grown == NULL)
                return KH_ENOMEM;
            mgr->slots = grown;
            mgr->capacity = cap;
        }
        slot = &mgr->slots[mgr->count];
        memset(slot, 0, sizeof(*slot));
        slot->id = strdup(id);
        if (slot->id == NULL)
            return KH_ENOMEM;
        mgr->count++;
    }
    slot->expire_time = expire_time;
    slot->next_attempt = 0;
    return 0;
}

void lease_index_remove_locked(struct lease_manager *mgr, const char *id)
{
    struct lease_slot *slot = lease_index_find_locked(mgr, id);

    if (slot == NULL)
        return;
    free(slot->id);
    *slot = mgr->slots[--mgr->count];
}

size_t lease_count(struct lease_manager *mgr)
{
    size_t n;

    pthread_mutex_lock(&mgr->lock);
    n = mgr->count;
    pthread_mutex_unlock(&mgr->lock);
    return n;
}

/* Load every stored record into the index (depth-first over folders). */
static int index_load(struct lease_manager *mgr)
{
    char *stack[LEASE_LOAD_STACK_MAX];
    size_t depth = 0;
    int r = 0;

    stack[depth++] = strdup("");
    if (stack[0] == NULL)
        return KH_ENOMEM;
    while (depth > 0 && r == 0) {
        char *folder = stack[--depth];
        json_t *keys = NULL;
        size_t i;
        r = lease_list(mgr, folder, &keys);
        for (i = 0; r == 0 && i < json_array_size(keys); i++) {
            char *id = NULL;
            json_t *record = NULL;
            if (asprintf(&id, "%s%s", folder, json_string_value(
                                                  json_array_get(keys, i))) < 0)
                r = KH_ENOMEM;
            else if (id[strlen(id) - 1] == '/' && depth < LEASE_LOAD_STACK_MAX)
                stack[depth++] = id, id = NULL;
            else if (lease_record_load(mgr, id, &record) == 0) {
                pthread_mutex_lock(&mgr->lock);
                r = lease_index_put_locked(
                    mgr, id,
                    json_integer_value(json_object_get(record,
                                                       "expire_time")),
                    true);
                pthread_mutex_unlock(&mgr->lock);
                json_decref(record);
            }
            free(id);
        }
        json_decref(keys);
        free(folder);
    }
    while (depth > 0)
        free(stack[--depth]);
    return r;
}

/* Pick the next due lease and mark its next attempt; NULL if none. */
static char *next_due_locked(struct lease_manager *mgr, int64_t now)
{
    size_t i;

    for (i = 0; i < mgr->count; i++) {
        struct lease_slot *s = &mgr->slots[i];
        unsigned shift;
        int64_t backoff;
        if (s->expire_time > now || s->next_attempt > now)
            continue;
        shift = s->attempts < 9 ? s->attempts : 9;
        backoff = (int64_t)LEASE_RETRY_MIN_S << shift;
        if (backoff > LEASE_RETRY_MAX_S)
            backoff = LEASE_RETRY_MAX_S;
        s->next_attempt = now + backoff;
        s->attempts++;
        return strdup(s->id);
    }
    return NULL;
}

size_t lease_expire_due(struct lease_manager *mgr)
{
    char *ids[LEASE_EXPIRE_BATCH];
    size_t revoked = 0, count, i;
    int64_t now;

    /* Leases of revoked tokens become due first, so this pass revokes
     * them. */
    (void)lease_owners_drain(mgr);
    now = lease_now();
    do {
        pthread_mutex_lock(&mgr->lock);
        for (count = 0; count < LEASE_EXPIRE_BATCH && !mgr->stopping;
             count++) {
            ids[count] = next_due_locked(mgr, now);
            if (ids[count] == NULL)
                break;
        }
        pthread_mutex_unlock(&mgr->lock);
        if (count > 0)
            revoked += lease_revoke_many(mgr, ids, count);
        for (i = 0; i < count; i++)
            free(ids[i]);
    } while (count == LEASE_EXPIRE_BATCH);
    return revoked;
}

static void *expiry_main(void *arg)
{
    struct lease_manager *mgr = arg;

    pthread_mutex_lock(&mgr->lock);
    while (!mgr->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        if (!mgr->woken)
            pthread_cond_timedwait(&mgr->wake, &mgr->lock, &deadline);
        if (mgr->stopping)
            break;
        mgr->woken = false;
        pthread_mutex_unlock(&mgr->lock);
        (void)lease_expire_due(mgr);
        pthread_mutex_lock(&mgr->lock);
    }
    pthread_mutex_unlock(&mgr->lock);
    return NULL;
}

int lease_manager_start(struct lease_manager *mgr)
{
    int r;

    r = index_load(mgr);
    if (r != 0)
        return r;
    pthread_mutex_lock(&mgr->lock);
    mgr->stopping = false;
    if (!mgr->running && pthread_create(&mgr->thread, NULL, expiry_main,
                                        mgr) == 0)
        mgr->running = true;
    r = mgr->running ? 0 : KH_EINTERNAL;
    pthread_mutex_unlock(&mgr->lock);
    return r;
}

void lease_manager_wake(struct lease_manager *mgr)
{
    pthread_mutex_lock(&mgr->lock);
    mgr->woken = true;
    pthread_cond_broadcast(&mgr->wake);
    pthread_mutex_unlock(&mgr->lock);
}

void lease_manager_stop(struct lease_manager *mgr)
{
    bool running;

    pthread_mutex_lock(&mgr->lock);
    mgr->stopping = true;
    running = mgr->running;
    mgr->running = false;
    pthread_cond_broadcast(&mgr->wake);
    pthread_mutex_unlock(&mgr->lock);
    if (running)
        pthread_join(mgr->thread, NULL);
    pthread_mutex_lock(&mgr->lock);
    index_clear_locked(mgr);
    pthread_mutex_unlock(&mgr->lock);
}
