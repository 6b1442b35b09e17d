/*
 * raft_node_internal.h - what raft_node.c shares with the storage face
 * (raft_storage.c) and the snapshot code (raft_snapshot.c) only.
 */
#ifndef KH_RAFT_RAFT_NODE_INTERNAL_H
#define KH_RAFT_RAFT_NODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/assert.h"
#include "raft/raft_node.h"

/* KH_RAFT_NAMES_PREFIX, 16 hex digits and the NUL. */
#define KH_RAFT_NAME_KEY_BYTES (sizeof(KH_RAFT_NAMES_PREFIX) + 16u)

/* libraft's id of a node name (raft_digest, never 0). */
uint64_t kh_raft_node_id_of(const char *node_id);
/* The store key holding the name of the server with this id. */
void kh_raft_node_name_key(uint64_t id, char out[KH_RAFT_NAME_KEY_BYTES]);
uint64_t kh_raft_node_self_id(const struct kh_raft_node *node);

/* Leader only: the store's snapshot data (raft_fsm.h) taken on the loop
 * thread, with the applied index and the term. The caller frees *ret. */
struct kh_raft_wbuf;
int kh_raft_node_dump(struct kh_raft_node *node, struct kh_raft_wbuf *ret,
                      uint64_t *ret_index, uint64_t *ret_term) KH_MUST_CHECK;

/* The same on any node (its own store, as applied so far). */
int kh_raft_node_dump_local(struct kh_raft_node *node, struct kh_raft_wbuf *ret,
                            uint64_t *ret_index,
                            uint64_t *ret_term) KH_MUST_CHECK;

/* The kh_storage face of a node (raft_storage.c). */
int kh_raft_storage_create(struct kh_raft_node *node,
                           struct kh_storage **ret_storage) KH_MUST_CHECK;
void kh_raft_storage_free(struct kh_storage *storage);

#endif
