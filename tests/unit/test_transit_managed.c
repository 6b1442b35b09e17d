/*
 * test_transit_managed.c - managed transit keys (managed_key=true)
 * against a real SoftHSM2 token in a temporary directory, through a real
 * pkcs11 seal (seal_open) held by a core, as keyholdd runs them; and the
 * named-key calls of the hardware layer (hsm.h) underneath.
 *
 * Covers: the token object's attributes read back (sensitive, never
 * extractable, persistent, 32 bytes), encrypt/decrypt/rewrap/datakey
 * inside the token, the ciphertext layout (fixed field | counter IV),
 * use counts per version, IV reservations surviving a reload (counters
 * resume above the reservation, never repeat), rotation creating a new
 * token object, tamper detection, deletion destroying the objects, the
 * per-version use limit, refusals (types, exportable, hmac, sign),
 * hsm_key_* argument and conflict handling, and disabling the mount: the
 * disable hook destroys every version's token object, logs objects
 * already gone and every label it could not destroy, and the mount table
 * disables the mount even then (its data cleared, the labels logged).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>

#include "config/config.h"
#include "core/core.h"
#include "hsm.h"
#include "seal/seal_backends.h"
#include "transit_harness.h"

#define SO_PIN   "87654321"
#define USER_PIN "123456"
#define TOKEN    "transit-test"

static const char *const module_paths[] = {
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
};

struct group
{
    char dir[PATH_MAX];
    const char *lib;
    struct seal *seal;
    struct kh_core *core; /* only lock and seal are used */
};

static struct group grp;

