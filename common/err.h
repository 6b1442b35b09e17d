/*
 * err.h - the one error space of Keyhold.
 *
 * Every fallible function returns int: 0 on success or a negative KH_E* code
 * from the table below. Operator-facing detail travels separately in a
 * caller-owned errmsg buffer of KH_ERRMSG_SIZE bytes, which each layer may
 * prefix with its own context. Errors become HTTP statuses in exactly one
 * place: hostd/http/response.c.
 */
#ifndef KH_COMMON_ERR_H
#define KH_COMMON_ERR_H

#include <stddef.h>

#define KH_ERRMSG_SIZE 512

/* X(name, value, text) */
#define KH_ERROR_TABLE(X)                                                      \
    X(KH_EINTERNAL, -1, "internal error")                                      \
    X(KH_ENOMEM, -2, "out of memory")                                          \
    X(KH_EINVAL, -3, "invalid request")                                        \
    X(KH_ENOTFOUND, -4, "not found")                                           \
    X(KH_EPERM, -5, "permission denied")                                       \
    X(KH_ESEALED, -6, "Vault is sealed")                                       \
    X(KH_ETOOBIG, -7, "request too large")                                     \
    X(KH_EMEDIATYPE, -8, "unsupported media type")                             \
    X(KH_EMETHOD, -9, "unsupported operation")                                 \
    X(KH_ECONFLICT, -10, "conflict")                                           \
    X(KH_EIO, -11, "input/output error")                                       \
    X(KH_ECORRUPT, -12, "stored data failed authentication")                   \
    X(KH_EHSM, -13, "hardware security module error")                          \
    X(KH_EUNAVAIL, -14, "service unavailable")                                 \
    X(KH_ECONFIG, -15, "configuration error")                                  \
    X(KH_ELIMIT, -16, "limit exceeded")                                        \
    X(KH_EFULL, -17, "storage full")                                           \
    X(KH_EUNINIT, -18, "Vault is not initialized")                             \
    X(KH_ESTATE, -19, "operation not valid in the current state")           \
    X(KH_EAUTH, -20, "credentials refused (not retried)")

enum kh_error
{
#define KH_ERR_ENUM(name, value, text) name = value,
    KH_ERROR_TABLE(KH_ERR_ENUM)
#undef KH_ERR_ENUM
};

/* Static text for a KH_E* code (never NULL; unknown codes get a generic
 * string). */
const char *kh_strerror(int r);

/* Format into errmsg (size KH_ERRMSG_SIZE or smaller), truncating safely.
 * Returns r so callers can write `return kh_errmsg(msg, n, KH_EINVAL, ...)`. */
int kh_errmsg(char *errmsg, size_t size, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
