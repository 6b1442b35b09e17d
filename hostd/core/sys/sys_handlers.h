/*
 * sys_handlers.h - handlers of the system backend (Vault API: lifecycle endpoints and system backend),
 * one file per group. Each follows kh_handler_fn: fill resp and return 0,
 * or return a KH_E* code with errmsg for the client.
 */
#ifndef KH_CORE_SYS_HANDLERS_H
#define KH_CORE_SYS_HANDLERS_H

#include "router/router.h"

/* sys_status.c */
int sys_health(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_seal_status(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_leader(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size);

/* sys_seal.c */
int sys_init_read(struct kh_core *core, const struct kh_request *req,
                  struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_init_write(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_unseal(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_seal(struct kh_core *core, const struct kh_request *req,
             struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_step_down(struct kh_core *core, const struct kh_request *req,
                  struct kh_response *resp, char *errmsg, size_t errmsg_size);

/* sys_keys.c */
int sys_rotate(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_key_status(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg, size_t errmsg_size);

/* sys_mounts.c: sys/mounts and sys/auth */
int sys_mounts_list(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_mounts_read(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_mounts_write(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size);
int sys_mounts_delete(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size);

int sys_internal_ui_mount(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size);

/* sys_generate_root.c */
int sys_generate_root_read(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size);
int sys_generate_root_start(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size);
int sys_generate_root_cancel(struct kh_core *core, const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size);
int sys_generate_root_update(struct kh_core *core, const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size);

/* Decode a key share: hex when it decodes to a share length, else
 * base64. KH_EINVAL otherwise (out wiped). */
int sys_decode_share(const char *text, uint8_t *out, size_t out_size,
                     size_t *ret_len) KH_MUST_CHECK;

/* sys_leases.c: sys/leases and the legacy aliases */
int sys_leases_lookup(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size);
int sys_leases_list(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_leases_renew(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size);
int sys_leases_revoke(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size);
int sys_leases_revoke_prefix(struct kh_core *core, const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size);
int sys_leases_tidy(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);

/* The seal-status object (also the answer of sys/unseal). */
json_t *sys_seal_status_json(struct kh_core *core);

/* sys_raft.c */
int sys_raft_configuration(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size);
int sys_raft_remove_peer(struct kh_core *core, const struct kh_request *req,
                         struct kh_response *resp, char *errmsg,
                         size_t errmsg_size);
int sys_raft_autopilot_state(struct kh_core *core,
                             const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size);
int sys_raft_digest(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size);
int sys_raft_snapshot_read(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size);
int sys_raft_snapshot_write(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size);
int sys_raft_snapshot_force(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size);
int sys_raft_join(struct kh_core *core, const struct kh_request *req,
                  struct kh_response *resp, char *errmsg, size_t errmsg_size);
int sys_raft_challenge(struct kh_core *core, const struct kh_request *req,
                       struct kh_response *resp, char *errmsg,
                       size_t errmsg_size);
int sys_raft_answer(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size);

#endif
