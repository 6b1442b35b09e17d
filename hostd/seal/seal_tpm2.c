/*
 * seal_tpm2.c - the tpm2 seal: the root key is sealed into the machine's
 * TPM 2.0 (hsm/tpm2.c), optionally bound to PCR values, so the node
 * unseals itself at start while the measured boot state is unchanged.
 *
 * Owns the stanza's parameters, the hsm handle, the detail buffer the
 * handle writes its failures into, the PCR-mismatch state of the last
 * root-key unseal, and, between a recovery-key unseal and a re-bind, a
 * copy of the recovery key in locked memory.
 *
 * Recovery keys are an escrow, like BitLocker's recovery password: the
 * root key's blob also holds the root key encrypted under the recovery key
 * (AES-256-GCM, aead.h), and the recovery key's blob a GCM tag over
 * nothing under the recovery key, which proves a candidate. A quorum of
 * recovery key holders therefore unseals a node whose PCRs changed (or
 * whose TPM was cleared or replaced) and can then re-bind the seal to the
 * current PCR values (seal_tpm2_rebind_keys). Unwrap with a recovery key
 * (unseal_key) opens the escrow; without one it asks the TPM.
 *
 * Blob (version 1): version(1) | tpm blob length(2, big endian) | tpm blob
 * (hsm_wrap of the key with the storage path as aad) | escrow record
 * (aead.h, aad "tpm2-escrow:" path; absent when wrapped without a recovery
 * key).
 *
 * Never logs; never puts key bytes in an error message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/aead.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "hsm.h"
#include "seal/seal_backends.h"

#define TPM2_SEAL_VERSION      1
#define TPM2_SEAL_HEADER_BYTES 3
#define TPM2_SEAL_AAD_BYTES    128
#define TPM2_SEAL_TCTI_DEFAULT "device:/dev/tpmrm0"
#define TPM2_SEAL_ADVICE                                                       \
    "; unseal with the recovery keys, then re-bind the seal with "             \
    "`keyhold operator seal-rebind`"

struct seal_tpm2
{
    char *tcti;
    char *pcrs;                  /* NULL: no PCR binding */
    char *pcr_bank;              /* NULL: sha256 */
    struct hsm *hsm;             /* NULL until connected */
    char detail[KH_ERRMSG_SIZE]; /* the handle's last failure */
    bool pcr_mismatch;           /* the last root-key unseal met it */
    char pcr_detail[KH_ERRMSG_SIZE];
    uint8_t *recovery_key; /* kh_secure_alloc, KH_ROOT_KEY_BYTES */
    bool have_recovery_key;
};

static bool is_recovery_path(const char *path)
{
    return strcmp(path, SEAL_RECOVERY_KEY_PATH) == 0;
}

static bool is_root_path(const char *path)
{
    return strcmp(path, SEAL_ROOT_KEY_PATH) == 0;
}

static int escrow_aad(const char *path, char aad[TPM2_SEAL_AAD_BYTES],
                      size_t *ret_len)
{
    int n = snprintf(aad, TPM2_SEAL_AAD_BYTES, "tpm2-escrow:%s", path);

    if (n < 0 || n >= TPM2_SEAL_AAD_BYTES)
        return KH_EINVAL;
    *ret_len = (size_t)n;
    return 0;
}

/* The escrow record after the TPM blob: the key under escrow_key, or for
 * the recovery key an empty record that proves it. */
static int escrow_seal(const uint8_t *escrow_key, const char *path,
                       const uint8_t *key, uint8_t *out, size_t out_size,
                       size_t *ret_len)
{
    char aad[TPM2_SEAL_AAD_BYTES];
    bool verifier = is_recovery_path(path);
    size_t aad_len = 0;
    int r;

    r = escrow_aad(path, aad, &aad_len);
    if (r != 0)
        return r;
    return aead_encrypt(escrow_key, 0, (const uint8_t *)aad, aad_len,
                        verifier ? NULL : key, verifier ? 0 : KH_ROOT_KEY_BYTES,
                        out, out_size, ret_len);
}

