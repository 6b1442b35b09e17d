/*
 * raft_fsm.h - the raft state machine of integrated storage: committed
 * entries are atomic kh_storage batches applied to the node's own LMDB
 * store, with the applied index in the same transaction, so replaying
 * the log after a restart changes nothing twice.
 *
 * A batch entry: u8 version, u32 op count, then per op u8 kind (PUT 1,
 * DELETE 2), u16 key length, key, u32 value length, value. At most
 * KH_STORAGE_BATCH_OPS_MAX ops, keys of 1..KH_STORAGE_KEY_BYTES_MAX bytes
 * without NUL, and KH_RAFT_ENTRY_BYTES_MAX bytes in all.
 *
 * A raft snapshot is a mark (u32 "KHSM", u32 version, u64 applied index)
 * taken after flushing the store, expanded into the full data only when a
 * follower needs it. The full data is every key and value of the store,
 * with the applied index (u32 magic, u32 version, u64 applied, then u16 key length,
 * key, u32 value length, value per key), at most KH_RAFT_SNAPSHOT_BYTES_MAX
 * bytes. It is taken on the loop thread, where every write of the store
 * happens, so it is consistent. Restoring builds a fresh store beside the
 * old one and swaps the directories.
 *
 * Threading: apply, snapshot and restore run on the raft loop thread;
 * kh_raft_fsm_storage() may be read from any thread under the read lock
 * (never written: only the FSM writes).
 */
#ifndef KH_RAFT_RAFT_FSM_H
#define KH_RAFT_RAFT_FSM_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "storage/storage.h"

#define KH_RAFT_FSM_SNAP_MAGIC 0x4b48534eu /* "KHSN" */
#define KH_RAFT_FSM_SNAP_VERSION 1u
#define KH_RAFT_FSM_SNAP_HEADER_BYTES 16u

struct kh_raft_fsm;

/* A decoded batch: ops point into the entry and into keys. */
struct kh_raft_batch
{
    struct kh_storage_op *ops;
    size_t count;
    char *keys; /* the NUL-terminated keys, back to back */
};

/* Encode ops as one entry on raft's heap (for raft_apply(), which takes
 * it). KH_EINVAL for a malformed op, KH_ETOOBIG over a limit, KH_ENOMEM. */
int kh_raft_batch_encode(const struct kh_storage_op *ops, size_t count,
                         struct raft_buffer *ret_buf) KH_MUST_CHECK;

/* Decode and check an entry; release with kh_raft_batch_free(). KH_EINVAL
 * for anything malformed or over a limit, KH_ENOMEM. */
int kh_raft_batch_decode(const void *p, size_t len,
                         struct kh_raft_batch *ret_batch) KH_MUST_CHECK;
void kh_raft_batch_free(struct kh_raft_batch *batch);

/* Open the FSM over the LMDB store in dir (created when missing), after
 * finishing or undoing a restore a crash interrupted. */
int kh_raft_fsm_open(const char *dir, struct kh_raft_fsm **ret_fsm,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Close and free; accepts NULL. Only after raft_close() completed. */
void kh_raft_fsm_close(struct kh_raft_fsm *fsm);

/* The vtable to hand raft_init(); then kh_raft_fsm_attach() the raft. */
struct raft_fsm *kh_raft_fsm_vtable(struct kh_raft_fsm *fsm);
void kh_raft_fsm_attach(struct kh_raft_fsm *fsm, struct raft *raft);

/* The store, for reads: between kh_raft_fsm_read_lock() and
 * kh_raft_fsm_read_unlock(), which hold off the swap of a restore. */
struct kh_storage *kh_raft_fsm_storage(struct kh_raft_fsm *fsm);
void kh_raft_fsm_read_lock(struct kh_raft_fsm *fsm);
void kh_raft_fsm_read_unlock(struct kh_raft_fsm *fsm);

/* The snapshot data of the store as it is now, into *w (initialised
 * here; the caller frees it whatever the result). Loop thread only. */
struct kh_raft_wbuf;
int kh_raft_fsm_dump(struct kh_raft_fsm *fsm,
                     struct kh_raft_wbuf *w) KH_MUST_CHECK;

/* Replace a snapshot mark (what the FSM gives raft: see raft_fsm.c) in
 * buf with the full data of the store as it is now; data is left alone.
 * Loop thread only. KH_ENOMEM, KH_EIO. */
int kh_raft_fsm_expand(struct kh_raft_fsm *fsm,
                       struct raft_buffer *buf) KH_MUST_CHECK;

/* The index of the last entry applied to the store. */
uint64_t kh_raft_fsm_applied(const struct kh_raft_fsm *fsm);

/* True once a local store error stopped the FSM: it applies nothing more
 * and the node must restart (the log replays what it missed). */
bool kh_raft_fsm_failed(const struct kh_raft_fsm *fsm);

#endif
