/*
 * router.h - declarative route tables (house style). A route row names
 * a path pattern, the operations it answers, the gates it passes through
 * (flags) and its handler; permissions are never decided ad hoc inside a
 * handler.
 *
 * Patterns: an exact path ("sys/health"), or a prefix ending in '*'
 * ("sys/policy/" followed by a star). Exact rows win over prefix rows; longer prefixes win.
 */
#ifndef KH_ROUTER_ROUTER_H
#define KH_ROUTER_ROUTER_H

#include <stddef.h>

#include "core/request.h"

struct kh_core;

typedef int (*kh_handler_fn)(struct kh_core *core,
                             const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size);

enum route_flag {
    ROUTE_UNAUTHENTICATED = 1u << 0, /* no token needed (or looked at) */
    ROUTE_ALLOW_SEALED = 1u << 1,    /* reachable while sealed/uninit */
    ROUTE_SUDO = 1u << 2,            /* needs sudo (root) besides the cap */
    ROUTE_NO_ACL = 1u << 3,          /* a token is needed; the handler
                                        checks what the token may see */
};

#define OP_BIT(op) (1u << (op))
#define OPS_READ OP_BIT(KH_OP_READ)
#define OPS_WRITE (OP_BIT(KH_OP_UPDATE) | OP_BIT(KH_OP_CREATE))
#define OPS_HEAD OP_BIT(KH_OP_HEAD)
#define OPS_LIST OP_BIT(KH_OP_LIST)
#define OPS_DELETE OP_BIT(KH_OP_DELETE)

struct kh_route
{
    const char *pattern;
    unsigned ops;
    unsigned flags;
    kh_handler_fn handler;
};

/* Find the route for path and op. Returns 0 and *ret_route; KH_ENOTFOUND
 * when no pattern matches ("no handler for route" in errmsg); KH_EMETHOD
 * when the path matches but not for this operation. */
int router_lookup(const char *path, enum kh_operation op,
                  const struct kh_route **ret_route, char *errmsg,
                  size_t errmsg_size) KH_MUST_CHECK;

#endif
