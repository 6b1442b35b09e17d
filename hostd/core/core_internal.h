/*
 * core_internal.h - functions shared by core*.c only. "_locked" functions
 * require core->lock to be held.
 */
#ifndef KH_CORE_INTERNAL_H
#define KH_CORE_INTERNAL_H

#include "core/core.h"

#define CORE_CLUSTER_PATH "core/cluster"
/* Where the active node of a raft cluster advertises itself (plain JSON:
 * api_addr, cluster_addr, node_id). */
#define CORE_LEADER_PATH "core/leader"

int core_after_unseal_locked(struct kh_core *core);
void core_progress_reset_locked(struct kh_core *core);
/* Unload mounts, forget cached secrets, wipe the keyring. */
void core_seal_locked(struct kh_core *core);
/* core_seal_locked() for a keyring a restore replaced: nothing of the
 * old keyring is written back. */
void core_seal_discard_locked(struct kh_core *core);
/* Unload audit, leases, policies, mounts and cached tokens; the barrier
 * stays as it is (a demoted raft node keeps it unsealed). */
void core_unload_locked(struct kh_core *core);
/* Read the seal configuration; initialized stays false without one. */
int core_load_state_locked(struct kh_core *core, char *errmsg,
                           size_t errmsg_size);

/* Integrated storage (core_raft.c, core_join.c). */
/* "https://host:port" or "host:port" -> "host:port" (a pointer into addr). */
const char *core_addr_host_port(const char *addr);
/* Remove a scratch LMDB directory (data.mdb, lock.mdb, the directory). */
void core_scratch_remove(const char *dir);
int core_raft_open(struct kh_core *core, char *errmsg, size_t errmsg_size);
int core_raft_start_watcher(struct kh_core *core);
void core_raft_close(struct kh_core *core);
int core_raft_prepare_init_locked(struct kh_core *core, char *errmsg,
                                  size_t errmsg_size);
int core_raft_promote_locked(struct kh_core *core);
void core_raft_demote_locked(struct kh_core *core);
/* Does the snapshot file's keyring open with this cluster's root key? */
int core_snapshot_keys_match(struct kh_core *core, const uint8_t *file,
                             size_t len);
/* Replace the store with a snapshot file on the active node: demote,
 * restore, promote again (or seal when the keys changed). */
int core_raft_restore(struct kh_core *core, const uint8_t *file, size_t len,
                      char *errmsg, size_t errmsg_size);
/* A Shamir joiner's unseal: key opens the challenge's root key; the
 * answer goes to the leader and the root key waits for the keyring. */
int core_join_unseal_locked(struct kh_core *core,
                            const uint8_t key[KH_ROOT_KEY_BYTES],
                            char *errmsg, size_t errmsg_size);
void core_join_tls_free(struct kh_join_tls_owned *tls);
/* Try each retry_join block once (watcher thread, core lock not held). */
void core_raft_retry_join(struct kh_core *core);

/* Shares: the threshold the operator must reach (unseal or recovery). */
unsigned core_threshold(const struct kh_core *core);
/* Append one share to an attempt (unseal or generate-root), refusing
 * wrong lengths and repeats. */
int core_share_add_locked(struct kh_core *core, uint8_t *shares,
                          unsigned *progress, size_t *share_len,
                          const uint8_t *share, size_t len, char *errmsg,
                          size_t errmsg_size);
/* The key the shares protect (a single share is the key itself). */
int core_shares_combine(const uint8_t *shares, unsigned count,
                        size_t share_len, uint8_t key[KH_ROOT_KEY_BYTES]);
/* Prove key is the unseal key (shamir) or the recovery key (auto seals)
 * and recover the root key. KH_ECORRUPT when it is not. */
int core_root_key_from_shares_locked(struct kh_core *core,
                                     const uint8_t key[KH_ROOT_KEY_BYTES],
                                     uint8_t root_key[KH_ROOT_KEY_BYTES],
                                     char *errmsg, size_t errmsg_size);

#endif
