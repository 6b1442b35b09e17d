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
 * its spool (ops->spool) and replays in order. Never logs.
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
#include "common/err.h"

#define SOCKET_ADDRESS_BYTES_MAX 256
/* Send buffer of a stream connection: bounds what a peer that accepts and
 * never reads can swallow before the deadline fires (those bytes count as
 * sent; the rest stays in the spool). */
#define SOCKET_SNDBUF_BYTES (64 * 1024)

struct audit_socket
{
    char address[SOCKET_ADDRESS_BYTES_MAX];
    int type;                   /* SOCK_STREAM or SOCK_DGRAM */
    bool unix_domain;
    int fd;
};

/* Wait for events on fd until deadline: 0 when ready, KH_EUNAVAIL. */
static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;

    do {
        n = poll(&pfd, 1, audit_ms_until(deadline));
    } while (n < 0 && errno == EINTR);
    if (n <= 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0)
        return KH_EUNAVAIL;
    return 0;
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

static void socket_disconnect(struct audit_socket *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
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

static int send_line(struct audit_socket *s, const struct iovec *line,
                     const struct timespec *deadline)
{
    const char *p = line->iov_base;
    size_t left = line->iov_len;

    while (left > 0) {
        ssize_t n = send(s->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(s->fd, POLLOUT, deadline) != 0)
                return KH_EUNAVAIL;
            continue;
        }
        if (n <= 0)
            return KH_EUNAVAIL;
        if (s->type == SOCK_DGRAM)
            return (size_t)n == left ? 0 : KH_EUNAVAIL;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

static int socket_write(void *impl, const struct iovec *lines, size_t count,
                        const struct timespec *deadline, size_t *ret_done)
{
    struct audit_socket *s = impl;
    int budget_ms = audit_ms_until(deadline);
    size_t i;
    int r = 0;

    KH_ASSERT(s != NULL);
    KH_ASSERT(deadline != NULL);
    if (s->fd >= 0 && socket_peer_gone(s))
        socket_disconnect(s);
    if (s->fd < 0)
        r = s->unix_domain ? socket_connect_unix(s, deadline)
                           : socket_connect_inet(s, deadline);
    /* The deadline bounds a stall, not the batch: a slow peer that keeps
     * reading gets every line; one that stops gets cut off after budget. */
    for (i = 0; r == 0 && i < count; i++) {
        struct timespec line_deadline;
        audit_deadline_in((uint64_t)budget_ms, &line_deadline);
        r = send_line(s, &lines[i], &line_deadline);
    }
    if (r != 0) {
        /* A line may be cut mid-way: the peer sees a torn line, which a
         * fresh connection (and the replay) follows. */
        socket_disconnect(s);
        *ret_done = i == 0 ? 0 : i - 1;
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

static int socket_open(const struct audit_device_params *p, void **ret_impl,
                       char *errmsg, size_t errmsg_size)
{
    static const char *const names[] = {"address", "socket_type"};
    struct audit_socket *s;
    const char *address, *type;
    int r;

    r = audit_options_check(p->options, names, KH_ARRAY_LEN(names), errmsg,
                            errmsg_size);
    if (r != 0)
        return r;
    address = audit_option(p->options, "address");
    type = audit_option(p->options, "socket_type");
    if (type == NULL)
        type = "tcp";
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
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KH_ENOMEM;
    snprintf(s->address, sizeof(s->address), "%s", address);
    s->type = strcmp(type, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    s->unix_domain = strcmp(type, "unix") == 0;
    s->fd = -1;
    *ret_impl = s;
    return 0;
}

static void socket_close(void *impl)
{
    struct audit_socket *s = impl;

    if (s == NULL)
        return;
    socket_disconnect(s);
    free(s);
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
