/*
 * transit_sign.c - sign/:name, verify/:name (signatures and HMACs) and
 * hmac/:name (Vault API: transit) with the primitives behind them.
 *
 * Owns the hash algorithm names (sha2-224/256/384/512, sha3-224/256/384/
 * 512), prehashed input, RSA's pss (default; maximum salt to sign, any
 * salt accepted to verify, as Go's PSSSaltLengthAuto) and pkcs1v15
 * signatures, ECDSA's asn1 (DER) and jws (r | s, base64url) forms,
 * ed25519 over the raw input, and HMAC with each version's HMAC key
 * (the key itself for type hmac). Verification answers valid true/false;
 * malformed input is 400. HMACs are compared in constant time. Private
 * keys are parsed per call and freed at once.
 */
#include "engines/transit/transit.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/secret.h"

#define SIG_BYTES_MAX 1024 /* RSA-4096: 512 bytes */
#define P256_COORD_BYTES 32

static const struct
{
    const char *name;
    const char *ossl;
} md_table[] = {
    {"sha2-224", "SHA2-224"}, {"sha2-256", "SHA2-256"},
    {"sha2-384", "SHA2-384"}, {"sha2-512", "SHA2-512"},
    {"sha3-224", "SHA3-224"}, {"sha3-256", "SHA3-256"},
    {"sha3-384", "SHA3-384"}, {"sha3-512", "SHA3-512"},
};

const EVP_MD *transit_md_by_name(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < KH_ARRAY_LEN(md_table); i++) {
        if (strcmp(md_table[i].name, name) == 0)
            return EVP_get_digestbyname(md_table[i].ossl);
    }
    return NULL;
}

/* The hash of this item: field hash_algorithm, else algorithm, else the
 * path's tail, else sha2-256. */
static int item_md(const struct transit_call *call, const json_t *item,
                   const char *field, const EVP_MD **ret)
{
    const char *name = transit_field_string(item, field);

    if (name == NULL || name[0] == '\0')
        name = transit_field_string(item, "algorithm");
    if ((name == NULL || name[0] == '\0') && call->tail[0] != '\0')
        name = call->tail;
    if (name == NULL || name[0] == '\0')
        name = "sha2-256";
    *ret = transit_md_by_name(name);
    if (*ret == NULL)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unsupported hash algorithm \"%s\"", name);
    return 0;
}

/* The version to sign or MAC with: key_version or latest. */
static int item_version(const struct transit_call *call,
                        const struct transit_policy *pol, const json_t *item,
                        struct transit_version **ret)
{
    uint64_t version = 0;
    int r;

    r = transit_field_uint(item, "key_version", 0, UINT32_MAX, &version,
                           call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    if (version == 0)
        version = pol->latest_version;
    if (version > pol->latest_version ||
        version < pol->min_encryption_version ||
        version < pol->min_decryption_version)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "requested version %llu is outside the key's usable "
                         "versions",
                         (unsigned long long)version);
    *ret = transit_policy_version(pol, version);
    KH_ASSERT(*ret != NULL);
    return 0;
}

/* ---- the signing context ---- */

struct sig_params
{
    const EVP_MD *md;
    bool prehashed;
    bool pkcs1v15;
    bool jws;
};

static int sig_params_read(const struct transit_call *call,
                           const struct transit_policy *pol,
                           const json_t *item, struct sig_params *ret)
{
    const char *alg = transit_field_string(item, "signature_algorithm");
    const char *marshal = transit_field_string(item, "marshaling_algorithm");
    int r;

    r = item_md(call, item, "hash_algorithm", &ret->md);
    if (r == 0)
        r = transit_field_bool(item, "prehashed", false, &ret->prehashed,
                               call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    ret->pkcs1v15 = alg != NULL && strcmp(alg, "pkcs1v15") == 0;
    if (alg != NULL && alg[0] != '\0' && !ret->pkcs1v15 &&
        strcmp(alg, "pss") != 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unsupported signature algorithm \"%s\"", alg);
    ret->jws = marshal != NULL && strcmp(marshal, "jws") == 0;
    if (marshal != NULL && marshal[0] != '\0' && !ret->jws &&
        strcmp(marshal, "asn1") != 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unsupported marshaling algorithm \"%s\"", marshal);
    if (ret->jws && pol->type != TRANSIT_ECDSA_P256)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "jws marshaling is only supported for ecdsa keys");
    if (ret->prehashed && pol->type == TRANSIT_ED25519)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "ed25519 keys do not support prehashed input");
    return 0;
}

