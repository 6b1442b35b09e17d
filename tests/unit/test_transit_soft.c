/*
 * test_transit_soft.c - the transit engine (hostd/engines/transit/) with
 * software keys, driven through transit_backend_ops over a real barrier
 * on LMDB (tests/unit/transit_harness.h).
 *
 * Covers every key type's round trip, the ciphertext layout checked with
 * an independent OpenSSL decryption of exported keys (known answers),
 * derived keys and contexts, decryption of every old version,
 * min_decryption_version refusal, rotate and rewrap, batches with partial
 * failures, tampered and malformed ciphertexts, signatures of each
 * signing type checked again with OpenSSL directly, HMACs, data keys,
 * export rules, deletion rules, auto-rotation, random and hash, records
 * surviving a reload, the cache under more keys than it holds, and every
 * limit at max and max + 1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "transit_harness.h"

static int setup(void **state)
{
    *state = tfix_open();
    return 0;
}

static int teardown(void **state)
{
    tfix_close(*state);
    return 0;
}

static void create_key(struct tfix *f, const char *name, const char *body)
{
    char sub[128];

    snprintf(sub, sizeof(sub), "keys/%s", name);
    tstatus(f, "POST", sub, body, 200);
}

/* The blob of a "vault:vN:..." text; checks the version. */
static uint8_t *ct_blob(const char *ct, unsigned version, size_t *ret_len)
{
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "vault:v%u:", version);
    assert_int_equal(strncmp(ct, prefix, strlen(prefix)), 0);
    return tunb64(ct + strlen(prefix), ret_len);
}

/* Encrypt and decrypt round trip for every encryption key type. */
static void test_roundtrip_each_type(void **state)
{
    static const char *const types[] = {"aes256-gcm96", "chacha20-poly1305",
                                        "rsa-2048", "rsa-4096"};
    struct tfix *f = *state;
    char body[128];
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(types); i++) {
        char *ct, *pt;
        snprintf(body, sizeof(body), "{\"type\":\"%s\"}", types[i]);
        create_key(f, types[i], body);
        ct = tencrypt(f, types[i], "the quick brown fox", NULL);
        assert_int_equal(strncmp(ct, "vault:v1:", 9), 0);
        pt = tdecrypt(f, types[i], ct, NULL);
        assert_string_equal(pt, "the quick brown fox");
        free(pt);
        free(ct);
    }
    /* Empty plaintext is allowed and comes back empty. */
    {
        char *ct = tencrypt(f, "aes256-gcm96", "", NULL);
        char *pt = tdecrypt(f, "aes256-gcm96", ct, NULL);
        assert_string_equal(pt, "");
        free(pt);
        free(ct);
    }
    /* Types without encryption refuse it. */
    create_key(f, "sig", "{\"type\":\"ed25519\"}");
    terror(f, "POST", "encrypt/sig", "{\"plaintext\":\"aGk=\"}", 400,
           "does not support encryption");
    create_key(f, "mac", "{\"type\":\"hmac\"}");
    terror(f, "POST", "encrypt/mac", "{\"plaintext\":\"aGk=\"}", 400,
           "does not support encryption");
    terror(f, "POST", "keys/bad", "{\"type\":\"des\"}", 400,
           "unknown key type");
}

/* Decrypt a transit ciphertext with OpenSSL alone (key from export/). */
static void open_independently(const EVP_CIPHER *cipher, const uint8_t *key,
                               const uint8_t *blob, size_t len,
                               const char *expect)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t out[256];
    int n = 0, fin = 0;
    size_t ct_len = len - 12 - 16;

    assert_non_null(ctx);
    assert_int_equal(EVP_DecryptInit_ex(ctx, cipher, NULL, NULL, NULL), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12,
                                         NULL),
                     1);
    assert_int_equal(EVP_DecryptInit_ex(ctx, NULL, NULL, key, blob), 1);
    assert_int_equal(
        EVP_DecryptUpdate(ctx, out, &n, blob + 12, (int)ct_len), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16,
                                         (void *)(blob + 12 + ct_len)),
                     1);
    assert_int_equal(EVP_DecryptFinal_ex(ctx, out + n, &fin), 1);
    assert_int_equal((size_t)n, strlen(expect));
    assert_memory_equal(out, expect, strlen(expect));
    EVP_CIPHER_CTX_free(ctx);
}

/* The ciphertext layout is nonce(12) | ct | tag(16) under the exported
 * key, for AES-256-GCM and ChaCha20-Poly1305 (known answers). */
