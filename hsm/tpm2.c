/*
 * tpm2.c - the TPM 2.0 backend of the hardware layer (tpm2-tss ESAPI over
 * any TCTI: /dev/tpmrm0 in production, swtpm in CI).
 *
 * Owns per handle one TCTI and ESYS context, the transient primary key (an
 * ECC P-256 storage key of the owner hierarchy, derived again at every
 * connection and never persisted), the PCR configuration and the caller's
 * detail buffer. It seals small secrets into KEYEDHASH objects under the
 * primary key (hsm.h: policy and sessions) and keeps no sealed object
 * loaded beyond one call. A lost connection (TCTI error) is dropped and
 * opened again on the next call, at most once per call.
 *
 * It must never log, never put a secret byte in the detail or an error
 * message, never release unsealed data whose binding hash does not match,
 * and never send or receive a secret outside a salted session with
 * parameter encryption.
 *
 * Blob layout (the caller stores it; version 1):
 *   version(1) | pcr bank(2, big endian) | pcr select(3, bit i = PCR i)
 *   [ | pcr digest(32) | fingerprint(8) per selected PCR, ascending ]
 *   | TPM2B_PUBLIC | TPM2B_PRIVATE (tss2-mu marshalled)
 * The bracketed part is present when a PCR is selected. The pcr digest is
 * PolicyPCR's pcrDigest at seal time (SHA-256 over the PCR values); a
 * fingerprint is the first 8 bytes of one PCR value, kept only to name the
 * PCRs that changed when the policy refuses. The TPM enforces the policy;
 * the header is covered by the binding hash, SHA-256(label | header |
 * aad), which is sealed in front of the secret and checked on unseal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "common/err.h"
#include "common/secret.h"
#include "hsm.h"
#include "hsm_backend.h"

#define TPM2_TCTI_BYTES_MAX      256
#define TPM2_PCR_COUNT           (HSM_TPM2_PCR_MAX + 1)
#define TPM2_PCR_SELECT_BYTES    3
#define TPM2_PCR_VALUE_BYTES_MAX 64 /* sha512 */
#define TPM2_BLOB_VERSION        1
#define TPM2_HEADER_FIXED_BYTES  6  /* version | bank | select */
#define TPM2_DIGEST_BYTES        32 /* SHA-256: sessions, policy, binding */
#define TPM2_FINGERPRINT_BYTES   8
#define TPM2_HEADER_BYTES_MAX                                                  \
    (TPM2_HEADER_FIXED_BYTES + TPM2_DIGEST_BYTES +                             \
     TPM2_PCR_COUNT * TPM2_FINGERPRINT_BYTES)
#define TPM2_SEALED_BYTES_MAX (TPM2_DIGEST_BYTES + HSM_TPM2_SECRET_BYTES_MAX)
#define TPM2_BIND_LABEL       "keyhold tpm2 seal v1"
#define TPM2_PCR_LIST_BYTES   160 /* "PCR 0, PCR 1, ..." for 24 PCRs */
#define TPM2_RC_BASE_FMT1     0x3fu

_Static_assert(TPM2_PCR_COUNT <= 8 * TPM2_PCR_SELECT_BYTES,
               "every PCR index fits the 3-byte selection");
_Static_assert(TPM2_SEALED_BYTES_MAX <=
                   sizeof(((TPM2B_SENSITIVE_DATA *)0)->buffer),
               "binding hash and secret fit one sealed data object");
_Static_assert(HSM_TPM2_SECRET_BYTES_MAX <= HSM_SECRET_BYTES_MAX,
               "tpm2 secrets are hsm secrets");
_Static_assert(TPM2_HEADER_BYTES_MAX < HSM_WRAP_OVERHEAD,
               "the header leaves room for the TPM's areas");

struct tpm2_ctx
{
    char tcti[TPM2_TCTI_BYTES_MAX + 1];
    TPMI_ALG_HASH bank;
    uint32_t pcr_mask; /* bit i: PCR i is bound */
    char *detail;      /* the caller's, or NULL */
    size_t detail_size;
    TSS2_TCTI_CONTEXT *tcti_ctx;
    ESYS_CONTEXT *esys; /* NULL: not connected */
    ESYS_TR primary;
};

/* PCR values of one bank as read now, or as a blob header stored them. */
struct tpm2_pcrs
{
    TPMI_ALG_HASH bank;
    uint32_t mask;
    uint8_t digest[TPM2_DIGEST_BYTES];
    uint8_t fingerprint[TPM2_PCR_COUNT][TPM2_FINGERPRINT_BYTES];
};

struct tpm2_blob
{
    struct tpm2_pcrs pcrs;
    size_t header_len;
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
};

static const struct
{
    const char *name;
    TPMI_ALG_HASH alg;
    size_t bytes;
} tpm2_banks[] = {
    {"sha1", TPM2_ALG_SHA1, 20},
    {"sha256", TPM2_ALG_SHA256, 32},
    {"sha384", TPM2_ALG_SHA384, 48},
    {"sha512", TPM2_ALG_SHA512, 64},
};

/* ECC P-256 storage key: the TCG SRK shape, plus noDA. */
static const TPM2B_PUBLIC tpm2_primary_template = {
    .publicArea =
        {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                                TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                TPMA_OBJECT_SENSITIVEDATAORIGIN |
                                TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA,
            .parameters.eccDetail =
                {
                    .symmetric = {.algorithm = TPM2_ALG_AES,
                                  .keyBits.aes = 128,
                                  .mode.aes = TPM2_ALG_CFB},
                    .scheme = {.scheme = TPM2_ALG_NULL},
                    .curveID = TPM2_ECC_NIST_P256,
                    .kdf = {.scheme = TPM2_ALG_NULL},
                },
        },
};

