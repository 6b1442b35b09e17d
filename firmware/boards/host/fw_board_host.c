/*
 * fw_board_host.c - the host board: NV is a file written with pwrite and
 * fsync, the HUK a second file, entropy comes from getrandom(2), the tick
 * from CLOCK_MONOTONIC. It lets the unmodified core run as a simulator
 * process and under unit tests. It must never fake entropy.
 */
#include "core/fw_board.h"
#include "boards/host/fw_board_host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/fw_core.h"
#include "fw_proto.h"

static int g_nv_fd = -1;
static char g_huk_path[PATH_MAX];

int fw_host_board_open(const char *nv_path)
{
    fw_host_board_close();
    if (snprintf(g_huk_path, sizeof(g_huk_path), "%s.huk", nv_path) >=
        (int)sizeof(g_huk_path))
        return -FW_ST_NV;
    g_nv_fd = open(nv_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (g_nv_fd < 0)
        return -FW_ST_NV;
    if (ftruncate(g_nv_fd, FW_NV_SIZE) != 0) {
        fw_host_board_close();
        return -FW_ST_NV;
    }
    return 0;
}

void fw_host_board_close(void)
{
    if (g_nv_fd >= 0)
        close(g_nv_fd);
    g_nv_fd = -1;
}

int fw_board_nv_read(uint32_t off, void *buf, size_t len)
{
    if (g_nv_fd < 0 || off > FW_NV_SIZE || len > FW_NV_SIZE - off)
        return -FW_ST_NV;
    if (pread(g_nv_fd, buf, len, off) != (ssize_t)len)
        return -FW_ST_NV;
    return 0;
}

int fw_board_nv_write(uint32_t off, const void *buf, size_t len)
{
    if (g_nv_fd < 0 || off > FW_NV_SIZE || len > FW_NV_SIZE - off)
        return -FW_ST_NV;
    if (pwrite(g_nv_fd, buf, len, off) != (ssize_t)len ||
        fdatasync(g_nv_fd) != 0)
        return -FW_ST_NV;
    return 0;
}

int fw_board_entropy(void *ctx, unsigned char *out, size_t len, size_t *olen)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = getrandom(out + done, len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    *olen = len;
    return 0;
}

int fw_board_entropy_is_test(void)
{
    return 0;
}

int fw_board_huk_get(uint8_t huk[FW_AES_KEY_LEN])
{
    int fd = open(g_huk_path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return errno == ENOENT ? -FW_ST_NOKEY : -FW_ST_NV;
    n = read(fd, huk, FW_AES_KEY_LEN);
    close(fd);
    return n == FW_AES_KEY_LEN ? 0 : -FW_ST_NV;
}

int fw_board_huk_provision(const uint8_t huk[FW_AES_KEY_LEN])
{
    int fd = open(g_huk_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int r = -FW_ST_NV;

    if (fd < 0)
        return r;
    if (write(fd, huk, FW_AES_KEY_LEN) == FW_AES_KEY_LEN && fsync(fd) == 0)
        r = 0;
    close(fd);
    return r;
}

uint32_t fw_board_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)(ts.tv_sec * 1000u + (uint32_t)(ts.tv_nsec / 1000000));
}

uint64_t fw_board_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *fw_board_name(void)
{
    return "host";
}

void fw_panic(int code)
{
    fw_core_wipe();
    fprintf(stderr, "keyhold-fw: panic %d\n", code);
    abort();
}
