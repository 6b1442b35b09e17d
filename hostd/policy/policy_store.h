/*
 * policy_store.h - ACL policies stored through the barrier, and a cache of
 * their compiled form (Vault API: sys/policy, §8.4).
 *
 *     sys/policy/<name>   {"version":1,"name":"<name>","policy":"<text>"}
 *
 * Names are 1..POLICY_NAME_BYTES_MAX bytes of printable ASCII without
 * upper case letters, '/' or spaces (the handlers lowercase first).
 * `root` is implicit: it is never stored, cannot be written, read as text
 * or deleted, and grants everything. `default` is written by
 * policy_store_setup() when missing and cannot be deleted.
 *
 * Thread safety: every function may be called concurrently. A rwlock
 * guards the cache; writes and deletes hold it exclusively across the
 * barrier write, so a cache fill can never install a stale version.
 * Compiled policies are handed out as references (policy_unref), so an
 * overwrite never frees a policy another thread still evaluates.
 *
 * The request gate's ACLs are cached too (policy_store_acl_acquire), one
 * per sequence of names; every put, delete, invalidate and seal empties
 * that cache under the same exclusive lock, and an ACL built while one of
 * them ran is never kept, so a policy change decides the very next
 * request. Cached ACLs are handed out as references as well.
 */
#ifndef KH_POLICY_POLICY_STORE_H
#define KH_POLICY_POLICY_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "barrier/barrier.h"
#include "common/assert.h"
#include "policy/acl.h"
#include "policy/policy.h"

#define POLICY_STORE_PREFIX "sys/policy/"
#define POLICY_ROOT_NAME    "root"
#define POLICY_DEFAULT_NAME "default"
/* Cached names (compiled policies and names known to be absent). */
#define POLICY_CACHE_ENTRIES_MAX 4096
/* Cached ACLs, one per distinct sequence of policy names. */
#define POLICY_ACL_CACHE_MAX 64

struct policy_store;

/* A store over barrier (not owned; must outlive it). Empty cache. */
int policy_store_create(struct barrier *barrier,
                        struct policy_store **ret_store) KH_MUST_CHECK;

/* Drop the cache and free; accepts NULL. */
void policy_store_free(struct policy_store *store);

/* Write the built-in `default` policy if it is not stored (at init and
 * after unseal). KH_ESEALED while sealed; barrier errors. */
int policy_store_setup(struct policy_store *store) KH_MUST_CHECK;

/* Drop every cached policy (the barrier sealed). */
void policy_store_seal(struct policy_store *store);

/* Forget one cached name (its storage changed elsewhere). */
void policy_store_invalidate(struct policy_store *store, const char *name);

/* Whether name is a valid stored-policy name (see above; root included). */
bool policy_store_name_valid(const char *name);

/* Parse, store and cache a policy. KH_EINVAL with errmsg for an invalid
 * name, for `root` ("cannot update \"root\" policy") and for parse errors
 * (errmsg "failed to parse policy: <name>:line:col: ..."); KH_ELIMIT past
 * POLICY_COUNT_MAX stored policies or POLICY_TEXT_BYTES_MAX; barrier
 * errors (KH_ESEALED, KH_EIO, ...). */
int policy_store_put(struct policy_store *store, const char *name,
                     const char *text, size_t len, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;

/* The compiled policy name, with a reference for the caller
 * (policy_unref). KH_ENOTFOUND when it is not stored, also for invalid
 * names and for `root`; KH_ECORRUPT when the stored record does not parse
 * back; barrier errors. */
int policy_store_get_compiled(struct policy_store *store, const char *name,
                              struct policy **ret_policy) KH_MUST_CHECK;

/* Delete a policy (absent is success). KH_EINVAL for `root` and
 * `default`; barrier errors. */
int policy_store_delete(struct policy_store *store, const char *name,
                        char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Stored policy names, sorted (without `root`). Free with
 * kh_storage_list_free(). */
int policy_store_list(struct policy_store *store,
                      struct kh_storage_list *ret) KH_MUST_CHECK;

/* The ACL of a token holding policies names[0..count): `root` among them
 * gives the root ACL; unknown or invalid names are ignored (Vault does
 * the same). Free with acl_free(). KH_ELIMIT past ACL_POLICIES_MAX;
 * KH_ENOMEM; barrier errors. */
int policy_store_acl_for(struct policy_store *store, const char *const *names,
                         size_t count, struct acl **ret_acl) KH_MUST_CHECK;

/* A cached ACL held by the caller (opaque). */
struct policy_store_acl;

/* The same ACL as policy_store_acl_for(), from the cache when the same
 * sequence of names was evaluated since the last policy change (a token's
 * sorted policies), else built and cached. *ret_held is one reference:
 * read it with policy_store_acl_of(), drop it with
 * policy_store_acl_release(). Same errors as policy_store_acl_for(). */
int policy_store_acl_acquire(struct policy_store *store,
                             const char *const *names, size_t count,
                             struct policy_store_acl **ret_held) KH_MUST_CHECK;

/* The ACL of a held reference; valid until it is released. */
const struct acl *policy_store_acl_of(const struct policy_store_acl *held);

/* Drop a reference (the last one frees the ACL). Accepts NULL. */
void policy_store_acl_release(struct policy_store_acl *held);

#endif