static void test_ciphertext_layout_known_answer(void **state)
{
    struct tfix *f = *state;
    static const char *const types[] = {"aes256-gcm96", "chacha20-poly1305"};
    size_t i;

    for (i = 0; i < 2; i++) {
        char body[128], sub[128];
        char *ct, *keyb64;
        uint8_t *blob, *key;
        size_t blob_len = 0, key_len = 0;
        struct answer a;
        snprintf(body, sizeof(body), "{\"type\":\"%s\",\"exportable\":true}",
                 types[i]);
        snprintf(sub, sizeof(sub), "x%zu", i);
        create_key(f, sub, body);
        ct = tencrypt(f, sub, "known answer", NULL);
        blob = ct_blob(ct, 1, &blob_len);
        assert_int_equal(blob_len, 12 + strlen("known answer") + 16);
        snprintf(body, sizeof(body), "export/encryption-key/x%zu", i);
        a = texpect(f, "GET", body, NULL, 200);
        keyb64 = strdup(json_string_value(
            json_object_get(json_object_get(tdata(&a), "keys"), "1")));
        answer_free(&a);
        key = tunb64(keyb64, &key_len);
        assert_int_equal(key_len, 32);
        open_independently(i == 0 ? EVP_aes_256_gcm()
                                  : EVP_chacha20_poly1305(),
                           key, blob, blob_len, "known answer");
        kh_free_secret(key, key_len);
        free(keyb64);
        free(blob);
        free(ct);
    }
}

/* Derived keys need a context; another context cannot decrypt. */
static void test_derived_context(void **state)
{
    struct tfix *f = *state;
    char *ct, *pt, *ctx_a = tb64("tenant-a"), *ctx_b = tb64("tenant-b");
    char extra[128];

    create_key(f, "drv", "{\"derived\":true}");
    assert_int_equal(tkey_int(f, "drv", "latest_version"), 1);
    terror(f, "POST", "encrypt/drv", "{\"plaintext\":\"aGk=\"}", 400,
           "missing 'context'");
    snprintf(extra, sizeof(extra), "\"context\":\"%s\"", ctx_a);
    ct = tencrypt(f, "drv", "per tenant", extra);
    pt = tdecrypt(f, "drv", ct, extra);
    assert_string_equal(pt, "per tenant");
    free(pt);
    {
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"ciphertext\":\"%s\",\"context\":\"%s\"}", ct, ctx_b);
        terror(f, "POST", "decrypt/drv", body, 400,
               "message authentication failed");
    }
    /* Derivation is only for AEAD types. */
    terror(f, "POST", "keys/drv2", "{\"type\":\"ecdsa-p256\",\"derived\":true}",
           400, "key derivation");
    free(ct);
    free(ctx_a);
    free(ctx_b);
}

/* Old versions decrypt after rotation until min_decryption_version
 * refuses them; rewrap moves a ciphertext to the latest version. */
static void test_rotate_rewrap_min_decryption(void **state)
{
    struct tfix *f = *state;
    char *v1, *v2, *v3, *pt, *rewrapped;
    char body[1024];
    struct answer a;

    create_key(f, "orders", NULL);
    v1 = tencrypt(f, "orders", "one", NULL);
    tstatus(f, "POST", "keys/orders/rotate", NULL, 200);
    v2 = tencrypt(f, "orders", "two", NULL);
    assert_int_equal(strncmp(v2, "vault:v2:", 9), 0);
    tstatus(f, "POST", "keys/orders/rotate", NULL, 200);
    v3 = tencrypt(f, "orders", "three", "\"key_version\":2");
    assert_int_equal(strncmp(v3, "vault:v2:", 9), 0);
    free(v3);
    v3 = tencrypt(f, "orders", "three", NULL);
    assert_int_equal(strncmp(v3, "vault:v3:", 9), 0);
    pt = tdecrypt(f, "orders", v1, NULL);
    assert_string_equal(pt, "one");
    free(pt);
    pt = tdecrypt(f, "orders", v2, NULL);
    assert_string_equal(pt, "two");
    free(pt);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", v1);
    rewrapped = tstring(f, "POST", "rewrap/orders", body, "ciphertext");
    assert_int_equal(strncmp(rewrapped, "vault:v3:", 9), 0);
    pt = tdecrypt(f, "orders", rewrapped, NULL);
    assert_string_equal(pt, "one");
    free(pt);
    tstatus(f, "POST", "keys/orders/config", "{\"min_decryption_version\":2}",
            200);
    terror(f, "POST", "decrypt/orders", body, 400, "too old");
    terror(f, "POST", "rewrap/orders", body, 400, "too old");
    terror(f, "POST", "encrypt/orders",
           "{\"plaintext\":\"aGk=\",\"key_version\":1}", 400, "less than");
    terror(f, "POST", "keys/orders/config", "{\"min_decryption_version\":4}",
           400, "latest key version is 3");
    terror(f, "POST", "keys/orders/config",
           "{\"min_encryption_version\":1}", 400, "min encryption version");
    a = texpect(f, "GET", "keys/orders", NULL, 200);
    assert_null(json_object_get(json_object_get(tdata(&a), "keys"), "1"));
    assert_non_null(json_object_get(json_object_get(tdata(&a), "keys"), "2"));
    assert_int_equal(
        json_integer_value(json_object_get(tdata(&a), "min_decryption_version")),
        2);
    answer_free(&a);
    free(rewrapped);
    free(v1);
    free(v2);
    free(v3);
}

