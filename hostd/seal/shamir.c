/*
 * shamir.c - Shamir's secret sharing over GF(2^8), share-compatible with
 * Vault's shamir package (github.com/hashicorp/vault/shamir): the field is
 * GF(2^8) modulo the AES polynomial x^8 + x^4 + x^3 + x + 1 (0x11b); each
 * share is the y-bytes of one point per secret byte followed by its
 * x-coordinate byte; x-coordinates are distinct, drawn as a uniformly random
 * permutation of 1..255; combine interpolates at x = 0 (Lagrange).
 *
 * Owns no state. Must never index a table or branch on secret data (the
 * field operations are shift-and-add with masks, the inverse a fixed
 * square-and-multiply chain) and must never return with polynomial
 * coefficients or intermediate sums left on the stack.
 */
#include "seal/shamir.h"

#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/limits.h"
#include "seal/shamir_internal.h"

_Static_assert(KH_SHAMIR_SHARES_MAX == 255,
               "x-coordinates are the nonzero bytes 1..255");

/* Random bytes drawn per refill while sampling x-coordinates, and the bound
 * on draws per coordinate: each draw is rejected with probability < 1/2, so
 * running out of draws means the randomness source is broken. */
#define SHAMIR_RANDOM_POOL_BYTES 64
#define SHAMIR_DRAWS_PER_X_MAX   256

struct shamir_rng
{
    uint8_t pool[SHAMIR_RANDOM_POOL_BYTES];
    size_t used;
};

uint8_t shamir_gf_mul(uint8_t a, uint8_t b)
{
    unsigned r = 0;
    int i;

    /* Horner over the bits of b, high to low: r = r*x + bit*a, reducing
     * by 0x1b whenever the shifted-out bit is set. Masks, no branches. */
    for (i = 7; i >= 0; i--) {
        unsigned bit = ((unsigned)b >> i) & 1u;
        unsigned carry = (r >> 7) & 1u;

        r = ((r << 1) & 0xffu) ^ (0x1bu & (0u - carry)) ^
            ((unsigned)a & (0u - bit));
    }
    return (uint8_t)r;
}

uint8_t shamir_gf_inv(uint8_t a)
{
    uint8_t power = a;
    uint8_t r = 1;
    int i;

    /* a^254 = a^2 * a^4 * ... * a^128: the same seven squarings and seven
     * multiplications for every a. 0^254 = 0, as Vault's inverse. */
    for (i = 0; i < 7; i++) {
        power = shamir_gf_mul(power, power);
        r = shamir_gf_mul(r, power);
    }
    return r;
}

/* An unbiased random integer in [0, span), 1 <= span <= 255, by rejection
 * sampling of single bytes. */
static int shamir_random_below(struct shamir_rng *rng, unsigned span,
                               unsigned *ret_value)
{
    unsigned limit = 256u - (256u % span);
    unsigned draws;
    int r;

    KH_ASSERT(span >= 1);
    KH_ASSERT(span <= 255);
    for (draws = 0; draws < SHAMIR_DRAWS_PER_X_MAX; draws++) {
        unsigned byte;

        if (rng->used == sizeof(rng->pool)) {
            r = kh_random_bytes(rng->pool, sizeof(rng->pool));
            if (r != 0)
                return KH_EINTERNAL;
            rng->used = 0;
        }
        byte = rng->pool[rng->used++];
        if (byte < limit) {
            *ret_value = byte % span;
            return 0;
        }
    }
    return KH_EINTERNAL;
}

/* The first count entries of a uniformly random permutation of 1..255
 * (a partial Fisher-Yates shuffle). */
static int shamir_pick_x(uint8_t *xs, unsigned count)
{
    struct shamir_rng rng;
    uint8_t pool[KH_SHAMIR_SHARES_MAX];
    unsigned i;
    int r = KH_EINTERNAL;

    KH_ASSERT(count >= 1);
    KH_ASSERT(count <= KH_SHAMIR_SHARES_MAX);
    rng.used = sizeof(rng.pool);
    for (i = 0; i < KH_SHAMIR_SHARES_MAX; i++)
        pool[i] = (uint8_t)(i + 1);
    for (i = 0; i < count; i++) {
        unsigned offset;
        uint8_t tmp;

        r = shamir_random_below(&rng, KH_SHAMIR_SHARES_MAX - i, &offset);
        if (r != 0)
            goto out;
        tmp = pool[i];
        pool[i] = pool[i + offset];
        pool[i + offset] = tmp;
        xs[i] = pool[i];
    }
    r = 0; /* success */
out:
    kh_wipe(&rng, sizeof(rng));
    return r;
}

