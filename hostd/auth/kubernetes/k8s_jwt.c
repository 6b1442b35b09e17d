/*
 * k8s_jwt.c - service-account JWTs: compact-JWS parsing, signature checks
 * with OpenSSL EVP, claim checks and the service-account identity
 * (Vault API: Kubernetes auth steps 3-4).
 *
 * Owns the decision "is this signature good". The algorithm is pinned by
 * the key (RSA -> RS256, P-256 -> ES256) and a token's "alg" only selects
 * among keys already pinned to it, so an HS256 token "signed" with the
 * RSA public key PEM, or alg "none", can never verify (libjwt is not used:
 * its Debian version accepts the former). Everything read from a token is
 * bounded (K8S_JWT_BYTES_MAX, K8S_JWT_JSON_DEPTH_MAX) and parsed without
 * recursion of our own. It never logs and never keeps a token.
 */
#include "auth/kubernetes/kubernetes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/encoding.h"
#include "common/err.h"
#include "http/request_parse.h"

#define K8S_RSA_BITS_MIN  2048
#define K8S_ES256_SIG_LEN 64

/* Header algorithms a service-account token may carry: asymmetric only
 * (Vault's list). Local verification supports RS256 and ES256. */
static const char *const jwt_algs_allowed[] = {
    "RS256", "RS384", "RS512", "PS256", "PS384",
    "PS512", "ES256", "ES384", "ES512", "EdDSA",
};

/* ---- keys ---- */

/* One PEM (public key or certificate) into an EVP_PKEY, or NULL. */
static EVP_PKEY *pem_load(const char *pem)
{
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    BIO *bio;

    bio = BIO_new_mem_buf(pem, -1);
    if (bio != NULL)
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        bio = BIO_new_mem_buf(pem, -1);
        if (bio != NULL)
            cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert != NULL)
            pkey = X509_get_pubkey(cert);
        X509_free(cert);
        BIO_free(bio);
    }
    ERR_clear_error();
    return pkey;
}

/* The one algorithm pkey may verify, or 0 when it is not supported. */
static enum k8s_jwt_alg key_alg(EVP_PKEY *pkey)
{
    char group[64] = "";

    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
        return EVP_PKEY_get_bits(pkey) >= K8S_RSA_BITS_MIN ? K8S_JWT_RS256 : 0;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1 &&
        (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
        return K8S_JWT_ES256;
    return 0;
}

int k8s_jwt_keys_parse(char *const *pems, size_t count,
                       struct k8s_jwt_keys *ret, char *errmsg,
                       size_t errmsg_size)
{
    struct k8s_jwt_keys keys;
    EVP_PKEY *pkey;
    size_t i;
    int r = KH_EINTERNAL;

    KH_ASSERT(ret != NULL);
    memset(&keys, 0, sizeof(keys));
    if (count > K8S_PEM_KEYS_MAX) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT, "at most %d pem_keys",
                      K8S_PEM_KEYS_MAX);
        goto out;
    }
    for (i = 0; i < count; i++) {
        KH_ASSERT(pems[i] != NULL);
        pkey = pem_load(pems[i]);
        if (pkey == NULL) {
            r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                          "pem_keys[%zu] is not a PEM public key or "
                          "certificate",
                          i);
            goto out;
        }
        keys.items[keys.count].pkey = pkey;
        keys.items[keys.count].alg = key_alg(pkey);
        keys.count++;
        if (keys.items[keys.count - 1].alg == 0) {
            r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                          "pem_keys[%zu]: only RSA keys of at least %d bits "
                          "(RS256) and P-256 keys (ES256) are supported",
                          i, K8S_RSA_BITS_MIN);
            goto out;
        }
    }
    *ret = keys;
    memset(&keys, 0, sizeof(keys));
    r = 0; /* success */
out:
    k8s_jwt_keys_clear(&keys);
    return r;
}

void k8s_jwt_keys_clear(struct k8s_jwt_keys *keys)
{
    size_t i;

    if (keys == NULL)
        return;
    KH_ASSERT(keys->count <= K8S_PEM_KEYS_MAX);
    for (i = 0; i < keys->count; i++)
        EVP_PKEY_free(keys->items[i].pkey);
    memset(keys, 0, sizeof(*keys));
}

/* ---- parsing ---- */

