/*
 * secret.h - handling of secret bytes: wiping, locked allocations,
 * constant-time comparison, randomness, process hardening.
 *
 * Rules (house style): a secret is wiped where it dies, visibly, in the
 * out: block of the function that owns it. Long-lived keys live in pages
 * from kh_secure_alloc(): mlock'ed, excluded from core dumps, wiped on free.
 */
#ifndef KH_COMMON_SECRET_H
#define KH_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

/* Overwrite len bytes at p with zeros; never optimised away. p may be NULL
 * when len is 0. */
void kh_wipe(void *p, size_t len);

/* Wipe then free(). Accepts NULL. */
void kh_free_secret(void *p, size_t len);

/* Allocate len bytes of zeroed memory on their own pages, mlock'ed (best
 * effort: a failed mlock is counted, see kh_secure_lock_failures) and
 * MADV_DONTDUMP. Returns NULL on failure. Free with kh_secure_free. */
void *kh_secure_alloc(size_t len);

/* Wipe, unlock and unmap memory from kh_secure_alloc. Accepts NULL. */
void kh_secure_free(void *p, size_t len);

/* How many kh_secure_alloc calls could not mlock their pages. */
unsigned long kh_secure_lock_failures(void);

/* Constant-time equality of two buffers of the same length. */
bool kh_ct_equal(const void *a, const void *b, size_t len);

/* Fill buf with len bytes from the kernel CSPRNG (getrandom). */
int kh_random_bytes(void *buf, size_t len) KH_MUST_CHECK;

/* Make the process non-dumpable, set RLIMIT_CORE to 0 and, unless
 * disable_mlock, lock all current and future memory. Returns 0 or
 * KH_EINTERNAL with errmsg set (the caller decides whether it is fatal). */
int kh_harden_process(bool disable_mlock, char *errmsg, size_t errmsg_size);

#endif