/* ---- errors ------------------------------------------------------- */

static const char *tpm2_bank_name(TPMI_ALG_HASH alg)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(tpm2_banks); i++) {
        if (tpm2_banks[i].alg == alg)
            return tpm2_banks[i].name;
    }
    return "unknown";
}

/* Bytes of one PCR value in the bank, 0 for an unknown bank. */
static size_t tpm2_bank_bytes(TPMI_ALG_HASH alg)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(tpm2_banks); i++) {
        if (tpm2_banks[i].alg == alg)
            return tpm2_banks[i].bytes;
    }
    return 0;
}

/* "tpm2: <what>: <decoded rc>" into msg; returns r. */
static int tpm2_rc_fail(char *msg, size_t msg_size, int r, const char *what,
                        TSS2_RC rc)
{
    return kh_errmsg(msg, msg_size, r, "tpm2: %s: %s (0x%x)", what,
                     Tss2_RC_Decode(rc), (unsigned)rc);
}

/* A TPM response code without its handle/session/parameter number. */
static TSS2_RC tpm2_rc_base(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return rc;
    if ((rc & TPM2_RC_FMT1) != 0)
        return (rc & TPM2_RC_BASE_FMT1) | TPM2_RC_FMT1;
    return rc & 0xfffu;
}

/* The connection is gone (swtpm stopped, device removed), or the TPM
 * restarted under it: a handle we hold is no longer loaded (the swtpm
 * TCTI reconnects by itself), or the TPM wants TPM2_Startup again. */
static bool tpm2_rc_lost(TSS2_RC rc)
{
    TSS2_RC base = tpm2_rc_base(rc);

    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER)
        return true;
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return false;
    return base == TPM2_RC_INITIALIZE ||
           (base >= TPM2_RC_REFERENCE_H0 && base <= TPM2_RC_REFERENCE_S6);
}

/* A TPM warning (busy, out of memory, retry...): worth trying later. */
static bool tpm2_rc_warning(TSS2_RC rc)
{
    TSS2_RC base = tpm2_rc_base(rc);

    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
           (base & TPM2_RC_FMT1) == 0 && (base & TPM2_RC_WARN) == TPM2_RC_WARN;
}

/* The code for a failed command: lost connections and warnings are
 * KH_EUNAVAIL (sets *lost for the former), the rest def. */
static int tpm2_rc_code(TSS2_RC rc, int def, bool *lost)
{
    if (tpm2_rc_lost(rc)) {
        *lost = true;
        return KH_EUNAVAIL;
    }
    return tpm2_rc_warning(rc) ? KH_EUNAVAIL : def;
}

/* ---- connection --------------------------------------------------- */

static void tpm2_disconnect(struct tpm2_ctx *ctx)
{
    if (ctx->esys != NULL) {
        if (ctx->primary != ESYS_TR_NONE)
            (void)Esys_FlushContext(ctx->esys, ctx->primary);
        Esys_Finalize(&ctx->esys);
    }
    ctx->esys = NULL;
    ctx->primary = ESYS_TR_NONE;
    if (ctx->tcti_ctx != NULL)
        Tss2_TctiLdr_Finalize(&ctx->tcti_ctx);
    ctx->tcti_ctx = NULL;
}

/* A simulator without a resource manager keeps the transient objects of
 * clients that died; free its slots so the primary key fits again. */
static void tpm2_flush_transients(struct tpm2_ctx *ctx)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = TPM2_NO;
    ESYS_TR object;
    UINT32 i;

    if (Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                           TPM2_CAP_HANDLES, TPM2_TRANSIENT_FIRST,
                           TPM2_MAX_CAP_HANDLES, &more,
                           &cap) != TSS2_RC_SUCCESS)
        return;
    for (i = 0; i < cap->data.handles.count; i++) {
        if (Esys_TR_FromTPMPublic(ctx->esys, cap->data.handles.handle[i],
                                  ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &object) == TSS2_RC_SUCCESS)
            (void)Esys_FlushContext(ctx->esys, object);
    }
    Esys_Free(cap);
}

/* Derive the primary key. A TPM that was never started gets
 * TPM2_Startup(CLEAR); a full simulator gets its dead transients flushed;
 * each once. */
static int tpm2_create_primary(struct tpm2_ctx *ctx, char *msg, size_t msg_size)
{
    TPM2B_SENSITIVE_CREATE sensitive;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcrs;
    TSS2_RC rc = TSS2_RC_SUCCESS, base;
    bool lost = false;
    int attempt;

    memset(&sensitive, 0, sizeof(sensitive));
    memset(&outside, 0, sizeof(outside));
    memset(&creation_pcrs, 0, sizeof(creation_pcrs));
    for (attempt = 0; attempt < 3; attempt++) {
        rc = Esys_CreatePrimary(
            ctx->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
            ESYS_TR_NONE, &sensitive, &tpm2_primary_template, &outside,
            &creation_pcrs, &ctx->primary, NULL, NULL, NULL, NULL);
        base = tpm2_rc_base(rc);
        if (base == TPM2_RC_INITIALIZE)
            (void)Esys_Startup(ctx->esys, TPM2_SU_CLEAR);
        else if (base == TPM2_RC_OBJECT_MEMORY)
            tpm2_flush_transients(ctx);
        else
            break;
    }
    if (rc == TSS2_RC_SUCCESS)
        return 0;
    ctx->primary = ESYS_TR_NONE;
    base = tpm2_rc_base(rc);
    if (base == TPM2_RC_BAD_AUTH || base == TPM2_RC_AUTH_FAIL)
        return kh_errmsg(msg, msg_size, KH_EAUTH,
                         "tpm2: the owner hierarchy refused an empty "
                         "authorization (%s): Keyhold needs an owner "
                         "hierarchy without a password",
                         Tss2_RC_Decode(rc));
    return tpm2_rc_fail(msg, msg_size, tpm2_rc_code(rc, KH_EHSM, &lost),
                        "creating the primary key", rc);
}

