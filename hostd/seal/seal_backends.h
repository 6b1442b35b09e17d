/*
 * seal_backends.h - constructors of the seal backends, for seal.c only.
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

#endif