static int write_conf(const char *dir)
{
    char path[PATH_MAX + 32];
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

static int open_seal(void)
{
    static char k_lib[] = "lib", k_token[] = "token_label", k_pin[] = "pin",
                k_key[] = "key_label", k_gen[] = "generate_key",
                v_token[] = TOKEN, v_pin[] = USER_PIN, v_key[] = "seal-kek",
                v_gen[] = "true", type[] = "pkcs11";
    struct kh_config_stanza stanza;
    char errmsg[KH_ERRMSG_SIZE] = "";

    memset(&stanza, 0, sizeof(stanza));
    stanza.type = type;
    stanza.params[0] = (struct kh_config_param){k_lib, (char *)grp.lib};
    stanza.params[1] = (struct kh_config_param){k_token, v_token};
    stanza.params[2] = (struct kh_config_param){k_pin, v_pin};
    stanza.params[3] = (struct kh_config_param){k_key, v_key};
    stanza.params[4] = (struct kh_config_param){k_gen, v_gen};
    stanza.param_count = 5;
    if (seal_open(&stanza, &grp.seal, errmsg, sizeof(errmsg)) != 0) {
        fprintf(stderr, "seal_open: %s\n", errmsg);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(module_paths) && grp.lib == NULL; i++) {
        if (access(module_paths[i], R_OK) == 0)
            grp.lib = module_paths[i];
    }
    if (grp.lib == NULL) {
        fprintf(stderr, "SoftHSM2 module not found (install softhsm2)\n");
        return -1;
    }
    tfix_tmpdir(grp.dir, sizeof(grp.dir), "transit-hsm");
    if (write_conf(grp.dir) != 0)
        return -1;
    if (hsm_pkcs11_init_token(grp.lib, TOKEN, SO_PIN, USER_PIN, errmsg,
                              sizeof(errmsg)) != 0) {
        fprintf(stderr, "init token: %s\n", errmsg);
        return -1;
    }
    if (open_seal() != 0)
        return -1;
    grp.core = calloc(1, sizeof(*grp.core));
    if (grp.core == NULL || pthread_mutex_init(&grp.core->lock, NULL) != 0)
        return -1;
    grp.core->seal = grp.seal;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (grp.core != NULL) {
        pthread_mutex_destroy(&grp.core->lock);
        free(grp.core);
    }
    seal_close(grp.seal);
    if (grp.dir[0] != '\0')
        (void)nftw(grp.dir, tfix_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int setup(void **state)
{
    struct tfix *f = tfix_open();

    f->core = grp.core;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    tfix_close(*state);
    return 0;
}

static struct hsm *hsm_of(void)
{
    struct hsm *hsm = seal_pkcs11_hsm(grp.seal);

    assert_non_null(hsm);
    return hsm;
}

static void label_of(const char *name, unsigned version, char *out,
                     size_t size)
{
    snprintf(out, size, TRANSIT_LABEL_PREFIX "%s-%s-v%u", TFIX_UUID, name,
             version);
}

/* managed_key_uses[version] of GET keys/name. */
static json_int_t uses_of(struct tfix *f, const char *name, unsigned version)
{
    char sub[96], num[16];
    struct answer a;
    json_int_t n;

    snprintf(sub, sizeof(sub), "keys/%s", name);
    snprintf(num, sizeof(num), "%u", version);
    a = texpect(f, "GET", sub, NULL, 200);
    n = json_integer_value(
        json_object_get(json_object_get(tdata(&a), "managed_key_uses"), num));
    answer_free(&a);
    return n;
}

/* The 64-bit counter of a managed ciphertext's IV. */
static uint64_t iv_counter(const char *ct)
{
    size_t len = 0, i;
    uint8_t *blob = tunb64(strchr(ct + 7, ':') + 1, &len);
    uint64_t counter = 0;

    assert_true(len >= 12 + 16);
    for (i = 4; i < 12; i++)
        counter = counter << 8 | blob[i];
    free(blob);
    return counter;
}

/* A managed key lives in the token: attributes show it sensitive and
 * never extractable; encrypt/decrypt happen there; uses are counted and
 * IVs are the counter. */
static void test_managed_roundtrip_attributes(void **state)
{
    struct tfix *f = *state;
    struct hsm_key_attributes attrs;
    char label[TRANSIT_LABEL_BYTES];
    struct answer a;
    char *ct1, *ct2, *pt;

    a = texpect(f, "POST", "keys/hk", "{\"managed_key\":true}", 200);
    assert_true(json_is_true(json_object_get(tdata(&a), "managed_key")));
    label_of("hk", 1, label, sizeof(label));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(tdata(&a), "managed_key_labels"),
                            "1")),
                        label);
    answer_free(&a);
    memset(&attrs, 0, sizeof(attrs));
    assert_int_equal(hsm_key_attributes_by_label(hsm_of(), label, &attrs), 0);
    assert_true(attrs.sensitive);
    assert_false(attrs.extractable);
    assert_true(attrs.never_extractable);
    assert_true(attrs.token_object);
    assert_int_equal(attrs.value_len, 32);
    assert_int_equal(uses_of(f, "hk", 1), 0);
    ct1 = tencrypt(f, "hk", "inside the token", NULL);
    ct2 = tencrypt(f, "hk", "inside the token", NULL);
    assert_int_equal(strncmp(ct1, "vault:v1:", 9), 0);
    assert_int_equal(iv_counter(ct1), 0);
    assert_int_equal(iv_counter(ct2), 1);
    assert_string_not_equal(ct1, ct2);
    assert_int_equal(uses_of(f, "hk", 1), 2);
    pt = tdecrypt(f, "hk", ct1, NULL);
    assert_string_equal(pt, "inside the token");
    free(pt);
    /* associated data is bound. */
    free(ct2);
    ct2 = tencrypt(f, "hk", "aad", "\"associated_data\":\"YWFk\"");
    pt = tdecrypt(f, "hk", ct2, "\"associated_data\":\"YWFk\"");
    assert_string_equal(pt, "aad");
    free(pt);
    {
        char body[1024];
        snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", ct2);
        terror(f, "POST", "decrypt/hk", body, 400, "authentication failed");
    }
    free(ct1);
    free(ct2);
}

/* Rotation creates a new token object; old ciphertexts still decrypt
 * and rewrap to the new version. */
