/*
 * fw_p11_key.c - the objects of the Keyhold device's PKCS#11 face
 * (fw_p11.h): attributes and search. The objects are the device's wrapping
 * keys (AES-256 secret keys, labelled on the device, WRAP_LIST) and its
 * P-256 key pairs (a private key and a public key per used slot, labelled
 * on the device, EC_LIST; CKA_EC_POINT read with GET_PUB). All are token
 * objects, the secret and private keys always sensitive and never
 * extractable, CKA_ID the one byte of their slot; they are visible after
 * C_Login only (the device answers those lists to a logged-in user).
 *
 * It must never put a secret or private key byte into an attribute
 * (CKA_VALUE answers CKR_ATTRIBUTE_SENSITIVE).
 */
#include "pkcs11/fw_p11.h"

#include <string.h>

/* The device's view of its keys. */
struct key_list
{
    uint8_t used[FW_WRAP_SLOTS];
    uint8_t label_len[FW_WRAP_SLOTS];
    uint8_t label[FW_WRAP_SLOTS][FW_LABEL_MAX];
    uint8_t ec_used[FW_EC_SLOTS];
    uint8_t ec_label_len[FW_EC_SLOTS];
    uint8_t ec_label[FW_EC_SLOTS][FW_LABEL_MAX];
    uint8_t ec_have_pub[FW_EC_SLOTS];
    uint8_t ec_pub[FW_EC_SLOTS][FW_EC_PUB_LEN];
};

enum obj_kind {
    OBJ_AES = 0,
    OBJ_EC_PRIV,
    OBJ_EC_PUB,
};

struct obj
{
    enum obj_kind kind;
    size_t slot;
};

/* One list command (WRAP_LIST or EC_LIST) into used/label_len/label. */
static ck_rv_t list_read(uint8_t cmd, size_t slots, uint8_t *used,
                         uint8_t *label_len, uint8_t (*label)[FW_LABEL_MAX])
{
    uint8_t rep[FW_MAX_PAYLOAD];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    rv = fwp11_call(cmd, NULL, 0, rep, sizeof(rep), &len, &st);
    if (rv != CKR_OK)
        return rv;
    if (st != FW_ST_OK)
        return fwp11_status_rv(st);
    if (len != slots * (2u + FW_LABEL_MAX))
        return CKR_DEVICE_ERROR;
    for (size_t i = 0; i < slots; i++) {
        const uint8_t *e = rep + i * (2u + FW_LABEL_MAX);
        used[i] = e[0];
        label_len[i] = e[1] <= FW_LABEL_MAX ? e[1] : FW_LABEL_MAX;
        memcpy(label[i], e + 2, FW_LABEL_MAX);
    }
    return CKR_OK;
}

static ck_rv_t key_list_read(struct key_list *kl)
{
    ck_rv_t rv;

    memset(kl, 0, sizeof(*kl));
    rv = list_read(FW_CMD_WRAP_LIST, FW_WRAP_SLOTS, kl->used, kl->label_len,
                   kl->label);
    if (rv == CKR_OK)
        rv = list_read(FW_CMD_EC_LIST, FW_EC_SLOTS, kl->ec_used,
                       kl->ec_label_len, kl->ec_label);
    return rv;
}

/* The public key of a used P-256 slot, once per key list. */
static ck_rv_t key_list_pub(struct key_list *kl, size_t slot)
{
    uint8_t req[1] = {(uint8_t)slot};
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    if (kl->ec_have_pub[slot])
        return CKR_OK;
    rv = fwp11_call(FW_CMD_GET_PUB, req, 1, kl->ec_pub[slot], FW_EC_PUB_LEN,
                    &len, &st);
    if (rv == CKR_OK)
        rv = fwp11_status_rv(st);
    if (rv == CKR_OK && len != FW_EC_PUB_LEN)
        rv = CKR_DEVICE_ERROR;
    if (rv == CKR_OK)
        kl->ec_have_pub[slot] = 1;
    return rv;
}

