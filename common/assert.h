/*
 * assert.h - assertions as design.
 *
 * KH_ASSERT is always on: it guards invariants that only a bug can break,
 * never input from the network, disk or an HSM (that is validation and
 * returns an error). KH_DEBUG_ASSERT is for checks too costly for release.
 * KH_MUST_CHECK marks functions whose result may not be ignored
 * (decrypt/verify and everything that can fail in a way that matters).
 */
#ifndef KH_COMMON_ASSERT_H
#define KH_COMMON_ASSERT_H

#define KH_MUST_CHECK __attribute__((warn_unused_result))

_Noreturn void kh_assert_fail(const char *expr, const char *file, int line);

#define KH_ASSERT(expr)                                                        \
    ((expr) ? (void)0 : kh_assert_fail(#expr, __FILE__, __LINE__))

#ifdef NDEBUG
#define KH_DEBUG_ASSERT(expr) ((void)0)
#else
#define KH_DEBUG_ASSERT(expr) KH_ASSERT(expr)
#endif

#define KH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
