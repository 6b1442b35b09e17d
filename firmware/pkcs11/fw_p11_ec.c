/*
 * fw_p11_ec.c - P-256 key pairs and CKM_ECDSA of the Keyhold device's
 * PKCS#11 face (fw_p11.h). C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN) makes a
 * key pair inside the device (GEN_EC) in its first free P-256 slot, with
 * the template's label; the curve must be prime256v1. C_SignInit/C_Sign
 * with CKM_ECDSA sign a caller's hash with the device's SIGN, which takes
 * a 32-byte digest: a longer input keeps its leftmost 32 bytes and a
 * shorter one is left-padded with zeros, which is what ECDSA does with a
 * hash of another size (SEC 1 4.1.3 step 5), so any verifier agrees. The
 * signature is r || s, 64 bytes (PKCS#11 ECDSA format). C_VerifyInit/
 * C_Verify with CKM_ECDSA and a public-key object check such a signature
 * with the device's VERIFY (the same digest rule, the slot's public key),
 * so the module needs no crypto library of its own.
 *
 * It must never accept a template asking for an extractable, non-token
 * or non-P-256 key, and never hold a private key byte (the device has
 * them all).
 */
#include "pkcs11/fw_p11.h"

#include <string.h>

static const uint8_t g_p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                     0xce, 0x3d, 0x03, 0x01, 0x07};

/* ---- key pair generation ------------------------------------------- */

/* One template entry of either half. The device has one kind of key
 * pair: P-256, token, sensitive and never extractable private key; the
 * label is the private key's (else the public key's). Usage flags and
 * CKA_ID are accepted and not stored (CKA_ID is the slot). */