static void test_managed_rotation_rewrap(void **state)
{
    struct tfix *f = *state;
    struct hsm_key_attributes attrs;
    char label[TRANSIT_LABEL_BYTES];
    char body[1024];
    char *ct, *re, *pt;

    tstatus(f, "POST", "keys/rk", "{\"managed_key\":true}", 200);
    ct = tencrypt(f, "rk", "before rotation", NULL);
    label_of("rk", 2, label, sizeof(label));
    assert_int_equal(hsm_key_attributes_by_label(hsm_of(), label, &attrs),
                     KH_ENOTFOUND);
    tstatus(f, "POST", "keys/rk/rotate", NULL, 200);
    memset(&attrs, 0, sizeof(attrs));
    assert_int_equal(hsm_key_attributes_by_label(hsm_of(), label, &attrs), 0);
    assert_false(attrs.extractable);
    assert_true(attrs.sensitive);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", ct);
    re = tstring(f, "POST", "rewrap/rk", body, "ciphertext");
    assert_int_equal(strncmp(re, "vault:v2:", 9), 0);
    assert_int_equal(iv_counter(re), 0);
    pt = tdecrypt(f, "rk", re, NULL);
    assert_string_equal(pt, "before rotation");
    free(pt);
    pt = tdecrypt(f, "rk", ct, NULL);
    assert_string_equal(pt, "before rotation");
    free(pt);
    assert_int_equal(uses_of(f, "rk", 1), 1);
    assert_int_equal(uses_of(f, "rk", 2), 1);
    free(re);
    free(ct);
}

/* After a reload, counters resume at the stored reservation: an IV is
 * never handed out twice, even after losing the in-memory counter. */
static void test_managed_reservation_survives_reload(void **state)
{
    struct tfix *f = *state;
    char *ct, *pt;

    tstatus(f, "POST", "keys/res", "{\"managed_key\":true}", 200);
    ct = tencrypt(f, "res", "one", NULL);
    assert_int_equal(iv_counter(ct), 0);
    free(ct);
    tfix_mount(f); /* as after a crash or a seal/unseal */
    assert_int_equal(uses_of(f, "res", 1), TRANSIT_MANAGED_IV_RESERVE);
    ct = tencrypt(f, "res", "two", NULL);
    assert_int_equal(iv_counter(ct), TRANSIT_MANAGED_IV_RESERVE);
    pt = tdecrypt(f, "res", ct, NULL);
    assert_string_equal(pt, "two");
    assert_int_equal(uses_of(f, "res", 1), TRANSIT_MANAGED_IV_RESERVE + 1);
    free(pt);
    free(ct);
}

/* Data keys are made in software and wrapped inside the token. */
static void test_managed_datakey(void **state)
{
    struct tfix *f = *state;
    struct answer a;
    char body[1024];
    char *back;

    tstatus(f, "POST", "keys/dk", "{\"managed_key\":true}", 200);
    a = texpect(f, "POST", "datakey/plaintext/dk", "{}", 200);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}",
             json_string_value(json_object_get(tdata(&a), "ciphertext")));
    back = tstring(f, "POST", "decrypt/dk", body, "plaintext");
    assert_string_equal(
        back, json_string_value(json_object_get(tdata(&a), "plaintext")));
    free(back);
    answer_free(&a);
    tstatus(f, "POST", "datakey/wrapped/dk", "{\"bits\":128}", 200);
    assert_int_equal(uses_of(f, "dk", 1), 2);
}

/* A flipped bit in a managed ciphertext is 400, not a crash or 500. */
static void test_managed_tamper(void **state)
{
    struct tfix *f = *state;
    size_t len = 0;
    uint8_t *blob;
    char body[1024];
    char *ct, *bad;

    tstatus(f, "POST", "keys/tk", "{\"managed_key\":true}", 200);
    ct = tencrypt(f, "tk", "tamper", NULL);
    blob = tunb64(ct + 9, &len);
    blob[len - 3] ^= 0x10;
    bad = transit_ciphertext_format(1, blob, len);
    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", bad);
    terror(f, "POST", "decrypt/tk", body, 400, "authentication failed");
    free(bad);
    free(blob);
    free(ct);
}

