/*
 * fw_crypto_mbedtls.c - fw_crypto.h over mbedTLS 2.28 (the `_ret` API).
 * It owns the single entropy + CTR_DRBG context of the device. It must
 * never return library error codes (all map to -FW_ST_*), never keep key
 * material beyond a call (every mbedTLS context is freed before return),
 * and never call malloc itself (on the device mbedTLS uses a static pool,
 * installed by fw_crypto_init when MBEDTLS_MEMORY_BUFFER_ALLOC_C is set).
 */
#include "crypto/fw_crypto.h"
#include "fw_proto.h"

#include <string.h>

#if defined(MBEDTLS_CONFIG_FILE)
#include MBEDTLS_CONFIG_FILE
#else
#include "mbedtls/config.h"
#endif
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/entropy.h"
#include "mbedtls/gcm.h"
#include "mbedtls/hkdf.h"
#include "mbedtls/md.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
#include "mbedtls/memory_buffer_alloc.h"
static unsigned char g_heap[FW_MBEDTLS_HEAP];
#endif

static mbedtls_entropy_context g_entropy;
static mbedtls_ctr_drbg_context g_drbg;
static int g_ready;

void fw_crypto_free(void)
{
    if (!g_ready)
        return;
    mbedtls_ctr_drbg_free(&g_drbg);
    mbedtls_entropy_free(&g_entropy);
    g_ready = 0;
}

int fw_crypto_init(fw_entropy_fn src, void *src_ctx, const uint8_t *pers,
                   size_t pers_len)
{
    fw_crypto_free();
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    static int heap_ready;
    if (!heap_ready) {
        mbedtls_memory_buffer_alloc_init(g_heap, sizeof(g_heap));
        heap_ready = 1;
    }
#endif
    mbedtls_entropy_init(&g_entropy);
    mbedtls_ctr_drbg_init(&g_drbg);
    if (mbedtls_entropy_add_source(&g_entropy, src, src_ctx, 32,
                                   MBEDTLS_ENTROPY_SOURCE_STRONG) != 0 ||
        mbedtls_ctr_drbg_seed(&g_drbg, mbedtls_entropy_func, &g_entropy,
                              pers, pers_len) != 0) {
        mbedtls_ctr_drbg_free(&g_drbg);
        mbedtls_entropy_free(&g_entropy);
        return -FW_ST_INTERNAL;
    }
    g_ready = 1;
    return 0;
}

int fw_random(uint8_t *out, size_t len)
{
    if (!g_ready)
        return -FW_ST_INTERNAL;
    while (len > 0) { /* bounded: len shrinks every turn */
        size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST
                       ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        if (mbedtls_ctr_drbg_random(&g_drbg, out, n) != 0)
            return -FW_ST_INTERNAL;
        out += n;
        len -= n;
    }
    return 0;
}

static int drbg_cb(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    return fw_random(out, len) == 0 ? 0 : -1;
}

int fw_sha256(const struct fw_span *parts, size_t n, uint8_t out[FW_HASH_LEN])
{
    mbedtls_sha256_context c;
    int r = -FW_ST_INTERNAL;

    mbedtls_sha256_init(&c);
    if (mbedtls_sha256_starts_ret(&c, 0) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (mbedtls_sha256_update_ret(&c, parts[i].p, parts[i].n) != 0)
            goto out;
    if (mbedtls_sha256_finish_ret(&c, out) != 0)
        goto out;
    r = 0; /* success */
out:
    mbedtls_sha256_free(&c);
    return r;
}

int fw_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                   size_t ikm_len, const uint8_t *info, size_t info_len,
                   uint8_t *out, size_t out_len)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

    if (md == NULL || mbedtls_hkdf(md, salt, salt_len, ikm, ikm_len, info,
                                   info_len, out, out_len) != 0)
        return -FW_ST_INTERNAL;
    return 0;
}

