/*
 * raft_limits.h - the limits of the integrated raft storage, one place.
 *
 * Each limit is enforced where the data first enters (an append handed to
 * the log, a frame read from a peer, a snapshot handed to the log or read
 * from disk) and is tested at max and max + 1 in test_raft_log.c. They
 * live here rather than in config/limits.h because only hostd/raft/ and
 * the raft paths of the core use them.
 */
#ifndef KH_RAFT_LIMITS_H
#define KH_RAFT_LIMITS_H

/* One log entry's data: one storage batch. Vault's raft max_entry_size
 * default, so large values need the same care as in Vault. */
#define KH_RAFT_ENTRY_BYTES_MAX (1024u * 1024u)

/* Entries in one append or AppendEntries message. libraft 0.15 sends every
 * entry after a follower's next index, so the snapshot threshold plus the
 * trailing entries must stay below this (raft_cluster callers assert it). */
#define KH_RAFT_APPEND_ENTRIES_MAX 4096u

/* One snapshot's data, held in memory whole in this first layer. */
#define KH_RAFT_SNAPSHOT_BYTES_MAX (64u * 1024u * 1024u)

/* Servers in a configuration and bytes of one address ("host:port"). */
#define KH_RAFT_SERVERS_MAX 16u
#define KH_RAFT_ADDRESS_BYTES_MAX 255u

/* One encoded configuration: count, then id, role, address length and
 * address per server. */
#define KH_RAFT_CONF_BYTES_MAX                                                 \
    (4u + KH_RAFT_SERVERS_MAX * (8u + 1u + 2u + KH_RAFT_ADDRESS_BYTES_MAX))

/* The raft log's LMDB map: sparse, fixed. Holds the retained entries (at
 * most KH_RAFT_APPEND_ENTRIES_MAX of KH_RAFT_ENTRY_BYTES_MAX) and two
 * snapshots while one replaces the other, with room to spare. */
#define KH_RAFT_LOG_MAP_BYTES (16ull << 30)

/* One frame between peers: a snapshot plus its header and configuration.
 * AppendEntries whose encoding is larger are refused (RAFT_TOOBIG). */
#define KH_RAFT_MESSAGE_BYTES_MAX (KH_RAFT_SNAPSHOT_BYTES_MAX + 1024u * 1024u)

/* Outgoing messages queued to one peer while it connects. */
#define KH_RAFT_PEER_QUEUE_MAX 256u

/* Timing defaults of a node (Vault's raft defaults at
 * performance_multiplier 1): the election timeout is randomised by libraft
 * between 1x and 2x; leaders send heartbeats every tenth of it. */
#define KH_RAFT_ELECTION_MS_DEFAULT 1000u
#define KH_RAFT_ELECTION_MS_MIN 50u
#define KH_RAFT_ELECTION_MS_MAX 60000u

/* A snapshot every THRESHOLD applied entries, keeping TRAILING entries
 * behind it for followers that lag a little; their sum stays below
 * KH_RAFT_APPEND_ENTRIES_MAX (libraft 0.15 sends a lagging follower every
 * entry after its next index at once). */
#define KH_RAFT_SNAPSHOT_THRESHOLD_DEFAULT 2048u
#define KH_RAFT_SNAPSHOT_TRAILING_DEFAULT 1024u
_Static_assert(KH_RAFT_SNAPSHOT_THRESHOLD_DEFAULT +
                       KH_RAFT_SNAPSHOT_TRAILING_DEFAULT <
                   KH_RAFT_APPEND_ENTRIES_MAX,
               "a lagging follower's entries fit one message");

/* How long a write waits for its entry to commit and apply, and how long
 * a membership change or a leadership transfer may take. */
#define KH_RAFT_APPLY_TIMEOUT_MS 30000u
#define KH_RAFT_CHANGE_TIMEOUT_MS 60000u

#endif