/* base64url without padding (RFC 7515 §2) into a malloc'ed buffer. */
static int b64url_decode(const char *in, size_t len, uint8_t **ret,
                         size_t *ret_len)
{
    uint8_t *out = NULL;
    char *std = NULL;
    size_t i, n = 0;
    int r = KH_EINVAL;

    if (len == 0 || len % 4 == 1)
        goto out;
    r = KH_ENOMEM;
    std = malloc(len + 1);
    out = malloc(len / 4 * 3 + 3);
    if (std == NULL || out == NULL)
        goto out;
    r = KH_EINVAL;
    for (i = 0; i < len; i++) {
        char c = in[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9'))
            std[i] = c;
        else if (c == '-')
            std[i] = '+';
        else if (c == '_')
            std[i] = '/';
        else
            goto out;
    }
    std[len] = '\0';
    r = kh_base64_decode(std, len, out, len / 4 * 3 + 3, &n);
    if (r != 0 || n == 0) {
        r = KH_EINVAL;
        goto out;
    }
    *ret = out;
    *ret_len = n;
    out = NULL;
    r = 0; /* success */
out:
    free(std);
    free(out);
    return r;
}

/* One segment as a JSON object. */
static int segment_json(const char *in, size_t len, json_t **ret)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    json_t *obj = NULL;
    int r;

    r = b64url_decode(in, len, &raw, &n);
    if (r != 0)
        return r;
    r = KH_ELIMIT;
    if (!http_json_depth_ok((const char *)raw, n, K8S_JWT_JSON_DEPTH_MAX))
        goto out;
    r = KH_EINVAL;
    obj = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj))
        goto out;
    *ret = obj;
    obj = NULL;
    r = 0; /* success */
out:
    json_decref(obj);
    free(raw);
    return r;
}

static bool alg_allowed(const char *alg)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(jwt_algs_allowed); i++) {
        if (strcmp(alg, jwt_algs_allowed[i]) == 0)
            return true;
    }
    return false;
}

/* The header's alg into jwt->alg; refuses none, HMAC and "crit". */
static int header_check(struct k8s_jwt *jwt, char *errmsg, size_t errmsg_size)
{
    const json_t *alg = json_object_get(jwt->header, "alg");

    if (!json_is_string(alg) || json_string_length(alg) >= sizeof(jwt->alg))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "JWT header has no valid alg");
    if (!alg_allowed(json_string_value(alg)))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "JWT algorithm \"%s\" is not accepted",
                         json_string_value(alg));
    if (json_object_get(jwt->header, "crit") != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "JWT header carries unsupported \"crit\"");
    memcpy(jwt->alg, json_string_value(alg), json_string_length(alg) + 1);
    return 0;
}

int k8s_jwt_parse(const char *token, size_t len, struct k8s_jwt *ret,
                  char *errmsg, size_t errmsg_size)
{
    const char *dot1, *dot2;
    struct k8s_jwt jwt;
    int r = KH_EINTERNAL;

    KH_ASSERT(token != NULL);
    KH_ASSERT(ret != NULL);
    memset(&jwt, 0, sizeof(jwt));
    if (len > K8S_JWT_BYTES_MAX) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                      "JWT is longer than %u bytes", K8S_JWT_BYTES_MAX);
        goto out;
    }
    dot1 = memchr(token, '.', len);
    dot2 = dot1 != NULL
               ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))
               : NULL;
    if (dot2 == NULL ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "JWT is not three dot-separated segments");
        goto out;
    }
    r = segment_json(token, (size_t)(dot1 - token), &jwt.header);
    if (r == 0)
        r = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1), &jwt.claims);
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r,
                      r == KH_ELIMIT ? "JWT JSON nests too deeply"
                                     : "JWT header or claims are not "
                                       "base64url-encoded JSON objects");
        goto out;
    }
    r = header_check(&jwt, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token),
                      &jwt.signature, &jwt.signature_len);
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r, "JWT signature is not base64url");
        goto out;
    }
    jwt.signed_len = (size_t)(dot2 - token);
    *ret = jwt;
    memset(&jwt, 0, sizeof(jwt));
    r = 0; /* success */
out:
    k8s_jwt_clear(&jwt);
    return r;
}

void k8s_jwt_clear(struct k8s_jwt *jwt)
{
    if (jwt == NULL)
        return;
    json_decref(jwt->header);
    json_decref(jwt->claims);
    free(jwt->signature);
    memset(jwt, 0, sizeof(*jwt));
}

/* ---- signatures ---- */

/* ES256's raw r||s (RFC 7518 §3.4) as the DER ECDSA-Sig-Value EVP wants;
 * *ret_der is OPENSSL_malloc'ed. */
