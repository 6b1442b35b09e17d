/*
 * pkcs11.c - the PKCS#11 backend of the hardware layer (v2.40 tokens:
 * SoftHSM2 in CI, network and USB HSMs in production).
 *
 * Owns the process-wide table of loaded modules (one C_Initialize and one
 * C_Finalize per module, however many handles use it), and per handle one
 * read-write session logged in as the user, the handle of the AES-256 KEK,
 * and a copy of the user PIN in locked memory, kept only to log in again
 * when the token drops the session. It wraps the barrier root key with
 * CKM_AES_GCM or CKM_AES_KEY_WRAP_PAD; the KEK never leaves the token.
 * It also creates, uses (CKM_AES_GCM with the caller's IV), describes and
 * destroys named AES-256 keys for transit's managed keys (hsm.h), found
 * by label and their handles remembered until the session is lost.
 *
 * It must never log, never put a PIN or key byte in an error message, and
 * never return an unwrapped secret that failed authentication.
 *
 * Blob layout (the caller stores it; version 1):
 *   GCM: version(1) | mechanism(1) | iv(12) | ciphertext | tag(16)
 *        AAD given to the token = version | mechanism | caller's aad.
 *   KWP: version(1) | mechanism(1) | RFC 5649 wrap of (SHA-256(version |
 *        mechanism | caller's aad) | length(2) | secret | zero padding to
 *        a multiple of 8).
 * Key wrap has no AAD input, so the KWP form binds the AAD (and header) by
 * wrapping its SHA-256 with the secret and comparing it, in constant time,
 * after unwrapping; the key wrap's integrity check covers the whole
 * payload. The payload is a whole number of 8-byte blocks, so it means the
 * same whether a token reads CKM_AES_KEY_WRAP_PAD (0x210A) as RFC 5649
 * (SoftHSM2) or as PKCS#7 padding plus RFC 3394 (PKCS#11 v2.40's text).
 * Unwrap follows the mechanism byte of the blob, so blobs written before a
 * change of the configured mechanism still open.
 *
 * <p11-kit/pkcs11.h> is included here only, with CRYPTOKI_GNU: its default
 * compat mode #defines common words (value, count, aad_len...).
 */
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/secret.h"
#include "hsm.h"
#include "hsm_backend.h"

#define P11_MODULES_MAX         8   /* distinct modules loaded at once */
#define P11_SLOTS_MAX           256 /* slots looked at in one module */
#define P11_LABEL_BYTES         32  /* token labels: fixed, space padded */
#define P11_KEY_LABEL_BYTES_MAX 128
#define P11_PIN_BYTES_MAX       255
#define P11_KEY_BYTES           32 /* AES-256 KEK */
#define P11_KEY_ID_BYTES        16
#define P11_NAMED_CACHE_MAX     16 /* named-key handles remembered */

#define BLOB_VERSION      1
#define BLOB_HEADER_BYTES 2
#define GCM_IV_BYTES      12
#define GCM_TAG_BYTES     16
#define KWP_HASH_BYTES    32 /* SHA-256 of header | aad */
#define KWP_LEN_BYTES     2  /* secret length, big endian */
#define KWP_BLOCK_BYTES   8
#define kwp_round_up(n)                                                        \
    (((n) + KWP_BLOCK_BYTES - 1) / KWP_BLOCK_BYTES * KWP_BLOCK_BYTES)
#define KWP_PLAIN_BYTES_MAX                                                    \
    kwp_round_up(KWP_HASH_BYTES + KWP_LEN_BYTES + HSM_SECRET_BYTES_MAX)

_Static_assert(BLOB_HEADER_BYTES + GCM_IV_BYTES + GCM_TAG_BYTES <=
                   HSM_WRAP_OVERHEAD,
               "GCM blob fits the advertised overhead");
_Static_assert(BLOB_HEADER_BYTES + KWP_HASH_BYTES + KWP_LEN_BYTES +
                       (KWP_BLOCK_BYTES - 1) + 2 * KWP_BLOCK_BYTES <=
                   HSM_WRAP_OVERHEAD,
               "KWP blob fits the advertised overhead");
_Static_assert(HSM_SECRET_BYTES_MAX <= 0xffff,
               "the KWP payload's 16-bit length holds any secret length");
_Static_assert(HSM_MECH_AES_GCM < 256 && HSM_MECH_AES_KEY_WRAP_PAD < 256,
               "mechanism ids fit the blob's mechanism byte");

struct p11_module
{
    void *dl; /* NULL: free entry */
    struct ck_function_list *fn;
    unsigned long refs;
    bool finalize; /* we initialised it, so we finalise */
};

static struct p11_module p11_modules[P11_MODULES_MAX];
static pthread_mutex_t p11_modules_lock = PTHREAD_MUTEX_INITIALIZER;

struct p11_ctx
{
    struct p11_module *module;
    struct ck_function_list *fn;
    ck_slot_id_t slot;
    bool by_label;
    unsigned char token_label[P11_LABEL_BYTES];
    char key_label[P11_KEY_LABEL_BYTES_MAX + 1];
    enum hsm_mechanism mechanism;
    ck_session_handle_t session;
    bool session_open;
    ck_object_handle_t key;
    char *pin; /* kh_secure_alloc'ed, pin_size bytes */
    size_t pin_size;
    size_t pin_len;
    /* Handles of recently used named keys (hsm.h); emptied with the
     * session, since private object handles die with the login. */
    struct
    {
        char label[HSM_KEY_LABEL_BYTES_MAX + 1];
        ck_object_handle_t key;
    } named[P11_NAMED_CACHE_MAX];
    size_t named_next;
};

/* ---- CKR names ---------------------------------------------------- */

