/* assert.c - the one place an assertion failure ends the process. */
#include "common/assert.h"

#include <stdio.h>
#include <stdlib.h>

void kh_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "keyhold: assertion failed: %s (%s:%d)\n", expr, file,
            line);
    fflush(stderr);
    abort();
}
