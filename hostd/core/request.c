/*
 * request.c - request_handle(): the ordered gates every API request passes
 * (hostd/README.md; Vault API: the request pipeline):
 *
 *   1. route    - a row of the sys route table, or the mount whose path is
 *                 the longest prefix (auth methods under auth/)
 *   2. state    - sealed or uninitialised: 503 unless the row allows it
 *   3. token    - X-Vault-Token / Bearer, looked up by salted hash: 403
 *   4. ACL      - the token's compiled policies allow the operation
 *                 (create vs update by the backend's existence check;
 *                 sudo for root-protected paths)
 *   5. audit    - the request is recorded by at least one audit device,
 *                 or refused (fail closed)
 *   6. handler  - the row's handler or the mount's backend answers
 *   7. audit    - the response is recorded before the client sees it;
 *                 if no device records it, a leased secret is revoked
 *                 and the client gets an error instead
 *
 * No gate hides in a callback; each block below returns a mapped error.
 */
#include "core/request_handle.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "audit/audit.h"
#include "common/log.h"
#include "http/response.h"
#include "lease/lease.h"
#include "mount/mount_table.h"
#include "policy/acl.h"
#include "router/router.h"

/* Where a request goes: a sys row, or a mount (read lock held). */
struct route_target
{
    const struct kh_route *sys;
    const struct mount_entry *mount;
    const char *subpath;
    bool unauthenticated;
    bool allow_sealed;
    bool sudo;
    bool no_acl;
};

static int gate_route(struct kh_core *core, const struct kh_request *req,
                      struct route_target *t, char *errmsg,
                      size_t errmsg_size)
{
    int r;

    memset(t, 0, sizeof(*t));
    if (strncmp(req->path, "sys/", 4) == 0 || strcmp(req->path, "sys") == 0) {
        r = router_lookup(req->path, req->op, &t->sys, errmsg, errmsg_size);
        if (r == 0) {
            t->unauthenticated = t->sys->flags & ROUTE_UNAUTHENTICATED;
            t->allow_sealed = t->sys->flags & ROUTE_ALLOW_SEALED;
            t->sudo = t->sys->flags & ROUTE_SUDO;
            t->no_acl = t->sys->flags & ROUTE_NO_ACL;
        }
        return r;
    }
    if (barrier_sealed(core->barrier))
        return KH_ESEALED;
    r = mount_table_route(core->mounts, req->path, &t->mount, &t->subpath);
    if (r == KH_ENOTFOUND || (r == 0 && t->mount->ops == NULL)) {
        if (r == 0)
            mount_table_release(core->mounts);
        t->mount = NULL;
        return kh_errmsg(errmsg, errmsg_size, KH_ENOTFOUND,
                         "no handler for route \"%s\". route entry not "
                         "found.", req->path);
    }
    if (r != 0)
        return r;
    if (t->mount->ops->unauthenticated != NULL)
        t->unauthenticated =
            t->mount->ops->unauthenticated(t->subpath, req->op);
    if (t->mount->ops->sudo != NULL)
        t->sudo = t->mount->ops->sudo(t->subpath, req->op);
    return 0;
}

/* The operation the ACL sees: a POST/PUT to something that does not
 * exist yet needs "create", otherwise "update" (Vault API: capabilities). */
static enum kh_operation acl_operation(struct kh_core *core,
                                       const struct kh_request *req,
                                       const struct route_target *t)
{
    struct backend_request br;
    bool exists = true;

    if (req->op != KH_OP_UPDATE || t->mount == NULL ||
        t->mount->ops->existence == NULL)
        return req->op;
    br = (struct backend_request){
        .core = core, .mount = t->mount, .req = req, .subpath = t->subpath,
        .view = &t->mount->view, .state = t->mount->state,
    };
    if (t->mount->ops->existence(&br, &exists) != 0)
        return KH_OP_UPDATE;
    return exists ? KH_OP_UPDATE : KH_OP_CREATE;
}

/* Gate 3: the token (consuming one use of a use-limited token) and its
 * bound CIDRs. */
static int gate_token(struct kh_core *core, const struct kh_request *req,
                      struct token_entry *entry)
{
    int r;

    if (!req->has_token || req->token[0] == '\0')
        return KH_EPERM;
    r = token_store_use(core->tokens, req->token, entry);
    if (r != 0)
        return r == KH_ESEALED ? r : KH_EPERM;
    if (!token_entry_cidr_ok(entry, req->remote_addr))
        return KH_EPERM;
    return 0;
}

/* Gate 4: the token's policies decide this operation, through the ACL
 * the policy store keeps for that set of policies until one changes. */