static int gcm_run(int mode, const uint8_t *key, const uint8_t *iv,
                   const uint8_t *aad, size_t aad_len, const uint8_t *in,
                   size_t len, uint8_t *out, uint8_t *tag)
{
    mbedtls_gcm_context g;
    int r = -FW_ST_INTERNAL;
    int rc;

    mbedtls_gcm_init(&g);
    if (mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256) != 0)
        goto out;
    if (mode == MBEDTLS_GCM_ENCRYPT)
        rc = mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, iv,
                                       FW_GCM_IV_LEN, aad, aad_len, in, out,
                                       FW_GCM_TAG_LEN, tag);
    else
        rc = mbedtls_gcm_auth_decrypt(&g, len, iv, FW_GCM_IV_LEN, aad,
                                      aad_len, tag, FW_GCM_TAG_LEN, in, out);
    if (rc == MBEDTLS_ERR_GCM_AUTH_FAILED) {
        mbedtls_platform_zeroize(out, len);
        r = -FW_ST_AUTH;
        goto out;
    }
    if (rc != 0)
        goto out;
    r = 0; /* success */
out:
    mbedtls_gcm_free(&g);
    return r;
}

int fw_gcm_seal(const uint8_t key[FW_AES_KEY_LEN],
                const uint8_t iv[FW_GCM_IV_LEN], const uint8_t *aad,
                size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                uint8_t tag[FW_GCM_TAG_LEN])
{
    return gcm_run(MBEDTLS_GCM_ENCRYPT, key, iv, aad, aad_len, in, len, out,
                   tag);
}

int fw_gcm_open(const uint8_t key[FW_AES_KEY_LEN],
                const uint8_t iv[FW_GCM_IV_LEN], const uint8_t *aad,
                size_t aad_len, const uint8_t *in, size_t len,
                const uint8_t tag[FW_GCM_TAG_LEN], uint8_t *out)
{
    return gcm_run(MBEDTLS_GCM_DECRYPT, key, iv, aad, aad_len, in, len, out,
                   (uint8_t *)tag);
}

/* Load the P-256 group and, if priv != NULL, the scalar d and Q = dG. */
static int ec_load(mbedtls_ecp_keypair *k, const uint8_t *priv)
{
    mbedtls_ecp_keypair_init(k);
    if (mbedtls_ecp_group_load(&k->grp, MBEDTLS_ECP_DP_SECP256R1) != 0)
        return -FW_ST_INTERNAL;
    if (priv == NULL)
        return 0;
    if (mbedtls_mpi_read_binary(&k->d, priv, FW_EC_PRIV_LEN) != 0 ||
        mbedtls_ecp_check_privkey(&k->grp, &k->d) != 0)
        return -FW_ST_BADARG;
    if (mbedtls_ecp_mul(&k->grp, &k->Q, &k->d, &k->grp.G, drbg_cb,
                        NULL) != 0)
        return -FW_ST_INTERNAL;
    return 0;
}

static int ec_write_pub(mbedtls_ecp_keypair *k, uint8_t pub[FW_EC_PUB_LEN])
{
    size_t olen = 0;

    if (mbedtls_ecp_point_write_binary(&k->grp, &k->Q,
                                       MBEDTLS_ECP_PF_UNCOMPRESSED, &olen,
                                       pub, FW_EC_PUB_LEN) != 0 ||
        olen != FW_EC_PUB_LEN)
        return -FW_ST_INTERNAL;
    return 0;
}

int fw_ec_generate(uint8_t priv[FW_EC_PRIV_LEN], uint8_t pub[FW_EC_PUB_LEN])
{
    mbedtls_ecp_keypair k;
    int r = -FW_ST_INTERNAL;

    if (ec_load(&k, NULL) != 0)
        goto out;
    if (mbedtls_ecp_gen_keypair(&k.grp, &k.d, &k.Q, drbg_cb, NULL) != 0)
        goto out;
    if (mbedtls_mpi_write_binary(&k.d, priv, FW_EC_PRIV_LEN) != 0)
        goto out;
    r = ec_write_pub(&k, pub);
out:
    mbedtls_ecp_keypair_free(&k);
    return r;
}

int fw_ec_public(const uint8_t priv[FW_EC_PRIV_LEN],
                 uint8_t pub[FW_EC_PUB_LEN])
{
    mbedtls_ecp_keypair k;
    int r = ec_load(&k, priv);

    if (r == 0)
        r = ec_write_pub(&k, pub);
    mbedtls_ecp_keypair_free(&k);
    return r;
}

