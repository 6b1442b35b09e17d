/*
 * jsonmem.c - jansson's allocator for the client: free() that wipes.
 *
 * Responses and request bodies carry secrets, and jansson copies them into
 * its own allocations (strings, parse buffers, dumps). Routing jansson's
 * free through here wipes each block, whatever its size, before it goes
 * back to the heap. Owns nothing; must be installed before the first
 * jansson call (main.c does it).
 */
#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>

#include "cli.h"
#include "common/secret.h"

static void *json_mem_alloc(size_t size)
{
    return malloc(size);
}

void cli_json_free(void *p)
{
    if (p == NULL)
        return;
    /* The block's real size, so nothing of it survives. */
    kh_wipe(p, malloc_usable_size(p));
    free(p);
}

void cli_json_memory_init(void)
{
    json_set_alloc_funcs(json_mem_alloc, cli_json_free);
}
