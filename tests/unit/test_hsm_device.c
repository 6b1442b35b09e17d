/*
 * test_hsm_device.c - the device backend of hsm/ (hsm/device.c) against
 * the real firmware core in keyhold-fw-sim on a temporary unix socket:
 * key generation and lookup by label, wrap/unwrap, tampering, the PIN,
 * a killed and a hung device, the v4 session (a plaintext LOGIN refused, a
 * reply tampered on the link and a forged SESSION_OPEN signature refused
 * by the handle), and the round-trip rate.
 *
 * The simulator is the build's bin/keyhold-fw-sim, found beside this
 * binary's directory (tests/ -> ../bin/), or $KH_FW_SIM. The device PIN is
 * set through the protocol (INIT_PIN) on a raw connection, in a session
 * opened with the firmware's host code (firmware/host/fw_hsess.h). The
 * simulator
 * serves one connection at a time, so a test closes its handle before
 * another client (a second handle, the raw client) talks to it. The
 * simulator is stopped by its PID and the temp dir removed. The tcp: and
 * serial: transports are reached through a relay thread in this test: a
 * loopback TCP listener, or a pseudo-terminal's master side, whose bytes
 * go to and from the simulator's socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "firmware/host/fw_hsess.h"
#include "firmware/include/fw_proto.h"
#include "hsm.h"
#include "lib/fixture.h"

#define TEST_PIN       "2468"
#define TEST_LABEL     "kh-kek"
#define SIM_START_MS   5000
#define RAW_TIMEOUT_MS 5000
#define DEADLINE_SLACK 750 /* ms allowed past a timeout (ASan, CI) */
#define BENCH_ROUNDS   2000

struct relay;

struct dev_fixture
{
    char *dir;
    char sim[PATH_MAX];
    char sock[PATH_MAX];
    char nv[PATH_MAX];
    char log[PATH_MAX];
    pid_t pid;
    struct hsm *h;       /* the open handle, closed by test_teardown */
    struct relay *relay; /* the running relay, stopped by test_teardown */
};

static struct dev_fixture fx = {.pid = -1};

/* Close the test's handle (NULL: none). */
static void close_dev(void)
{
    hsm_close(fx.h);
    fx.h = NULL;
}

static long now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int find_sim(char *out, size_t size)
{
    const char *env = getenv("KH_FW_SIM");
    char exe[PATH_MAX];
    ssize_t n;
    char *slash;

    if (env != NULL && env[0] != '\0')
        return snprintf(out, size, "%s", env) < (int)size ? 0 : -1;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (snprintf(out, size, "%s/../bin/keyhold-fw-sim", exe) >= (int)size)
        return -1;
    return access(out, X_OK);
}

