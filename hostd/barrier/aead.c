/*
 * aead.c - AES-256-GCM records (layout in aead.h) over OpenSSL EVP.
 *
 * Owns no state: every call builds and frees its own cipher context, so
 * the key schedule never outlives the call (EVP_CIPHER_CTX_free cleanses
 * it). Must never return plaintext that failed authentication, never reuse
 * a nonce on purpose (each one is fresh from getrandom) and never log.
 */
#include "barrier/aead.h"

#include <assert.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

static_assert(AEAD_TERM_OFFSET == 0, "term leads the record");
static_assert(AEAD_VERSION_OFFSET == 4, "version after the 4-byte term");
static_assert(AEAD_NONCE_OFFSET == 5, "nonce after the version byte");
static_assert(AEAD_HEADER_BYTES == 4 + 1 + 12, "record header layout");
static_assert(AEAD_OVERHEAD == 33, "header plus 16-byte tag");
static_assert(AEAD_NONCE_BYTES == 12, "96-bit GCM nonces (SP 800-38D 8.2)");
static_assert(AEAD_VERSION <= UINT8_MAX, "version fits its byte");

/* The authenticated prefix of the header: term and version. The nonce is
 * bound by GCM itself. */
#define AEAD_BOUND_HEADER_BYTES (AEAD_TERM_BYTES + AEAD_VERSION_BYTES)

/* Key, nonce and additional data into a fresh context; enc is 1 to
 * encrypt, 0 to decrypt. header points at a full record header. */
static int gcm_start(EVP_CIPHER_CTX *ctx, int enc,
                     const uint8_t key[AEAD_KEY_BYTES], const uint8_t *header,
                     const uint8_t *aad, size_t aad_len)
{
    int n = 0;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(aad_len <= AEAD_AAD_BYTES_MAX);
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1)
        return KH_EINTERNAL;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, AEAD_NONCE_BYTES,
                            NULL) != 1)
        return KH_EINTERNAL;
    if (EVP_CipherInit_ex(ctx, NULL, NULL, key, header + AEAD_NONCE_OFFSET,
                          enc) != 1)
        return KH_EINTERNAL;
    if (EVP_CipherUpdate(ctx, NULL, &n, header, AEAD_BOUND_HEADER_BYTES) != 1)
        return KH_EINTERNAL;
    if (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
        return KH_EINTERNAL;
    return 0;
}

static void header_write(uint8_t *out, uint32_t term)
{
    out[AEAD_TERM_OFFSET + 0] = (uint8_t)(term >> 24);
    out[AEAD_TERM_OFFSET + 1] = (uint8_t)(term >> 16);
    out[AEAD_TERM_OFFSET + 2] = (uint8_t)(term >> 8);
    out[AEAD_TERM_OFFSET + 3] = (uint8_t)term;
    out[AEAD_VERSION_OFFSET] = AEAD_VERSION;
}

int aead_encrypt(const uint8_t key[AEAD_KEY_BYTES], uint32_t term,
                 const uint8_t *aad, size_t aad_len, const uint8_t *plain,
                 size_t len, uint8_t *out, size_t out_size, size_t *ret_len)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t final_buf[AEAD_TAG_BYTES];
    uint8_t *ct;
    int n = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(key != NULL);
    KH_ASSERT(out != NULL);
    KH_ASSERT(ret_len != NULL);
    KH_ASSERT(plain != NULL || len == 0);
    KH_ASSERT(aad != NULL || aad_len == 0);
    if (len > AEAD_PLAIN_BYTES_MAX || aad_len > AEAD_AAD_BYTES_MAX ||
        out_size < len + AEAD_OVERHEAD)
        return KH_EINVAL;

    header_write(out, term);
    ct = out + AEAD_HEADER_BYTES;
    if (kh_random_bytes(out + AEAD_NONCE_OFFSET, AEAD_NONCE_BYTES) != 0)
        goto out;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    if (gcm_start(ctx, 1, key, out, aad, aad_len) != 0)
        goto out;
    if (len > 0 && (EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1 ||
                    (size_t)n != len))
        goto out;
    if (EVP_EncryptFinal_ex(ctx, final_buf, &n) != 1 || n != 0)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_BYTES,
                            ct + len) != 1)
        goto out;
    *ret_len = len + AEAD_OVERHEAD;
    r = 0; /* success */
out:
    if (r != 0)
        kh_wipe(out, len + AEAD_OVERHEAD);
    kh_wipe(final_buf, sizeof(final_buf));
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

int aead_decrypt(const uint8_t key[AEAD_KEY_BYTES], const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                 size_t out_size, size_t *ret_len)
{
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t tag[AEAD_TAG_BYTES];
    uint8_t final_buf[AEAD_TAG_BYTES];
    size_t ct_len;
    int n = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(key != NULL);
    KH_ASSERT(ret_len != NULL);
    KH_ASSERT(aad != NULL || aad_len == 0);
    if (in == NULL || in_len < AEAD_OVERHEAD ||
        in[AEAD_VERSION_OFFSET] != AEAD_VERSION)
        return KH_ECORRUPT;
    ct_len = in_len - AEAD_OVERHEAD;
    if (ct_len > AEAD_PLAIN_BYTES_MAX)
        return KH_ECORRUPT;
    if (aad_len > AEAD_AAD_BYTES_MAX || out_size < ct_len ||
        (out == NULL && ct_len > 0))
        return KH_EINVAL;

    memcpy(tag, in + AEAD_HEADER_BYTES + ct_len, AEAD_TAG_BYTES);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    if (gcm_start(ctx, 0, key, in, aad, aad_len) != 0)
        goto out;
    if (ct_len > 0 && (EVP_DecryptUpdate(ctx, out, &n, in + AEAD_HEADER_BYTES,
                                         (int)ct_len) != 1 ||
                       (size_t)n != ct_len))
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_BYTES, tag) !=
        1)
        goto out;
    /* The tag check: anything but 1 is an authentication failure. */
    if (EVP_DecryptFinal_ex(ctx, final_buf, &n) != 1 || n != 0) {
        r = KH_ECORRUPT;
        goto out;
    }
    *ret_len = ct_len;
    r = 0; /* success */
out:
    if (r != 0 && ct_len > 0)
        kh_wipe(out, ct_len);
    kh_wipe(final_buf, sizeof(final_buf));
    EVP_CIPHER_CTX_free(ctx);
    return r;
}

int aead_peek_term(const uint8_t *in, size_t in_len, uint32_t *ret_term)
{
    KH_ASSERT(ret_term != NULL);
    if (in == NULL || in_len < AEAD_OVERHEAD)
        return KH_ECORRUPT;
    *ret_term = (uint32_t)in[AEAD_TERM_OFFSET] << 24 |
                (uint32_t)in[AEAD_TERM_OFFSET + 1] << 16 |
                (uint32_t)in[AEAD_TERM_OFFSET + 2] << 8 |
                (uint32_t)in[AEAD_TERM_OFFSET + 3];
    return 0;
}
