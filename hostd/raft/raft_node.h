/*
 * raft_node.h - one integrated-storage raft server as the rest of keyholdd
 * sees it: a libuv loop on its own thread driving libraft with Keyhold's
 * raft_io (raft_io_lmdb.h) and FSM (raft_fsm.h), and a thread-safe face
 * for HTTP threads: a kh_storage whose writes are raft entries, status
 * snapshots, membership changes, leadership transfer and snapshots.
 *
 * Layout under the storage path: "log/" (raft_log.h) and "fsm/" (the LMDB
 * store the FSM applies to).
 *
 * Names: Vault's node_id is a string (1..KH_RAFT_NODE_ID_BYTES_MAX bytes
 * of [A-Za-z0-9._-]); libraft's id is raft_digest() of it (never 0). The
 * names of the servers are kept in the replicated store under
 * KH_RAFT_NAMES_PREFIX "<16 hex digits of the id>".
 *
 * Writes: every put, delete and batch of the kh_storage is encoded as one
 * entry, handed to the loop thread through a locked queue and an async
 * handle, and returns once the entry is committed by a majority and
 * applied to this node's store: acknowledged means durable on a majority.
 * On a node that is not the leader they fail with KH_EUNAVAIL at once;
 * when leadership is lost while an entry waits they fail with KH_EUNAVAIL
 * (the entry may still commit: like any lost reply, the caller cannot
 * know). Reads come from this node's store.
 *
 * Snapshot file (sys/storage/raft/snapshot; every integer big-endian):
 *   "KHSNAP01" (8 bytes), u32 version 1, u64 index and u64 term of the
 *   last entry it covers, u64 creation time (Unix seconds), u64 length of
 *   the data, the data (raft_fsm.h's snapshot: every key and value of the
 *   store), then the SHA-256 of everything before it (32 bytes).
 *
 * Threading: every function may be called from any thread but the loop's.
 */
#ifndef KH_RAFT_RAFT_NODE_H
#define KH_RAFT_RAFT_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "raft/raft_limits.h"
#include "storage/storage.h"

#define KH_RAFT_NODE_ID_BYTES_MAX      128u
#define KH_RAFT_NAMES_PREFIX           "core/raft/names/"
#define KH_RAFT_RESTORE_MARKER         "core/raft/restore-pending"
#define KH_RAFT_SNAPSHOT_MAGIC         "KHSNAP01"
#define KH_RAFT_SNAPSHOT_VERSION       1u
#define KH_RAFT_SNAPSHOT_HEADER_BYTES  (8u + 4u + 8u + 8u + 8u + 8u)
#define KH_RAFT_SNAPSHOT_TRAILER_BYTES 32u
#define KH_RAFT_SNAPSHOT_FILE_BYTES_MAX                                        \
    (KH_RAFT_SNAPSHOT_HEADER_BYTES + KH_RAFT_SNAPSHOT_BYTES_MAX +              \
     KH_RAFT_SNAPSHOT_TRAILER_BYTES)

struct kh_raft_node;
struct kh_raft_tls;

struct kh_raft_node_options
{
    const char *dir;               /* the storage path (created when missing) */
    const char *node_id;           /* this server's name */
    const char *cluster_addr;      /* "host:port" raft listens on */
    const struct kh_raft_tls *tls; /* NULL: plain TCP (tests only) */
    unsigned election_ms;          /* 0: KH_RAFT_ELECTION_MS_DEFAULT */
    unsigned heartbeat_ms;         /* 0: election / 10 */
    unsigned snapshot_threshold;   /* 0: KH_RAFT_SNAPSHOT_THRESHOLD_DEFAULT */
    unsigned snapshot_trailing;    /* 0: KH_RAFT_SNAPSHOT_TRAILING_DEFAULT */
};

struct kh_raft_server_info
{
    char node_id[KH_RAFT_NODE_ID_BYTES_MAX + 1]; /* "" when unknown */
    char address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    uint64_t id;
    bool voter;
    bool leader;
    /* The leader's view (zero elsewhere): highest index it knows the
     * server stored and milliseconds since it last heard from it
     * (UINT64_MAX: never). */
    uint64_t match_index;
    uint64_t last_contact_ms;
};

struct kh_raft_status
{
    bool started;    /* raft runs (configured, or waiting to be added) */
    bool configured; /* part of a configuration */
    bool leader;     /* this node leads (and has applied its term) */
    uint64_t term;
    uint64_t last_index;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t configuration_index;
    char leader_id[KH_RAFT_NODE_ID_BYTES_MAX + 1]; /* "" when none known */
    char leader_address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    uint64_t leader_raft_id; /* 0 when none known */
    size_t server_count;
    struct kh_raft_server_info servers[KH_RAFT_SERVERS_MAX];
};

/* 1..KH_RAFT_NODE_ID_BYTES_MAX bytes of [A-Za-z0-9._-]. */
bool kh_raft_node_id_valid(const char *node_id);

