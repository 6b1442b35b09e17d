/*
 * shamir.h - Shamir's secret sharing over GF(2^8), as Vault splits its
 * unseal and recovery keys.
 *
 * Share layout (Vault API: sys/init): each share is secret_len + 1 bytes: the
 * y-values of a random polynomial of degree threshold-1 per secret byte,
 * followed by one trailing byte holding the share's x-coordinate (1..255,
 * distinct, never 0). Field arithmetic is constant time: no table lookups
 * indexed by secret data, no branches on secret data.
 */
#ifndef KH_SEAL_SHAMIR_H
#define KH_SEAL_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

#define SHAMIR_SECRET_BYTES_MAX 64

/* Split secret into share_count shares, any threshold of which recover it.
 * Requires 2 <= threshold <= share_count <= 255 and
 * 1 <= secret_len <= SHAMIR_SECRET_BYTES_MAX. shares is share_count rows of
 * (secret_len + 1) bytes, laid out contiguously. Returns 0, KH_EINVAL for
 * bad parameters, or KH_EINTERNAL if randomness fails. Coefficients are
 * wiped before return. */
int shamir_split(const uint8_t *secret, size_t secret_len,
                 unsigned share_count, unsigned threshold,
                 uint8_t *shares) KH_MUST_CHECK;

/* Recover the secret from share_count shares of share_len bytes each (laid
 * out contiguously), share_len = secret_len + 1. Returns KH_EINVAL on fewer
 * than 2 shares, differing lengths, an x-coordinate of 0 or duplicate
 * x-coordinates. Note: too few or wrong shares give a wrong secret, not an
 * error; the caller authenticates the result. */
int shamir_combine(const uint8_t *shares, size_t share_count,
                   size_t share_len, uint8_t *secret,
                   size_t secret_size) KH_MUST_CHECK;

#endif
