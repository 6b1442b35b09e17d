/*
 * test_hsm_pkcs11.c - the PKCS#11 backend against a real SoftHSM2.
 *
 * One private SoftHSM2 configuration per test binary (SoftHSM reads
 * SOFTHSM2_CONF at C_Initialize, and the backend initialises the module
 * once per process while a handle is open): the group setup creates a
 * fresh temp dir with softhsm2.conf and two tokens, "alpha" and "beta",
 * through hsm_pkcs11_init_token; each test uses its own key labels. The
 * few tests that need to reach behind the handle (closing every session,
 * creating a duplicate key, learning a slot id) talk PKCS#11 directly to
 * the same loaded module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define CRYPTOKI_GNU 1
#include <p11-kit-1/p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/secret.h"
#include "hsm.h"

#include "lib/fixture.h"

#define SO_PIN        "87654321"
#define USER_PIN      "123456"
#define THREAD_ROUNDS 200

static const char *const module_paths[] = {
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
};

struct fixture
{
    char *dir; /* fixture_tmp_make() */
    const char *lib;
};

static struct fixture fx;

static int write_conf(const char *dir)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/tokens", dir);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/softhsm2.conf", dir);
    f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f,
            "directories.tokendir = %s/tokens\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            dir);
    if (fclose(f) != 0)
        return -1;
    return setenv("SOFTHSM2_CONF", path, 1);
}

static int group_setup(void **state)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(module_paths) && fx.lib == NULL; i++) {
        if (access(module_paths[i], R_OK) == 0)
            fx.lib = module_paths[i];
    }
    if (fx.lib == NULL) {
        fprintf(stderr, "SoftHSM2 module not found (install softhsm2)\n");
        return -1;
    }
    if (fixture_tmp_make("kh-hsm", &fx.dir) != 0 || write_conf(fx.dir) != 0)
        return -1;
    if (hsm_pkcs11_init_token(fx.lib, "alpha", SO_PIN, USER_PIN, errmsg,
                              sizeof(errmsg)) != 0 ||
        hsm_pkcs11_init_token(fx.lib, "beta", SO_PIN, USER_PIN, errmsg,
                              sizeof(errmsg)) != 0) {
        fprintf(stderr, "init token: %s\n", errmsg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    (void)fixture_tmp_remove(fx.dir);
    fx.dir = NULL;
    return 0;
}

static struct hsm_pkcs11_params
params_for(const char *token, const char *key_label, enum hsm_mechanism mech)
{
    struct hsm_pkcs11_params p = {
        .lib = fx.lib,
        .slot = -1,
        .token_label = token,
        .pin = USER_PIN,
        .key_label = key_label,
        .mechanism = mech,
        .generate_key = true,
    };
    return p;
}

static struct hsm *open_ok(const char *token, const char *key_label,
                           enum hsm_mechanism mech)
{
    struct hsm_pkcs11_params p = params_for(token, key_label, mech);
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct hsm *hsm = NULL;
    int r;

    r = hsm_pkcs11_open(&p, &hsm, errmsg, sizeof(errmsg));
    if (r != 0)
        fail_msg("hsm_pkcs11_open(%s, %s): %d %s", token, key_label, r, errmsg);
    assert_non_null(hsm);
    return hsm;
}

static void wrap_ok(struct hsm *hsm, const char *aad, const uint8_t *secret,
                    size_t len, uint8_t **blob, size_t *blob_len)
{
    assert_int_equal(hsm_wrap(hsm, (const uint8_t *)aad, strlen(aad), secret,
                              len, blob, blob_len),
                     0);
    assert_true(*blob_len <= len + HSM_WRAP_OVERHEAD);
}

static bool all_zero(const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i] != 0)
            return false;
    }
    return true;
}

/* Unwrap must fail; returns the code and checks out was wiped. */
static int unwrap_fails(struct hsm *hsm, const char *aad, const uint8_t *blob,
                        size_t blob_len)
{
    uint8_t out[HSM_SECRET_BYTES_MAX];
    size_t out_len = 12345;
    int r;

    memset(out, 0xa5, sizeof(out));
    r = hsm_unwrap(hsm, (const uint8_t *)aad, strlen(aad), blob, blob_len, out,
                   sizeof(out), &out_len);
    assert_int_not_equal(r, 0);
    assert_true(all_zero(out, sizeof(out)));
    assert_int_equal(out_len, 12345);
    return r;
}

