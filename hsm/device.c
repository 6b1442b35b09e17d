/*
 * device.c - the device backend of the hardware layer: the Keyhold
 * firmware (firmware/) over its framed protocol (fw_proto.h), on a unix
 * socket, a TCP connection (TCP_NODELAY) or a serial line (raw, 115200).
 *
 * Owns per handle one connection to the device, logged in as the user
 * inside a v4 session (fw_proto.h "Session", firmware/host/fw_hsess.h:
 * every request and reply sealed with AES-256-GCM under keys agreed with
 * an ephemeral ECDH that the device signs), the device key pinned at the
 * handle's first contact (INFO; a device whose key changed - another one,
 * or one reset since - is refused), the slot of the wrapping key found by
 * its label, and a copy of the PIN in locked memory, kept only to log in
 * again after a lost link. The session is opened before the login and
 * again after every reconnection; a reply that does not open is a lost
 * link. Every
 * read and write waits with poll() against the deadline of its call, so
 * a dead device cannot hang the caller. The frame codec is the
 * firmware's own (firmware/core/fw_frame.c, compiled into kh_hsm).
 *
 * It must never log, never put a PIN or key byte in an error message,
 * never offer a PIN the device refused again (each refusal spends a try),
 * never send the PIN or a command outside the session, never reuse a
 * sequence number in a session, never offer the device one IV twice, and
 * never return an unwrapped
 * secret that failed authentication. Request, reply and frame buffers are
 * wiped after every exchange (they carry secrets and the PIN).
 *
 * Blob layout (version 1): version(1) | iv(12) | ciphertext | tag(16).
 * AAD given to the device: version | SHA-256(caller's aad), 33 bytes, so
 * any caller aad fits the device's FW_AAD_MAX and the header is bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/secret.h"
#include "firmware/host/fw_hsess.h"
#include "firmware/include/fw_proto.h"
#include "hsm.h"
#include "hsm_backend.h"

#define DEV_BLOB_VERSION      1
#define DEV_BLOB_HEADER_BYTES 1
#define DEV_AAD_HASH_BYTES    32
#define DEV_AAD_BYTES         (DEV_BLOB_HEADER_BYTES + DEV_AAD_HASH_BYTES)
#define DEV_BLOB_OVERHEAD                                                      \
    (DEV_BLOB_HEADER_BYTES + FW_GCM_IV_LEN + FW_GCM_TAG_LEN)
#define DEV_WRAP_REQ_HEADER 3 /* slot u8, aad_len u16 */
#define DEV_INFO_BYTES_MIN  4 /* ver, state, tries, flags */
#define DEV_READ_CHUNK      256
#define DEV_HOST_BYTES_MAX  HSM_DEVICE_ADDRESS_BYTES_MAX

_Static_assert(DEV_BLOB_OVERHEAD <= HSM_WRAP_OVERHEAD,
               "device blob fits the advertised overhead");
_Static_assert(HSM_SECRET_BYTES_MAX <= FW_WRAP_MAX,
               "the device wraps every secret hsm.h allows");
_Static_assert(DEV_AAD_BYTES <= FW_AAD_MAX, "device AAD fits the device");
_Static_assert(DEV_WRAP_REQ_HEADER + DEV_AAD_BYTES + FW_GCM_IV_LEN +
                       HSM_SECRET_BYTES_MAX + FW_GCM_TAG_LEN <=
                   FW_MAX_PAYLOAD,
               "an unwrap request fits one frame");
_Static_assert(HSM_DEVICE_PIN_BYTES_MIN == FW_PIN_MIN &&
                   HSM_DEVICE_PIN_BYTES_MAX == FW_PIN_MAX &&
                   HSM_DEVICE_KEY_LABEL_BYTES_MAX == FW_LABEL_MAX,
               "hsm.h mirrors the firmware's bounds");

enum dev_transport {
    DEV_UNIX = 1,
    DEV_TCP,
    DEV_SERIAL,
};

