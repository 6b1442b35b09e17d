/*
 * fw_p11_key.c - the objects of the Keyhold device's PKCS#11 face
 * (fw_p11.h): attributes, search, C_CreateObject and C_DestroyObject.
 * The token objects are the device's wrapping keys (AES-256 secret keys,
 * labelled on the device, WRAP_LIST) and its P-256 key pairs (a private
 * key and a public key per used slot, labelled on the device, EC_LIST;
 * CKA_EC_POINT read with GET_PUB), CKA_ID the one byte of their slot. The
 * secret and private keys are sensitive and never leave the device; a
 * wrapping key that UNWRAP_KEY imported is not CKA_LOCAL, nor always
 * sensitive, nor never extractable (its value was outside once). The
 * session objects are AES keys the module holds for C_WrapKey (made by
 * C_CreateObject or C_UnwrapKey). All objects are private: visible after
 * C_Login only (the device answers its lists to a logged-in user).
 *
 * It must never put a device key byte into an attribute (CKA_VALUE
 * answers CKR_ATTRIBUTE_SENSITIVE), nor a session object's value unless
 * that object is extractable and not sensitive; a session object is wiped
 * when it dies.
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
    OBJ_SESSION,
};

struct obj
{
    enum obj_kind kind;
    size_t slot;
    int imported;                /* OBJ_AES: UNWRAP_KEY put it there */
    const struct fwp11_sobj *so; /* OBJ_SESSION */
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

/* Handle -> object; 0 if the handle names no used slot or session
 * object. */
