/*
 * lease.h - the lease manager: every dynamic secret has a lease with a
 * TTL; when it expires or is revoked, the backend that issued the secret
 * revokes it (Vault API: sys/leases).
 *
 * Revocation never gives up: a backend that fails to revoke (a database
 * that is down) is retried with capped exponential backoff for as long as
 * it takes; the lease stays visible (sys/leases/lookup shows the attempts
 * and the last error) until the backend confirms. Only revoke-force drops
 * a lease without the backend's confirmation, and says so in the log.
 *
 * Records live in the barrier under "sys/expire/id/<lease id>"; an index
 * of (lease id, expire time, next attempt) is kept in memory while
 * unsealed and scanned by one expiry thread once a second.
 *
 * Leases and tokens (Vault API: "when a token is revoked, all leases
 * created with it are revoked"): a lease records its owner, the salted
 * hash of the token that created it (token_entry_lease_owner; records
 * written before this have none and stay readable), and a storage index
 * "sys/expire/token/<owner>/<escaped lease id>" is written in the batch
 * that stores the record and deleted in the batch that deletes it. The
 * token store queues every token it removes (token_store.h); each expiry
 * pass drains that queue: the queued token's leases are marked due now
 * (sys/leases/lookup then shows ttl 0 and the revocation time until the
 * backend confirms) in batches of LEASE_EXPIRE_BATCH, at most
 * LEASE_OWNER_MARKS_PASS_MAX per pass, and revoked by the ordinary expiry
 * path, retried forever. A token's queue entry is dropped once its index
 * is empty. The creating token also bounds a lease's TTL unless it is a
 * root or periodic token: at registration and at each renewal the TTL
 * never passes the token's expiry.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * guards the index; backend calls are made without it held.
 */
#ifndef KH_LEASE_LEASE_H
#define KH_LEASE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/assert.h"
#include "core/request.h"

#define LEASES_MAX 100000
#define LEASE_ID_BYTES_MAX 512
#define LEASE_RANDOM_CHARS 24
#define LEASE_RETRY_MIN_S 1
#define LEASE_RETRY_MAX_S 300
#define LEASE_TTL_SYSTEM_MAX_S 2764800ull /* 768h, Vault's default */

/* Leases one expiry pass marks due because their token was revoked. */
#define LEASE_OWNER_MARKS_PASS_MAX 4096
/* Revoked tokens one expiry pass looks at. */
#define LEASE_OWNERS_PASS_MAX 256

struct kh_core;
struct lease_manager;
struct mount_entry;
struct token_entry;

int lease_manager_create(struct kh_core *core,
                         struct lease_manager **ret) KH_MUST_CHECK;
void lease_manager_free(struct lease_manager *mgr);

/* At unseal: load the index and start the expiry thread. */
int lease_manager_start(struct lease_manager *mgr) KH_MUST_CHECK;
/* At seal: stop the thread and drop the index (records stay stored). */
void lease_manager_stop(struct lease_manager *mgr);

/* Wake the expiry thread now (tokens were revoked); no-op when stopped. */
void lease_manager_wake(struct lease_manager *mgr);

/* Register the lease a handler asked for (resp->lease) on mount for the
 * request path; write lease_id, lease_duration and renewable into the
 * response envelope. token: the token that made the request (NULL for
 * an unauthenticated path: the lease has no owner); it becomes the
 * lease's owner and bounds its TTL. A token revoked while the request ran
 * gets its lease marked due at once. */
int lease_register(struct lease_manager *mgr, const struct mount_entry *mount,
                   const struct token_entry *token, const char *request_path,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size) KH_MUST_CHECK;

/* sys/leases/lookup: data {id, issue_time, expire_time, last_renewal,
 * renewable, ttl, revoke_attempts, last_revoke_error}. KH_EINVAL
 * "invalid lease" when unknown. */
int lease_lookup(struct lease_manager *mgr, const char *lease_id,
                 json_t **ret_data, char *errmsg,
                 size_t errmsg_size) KH_MUST_CHECK;

/* Lease IDs one level below prefix (for LIST sys/leases/lookup/). */
int lease_list(struct lease_manager *mgr, const char *prefix,
               json_t **ret_keys) KH_MUST_CHECK;

/* Extend by increment_s (0: by the lease's original TTL), capped by its
 * max TTL and its owner token's expiry; the backend renews first.
 * *ret_ttl_s is the new TTL. KH_EINVAL when the lease is expired or
 * pending revocation, or its token is gone. */
int lease_renew(struct lease_manager *mgr, const char *lease_id,
                uint64_t increment_s, uint64_t *ret_ttl_s, char *errmsg,
                size_t errmsg_size) KH_MUST_CHECK;

/* Revoke now through the backend. On a backend failure the lease is kept
 * and retried in the background, and the error is returned. */
int lease_revoke(struct lease_manager *mgr, const char *lease_id,
                 char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Revoke every lease whose ID starts with prefix. force: drop leases
 * whose backend refuses (revoke-force). */
int lease_revoke_prefix(struct lease_manager *mgr, const char *prefix,
                        bool force, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;

/* How many leases are known (tests, metrics). */
size_t lease_count(struct lease_manager *mgr);

/* Run one expiry pass now (the thread calls it every second; tests call
 * it directly): drain the revoked-token queue, then revoke what is due.
 * Returns how many leases were revoked. */
size_t lease_expire_due(struct lease_manager *mgr);

#endif
