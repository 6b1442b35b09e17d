/*
 * fw_p11_dev.c - the PKCS#11 module's link to the Keyhold device: a stream
 * socket to "unix:PATH" (keyhold-fw-sim, or QEMU's UART chardev) or
 * "tcp:HOST:PORT" (TCP_NODELAY), one framed request at a time with its
 * own sequence number, a bounded wait for the matching reply, every
 * request and reply sealed in a v4 session (host/fw_hsess.h) opened on
 * connect under the pinned device key. It owns the socket and the session
 * keys; it must never interpret a payload, retry a command (a retried
 * LOGIN would spend a PIN try), send a command outside the session, or
 * raise SIGPIPE in the host process.
 */
#include "pkcs11/fw_p11.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_tcp(const char *hostport)
{
    char host[FWP11_DEVICE_MAX];
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
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    freeaddrinfo(ai);
    return fd;
}

static int sess_open(struct fwp11_dev *dev);

int fwp11_dev_open(struct fwp11_dev *dev)
{
    if (dev->fd >= 0)
        return 0;
    if (strncmp(dev->spec, "unix:", 5) == 0)
        dev->fd = connect_unix(dev->spec + 5);
    else if (strncmp(dev->spec, "tcp:", 4) == 0)
        dev->fd = connect_tcp(dev->spec + 4);
    fw_parser_init(&dev->parser);
    if (dev->fd < 0)
        return -1;
    if (sess_open(dev) != 0) {
        fwp11_dev_close(dev);
        return -1;
    }
    return 0;
}

void fwp11_dev_close(struct fwp11_dev *dev)
{
    if (dev->fd >= 0)
        close(dev->fd);
    dev->fd = -1;
    fw_parser_init(&dev->parser);
    explicit_bzero(dev->frame, sizeof(dev->frame));
    fwh_sess_clear(&dev->sess);
}

/* The device never speaks unasked: anything readable between calls is a
 * hang-up (EOF) or garbage, and either way the link is not usable. */
int fwp11_dev_alive(struct fwp11_dev *dev)
{
    struct pollfd pfd;

    if (dev->fd < 0)
        return 0;
    pfd.fd = dev->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) != 0)
        return 0;
    return 1;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The reply frame f to request seq: a sealed one is opened into rep; a
 * plaintext one is taken only when the request was plaintext. Returns the
 * status, or -1. */
static int take_reply(struct fwp11_dev *dev, const struct fw_frame *f,
                      int sealed, uint8_t *rep, size_t cap, size_t *ret_len)
{
    if (sealed)
        return fwh_open(&dev->sess, f, f->seq, rep, cap, ret_len) == 0
                   ? f->status : -1;
    if ((f->flags & FW_FLAG_SEALED) || f->len > cap)
        return -1;
    memcpy(rep, f->payload, f->len);
    *ret_len = f->len;
    return f->status;
}

