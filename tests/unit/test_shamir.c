/*
 * test_shamir.c - Shamir secret sharing: GF(2^8) known answers, split and
 * combine round trips, subset recovery, parameter and share validation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "seal/shamir.h"
#include "seal/shamir_internal.h"

#define SECRET_LEN 32

static void fill_secret(uint8_t *secret, size_t len, uint8_t seed)
{
    size_t i;

    for (i = 0; i < len; i++)
        secret[i] = (uint8_t)(seed + 37 * i + 1);
}

/* Split then combine all shares, and the first threshold, for (n, t). */
static void round_trip(unsigned n, unsigned t, size_t len)
{
    uint8_t secret[SHAMIR_SECRET_BYTES_MAX];
    uint8_t out[SHAMIR_SECRET_BYTES_MAX];
    uint8_t *shares = calloc(n, len + 1);

    assert_non_null(shares);
    fill_secret(secret, len, (uint8_t)(n * 7 + t));
    assert_int_equal(shamir_split(secret, len, n, t, shares), 0);
    memset(out, 0, sizeof(out));
    assert_int_equal(shamir_combine(shares, n, len + 1, out, sizeof(out)), 0);
    assert_memory_equal(out, secret, len);
    memset(out, 0, sizeof(out));
    assert_int_equal(shamir_combine(shares, t, len + 1, out, len), 0);
    assert_memory_equal(out, secret, len);
    /* The last t shares work as well as the first t. */
    memset(out, 0, sizeof(out));
    assert_int_equal(shamir_combine(shares + (size_t)(n - t) * (len + 1), t,
                                    len + 1, out, len),
                     0);
    assert_memory_equal(out, secret, len);
    free(shares);
}

/* FIPS-197 and AES-field known products: {53}*{CA} = {01}, {57}*{83} = {C1},
 * {57}*{13} = {FE}; 0 and 1 behave as zero and identity. */
static void test_gf_mul_known_answers(void **state)
{
    unsigned a;

    (void)state;
    assert_int_equal(shamir_gf_mul(0x53, 0xca), 0x01);
    assert_int_equal(shamir_gf_mul(0xca, 0x53), 0x01);
    assert_int_equal(shamir_gf_mul(0x57, 0x83), 0xc1);
    assert_int_equal(shamir_gf_mul(0x57, 0x13), 0xfe);
    assert_int_equal(shamir_gf_mul(0x02, 0x80), 0x1b);
    for (a = 0; a < 256; a++) {
        assert_int_equal(shamir_gf_mul((uint8_t)a, 0), 0);
        assert_int_equal(shamir_gf_mul((uint8_t)a, 1), a);
    }
}

/* The inverse satisfies a * inv(a) = 1 for all 255 nonzero a; inv(0) = 0;
 * inv(0x53) = 0xCA. */
static void test_gf_inverse_all(void **state)
{
    unsigned a;

    (void)state;
    assert_int_equal(shamir_gf_inv(0), 0);
    assert_int_equal(shamir_gf_inv(0x53), 0xca);
    assert_int_equal(shamir_gf_inv(1), 1);
    for (a = 1; a < 256; a++)
        assert_int_equal(shamir_gf_mul((uint8_t)a, shamir_gf_inv((uint8_t)a)),
                         1);
}

/* Multiplication is commutative and distributes over XOR (addition). */
static void test_gf_field_laws(void **state)
{
    unsigned a, b;
    const uint8_t c = 0x9d;

    (void)state;
    for (a = 0; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            uint8_t x = (uint8_t)a, y = (uint8_t)b;

            assert_int_equal(shamir_gf_mul(x, y), shamir_gf_mul(y, x));
            assert_int_equal(shamir_gf_mul(c, (uint8_t)(x ^ y)),
                             shamir_gf_mul(c, x) ^ shamir_gf_mul(c, y));
        }
    }
}

/* Round trips for small, full and wide share sets. */
static void test_round_trips(void **state)
{
    (void)state;
    round_trip(2, 2, SECRET_LEN);
    round_trip(3, 2, SECRET_LEN);
    round_trip(5, 3, SECRET_LEN);
    round_trip(10, 10, SECRET_LEN);
    round_trip(20, 20, SECRET_LEN);
    round_trip(255, 2, SECRET_LEN);
    round_trip(255, 255, 4);
    round_trip(3, 2, 1);
    round_trip(4, 3, SHAMIR_SECRET_BYTES_MAX);
}

