/*
 * raft_codec.h - bounded big-endian encoding for the raft layer: a writer
 * and a reader with sticky errors (in the manner of OpenSSH's sshbuf), the
 * codec of a raft configuration, and the wire codec of every libraft 0.15
 * message type (libraft does not export its own).
 *
 * Owns no state. Every length read from a buffer is checked against both
 * the bytes left and a named limit from raft_limits.h before it is used;
 * decoding never recurses and never trusts a count.
 */
#ifndef KH_RAFT_RAFT_CODEC_H
#define KH_RAFT_RAFT_CODEC_H

#include <raft.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

/* A growable output buffer of at most max bytes (malloc'ed). After the
 * first failure every put is ignored and kh_raft_wbuf_error() reports it. */
struct kh_raft_wbuf
{
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
    int error; /* 0, KH_ETOOBIG or KH_ENOMEM */
};

void kh_raft_wbuf_init(struct kh_raft_wbuf *w, size_t max);
void kh_raft_wbuf_put_u8(struct kh_raft_wbuf *w, uint8_t v);
void kh_raft_wbuf_put_u16(struct kh_raft_wbuf *w, uint16_t v);
void kh_raft_wbuf_put_u32(struct kh_raft_wbuf *w, uint32_t v);
void kh_raft_wbuf_put_u64(struct kh_raft_wbuf *w, uint64_t v);
void kh_raft_wbuf_put(struct kh_raft_wbuf *w, const void *p, size_t n);
int kh_raft_wbuf_error(const struct kh_raft_wbuf *w) KH_MUST_CHECK;
/* Free the data; accepts a zeroed or failed buffer. */
void kh_raft_wbuf_free(struct kh_raft_wbuf *w);

/* A reader over caller-owned bytes. After the first short read every get
 * returns zeroes / NULL and kh_raft_rbuf_ok() is false. */
struct kh_raft_rbuf
{
    const uint8_t *p;
    size_t len;
    size_t pos;
    bool failed;
};

void kh_raft_rbuf_init(struct kh_raft_rbuf *r, const void *p, size_t len);
uint8_t kh_raft_rbuf_u8(struct kh_raft_rbuf *r);
uint16_t kh_raft_rbuf_u16(struct kh_raft_rbuf *r);
uint32_t kh_raft_rbuf_u32(struct kh_raft_rbuf *r);
uint64_t kh_raft_rbuf_u64(struct kh_raft_rbuf *r);
/* n bytes in place (NULL when fewer are left; n 0 gives a non-NULL
 * pointer while the reader is healthy). */
const uint8_t *kh_raft_rbuf_bytes(struct kh_raft_rbuf *r, size_t n);
bool kh_raft_rbuf_ok(const struct kh_raft_rbuf *r);
size_t kh_raft_rbuf_left(const struct kh_raft_rbuf *r);

/* Store a 64-bit value big-endian in 8 bytes and back. */
void kh_raft_be64_put(uint8_t out[8], uint64_t v);
uint64_t kh_raft_be64_get(const uint8_t in[8]);

/* A configuration: u32 count, then per server u64 id, u8 role, u16
 * address length and the address. At most KH_RAFT_SERVERS_MAX servers
 * with addresses of 1..KH_RAFT_ADDRESS_BYTES_MAX bytes. */
void kh_raft_conf_encode(struct kh_raft_wbuf *w,
                         const struct raft_configuration *conf);
/* Decode into *ret_conf (built with raft_configuration_add(), so raft's
 * heap; the caller closes it). KH_EINVAL on any malformed or oversized
 * field, KH_ENOMEM. */
int kh_raft_conf_decode(struct kh_raft_rbuf *r,
                        struct raft_configuration *ret_conf) KH_MUST_CHECK;

/* Encode the body of msg (not its sender: the connection says who that
 * is). KH_ETOOBIG above KH_RAFT_MESSAGE_BYTES_MAX or a limit, KH_EINVAL
 * for an unknown type, KH_ENOMEM. *w is initialised here; the caller
 * frees it whatever the result. */
int kh_raft_message_encode(const struct raft_message *msg,
                           struct kh_raft_wbuf *w) KH_MUST_CHECK;

/* Decode a body into *ret_msg. What it points to (entries and their one
 * batch, a snapshot's configuration and data) is allocated on raft's heap
 * and becomes raft's when the message is handed to its recv callback;
 * kh_raft_message_release() frees it when it is not. server_id and
 * server_address are left for the caller. KH_EINVAL on anything malformed
 * or over a limit, KH_ENOMEM. */
int kh_raft_message_decode(const uint8_t *p, size_t len,
                           struct raft_message *ret_msg) KH_MUST_CHECK;
void kh_raft_message_release(struct raft_message *msg);

#endif