/* Open the log and the store, start the loop thread and raft (as a member
 * of the configuration it stored, or waiting to be added when it has
 * none). errmsg says why not. */
int kh_raft_node_open(const struct kh_raft_node_options *options,
                      struct kh_raft_node **ret_node, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;

/* Stop raft and the loop thread and free; accepts NULL. Waiting writes
 * fail with KH_EUNAVAIL. */
void kh_raft_node_close(struct kh_raft_node *node);

/* The storage face (raft_storage.c), owned by the node: never
 * kh_storage_close() it; kh_raft_node_close() frees it. */
struct kh_storage *kh_raft_node_storage(struct kh_raft_node *node);

/* Make this node the only voter of a new cluster and wait until it leads
 * (at most timeout_ms). KH_ESTATE when it already has a configuration. */
int kh_raft_node_bootstrap(struct kh_raft_node *node,
                           unsigned timeout_ms) KH_MUST_CHECK;

/* Start raft on a node without a configuration so that a leader can add
 * it (the join protocol, core_join.c). Success when already started. */
int kh_raft_node_start_joining(struct kh_raft_node *node) KH_MUST_CHECK;

/* True when this node leads and has applied every entry of earlier terms
 * (a barrier in its term has been applied), so its store is current. */
bool kh_raft_node_is_leader(struct kh_raft_node *node);

void kh_raft_node_status(struct kh_raft_node *node,
                         struct kh_raft_status *ret_status);

/* Is the server this node knows as leader the one named node_id? (Cheap:
 * no copy of the status, no lookups; for every forwarded request.) */
bool kh_raft_node_leader_is(struct kh_raft_node *node, const char *node_id);

/* Leader only (KH_EUNAVAIL elsewhere): add the server as a voter (or keep
 * it a spare when voter is false) and wait until the change committed.
 * KH_ECONFLICT when the name or address is taken by another server; an
 * existing identical server is success. */
int kh_raft_node_add_server(struct kh_raft_node *node, const char *node_id,
                            const char *address, bool voter,
                            unsigned timeout_ms) KH_MUST_CHECK;

/* Leader only: remove the named server. KH_ENOTFOUND when unknown. */
int kh_raft_node_remove_server(struct kh_raft_node *node, const char *node_id,
                               unsigned timeout_ms) KH_MUST_CHECK;

/* Leader only: hand leadership to the most up-to-date voter and wait
 * until this node follows. */
int kh_raft_node_step_down(struct kh_raft_node *node,
                           unsigned timeout_ms) KH_MUST_CHECK;

/* Leader only: a snapshot file of the current store (malloc'ed). */
int kh_raft_node_snapshot_save(struct kh_raft_node *node, uint8_t **ret_data,
                               size_t *ret_len) KH_MUST_CHECK;

/* Check a snapshot file (magic, version, lengths, digest, data format).
 * On success *ret_data and *ret_len point at the store data inside it. */
int kh_raft_snapshot_check(const uint8_t *file, size_t len, uint64_t *ret_index,
                           uint64_t *ret_term, uint64_t *ret_created,
                           const uint8_t **ret_data,
                           size_t *ret_len) KH_MUST_CHECK;

/* Leader only: make the store hold exactly the snapshot's keys. The
 * differences are written as ordinary batches (at most
 * KH_STORAGE_BATCH_OPS_MAX ops and KH_RAFT_ENTRY_BYTES_MAX bytes each)
 * between a marker KH_RAFT_RESTORE_MARKER written first and removed last,
 * so every node applies the same writes; a restore cut short leaves the
 * marker, and running it again finishes it. The names of this cluster's
 * servers (KH_RAFT_NAMES_PREFIX) are kept. The caller quiesces the core. */
int kh_raft_node_snapshot_restore(struct kh_raft_node *node,
                                  const uint8_t *file,
                                  size_t len) KH_MUST_CHECK;

/* This node's own store: the applied index and the SHA-256 of its keys
 * and values (the snapshot data after its header), so tests and operators
 * can check that nodes hold the same state. */
int kh_raft_node_local_digest(struct kh_raft_node *node, uint64_t *ret_applied,
                              uint8_t ret_digest[32]) KH_MUST_CHECK;

/* Apply ops as one entry and wait until it is committed and applied here
 * (KH_RAFT_APPLY_TIMEOUT_MS at most). KH_EUNAVAIL when this node does not
 * lead or loses leadership first, KH_ETOOBIG above the entry limit. */
int kh_raft_node_apply(struct kh_raft_node *node,
                       const struct kh_storage_op *ops,
                       size_t count) KH_MUST_CHECK;

/* The store to read, held against a snapshot install swapping it until
 * kh_raft_node_read_end(). */
struct kh_storage *kh_raft_node_read_begin(struct kh_raft_node *node);
void kh_raft_node_read_end(struct kh_raft_node *node);

#endif