static int tpm2_connect(struct tpm2_ctx *ctx, char *msg, size_t msg_size)
{
    TSS2_RC rc;
    int r;

    KH_ASSERT(ctx->esys == NULL);
    rc = Tss2_TctiLdr_Initialize(ctx->tcti, &ctx->tcti_ctx);
    if (rc != TSS2_RC_SUCCESS) {
        ctx->tcti_ctx = NULL;
        return kh_errmsg(msg, msg_size, KH_EUNAVAIL,
                         "tpm2: cannot connect to \"%s\": %s", ctx->tcti,
                         Tss2_RC_Decode(rc));
    }
    rc = Esys_Initialize(&ctx->esys, ctx->tcti_ctx, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        ctx->esys = NULL;
        r = tpm2_rc_fail(msg, msg_size, KH_EUNAVAIL, "Esys_Initialize", rc);
        goto fail;
    }
    r = tpm2_create_primary(ctx, msg, msg_size);
    if (r == 0)
        return 0;
fail:
    tpm2_disconnect(ctx);
    return r;
}

/* Start a session salted with the primary key (AES-128-CFB parameter
 * encryption in the direction attrs says), or return the failure. */
static TSS2_RC tpm2_salted_session(struct tpm2_ctx *ctx, TPM2_SE type,
                                   TPMA_SESSION attrs, ESYS_TR *ret)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES,
                        .keyBits.aes = 128,
                        .mode.aes = TPM2_ALG_CFB};
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc;

    rc = Esys_StartAuthSession(ctx->esys, ctx->primary, ESYS_TR_NONE,
                               ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                               type, &sym, TPM2_ALG_SHA256, &session);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_TRSess_SetAttributes(
            ctx->esys, session, attrs | TPMA_SESSION_CONTINUESESSION, 0xff);
    if (rc != TSS2_RC_SUCCESS && session != ESYS_TR_NONE) {
        (void)Esys_FlushContext(ctx->esys, session);
        session = ESYS_TR_NONE;
    }
    *ret = session;
    return rc;
}

/* ---- PCRs --------------------------------------------------------- */

static TPML_PCR_SELECTION tpm2_selection(TPMI_ALG_HASH bank, uint32_t mask)
{
    TPML_PCR_SELECTION sel;
    unsigned i;

    memset(&sel, 0, sizeof(sel));
    sel.count = 1;
    sel.pcrSelections[0].hash = bank;
    sel.pcrSelections[0].sizeofSelect = TPM2_PCR_SELECT_BYTES;
    for (i = 0; i < TPM2_PCR_SELECT_BYTES; i++)
        sel.pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
    return sel;
}

/* The PCRs of bank that sel names. */
static uint32_t tpm2_selection_mask(const TPML_PCR_SELECTION *sel,
                                    TPMI_ALG_HASH bank)
{
    uint32_t mask = 0;
    UINT32 i, j;

    for (i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
        if (sel->pcrSelections[i].hash != bank)
            continue;
        for (j = 0; j < sel->pcrSelections[i].sizeofSelect &&
                    j < TPM2_PCR_SELECT_BYTES;
             j++)
            mask |= (uint32_t)sel->pcrSelections[i].pcrSelect[j] << (8 * j);
    }
    return mask;
}

/* Copy the values PCR_Read returned for the PCRs of got (ascending). */
static bool tpm2_pcr_take(uint32_t got, const TPML_DIGEST *digests,
                          size_t value_len,
                          uint8_t values[][TPM2_PCR_VALUE_BYTES_MAX])
{
    UINT32 n = 0;
    unsigned pcr;

    for (pcr = 0; pcr < TPM2_PCR_COUNT; pcr++) {
        if ((got & (1u << pcr)) == 0)
            continue;
        if (n >= digests->count || digests->digests[n].size != value_len)
            return false;
        memcpy(values[pcr], digests->digests[n].buffer, value_len);
        n++;
    }
    return n == digests->count;
}

/* PolicyPCR's digest over the values, and each value's fingerprint. */
static int tpm2_pcr_summarise(uint32_t mask, size_t value_len,
                              uint8_t values[][TPM2_PCR_VALUE_BYTES_MAX],
                              struct tpm2_pcrs *pcrs)
{
    uint8_t all[TPM2_PCR_COUNT * TPM2_PCR_VALUE_BYTES_MAX];
    size_t len = 0;
    unsigned pcr;

    for (pcr = 0; pcr < TPM2_PCR_COUNT; pcr++) {
        if ((mask & (1u << pcr)) == 0)
            continue;
        memcpy(all + len, values[pcr], value_len);
        memcpy(pcrs->fingerprint[pcr], values[pcr], TPM2_FINGERPRINT_BYTES);
        len += value_len;
    }
    if (EVP_Digest(all, len, pcrs->digest, NULL, EVP_sha256(), NULL) != 1)
        return KH_EINTERNAL;
    return 0;
}