static void round_trip(enum hsm_mechanism mech, const char *key_label)
{
    static const size_t lens[] = {1, 7, 32, 33, HSM_SECRET_BYTES_MAX};
    uint8_t secret[HSM_SECRET_BYTES_MAX], out[HSM_SECRET_BYTES_MAX];
    struct hsm *hsm = open_ok("alpha", key_label, mech);
    uint8_t *blob = NULL;
    size_t i, blob_len = 0, out_len = 0;

    for (i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(i * 7 + 3);
    for (i = 0; i < KH_ARRAY_LEN(lens); i++) {
        wrap_ok(hsm, "core/root-key", secret, lens[i], &blob, &blob_len);
        assert_int_equal(blob[0], 1);
        assert_int_equal(blob[1], (int)mech);
        assert_int_equal(hsm_unwrap(hsm, (const uint8_t *)"core/root-key", 13,
                                    blob, blob_len, out, sizeof(out), &out_len),
                         0);
        assert_int_equal(out_len, lens[i]);
        assert_memory_equal(out, secret, lens[i]);
        free(blob);
    }
    /* Empty AAD works too. */
    assert_int_equal(hsm_wrap(hsm, NULL, 0, secret, 32, &blob, &blob_len), 0);
    assert_int_equal(
        hsm_unwrap(hsm, NULL, 0, blob, blob_len, out, sizeof(out), &out_len),
        0);
    assert_memory_equal(out, secret, 32);
    free(blob);
    hsm_close(hsm);
}

/* hsm_pkcs11_init_token makes a usable token and refuses a duplicate
 * label. */
static void test_init_token(void **state)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct hsm *hsm;

    (void)state;
    assert_int_equal(hsm_pkcs11_init_token(fx.lib, "gamma", SO_PIN, USER_PIN,
                                           errmsg, sizeof(errmsg)),
                     0);
    hsm = open_ok("gamma", "kek-init", HSM_MECH_AES_GCM);
    assert_int_equal(hsm_ping(hsm), 0);
    hsm_close(hsm);
    assert_int_equal(hsm_pkcs11_init_token(fx.lib, "gamma", SO_PIN, USER_PIN,
                                           errmsg, sizeof(errmsg)),
                     KH_EHSM);
    assert_non_null(strstr(errmsg, "already exists"));
    assert_int_equal(
        hsm_pkcs11_init_token(fx.lib, "a-label-longer-than-thirty-two-bytes",
                              SO_PIN, USER_PIN, errmsg, sizeof(errmsg)),
        KH_EINVAL);
}

/* A generated KEK is a persistent, sensitive, never-extractable AES-256
 * key. */
static void test_generated_key_attributes(void **state)
{
    struct hsm *hsm = open_ok("alpha", "kek-attr", HSM_MECH_AES_GCM);
    struct hsm_key_attributes a;

    (void)state;
    memset(&a, 0xff, sizeof(a));
    assert_int_equal(hsm_key_attributes(hsm, &a), 0);
    assert_true(a.sensitive);
    assert_false(a.extractable);
    assert_true(a.never_extractable);
    assert_true(a.token_object);
    assert_int_equal(a.value_len, 32);
    assert_string_equal(hsm_backend_name(hsm), "pkcs11");
    assert_int_equal(hsm_ping(hsm), 0);
    hsm_close(hsm);
}

/* AES-GCM wraps and unwraps secrets of 1..256 bytes. */
static void test_gcm_round_trip(void **state)
{
    (void)state;
    round_trip(HSM_MECH_AES_GCM, "kek-gcm");
}

/* AES key wrap with padding wraps and unwraps secrets of 1..256 bytes. */
static void test_kwp_round_trip(void **state)
{
    (void)state;
    round_trip(HSM_MECH_AES_KEY_WRAP_PAD, "kek-kwp");
}

/* GCM uses a fresh IV per wrap: two wraps of one secret differ. */
static void test_gcm_fresh_iv(void **state)
{
    struct hsm *hsm = open_ok("alpha", "kek-gcm", HSM_MECH_AES_GCM);
    uint8_t secret[32] = {1, 2, 3};
    uint8_t *a = NULL, *b = NULL;
    size_t a_len = 0, b_len = 0;

    (void)state;
    wrap_ok(hsm, "x", secret, sizeof(secret), &a, &a_len);
    wrap_ok(hsm, "x", secret, sizeof(secret), &b, &b_len);
    assert_int_equal(a_len, 2 + 12 + 32 + 16);
    assert_int_equal(a_len, b_len);
    assert_memory_not_equal(a + 2, b + 2, 12);
    free(a);
    free(b);
    hsm_close(hsm);
}

