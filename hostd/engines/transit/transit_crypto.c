/*
 * transit_crypto.c - transit's software cryptography on OpenSSL EVP: key
 * generation for every key type, AES-256-GCM and ChaCha20-Poly1305 with
 * random 96-bit nonces, HKDF-SHA256 key derivation, RSA-OAEP, and PEM
 * export of private keys.
 *
 * Owns only pure functions over caller buffers and malloc'ed results:
 * no storage, no locks, no request fields. Every key, derived key and
 * plaintext copy it makes is wiped where it dies; on an authentication
 * failure no plaintext is returned. It never logs.
 */
#include "engines/transit/transit.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/secret.h"

/* ---- key generation ---- */

static EVP_PKEY *keygen_asym(enum transit_key_type type)
{
    switch (type) {
    case TRANSIT_ECDSA_P256:
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case TRANSIT_ED25519:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    case TRANSIT_RSA_2048:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    case TRANSIT_RSA_4096:
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
    default:
        break;
    }
    return NULL;
}

/* The public key as transit shows it: base64 of the raw key (ed25519),
 * else PEM SubjectPublicKeyInfo. */
static int public_text(EVP_PKEY *pkey, enum transit_key_type type,
                       char **ret)
{
    uint8_t raw[32];
    size_t raw_len = sizeof(raw);
    BIO *bio = NULL;
    char *data = NULL, *text = NULL;
    long n;

    if (type == TRANSIT_ED25519) {
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1)
            return KH_EINTERNAL;
        text = transit_b64(raw, raw_len);
    } else {
        bio = BIO_new(BIO_s_mem());
        if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
            BIO_free(bio);
            return KH_EINTERNAL;
        }
        n = BIO_get_mem_data(bio, &data);
        text = n > 0 ? strndup(data, (size_t)n) : NULL;
        BIO_free(bio);
    }
    if (text == NULL)
        return KH_ENOMEM;
    *ret = text;
    return 0;
}

/* PKCS#8 DER of pkey, malloc'ed. */
static int private_der(EVP_PKEY *pkey, uint8_t **ret, size_t *ret_len)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pkey);
    unsigned char *der = NULL;
    uint8_t *copy;
    int n;

    if (p8 == NULL)
        return KH_EINTERNAL;
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (n <= 0)
        return KH_EINTERNAL;
    copy = malloc((size_t)n);
    if (copy != NULL)
        memcpy(copy, der, (size_t)n);
    OPENSSL_clear_free(der, (size_t)n);
    if (copy == NULL)
        return KH_ENOMEM;
    *ret = copy;
    *ret_len = (size_t)n;
    return 0;
}

int transit_crypto_generate(enum transit_key_type type,
                            struct transit_version *v)
{
    const struct transit_type_info *info = transit_type_info(type);
    EVP_PKEY *pkey = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(info != NULL);
    KH_ASSERT(v->key == NULL);
    if (kh_random_bytes(v->hmac_key, sizeof(v->hmac_key)) != 0)
        return KH_EINTERNAL;
    v->has_hmac_key = true;
    if (!info->asymmetric) {
        v->key = malloc(TRANSIT_AEAD_KEY_BYTES);
        if (v->key == NULL)
            return KH_ENOMEM;
        v->key_len = TRANSIT_AEAD_KEY_BYTES;
        return kh_random_bytes(v->key, v->key_len);
    }
    pkey = keygen_asym(type);
    if (pkey == NULL)
        goto out;
    r = private_der(pkey, &v->key, &v->key_len);
    if (r == 0)
        r = public_text(pkey, type, &v->public_key);
out:
    EVP_PKEY_free(pkey);
    return r;
}

/* ---- derivation ---- */

int transit_crypto_derive(const uint8_t *key, size_t key_len,
                          const uint8_t *context, size_t context_len,
                          uint8_t out[TRANSIT_AEAD_KEY_BYTES])
{
    EVP_PKEY_CTX *pctx;
    size_t out_len = TRANSIT_AEAD_KEY_BYTES;
    int r = KH_EINTERNAL;

    KH_ASSERT(key != NULL);
    KH_ASSERT(context != NULL && context_len > 0);
    pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    if (pctx == NULL)
        return KH_ENOMEM;
    if (EVP_PKEY_derive_init(pctx) == 1 &&
        EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) == 1 &&
        EVP_PKEY_CTX_set1_hkdf_key(pctx, key, (int)key_len) == 1 &&
        EVP_PKEY_CTX_add1_hkdf_info(pctx, context, (int)context_len) == 1 &&
        EVP_PKEY_derive(pctx, out, &out_len) == 1 &&
        out_len == TRANSIT_AEAD_KEY_BYTES)
        r = 0;
    EVP_PKEY_CTX_free(pctx);
    if (r != 0)
        kh_wipe(out, TRANSIT_AEAD_KEY_BYTES);
    return r;
}

/* ---- AEAD ---- */

static const EVP_CIPHER *aead_cipher(enum transit_key_type type)
{
    return type == TRANSIT_CHACHA20_POLY1305 ? EVP_chacha20_poly1305()
                                             : EVP_aes_256_gcm();
}

/* One AEAD pass (enc: 1 encrypt, 0 decrypt) over in into out; tag is
 * written (encrypt) or checked (decrypt). */