/* Feed received bytes until the reply to seq is complete. */
static int recv_reply(struct fwp11_dev *dev, uint32_t seq, int sealed,
                      uint8_t *rep, size_t cap, size_t *ret_len)
{
    long deadline = now_ms() + FWP11_TIMEOUT_MS;
    uint8_t buf[256];
    int st;

    while (now_ms() < deadline) {
        struct pollfd pfd = {.fd = dev->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(deadline - now_ms()));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t got = recv(dev->fd, buf, sizeof(buf), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        for (ssize_t i = 0; i < got; i++) {
            struct fw_frame f;
            if (fw_parser_feed(&dev->parser, buf[i], &f) != FW_FEED_FRAME ||
                f.seq != seq)
                continue;
            st = take_reply(dev, &f, sealed, rep, cap, ret_len);
            /* one reply per request: nothing to keep, a plaintext to wipe */
            explicit_bzero(buf, sizeof(buf));
            explicit_bzero(&dev->parser, sizeof(dev->parser));
            fw_parser_init(&dev->parser);
            return st;
        }
    }
    return -1;
}

/* Send one frame (sealed in the session or not) and take its reply. */
static int exchange(struct fwp11_dev *dev, int sealed, uint8_t cmd,
                    const uint8_t *req, size_t n, uint8_t *rep, size_t cap,
                    size_t *ret_len)
{
    size_t len;
    int st;

    if (dev->fd < 0 || dev->seq == UINT32_MAX)
        return -1;
    dev->seq++;
    if (sealed)
        len = fwh_seal(&dev->sess, dev->frame, sizeof(dev->frame), cmd,
                       dev->seq, req, n);
    else
        len = fw_frame_encode(dev->frame, sizeof(dev->frame), cmd, 0,
                              dev->seq, req, n);
    if (len == 0)
        return -1;
    st = send_all(dev->fd, dev->frame, len);
    explicit_bzero(dev->frame, len);
    if (st != 0)
        return -1;
    return recv_reply(dev, dev->seq, sealed, rep, cap, ret_len);
}

/* KEYHOLD_FW_DEVICE_KEY: 130 hex digits of the device key; 1 when set
 * and well formed (into out), 0 when unset, -1 when malformed. */
static int pinned_from_env(uint8_t out[FW_EC_PUB_LEN])
{
    const char *hex = getenv("KEYHOLD_FW_DEVICE_KEY");

    if (hex == NULL || hex[0] == '\0')
        return 0;
    if (strlen(hex) != 2 * FW_EC_PUB_LEN)
        return -1;
    for (size_t i = 0; i < FW_EC_PUB_LEN; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            unsigned d = (c >= '0' && c <= '9')   ? (unsigned)(c - '0')
                         : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10)
                         : (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 10)
                                                  : 16u;
            if (d > 15)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 1;
}

/* INFO for the device key, checked against the pin (the environment's,
 * else the one seen first), then SESSION_OPEN under it. */
static int sess_open(struct fwp11_dev *dev)
{
    uint8_t rep[FW_MAX_PAYLOAD], req[FW_SESSION_REQ_LEN], env[FW_EC_PUB_LEN];
    size_t len = 0;
    int pin = pinned_from_env(env);

    fwh_sess_clear(&dev->sess);
    if (pin < 0 ||
        exchange(dev, 0, FW_CMD_INFO, NULL, 0, rep, sizeof(rep), &len) !=
            FW_ST_OK ||
        len < 48 + FW_EC_PUB_LEN)
        return -1;
    if (pin == 1 && memcmp(env, rep + 48, FW_EC_PUB_LEN) != 0)
        return -1;
    if (dev->pinned && memcmp(dev->devpub, rep + 48, FW_EC_PUB_LEN) != 0)
        return -1; /* another device, or one reset since: not ours */
    memcpy(dev->devpub, rep + 48, FW_EC_PUB_LEN);
    dev->pinned = 1;
    if (fwh_sess_begin(&dev->sess, req) != 0)
        return -1;
    if (exchange(dev, 0, FW_CMD_SESSION_OPEN, req, sizeof(req), rep,
                 sizeof(rep), &len) != FW_ST_OK ||
        fwh_sess_finish(&dev->sess, rep, len, dev->devpub) != 0) {
        fwh_sess_clear(&dev->sess);
        return -1;
    }
    return 0;
}

int fwp11_dev_call(struct fwp11_dev *dev, uint8_t cmd, const uint8_t *req,
                   size_t n, uint8_t *rep, size_t cap, size_t *ret_len)
{
    int st;

    if (dev->fd < 0)
        return -1;
    if (!dev->sess.open && sess_open(dev) != 0)
        return -1;
    st = exchange(dev, 1, cmd, req, n, rep, cap, ret_len);
    if (st < 0)
        fwh_sess_clear(&dev->sess);
    else if ((cmd == FW_CMD_LOGOUT || cmd == FW_CMD_RESET) && st == FW_ST_OK)
        fwh_sess_clear(&dev->sess); /* the device closed it after this */
    return st;
}
