/*
 * fwctl - a host client for the Keyhold device protocol, over a unix
 * socket (the simulator, or QEMU's UART chardev) or TCP. It runs a list of
 * commands on one connection, each sealed in a v4 session (host/
 * fw_hsess.h; opened on connect after INFO, whose device key checks the
 * SESSION_OPEN signature, and again after a logout or reset), prints each
 * result on one line, and exits 1 at the first failure. --plain sends
 * every frame in plaintext without a session (to show what the device
 * refuses). It must never cache or print a PIN.
 *
 * usage: fwctl [--time] [--plain] (--socket PATH | --tcp HOST:PORT)
 *              CMD [ARG]... ...
 *   info | attest NONCE | init-pin PIN | login PIN | logout | session
 *   gen-wrap SLOT | wrap-list
 *   wrap SLOT AAD HEX | unwrap SLOT AAD HEX | gen-ec SLOT | get-pub SLOT
 *   sign SLOT HASHHEX | random N | counter-inc | counter | log | reset
 *   bench-sign SLOT N | bench-wrap SLOT N | stats
 * (stats: the device time of the previous command's handler, in ns; under
 * QEMU -icount shift=0 that is its guest instruction count)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fw_proto.h"
#include "host/fw_hsess.h"

#define FWCTL_TIMEOUT_MS 20000

static int g_fd = -1;
static int g_time;
static int g_plain;
static struct fwh_sess g_sess;
static uint8_t g_devpub[FW_EC_PUB_LEN];
static int g_pinned;
static uint32_t g_seq = 1;
static uint8_t g_frame[FW_MAX_FRAME];
static uint8_t g_req[FW_MAX_PAYLOAD];
static uint8_t g_rep[FW_MAX_PAYLOAD];
static size_t g_rep_len;
static struct fw_parser g_parser;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_tcp(const char *hostport)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int fd = -1, one = 1;

    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    freeaddrinfo(ai);
    return fd;
}

/* Send one request (sealed in the session or not) and wait for its
 * reply; returns the status or -1 (a sealed reply that does not open, or
 * a plaintext one to a sealed request that is not an error). */
static int xfer_raw(int sealed, uint8_t cmd, const uint8_t *p, size_t n)
{
    size_t len = sealed ? fwh_seal(&g_sess, g_frame, sizeof(g_frame), cmd,
                                   g_seq, p, n)
                        : fw_frame_encode(g_frame, sizeof(g_frame), cmd, 0,
                                          g_seq, p, n);
    double deadline = now_ms() + FWCTL_TIMEOUT_MS, t0 = now_ms();

    if (len == 0 || write(g_fd, g_frame, len) != (ssize_t)len)
        return -1;
    while (now_ms() < deadline) {
        struct pollfd pfd = {.fd = g_fd, .events = POLLIN};
        uint8_t b[256];
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t got = read(g_fd, b, sizeof(b));
        if (got <= 0)
            return -1;
        for (ssize_t i = 0; i < got; i++) {
            struct fw_frame f;
            if (fw_parser_feed(&g_parser, b[i], &f) != FW_FEED_FRAME ||
                f.seq != g_seq)
                continue;
            g_seq++;
            g_rep_len = 0;
            if (f.flags & FW_FLAG_SEALED) {
                if (fwh_open(&g_sess, &f, f.seq, g_rep, sizeof(g_rep),
                             &g_rep_len) != 0)
                    return -1;
            } else {
                if (sealed && f.status == FW_ST_OK)
                    return -1;
                if (sealed)
                    fwh_sess_clear(&g_sess); /* the device dropped it */
                memcpy(g_rep, f.payload, f.len);
                g_rep_len = f.len;
            }
            if (g_time)
                fprintf(stderr, "rtt_ms=%.3f cmd=0x%02x\n", now_ms() - t0,
                        cmd);
            return f.status;
        }
    }
    return -1;
}