/* Handle -> object; 0 if the handle names no used slot. */
static int obj_of(const struct key_list *kl, ck_object_handle_t h,
                  struct obj *ret)
{
    if (h >= 1 && h <= FW_WRAP_SLOTS && kl->used[h - 1]) {
        ret->kind = OBJ_AES;
        ret->slot = h - 1;
    } else if (h >= FWP11_H_EC_PRIV && h < FWP11_H_EC_PRIV + FW_EC_SLOTS &&
               kl->ec_used[h - FWP11_H_EC_PRIV]) {
        ret->kind = OBJ_EC_PRIV;
        ret->slot = h - FWP11_H_EC_PRIV;
    } else if (h >= FWP11_H_EC_PUB && h < FWP11_H_EC_PUB + FW_EC_SLOTS &&
               kl->ec_used[h - FWP11_H_EC_PUB]) {
        ret->kind = OBJ_EC_PUB;
        ret->slot = h - FWP11_H_EC_PUB;
    } else {
        return 0;
    }
    return 1;
}

/* ---- attributes ---------------------------------------------------- */

/* CKA_EC_POINT: the uncompressed point as a DER OCTET STRING. */
#define ATTR_VALUE_MAX (2u + FW_EC_PUB_LEN)

static const uint8_t g_p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                     0xce, 0x3d, 0x03, 0x01, 0x07};

static void put_ulong(uint8_t *buf, size_t *ret_len, unsigned long v)
{
    memcpy(buf, &v, sizeof(v));
    *ret_len = sizeof(v);
}

static void put_bool(uint8_t *buf, size_t *ret_len, int v)
{
    buf[0] = v ? 1 : 0;
    *ret_len = 1;
}

static void put_bytes(uint8_t *buf, size_t *ret_len, const void *p, size_t n)
{
    memcpy(buf, p, n);
    *ret_len = n;
}

/* The usage flags that are true for an object of kind k. */
static int usage_true(enum obj_kind k, ck_attribute_type_t type)
{
    switch (type) {
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
        return k == OBJ_AES;
    case CKA_SIGN:
        return k == OBJ_EC_PRIV;
    case CKA_SENSITIVE:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
        return k != OBJ_EC_PUB;
    default:
        return 0;
    }
}

