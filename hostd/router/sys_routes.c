/*
 * sys_routes.c - the route table of the system backend and the lookup
 * over it. Every sys path a client can reach is a row here, with the gates
 * it passes (router.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "core/sys/sys_handlers.h"
#include "core/sys/sys_audit.h"
#include "core/sys/sys_policy.h"
#include "core/sys/sys_tpm2.h"
#include "router/router.h"

#define UNAUTH_ANY_STATE (ROUTE_UNAUTHENTICATED | ROUTE_ALLOW_SEALED)

static const struct kh_route sys_routes[] = {
    {"sys/health", OPS_READ | OPS_HEAD, UNAUTH_ANY_STATE, sys_health},
    {"sys/seal-status", OPS_READ, UNAUTH_ANY_STATE, sys_seal_status},
    {"sys/leader", OPS_READ, UNAUTH_ANY_STATE, sys_leader},
    {"sys/init", OPS_READ, UNAUTH_ANY_STATE, sys_init_read},
    {"sys/init", OPS_WRITE, UNAUTH_ANY_STATE, sys_init_write},
    {"sys/unseal", OPS_WRITE, UNAUTH_ANY_STATE, sys_unseal},
    {"sys/generate-root/attempt", OPS_READ, ROUTE_UNAUTHENTICATED,
     sys_generate_root_read},
    {"sys/generate-root/attempt", OPS_WRITE, ROUTE_UNAUTHENTICATED,
     sys_generate_root_start},
    {"sys/generate-root/attempt", OPS_DELETE, ROUTE_UNAUTHENTICATED,
     sys_generate_root_cancel},
    {"sys/generate-root/update", OPS_WRITE, ROUTE_UNAUTHENTICATED,
     sys_generate_root_update},
    {"sys/seal", OPS_WRITE, ROUTE_SUDO, sys_seal},
    {"sys/seal/tpm2/rebind", OPS_WRITE, ROUTE_SUDO, sys_tpm2_rebind},
    {"sys/step-down", OPS_WRITE, ROUTE_SUDO, sys_step_down},
    {"sys/storage/raft/configuration", OPS_READ, 0, sys_raft_configuration},
    {"sys/storage/raft/remove-peer", OPS_WRITE, 0, sys_raft_remove_peer},
    {"sys/storage/raft/autopilot/state", OPS_READ, 0,
     sys_raft_autopilot_state},
    {"sys/storage/raft/snapshot", OPS_READ, ROUTE_SUDO,
     sys_raft_snapshot_read},
    {"sys/storage/raft/snapshot", OPS_WRITE, ROUTE_SUDO,
     sys_raft_snapshot_write},
    {"sys/storage/raft/snapshot-force", OPS_WRITE, ROUTE_SUDO,
     sys_raft_snapshot_force},
    {"sys/storage/raft/digest", OPS_READ, ROUTE_UNAUTHENTICATED,
     sys_raft_digest},
    {"sys/storage/raft/join", OPS_WRITE, UNAUTH_ANY_STATE, sys_raft_join},
    {"sys/storage/raft/bootstrap/challenge", OPS_WRITE,
     ROUTE_UNAUTHENTICATED, sys_raft_challenge},
    {"sys/storage/raft/bootstrap/answer", OPS_WRITE, ROUTE_UNAUTHENTICATED,
     sys_raft_answer},
    {"sys/rotate", OPS_WRITE, ROUTE_SUDO, sys_rotate},
    {"sys/key-status", OPS_READ, 0, sys_key_status},
    {"sys/leases/lookup", OPS_WRITE, 0, sys_leases_lookup},
    {"sys/leases/lookup/*", OPS_LIST, ROUTE_SUDO, sys_leases_list},
    {"sys/leases/renew", OPS_WRITE, 0, sys_leases_renew},
    {"sys/leases/renew/*", OPS_WRITE, 0, sys_leases_renew},
    {"sys/leases/revoke", OPS_WRITE, 0, sys_leases_revoke},
    {"sys/leases/revoke/*", OPS_WRITE, 0, sys_leases_revoke},
    {"sys/leases/revoke-prefix/*", OPS_WRITE, ROUTE_SUDO,
     sys_leases_revoke_prefix},
    {"sys/leases/revoke-force/*", OPS_WRITE, ROUTE_SUDO,
     sys_leases_revoke_prefix},
    {"sys/leases/tidy", OPS_WRITE, 0, sys_leases_tidy},
    {"sys/renew", OPS_WRITE, 0, sys_leases_renew},
    {"sys/renew/*", OPS_WRITE, 0, sys_leases_renew},
    {"sys/revoke", OPS_WRITE, 0, sys_leases_revoke},
    {"sys/revoke/*", OPS_WRITE, 0, sys_leases_revoke},
    {"sys/revoke-prefix/*", OPS_WRITE, ROUTE_SUDO, sys_leases_revoke_prefix},
    {"sys/revoke-force/*", OPS_WRITE, ROUTE_SUDO, sys_leases_revoke_prefix},
    {"sys/policy", OPS_READ, 0, sys_policy_list},
    {"sys/policy/", OPS_LIST, 0, sys_policy_list},
    {"sys/policy/*", OPS_READ, 0, sys_policy_read},
    {"sys/policy/*", OPS_WRITE, 0, sys_policy_write},
    {"sys/policy/*", OPS_DELETE, 0, sys_policy_delete},
    {"sys/policies/acl", OPS_LIST | OPS_READ, 0, sys_policies_acl_list},
    {"sys/policies/acl/", OPS_LIST, 0, sys_policies_acl_list},
    {"sys/policies/acl/*", OPS_READ, 0, sys_policies_acl_read},
    {"sys/policies/acl/*", OPS_WRITE, 0, sys_policies_acl_write},
    {"sys/policies/acl/*", OPS_DELETE, 0, sys_policies_acl_delete},
    {"sys/capabilities-self", OPS_WRITE, 0, sys_capabilities_self},
    {"sys/capabilities", OPS_WRITE, 0, sys_capabilities},
    {"sys/capabilities-accessor", OPS_WRITE, 0, sys_capabilities_accessor},
    {"sys/internal/ui/mounts/*", OPS_READ, ROUTE_NO_ACL,
     sys_internal_ui_mount},
    {"sys/audit", OPS_READ, ROUTE_SUDO, sys_audit_list},
    {"sys/audit/verify-checkpoint", OPS_WRITE, ROUTE_SUDO,
     sys_audit_verify_checkpoint},
    {"sys/audit/*", OPS_WRITE, ROUTE_SUDO, sys_audit_enable},
    {"sys/audit/*", OPS_DELETE, ROUTE_SUDO, sys_audit_disable},
    {"sys/audit-hash/*", OPS_WRITE, ROUTE_SUDO, sys_audit_hash},
    {"sys/mounts", OPS_READ, 0, sys_mounts_list},
    {"sys/mounts/*", OPS_READ, 0, sys_mounts_read},
    {"sys/mounts/*", OPS_WRITE, 0, sys_mounts_write},
    {"sys/mounts/*", OPS_DELETE, 0, sys_mounts_delete},
    {"sys/auth", OPS_READ, 0, sys_mounts_list},
    {"sys/auth/*", OPS_READ, ROUTE_SUDO, sys_mounts_read},
    {"sys/auth/*", OPS_WRITE, ROUTE_SUDO, sys_mounts_write},
    {"sys/auth/*", OPS_DELETE, ROUTE_SUDO, sys_mounts_delete},
};

static bool pattern_is_prefix(const char *pattern)
{
    size_t len = strlen(pattern);

    return len > 0 && pattern[len - 1] == '*';
}

/* Exact rows beat prefix rows; among prefix rows the longer wins. */
static bool row_beats(const struct kh_route *row, const struct kh_route *best)
{
    if (best == NULL)
        return true;
    if (pattern_is_prefix(row->pattern) != pattern_is_prefix(best->pattern))
        return !pattern_is_prefix(row->pattern);
    return strlen(row->pattern) > strlen(best->pattern);
}

static bool pattern_matches(const char *pattern, const char *path)
{
    size_t len = strlen(pattern);

    if (len > 0 && pattern[len - 1] == '*')
        return strncmp(pattern, path, len - 1) == 0;
    return strcmp(pattern, path) == 0;
}

int router_lookup(const char *path, enum kh_operation op,
                  const struct kh_route **ret_route, char *errmsg,
                  size_t errmsg_size)
{
    const struct kh_route *best = NULL;
    bool path_known = false;
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(sys_routes); i++) {
        const struct kh_route *row = &sys_routes[i];
        if (!pattern_matches(row->pattern, path))
            continue;
        path_known = true;
        if ((row->ops & OP_BIT(op)) == 0)
            continue;
        if (row_beats(row, best))
            best = row;
    }
    if (best != NULL) {
        *ret_route = best;
        return 0;
    }
    if (path_known)
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD,
                         "1 error occurred:\n\t* unsupported operation\n\n");
    return kh_errmsg(errmsg, errmsg_size, KH_ENOTFOUND,
                     "no handler for route \"%s\". route entry not found.",
                     path);
}