/* INFO (the device key: pinned at the first one), then SESSION_OPEN. */
static int session_open(void)
{
    uint8_t req[FW_SESSION_REQ_LEN];

    if (xfer_raw(0, FW_CMD_INFO, NULL, 0) != FW_ST_OK ||
        g_rep_len < 48 + FW_EC_PUB_LEN)
        return -1;
    if (g_pinned && memcmp(g_devpub, g_rep + 48, FW_EC_PUB_LEN) != 0) {
        fprintf(stderr, "fwctl: the device key changed\n");
        return -1;
    }
    memcpy(g_devpub, g_rep + 48, FW_EC_PUB_LEN);
    g_pinned = 1;
    if (fwh_sess_begin(&g_sess, req) != 0 ||
        xfer_raw(0, FW_CMD_SESSION_OPEN, req, sizeof(req)) != FW_ST_OK ||
        fwh_sess_finish(&g_sess, g_rep, g_rep_len, g_devpub) != 0) {
        fprintf(stderr, "fwctl: SESSION_OPEN failed (bad device signature "
                        "or reply)\n");
        return -1;
    }
    return 0;
}

static int xfer(uint8_t cmd, const uint8_t *p, size_t n)
{
    int st;

    if (g_plain)
        return xfer_raw(0, cmd, p, n);
    if (!g_sess.open && session_open() != 0)
        return -1;
    st = xfer_raw(1, cmd, p, n);
    if ((cmd == FW_CMD_LOGOUT || cmd == FW_CMD_RESET) && st == FW_ST_OK)
        fwh_sess_clear(&g_sess); /* the device closed it after the reply */
    return st;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

/* Parse hex into out (cap bytes); returns the length or -1. */
static long parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);

    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (long)(n / 2);
}

static int need(int argc, int i, int k)
{
    if (i + k >= argc) {
        fprintf(stderr, "fwctl: missing argument\n");
        exit(2);
    }
    return 0;
}

static int do_info(void)
{
    int st = xfer(FW_CMD_INFO, NULL, 0);

    if (st != FW_ST_OK || g_rep_len < 48 + FW_EC_PUB_LEN)
        return st ? st : -1;
    printf("proto=%u state=%u tries=%u flags=%u counter=%llu log=%u "
           "version=%.*s\n", g_rep[0], g_rep[1], g_rep[2], g_rep[3],
           (unsigned long long)fw_get_u64(g_rep + 4), fw_get_u32(g_rep + 12),
           (int)(g_rep_len - 48 - FW_EC_PUB_LEN), g_rep + 48 + FW_EC_PUB_LEN);
    printf("devpub=");
    print_hex(g_rep + 48, FW_EC_PUB_LEN);
    return 0;
}

/* WRAP sends a fresh random IV (protocol 2: the caller chooses it). */
static int do_wrap(uint8_t cmd, const char *slot, const char *aad,
                   const char *hex)
{
    size_t al = strlen(aad), iv = cmd == FW_CMD_WRAP ? FW_GCM_IV_LEN : 0;
    long n;

    if (al > FW_AAD_MAX)
        return -1;
    g_req[0] = (uint8_t)atoi(slot);
    fw_put_u16(g_req + 1, (uint16_t)al);
    memcpy(g_req + 3, aad, al);
    if (iv > 0 && getrandom(g_req + 3 + al, iv, 0) != (ssize_t)iv)
        return -1;
    n = parse_hex(hex, g_req + 3 + al + iv, sizeof(g_req) - 3 - al - iv);
    if (n < 0)
        return -1;
    int st = xfer(cmd, g_req, 3 + al + iv + (size_t)n);
    if (st == FW_ST_OK)
        print_hex(g_rep, g_rep_len);
    return st;
}

static int do_log(void)
{
    uint32_t idx = 0, total;
    int st;

    do {
        fw_put_u32(g_req, idx);
        st = xfer(FW_CMD_LOG_READ, g_req, 4);
        if (st != FW_ST_OK)
            return st;
        total = fw_get_u32(g_rep);
        for (unsigned k = 0; k < g_rep[4]; k++) {
            const uint8_t *e = g_rep + 5 + k * FW_LOG_ENTRY_LEN;
            printf("%u type=%u arg=%u hash=", fw_get_u32(e), e[4],
                   fw_get_u32(e + 5));
            print_hex(e + 9, FW_HASH_LEN);
            idx = fw_get_u32(e) + 1;
        }
    } while (g_rep[4] > 0 && idx < total);
    return 0;
}

static int do_bench_sign(const char *slot, const char *count)
{
    int n = atoi(count);
    double t0 = now_ms();

    g_req[0] = (uint8_t)atoi(slot);
    memset(g_req + 1, 0x5A, FW_HASH_LEN);
    for (int i = 0; i < n && i < 100000; i++)
        if (xfer(FW_CMD_SIGN, g_req, 1 + FW_HASH_LEN) != FW_ST_OK)
            return -1;
    printf("sign_rtt_ms_mean=%.3f n=%d\n", (now_ms() - t0) / (n > 0 ? n : 1),
           n);
    return 0;
}

