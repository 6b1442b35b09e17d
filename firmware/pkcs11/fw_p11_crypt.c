/*
 * fw_p11_crypt.c - key generation, CKM_AES_GCM, key wrapping and random
 * numbers of the Keyhold device's PKCS#11 face (fw_p11.h).
 * C_GenerateKey(CKM_AES_KEY_GEN) makes a wrapping key inside the device,
 * in its first free slot, with the template's label; C_Encrypt/C_Decrypt
 * are single-part AES-256-GCM run by the device's WRAP (with the caller's
 * IV, protocol 2) and UNWRAP; the key never leaves the device.
 *
 * C_WrapKey(CKM_AES_GCM) wraps an extractable session object under a
 * device key (the device's WRAP: ciphertext || tag, the IV is the
 * caller's). C_UnwrapKey(CKM_AES_GCM) with CKA_TOKEN true sends the blob
 * to the device's UNWRAP_KEY, which decrypts it inside and stores it as
 * an imported wrapping key (AES-256 only; the template obeys the rules of
 * C_GenerateKey); without CKA_TOKEN it is the device's UNWRAP into a new
 * session object. A bad tag answers CKR_WRAPPED_KEY_INVALID.
 *
 * It must never let a plaintext outlive the call (request and reply
 * buffers are wiped) other than into a session object, nor accept a
 * token template asking for an extractable or session key.
 */
#include "pkcs11/fw_p11.h"

#include <string.h>

#define GCM_TAG_BITS (FW_GCM_TAG_LEN * 8u)

/* ---- key generation ------------------------------------------------ */

int fwp11_attr_bool(const struct ck_attribute *a, int *ret)
{
    if (a->value == NULL || a->value_len != 1)
        return -1;
    *ret = *(const unsigned char *)a->value != 0;
    return 0;
}

int fwp11_attr_ulong(const struct ck_attribute *a, unsigned long *ret)
{
    if (a->value == NULL || a->value_len != sizeof(unsigned long))
        return -1;
    memcpy(ret, a->value, sizeof(*ret));
    return 0;
}

/* What a generation template may say: the device's keys are AES-256
 * token keys that are never extractable, so a template asking for a
 * session or an extractable key is refused. CKA_SENSITIVE and CKA_PRIVATE
 * false (pkcs11-tool's defaults) are accepted and the key is made
 * sensitive and private anyway: the device has no weaker kind. Usage
 * flags and CKA_ID are accepted and not stored (the keys do AES-GCM
 * only; CKA_ID is the slot). */