int fw_ec_sign(const uint8_t priv[FW_EC_PRIV_LEN],
               const uint8_t hash[FW_HASH_LEN], uint8_t sig[FW_EC_SIG_LEN])
{
    mbedtls_ecp_keypair k;
    mbedtls_mpi r_, s_;
    int r;

    mbedtls_mpi_init(&r_);
    mbedtls_mpi_init(&s_);
    mbedtls_ecp_keypair_init(&k);
    r = -FW_ST_INTERNAL;
    if (mbedtls_ecp_group_load(&k.grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
        mbedtls_mpi_read_binary(&k.d, priv, FW_EC_PRIV_LEN) != 0)
        goto out;
    if (mbedtls_ecdsa_sign_det_ext(&k.grp, &r_, &s_, &k.d, hash, FW_HASH_LEN,
                                   MBEDTLS_MD_SHA256, drbg_cb, NULL) != 0)
        goto out;
    if (mbedtls_mpi_write_binary(&r_, sig, 32) != 0 ||
        mbedtls_mpi_write_binary(&s_, sig + 32, 32) != 0)
        goto out;
    r = 0; /* success */
out:
    mbedtls_mpi_free(&r_);
    mbedtls_mpi_free(&s_);
    mbedtls_ecp_keypair_free(&k);
    return r;
}

int fw_ec_verify(const uint8_t pub[FW_EC_PUB_LEN],
                 const uint8_t hash[FW_HASH_LEN],
                 const uint8_t sig[FW_EC_SIG_LEN])
{
    mbedtls_ecp_keypair k;
    mbedtls_mpi r_, s_;
    int r = -FW_ST_INTERNAL;

    mbedtls_mpi_init(&r_);
    mbedtls_mpi_init(&s_);
    if (ec_load(&k, NULL) != 0)
        goto out;
    r = -FW_ST_BADARG;
    if (mbedtls_ecp_point_read_binary(&k.grp, &k.Q, pub, FW_EC_PUB_LEN) != 0 ||
        mbedtls_mpi_read_binary(&r_, sig, 32) != 0 ||
        mbedtls_mpi_read_binary(&s_, sig + 32, 32) != 0)
        goto out;
    r = -FW_ST_AUTH;
    if (mbedtls_ecdsa_verify(&k.grp, hash, FW_HASH_LEN, &k.Q, &r_, &s_) != 0)
        goto out;
    r = 0; /* success */
out:
    mbedtls_mpi_free(&r_);
    mbedtls_mpi_free(&s_);
    mbedtls_ecp_keypair_free(&k);
    return r;
}

int fw_ecdh(const uint8_t priv[FW_EC_PRIV_LEN],
            const uint8_t peer[FW_EC_PUB_LEN], uint8_t secret[FW_EC_PRIV_LEN])
{
    mbedtls_ecp_keypair k;
    mbedtls_ecp_point p;
    int r = -FW_ST_INTERNAL;

    mbedtls_ecp_point_init(&p);
    if (ec_load(&k, NULL) != 0)
        goto out;
    r = -FW_ST_BADARG;
    if (mbedtls_mpi_read_binary(&k.d, priv, FW_EC_PRIV_LEN) != 0 ||
        mbedtls_ecp_check_privkey(&k.grp, &k.d) != 0 ||
        mbedtls_ecp_point_read_binary(&k.grp, &k.Q, peer, FW_EC_PUB_LEN) != 0 ||
        mbedtls_ecp_check_pubkey(&k.grp, &k.Q) != 0)
        goto out;
    r = -FW_ST_INTERNAL;
    if (mbedtls_ecp_mul(&k.grp, &p, &k.d, &k.Q, drbg_cb, NULL) != 0 ||
        mbedtls_mpi_write_binary(&p.X, secret, FW_EC_PRIV_LEN) != 0)
        goto out;
    r = 0; /* success */
out:
    mbedtls_ecp_point_free(&p);
    mbedtls_ecp_keypair_free(&k);
    return r;
}

int fw_ct_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;

    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d != 0;
}

void fw_wipe(void *p, size_t n)
{
    mbedtls_platform_zeroize(p, n);
}