static int gate_acl(struct kh_core *core, const struct kh_request *req,
                    const struct route_target *t,
                    const struct token_entry *entry, char *errmsg,
                    size_t errmsg_size)
{
    const char *names[TOKEN_POLICIES_MAX];
    struct policy_store_acl *held = NULL;
    size_t i;
    int r;

    for (i = 0; i < entry->policy_count; i++)
        names[i] = entry->policies[i];
    r = policy_store_acl_acquire(core->policies, names, entry->policy_count,
                                 &held);
    if (r != 0)
        return r;
    r = acl_check(policy_store_acl_of(held), req->path,
                  acl_operation(core, req, t), t->sudo, req->data, NULL,
                  errmsg, errmsg_size);
    policy_store_acl_release(held);
    return r;
}

static int call_backend(struct kh_core *core, const struct kh_request *req,
                        const struct route_target *t,
                        const struct token_entry *entry,
                        struct kh_response *resp, char *errmsg,
                        size_t errmsg_size)
{
    struct backend_request br = {
        .core = core,
        .mount = t->mount,
        .req = req,
        .subpath = t->subpath,
        .view = &t->mount->view,
        .token = t->unauthenticated ? NULL : entry,
        .state = t->mount->state,
    };

    int r;

    r = t->mount->ops->handle(&br, resp, errmsg, errmsg_size);
    /* A leased secret is registered before the client sees it, so no
     * secret is ever handed out that the server would not revoke. */
    if (r == 0 && resp->lease.requested)
        r = lease_register(core->leases, t->mount, br.token, req->path,
                           resp, errmsg, errmsg_size);
    return r;
}

/* Gate 7: record the response (or the handler's error). When no device
 * records it, the response is withheld, and a lease it created is revoked
 * so no secret exists that the audit log does not know about. */
static int gate_audit_response(struct kh_core *core,
                               const struct kh_request *req,
                               const struct token_entry *token,
                               struct kh_response *resp, int r, char *errmsg,
                               size_t errmsg_size)
{
    char audit_msg[KH_ERRMSG_SIZE] = "";
    char lease_msg[KH_ERRMSG_SIZE];
    const char *lease_id;
    int ar;

    ar = audit_log_response(core->audit, req, token, resp, r,
                            r != 0 ? errmsg : NULL, audit_msg,
                            sizeof(audit_msg));
    if (ar == 0)
        return r;
    lease_id = json_string_value(json_object_get(resp->body, "lease_id"));
    if (r == 0 && lease_id != NULL && lease_id[0] != '\0' &&
        lease_revoke(core->leases, lease_id, lease_msg,
                     sizeof(lease_msg)) != 0)
        log_error("audit: unrecorded lease %s not yet revoked (will "
                  "retry): %s", lease_id, lease_msg);
    kh_response_clear(resp);
    snprintf(errmsg, errmsg_size, "%s", audit_msg);
    return KH_EIO;
}

void request_handle(struct kh_core *core, struct kh_request *req,
                    struct kh_response *resp)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct route_target target;
    struct token_entry entry;
    const struct token_entry *token = NULL;
    bool audited = false;
    int r;

    /* 1. route (its result waits until the state gate has spoken) */
    r = gate_route(core, req, &target, errmsg, sizeof(errmsg));

    /* 2. state: sealed or uninitialised answers 503 before anything else */
    if (!target.allow_sealed && barrier_sealed(core->barrier)) {
        r = KH_ESEALED;
        goto out;
    }
    if (r != 0)
        goto out;

    /* 3. token */
    errmsg[0] = '\0';
    if (!target.unauthenticated) {
        r = gate_token(core, req, &entry);
        if (r != 0)
            goto out;
        req->token_entry = &entry;

        /* 4. ACL */
        if (!target.no_acl)
            r = gate_acl(core, req, &target, &entry, errmsg, sizeof(errmsg));
        if (r != 0)
            goto out;
    }

    /* 5. audit the request; paths served while sealed (health, status,
     * unseal) are not audited: no device can be open then */
    audited = !target.allow_sealed;
    token = target.unauthenticated ? NULL : &entry;
    if (audited) {
        r = audit_log_request(core->audit, req, token, errmsg,
                              sizeof(errmsg));
        if (r != 0) {
            r = KH_EIO;
            goto out;
        }
    }

    /* 6. handler */
    if (target.sys != NULL)
        r = target.sys->handler(core, req, resp, errmsg, sizeof(errmsg));
    else
        r = call_backend(core, req, &target, &entry, resp, errmsg,
                         sizeof(errmsg));

    /* 7. audit the response */
    if (audited)
        r = gate_audit_response(core, req, token, resp, r, errmsg,
                                sizeof(errmsg));
out:
    req->token_entry = NULL;
    if (target.mount != NULL)
        mount_table_release(core->mounts);
    if (r == 0)
        return;
    if (http_status_for_error(r) >= 500 && r != KH_ESEALED)
        log_error("request %s %s: %s%s%s", req->request_id, req->path,
                  kh_strerror(r), errmsg[0] ? ": " : "", errmsg);
    http_response_error(resp, r, errmsg);
}