static int raw_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memcpy(sa.sun_path, fx.sock, strlen(fx.sock) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on a raw connection, sealed in hs when hs is open; the
 * reply status (opened when sealed), or -1. */
static int raw_xfer_in(int fd, struct fwh_sess *hs, uint8_t cmd,
                       const void *payload, size_t len, uint8_t *rep,
                       size_t *ret_rep_len)
{
    static uint32_t seq = 0x1000;
    uint8_t frame[FW_MAX_FRAME], buf[256], out[FW_MAX_PAYLOAD];
    struct fw_parser parser;
    bool sealed = hs != NULL && hs->open;
    size_t olen = 0, n = sealed ? fwh_seal(hs, frame, sizeof(frame), cmd,
                                           ++seq, payload, len)
                                : fw_frame_encode(frame, sizeof(frame), cmd,
                                                  0, ++seq, payload, len);
    long deadline = now_ms() + RAW_TIMEOUT_MS;

    fw_parser_init(&parser);
    if (n == 0 || write(fd, frame, n) != (ssize_t)n)
        return -1;
    while (now_ms() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t got;
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        got = read(fd, buf, sizeof(buf));
        if (got <= 0)
            return -1;
        for (ssize_t i = 0; i < got; i++) {
            struct fw_frame f;
            if (fw_parser_feed(&parser, buf[i], &f) != FW_FEED_FRAME ||
                f.seq != seq)
                continue;
            if (sealed && fwh_open(hs, &f, seq, out, sizeof(out), &olen) != 0)
                return -1;
            if (!sealed) {
                olen = f.len;
                memcpy(out, f.payload, f.len);
            }
            if (rep != NULL) {
                memcpy(rep, out, olen);
                *ret_rep_len = olen;
            }
            return f.status;
        }
    }
    return -1;
}

static int raw_xfer(int fd, uint8_t cmd, const void *payload, size_t len,
                    uint8_t *rep, size_t *ret_rep_len)
{
    return raw_xfer_in(fd, NULL, cmd, payload, len, rep, ret_rep_len);
}

/* Open a session on a raw connection (INFO's key checks SESSION_OPEN). */
static int raw_session(int fd, struct fwh_sess *hs)
{
    uint8_t rep[FW_MAX_PAYLOAD], devpub[FW_EC_PUB_LEN];
    uint8_t req[FW_SESSION_REQ_LEN];
    size_t len = 0;

    if (raw_xfer(fd, FW_CMD_INFO, NULL, 0, rep, &len) != FW_ST_OK ||
        len < 48 + FW_EC_PUB_LEN)
        return -1;
    memcpy(devpub, rep + 48, FW_EC_PUB_LEN);
    if (fwh_sess_begin(hs, req) != 0 ||
        raw_xfer(fd, FW_CMD_SESSION_OPEN, req, sizeof(req), rep, &len) !=
            FW_ST_OK)
        return -1;
    return fwh_sess_finish(hs, rep, len, devpub);
}

static int sim_start(void)
{
    long deadline = now_ms() + SIM_START_MS;
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *log = freopen(fx.log, "a", stderr);
        (void)log;
        execl(fx.sim, fx.sim, "--nv", fx.nv, "--socket", fx.sock, (char *)NULL);
        _exit(127);
    }
    fx.pid = pid;
    while (now_ms() < deadline) {
        int fd = raw_connect();
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(20 * 1000);
    }
    return -1;
}

static void sim_stop(void)
{
    if (fx.pid <= 0)
        return;
    (void)kill(fx.pid, SIGKILL);
    (void)waitpid(fx.pid, NULL, 0);
    fx.pid = -1;
}

static int group_setup(void **state)
{
    struct fwh_sess hs = {0};
    int fd, st = -1;

    if (find_sim(fx.sim, sizeof(fx.sim)) != 0) {
        fprintf(stderr, "keyhold-fw-sim not built (or set KH_FW_SIM)\n");
        return -1;
    }
    if (fixture_tmp_make("hsmdev", &fx.dir) != 0)
        return -1;
    (void)snprintf(fx.sock, sizeof(fx.sock), "%s/dev.sock", fx.dir);
    (void)snprintf(fx.nv, sizeof(fx.nv), "%s/dev.nv", fx.dir);
    (void)snprintf(fx.log, sizeof(fx.log), "%s/sim.log", fx.dir);
    if (sim_start() != 0)
        return -1;
    fd = raw_connect();
    if (fd < 0)
        return -1;
    if (raw_session(fd, &hs) == 0)
        st = raw_xfer_in(fd, &hs, FW_CMD_INIT_PIN, TEST_PIN, strlen(TEST_PIN),
                         NULL, NULL);
    fwh_sess_clear(&hs);
    close(fd);
    return st == FW_ST_OK ? 0 : -1;
}

static void relay_stop(struct relay *rl);

/* After each test, also a failed one: no handle holds the simulator's
 * one connection, and the simulator runs. */
static int test_teardown(void **state)
{
    close_dev();
    relay_stop(fx.relay);
    if (fx.pid > 0)
        return kill(fx.pid, SIGCONT);
    return sim_start();
}