/* Read the PCRs of mask in bank (a TPM returns at most 8 per call). */
static int tpm2_pcr_read(struct tpm2_ctx *ctx, TPMI_ALG_HASH bank,
                         uint32_t mask, struct tpm2_pcrs *ret, bool *lost)
{
    uint8_t values[TPM2_PCR_COUNT][TPM2_PCR_VALUE_BYTES_MAX];
    size_t value_len = tpm2_bank_bytes(bank);
    TPML_PCR_SELECTION sel, *out_sel = NULL;
    TPML_DIGEST *digests = NULL;
    uint32_t remaining = mask, got;
    unsigned round;
    TSS2_RC rc;
    int r = KH_EHSM;

    KH_ASSERT(value_len > 0);
    for (round = 0; remaining != 0 && round < TPM2_PCR_COUNT; round++) {
        sel = tpm2_selection(bank, remaining);
        rc = Esys_PCR_Read(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                           &sel, NULL, &out_sel, &digests);
        if (rc != TSS2_RC_SUCCESS) {
            r = tpm2_rc_fail(ctx->detail, ctx->detail_size,
                             tpm2_rc_code(rc, KH_EHSM, lost), "PCR_Read", rc);
            goto out;
        }
        got = tpm2_selection_mask(out_sel, bank) & remaining;
        if (got == 0 || !tpm2_pcr_take(got, digests, value_len, values))
            break;
        remaining &= ~got;
        Esys_Free(out_sel);
        Esys_Free(digests);
        out_sel = NULL;
        digests = NULL;
    }
    if (remaining != 0) {
        r = kh_errmsg(ctx->detail, ctx->detail_size, KH_EHSM,
                      "tpm2: the TPM returned no %s value for PCR mask 0x%x "
                      "(is the bank allocated?)",
                      tpm2_bank_name(bank), (unsigned)remaining);
        goto out;
    }
    memset(ret, 0, sizeof(*ret));
    ret->bank = bank;
    ret->mask = mask;
    r = tpm2_pcr_summarise(mask, value_len, values, ret);
out:
    Esys_Free(out_sel);
    Esys_Free(digests);
    return r;
}

/* "PCR 7, PCR 16": the PCRs whose fingerprints differ. */
static void tpm2_pcr_changed(const struct tpm2_pcrs *sealed,
                             const struct tpm2_pcrs *now, char *out,
                             size_t out_size)
{
    size_t used = 0;
    unsigned pcr;
    int n;

    out[0] = '\0';
    for (pcr = 0; pcr < TPM2_PCR_COUNT; pcr++) {
        if ((sealed->mask & (1u << pcr)) == 0 ||
            memcmp(sealed->fingerprint[pcr], now->fingerprint[pcr],
                   TPM2_FINGERPRINT_BYTES) == 0)
            continue;
        n = snprintf(out + used, out_size - used, "%sPCR %u",
                     used > 0 ? ", " : "", pcr);
        if (n < 0 || (size_t)n >= out_size - used)
            return;
        used += (size_t)n;
    }
}

/* The policy refused: say which PCRs of the blob changed (KH_ESTATE), or
 * that none did and the blob is at fault (KH_ECORRUPT). */
static int tpm2_pcr_explain(struct tpm2_ctx *ctx,
                            const struct tpm2_pcrs *sealed, bool *lost)
{
    char list[TPM2_PCR_LIST_BYTES];
    struct tpm2_pcrs now;
    int r;

    r = tpm2_pcr_read(ctx, sealed->bank, sealed->mask, &now, lost);
    if (r != 0)
        return r;
    if (memcmp(now.digest, sealed->digest, sizeof(now.digest)) == 0)
        return kh_errmsg(ctx->detail, ctx->detail_size, KH_ECORRUPT,
                         "tpm2: the PCR policy refused although the PCRs "
                         "hold their sealed values: the blob is damaged");
    tpm2_pcr_changed(sealed, &now, list, sizeof(list));
    return kh_errmsg(ctx->detail, ctx->detail_size, KH_ESTATE,
                     "tpm2: %s changed since the secret was sealed (%s "
                     "bank): the TPM's PCR policy refuses to unseal",
                     list[0] != '\0' ? list : "the bound PCRs",
                     tpm2_bank_name(sealed->bank));
}

/* ---- blobs -------------------------------------------------------- */

static size_t tpm2_header_write(const struct tpm2_pcrs *pcrs,
                                uint8_t out[TPM2_HEADER_BYTES_MAX])
{
    size_t len = TPM2_HEADER_FIXED_BYTES;
    unsigned pcr;

    out[0] = TPM2_BLOB_VERSION;
    out[1] = (uint8_t)(pcrs->bank >> 8);
    out[2] = (uint8_t)pcrs->bank;
    out[3] = (uint8_t)pcrs->mask;
    out[4] = (uint8_t)(pcrs->mask >> 8);
    out[5] = (uint8_t)(pcrs->mask >> 16);
    if (pcrs->mask == 0)
        return len;
    memcpy(out + len, pcrs->digest, TPM2_DIGEST_BYTES);
    len += TPM2_DIGEST_BYTES;
    for (pcr = 0; pcr < TPM2_PCR_COUNT; pcr++) {
        if ((pcrs->mask & (1u << pcr)) == 0)
            continue;
        memcpy(out + len, pcrs->fingerprint[pcr], TPM2_FINGERPRINT_BYTES);
        len += TPM2_FINGERPRINT_BYTES;
    }
    return len;
}

/* Read the header's PCR part; KH_ECORRUPT when it does not fit. */
static int tpm2_header_read(const uint8_t *blob, size_t blob_len,
                            struct tpm2_pcrs *pcrs, size_t *ret_len)
{
    size_t len = TPM2_HEADER_FIXED_BYTES;
    unsigned pcr;