struct dev_ctx
{
    enum dev_transport transport;
    char target[HSM_DEVICE_ADDRESS_BYTES_MAX + 1]; /* path or host:port */
    char key_label[FW_LABEL_MAX + 1];
    size_t key_label_len;
    char *pin; /* kh_secure_alloc, pin_size bytes */
    size_t pin_size;
    size_t pin_len;
    bool pin_refused; /* never offer the PIN again */
    int fd;           /* -1: no link */
    bool logged_in;   /* the link is logged in and the key found */
    uint8_t slot;
    uint32_t seq;
    struct fwh_sess sess;  /* open: every frame sealed */
    bool pinned;           /* devpub: the key seen at first contact */
    uint8_t devpub[FW_EC_PUB_LEN];
    struct fw_parser parser;
    uint8_t frame[FW_MAX_FRAME];
    uint8_t req[FW_MAX_PAYLOAD];
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t rep_len;
};

/* ---- time and the link ------------------------------------------- */

static long dev_now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline, at least 0, as poll() takes them. */
static int dev_left_ms(long deadline)
{
    long left = deadline - dev_now_ms();

    return left > 0 ? (int)left : 0;
}

static int dev_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return -1;
    return 0;
}

/* Wait for a non-blocking connect() in progress; 0 once connected. */
static int dev_connect_wait(int fd, long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    socklen_t len = sizeof(int);
    int err = 0, pr;

    do {
        pr = poll(&pfd, 1, dev_left_ms(deadline));
    } while (pr < 0 && errno == EINTR);
    if (pr <= 0)
        return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return -1;
    return 0;
}

/* Connect fd to sa with the deadline; closes fd and returns -1 on
 * failure, else fd (non-blocking). */
static int dev_connect_fd(int fd, const struct sockaddr *sa, socklen_t len,
                          long deadline)
{
    if (fd < 0)
        return -1;
    if (dev_set_nonblock(fd) != 0)
        goto fail;
    if (connect(fd, sa, len) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EAGAIN)
        goto fail;
    if (dev_connect_wait(fd, deadline) != 0)
        goto fail;
    return fd;
fail:
    (void)close(fd);
    return -1;
}

static int dev_open_unix(const char *path, long deadline)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, len + 1);
    return dev_connect_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
                          (const struct sockaddr *)&sa, sizeof(sa), deadline);
}

/* "host:port" (the last colon splits; "[::1]:port" for IPv6). */
static int dev_open_tcp(const char *hostport, long deadline)
{
    char host[DEV_HOST_BYTES_MAX + 1];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    size_t host_len;
    int fd, one = 1;

    if (colon == NULL || colon[1] == '\0')
        return -1;
    host_len = (size_t)(colon - hostport);
    if (host_len > 1 && hostport[0] == '[' && hostport[host_len - 1] == ']') {
        hostport++;
        host_len -= 2;
    }
    if (host_len == 0 || host_len > DEV_HOST_BYTES_MAX)
        return -1;
    memcpy(host, hostport, host_len);
    host[host_len] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    fd = dev_connect_fd(socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0),
                        ai->ai_addr, ai->ai_addrlen, deadline);
    freeaddrinfo(ai);
    if (fd >= 0 &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        (void)close(fd);
        fd = -1;
    }
    return fd;
}

/* A serial line in raw mode, 115200 8N1, no flow control; input and
 * output queues flushed so stale bytes never meet the next request. */
static int dev_open_serial(const char *path)
{
    struct termios tio;
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (tcgetattr(fd, &tio) != 0)
        goto fail;
    cfmakeraw(&tio);
    tio.c_cflag |= CLOCAL | CREAD;
    tio.c_cflag &= ~(tcflag_t)(CSTOPB | CRTSCTS);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (cfsetispeed(&tio, B115200) != 0 || cfsetospeed(&tio, B115200) != 0)
        goto fail;
    if (tcsetattr(fd, TCSANOW, &tio) != 0 || tcflush(fd, TCIOFLUSH) != 0)
        goto fail;
    return fd;
fail:
    (void)close(fd);
    return -1;
}

static void dev_link_close(struct dev_ctx *ctx)
{
    if (ctx->fd >= 0)
        (void)close(ctx->fd);
    ctx->fd = -1;
    ctx->logged_in = false;
    fwh_sess_clear(&ctx->sess);
    kh_wipe(&ctx->parser, sizeof(ctx->parser));
    fw_parser_init(&ctx->parser);
}

