/*
 * registry.c - the table of backend types. Adding an engine or auth
 * method is one row here plus its folder.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "auth/approle/approle.h"
#include "auth/kubernetes/kubernetes.h"
#include "auth/userpass/userpass.h"
#include "engines/backend.h"
#include "engines/database/database.h"
#include "engines/kv/kv.h"
#include "engines/transit/transit.h"
#include "token/token_backend.h"
#include "mount/mount_table.h"

static const struct backend_ops *const backends[] = {
    &kv_backend_ops,
    &transit_backend_ops,
    &approle_backend_ops,
    &userpass_backend_ops,
    &kubernetes_backend_ops,
    &token_backend_ops,
    &database_backend_ops,
};

/* Types added at start-up by backend_registry_add (tests). */
#define REGISTRY_EXTRA_MAX 8
static const struct backend_ops *extra[REGISTRY_EXTRA_MAX];
static size_t extra_count;

int backend_registry_add(const struct backend_ops *ops)
{
    if (extra_count == REGISTRY_EXTRA_MAX)
        return KH_ELIMIT;
    extra[extra_count++] = ops;
    return 0;
}

const struct backend_ops *backend_lookup(const char *type, bool is_auth)
{
    size_t i;

    if (type == NULL)
        return NULL;
    if (strcmp(type, "kv-v2") == 0)
        type = "kv";
    for (i = 0; i < KH_ARRAY_LEN(backends); i++) {
        if (backends[i]->is_auth == is_auth &&
            strcmp(backends[i]->type, type) == 0)
            return backends[i];
    }
    for (i = 0; i < extra_count; i++) {
        if (extra[i]->is_auth == is_auth && strcmp(extra[i]->type, type) == 0)
            return extra[i];
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