/* Deleting a managed key destroys every token object. */
static void test_managed_delete_destroys(void **state)
{
    struct tfix *f = *state;
    struct hsm_key_attributes attrs;
    char label1[TRANSIT_LABEL_BYTES], label2[TRANSIT_LABEL_BYTES];

    tstatus(f, "POST", "keys/del", "{\"managed_key\":true}", 200);
    tstatus(f, "POST", "keys/del/rotate", NULL, 200);
    label_of("del", 1, label1, sizeof(label1));
    label_of("del", 2, label2, sizeof(label2));
    assert_int_equal(hsm_key_attributes_by_label(hsm_of(), label2, &attrs), 0);
    tstatus(f, "POST", "keys/del/config", "{\"deletion_allowed\":true}", 200);
    tstatus(f, "DELETE", "keys/del", NULL, 204);
    assert_int_equal(hsm_key_attributes_by_label(hsm_of(), label1, &attrs),
                     KH_ENOTFOUND);
    assert_int_equal(hsm_key_attributes_by_label(hsm_of(), label2, &attrs),
                     KH_ENOTFOUND);
    /* The name can be used again. */
    tstatus(f, "POST", "keys/del", "{\"managed_key\":true}", 200);
}

/* Managed keys refuse what would need their key outside the token. */
static void test_managed_refusals(void **state)
{
    struct tfix *f = *state;

    terror(f, "POST", "keys/m1",
           "{\"managed_key\":true,\"type\":\"chacha20-poly1305\"}", 400,
           "aes256-gcm96");
    terror(f, "POST", "keys/m2", "{\"managed_key\":true,\"exportable\":true}",
           400, "cannot be derived, exportable");
    terror(f, "POST", "keys/m3", "{\"managed_key\":true,\"derived\":true}",
           400, "cannot be derived");
    tstatus(f, "POST", "keys/m4", "{\"managed_key\":true}", 200);
    terror(f, "POST", "hmac/m4", "{\"input\":\"aGk=\"}", 400,
           "managed keys support only");
    terror(f, "POST", "keys/m4/config", "{\"exportable\":true}", 400,
           "cannot be exportable");
    terror(f, "GET", "export/encryption-key/m4", NULL, 400, "not exportable");
}

/* A version refuses to encrypt at its use limit. */
static void test_managed_use_limit(void **state)
{
    struct tfix *f = *state;
    struct transit_state *st;
    struct transit_version *v = NULL;
    size_t i;
    char *ct, *pt;

    tstatus(f, "POST", "keys/lim", "{\"managed_key\":true}", 200);
    st = tfix_state(f);
    for (i = 0; i < TRANSIT_CACHE_KEYS_MAX; i++) {
        if (st->cache[i] != NULL && strcmp(st->cache[i]->name, "lim") == 0)
            v = &st->cache[i]->versions[0];
    }
    assert_non_null(v);
    v->iv_next = TRANSIT_MANAGED_USES_MAX - 1;
    v->iv_reserved = TRANSIT_MANAGED_USES_MAX - 1;
    ct = tencrypt(f, "lim", "last one", NULL); /* use MAX - 1: allowed */
    assert_int_equal(iv_counter(ct), TRANSIT_MANAGED_USES_MAX - 1);
    pt = tdecrypt(f, "lim", ct, NULL);
    assert_string_equal(pt, "last one");
    terror(f, "POST", "encrypt/lim", "{\"plaintext\":\"aGk=\"}", 400,
           "rotate the key");
    tstatus(f, "POST", "keys/lim/rotate", NULL, 200);
    free(ct);
    ct = tencrypt(f, "lim", "fresh", NULL);
    assert_int_equal(strncmp(ct, "vault:v2:", 9), 0);
    free(pt);
    free(ct);
}