/* The digest to sign (ecdsa, rsa): the input itself when prehashed. */
static int sig_digest(const struct transit_call *call,
                      const struct sig_params *p, const uint8_t *in,
                      size_t len, uint8_t *out, size_t *ret_len)
{
    unsigned int n = 0;
    size_t md_len = (size_t)EVP_MD_get_size(p->md);

    if (p->prehashed) {
        if (len != md_len)
            return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                             "prehashed input must be %zu bytes for this "
                             "hash algorithm",
                             md_len);
        memcpy(out, in, len);
        *ret_len = len;
        return 0;
    }
    if (EVP_Digest(in, len, out, &n, p->md, NULL) != 1)
        return KH_EINTERNAL;
    *ret_len = n;
    return 0;
}

/* An EVP_PKEY_CTX for sign (or verify) set up for pol's type. */
static EVP_PKEY_CTX *sig_ctx(const struct transit_policy *pol,
                             EVP_PKEY *pkey, const struct sig_params *p,
                             bool sign)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    bool rsa = pol->type == TRANSIT_RSA_2048 || pol->type == TRANSIT_RSA_4096;
    int ok;

    if (ctx == NULL)
        return NULL;
    ok = (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx, p->md) == 1;
    if (ok && rsa && p->pkcs1v15)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    if (ok && rsa && !p->pkcs1v15)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_AUTO) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static EVP_PKEY *version_pkey(const struct transit_version *v)
{
    const unsigned char *p = v->key;

    if (v->key == NULL)
        return NULL;
    return d2i_AutoPrivateKey(NULL, &p, (long)v->key_len);
}

/* ECDSA DER -> r | s (64 bytes) for jws. */
static int der_to_raw(const uint8_t *der, size_t len,
                      uint8_t raw[2 * P256_COORD_BYTES])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *s = NULL;
    int ok;

    if (sig == NULL)
        return KH_EINVAL;
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, raw, P256_COORD_BYTES) == P256_COORD_BYTES &&
         BN_bn2binpad(s, raw + P256_COORD_BYTES, P256_COORD_BYTES) ==
             P256_COORD_BYTES;
    ECDSA_SIG_free(sig);
    return ok ? 0 : KH_EINVAL;
}

/* r | s -> DER into out (size SIG_BYTES_MAX). */
static int raw_to_der(const uint8_t *raw, size_t len, uint8_t *out,
                      size_t *ret_len)
{
    ECDSA_SIG *sig;
    BIGNUM *r, *s;
    unsigned char *p = out;
    int n;

    if (len != 2 * P256_COORD_BYTES)
        return KH_EINVAL;
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, P256_COORD_BYTES, NULL);
    s = BN_bin2bn(raw + P256_COORD_BYTES, P256_COORD_BYTES, NULL);
    if (sig == NULL || r == NULL || s == NULL ||
        ECDSA_SIG_set0(sig, r, s) != 1) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        return KH_ENOMEM;
    }
    n = i2d_ECDSA_SIG(sig, NULL);
    if (n > 0 && (size_t)n <= SIG_BYTES_MAX)
        n = i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    if (n <= 0 || (size_t)n > SIG_BYTES_MAX)
        return KH_EINVAL;
    *ret_len = (size_t)n;
    return 0;
}

/* ---- sign ---- */

