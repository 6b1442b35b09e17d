/*
 * socket.c - the socket audit device: lines over TCP, UDP (one datagram
 * per line) or a unix stream socket.
 *
 * Every connect and send is non-blocking and bounded by the writer's
 * deadline (for sends: the time a line may make no progress), so a peer
 * that accepts and never reads, or one that is gone,
 * costs at most that deadline and never blocks a request thread. Before
 * each batch the connection is probed: a peer that closed it (readable
 * EOF, RDHUP, error) is reconnected first, so lines are not pushed into a
 * dead connection. What the device cannot deliver the writer keeps in
 * its spool (ops->spool) and replays in order. A stream connection that
 * merely stalls (the peer took nothing until the deadline) is kept: the
 * next write resumes at the byte where it stopped (inside a line, or
 * inside the window replay below), so a paused peer sees no torn line and
 * no repeat; a peer that takes nothing for SOCKET_STALL_RECONNECT_MS is
 * abandoned for a fresh connection.
 *
 * Stream sockets deliver at least once. A line counts as sent once the
 * kernel took it, but a peer that dies still holding it (in our send
 * buffer, on the wire, or unread in its receive buffer) never sees it.
 * So the device keeps the newest sent lines in an in-flight window
 * (window.h) of at least replay_window_bytes (default 1 MiB, at least
 * 4 * SOCKET_SNDBUF_BYTES, at most 16 MiB), and after any connection that
 * carried bytes ends (send error, reset, EOF, or a stall abandoned: TCP
 * cannot tell whether the peer's application read what its kernel
 * acknowledged) it sends the whole window again on the next connection,
 * before the spool, in order. Nothing is lost as long as what was in
 * flight fits in the window: our send buffer (the kernel doubles
 * SO_SNDBUF, so 128 KiB) plus the peer's receive buffer; the 1 MiB
 * default leaves 896 KiB for the latter (raise replay_window_bytes for a
 * peer with larger receive buffers). The cost: up to the window's bytes
 * sent twice per reconnect. The peer sees the replayed lines twice, byte
 * for byte; keyhold-audit verify skips them as duplicates (verify.h).
 * UDP has no window: a datagram is gone once sent. Never logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit/device.h"
#include "audit/window.h"
#include "common/err.h"

#define SOCKET_ADDRESS_BYTES_MAX 256
/* Send buffer of a stream connection: bounds what a peer that accepts and
 * never reads can swallow before the deadline fires (those bytes count as
 * sent; the rest stays in the spool). */
#define SOCKET_SNDBUF_BYTES (64 * 1024)
/* The in-flight window (replay_window_bytes). The verifier's ring of line
 * hashes (AUDIT_VERIFY_RING_RECORDS, 131072) covers the largest window
 * even with lines of only 128 bytes. */
#define SOCKET_WINDOW_BYTES_DEFAULT (1024 * 1024)
#define SOCKET_WINDOW_BYTES_MIN (4 * SOCKET_SNDBUF_BYTES)
#define SOCKET_WINDOW_BYTES_MAX (16 * 1024 * 1024)
/* The window is sent again in chunks, each with the stall deadline. */
#define SOCKET_REPLAY_CHUNK_BYTES (64 * 1024)
/* A stream peer that takes no byte for this long is abandoned: the device
 * reconnects (perhaps to another instance behind the address) and
 * replays its window. Shorter stalls keep the connection. */
#define SOCKET_STALL_RECONNECT_MS 30000

struct audit_socket
{
    char address[SOCKET_ADDRESS_BYTES_MAX];
    int type;                   /* SOCK_STREAM or SOCK_DGRAM */
    bool unix_domain;
    int fd;
    /* Stream sockets only: */
    bool conn_used;             /* bytes were sent on this connection */
    struct timespec moved_at;   /* when bytes last moved on it */
    bool replay_pending;        /* send the window first */
    size_t replay_sent;         /* of it, bytes sent on this connection */
    char *cut;                  /* a line a stall cut (a copy), or NULL */
    size_t cut_len, cut_sent;
    struct audit_window window;
};

/* Wait for events on fd until deadline: 0 when ready, KH_EUNAVAIL at the
 * deadline, KH_EIO when the socket failed. */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&pfd, 1, audit_ms_until(deadline));
    } while (n < 0 && errno == EINTR);
    if (n < 0 || (n > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))))
        return KH_EIO;
    return n == 0 ? KH_EUNAVAIL : 0;
}