static ck_rv_t kp_attr(const struct ck_attribute *a, ck_object_class_t cls,
                       const uint8_t **ret_label, size_t *ret_label_len)
{
    unsigned long v = 0;
    int b = 0;

    switch (a->type) {
    case CKA_CLASS:
        return fwp11_attr_ulong(a, &v) == 0 && v == cls
                   ? CKR_OK
                   : CKR_TEMPLATE_INCONSISTENT;
    case CKA_KEY_TYPE:
        return fwp11_attr_ulong(a, &v) == 0 && v == CKK_EC
                   ? CKR_OK
                   : CKR_TEMPLATE_INCONSISTENT;
    case CKA_EC_PARAMS:
        return a->value != NULL && a->value_len == sizeof(g_p256_oid) &&
                       memcmp(a->value, g_p256_oid, sizeof(g_p256_oid)) == 0
                   ? CKR_OK
                   : CKR_CURVE_NOT_SUPPORTED;
    case CKA_TOKEN:
        return fwp11_attr_bool(a, &b) == 0 && b ? CKR_OK
                                                : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_EXTRACTABLE:
        return fwp11_attr_bool(a, &b) == 0 && !b
                   ? CKR_OK
                   : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_PRIVATE:
    case CKA_SENSITIVE:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_DERIVE:
    case CKA_MODIFIABLE:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_WRAP:
    case CKA_UNWRAP:
        return fwp11_attr_bool(a, &b) == 0 ? CKR_OK
                                           : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_ID:
        return CKR_OK;
    case CKA_LABEL:
        if (a->value_len > FW_LABEL_MAX || (a->value == NULL && a->value_len))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        if (*ret_label == NULL || cls == CKO_PRIVATE_KEY) {
            *ret_label = a->value;
            *ret_label_len = a->value_len;
        }
        return CKR_OK;
    default:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* The first free P-256 slot, from EC_LIST. */
static ck_rv_t ec_free_slot(uint8_t *ret_slot)
{
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    rv = fwp11_call(FW_CMD_EC_LIST, NULL, 0, rep, sizeof(rep), &len, &st);
    if (rv != CKR_OK)
        return rv;
    if (st != FW_ST_OK)
        return fwp11_status_rv(st);
    if (len != FW_EC_SLOTS * FW_EC_LIST_ENTRY)
        return CKR_DEVICE_ERROR;
    for (size_t i = 0; i < FW_EC_SLOTS; i++) {
        if (!rep[i * FW_EC_LIST_ENTRY]) {
            *ret_slot = (uint8_t)i;
            return CKR_OK;
        }
    }
    return CKR_DEVICE_MEMORY;
}

static ck_rv_t kp_checks(ck_session_handle_t session,
                         const struct ck_mechanism *mech)
{
    struct fwp11_session *s = fwp11_session_get(session);

    if (s == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    if (mech->mechanism != CKM_EC_KEY_PAIR_GEN)
        return CKR_MECHANISM_INVALID;
    if (mech->parameter != NULL || mech->parameter_len != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    if (!(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    if (!g_fwp11.logged_in)
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

/* Both templates, checked; the label to give the device. */
static ck_rv_t kp_templates(const struct ck_attribute *pub, unsigned long npub,
                            const struct ck_attribute *priv,
                            unsigned long npriv, const uint8_t **ret_label,
                            size_t *ret_label_len)
{
    ck_rv_t rv = CKR_OK;

    for (unsigned long i = 0; rv == CKR_OK && i < npub; i++)
        rv = kp_attr(&pub[i], CKO_PUBLIC_KEY, ret_label, ret_label_len);
    for (unsigned long i = 0; rv == CKR_OK && i < npriv; i++)
        rv = kp_attr(&priv[i], CKO_PRIVATE_KEY, ret_label, ret_label_len);
    return rv;
}

ck_rv_t C_GenerateKeyPair(ck_session_handle_t session,
                          struct ck_mechanism *mechanism,
                          struct ck_attribute *public_key_template,
                          unsigned long public_key_attribute_count,
                          struct ck_attribute *private_key_template,
                          unsigned long private_key_attribute_count,
                          ck_object_handle_t *public_key,
                          ck_object_handle_t *private_key)
{
    uint8_t req[1 + FW_LABEL_MAX], rep[FW_EC_PUB_LEN], slot = 0;
    const uint8_t *label = NULL;
    size_t label_len = 0, len = 0;
    int st = 0;
    ck_rv_t rv;

    if (mechanism == NULL || public_key == NULL || private_key == NULL ||
        (public_key_template == NULL && public_key_attribute_count > 0) ||
        (private_key_template == NULL && private_key_attribute_count > 0))
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = kp_checks(session, mechanism);
    if (rv == CKR_OK)
        rv = kp_templates(public_key_template, public_key_attribute_count,
                          private_key_template, private_key_attribute_count,
                          &label, &label_len);
    if (rv == CKR_OK)
        rv = ec_free_slot(&slot);
    if (rv != CKR_OK)
        goto out;
    req[0] = slot;
    if (label_len > 0)
        memcpy(req + 1, label, label_len);
    rv = fwp11_call(FW_CMD_GEN_EC, req, 1 + label_len, rep, sizeof(rep), &len,
                    &st);
    if (rv == CKR_OK)
        rv = fwp11_status_rv(st);
    if (rv == CKR_OK) {
        *public_key = FWP11_H_EC_PUB + slot;
        *private_key = FWP11_H_EC_PRIV + slot;
    }
out:
    fwp11_leave();
    return rv;
}

/* ---- CKM_ECDSA ------------------------------------------------------ */

ck_rv_t C_SignInit(ck_session_handle_t session, struct ck_mechanism *mechanism,
                   ck_object_handle_t key)
{
    struct fwp11_session *s;
    ck_rv_t rv;

    if (mechanism == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (s->op.kind != FWP11_OP_NONE)
        rv = CKR_OPERATION_ACTIVE;
    else if (mechanism->mechanism != CKM_ECDSA)
        rv = CKR_MECHANISM_INVALID;
    else if (mechanism->parameter != NULL || mechanism->parameter_len != 0)
        rv = CKR_MECHANISM_PARAM_INVALID;
    else if (!g_fwp11.logged_in)
        rv = CKR_USER_NOT_LOGGED_IN;
    else if (key < FWP11_H_EC_PRIV || key >= FWP11_H_EC_PRIV + FW_EC_SLOTS)
        rv = CKR_KEY_HANDLE_INVALID;
    if (rv == CKR_OK) {
        s->op.kind = FWP11_OP_SIGN;
        s->op.slot = (uint8_t)(key - FWP11_H_EC_PRIV);
    }
    fwp11_leave();
    return rv;
}

/* in (1..FWP11_ECDSA_IN_MAX bytes) as the 32-byte digest the device
 * signs: its leftmost 32 bytes, left-padded with zeros. */
static void ecdsa_digest(const uint8_t *in, size_t in_len,
                         uint8_t out[FW_HASH_LEN])
{
    size_t take = in_len < FW_HASH_LEN ? in_len : FW_HASH_LEN;

    memset(out, 0, FW_HASH_LEN);
    memcpy(out + FW_HASH_LEN - take, in, take);
}

/* SIGN of in (1..FWP11_ECDSA_IN_MAX bytes) as a 32-byte digest. */
static ck_rv_t ecdsa_run(uint8_t slot, const uint8_t *in, size_t in_len,
                         uint8_t *sig, unsigned long *sig_len)
{
    uint8_t req[1 + FW_HASH_LEN], rep[FW_EC_SIG_LEN];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    req[0] = slot;
    ecdsa_digest(in, in_len, req + 1);
    rv = fwp11_call(FW_CMD_SIGN, req, sizeof(req), rep, sizeof(rep), &len,
                    &st);
    if (rv == CKR_OK)
        rv = fwp11_status_rv(st);
    if (rv == CKR_OK && len != FW_EC_SIG_LEN)
        rv = CKR_DEVICE_ERROR;
    if (rv == CKR_OK) {
        memcpy(sig, rep, FW_EC_SIG_LEN);
        *sig_len = FW_EC_SIG_LEN;
    }
    return rv;
}

/* Single-part sign; a size query (signature NULL) or a buffer too small
 * keeps the operation, anything else ends it (v2.40 5.2). */
ck_rv_t C_Sign(ck_session_handle_t session, unsigned char *data,
               unsigned long data_len, unsigned char *signature,
               unsigned long *signature_len)
{
    struct fwp11_session *s;
    ck_rv_t rv;

    if ((data == NULL && data_len > 0) || signature_len == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    if (s->op.kind != FWP11_OP_SIGN) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if (data_len == 0 || data_len > FWP11_ECDSA_IN_MAX) {
        rv = CKR_DATA_LEN_RANGE;
    } else if (signature == NULL || *signature_len < FW_EC_SIG_LEN) {
        rv = signature == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        *signature_len = FW_EC_SIG_LEN;
        goto out; /* the operation stays */
    } else {
        rv = ecdsa_run(s->op.slot, data, data_len, signature, signature_len);
    }
    s = fwp11_session_get(session); /* a lost link drops the session */
    if (s != NULL)
        explicit_bzero(&s->op, sizeof(s->op));
out:
    fwp11_leave();
    return rv;
}

/* ---- CKM_ECDSA verification ----------------------------------------- */

ck_rv_t C_VerifyInit(ck_session_handle_t session,
                     struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    struct fwp11_session *s;
    ck_rv_t rv;

    if (mechanism == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (s->op.kind != FWP11_OP_NONE)
        rv = CKR_OPERATION_ACTIVE;
    else if (mechanism->mechanism != CKM_ECDSA)
        rv = CKR_MECHANISM_INVALID;
    else if (mechanism->parameter != NULL || mechanism->parameter_len != 0)
        rv = CKR_MECHANISM_PARAM_INVALID;
    else if (!g_fwp11.logged_in)
        rv = CKR_USER_NOT_LOGGED_IN;
    else if (key < FWP11_H_EC_PUB || key >= FWP11_H_EC_PUB + FW_EC_SLOTS)
        rv = CKR_KEY_HANDLE_INVALID;
    if (rv == CKR_OK) {
        s->op.kind = FWP11_OP_VERIFY;
        s->op.slot = (uint8_t)(key - FWP11_H_EC_PUB);
    }
    fwp11_leave();
    return rv;
}

/* VERIFY of sig over in (1..FWP11_ECDSA_IN_MAX bytes) as a digest. */
static ck_rv_t ecdsa_check(uint8_t slot, const uint8_t *in, size_t in_len,
                           const uint8_t *sig)
{
    uint8_t req[1 + FW_HASH_LEN + FW_EC_SIG_LEN], rep[8];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    req[0] = slot;
    ecdsa_digest(in, in_len, req + 1);
    memcpy(req + 1 + FW_HASH_LEN, sig, FW_EC_SIG_LEN);
    rv = fwp11_call(FW_CMD_VERIFY, req, sizeof(req), rep, sizeof(rep), &len,
                    &st);
    if (rv == CKR_OK && st == FW_ST_AUTH)
        rv = CKR_SIGNATURE_INVALID;
    else if (rv == CKR_OK)
        rv = fwp11_status_rv(st);
    return rv;
}

/* Single-part verify of r || s; every outcome ends the operation. */
ck_rv_t C_Verify(ck_session_handle_t session, unsigned char *data,
                 unsigned long data_len, unsigned char *signature,
                 unsigned long signature_len)
{
    struct fwp11_session *s;
    ck_rv_t rv;

    if ((data == NULL && data_len > 0) ||
        (signature == NULL && signature_len > 0))
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    if (s->op.kind != FWP11_OP_VERIFY) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if (data_len == 0 || data_len > FWP11_ECDSA_IN_MAX)
        rv = CKR_DATA_LEN_RANGE;
    else if (signature_len != FW_EC_SIG_LEN)
        rv = CKR_SIGNATURE_LEN_RANGE;
    else
        rv = ecdsa_check(s->op.slot, data, data_len, signature);
    s = fwp11_session_get(session); /* a lost link drops the session */
    if (s != NULL)
        explicit_bzero(&s->op, sizeof(s->op));
out:
    fwp11_leave();
    return rv;
}