static int group_teardown(void **state)
{
    sim_stop();
    (void)fixture_tmp_remove(fx.dir);
    fx.dir = NULL;
    return 0;
}

static struct hsm *open_dev(const char *pin, const char *label, bool gen,
                            int *ret_r)
{
    struct hsm_device_params p = {0};
    char address[PATH_MAX + 8];
    char msg[KH_ERRMSG_SIZE] = "";
    struct hsm *h = NULL;

    (void)snprintf(address, sizeof(address), "unix:%s", fx.sock);
    p.address = address;
    p.pin = pin;
    p.key_label = label;
    p.generate_key = gen;
    *ret_r = hsm_device_open(&p, &h, msg, sizeof(msg));
    fx.h = h;
    if (*ret_r != 0) {
        /* the PIN never appears in an error message */
        assert_null(strstr(msg, pin));
        assert_true(msg[0] != '\0');
    }
    return h;
}

static struct hsm *open_ok(bool gen)
{
    int r;
    struct hsm *h = open_dev(TEST_PIN, TEST_LABEL, gen, &r);

    assert_int_equal(r, 0);
    assert_non_null(h);
    return h;
}

static const uint8_t secret[32] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};
#define AAD     "core/keyring/root"
#define AAD_LEN (sizeof(AAD) - 1)

/* A blob kept from the first handle, opened again by later ones. */
static uint8_t g_blob[HSM_SECRET_BYTES_MAX + HSM_WRAP_OVERHEAD];
static size_t g_blob_len;

static void wrap_secret(struct hsm *h, uint8_t **ret_blob, size_t *ret_len)
{
    assert_int_equal(hsm_wrap(h, (const uint8_t *)AAD, AAD_LEN, secret,
                              sizeof(secret), ret_blob, ret_len),
                     0);
}

static void expect_unwrap(struct hsm *h, const uint8_t *blob, size_t len)
{
    uint8_t out[64];
    size_t out_len = 0;

    assert_int_equal(hsm_unwrap(h, (const uint8_t *)AAD, AAD_LEN, blob, len,
                                out, sizeof(out), &out_len),
                     0);
    assert_int_equal(out_len, sizeof(secret));
    assert_memory_equal(out, secret, sizeof(secret));
}

/* Open with generate_key creates the key; wrap/unwrap round trip, blob
 * layout, fresh IVs, an AAD longer than the device's 64-byte bound. */
static void test_generate_and_round_trip(void **state)
{
    struct hsm *h = open_ok(true);
    struct hsm_key_attributes attrs;
    uint8_t *b1 = NULL, *b2 = NULL, big_aad[1000], out[64];
    size_t l1 = 0, l2 = 0, out_len = 0;

    assert_string_equal(hsm_backend_name(h), "device");
    assert_int_equal(hsm_ping(h), 0);
    assert_int_equal(hsm_key_attributes(h, &attrs), 0);
    assert_true(attrs.sensitive && attrs.never_extractable);
    assert_false(attrs.extractable);
    assert_int_equal(attrs.value_len, 32);
    wrap_secret(h, &b1, &l1);
    wrap_secret(h, &b2, &l2);
    assert_int_equal(l1, 1 + 12 + sizeof(secret) + 16);
    assert_int_equal(b1[0], 1);
    assert_memory_not_equal(b1 + 1, b2 + 1, 12); /* fresh IV each time */
    expect_unwrap(h, b1, l1);
    expect_unwrap(h, b2, l2);
    memcpy(g_blob, b1, l1);
    g_blob_len = l1;
    free(b1);
    free(b2);
    memset(big_aad, 0x5c, sizeof(big_aad));
    assert_int_equal(
        hsm_wrap(h, big_aad, sizeof(big_aad), secret, sizeof(secret), &b1, &l1),
        0);
    assert_int_equal(hsm_unwrap(h, big_aad, sizeof(big_aad), b1, l1, out,
                                sizeof(out), &out_len),
                     0);
    assert_memory_equal(out, secret, out_len);
    big_aad[999] ^= 1;
    assert_int_equal(hsm_unwrap(h, big_aad, sizeof(big_aad), b1, l1, out,
                                sizeof(out), &out_len),
                     KH_ECORRUPT);
    free(b1);
    close_dev();
}

