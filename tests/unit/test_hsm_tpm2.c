/*
 * test_hsm_tpm2.c - the TPM 2.0 backend against a real swtpm.
 *
 * The group setup makes a fresh temp dir and starts swtpm in the
 * foreground on a free port pair (server P, control P+1, as the swtpm TCTI
 * expects) with a private state directory; teardown stops it by PID and
 * removes the directory. swtpm serves one client at a time, so the tests
 * that extend or reset PCR16 (the debug PCR, resettable at locality 0)
 * first close their handle, talk ESAPI directly, then open a new handle.
 * ESYS's own warnings are silenced with TSS2_LOG=all+none.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "common/err.h"
#include "common/secret.h"
#include "hsm.h"
#include "lib/fixture.h"

#define SECRET_BYTES  32
#define TIMING_ROUNDS 20

struct swtpm
{
    pid_t pid;
    int port;
    char state[600];
    char tcti[128];
};

struct fixture
{
    char *dir;
    struct swtpm tpm;
    char detail[KH_ERRMSG_SIZE];
};

static struct fixture fx;

static bool port_free(int port)
{
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    ok = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

/* A port P with P and P+1 both free. */
static int free_port_pair(void)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int attempt, fd, port = -1;

    for (attempt = 0; attempt < 50; attempt++) {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
        port = ntohs(addr.sin_port);
        close(fd);
        if (port < 65534 && port_free(port) && port_free(port + 1))
            return port;
    }
    fail_msg("no free port pair");
    return -1;
}

static bool port_listening(int port)
{
    struct sockaddr_in addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

static void swtpm_exec(const struct swtpm *tpm)
{
    char state[700], server[128], ctrl[128];
    int null = open("/dev/null", O_WRONLY);

    if (null >= 0) {
        (void)dup2(null, STDOUT_FILENO);
        (void)dup2(null, STDERR_FILENO);
    }
    snprintf(state, sizeof(state), "dir=%s", tpm->state);
    snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1",
             tpm->port);
    snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1",
             tpm->port + 1);
    execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state,
           "--server", server, "--ctrl", ctrl, "--flags",
           "not-need-init,startup-clear", (char *)NULL);
    _exit(127);
}

/* Start swtpm in the foreground on tpm->port and wait until it listens
 * (the probe connection is closed at once, freeing its one client slot). */
static void swtpm_start(struct swtpm *tpm)
{
    int i;

    tpm->pid = fork();
    assert_true(tpm->pid >= 0);
    if (tpm->pid == 0)
        swtpm_exec(tpm);
    for (i = 0; i < 500; i++) {
        if (port_listening(tpm->port + 1) && port_listening(tpm->port))
            return;
        usleep(10000);
    }
    fail_msg("swtpm did not listen on port %d", tpm->port);
}

static void swtpm_stop(struct swtpm *tpm)
{
    int status;

    if (tpm->pid <= 0)
        return;
    (void)kill(tpm->pid, SIGTERM);
    (void)waitpid(tpm->pid, &status, 0);
    tpm->pid = 0;
}

static void swtpm_setup(struct swtpm *tpm, const char *dir, const char *name)
{
    memset(tpm, 0, sizeof(*tpm));
    snprintf(tpm->state, sizeof(tpm->state), "%s/%s", dir, name);
    assert_int_equal(mkdir(tpm->state, 0700), 0);
    tpm->port = free_port_pair();
    snprintf(tpm->tcti, sizeof(tpm->tcti), "swtpm:host=127.0.0.1,port=%d",
             tpm->port);
    swtpm_start(tpm);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* writes to a stopped swtpm */
    setenv("TSS2_LOG", "all+none", 1);
    if (fixture_tmp_make("kh-tpm2", &fx.dir) != 0)
        return -1;
    swtpm_setup(&fx.tpm, fx.dir, "state");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    swtpm_stop(&fx.tpm);
    (void)fixture_tmp_remove(fx.dir);
    fx.dir = NULL;
    return 0;
}

/* ---- helpers ---- */

static int open_tpm(const char *tcti, const char *pcrs, const char *bank,
                    struct hsm **ret)
{
    struct hsm_tpm2_params params = {
        .tcti = tcti,
        .pcrs = pcrs,
        .pcr_bank = bank,
        .detail = fx.detail,
        .detail_size = sizeof(fx.detail),
    };
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r;

    r = hsm_tpm2_open(&params, ret, errmsg, sizeof(errmsg));
    if (r != 0)
        snprintf(fx.detail, sizeof(fx.detail), "%s", errmsg);
    return r;
}

static struct hsm *open_ok(const char *pcrs)
{
    struct hsm *hsm = NULL;