/* The hardware layer's named keys: conflicts, absent labels, bad
 * arguments, AAD binding, IV dependence. */
static void test_hsm_named_keys(void **state)
{
    struct hsm *hsm = hsm_of();
    uint8_t iv[HSM_GCM_IV_BYTES] = {1, 2, 3};
    uint8_t out[64], back[64], out2[64];
    size_t len = 0, back_len = 0;
    char long_label[HSM_KEY_LABEL_BYTES_MAX + 2];

    (void)state;
    assert_int_equal(hsm_key_generate(hsm, "named-test"), 0);
    assert_int_equal(hsm_key_generate(hsm, "named-test"), KH_ECONFLICT);
    assert_int_equal(hsm_key_encrypt(hsm, "named-test", iv,
                                     (const uint8_t *)"ad", 2,
                                     (const uint8_t *)"payload", 7, out,
                                     sizeof(out), &len),
                     0);
    assert_int_equal(len, 7 + HSM_GCM_TAG_BYTES);
    assert_int_equal(hsm_key_decrypt(hsm, "named-test", iv,
                                     (const uint8_t *)"ad", 2, out, len, back,
                                     sizeof(back), &back_len),
                     0);
    assert_int_equal(back_len, 7);
    assert_memory_equal(back, "payload", 7);
    assert_int_equal(hsm_key_decrypt(hsm, "named-test", iv,
                                     (const uint8_t *)"AD", 2, out, len, back,
                                     sizeof(back), &back_len),
                     KH_ECORRUPT);
    iv[11] ^= 1;
    assert_int_equal(hsm_key_encrypt(hsm, "named-test", iv,
                                     (const uint8_t *)"ad", 2,
                                     (const uint8_t *)"payload", 7, out2,
                                     sizeof(out2), &len),
                     0);
    assert_memory_not_equal(out, out2, len);
    assert_int_equal(hsm_key_encrypt(hsm, "absent", iv, NULL, 0,
                                     (const uint8_t *)"x", 1, out, sizeof(out),
                                     &len),
                     KH_ENOTFOUND);
    assert_int_equal(hsm_key_encrypt(hsm, "named-test", iv, NULL, 0,
                                     (const uint8_t *)"x", 1, out, 16, &len),
                     KH_EINVAL);
    memset(long_label, 'l', sizeof(long_label) - 1);
    long_label[sizeof(long_label) - 1] = '\0';
    assert_int_equal(hsm_key_generate(hsm, long_label), KH_EINVAL);
    assert_int_equal(hsm_key_generate(hsm, ""), KH_EINVAL);
    assert_int_equal(hsm_key_destroy(hsm, "named-test"), 0);
    assert_int_equal(hsm_key_destroy(hsm, "named-test"), KH_ENOTFOUND);
}

/* ---- disabling the mount ---- */

/* Run fn(arg) with stderr captured; the captured text goes to out. */
static void capture_stderr(struct tfix *f, void (*fn)(void *), void *arg,
                           char *out, size_t size)
{
    char path[PATH_MAX + 16];
    ssize_t n;
    int saved, fd;

    snprintf(path, sizeof(path), "%s/stderr.log", f->tmp);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    fn(arg);
    fflush(stderr);
    assert_true(dup2(saved, 2) == 2);
    close(saved);
    assert_true(lseek(fd, 0, SEEK_SET) == 0);
    n = read(fd, out, size - 1);
    assert_true(n >= 0);
    out[n] = '\0';
    close(fd);
    assert_int_equal(unlink(path), 0);
    fprintf(stderr, "%s", out); /* still visible in the test output */
}

struct hook_run
{
    struct tfix *f;
    struct kh_core *core; /* br->core: NULL as the mount table passes it */
    char errmsg[KH_ERRMSG_SIZE];
    int r;
};