static int tpm2_seal_wrap(struct seal *seal, const uint8_t *unseal_key,
                          const char *path,
                          const uint8_t key[KH_ROOT_KEY_BYTES],
                          uint8_t **ret_blob, size_t *ret_blob_len)
{
    struct seal_tpm2 *t = seal->impl;
    const uint8_t *escrow_key = is_recovery_path(path) ? key : unseal_key;
    uint8_t *tpm_blob = NULL, *blob = NULL;
    size_t tpm_len = 0, escrow_len = 0, size;
    int r;

    if (t->hsm == NULL)
        return KH_EUNAVAIL;
    r = hsm_wrap(t->hsm, (const uint8_t *)path, strlen(path), key,
                 KH_ROOT_KEY_BYTES, &tpm_blob, &tpm_len);
    if (r != 0) {
        snprintf(seal->errmsg, sizeof(seal->errmsg), "%s", t->detail);
        goto out;
    }
    KH_ASSERT(tpm_len <= 0xffff);
    size = TPM2_SEAL_HEADER_BYTES + tpm_len + KH_ROOT_KEY_BYTES + AEAD_OVERHEAD;
    r = KH_ENOMEM;
    blob = malloc(size);
    if (blob == NULL)
        goto out;
    blob[0] = TPM2_SEAL_VERSION;
    blob[1] = (uint8_t)(tpm_len >> 8);
    blob[2] = (uint8_t)tpm_len;
    memcpy(blob + TPM2_SEAL_HEADER_BYTES, tpm_blob, tpm_len);
    if (escrow_key != NULL) {
        r = escrow_seal(escrow_key, path, key,
                        blob + TPM2_SEAL_HEADER_BYTES + tpm_len,
                        size - TPM2_SEAL_HEADER_BYTES - tpm_len, &escrow_len);
        if (r != 0)
            goto out;
    }
    *ret_blob = blob;
    *ret_blob_len = TPM2_SEAL_HEADER_BYTES + tpm_len + escrow_len;
    blob = NULL;
    r = 0; /* success */
out:
    free(tpm_blob);
    free(blob);
    return r;
}

/* Keep the proven recovery key for a re-bind. */
static void keep_recovery_key(struct seal_tpm2 *t,
                              const uint8_t key[KH_ROOT_KEY_BYTES])
{
    if (t->recovery_key == NULL)
        t->recovery_key = kh_secure_alloc(KH_ROOT_KEY_BYTES);
    if (t->recovery_key == NULL)
        return; /* a re-bind will then need matching PCRs */
    memcpy(t->recovery_key, key, KH_ROOT_KEY_BYTES);
    t->have_recovery_key = true;
}

/* Open the escrow record with a candidate recovery key. */
static int escrow_open(struct seal_tpm2 *t, const uint8_t *recovery_key,
                       const char *path, const uint8_t *escrow,
                       size_t escrow_len, uint8_t key[KH_ROOT_KEY_BYTES])
{
    uint8_t out[KH_ROOT_KEY_BYTES];
    char aad[TPM2_SEAL_AAD_BYTES];
    bool verifier = is_recovery_path(path);
    size_t aad_len = 0, len = 0;
    int r;

    if (escrow_len == 0)
        return KH_ECORRUPT; /* wrapped without a recovery key */
    r = escrow_aad(path, aad, &aad_len);
    if (r == 0)
        r = aead_decrypt(recovery_key, (const uint8_t *)aad, aad_len, escrow,
                         escrow_len, out, sizeof(out), &len);
    if (r == 0 && len != (verifier ? 0 : KH_ROOT_KEY_BYTES))
        r = KH_ECORRUPT;
    if (r == 0) {
        memcpy(key, verifier ? recovery_key : out, KH_ROOT_KEY_BYTES);
        keep_recovery_key(t, recovery_key);
    }
    kh_wipe(out, sizeof(out));
    return r;
}

/* Ask the TPM; remember whether the root key's blob matches the PCRs
 * (the seal's health; other keys the seal protects do not count). */