static int dev_link_open(struct dev_ctx *ctx, long deadline)
{
    KH_ASSERT(ctx->fd < 0);
    if (ctx->transport == DEV_UNIX)
        ctx->fd = dev_open_unix(ctx->target, deadline);
    else if (ctx->transport == DEV_TCP)
        ctx->fd = dev_open_tcp(ctx->target, deadline);
    else
        ctx->fd = dev_open_serial(ctx->target);
    fw_parser_init(&ctx->parser);
    return ctx->fd >= 0 ? 0 : KH_EUNAVAIL;
}

/* ---- one exchange -------------------------------------------------- */

static int dev_send_all(struct dev_ctx *ctx, const uint8_t *p, size_t n,
                        long deadline)
{
    while (n > 0) {
        struct pollfd pfd = {.fd = ctx->fd, .events = POLLOUT};
        ssize_t w;
        int pr = poll(&pfd, 1, dev_left_ms(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        if (ctx->transport == DEV_SERIAL)
            w = write(ctx->fd, p, n);
        else
            w = send(ctx->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Feed bytes from buf to the parser; 1 with the reply to seq in ctx->rep
 * (opened, when the request was sealed) and its status in *ret_status, 0
 * for more, -1 for a frame the device garbled, a reply that does not fit,
 * or, to a sealed request, a reply that does not open (tampered, or a
 * plaintext error: the device lost the session). */
static int dev_feed(struct dev_ctx *ctx, const uint8_t *buf, size_t n,
                    uint32_t seq, bool sealed, int *ret_status)
{
    for (size_t i = 0; i < n; i++) {
        struct fw_frame f;
        enum fw_feed fr = fw_parser_feed(&ctx->parser, buf[i], &f);
        if (fr == FW_FEED_ERROR)
            return -1;
        if (fr != FW_FEED_FRAME || f.seq != seq)
            continue;
        if (sealed) {
            if (fwh_open(&ctx->sess, &f, seq, ctx->rep, sizeof(ctx->rep),
                         &ctx->rep_len) != 0)
                return -1;
        } else {
            if ((f.flags & FW_FLAG_SEALED) || f.len > sizeof(ctx->rep))
                return -1;
            memcpy(ctx->rep, f.payload, f.len);
            ctx->rep_len = f.len;
        }
        *ret_status = f.status;
        return 1;
    }
    return 0;
}

static int dev_recv_reply(struct dev_ctx *ctx, uint32_t seq, bool sealed,
                          long deadline, int *ret_status)
{
    uint8_t buf[DEV_READ_CHUNK];
    int found = 0;

    while (found == 0) {
        struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
        ssize_t got;
        int pr = poll(&pfd, 1, dev_left_ms(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            found = -1;
            break;
        }
        got = read(ctx->fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            found = -1;
            break;
        }
        found = dev_feed(ctx, buf, (size_t)got, seq, sealed, ret_status);
    }
    kh_wipe(buf, sizeof(buf));
    /* one reply per request: the parser keeps nothing worth its secrets */
    kh_wipe(&ctx->parser, sizeof(ctx->parser));
    fw_parser_init(&ctx->parser);
    return found == 1 ? 0 : -1;
}

/* The device never speaks unasked: a readable link between calls is a
 * hang-up or noise, and either way not usable. Serial lines are taken as
 * they are (noise is skipped by the parser). */
static bool dev_link_alive(const struct dev_ctx *ctx)
{
    struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};

    if (ctx->fd < 0)
        return false;
    if (ctx->transport == DEV_SERIAL)
        return true;
    return poll(&pfd, 1, 0) == 0;
}

/* Send payload[0..n) as cmd, sealed in the session or in plaintext, and
 * wait for its reply (ctx->rep). 0 with the device's status in
 * *ret_status; KH_EUNAVAIL when the link or the session failed (the link
 * is closed then). Wipes the frame buffer. */
static int dev_exchange_raw(struct dev_ctx *ctx, bool sealed, uint8_t cmd,
                            const uint8_t *payload, size_t n, long deadline,
                            int *ret_status)
{
    size_t len;
    int r;

    if (ctx->fd < 0 || ctx->seq == UINT32_MAX)
        goto lost; /* a session ends before its counter could wrap */
    ctx->seq++;
    ctx->rep_len = 0;
    if (sealed)
        len = fwh_seal(&ctx->sess, ctx->frame, sizeof(ctx->frame), cmd,
                       ctx->seq, payload, n);
    else
        len = fw_frame_encode(ctx->frame, sizeof(ctx->frame), cmd, 0,
                              ctx->seq, payload, n);
    KH_ASSERT(len > 0);
    r = dev_send_all(ctx, ctx->frame, len, deadline);
    kh_wipe(ctx->frame, len);
    if (r == 0)
        r = dev_recv_reply(ctx, ctx->seq, sealed, deadline, ret_status);
    if (r == 0)
        return 0;
lost:
    dev_link_close(ctx);
    return KH_EUNAVAIL;
}

/* INFO for the device key (pinned at the first contact, checked after),
 * then SESSION_OPEN, whose signature must verify under that key. */
static int dev_session_open(struct dev_ctx *ctx, long deadline)
{
    uint8_t req[FW_SESSION_REQ_LEN];
    int r, st = FW_ST_INTERNAL;

    ctx->seq = 0; /* a new session numbers from 1 */
    r = dev_exchange_raw(ctx, false, FW_CMD_INFO, NULL, 0, deadline, &st);
    if (r != 0)
        return r;
    if (st != FW_ST_OK || ctx->rep_len < 48 + FW_EC_PUB_LEN ||
        (ctx->pinned &&
         memcmp(ctx->devpub, ctx->rep + 48, FW_EC_PUB_LEN) != 0))
        goto refused; /* another device, or one reset since */
    memcpy(ctx->devpub, ctx->rep + 48, FW_EC_PUB_LEN);
    ctx->pinned = true;
    if (fwh_sess_begin(&ctx->sess, req) != 0)
        goto refused;
    r = dev_exchange_raw(ctx, false, FW_CMD_SESSION_OPEN, req, sizeof(req),
                         deadline, &st);
    if (r != 0)
        return r;
    if (st != FW_ST_OK ||
        fwh_sess_finish(&ctx->sess, ctx->rep, ctx->rep_len, ctx->devpub) != 0)
        goto refused; /* a forged or mangled SESSION_OPEN reply */
    return 0;
refused:
    dev_link_close(ctx);
    return KH_EHSM;
}

/* One command in the session (opened first when there is none). */
static int dev_exchange(struct dev_ctx *ctx, uint8_t cmd,
                        const uint8_t *payload, size_t n, long deadline,
                        int *ret_status)
{
    int r;

    if (ctx->fd < 0)
        return KH_EUNAVAIL;
    if (!ctx->sess.open) {
        r = dev_session_open(ctx, deadline);
        if (r != 0)
            return r;
    }
    return dev_exchange_raw(ctx, true, cmd, payload, n, deadline, ret_status);
}

/* ---- session: login and the key ------------------------------------- */

static int dev_login(struct dev_ctx *ctx, long deadline, char *errmsg,
                     size_t errmsg_size)
{
    int r, st = FW_ST_INTERNAL;

    if (ctx->pin_refused)
        return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                         "device: the PIN was refused before; not retried");
    r = dev_exchange(ctx, FW_CMD_LOGIN, (const uint8_t *)ctx->pin, ctx->pin_len,
                     deadline, &st);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "device: no answer to LOGIN");
    if (st == FW_ST_OK)
        return 0;
    if (st == FW_ST_BADPIN || st == FW_ST_LOCKED) {
        ctx->pin_refused = true;
        if (st == FW_ST_LOCKED)
            return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                             "device: login failed: the PIN is locked "
                             "(tries exhausted; the device must be reset)");
        return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                         "device: login failed: incorrect PIN (%u tries "
                         "left)",
                         ctx->rep_len == 1 ? (unsigned)ctx->rep[0] : 0u);
    }
    if (st == FW_ST_STATE)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "device: login refused: the device has no PIN yet "
                         "(factory state: set one with INIT_PIN)");
    return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                     "device: login failed: status %d", st);
}