static void hook_call(void *arg)
{
    struct hook_run *run = arg;
    struct backend_request br;

    memset(&br, 0, sizeof(br));
    br.core = run->core;
    br.mount = run->f->entry;
    br.view = &run->f->entry->view;
    br.state = run->f->entry->state;
    run->errmsg[0] = '\0';
    run->r = transit_backend_ops.disable(&br, run->errmsg,
                                         sizeof(run->errmsg));
}

static bool has_object(const char *label)
{
    struct hsm_key_attributes attrs;
    int r = hsm_key_attributes_by_label(hsm_of(), label, &attrs);

    assert_true(r == 0 || r == KH_ENOTFOUND);
    return r == 0;
}

static void log_has(const char *log, const char *what)
{
    if (strstr(log, what) == NULL)
        print_error("log lacks \"%s\":\n%s\n", what, log);
    assert_non_null(strstr(log, what));
}

/* The hook destroys every version of every managed key, leaves software
 * keys and the view alone (the mount table clears it), and logs a count. */
static void test_disable_destroys_every_version(void **state)
{
    struct tfix *f = *state;
    struct hook_run run = {f, grp.core, "", -1};
    char labels[4][TRANSIT_LABEL_BYTES];
    char log[8192];
    size_t i;

    tstatus(f, "POST", "keys/a", "{\"managed_key\":true}", 200);
    tstatus(f, "POST", "keys/a/rotate", NULL, 200);
    tstatus(f, "POST", "keys/a/rotate", NULL, 200);
    tstatus(f, "POST", "keys/b", "{\"managed_key\":true}", 200);
    tstatus(f, "POST", "keys/soft", NULL, 200);
    for (i = 0; i < 3; i++)
        label_of("a", (unsigned)i + 1, labels[i], sizeof(labels[i]));
    label_of("b", 1, labels[3], sizeof(labels[3]));
    for (i = 0; i < 4; i++)
        assert_true(has_object(labels[i]));
    capture_stderr(f, hook_call, &run, log, sizeof(log));
    assert_int_equal(run.r, 0);
    for (i = 0; i < 4; i++)
        assert_false(has_object(labels[i]));
    log_has(log, "2 managed keys, 4 HSM objects destroyed, 0 already gone, "
                 "0 left behind");
    tstatus(f, "GET", "keys/soft", NULL, 200);
}

/* An object removed from the token behind the engine's back does not
 * stop the others; its label is logged as already gone. */
static void test_disable_object_already_gone(void **state)
{
    struct tfix *f = *state;
    struct hook_run run = {f, grp.core, "", -1};
    char label1[TRANSIT_LABEL_BYTES], label2[TRANSIT_LABEL_BYTES];
    char log[8192];

    tstatus(f, "POST", "keys/g", "{\"managed_key\":true}", 200);
    tstatus(f, "POST", "keys/g/rotate", NULL, 200);
    label_of("g", 1, label1, sizeof(label1));
    label_of("g", 2, label2, sizeof(label2));
    assert_int_equal(hsm_key_destroy(hsm_of(), label1), 0);
    capture_stderr(f, hook_call, &run, log, sizeof(log));
    assert_int_equal(run.r, 0);
    assert_false(has_object(label2));
    log_has(log, label1);
    log_has(log, "already gone");
    log_has(log, "1 HSM objects destroyed, 1 already gone, 0 left behind");
}

/* Without a way to the token (no core given, none seen since the mount
 * was loaded) the hook fails with a summary and logs every label it left
 * behind, one line each. */
