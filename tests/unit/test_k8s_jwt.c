/*
 * test_k8s_jwt.c - service-account JWT parsing and verification
 * (hostd/auth/kubernetes/k8s_jwt.c) against tokens really signed here
 * with keys generated per run by OpenSSL: RSA-2048 (RS256) and P-256
 * (ES256, raw r||s). One table drives parse -> claims -> signature for
 * each case and names the stage that must refuse it; further tests cover
 * the key rules (algorithm pinned by the key), the size and depth limits
 * at max and max + 1, and the identity claims (projected and legacy).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/kubernetes/kubernetes.h"
#include "common/encoding.h"
#include "common/err.h"

#define ISSUER   "https://kubernetes.default.svc.cluster.local"
#define AUDIENCE "vault"
#define ABSENT   LLONG_MIN

struct keys_fixture
{
    EVP_PKEY *rsa;
    EVP_PKEY *ec;
    EVP_PKEY *rsa_other;
    char *rsa_pem;
    char *ec_pem;
    struct k8s_jwt_keys keys; /* rsa and ec public keys */
};

static struct keys_fixture *g;

/* ---- helpers: PEM, base64url, signing ---- */

static char *pubkey_pem(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long len;

    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    len = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)len);
    BIO_free(bio);
    assert_non_null(out);
    return out;
}

static char *b64url(const uint8_t *in, size_t len)
{
    char *out = malloc(kh_base64_encoded_len(len) + 1);
    size_t i;

    assert_non_null(out);
    kh_base64_encode(in, len, false, out);
    for (i = 0; out[i] != '\0'; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

static char *b64url_str(const char *s)
{
    return b64url((const uint8_t *)s, strlen(s));
}

enum signer {
    SIGN_RS256,     /* the configured RSA key */
    SIGN_ES256,     /* the configured P-256 key, raw r||s */
    SIGN_ES256_DER, /* P-256 but the DER signature (wrong format) */
    SIGN_RSA_OTHER, /* an RSA key that is not configured */
    SIGN_HS256_PEM, /* HMAC-SHA256 keyed with the RSA public key PEM */
    SIGN_EMPTY,     /* no signature at all */
};

/* Signature over input (base64url), per signer. */
static char *sign(enum signer s, const char *input)
{
    uint8_t sig[1024], raw[64];
    size_t sig_len = sizeof(sig);
    unsigned int hlen = 0;
    EVP_MD_CTX *ctx;
    EVP_PKEY *key;

    if (s == SIGN_EMPTY)
        return strdup("");
    if (s == SIGN_HS256_PEM) {
        assert_non_null(HMAC(EVP_sha256(), g->rsa_pem, (int)strlen(g->rsa_pem),
                             (const uint8_t *)input, strlen(input), sig,
                             &hlen));
        return b64url(sig, hlen);
    }
    key = s == SIGN_RS256 ? g->rsa : s == SIGN_RSA_OTHER ? g->rsa_other : g->ec;
    ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (const uint8_t *)input,
                                    strlen(input)),
                     1);
    EVP_MD_CTX_free(ctx);
    if (s == SIGN_ES256) {
        const uint8_t *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        assert_non_null(es);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
        ECDSA_SIG_free(es);
        return b64url(raw, sizeof(raw));
    }
    return b64url(sig, sig_len);
}

/* header.payload.signature from JSON texts. */
static char *jwt_make(const char *header, const char *claims, enum signer s)
{
    char *h = b64url_str(header), *p = b64url_str(claims), *input, *sig, *out;

    assert_int_not_equal(asprintf(&input, "%s.%s", h, p), -1);
    sig = sign(s, input);
    assert_int_not_equal(asprintf(&out, "%s.%s", input, sig), -1);
    free(h);
    free(p);
    free(input);
    free(sig);
    return out;
}

struct claims_spec
{
    long long exp; /* relative to now; ABSENT: no claim */
    long long nbf;
    long long iat;
    const char *iss; /* NULL: no claim */
    const char *aud; /* JSON text of the claim; NULL: none */
};