static int aead_run(enum transit_key_type type, int enc, const uint8_t *key,
                    const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                    const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0, ok;

    if (ctx == NULL)
        return KH_ENOMEM;
    ok = EVP_CipherInit_ex(ctx, aead_cipher(type), NULL, NULL, NULL, enc) ==
             1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, TRANSIT_NONCE_BYTES,
                             NULL) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1;
    if (ok && aad_len > 0)
        ok = EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1;
    if (ok && len > 0)
        ok = EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
             (size_t)n == len;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
                                 TRANSIT_TAG_BYTES, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(ctx, out + len, &fin) == 1 && fin == 0;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                                 TRANSIT_TAG_BYTES, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return enc ? KH_EINTERNAL : KH_ECORRUPT;
    return 0;
}

int transit_crypto_seal(enum transit_key_type type, const uint8_t *key,
                        const uint8_t *aad, size_t aad_len,
                        const uint8_t *plain, size_t len, uint8_t **ret_blob,
                        size_t *ret_len)
{
    size_t blob_len = TRANSIT_NONCE_BYTES + len + TRANSIT_TAG_BYTES;
    uint8_t *blob;
    int r;

    KH_ASSERT(key != NULL);
    KH_ASSERT(plain != NULL || len == 0);
    if (len > TRANSIT_PLAINTEXT_BYTES_MAX + 512)
        return KH_EINVAL;
    blob = malloc(blob_len);
    if (blob == NULL)
        return KH_ENOMEM;
    r = kh_random_bytes(blob, TRANSIT_NONCE_BYTES);
    if (r == 0)
        r = aead_run(type, 1, key, blob, aad, aad_len, plain, len,
                     blob + TRANSIT_NONCE_BYTES,
                     blob + TRANSIT_NONCE_BYTES + len);
    if (r != 0) {
        kh_free_secret(blob, blob_len);
        return r;
    }
    *ret_blob = blob;
    *ret_len = blob_len;
    return 0;
}

int transit_crypto_open(enum transit_key_type type, const uint8_t *key,
                        const uint8_t *aad, size_t aad_len,
                        const uint8_t *blob, size_t blob_len,
                        uint8_t **ret_plain, size_t *ret_len)
{
    uint8_t tag[TRANSIT_TAG_BYTES];
    uint8_t *plain;
    size_t len;
    int r;

    KH_ASSERT(key != NULL);
    KH_ASSERT(blob != NULL);
    if (blob_len < TRANSIT_NONCE_BYTES + TRANSIT_TAG_BYTES)
        return KH_ECORRUPT;
    len = blob_len - TRANSIT_NONCE_BYTES - TRANSIT_TAG_BYTES;
    plain = malloc(len + 1);
    if (plain == NULL)
        return KH_ENOMEM;
    memcpy(tag, blob + blob_len - TRANSIT_TAG_BYTES, sizeof(tag));
    r = aead_run(type, 0, key, blob, aad, aad_len, blob + TRANSIT_NONCE_BYTES,
                 len, plain, tag);
    if (r != 0) {
        kh_free_secret(plain, len + 1);
        return r;
    }
    *ret_plain = plain;
    *ret_len = len;
    return 0;
}

/* ---- RSA-OAEP ---- */

static EVP_PKEY *load_private(const struct transit_version *v)
{
    const unsigned char *p = v->key;

    if (v->key == NULL || v->key_len == 0)
        return NULL;
    return d2i_AutoPrivateKey(NULL, &p, (long)v->key_len);
}

/* OAEP with SHA-256 for label-less encryption (enc) or decryption. */
static int oaep_run(const struct transit_version *v, bool enc,
                    const uint8_t *in, size_t len, uint8_t **ret_out,
                    size_t *ret_len)
{
    EVP_PKEY *pkey = load_private(v);
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    int r = KH_EINTERNAL;

    if (pkey == NULL)
        return KH_ECORRUPT;
    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL ||
        (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1)
        goto out;
    out_len = (size_t)EVP_PKEY_get_size(pkey);
    out = malloc(out_len + 1);
    if (out == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    if ((enc ? EVP_PKEY_encrypt(ctx, out, &out_len, in, len)
             : EVP_PKEY_decrypt(ctx, out, &out_len, in, len)) != 1) {
        r = enc ? KH_EINVAL : KH_ECORRUPT;
        goto out;
    }
    *ret_out = out;
    *ret_len = out_len;
    out = NULL;
    r = 0; /* success */
out:
    if (out != NULL)
        kh_free_secret(out, (size_t)EVP_PKEY_get_size(pkey) + 1);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

int transit_crypto_rsa_encrypt(const struct transit_version *v,
                               const uint8_t *plain, size_t len,
                               uint8_t **ret_blob, size_t *ret_len)
{
    return oaep_run(v, true, plain, len, ret_blob, ret_len);
}

int transit_crypto_rsa_decrypt(const struct transit_version *v,
                               const uint8_t *blob, size_t blob_len,
                               uint8_t **ret_plain, size_t *ret_len)
{
    return oaep_run(v, false, blob, blob_len, ret_plain, ret_len);
}

int transit_crypto_private_pem(const struct transit_version *v,
                               char **ret_pem)
{
    EVP_PKEY *pkey = load_private(v);
    BIO *bio = NULL;
    char *data = NULL, *pem = NULL;
    long n;
    int r = KH_EINTERNAL;

    if (pkey == NULL)
        return KH_ECORRUPT;
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
                                                NULL, NULL) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        goto out;
    pem = strndup(data, (size_t)n);
    if (pem == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    *ret_pem = pem;
    r = 0; /* success */
out:
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return r;
}
