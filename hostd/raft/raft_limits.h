/*
 * raft_limits.h - the limits of the integrated raft storage, one place.
 *
 * Each limit is enforced where the data first enters (an append handed to
 * the log, a frame read from a peer, a snapshot handed to the log or read
 * from disk) and is tested at max and max + 1 in test_raft_log.c. They
 * belong with the others in config/limits.h once the raft backend is wired
 * into keyholdd.
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

#endif
