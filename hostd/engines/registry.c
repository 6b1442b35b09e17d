/*
 * registry.c - the table of backend types. Adding an engine or auth
 * method is one row here plus its folder.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "engines/backend.h"
#include "mount/mount_table.h"

static const struct backend_ops *const backends[] = {
    NULL, /* sentinel: keeps the array valid while rows arrive */
};

const struct backend_ops *backend_lookup(const char *type, bool is_auth)
{
    size_t i;

    if (type == NULL)
        return NULL;
    if (strcmp(type, "kv-v2") == 0)
        type = "kv";
    for (i = 0; i < KH_ARRAY_LEN(backends); i++) {
        if (backends[i] != NULL && backends[i]->is_auth == is_auth &&
            strcmp(backends[i]->type, type) == 0)
            return backends[i];
    }
    return NULL;
}

int backend_no_route(const struct backend_request *br, char *errmsg,
                     size_t errmsg_size)
{
    return kh_errmsg(errmsg, errmsg_size, KH_ENOTFOUND,
                     "no handler for route \"%s\". route entry not found.",
                     br->req->path);
}