/* Slot of the wrapping key labelled ctx->key_label in a WRAP_LIST reply
 * (ctx->rep); *ret_free gets the first unused slot. -1 when none. */
static int dev_label_slot(const struct dev_ctx *ctx, int *ret_free)
{
    int found = -1;

    *ret_free = -1;
    if (ctx->rep_len < FW_WRAP_SLOTS * FW_WRAP_LIST_ENTRY)
        return -1;
    for (int i = (int)FW_WRAP_SLOTS - 1; i >= 0; i--) {
        const uint8_t *e = ctx->rep + (size_t)i * FW_WRAP_LIST_ENTRY;
        if (e[0] == 0) {
            *ret_free = i;
            continue;
        }
        if (e[1] == ctx->key_label_len &&
            memcmp(e + 2, ctx->key_label, ctx->key_label_len) == 0)
            found = i;
    }
    return found;
}

static int dev_key_generate(struct dev_ctx *ctx, int slot, long deadline,
                            char *errmsg, size_t errmsg_size)
{
    uint8_t req[1 + FW_LABEL_MAX];
    int r, st = FW_ST_INTERNAL;

    if (slot < 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "device: no key labelled \"%s\" and no free slot "
                         "(%u) to generate it",
                         ctx->key_label, FW_WRAP_SLOTS);
    req[0] = (uint8_t)slot;
    memcpy(req + 1, ctx->key_label, ctx->key_label_len);
    r = dev_exchange(ctx, FW_CMD_GEN_WRAP, req, 1 + ctx->key_label_len,
                     deadline, &st);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "device: no answer to GEN_WRAP");
    if (st != FW_ST_OK)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "device: GEN_WRAP in slot %d failed: status %d", slot,
                         st);
    ctx->slot = (uint8_t)slot;
    return 0;
}