/* A batch with a failed item: 400 with the full envelope, items in
 * order, each failure on its own, references echoed. */
static void test_batch_partial_failure(void **state)
{
    struct tfix *f = *state;
    struct answer a;
    json_t *results;
    char body[2048];
    const char *ct0;

    create_key(f, "b", NULL);
    a = texpect(f, "POST", "encrypt/b",
                "{\"plaintext\":\"\",\"batch_input\":["
                "{\"plaintext\":\"aGk=\",\"reference\":\"r0\"},"
                "{\"plaintext\":\"!!notbase64\",\"reference\":\"r1\"},"
                "{\"plaintext\":\"aGVsbG8=\"}]}",
                400);
    results = json_object_get(tdata(&a), "batch_results");
    assert_int_equal(json_array_size(results), 3);
    assert_non_null(json_object_get(json_array_get(results, 0), "ciphertext"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(results, 0), "reference")),
                        "r0");
    assert_non_null(json_object_get(json_array_get(results, 1), "error"));
    assert_null(json_object_get(json_array_get(results, 1), "ciphertext"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(results, 1), "reference")),
                        "r1");
    assert_non_null(json_object_get(json_array_get(results, 2), "ciphertext"));
    ct0 = json_string_value(
        json_object_get(json_array_get(results, 0), "ciphertext"));
    snprintf(body, sizeof(body),
             "{\"batch_input\":[{\"ciphertext\":\"%s\"},"
             "{\"ciphertext\":\"vault:v1:AAAA\"}],"
             "\"partial_failure_response_code\":200}",
             ct0);
    answer_free(&a);
    a = texpect(f, "POST", "decrypt/b", body, 200);
    results = json_object_get(tdata(&a), "batch_results");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(results, 0), "plaintext")),
                        "aGk=");
    assert_non_null(json_object_get(json_array_get(results, 1), "error"));
    answer_free(&a);
    /* All good: 200. */
    a = texpect(f, "POST", "encrypt/b",
                "{\"batch_input\":[{\"plaintext\":\"aGk=\"}]}", 200);
    answer_free(&a);
    terror(f, "POST", "encrypt/b", "{\"batch_input\":{}}", 400, "list");
}

/* Tampered and malformed ciphertexts are 400 with Vault's messages. */
static void test_tampered_ciphertext(void **state)
{
    struct tfix *f = *state;
    char *ct, *bad;
    uint8_t *blob;
    size_t len = 0;
    char body[1024];

    create_key(f, "t", NULL);
    ct = tencrypt(f, "t", "integrity", NULL);
    blob = ct_blob(ct, 1, &len);
    blob[len - 1] ^= 0x01;
    bad = transit_ciphertext_format(1, blob, len);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", bad);
    terror(f, "POST", "decrypt/t", body, 400,
           "cipher: message authentication failed");
    free(bad);
    blob[len - 1] ^= 0x01;
    blob[12] ^= 0x80; /* ciphertext byte */
    bad = transit_ciphertext_format(1, blob, len);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", bad);
    terror(f, "POST", "decrypt/t", body, 400, "authentication failed");
    free(bad);
    terror(f, "POST", "decrypt/t", "{\"ciphertext\":\"v1:abcd\"}", 400,
           "no prefix");
    terror(f, "POST", "decrypt/t", "{\"ciphertext\":\"vault:vx:abcd\"}", 400,
           "could not decode version");
    terror(f, "POST", "decrypt/t", "{\"ciphertext\":\"vault:v1:@@@@\"}", 400,
           "base64");
    terror(f, "POST", "decrypt/t", "{\"ciphertext\":\"vault:v9:AAAA\"}", 400,
           "too new");
    terror(f, "POST", "decrypt/t", "{\"ciphertext\":\"vault:v1:AAAA\"}", 400,
           "authentication failed");
    terror(f, "POST", "encrypt/t", "{\"plaintext\":\"%%%\"}", 400,
           "base64-decode");
    terror(f, "POST", "decrypt/t", "{}", 400, "missing ciphertext");
    terror(f, "POST", "decrypt/nokey", "{\"ciphertext\":\"vault:v1:AAAA\"}",
           400, "encryption key not found");
    free(blob);
    free(ct);
}