/* A wrong AAD is KH_ECORRUPT and the output is wiped. */
static void test_wrong_aad(void **state)
{
    struct hsm *h = open_ok(false);
    uint8_t out[64], zero[64] = {0};
    size_t out_len = 0;

    memset(out, 0xee, sizeof(out));
    assert_int_equal(hsm_unwrap(h, (const uint8_t *)"core/keyring/x", 14,
                                g_blob, g_blob_len, out, sizeof(out), &out_len),
                     KH_ECORRUPT);
    assert_memory_equal(out, zero, sizeof(out));
    assert_int_equal(
        hsm_unwrap(h, NULL, 0, g_blob, g_blob_len, out, sizeof(out), &out_len),
        KH_ECORRUPT);
    close_dev();
}

/* Every single flipped bit (version, IV, ciphertext, tag) and a truncated
 * blob are KH_ECORRUPT with the output wiped. */
static void test_flipped_bit(void **state)
{
    struct hsm *h = open_ok(false);
    uint8_t blob[sizeof(g_blob)], out[64], zero[64] = {0};
    size_t out_len = 0;

    for (size_t i = 0; i < g_blob_len; i++) {
        memcpy(blob, g_blob, g_blob_len);
        blob[i] ^= (uint8_t)(1u << (i % 8));
        memset(out, 0xee, sizeof(out));
        assert_int_equal(hsm_unwrap(h, (const uint8_t *)AAD, AAD_LEN, blob,
                                    g_blob_len, out, sizeof(out), &out_len),
                         KH_ECORRUPT);
        assert_memory_equal(out, zero, sizeof(out));
    }
    assert_int_equal(hsm_unwrap(h, (const uint8_t *)AAD, AAD_LEN, g_blob,
                                g_blob_len - 1, out, sizeof(out), &out_len),
                     KH_ECORRUPT);
    assert_int_equal(hsm_unwrap(h, (const uint8_t *)AAD, AAD_LEN, g_blob, 29,
                                out, sizeof(out), &out_len),
                     KH_ECORRUPT);
    expect_unwrap(h, g_blob, g_blob_len); /* the handle still works */
    close_dev();
}

/* Reopening (with and without generate_key) finds the same key by label
 * and opens the earlier blob; the device holds exactly one key. */
static void test_reopen_finds_key(void **state)
{
    struct hsm *h = open_ok(true);
    struct fwh_sess hs = {0};
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t rep_len = 0, used = 0;
    int fd;

    expect_unwrap(h, g_blob, g_blob_len);
    close_dev();
    h = open_ok(false);
    expect_unwrap(h, g_blob, g_blob_len);
    close_dev();
    fd = raw_connect();
    assert_true(fd >= 0);
    assert_int_equal(raw_session(fd, &hs), 0);
    assert_int_equal(raw_xfer_in(fd, &hs, FW_CMD_LOGIN, TEST_PIN,
                                 strlen(TEST_PIN), NULL, NULL),
                     FW_ST_OK);
    assert_int_equal(raw_xfer_in(fd, &hs, FW_CMD_WRAP_LIST, NULL, 0, rep,
                                 &rep_len),
                     FW_ST_OK);
    fwh_sess_clear(&hs);
    close(fd);
    assert_int_equal(rep_len, FW_WRAP_SLOTS * FW_WRAP_LIST_ENTRY);
    for (size_t i = 0; i < FW_WRAP_SLOTS; i++) {
        const uint8_t *e = rep + i * FW_WRAP_LIST_ENTRY;
        if (e[0] == 0)
            continue;
        used++;
        assert_int_equal(e[1], strlen(TEST_LABEL));
        assert_memory_equal(e + 2, TEST_LABEL, strlen(TEST_LABEL));
    }
    assert_int_equal(used, 1);
}

