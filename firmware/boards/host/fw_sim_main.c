/*
 * fw_sim_main.c - keyhold-fw-sim: the firmware core as a host process, the
 * device stand-in for host-side tests. It serves one client at a time on a
 * unix socket (or stdin/stdout) and ends the login session when the client
 * goes away. It owns only the transport loop; it must never interpret
 * frames itself.
 *
 * usage: keyhold-fw-sim --nv FILE (--socket PATH | --stdio)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "boards/host/fw_board_host.h"
#include "core/fw_core.h"

static uint8_t g_out[FW_MAX_FRAME];

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Serve one byte stream until EOF; drops partial frames after idle. */
static void serve(int in_fd, int out_fd)
{
    uint8_t buf[256];
    struct pollfd pfd = {.fd = in_fd, .events = POLLIN};

    for (;;) {
        int pr = poll(&pfd, 1, (int)FW_RX_IDLE_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            fw_core_rx_idle();
            continue;
        }
        ssize_t n = read(in_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            size_t len = fw_core_rx(buf[i], g_out, sizeof(g_out));
            if (len > 0 && write_all(out_fd, g_out, len) != 0)
                return;
        }
    }
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, 4) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *nv = NULL, *sock = NULL;
    int use_stdio = 0, lfd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nv") == 0 && i + 1 < argc)
            nv = argv[++i];
        else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            sock = argv[++i];
        else if (strcmp(argv[i], "--stdio") == 0)
            use_stdio = 1;
        else
            nv = NULL, i = argc;
    }
    if (nv == NULL || (sock == NULL) == (use_stdio == 0)) {
        fprintf(stderr, "usage: keyhold-fw-sim --nv FILE "
                        "(--socket PATH | --stdio)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (fw_host_board_open(nv) != 0 || fw_core_boot() != 0) {
        fprintf(stderr, "keyhold-fw-sim: boot failed (NV %s)\n", nv);
        return 1;
    }
    if (use_stdio) {
        serve(0, 1);
        return 0;
    }
    lfd = listen_unix(sock);
    if (lfd < 0) {
        fprintf(stderr, "keyhold-fw-sim: cannot listen on %s\n", sock);
        return 1;
    }
    fprintf(stderr, "keyhold-fw-sim: ready on %s\n", sock);
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            continue;
        serve(c, c);
        close(c);
        fw_core_session_end();
        fw_core_rx_idle();
    }
}