/* Find the key by label (WRAP_LIST) or, with generate, create it. */
static int dev_key_find(struct dev_ctx *ctx, bool generate, long deadline,
                        char *errmsg, size_t errmsg_size)
{
    int r, st = FW_ST_INTERNAL, slot, free_slot;

    r = dev_exchange(ctx, FW_CMD_WRAP_LIST, NULL, 0, deadline, &st);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "device: no answer to WRAP_LIST");
    if (st != FW_ST_OK)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "device: WRAP_LIST failed: status %d", st);
    slot = dev_label_slot(ctx, &free_slot);
    if (slot >= 0) {
        ctx->slot = (uint8_t)slot;
        return 0;
    }
    if (!generate)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "device: no wrapping key labelled \"%s\" "
                         "(generate_key is off)",
                         ctx->key_label);
    return dev_key_generate(ctx, free_slot, deadline, errmsg, errmsg_size);
}

/* Connect, open a session, log in and find the key. */
static int dev_session_start(struct dev_ctx *ctx, bool generate, long deadline,
                             char *errmsg, size_t errmsg_size)
{
    int r;

    dev_link_close(ctx);
    if (ctx->pin_refused)
        return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                         "device: the PIN was refused before; not retried");
    r = dev_link_open(ctx, deadline);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "device: cannot connect to %s",
                         ctx->target);
    r = dev_session_open(ctx, deadline);
    if (r == KH_EHSM)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "device: no authenticated session: the device key "
                         "changed or SESSION_OPEN's signature does not "
                         "verify under it");
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "device: no answer to SESSION_OPEN (firmware "
                         "older than protocol v%u?)",
                         FW_PROTO_VERSION);
    r = dev_login(ctx, deadline, errmsg, errmsg_size);
    if (r == 0)
        r = dev_key_find(ctx, generate, deadline, errmsg, errmsg_size);
    if (r != 0) {
        dev_link_close(ctx);
        return r;
    }
    ctx->logged_in = true;
    return 0;
}

/* Reconnect after a lost link: KH_EAUTH when the PIN is refused, else
 * any failure is KH_EUNAVAIL (a missing key included: the device may be
 * another one, or was reset). */
static int dev_recover(struct dev_ctx *ctx, long deadline)
{
    char scratch[KH_ERRMSG_SIZE];
    int r = dev_session_start(ctx, false, deadline, scratch, sizeof(scratch));

    if (r == 0 || r == KH_EAUTH)
        return r;
    return KH_EUNAVAIL;
}

