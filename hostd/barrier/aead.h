/*
 * aead.h - AES-256-GCM records with a key term, for the barrier and the
 * seal (hostd/README.md).
 *
 * A record is
 *
 *     term (4, big endian) | version (1) | nonce (12) | ciphertext | tag (16)
 *
 * The nonce is 96 random bits from the kernel CSPRNG, fresh per call. The
 * GCM additional data is term | version followed by the caller's aad, so
 * the header is authenticated too: a flipped term or version byte fails the
 * tag like any other byte. Callers bind the record to where it lives (the
 * storage path) through aad.
 *
 * This file counts nothing: staying below the per-key volume limit of
 * random-nonce GCM (NIST SP 800-38D §8.3, see barrier.h) is the caller's
 * job. Keys are borrowed for the call and never copied outside OpenSSL's
 * context, which is freed (and cleansed) before returning.
 */
#ifndef KH_BARRIER_AEAD_H
#define KH_BARRIER_AEAD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

#define AEAD_KEY_BYTES      32
#define AEAD_VERSION        1
#define AEAD_TERM_BYTES     4
#define AEAD_VERSION_BYTES  1
#define AEAD_NONCE_BYTES    12
#define AEAD_TERM_OFFSET    0
#define AEAD_VERSION_OFFSET (AEAD_TERM_OFFSET + AEAD_TERM_BYTES)
#define AEAD_NONCE_OFFSET   (AEAD_VERSION_OFFSET + AEAD_VERSION_BYTES)
#define AEAD_HEADER_BYTES   (AEAD_NONCE_OFFSET + AEAD_NONCE_BYTES)
#define AEAD_TAG_BYTES      16
#define AEAD_OVERHEAD       (AEAD_HEADER_BYTES + AEAD_TAG_BYTES)
/* OpenSSL takes int lengths. */
#define AEAD_PLAIN_BYTES_MAX ((size_t)INT_MAX - AEAD_OVERHEAD)
#define AEAD_AAD_BYTES_MAX   ((size_t)INT_MAX)

/* Encrypt len bytes of plain (NULL allowed when len is 0) under key into
 * out (out_size >= len + AEAD_OVERHEAD), stamping term into the header.
 * *ret_len = len + AEAD_OVERHEAD. aad may be NULL when aad_len is 0.
 * Errors: KH_EINVAL (out too small, len > AEAD_PLAIN_BYTES_MAX, aad too
 * long), KH_EINTERNAL (CSPRNG or OpenSSL failure; out is wiped). */
int aead_encrypt(const uint8_t key[AEAD_KEY_BYTES], uint32_t term,
                 const uint8_t *aad, size_t aad_len, const uint8_t *plain,
                 size_t len, uint8_t *out, size_t out_size,
                 size_t *ret_len) KH_MUST_CHECK;

/* Authenticate and decrypt a record into out (out_size >= in_len -
 * AEAD_OVERHEAD); *ret_len = in_len - AEAD_OVERHEAD. The caller chose key
 * from the record's term (aead_peek_term). Errors: KH_ECORRUPT (shorter
 * than AEAD_OVERHEAD, unknown version, tag mismatch: wrong key, wrong aad
 * or altered bytes), KH_EINVAL (out too small), KH_EINTERNAL (OpenSSL).
 * On any failure the bytes of out that may have been written are wiped. */
int aead_decrypt(const uint8_t key[AEAD_KEY_BYTES], const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                 size_t out_size, size_t *ret_len) KH_MUST_CHECK;

/* The term in a record's header, unauthenticated: use it only to choose
 * the key, then decrypt. KH_ECORRUPT if in_len < AEAD_OVERHEAD. */
int aead_peek_term(const uint8_t *in, size_t in_len,
                   uint32_t *ret_term) KH_MUST_CHECK;

#endif
