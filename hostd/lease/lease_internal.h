/*
 * lease_internal.h - the lease manager's state and record helpers, shared
 * by lease.c (the API) and lease_expiry.c (the index and its thread).
 */
#ifndef KH_LEASE_INTERNAL_H
#define KH_LEASE_INTERNAL_H

#include <pthread.h>

#include "lease/lease.h"

#define LEASE_RECORD_PREFIX "sys/expire/id/"

struct lease_slot
{
    char *id;
    int64_t expire_time;        /* unix seconds */
    int64_t next_attempt;       /* unix seconds; after a failed revoke */
    unsigned attempts;
};

struct lease_manager
{
    struct kh_core *core;
    pthread_mutex_t lock;       /* guards slots, count, running, stopping */
    pthread_cond_t wake;
    struct lease_slot *slots;
    size_t count;
    size_t capacity;
    pthread_t thread;
    bool running;
    bool stopping;
};

/* Record I/O through the barrier. */
int lease_record_load(struct lease_manager *mgr, const char *id,
                      json_t **ret) KH_MUST_CHECK;
int lease_record_store(struct lease_manager *mgr, json_t *record) KH_MUST_CHECK;
int lease_record_delete(struct lease_manager *mgr,
                        const char *id) KH_MUST_CHECK;

/* Call the issuing backend's revoke for a record. */
int lease_backend_revoke(struct lease_manager *mgr, json_t *record,
                         char *errmsg, size_t errmsg_size);

/* Revoke several due leases, deleting confirmed records in one batch.
 * Returns how many were revoked. */
#define LEASE_EXPIRE_BATCH 512
size_t lease_revoke_many(struct lease_manager *mgr, char *const *ids,
                         size_t count);

/* Index maintenance; callers hold mgr->lock. is_new: the ID is known
 * not to be indexed yet (fresh or loaded), which skips the linear search
 * so loading 100,000 leases stays linear. */
int lease_index_put_locked(struct lease_manager *mgr, const char *id,
                           int64_t expire_time, bool is_new) KH_MUST_CHECK;
void lease_index_remove_locked(struct lease_manager *mgr, const char *id);
struct lease_slot *lease_index_find_locked(struct lease_manager *mgr,
                                           const char *id);

int64_t lease_now(void);

#endif