static void test_disable_without_token_logs_labels(void **state)
{
    struct tfix *f = *state;
    struct hook_run run = {f, NULL, "", -1};
    char label1[TRANSIT_LABEL_BYTES], label2[TRANSIT_LABEL_BYTES];
    char log[8192];

    tstatus(f, "POST", "keys/n", "{\"managed_key\":true}", 200);
    tstatus(f, "POST", "keys/n/rotate", NULL, 200);
    label_of("n", 1, label1, sizeof(label1));
    label_of("n", 2, label2, sizeof(label2));
    tfix_mount(f); /* a fresh state, as after an unseal */
    capture_stderr(f, hook_call, &run, log, sizeof(log));
    assert_int_equal(run.r, KH_EHSM);
    assert_non_null(strstr(run.errmsg, "2 HSM objects"));
    log_has(log, label1);
    log_has(log, label2);
    log_has(log, "managed keys need the pkcs11 seal");
    log_has(log, "remove it by hand");
    assert_true(has_object(label1));
    assert_true(has_object(label2));
    assert_int_equal(hsm_key_destroy(hsm_of(), label1), 0);
    assert_int_equal(hsm_key_destroy(hsm_of(), label2), 0);
}

/* With no core given, the hook reaches the token through the core that
 * served the mount's requests since it was loaded. */
static void test_disable_uses_core_of_requests(void **state)
{
    struct tfix *f = *state;
    struct hook_run run = {f, NULL, "", -1};
    char label1[TRANSIT_LABEL_BYTES];
    char log[8192];

    tstatus(f, "POST", "keys/c", "{\"managed_key\":true}", 200);
    label_of("c", 1, label1, sizeof(label1));
    tfix_mount(f);
    tstatus(f, "GET", "keys/c", NULL, 200);
    capture_stderr(f, hook_call, &run, log, sizeof(log));
    assert_int_equal(run.r, 0);
    assert_false(has_object(label1));
}

/* ---- through the mount table (sys/mounts DELETE) ---- */

struct table_run
{
    struct mount_table *table;
    struct kh_core *core; /* the core sys/mounts DELETE would come through */
    char errmsg[KH_ERRMSG_SIZE];
    int r;
};

static void table_disable(void *arg)
{
    struct table_run *run = arg;

    run->errmsg[0] = '\0';
    run->r = mount_table_disable(run->table, run->core, false, "transit",
                                 run->errmsg, sizeof(run->errmsg));
}

/* Enable "transit/" in a real table; g answers requests on it. */
static struct mount_table *table_with_transit(struct tfix *f, struct tfix *g,
                                              char uuid[KH_UUID_STR_LEN + 1])
{
    struct mount_request mreq = {0};
    struct mount_table *table = NULL;
    const struct mount_entry *mount = NULL;
    const char *sub = NULL;
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_int_equal(mount_table_create(f->barrier, f->storage, &table), 0);
    mreq.path = "transit";
    mreq.type = "transit";
    assert_int_equal(mount_table_enable(table, false, &mreq, errmsg,
                                        sizeof(errmsg)),
                     0);
    assert_int_equal(mount_table_route(table, "transit/keys", &mount, &sub),
                     0);
    mount_table_release(table);
    *g = *f;
    g->entry = (struct mount_entry *)mount;
    memcpy(uuid, mount->uuid, KH_UUID_STR_LEN + 1);
    return table;
}

static void table_label(const char *uuid, const char *name, unsigned v,
                        char out[TRANSIT_LABEL_BYTES])
{
    snprintf(out, TRANSIT_LABEL_BYTES, TRANSIT_LABEL_PREFIX "%s-%s-v%u",
             uuid, name, v);
}

/* The mount's data is gone: nothing listed under its view. */
static void assert_view_empty(struct tfix *f, const char *uuid)
{
    struct barrier_view view;
    struct kh_storage_list list = {NULL, 0};
    int r;

    assert_int_equal(view_init(&view, f->barrier, f->storage, "logical",
                               uuid),
                     0);
    r = view_list(&view, "policy/", &list);
    assert_true(r == 0 || r == KH_ENOTFOUND);
    assert_int_equal(list.count, 0);
    kh_storage_list_free(&list);
}

/* Disabling a transit mount destroys its managed keys' token objects
 * (every version) before its data is cleared. */
