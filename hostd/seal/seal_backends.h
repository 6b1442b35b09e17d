/*
 * seal_backends.h - constructors of the seal backends, for seal.c, and
 * the few backend-specific calls of tests and of the tpm2 re-bind route.
 */
#ifndef KH_SEAL_BACKENDS_H
#define KH_SEAL_BACKENDS_H

#include <stdbool.h>
#include <stddef.h>

#include "seal/seal.h"

int seal_shamir_init(struct seal *seal);

/* Parse the stanza and try to open the HSM. On a device failure the seal
 * is still set up (ops non-NULL) and the error returned. */
int seal_pkcs11_init(struct seal *seal, const struct kh_config_stanza *stanza,
                     char *errmsg, size_t errmsg_size);
int seal_pkcs11_connect(struct seal *seal, char *errmsg, size_t errmsg_size);
bool seal_pkcs11_ready(const struct seal *seal);

/* The HSM handle of a connected pkcs11 seal (tests read key attributes). */
struct hsm *seal_pkcs11_hsm(const struct seal *seal);

/* tpm2: like pkcs11. A stanza whose tcti, pcrs or pcr_bank is invalid is
 * KH_ECONFIG with no seal; an unreachable TPM leaves the seal set up. */
int seal_tpm2_init(struct seal *seal, const struct kh_config_stanza *stanza,
                   char *errmsg, size_t errmsg_size);
int seal_tpm2_connect(struct seal *seal, char *errmsg, size_t errmsg_size);
bool seal_tpm2_ready(const struct seal *seal);

/* The tpm2 re-bind (sys/seal/tpm2/rebind, hostd/core/sys/sys_tpm2.c),
 * with the core's lock held. seal_tpm2_rebind_keys gives the recovery key
 * (the copy kept since the last recovery-key unseal, else unsealed by the
 * TPM, which needs matching PCRs) and the root key (from its escrow); the
 * caller stores both again with seal_store, which seals them to the
 * current PCR values, then calls seal_tpm2_rebound to forget the kept
 * recovery key and the PCR mismatch. seal_tpm2_binding names the PCRs and
 * bank a seal binds to now ("" when none); the strings live as long as
 * the seal. */
int seal_tpm2_rebind_keys(struct seal *seal, struct kh_storage *storage,
                          uint8_t recovery_key[KH_ROOT_KEY_BYTES],
                          uint8_t root_key[KH_ROOT_KEY_BYTES], char *errmsg,
                          size_t errmsg_size) KH_MUST_CHECK;
void seal_tpm2_rebound(struct seal *seal);
void seal_tpm2_binding(const struct seal *seal, const char **ret_pcrs,
                       const char **ret_bank);

#endif
