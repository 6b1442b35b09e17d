/*
 * chain.h - the hash chain of an audit log, shared by the writer and the
 * verifier so both agree on every byte.
 *
 * A line is:   <prefix>{"seq":N,"prev_hash":"<64 hex>",<record fields>}\n
 * prev_hash is the hex SHA-256 of the previous line of the same device,
 * all its bytes (prefix included) but the newline; the first record of a
 * device (seq 1) has 64 zeros. A checkpoint record adds
 *
 *   "type":"checkpoint","checkpoint":{"device":D,"count":N-1,
 *   "head":<prev_hash>,"mac":"hmac-sha256:<hex>"}
 *
 * where mac = HMAC-SHA256(checkpoint key, "keyhold-audit-checkpoint\n" D
 * "\n" count "\n" head). A gap record ("type":"audit_gap","lost":K) says K
 * records could not be kept (spool full) and were never chained.
 */
#ifndef KH_AUDIT_CHAIN_H
#define KH_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

#define AUDIT_CHAIN_HASH_BYTES 32
#define AUDIT_CHAIN_HEX_BYTES 65        /* 64 hex + NUL */
#define AUDIT_CHAIN_MARKER "{\"seq\":"
#define AUDIT_CKEY_BYTES 32
/* One record: bigger ones are refused (the request fails closed). */
#define AUDIT_RECORD_BYTES_MAX (16u * 1024u * 1024u)
#define AUDIT_PREFIX_BYTES_MAX 256

/* SHA-256 of a line without its newline. */
void audit_chain_hash(const char *line, size_t len,
                      uint8_t out[AUDIT_CHAIN_HASH_BYTES]);

/* Build a line from a record body (a JSON object text starting with '{').
 * *ret_line is malloc'ed and ends with '\n'; *ret_len counts it. */
int audit_chain_line(const char *prefix, uint64_t seq,
                     const uint8_t prev[AUDIT_CHAIN_HASH_BYTES],
                     const char *body, size_t body_len, char **ret_line,
                     size_t *ret_len) KH_MUST_CHECK;

/* The checkpoint MAC as "hmac-sha256:<hex>" into out. */
#define AUDIT_MAC_TEXT_BYTES (sizeof("hmac-sha256:") + 64)
void audit_checkpoint_mac(const uint8_t key[AUDIT_CKEY_BYTES],
                          const char *device, uint64_t count,
                          const char *head_hex,
                          char out[AUDIT_MAC_TEXT_BYTES]);

#endif