/* Verify sig over msg with the PEM public key, with OpenSSL directly. */
static bool openssl_verify(const char *pem, const char *alg,
                           const uint8_t *sig, size_t sig_len,
                           const char *msg)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    bool ok;

    assert_non_null(pub);
    assert_int_equal(
        EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, pub), 1);
    if (strcmp(alg, "pss") == 0) {
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO), 1);
    }
    ok = EVP_DigestVerify(mctx, sig, sig_len, (const uint8_t *)msg,
                          strlen(msg)) == 1;
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(pub);
    BIO_free(bio);
    return ok;
}

/* sign then verify through the engine; with a wrong input, false. */
static char *sign_verify(struct tfix *f, const char *name, const char *extra)
{
    char body[2048], sub[64];
    char *in = tb64("sign me"), *other = tb64("sign you"), *sig;
    struct answer a;

    snprintf(sub, sizeof(sub), "sign/%s", name);
    snprintf(body, sizeof(body), "{\"input\":\"%s\"%s%s}", in,
             extra ? "," : "", extra ? extra : "");
    sig = tstring(f, "POST", sub, body, "signature");
    snprintf(sub, sizeof(sub), "verify/%s", name);
    snprintf(body, sizeof(body), "{\"input\":\"%s\",\"signature\":\"%s\"%s%s}",
             in, sig, extra ? "," : "", extra ? extra : "");
    a = texpect(f, "POST", sub, body, 200);
    assert_true(json_is_true(json_object_get(tdata(&a), "valid")));
    answer_free(&a);
    snprintf(body, sizeof(body), "{\"input\":\"%s\",\"signature\":\"%s\"%s%s}",
             other, sig, extra ? "," : "", extra ? extra : "");
    a = texpect(f, "POST", sub, body, 200);
    assert_true(json_is_false(json_object_get(tdata(&a), "valid")));
    answer_free(&a);
    free(in);
    free(other);
    return sig;
}

static char *public_key_of(struct tfix *f, const char *name)
{
    char sub[64];
    struct answer a;
    char *pem;

    snprintf(sub, sizeof(sub), "keys/%s", name);
    a = texpect(f, "GET", sub, NULL, 200);
    pem = strdup(json_string_value(json_object_get(
        json_object_get(json_object_get(tdata(&a), "keys"), "1"),
        "public_key")));
    answer_free(&a);
    return pem;
}

/* prehashed: the input is the SHA-256 digest of the message; OpenSSL
 * verifies the signature over the message itself. */
static void test_prehashed(struct tfix *f)
{
    uint8_t digest[32];
    unsigned int n = 0;
    char *b64, *sig, *pem, body[512];
    uint8_t *raw;
    size_t raw_len = 0;
    struct answer a;

    assert_int_equal(EVP_Digest("message", 7, digest, &n, EVP_sha256(), NULL),
                     1);
    b64 = transit_b64(digest, sizeof(digest));
    snprintf(body, sizeof(body), "{\"input\":\"%s\",\"prehashed\":true}",
             b64);
    sig = tstring(f, "POST", "sign/ec", body, "signature");
    pem = public_key_of(f, "ec");
    raw = ct_blob(sig, 1, &raw_len);
    assert_true(openssl_verify(pem, "asn1", raw, raw_len, "message"));
    snprintf(body, sizeof(body),
             "{\"input\":\"%s\",\"prehashed\":true,\"signature\":\"%s\"}",
             b64, sig);
    a = texpect(f, "POST", "verify/ec", body, 200);
    assert_true(json_is_true(json_object_get(tdata(&a), "valid")));
    answer_free(&a);
    terror(f, "POST", "sign/ec", "{\"input\":\"aGk=\",\"prehashed\":true}",
           400, "prehashed input must be");
    free(raw);
    free(pem);
    free(sig);
    free(b64);
}

/* Each signing type signs and verifies; ECDSA and RSA signatures verify
 * with OpenSSL directly from the published public key. */