static const struct
{
    ck_rv_t rv;
    const char *name;
} p11_rv_names[] = {
    {CKR_OK, "CKR_OK"},
    {CKR_CANCEL, "CKR_CANCEL"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
    {CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"},
    {CKR_CANT_LOCK, "CKR_CANT_LOCK"},
    {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY"},
    {CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"},
    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
    {CKR_ACTION_PROHIBITED, "CKR_ACTION_PROHIBITED"},
    {CKR_DATA_INVALID, "CKR_DATA_INVALID"},
    {CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED"},
    {CKR_ENCRYPTED_DATA_INVALID, "CKR_ENCRYPTED_DATA_INVALID"},
    {CKR_ENCRYPTED_DATA_LEN_RANGE, "CKR_ENCRYPTED_DATA_LEN_RANGE"},
    {CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"},
    {CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE"},
    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
    {CKR_KEY_FUNCTION_NOT_PERMITTED, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
    {CKR_KEY_NOT_WRAPPABLE, "CKR_KEY_NOT_WRAPPABLE"},
    {CKR_KEY_UNEXTRACTABLE, "CKR_KEY_UNEXTRACTABLE"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"},
    {CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"},
    {CKR_OPERATION_NOT_INITIALIZED, "CKR_OPERATION_NOT_INITIALIZED"},
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
    {CKR_PIN_INVALID, "CKR_PIN_INVALID"},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED"},
    {CKR_SESSION_COUNT, "CKR_SESSION_COUNT"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
    {CKR_SESSION_EXISTS, "CKR_SESSION_EXISTS"},
    {CKR_SESSION_READ_WRITE_SO_EXISTS, "CKR_SESSION_READ_WRITE_SO_EXISTS"},
    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED"},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
    {CKR_UNWRAPPING_KEY_HANDLE_INVALID, "CKR_UNWRAPPING_KEY_HANDLE_INVALID"},
    {CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED"},
    {CKR_USER_TYPE_INVALID, "CKR_USER_TYPE_INVALID"},
    {CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"},
    {CKR_WRAPPED_KEY_INVALID, "CKR_WRAPPED_KEY_INVALID"},
    {CKR_WRAPPED_KEY_LEN_RANGE, "CKR_WRAPPED_KEY_LEN_RANGE"},
    {CKR_WRAPPING_KEY_HANDLE_INVALID, "CKR_WRAPPING_KEY_HANDLE_INVALID"},
    {CKR_WRAPPING_KEY_SIZE_RANGE, "CKR_WRAPPING_KEY_SIZE_RANGE"},
    {CKR_WRAPPING_KEY_TYPE_INCONSISTENT, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT"},
    {CKR_RANDOM_NO_RNG, "CKR_RANDOM_NO_RNG"},
    {CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
    {CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
    {CKR_MUTEX_BAD, "CKR_MUTEX_BAD"},
    {CKR_LIBRARY_LOAD_FAILED, "CKR_LIBRARY_LOAD_FAILED"},
    {CKR_PIN_TOO_WEAK, "CKR_PIN_TOO_WEAK"},
    {CKR_FUNCTION_REJECTED, "CKR_FUNCTION_REJECTED"},
};

/* The CKR_* name of rv, or NULL for a code outside the table. */
static const char *p11_rv_name(ck_rv_t rv)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(p11_rv_names); i++) {
        if (p11_rv_names[i].rv == rv)
            return p11_rv_names[i].name;
    }
    return NULL;
}

/* "pkcs11: <what>: CKR_NAME" into errmsg; returns r. */
static int p11_fail(char *errmsg, size_t errmsg_size, int r, const char *what,
                    ck_rv_t rv)
{
    const char *name = p11_rv_name(rv);

    if (name != NULL)
        return kh_errmsg(errmsg, errmsg_size, r, "pkcs11: %s: %s", what, name);
    return kh_errmsg(errmsg, errmsg_size, r, "pkcs11: %s: CKR 0x%lx", what,
                     (unsigned long)rv);
}

/* The token or its session went away: worth one reopen and login. A stale
 * key handle is in the list because another application's C_Logout
 * invalidates private object handles (PKCS#11 v2.40 §5.6). */
static bool p11_rv_session_lost(ck_rv_t rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
           rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
           rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_KEY_HANDLE_INVALID ||
           rv == CKR_OBJECT_HANDLE_INVALID ||
           rv == CKR_WRAPPING_KEY_HANDLE_INVALID ||
           rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID;
}

/* Absent for now (unplugged, not yet attached): the caller may retry. */
static int p11_rv_to_unavail(ck_rv_t rv)
{
    if (rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT)
        return KH_EUNAVAIL;
    return KH_EHSM;
}

static ck_mechanism_type_t p11_mechanism_type(enum hsm_mechanism mechanism)
{
    if (mechanism == HSM_MECH_AES_KEY_WRAP_PAD)
        return CKM_AES_KEY_WRAP_PAD;
    return CKM_AES_GCM;
}

static const char *p11_mechanism_name(enum hsm_mechanism mechanism)
{
    if (mechanism == HSM_MECH_AES_KEY_WRAP_PAD)
        return "CKM_AES_KEY_WRAP_PAD";
    return "CKM_AES_GCM";
}

/* ---- modules: one initialisation per loaded library --------------- */

/* Initialise the module behind dl in a free table entry. Called with
 * p11_modules_lock held. */
static int p11_module_init(struct p11_module *m, void *dl, const char *lib,
                           char *errmsg, size_t errmsg_size)
{
    struct ck_c_initialize_args args;
    CK_C_GetFunctionList get_list;
    struct ck_function_list *fn = NULL;
    ck_rv_t rv;

    KH_ASSERT(m->dl == NULL);
    KH_ASSERT(m->refs == 0);
    *(void **)&get_list = dlsym(dl, "C_GetFunctionList");
    if (get_list == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: %s is not a PKCS#11 module "
                         "(no C_GetFunctionList)",
                         lib);
    rv = get_list(&fn);
    if (rv != CKR_OK || fn == NULL)
        return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_GetFunctionList", rv);
    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    rv = fn->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_Initialize", rv);
    m->dl = dl;
    m->fn = fn;
    m->refs = 1;
    m->finalize = rv == CKR_OK;
    return 0;
}

/* The table entry already holding dl, or else a free entry (dl NULL), or
 * NULL when the table is full. Called with p11_modules_lock held. */
static struct p11_module *p11_module_slot(void *dl)
{
    struct p11_module *free_entry = NULL;
    size_t i;

    for (i = 0; i < P11_MODULES_MAX; i++) {
        if (p11_modules[i].dl == dl)
            return &p11_modules[i];
        if (p11_modules[i].dl == NULL && free_entry == NULL)
            free_entry = &p11_modules[i];
    }
    return free_entry;
}

/* Load lib (or share the entry of an already loaded copy: dlopen returns
 * the same handle for the same object, whatever path reached it). */
static int p11_module_acquire(const char *lib, struct p11_module **ret_module,
                              char *errmsg, size_t errmsg_size)
{
    struct p11_module *m;
    void *dl;
    int r = KH_EINTERNAL;

    dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: cannot load module %s: %s", lib, dlerror());
    (void)pthread_mutex_lock(&p11_modules_lock);
    m = p11_module_slot(dl);
    if (m == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                      "pkcs11: more than %d modules loaded", P11_MODULES_MAX);
        goto out;
    }
    if (m->dl == dl) {
        m->refs++; /* our dlopen reference is dropped at out: */
    } else {
        r = p11_module_init(m, dl, lib, errmsg, errmsg_size);
        if (r != 0)
            goto out;
        dl = NULL; /* the entry holds it now */
    }
    *ret_module = m;
    r = 0; /* success */
out:
    (void)pthread_mutex_unlock(&p11_modules_lock);
    if (dl != NULL)
        (void)dlclose(dl);
    return r;
}

/* Drop one reference; the last one finalises and unloads the module.
 * Called with p11_modules_lock held. */
static void p11_module_release_locked(struct p11_module *m)
{
    KH_ASSERT(m->dl != NULL);
    KH_ASSERT(m->refs > 0);
    m->refs--;
    if (m->refs > 0)
        return;
    if (m->finalize)
        (void)m->fn->C_Finalize(NULL);
    (void)dlclose(m->dl);
    memset(m, 0, sizeof(*m));
}

static void p11_module_release(struct p11_module *m)
{
    if (m == NULL)
        return;
    (void)pthread_mutex_lock(&p11_modules_lock);
    p11_module_release_locked(m);
    (void)pthread_mutex_unlock(&p11_modules_lock);
}

/* ---- tokens ------------------------------------------------------- */

/* label, space padded to the fixed 32 bytes of CK_TOKEN_INFO. */
static int p11_label_pad(const char *label,
                         unsigned char padded[P11_LABEL_BYTES], char *errmsg,
                         size_t errmsg_size)
{
    size_t len;

    if (label == NULL || label[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: token_label is empty");
    len = strlen(label);
    if (len > P11_LABEL_BYTES)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: token label \"%s\" is longer than %d bytes",
                         label, P11_LABEL_BYTES);
    memset(padded, ' ', P11_LABEL_BYTES);
    memcpy(padded, label, len);
    return 0;
}

/* The slots of fn (present tokens only when present). */
static ck_rv_t p11_slot_list(struct ck_function_list *fn, bool present,
                             ck_slot_id_t slots[P11_SLOTS_MAX],
                             unsigned long *ret_count)
{
    unsigned long count = P11_SLOTS_MAX;
    ck_rv_t rv;

    rv = fn->C_GetSlotList(present ? 1 : 0, slots, &count);
    if (rv != CKR_OK)
        return rv;
    KH_ASSERT(count <= P11_SLOTS_MAX);
    *ret_count = count;
    return CKR_OK;
}

/* Count the initialised tokens carrying the padded label; *ret_slot is
 * set when there is exactly one. */
static ck_rv_t p11_slot_by_label(struct ck_function_list *fn,
                                 const unsigned char label[P11_LABEL_BYTES],
                                 ck_slot_id_t *ret_slot,
                                 unsigned long *ret_found)
{
    ck_slot_id_t slots[P11_SLOTS_MAX];
    struct ck_token_info info;
    unsigned long count = 0, found = 0, i;
    ck_slot_id_t slot = 0;
    ck_rv_t rv;

    rv = p11_slot_list(fn, true, slots, &count);
    if (rv != CKR_OK)
        return rv;
    for (i = 0; i < count; i++) {
        memset(&info, 0, sizeof(info));
        if (fn->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue; /* removed meanwhile: not ours */
        if (!(info.flags & CKF_TOKEN_INITIALIZED))
            continue;
        if (memcmp(info.label, label, P11_LABEL_BYTES) != 0)
            continue;
        slot = slots[i];
        found++;
    }
    *ret_found = found;
    if (found == 1)
        *ret_slot = slot;
    return CKR_OK;
}

static ck_rv_t p11_slot_exists(struct ck_function_list *fn, ck_slot_id_t slot,
                               bool *ret_exists)
{
    ck_slot_id_t slots[P11_SLOTS_MAX];
    unsigned long count = 0, i;
    ck_rv_t rv;

    rv = p11_slot_list(fn, false, slots, &count);
    if (rv != CKR_OK)
        return rv;
    *ret_exists = false;
    for (i = 0; i < count; i++) {
        if (slots[i] == slot)
            *ret_exists = true;
    }
    return CKR_OK;
}

/* Where the handle's token is: by label, or the configured slot id. */
static int p11_find_slot(struct p11_ctx *ctx, const char *lib,
                         const char *label, char *errmsg, size_t errmsg_size)
{
    struct ck_token_info info;
    unsigned long found = 0;
    bool exists = false;
    ck_rv_t rv;

    if (ctx->by_label) {
        rv = p11_slot_by_label(ctx->fn, ctx->token_label, &ctx->slot, &found);
        if (rv != CKR_OK)
            return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_GetSlotList", rv);
        if (found == 0)
            return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                             "pkcs11: no token labelled \"%s\" in module %s",
                             label, lib);
        if (found > 1)
            return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                             "pkcs11: %lu tokens labelled \"%s\" in module "
                             "%s; set slot instead",
                             found, label, lib);
        return 0;
    }
    /* Ask the slot list first: SoftHSM2 answers C_GetTokenInfo on an
     * unknown slot by throwing a C++ exception internally. */
    rv = p11_slot_exists(ctx->fn, ctx->slot, &exists);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_GetSlotList", rv);
    if (!exists)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: no slot %lu in module %s "
                         "(CKR_SLOT_ID_INVALID)",
                         (unsigned long)ctx->slot, lib);
    memset(&info, 0, sizeof(info));
    rv = ctx->fn->C_GetTokenInfo(ctx->slot, &info);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, p11_rv_to_unavail(rv),
                        "C_GetTokenInfo", rv);
    if (!(info.flags & CKF_TOKEN_INITIALIZED))
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: the token in slot %lu is not initialised",
                         (unsigned long)ctx->slot);
    return 0;
}

/* ---- session and login -------------------------------------------- */

static int p11_login_error(ck_rv_t rv, char *errmsg, size_t errmsg_size)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
        return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                         "pkcs11: login failed: incorrect PIN "
                         "(CKR_PIN_INCORRECT)");
    case CKR_PIN_LOCKED:
        return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                         "pkcs11: login failed: the user PIN is locked "
                         "(CKR_PIN_LOCKED); the security officer must reset "
                         "it");
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_INVALID:
        return kh_errmsg(errmsg, errmsg_size, KH_EAUTH,
                         "pkcs11: login failed: the token rejects the PIN's "
                         "length or characters (%s)",
                         p11_rv_name(rv));
    case CKR_USER_PIN_NOT_INITIALIZED:
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: login failed: the token has no user PIN "
                         "yet (CKR_USER_PIN_NOT_INITIALIZED)");
    default:
        return p11_fail(errmsg, errmsg_size, p11_rv_to_unavail(rv),
                        "login failed: C_Login", rv);
    }
}

/* Open a read-write session on ctx->slot and log in as the user. */
static int p11_session_open(struct p11_ctx *ctx, char *errmsg,
                            size_t errmsg_size)
{
    ck_session_handle_t session;
    ck_rv_t rv;

    KH_ASSERT(!ctx->session_open);
    KH_ASSERT(ctx->pin != NULL);
    rv = ctx->fn->C_OpenSession(ctx->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                NULL, NULL, &session);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, p11_rv_to_unavail(rv),
                        "C_OpenSession", rv);
    /* Login belongs to the application and token, not to the session:
     * a second handle on the same token finds it already done. */
    rv = ctx->fn->C_Login(session, CKU_USER, (unsigned char *)ctx->pin,
                          ctx->pin_len);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        (void)ctx->fn->C_CloseSession(session);
        return p11_login_error(rv, errmsg, errmsg_size);
    }
    ctx->session = session;
    ctx->session_open = true;
    return 0;
}

static void p11_session_close(struct p11_ctx *ctx)
{
    if (!ctx->session_open)
        return;
    (void)ctx->fn->C_CloseSession(ctx->session);
    ctx->session_open = false;
}

/* ---- the KEK ------------------------------------------------------ */

/* Find the AES secret key labelled label: sets *ret_found to the number
 * of matches (0, 1, or 2 meaning "more than one"). */
static ck_rv_t p11_label_search(struct p11_ctx *ctx, const char *label,
                                ck_object_handle_t *ret_key,
                                unsigned long *ret_found)
{
    ck_object_class_t class = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_AES;
    struct ck_attribute tmpl[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    ck_object_handle_t keys[2];
    unsigned long found = 0;
    ck_rv_t rv, rv_final;

    rv = ctx->fn->C_FindObjectsInit(ctx->session, tmpl, KH_ARRAY_LEN(tmpl));
    if (rv != CKR_OK)
        return rv;
    rv = ctx->fn->C_FindObjects(ctx->session, keys, KH_ARRAY_LEN(keys), &found);
    rv_final = ctx->fn->C_FindObjectsFinal(ctx->session);
    if (rv == CKR_OK)
        rv = rv_final;
    if (rv != CKR_OK)
        return rv;
    KH_ASSERT(found <= KH_ARRAY_LEN(keys));
    *ret_found = found;
    if (found == 1)
        *ret_key = keys[0];
    return CKR_OK;
}

/* The KEK: the AES key labelled ctx->key_label. */
static ck_rv_t p11_key_search(struct p11_ctx *ctx, ck_object_handle_t *ret_key,
                              unsigned long *ret_found)
{
    return p11_label_search(ctx, ctx->key_label, ret_key, ret_found);
}

/* Generate a persistent, never-extractable AES-256 KEK on the token. */
static ck_rv_t p11_key_generate(struct p11_ctx *ctx,
                                ck_object_handle_t *ret_key)
{
    ck_object_class_t class = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_AES;
    unsigned long value_len = P11_KEY_BYTES;
    unsigned char yes = 1, no = 0;
    unsigned char id[P11_KEY_ID_BYTES];
    struct ck_mechanism mech = {CKM_AES_KEY_GEN, NULL, 0};
    struct ck_attribute tmpl[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_DECRYPT, &yes, sizeof(yes)},
        {CKA_WRAP, &yes, sizeof(yes)},
        {CKA_UNWRAP, &yes, sizeof(yes)},
        {CKA_LABEL, ctx->key_label, strlen(ctx->key_label)},
        {CKA_ID, id, sizeof(id)},
    };

    if (kh_random_bytes(id, sizeof(id)) != 0)
        return CKR_FUNCTION_FAILED;
    return ctx->fn->C_GenerateKey(ctx->session, &mech, tmpl, KH_ARRAY_LEN(tmpl),
                                  ret_key);
}

/* Find the KEK, or create it when generate and none has the label. */
static int p11_key_find(struct p11_ctx *ctx, bool generate, char *errmsg,
                        size_t errmsg_size)
{
    ck_object_handle_t key = 0;
    unsigned long found = 0;
    ck_rv_t rv;

    rv = p11_key_search(ctx, &key, &found);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, p11_rv_to_unavail(rv),
                        "looking for the key: C_FindObjects", rv);
    if (found > 1)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: more than one AES key labelled \"%s\"; "
                         "labels must be unique",
                         ctx->key_label);
    if (found == 0 && !generate)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: no key labelled \"%s\" (set generate_key = "
                         "true to create it)",
                         ctx->key_label);
    if (found == 0) {
        rv = p11_key_generate(ctx, &key);
        if (rv != CKR_OK)
            return p11_fail(errmsg, errmsg_size, p11_rv_to_unavail(rv),
                            "generating the key: C_GenerateKey", rv);
    }
    ctx->key = key;
    return 0;
}