static int connect_addr(int fd, const struct sockaddr *sa, socklen_t len,
                        const struct timespec *deadline)
{
    int err = 0, sndbuf = SOCKET_SNDBUF_BYTES;
    socklen_t err_len = sizeof(err);

    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return KH_EUNAVAIL;
    if (wait_fd(fd, POLLOUT, deadline) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 ||
        err != 0)
        return KH_EUNAVAIL;
    return 0;
}

static int socket_connect_unix(struct audit_socket *s,
                               const struct timespec *deadline)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, r;

    if (strlen(s->address) >= sizeof(sun.sun_path))
        return KH_EINVAL;
    memcpy(sun.sun_path, s->address, strlen(s->address));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return KH_EUNAVAIL;
    r = connect_addr(fd, (struct sockaddr *)&sun, sizeof(sun), deadline);
    if (r != 0) {
        close(fd);
        return r;
    }
    s->fd = fd;
    return 0;
}

/* Split "host:port" (IPv6 as "[::1]:port"). */
static int split_host_port(const char *address, char *host, size_t size,
                           const char **ret_port)
{
    const char *colon = strrchr(address, ':');
    const char *h = address;
    size_t len;

    if (colon == NULL || colon[1] == '\0')
        return KH_EINVAL;
    len = (size_t)(colon - address);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len == 0 || len >= size)
        return KH_EINVAL;
    memcpy(host, h, len);
    host[len] = '\0';
    *ret_port = colon + 1;
    return 0;
}

static int socket_connect_inet(struct audit_socket *s,
                               const struct timespec *deadline)
{
    struct addrinfo hints = {.ai_socktype = s->type};
    struct addrinfo *res = NULL, *ai;
    char host[SOCKET_ADDRESS_BYTES_MAX];
    const char *port;
    int r;

    r = split_host_port(s->address, host, sizeof(host), &port);
    if (r != 0)
        return r;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return KH_EUNAVAIL;
    r = KH_EUNAVAIL;
    for (ai = res; ai != NULL && r != 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        r = connect_addr(fd, ai->ai_addr, ai->ai_addrlen, deadline);
        if (r == 0)
            s->fd = fd;
        else
            close(fd);
    }
    freeaddrinfo(res);
    return r;
}

/* The device never ends a connection that works (but at close), so a
 * connection that carried bytes and ends may have lost some of them. */
static void socket_disconnect(struct audit_socket *s)
{
    if (s->fd >= 0 && s->conn_used && s->type == SOCK_STREAM)
        s->replay_pending = true;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->conn_used = false;
    s->replay_sent = 0;
    free(s->cut);
    s->cut = NULL;
    s->cut_len = 0;
    s->cut_sent = 0;
}

/* A stream peer never sends: readable means it closed or failed. */
static bool socket_peer_gone(struct audit_socket *s)
{
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN | POLLRDHUP};
    char c;

    if (s->type != SOCK_STREAM)
        return false;
    if (poll(&pfd, 1, 0) <= 0)
        return false;
    if ((pfd.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) != 0)
        return true;
    return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Send len bytes; *ret_sent: how many went, also on failure. KH_EUNAVAIL
 * when the peer took nothing until deadline, KH_EIO when the connection
 * failed. */
static int send_bytes(struct audit_socket *s, const char *p, size_t len,
                      const struct timespec *deadline, size_t *ret_sent)
{
    size_t sent = 0;
    int r = 0;

    while (r == 0 && sent < len) {
        ssize_t n = send(s->fd, p + sent, len - sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            r = wait_fd(s->fd, POLLOUT, deadline);
            continue;
        }
        if (n <= 0) {
            r = KH_EIO;
            break;
        }
        s->conn_used = true;
        clock_gettime(CLOCK_MONOTONIC, &s->moved_at);
        sent += (size_t)n;
        if (s->type == SOCK_DGRAM && sent < len)
            r = KH_EIO;
    }
    *ret_sent = sent;
    return r;
}

/* Send the window again (a fresh connection after one that ended), in
 * chunks, each with the stall deadline; a stall resumes where it left. */
