/*
 * test_aead.c - AES-256-GCM records (hostd/barrier/aead.c): layout, round
 * trips, authentication of every byte, buffer limits, and a cross-check of
 * the record format against OpenSSL's EVP interface used directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/aead.h"
#include "common/err.h"

static const uint8_t key_a[AEAD_KEY_BYTES] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
static const uint8_t key_b[AEAD_KEY_BYTES] = {0xff};
static const uint8_t aad[] = "logical/abc/secret";
#define AAD_LEN (sizeof(aad) - 1)

/* Encrypt len bytes of a pattern under key_a; returns a malloc'ed record. */
static uint8_t *seal_pattern(uint32_t term, size_t len, size_t *ret_len)
{
    uint8_t *plain = malloc(len + 1);
    uint8_t *rec = malloc(len + AEAD_OVERHEAD);
    size_t i;

    assert_non_null(plain);
    assert_non_null(rec);
    for (i = 0; i < len; i++)
        plain[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(aead_encrypt(key_a, term, aad, AAD_LEN, plain, len, rec,
                                  len + AEAD_OVERHEAD, ret_len),
                     0);
    free(plain);
    return rec;
}

/* Records round-trip at sizes around the AES block and larger. */
static void test_round_trip_sizes(void **state)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 1024, 65536};
    size_t i, j, rec_len, out_len;
    uint8_t *rec, *out;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(sizes); i++) {
        rec = seal_pattern(7, sizes[i], &rec_len);
        assert_int_equal(rec_len, sizes[i] + AEAD_OVERHEAD);
        out = malloc(sizes[i] + 1);
        assert_non_null(out);
        assert_int_equal(aead_decrypt(key_a, aad, AAD_LEN, rec, rec_len, out,
                                      sizes[i], &out_len),
                         0);
        assert_int_equal(out_len, sizes[i]);
        for (j = 0; j < sizes[i]; j++)
            assert_int_equal(out[j], (uint8_t)(j * 7 + 3));
        free(out);
        free(rec);
    }
}

/* The header is term (big endian), version, nonce, and peek reads it. */
static void test_header_layout_and_peek(void **state)
{
    uint32_t term = 0;
    size_t rec_len;
    uint8_t *rec = seal_pattern(0x01020304u, 10, &rec_len);

    (void)state;
    assert_int_equal(rec[0], 0x01);
    assert_int_equal(rec[1], 0x02);
    assert_int_equal(rec[2], 0x03);
    assert_int_equal(rec[3], 0x04);
    assert_int_equal(rec[AEAD_VERSION_OFFSET], AEAD_VERSION);
    assert_int_equal(aead_peek_term(rec, rec_len, &term), 0);
    assert_int_equal(term, 0x01020304u);
    term = 99;
    assert_int_equal(aead_peek_term(rec, AEAD_OVERHEAD - 1, &term),
                     KH_ECORRUPT);
    assert_int_equal(term, 99);
    assert_int_equal(aead_peek_term(NULL, 0, &term), KH_ECORRUPT);
    free(rec);
}

/* Every encryption draws a fresh nonce: same input, different records. */
static void test_fresh_nonce(void **state)
{
    size_t len_a, len_b;
    uint8_t *a = seal_pattern(1, 32, &len_a);
    uint8_t *b = seal_pattern(1, 32, &len_b);

    (void)state;
    assert_int_equal(len_a, len_b);
    assert_memory_not_equal(a + AEAD_NONCE_OFFSET, b + AEAD_NONCE_OFFSET,
                            AEAD_NONCE_BYTES);
    assert_memory_not_equal(a + AEAD_HEADER_BYTES, b + AEAD_HEADER_BYTES, 32);
    free(a);
    free(b);
}

/* Decrypt a record and expect KH_ECORRUPT and no plaintext in out. */
static void expect_corrupt(const uint8_t *key, const uint8_t *a, size_t a_len,
                           const uint8_t *rec, size_t rec_len)
{
    uint8_t out[256];
    size_t out_len = 12345;
    size_t i;

    memset(out, 0xAA, sizeof(out));
    assert_int_equal(
        aead_decrypt(key, a, a_len, rec, rec_len, out, sizeof(out), &out_len),
        KH_ECORRUPT);
    assert_int_equal(out_len, 12345);
    /* Nothing decrypted is left: each byte is untouched or wiped. */
    for (i = 0; i < sizeof(out); i++)
        assert_true(out[i] == 0xAA || out[i] == 0);
}

