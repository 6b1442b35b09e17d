/*
 * userpass_kdf.c - password hashing for userpass: scrypt through OpenSSL 3
 * (EVP_KDF "SCRYPT", RFC 7914) with a random salt per user, and the stored
 * form of a hash.
 *
 * Owns the hashing parameters. It must never keep a password or a derived
 * key beyond the call (both are wiped before returning), compares hashes
 * in constant time only, and refuses stored parameters above the ceilings
 * in userpass.h so a corrupt record cannot exhaust memory.
 */
#include "auth/userpass/userpass.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"

/* base64 of 32 bytes is 44 characters. */
#define B64_BYTES 64

/* scrypt(password, h->salt, h->n, h->r, h->p) into out. */
static int derive(const struct userpass_hash *h, const char *password,
                  size_t len, uint8_t out[USERPASS_HASH_BYTES])
{
    uint64_t n = h->n, maxmem = USERPASS_SCRYPT_MAXMEM_BYTES;
    uint32_t r_param = h->r, p_param = h->p;
    OSSL_PARAM params[7];
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(h->n >= 2 && h->n <= USERPASS_SCRYPT_N_MAX);
    KH_ASSERT(len <= USERPASS_PASSWORD_BYTES_MAX);
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                                  (void *)password, len);
    params[1] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, (void *)h->salt, sizeof(h->salt));
    params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
    params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r_param);
    params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p_param);
    params[5] =
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
    params[6] = OSSL_PARAM_construct_end();
    kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    if (ctx == NULL ||
        EVP_KDF_derive(ctx, out, USERPASS_HASH_BYTES, params) != 1)
        goto out;
    r = 0; /* success */
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return r;
}

int userpass_hash_new(const char *password, size_t len,
                      struct userpass_hash *ret)
{
    struct userpass_hash h;
    int r;

    memset(&h, 0, sizeof(h));
    h.n = USERPASS_SCRYPT_N;
    h.r = USERPASS_SCRYPT_R;
    h.p = USERPASS_SCRYPT_P;
    r = kh_random_bytes(h.salt, sizeof(h.salt));
    if (r == 0)
        r = derive(&h, password, len, h.hash);
    if (r == 0)
        *ret = h;
    kh_wipe(&h, sizeof(h));
    return r;
}

int userpass_hash_verify(const struct userpass_hash *h, const char *password,
                         size_t len, bool *ret_match)
{
    uint8_t out[USERPASS_HASH_BYTES];
    int r;

    r = derive(h, password, len, out);
    if (r == 0)
        *ret_match = kh_ct_equal(out, h->hash, sizeof(out));
    kh_wipe(out, sizeof(out));
    return r;
}

void userpass_hash_dummy(const char *password, size_t len)
{
    struct userpass_hash h;
    bool match = false;

    memset(&h, 0, sizeof(h));
    h.n = USERPASS_SCRYPT_N;
    h.r = USERPASS_SCRYPT_R;
    h.p = USERPASS_SCRYPT_P;
    if (userpass_hash_verify(&h, password, len, &match) != 0)
        match = false;
    kh_wipe(&h, sizeof(h));
}

json_t *userpass_hash_encode(const struct userpass_hash *h)
{
    char salt[B64_BYTES], hash[B64_BYTES];
    json_t *obj;

    kh_base64_encode(h->salt, sizeof(h->salt), true, salt);
    kh_base64_encode(h->hash, sizeof(h->hash), true, hash);
    obj = json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "kdf", "scrypt", "n",
                    (json_int_t)h->n, "r", (json_int_t)h->r, "p",
                    (json_int_t)h->p, "salt", salt, "hash", hash);
    kh_wipe(hash, sizeof(hash));
    return obj;
}

/* base64 member name of obj into exactly size bytes at out. */
static bool decode_bytes(const json_t *obj, const char *name, uint8_t *out,
                         size_t size)
{
    const json_t *v = json_object_get(obj, name);
    size_t len = 0;

    return json_is_string(v) &&
           kh_base64_decode(json_string_value(v), json_string_length(v), out,
                            size, &len) == 0 &&
           len == size;
}

int userpass_hash_decode(const json_t *obj, struct userpass_hash *ret)
{
    struct userpass_hash h;
    json_int_t n = 0, r_param = 0, p_param = 0;
    const char *kdf = NULL;
    int r = KH_ECORRUPT;

    memset(&h, 0, sizeof(h));
    if (json_unpack((json_t *)obj, "{s:s, s:I, s:I, s:I}", "kdf", &kdf, "n", &n,
                    "r", &r_param, "p", &p_param) != 0 ||
        strcmp(kdf, "scrypt") != 0)
        goto out;
    /* N a power of two in [2, N_MAX]; r and p within their ceilings. */
    if (n < 2 || (uint64_t)n > USERPASS_SCRYPT_N_MAX || (n & (n - 1)) != 0 ||
        r_param < 1 || r_param > USERPASS_SCRYPT_R_MAX || p_param < 1 ||
        p_param > USERPASS_SCRYPT_P_MAX)
        goto out;
    h.n = (uint64_t)n;
    h.r = (uint32_t)r_param;
    h.p = (uint32_t)p_param;
    if (!decode_bytes(obj, "salt", h.salt, sizeof(h.salt)) ||
        !decode_bytes(obj, "hash", h.hash, sizeof(h.hash)))
        goto out;
    *ret = h;
    r = 0; /* success */
out:
    kh_wipe(&h, sizeof(h));
    return r;
}