static char *claims_make(const struct claims_spec *c, const char *extra)
{
    long long now = (long long)time(NULL);
    char *out, buf[256];
    size_t len = 0, cap = 4096 + (extra != NULL ? strlen(extra) : 0);

    out = malloc(cap);
    assert_non_null(out);
    len += (size_t)snprintf(out + len, cap - len,
                            "{\"sub\":\"system:serviceaccount:production:"
                            "order-service\",\"kubernetes.io\":{\"namespace\":"
                            "\"production\",\"serviceaccount\":{\"name\":"
                            "\"order-service\",\"uid\":\"u-1\"}}");
    if (c->exp != ABSENT) {
        snprintf(buf, sizeof(buf), ",\"exp\":%lld", now + c->exp);
        len += (size_t)snprintf(out + len, cap - len, "%s", buf);
    }
    if (c->nbf != ABSENT)
        len += (size_t)snprintf(out + len, cap - len, ",\"nbf\":%lld",
                                now + c->nbf);
    if (c->iat != ABSENT)
        len += (size_t)snprintf(out + len, cap - len, ",\"iat\":%lld",
                                now + c->iat);
    if (c->iss != NULL)
        len +=
            (size_t)snprintf(out + len, cap - len, ",\"iss\":\"%s\"", c->iss);
    if (c->aud != NULL)
        len += (size_t)snprintf(out + len, cap - len, ",\"aud\":%s", c->aud);
    snprintf(out + len, cap - len, "%s}", extra != NULL ? extra : "");
    return out;
}

/* Stage at which a token is refused. */
enum stage {
    ACCEPTED,
    AT_PARSE,
    AT_CLAIMS,
    AT_SIGNATURE,
};

/* parse -> claims (issuer and audience checked) -> signature. */
static int validate(const char *token, size_t len, enum stage *ret_stage)
{
    struct k8s_jwt_rules rules = {0};
    struct k8s_jwt jwt;
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r;

    rules.now = (int64_t)time(NULL);
    rules.issuer = ISSUER;
    rules.audience = AUDIENCE;
    *ret_stage = AT_PARSE;
    r = k8s_jwt_parse(token, len, &jwt, errmsg, sizeof(errmsg));
    if (r != 0) {
        assert_true(errmsg[0] != '\0');
        return r;
    }
    *ret_stage = AT_CLAIMS;
    r = k8s_jwt_check_claims(&jwt, &rules, errmsg, sizeof(errmsg));
    if (r == 0) {
        *ret_stage = AT_SIGNATURE;
        r = k8s_jwt_verify(&jwt, token, &g->keys, errmsg, sizeof(errmsg));
    }
    if (r == 0)
        *ret_stage = ACCEPTED;
    else
        assert_true(errmsg[0] != '\0');
    k8s_jwt_clear(&jwt);
    return r;
}

/* ---- fixture ---- */

static int group_setup(void **state)
{
    char errmsg[KH_ERRMSG_SIZE];
    char *pems[2];

    (void)state;
    g = calloc(1, sizeof(*g));
    assert_non_null(g);
    g->rsa = EVP_RSA_gen(2048);
    g->rsa_other = EVP_RSA_gen(2048);
    g->ec = EVP_EC_gen("P-256");
    assert_non_null(g->rsa);
    assert_non_null(g->rsa_other);
    assert_non_null(g->ec);
    g->rsa_pem = pubkey_pem(g->rsa);
    g->ec_pem = pubkey_pem(g->ec);
    pems[0] = g->rsa_pem;
    pems[1] = g->ec_pem;
    assert_int_equal(
        k8s_jwt_keys_parse(pems, 2, &g->keys, errmsg, sizeof(errmsg)), 0);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    k8s_jwt_keys_clear(&g->keys);
    EVP_PKEY_free(g->rsa);
    EVP_PKEY_free(g->rsa_other);
    EVP_PKEY_free(g->ec);
    free(g->rsa_pem);
    free(g->ec_pem);
    free(g);
    return 0;
}

/* ---- the table ---- */

