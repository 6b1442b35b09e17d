/* json_alloc.c - jansson allocator hooks that wipe on free. */
#include "server/json_alloc.h"

#include <malloc.h>
#include <stdlib.h>

#include <jansson.h>

#include "common/secret.h"

static void *wiping_malloc(size_t size)
{
    return malloc(size);
}

static void wiping_free(void *p)
{
    if (p == NULL)
        return;
    kh_wipe(p, malloc_usable_size(p));
    free(p);
}

void json_alloc_install_wiping(void)
{
    json_set_alloc_funcs(wiping_malloc, wiping_free);
}