/* Run one command (request in ctx->req[0..n), which a reconnection leaves
 * alone) on a logged-in session,
 * reconnecting and logging in again once when the link is gone, broken
 * or no longer logged in (FW_ST_STATE). For WRAP and UNWRAP the slot
 * byte is refreshed after a reconnection, and a WRAP gets a fresh IV at
 * iv_off. 0 with the device's status in *ret_status, or KH_EUNAVAIL,
 * KH_EAUTH, KH_EINTERNAL. */
static int dev_call(struct dev_ctx *ctx, uint8_t cmd, size_t n, int timeout_ms,
                    size_t iv_off, int *ret_status)
{
    long deadline = dev_now_ms() + timeout_ms;
    bool recovered = false;
    int r, st = FW_ST_INTERNAL;

    if (!ctx->logged_in || !dev_link_alive(ctx)) {
        r = dev_recover(ctx, deadline);
        if (r != 0)
            return r;
        recovered = true;
    }
    for (;;) {
        if (cmd == FW_CMD_WRAP || cmd == FW_CMD_UNWRAP)
            ctx->req[0] = ctx->slot;
        if (iv_off > 0 &&
            kh_random_bytes(ctx->req + iv_off, FW_GCM_IV_LEN) != 0)
            return KH_EINTERNAL;
        r = dev_exchange(ctx, cmd, ctx->req, n, deadline, &st);
        if (r == 0 && st != FW_ST_STATE)
            break;
        if (recovered)
            return KH_EUNAVAIL;
        r = dev_recover(ctx, deadline);
        if (r != 0)
            return r;
        recovered = true;
    }
    *ret_status = st;
    return 0;
}

/* ---- wrap and unwrap ------------------------------------------------ */

/* Put slot | aad_len | version | SHA-256(aad) in ctx->req; returns the
 * offset after it. */
static int dev_put_aad(struct dev_ctx *ctx, const uint8_t *aad, size_t aad_len,
                       size_t *ret_off)
{
    uint8_t *p = ctx->req;
    unsigned int md_len = 0;

    p[0] = ctx->slot;
    fw_put_u16(p + 1, DEV_AAD_BYTES);
    p[DEV_WRAP_REQ_HEADER] = DEV_BLOB_VERSION;
    if (EVP_Digest(aad_len > 0 ? aad : (const uint8_t *)"", aad_len,
                   p + DEV_WRAP_REQ_HEADER + DEV_BLOB_HEADER_BYTES, &md_len,
                   EVP_sha256(), NULL) != 1 ||
        md_len != DEV_AAD_HASH_BYTES)
        return KH_EINTERNAL;
    *ret_off = DEV_WRAP_REQ_HEADER + DEV_AAD_BYTES;
    return 0;
}

static int dev_wrap(void *opaque, const uint8_t *aad, size_t aad_len,
                    const uint8_t *secret, size_t len, uint8_t **ret_blob,
                    size_t *ret_blob_len)
{
    struct dev_ctx *ctx = opaque;
    size_t off = 0, blob_len = DEV_BLOB_OVERHEAD + len;
    uint8_t *blob = NULL;
    int r, st = FW_ST_INTERNAL;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(len > 0 && len <= HSM_SECRET_BYTES_MAX);
    r = dev_put_aad(ctx, aad, aad_len, &off);
    if (r != 0)
        goto out;
    memcpy(ctx->req + off + FW_GCM_IV_LEN, secret, len);
    r = dev_call(ctx, FW_CMD_WRAP, off + FW_GCM_IV_LEN + len,
                 HSM_DEVICE_CALL_TIMEOUT_MS, off, &st);
    if (r != 0)
        goto out;
    r = KH_EHSM;
    if (st != FW_ST_OK || ctx->rep_len != blob_len - DEV_BLOB_HEADER_BYTES ||
        memcmp(ctx->rep, ctx->req + off, FW_GCM_IV_LEN) != 0)
        goto out;
    r = KH_ENOMEM;
    blob = malloc(blob_len);
    if (blob == NULL)
        goto out;
    blob[0] = DEV_BLOB_VERSION;
    memcpy(blob + DEV_BLOB_HEADER_BYTES, ctx->rep, ctx->rep_len);
    *ret_blob = blob;
    *ret_blob_len = blob_len;
    r = 0; /* success */
out:
    kh_wipe(ctx->req, sizeof(ctx->req));
    kh_wipe(ctx->rep, sizeof(ctx->rep));
    return r;
}