static int send_window(struct audit_socket *s, int budget_ms)
{
    struct timespec deadline;
    const char *data;
    size_t len, n, sent;
    int r = 0;

    audit_window_data(&s->window, &data, &len);
    while (r == 0 && s->replay_sent < len) {
        n = len - s->replay_sent;
        if (n > SOCKET_REPLAY_CHUNK_BYTES)
            n = SOCKET_REPLAY_CHUNK_BYTES;
        audit_deadline_in((uint64_t)budget_ms, &deadline);
        r = send_bytes(s, data + s->replay_sent, n, &deadline, &sent);
        s->replay_sent += sent;
    }
    if (r == 0) {
        s->replay_pending = false;
        s->replay_sent = 0;
    }
    return r;
}

/* Send line from byte from; when it is done, into the window. A stall
 * that cut it keeps a copy, so the next write can finish it. */
static int send_line(struct audit_socket *s, const struct iovec *line,
                     size_t from, int budget_ms)
{
    struct timespec deadline;
    size_t sent = 0;
    int r;

    audit_deadline_in((uint64_t)budget_ms, &deadline);
    r = send_bytes(s, (const char *)line->iov_base + from,
                   line->iov_len - from, &deadline, &sent);
    if (s->type != SOCK_STREAM)
        return r;
    if (r == 0) {
        /* A window that cannot hold an oversized line drops what it
         * held: those lines are no longer replayable, and a loss would
         * show as a gap to the verifier. */
        r = audit_window_append(&s->window, line->iov_base,
                                line->iov_len);
        (void)r; /* a failed append only means fewer replayable lines */
        return 0;
    }
    if (from + sent == 0 || r != KH_EUNAVAIL || s->cut != NULL)
        return r;
    s->cut = malloc(line->iov_len);
    if (s->cut == NULL)
        return KH_EIO;
    memcpy(s->cut, line->iov_base, line->iov_len);
    s->cut_len = line->iov_len;
    s->cut_sent = from + sent;
    return r;
}

/* Finish the line a stall cut: the writer retries from its spool head,
 * which is that line (anything else is a broken promise: reconnect). */
static int send_cut(struct audit_socket *s, const struct iovec *line,
                    int budget_ms)
{
    size_t from = s->cut_sent;

    if (line->iov_len != s->cut_len ||
        memcmp(line->iov_base, s->cut, s->cut_len) != 0)
        return KH_EIO;
    free(s->cut);
    s->cut = NULL;
    s->cut_len = 0;
    s->cut_sent = 0;
    return send_line(s, line, from, budget_ms);
}

/* Keep a stream connection through a stall (the next write resumes it)
 * unless the peer took nothing for SOCKET_STALL_RECONNECT_MS. */
static bool keep_through_stall(const struct audit_socket *s, int r)
{
    struct timespec now;
    int64_t ms;

    if (r != KH_EUNAVAIL || s->fd < 0 || s->type != SOCK_STREAM)
        return false;
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(now.tv_sec - s->moved_at.tv_sec) * 1000 +
         (now.tv_nsec - s->moved_at.tv_nsec) / 1000000;
    return ms < SOCKET_STALL_RECONNECT_MS;
}

static int socket_connect(struct audit_socket *s,
                          const struct timespec *deadline)
{
    int r = s->unix_domain ? socket_connect_unix(s, deadline)
                           : socket_connect_inet(s, deadline);

    if (r == 0)
        clock_gettime(CLOCK_MONOTONIC, &s->moved_at);
    return r;
}

static int socket_write(void *impl, const struct iovec *lines, size_t count,
                        const struct timespec *deadline, size_t *ret_done)
{
    struct audit_socket *s = impl;
    int budget_ms = audit_ms_until(deadline);
    size_t done = 0;
    int r = 0;

    KH_ASSERT(s != NULL);
    KH_ASSERT(deadline != NULL);
    if (s->fd >= 0 && socket_peer_gone(s))
        socket_disconnect(s);
    if (s->fd < 0)
        r = socket_connect(s, deadline);
    if (r == 0 && s->replay_pending)
        r = send_window(s, budget_ms);
    if (r == 0 && s->cut != NULL && count > 0) {
        r = send_cut(s, &lines[0], budget_ms);
        done += r == 0;
    }
    /* The deadline bounds a stall, not the batch: a slow peer that keeps
     * reading gets every line; one that stops gets cut off after budget. */
    for (; r == 0 && done < count; done++) {
        r = send_line(s, &lines[done], 0, budget_ms);
        if (r != 0)
            break;
    }
    if (r != 0) {
        /* A stall keeps the connection: the peer holds a part of a line
         * that the next write completes. Anything else ends it: a line
         * may be cut mid-way, which a fresh connection (the window, then
         * the spool) follows. */
        if (!keep_through_stall(s, r))
            socket_disconnect(s);
        *ret_done = done;
        return KH_EUNAVAIL;
    }
    *ret_done = count;
    return 0;
}