    if (blob_len < TPM2_HEADER_FIXED_BYTES || blob[0] != TPM2_BLOB_VERSION)
        return KH_ECORRUPT;
    pcrs->bank = (TPMI_ALG_HASH)((blob[1] << 8) | blob[2]);
    pcrs->mask =
        (uint32_t)blob[3] | (uint32_t)blob[4] << 8 | (uint32_t)blob[5] << 16;
    if (tpm2_bank_bytes(pcrs->bank) == 0)
        return KH_ECORRUPT;
    if (pcrs->mask != 0) {
        if (blob_len - len < TPM2_DIGEST_BYTES)
            return KH_ECORRUPT;
        memcpy(pcrs->digest, blob + len, TPM2_DIGEST_BYTES);
        len += TPM2_DIGEST_BYTES;
    }
    for (pcr = 0; pcr < TPM2_PCR_COUNT; pcr++) {
        if ((pcrs->mask & (1u << pcr)) == 0)
            continue;
        if (blob_len - len < TPM2_FINGERPRINT_BYTES)
            return KH_ECORRUPT;
        memcpy(pcrs->fingerprint[pcr], blob + len, TPM2_FINGERPRINT_BYTES);
        len += TPM2_FINGERPRINT_BYTES;
    }
    *ret_len = len;
    return 0;
}

static int tpm2_blob_parse(const uint8_t *blob, size_t blob_len,
                           struct tpm2_blob *ret)
{
    size_t offset = 0, public_size;

    memset(ret, 0, sizeof(*ret));
    if (tpm2_header_read(blob, blob_len, &ret->pcrs, &ret->header_len) != 0)
        return KH_ECORRUPT;
    offset = ret->header_len;
    /* tss2-mu reads the public area by its structure: check that its
     * size field says the same, so no byte of the blob is ignored. */
    if (blob_len - offset < 2)
        return KH_ECORRUPT;
    public_size = (size_t)blob[offset] << 8 | blob[offset + 1];
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob, blob_len, &offset, &ret->pub) !=
            TSS2_RC_SUCCESS ||
        offset != ret->header_len + 2 + public_size ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob, blob_len, &offset, &ret->priv) !=
            TSS2_RC_SUCCESS ||
        offset != blob_len)
        return KH_ECORRUPT;
    return 0;
}

/* SHA-256(label | header | aad): binds the header and the aad to the
 * sealed secret. */
static int tpm2_bind_hash(const uint8_t *header, size_t header_len,
                          const uint8_t *aad, size_t aad_len,
                          uint8_t out[TPM2_DIGEST_BYTES])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;

    if (md == NULL)
        return KH_ENOMEM;
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, TPM2_BIND_LABEL, sizeof(TPM2_BIND_LABEL)) == 1 &&
         EVP_DigestUpdate(md, header, header_len) == 1 &&
         (aad_len == 0 || EVP_DigestUpdate(md, aad, aad_len) == 1) &&
         EVP_DigestFinal_ex(md, out, NULL) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : KH_EINTERNAL;
}

/* header | TPM2B_PUBLIC | TPM2B_PRIVATE into a new blob of at most
 * secret_len + HSM_WRAP_OVERHEAD bytes. */
static int tpm2_blob_write(struct tpm2_ctx *ctx, const uint8_t *header,
                           size_t header_len, const TPM2B_PUBLIC *pub,
                           const TPM2B_PRIVATE *priv, size_t secret_len,
                           uint8_t **ret_blob, size_t *ret_blob_len)
{
    size_t cap = secret_len + HSM_WRAP_OVERHEAD;
    size_t offset = header_len;
    uint8_t *blob;

    KH_ASSERT(header_len <= cap);
    blob = malloc(cap);
    if (blob == NULL)
        return KH_ENOMEM;
    memcpy(blob, header, header_len);
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, blob, cap, &offset) !=
            TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(priv, blob, cap, &offset) !=
            TSS2_RC_SUCCESS) {
        free(blob);
        return kh_errmsg(ctx->detail, ctx->detail_size, KH_EHSM,
                         "tpm2: the sealed object is larger than %zu bytes",
                         cap);
    }
    *ret_blob = blob;
    *ret_blob_len = offset;
    return 0;
}

/* ---- seal and unseal ---------------------------------------------- */

/* The authPolicy of PolicyPCR over pcrs, from a trial session. */
static int tpm2_policy_digest(struct tpm2_ctx *ctx,
                              const struct tpm2_pcrs *pcrs, TPM2B_DIGEST *ret,
                              bool *lost)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    TPML_PCR_SELECTION sel = tpm2_selection(pcrs->bank, pcrs->mask);
    TPM2B_DIGEST pcr_digest = {.size = TPM2_DIGEST_BYTES};
    TPM2B_DIGEST *digest = NULL;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc;

    memcpy(pcr_digest.buffer, pcrs->digest, TPM2_DIGEST_BYTES);
    rc = Esys_StartAuthSession(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE,
                               ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                               TPM2_SE_TRIAL, &sym, TPM2_ALG_SHA256, &session);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_PolicyPCR(ctx->esys, session, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, &pcr_digest, &sel);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_PolicyGetDigest(ctx->esys, session, ESYS_TR_NONE,
                                  ESYS_TR_NONE, ESYS_TR_NONE, &digest);
    if (session != ESYS_TR_NONE)
        (void)Esys_FlushContext(ctx->esys, session);
    if (rc != TSS2_RC_SUCCESS)
        return tpm2_rc_fail(ctx->detail, ctx->detail_size,
                            tpm2_rc_code(rc, KH_EHSM, lost),
                            "computing the PCR policy", rc);
    *ret = *digest;
    Esys_Free(digest);
    return 0;
}

/* Create the sealed object holding data (len bytes) under the primary
 * key; inSensitive travels encrypted (DECRYPT session). */