static void test_sign_verify_each_type(void **state)
{
    struct tfix *f = *state;
    char *sig, *pem;
    uint8_t *raw;
    size_t raw_len = 0;

    create_key(f, "ec", "{\"type\":\"ecdsa-p256\"}");
    create_key(f, "ed", "{\"type\":\"ed25519\"}");
    create_key(f, "rsa", "{\"type\":\"rsa-2048\"}");
    create_key(f, "rsa4", "{\"type\":\"rsa-4096\"}");
    pem = public_key_of(f, "ec");
    sig = sign_verify(f, "ec", NULL);
    raw = ct_blob(sig, 1, &raw_len);
    assert_true(openssl_verify(pem, "asn1", raw, raw_len, "sign me"));
    free(raw);
    free(sig);
    free(pem);
    sig = sign_verify(f, "ec", "\"marshaling_algorithm\":\"jws\"");
    assert_null(strchr(sig + 9, '='));
    free(sig);
    sig = sign_verify(f, "ed", NULL);
    free(sig);
    pem = public_key_of(f, "rsa");
    sig = sign_verify(f, "rsa", NULL);
    raw = ct_blob(sig, 1, &raw_len);
    assert_int_equal(raw_len, 256);
    assert_true(openssl_verify(pem, "pss", raw, raw_len, "sign me"));
    free(raw);
    free(sig);
    sig = sign_verify(f, "rsa", "\"signature_algorithm\":\"pkcs1v15\"");
    raw = ct_blob(sig, 1, &raw_len);
    assert_true(openssl_verify(pem, "pkcs1v15", raw, raw_len, "sign me"));
    free(raw);
    free(sig);
    free(pem);
    sig = sign_verify(f, "rsa4", "\"hash_algorithm\":\"sha2-512\"");
    raw = ct_blob(sig, 1, &raw_len);
    assert_int_equal(raw_len, 512);
    free(raw);
    free(sig);
    test_prehashed(f);
    terror(f, "POST", "sign/ed", "{\"input\":\"aGk=\",\"prehashed\":true}",
           400, "prehashed");
    terror(f, "POST", "sign/ec", "{\"input\":\"aGk=\",\"hash_algorithm\":"
                                 "\"md5\"}",
           400, "unsupported hash");
    create_key(f, "aes", NULL);
    terror(f, "POST", "sign/aes", "{\"input\":\"aGk=\"}", 400,
           "does not support signing");
}

/* HMAC with an hmac key and with an AES key's HMAC key; the value
 * matches OpenSSL's HMAC under the exported hmac-key. */
static void test_hmac(void **state)
{
    struct tfix *f = *state;
    char *mac, *keyb64, body[512];
    uint8_t *key, *given, expect[64];
    size_t key_len = 0, given_len = 0;
    unsigned int expect_len = 0;
    struct answer a;

    create_key(f, "h", "{\"type\":\"hmac\",\"exportable\":true}");
    mac = tstring(f, "POST", "hmac/h", "{\"input\":\"aGVsbG8=\"}", "hmac");
    a = texpect(f, "GET", "export/hmac-key/h", NULL, 200);
    keyb64 = strdup(json_string_value(
        json_object_get(json_object_get(tdata(&a), "keys"), "1")));
    answer_free(&a);
    key = tunb64(keyb64, &key_len);
    assert_non_null(HMAC(EVP_sha256(), key, (int)key_len,
                         (const uint8_t *)"hello", 5, expect, &expect_len));
    given = ct_blob(mac, 1, &given_len);
    assert_int_equal(given_len, expect_len);
    assert_memory_equal(given, expect, expect_len);
    snprintf(body, sizeof(body), "{\"input\":\"aGVsbG8=\",\"hmac\":\"%s\"}",
             mac);
    a = texpect(f, "POST", "verify/h", body, 200);
    assert_true(json_is_true(json_object_get(tdata(&a), "valid")));
    answer_free(&a);
    snprintf(body, sizeof(body), "{\"input\":\"aGVsbE8=\",\"hmac\":\"%s\"}",
             mac);
    a = texpect(f, "POST", "verify/h", body, 200);
    assert_true(json_is_false(json_object_get(tdata(&a), "valid")));
    answer_free(&a);
    free(mac);
    /* sha2-512 from the path, on an AES key. */
    create_key(f, "a", NULL);
    mac = tstring(f, "POST", "hmac/a/sha2-512", "{\"input\":\"aGk=\"}",
                  "hmac");
    free(given);
    given = ct_blob(mac, 1, &given_len);
    assert_int_equal(given_len, 64);
    free(mac);
    free(given);
    kh_free_secret(key, key_len);
    free(keyb64);
}

/* Data keys: the wrapped form decrypts to the plaintext form; bits are
 * 128/256/512 only. */