/* A label no key has, without generate_key: KH_EHSM. */
static void test_missing_key(void **state)
{
    int r;
    struct hsm *h = open_dev(TEST_PIN, "no-such-key", false, &r);

    assert_null(h);
    assert_int_equal(r, KH_EHSM);
}

/* A wrong PIN is KH_EAUTH (one try spent, not retried); the right PIN
 * still works afterwards (the device restores its tries). */
static void test_wrong_pin(void **state)
{
    int r;
    struct hsm *h = open_dev("9999", TEST_LABEL, false, &r);

    assert_null(h);
    assert_int_equal(r, KH_EAUTH);
    h = open_ok(false);
    expect_unwrap(h, g_blob, g_blob_len);
    close_dev();
}

/* Bad parameters are KH_EINVAL; a socket nobody listens on KH_EUNAVAIL. */
static void test_bad_params(void **state)
{
    struct hsm_device_params p = {.pin = TEST_PIN, .key_label = TEST_LABEL};
    static const char *bad[] = {"",         "bogus:/x", "unix:",     "tcp:",
                                "tcp:host", "tcp::99",  "tcp:host:", "serial:"};
    char msg[KH_ERRMSG_SIZE];
    struct hsm *h = NULL;
    char gone[PATH_MAX + 16];

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        p.address = bad[i];
        assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), KH_EINVAL);
    }
    p.address = "unix:/x";
    p.pin = "123";
    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), KH_EINVAL);
    p.pin = TEST_PIN;
    p.key_label = "a-label-longer-than-thirty-two-bytes";
    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), KH_EINVAL);
    p.key_label = TEST_LABEL;
    (void)snprintf(gone, sizeof(gone), "unix:%s/none.sock", fx.dir);
    p.address = gone;
    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), KH_EUNAVAIL);
    p.address = "serial:/nonexistent/ttyACM9";
    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), KH_EUNAVAIL);
    assert_null(h);
}

/* The simulator killed: wrap, unwrap and ping are KH_EUNAVAIL within the
 * deadline; restarted on the same NV, the handle reconnects, logs in
 * again and works, old blobs included. */
static void test_killed_then_restarted(void **state)
{
    struct hsm *h = open_ok(false);
    uint8_t *blob = NULL, out[64], zero[64] = {0};
    size_t blob_len = 0, out_len = 0;
    long t0;

    expect_unwrap(h, g_blob, g_blob_len);
    sim_stop();
    t0 = now_ms();
    assert_int_equal(hsm_wrap(h, (const uint8_t *)AAD, AAD_LEN, secret,
                              sizeof(secret), &blob, &blob_len),
                     KH_EUNAVAIL);
    memset(out, 0xee, sizeof(out));
    assert_int_equal(hsm_unwrap(h, (const uint8_t *)AAD, AAD_LEN, g_blob,
                                g_blob_len, out, sizeof(out), &out_len),
                     KH_EUNAVAIL);
    assert_memory_equal(out, zero, sizeof(out));
    assert_int_equal(hsm_ping(h), KH_EUNAVAIL);
    assert_true(now_ms() - t0 <
                2 * HSM_DEVICE_CALL_TIMEOUT_MS + HSM_DEVICE_PING_TIMEOUT_MS);
    assert_int_equal(sim_start(), 0);
    assert_int_equal(hsm_ping(h), 0);
    expect_unwrap(h, g_blob, g_blob_len);
    wrap_secret(h, &blob, &blob_len);
    expect_unwrap(h, blob, blob_len);
    free(blob);
    close_dev();
}

/* A hung device (SIGSTOP): ping gives up with KH_EUNAVAIL within its
 * deadline (the reconnection included); resumed, the handle works. */