/* An API-enabled device may only reach unix sockets under an allowed
 * directory (a unix socket can be a control socket of another daemon). */
static bool unix_path_allowed(const struct audit_device_params *p,
                              const char *path)
{
    size_t i, len;

    if (path[0] != '/' || strstr(path, "/..") != NULL || p->dirs == NULL)
        return false;
    for (i = 0; i < p->dirs->count; i++) {
        len = strlen(p->dirs->dirs[i]);
        if (strncmp(path, p->dirs->dirs[i], len) == 0 && path[len] == '/')
            return true;
    }
    return false;
}

/* replay_window_bytes: a plain number of bytes, stream sockets only. */
static int parse_window_bytes(const json_t *options, bool stream,
                              size_t *ret, char *errmsg, size_t errmsg_size)
{
    const char *v = audit_option(options, "replay_window_bytes");
    unsigned long long n;
    char *end = NULL;

    if (v == NULL) {
        *ret = SOCKET_WINDOW_BYTES_DEFAULT;
        return 0;
    }
    if (!stream)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "replay_window_bytes applies to tcp and unix "
                         "sockets only");
    errno = 0;
    n = strtoull(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || v[0] == '-' ||
        n < SOCKET_WINDOW_BYTES_MIN || n > SOCKET_WINDOW_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "replay_window_bytes must be a number of bytes "
                         "from %d to %d", SOCKET_WINDOW_BYTES_MIN,
                         SOCKET_WINDOW_BYTES_MAX);
    *ret = (size_t)n;
    return 0;
}

static int socket_check(const struct audit_device_params *p,
                        const char *address, const char *type, char *errmsg,
                        size_t errmsg_size)
{
    if (address == NULL || address[0] == '\0' ||
        strlen(address) >= SOCKET_ADDRESS_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "address is required");
    if (strcmp(type, "tcp") != 0 && strcmp(type, "udp") != 0 &&
        strcmp(type, "unix") != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "socket_type must be tcp, udp or unix");
    if (strcmp(type, "unix") == 0 && !p->from_config &&
        !unix_path_allowed(p, address))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "unix socket \"%s\" is not under a directory the "
                         "server configuration allows for audit devices",
                         address);
    return 0;
}

static void socket_close(void *impl)
{
    struct audit_socket *s = impl;

    if (s == NULL)
        return;
    socket_disconnect(s); /* frees the cut line */
    audit_window_release(&s->window);
    free(s);
}

static int socket_open(const struct audit_device_params *p, void **ret_impl,
                       char *errmsg, size_t errmsg_size)
{
    static const char *const names[] = {"address", "socket_type",
                                        "replay_window_bytes"};
    struct audit_socket *s = NULL;
    const char *address, *type;
    size_t window_bytes = 0;
    int r;

    r = audit_options_check(p->options, names, KH_ARRAY_LEN(names), errmsg,
                            errmsg_size);
    if (r != 0)
        return r;
    address = audit_option(p->options, "address");
    type = audit_option(p->options, "socket_type");
    if (type == NULL)
        type = "tcp";
    r = socket_check(p, address, type, errmsg, errmsg_size);
    if (r == 0)
        r = parse_window_bytes(p->options, strcmp(type, "udp") != 0,
                               &window_bytes, errmsg, errmsg_size);
    if (r != 0)
        return r;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KH_ENOMEM;
    snprintf(s->address, sizeof(s->address), "%s", address);
    s->type = strcmp(type, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    s->unix_domain = strcmp(type, "unix") == 0;
    s->fd = -1;
    if (s->type == SOCK_STREAM &&
        audit_window_init(&s->window, window_bytes) != 0) {
        socket_close(s);
        return KH_ENOMEM;
    }
    *ret_impl = s;
    return 0;
}

const struct audit_device_ops audit_socket_ops = {
    .type = "socket",
    .spool = true,
    .open = socket_open,
    .write = socket_write,
    .sync = NULL,
    .reopen = NULL,
    .tail = NULL,
    .close = socket_close,
};