/* Every 3-subset of a (5,3) split recovers the secret, in any order. */
static void test_every_threshold_subset(void **state)
{
    uint8_t secret[SECRET_LEN], out[SECRET_LEN];
    uint8_t shares[5][SECRET_LEN + 1];
    uint8_t pick[3][SECRET_LEN + 1];
    unsigned i, j, k, subsets = 0;

    (void)state;
    fill_secret(secret, sizeof(secret), 11);
    assert_int_equal(shamir_split(secret, sizeof(secret), 5, 3, &shares[0][0]),
                     0);
    for (i = 0; i < 5; i++) {
        for (j = i + 1; j < 5; j++) {
            for (k = j + 1; k < 5; k++) {
                /* Reversed order, to show order does not matter. */
                memcpy(pick[0], shares[k], sizeof(pick[0]));
                memcpy(pick[1], shares[i], sizeof(pick[1]));
                memcpy(pick[2], shares[j], sizeof(pick[2]));
                memset(out, 0, sizeof(out));
                assert_int_equal(shamir_combine(&pick[0][0], 3, sizeof(pick[0]),
                                                out, sizeof(out)),
                                 0);
                assert_memory_equal(out, secret, sizeof(secret));
                subsets++;
            }
        }
    }
    assert_int_equal(subsets, 10);
}

/* Two shares of a (5,3) split give a wrong secret, not an error. */
static void test_below_threshold_is_wrong(void **state)
{
    uint8_t secret[SECRET_LEN], out[SECRET_LEN];
    uint8_t shares[5][SECRET_LEN + 1];
    unsigned i;

    (void)state;
    fill_secret(secret, sizeof(secret), 23);
    assert_int_equal(shamir_split(secret, sizeof(secret), 5, 3, &shares[0][0]),
                     0);
    for (i = 0; i + 1 < 5; i++) {
        assert_int_equal(
            shamir_combine(&shares[i][0], 2, SECRET_LEN + 1, out, sizeof(out)),
            0);
        assert_memory_not_equal(out, secret, sizeof(secret));
    }
}

/* Shares carry distinct x-coordinates in 1..255; all 255 are used when
 * n = 255, and two splits of one secret differ (fresh randomness). */
static void test_x_coordinates(void **state)
{
    uint8_t secret[SECRET_LEN];
    uint8_t *a = calloc(255, SECRET_LEN + 1);
    uint8_t *b = calloc(255, SECRET_LEN + 1);
    unsigned char seen[256];
    unsigned i;

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    fill_secret(secret, sizeof(secret), 5);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 255, 3, a), 0);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 255, 3, b), 0);
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < 255; i++) {
        uint8_t x = a[i * (SECRET_LEN + 1) + SECRET_LEN];

        assert_int_not_equal(x, 0);
        assert_int_equal(seen[x], 0);
        seen[x] = 1;
    }
    assert_memory_not_equal(a, b, 255 * (SECRET_LEN + 1));
    free(a);
    free(b);
}

/* x-coordinates are a random permutation: the first share's x is not
 * always the same over 64 splits. */
static void test_x_coordinates_vary(void **state)
{
    uint8_t secret[4] = {1, 2, 3, 4};
    uint8_t shares[2][5];
    uint8_t first = 0;
    unsigned i, differ = 0;

    (void)state;
    for (i = 0; i < 64; i++) {
        assert_int_equal(shamir_split(secret, 4, 2, 2, &shares[0][0]), 0);
        if (i == 0)
            first = shares[0][4];
        else if (shares[0][4] != first)
            differ++;
    }
    assert_true(differ > 0);
}

/* Combine of hand-made shares of f(x) = s + 0x1d x matches Vault's format:
 * y-bytes then x. */
static void test_combine_hand_made(void **state)
{
    const uint8_t s[2] = {0x42, 0xa7};
    uint8_t shares[2][3];
    uint8_t out[2];
    const uint8_t xs[2] = {0x01, 0xfe};
    unsigned i, b;

    (void)state;
    for (i = 0; i < 2; i++) {
        for (b = 0; b < 2; b++)
            shares[i][b] = (uint8_t)(s[b] ^ shamir_gf_mul(0x1d, xs[i]));
        shares[i][2] = xs[i];
    }
    assert_int_equal(shamir_combine(&shares[0][0], 2, 3, out, sizeof(out)), 0);
    assert_memory_equal(out, s, sizeof(s));
}

/* Duplicate x-coordinates are rejected and leave the output untouched. */
static void test_combine_duplicate_x(void **state)
{
    uint8_t secret[SECRET_LEN], out[SECRET_LEN];
    uint8_t shares[3][SECRET_LEN + 1];

    (void)state;
    fill_secret(secret, sizeof(secret), 3);
    assert_int_equal(shamir_split(secret, sizeof(secret), 3, 2, &shares[0][0]),
                     0);
    memcpy(shares[2], shares[0], sizeof(shares[0]));
    memset(out, 0xee, sizeof(out));
    assert_int_equal(
        shamir_combine(&shares[0][0], 3, SECRET_LEN + 1, out, sizeof(out)),
        KH_EINVAL);
    assert_int_equal(out[0], 0xee);
    /* Same x, different y: still a duplicate. */
    shares[2][0] ^= 1;
    assert_int_equal(
        shamir_combine(&shares[0][0], 3, SECRET_LEN + 1, out, sizeof(out)),
        KH_EINVAL);
}

