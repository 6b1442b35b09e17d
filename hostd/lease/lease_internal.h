/*
 * lease_internal.h - the lease manager's state and record helpers, shared
 * by lease.c (the API) and lease_expiry.c (the index and its thread).
 */
#ifndef KH_LEASE_INTERNAL_H
#define KH_LEASE_INTERNAL_H

#include <pthread.h>

#include "config/limits.h"
#include "lease/lease.h"

#define LEASE_RECORD_PREFIX "sys/expire/id/"
/* sys/expire/token/<owner>/<lease id with '%' as %25 and '/' as %2F> */
#define LEASE_TOKEN_INDEX_PREFIX "sys/expire/token/"
#define LEASE_OWNER_FIELD "token_hash"
#define LEASE_OWNER_HEX_BYTES 64 /* TOKEN_HASH_HEX_BYTES */
#define LEASE_INDEX_KEY_BYTES                                                 \
    (sizeof(LEASE_TOKEN_INDEX_PREFIX) + LEASE_OWNER_HEX_BYTES + 1 +           \
     3 * LEASE_ID_BYTES_MAX)

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
    pthread_mutex_t lock;       /* guards slots, count and the flags */
    pthread_cond_t wake;
    struct lease_slot *slots;
    size_t count;
    size_t capacity;
    pthread_t thread;
    bool running;
    bool stopping;
    bool woken; /* lease_manager_wake() since the thread's last pass */
    /* Serialises marking leases due (lease_owner.c), so two markers never
     * rewrite one record from two reads. Taken before lock, never under
     * it. */
    pthread_mutex_t mark_lock;
};

/* Record I/O through the barrier. _store rewrites a record; _insert
 * writes a new one with its owner index entry, _delete removes both, each
 * in one atomic batch. */
int lease_record_load(struct lease_manager *mgr, const char *id,
                      json_t **ret) KH_MUST_CHECK;
int lease_record_store(struct lease_manager *mgr, json_t *record) KH_MUST_CHECK;
int lease_record_insert(struct lease_manager *mgr,
                        json_t *record) KH_MUST_CHECK;
int lease_record_delete(struct lease_manager *mgr,
                        const json_t *record) KH_MUST_CHECK;

/* ---- lease_owner.c: leases by the token that created them ---- */

/* The owner recorded on record, or NULL when it has none (or a malformed
 * one). */
const char *lease_record_owner(const json_t *record);

/* out = the index key of lease id under owner. KH_ELIMIT if too long. */
int lease_owner_key(const char *owner, const char *id,
                    char out[LEASE_INDEX_KEY_BYTES]) KH_MUST_CHECK;

/* After a lease of owner was stored (registered or renewed): if the
 * token is already gone (revoked while the request ran), mark the lease
 * due now. */
void lease_owner_recheck(struct lease_manager *mgr, const char *owner,
                         const char *id);

/* The expiry bound owner puts on a renewal (0: none). KH_ENOTFOUND when
 * the token is gone; 0 with no bound when there is no token store. */
int lease_owner_bound(struct lease_manager *mgr, const char *owner,
                      int64_t *ret_bound) KH_MUST_CHECK;

/* Drain the token store's revoked-token queue: mark the leases of
 * revoked tokens due (bounded per pass). Returns how many were marked. */
size_t lease_owners_drain(struct lease_manager *mgr);

/* Call the issuing backend's revoke for a record. */
int lease_backend_revoke(struct lease_manager *mgr, json_t *record,
                         char *errmsg, size_t errmsg_size);

/* Revoke several due leases, deleting confirmed records in one batch.
 * Returns how many were revoked. */
#define LEASE_EXPIRE_BATCH 512
/* Deleting a batch removes a record and an index entry per lease. */
_Static_assert(2 * LEASE_EXPIRE_BATCH <= KH_STORAGE_BATCH_OPS_MAX,
               "a revocation batch must fit one storage batch");
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