static void test_hung_device(void **state)
{
    struct hsm *h = open_ok(false);
    long t0, elapsed;

    assert_int_equal(hsm_ping(h), 0);
    assert_int_equal(kill(fx.pid, SIGSTOP), 0);
    t0 = now_ms();
    assert_int_equal(hsm_ping(h), KH_EUNAVAIL);
    elapsed = now_ms() - t0;
    assert_int_equal(kill(fx.pid, SIGCONT), 0);
    assert_true(elapsed >= HSM_DEVICE_PING_TIMEOUT_MS - 50);
    assert_true(elapsed < HSM_DEVICE_PING_TIMEOUT_MS + DEADLINE_SLACK);
    assert_int_equal(hsm_ping(h), 0);
    expect_unwrap(h, g_blob, g_blob_len);
    close_dev();
}

/* ---- the relay for tcp: and serial: ---- */

struct relay
{
    int listen_fd; /* tcp: accept one connection on it; else -1 */
    int a;         /* the pty master, or the accepted connection */
    int stop[2];   /* a byte on stop[1] ends the relay */
    pthread_t thread;
    /* A man in the middle: the flip_nth-th reply from the device whose
     * command byte is flip_cmd (0: none) gets its last payload byte
     * flipped and its CRC fixed, so only the crypto can notice. */
    uint8_t flip_cmd;
    int flip_nth;
};

/* Tamper with a reply frame that starts buf[0..n), if it is the one. */
static void relay_tamper(struct relay *rl, uint8_t *buf, size_t n)
{
    size_t len;

    if (rl->flip_cmd == 0 || n < FW_HDR_LEN || buf[0] != FW_MAGIC0 ||
        buf[3] != rl->flip_cmd)
        return;
    len = fw_get_u16(buf + 10);
    if (len == 0 || n < FW_HDR_LEN + len + FW_CRC_LEN || --rl->flip_nth > 0)
        return;
    buf[FW_HDR_LEN + len - 1] ^= 0x01;
    (void)fw_frame_finish(buf, len);
    rl->flip_cmd = 0;
}

/* Copy what one side says to the other; false when it is done. */
static bool relay_copy(struct relay *rl, int from, int to, bool from_dev)
{
    uint8_t buf[512];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n <= 0)
        return false;
    if (from_dev)
        relay_tamper(rl, buf, (size_t)n);
    return write(to, buf, (size_t)n) == n;
}

static void *relay_main(void *arg)
{
    struct relay *rl = arg;
    struct pollfd pfd[3];
    int sim = -1;

    if (rl->listen_fd >= 0) {
        pfd[0] = (struct pollfd){.fd = rl->listen_fd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = rl->stop[0], .events = POLLIN};
        if (poll(pfd, 2, RAW_TIMEOUT_MS) <= 0 || pfd[1].revents != 0)
            return NULL;
        rl->a = accept(rl->listen_fd, NULL, NULL);
    }
    sim = raw_connect();
    while (rl->a >= 0 && sim >= 0) {
        pfd[0] = (struct pollfd){.fd = rl->a, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = sim, .events = POLLIN};
        pfd[2] = (struct pollfd){.fd = rl->stop[0], .events = POLLIN};
        if (poll(pfd, 3, -1) < 0 || pfd[2].revents != 0)
            break;
        if (pfd[0].revents != 0 && !relay_copy(rl, rl->a, sim, false))
            break;
        if (pfd[1].revents != 0 && !relay_copy(rl, sim, rl->a, true))
            break;
    }
    if (sim >= 0)
        close(sim);
    return NULL;
}

static void relay_start(struct relay *rl)
{
    assert_int_equal(pipe(rl->stop), 0);
    assert_int_equal(pthread_create(&rl->thread, NULL, relay_main, rl), 0);
    fx.relay = rl;
}

/* Stop the relay (NULL: none) and close its descriptors. */
static void relay_stop(struct relay *rl)
{
    if (rl == NULL)
        return;
    fx.relay = NULL;
    if (write(rl->stop[1], "x", 1) != 1)
        abort();
    (void)pthread_join(rl->thread, NULL);
    close(rl->stop[0]);
    close(rl->stop[1]);
    if (rl->a >= 0)
        close(rl->a);
    if (rl->listen_fd >= 0)
        close(rl->listen_fd);
}