static int tpm2_create_sealed(struct tpm2_ctx *ctx, const TPM2B_DIGEST *policy,
                              const uint8_t *data, size_t len,
                              TPM2B_PUBLIC **ret_pub, TPM2B_PRIVATE **ret_priv,
                              bool *lost)
{
    TPM2B_SENSITIVE_CREATE sensitive;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcrs;
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc;

    KH_ASSERT(len <= sizeof(sensitive.sensitive.data.buffer));
    memset(&sensitive, 0, sizeof(sensitive));
    memset(&tmpl, 0, sizeof(tmpl));
    memset(&outside, 0, sizeof(outside));
    memset(&creation_pcrs, 0, sizeof(creation_pcrs));
    sensitive.sensitive.data.size = (UINT16)len;
    memcpy(sensitive.sensitive.data.buffer, data, len);
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    tmpl.publicArea.objectAttributes =
        TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA |
        TPMA_OBJECT_ADMINWITHPOLICY;
    /* Without PCRs the object opens with its empty authorization. */
    if (policy->size == 0)
        tmpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    tmpl.publicArea.authPolicy = *policy;
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    rc = tpm2_salted_session(ctx, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &session);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_Create(ctx->esys, ctx->primary, session, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sensitive, &tmpl, &outside,
                         &creation_pcrs, ret_priv, ret_pub, NULL, NULL, NULL);
    if (session != ESYS_TR_NONE)
        (void)Esys_FlushContext(ctx->esys, session);
    kh_wipe(&sensitive, sizeof(sensitive));
    if (rc != TSS2_RC_SUCCESS)
        return tpm2_rc_fail(ctx->detail, ctx->detail_size,
                            tpm2_rc_code(rc, KH_EHSM, lost),
                            "creating the sealed object", rc);
    return 0;
}

static int tpm2_wrap_once(struct tpm2_ctx *ctx, const uint8_t *aad,
                          size_t aad_len, const uint8_t *secret, size_t len,
                          uint8_t **ret_blob, size_t *ret_blob_len, bool *lost)
{
    uint8_t header[TPM2_HEADER_BYTES_MAX];
    uint8_t sealed[TPM2_SEALED_BYTES_MAX];
    struct tpm2_pcrs pcrs;
    TPM2B_DIGEST policy;
    TPM2B_PUBLIC *pub = NULL;
    TPM2B_PRIVATE *priv = NULL;
    size_t header_len;
    int r = KH_EINTERNAL;

    KH_ASSERT(len <= HSM_TPM2_SECRET_BYTES_MAX);
    memset(&pcrs, 0, sizeof(pcrs));
    memset(&policy, 0, sizeof(policy));
    pcrs.bank = ctx->bank;
    if (ctx->pcr_mask != 0) {
        r = tpm2_pcr_read(ctx, ctx->bank, ctx->pcr_mask, &pcrs, lost);
        if (r == 0)
            r = tpm2_policy_digest(ctx, &pcrs, &policy, lost);
        if (r != 0)
            goto out;
    }
    header_len = tpm2_header_write(&pcrs, header);
    r = tpm2_bind_hash(header, header_len, aad, aad_len, sealed);
    if (r != 0)
        goto out;
    memcpy(sealed + TPM2_DIGEST_BYTES, secret, len);
    r = tpm2_create_sealed(ctx, &policy, sealed, TPM2_DIGEST_BYTES + len, &pub,
                           &priv, lost);
    if (r != 0)
        goto out;
    r = tpm2_blob_write(ctx, header, header_len, pub, priv, len, ret_blob,
                        ret_blob_len);
out:
    kh_wipe(sealed, sizeof(sealed));
    Esys_Free(pub);
    Esys_Free(priv);
    return r;
}

/* Unseal the loaded object through a salted session with response
 * encryption (a policy session with PolicyPCR when the blob has PCRs). */
static TSS2_RC tpm2_unseal_object(struct tpm2_ctx *ctx, ESYS_TR object,
                                  const struct tpm2_pcrs *pcrs,
                                  TPM2B_SENSITIVE_DATA **ret_data)
{
    TPML_PCR_SELECTION sel = tpm2_selection(pcrs->bank, pcrs->mask);
    TPM2B_DIGEST current = {.size = 0};
    ESYS_TR session = ESYS_TR_NONE;
    TSS2_RC rc;

    rc = tpm2_salted_session(ctx,
                             pcrs->mask != 0 ? TPM2_SE_POLICY : TPM2_SE_HMAC,
                             TPMA_SESSION_ENCRYPT, &session);
    if (rc == TSS2_RC_SUCCESS && pcrs->mask != 0)
        rc = Esys_PolicyPCR(ctx->esys, session, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, &current, &sel);
    if (rc == TSS2_RC_SUCCESS)
        rc = Esys_Unseal(ctx->esys, object, session, ESYS_TR_NONE, ESYS_TR_NONE,
                         ret_data);
    if (session != ESYS_TR_NONE)
        (void)Esys_FlushContext(ctx->esys, session);
    return rc;
}

/* The TPM's answer to a failed unseal as a KH_E* code with detail. */
static int tpm2_unseal_failed(struct tpm2_ctx *ctx,
                              const struct tpm2_blob *blob, TSS2_RC rc,
                              bool *lost)
{
    TSS2_RC base = tpm2_rc_base(rc);

    if (base == TPM2_RC_POLICY_FAIL && blob->pcrs.mask != 0)
        return tpm2_pcr_explain(ctx, &blob->pcrs, lost);
    if (base == TPM2_RC_PCR_CHANGED)
        return tpm2_rc_fail(ctx->detail, ctx->detail_size, KH_EUNAVAIL,
                            "a PCR changed during the unseal", rc);
    if (base == TPM2_RC_AUTH_FAIL || base == TPM2_RC_BAD_AUTH ||
        base == TPM2_RC_POLICY_FAIL)
        return tpm2_rc_fail(ctx->detail, ctx->detail_size, KH_ECORRUPT,
                            "unseal refused (damaged blob)", rc);
    return tpm2_rc_fail(ctx->detail, ctx->detail_size,
                        tpm2_rc_code(rc, KH_EHSM, lost), "unseal", rc);
}