/* Does the token offer the configured mechanism for what we need? */
static int p11_check_mechanism(struct p11_ctx *ctx, char *errmsg,
                               size_t errmsg_size)
{
    struct ck_mechanism_info info;
    ck_flags_t need = CKF_ENCRYPT | CKF_DECRYPT;
    ck_rv_t rv;

    if (ctx->mechanism == HSM_MECH_AES_KEY_WRAP_PAD)
        need = CKF_WRAP | CKF_UNWRAP;
    /* SoftHSM2 ORs into flags instead of setting them: start from 0. */
    memset(&info, 0, sizeof(info));
    rv = ctx->fn->C_GetMechanismInfo(ctx->slot,
                                     p11_mechanism_type(ctx->mechanism), &info);
    if (rv == CKR_MECHANISM_INVALID ||
        (rv == CKR_OK && (info.flags & need) != need))
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: the token does not support %s for this "
                         "use; check `pkcs11-tool --list-mechanisms` and set "
                         "mechanism accordingly",
                         p11_mechanism_name(ctx->mechanism));
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, p11_rv_to_unavail(rv),
                        "C_GetMechanismInfo", rv);
    return 0;
}

/* Reopen the session, log in again and find the KEK again (handles of
 * private objects die with the login). Any failure: KH_EUNAVAIL. */