/* Open a handle on address, round-trip the kept blob and a new one. */
static void round_trip_at(const char *address)
{
    struct hsm_device_params p = {
        .address = address, .pin = TEST_PIN, .key_label = TEST_LABEL};
    char msg[KH_ERRMSG_SIZE] = "";
    struct hsm *h = NULL;
    uint8_t *blob = NULL;
    size_t blob_len = 0;

    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), 0);
    fx.h = h;
    expect_unwrap(h, g_blob, g_blob_len);
    wrap_secret(h, &blob, &blob_len);
    expect_unwrap(h, blob, blob_len);
    assert_int_equal(hsm_ping(h), 0);
    free(blob);
    close_dev();
}

/* tcp:127.0.0.1:PORT (TCP_NODELAY) reaches the device. */
static void test_tcp_transport(void **state)
{
    struct relay rl = {.a = -1};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    char address[64];

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rl.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(rl.listen_fd >= 0);
    assert_int_equal(bind(rl.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(rl.listen_fd, 1), 0);
    assert_int_equal(getsockname(rl.listen_fd, (struct sockaddr *)&sa, &len),
                     0);
    (void)snprintf(address, sizeof(address), "tcp:127.0.0.1:%u",
                   (unsigned)ntohs(sa.sin_port));
    relay_start(&rl);
    round_trip_at(address);
    relay_stop(&rl);
}

/* serial:/dev/pts/N (a pseudo-terminal set raw at 115200) reaches the
 * device. The test holds the slave open too, so the master never sees a
 * hang-up while the handle reopens the line. */
static void test_serial_transport(void **state)
{
    struct relay rl = {.listen_fd = -1};
    char address[PATH_MAX], *name;
    int slave;

    rl.a = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(rl.a >= 0);
    assert_int_equal(grantpt(rl.a), 0);
    assert_int_equal(unlockpt(rl.a), 0);
    name = ptsname(rl.a);
    assert_non_null(name);
    slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(slave >= 0);
    (void)snprintf(address, sizeof(address), "serial:%s", name);
    relay_start(&rl);
    round_trip_at(address);
    relay_stop(&rl);
    close(slave);
}

/* A loopback relay on a fresh port; its tcp: address in address. */
static void relay_tcp(struct relay *rl, char *address, size_t size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rl->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(rl->listen_fd >= 0);
    assert_int_equal(bind(rl->listen_fd, (struct sockaddr *)&sa, sizeof(sa)),
                     0);
    assert_int_equal(listen(rl->listen_fd, 1), 0);
    assert_int_equal(getsockname(rl->listen_fd, (struct sockaddr *)&sa, &len),
                     0);
    (void)snprintf(address, size, "tcp:127.0.0.1:%u",
                   (unsigned)ntohs(sa.sin_port));
    relay_start(rl);
}

/* The device refuses a LOGIN in plaintext (open a session first) and
 * spends no PIN try on it. */
static void test_plaintext_login_refused(void **state)
{
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t len = 0;
    int fd = raw_connect();

    assert_true(fd >= 0);
    assert_int_equal(
        raw_xfer(fd, FW_CMD_LOGIN, TEST_PIN, strlen(TEST_PIN), NULL, NULL),
        FW_ST_NOSESSION);
    assert_int_equal(raw_xfer(fd, FW_CMD_INFO, NULL, 0, rep, &len), FW_ST_OK);
    assert_true(len >= 4);
    assert_int_equal(rep[2], FW_PIN_TRIES);
    close(fd);
}

/* A man in the middle flips a bit of the device's sealed reply to the
 * first unwrap: the handle refuses it (no secret, no wrong secret) and
 * drops the link. */
static void test_tampered_reply_refused(void **state)
{
    struct relay rl = {.a = -1};
    struct hsm_device_params p = {.pin = TEST_PIN, .key_label = TEST_LABEL};
    char address[64], msg[KH_ERRMSG_SIZE] = "";
    uint8_t out[HSM_SECRET_BYTES_MAX];
    size_t out_len = 0;
    struct hsm *h = NULL;

    rl.flip_cmd = FW_CMD_UNWRAP | FW_REPLY_BIT;
    rl.flip_nth = 1;
    relay_tcp(&rl, address, sizeof(address));
    p.address = address;
    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), 0);
    fx.h = h;
    assert_int_equal(hsm_unwrap(h, (const uint8_t *)"aad", 3, g_blob,
                                g_blob_len, out, sizeof(out), &out_len),
                     KH_EUNAVAIL);
    assert_int_equal(out_len, 0);
    close_dev();
    relay_stop(&rl);
}