/* f(x) for f = coeffs[0] + coeffs[1] x + ... by Horner's rule. */
static uint8_t shamir_eval(const uint8_t *coeffs, unsigned degree, uint8_t x)
{
    uint8_t y = coeffs[degree];
    unsigned k;

    for (k = degree; k > 0; k--)
        y = (uint8_t)(shamir_gf_mul(y, x) ^ coeffs[k - 1]);
    return y;
}

int shamir_split(const uint8_t *secret, size_t secret_len, unsigned share_count,
                 unsigned threshold, uint8_t *shares)
{
    uint8_t xs[KH_SHAMIR_SHARES_MAX];
    uint8_t coeffs[KH_SHAMIR_SHARES_MAX];
    size_t row = secret_len + 1;
    size_t b;
    unsigned i;
    int r = KH_EINTERNAL;

    if (secret == NULL || shares == NULL || secret_len == 0 ||
        secret_len > SHAMIR_SECRET_BYTES_MAX || threshold < 2 ||
        threshold > share_count || share_count > KH_SHAMIR_SHARES_MAX)
        return KH_EINVAL;

    r = shamir_pick_x(xs, share_count);
    if (r != 0)
        goto out;
    for (i = 0; i < share_count; i++)
        shares[i * row + secret_len] = xs[i];

    /* One fresh polynomial of degree threshold-1 per secret byte, its
     * constant term the byte. The top coefficient may be zero, as in
     * Vault: that costs nothing, since any threshold points still fix a
     * unique polynomial of degree < threshold. */
    for (b = 0; b < secret_len; b++) {
        coeffs[0] = secret[b];
        r = kh_random_bytes(coeffs + 1, threshold - 1);
        if (r != 0) {
            r = KH_EINTERNAL;
            goto out;
        }
        for (i = 0; i < share_count; i++)
            shares[i * row + b] = shamir_eval(coeffs, threshold - 1, xs[i]);
    }
    r = 0; /* success */
out:
    kh_wipe(coeffs, sizeof(coeffs));
    if (r != 0)
        kh_wipe(shares, (size_t)share_count * row);
    return r;
}

/* Lagrange basis values at 0: basis[i] = prod_{j != i} x_j / (x_i - x_j);
 * subtraction is XOR in characteristic 2. x-coordinates are public. */
static void shamir_basis_at_zero(const uint8_t *xs, size_t count,
                                 uint8_t *basis)
{
    size_t i, j;

    for (i = 0; i < count; i++) {
        uint8_t num = 1;
        uint8_t den = 1;

        for (j = 0; j < count; j++) {
            if (j == i)
                continue;
            num = shamir_gf_mul(num, xs[j]);
            den = shamir_gf_mul(den, (uint8_t)(xs[i] ^ xs[j]));
        }
        KH_ASSERT(den != 0);
        basis[i] = shamir_gf_mul(num, shamir_gf_inv(den));
    }
}

/* Collect the x-coordinates; KH_EINVAL on 0 or a duplicate. */
static int shamir_collect_x(const uint8_t *shares, size_t share_count,
                            size_t share_len, uint8_t *xs)
{
    uint8_t seen[256];
    size_t i;

    memset(seen, 0, sizeof(seen));
    for (i = 0; i < share_count; i++) {
        uint8_t x = shares[i * share_len + share_len - 1];

        if (x == 0 || seen[x] != 0)
            return KH_EINVAL;
        seen[x] = 1;
        xs[i] = x;
    }
    return 0;
}

int shamir_combine(const uint8_t *shares, size_t share_count, size_t share_len,
                   uint8_t *secret, size_t secret_size)
{
    uint8_t xs[KH_SHAMIR_SHARES_MAX];
    uint8_t basis[KH_SHAMIR_SHARES_MAX];
    uint8_t out[SHAMIR_SECRET_BYTES_MAX];
    uint8_t acc = 0;
    size_t secret_len = share_len - 1;
    size_t b, i;
    int r = KH_EINTERNAL;

    if (shares == NULL || secret == NULL || share_count < 2 ||
        share_count > KH_SHAMIR_SHARES_MAX || share_len < 2 ||
        share_len - 1 > SHAMIR_SECRET_BYTES_MAX || secret_size < share_len - 1)
        return KH_EINVAL;

    r = shamir_collect_x(shares, share_count, share_len, xs);
    if (r != 0)
        goto out;
    shamir_basis_at_zero(xs, share_count, basis);
    for (b = 0; b < secret_len; b++) {
        acc = 0;
        for (i = 0; i < share_count; i++)
            acc ^= shamir_gf_mul(shares[i * share_len + b], basis[i]);
        out[b] = acc;
    }
    memcpy(secret, out, secret_len);
    r = 0; /* success */
out:
    kh_wipe(out, sizeof(out));
    kh_wipe(&acc, sizeof(acc));
    return r;
}
