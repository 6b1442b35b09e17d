/*
 * fw_hsess.h - the host side of the v4 device session (fw_proto.h,
 * "Session") over OpenSSL 3: the ephemeral key and nonce of SESSION_OPEN,
 * the check of the device's signature under the pinned device key, the
 * HKDF of the two direction keys, and the sealing of requests and opening
 * of replies. Header-only (static inline) so that each host client of the
 * device - hsm/device.c in kh_hsm, the PKCS#11 module, fwctl and the
 * firmware tests - compiles the same code without another library.
 *
 * It owns the host's session keys and its replay check; it must never
 * seal two requests under one seq, accept a reply whose seq is not the
 * request's, nor hand out a plaintext whose tag failed. Keys die in
 * fwh_sess_clear (OPENSSL_cleanse).
 */
#ifndef FW_HSESS_H
#define FW_HSESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "../include/fw_proto.h"

struct fwh_sess
{
    int open;                    /* keys set: seal and open frames */
    EVP_PKEY *eph;               /* between begin and finish */
    uint8_t req[FW_SESSION_REQ_LEN]; /* hpub || hn, kept for finish */
    uint8_t k_h2d[FW_AES_KEY_LEN];
    uint8_t k_d2h[FW_AES_KEY_LEN];
};

/* Forget everything: the ephemeral key and both direction keys. */
static inline void fwh_sess_clear(struct fwh_sess *s)
{
    EVP_PKEY_free(s->eph);
    OPENSSL_cleanse(s, sizeof(*s));
    s->eph = NULL;
}

/* An EVP_PKEY for an uncompressed P-256 point, or NULL. */
static inline EVP_PKEY *fwh_pub_pkey(const uint8_t pub[FW_EC_PUB_LEN])
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_PKEY_PARAM_PUB_KEY, (void *)(uintptr_t)pub, FW_EC_PUB_LEN);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

/* 1 when r||s is a valid ECDSA signature of hash under pub. */
static inline int fwh_ecdsa_ok(const uint8_t pub[FW_EC_PUB_LEN],
                               const uint8_t hash[FW_HASH_LEN],
                               const uint8_t sig[FW_EC_SIG_LEN])
{
    EVP_PKEY *pk = fwh_pub_pkey(pub);
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(sig, 32, NULL), *bs = BN_bin2bn(sig + 32, 32, NULL);
    EVP_PKEY_CTX *vc = NULL;
    unsigned char *der = NULL;
    int der_len, ok = 0;

    if (pk == NULL || es == NULL || br == NULL || bs == NULL ||
        ECDSA_SIG_set0(es, br, bs) != 1)
        goto out;
    br = bs = NULL; /* es owns them */
    der_len = i2d_ECDSA_SIG(es, &der);
    vc = EVP_PKEY_CTX_new(pk, NULL);
    if (der_len <= 0 || vc == NULL || EVP_PKEY_verify_init(vc) <= 0)
        goto out;
    ok = EVP_PKEY_verify(vc, der, (size_t)der_len, hash, FW_HASH_LEN) == 1;
out:
    BN_free(br);
    BN_free(bs);
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(vc);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pk);
    return ok;
}

/* Start a session: a fresh ephemeral key and nonce; req gets the
 * SESSION_OPEN payload (FW_SESSION_REQ_LEN bytes). 0 or -1. */
static inline int fwh_sess_begin(struct fwh_sess *s,
                                 uint8_t req[FW_SESSION_REQ_LEN])
{
    size_t len = 0;

    fwh_sess_clear(s);
    s->eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (s->eph == NULL ||
        EVP_PKEY_get_octet_string_param(s->eph,
                                        OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        s->req, FW_EC_PUB_LEN, &len) != 1 ||
        len != FW_EC_PUB_LEN || s->req[0] != 0x04 ||
        RAND_bytes(s->req + FW_EC_PUB_LEN, FW_SESSION_NONCE_LEN) != 1) {
        fwh_sess_clear(s);
        return -1;
    }
    memcpy(req, s->req, FW_SESSION_REQ_LEN);
    return 0;
}

/* z = x(eph * dpub), 32 bytes. 0 or -1. */
static inline int fwh_ecdh(struct fwh_sess *s, const uint8_t *dpub,
                           uint8_t z[FW_EC_PRIV_LEN])
{
    EVP_PKEY *peer = fwh_pub_pkey(dpub);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(s->eph, NULL);
    size_t zlen = FW_EC_PRIV_LEN;
    int ok = peer != NULL && c != NULL && EVP_PKEY_derive_init(c) == 1 &&
             EVP_PKEY_derive_set_peer(c, peer) == 1 &&
             EVP_PKEY_derive(c, z, &zlen) == 1 && zlen == FW_EC_PRIV_LEN;

    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(peer);
    return ok ? 0 : -1;
}