/* An x-coordinate of 0 (the secret's own point) is rejected. */
static void test_combine_zero_x(void **state)
{
    uint8_t secret[SECRET_LEN], out[SECRET_LEN];
    uint8_t shares[2][SECRET_LEN + 1];

    (void)state;
    fill_secret(secret, sizeof(secret), 9);
    assert_int_equal(shamir_split(secret, sizeof(secret), 2, 2, &shares[0][0]),
                     0);
    shares[1][SECRET_LEN] = 0;
    assert_int_equal(
        shamir_combine(&shares[0][0], 2, SECRET_LEN + 1, out, sizeof(out)),
        KH_EINVAL);
}

/* Combine rejects fewer than 2 shares, short shares, oversize secrets and
 * a too-small output buffer. */
static void test_combine_bad_params(void **state)
{
    uint8_t shares[2][SHAMIR_SECRET_BYTES_MAX + 2];
    uint8_t out[SHAMIR_SECRET_BYTES_MAX + 1];

    (void)state;
    memset(shares, 0, sizeof(shares));
    shares[0][SECRET_LEN] = 1;
    shares[1][SECRET_LEN] = 2;
    assert_int_equal(
        shamir_combine(&shares[0][0], 1, sizeof(shares[0]), out, sizeof(out)),
        KH_EINVAL);
    assert_int_equal(
        shamir_combine(&shares[0][0], 0, SECRET_LEN + 1, out, sizeof(out)),
        KH_EINVAL);
    assert_int_equal(shamir_combine(&shares[0][0], 2, 1, out, sizeof(out)),
                     KH_EINVAL);
    assert_int_equal(shamir_combine(&shares[0][0], 2,
                                    SHAMIR_SECRET_BYTES_MAX + 2, out,
                                    sizeof(out)),
                     KH_EINVAL);
    assert_int_equal(
        shamir_combine(&shares[0][0], 2, SECRET_LEN + 1, out, SECRET_LEN - 1),
        KH_EINVAL);
    assert_int_equal(shamir_combine(NULL, 2, SECRET_LEN + 1, out, sizeof(out)),
                     KH_EINVAL);
    assert_int_equal(
        shamir_combine(&shares[0][0], 256, SECRET_LEN + 1, out, sizeof(out)),
        KH_EINVAL);
}

/* Split rejects t < 2, t > n, n > 255, an empty or oversize secret. */
static void test_split_bad_params(void **state)
{
    uint8_t secret[SHAMIR_SECRET_BYTES_MAX + 1];
    uint8_t *shares = calloc(256, sizeof(secret) + 1);

    (void)state;
    assert_non_null(shares);
    fill_secret(secret, sizeof(secret), 1);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 3, 1, shares), KH_EINVAL);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 1, 1, shares), KH_EINVAL);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 3, 0, shares), KH_EINVAL);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 3, 4, shares), KH_EINVAL);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 256, 2, shares),
                     KH_EINVAL);
    assert_int_equal(shamir_split(secret, 0, 3, 2, shares), KH_EINVAL);
    assert_int_equal(
        shamir_split(secret, SHAMIR_SECRET_BYTES_MAX + 1, 3, 2, shares),
        KH_EINVAL);
    assert_int_equal(shamir_split(NULL, SECRET_LEN, 3, 2, shares), KH_EINVAL);
    assert_int_equal(shamir_split(secret, SECRET_LEN, 3, 2, NULL), KH_EINVAL);
    /* The limits themselves are accepted. */
    assert_int_equal(
        shamir_split(secret, SHAMIR_SECRET_BYTES_MAX, 255, 2, shares), 0);
    free(shares);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gf_mul_known_answers),
        cmocka_unit_test(test_gf_inverse_all),
        cmocka_unit_test(test_gf_field_laws),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_every_threshold_subset),
        cmocka_unit_test(test_below_threshold_is_wrong),
        cmocka_unit_test(test_x_coordinates),
        cmocka_unit_test(test_x_coordinates_vary),
        cmocka_unit_test(test_combine_hand_made),
        cmocka_unit_test(test_combine_duplicate_x),
        cmocka_unit_test(test_combine_zero_x),
        cmocka_unit_test(test_combine_bad_params),
        cmocka_unit_test(test_split_bad_params),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
