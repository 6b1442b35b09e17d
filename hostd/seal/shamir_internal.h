/*
 * shamir_internal.h - the GF(2^8) field operations behind shamir.c, exposed
 * only so tests/unit/test_shamir.c can check them against known answers.
 * Nothing outside shamir.c and its test may include this header.
 */
#ifndef KH_SEAL_SHAMIR_INTERNAL_H
#define KH_SEAL_SHAMIR_INTERNAL_H

#include <stdint.h>

/* Product of a and b in GF(2^8) modulo the AES polynomial
 * x^8 + x^4 + x^3 + x + 1 (0x11b). Constant time. */
uint8_t shamir_gf_mul(uint8_t a, uint8_t b);

/* Multiplicative inverse a^254 (0 maps to 0). Constant time. */
uint8_t shamir_gf_inv(uint8_t a);

#endif
