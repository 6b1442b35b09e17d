/*
 * sys_policy.h - handlers of sys/policy, sys/policies/acl and
 * sys/capabilities* (Vault API: sys/policy, §3.4), over core->policies (the
 * policy store) and the token store. Each follows kh_handler_fn.
 *
 * Paths (the route table maps them; LIST arrives with a trailing '/'):
 *   GET    sys/policy                 sys_policy_list      (injected)
 *   GET    sys/policy/:name           sys_policy_read      (injected)
 *   PUT    sys/policy/:name           sys_policy_write
 *   DELETE sys/policy/:name           sys_policy_delete
 *   LIST   sys/policies/acl           sys_policies_acl_list
 *   GET    sys/policies/acl/:name     sys_policies_acl_read
 *   PUT    sys/policies/acl/:name     sys_policies_acl_write
 *   DELETE sys/policies/acl/:name     sys_policies_acl_delete
 *   PUT    sys/capabilities-self      sys_capabilities_self     (injected)
 *   PUT    sys/capabilities           sys_capabilities          (injected)
 *   PUT    sys/capabilities-accessor  sys_capabilities_accessor (injected)
 */
#ifndef KH_CORE_SYS_SYS_POLICY_H
#define KH_CORE_SYS_SYS_POLICY_H

#include "router/router.h"

/* Paths one capabilities request may ask about. */
#define SYS_CAPABILITIES_PATHS_MAX 256

int sys_policy_list(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_policy_read(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_policy_write(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size);
int sys_policy_delete(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size);

int sys_policies_acl_list(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size);
int sys_policies_acl_read(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size);
int sys_policies_acl_write(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size);
int sys_policies_acl_delete(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size);

/* The caller's own token (req->token_entry, set by the token gate). */
int sys_capabilities_self(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size);
/* {"token", "paths"}: another token (the caller's when token is empty). */
int sys_capabilities(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size);
/* {"accessor", "paths"}: the token an accessor names. */
int sys_capabilities_accessor(struct kh_core *core,
                              const struct kh_request *req,
                              struct kh_response *resp, char *errmsg,
                              size_t errmsg_size);

#endif
