/* err.c - text for the error table and the errmsg formatter. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *kh_strerror(int r)
{
    switch (r) {
    case 0:
        return "success";
#define KH_ERR_CASE(name, value, text)                                         \
    case name:                                                                 \
        return text;
        KH_ERROR_TABLE(KH_ERR_CASE)
#undef KH_ERR_CASE
    default:
        return "unknown error";
    }
}

int kh_errmsg(char *errmsg, size_t size, int r, const char *fmt, ...)
{
    va_list ap;

    if (errmsg == NULL || size == 0)
        return r;
    va_start(ap, fmt);
    (void)vsnprintf(errmsg, size, fmt, ap);
    va_end(ap);
    return r;
}