/* Attributes every object has: class-independent flags, label, id. */
static ck_rv_t attr_common(const struct key_list *kl, const struct obj *o,
                           ck_attribute_type_t type, uint8_t *buf,
                           size_t *ret_len)
{
    int aes = o->kind == OBJ_AES;

    switch (type) {
    case CKA_TOKEN:
    case CKA_PRIVATE:
    case CKA_LOCAL:
        put_bool(buf, ret_len, 1);
        return CKR_OK;
    case CKA_SENSITIVE:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_SIGN:
    case CKA_EXTRACTABLE:
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DESTROYABLE:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_VERIFY:
    case CKA_DERIVE:
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER:
    case CKA_TRUSTED:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_ALWAYS_AUTHENTICATE:
        put_bool(buf, ret_len, usage_true(o->kind, type));
        return CKR_OK;
    case CKA_LABEL:
        put_bytes(buf, ret_len,
                  aes ? kl->label[o->slot] : kl->ec_label[o->slot],
                  aes ? kl->label_len[o->slot] : kl->ec_label_len[o->slot]);
        return CKR_OK;
    case CKA_ID:
        buf[0] = (uint8_t)o->slot;
        *ret_len = 1;
        return CKR_OK;
    default:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* The value of attribute type of object o into buf. */
static ck_rv_t attr_value(const struct key_list *kl, const struct obj *o,
                          ck_attribute_type_t type, uint8_t *buf,
                          size_t *ret_len)
{
    int aes = o->kind == OBJ_AES;

    switch (type) {
    case CKA_CLASS:
        put_ulong(buf, ret_len,
                  aes                       ? CKO_SECRET_KEY
                  : o->kind == OBJ_EC_PRIV ? CKO_PRIVATE_KEY
                                            : CKO_PUBLIC_KEY);
        return CKR_OK;
    case CKA_KEY_TYPE:
        put_ulong(buf, ret_len, aes ? CKK_AES : CKK_EC);
        return CKR_OK;
    case CKA_KEY_GEN_MECHANISM:
        put_ulong(buf, ret_len, aes ? CKM_AES_KEY_GEN : CKM_EC_KEY_PAIR_GEN);
        return CKR_OK;
    case CKA_VALUE_LEN:
        if (!aes)
            return CKR_ATTRIBUTE_TYPE_INVALID;
        put_ulong(buf, ret_len, FW_AES_KEY_LEN);
        return CKR_OK;
    case CKA_EC_PARAMS:
        if (aes)
            return CKR_ATTRIBUTE_TYPE_INVALID;
        put_bytes(buf, ret_len, g_p256_oid, sizeof(g_p256_oid));
        return CKR_OK;
    case CKA_EC_POINT:
        if (o->kind != OBJ_EC_PUB || !kl->ec_have_pub[o->slot])
            return CKR_ATTRIBUTE_TYPE_INVALID;
        buf[0] = 0x04; /* OCTET STRING */
        buf[1] = FW_EC_PUB_LEN;
        memcpy(buf + 2, kl->ec_pub[o->slot], FW_EC_PUB_LEN);
        *ret_len = 2 + FW_EC_PUB_LEN;
        return CKR_OK;
    case CKA_VALUE:
        return aes || o->kind == OBJ_EC_PRIV ? CKR_ATTRIBUTE_SENSITIVE
                                             : CKR_ATTRIBUTE_TYPE_INVALID;
    default:
        return attr_common(kl, o, type, buf, ret_len);
    }
}

/* Logged in, the session exists, and h names a used slot; the public
 * point of a public key is fetched. */
static ck_rv_t object_get(ck_session_handle_t session, ck_object_handle_t h,
                          struct key_list *kl, struct obj *ret)
{
    ck_rv_t rv;

    if (fwp11_session_get(session) == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    if (!g_fwp11.logged_in)
        return CKR_OBJECT_HANDLE_INVALID;
    rv = key_list_read(kl);
    if (rv == CKR_USER_NOT_LOGGED_IN)
        return CKR_OBJECT_HANDLE_INVALID;
    if (rv != CKR_OK)
        return rv;
    if (!obj_of(kl, h, ret))
        return CKR_OBJECT_HANDLE_INVALID;
    if (ret->kind == OBJ_EC_PUB)
        return key_list_pub(kl, ret->slot);
    return CKR_OK;
}

/* One attribute into the caller's template entry; a problem goes to
 * *last (v2.40: the others are still answered). */
static void attr_one(const struct key_list *kl, const struct obj *o,
                     struct ck_attribute *a, ck_rv_t *last)
{
    uint8_t buf[ATTR_VALUE_MAX];
    size_t len = 0;
    ck_rv_t rv = attr_value(kl, o, a->type, buf, &len);

    if (rv != CKR_OK) {
        a->value_len = CK_UNAVAILABLE_INFORMATION;
        *last = rv;
    } else if (a->value == NULL) {
        a->value_len = len;
    } else if (a->value_len < len) {
        a->value_len = CK_UNAVAILABLE_INFORMATION;
        *last = CKR_BUFFER_TOO_SMALL;
    } else {
        memcpy(a->value, buf, len);
        a->value_len = len;
    }
}

/* v2.40 C_GetAttributeValue: every attribute is answered; the return
 * value is the last problem met (sensitive, invalid, too small). */
ck_rv_t C_GetAttributeValue(ck_session_handle_t session,
                            ck_object_handle_t object,
                            struct ck_attribute *templ, unsigned long count)
{
    struct key_list kl;
    struct obj o = {OBJ_AES, 0};
    ck_rv_t rv, last = CKR_OK;

    if (templ == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = object_get(session, object, &kl, &o);
    for (unsigned long i = 0; rv == CKR_OK && i < count; i++)
        attr_one(&kl, &o, &templ[i], &last);
    if (rv == CKR_OK)
        rv = last;
    fwp11_leave();
    return rv;
}

/* ---- search -------------------------------------------------------- */

static int object_matches(const struct key_list *kl, const struct obj *o,
                          const struct ck_attribute *templ, unsigned long count)
{
    uint8_t buf[ATTR_VALUE_MAX];
    size_t len = 0;

    for (unsigned long i = 0; i < count; i++) {
        if (attr_value(kl, o, templ[i].type, buf, &len) != CKR_OK)
            return 0;
        if (templ[i].value_len != len ||
            (len > 0 &&
             (templ[i].value == NULL || memcmp(templ[i].value, buf, len) != 0)))
            return 0;
    }
    return 1;
}

/* Every object handle, in search order. */
static const ck_object_handle_t g_handles[FWP11_OBJECTS_MAX] = {
    1, 2, 3, 4,
    FWP11_H_EC_PRIV, FWP11_H_EC_PRIV + 1, FWP11_H_EC_PRIV + 2,
    FWP11_H_EC_PRIV + 3,
    FWP11_H_EC_PUB, FWP11_H_EC_PUB + 1, FWP11_H_EC_PUB + 2,
    FWP11_H_EC_PUB + 3,
};
_Static_assert(FW_WRAP_SLOTS == 4 && FW_EC_SLOTS == 4,
               "g_handles lists four slots of each kind");

/* The key list for a search; public points only when the template asks
 * for CKA_EC_POINT (GET_PUB costs a scalar multiplication). */
static ck_rv_t find_list(struct key_list *kl,
                         const struct ck_attribute *templ, unsigned long count)
{
    ck_rv_t rv = key_list_read(kl);
    int want_pub = 0;

    for (unsigned long i = 0; i < count; i++)
        want_pub |= templ[i].type == CKA_EC_POINT;
    for (size_t i = 0; rv == CKR_OK && want_pub && i < FW_EC_SLOTS; i++)
        if (kl->ec_used[i])
            rv = key_list_pub(kl, i);
    return rv;
}

ck_rv_t C_FindObjectsInit(ck_session_handle_t session,
                          struct ck_attribute *templ, unsigned long count)
{
    struct fwp11_session *s;
    struct key_list kl;
    struct obj o = {OBJ_AES, 0};
    ck_rv_t rv;

    if (templ == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    if (s->find_active) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    memset(&kl, 0, sizeof(kl));
    if (g_fwp11.logged_in) /* private objects only: none before login */
        rv = find_list(&kl, templ, count);
    if (rv != CKR_OK)
        goto out;
    s = fwp11_session_get(session); /* a lost link drops the session */
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    s->find_count = 0;
    s->find_pos = 0;
    for (size_t i = 0; i < sizeof(g_handles) / sizeof(g_handles[0]); i++)
        if (obj_of(&kl, g_handles[i], &o) &&
            object_matches(&kl, &o, templ, count))
            s->find_hits[s->find_count++] = g_handles[i];
    s->find_active = 1;
out:
    fwp11_leave();
    return rv;
}

ck_rv_t C_FindObjects(ck_session_handle_t session, ck_object_handle_t *object,
                      unsigned long max_object_count,
                      unsigned long *object_count)
{
    struct fwp11_session *s;
    unsigned long n = 0;
    ck_rv_t rv;

    if (object == NULL || object_count == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (!s->find_active)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    while (rv == CKR_OK && n < max_object_count && s->find_pos < s->find_count)
        object[n++] = s->find_hits[s->find_pos++];
    if (rv == CKR_OK)
        *object_count = n;
    fwp11_leave();
    return rv;
}

ck_rv_t C_FindObjectsFinal(ck_session_handle_t session)
{
    struct fwp11_session *s;
    ck_rv_t rv = fwp11_enter();

    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (!s->find_active)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    else
        s->find_active = 0;
    fwp11_leave();
    return rv;
}
