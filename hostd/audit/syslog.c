/*
 * syslog.c - the syslog audit device: each line as one RFC 3164 datagram
 * to the local syslog socket (/dev/log, or "socket_path" for tests).
 *
 * syslog(3) can block without bound when the daemon stalls, so the
 * device speaks the socket itself, non-blocking, under the writer's
 * deadline. Options: facility (Vault's names, default AUTH), tag (default
 * "keyhold"). Never logs through kh_log.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "audit/device.h"
#include "common/err.h"

#define SYSLOG_TAG_BYTES_MAX 64
#define SYSLOG_HEADER_BYTES_MAX 128

struct audit_syslog
{
    struct sockaddr_un addr;
    int priority;
    char tag[SYSLOG_TAG_BYTES_MAX];
    int fd;
};

static int facility_of(const char *name, int *ret)
{
    static const struct {
        const char *name;
        int value;
    } table[] = {
        {"AUTH", LOG_AUTH},     {"AUTHPRIV", LOG_AUTHPRIV},
        {"DAEMON", LOG_DAEMON}, {"USER", LOG_USER},
        {"LOCAL0", LOG_LOCAL0}, {"LOCAL1", LOG_LOCAL1},
        {"LOCAL2", LOG_LOCAL2}, {"LOCAL3", LOG_LOCAL3},
        {"LOCAL4", LOG_LOCAL4}, {"LOCAL5", LOG_LOCAL5},
        {"LOCAL6", LOG_LOCAL6}, {"LOCAL7", LOG_LOCAL7},
    };
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(table); i++)
        if (strcasecmp(name, table[i].name) == 0) {
            *ret = table[i].value;
            return 0;
        }
    return KH_EINVAL;
}

static int syslog_open(const struct audit_device_params *p, void **ret_impl,
                       char *errmsg, size_t errmsg_size)
{
    static const char *const names[] = {"facility", "tag", "socket_path"};
    const char *facility = audit_option(p->options, "facility");
    const char *tag = audit_option(p->options, "tag");
    const char *path = audit_option(p->options, "socket_path");
    struct audit_syslog *s;
    int fac = LOG_AUTH, r;

    r = audit_options_check(p->options, names, KH_ARRAY_LEN(names), errmsg,
                            errmsg_size);
    if (r != 0)
        return r;
    if (facility != NULL && facility_of(facility, &fac) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "unknown syslog facility \"%s\"", facility);
    if (path != NULL && !p->from_config)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "socket_path is only allowed in the server "
                         "configuration");
    if (path == NULL)
        path = "/dev/log";
    if (tag == NULL)
        tag = "keyhold";
    if (strlen(tag) >= SYSLOG_TAG_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "tag too long");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return KH_ENOMEM;
    s->addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(s->addr.sun_path)) {
        free(s);
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "socket_path too long");
    }
    memcpy(s->addr.sun_path, path, strlen(path));
    s->priority = fac | LOG_INFO;
    snprintf(s->tag, sizeof(s->tag), "%s", tag);
    s->fd = -1;
    *ret_impl = s;
    return 0;
}

static int syslog_send(struct audit_syslog *s, const struct iovec *line,
                       const struct timespec *deadline)
{
    char header[SYSLOG_HEADER_BYTES_MAX];
    struct iovec iov[2];
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    int n;

    n = snprintf(header, sizeof(header), "<%d>%s[%d]: ", s->priority, s->tag,
                 (int)getpid());
    KH_ASSERT(n > 0 && (size_t)n < sizeof(header));
    iov[0].iov_base = header;
    iov[0].iov_len = (size_t)n;
    iov[1].iov_base = line->iov_base;
    iov[1].iov_len = line->iov_len - 1; /* no newline in a datagram */
    for (;;) {
        struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
        if (sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return KH_EUNAVAIL;
        if (poll(&pfd, 1, audit_ms_until(deadline)) <= 0)
            return KH_EUNAVAIL;
    }
}

static int syslog_write(void *impl, const struct iovec *lines, size_t count,
                        const struct timespec *deadline, size_t *ret_done)
{
    struct audit_syslog *s = impl;
    size_t i;

    KH_ASSERT(s != NULL);
    KH_ASSERT(count == 0 || lines[0].iov_len > 0);
    *ret_done = 0;
    if (s->fd < 0) {
        s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0)
            return KH_EUNAVAIL;
        if (connect(s->fd, (struct sockaddr *)&s->addr, sizeof(s->addr)) !=
            0) {
            close(s->fd);
            s->fd = -1;
            return KH_EUNAVAIL;
        }
    }
    for (i = 0; i < count; i++) {
        if (syslog_send(s, &lines[i], deadline) != 0) {
            close(s->fd);
            s->fd = -1;
            *ret_done = i;
            return KH_EUNAVAIL;
        }
    }
    *ret_done = count;
    return 0;
}

static void syslog_close(void *impl)
{
    struct audit_syslog *s = impl;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

const struct audit_device_ops audit_syslog_ops = {
    .type = "syslog",
    .spool = false,
    .open = syslog_open,
    .write = syslog_write,
    .sync = NULL,
    .reopen = NULL,
    .tail = NULL,
    .close = syslog_close,
};