/* A wrong key or wrong additional data fails authentication. */
static void test_wrong_key_or_aad(void **state)
{
    static const uint8_t other[] = "logical/abc/other";
    size_t rec_len;
    uint8_t *rec = seal_pattern(1, 100, &rec_len);

    (void)state;
    expect_corrupt(key_b, aad, AAD_LEN, rec, rec_len);
    expect_corrupt(key_a, other, sizeof(other) - 1, rec, rec_len);
    expect_corrupt(key_a, NULL, 0, rec, rec_len);
    free(rec);
}

/* Flipping any bit pattern of any byte, header included, fails. */
static void test_every_byte_authenticated(void **state)
{
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    size_t rec_len, i, m;
    uint8_t *rec = seal_pattern(3, 40, &rec_len);

    (void)state;
    for (i = 0; i < rec_len; i++) {
        for (m = 0; m < KH_ARRAY_LEN(masks); m++) {
            rec[i] ^= masks[m];
            expect_corrupt(key_a, aad, AAD_LEN, rec, rec_len);
            rec[i] ^= masks[m];
        }
    }
    free(rec);
}

/* Truncated records (every length) and bad versions fail. */
static void test_truncation_and_version(void **state)
{
    size_t rec_len, cut;
    uint8_t *rec = seal_pattern(3, 40, &rec_len);

    (void)state;
    for (cut = 1; cut <= rec_len; cut++)
        expect_corrupt(key_a, aad, AAD_LEN, rec, rec_len - cut);
    rec[AEAD_VERSION_OFFSET] = AEAD_VERSION + 1;
    expect_corrupt(key_a, aad, AAD_LEN, rec, rec_len);
    free(rec);
}

/* Buffers too small are refused with KH_EINVAL, not overrun. */
static void test_buffer_limits(void **state)
{
    uint8_t plain[16] = {0};
    uint8_t rec[16 + AEAD_OVERHEAD];
    uint8_t out[16];
    size_t len = 0;

    (void)state;
    assert_int_equal(
        aead_encrypt(key_a, 1, NULL, 0, plain, 16, rec, sizeof(rec) - 1, &len),
        KH_EINVAL);
    assert_int_equal(
        aead_encrypt(key_a, 1, NULL, 0, plain, 16, rec, sizeof(rec), &len), 0);
    assert_int_equal(aead_decrypt(key_a, NULL, 0, rec, len, out, 15, &len),
                     KH_EINVAL);
    assert_int_equal(aead_decrypt(key_a, NULL, 0, rec, len, out, 16, &len), 0);
    assert_int_equal(len, 16);
    assert_int_equal(aead_encrypt(key_a, 1, NULL, 0, plain,
                                  AEAD_PLAIN_BYTES_MAX + 1, rec, SIZE_MAX,
                                  &len),
                     KH_EINVAL);
}

/* The format is plain AES-256-GCM with AAD = term|version|aad: OpenSSL
 * used directly, without aead.c, opens a record. */
static void test_cross_check_with_evp(void **state)
{
    uint8_t gcm_aad[AEAD_TERM_BYTES + AEAD_VERSION_BYTES + AAD_LEN];
    uint8_t out[64];
    size_t rec_len, ct_len;
    uint8_t *rec = seal_pattern(42, 64, &rec_len);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, i;

    (void)state;
    assert_non_null(ctx);
    ct_len = rec_len - AEAD_OVERHEAD;
    memcpy(gcm_aad, rec, AEAD_TERM_BYTES + AEAD_VERSION_BYTES);
    memcpy(gcm_aad + AEAD_TERM_BYTES + AEAD_VERSION_BYTES, aad, AAD_LEN);
    assert_int_equal(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key_a,
                                        rec + AEAD_NONCE_OFFSET),
                     1);
    assert_int_equal(
        EVP_DecryptUpdate(ctx, NULL, &n, gcm_aad, (int)sizeof(gcm_aad)), 1);
    assert_int_equal(
        EVP_DecryptUpdate(ctx, out, &n, rec + AEAD_HEADER_BYTES, (int)ct_len),
        1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
                                         AEAD_TAG_BYTES,
                                         rec + AEAD_HEADER_BYTES + ct_len),
                     1);
    assert_int_equal(EVP_DecryptFinal_ex(ctx, out + n, &n), 1);
    for (i = 0; i < 64; i++)
        assert_int_equal(out[i], (uint8_t)(i * 7 + 3));
    EVP_CIPHER_CTX_free(ctx);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_sizes),
        cmocka_unit_test(test_header_layout_and_peek),
        cmocka_unit_test(test_fresh_nonce),
        cmocka_unit_test(test_wrong_key_or_aad),
        cmocka_unit_test(test_every_byte_authenticated),
        cmocka_unit_test(test_truncation_and_version),
        cmocka_unit_test(test_buffer_limits),
        cmocka_unit_test(test_cross_check_with_evp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