static void test_datakey(void **state)
{
    struct tfix *f = *state;
    struct answer a;
    const char *plain, *ct;
    char body[1024];
    uint8_t *bytes;
    size_t len = 0;
    char *back;

    create_key(f, "kek", NULL);
    a = texpect(f, "POST", "datakey/plaintext/kek", "{\"bits\":512}", 200);
    plain = json_string_value(json_object_get(tdata(&a), "plaintext"));
    ct = json_string_value(json_object_get(tdata(&a), "ciphertext"));
    bytes = tunb64(plain, &len);
    assert_int_equal(len, 64);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", ct);
    back = tstring(f, "POST", "decrypt/kek", body, "plaintext");
    assert_string_equal(back, plain);
    free(back);
    free(bytes);
    answer_free(&a);
    a = texpect(f, "POST", "datakey/wrapped/kek", "{}", 200);
    assert_null(json_object_get(tdata(&a), "plaintext"));
    assert_non_null(json_object_get(tdata(&a), "ciphertext"));
    answer_free(&a);
    terror(f, "POST", "datakey/wrapped/kek", "{\"bits\":100}", 400,
           "invalid bits");
    terror(f, "POST", "datakey/other/kek", "{}", 400, "invalid type");
    terror(f, "POST", "datakey/wrapped/none", "{}", 400, "not found");
}

/* Export only when exportable; types must fit the key. */
static void test_export_rules(void **state)
{
    struct tfix *f = *state;
    struct answer a;

    create_key(f, "secret", NULL);
    terror(f, "GET", "export/encryption-key/secret", NULL, 400,
           "not exportable");
    create_key(f, "open", "{\"type\":\"ecdsa-p256\",\"exportable\":true}");
    a = texpect(f, "GET", "export/signing-key/open/1", NULL, 200);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_object_get(tdata(&a), "keys"), "1")),
                           "PRIVATE KEY"));
    answer_free(&a);
    terror(f, "GET", "export/encryption-key/open", NULL, 400, "not valid");
    terror(f, "GET", "export/signing-key/open/2", NULL, 400, "version");
    terror(f, "POST", "keys/open/config", "{\"exportable\":false}", 400,
           "cannot be disabled");
    /* Turning exportable on later is allowed. */
    tstatus(f, "POST", "keys/secret/config", "{\"exportable\":true}", 200);
    tstatus(f, "GET", "export/encryption-key/secret/latest", NULL, 200);
}

/* Delete only when deletion_allowed; afterwards the key is gone. */
static void test_delete_and_list(void **state)
{
    struct tfix *f = *state;
    struct answer a;

    tstatus(f, "LIST", "keys", NULL, 404);
    create_key(f, "d1", NULL);
    create_key(f, "d2", NULL);
    a = texpect(f, "LIST", "keys", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(tdata(&a), "keys")), 2);
    answer_free(&a);
    terror(f, "DELETE", "keys/d1", NULL, 400, "deletion is not allowed");
    tstatus(f, "POST", "keys/d1/config", "{\"deletion_allowed\":true}", 200);
    tstatus(f, "DELETE", "keys/d1", NULL, 204);
    tstatus(f, "GET", "keys/d1", NULL, 404);
    a = texpect(f, "LIST", "keys/", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(tdata(&a), "keys")), 1);
    answer_free(&a);
    tstatus(f, "GET", "keys/d2/rotate", NULL, 405);
    tstatus(f, "POST", "nothing/here", NULL, 404);
    tstatus(f, "GET", "encrypt/d2", NULL, 405);
}

/* Upsert: encrypt on a missing key creates it for a caller with create. */
static void test_encrypt_upsert(void **state)
{
    struct tfix *f = *state;
    char *ct = tencrypt(f, "fresh", "auto", NULL);
    char *pt = tdecrypt(f, "fresh", ct, NULL);

    assert_string_equal(pt, "auto");
    assert_int_equal(tkey_int(f, "fresh", "latest_version"), 1);
    free(pt);
    free(ct);
}

/* A key whose auto_rotate_period has passed rotates on its next use. */
static void test_auto_rotate(void **state)
{
    struct tfix *f = *state;
    struct transit_state *st = tfix_state(f);
    size_t i;
    char *ct;

    terror(f, "POST", "keys/ar", "{\"auto_rotate_period\":\"10m\"}", 400,
           "auto_rotate_period");
    create_key(f, "ar", "{\"auto_rotate_period\":\"1h\"}");
    assert_int_equal(tkey_int(f, "ar", "auto_rotate_period"), 3600);
    assert_int_equal(tkey_int(f, "ar", "latest_version"), 1);
    for (i = 0; i < TRANSIT_CACHE_KEYS_MAX; i++) {
        if (st->cache[i] != NULL && strcmp(st->cache[i]->name, "ar") == 0)
            st->cache[i]->versions[0].created_s -= 3601;
    }
    ct = tencrypt(f, "ar", "due", NULL);
    assert_int_equal(strncmp(ct, "vault:v2:", 9), 0);
    assert_int_equal(tkey_int(f, "ar", "latest_version"), 2);
    free(ct);
}

