/*
 * fw_mbedtls_check.h - combinations the firmware refuses at compile time,
 * on top of mbedTLS's own check_config.h. It must only contain checks.
 */
#ifndef FW_MBEDTLS_CHECK_H
#define FW_MBEDTLS_CHECK_H

#if !defined(MBEDTLS_GCM_C) || !defined(MBEDTLS_AES_C)
#error "firmware: wrap/unwrap needs MBEDTLS_GCM_C and MBEDTLS_AES_C"
#endif
#if !defined(MBEDTLS_ECDSA_DETERMINISTIC) || !defined(MBEDTLS_HMAC_DRBG_C)
#error "firmware: signatures must be RFC 6979 deterministic"
#endif
#if !defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
#error "firmware: P-256 is the device curve"
#endif
#if !defined(MBEDTLS_CTR_DRBG_C) || !defined(MBEDTLS_ENTROPY_C)
#error "firmware: the device DRBG needs CTR_DRBG and ENTROPY"
#endif
#if !defined(MBEDTLS_HKDF_C) || !defined(MBEDTLS_SHA256_C)
#error "firmware: NV key derivation needs HKDF and SHA-256"
#endif
#if !defined(MBEDTLS_NO_PLATFORM_ENTROPY)
#error "firmware: entropy must come from the board TRNG only"
#endif
#if !defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C) || !defined(MBEDTLS_PLATFORM_MEMORY)
#error "firmware: no heap after boot; use the static buffer allocator"
#endif
#if defined(MBEDTLS_SSL_TLS_C) || defined(MBEDTLS_X509_USE_C) ||            \
    defined(MBEDTLS_RSA_C) || defined(MBEDTLS_FS_IO) ||                     \
    defined(MBEDTLS_THREADING_C) || defined(MBEDTLS_NET_C)
#error "firmware: TLS, X.509, RSA, file I/O, threads and net are not built"
#endif
#if defined(MBEDTLS_ECP_MAX_BITS) && MBEDTLS_ECP_MAX_BITS != 256
#error "firmware: only 256-bit curves"
#endif
#if defined(MBEDTLS_ECP_WINDOW_SIZE) &&                                      \
    (MBEDTLS_ECP_WINDOW_SIZE < 2 || MBEDTLS_ECP_WINDOW_SIZE > 6)
#error "firmware: ECP window must be 2..6 (RAM budget)"
#endif
#if defined(FW_RELEASE) && defined(FW_BOARD_TEST_ENTROPY)
#error "firmware: a release build refuses the test-only entropy source"
#endif

#endif
