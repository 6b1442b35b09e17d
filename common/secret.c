/*
 * secret.c - wiping, locked allocations, constant-time compare, randomness.
 *
 * Owns nothing long-lived but a failure counter. Never logs.
 */
#include "common/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/err.h"

static unsigned long secure_lock_failures;

#if defined(__SANITIZE_ADDRESS__)
#define KH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KH_ASAN 1
#endif
#endif

void kh_wipe(void *p, size_t len)
{
    if (p == NULL || len == 0)
        return;
#ifdef KH_ASAN
    /* AddressSanitizer does not check explicit_bzero: a memset it sees,
     * kept by the barrier below, makes an over-long wipe a test failure. */
    memset(p, 0, len);
    __asm__ __volatile__("" : : "r"(p) : "memory");
#else
    explicit_bzero(p, len);
#endif
}

void kh_free_secret(void *p, size_t len)
{
    if (p == NULL)
        return;
    kh_wipe(p, len);
    free(p);
}

static size_t secure_map_len(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    return (len + page - 1) / page * page;
}

void *kh_secure_alloc(size_t len)
{
    size_t map_len;
    void *p;

    if (len == 0)
        return NULL;
    map_len = secure_map_len(len);
    p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mlock(p, map_len) != 0)
        __atomic_add_fetch(&secure_lock_failures, 1, __ATOMIC_RELAXED);
    (void)madvise(p, map_len, MADV_DONTDUMP);
    return p;
}

void kh_secure_free(void *p, size_t len)
{
    size_t map_len;

    if (p == NULL)
        return;
    map_len = secure_map_len(len);
    kh_wipe(p, map_len);
    (void)munlock(p, map_len);
    (void)munmap(p, map_len);
}

unsigned long kh_secure_lock_failures(void)
{
    return __atomic_load_n(&secure_lock_failures, __ATOMIC_RELAXED);
}

bool kh_ct_equal(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char diff = 0;
    size_t i;

    for (i = 0; i < len; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff == 0;
}

int kh_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return KH_EINTERNAL;
        }
        done += (size_t)n;
    }
    return 0;
}

int kh_harden_process(bool disable_mlock, char *errmsg, size_t errmsg_size)
{
    struct rlimit no_core = {0, 0};

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
    if (setrlimit(RLIMIT_CORE, &no_core) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "setrlimit(RLIMIT_CORE): %s", strerror(errno));
    if (!disable_mlock && mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "mlockall: %s (set disable_mlock = true to run "
                         "without locked memory)",
                         strerror(errno));
    return 0;
}