/* N wraps of 32 bytes (fresh random IVs) each followed by its unwrap;
 * the mean round trip of each. */
static int do_bench_wrap(const char *slot, const char *count)
{
    int n = atoi(count);
    double tw = 0, tu = 0, t0;
    uint8_t blob[FW_GCM_IV_LEN + 32 + FW_GCM_TAG_LEN];

    for (int i = 0; i < n && i < 100000; i++) {
        g_req[0] = (uint8_t)atoi(slot);
        fw_put_u16(g_req + 1, 5);
        memcpy(g_req + 3, "bench", 5);
        if (getrandom(g_req + 8, FW_GCM_IV_LEN, 0) != FW_GCM_IV_LEN)
            return -1;
        memset(g_req + 8 + FW_GCM_IV_LEN, 0xA5, 32);
        t0 = now_ms();
        if (xfer(FW_CMD_WRAP, g_req, 8 + FW_GCM_IV_LEN + 32) != FW_ST_OK ||
            g_rep_len != sizeof(blob))
            return -1;
        tw += now_ms() - t0;
        memcpy(blob, g_rep, sizeof(blob));
        memcpy(g_req + 8, blob, sizeof(blob));
        t0 = now_ms();
        if (xfer(FW_CMD_UNWRAP, g_req, 8 + sizeof(blob)) != FW_ST_OK)
            return -1;
        tu += now_ms() - t0;
    }
    n = n > 0 ? n : 1;
    printf("wrap_rtt_ms_mean=%.3f unwrap_rtt_ms_mean=%.3f n=%d\n", tw / n,
           tu / n, n);
    return 0;
}

/* Run argv[i]; returns the number of arguments used and its status in
 * *ret_st, or -1 for an unknown command. */