/* Sign in (the input) into sig (SIG_BYTES_MAX). */
static int sign_bytes(const struct transit_call *call,
                      const struct transit_policy *pol,
                      const struct transit_version *v,
                      const struct sig_params *p, const uint8_t *in,
                      size_t len, uint8_t *sig, size_t *ret_len)
{
    uint8_t digest[EVP_MAX_MD_SIZE];
    size_t digest_len = 0, sig_len = SIG_BYTES_MAX;
    EVP_PKEY *pkey = version_pkey(v);
    EVP_PKEY_CTX *ctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    int r = KH_EINTERNAL;

    if (pkey == NULL)
        return KH_ECORRUPT;
    if (pol->type == TRANSIT_ED25519) {
        mctx = EVP_MD_CTX_new();
        if (mctx != NULL &&
            EVP_DigestSignInit(mctx, NULL, NULL, NULL, pkey) == 1 &&
            EVP_DigestSign(mctx, sig, &sig_len, in, len) == 1)
            r = 0;
        goto out;
    }
    r = sig_digest(call, p, in, len, digest, &digest_len);
    if (r != 0)
        goto out;
    r = KH_EINTERNAL;
    ctx = sig_ctx(pol, pkey, p, true);
    if (ctx != NULL &&
        EVP_PKEY_sign(ctx, sig, &sig_len, digest, digest_len) == 1)
        r = 0;
out:
    if (r == 0)
        *ret_len = sig_len;
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

/* base64url without padding, in place on a standard encoding. */
static void b64_to_url(char *s)
{
    size_t i, n = strlen(s);

    while (n > 0 && s[n - 1] == '=')
        s[--n] = '\0';
    for (i = 0; i < n; i++) {
        if (s[i] == '+')
            s[i] = '-';
        else if (s[i] == '/')
            s[i] = '_';
    }
}

int transit_item_sign(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result)
{
    struct sig_params p = {NULL, false, false, false};
    struct transit_version *v = NULL;
    uint8_t sig[SIG_BYTES_MAX], raw[2 * P256_COORD_BYTES];
    size_t sig_len = 0, len = 0;
    uint8_t *in = NULL;
    char *text = NULL, *colon;
    int r;

    if (!transit_type_info(pol->type)->signing)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "key type %s does not support signing",
                         transit_type_info(pol->type)->name);
    r = sig_params_read(call, pol, item, &p);
    if (r == 0)
        r = item_version(call, pol, item, &v);
    if (r == 0)
        r = transit_field_b64(item, "input", TRANSIT_PLAINTEXT_BYTES_MAX, true,
                              &in, &len, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = sign_bytes(call, pol, v, &p, in, len, sig, &sig_len);
    if (r == 0 && p.jws && (r = der_to_raw(sig, sig_len, raw)) == 0) {
        memcpy(sig, raw, sizeof(raw));
        sig_len = sizeof(raw);
    }
    if (r != 0)
        goto out;
    text = transit_ciphertext_format(v->version, sig, sig_len);
    if (text != NULL && p.jws) {
        colon = strrchr(text, ':');
        b64_to_url(colon + 1);
    }
    if (text == NULL ||
        json_object_set_new(result, "signature", json_string(text)) != 0 ||
        json_object_set_new(result, "key_version",
                            json_integer(v->version)) != 0)
        r = KH_ENOMEM;
out:
    free(text);
    kh_free_secret(in, len);
    return r;
}

/* ---- verify ---- */

/* The signature text's bytes (jws: base64url) and version. */
static int sig_parse(const struct transit_call *call, const char *text,
                     bool jws, uint32_t *ret_version, uint8_t **ret,
                     size_t *ret_len)
{
    char *copy;
    size_t i;
    int r;

    if (!jws)
        return transit_ciphertext_parse(text, ret_version, ret, ret_len,
                                        call->errmsg, call->errmsg_size);
    copy = strdup(text);
    if (copy == NULL)
        return KH_ENOMEM;
    for (i = 0; copy[i] != '\0'; i++) {
        if (copy[i] == '-')
            copy[i] = '+';
        else if (copy[i] == '_')
            copy[i] = '/';
    }
    r = transit_ciphertext_parse(copy, ret_version, ret, ret_len, call->errmsg,
                                 call->errmsg_size);
    free(copy);
    return r;
}

static int verify_bytes(const struct transit_call *call,
                        const struct transit_policy *pol,
                        const struct transit_version *v,
                        const struct sig_params *p, const uint8_t *in,
                        size_t len, const uint8_t *sig, size_t sig_len,
                        bool *ret_valid)
{
    uint8_t digest[EVP_MAX_MD_SIZE], der[SIG_BYTES_MAX];
    size_t digest_len = 0, der_len = 0;
    EVP_PKEY *pkey = version_pkey(v);
    EVP_PKEY_CTX *ctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    int r = KH_EINTERNAL;

    if (pkey == NULL)
        return KH_ECORRUPT;
    if (p->jws && raw_to_der(sig, sig_len, der, &der_len) == 0) {
        sig = der;
        sig_len = der_len;
    } else if (p->jws) {
        sig_len = 0; /* malformed: invalid, not an error */
    }
    if (pol->type == TRANSIT_ED25519) {
        mctx = EVP_MD_CTX_new();
        if (mctx != NULL &&
            EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pkey) == 1) {
            *ret_valid = EVP_DigestVerify(mctx, sig, sig_len, in, len) == 1;
            r = 0;
        }
        goto out;
    }
    r = sig_digest(call, p, in, len, digest, &digest_len);
    if (r != 0)
        goto out;
    r = KH_EINTERNAL;
    ctx = sig_ctx(pol, pkey, p, false);
    if (ctx != NULL) {
        *ret_valid =
            EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1;
        r = 0;
    }
out:
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return r;
}

/* The HMAC key of version v, or a 400 for managed keys. */
static int hmac_key(const struct transit_call *call,
                    const struct transit_policy *pol,
                    const struct transit_version *v, const uint8_t **ret,
                    size_t *ret_len)
{
    if (pol->type == TRANSIT_HMAC && v->key != NULL) {
        *ret = v->key;
        *ret_len = v->key_len;
        return 0;
    }
    if (!v->has_hmac_key)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "managed keys support only encrypt, decrypt, "
                         "rewrap and datakey");
    *ret = v->hmac_key;
    *ret_len = sizeof(v->hmac_key);
    return 0;
}