static int p11_recover(struct p11_ctx *ctx)
{
    char scratch[KH_ERRMSG_SIZE];
    unsigned long found = 0;
    ck_rv_t rv;

    p11_session_close(ctx);
    memset(ctx->named, 0, sizeof(ctx->named));
    if (ctx->by_label) {
        rv = p11_slot_by_label(ctx->fn, ctx->token_label, &ctx->slot, &found);
        if (rv != CKR_OK || found != 1)
            return KH_EUNAVAIL;
    }
    if (p11_session_open(ctx, scratch, sizeof(scratch)) != 0)
        return KH_EUNAVAIL;
    if (p11_key_find(ctx, false, scratch, sizeof(scratch)) != 0)
        return KH_EUNAVAIL;
    return 0;
}

/* ---- AES-GCM ------------------------------------------------------ */

static void p11_gcm_params(struct ck_gcm_params *gcm, uint8_t *iv,
                           uint8_t *full_aad, size_t full_aad_len)
{
    memset(gcm, 0, sizeof(*gcm));
    gcm->iv_ptr = iv;
    gcm->iv_len = GCM_IV_BYTES;
    gcm->iv_bits = GCM_IV_BYTES * 8;
    gcm->aad_ptr = full_aad;
    gcm->aad_len = full_aad_len;
    gcm->tag_bits = GCM_TAG_BYTES * 8;
}

/* header | aad, malloc'ed (the token's AAD input). */
static uint8_t *p11_full_aad(const uint8_t header[BLOB_HEADER_BYTES],
                             const uint8_t *aad, size_t aad_len)
{
    uint8_t *full;

    if (aad_len > SIZE_MAX - BLOB_HEADER_BYTES)
        return NULL;
    full = malloc(BLOB_HEADER_BYTES + aad_len);
    if (full == NULL)
        return NULL;
    memcpy(full, header, BLOB_HEADER_BYTES);
    if (aad_len > 0)
        memcpy(full + BLOB_HEADER_BYTES, aad, aad_len);
    return full;
}

/* One encryption attempt: blob has the header and a random IV in place.
 * The IV pointer aims into the blob itself, so a token that ignores the
 * caller's IV and writes back the one it generated (AWS CloudHSM does, as
 * FIPS 140 modules may) leaves the IV it really used in the blob. */
static ck_rv_t p11_gcm_encrypt(struct p11_ctx *ctx, uint8_t *blob,
                               size_t blob_len, uint8_t *full_aad,
                               size_t full_aad_len, const uint8_t *secret,
                               size_t len)
{
    struct ck_gcm_params gcm;
    struct ck_mechanism mech;
    unsigned long out_len = len + GCM_TAG_BYTES;
    ck_rv_t rv;

    p11_gcm_params(&gcm, blob + BLOB_HEADER_BYTES, full_aad, full_aad_len);
    mech.mechanism = CKM_AES_GCM;
    mech.parameter = &gcm;
    mech.parameter_len = sizeof(gcm);
    rv = ctx->fn->C_EncryptInit(ctx->session, &mech, ctx->key);
    if (rv != CKR_OK)
        return rv;
    rv = ctx->fn->C_Encrypt(ctx->session, (unsigned char *)secret, len,
                            blob + BLOB_HEADER_BYTES + GCM_IV_BYTES, &out_len);
    if (rv != CKR_OK)
        return rv;
    if (out_len != blob_len - BLOB_HEADER_BYTES - GCM_IV_BYTES)
        return CKR_GENERAL_ERROR;
    return CKR_OK;
}

static int p11_gcm_wrap(struct p11_ctx *ctx, const uint8_t *aad, size_t aad_len,
                        const uint8_t *secret, size_t len, uint8_t **ret_blob,
                        size_t *ret_blob_len)
{
    size_t blob_len = BLOB_HEADER_BYTES + GCM_IV_BYTES + len + GCM_TAG_BYTES;
    uint8_t *blob, *full_aad = NULL;
    ck_rv_t rv;
    int r = KH_EINTERNAL;

    blob = malloc(blob_len);
    if (blob == NULL)
        return KH_ENOMEM;
    blob[0] = BLOB_VERSION;
    blob[1] = HSM_MECH_AES_GCM;
    if (kh_random_bytes(blob + BLOB_HEADER_BYTES, GCM_IV_BYTES) != 0)
        goto out;
    full_aad = p11_full_aad(blob, aad, aad_len);
    if (full_aad == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    rv = p11_gcm_encrypt(ctx, blob, blob_len, full_aad,
                         BLOB_HEADER_BYTES + aad_len, secret, len);
    if (p11_rv_session_lost(rv)) {
        r = p11_recover(ctx);
        if (r != 0)
            goto out;
        /* A fresh IV: never offer the token one IV twice. */
        r = KH_EINTERNAL;
        if (kh_random_bytes(blob + BLOB_HEADER_BYTES, GCM_IV_BYTES) != 0)
            goto out;
        rv = p11_gcm_encrypt(ctx, blob, blob_len, full_aad,
                             BLOB_HEADER_BYTES + aad_len, secret, len);
    }
    if (rv != CKR_OK) {
        r = p11_rv_session_lost(rv) ? KH_EUNAVAIL : KH_EHSM;
        goto out;
    }
    *ret_blob = blob;
    *ret_blob_len = blob_len;
    blob = NULL;
    r = 0; /* success */
out:
    free(full_aad);
    free(blob);
    return r;
}

/* One decryption attempt into plain (size plain_size). */
static ck_rv_t p11_gcm_decrypt(struct p11_ctx *ctx, const uint8_t *blob,
                               size_t blob_len, uint8_t *full_aad,
                               size_t full_aad_len, uint8_t *plain,
                               size_t plain_size, unsigned long *ret_len)
{
    struct ck_gcm_params gcm;
    struct ck_mechanism mech;
    unsigned long out_len = plain_size;
    uint8_t iv[GCM_IV_BYTES];
    ck_rv_t rv;

    memcpy(iv, blob + BLOB_HEADER_BYTES, GCM_IV_BYTES);
    p11_gcm_params(&gcm, iv, full_aad, full_aad_len);
    mech.mechanism = CKM_AES_GCM;
    mech.parameter = &gcm;
    mech.parameter_len = sizeof(gcm);
    rv = ctx->fn->C_DecryptInit(ctx->session, &mech, ctx->key);
    if (rv != CKR_OK)
        return rv;
    rv = ctx->fn->C_Decrypt(
        ctx->session, (unsigned char *)blob + BLOB_HEADER_BYTES + GCM_IV_BYTES,
        blob_len - BLOB_HEADER_BYTES - GCM_IV_BYTES, plain, &out_len);
    if (rv != CKR_OK)
        return rv;
    *ret_len = out_len;
    return CKR_OK;
}

static int p11_gcm_unwrap(struct p11_ctx *ctx, const uint8_t *aad,
                          size_t aad_len, const uint8_t *blob, size_t blob_len,
                          uint8_t *out, size_t out_size, size_t *ret_len)
{
    uint8_t plain[HSM_SECRET_BYTES_MAX + HSM_WRAP_OVERHEAD];
    unsigned long plain_len = 0;
    uint8_t *full_aad;
    ck_rv_t rv;
    int r = KH_ECORRUPT;

    if (blob_len < BLOB_HEADER_BYTES + GCM_IV_BYTES + GCM_TAG_BYTES + 1)
        return KH_ECORRUPT;
    full_aad = p11_full_aad(blob, aad, aad_len);
    if (full_aad == NULL)
        return KH_ENOMEM;
    rv = p11_gcm_decrypt(ctx, blob, blob_len, full_aad,
                         BLOB_HEADER_BYTES + aad_len, plain, sizeof(plain),
                         &plain_len);
    if (p11_rv_session_lost(rv)) {
        r = p11_recover(ctx);
        if (r != 0)
            goto out;
        rv = p11_gcm_decrypt(ctx, blob, blob_len, full_aad,
                             BLOB_HEADER_BYTES + aad_len, plain, sizeof(plain),
                             &plain_len);
    }
    /* SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, others as
     * CKR_ENCRYPTED_DATA_INVALID: every decrypt failure is corruption. */
    if (rv != CKR_OK || plain_len == 0 || plain_len > HSM_SECRET_BYTES_MAX) {
        r = p11_rv_session_lost(rv) ? KH_EUNAVAIL : KH_ECORRUPT;
        goto out;
    }
    if (plain_len > out_size) {
        r = KH_EINVAL;
        goto out;
    }
    memcpy(out, plain, plain_len);
    *ret_len = plain_len;
    r = 0; /* success */
out:
    kh_wipe(plain, sizeof(plain));
    free(full_aad);
    return r;
}

/* ---- AES key wrap with padding (RFC 5649) ------------------------- */

/* SHA-256(header | aad): the AAD binding carried inside a KWP blob. */
static int p11_kwp_aad_hash(const uint8_t header[BLOB_HEADER_BYTES],
                            const uint8_t *aad, size_t aad_len,
                            uint8_t hash[KWP_HASH_BYTES])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int hash_len = 0;
    int ok;

    if (md == NULL)
        return KH_ENOMEM;
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, header, BLOB_HEADER_BYTES) == 1 &&
         (aad_len == 0 || EVP_DigestUpdate(md, aad, aad_len) == 1) &&
         EVP_DigestFinal_ex(md, hash, &hash_len) == 1 &&
         hash_len == KWP_HASH_BYTES;
    EVP_MD_CTX_free(md);
    return ok ? 0 : KH_EINTERNAL;
}

