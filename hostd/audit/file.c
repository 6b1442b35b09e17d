/*
 * file.c - the file audit device: appends lines to file_path, syncs with
 * fdatasync when the writer asks, reopens on SIGHUP.
 *
 * Audit devices are an attack surface (CVE-2025-6000 made a file device
 * write an executable plugin): a device enabled through the API may only
 * write under an allowed directory; every path component is opened with
 * O_NOFOLLOW from "/" so no symlink is ever followed; the target must be
 * a regular file with one link; mode defaults to 0600 and may never carry
 * execute, setuid, setgid or sticky bits. Never logs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/device.h"
#include "common/err.h"

#define FILE_PATH_BYTES_MAX 1024
#define FILE_TAIL_BYTES_MAX (16u * 1024u * 1024u)
#define FILE_TAIL_CHUNK 4096

struct audit_file
{
    char path[FILE_PATH_BYTES_MAX];
    mode_t mode;                /* 0: leave an existing file's mode */
    int fd;
};

/* True when path lies strictly below dir (both absolute, normalised). */
static bool path_below(const char *path, const char *dir)
{
    size_t len = strlen(dir);

    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 1 && dir[0] == '/')
        return true;
    return strncmp(path, dir, len) == 0 && path[len] == '/';
}

/* Absolute, no empty, "." or ".." components, no trailing slash. */
static bool path_clean(const char *path)
{
    const char *p = path;

    if (path[0] != '/' || path[strlen(path) - 1] == '/')
        return false;
    while (*p == '/') {
        const char *next = strchr(p + 1, '/');
        size_t len = next ? (size_t)(next - p - 1) : strlen(p + 1);
        if (len == 0 || (len == 1 && p[1] == '.') ||
            (len == 2 && p[1] == '.' && p[2] == '.'))
            return false;
        if (next == NULL)
            break;
        p = next;
    }
    return true;
}

/* Open path for appending without following any symlink on the way. */
static int open_nofollow(const char *path, mode_t mode, int *ret_fd)
{
    char buf[FILE_PATH_BYTES_MAX];
    char *component, *next;
    int dirfd = -1, fd = -1, r = KH_EIO;

    snprintf(buf, sizeof(buf), "%s", path);
    dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        goto out;
    component = buf + 1;
    while ((next = strchr(component, '/')) != NULL) {
        int sub;
        *next = '\0';
        sub = openat(dirfd, component,
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
            r = errno == ELOOP || errno == ENOTDIR ? KH_EPERM : KH_EIO;
            goto out;
        }
        close(dirfd);
        dirfd = sub;
        component = next + 1;
    }
    fd = openat(dirfd, component,
                O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
                    O_NONBLOCK,
                mode != 0 ? mode : 0600);
    if (fd < 0) {
        r = errno == ELOOP ? KH_EPERM : KH_EIO;
        goto out;
    }
    *ret_fd = fd;
    fd = -1;
    r = 0; /* success */
out:
    if (dirfd >= 0)
        close(dirfd);
    if (fd >= 0)
        close(fd);
    return r;
}

static int file_open_fd(struct audit_file *f, char *errmsg,
                        size_t errmsg_size)
{
    struct stat st;
    int fd = -1, r;

    r = open_nofollow(f->path, f->mode, &fd);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "cannot open audit file \"%s\"%s", f->path,
                         r == KH_EPERM ? ": a path component is a symlink"
                                       : "");
    r = KH_EPERM;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        kh_errmsg(errmsg, errmsg_size, r,
                  "audit file \"%s\" must be a regular file with one link",
                  f->path);
        goto out;
    }
    /* Blocking writes from here on: the writer thread owns the fd. */
    if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) != 0 ||
        (f->mode != 0 && fchmod(fd, f->mode) != 0)) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EIO,
                      "cannot set up audit file \"%s\"", f->path);
        goto out;
    }
    f->fd = fd;
    fd = -1;
    r = 0; /* success */
out:
    if (fd >= 0)
        close(fd);
    return r;
}

static int file_parse_mode(const json_t *options, mode_t *ret, char *errmsg,
                           size_t errmsg_size)
{
    const char *text = audit_option(options, "mode");
    unsigned long mode;
    char *end = NULL;

    if (text == NULL) {
        *ret = 0600;
        return 0;
    }
    mode = strtoul(text, &end, 8);
    if (end == text || *end != '\0' || (mode & ~0666ul) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "mode \"%s\" must be octal without execute, "
                         "setuid, setgid or sticky bits", text);
    *ret = (mode_t)mode;
    return 0;
}