enum mutation {
    MUT_NONE,
    MUT_TAMPER,     /* payload swapped after signing */
    MUT_BAD_BASE64, /* a '!' inside the payload */
    MUT_PADDED,     /* '=' padding on the signature */
    MUT_TWO_PARTS,  /* signature segment removed */
    MUT_FOUR_PARTS, /* an extra segment */
};

struct jwt_case
{
    const char *name;
    const char *header;
    enum signer signer;
    struct claims_spec claims;
    const char *extra; /* raw JSON members appended to the claims */
    enum mutation mutation;
    int want;
    enum stage stage;
};

#define HDR_RS "{\"alg\":\"RS256\",\"kid\":\"k1\"}"
#define HDR_ES "{\"alg\":\"ES256\"}"
#define GOOD                                                                   \
    {                                                                          \
        3600, ABSENT, -10, ISSUER, "\"vault\""                                 \
    }

static const struct jwt_case jwt_cases[] = {
    {"valid RS256", HDR_RS, SIGN_RS256, GOOD, NULL, MUT_NONE, 0, ACCEPTED},
    {"valid ES256", HDR_ES, SIGN_ES256, GOOD, NULL, MUT_NONE, 0, ACCEPTED},
    {"aud array holding ours",
     HDR_RS,
     SIGN_RS256,
     {3600, -5, -10, ISSUER, "[\"other\",\"vault\"]"},
     NULL,
     MUT_NONE,
     0,
     ACCEPTED},
    {"no exp (legacy token)",
     HDR_RS,
     SIGN_RS256,
     {ABSENT, ABSENT, ABSENT, ISSUER, "\"vault\""},
     NULL,
     MUT_NONE,
     0,
     ACCEPTED},
    {"expired within leeway",
     HDR_RS,
     SIGN_RS256,
     {-(K8S_JWT_LEEWAY_S - 5), ABSENT, -7200, ISSUER, "\"vault\""},
     NULL,
     MUT_NONE,
     0,
     ACCEPTED},
    {"expired",
     HDR_RS,
     SIGN_RS256,
     {-3600, ABSENT, -7200, ISSUER, "\"vault\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"expired just past leeway",
     HDR_ES,
     SIGN_ES256,
     {-(K8S_JWT_LEEWAY_S + 5), ABSENT, -7200, ISSUER, "\"vault\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"nbf in the future",
     HDR_RS,
     SIGN_RS256,
     {7200, 3600, ABSENT, ISSUER, "\"vault\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"iat in the future",
     HDR_RS,
     SIGN_RS256,
     {7200, ABSENT, 3600, ISSUER, "\"vault\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"exp not a number",
     HDR_RS,
     SIGN_RS256,
     {ABSENT, ABSENT, ABSENT, ISSUER, "\"vault\""},
     ",\"exp\":\"soon\"",
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"wrong aud",
     HDR_RS,
     SIGN_RS256,
     {3600, ABSENT, -10, ISSUER, "\"other\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"no aud",
     HDR_RS,
     SIGN_RS256,
     {3600, ABSENT, -10, ISSUER, NULL},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"wrong iss",
     HDR_ES,
     SIGN_ES256,
     {3600, ABSENT, -10, "https://evil.example", "\"vault\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"no iss",
     HDR_RS,
     SIGN_RS256,
     {3600, ABSENT, -10, NULL, "\"vault\""},
     NULL,
     MUT_NONE,
     KH_EPERM,
     AT_CLAIMS},
    {"alg none", "{\"alg\":\"none\"}", SIGN_EMPTY, GOOD, NULL, MUT_NONE,
     KH_EINVAL, AT_PARSE},
    {"alg None", "{\"alg\":\"None\"}", SIGN_RS256, GOOD, NULL, MUT_NONE,
     KH_EINVAL, AT_PARSE},
    {"HS256 keyed with the RSA public key PEM", "{\"alg\":\"HS256\"}",
     SIGN_HS256_PEM, GOOD, NULL, MUT_NONE, KH_EINVAL, AT_PARSE},
    {"HMAC-with-PEM signature under an RS256 header", HDR_RS, SIGN_HS256_PEM,
     GOOD, NULL, MUT_NONE, KH_EPERM, AT_SIGNATURE},
    {"no alg", "{\"typ\":\"JWT\"}", SIGN_RS256, GOOD, NULL, MUT_NONE, KH_EINVAL,
     AT_PARSE},
    {"crit header", "{\"alg\":\"RS256\",\"crit\":[\"x\"],\"x\":1}", SIGN_RS256,
     GOOD, NULL, MUT_NONE, KH_EINVAL, AT_PARSE},
    {"EC signature under an RS256 header", HDR_RS, SIGN_ES256, GOOD, NULL,
     MUT_NONE, KH_EPERM, AT_SIGNATURE},
    {"RSA signature under an ES256 header", HDR_ES, SIGN_RS256, GOOD, NULL,
     MUT_NONE, KH_EPERM, AT_SIGNATURE},
    {"ES256 with a DER signature", HDR_ES, SIGN_ES256_DER, GOOD, NULL, MUT_NONE,
     KH_EPERM, AT_SIGNATURE},
    {"RS256 by an unconfigured key", HDR_RS, SIGN_RSA_OTHER, GOOD, NULL,
     MUT_NONE, KH_EPERM, AT_SIGNATURE},
    {"RS384 header (no local key for it)", "{\"alg\":\"RS384\"}", SIGN_RS256,
     GOOD, NULL, MUT_NONE, KH_EPERM, AT_SIGNATURE},
    {"tampered payload", HDR_RS, SIGN_RS256, GOOD, NULL, MUT_TAMPER, KH_EPERM,
     AT_SIGNATURE},
    {"tampered payload ES256", HDR_ES, SIGN_ES256, GOOD, NULL, MUT_TAMPER,
     KH_EPERM, AT_SIGNATURE},
    {"malformed base64", HDR_RS, SIGN_RS256, GOOD, NULL, MUT_BAD_BASE64,
     KH_EINVAL, AT_PARSE},
    {"padded base64", HDR_RS, SIGN_RS256, GOOD, NULL, MUT_PADDED, KH_EINVAL,
     AT_PARSE},
    {"two segments", HDR_RS, SIGN_RS256, GOOD, NULL, MUT_TWO_PARTS, KH_EINVAL,
     AT_PARSE},
    {"four segments", HDR_RS, SIGN_RS256, GOOD, NULL, MUT_FOUR_PARTS, KH_EINVAL,
     AT_PARSE},
    {"duplicate claim", HDR_RS, SIGN_RS256, GOOD, ",\"exp\":1", MUT_NONE,
     KH_EINVAL, AT_PARSE},
    {"claims nested too deeply", HDR_RS, SIGN_RS256, GOOD,
     ",\"x\":[[[[[[[[1]]]]]]]]", MUT_NONE, KH_ELIMIT, AT_PARSE},
    {"claims nested at the limit", HDR_RS, SIGN_RS256, GOOD,
     ",\"x\":[[[[[[[1]]]]]]]", MUT_NONE, 0, ACCEPTED},
};

static char *mutate(char *token, enum mutation m)
{
    char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.'), *out;
    char *evil;

    if (m == MUT_NONE)
        return token;
    if (m == MUT_TAMPER) {
        struct claims_spec c = GOOD;
        char *claims = claims_make(&c, ",\"admin\":true");
        evil = b64url_str(claims);
        *dot1 = '\0';
        assert_int_not_equal(asprintf(&out, "%s.%s%s", token, evil, dot2), -1);
        free(claims);
        free(evil);
    } else if (m == MUT_BAD_BASE64) {
        out = strdup(token);
        out[dot1 - token + 3] = '!';
    } else if (m == MUT_PADDED) {
        assert_int_not_equal(asprintf(&out, "%s==", token), -1);
    } else if (m == MUT_TWO_PARTS) {
        *dot2 = '\0';
        out = strdup(token);
    } else {
        assert_int_not_equal(asprintf(&out, "%s.e30", token), -1);
    }
    free(token);
    return out;
}

/* Every row of the table is accepted or refused at the stage it names,
 * with the error code it names. */
static void test_jwt_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(jwt_cases); i++) {
        const struct jwt_case *c = &jwt_cases[i];
        char *claims = claims_make(&c->claims, c->extra);
        char *token =
            mutate(jwt_make(c->header, claims, c->signer), c->mutation);
        enum stage stage;
        int r = validate(token, strlen(token), &stage);

        if (r != c->want || stage != c->stage)
            fail_msg("case \"%s\": got %d at stage %d, want %d at stage %d",
                     c->name, r, (int)stage, c->want, (int)c->stage);
        free(claims);
        free(token);
    }
}

/* The ES256 path really checks the signature: flipping one bit of r in an
 * otherwise valid token is refused. */
static void test_es256_bitflip(void **state)
{
    struct claims_spec c = GOOD;
    char *claims = claims_make(&c, NULL);
    char *token = jwt_make(HDR_ES, claims, SIGN_ES256);
    char *sig = strrchr(token, '.') + 1;
    enum stage stage;

    (void)state;
    assert_int_equal(validate(token, strlen(token), &stage), 0);
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    assert_int_equal(validate(token, strlen(token), &stage), KH_EPERM);
    assert_int_equal(stage, AT_SIGNATURE);
    free(claims);
    free(token);
}

/* A valid token of exactly K8S_JWT_BYTES_MAX bytes parses and verifies;
 * one byte more is KH_ELIMIT before anything is decoded. */
static void test_jwt_size_limit(void **state)
{
    struct claims_spec c = GOOD;
    char *token = NULL, *claims, *filler, *extra, *big;
    size_t n, kid;
    enum stage stage;

    (void)state;
    filler = malloc(K8S_JWT_BYTES_MAX);
    assert_non_null(filler);
    /* 342 bytes of RS256 signature; find the filler and kid lengths that
     * make the token exactly the limit. */
    for (n = K8S_JWT_BYTES_MAX * 3 / 4 - 200; token == NULL && n > 0; n--) {
        for (kid = 0; kid < 4 && token == NULL; kid++) {
            char header[64];
            size_t len;
            memset(filler, 'f', n);
            filler[n] = '\0';
            snprintf(header, sizeof(header),
                     "{\"alg\":\"RS256\",\"kid\":\"%.*s\"}", (int)kid, "kkkk");
            assert_int_not_equal(asprintf(&extra, ",\"f\":\"%s\"", filler), -1);
            claims = claims_make(&c, extra);
            len = (strlen(header) * 4 + 2) / 3 + 1 +
                  (strlen(claims) * 4 + 2) / 3 + 1 + 342;
            if (len == K8S_JWT_BYTES_MAX)
                token = jwt_make(header, claims, SIGN_RS256);
            free(extra);
            free(claims);
        }
    }
    assert_non_null(token);
    assert_int_equal(strlen(token), K8S_JWT_BYTES_MAX);
    assert_int_equal(validate(token, strlen(token), &stage), 0);
    assert_int_not_equal(asprintf(&big, "%sA", token), -1);
    assert_int_equal(validate(big, strlen(big), &stage), KH_ELIMIT);
    assert_int_equal(stage, AT_PARSE);
    free(big);
    free(token);
    free(filler);
}

/* ---- keys ---- */

static char *self_signed_cert_pem(EVP_PKEY *pkey)
{
    X509 *x = X509_new();
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long len;

    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"sa-signer", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);
    len = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)len);
    BIO_free(bio);
    X509_free(x);
    return out;
}

static int keys_parse_one(char *pem, enum k8s_jwt_alg *ret_alg)
{
    struct k8s_jwt_keys keys;
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r = k8s_jwt_keys_parse(&pem, 1, &keys, errmsg, sizeof(errmsg));

    if (r == 0) {
        *ret_alg = keys.items[0].alg;
        k8s_jwt_keys_clear(&keys);
    } else {
        assert_true(errmsg[0] != '\0');
    }
    return r;
}

/* The algorithm comes from the key: RSA >= 2048 -> RS256, P-256 -> ES256,
 * a certificate yields its key; small RSA, P-384, Ed25519 and garbage are
 * refused. */
static void test_keys_pinning(void **state)
{
    EVP_PKEY *small = EVP_RSA_gen(1024), *p384 = EVP_EC_gen("P-384");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *pem, *cert;
    enum k8s_jwt_alg alg = 0;

    (void)state;
    assert_int_equal(keys_parse_one(g->rsa_pem, &alg), 0);
    assert_int_equal(alg, K8S_JWT_RS256);
    assert_int_equal(keys_parse_one(g->ec_pem, &alg), 0);
    assert_int_equal(alg, K8S_JWT_ES256);
    cert = self_signed_cert_pem(g->ec);
    assert_int_equal(keys_parse_one(cert, &alg), 0);
    assert_int_equal(alg, K8S_JWT_ES256);
    free(cert);
    pem = pubkey_pem(small);
    assert_int_equal(keys_parse_one(pem, &alg), KH_EINVAL);
    free(pem);
    pem = pubkey_pem(p384);
    assert_int_equal(keys_parse_one(pem, &alg), KH_EINVAL);
    free(pem);
    pem = pubkey_pem(ed);
    assert_int_equal(keys_parse_one(pem, &alg), KH_EINVAL);
    free(pem);
    pem = strdup("-----BEGIN PUBLIC KEY-----\nnot base64\n"
                 "-----END PUBLIC KEY-----\n");
    assert_int_equal(keys_parse_one(pem, &alg), KH_EINVAL);
    free(pem);
    EVP_PKEY_free(small);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
}

/* K8S_PEM_KEYS_MAX keys parse; one more is KH_ELIMIT. */
static void test_keys_count_limit(void **state)
{
    char *pems[K8S_PEM_KEYS_MAX + 1];
    struct k8s_jwt_keys keys;
    char errmsg[KH_ERRMSG_SIZE];
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(pems); i++)
        pems[i] = i % 2 ? g->rsa_pem : g->ec_pem;
    assert_int_equal(k8s_jwt_keys_parse(pems, K8S_PEM_KEYS_MAX, &keys, errmsg,
                                        sizeof(errmsg)),
                     0);
    assert_int_equal(keys.count, K8S_PEM_KEYS_MAX);
    k8s_jwt_keys_clear(&keys);
    assert_int_equal(k8s_jwt_keys_parse(pems, K8S_PEM_KEYS_MAX + 1, &keys,
                                        errmsg, sizeof(errmsg)),
                     KH_ELIMIT);
}