/* One wrap attempt: plain becomes an extractable session object for the
 * length of the C_WrapKey call. */
static ck_rv_t p11_kwp_wrap_once(struct p11_ctx *ctx, uint8_t *plain,
                                 size_t plain_len, uint8_t *wrapped,
                                 unsigned long *wrapped_len)
{
    ck_object_class_t class = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_GENERIC_SECRET;
    unsigned char yes = 1, no = 0;
    struct ck_attribute tmpl[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_VALUE, plain, plain_len},
    };
    struct ck_mechanism mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    ck_object_handle_t obj;
    ck_rv_t rv;

    rv = ctx->fn->C_CreateObject(ctx->session, tmpl, KH_ARRAY_LEN(tmpl), &obj);
    if (rv != CKR_OK)
        return rv;
    rv = ctx->fn->C_WrapKey(ctx->session, &mech, ctx->key, obj, wrapped,
                            wrapped_len);
    (void)ctx->fn->C_DestroyObject(ctx->session, obj);
    return rv;
}

/* The KWP payload: SHA-256(header | aad) | secret length (16-bit big
 * endian) | secret | zeros up to a multiple of 8 bytes. Padding it
 * ourselves means the token never pads: SoftHSM2 2.6.1 returns RFC 5649
 * unwraps with their padding left on. */
static int p11_kwp_payload(const uint8_t header[BLOB_HEADER_BYTES],
                           const uint8_t *aad, size_t aad_len,
                           const uint8_t *secret, size_t len,
                           uint8_t plain[KWP_PLAIN_BYTES_MAX],
                           size_t *ret_plain_len)
{
    size_t used = KWP_HASH_BYTES + KWP_LEN_BYTES + len;
    size_t plain_len = kwp_round_up(used);
    int r;

    KH_ASSERT(len > 0 && len <= HSM_SECRET_BYTES_MAX);
    KH_ASSERT(plain_len <= KWP_PLAIN_BYTES_MAX);
    r = p11_kwp_aad_hash(header, aad, aad_len, plain);
    if (r != 0)
        return r;
    plain[KWP_HASH_BYTES] = (uint8_t)(len >> 8);
    plain[KWP_HASH_BYTES + 1] = (uint8_t)(len & 0xff);
    memcpy(plain + KWP_HASH_BYTES + KWP_LEN_BYTES, secret, len);
    memset(plain + used, 0, plain_len - used);
    *ret_plain_len = plain_len;
    return 0;
}

static int p11_kwp_wrap(struct p11_ctx *ctx, const uint8_t *aad, size_t aad_len,
                        const uint8_t *secret, size_t len, uint8_t **ret_blob,
                        size_t *ret_blob_len)
{
    uint8_t plain[KWP_PLAIN_BYTES_MAX];
    size_t plain_len = 0;
    size_t cap = len + HSM_WRAP_OVERHEAD;
    unsigned long wrapped_len = cap - BLOB_HEADER_BYTES;
    uint8_t *blob;
    ck_rv_t rv;
    int r = KH_EINTERNAL;

    blob = malloc(cap);
    if (blob == NULL)
        return KH_ENOMEM;
    blob[0] = BLOB_VERSION;
    blob[1] = HSM_MECH_AES_KEY_WRAP_PAD;
    r = p11_kwp_payload(blob, aad, aad_len, secret, len, plain, &plain_len);
    if (r != 0)
        goto out;
    rv = p11_kwp_wrap_once(ctx, plain, plain_len, blob + BLOB_HEADER_BYTES,
                           &wrapped_len);
    if (p11_rv_session_lost(rv)) {
        r = p11_recover(ctx);
        if (r != 0)
            goto out;
        wrapped_len = cap - BLOB_HEADER_BYTES;
        rv = p11_kwp_wrap_once(ctx, plain, plain_len, blob + BLOB_HEADER_BYTES,
                               &wrapped_len);
    }
    /* RFC 5649 adds one 8-byte block; a token that reads 0x210A as PKCS#7
     * padding plus RFC 3394 (PKCS#11 v2.40's wording) adds two. */
    if (rv != CKR_OK || wrapped_len < plain_len + KWP_BLOCK_BYTES ||
        wrapped_len > plain_len + 2 * KWP_BLOCK_BYTES) {
        r = p11_rv_session_lost(rv) ? KH_EUNAVAIL : KH_EHSM;
        goto out;
    }
    *ret_blob = blob;
    *ret_blob_len = BLOB_HEADER_BYTES + wrapped_len;
    blob = NULL;
    r = 0; /* success */
out:
    kh_wipe(plain, sizeof(plain));
    free(blob);
    return r;
}

/* One unwrap attempt: the token unwraps into an extractable session
 * object, we read its value and destroy it at once. */
static ck_rv_t p11_kwp_unwrap_once(struct p11_ctx *ctx, const uint8_t *wrapped,
                                   size_t wrapped_len, uint8_t *plain,
                                   unsigned long *plain_len)
{
    ck_object_class_t class = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_GENERIC_SECRET;
    unsigned char yes = 1, no = 0;
    struct ck_attribute tmpl[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)},
    };
    struct ck_attribute value = {CKA_VALUE, plain, *plain_len};
    struct ck_mechanism mech = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    ck_object_handle_t obj;
    ck_rv_t rv;

    rv = ctx->fn->C_UnwrapKey(ctx->session, &mech, ctx->key,
                              (unsigned char *)wrapped, wrapped_len, tmpl,
                              KH_ARRAY_LEN(tmpl), &obj);
    if (rv != CKR_OK)
        return rv;
    rv = ctx->fn->C_GetAttributeValue(ctx->session, obj, &value, 1);
    (void)ctx->fn->C_DestroyObject(ctx->session, obj);
    if (rv != CKR_OK)
        return rv;
    *plain_len = value.value_len;
    return CKR_OK;
}

/* Check the payload (see p11_kwp_payload) and copy the secret out. */
static int p11_kwp_open(const uint8_t *blob, const uint8_t *aad, size_t aad_len,
                        const uint8_t *plain, size_t plain_len, uint8_t *out,
                        size_t out_size, size_t *ret_len)
{
    uint8_t hash[KWP_HASH_BYTES];
    const uint8_t *pad;
    size_t len, i;
    uint8_t pad_bits = 0;
    int r;

    if (plain_len < KWP_HASH_BYTES + KWP_LEN_BYTES + 1 ||
        plain_len > KWP_PLAIN_BYTES_MAX)
        return KH_ECORRUPT;
    r = p11_kwp_aad_hash(blob, aad, aad_len, hash);
    if (r != 0)
        return r;
    if (!kh_ct_equal(hash, plain, KWP_HASH_BYTES))
        return KH_ECORRUPT;
    len = (size_t)plain[KWP_HASH_BYTES] << 8 | plain[KWP_HASH_BYTES + 1];
    if (len == 0 || len > HSM_SECRET_BYTES_MAX ||
        kwp_round_up(KWP_HASH_BYTES + KWP_LEN_BYTES + len) != plain_len)
        return KH_ECORRUPT;
    pad = plain + KWP_HASH_BYTES + KWP_LEN_BYTES + len;
    for (i = 0; pad + i < plain + plain_len; i++)
        pad_bits |= pad[i];
    if (pad_bits != 0)
        return KH_ECORRUPT;
    if (len > out_size)
        return KH_EINVAL;
    memcpy(out, plain + KWP_HASH_BYTES + KWP_LEN_BYTES, len);
    *ret_len = len;
    return 0;
}