static int file_check_path(const struct audit_device_params *p,
                           const char *path, char *errmsg,
                           size_t errmsg_size)
{
    size_t i;

    if (strlen(path) >= FILE_PATH_BYTES_MAX || !path_clean(path))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "file_path must be an absolute path without \".\", "
                         "\"..\" or empty components");
    if (p->from_config)
        return 0;
    for (i = 0; p->dirs != NULL && i < p->dirs->count; i++)
        if (path_below(path, p->dirs->dirs[i]))
            return 0;
    return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                     "file_path \"%s\" is not under a directory the server "
                     "configuration allows for audit devices", path);
}

static int file_open(const struct audit_device_params *p, void **ret_impl,
                     char *errmsg, size_t errmsg_size)
{
    static const char *const names[] = {"file_path", "path", "mode"};
    struct audit_file *f = NULL;
    const char *path;
    int r;

    r = audit_options_check(p->options, names, KH_ARRAY_LEN(names), errmsg,
                            errmsg_size);
    if (r != 0)
        return r;
    path = audit_option(p->options, "file_path");
    if (path == NULL)
        path = audit_option(p->options, "path");
    if (path == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "file_path is required");
    r = file_check_path(p, path, errmsg, errmsg_size);
    if (r != 0)
        return r;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return KH_ENOMEM;
    f->fd = -1;
    snprintf(f->path, sizeof(f->path), "%s", path);
    r = file_parse_mode(p->options, &f->mode, errmsg, errmsg_size);
    if (r == 0)
        r = file_open_fd(f, errmsg, errmsg_size);
    if (r != 0) {
        free(f);
        return r;
    }
    *ret_impl = f;
    return 0;
}

static int file_write(void *impl, const struct iovec *lines, size_t count,
                      const struct timespec *deadline, size_t *ret_done)
{
    struct audit_file *f = impl;
    off_t offset;
    size_t i, done = 0;
    int r = 0;

    KH_ASSERT(f != NULL);
    KH_ASSERT(deadline != NULL);
    offset = lseek(f->fd, 0, SEEK_END);
    if (offset < 0) {
        *ret_done = 0;
        return KH_EIO;
    }
    for (i = 0; r == 0 && i < count; i++) {
        const char *p = lines[i].iov_base;
        size_t left = lines[i].iov_len;
        while (r == 0 && left > 0) {
            ssize_t n = write(f->fd, p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                r = errno == ENOSPC ? KH_EFULL : KH_EIO;
                break;
            }
            p += n;
            left -= (size_t)n;
        }
        if (r == 0) {
            offset += (off_t)lines[i].iov_len;
            done++;
        }
    }
    /* Cut a partly written line so the file ends on a whole record. */
    if (r != 0 && ftruncate(f->fd, offset) != 0)
        r = KH_EIO;
    *ret_done = done;
    return r;
}

static int file_sync(void *impl)
{
    struct audit_file *f = impl;

    return fdatasync(f->fd) == 0 ? 0 : KH_EIO;
}

static int file_reopen(void *impl)
{
    struct audit_file *f = impl;
    char errmsg[KH_ERRMSG_SIZE];
    int old = f->fd, r;

    r = file_open_fd(f, errmsg, sizeof(errmsg));
    if (r == 0 && old >= 0)
        close(old);
    return r;
}

/* Read the last complete line; cut a torn (unterminated) fragment after
 * it, which a crash mid-write leaves and which was never confirmed. */
static int file_tail(void *impl, char **ret_line, size_t *ret_len)
{
    struct audit_file *f = impl;
    char *buf = NULL;
    off_t size, start, end;
    int fd = -1, r = KH_EIO;

    fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) < 0)
        goto out;
    end = size;
    buf = malloc(FILE_TAIL_BYTES_MAX);
    if (buf == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    start = size > FILE_TAIL_BYTES_MAX ? size - FILE_TAIL_BYTES_MAX : 0;
    if (pread(fd, buf, (size_t)(size - start), start) != size - start)
        goto out;
    while (end > start && buf[end - 1 - start] != '\n')
        end--;
    if (end != size && ftruncate(f->fd, end) != 0)
        goto out;
    r = KH_ENOTFOUND;
    if (end <= start + 1)
        goto out;
    end--; /* the newline */
    {
        off_t b = end;
        while (b > start && buf[b - 1 - start] != '\n')
            b--;
        if (b == start && start > 0) {
            r = KH_ETOOBIG;
            goto out;
        }
        memmove(buf, buf + (b - start), (size_t)(end - b));
        *ret_len = (size_t)(end - b);
    }
    *ret_line = buf;
    buf = NULL;
    r = 0; /* success */
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return r;
}

static void file_close(void *impl)
{
    struct audit_file *f = impl;

    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f);
}

const struct audit_device_ops audit_file_ops = {
    .type = "file",
    .spool = false,
    .open = file_open,
    .write = file_write,
    .sync = file_sync,
    .reopen = file_reopen,
    .tail = file_tail,
    .close = file_close,
};