/* Any refusal of the device is KH_ECORRUPT (wrong key, wrong aad,
 * tampered blob); a lost device KH_EUNAVAIL. hsm.c wipes out on failure. */
static int dev_unwrap(void *opaque, const uint8_t *aad, size_t aad_len,
                      const uint8_t *blob, size_t blob_len, uint8_t *out,
                      size_t out_size, size_t *ret_len)
{
    struct dev_ctx *ctx = opaque;
    size_t off = 0, body_len, secret_len;
    int r = KH_ECORRUPT, st = FW_ST_INTERNAL;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(blob != NULL);
    if (blob_len <= DEV_BLOB_OVERHEAD || blob[0] != DEV_BLOB_VERSION ||
        blob_len - DEV_BLOB_OVERHEAD > HSM_SECRET_BYTES_MAX)
        return KH_ECORRUPT;
    body_len = blob_len - DEV_BLOB_HEADER_BYTES;
    secret_len = blob_len - DEV_BLOB_OVERHEAD;
    if (out_size < secret_len)
        return KH_EINVAL;
    r = dev_put_aad(ctx, aad, aad_len, &off);
    if (r != 0)
        goto out;
    memcpy(ctx->req + off, blob + DEV_BLOB_HEADER_BYTES, body_len);
    r = dev_call(ctx, FW_CMD_UNWRAP, off + body_len, HSM_DEVICE_CALL_TIMEOUT_MS,
                 0, &st);
    if (r != 0)
        goto out;
    r = KH_ECORRUPT;
    if (st != FW_ST_OK || ctx->rep_len != secret_len)
        goto out;
    memcpy(out, ctx->rep, secret_len);
    *ret_len = secret_len;
    r = 0; /* success */
out:
    kh_wipe(ctx->req, sizeof(ctx->req));
    kh_wipe(ctx->rep, sizeof(ctx->rep));
    return r;
}

/* ---- attributes, ping, close -------------------------------------- */

/* The device's wrapping keys are generated inside it and no command reads
 * one out; WRAP_LIST confirms the key is still there under its label. */
static int dev_key_attributes(void *opaque, struct hsm_key_attributes *ret)
{
    struct dev_ctx *ctx = opaque;
    int r, st = FW_ST_INTERNAL, free_slot;

    r = dev_call(ctx, FW_CMD_WRAP_LIST, 0, HSM_DEVICE_CALL_TIMEOUT_MS, 0, &st);
    if (r != 0)
        return r;
    if (st != FW_ST_OK || dev_label_slot(ctx, &free_slot) != ctx->slot)
        return KH_EHSM;
    *ret = (struct hsm_key_attributes){
        .sensitive = true,
        .extractable = false,
        .never_extractable = true,
        .token_object = true,
        .value_len = FW_AES_KEY_LEN,
    };
    return 0;
}

static int dev_ping(void *opaque)
{
    struct dev_ctx *ctx = opaque;
    int r, st = FW_ST_INTERNAL;

    r = dev_call(ctx, FW_CMD_INFO, 0, HSM_DEVICE_PING_TIMEOUT_MS, 0, &st);
    if (r == 0 && st == FW_ST_OK && ctx->rep_len >= DEV_INFO_BYTES_MIN &&
        ctx->rep[1] != FW_STATE_USER) {
        /* The device forgot the login (rebooted behind a serial line):
         * log in again, once. */
        dev_link_close(ctx);
        r = dev_call(ctx, FW_CMD_INFO, 0, HSM_DEVICE_PING_TIMEOUT_MS, 0, &st);
    }
    if (r != 0)
        return r;
    if (st != FW_ST_OK || ctx->rep_len < DEV_INFO_BYTES_MIN)
        return KH_EHSM;
    return ctx->rep[1] == FW_STATE_USER ? 0 : KH_EUNAVAIL;
}

static void dev_ctx_free(void *opaque)
{
    struct dev_ctx *ctx = opaque;
    int st = FW_ST_INTERNAL;

    if (ctx == NULL)
        return;
    if (ctx->logged_in && dev_link_alive(ctx))
        (void)dev_exchange(ctx, FW_CMD_LOGOUT, NULL, 0,
                           dev_now_ms() + HSM_DEVICE_PING_TIMEOUT_MS, &st);
    dev_link_close(ctx);
    kh_secure_free(ctx->pin, ctx->pin_size);
    kh_wipe(ctx, sizeof(*ctx));
    free(ctx);
}

