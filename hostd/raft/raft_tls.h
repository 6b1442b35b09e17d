/*
 * raft_tls.h - the mutual TLS engine of the raft transport: OpenSSL 3
 * over two memory BIOs, so that raft_io_lmdb.c moves the bytes with libuv
 * and nothing here touches a socket, blocks or runs off the loop thread.
 *
 * A context (one per raft_io) holds the SSL_CTX built from struct
 * kh_raft_tls (raft_io_lmdb.h): TLS 1.3 only, this node's certificate
 * chain and key, and the cluster CA as the only trust anchor. Both ends
 * present a certificate and both verify the other's against the CA
 * (a server requires one: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
 * host names are not checked, because the CA is the cluster's own. No
 * session tickets and no session cache: every connection authenticates
 * in full.
 *
 * A connection is driven by its owner: hand it the bytes read from the
 * socket (kh_raft_tls_conn_recv), step the handshake or read plaintext,
 * encrypt plaintext (kh_raft_tls_conn_write), and after every call move
 * kh_raft_tls_conn_pending() bytes out with kh_raft_tls_conn_take() to
 * the socket, in order. Before the handshake completes, no plaintext goes
 * in or comes out. Every failure fills a short reason (the OpenSSL reason
 * or the certificate verify result) and leaves the OpenSSL error queue of
 * the thread empty.
 */
#ifndef KH_RAFT_RAFT_TLS_H
#define KH_RAFT_RAFT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

struct kh_raft_tls; /* raft_io_lmdb.h: the three PEM file names */
struct kh_raft_tls_ctx;
struct kh_raft_tls_conn;

/* Load and check cert_file, key_file and ca_file now: KH_ECONFIG with an
 * errmsg naming the file when one is missing, unreadable, holds no
 * certificate, or when the key does not match the certificate; KH_ENOMEM.
 * The caller frees *ret_ctx with kh_raft_tls_ctx_free(). */
int kh_raft_tls_ctx_new(const struct kh_raft_tls *tls,
                        struct kh_raft_tls_ctx **ret_ctx, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;
/* Accepts NULL. Connections made from ctx keep what they need of it. */
void kh_raft_tls_ctx_free(struct kh_raft_tls_ctx *ctx);

/* A connection for the client (server false) or the server side of one
 * TCP connection. KH_ENOMEM. Free with kh_raft_tls_conn_free(). */
int kh_raft_tls_conn_new(struct kh_raft_tls_ctx *ctx, bool server,
                         struct kh_raft_tls_conn **ret_conn) KH_MUST_CHECK;
/* Accepts NULL. */
void kh_raft_tls_conn_free(struct kh_raft_tls_conn *conn);

/* Bytes read from the socket, held until the next handshake step or
 * read. KH_ENOMEM. */
int kh_raft_tls_conn_recv(struct kh_raft_tls_conn *conn, const uint8_t *p,
                          size_t n) KH_MUST_CHECK;

/* One handshake step on what was received: *ret_done true once the
 * handshake completed and the peer's certificate verified (at once when
 * it already had). KH_EAUTH when the peer's certificate is missing or
 * does not verify, KH_EINVAL on any other protocol failure; the pending
 * bytes then carry the alert for the peer. */
int kh_raft_tls_conn_handshake(struct kh_raft_tls_conn *conn, bool *ret_done,
                               char *why, size_t why_size) KH_MUST_CHECK;
bool kh_raft_tls_conn_established(const struct kh_raft_tls_conn *conn);

/* Does the verified peer certificate name the node with this raft id
 * (raft_digest of its subject CN or of a DNS subjectAltName, 0 read as
 * 1)? False before the handshake finished. */
bool kh_raft_tls_conn_peer_is(const struct kh_raft_tls_conn *conn,
                              uint64_t id);

/* Plaintext received, up to cap bytes: *ret_n 0 when no whole record is
 * waiting. KH_EIO when the peer closed the TLS session (close_notify),
 * KH_EAUTH when it sent an alert refusing us, KH_EINVAL on anything else
 * malformed. Only after the handshake completed. */
int kh_raft_tls_conn_read(struct kh_raft_tls_conn *conn, uint8_t *buf,
                          size_t cap, size_t *ret_n, char *why,
                          size_t why_size) KH_MUST_CHECK;

/* Encrypt all n bytes into the pending output. KH_ENOMEM, KH_EINVAL.
 * Only after the handshake completed. */
int kh_raft_tls_conn_write(struct kh_raft_tls_conn *conn, const uint8_t *p,
                           size_t n) KH_MUST_CHECK;

/* Bytes waiting to go to the socket, and take exactly n of them (n at
 * most the pending count) into buf. */
size_t kh_raft_tls_conn_pending(const struct kh_raft_tls_conn *conn);
void kh_raft_tls_conn_take(struct kh_raft_tls_conn *conn, uint8_t *buf,
                           size_t n);

#endif
