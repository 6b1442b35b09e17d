/*
 * raft_log.h - the durable state of one raft server in its own LMDB
 * environment (hostd/README.md): current term, voted-for, the log
 * entries (index -> term, type, data) and the latest snapshot (metadata
 * and data).
 *
 * Every write function commits one durable (fsync'd) LMDB transaction
 * before it returns: a batch of entries is on disk when
 * kh_raft_log_commit() returns 0, never later. Entries are contiguous:
 * an append must start right after the last entry (or after the snapshot
 * when no entry follows it); a truncate removes a suffix; a snapshot
 * removes the entries it covers except the trailing ones it keeps.
 *
 * Thread safety: one write transaction at a time per log (LMDB serialises
 * writers; a write transaction stays on the thread that began it). Reads
 * (kh_raft_log_read_*) may run on any thread at the same time. The
 * structure refuses all work once LMDB reported a fatal error.
 *
 * Errors: KH_EINVAL (a write that breaks contiguity or a limit),
 * KH_ETOOBIG (an entry, append or snapshot above its limit), KH_EIO (disk
 * error, malformed stored data, failed log), KH_EFULL, KH_ENOMEM.
 */
#ifndef KH_RAFT_RAFT_LOG_H
#define KH_RAFT_RAFT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

struct kh_raft_log;
struct kh_raft_log_txn;
struct kh_raft_log_reader;

struct kh_raft_log_entry
{
    uint64_t term;
    uint8_t type; /* RAFT_COMMAND, RAFT_BARRIER, RAFT_CHANGE */
    const uint8_t *data;
    size_t len;
};

struct kh_raft_log_snapshot
{
    uint64_t index; /* last entry covered */
    uint64_t term;  /* its term */
    uint64_t conf_index;
    const uint8_t *conf; /* encoded configuration (raft_codec.h) */
    size_t conf_len;
    const uint8_t *data;
    size_t len;
};

/* What kh_raft_log_read_begin() finds. Pointers stay valid until
 * kh_raft_log_read_end(). */
struct kh_raft_log_state
{
    uint64_t term;
    uint64_t vote;
    uint64_t first_index; /* of the first stored entry; 0 when none */
    uint64_t last_index;  /* of the last stored entry; 0 when none */
    size_t entry_bytes;   /* sum of the stored entries' data */
    bool has_snapshot;
    struct kh_raft_log_snapshot snapshot;
};

/* Open (creating dir, mode 0700, when missing; its parent must exist)
 * the log in dir. errmsg
 * says why not. The caller closes it with kh_raft_log_close(). */
int kh_raft_log_open(const char *dir, struct kh_raft_log **ret_log,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Close and free; accepts NULL. No transaction may be open. */
void kh_raft_log_close(struct kh_raft_log *log);

/* Set the term and clear the vote, durably. */
int kh_raft_log_set_term(struct kh_raft_log *log, uint64_t term) KH_MUST_CHECK;

/* Record the vote (0: none) in the current term, durably. */
int kh_raft_log_set_vote(struct kh_raft_log *log, uint64_t id) KH_MUST_CHECK;

/* A write transaction: any sequence of appends, truncates and snapshots
 * that becomes durable at once on commit. Commit and abort free it. */
int kh_raft_log_begin(struct kh_raft_log *log,
                      struct kh_raft_log_txn **ret_txn) KH_MUST_CHECK;
/* n (1..KH_RAFT_APPEND_ENTRIES_MAX) entries of at most
 * KH_RAFT_ENTRY_BYTES_MAX bytes each, the first at first_index. */
int kh_raft_log_txn_append(struct kh_raft_log_txn *txn, uint64_t first_index,
                           const struct kh_raft_log_entry *entries,
                           size_t n) KH_MUST_CHECK;
/* Remove the entries at index and after (index >= 1). */
int kh_raft_log_txn_truncate(struct kh_raft_log_txn *txn,
                             uint64_t index) KH_MUST_CHECK;
/* Replace the snapshot (its index may not go back). trailing > 0 keeps
 * that many entries up to snapshot->index and removes older ones;
 * trailing 0 (a snapshot installed from the leader) removes every
 * entry. */
int kh_raft_log_txn_snapshot(struct kh_raft_log_txn *txn,
                             const struct kh_raft_log_snapshot *snapshot,
                             uint64_t trailing) KH_MUST_CHECK;
int kh_raft_log_commit(struct kh_raft_log_txn *txn) KH_MUST_CHECK;
void kh_raft_log_abort(struct kh_raft_log_txn *txn);

/* A consistent view of everything stored, checked as it is read: a
 * malformed value or a gap in the entries is KH_EIO. */
int kh_raft_log_read_begin(struct kh_raft_log *log,
                           struct kh_raft_log_reader **ret_reader,
                           struct kh_raft_log_state *ret_state) KH_MUST_CHECK;
/* The entry at index (state.first_index..state.last_index); data points
 * into the map until kh_raft_log_read_end(). */
int kh_raft_log_read_entry(struct kh_raft_log_reader *reader, uint64_t index,
                           struct kh_raft_log_entry *ret_entry) KH_MUST_CHECK;
void kh_raft_log_read_end(struct kh_raft_log_reader *reader);

#endif
