/*
 * raft_io_lmdb.h - Keyhold's struct raft_io (libraft 0.15): durable state
 * in raft_log.h's LMDB log and node-to-node messages over mutual TLS on
 * TCP, all on one libuv loop (hostd/README.md).
 *
 * Writes (append, truncate, snapshot_put) are queued in the order raft
 * issues them and committed by one worker on libuv's thread pool: every
 * write queued while the worker is busy goes into the next LMDB
 * transaction (group commit), and the callbacks fire on the loop thread,
 * in order, only after that transaction committed with fsync. set_term,
 * set_vote, bootstrap and recover commit synchronously on the loop thread
 * before they return.
 *
 * Transport: one outgoing TCP connection per peer, which starts with a
 * handshake naming the sender (id, address) and then carries frames of a
 * 32-bit length and a raft_codec.h message. With struct kh_raft_tls, all
 * of it runs inside mutual TLS 1.3 (raft_tls.h): each side presents its
 * certificate and verifies the other's against the cluster CA before a
 * single raft byte is written or accepted, and a connection whose
 * handshake or verify fails is closed and logged (log_warn, at most one
 * line a second per io). Without it (NULL) the transport is plain TCP,
 * for loopback tests only.
 *
 * Threading: every function and callback runs on the loop thread, as
 * libraft requires, except the LMDB worker, which touches only the log and
 * the queued requests it was handed.
 */
#ifndef KH_RAFT_RAFT_IO_LMDB_H
#define KH_RAFT_RAFT_IO_LMDB_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/assert.h"

/* The cluster port's mutual TLS: PEM file names, read at init only. */
struct kh_raft_tls
{
    const char *cert_file; /* this node's certificate chain, PEM */
    const char *key_file;  /* its private key, PEM */
    const char *ca_file;   /* peers must present a certificate it signed */
    /* Bind identities: a peer's certificate must name the node whose raft
     * id it claims (raft_digest of the subject CN or a DNS SAN equals the
     * id; 0 counts as 1), so one node's certificate cannot speak for
     * another. keyholdd sets it; tests with numeric ids may not. */
    bool bind_node_id;
};

/* Fill io (zeroed first) with the vtable and open the log in log_dir
 * (created when missing). With tls, load and check its three files first
 * (KH_ECONFIG with an errmsg naming the file that is missing, unreadable
 * or whose key does not match the certificate) and speak only mutual TLS
 * on the cluster port; NULL: plain TCP. Then raft_init(&raft, io, ...) as
 * usual; the io releases everything itself when raft_close() closes it.
 * If raft_init() fails or is never called, release it with
 * kh_raft_io_discard(). */
int kh_raft_io_init(struct raft_io *io, uv_loop_t *loop, const char *log_dir,
                    const struct kh_raft_tls *tls, /* NULL: plain TCP */
                    char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* The FSM's hook for snapshot_get: expand(arg, buf) replaces a snapshot
 * mark in buf with the store's data (kh_raft_fsm_expand), on the loop
 * thread, before raft sees the snapshot. */
void kh_raft_io_set_expander(struct raft_io *io,
                             int (*expand)(void *arg, struct raft_buffer *buf),
                             void *arg);

/* Release an io that raft never started (after a failed raft_init()).
 * Runs the loop until its handles are closed. Accepts a zeroed io. */
void kh_raft_io_discard(struct raft_io *io);

#endif
