/*
 * fw_mbedtls_config.h - the one mbedTLS 2.28 configuration of the device,
 * used by the cross build (and usable by a host build of the deb-src tree).
 * Every option carries the reason it is on; anything not listed is off.
 * It must never enable TLS, X.509, RSA or file-system code.
 */
#ifndef FW_MBEDTLS_CONFIG_H
#define FW_MBEDTLS_CONFIG_H

/* --- System --- */
/* Inline assembly for bignum multiply on Cortex-M (UMAAL on v7E-M/v8-M). */
#define MBEDTLS_HAVE_ASM
/* No OS entropy on bare metal: the board TRNG is added at run time. */
#define MBEDTLS_NO_PLATFORM_ENTROPY
/* Platform layer, needed to redirect calloc/free and exit. */
#define MBEDTLS_PLATFORM_C
/* calloc/free come from the platform layer (the static pool below). */
#define MBEDTLS_PLATFORM_MEMORY
/* No heap after boot: mbedTLS allocates from one static buffer. */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
/* No libc stdio/exit: keeps newlib's syscalls out of the link. */
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
/* The allocator's fatal path calls this instead of exit(). */
#define MBEDTLS_PLATFORM_EXIT_MACRO fw_panic
void fw_panic(int code) __attribute__((noreturn)); /* core/fw_board.h */
/* Only the `_ret` API exists, so the shim cannot use deprecated calls. */
#define MBEDTLS_DEPRECATED_REMOVED

/* --- Algorithms --- */
/* AES-256 for GCM wrap/unwrap and the NV record encryption. */
#define MBEDTLS_AES_C
/* AES tables in flash, not RAM. */
#define MBEDTLS_AES_ROM_TABLES
/* One table instead of four: 6 KB less flash, slightly slower. */
#define MBEDTLS_AES_FEWER_TABLES
/* AES-256-GCM: the wrap/unwrap and NV record AEAD. */
#define MBEDTLS_GCM_C
/* GCM's key schedule goes through the cipher layer. */
#define MBEDTLS_CIPHER_C
/* SHA-256: PIN hash, event-log chain, attestation, HKDF, ECDSA. */
#define MBEDTLS_SHA256_C
/* Smaller SHA-256 code, flash over speed. */
#define MBEDTLS_SHA256_SMALLER
/* Message-digest layer, needed by HKDF and HMAC_DRBG. */
#define MBEDTLS_MD_C
/* HKDF: NV key derivation from the hardware unique key. */
#define MBEDTLS_HKDF_C
/* Entropy pool over the board TRNG. */
#define MBEDTLS_ENTROPY_C
/* The device DRBG. */
#define MBEDTLS_CTR_DRBG_C
/* Needed by deterministic ECDSA (RFC 6979). */
#define MBEDTLS_HMAC_DRBG_C
/* Big numbers for P-256. */
#define MBEDTLS_BIGNUM_C
/* Elliptic-curve arithmetic. */
#define MBEDTLS_ECP_C
/* The one curve: NIST P-256. */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
/* Fast P-256 reduction. */
#define MBEDTLS_ECP_NIST_OPTIM
/* ECDSA signatures. */
#define MBEDTLS_ECDSA_C
/* RFC 6979: no per-signature randomness to leak the key. */
#define MBEDTLS_ECDSA_DETERMINISTIC
/* ecdsa.c references ASN.1 helpers for DER signatures. */
#define MBEDTLS_ASN1_PARSE_C
/* ecdsa.c references ASN.1 helpers for DER signatures. */
#define MBEDTLS_ASN1_WRITE_C

/* --- Tuning (RAM vs speed, measured on this project's QEMU boards) --- */
/* Largest MPI: 256-bit scalars only. */
#define MBEDTLS_MPI_MAX_SIZE 32
/* Small modular-exponentiation window: RAM over speed (no RSA anyway). */
#define MBEDTLS_MPI_WINDOW_SIZE 2
/* Only P-256. */
#define MBEDTLS_ECP_MAX_BITS 256
/* Window 4: ~3 KB heap peak, ~14 M instructions per sign on Cortex-M3. */
#define MBEDTLS_ECP_WINDOW_SIZE 4
/* No run-time fixed-point table (would keep 1.7 KB of heap). */
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
/* TRNG plus room for one more source. */
#define MBEDTLS_ENTROPY_MAX_SOURCES 2

#include "fw_mbedtls_check.h"
#include "mbedtls/check_config.h"

#endif