/* random/ and hash/ answer with the requested sizes and known sums. */
static void test_random_and_hash(void **state)
{
    struct tfix *f = *state;
    char *s;

    s = tstring(f, "POST", "random/16", "{\"format\":\"hex\"}",
                "random_bytes");
    assert_int_equal(strlen(s), 32);
    free(s);
    s = tstring(f, "POST", "random", "{}", "random_bytes");
    assert_int_equal(strlen(s), 44);
    free(s);
    s = tstring(f, "POST", "random/platform/8", "{}", "random_bytes");
    assert_int_equal(strlen(s), 12);
    free(s);
    s = tstring(f, "POST", "hash", "{\"input\":\"YWJj\"}", "sum");
    assert_string_equal(
        s, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(s);
    s = tstring(f, "POST", "hash/sha2-512",
                "{\"input\":\"YWJj\",\"format\":\"base64\"}", "sum");
    assert_int_equal(strlen(s), 88);
    free(s);
    terror(f, "POST", "hash/md5", "{\"input\":\"YWJj\"}", 400, "unsupported");
    terror(f, "POST", "random", "{\"format\":\"bin\"}", 400, "format");
}

/* Records survive a reload of the mount (the cache is rebuilt). */
static void test_reload_keeps_keys(void **state)
{
    struct tfix *f = *state;
    char *ct, *pt, *sig;

    create_key(f, "keep", NULL);
    create_key(f, "keep-ec", "{\"type\":\"ecdsa-p256\"}");
    tstatus(f, "POST", "keys/keep/rotate", NULL, 200);
    ct = tencrypt(f, "keep", "persist", NULL);
    sig = sign_verify(f, "keep-ec", NULL);
    tfix_mount(f);
    pt = tdecrypt(f, "keep", ct, NULL);
    assert_string_equal(pt, "persist");
    assert_int_equal(tkey_int(f, "keep", "latest_version"), 2);
    free(sign_verify(f, "keep-ec", NULL));
    free(sig);
    free(pt);
    free(ct);
}

/* More keys than the cache holds: every one still works. */
static void test_cache_eviction(void **state)
{
    struct tfix *f = *state;
    char name[32];
    char *ct[TRANSIT_CACHE_KEYS_MAX + 8];
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(ct); i++) {
        snprintf(name, sizeof(name), "k%zu", i);
        ct[i] = tencrypt(f, name, name, NULL);
    }
    for (i = 0; i < KH_ARRAY_LEN(ct); i++) {
        char *pt;
        snprintf(name, sizeof(name), "k%zu", i);
        pt = tdecrypt(f, name, ct[i], NULL);
        assert_string_equal(pt, name);
        free(pt);
        free(ct[i]);
    }
}

/* Managed keys are refused without the pkcs11 seal. */
static void test_managed_needs_pkcs11(void **state)
{
    struct tfix *f = *state;

    terror(f, "POST", "keys/m", "{\"managed_key\":true}", 400,
           "managed keys need the pkcs11 seal");
    tstatus(f, "GET", "keys/m", NULL, 404);
}

/* Plaintext size at max and max + 1. */
static void test_limit_plaintext(void **state)
{
    struct tfix *f = *state;
    size_t max = TRANSIT_PLAINTEXT_BYTES_MAX;
    uint8_t *plain = calloc(1, max + 1);
    char *b64, *body;
    size_t size;

    assert_non_null(plain);
    create_key(f, "big", NULL);
    size = kh_base64_encoded_len(max + 1) + 64;
    body = malloc(size);
    b64 = transit_b64(plain, max);
    snprintf(body, size, "{\"plaintext\":\"%s\"}", b64);
    tstatus(f, "POST", "encrypt/big", body, 200);
    free(b64);
    b64 = transit_b64(plain, max + 1);
    snprintf(body, size, "{\"plaintext\":\"%s\"}", b64);
    terror(f, "POST", "encrypt/big", body, 400, "larger than");
    free(b64);
    free(body);
    free(plain);
}