static int tpm_open(struct seal *seal, const char *path, const uint8_t *blob,
                    size_t blob_len, uint8_t key[KH_ROOT_KEY_BYTES])
{
    struct seal_tpm2 *t = seal->impl;
    size_t len = 0;
    int r;

    if (t->hsm == NULL)
        return KH_EUNAVAIL;
    r = hsm_unwrap(t->hsm, (const uint8_t *)path, strlen(path), blob, blob_len,
                   key, KH_ROOT_KEY_BYTES, &len);
    if (r == 0 && len != KH_ROOT_KEY_BYTES) {
        kh_wipe(key, KH_ROOT_KEY_BYTES);
        snprintf(t->detail, sizeof(t->detail),
                 "tpm2: the sealed key has %zu bytes", len);
        r = KH_ECORRUPT;
    }
    if (r == KH_ESTATE) {
        snprintf(t->pcr_detail, sizeof(t->pcr_detail), "%.*s%s",
                 (int)(sizeof(t->pcr_detail) - sizeof(TPM2_SEAL_ADVICE)),
                 t->detail, TPM2_SEAL_ADVICE);
        snprintf(seal->errmsg, sizeof(seal->errmsg), "%s", t->pcr_detail);
        t->pcr_mismatch = t->pcr_mismatch || is_root_path(path);
    } else if (r != 0) {
        snprintf(seal->errmsg, sizeof(seal->errmsg), "%s", t->detail);
    } else if (is_root_path(path)) {
        t->pcr_mismatch = false;
        seal->errmsg[0] = '\0';
    }
    return r;
}

static int tpm2_seal_unwrap(struct seal *seal, const uint8_t *unseal_key,
                            const char *path, const uint8_t *blob,
                            size_t blob_len, uint8_t key[KH_ROOT_KEY_BYTES])
{
    size_t tpm_len;

    if (blob_len < TPM2_SEAL_HEADER_BYTES || blob[0] != TPM2_SEAL_VERSION)
        return KH_ECORRUPT;
    tpm_len = (size_t)blob[1] << 8 | blob[2];
    if (tpm_len > blob_len - TPM2_SEAL_HEADER_BYTES)
        return KH_ECORRUPT;
    if (unseal_key != NULL)
        return escrow_open(seal->impl, unseal_key, path,
                           blob + TPM2_SEAL_HEADER_BYTES + tpm_len,
                           blob_len - TPM2_SEAL_HEADER_BYTES - tpm_len, key);
    return tpm_open(seal, path, blob + TPM2_SEAL_HEADER_BYTES, tpm_len, key);
}

/* Unhealthy while the TPM is unreachable, and while the root key's blob
 * no longer matches the PCRs (until a re-bind): seal->errmsg says why. */
static int tpm2_seal_health(struct seal *seal)
{
    struct seal_tpm2 *t = seal->impl;
    int r;

    if (t->hsm == NULL)
        return KH_EUNAVAIL; /* seal->errmsg holds the connect failure */
    r = hsm_ping(t->hsm);
    if (r != 0) {
        snprintf(seal->errmsg, sizeof(seal->errmsg), "%s", t->detail);
        return r;
    }
    if (t->pcr_mismatch) {
        snprintf(seal->errmsg, sizeof(seal->errmsg), "%s", t->pcr_detail);
        return KH_ESTATE;
    }
    seal->errmsg[0] = '\0';
    return 0;
}

static void tpm2_seal_close(struct seal *seal)
{
    struct seal_tpm2 *t = seal->impl;

    if (t == NULL)
        return;
    hsm_close(t->hsm);
    free(t->tcti);
    free(t->pcrs);
    free(t->pcr_bank);
    kh_secure_free(t->recovery_key, KH_ROOT_KEY_BYTES);
    kh_wipe(t, sizeof(*t));
    free(t);
    seal->impl = NULL;
}

static const struct seal_ops seal_tpm2_ops = {
    .type = "tpm2",
    .auto_unseal = true,
    .wrap = tpm2_seal_wrap,
    .unwrap = tpm2_seal_unwrap,
    .health = tpm2_seal_health,
    .close = tpm2_seal_close,
};

static int dup_param(const struct kh_config_stanza *stanza, const char *name,
                     const char *def, char **ret)
{
    const char *value = kh_config_param(stanza, name);

    if (value == NULL || value[0] == '\0')
        value = def;
    *ret = NULL;
    if (value == NULL)
        return 0;
    *ret = strdup(value);
    return *ret != NULL ? 0 : KH_ENOMEM;
}

