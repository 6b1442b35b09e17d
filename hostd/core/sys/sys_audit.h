/*
 * sys_audit.h - handlers of sys/audit, sys/audit-hash and
 * sys/audit/verify-checkpoint (Vault API: system backend: audit devices), over
 * core->audit (hostd/audit/audit.h). Each follows kh_handler_fn.
 *
 * Route rows (exact rows win over prefix rows):
 *   GET    sys/audit                      sys_audit_list       (sudo)
 *   PUT    sys/audit/verify-checkpoint    sys_audit_verify_checkpoint (sudo)
 *   PUT    sys/audit/:path                sys_audit_enable     (sudo)
 *   DELETE sys/audit/:path                sys_audit_disable    (sudo)
 *   PUT    sys/audit-hash/:path           sys_audit_hash       (sudo)
 */
#ifndef KH_CORE_SYS_SYS_AUDIT_H
#define KH_CORE_SYS_SYS_AUDIT_H

#include "router/router.h"

/* {"<path>/": {type, description, options, path, local, keyhold_stats}},
 * in data and at the top level (Vault's sys/audit answer). */
int sys_audit_list(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size);
/* {"type", "description", "options", "local"}: 204 on success. */
int sys_audit_enable(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size);
int sys_audit_disable(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size);
/* {"input"} -> {"hash": "hmac-sha256:<hex>"} (data and top level). */
int sys_audit_hash(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size);
/* {"record": "<a checkpoint line>"} -> {"valid": bool, "latest_count": N}
 * where latest_count is the count of the last checkpoint the server
 * stored for that device (a log whose last checkpoint is older was cut). */
int sys_audit_verify_checkpoint(struct kh_core *core,
                                const struct kh_request *req,
                                struct kh_response *resp, char *errmsg,
                                size_t errmsg_size);

#endif