/* Batch size at max and max + 1. */
static void test_limit_batch(void **state)
{
    struct tfix *f = *state;
    size_t size = (TRANSIT_BATCH_ITEMS_MAX + 1) * 24 + 64, i, n;
    char *body = malloc(size);
    struct answer a;

    create_key(f, "bb", NULL);
    for (n = TRANSIT_BATCH_ITEMS_MAX; n <= TRANSIT_BATCH_ITEMS_MAX + 1; n++) {
        size_t off = (size_t)snprintf(body, size, "{\"batch_input\":[");
        for (i = 0; i < n; i++)
            off += (size_t)snprintf(body + off, size - off,
                                    "%s{\"plaintext\":\"aGk=\"}",
                                    i > 0 ? "," : "");
        snprintf(body + off, size - off, "]}");
        if (n == TRANSIT_BATCH_ITEMS_MAX) {
            a = texpect(f, "POST", "encrypt/bb", body, 200);
            assert_int_equal(
                json_array_size(json_object_get(tdata(&a), "batch_results")),
                TRANSIT_BATCH_ITEMS_MAX);
            answer_free(&a);
        } else {
            terror(f, "POST", "encrypt/bb", body, 400, "more than");
        }
    }
    free(body);
}

/* Key name length at max and max + 1, and its characters. */
static void test_limit_key_name(void **state)
{
    struct tfix *f = *state;
    char sub[TRANSIT_KEY_NAME_BYTES_MAX + 16];
    char name[TRANSIT_KEY_NAME_BYTES_MAX + 2];

    memset(name, 'n', TRANSIT_KEY_NAME_BYTES_MAX);
    name[TRANSIT_KEY_NAME_BYTES_MAX] = '\0';
    snprintf(sub, sizeof(sub), "keys/%s", name);
    tstatus(f, "POST", sub, NULL, 200);
    name[TRANSIT_KEY_NAME_BYTES_MAX] = 'n';
    name[TRANSIT_KEY_NAME_BYTES_MAX + 1] = '\0';
    snprintf(sub, sizeof(sub), "keys/%s", name);
    terror(f, "POST", sub, NULL, 400, "longer than");
    terror(f, "POST", "keys/a%20b", NULL, 400, "may contain only");
}

/* Key versions at max and max + 1. */
static void test_limit_versions(void **state)
{
    struct tfix *f = *state;
    size_t i;

    create_key(f, "many", NULL);
    for (i = 1; i < TRANSIT_KEY_VERSIONS_MAX; i++)
        tstatus(f, "POST", "keys/many/rotate", NULL, 200);
    assert_int_equal(tkey_int(f, "many", "latest_version"),
                     TRANSIT_KEY_VERSIONS_MAX);
    terror(f, "POST", "keys/many/rotate", NULL, 400, "has reached");
    tfix_mount(f);
    assert_int_equal(tkey_int(f, "many", "latest_version"),
                     TRANSIT_KEY_VERSIONS_MAX);
}

/* The ciphertext parser: exact prefixes, versions and payloads. */
static void test_ciphertext_parser(void **state)
{
    static const char *const bad[] = {
        "",          "vault:",        "vault:v",        "vault:v:",
        "vault:v0:AA==", "vault:v01:AA==", "vault:v1:",  "vault:v1",
        "vault:v4294967296:AA==", "vault:v-1:AA==", "vault:v1:A",
        "vault:V1:AA==",
    };
    char errmsg[KH_ERRMSG_SIZE];
    uint32_t version = 0;
    uint8_t *blob = NULL;
    size_t len = 0, i;
    char *text;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(bad); i++) {
        assert_int_equal(transit_ciphertext_parse(bad[i], &version, &blob,
                                                  &len, errmsg,
                                                  sizeof(errmsg)),
                         KH_EINVAL);
    }
    assert_int_equal(transit_ciphertext_parse("vault:v4294967295:AAEC",
                                              &version, &blob, &len, errmsg,
                                              sizeof(errmsg)),
                     0);
    assert_int_equal(version, 4294967295u);
    assert_int_equal(len, 3);
    text = transit_ciphertext_format(7, blob, len);
    assert_string_equal(text, "vault:v7:AAEC");
    free(text);
    free(blob);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_roundtrip_each_type),
        T(test_ciphertext_layout_known_answer),
        T(test_derived_context),
        T(test_rotate_rewrap_min_decryption),
        T(test_batch_partial_failure),
        T(test_tampered_ciphertext),
        T(test_sign_verify_each_type),
        T(test_hmac),
        T(test_datakey),
        T(test_export_rules),
        T(test_delete_and_list),
        T(test_encrypt_upsert),
        T(test_auto_rotate),
        T(test_random_and_hash),
        T(test_reload_keeps_keys),
        T(test_cache_eviction),
        T(test_managed_needs_pkcs11),
        T(test_limit_plaintext),
        T(test_limit_batch),
        T(test_limit_key_name),
        T(test_limit_versions),
        cmocka_unit_test(test_ciphertext_parser),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