static int p11_kwp_unwrap(struct p11_ctx *ctx, const uint8_t *aad,
                          size_t aad_len, const uint8_t *blob, size_t blob_len,
                          uint8_t *out, size_t out_size, size_t *ret_len)
{
    uint8_t plain[KWP_PLAIN_BYTES_MAX + KWP_BLOCK_BYTES];
    size_t wrapped_len = blob_len - BLOB_HEADER_BYTES;
    unsigned long plain_len = sizeof(plain);
    ck_rv_t rv;
    int r = KH_ECORRUPT;

    /* RFC 5649: at least two 64-bit blocks, a whole number of them. */
    if (blob_len < BLOB_HEADER_BYTES + 2 * KWP_BLOCK_BYTES ||
        wrapped_len % KWP_BLOCK_BYTES != 0)
        return KH_ECORRUPT;
    rv = p11_kwp_unwrap_once(ctx, blob + BLOB_HEADER_BYTES, wrapped_len, plain,
                             &plain_len);
    if (p11_rv_session_lost(rv)) {
        r = p11_recover(ctx);
        if (r != 0)
            goto out;
        plain_len = sizeof(plain);
        rv = p11_kwp_unwrap_once(ctx, blob + BLOB_HEADER_BYTES, wrapped_len,
                                 plain, &plain_len);
    }
    if (rv != CKR_OK) {
        r = p11_rv_session_lost(rv) ? KH_EUNAVAIL : KH_ECORRUPT;
        goto out;
    }
    r = p11_kwp_open(blob, aad, aad_len, plain, plain_len, out, out_size,
                     ret_len);
out:
    kh_wipe(plain, sizeof(plain));
    return r;
}

/* ---- the vtable --------------------------------------------------- */

static int p11_wrap(void *opaque, const uint8_t *aad, size_t aad_len,
                    const uint8_t *secret, size_t len, uint8_t **ret_blob,
                    size_t *ret_blob_len)
{
    struct p11_ctx *ctx = opaque;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(len > 0 && len <= HSM_SECRET_BYTES_MAX);
    if (ctx->mechanism == HSM_MECH_AES_KEY_WRAP_PAD)
        return p11_kwp_wrap(ctx, aad, aad_len, secret, len, ret_blob,
                            ret_blob_len);
    return p11_gcm_wrap(ctx, aad, aad_len, secret, len, ret_blob, ret_blob_len);
}

static int p11_unwrap(void *opaque, const uint8_t *aad, size_t aad_len,
                      const uint8_t *blob, size_t blob_len, uint8_t *out,
                      size_t out_size, size_t *ret_len)
{
    struct p11_ctx *ctx = opaque;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(blob != NULL);
    if (blob_len < BLOB_HEADER_BYTES || blob[0] != BLOB_VERSION)
        return KH_ECORRUPT;
    if (blob[1] == HSM_MECH_AES_GCM)
        return p11_gcm_unwrap(ctx, aad, aad_len, blob, blob_len, out, out_size,
                              ret_len);
    if (blob[1] == HSM_MECH_AES_KEY_WRAP_PAD)
        return p11_kwp_unwrap(ctx, aad, aad_len, blob, blob_len, out, out_size,
                              ret_len);
    return KH_ECORRUPT;
}

static ck_rv_t p11_read_attributes(struct p11_ctx *ctx, ck_object_handle_t key,
                                   struct hsm_key_attributes *ret)
{
    unsigned char sensitive = 0, extractable = 1, never = 0, token = 0;
    unsigned long value_len = 0;
    struct ck_attribute attrs[] = {
        {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)},
        {CKA_NEVER_EXTRACTABLE, &never, sizeof(never)},
        {CKA_TOKEN, &token, sizeof(token)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
    };
    ck_rv_t rv;

    rv = ctx->fn->C_GetAttributeValue(ctx->session, key, attrs,
                                      KH_ARRAY_LEN(attrs));
    if (rv != CKR_OK)
        return rv;
    ret->sensitive = sensitive != 0;
    ret->extractable = extractable != 0;
    ret->never_extractable = never != 0;
    ret->token_object = token != 0;
    ret->value_len = value_len;
    return CKR_OK;
}

static int p11_key_attributes(void *opaque, struct hsm_key_attributes *ret)
{
    struct p11_ctx *ctx = opaque;
    struct hsm_key_attributes attrs;
    ck_rv_t rv;
    int r;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(ret != NULL);
    memset(&attrs, 0, sizeof(attrs));
    rv = p11_read_attributes(ctx, ctx->key, &attrs);
    if (p11_rv_session_lost(rv)) {
        r = p11_recover(ctx);
        if (r != 0)
            return r;
        rv = p11_read_attributes(ctx, ctx->key, &attrs);
    }
    if (rv != CKR_OK)
        return p11_rv_session_lost(rv) ? KH_EUNAVAIL : KH_EHSM;
    *ret = attrs;
    return 0;
}

/* Reachable and still logged in as the user. */
static ck_rv_t p11_session_check(struct p11_ctx *ctx)
{
    struct ck_session_info info;
    ck_rv_t rv;

    if (!ctx->session_open)
        return CKR_SESSION_HANDLE_INVALID;
    memset(&info, 0, sizeof(info));
    rv = ctx->fn->C_GetSessionInfo(ctx->session, &info);
    if (rv != CKR_OK)
        return rv;
    if (info.state != CKS_RW_USER_FUNCTIONS)
        return CKR_USER_NOT_LOGGED_IN;
    return CKR_OK;
}

static int p11_ping(void *opaque)
{
    struct p11_ctx *ctx = opaque;
    ck_rv_t rv;
    int r;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(ctx->fn != NULL);
    rv = p11_session_check(ctx);
    if (p11_rv_session_lost(rv)) {
        r = p11_recover(ctx);
        if (r != 0)
            return r;
        rv = p11_session_check(ctx);
    }
    if (rv != CKR_OK)
        return p11_rv_session_lost(rv) ? KH_EUNAVAIL : KH_EHSM;
    return 0;
}

/* ---- named keys (hsm.h) ------------------------------------------- */

enum p11_named_op {
    P11_NAMED_GENERATE = 1,
    P11_NAMED_ENCRYPT,
    P11_NAMED_DECRYPT,
    P11_NAMED_ATTRIBUTES,
    P11_NAMED_DESTROY,
};

/* One named-key call: the operation and its arguments (hsm.c validated
 * them). For decrypt, out is a scratch buffer of len bytes (some tokens
 * want room for the tag as well). */
struct p11_named_call
{
    enum p11_named_op op;
    const char *label;
    uint8_t *iv;
    const uint8_t *aad;
    size_t aad_len;
    const uint8_t *in;
    size_t len;
    uint8_t *out;
    unsigned long out_len; /* in: room; out: bytes written */
    struct hsm_key_attributes *attrs;
};

/* Generate a named encrypt/decrypt-only AES-256 key (hsm.h). */
static ck_rv_t p11_named_generate(struct p11_ctx *ctx, const char *label)
{
    ck_object_class_t class = CKO_SECRET_KEY;
    ck_key_type_t type = CKK_AES;
    unsigned long value_len = P11_KEY_BYTES;
    unsigned char yes = 1, no = 0;
    unsigned char id[P11_KEY_ID_BYTES];
    struct ck_mechanism mech = {CKM_AES_KEY_GEN, NULL, 0};
    ck_object_handle_t key = 0;
    struct ck_attribute tmpl[] = {
        {CKA_CLASS, &class, sizeof(class)},
        {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_VALUE_LEN, &value_len, sizeof(value_len)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_DECRYPT, &yes, sizeof(yes)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_SIGN, &no, sizeof(no)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, id, sizeof(id)},
    };

    if (kh_random_bytes(id, sizeof(id)) != 0)
        return CKR_FUNCTION_FAILED;
    return ctx->fn->C_GenerateKey(ctx->session, &mech, tmpl, KH_ARRAY_LEN(tmpl),
                                  &key);
}

/* GCM with the caller's IV (the IV pointer is the caller's buffer, so a
 * token that writes back its own IV leaves it there). */