static int obj_of(const struct key_list *kl, ck_object_handle_t h,
                  struct obj *ret)
{
    ret->imported = 0;
    ret->so = NULL;
    if (h >= 1 && h <= FW_WRAP_SLOTS && kl->used[h - 1]) {
        ret->kind = OBJ_AES;
        ret->slot = h - 1;
        ret->imported = kl->used[h - 1] == FW_WRAP_IMPORTED;
    } else if (fwp11_sobj_get(h) != NULL) {
        ret->kind = OBJ_SESSION;
        ret->slot = h - FWP11_H_SOBJ;
        ret->so = fwp11_sobj_get(h);
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

/* The boolean attributes that are true for device object o. */
static int usage_true(const struct obj *o, ck_attribute_type_t type)
{
    enum obj_kind k = o->kind;

    switch (type) {
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_WRAP:
    case CKA_UNWRAP:
        return k == OBJ_AES;
    case CKA_SIGN:
        return k == OBJ_EC_PRIV;
    case CKA_VERIFY:
        return k == OBJ_EC_PUB;
    case CKA_SENSITIVE:
        return k != OBJ_EC_PUB;
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
        return k != OBJ_EC_PUB && !o->imported;
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
        put_bool(buf, ret_len, 1);
        return CKR_OK;
    case CKA_LOCAL:
        put_bool(buf, ret_len, !o->imported);
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
        put_bool(buf, ret_len, usage_true(o, type));
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

/* The booleans of a session object: private, destroyable, its own
 * sensitive and extractable flags, no usage (the module wraps it, it
 * does not compute with it). */
static ck_rv_t attr_sobj_bool(const struct fwp11_sobj *so,
                              ck_attribute_type_t type, uint8_t *buf,
                              size_t *ret_len)
{
    switch (type) {
    case CKA_PRIVATE:
    case CKA_DESTROYABLE:
        put_bool(buf, ret_len, 1);
        return CKR_OK;
    case CKA_SENSITIVE:
        put_bool(buf, ret_len, so->sensitive);
        return CKR_OK;
    case CKA_EXTRACTABLE:
        put_bool(buf, ret_len, so->extractable);
        return CKR_OK;
    case CKA_LOCAL:
        put_bool(buf, ret_len, so->local);
        return CKR_OK;
    case CKA_TOKEN:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_DERIVE:
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER:
    case CKA_TRUSTED:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_ALWAYS_AUTHENTICATE:
        put_bool(buf, ret_len, 0);
        return CKR_OK;
    default:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* The value of attribute type of session object so into buf. */
static ck_rv_t attr_sobj(const struct fwp11_sobj *so, ck_attribute_type_t type,
                         uint8_t *buf, size_t *ret_len)
{
    switch (type) {
    case CKA_CLASS:
        put_ulong(buf, ret_len, CKO_SECRET_KEY);
        return CKR_OK;
    case CKA_KEY_TYPE:
        put_ulong(buf, ret_len, CKK_AES);
        return CKR_OK;
    case CKA_KEY_GEN_MECHANISM:
        put_ulong(buf, ret_len, CK_UNAVAILABLE_INFORMATION);
        return CKR_OK;
    case CKA_VALUE_LEN:
        put_ulong(buf, ret_len, so->value_len);
        return CKR_OK;
    case CKA_VALUE:
        if (so->sensitive || !so->extractable)
            return CKR_ATTRIBUTE_SENSITIVE;
        put_bytes(buf, ret_len, so->value, so->value_len);
        return CKR_OK;
    case CKA_LABEL:
        put_bytes(buf, ret_len, so->label, so->label_len);
        return CKR_OK;
    case CKA_ID:
        put_bytes(buf, ret_len, so->id, so->id_len);
        return CKR_OK;
    default:
        return attr_sobj_bool(so, type, buf, ret_len);
    }
}

/* The value of attribute type of object o into buf. */
static ck_rv_t attr_value(const struct key_list *kl, const struct obj *o,
                          ck_attribute_type_t type, uint8_t *buf,
                          size_t *ret_len)
{
    int aes = o->kind == OBJ_AES;

    if (o->kind == OBJ_SESSION)
        return attr_sobj(o->so, type, buf, ret_len);
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
        put_ulong(buf, ret_len,
                  o->imported ? CK_UNAVAILABLE_INFORMATION
                  : aes       ? CKM_AES_KEY_GEN
                              : CKM_EC_KEY_PAIR_GEN);
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
    memset(kl, 0, sizeof(*kl));
    if (obj_of(kl, h, ret)) /* a session object: no device round trip */
        return CKR_OK;
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
    struct obj o = {OBJ_AES, 0, 0, NULL};
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

/* Every device object handle, in search order (session objects come
 * after them). */
static const ck_object_handle_t g_handles[FW_WRAP_SLOTS + 2 * FW_EC_SLOTS] = {
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
    struct obj o = {OBJ_AES, 0, 0, NULL};
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
    for (size_t i = 0; g_fwp11.logged_in && i < FWP11_SOBJ_MAX; i++)
        if (obj_of(&kl, FWP11_H_SOBJ + i, &o) &&
            object_matches(&kl, &o, templ, count))
            s->find_hits[s->find_count++] = FWP11_H_SOBJ + i;
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

/* ---- session objects ------------------------------------------------ */

struct fwp11_sobj *fwp11_sobj_get(ck_object_handle_t h)
{
    if (h < FWP11_H_SOBJ || h >= FWP11_H_SOBJ + FWP11_SOBJ_MAX ||
        !g_fwp11.sobjs[h - FWP11_H_SOBJ].used)
        return NULL;
    return &g_fwp11.sobjs[h - FWP11_H_SOBJ];
}

void fwp11_sobj_drop(ck_session_handle_t owner)
{
    for (size_t i = 0; i < FWP11_SOBJ_MAX; i++)
        if (owner == 0 || g_fwp11.sobjs[i].owner == owner)
            explicit_bzero(&g_fwp11.sobjs[i], sizeof(g_fwp11.sobjs[i]));
}

/* A session-object template, parsed. */
struct sobj_tmpl
{
    const uint8_t *value;
    size_t value_len;
    unsigned long value_len_attr; /* CKA_VALUE_LEN, 0 if absent */
    const uint8_t *label;
    size_t label_len;
    const uint8_t *id;
    size_t id_len;
    int sensitive;
    int extractable;
};

/* Bytes of a variable-length attribute up to max. */
static ck_rv_t sobj_bytes(const struct ck_attribute *a, size_t max,
                          const uint8_t **ret, size_t *ret_len)
{
    if (a->value_len > max || (a->value == NULL && a->value_len > 0))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    *ret = a->value;
    *ret_len = a->value_len;
    return CKR_OK;
}

/* One entry of a session-object template: an AES secret key that is
 * not a token object; CKA_PRIVATE false is accepted and the object made
 * private anyway (like the device's keys); usage flags are accepted and
 * not stored (the module only wraps the key). */
static ck_rv_t sobj_attr(const struct ck_attribute *a, struct sobj_tmpl *t)
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
    case CKA_TOKEN:
        return fwp11_attr_bool(a, &b) == 0 && !b ? CKR_OK
                                                 : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_VALUE_LEN:
        return fwp11_attr_ulong(a, &t->value_len_attr) == 0
                   ? CKR_OK
                   : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_SENSITIVE:
        return fwp11_attr_bool(a, &t->sensitive) == 0
                   ? CKR_OK
                   : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_EXTRACTABLE:
        return fwp11_attr_bool(a, &t->extractable) == 0
                   ? CKR_OK
                   : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_PRIVATE:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_DERIVE:
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DESTROYABLE:
        return fwp11_attr_bool(a, &b) == 0 ? CKR_OK
                                           : CKR_ATTRIBUTE_VALUE_INVALID;
    case CKA_VALUE:
        return sobj_bytes(a, FW_AES_KEY_LEN, &t->value, &t->value_len);
    case CKA_LABEL:
        return sobj_bytes(a, FW_LABEL_MAX, &t->label, &t->label_len);
    case CKA_ID:
        return sobj_bytes(a, FWP11_SOBJ_ID_MAX, &t->id, &t->id_len);
    default:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* The whole template; value (value_len bytes) comes from C_UnwrapKey,
 * or from CKA_VALUE when value is NULL. */
static ck_rv_t sobj_parse(const struct ck_attribute *templ,
                          unsigned long count, const uint8_t *value,
                          size_t value_len, struct sobj_tmpl *t)
{
    ck_rv_t rv = CKR_OK;

    memset(t, 0, sizeof(*t));
    t->extractable = 1;
    for (unsigned long i = 0; rv == CKR_OK && i < count; i++)
        rv = sobj_attr(&templ[i], t);
    if (rv != CKR_OK)
        return rv;
    if (value != NULL && t->value != NULL)
        return CKR_TEMPLATE_INCONSISTENT; /* C_UnwrapKey gives the value */
    if (value != NULL) {
        t->value = value;
        t->value_len = value_len;
    }
    if (t->value == NULL)
        return CKR_TEMPLATE_INCOMPLETE;
    if (t->value_len != 16 && t->value_len != 24 && t->value_len != 32)
        return value != NULL ? CKR_WRAPPED_KEY_LEN_RANGE
                             : CKR_ATTRIBUTE_VALUE_INVALID;
    if (t->value_len_attr != 0 && t->value_len_attr != t->value_len)
        return CKR_TEMPLATE_INCONSISTENT;
    return CKR_OK;
}

ck_rv_t fwp11_sobj_new(ck_session_handle_t owner,
                       const struct ck_attribute *templ, unsigned long count,
                       const uint8_t *value, size_t value_len,
                       ck_object_handle_t *ret)
{
    struct fwp11_sobj *so;
    struct sobj_tmpl t;
    size_t i = 0;
    ck_rv_t rv = sobj_parse(templ, count, value, value_len, &t);

    if (rv != CKR_OK)
        return rv;
    while (i < FWP11_SOBJ_MAX && g_fwp11.sobjs[i].used)
        i++;
    if (i == FWP11_SOBJ_MAX)
        return CKR_HOST_MEMORY;
    if (ret == NULL) /* a template check only */
        return CKR_OK;
    so = &g_fwp11.sobjs[i];
    memset(so, 0, sizeof(*so));
    so->used = 1;
    so->owner = owner;
    memcpy(so->value, t.value, t.value_len);
    so->value_len = t.value_len;
    if (t.label_len > 0)
        memcpy(so->label, t.label, t.label_len);
    so->label_len = t.label_len;
    if (t.id_len > 0)
        memcpy(so->id, t.id, t.id_len);
    so->id_len = t.id_len;
    so->sensitive = t.sensitive;
    so->extractable = t.extractable;
    *ret = FWP11_H_SOBJ + (ck_object_handle_t)i;
    return CKR_OK;
}

/* A session AES key from its value (CKA_VALUE, 16, 24 or 32 bytes), for
 * C_WrapKey; token objects come from C_GenerateKey or C_UnwrapKey. */
ck_rv_t C_CreateObject(ck_session_handle_t session, struct ck_attribute *templ,
                       unsigned long count, ck_object_handle_t *object)
{
    ck_rv_t rv;

    if (object == NULL || (templ == NULL && count > 0))
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    if (fwp11_session_get(session) == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (!g_fwp11.logged_in)
        rv = CKR_USER_NOT_LOGGED_IN;
    else
        rv = fwp11_sobj_new(session, templ, count, NULL, 0, object);
    fwp11_leave();
    return rv;
}

/* Session objects die here; the device has no command to delete a key,
 * so its objects answer CKR_ACTION_PROHIBITED (CKA_DESTROYABLE false). */
ck_rv_t C_DestroyObject(ck_session_handle_t session, ck_object_handle_t object)
{
    struct fwp11_sobj *so;
    ck_rv_t rv = fwp11_enter();

    if (rv != CKR_OK)
        return rv;
    so = fwp11_sobj_get(object);
    if (fwp11_session_get(session) == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (so != NULL)
        explicit_bzero(so, sizeof(*so));
    else if ((object >= 1 && object <= FW_WRAP_SLOTS) ||
             (object >= FWP11_H_EC_PRIV &&
              object < FWP11_H_EC_PRIV + FW_EC_SLOTS) ||
             (object >= FWP11_H_EC_PUB &&
              object < FWP11_H_EC_PUB + FW_EC_SLOTS))
        rv = g_fwp11.logged_in ? CKR_ACTION_PROHIBITED
                               : CKR_OBJECT_HANDLE_INVALID;
    else
        rv = CKR_OBJECT_HANDLE_INVALID;
    fwp11_leave();
    return rv;
}