static ck_rv_t keygen_attr(const struct ck_attribute *a,
                           const uint8_t **ret_label, size_t *ret_label_len)
{
    unsigned long v = 0;
    int b = 0;

    switch (a->type) {
    case CKA_CLASS:
        return fwp11_attr_ulong(a, &v) == 0 && v == CKO_SECRET_KEY
                   ? CKR_OK
                   : CKR_TEMPLATE_INCONSISTENT;
    case CKA_KEY_TYPE:
        return fwp11_attr_ulong(a, &v) == 0 && v == CKK_AES
                   ? CKR_OK
                   : CKR_TEMPLATE_INCONSISTENT;
    case CKA_VALUE_LEN:
        return fwp11_attr_ulong(a, &v) == 0 && v == FW_AES_KEY_LEN
                   ? CKR_OK
                   : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_TOKEN:
        return fwp11_attr_bool(a, &b) == 0 && b ? CKR_OK
                                          : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_EXTRACTABLE:
        return fwp11_attr_bool(a, &b) == 0 && !b ? CKR_OK
                                           : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_PRIVATE:
    case CKA_SENSITIVE:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_DERIVE:
    case CKA_MODIFIABLE:
        return fwp11_attr_bool(a, &b) == 0 ? CKR_OK
                                           : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_ID:
        return CKR_OK;
    case CKA_LABEL:
        if (a->value_len > FW_LABEL_MAX || (a->value == NULL && a->value_len))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        *ret_label = a->value;
        *ret_label_len = a->value_len;
        return CKR_OK;
    default:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* The first free wrapping-key slot, from WRAP_LIST. */
static ck_rv_t free_slot(uint8_t *ret_slot)
{
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    rv = fwp11_call(FW_CMD_WRAP_LIST, NULL, 0, rep, sizeof(rep), &len, &st);
    if (rv != CKR_OK)
        return rv;
    if (st != FW_ST_OK)
        return fwp11_status_rv(st);
    if (len != FW_WRAP_SLOTS * FW_WRAP_LIST_ENTRY)
        return CKR_DEVICE_ERROR;
    for (size_t i = 0; i < FW_WRAP_SLOTS; i++) {
        if (!rep[i * FW_WRAP_LIST_ENTRY]) {
            *ret_slot = (uint8_t)i;
            return CKR_OK;
        }
    }
    return CKR_DEVICE_MEMORY;
}

static ck_rv_t keygen_checks(ck_session_handle_t session,
                             const struct ck_mechanism *mech)
{
    struct fwp11_session *s = fwp11_session_get(session);

    if (s == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    if (mech->mechanism != CKM_AES_KEY_GEN)
        return CKR_MECHANISM_INVALID;
    if (mech->parameter != NULL || mech->parameter_len != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    if (!(s->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    if (!g_fwp11.logged_in)
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

ck_rv_t C_GenerateKey(ck_session_handle_t session,
                      struct ck_mechanism *mechanism,
                      struct ck_attribute *templ, unsigned long count,
                      ck_object_handle_t *key)
{
    uint8_t req[1 + FW_LABEL_MAX], rep[8], slot = 0;
    const uint8_t *label = NULL;
    size_t label_len = 0, len = 0;
    int st = 0;
    ck_rv_t rv;

    if (mechanism == NULL || key == NULL || (templ == NULL && count > 0))
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = keygen_checks(session, mechanism);
    for (unsigned long i = 0; rv == CKR_OK && i < count; i++)
        rv = keygen_attr(&templ[i], &label, &label_len);
    if (rv == CKR_OK)
        rv = free_slot(&slot);
    if (rv != CKR_OK)
        goto out;
    req[0] = slot;
    if (label_len > 0)
        memcpy(req + 1, label, label_len);
    rv = fwp11_call(FW_CMD_GEN_WRAP, req, 1 + label_len, rep, sizeof(rep), &len,
                    &st);
    if (rv == CKR_OK)
        rv = fwp11_status_rv(st);
    if (rv == CKR_OK)
        *key = (ck_object_handle_t)slot + 1;
out:
    fwp11_leave();
    return rv;
}

/* ---- AES-GCM -------------------------------------------------------- */

ck_rv_t fwp11_gcm_params(const struct ck_mechanism *mech,
                         struct fwp11_op *op)
{
    const struct ck_gcm_params *p = mech->parameter;

    if (mech->mechanism != CKM_AES_GCM)
        return CKR_MECHANISM_INVALID;
    if (p == NULL || mech->parameter_len != sizeof(*p) || p->iv_ptr == NULL ||
        p->iv_len != FW_GCM_IV_LEN || p->tag_bits != GCM_TAG_BITS ||
        p->aad_len > FW_AAD_MAX || (p->aad_ptr == NULL && p->aad_len > 0))
        return CKR_MECHANISM_PARAM_INVALID;
    memcpy(op->iv, p->iv_ptr, FW_GCM_IV_LEN);
    if (p->aad_len > 0)
        memcpy(op->aad, p->aad_ptr, p->aad_len);
    op->aad_len = p->aad_len;
    return CKR_OK;
}

/* Validate the mechanism and key, and remember them in the session. */
static ck_rv_t gcm_init(ck_session_handle_t session,
                        const struct ck_mechanism *mech, ck_object_handle_t key,
                        enum fwp11_op_kind kind)
{
    struct fwp11_session *s = fwp11_session_get(session);
    struct fwp11_op op;
    ck_rv_t rv;

    if (s == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    if (s->op.kind != FWP11_OP_NONE)
        return CKR_OPERATION_ACTIVE;
    memset(&op, 0, sizeof(op));
    rv = fwp11_gcm_params(mech, &op);
    if (rv != CKR_OK)
        return rv;
    if (!g_fwp11.logged_in)
        return CKR_USER_NOT_LOGGED_IN;
    if (key == 0 || key > FW_WRAP_SLOTS)
        return CKR_KEY_HANDLE_INVALID;
    op.kind = kind;
    op.slot = (uint8_t)(key - 1);
    s->op = op;
    return CKR_OK;
}

ck_rv_t C_EncryptInit(ck_session_handle_t session,
                      struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    ck_rv_t rv;

    if (mechanism == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = gcm_init(session, mechanism, key, FWP11_OP_ENCRYPT);
    fwp11_leave();
    return rv;
}

ck_rv_t C_DecryptInit(ck_session_handle_t session,
                      struct ck_mechanism *mechanism, ck_object_handle_t key)
{
    ck_rv_t rv;

    if (mechanism == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = gcm_init(session, mechanism, key, FWP11_OP_DECRYPT);
    fwp11_leave();
    return rv;
}

/* slot | aad_len | aad | iv | data into req; returns its length. */
static size_t gcm_request(const struct fwp11_op *op, const uint8_t *data,
                          size_t len, uint8_t *req)
{
    req[0] = op->slot;
    fw_put_u16(req + 1, (uint16_t)op->aad_len);
    memcpy(req + 3, op->aad, op->aad_len);
    memcpy(req + 3 + op->aad_len, op->iv, FW_GCM_IV_LEN);
    memcpy(req + 3 + op->aad_len + FW_GCM_IV_LEN, data, len);
    return 3 + op->aad_len + FW_GCM_IV_LEN + len;
}

/* Run op on in (in_len bytes, already bounded) into out: the device
 * reply minus the IV it echoes (WRAP) or all of it (UNWRAP), which must
 * be as long as the input says. */
ck_rv_t fwp11_gcm_run(struct fwp11_op *op, const uint8_t *in, size_t in_len,
                      uint8_t *out, unsigned long *out_len)
{
    static uint8_t req[FW_MAX_PAYLOAD], rep[FW_MAX_PAYLOAD];
    int enc = op->kind == FWP11_OP_ENCRYPT;
    size_t n = gcm_request(op, in, in_len, req), len = 0, skip, want;
    int st = 0;
    ck_rv_t rv;

    rv = fwp11_call(enc ? FW_CMD_WRAP : FW_CMD_UNWRAP, req, n, rep, sizeof(rep),
                    &len, &st);
    if (rv == CKR_OK)
        rv = fwp11_status_rv(st);
    skip = enc ? FW_GCM_IV_LEN : 0;
    want = enc ? FW_GCM_IV_LEN + in_len + FW_GCM_TAG_LEN
               : in_len - FW_GCM_TAG_LEN;
    if (rv == CKR_OK && len != want)
        rv = CKR_DEVICE_ERROR;
    if (rv == CKR_OK) {
        memcpy(out, rep + skip, len - skip);
        *out_len = len - skip;
    }
    explicit_bzero(req, n);
    explicit_bzero(rep, sizeof(rep));
    return rv;
}

/* Single-part encrypt or decrypt; a size query (out NULL) or a buffer too
 * small keeps the operation, anything else ends it (v2.40 5.2). */
static ck_rv_t gcm_call(ck_session_handle_t session, enum fwp11_op_kind kind,
                        const uint8_t *in, unsigned long in_len, uint8_t *out,
                        unsigned long *out_len)
{
    struct fwp11_session *s = fwp11_session_get(session);
    unsigned long need;
    ck_rv_t rv;

    if (s == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    if (s->op.kind != kind)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (kind == FWP11_OP_ENCRYPT) {
        rv = in_len > FW_WRAP_MAX ? CKR_DATA_LEN_RANGE : CKR_OK;
        need = in_len + FW_GCM_TAG_LEN;
    } else {
        rv = in_len < FW_GCM_TAG_LEN || in_len - FW_GCM_TAG_LEN > FW_WRAP_MAX
                 ? CKR_ENCRYPTED_DATA_LEN_RANGE
                 : CKR_OK;
        need = in_len - FW_GCM_TAG_LEN;
    }
    if (rv == CKR_OK && out == NULL) {
        *out_len = need;
        return CKR_OK;
    }
    if (rv == CKR_OK && *out_len < need) {
        *out_len = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (rv == CKR_OK)
        rv = fwp11_gcm_run(&s->op, in, in_len, out, out_len);
    s = fwp11_session_get(session); /* a lost link drops the session */
    if (s != NULL)
        explicit_bzero(&s->op, sizeof(s->op));
    return rv;
}

ck_rv_t C_Encrypt(ck_session_handle_t session, unsigned char *data,
                  unsigned long data_len, unsigned char *encrypted_data,
                  unsigned long *encrypted_data_len)
{
    ck_rv_t rv;

    if ((data == NULL && data_len > 0) || encrypted_data_len == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = gcm_call(session, FWP11_OP_ENCRYPT, data, data_len, encrypted_data,
                  encrypted_data_len);
    fwp11_leave();
    return rv;
}

ck_rv_t C_Decrypt(ck_session_handle_t session, unsigned char *encrypted_data,
                  unsigned long encrypted_data_len, unsigned char *data,
                  unsigned long *data_len)
{
    ck_rv_t rv;

    if ((encrypted_data == NULL && encrypted_data_len > 0) || data_len == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = gcm_call(session, FWP11_OP_DECRYPT, encrypted_data, encrypted_data_len,
                  data, data_len);
    fwp11_leave();
    return rv;
}

/* ---- C_WrapKey / C_UnwrapKey (CKM_AES_GCM) -------------------------- */

/* The key to wrap: an extractable session object. The device's keys
 * never leave it (a handle in their ranges is answered as such without
 * a round trip to see whether its slot is used). */
static ck_rv_t wrap_target(ck_object_handle_t key,
                           const struct fwp11_sobj **ret)
{
    const struct fwp11_sobj *so = fwp11_sobj_get(key);

    if (so != NULL) {
        if (!so->extractable)
            return CKR_KEY_UNEXTRACTABLE;
        *ret = so;
        return CKR_OK;
    }
    if ((key >= 1 && key <= FW_WRAP_SLOTS) ||
        (key >= FWP11_H_EC_PRIV && key < FWP11_H_EC_PRIV + FW_EC_SLOTS))
        return CKR_KEY_UNEXTRACTABLE;
    if (key >= FWP11_H_EC_PUB && key < FWP11_H_EC_PUB + FW_EC_SLOTS)
        return CKR_KEY_NOT_WRAPPABLE;
    return CKR_KEY_HANDLE_INVALID;
}

/* Session, mechanism, login and the device key of a wrap or unwrap
 * (kind ENCRYPT: wrap, DECRYPT: unwrap) into op. */
static ck_rv_t wrap_op(ck_session_handle_t session,
                       const struct ck_mechanism *mech, ck_object_handle_t dk,
                       enum fwp11_op_kind kind, struct fwp11_op *op)
{
    ck_rv_t rv;

    if (fwp11_session_get(session) == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    memset(op, 0, sizeof(*op));
    rv = fwp11_gcm_params(mech, op);
    if (rv != CKR_OK)
        return rv;
    if (!g_fwp11.logged_in)
        return CKR_USER_NOT_LOGGED_IN;
    if (dk == 0 || dk > FW_WRAP_SLOTS)
        return kind == FWP11_OP_ENCRYPT ? CKR_WRAPPING_KEY_HANDLE_INVALID
                                        : CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    op->kind = kind;
    op->slot = (uint8_t)(dk - 1);
    return CKR_OK;
}

/* A device status of a wrap or unwrap as its CKR_*. */
static ck_rv_t wrap_rv(ck_rv_t rv, enum fwp11_op_kind kind)
{
    if (rv == CKR_KEY_HANDLE_INVALID) /* NOKEY: the device key's slot */
        return kind == FWP11_OP_ENCRYPT ? CKR_WRAPPING_KEY_HANDLE_INVALID
                                        : CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    if (rv == CKR_ENCRYPTED_DATA_INVALID) /* AUTH: the tag */
        return CKR_WRAPPED_KEY_INVALID;
    return rv;
}

/* Output: ciphertext || tag (v2.40 GCM); a size query or a buffer too
 * small answers the length (5.2). */
ck_rv_t C_WrapKey(ck_session_handle_t session, struct ck_mechanism *mechanism,
                  ck_object_handle_t wrapping_key, ck_object_handle_t key,
                  unsigned char *wrapped_key, unsigned long *wrapped_key_len)
{
    const struct fwp11_sobj *so = NULL;
    struct fwp11_op op;
    unsigned long need;
    ck_rv_t rv;

    if (mechanism == NULL || wrapped_key_len == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = wrap_op(session, mechanism, wrapping_key, FWP11_OP_ENCRYPT, &op);
    if (rv == CKR_OK)
        rv = wrap_target(key, &so);
    if (rv != CKR_OK)
        goto out;
    need = so->value_len + FW_GCM_TAG_LEN;
    if (wrapped_key == NULL || *wrapped_key_len < need) {
        rv = wrapped_key == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        *wrapped_key_len = need;
        goto out;
    }
    rv = wrap_rv(fwp11_gcm_run(&op, so->value, so->value_len, wrapped_key,
                               wrapped_key_len),
                 FWP11_OP_ENCRYPT);
out:
    explicit_bzero(&op, sizeof(op));
    fwp11_leave();
    return rv;
}

/* CKA_TOKEN true in the template: the key goes into the device. */
static int templ_token(const struct ck_attribute *templ, unsigned long count)
{
    int token = 0;

    for (unsigned long i = 0; i < count; i++)
        if (templ[i].type == CKA_TOKEN &&
            fwp11_attr_bool(&templ[i], &token) != 0)
            token = 0;
    return token;
}

/* UNWRAP_KEY into the device's first free slot: an AES-256 key, the
 * template checked as C_GenerateKey's. */
static ck_rv_t unwrap_token(ck_session_handle_t session, struct fwp11_op *op,
                            const uint8_t *blob, size_t blob_len,
                            const struct ck_attribute *templ,
                            unsigned long count, ck_object_handle_t *ret)
{
    uint8_t req[2 + FW_LABEL_MAX + 3 + FW_AAD_MAX + FW_GCM_IV_LEN +
                FW_AES_KEY_LEN + FW_GCM_TAG_LEN],
        rep[8], slot = 0;
    const uint8_t *label = NULL;
    size_t label_len = 0, n, len = 0;
    int st = 0;
    ck_rv_t rv = CKR_OK;

    if (!(fwp11_session_get(session)->flags & CKF_RW_SESSION))
        return CKR_SESSION_READ_ONLY;
    for (unsigned long i = 0; rv == CKR_OK && i < count; i++)
        rv = keygen_attr(&templ[i], &label, &label_len);
    if (rv == CKR_OK && blob_len != FW_AES_KEY_LEN + FW_GCM_TAG_LEN)
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
    if (rv == CKR_OK)
        rv = free_slot(&slot);
    if (rv != CKR_OK)
        return rv;
    req[0] = slot;
    req[1] = (uint8_t)label_len;
    if (label_len > 0)
        memcpy(req + 2, label, label_len);
    n = 2 + label_len + gcm_request(op, blob, blob_len, req + 2 + label_len);
    rv = fwp11_call(FW_CMD_UNWRAP_KEY, req, n, rep, sizeof(rep), &len, &st);
    if (rv == CKR_OK)
        rv = wrap_rv(fwp11_status_rv(st), FWP11_OP_DECRYPT);
    if (rv == CKR_OK)
        *ret = (ck_object_handle_t)slot + 1;
    explicit_bzero(req, sizeof(req));
    return rv;
}

/* UNWRAP into a session object of 16, 24 or 32 bytes. */
static ck_rv_t unwrap_session(ck_session_handle_t session, struct fwp11_op *op,
                              const uint8_t *blob, size_t blob_len,
                              const struct ck_attribute *templ,
                              unsigned long count, ck_object_handle_t *ret)
{
    uint8_t pt[FW_AES_KEY_LEN] = {0};
    unsigned long pt_len = 0;
    ck_rv_t rv = CKR_WRAPPED_KEY_LEN_RANGE;

    /* the template and a free entry first: pt only stands for the value */
    if (blob_len >= FW_GCM_TAG_LEN)
        rv = fwp11_sobj_new(session, templ, count, pt,
                            blob_len - FW_GCM_TAG_LEN, NULL);
    if (rv == CKR_OK)
        rv = wrap_rv(fwp11_gcm_run(op, blob, blob_len, pt, &pt_len),
                     FWP11_OP_DECRYPT);
    if (rv == CKR_OK)
        rv = fwp11_sobj_new(session, templ, count, pt, pt_len, ret);
    explicit_bzero(pt, sizeof(pt));
    return rv;
}

ck_rv_t C_UnwrapKey(ck_session_handle_t session, struct ck_mechanism *mechanism,
                    ck_object_handle_t unwrapping_key,
                    unsigned char *wrapped_key, unsigned long wrapped_key_len,
                    struct ck_attribute *templ, unsigned long attribute_count,
                    ck_object_handle_t *key)
{
    struct fwp11_op op;
    ck_rv_t rv;

    if (mechanism == NULL || key == NULL ||
        (wrapped_key == NULL && wrapped_key_len > 0) ||
        (templ == NULL && attribute_count > 0))
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = wrap_op(session, mechanism, unwrapping_key, FWP11_OP_DECRYPT, &op);
    if (rv == CKR_OK && templ_token(templ, attribute_count))
        rv = unwrap_token(session, &op, wrapped_key, wrapped_key_len, templ,
                          attribute_count, key);
    else if (rv == CKR_OK)
        rv = unwrap_session(session, &op, wrapped_key, wrapped_key_len, templ,
                            attribute_count, key);
    explicit_bzero(&op, sizeof(op));
    fwp11_leave();
    return rv;
}

/* ---- random --------------------------------------------------------- */

ck_rv_t C_GenerateRandom(ck_session_handle_t session,
                         unsigned char *random_data, unsigned long random_len)
{
    uint8_t req[2], rep[FW_RANDOM_MAX];
    unsigned long done = 0;
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    if (random_data == NULL && random_len > 0)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    if (fwp11_session_get(session) == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    while (rv == CKR_OK && done < random_len) {
        unsigned long want = random_len - done;
        if (want > FW_RANDOM_MAX)
            want = FW_RANDOM_MAX;
        fw_put_u16(req, (uint16_t)want);
        rv = fwp11_call(FW_CMD_RANDOM, req, 2, rep, sizeof(rep), &len, &st);
        if (rv == CKR_OK)
            rv = fwp11_status_rv(st);
        if (rv == CKR_OK && len != want)
            rv = CKR_DEVICE_ERROR;
        if (rv == CKR_OK)
            memcpy(random_data + done, rep, want);
        done += want;
    }
    explicit_bzero(rep, sizeof(rep));
    fwp11_leave();
    return rv;
}
