/*
 * encoding.h - hex, base64 (standard alphabet, padded or raw), UUIDs and
 * RFC 3339 times. Pure functions over caller buffers; no allocation.
 */
#ifndef KH_COMMON_ENCODING_H
#define KH_COMMON_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/assert.h"

/* Lowercase hex of len bytes into out (size >= 2*len+1). */
void kh_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decode hex text (either case, even length) into out (size out_size).
 * Returns 0 and the byte count in *ret_len, or KH_EINVAL. */
int kh_hex_decode(const char *in, size_t in_len, uint8_t *out,
                  size_t out_size, size_t *ret_len) KH_MUST_CHECK;

/* Encoded length of len bytes with padding, excluding the NUL. */
size_t kh_base64_encoded_len(size_t len);
/* Standard base64; pad selects '=' padding. out must hold
 * kh_base64_encoded_len(len)+1. */
void kh_base64_encode(const uint8_t *in, size_t len, bool pad, char *out);
/* Decode standard base64, padded or not; whitespace is not allowed. */
int kh_base64_decode(const char *in, size_t in_len, uint8_t *out,
                     size_t out_size, size_t *ret_len) KH_MUST_CHECK;

/* count uniformly random base62 characters into out (size count + 1). */
int kh_random_base62(char *out, size_t count) KH_MUST_CHECK;

#define KH_UUID_STR_LEN 36
/* A random version-4 UUID, lowercase, into out (size >= 37). For
 * identifiers only (request IDs, mount UUIDs), never for key material:
 * it draws from a per-thread pool of random bytes. */
int kh_uuid_generate(char out[KH_UUID_STR_LEN + 1]) KH_MUST_CHECK;

#define KH_TIME_STR_SIZE 64
/* RFC 3339 UTC with fractional seconds ("2024-05-01T10:00:00.123456789Z"). */
void kh_time_format(const struct timespec *ts, char out[KH_TIME_STR_SIZE]);

#endif
