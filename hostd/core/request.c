/*
 * request.c - request_handle(): the ordered gates every API request passes
 * (DESIGN: "The request path"; vault-api.md §7):
 *
 *   1. route    - which row of a route table answers this path and op
 *   2. state    - sealed or uninitialised: 503 unless the row allows it
 *   3. token    - X-Vault-Token / Bearer, looked up by salted hash: 403
 *   4. ACL      - the token's policies allow the operation (sudo rows too)
 *   5. audit    - (the audit devices arrive with their own issue)
 *   6. handler  - the row's handler fills the response
 *
 * No gate hides in a callback; each block below returns a mapped error.
 */
#include "core/request_handle.h"

#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "http/response.h"
#include "router/router.h"

/* Gate 3 and 4. Today the token store mints only root tokens, so the ACL
 * decision is root-or-nothing; policy evaluation plugs in here. */
static int gate_token_acl(struct kh_core *core, const struct kh_request *req,
                          const struct kh_route *route)
{
    struct token_entry entry;
    int r;

    if (route->flags & ROUTE_UNAUTHENTICATED)
        return 0;
    if (!req->has_token || req->token[0] == '\0')
        return KH_EPERM;
    r = token_store_lookup(core->tokens, req->token, &entry);
    if (r != 0)
        return r == KH_ESEALED ? r : KH_EPERM;
    if (!entry.root)
        return KH_EPERM;
    return 0;
}

void request_handle(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    const struct kh_route *route = NULL;
    int route_r;
    int r;

    /* 1. route (its result waits until the state gate has spoken) */
    route_r = router_lookup(req->path, req->op, &route, errmsg,
                            sizeof(errmsg));

    /* 2. state: sealed or uninitialised answers 503 before anything else */
    if ((route == NULL || !(route->flags & ROUTE_ALLOW_SEALED)) &&
        barrier_sealed(core->barrier)) {
        r = KH_ESEALED;
        goto fail;
    }
    r = route_r;
    if (r != 0)
        goto fail;

    /* 3-4. token and ACL */
    errmsg[0] = '\0';
    r = gate_token_acl(core, req, route);
    if (r != 0)
        goto fail;

    /* 6. handler */
    r = route->handler(core, req, resp, errmsg, sizeof(errmsg));
    if (r != 0)
        goto fail;
    return;
fail:
    if (http_status_for_error(r) >= 500 && r != KH_ESEALED)
        log_error("request %s %s: %s%s%s", req->request_id, req->path,
                  kh_strerror(r), errmsg[0] ? ": " : "", errmsg);
    http_response_error(resp, r, errmsg);
}
