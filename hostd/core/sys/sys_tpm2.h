/*
 * sys_tpm2.h - the tpm2 seal's route (hostd/core/sys/sys_tpm2.c). Follows
 * kh_handler_fn.
 *
 * Route row:
 *   PUT/POST sys/seal/tpm2/rebind    sys_tpm2_rebind    (sudo; unsealed)
 */
#ifndef KH_CORE_SYS_SYS_TPM2_H
#define KH_CORE_SYS_SYS_TPM2_H

#include "router/router.h"

/* Seal the root key and the recovery key again to the current PCR values
 * of the configured PCRs. Answers {"pcrs": "7,11", "pcr_bank": "sha256"}
 * (data and top level). KH_EINVAL when the seal is not tpm2, or when the
 * TPM cannot unseal the recovery key and no recovery-key unseal happened
 * since the start. */
int sys_tpm2_rebind(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size);

#endif