/* The two direction keys from z and the transcript (rep = dpub || dn). */
static inline int fwh_derive(struct fwh_sess *s, const uint8_t *rep,
                             const uint8_t z[FW_EC_PRIV_LEN])
{
    uint8_t salt[2 * FW_SESSION_NONCE_LEN];
    uint8_t info[FW_SESSION_LABEL_LEN + 2 * FW_EC_PUB_LEN];
    uint8_t okm[FW_SESSION_KEYS_LEN];
    size_t olen = sizeof(okm);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    int ok;

    memcpy(salt, s->req + FW_EC_PUB_LEN, FW_SESSION_NONCE_LEN);
    memcpy(salt + FW_SESSION_NONCE_LEN, rep + FW_EC_PUB_LEN,
           FW_SESSION_NONCE_LEN);
    memcpy(info, FW_SESSION_LABEL, FW_SESSION_LABEL_LEN);
    memcpy(info + FW_SESSION_LABEL_LEN, s->req, FW_EC_PUB_LEN);
    memcpy(info + FW_SESSION_LABEL_LEN + FW_EC_PUB_LEN, rep, FW_EC_PUB_LEN);
    ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
         EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set1_hkdf_salt(c, salt, sizeof(salt)) == 1 &&
         EVP_PKEY_CTX_set1_hkdf_key(c, z, FW_EC_PRIV_LEN) == 1 &&
         EVP_PKEY_CTX_add1_hkdf_info(c, info, sizeof(info)) == 1 &&
         EVP_PKEY_derive(c, okm, &olen) == 1 && olen == sizeof(okm);
    if (ok) {
        memcpy(s->k_h2d, okm, FW_AES_KEY_LEN);
        memcpy(s->k_d2h, okm + FW_AES_KEY_LEN, FW_AES_KEY_LEN);
    }
    OPENSSL_cleanse(okm, sizeof(okm));
    EVP_PKEY_CTX_free(c);
    return ok ? 0 : -1;
}

/* SESSION_OPEN's reply rep[0..n): check the device's signature under
 * devpub (the pinned device key), then derive the keys. 0, or -1 with the
 * session cleared (a forged or mangled reply opens nothing). */
static inline int fwh_sess_finish(struct fwh_sess *s, const uint8_t *rep,
                                  size_t n,
                                  const uint8_t devpub[FW_EC_PUB_LEN])
{
    uint8_t h[FW_HASH_LEN], z[FW_EC_PRIV_LEN];
    unsigned int hlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = s->eph != NULL && n == FW_SESSION_REP_LEN && md != NULL &&
             EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, FW_SESSION_LABEL,
                              FW_SESSION_LABEL_LEN) == 1 &&
             EVP_DigestUpdate(md, s->req, FW_SESSION_REQ_LEN) == 1 &&
             EVP_DigestUpdate(md, rep,
                              FW_EC_PUB_LEN + FW_SESSION_NONCE_LEN) == 1 &&
             EVP_DigestFinal_ex(md, h, &hlen) == 1 && hlen == FW_HASH_LEN;

    EVP_MD_CTX_free(md);
    ok = ok && fwh_ecdsa_ok(devpub, h,
                            rep + FW_EC_PUB_LEN + FW_SESSION_NONCE_LEN);
    ok = ok && fwh_ecdh(s, rep, z) == 0 && fwh_derive(s, rep, z) == 0;
    OPENSSL_cleanse(z, sizeof(z));
    EVP_PKEY_free(s->eph);
    s->eph = NULL;
    if (!ok) {
        fwh_sess_clear(s);
        return -1;
    }
    s->open = 1;
    return 0;
}

/* AES-256-GCM with a 12-byte nonce; enc 1 seals in -> out || tag, 0 opens
 * (tag checked). 0 or -1. */
static inline int fwh_gcm(int enc, const uint8_t *key, const uint8_t *iv,
                          const uint8_t *aad, const uint8_t *in, size_t n,
                          uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0, ok = c != NULL &&
                    EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv,
                                      enc) == 1 &&
                    EVP_CipherUpdate(c, NULL, &l, aad, FW_HDR_LEN) == 1 &&
                    (n == 0 || EVP_CipherUpdate(c, out, &l, in, (int)n) == 1);

    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, FW_GCM_TAG_LEN,
                                 tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + n, &l) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, FW_GCM_TAG_LEN,
                                 tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* Encode request pt[0..len) (len <= FW_SEALED_MAX) as a sealed frame
 * numbered seq into out (cap >= FW_MAX_FRAME). The caller numbers every
 * request above the last one. Returns the frame length, 0 on failure. */
static inline size_t fwh_seal(struct fwh_sess *s, uint8_t *out, size_t cap,
                              uint8_t cmd, uint32_t seq, const uint8_t *pt,
                              size_t len)
{
    uint8_t iv[FW_GCM_IV_LEN];
    size_t n = len + FW_GCM_TAG_LEN;

    if (!s->open || len > FW_SEALED_MAX || cap < FW_HDR_LEN + n + FW_CRC_LEN)
        return 0;
    fw_frame_header(out, cmd, 0, FW_FLAG_SEALED, seq, (uint16_t)n);
    fw_session_nonce(iv, seq);
    if (fwh_gcm(1, s->k_h2d, iv, out, pt, len, out + FW_HDR_LEN,
                out + FW_HDR_LEN + len) != 0)
        return 0;
    return fw_frame_finish(out, n);
}

/* Open the sealed reply f to the request numbered seq into out (cap
 * bytes). 0, or -1 for a frame that is not a sealed reply to seq or whose
 * tag fails (out wiped; the caller drops the session). */
static inline int fwh_open(struct fwh_sess *s, const struct fw_frame *f,
                           uint32_t seq, uint8_t *out, size_t cap,
                           size_t *ret_len)
{
    uint8_t aad[FW_HDR_LEN], iv[FW_GCM_IV_LEN], tag[FW_GCM_TAG_LEN];
    size_t n;

    if (!s->open || !(f->flags & FW_FLAG_SEALED) || f->seq != seq ||
        f->len < FW_GCM_TAG_LEN || f->len - FW_GCM_TAG_LEN > cap)
        return -1;
    n = f->len - FW_GCM_TAG_LEN;
    memcpy(tag, f->payload + n, FW_GCM_TAG_LEN);
    fw_frame_header(aad, f->cmd, f->status, f->flags, f->seq, f->len);
    fw_session_nonce(iv, seq);
    if (fwh_gcm(0, s->k_d2h, iv, aad, f->payload, n, out, tag) != 0) {
        OPENSSL_cleanse(out, n);
        return -1;
    }
    *ret_len = n;
    return 0;
}

#endif