static int es256_der(const uint8_t *sig, size_t len, unsigned char **ret_der,
                     int *ret_der_len)
{
    ECDSA_SIG *esig = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    unsigned char *der = NULL;
    int n, r = KH_EPERM;

    if (len != K8S_ES256_SIG_LEN)
        return KH_EPERM;
    esig = ECDSA_SIG_new();
    br = BN_bin2bn(sig, K8S_ES256_SIG_LEN / 2, NULL);
    bs = BN_bin2bn(sig + K8S_ES256_SIG_LEN / 2, K8S_ES256_SIG_LEN / 2, NULL);
    if (esig == NULL || br == NULL || bs == NULL ||
        ECDSA_SIG_set0(esig, br, bs) != 1) {
        r = KH_ENOMEM;
        goto out;
    }
    br = NULL; /* owned by esig now */
    bs = NULL;
    n = i2d_ECDSA_SIG(esig, &der);
    if (n <= 0) {
        r = KH_ENOMEM;
        goto out;
    }
    *ret_der = der;
    *ret_der_len = n;
    r = 0; /* success */
out:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(esig);
    return r;
}

/* True when sig verifies over tbs under pkey with SHA-256. */
static bool evp_verify_sha256(EVP_PKEY *pkey, const uint8_t *sig,
                              size_t sig_len, const char *tbs, size_t tbs_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = false;

    if (ctx != NULL &&
        EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1)
        ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)tbs,
                              tbs_len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

static bool key_verifies(const struct k8s_jwt_key *key,
                         const struct k8s_jwt *jwt, const char *token)
{
    unsigned char *der = NULL;
    int der_len = 0;
    bool ok;

    if (key->alg == K8S_JWT_RS256)
        return evp_verify_sha256(key->pkey, jwt->signature, jwt->signature_len,
                                 token, jwt->signed_len);
    KH_ASSERT(key->alg == K8S_JWT_ES256);
    if (es256_der(jwt->signature, jwt->signature_len, &der, &der_len) != 0)
        return false;
    ok = evp_verify_sha256(key->pkey, der, (size_t)der_len, token,
                           jwt->signed_len);
    OPENSSL_free(der);
    return ok;
}

int k8s_jwt_verify(const struct k8s_jwt *jwt, const char *token,
                   const struct k8s_jwt_keys *keys, char *errmsg,
                   size_t errmsg_size)
{
    enum k8s_jwt_alg alg = 0;
    size_t i, tried = 0;

    KH_ASSERT(jwt->header != NULL);
    KH_ASSERT(keys->count <= K8S_PEM_KEYS_MAX);
    if (strcmp(jwt->alg, "RS256") == 0)
        alg = K8S_JWT_RS256;
    else if (strcmp(jwt->alg, "ES256") == 0)
        alg = K8S_JWT_ES256;
    for (i = 0; alg != 0 && i < keys->count; i++) {
        if (keys->items[i].alg != alg)
            continue;
        tried++;
        if (key_verifies(&keys->items[i], jwt, token))
            return 0;
    }
    if (tried == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "no configured pem_key verifies alg \"%s\"", jwt->alg);
    return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                     "JWT signature does not verify under any of %zu "
                     "configured %s key(s)",
                     tried, jwt->alg);
}

/* ---- claims ---- */

/* A NumericDate claim: *ret_present false when absent; KH_EPERM when not
 * a number. */
static int numeric_date(const json_t *claims, const char *name,
                        bool *ret_present, int64_t *ret)
{
    const json_t *v = json_object_get(claims, name);
    double d;

    *ret_present = v != NULL && !json_is_null(v);
    if (!*ret_present)
        return 0;
    if (!json_is_number(v))
        return KH_EPERM;
    d = json_number_value(v);
    if (!(d > -1e15 && d < 1e15)) /* also rejects NaN */
        return KH_EPERM;
    *ret = (int64_t)d;
    return 0;
}

static int check_times(const json_t *claims, int64_t now, char *errmsg,
                       size_t errmsg_size)
{
    bool has_exp = false, has_nbf = false, has_iat = false;
    int64_t exp = 0, nbf = 0, iat = 0;

    if (numeric_date(claims, "exp", &has_exp, &exp) != 0 ||
        numeric_date(claims, "nbf", &has_nbf, &nbf) != 0 ||
        numeric_date(claims, "iat", &has_iat, &iat) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT exp, nbf or iat is not a number");
    if (has_exp && now > exp + K8S_JWT_LEEWAY_S)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT expired %lld s ago", (long long)(now - exp));
    if (has_nbf && now + K8S_JWT_LEEWAY_S < nbf)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT not valid before %lld (now %lld)", (long long)nbf,
                         (long long)now);
    if (has_iat && now + K8S_JWT_LEEWAY_S < iat)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT issued in the future (iat %lld, now %lld)",
                         (long long)iat, (long long)now);
    return 0;
}