static int hmac_compute(const struct transit_call *call,
                        const struct transit_policy *pol,
                        const struct transit_version *v, const EVP_MD *md,
                        const uint8_t *in, size_t len,
                        uint8_t mac[EVP_MAX_MD_SIZE], unsigned int *ret_len)
{
    const uint8_t *key = NULL;
    size_t key_len = 0;
    int r;

    r = hmac_key(call, pol, v, &key, &key_len);
    if (r != 0)
        return r;
    if (HMAC(md, key, (int)key_len, in, len, mac, ret_len) == NULL)
        return KH_EINTERNAL;
    return 0;
}

/* verify/ with "hmac": recompute and compare in constant time. */
static int verify_hmac(const struct transit_call *call,
                       struct transit_policy *pol, const json_t *item,
                       const uint8_t *in, size_t len, bool *ret_valid)
{
    const char *text = transit_field_string(item, "hmac");
    const struct transit_version *v;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const EVP_MD *md = NULL;
    uint32_t version = 0;
    uint8_t *given = NULL;
    size_t given_len = 0;
    int r;

    r = item_md(call, item, "hash_algorithm", &md);
    if (r == 0)
        r = transit_ciphertext_parse(text, &version, &given, &given_len,
                                     call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    v = transit_policy_version(pol, version);
    if (v == NULL || version < pol->min_decryption_version) {
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "hmac version %u is not usable with this key",
                      (unsigned)version);
        goto out;
    }
    r = hmac_compute(call, pol, v, md, in, len, mac, &mac_len);
    if (r == 0)
        *ret_valid = given_len == mac_len &&
                     kh_ct_equal(given, mac, mac_len);
out:
    kh_wipe(mac, sizeof(mac));
    kh_free_secret(given, given_len);
    return r;
}

static int verify_signature(const struct transit_call *call,
                            struct transit_policy *pol, const json_t *item,
                            const uint8_t *in, size_t len, bool *ret_valid)
{
    const char *text = transit_field_string(item, "signature");
    struct sig_params p = {NULL, false, false, false};
    const struct transit_version *v;
    uint32_t version = 0;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    int r;

    if (!transit_type_info(pol->type)->signing)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "key type %s does not support verification",
                         transit_type_info(pol->type)->name);
    if (text == NULL)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing signature or hmac to verify");
    r = sig_params_read(call, pol, item, &p);
    if (r == 0)
        r = sig_parse(call, text, p.jws, &version, &sig, &sig_len);
    if (r != 0)
        return r;
    v = transit_policy_version(pol, version);
    if (v == NULL || version < pol->min_decryption_version)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "signature version %u is not usable with this key",
                      (unsigned)version);
    else
        r = verify_bytes(call, pol, v, &p, in, len, sig, sig_len, ret_valid);
    free(sig);
    return r;
}

int transit_item_verify(const struct transit_call *call,
                        struct transit_policy *pol, const json_t *item,
                        json_t *result)
{
    bool valid = false;
    uint8_t *in = NULL;
    size_t len = 0;
    int r;

    r = transit_field_b64(item, "input", TRANSIT_PLAINTEXT_BYTES_MAX, true,
                          &in, &len, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    if (transit_field_present(item, "hmac"))
        r = verify_hmac(call, pol, item, in, len, &valid);
    else
        r = verify_signature(call, pol, item, in, len, &valid);
    if (r == 0 &&
        json_object_set_new(result, "valid", json_boolean(valid)) != 0)
        r = KH_ENOMEM;
    kh_free_secret(in, len);
    return r;
}

int transit_item_hmac(const struct transit_call *call,
                      struct transit_policy *pol, const json_t *item,
                      json_t *result)
{
    struct transit_version *v = NULL;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    const EVP_MD *md = NULL;
    uint8_t *in = NULL;
    size_t len = 0;
    char *text = NULL;
    int r;

    r = item_md(call, item, "hash_algorithm", &md);
    if (r == 0)
        r = item_version(call, pol, item, &v);
    if (r == 0)
        r = transit_field_b64(item, "input", TRANSIT_PLAINTEXT_BYTES_MAX, true,
                              &in, &len, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = hmac_compute(call, pol, v, md, in, len, mac, &mac_len);
    if (r != 0)
        goto out;
    text = transit_ciphertext_format(v->version, mac, mac_len);
    if (text == NULL ||
        json_object_set_new(result, "hmac", json_string(text)) != 0 ||
        json_object_set_new(result, "key_version",
                            json_integer(v->version)) != 0)
        r = KH_ENOMEM;
out:
    free(text);
    kh_wipe(mac, sizeof(mac));
    kh_free_secret(in, len);
    return r;
}