static const struct hsm_backend_ops dev_ops = {
    .name = "device",
    .wrap = dev_wrap,
    .unwrap = dev_unwrap,
    .key_attributes = dev_key_attributes,
    .ping = dev_ping,
    .close = dev_ctx_free,
};

/* ---- public entry point -------------------------------------------- */

static int dev_parse_address(struct dev_ctx *ctx, const char *address,
                             char *errmsg, size_t errmsg_size)
{
    static const struct
    {
        const char *prefix;
        enum dev_transport transport;
    } kinds[] = {
        {"unix:", DEV_UNIX},
        {"tcp:", DEV_TCP},
        {"serial:", DEV_SERIAL},
    };
    const char *colon;
    size_t len;

    for (size_t i = 0; address != NULL && i < sizeof(kinds) / sizeof(*kinds);
         i++) {
        size_t plen = strlen(kinds[i].prefix);
        if (strncmp(address, kinds[i].prefix, plen) != 0)
            continue;
        len = strlen(address + plen);
        if (len == 0 || len > HSM_DEVICE_ADDRESS_BYTES_MAX)
            break;
        memcpy(ctx->target, address + plen, len + 1);
        ctx->transport = kinds[i].transport;
        colon = strrchr(ctx->target, ':');
        if (ctx->transport == DEV_TCP &&
            (colon == NULL || colon == ctx->target || colon[1] == '\0'))
            break;
        return 0;
    }
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "device: address must be unix:PATH, tcp:HOST:PORT or "
                     "serial:DEVICE (at most %d bytes after the prefix)",
                     HSM_DEVICE_ADDRESS_BYTES_MAX);
}

/* Copy what the handle keeps from params (address, label, the PIN). */
static int dev_ctx_setup(struct dev_ctx *ctx,
                         const struct hsm_device_params *params, char *errmsg,
                         size_t errmsg_size)
{
    size_t label_len, pin_len;
    int r;

    r = dev_parse_address(ctx, params->address, errmsg, errmsg_size);
    if (r != 0)
        return r;
    label_len = params->key_label ? strlen(params->key_label) : 0;
    if (label_len == 0 || label_len > FW_LABEL_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "device: key_label must be 1 to %u bytes",
                         FW_LABEL_MAX);
    pin_len = params->pin ? strlen(params->pin) : 0;
    if (pin_len < FW_PIN_MIN || pin_len > FW_PIN_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "device: the PIN must be %u to %u bytes", FW_PIN_MIN,
                         FW_PIN_MAX);
    memcpy(ctx->key_label, params->key_label, label_len + 1);
    ctx->key_label_len = label_len;
    ctx->pin_size = pin_len + 1;
    ctx->pin = kh_secure_alloc(ctx->pin_size);
    if (ctx->pin == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "device: cannot allocate locked memory for the PIN");
    memcpy(ctx->pin, params->pin, pin_len);
    ctx->pin_len = pin_len;
    return 0;
}

int hsm_device_open(const struct hsm_device_params *params,
                    struct hsm **ret_hsm, char *errmsg, size_t errmsg_size)
{
    struct dev_ctx *ctx;
    int r = KH_EINTERNAL;

    KH_ASSERT(params != NULL);
    KH_ASSERT(ret_hsm != NULL);
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "device: out of memory");
    ctx->fd = -1;
    fw_parser_init(&ctx->parser);
    r = dev_ctx_setup(ctx, params, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = dev_session_start(ctx, params->generate_key,
                          dev_now_ms() + HSM_DEVICE_OPEN_TIMEOUT_MS, errmsg,
                          errmsg_size);
    if (r != 0)
        goto out;
    r = hsm_create(&dev_ops, ctx, ret_hsm);
    ctx = NULL; /* hsm_create owns it, even on failure */
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r, "device: %s", kh_strerror(r));
        goto out;
    }
    r = 0; /* success */
out:
    dev_ctx_free(ctx);
    return r;
}