int seal_tpm2_init(struct seal *seal, const struct kh_config_stanza *stanza,
                   char *errmsg, size_t errmsg_size)
{
    struct seal_tpm2 *t;
    int r;

    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return KH_ENOMEM;
    seal->impl = t;
    r = dup_param(stanza, "tcti", TPM2_SEAL_TCTI_DEFAULT, &t->tcti);
    if (r == 0)
        r = dup_param(stanza, "pcrs", NULL, &t->pcrs);
    if (r == 0)
        r = dup_param(stanza, "pcr_bank", NULL, &t->pcr_bank);
    if (r == 0) {
        seal->ops = &seal_tpm2_ops;
        r = seal_tpm2_connect(seal, errmsg, errmsg_size);
    }
    if (r == KH_EINVAL || r == KH_ENOMEM) {
        /* A bad stanza is a configuration error: no seal at all. */
        if (r == KH_EINVAL)
            r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG, "seal \"tpm2\": %s",
                          seal->errmsg);
        tpm2_seal_close(seal);
        seal->ops = NULL;
    }
    return r;
}

int seal_tpm2_connect(struct seal *seal, char *errmsg, size_t errmsg_size)
{
    struct seal_tpm2 *t = seal->impl;
    struct hsm_tpm2_params params;
    char msg[KH_ERRMSG_SIZE] = "";
    int r;

    KH_ASSERT(t != NULL);
    if (t->hsm != NULL)
        return 0;
    params = (struct hsm_tpm2_params){
        .tcti = t->tcti,
        .pcrs = t->pcrs,
        .pcr_bank = t->pcr_bank,
        .detail = t->detail,
        .detail_size = sizeof(t->detail),
    };
    r = hsm_tpm2_open(&params, &t->hsm, msg, sizeof(msg));
    if (r == 0)
        return 0;
    snprintf(seal->errmsg, sizeof(seal->errmsg), "%s", msg);
    return kh_errmsg(errmsg, errmsg_size, r, "%s", msg);
}

bool seal_tpm2_ready(const struct seal *seal)
{
    const struct seal_tpm2 *t = seal->impl;

    return t != NULL && t->hsm != NULL;
}

int seal_tpm2_rebind_keys(struct seal *seal, struct kh_storage *storage,
                          uint8_t recovery_key[KH_ROOT_KEY_BYTES],
                          uint8_t root_key[KH_ROOT_KEY_BYTES], char *errmsg,
                          size_t errmsg_size)
{
    struct seal_tpm2 *t = seal->impl;
    int r;

    KH_ASSERT(strcmp(seal->ops->type, "tpm2") == 0);
    if (t->have_recovery_key) {
        memcpy(recovery_key, t->recovery_key, KH_ROOT_KEY_BYTES);
    } else {
        r = seal_recover_key(seal, storage, NULL, SEAL_RECOVERY_KEY_PATH,
                             recovery_key);
        if (r == KH_ESTATE)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "the PCRs changed since the recovery key was "
                             "sealed and this node was not unsealed with "
                             "the recovery keys since it started: seal it, "
                             "unseal it with the recovery keys, then "
                             "re-bind");
        if (r != 0)
            return kh_errmsg(errmsg, errmsg_size, r,
                             "the TPM cannot unseal the recovery key: %s",
                             seal->errmsg[0] ? seal->errmsg : kh_strerror(r));
    }
    r = seal_recover_key(seal, storage, recovery_key, SEAL_ROOT_KEY_PATH,
                         root_key);
    if (r != 0) {
        kh_wipe(recovery_key, KH_ROOT_KEY_BYTES);
        return kh_errmsg(errmsg, errmsg_size, r,
                         "cannot open the escrowed root key: %s",
                         kh_strerror(r));
    }
    return 0;
}

void seal_tpm2_rebound(struct seal *seal)
{
    struct seal_tpm2 *t = seal->impl;

    KH_ASSERT(strcmp(seal->ops->type, "tpm2") == 0);
    kh_wipe(t->recovery_key, t->recovery_key ? KH_ROOT_KEY_BYTES : 0);
    t->have_recovery_key = false;
    t->pcr_mismatch = false;
    t->pcr_detail[0] = '\0';
    seal->errmsg[0] = '\0';
}

void seal_tpm2_binding(const struct seal *seal, const char **ret_pcrs,
                       const char **ret_bank)
{
    const struct seal_tpm2 *t = seal->impl;

    KH_ASSERT(strcmp(seal->ops->type, "tpm2") == 0);
    *ret_pcrs = t->pcrs != NULL ? t->pcrs : "";
    *ret_bank = t->pcr_bank != NULL ? t->pcr_bank : "sha256";
}