static ck_rv_t p11_named_crypt(struct p11_ctx *ctx, ck_object_handle_t key,
                               struct p11_named_call *call)
{
    static uint8_t empty[1];
    struct ck_gcm_params gcm;
    struct ck_mechanism mech;
    uint8_t *in = call->len > 0 ? (uint8_t *)call->in : empty;
    unsigned long out_len = call->out_len;
    ck_rv_t rv;

    p11_gcm_params(&gcm, call->iv, (uint8_t *)call->aad, call->aad_len);
    if (call->aad_len == 0)
        gcm.aad_ptr = NULL;
    mech.mechanism = CKM_AES_GCM;
    mech.parameter = &gcm;
    mech.parameter_len = sizeof(gcm);
    if (call->op == P11_NAMED_ENCRYPT) {
        rv = ctx->fn->C_EncryptInit(ctx->session, &mech, key);
        if (rv == CKR_OK)
            rv = ctx->fn->C_Encrypt(ctx->session, in, call->len, call->out,
                                    &out_len);
    } else {
        rv = ctx->fn->C_DecryptInit(ctx->session, &mech, key);
        if (rv == CKR_OK)
            rv = ctx->fn->C_Decrypt(ctx->session, in, call->len, call->out,
                                    &out_len);
    }
    if (rv == CKR_OK)
        call->out_len = out_len;
    return rv;
}

/* The cached handle of label, or 0. */
static ck_object_handle_t p11_named_cached(const struct p11_ctx *ctx,
                                           const char *label)
{
    size_t i;

    for (i = 0; i < P11_NAMED_CACHE_MAX; i++) {
        if (ctx->named[i].key != 0 && strcmp(ctx->named[i].label, label) == 0)
            return ctx->named[i].key;
    }
    return 0;
}

/* Remember (key != 0) or forget (key == 0) the handle of label. */
static void p11_named_remember(struct p11_ctx *ctx, const char *label,
                               ck_object_handle_t key)
{
    size_t i;

    KH_ASSERT(strlen(label) <= HSM_KEY_LABEL_BYTES_MAX);
    for (i = 0; i < P11_NAMED_CACHE_MAX; i++) {
        if (ctx->named[i].key != 0 && strcmp(ctx->named[i].label, label) == 0)
            memset(&ctx->named[i], 0, sizeof(ctx->named[i]));
    }
    if (key == 0)
        return;
    i = ctx->named_next;
    ctx->named_next = (ctx->named_next + 1) % P11_NAMED_CACHE_MAX;
    memcpy(ctx->named[i].label, label, strlen(label) + 1);
    ctx->named[i].key = key;
}

/* One attempt of call: resolve the label, then act. *ret_r is the
 * KH_E* answer when the label resolves to no key or several (rv is
 * CKR_OK then). */
static ck_rv_t p11_named_once(struct p11_ctx *ctx,
                              struct p11_named_call *call, int *ret_r)
{
    ck_object_handle_t key = 0;
    unsigned long found = 0;
    ck_rv_t rv;

    *ret_r = 0;
    key = call->op == P11_NAMED_GENERATE ? 0
                                         : p11_named_cached(ctx, call->label);
    found = key != 0 ? 1 : 0;
    if (key == 0) {
        rv = p11_label_search(ctx, call->label, &key, &found);
        if (rv != CKR_OK)
            return rv;
        if (found == 1 && call->op != P11_NAMED_GENERATE)
            p11_named_remember(ctx, call->label, key);
    }
    if (call->op == P11_NAMED_GENERATE) {
        if (found > 0) {
            *ret_r = KH_ECONFLICT;
            return CKR_OK;
        }
        return p11_named_generate(ctx, call->label);
    }
    if (found != 1) {
        *ret_r = found == 0 ? KH_ENOTFOUND : KH_EHSM;
        return CKR_OK;
    }
    switch (call->op) {
    case P11_NAMED_ENCRYPT:
    case P11_NAMED_DECRYPT:
        return p11_named_crypt(ctx, key, call);
    case P11_NAMED_ATTRIBUTES:
        return p11_read_attributes(ctx, key, call->attrs);
    case P11_NAMED_DESTROY:
        p11_named_remember(ctx, call->label, 0);
        return ctx->fn->C_DestroyObject(ctx->session, key);
    case P11_NAMED_GENERATE:
        break;
    }
    return CKR_GENERAL_ERROR;
}

/* Run call, with one session recovery (hsm.h explains why retrying an
 * encryption with the same IV is safe). */
static int p11_named_run(struct p11_ctx *ctx, struct p11_named_call *call)
{
    unsigned long room = call->out_len;
    ck_rv_t rv = CKR_OK;
    int attempt, r = 0;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(call->label != NULL);
    for (attempt = 0; attempt < 2; attempt++) {
        call->out_len = room;
        rv = p11_named_once(ctx, call, &r);
        if (!p11_rv_session_lost(rv) || attempt == 1)
            break;
        r = p11_recover(ctx);
        if (r != 0)
            return r;
    }
    if (r != 0)
        return r;
    if (rv == CKR_OK)
        return 0;
    if (p11_rv_session_lost(rv))
        return KH_EUNAVAIL;
    /* SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, others as
     * CKR_ENCRYPTED_DATA_INVALID: every decrypt failure is corruption. */
    if (call->op == P11_NAMED_DECRYPT)
        return KH_ECORRUPT;
    return p11_rv_to_unavail(rv);
}

static int p11_key_generate_named(void *opaque, const char *label)
{
    struct p11_named_call call = {.op = P11_NAMED_GENERATE, .label = label};

    return p11_named_run(opaque, &call);
}

static int p11_key_encrypt_named(void *opaque, const char *label, uint8_t *iv,
                                 const uint8_t *aad, size_t aad_len,
                                 const uint8_t *plain, size_t len,
                                 uint8_t *out, size_t out_size,
                                 size_t *ret_len)
{
    struct p11_named_call call = {
        .op = P11_NAMED_ENCRYPT, .label = label, .iv = iv, .aad = aad,
        .aad_len = aad_len, .in = plain, .len = len, .out = out,
        .out_len = out_size,
    };
    int r;

    r = p11_named_run(opaque, &call);
    if (r != 0)
        return r;
    if (call.out_len != len + GCM_TAG_BYTES)
        return KH_EHSM;
    *ret_len = call.out_len;
    return 0;
}

static int p11_key_decrypt_named(void *opaque, const char *label,
                                 const uint8_t *iv, const uint8_t *aad,
                                 size_t aad_len, const uint8_t *in, size_t len,
                                 uint8_t *out, size_t out_size,
                                 size_t *ret_len)
{
    uint8_t iv_copy[GCM_IV_BYTES];
    struct p11_named_call call = {
        .op = P11_NAMED_DECRYPT, .label = label, .iv = iv_copy, .aad = aad,
        .aad_len = aad_len, .in = in, .len = len, .out_len = len,
    };
    int r = KH_ENOMEM;

    KH_ASSERT(len >= GCM_TAG_BYTES);
    memcpy(iv_copy, iv, sizeof(iv_copy));
    call.out = malloc(len);
    if (call.out == NULL)
        return KH_ENOMEM;
    r = p11_named_run(opaque, &call);
    if (r != 0)
        goto out;
    r = KH_ECORRUPT;
    if (call.out_len != len - GCM_TAG_BYTES || call.out_len > out_size)
        goto out;
    memcpy(out, call.out, call.out_len);
    *ret_len = call.out_len;
    r = 0; /* success */
out:
    kh_free_secret(call.out, len);
    return r;
}

static int p11_key_attributes_named(void *opaque, const char *label,
                                    struct hsm_key_attributes *ret)
{
    struct hsm_key_attributes attrs;
    struct p11_named_call call = {
        .op = P11_NAMED_ATTRIBUTES, .label = label, .attrs = &attrs,
    };
    int r;

    memset(&attrs, 0, sizeof(attrs));
    r = p11_named_run(opaque, &call);
    if (r == 0)
        *ret = attrs;
    return r;
}

static int p11_key_destroy_named(void *opaque, const char *label)
{
    struct p11_named_call call = {.op = P11_NAMED_DESTROY, .label = label};

    return p11_named_run(opaque, &call);
}