/* A SESSION_OPEN reply whose device signature is forged (a bit of s
 * flipped on the link) opens no session: hsm_device_open fails with
 * KH_EHSM and says why, and no PIN was sent. */
static void test_forged_session_refused(void **state)
{
    struct relay rl = {.a = -1};
    struct hsm_device_params p = {.pin = TEST_PIN, .key_label = TEST_LABEL};
    char address[64], msg[KH_ERRMSG_SIZE] = "";
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t len = 0;
    struct hsm *h = NULL;
    int fd;

    rl.flip_cmd = FW_CMD_SESSION_OPEN | FW_REPLY_BIT;
    rl.flip_nth = 1;
    relay_tcp(&rl, address, sizeof(address));
    p.address = address;
    assert_int_equal(hsm_device_open(&p, &h, msg, sizeof(msg)), KH_EHSM);
    assert_null(h);
    assert_non_null(strstr(msg, "signature"));
    relay_stop(&rl);
    fd = raw_connect();
    assert_true(fd >= 0);
    assert_int_equal(raw_xfer(fd, FW_CMD_INFO, NULL, 0, rep, &len), FW_ST_OK);
    assert_int_equal(rep[2], FW_PIN_TRIES);
    close(fd);
}

/* Round trips per second through the simulator (printed as a figure);
 * every one must succeed. */
static void test_round_trip_rate(void **state)
{
    struct hsm *h = open_ok(false);
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    long t0 = now_ms(), ms;

    for (int i = 0; i < BENCH_ROUNDS; i++) {
        wrap_secret(h, &blob, &blob_len);
        expect_unwrap(h, blob, blob_len);
        free(blob);
        blob = NULL;
    }
    ms = now_ms() - t0;
    printf("device_wrap_unwrap_round_trips_per_s=%.0f (n=%d, %ld ms)\n",
           BENCH_ROUNDS * 1000.0 / (double)(ms > 0 ? ms : 1), BENCH_ROUNDS, ms);
    close_dev();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_generate_and_round_trip, test_teardown),
        cmocka_unit_test_teardown(test_wrong_aad, test_teardown),
        cmocka_unit_test_teardown(test_flipped_bit, test_teardown),
        cmocka_unit_test_teardown(test_reopen_finds_key, test_teardown),
        cmocka_unit_test_teardown(test_missing_key, test_teardown),
        cmocka_unit_test_teardown(test_wrong_pin, test_teardown),
        cmocka_unit_test_teardown(test_bad_params, test_teardown),
        cmocka_unit_test_teardown(test_killed_then_restarted, test_teardown),
        cmocka_unit_test_teardown(test_hung_device, test_teardown),
        cmocka_unit_test_teardown(test_tcp_transport, test_teardown),
        cmocka_unit_test_teardown(test_serial_transport, test_teardown),
        cmocka_unit_test_teardown(test_plaintext_login_refused,
                                  test_teardown),
        cmocka_unit_test_teardown(test_tampered_reply_refused, test_teardown),
        cmocka_unit_test_teardown(test_forged_session_refused, test_teardown),
        cmocka_unit_test_teardown(test_round_trip_rate, test_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