static void wrong_aad(enum hsm_mechanism mech, const char *key_label)
{
    struct hsm *hsm = open_ok("alpha", key_label, mech);
    uint8_t secret[32] = {9, 8, 7};
    uint8_t *blob = NULL;
    size_t blob_len = 0;

    wrap_ok(hsm, "core/root-key", secret, sizeof(secret), &blob, &blob_len);
    assert_int_equal(unwrap_fails(hsm, "core/root-kez", blob, blob_len),
                     KH_ECORRUPT);
    assert_int_equal(unwrap_fails(hsm, "", blob, blob_len), KH_ECORRUPT);
    free(blob);
    hsm_close(hsm);
}

/* The AAD is bound: a different AAD fails authentication (GCM). */
static void test_gcm_wrong_aad(void **state)
{
    (void)state;
    wrong_aad(HSM_MECH_AES_GCM, "kek-gcm");
}

/* The AAD is bound: a different AAD fails authentication (KWP). */
static void test_kwp_wrong_aad(void **state)
{
    (void)state;
    wrong_aad(HSM_MECH_AES_KEY_WRAP_PAD, "kek-kwp");
}

static void bit_flips(enum hsm_mechanism mech, const char *key_label)
{
    struct hsm *hsm = open_ok("alpha", key_label, mech);
    uint8_t secret[32];
    uint8_t *blob = NULL;
    size_t blob_len = 0, i;
    int bit;

    memset(secret, 0x42, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    for (i = 0; i < blob_len; i++) {
        for (bit = 0; bit < 8; bit++) {
            blob[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(unwrap_fails(hsm, "aad", blob, blob_len),
                             KH_ECORRUPT);
            blob[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(blob);
    hsm_close(hsm);
}

/* Every single-bit flip anywhere in a GCM blob is KH_ECORRUPT. */
static void test_gcm_bit_flips(void **state)
{
    (void)state;
    bit_flips(HSM_MECH_AES_GCM, "kek-gcm");
}

/* Every single-bit flip anywhere in a KWP blob is KH_ECORRUPT. */
static void test_kwp_bit_flips(void **state)
{
    (void)state;
    bit_flips(HSM_MECH_AES_KEY_WRAP_PAD, "kek-kwp");
}

static void truncations(enum hsm_mechanism mech, const char *key_label)
{
    struct hsm *hsm = open_ok("alpha", key_label, mech);
    uint8_t secret[32], longer[32 + HSM_WRAP_OVERHEAD + 1];
    uint8_t *blob = NULL;
    size_t blob_len = 0, len;

    memset(secret, 0x17, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    for (len = 0; len < blob_len; len++)
        assert_int_equal(unwrap_fails(hsm, "aad", blob, len), KH_ECORRUPT);
    memcpy(longer, blob, blob_len);
    memset(longer + blob_len, 0, sizeof(longer) - blob_len);
    for (len = blob_len + 1; len <= sizeof(longer); len++)
        assert_int_equal(unwrap_fails(hsm, "aad", longer, len), KH_ECORRUPT);
    free(blob);
    hsm_close(hsm);
}

/* A truncated or extended GCM blob is KH_ECORRUPT. */
static void test_gcm_truncated(void **state)
{
    (void)state;
    truncations(HSM_MECH_AES_GCM, "kek-gcm");
}

/* A truncated or extended KWP blob is KH_ECORRUPT. */
static void test_kwp_truncated(void **state)
{
    (void)state;
    truncations(HSM_MECH_AES_KEY_WRAP_PAD, "kek-kwp");
}

/* A blob names its mechanism: a handle configured for KWP still opens a
 * GCM blob under the same key, and the reverse. */
static void test_mechanism_follows_blob(void **state)
{
    struct hsm *gcm = open_ok("alpha", "kek-mixed", HSM_MECH_AES_GCM);
    struct hsm *kwp = open_ok("alpha", "kek-mixed", HSM_MECH_AES_KEY_WRAP_PAD);
    uint8_t secret[32] = {5}, out[64];
    uint8_t *a = NULL, *b = NULL;
    size_t a_len = 0, b_len = 0, out_len = 0;

    (void)state;
    wrap_ok(gcm, "m", secret, sizeof(secret), &a, &a_len);
    wrap_ok(kwp, "m", secret, sizeof(secret), &b, &b_len);
    assert_int_equal(hsm_unwrap(kwp, (const uint8_t *)"m", 1, a, a_len, out,
                                sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, sizeof(secret));
    assert_int_equal(hsm_unwrap(gcm, (const uint8_t *)"m", 1, b, b_len, out,
                                sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, sizeof(secret));
    free(a);
    free(b);
    hsm_close(gcm);
    hsm_close(kwp);
}

/* An output buffer smaller than the secret is KH_EINVAL, wiped. */
static void test_unwrap_out_too_small(void **state)
{
    struct hsm *hsm = open_ok("alpha", "kek-gcm", HSM_MECH_AES_GCM);
    uint8_t secret[32] = {1}, out[31];
    uint8_t *blob = NULL;
    size_t blob_len = 0, out_len = 0;

    (void)state;
    wrap_ok(hsm, "", secret, sizeof(secret), &blob, &blob_len);
    memset(out, 0xa5, sizeof(out));
    assert_int_equal(
        hsm_unwrap(hsm, NULL, 0, blob, blob_len, out, sizeof(out), &out_len),
        KH_EINVAL);
    assert_true(all_zero(out, sizeof(out)));
    assert_int_equal(hsm_wrap(hsm, NULL, 0, secret, 0, &blob, &blob_len),
                     KH_EINVAL);
    free(blob);
    hsm_close(hsm);
}

static int open_fails(const struct hsm_pkcs11_params *p, char *errmsg,
                      size_t errmsg_size)
{
    struct hsm *hsm = NULL;
    int r;

    r = hsm_pkcs11_open(p, &hsm, errmsg, errmsg_size);
    assert_int_not_equal(r, 0);
    assert_null(hsm);
    return r;
}

/* A wrong PIN is KH_EAUTH (never retried), and the message says so. */
static void test_wrong_pin(void **state)
{
    struct hsm_pkcs11_params p =
        params_for("alpha", "kek-attr", HSM_MECH_AES_GCM);
    char errmsg[KH_ERRMSG_SIZE] = "";

    (void)state;
    p.pin = "654321";
    assert_int_equal(open_fails(&p, errmsg, sizeof(errmsg)), KH_EAUTH);
    assert_non_null(strstr(errmsg, "PIN"));
    assert_non_null(strstr(errmsg, "CKR_PIN_INCORRECT"));
    assert_null(strstr(errmsg, "654321"));
}

/* A missing key without generate_key is KH_EHSM naming the label. */
static void test_missing_key(void **state)
{
    struct hsm_pkcs11_params p =
        params_for("alpha", "no-such-key", HSM_MECH_AES_GCM);
    char errmsg[KH_ERRMSG_SIZE] = "";

    (void)state;
    p.generate_key = false;
    assert_int_equal(open_fails(&p, errmsg, sizeof(errmsg)), KH_EHSM);
    assert_non_null(strstr(errmsg, "no key labelled \"no-such-key\""));
    assert_non_null(strstr(errmsg, "generate_key"));
}

/* An unknown token label is KH_EHSM naming label and module. */
static void test_unknown_token(void **state)
{
    struct hsm_pkcs11_params p = params_for("delta", "kek", HSM_MECH_AES_GCM);
    char errmsg[KH_ERRMSG_SIZE] = "";

    (void)state;
    assert_int_equal(open_fails(&p, errmsg, sizeof(errmsg)), KH_EHSM);
    assert_non_null(strstr(errmsg, "no token labelled \"delta\""));
    assert_non_null(strstr(errmsg, fx.lib));
}

/* A module that does not exist is KH_EHSM naming the path. */
static void test_missing_library(void **state)
{
    struct hsm_pkcs11_params p = params_for("alpha", "kek", HSM_MECH_AES_GCM);
    char errmsg[KH_ERRMSG_SIZE] = "";

    (void)state;
    p.lib = "/nonexistent/libnothing-pkcs11.so";
    assert_int_equal(open_fails(&p, errmsg, sizeof(errmsg)), KH_EHSM);
    assert_non_null(strstr(errmsg, "/nonexistent/libnothing-pkcs11.so"));
    assert_int_equal(hsm_pkcs11_init_token(p.lib, "x", SO_PIN, USER_PIN, errmsg,
                                           sizeof(errmsg)),
                     KH_EHSM);
}

/* The KEK persists: a blob wrapped before closing unwraps after the
 * module was finalised and loaded again. */
static void test_key_survives_reopen(void **state)
{
    struct hsm_pkcs11_params p =
        params_for("alpha", "kek-persist", HSM_MECH_AES_GCM);
    char errmsg[KH_ERRMSG_SIZE] = "";
    uint8_t secret[32], out[32];
    struct hsm *hsm;
    uint8_t *blob = NULL;
    size_t blob_len = 0, out_len = 0;

    (void)state;
    memset(secret, 0x5c, sizeof(secret));
    hsm = open_ok("alpha", "kek-persist", HSM_MECH_AES_GCM);
    wrap_ok(hsm, "persist", secret, sizeof(secret), &blob, &blob_len);
    hsm_close(hsm);
    p.generate_key = false;
    assert_int_equal(hsm_pkcs11_open(&p, &hsm, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(hsm_unwrap(hsm, (const uint8_t *)"persist", 7, blob,
                                blob_len, out, sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, sizeof(secret));
    free(blob);
    hsm_close(hsm);
}

/* A blob from one token's key does not open with another token's key of
 * the same label, nor with another key on the same token. */
static void test_cross_token(void **state)
{
    struct hsm *a = open_ok("alpha", "kek-cross", HSM_MECH_AES_GCM);
    struct hsm *b = open_ok("beta", "kek-cross", HSM_MECH_AES_GCM);
    struct hsm *c = open_ok("alpha", "kek-cross-2", HSM_MECH_AES_GCM);
    struct hsm *kb =
        open_ok("beta", "kek-cross-kwp", HSM_MECH_AES_KEY_WRAP_PAD);
    struct hsm *kc =
        open_ok("alpha", "kek-cross-kwp", HSM_MECH_AES_KEY_WRAP_PAD);
    uint8_t secret[32] = {1, 1, 2, 3, 5, 8};
    uint8_t *blob = NULL;
    size_t blob_len = 0;

    (void)state;
    wrap_ok(a, "c", secret, sizeof(secret), &blob, &blob_len);
    assert_int_equal(unwrap_fails(b, "c", blob, blob_len), KH_ECORRUPT);
    assert_int_equal(unwrap_fails(c, "c", blob, blob_len), KH_ECORRUPT);
    free(blob);
    wrap_ok(kb, "c", secret, sizeof(secret), &blob, &blob_len);
    assert_int_equal(unwrap_fails(kc, "c", blob, blob_len), KH_ECORRUPT);
    free(blob);
    hsm_close(a);
    hsm_close(b);
    hsm_close(c);
    hsm_close(kb);
    hsm_close(kc);
}

/* Two handles on one token work at once, and closing one (no C_Logout
 * while another handle is open) leaves the other logged in. */
static void test_two_handles(void **state)
{
    struct hsm *a = open_ok("alpha", "kek-two-a", HSM_MECH_AES_GCM);
    struct hsm *b = open_ok("alpha", "kek-two-b", HSM_MECH_AES_KEY_WRAP_PAD);
    uint8_t secret[32] = {4, 2}, out[32];
    uint8_t *blob = NULL;
    size_t blob_len = 0, out_len = 0;

    (void)state;
    wrap_ok(a, "two", secret, sizeof(secret), &blob, &blob_len);
    free(blob);
    wrap_ok(b, "two", secret, sizeof(secret), &blob, &blob_len);
    hsm_close(a);
    assert_int_equal(hsm_ping(b), 0);
    assert_int_equal(hsm_unwrap(b, (const uint8_t *)"two", 3, blob, blob_len,
                                out, sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, sizeof(secret));
    free(blob);
    hsm_close(b);
}

struct worker
{
    struct hsm *hsm;
    uint8_t tag;
    int failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    uint8_t secret[32], out[32];
    uint8_t *blob;
    size_t blob_len, out_len;
    int i;

    for (i = 0; i < THREAD_ROUNDS; i++) {
        memset(secret, w->tag ^ (uint8_t)i, sizeof(secret));
        blob = NULL;
        if (hsm_wrap(w->hsm, &w->tag, 1, secret, sizeof(secret), &blob,
                     &blob_len) != 0 ||
            hsm_unwrap(w->hsm, &w->tag, 1, blob, blob_len, out, sizeof(out),
                       &out_len) != 0 ||
            out_len != sizeof(secret) ||
            memcmp(out, secret, sizeof(secret)) != 0)
            w->failures++;
        free(blob);
    }
    return NULL;
}

/* Threads sharing one handle, and threads on two handles, all succeed
 * (the handle serialises its session). */
static void test_threads(void **state)
{
    struct hsm *a = open_ok("alpha", "kek-threads", HSM_MECH_AES_GCM);
    struct hsm *b = open_ok("beta", "kek-threads", HSM_MECH_AES_KEY_WRAP_PAD);
    struct worker w[4] = {{a, 1, 0}, {a, 2, 0}, {b, 3, 0}, {b, 4, 0}};
    pthread_t t[4];
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(w); i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    for (i = 0; i < KH_ARRAY_LEN(w); i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    hsm_close(a);
    hsm_close(b);
}

/* ---- direct PKCS#11 access to the loaded module ------------------- */

struct raw
{
    void *dl;
    struct ck_function_list *fn;
};

/* The module as the backend loaded it (dlopen shares the instance); the
 * caller keeps a handle open so it is initialised. */
static struct raw raw_open(void)
{
    struct raw raw;
    CK_C_GetFunctionList get_list;

    raw.dl = dlopen(fx.lib, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(raw.dl);
    *(void **)&get_list = dlsym(raw.dl, "C_GetFunctionList");
    assert_non_null(get_list);
    assert_int_equal(get_list(&raw.fn), CKR_OK);
    return raw;
}

static ck_slot_id_t raw_slot(struct raw *raw, const char *label)
{
    ck_slot_id_t slots[16];
    struct ck_token_info info;
    unsigned long count = KH_ARRAY_LEN(slots), i;
    unsigned char padded[32];

    memset(padded, ' ', sizeof(padded));
    memcpy(padded, label, strlen(label));
    assert_int_equal(raw->fn->C_GetSlotList(1, slots, &count), CKR_OK);
    for (i = 0; i < count; i++) {
        assert_int_equal(raw->fn->C_GetTokenInfo(slots[i], &info), CKR_OK);
        if (memcmp(info.label, padded, sizeof(padded)) == 0)
            return slots[i];
    }
    fail_msg("no token %s", label);
    return 0;
}

/* When the token drops every session (and with it the login), the next
 * call reopens the session, logs in again and succeeds. */
static void test_session_recovery(void **state)
{
    struct hsm *hsm = open_ok("alpha", "kek-recover", HSM_MECH_AES_GCM);
    struct raw raw = raw_open();
    uint8_t secret[32] = {7, 7, 7}, out[32];
    uint8_t *blob = NULL;
    size_t blob_len = 0, out_len = 0;
    struct hsm_key_attributes attrs;

    (void)state;
    wrap_ok(hsm, "r", secret, sizeof(secret), &blob, &blob_len);
    assert_int_equal(raw.fn->C_CloseAllSessions(raw_slot(&raw, "alpha")),
                     CKR_OK);
    assert_int_equal(hsm_unwrap(hsm, (const uint8_t *)"r", 1, blob, blob_len,
                                out, sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, sizeof(secret));
    free(blob);
    assert_int_equal(raw.fn->C_CloseAllSessions(raw_slot(&raw, "alpha")),
                     CKR_OK);
    assert_int_equal(hsm_ping(hsm), 0);
    assert_int_equal(raw.fn->C_CloseAllSessions(raw_slot(&raw, "alpha")),
                     CKR_OK);
    assert_int_equal(hsm_key_attributes(hsm, &attrs), 0);
    assert_true(attrs.never_extractable);
    assert_int_equal(raw.fn->C_CloseAllSessions(raw_slot(&raw, "alpha")),
                     CKR_OK);
    wrap_ok(hsm, "r", secret, sizeof(secret), &blob, &blob_len);
    free(blob);
    hsm_close(hsm);
    (void)dlclose(raw.dl);
}

/* Create a token AES key labelled label through a raw session. */
static void raw_make_key(struct raw *raw, ck_slot_id_t slot, const char *label)
{
    ck_object_class_t class = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_AES;
    unsigned long value_len = 32;
    unsigned char yes = 1;
    struct ck_attribute tmpl[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    struct ck_mechanism mech = {CKM_AES_KEY_GEN, NULL, 0};
    ck_session_handle_t session;
    ck_object_handle_t key;
    ck_rv_t rv;

    assert_int_equal(raw->fn->C_OpenSession(slot,
                                            CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                            NULL, NULL, &session),
                     CKR_OK);
    rv = raw->fn->C_Login(session, CKU_USER, (unsigned char *)USER_PIN,
                          strlen(USER_PIN));
    assert_true(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN);
    assert_int_equal(
        raw->fn->C_GenerateKey(session, &mech, tmpl, KH_ARRAY_LEN(tmpl), &key),
        CKR_OK);
    assert_int_equal(raw->fn->C_CloseSession(session), CKR_OK);
}

/* Two keys with the same label are refused rather than guessed at. */
static void test_duplicate_key_label(void **state)
{
    struct hsm *keep = open_ok("beta", "kek-keep", HSM_MECH_AES_GCM);
    struct hsm_pkcs11_params p =
        params_for("beta", "kek-dup", HSM_MECH_AES_GCM);
    struct raw raw = raw_open();
    char errmsg[KH_ERRMSG_SIZE] = "";
    ck_slot_id_t slot = raw_slot(&raw, "beta");

    (void)state;
    raw_make_key(&raw, slot, "kek-dup");
    raw_make_key(&raw, slot, "kek-dup");
    assert_int_equal(open_fails(&p, errmsg, sizeof(errmsg)), KH_EHSM);
    assert_non_null(strstr(errmsg, "more than one"));
    (void)dlclose(raw.dl);
    hsm_close(keep);
}

/* A token can be chosen by slot id; a slot that does not exist is
 * KH_EHSM. */
static void test_open_by_slot(void **state)
{
    struct hsm *keep = open_ok("beta", "kek-slot", HSM_MECH_AES_GCM);
    struct hsm_pkcs11_params p = params_for(NULL, "kek-slot", HSM_MECH_AES_GCM);
    struct raw raw = raw_open();
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct hsm *hsm = NULL;
    uint8_t secret[16] = {3}, out[16];
    uint8_t *blob = NULL;
    size_t blob_len = 0, out_len = 0;

    (void)state;
    p.slot = (long)raw_slot(&raw, "beta");
    p.generate_key = false;
    assert_int_equal(hsm_pkcs11_open(&p, &hsm, errmsg, sizeof(errmsg)), 0);
    wrap_ok(hsm, "s", secret, sizeof(secret), &blob, &blob_len);
    assert_int_equal(hsm_unwrap(keep, (const uint8_t *)"s", 1, blob, blob_len,
                                out, sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, sizeof(secret));
    free(blob);
    hsm_close(hsm);
    p.slot = 0x7ffffff0;
    assert_int_equal(open_fails(&p, errmsg, sizeof(errmsg)), KH_EHSM);
    assert_non_null(strstr(errmsg, "slot"));
    (void)dlclose(raw.dl);
    hsm_close(keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_token),
        cmocka_unit_test(test_generated_key_attributes),
        cmocka_unit_test(test_gcm_round_trip),
        cmocka_unit_test(test_kwp_round_trip),
        cmocka_unit_test(test_gcm_fresh_iv),
        cmocka_unit_test(test_gcm_wrong_aad),
        cmocka_unit_test(test_kwp_wrong_aad),
        cmocka_unit_test(test_gcm_bit_flips),
        cmocka_unit_test(test_kwp_bit_flips),
        cmocka_unit_test(test_gcm_truncated),
        cmocka_unit_test(test_kwp_truncated),
        cmocka_unit_test(test_mechanism_follows_blob),
        cmocka_unit_test(test_unwrap_out_too_small),
        cmocka_unit_test(test_wrong_pin),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_unknown_token),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_key_survives_reopen),
        cmocka_unit_test(test_cross_token),
        cmocka_unit_test(test_two_handles),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_session_recovery),
        cmocka_unit_test(test_duplicate_key_label),
        cmocka_unit_test(test_open_by_slot),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
