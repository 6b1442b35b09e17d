/*
 * fw_p11_key.c - objects, key generation, AES-GCM and random numbers of
 * the Keyhold device's PKCS#11 face (fw_p11.h). The objects are the
 * device's wrapping keys: AES-256 secret keys, token and private, always
 * sensitive and never extractable, labelled on the device (WRAP_LIST),
 * with CKA_ID the one byte of their slot; they are visible after C_Login
 * only. CKM_AES_GCM takes the caller's 12-byte IV, AAD up to FW_AAD_MAX
 * bytes and a 128-bit tag, and runs as the device's WRAP and UNWRAP.
 *
 * It must never put a key byte into an attribute (CKA_VALUE answers
 * CKR_ATTRIBUTE_SENSITIVE), and wipes every request and reply buffer that
 * held a plaintext.
 */
#include "pkcs11/fw_p11.h"

#include <string.h>

/* The device's view of its wrapping keys. */
struct key_list
{
    uint8_t used[FW_WRAP_SLOTS];
    uint8_t label_len[FW_WRAP_SLOTS];
    uint8_t label[FW_WRAP_SLOTS][FW_LABEL_MAX];
};

static ck_rv_t key_list_read(struct key_list *kl)
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
        const uint8_t *e = rep + i * FW_WRAP_LIST_ENTRY;
        kl->used[i] = e[0];
        kl->label_len[i] = e[1] <= FW_LABEL_MAX ? e[1] : FW_LABEL_MAX;
        memcpy(kl->label[i], e + 2, FW_LABEL_MAX);
    }
    return CKR_OK;
}

/* ---- attributes ---------------------------------------------------- */

#define ATTR_VALUE_MAX FW_LABEL_MAX

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

/* The value of attribute type of the key in slot into buf. */
static ck_rv_t attr_value(const struct key_list *kl, size_t slot,
                          ck_attribute_type_t type, uint8_t *buf,
                          size_t *ret_len)
{
    switch (type) {
    case CKA_CLASS:
        put_ulong(buf, ret_len, CKO_SECRET_KEY);
        return CKR_OK;
    case CKA_KEY_TYPE:
        put_ulong(buf, ret_len, CKK_AES);
        return CKR_OK;
    case CKA_VALUE_LEN:
        put_ulong(buf, ret_len, FW_AES_KEY_LEN);
        return CKR_OK;
    case CKA_KEY_GEN_MECHANISM:
        put_ulong(buf, ret_len, CKM_AES_KEY_GEN);
        return CKR_OK;
    case CKA_TOKEN:
    case CKA_PRIVATE:
    case CKA_SENSITIVE:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_LOCAL:
    case CKA_ENCRYPT:
    case CKA_DECRYPT:
        put_bool(buf, ret_len, 1);
        return CKR_OK;
    case CKA_EXTRACTABLE:
    case CKA_MODIFIABLE:
    case CKA_COPYABLE:
    case CKA_DESTROYABLE:
    case CKA_WRAP:
    case CKA_UNWRAP:
    case CKA_SIGN:
    case CKA_VERIFY:
    case CKA_DERIVE:
    case CKA_TRUSTED:
    case CKA_WRAP_WITH_TRUSTED:
    case CKA_ALWAYS_AUTHENTICATE:
        put_bool(buf, ret_len, 0);
        return CKR_OK;
    case CKA_LABEL:
        memcpy(buf, kl->label[slot], kl->label_len[slot]);
        *ret_len = kl->label_len[slot];
        return CKR_OK;
    case CKA_ID:
        buf[0] = (uint8_t)slot;
        *ret_len = 1;
        return CKR_OK;
    case CKA_VALUE:
        return CKR_ATTRIBUTE_SENSITIVE;
    default:
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

/* Logged in, the session exists, and obj names a used slot. */
static ck_rv_t object_slot(ck_session_handle_t session, ck_object_handle_t obj,
                           struct key_list *kl, size_t *ret_slot)
{
    ck_rv_t rv;

    if (fwp11_session_get(session) == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    if (!g_fwp11.logged_in || obj == 0 || obj > FW_WRAP_SLOTS)
        return CKR_OBJECT_HANDLE_INVALID;
    rv = key_list_read(kl);
    if (rv == CKR_USER_NOT_LOGGED_IN)
        return CKR_OBJECT_HANDLE_INVALID;
    if (rv != CKR_OK)
        return rv;
    if (!kl->used[obj - 1])
        return CKR_OBJECT_HANDLE_INVALID;
    *ret_slot = obj - 1;
    return CKR_OK;
}

/* One attribute into the caller's template entry; a problem goes to
 * *last (v2.40: the others are still answered). */
static void attr_one(const struct key_list *kl, size_t slot,
                     struct ck_attribute *a, ck_rv_t *last)
{
    uint8_t buf[ATTR_VALUE_MAX];
    size_t len = 0;
    ck_rv_t rv = attr_value(kl, slot, a->type, buf, &len);

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
    size_t slot = 0;
    ck_rv_t rv, last = CKR_OK;

    if (templ == NULL && count > 0)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = object_slot(session, object, &kl, &slot);
    for (unsigned long i = 0; rv == CKR_OK && i < count; i++)
        attr_one(&kl, slot, &templ[i], &last);
    if (rv == CKR_OK)
        rv = last;
    fwp11_leave();
    return rv;
}

/* ---- search -------------------------------------------------------- */

static int object_matches(const struct key_list *kl, size_t slot,
                          const struct ck_attribute *templ, unsigned long count)
{
    uint8_t buf[ATTR_VALUE_MAX];
    size_t len = 0;

    for (unsigned long i = 0; i < count; i++) {
        if (attr_value(kl, slot, templ[i].type, buf, &len) != CKR_OK)
            return 0;
        if (templ[i].value_len != len ||
            (len > 0 &&
             (templ[i].value == NULL || memcmp(templ[i].value, buf, len) != 0)))
            return 0;
    }
    return 1;
}

ck_rv_t C_FindObjectsInit(ck_session_handle_t session,
                          struct ck_attribute *templ, unsigned long count)
{
    struct fwp11_session *s;
    struct key_list kl;
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
    if (g_fwp11.logged_in) { /* private objects only: none before login */
        rv = key_list_read(&kl);
        if (rv != CKR_OK)
            goto out;
    }
    s = fwp11_session_get(session); /* a lost link drops the session */
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    s->find_count = 0;
    s->find_pos = 0;
    for (size_t i = 0; i < FW_WRAP_SLOTS; i++)
        if (kl.used[i] && object_matches(&kl, i, templ, count))
            s->find_hits[s->find_count++] = i + 1;
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