static int tpm2_unwrap_once(struct tpm2_ctx *ctx, const struct tpm2_blob *blob,
                            const uint8_t bind[TPM2_DIGEST_BYTES], uint8_t *out,
                            size_t out_size, size_t *ret_len, bool *lost)
{
    TPM2B_SENSITIVE_DATA *data = NULL;
    ESYS_TR object = ESYS_TR_NONE;
    TSS2_RC rc;
    size_t len;
    int r = KH_EHSM;

    rc = Esys_Load(ctx->esys, ctx->primary, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, &blob->priv, &blob->pub, &object);
    if (rc != TSS2_RC_SUCCESS) {
        object = ESYS_TR_NONE;
        r = tpm2_rc_fail(ctx->detail, ctx->detail_size,
                         tpm2_rc_code(rc, KH_ECORRUPT, lost),
                         "the blob does not load under this TPM's primary "
                         "key (damaged, or sealed by another TPM or owner "
                         "seed)",
                         rc);
        goto out;
    }
    rc = tpm2_unseal_object(ctx, object, &blob->pcrs, &data);
    if (rc != TSS2_RC_SUCCESS) {
        data = NULL;
        r = tpm2_unseal_failed(ctx, blob, rc, lost);
        goto out;
    }
    if (data->size < TPM2_DIGEST_BYTES ||
        !kh_ct_equal(data->buffer, bind, TPM2_DIGEST_BYTES)) {
        r = kh_errmsg(ctx->detail, ctx->detail_size, KH_ECORRUPT,
                      "tpm2: the sealed data does not match the blob's "
                      "header and aad");
        goto out;
    }
    len = data->size - TPM2_DIGEST_BYTES;
    r = KH_EINVAL;
    if (len > out_size)
        goto out;
    memcpy(out, data->buffer + TPM2_DIGEST_BYTES, len);
    *ret_len = len;
    r = 0; /* success */
out:
    if (data != NULL)
        kh_wipe(data, sizeof(*data));
    Esys_Free(data);
    if (object != ESYS_TR_NONE)
        (void)Esys_FlushContext(ctx->esys, object);
    return r;
}

/* ---- calls with one reconnection ---------------------------------- */

enum tpm2_op {
    TPM2_OP_WRAP,
    TPM2_OP_UNWRAP,
    TPM2_OP_PING,
};

struct tpm2_call
{
    enum tpm2_op op;
    const uint8_t *aad; /* wrap */
    size_t aad_len;
    const uint8_t *secret;
    size_t secret_len;
    uint8_t *blob_out;
    size_t blob_out_len;
    const struct tpm2_blob *blob; /* unwrap */
    const uint8_t *bind;
    uint8_t *out;
    size_t out_size;
    size_t out_len;
};

/* Reading the primary key's public area also notices a TPM that
 * restarted (the key is no longer loaded). */
static int tpm2_ping_once(struct tpm2_ctx *ctx, bool *lost)
{
    TPM2B_PUBLIC *pub = NULL;
    TSS2_RC rc;

    rc = Esys_ReadPublic(ctx->esys, ctx->primary, ESYS_TR_NONE, ESYS_TR_NONE,
                         ESYS_TR_NONE, &pub, NULL, NULL);
    Esys_Free(pub);
    if (rc != TSS2_RC_SUCCESS)
        return tpm2_rc_fail(ctx->detail, ctx->detail_size,
                            tpm2_rc_code(rc, KH_EHSM, lost),
                            "reading the primary key", rc);
    return 0;
}

static int tpm2_call_once(struct tpm2_ctx *ctx, struct tpm2_call *call,
                          bool *lost)
{
    switch (call->op) {
    case TPM2_OP_WRAP:
        return tpm2_wrap_once(ctx, call->aad, call->aad_len, call->secret,
                              call->secret_len, &call->blob_out,
                              &call->blob_out_len, lost);
    case TPM2_OP_UNWRAP:
        return tpm2_unwrap_once(ctx, call->blob, call->bind, call->out,
                                call->out_size, &call->out_len, lost);
    case TPM2_OP_PING:
        return tpm2_ping_once(ctx, lost);
    }
    return KH_EINTERNAL;
}

/* Run call, connecting first when needed; a connection lost during the
 * call is dropped and the call runs once more on a new one. */
static int tpm2_run(struct tpm2_ctx *ctx, struct tpm2_call *call)
{
    bool lost = false;
    int attempt, r = KH_EUNAVAIL;

    for (attempt = 0; attempt < 2; attempt++) {
        if (ctx->esys == NULL) {
            r = tpm2_connect(ctx, ctx->detail, ctx->detail_size);
            if (r != 0)
                return r;
        }
        lost = false;
        r = tpm2_call_once(ctx, call, &lost);
        if (!lost)
            return r;
        tpm2_disconnect(ctx);
    }
    return r;
}

/* ---- backend operations ------------------------------------------- */

static int tpm2_wrap(void *opaque, const uint8_t *aad, size_t aad_len,
                     const uint8_t *secret, size_t secret_len,
                     uint8_t **ret_blob, size_t *ret_blob_len)
{
    struct tpm2_ctx *ctx = opaque;
    struct tpm2_call call = {
        .op = TPM2_OP_WRAP,
        .aad = aad,
        .aad_len = aad_len,
        .secret = secret,
        .secret_len = secret_len,
    };
    int r;

    if (secret_len > HSM_TPM2_SECRET_BYTES_MAX)
        return kh_errmsg(ctx->detail, ctx->detail_size, KH_EINVAL,
                         "tpm2: a sealed secret is at most %d bytes",
                         HSM_TPM2_SECRET_BYTES_MAX);
    r = tpm2_run(ctx, &call);
    if (r != 0)
        return r;
    *ret_blob = call.blob_out;
    *ret_blob_len = call.blob_out_len;
    return 0;
}