static bool aud_contains(const json_t *aud, const char *want)
{
    size_t i;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    for (i = 0; json_is_array(aud) && i < json_array_size(aud); i++) {
        const json_t *v = json_array_get(aud, i);
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

int k8s_jwt_check_claims(const struct k8s_jwt *jwt,
                         const struct k8s_jwt_rules *rules, char *errmsg,
                         size_t errmsg_size)
{
    const json_t *iss;
    int r;

    KH_ASSERT(jwt->claims != NULL);
    KH_ASSERT(rules != NULL);
    r = check_times(jwt->claims, rules->now, errmsg, errmsg_size);
    if (r != 0)
        return r;
    iss = json_object_get(jwt->claims, "iss");
    if (rules->issuer != NULL &&
        (!json_is_string(iss) ||
         strcmp(json_string_value(iss), rules->issuer) != 0))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT issuer is not \"%.200s\"", rules->issuer);
    if (rules->audience != NULL && rules->audience[0] != '\0' &&
        !aud_contains(json_object_get(jwt->claims, "aud"), rules->audience))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT audience does not contain \"%.200s\"",
                         rules->audience);
    return 0;
}

json_t *k8s_jwt_audiences(const struct k8s_jwt *jwt)
{
    const json_t *aud = json_object_get(jwt->claims, "aud");
    json_t *out = json_array();
    size_t i;

    if (out == NULL)
        return NULL;
    if (json_is_string(aud) &&
        json_array_append_new(out, json_string(json_string_value(aud))) != 0)
        goto fail;
    for (i = 0; json_is_array(aud) && i < json_array_size(aud) &&
                i < K8S_REVIEW_AUDIENCES_MAX;
         i++) {
        const json_t *v = json_array_get(aud, i);
        if (json_is_string(v) &&
            json_array_append_new(out, json_string(json_string_value(v))) != 0)
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---- identity ---- */

/* Copy the string member name of obj into out (size out_size); absent is
 * "" unless required. KH_EPERM when too long, not a string, missing, or
 * holding anything but printable non-space ASCII. */
static int claim_copy(const json_t *obj, const char *name, bool required,
                      char *out, size_t out_size)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, name) : NULL;

    size_t i;

    out[0] = '\0';
    if (v == NULL)
        return required ? KH_EPERM : 0;
    if (!json_is_string(v) || json_string_length(v) >= out_size)
        return KH_EPERM;
    if (required && json_string_length(v) == 0)
        return KH_EPERM;
    /* Kubernetes names and UIDs are printable ASCII without spaces; they
     * end up in logs and token metadata. */
    for (i = 0; i < json_string_length(v); i++) {
        if (!isgraph((unsigned char)json_string_value(v)[i]))
            return KH_EPERM;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

int k8s_jwt_identity(const struct k8s_jwt *jwt, struct k8s_identity *ret,
                     char *errmsg, size_t errmsg_size)
{
    const json_t *k8s = json_object_get(jwt->claims, "kubernetes.io");
    const json_t *c = jwt->claims;
    struct k8s_identity id;
    int r;

    KH_ASSERT(c != NULL);
    memset(&id, 0, sizeof(id));
    if (json_is_object(k8s)) {
        const json_t *sa = json_object_get(k8s, "serviceaccount");
        r = claim_copy(k8s, "namespace", true, id.namespace,
                       sizeof(id.namespace));
        if (r == 0)
            r = claim_copy(sa, "name", true, id.name, sizeof(id.name));
        if (r == 0)
            r = claim_copy(sa, "uid", false, id.uid, sizeof(id.uid));
        if (r == 0)
            r = claim_copy(json_object_get(k8s, "pod"), "name", false,
                           id.pod_name, sizeof(id.pod_name));
    } else {
        r = claim_copy(c, "kubernetes.io/serviceaccount/namespace", true,
                       id.namespace, sizeof(id.namespace));
        if (r == 0)
            r = claim_copy(c,
                           "kubernetes.io/serviceaccount/service-account.name",
                           true, id.name, sizeof(id.name));
        if (r == 0)
            r = claim_copy(c,
                           "kubernetes.io/serviceaccount/service-account.uid",
                           false, id.uid, sizeof(id.uid));
        if (r == 0)
            r = claim_copy(c, "kubernetes.io/serviceaccount/secret.name", false,
                           id.secret_name, sizeof(id.secret_name));
    }
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "JWT does not name a service account (namespace "
                         "and name claims missing or malformed)");
    *ret = id;
    return 0;
}