/* With only the EC key configured, an RS256 token is refused even though
 * its signature is valid (no key is pinned to RS256). */
static void test_verify_needs_pinned_key(void **state)
{
    struct claims_spec c = GOOD;
    char *claims = claims_make(&c, NULL), *pem = g->ec_pem;
    char *token = jwt_make(HDR_RS, claims, SIGN_RS256);
    struct k8s_jwt_keys keys;
    struct k8s_jwt jwt;
    char errmsg[KH_ERRMSG_SIZE];

    (void)state;
    assert_int_equal(k8s_jwt_keys_parse(&pem, 1, &keys, errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(
        k8s_jwt_parse(token, strlen(token), &jwt, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(k8s_jwt_verify(&jwt, token, &keys, errmsg, sizeof(errmsg)),
                     KH_EPERM);
    assert_non_null(strstr(errmsg, "RS256"));
    k8s_jwt_clear(&jwt);
    k8s_jwt_keys_clear(&keys);
    free(claims);
    free(token);
}

/* ---- identity ---- */

static int identity_of(const char *claims, struct k8s_identity *id)
{
    char *token = jwt_make(HDR_RS, claims, SIGN_RS256);
    struct k8s_jwt jwt;
    char errmsg[KH_ERRMSG_SIZE];
    int r;

    assert_int_equal(
        k8s_jwt_parse(token, strlen(token), &jwt, errmsg, sizeof(errmsg)), 0);
    r = k8s_jwt_identity(&jwt, id, errmsg, sizeof(errmsg));
    k8s_jwt_clear(&jwt);
    free(token);
    return r;
}

/* Projected tokens name the account in the "kubernetes.io" object, legacy
 * tokens in flat claims; without a namespace or name, or with a name that
 * is not printable ASCII, there is no identity. */
static void test_identity(void **state)
{
    struct k8s_identity id;

    (void)state;
    assert_int_equal(
        identity_of("{\"kubernetes.io\":{\"namespace\":\"prod\",\"pod\":{"
                    "\"name\":\"p-1\",\"uid\":\"pu\"},\"serviceaccount\":{"
                    "\"name\":\"app\",\"uid\":\"sa-uid\"}}}",
                    &id),
        0);
    assert_string_equal(id.namespace, "prod");
    assert_string_equal(id.name, "app");
    assert_string_equal(id.uid, "sa-uid");
    assert_string_equal(id.pod_name, "p-1");
    assert_string_equal(id.secret_name, "");
    assert_int_equal(
        identity_of("{\"kubernetes.io/serviceaccount/namespace\":\"dev\","
                    "\"kubernetes.io/serviceaccount/service-account.name\":"
                    "\"web\",\"kubernetes.io/serviceaccount/service-account."
                    "uid\":\"u2\",\"kubernetes.io/serviceaccount/secret.name\":"
                    "\"web-token-x\"}",
                    &id),
        0);
    assert_string_equal(id.namespace, "dev");
    assert_string_equal(id.name, "web");
    assert_string_equal(id.uid, "u2");
    assert_string_equal(id.secret_name, "web-token-x");
    assert_int_equal(
        identity_of("{\"kubernetes.io\":{\"namespace\":\"p\"}}", &id),
        KH_EPERM);
    assert_int_equal(identity_of("{\"sub\":\"x\"}", &id), KH_EPERM);
    /* names reach logs and token metadata: control bytes and spaces are
     * refused */
    assert_int_equal(
        identity_of("{\"kubernetes.io\":{\"namespace\":\"p\\nforged\","
                    "\"serviceaccount\":{\"name\":\"a\"}}}",
                    &id),
        KH_EPERM);
    assert_int_equal(identity_of("{\"kubernetes.io\":{\"namespace\":\"p\","
                                 "\"serviceaccount\":{\"name\":\"a b\"}}}",
                                 &id),
                     KH_EPERM);
    assert_int_equal(
        identity_of("{\"kubernetes.io\":{\"namespace\":7,\"serviceaccount\":"
                    "{\"name\":\"a\"}}}",
                    &id),
        KH_EPERM);
}

/* k8s_jwt_audiences turns a string or an array into an array. */
static void test_audiences(void **state)
{
    const char *cases[][2] = {
        {"{\"aud\":\"a\"}", "[\"a\"]"},
        {"{\"aud\":[\"a\",\"b\"]}", "[\"a\",\"b\"]"},
        {"{}", "[]"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(cases); i++) {
        char *token = jwt_make(HDR_RS, cases[i][0], SIGN_RS256), *text;
        struct k8s_jwt jwt;
        char errmsg[KH_ERRMSG_SIZE];
        json_t *aud;

        assert_int_equal(
            k8s_jwt_parse(token, strlen(token), &jwt, errmsg, sizeof(errmsg)),
            0);
        aud = k8s_jwt_audiences(&jwt);
        text = json_dumps(aud, JSON_COMPACT);
        assert_string_equal(text, cases[i][1]);
        free(text);
        json_decref(aud);
        k8s_jwt_clear(&jwt);
        free(token);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_table),
        cmocka_unit_test(test_es256_bitflip),
        cmocka_unit_test(test_jwt_size_limit),
        cmocka_unit_test(test_keys_pinning),
        cmocka_unit_test(test_keys_count_limit),
        cmocka_unit_test(test_verify_needs_pinned_key),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_audiences),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