static int tpm2_unwrap(void *opaque, const uint8_t *aad, size_t aad_len,
                       const uint8_t *blob, size_t blob_len, uint8_t *out,
                       size_t out_size, size_t *ret_len)
{
    struct tpm2_ctx *ctx = opaque;
    uint8_t bind[TPM2_DIGEST_BYTES];
    struct tpm2_blob parsed;
    struct tpm2_call call = {
        .op = TPM2_OP_UNWRAP,
        .blob = &parsed,
        .bind = bind,
        .out = out,
        .out_size = out_size,
    };
    int r;

    r = tpm2_blob_parse(blob, blob_len, &parsed);
    if (r != 0)
        return kh_errmsg(ctx->detail, ctx->detail_size, r,
                         "tpm2: the blob is malformed");
    r = tpm2_bind_hash(blob, parsed.header_len, aad, aad_len, bind);
    if (r != 0)
        return r;
    r = tpm2_run(ctx, &call);
    if (r == 0)
        *ret_len = call.out_len;
    return r;
}

static int tpm2_key_attributes(void *opaque, struct hsm_key_attributes *ret)
{
    (void)opaque;
    /* The primary key and sealed objects are fixedTPM and fixedParent:
     * sensitive, never extractable, and transient. */
    memset(ret, 0, sizeof(*ret));
    ret->sensitive = true;
    ret->never_extractable = true;
    ret->value_len = 32; /* ECC P-256 */
    return 0;
}

static int tpm2_ping(void *opaque)
{
    struct tpm2_call call = {.op = TPM2_OP_PING};

    return tpm2_run(opaque, &call);
}

static void tpm2_ctx_free(void *opaque)
{
    struct tpm2_ctx *ctx = opaque;

    if (ctx == NULL)
        return;
    tpm2_disconnect(ctx);
    kh_wipe(ctx, sizeof(*ctx));
    free(ctx);
}

static const struct hsm_backend_ops tpm2_ops = {
    .name = "tpm2",
    .wrap = tpm2_wrap,
    .unwrap = tpm2_unwrap,
    .key_attributes = tpm2_key_attributes,
    .ping = tpm2_ping,
    .close = tpm2_ctx_free,
};

/* ---- public entry point ------------------------------------------- */

/* "7, 16" -> a PCR mask; refuses indexes above HSM_TPM2_PCR_MAX, repeats
 * and anything but digits, commas and blanks. */
static int tpm2_parse_pcrs(const char *text, uint32_t *ret_mask, char *errmsg,
                           size_t errmsg_size)
{
    const char *p = text;
    uint32_t mask = 0;
    unsigned long pcr;
    char *end;

    while (p != NULL && *p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (*p < '0' || *p > '9')
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "tpm2: pcrs must list PCR numbers, such as "
                             "\"7,11\"");
        pcr = strtoul(p, &end, 10);
        if (pcr > HSM_TPM2_PCR_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "tpm2: PCR %lu does not exist (0 to %d)", pcr,
                             HSM_TPM2_PCR_MAX);
        if ((mask & (1u << pcr)) != 0)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "tpm2: PCR %lu is listed twice", pcr);
        mask |= 1u << pcr;
        p = end;
    }
    *ret_mask = mask;
    return 0;
}

static int tpm2_ctx_setup(struct tpm2_ctx *ctx,
                          const struct hsm_tpm2_params *params, char *errmsg,
                          size_t errmsg_size)
{
    const char *bank = params->pcr_bank;
    size_t i, len;

    len = params->tcti != NULL ? strlen(params->tcti) : 0;
    if (len == 0 || len > TPM2_TCTI_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "tpm2: tcti must be 1 to %d bytes, such as "
                         "\"device:/dev/tpmrm0\"",
                         TPM2_TCTI_BYTES_MAX);
    memcpy(ctx->tcti, params->tcti, len + 1);
    if (bank == NULL || bank[0] == '\0')
        bank = "sha256";
    for (i = 0; i < KH_ARRAY_LEN(tpm2_banks); i++) {
        if (strcmp(tpm2_banks[i].name, bank) == 0)
            ctx->bank = tpm2_banks[i].alg;
    }
    if (ctx->bank == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "tpm2: pcr_bank \"%s\" is not sha1, sha256, sha384 "
                         "or sha512",
                         bank);
    ctx->detail = params->detail;
    ctx->detail_size = params->detail != NULL ? params->detail_size : 0;
    return tpm2_parse_pcrs(params->pcrs, &ctx->pcr_mask, errmsg, errmsg_size);
}

int hsm_tpm2_open(const struct hsm_tpm2_params *params, struct hsm **ret_hsm,
                  char *errmsg, size_t errmsg_size)
{
    struct tpm2_ctx *ctx;
    int r = KH_EINTERNAL;

    KH_ASSERT(params != NULL);
    KH_ASSERT(ret_hsm != NULL);
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "tpm2: out of memory");
    ctx->primary = ESYS_TR_NONE;
    r = tpm2_ctx_setup(ctx, params, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = tpm2_connect(ctx, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = hsm_create(&tpm2_ops, ctx, ret_hsm);
    ctx = NULL; /* hsm_create owns it, even on failure */
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r, "tpm2: %s", kh_strerror(r));
        goto out;
    }
    r = 0; /* success */
out:
    tpm2_ctx_free(ctx);
    return r;
}
