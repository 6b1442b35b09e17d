/*
 * sys_tpm2.c - sys/seal/tpm2/rebind: after the PCRs a tpm2 seal is bound
 * to changed (firmware, Secure Boot database, boot loader or kernel
 * update) and operators unsealed the node with their recovery keys, seal
 * the root key and the recovery key again to the current PCR values so
 * the next start auto-unseals (hardware.md: the re-bind runbook).
 *
 * Works under the core's lock, like every change of seal state. Checks
 * that the root key it is about to seal is the one the barrier uses
 * before storing anything. Never returns key material; the keys live on
 * the stack for the call and are wiped in the out: block.
 */
#include "core/sys/sys_tpm2.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "seal/seal_backends.h"

#define BINDING_BYTES 96

/* The work under core->lock: keys, check, store, forget. */
static int rebind_locked(struct kh_core *core, char *pcrs, char *bank,
                         char *errmsg, size_t errmsg_size)
{
    uint8_t recovery_key[KH_ROOT_KEY_BYTES];
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    const char *bound_pcrs = NULL, *bound_bank = NULL;
    int r;

    r = seal_tpm2_rebind_keys(core->seal, core->storage, recovery_key, root_key,
                              errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = barrier_unseal(core->barrier, root_key);
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                      "the escrowed root key is not the one in use: "
                      "nothing was re-bound");
        goto out;
    }
    r = seal_store(core->seal, core->storage, &core->seal_config, recovery_key,
                   root_key, recovery_key);
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r, "sealing to the TPM failed: %s",
                      core->seal->errmsg[0] ? core->seal->errmsg
                                            : kh_strerror(r));
        goto out;
    }
    seal_tpm2_rebound(core->seal);
    core->seal_error[0] = '\0';
    memset(&core->seal_checked, 0, sizeof(core->seal_checked));
    seal_tpm2_binding(core->seal, &bound_pcrs, &bound_bank);
    snprintf(pcrs, BINDING_BYTES, "%s", bound_pcrs);
    snprintf(bank, BINDING_BYTES, "%s", bound_bank);
    r = 0; /* success */
out:
    kh_wipe(recovery_key, sizeof(recovery_key));
    kh_wipe(root_key, sizeof(root_key));
    return r;
}

int sys_tpm2_rebind(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    char pcrs[BINDING_BYTES] = "", bank[BINDING_BYTES] = "";
    int r;

    pthread_mutex_lock(&core->lock);
    if (strcmp(core->seal->ops->type, "tpm2") != 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "the seal is \"%s\": only a tpm2 seal can be re-bound",
                      core->seal->ops->type);
    } else if (!core->initialized || barrier_sealed(core->barrier)) {
        r = KH_ESEALED;
    } else {
        r = rebind_locked(core, pcrs, bank, errmsg, errmsg_size);
    }
    pthread_mutex_unlock(&core->lock);
    if (r != 0) {
        log_warn("seal: tpm2 re-bind failed: %s",
                 errmsg[0] ? errmsg : kh_strerror(r));
        return r;
    }
    log_info("seal: tpm2 seal re-bound to the current values of PCRs "
             "\"%s\" (%s bank)",
             pcrs, bank);
    return kh_response_envelope_inject(
        resp, req, json_pack("{s:s, s:s}", "pcrs", pcrs, "pcr_bank", bank));
}