static void test_mount_disable_destroys_objects(void **state)
{
    struct tfix *f = *state;
    struct tfix g;
    struct table_run run = {NULL, NULL, "", -1};
    char uuid[KH_UUID_STR_LEN + 1];
    char label1[TRANSIT_LABEL_BYTES], label2[TRANSIT_LABEL_BYTES];
    char log[8192];
    json_t *desc = NULL;

    run.table = table_with_transit(f, &g, uuid);
    run.core = grp.core;
    tstatus(&g, "POST", "keys/m", "{\"managed_key\":true}", 200);
    tstatus(&g, "POST", "keys/m/rotate", NULL, 200);
    tstatus(&g, "POST", "keys/soft", NULL, 200);
    table_label(uuid, "m", 1, label1);
    table_label(uuid, "m", 2, label2);
    assert_true(has_object(label1));
    assert_true(has_object(label2));
    capture_stderr(f, table_disable, &run, log, sizeof(log));
    assert_int_equal(run.r, 0);
    assert_false(has_object(label1));
    assert_false(has_object(label2));
    log_has(log, "2 HSM objects destroyed");
    log_has(log, "mount: disabled transit/");
    assert_int_equal(mount_table_describe(run.table, false, "transit", false,
                                          &desc),
                     KH_ENOTFOUND);
    assert_view_empty(f, uuid);
    mount_table_free(run.table);
}

/* A hook that cannot destroy the objects does not keep the mount: it is
 * disabled and its data cleared, and every label left behind is logged
 * with the summary. (The core the disable and the mount's last request
 * come through has no pkcs11 seal, so the token cannot be reached.) */
static void test_mount_disable_hook_failure(void **state)
{
    struct tfix *f = *state;
    struct tfix g;
    struct table_run run = {NULL, NULL, "", -1};
    struct kh_core *nohsm = calloc(1, sizeof(*nohsm));
    char uuid[KH_UUID_STR_LEN + 1];
    char label1[TRANSIT_LABEL_BYTES], label2[TRANSIT_LABEL_BYTES];
    char log[8192];
    json_t *desc = NULL;

    assert_non_null(nohsm);
    run.table = table_with_transit(f, &g, uuid);
    tstatus(&g, "POST", "keys/m", "{\"managed_key\":true}", 200);
    tstatus(&g, "POST", "keys/m/rotate", NULL, 200);
    g.core = nohsm;
    run.core = nohsm;
    tstatus(&g, "GET", "keys/m", NULL, 200);
    table_label(uuid, "m", 1, label1);
    table_label(uuid, "m", 2, label2);
    capture_stderr(f, table_disable, &run, log, sizeof(log));
    assert_int_equal(run.r, 0);
    log_has(log, label1);
    log_has(log, label2);
    log_has(log, "2 HSM objects of managed transit keys are left");
    log_has(log, "the mount is disabled anyway");
    log_has(log, "mount: disabled transit/");
    assert_int_equal(mount_table_describe(run.table, false, "transit", false,
                                          &desc),
                     KH_ENOTFOUND);
    assert_view_empty(f, uuid);
    assert_true(has_object(label1));
    assert_true(has_object(label2));
    assert_int_equal(hsm_key_destroy(hsm_of(), label1), 0);
    assert_int_equal(hsm_key_destroy(hsm_of(), label2), 0);
    mount_table_free(run.table);
    free(nohsm);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_managed_roundtrip_attributes),
        T(test_managed_rotation_rewrap),
        T(test_managed_reservation_survives_reload),
        T(test_managed_datakey),
        T(test_managed_tamper),
        T(test_managed_delete_destroys),
        T(test_managed_refusals),
        T(test_managed_use_limit),
        T(test_disable_destroys_every_version),
        T(test_disable_object_already_gone),
        T(test_disable_without_token_logs_labels),
        T(test_disable_uses_core_of_requests),
        T(test_mount_disable_destroys_objects),
        T(test_mount_disable_hook_failure),
        cmocka_unit_test(test_hsm_named_keys),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
