/*
 * fw_crypto.h - the firmware's only view of a crypto library. Everything
 * the core needs (DRBG, SHA-256, HKDF, AES-256-GCM, P-256) goes through
 * these functions, so a move from mbedTLS 2.28 to 3.x touches only
 * fw_crypto_mbedtls.c. It must never expose library types or allocate
 * (mbedTLS draws on a static pool on the device).
 *
 * All functions return 0 or -FW_ST_* (fw_proto.h).
 */
#ifndef FW_CRYPTO_H
#define FW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "fw_limits.h"

/* Entropy callback in mbedTLS's shape: fill out[0..len), set *olen. */
typedef int (*fw_entropy_fn)(void *ctx, unsigned char *out, size_t len,
                             size_t *olen);

/* Seed the CTR_DRBG from src (registered as a strong source) plus the
 * personalisation string. Safe to call again (re-initialises). */
int fw_crypto_init(fw_entropy_fn src, void *src_ctx, const uint8_t *pers,
                   size_t pers_len);
void fw_crypto_free(void);

int fw_random(uint8_t *out, size_t len);

struct fw_span
{
    const uint8_t *p;
    size_t n;
};

/* SHA-256 over the concatenation of n parts. */
int fw_sha256(const struct fw_span *parts, size_t n, uint8_t out[FW_HASH_LEN]);

/* HKDF-SHA256 (RFC 5869) with a binary info of info_len bytes. */
int fw_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                   size_t ikm_len, const uint8_t *info, size_t info_len,
                   uint8_t *out, size_t out_len);

/* AES-256-GCM, 12-byte IV, 16-byte tag. open returns -FW_ST_AUTH on a bad
 * tag and wipes out. out may not alias in. */
int fw_gcm_seal(const uint8_t key[FW_AES_KEY_LEN],
                const uint8_t iv[FW_GCM_IV_LEN], const uint8_t *aad,
                size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                uint8_t tag[FW_GCM_TAG_LEN]);
int fw_gcm_open(const uint8_t key[FW_AES_KEY_LEN],
                const uint8_t iv[FW_GCM_IV_LEN], const uint8_t *aad,
                size_t aad_len, const uint8_t *in, size_t len,
                const uint8_t tag[FW_GCM_TAG_LEN], uint8_t *out);

/* P-256: fresh key from the DRBG; public point (uncompressed, 65 bytes)
 * from a scalar; RFC 6979 signature as r||s; verification. */
int fw_ec_generate(uint8_t priv[FW_EC_PRIV_LEN], uint8_t pub[FW_EC_PUB_LEN]);
int fw_ec_public(const uint8_t priv[FW_EC_PRIV_LEN],
                 uint8_t pub[FW_EC_PUB_LEN]);
int fw_ec_sign(const uint8_t priv[FW_EC_PRIV_LEN],
               const uint8_t hash[FW_HASH_LEN], uint8_t sig[FW_EC_SIG_LEN]);
int fw_ec_verify(const uint8_t pub[FW_EC_PUB_LEN],
                 const uint8_t hash[FW_HASH_LEN],
                 const uint8_t sig[FW_EC_SIG_LEN]);

/* ECDH on P-256: the x coordinate of priv * peer, after checking that
 * peer is a valid point of the curve (-FW_ST_BADARG if not). */
int fw_ecdh(const uint8_t priv[FW_EC_PRIV_LEN],
            const uint8_t peer[FW_EC_PUB_LEN], uint8_t secret[FW_EC_PRIV_LEN]);

/* Constant-time compare (0 when equal) and a wipe the compiler keeps. */
int fw_ct_diff(const uint8_t *a, const uint8_t *b, size_t n);
void fw_wipe(void *p, size_t n);

#endif