static void p11_ctx_free(void *opaque)
{
    struct p11_ctx *ctx = opaque;

    if (ctx == NULL)
        return;
    if (ctx->module != NULL) {
        (void)pthread_mutex_lock(&p11_modules_lock);
        /* Login state is shared by every session of this process on the
         * token: log out only when no other handle uses the module. */
        if (ctx->session_open && ctx->module->refs == 1)
            (void)ctx->fn->C_Logout(ctx->session);
        p11_session_close(ctx);
        p11_module_release_locked(ctx->module);
        (void)pthread_mutex_unlock(&p11_modules_lock);
    }
    kh_secure_free(ctx->pin, ctx->pin_size);
    kh_wipe(ctx, sizeof(*ctx));
    free(ctx);
}

static const struct hsm_backend_ops p11_ops = {
    .name = "pkcs11",
    .wrap = p11_wrap,
    .unwrap = p11_unwrap,
    .key_attributes = p11_key_attributes,
    .ping = p11_ping,
    .key_generate = p11_key_generate_named,
    .key_encrypt = p11_key_encrypt_named,
    .key_decrypt = p11_key_decrypt_named,
    .key_attributes_by_label = p11_key_attributes_named,
    .key_destroy = p11_key_destroy_named,
    .close = p11_ctx_free,
};

/* ---- public entry points ------------------------------------------ */

/* Copy what the handle keeps from params (labels, the PIN). */
static int p11_ctx_setup(struct p11_ctx *ctx,
                         const struct hsm_pkcs11_params *params, char *errmsg,
                         size_t errmsg_size)
{
    size_t key_label_len, pin_len;
    int r;

    if (params->lib == NULL || params->lib[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: lib (the module path) is required");
    if (params->mechanism != HSM_MECH_AES_GCM &&
        params->mechanism != HSM_MECH_AES_KEY_WRAP_PAD)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: unknown mechanism %d",
                         (int)params->mechanism);
    key_label_len = params->key_label ? strlen(params->key_label) : 0;
    if (key_label_len == 0 || key_label_len > P11_KEY_LABEL_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: key_label must be 1 to %d bytes",
                         P11_KEY_LABEL_BYTES_MAX);
    pin_len = params->pin ? strlen(params->pin) : 0;
    if (pin_len == 0 || pin_len > P11_PIN_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: the PIN must be 1 to %d bytes",
                         P11_PIN_BYTES_MAX);
    ctx->by_label = params->slot < 0;
    if (ctx->by_label) {
        r = p11_label_pad(params->token_label, ctx->token_label, errmsg,
                          errmsg_size);
        if (r != 0)
            return r;
    } else {
        ctx->slot = (ck_slot_id_t)params->slot;
    }
    memcpy(ctx->key_label, params->key_label, key_label_len + 1);
    ctx->mechanism = params->mechanism;
    ctx->pin_size = pin_len + 1;
    ctx->pin = kh_secure_alloc(ctx->pin_size);
    if (ctx->pin == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "pkcs11: cannot allocate locked memory for the PIN");
    memcpy(ctx->pin, params->pin, pin_len);
    ctx->pin_len = pin_len;
    return 0;
}

int hsm_pkcs11_open(const struct hsm_pkcs11_params *params,
                    struct hsm **ret_hsm, char *errmsg, size_t errmsg_size)
{
    struct p11_ctx *ctx;
    int r = KH_EINTERNAL;

    KH_ASSERT(params != NULL);
    KH_ASSERT(ret_hsm != NULL);
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "pkcs11: out of memory");
    r = p11_ctx_setup(ctx, params, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = p11_module_acquire(params->lib, &ctx->module, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    ctx->fn = ctx->module->fn;
    r = p11_find_slot(ctx, params->lib, params->token_label, errmsg,
                      errmsg_size);
    if (r != 0)
        goto out;
    r = p11_session_open(ctx, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = p11_key_find(ctx, params->generate_key, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = p11_check_mechanism(ctx, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = hsm_create(&p11_ops, ctx, ret_hsm);
    ctx = NULL; /* hsm_create owns it, even on failure */
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r, "pkcs11: %s", kh_strerror(r));
        goto out;
    }
    r = 0; /* success */
out:
    p11_ctx_free(ctx);
    return r;
}

/* The first slot whose token is present but not initialised; fails if a
 * token already carries the label. */
static int p11_free_slot(struct ck_function_list *fn,
                         const unsigned char label[P11_LABEL_BYTES],
                         const char *lib, const char *text_label,
                         ck_slot_id_t *ret_slot, char *errmsg,
                         size_t errmsg_size)
{
    ck_slot_id_t slots[P11_SLOTS_MAX];
    struct ck_token_info info;
    unsigned long count = 0, i;
    bool have_free = false;
    ck_rv_t rv;

    rv = p11_slot_list(fn, false, slots, &count);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_GetSlotList", rv);
    for (i = 0; i < count; i++) {
        memset(&info, 0, sizeof(info));
        if (fn->C_GetTokenInfo(slots[i], &info) != CKR_OK)
            continue; /* no token in this slot */
        if (info.flags & CKF_TOKEN_INITIALIZED) {
            if (memcmp(info.label, label, P11_LABEL_BYTES) == 0)
                return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                                 "pkcs11: a token labelled \"%s\" already "
                                 "exists in module %s",
                                 text_label, lib);
            continue;
        }
        if (!have_free)
            *ret_slot = slots[i];
        have_free = true;
    }
    if (!have_free)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: no uninitialised token in module %s", lib);
    return 0;
}

/* Log in as SO on the freshly initialised token and set the user PIN. */
static int p11_init_user_pin(struct ck_function_list *fn, ck_slot_id_t slot,
                             const char *so_pin, const char *user_pin,
                             char *errmsg, size_t errmsg_size)
{
    ck_session_handle_t session;
    ck_rv_t rv;
    int r = KH_EHSM;

    rv = fn->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
                           NULL, &session);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_OpenSession", rv);
    rv = fn->C_Login(session, CKU_SO, (unsigned char *)so_pin, strlen(so_pin));
    if (rv != CKR_OK) {
        r = p11_fail(errmsg, errmsg_size, KH_EHSM, "SO login: C_Login", rv);
        goto out;
    }
    rv = fn->C_InitPIN(session, (unsigned char *)user_pin, strlen(user_pin));
    (void)fn->C_Logout(session);
    if (rv != CKR_OK) {
        r = p11_fail(errmsg, errmsg_size, KH_EHSM, "C_InitPIN", rv);
        goto out;
    }
    r = 0; /* success */
out:
    (void)fn->C_CloseSession(session);
    return r;
}

/* Initialise a token with the module already loaded. */
static int p11_init_token(struct ck_function_list *fn, const char *lib,
                          const char *token_label, const char *so_pin,
                          const char *user_pin, char *errmsg,
                          size_t errmsg_size)
{
    unsigned char label[P11_LABEL_BYTES];
    ck_slot_id_t slot = 0;
    unsigned long found = 0;
    ck_rv_t rv;
    int r;

    r = p11_label_pad(token_label, label, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = p11_free_slot(fn, label, lib, token_label, &slot, errmsg, errmsg_size);
    if (r != 0)
        return r;
    rv = fn->C_InitToken(slot, (unsigned char *)so_pin, strlen(so_pin), label);
    if (rv != CKR_OK)
        return p11_fail(errmsg, errmsg_size, KH_EHSM, "C_InitToken", rv);
    /* SoftHSM2 moves the new token to another slot id: look it up. */
    rv = p11_slot_by_label(fn, label, &slot, &found);
    if (rv != CKR_OK || found != 1)
        return kh_errmsg(errmsg, errmsg_size, KH_EHSM,
                         "pkcs11: the token labelled \"%s\" vanished after "
                         "C_InitToken",
                         token_label);
    return p11_init_user_pin(fn, slot, so_pin, user_pin, errmsg, errmsg_size);
}

int hsm_pkcs11_init_token(const char *lib, const char *token_label,
                          const char *so_pin, const char *user_pin,
                          char *errmsg, size_t errmsg_size)
{
    struct p11_module *module = NULL;
    int r;

    if (lib == NULL || lib[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: lib (the module path) is required");
    if (so_pin == NULL || so_pin[0] == '\0' || user_pin == NULL ||
        user_pin[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: the SO PIN and the user PIN are required");
    if (strlen(so_pin) > P11_PIN_BYTES_MAX ||
        strlen(user_pin) > P11_PIN_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "pkcs11: PINs are at most %d bytes",
                         P11_PIN_BYTES_MAX);
    r = p11_module_acquire(lib, &module, errmsg, errmsg_size);
    if (r != 0)
        return r;
    KH_ASSERT(module != NULL);
    r = p11_init_token(module->fn, lib, token_label, so_pin, user_pin, errmsg,
                       errmsg_size);
    p11_module_release(module);
    return r;
}