    assert_int_equal(open_tpm(fx.tpm.tcti, pcrs, NULL, &hsm), 0);
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

static int unwrap(struct hsm *hsm, const char *aad, const uint8_t *blob,
                  size_t blob_len, uint8_t *out, size_t *len)
{
    return hsm_unwrap(hsm, (const uint8_t *)aad, strlen(aad), blob, blob_len,
                      out, SECRET_BYTES, len);
}

static void unwrap_ok(struct hsm *hsm, const char *aad, const uint8_t *blob,
                      size_t blob_len, const uint8_t *expect)
{
    uint8_t out[SECRET_BYTES];
    size_t len = 0;

    assert_int_equal(unwrap(hsm, aad, blob, blob_len, out, &len), 0);
    assert_int_equal(len, SECRET_BYTES);
    assert_memory_equal(out, expect, SECRET_BYTES);
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

/* Extend (or reset) PCR16 through a connection of our own. */
static void pcr16(bool reset)
{
    TSS2_TCTI_CONTEXT *tcti = NULL;
    ESYS_CONTEXT *esys = NULL;
    TPML_DIGEST_VALUES values;
    TSS2_RC rc;

    assert_int_equal(Tss2_TctiLdr_Initialize(fx.tpm.tcti, &tcti), 0);
    assert_int_equal(Esys_Initialize(&esys, tcti, NULL), 0);
    if (reset) {
        rc = Esys_PCR_Reset(esys, ESYS_TR_PCR16, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                            ESYS_TR_NONE);
    } else {
        memset(&values, 0, sizeof(values));
        values.count = 1;
        values.digests[0].hashAlg = TPM2_ALG_SHA256;
        memset(values.digests[0].digest.sha256, 0x5a, TPM2_SHA256_DIGEST_SIZE);
        rc = Esys_PCR_Extend(esys, ESYS_TR_PCR16, ESYS_TR_PASSWORD,
                             ESYS_TR_NONE, ESYS_TR_NONE, &values);
    }
    assert_int_equal(rc, TSS2_RC_SUCCESS);
    Esys_Finalize(&esys);
    Tss2_TctiLdr_Finalize(&tcti);
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 +
           (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* ---- tests ---- */

/* Without PCRs a secret seals and unseals, the blob stays within the
 * advertised overhead, and the handle says it is tpm2. */
static void test_roundtrip_no_pcrs(void **state)
{
    struct hsm *hsm = open_ok(NULL);
    struct hsm_key_attributes attrs;
    uint8_t secret[SECRET_BYTES], *blob = NULL;
    size_t blob_len = 0;

    (void)state;
    assert_string_equal(hsm_backend_name(hsm), "tpm2");
    assert_int_equal(kh_random_bytes(secret, sizeof(secret)), 0);
    wrap_ok(hsm, "core/seal/root-key", secret, sizeof(secret), &blob,
            &blob_len);
    assert_null(memmem(blob, blob_len, secret, sizeof(secret)));
    unwrap_ok(hsm, "core/seal/root-key", blob, blob_len, secret);
    assert_int_equal(hsm_ping(hsm), 0);
    assert_int_equal(hsm_key_attributes(hsm, &attrs), 0);
    assert_true(attrs.sensitive && !attrs.extractable);
    free(blob);
    hsm_close(hsm);
}

/* Bound to PCR 7 and 16: extending PCR16 makes unseal fail with
 * KH_ESTATE naming PCR 16 only (out wiped); resetting it unseals again,
 * even from a handle configured with other PCRs (the blob decides). */
static void test_pcr_binding(void **state)
{
    struct hsm *hsm = open_ok("7,16");
    uint8_t secret[SECRET_BYTES], out[SECRET_BYTES], *blob = NULL;
    size_t blob_len = 0, len = 0;

    (void)state;
    memset(secret, 0x42, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    unwrap_ok(hsm, "aad", blob, blob_len, secret);
    hsm_close(hsm);

    pcr16(false);
    hsm = open_ok("7,16");
    memset(out, 0xee, sizeof(out));
    fx.detail[0] = '\0';
    assert_int_equal(unwrap(hsm, "aad", blob, blob_len, out, &len), KH_ESTATE);
    assert_true(all_zero(out, sizeof(out)));
    assert_non_null(strstr(fx.detail, "PCR 16"));
    assert_null(strstr(fx.detail, "PCR 7"));
    assert_int_equal(hsm_ping(hsm), 0); /* the TPM itself is fine */
    hsm_close(hsm);

    pcr16(true);
    hsm = open_ok(NULL);
    unwrap_ok(hsm, "aad", blob, blob_len, secret);
    hsm_close(hsm);
    free(blob);
}

/* A different aad, or none, is KH_ECORRUPT: the binding hash catches it
 * after the TPM unsealed. */
static void test_wrong_aad(void **state)
{
    struct hsm *hsm = open_ok("16");
    uint8_t secret[SECRET_BYTES], out[SECRET_BYTES], *blob = NULL;
    size_t blob_len = 0, len = 0;

    (void)state;
    memset(secret, 0x17, sizeof(secret));
    wrap_ok(hsm, "core/seal/root-key", secret, sizeof(secret), &blob,
            &blob_len);
    assert_int_equal(
        unwrap(hsm, "core/seal/recovery-key", blob, blob_len, out, &len),
        KH_ECORRUPT);
    assert_true(all_zero(out, sizeof(out)));
    assert_int_equal(unwrap(hsm, "", blob, blob_len, out, &len), KH_ECORRUPT);
    unwrap_ok(hsm, "core/seal/root-key", blob, blob_len, secret);
    free(blob);
    hsm_close(hsm);
}

/* Every single-bit flip anywhere in a PCR-bound blob, every truncation
 * and an extension are KH_ECORRUPT without releasing the secret: a bad
 * header or area fails parsing or TPM2_Load, and a flipped PCR digest or
 * fingerprint (the TPM never reads them) fails the binding hash. */
static void test_tampered_blob(void **state)
{
    struct hsm *hsm = open_ok("7,16");
    uint8_t secret[SECRET_BYTES], out[SECRET_BYTES], *blob = NULL;
    uint8_t longer[SECRET_BYTES + HSM_WRAP_OVERHEAD + 1];
    size_t blob_len = 0, len = 0, i;
    unsigned bit;

    (void)state;
    memset(secret, 0x99, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    for (i = 0; i < blob_len; i++) {
        for (bit = 0; bit < 8; bit++) {
            blob[i] ^= (uint8_t)(1u << bit);
            memset(out, 0xee, sizeof(out));
            assert_int_equal(unwrap(hsm, "aad", blob, blob_len, out, &len),
                             KH_ECORRUPT);
            assert_true(all_zero(out, sizeof(out)));
            blob[i] ^= (uint8_t)(1u << bit);
        }
    }
    for (len = 0; len < blob_len; len++)
        assert_int_equal(unwrap(hsm, "aad", blob, len, out, &i), KH_ECORRUPT);
    memcpy(longer, blob, blob_len);
    memset(longer + blob_len, 0, sizeof(longer) - blob_len);
    assert_int_equal(unwrap(hsm, "aad", longer, blob_len + 1, out, &i),
                     KH_ECORRUPT);
    unwrap_ok(hsm, "aad", blob, blob_len, secret);
    free(blob);
    hsm_close(hsm);
}

/* A blob sealed by one TPM does not open on another (another owner
 * seed): KH_ECORRUPT, and the detail says the blob does not load. */
static void test_other_tpm(void **state)
{
    struct swtpm other;
    struct hsm *hsm = open_ok(NULL), *hsm2 = NULL;
    uint8_t secret[SECRET_BYTES], out[SECRET_BYTES], *blob = NULL;
    size_t blob_len = 0, len = 0;

    (void)state;
    memset(secret, 0x31, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    hsm_close(hsm);
    swtpm_setup(&other, fx.dir, "other");
    assert_int_equal(open_tpm(other.tcti, NULL, NULL, &hsm2), 0);
    assert_int_equal(unwrap(hsm2, "aad", blob, blob_len, out, &len),
                     KH_ECORRUPT);
    assert_non_null(strstr(fx.detail, "does not load"));
    hsm_close(hsm2);
    swtpm_stop(&other);
    free(blob);
}

/* swtpm stopped under an open handle: ping and unwrap say KH_EUNAVAIL;
 * restarted on the same state: the handle reconnects by itself, the
 * primary key is derived again and the old blob unseals. */
static void test_swtpm_restart(void **state)
{
    struct hsm *hsm = open_ok("7");
    uint8_t secret[SECRET_BYTES], out[SECRET_BYTES], *blob = NULL;
    size_t blob_len = 0, len = 0;

    (void)state;
    memset(secret, 0x64, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    swtpm_stop(&fx.tpm);
    assert_int_equal(hsm_ping(hsm), KH_EUNAVAIL);
    assert_int_equal(unwrap(hsm, "aad", blob, blob_len, out, &len),
                     KH_EUNAVAIL);
    assert_non_null(strstr(fx.detail, fx.tpm.tcti));
    swtpm_start(&fx.tpm);
    assert_int_equal(hsm_ping(hsm), 0);
    unwrap_ok(hsm, "aad", blob, blob_len, secret);
    /* Stopped and restarted between two calls: the next call reconnects. */
    swtpm_stop(&fx.tpm);
    swtpm_start(&fx.tpm);
    unwrap_ok(hsm, "aad", blob, blob_len, secret);
    free(blob);
    hsm_close(hsm);
}

/* No TPM at the address: open fails with KH_EUNAVAIL naming the TCTI. */
static void test_absent_tpm(void **state)
{
    struct hsm *hsm = NULL;
    char tcti[128];

    (void)state;
    snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d",
             free_port_pair());
    assert_int_equal(open_tpm(tcti, NULL, NULL, &hsm), KH_EUNAVAIL);
    assert_null(hsm);
    assert_non_null(strstr(fx.detail, tcti));
}

/* Bad parameters are KH_EINVAL before any connection; a secret above
 * HSM_TPM2_SECRET_BYTES_MAX is refused. */
static void test_bad_params(void **state)
{
    static const char *const bad_pcrs[] = {"7,7", "24", "x", "7;16", "-1"};
    uint8_t big[HSM_TPM2_SECRET_BYTES_MAX + 1], *blob = NULL;
    struct hsm *hsm = NULL;
    size_t i, blob_len = 0;

    (void)state;
    for (i = 0; i < sizeof(bad_pcrs) / sizeof(bad_pcrs[0]); i++)
        assert_int_equal(open_tpm(fx.tpm.tcti, bad_pcrs[i], NULL, &hsm),
                         KH_EINVAL);
    assert_int_equal(open_tpm(fx.tpm.tcti, "7", "md5", &hsm), KH_EINVAL);
    assert_non_null(strstr(fx.detail, "md5"));
    assert_int_equal(open_tpm("", NULL, NULL, &hsm), KH_EINVAL);
    assert_null(hsm);
    hsm = open_ok(" 0, 7 ,23");
    memset(big, 1, sizeof(big));
    assert_int_equal(hsm_wrap(hsm, NULL, 0, big, sizeof(big), &blob, &blob_len),
                     KH_EINVAL);
    assert_int_equal(hsm_wrap(hsm, NULL, 0, big, HSM_TPM2_SECRET_BYTES_MAX,
                              &blob, &blob_len),
                     0);
    free(blob);
    hsm_close(hsm);
}

/* The sha1 bank binds too (the blob records its bank). */
static void test_sha1_bank(void **state)
{
    struct hsm *hsm = NULL;
    uint8_t secret[SECRET_BYTES], *blob = NULL;
    size_t blob_len = 0;

    (void)state;
    assert_int_equal(open_tpm(fx.tpm.tcti, "16", "sha1", &hsm), 0);
    memset(secret, 0x0f, sizeof(secret));
    wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
    unwrap_ok(hsm, "aad", blob, blob_len, secret);
    free(blob);
    hsm_close(hsm);
}

/* Figures: mean seal and unseal time over TIMING_ROUNDS (PCR-bound). */
static void test_timing(void **state)
{
    struct hsm *hsm;
    uint8_t secret[SECRET_BYTES], *blob = NULL;
    struct timespec t0, t1, t2;
    double seal_ms = 0, unseal_ms = 0, open_ms;
    size_t blob_len = 0;
    int i;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hsm = open_ok("7,16");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    open_ms = elapsed_ms(&t0, &t1);
    memset(secret, 0x77, sizeof(secret));
    for (i = 0; i < TIMING_ROUNDS; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        wrap_ok(hsm, "aad", secret, sizeof(secret), &blob, &blob_len);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        unwrap_ok(hsm, "aad", blob, blob_len, secret);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        seal_ms += elapsed_ms(&t0, &t1);
        unseal_ms += elapsed_ms(&t1, &t2);
        free(blob);
    }
    print_message("tpm2 (swtpm): open+primary %.1f ms, seal %.2f ms, "
                  "unseal %.2f ms (mean of %d), blob %zu bytes\n",
                  open_ms, seal_ms / TIMING_ROUNDS, unseal_ms / TIMING_ROUNDS,
                  TIMING_ROUNDS, blob_len);
    hsm_close(hsm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_no_pcrs),
        cmocka_unit_test(test_pcr_binding),
        cmocka_unit_test(test_wrong_aad),
        cmocka_unit_test(test_tampered_blob),
        cmocka_unit_test(test_other_tpm),
        cmocka_unit_test(test_swtpm_restart),
        cmocka_unit_test(test_absent_tpm),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_sha1_bank),
        cmocka_unit_test(test_timing),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