static int run_one(int argc, char **argv, int i, int *ret_st)
{
    const char *c = argv[i];
    int st = -1, used = 1;
    long n;

    if (strcmp(c, "info") == 0)
        st = do_info();
    else if (strcmp(c, "attest") == 0 && !need(argc, i, 1)) {
        used = 2;
        st = xfer(FW_CMD_ATTEST, (const uint8_t *)argv[i + 1],
                  strlen(argv[i + 1]));
        if (st == FW_ST_OK)
            print_hex(g_rep, g_rep_len);
    } else if ((strcmp(c, "init-pin") == 0 || strcmp(c, "login") == 0) &&
               !need(argc, i, 1)) {
        used = 2;
        st = xfer(c[0] == 'i' ? FW_CMD_INIT_PIN : FW_CMD_LOGIN,
                  (const uint8_t *)argv[i + 1], strlen(argv[i + 1]));
        if (st == FW_ST_BADPIN && g_rep_len == 1)
            fprintf(stderr, "fwctl: wrong PIN, %u tries left\n", g_rep[0]);
        if (st == FW_ST_OK)
            printf("ok\n");
    } else if (strcmp(c, "logout") == 0) {
        st = xfer(FW_CMD_LOGOUT, NULL, 0);
    } else if (strcmp(c, "session") == 0 && !g_plain) {
        fwh_sess_clear(&g_sess); /* a new one; the device drops the old */
        st = session_open() == 0 ? FW_ST_OK : -1;
        if (st == FW_ST_OK)
            printf("ok\n");
    } else if ((strcmp(c, "gen-wrap") == 0 || strcmp(c, "gen-ec") == 0 ||
                strcmp(c, "get-pub") == 0) && !need(argc, i, 1)) {
        used = 2;
        g_req[0] = (uint8_t)atoi(argv[i + 1]);
        st = xfer(c[4] == 'w' ? FW_CMD_GEN_WRAP
                  : c[0] == 'g' && c[2] == 'n' ? FW_CMD_GEN_EC
                                               : FW_CMD_GET_PUB, g_req, 1);
        if (st == FW_ST_OK)
            g_rep_len ? print_hex(g_rep, g_rep_len) : (void)printf("ok\n");
    } else if ((strcmp(c, "wrap") == 0 || strcmp(c, "unwrap") == 0) &&
               !need(argc, i, 3)) {
        used = 4;
        st = do_wrap(c[0] == 'w' ? FW_CMD_WRAP : FW_CMD_UNWRAP, argv[i + 1],
                     argv[i + 2], argv[i + 3]);
    } else if (strcmp(c, "sign") == 0 && !need(argc, i, 2)) {
        used = 3;
        g_req[0] = (uint8_t)atoi(argv[i + 1]);
        n = parse_hex(argv[i + 2], g_req + 1, FW_HASH_LEN);
        st = n == FW_HASH_LEN ? xfer(FW_CMD_SIGN, g_req, 1 + FW_HASH_LEN) : -1;
        if (st == FW_ST_OK)
            print_hex(g_rep, g_rep_len);
    } else if (strcmp(c, "random") == 0 && !need(argc, i, 1)) {
        used = 2;
        fw_put_u16(g_req, (uint16_t)atoi(argv[i + 1]));
        st = xfer(FW_CMD_RANDOM, g_req, 2);
        if (st == FW_ST_OK)
            print_hex(g_rep, g_rep_len);
    } else if (strcmp(c, "counter-inc") == 0 || strcmp(c, "counter") == 0) {
        st = xfer(c[7] == '-' ? FW_CMD_COUNTER_INC : FW_CMD_COUNTER_GET,
                  NULL, 0);
        if (st == FW_ST_OK)
            printf("%llu\n", (unsigned long long)fw_get_u64(g_rep));
    } else if (strcmp(c, "wrap-list") == 0) {
        st = xfer(FW_CMD_WRAP_LIST, NULL, 0);
        for (size_t k = 0; st == FW_ST_OK && k < FW_WRAP_SLOTS; k++) {
            const uint8_t *e = g_rep + k * FW_WRAP_LIST_ENTRY;
            if (g_rep_len >= (k + 1) * FW_WRAP_LIST_ENTRY && e[0])
                printf("%zu label=%.*s\n", k, (int)e[1], e + 2);
        }
    } else if (strcmp(c, "log") == 0) {
        st = do_log();
    } else if (strcmp(c, "reset") == 0) {
        st = xfer(FW_CMD_RESET, (const uint8_t *)FW_RESET_CONFIRM,
                  strlen(FW_RESET_CONFIRM));
    } else if (strncmp(c, "bench-", 6) == 0 && !need(argc, i, 2)) {
        used = 3;
        if (strcmp(c + 6, "sign") == 0)
            st = do_bench_sign(argv[i + 1], argv[i + 2]);
        else if (strcmp(c + 6, "wrap") == 0)
            st = do_bench_wrap(argv[i + 1], argv[i + 2]);
    } else if (strcmp(c, "stats") == 0) {
        st = xfer(FW_CMD_STATS, NULL, 0);
        if (st == FW_ST_OK)
            printf("%llu\n", (unsigned long long)fw_get_u64(g_rep));
    } else {
        fprintf(stderr, "fwctl: unknown command %s\n", c);
        return -1;
    }
    *ret_st = st;
    return used;
}

int main(int argc, char **argv)
{
    int i = 1;

    if (i < argc && strcmp(argv[i], "--time") == 0) {
        g_time = 1;
        i++;
    }
    if (i < argc && strcmp(argv[i], "--plain") == 0) {
        g_plain = 1;
        i++;
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: fwctl [--time] [--plain] (--socket PATH | "
                        "--tcp HOST:PORT) CMD [ARG]...\n");
        return 2;
    }
    if (strcmp(argv[i], "--socket") == 0)
        g_fd = connect_unix(argv[i + 1]);
    else if (strcmp(argv[i], "--tcp") == 0)
        g_fd = connect_tcp(argv[i + 1]);
    if (g_fd < 0) {
        fprintf(stderr, "fwctl: cannot connect to %s\n", argv[i + 1]);
        return 1;
    }
    fw_parser_init(&g_parser);
    for (i += 2; i < argc;) {
        int st = -1, used = run_one(argc, argv, i, &st);
        if (used < 0 || st != FW_ST_OK) {
            if (used >= 0)
                fprintf(stderr, "fwctl: %s failed: status %d\n", argv[i], st);
            close(g_fd);
            fwh_sess_clear(&g_sess);
            return 1;
        }
        i += used;
    }
    close(g_fd);
    fwh_sess_clear(&g_sess);
    return 0;
}
