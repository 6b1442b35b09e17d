/*
 * fw_p11.c - libkeyhold-fw-pkcs11.so: library, slot, token, session and
 * login entry points of the Keyhold device's PKCS#11 face (fw_p11.h).
 * The device is named by KEYHOLD_FW_DEVICE ("unix:/path/to/socket" or
 * "tcp:host:port"), read once by C_Initialize. One mutex serialises every
 * entry point (the device serves one request at a time anyway); OS
 * locking is what the module uses, so CKF_OS_LOCKING_OK is accepted and
 * caller-supplied mutex functions without it are refused (CKR_CANT_LOCK).
 *
 * It owns the module state; it must never keep the PIN (the device checks
 * it; a lost connection means logging in again), never log, and never
 * leave a function with the lock held.
 */
#include "pkcs11/fw_p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fwp11_state g_fwp11 = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .dev = {.fd = -1},
};

/* ---- shared helpers ------------------------------------------------ */

ck_rv_t fwp11_enter(void)
{
    pthread_mutex_lock(&g_fwp11.lock);
    if (!g_fwp11.initialized) {
        pthread_mutex_unlock(&g_fwp11.lock);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    return CKR_OK;
}

void fwp11_leave(void)
{
    pthread_mutex_unlock(&g_fwp11.lock);
}

struct fwp11_session *fwp11_session_get(ck_session_handle_t h)
{
    if (h == 0 || h > FWP11_SESSIONS_MAX || !g_fwp11.sessions[h - 1].used)
        return NULL;
    return &g_fwp11.sessions[h - 1];
}

void fwp11_pad(unsigned char *dst, size_t n, const char *s)
{
    size_t len = strlen(s);

    memset(dst, ' ', n);
    memcpy(dst, s, len < n ? len : n);
}

/* The device is gone: its login and every session go with it. */
static void fwp11_lost(void)
{
    fwp11_dev_close(&g_fwp11.dev);
    explicit_bzero(g_fwp11.sessions, sizeof(g_fwp11.sessions));
    fwp11_sobj_drop(0);
    g_fwp11.logged_in = 0;
}

ck_rv_t fwp11_call(uint8_t cmd, const uint8_t *req, size_t n, uint8_t *rep,
                   size_t cap, size_t *ret_len, int *ret_st)
{
    size_t len = 0;
    int st;

    if (g_fwp11.dev.fd >= 0 && !fwp11_dev_alive(&g_fwp11.dev))
        fwp11_lost();
    if (g_fwp11.dev.fd < 0 && fwp11_dev_open(&g_fwp11.dev) != 0)
        return CKR_DEVICE_REMOVED;
    st = fwp11_dev_call(&g_fwp11.dev, cmd, req, n, rep, cap, &len);
    if (st < 0) {
        fwp11_lost();
        return CKR_DEVICE_REMOVED;
    }
    if (st == FW_ST_STATE && g_fwp11.logged_in && cmd != FW_CMD_LOGIN) {
        g_fwp11.logged_in = 0; /* the device forgot us: log in again */
        fwp11_sobj_drop(0);    /* a logout destroys private objects */
    }
    *ret_len = len;
    *ret_st = st;
    return CKR_OK;
}

ck_rv_t fwp11_status_rv(int st)
{
    switch (st) {
    case FW_ST_OK:
        return CKR_OK;
    case FW_ST_STATE:
        return CKR_USER_NOT_LOGGED_IN;
    case FW_ST_BADPIN:
        return CKR_PIN_INCORRECT;
    case FW_ST_LOCKED:
        return CKR_PIN_LOCKED;
    case FW_ST_NOKEY:
        return CKR_KEY_HANDLE_INVALID;
    case FW_ST_AUTH:
        return CKR_ENCRYPTED_DATA_INVALID;
    case FW_ST_BADLEN:
        return CKR_DATA_LEN_RANGE;
    case FW_ST_NV:
        return CKR_DEVICE_MEMORY;
    case FW_ST_BADCMD: /* firmware older than the command */
        return CKR_FUNCTION_NOT_SUPPORTED;
    default:
        return CKR_DEVICE_ERROR;
    }
}

/* ---- library -------------------------------------------------------- */

static ck_rv_t init_args_check(const struct ck_c_initialize_args *a)
{
    int fns = (a->create_mutex != NULL) + (a->destroy_mutex != NULL) +
              (a->lock_mutex != NULL) + (a->unlock_mutex != NULL);

    if (a->reserved != NULL)
        return CKR_ARGUMENTS_BAD;
    if (fns != 0 && fns != 4)
        return CKR_ARGUMENTS_BAD;
    if (fns == 4 && !(a->flags & CKF_OS_LOCKING_OK))
        return CKR_CANT_LOCK;
    return CKR_OK;
}

ck_rv_t C_Initialize(void *init_args)
{
    const char *spec = getenv("KEYHOLD_FW_DEVICE");
    ck_rv_t rv = CKR_OK;

    if (init_args != NULL) {
        rv = init_args_check(init_args);
        if (rv != CKR_OK)
            return rv;
    }
    if (spec == NULL || strlen(spec) >= FWP11_DEVICE_MAX ||
        (strncmp(spec, "unix:", 5) != 0 && strncmp(spec, "tcp:", 4) != 0)) {
        fprintf(stderr, "keyhold-fw-pkcs11: set KEYHOLD_FW_DEVICE to "
                        "unix:PATH or tcp:HOST:PORT\n");
        return CKR_GENERAL_ERROR;
    }
    pthread_mutex_lock(&g_fwp11.lock);
    if (g_fwp11.initialized) {
        rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
    } else {
        memset(g_fwp11.sessions, 0, sizeof(g_fwp11.sessions));
        memset(g_fwp11.sobjs, 0, sizeof(g_fwp11.sobjs));
        memset(&g_fwp11.dev, 0, sizeof(g_fwp11.dev));
        g_fwp11.dev.fd = -1;
        memcpy(g_fwp11.dev.spec, spec, strlen(spec) + 1);
        g_fwp11.logged_in = 0;
        g_fwp11.initialized = 1;
    }
    pthread_mutex_unlock(&g_fwp11.lock);
    return rv;
}

ck_rv_t C_Finalize(void *reserved)
{
    ck_rv_t rv;

    if (reserved != NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    fwp11_lost(); /* closing the link ends the device's login */
    g_fwp11.initialized = 0;
    fwp11_leave();
    return CKR_OK;
}

ck_rv_t C_GetInfo(struct ck_info *info)
{
    ck_rv_t rv;

    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    memset(info, 0, sizeof(*info));
    info->cryptoki_version.major = 2;
    info->cryptoki_version.minor = 40;
    fwp11_pad(info->manufacturer_id, sizeof(info->manufacturer_id), "Keyhold");
    fwp11_pad(info->library_description, sizeof(info->library_description),
              "Keyhold device PKCS#11 module");
    info->library_version.major = 0;
    info->library_version.minor = 3;
    fwp11_leave();
    return CKR_OK;
}

/* ---- slot and token ------------------------------------------------- */

/* Present: connected, or connectable now. */
static int token_present(void)
{
    if (g_fwp11.dev.fd >= 0 && !fwp11_dev_alive(&g_fwp11.dev))
        fwp11_lost();
    return fwp11_dev_open(&g_fwp11.dev) == 0;
}

ck_rv_t C_GetSlotList(unsigned char token_present_only, ck_slot_id_t *list,
                      unsigned long *count)
{
    unsigned long n;
    ck_rv_t rv;

    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    n = (!token_present_only || token_present()) ? 1 : 0;
    if (list != NULL && *count < n)
        rv = CKR_BUFFER_TOO_SMALL;
    else if (list != NULL && n == 1)
        list[0] = FWP11_SLOT_ID;
    *count = n;
    fwp11_leave();
    return rv;
}

ck_rv_t C_GetSlotInfo(ck_slot_id_t slot_id, struct ck_slot_info *info)
{
    ck_rv_t rv;

    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    if (slot_id != FWP11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    memset(info, 0, sizeof(*info));
    fwp11_pad(info->slot_description, sizeof(info->slot_description),
              g_fwp11.dev.spec);
    fwp11_pad(info->manufacturer_id, sizeof(info->manufacturer_id), "Keyhold");
    info->flags = CKF_HW_SLOT | CKF_REMOVABLE_DEVICE;
    if (token_present())
        info->flags |= CKF_TOKEN_PRESENT;
    info->hardware_version.major = 1;
    fwp11_leave();
    return CKR_OK;
}

static unsigned long session_count(int rw_only)
{
    unsigned long n = 0;

    for (size_t i = 0; i < FWP11_SESSIONS_MAX; i++)
        if (g_fwp11.sessions[i].used &&
            (!rw_only || (g_fwp11.sessions[i].flags & CKF_RW_SESSION)))
            n++;
    return n;
}

/* INFO reply -> token fields (INFO layout: fw_proto.h). */
static void token_fill(struct ck_token_info *info, const uint8_t *rep,
                       size_t len)
{
    unsigned major = 0, minor = 0;
    char serial[17];
    uint8_t state = rep[1], tries = rep[2];

    fwp11_pad(info->label, sizeof(info->label), FWP11_TOKEN_LABEL);
    fwp11_pad(info->manufacturer_id, sizeof(info->manufacturer_id), "Keyhold");
    fwp11_pad(info->model, sizeof(info->model), "keyhold-fw");
    for (size_t i = 0; i < 8; i++) /* x coordinate of the device key */
        snprintf(serial + 2 * i, 3, "%02x", rep[49 + i]);
    fwp11_pad(info->serial_number, sizeof(info->serial_number), serial);
    info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED;
    if (state != FW_STATE_FACTORY)
        info->flags |= CKF_USER_PIN_INITIALIZED;
    if (state == FW_STATE_LOCKED || tries == 0)
        info->flags |= CKF_USER_PIN_LOCKED;
    else if (tries == 1)
        info->flags |= CKF_USER_PIN_FINAL_TRY;
    else if (tries < FW_PIN_TRIES)
        info->flags |= CKF_USER_PIN_COUNT_LOW;
    if (sscanf((const char *)rep + 48 + FW_EC_PUB_LEN, "keyhold-fw %u.%u",
               &major, &minor) == 2) {
        info->firmware_version.major = (unsigned char)major;
        info->firmware_version.minor = (unsigned char)minor;
    }
    (void)len;
}

ck_rv_t C_GetTokenInfo(ck_slot_id_t slot_id, struct ck_token_info *info)
{
    uint8_t rep[FW_MAX_PAYLOAD + 1];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv;

    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    if (slot_id != FWP11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = fwp11_call(FW_CMD_INFO, NULL, 0, rep, FW_MAX_PAYLOAD, &len, &st);
    if (rv != CKR_OK || st != FW_ST_OK || len < 48 + FW_EC_PUB_LEN) {
        rv = rv != CKR_OK ? CKR_TOKEN_NOT_PRESENT : CKR_DEVICE_ERROR;
        goto out;
    }
    rep[len] = '\0'; /* the version string ends the reply */
    memset(info, 0, sizeof(*info));
    token_fill(info, rep, len);
    info->max_session_count = FWP11_SESSIONS_MAX;
    info->session_count = session_count(0);
    info->max_rw_session_count = FWP11_SESSIONS_MAX;
    info->rw_session_count = session_count(1);
    info->max_pin_len = FW_PIN_MAX;
    info->min_pin_len = FW_PIN_MIN;
    info->total_public_memory = CK_UNAVAILABLE_INFORMATION;
    info->free_public_memory = CK_UNAVAILABLE_INFORMATION;
    info->total_private_memory = CK_UNAVAILABLE_INFORMATION;
    info->free_private_memory = CK_UNAVAILABLE_INFORMATION;
    info->hardware_version.major = 1;
    fwp11_pad(info->utc_time, sizeof(info->utc_time), "");
    rv = CKR_OK; /* success */
out:
    fwp11_leave();
    return rv;
}

#define FWP11_EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const ck_mechanism_type_t fwp11_mechs[] = {
    CKM_AES_KEY_GEN, CKM_AES_GCM, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA};

ck_rv_t C_GetMechanismList(ck_slot_id_t slot_id, ck_mechanism_type_t *list,
                           unsigned long *count)
{
    const unsigned long n = sizeof(fwp11_mechs) / sizeof(fwp11_mechs[0]);
    ck_rv_t rv;

    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    if (slot_id != FWP11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    if (list != NULL && *count < n)
        rv = CKR_BUFFER_TOO_SMALL;
    else if (list != NULL)
        memcpy(list, fwp11_mechs, sizeof(fwp11_mechs));
    *count = n;
    fwp11_leave();
    return rv;
}

ck_rv_t C_GetMechanismInfo(ck_slot_id_t slot_id, ck_mechanism_type_t type,
                           struct ck_mechanism_info *info)
{
    ck_rv_t rv;

    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    if (slot_id != FWP11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    memset(info, 0, sizeof(*info));
    info->min_key_size = FW_AES_KEY_LEN; /* AES: bytes */
    info->max_key_size = FW_AES_KEY_LEN;
    if (type == CKM_EC_KEY_PAIR_GEN || type == CKM_ECDSA) {
        info->min_key_size = 256; /* EC: bits of the curve */
        info->max_key_size = 256;
    }
    if (type == CKM_AES_KEY_GEN)
        info->flags = CKF_HW | CKF_GENERATE;
    else if (type == CKM_AES_GCM)
        info->flags = CKF_HW | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP |
                      CKF_UNWRAP;
    else if (type == CKM_EC_KEY_PAIR_GEN)
        info->flags = CKF_HW | CKF_GENERATE_KEY_PAIR | FWP11_EC_FLAGS;
    else if (type == CKM_ECDSA)
        info->flags = CKF_HW | CKF_SIGN | CKF_VERIFY | FWP11_EC_FLAGS;
    else
        rv = CKR_MECHANISM_INVALID;
    fwp11_leave();
    return rv;
}

/* ---- sessions ------------------------------------------------------- */

ck_rv_t C_OpenSession(ck_slot_id_t slot_id, ck_flags_t flags, void *application,
                      ck_notify_t notify, ck_session_handle_t *session)
{
    ck_rv_t rv;

    if (session == NULL)
        return CKR_ARGUMENTS_BAD;
    if (slot_id != FWP11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    rv = CKR_TOKEN_NOT_PRESENT;
    if (!token_present())
        goto out;
    rv = CKR_SESSION_COUNT;
    for (size_t i = 0; i < FWP11_SESSIONS_MAX; i++) {
        if (g_fwp11.sessions[i].used)
            continue;
        memset(&g_fwp11.sessions[i], 0, sizeof(g_fwp11.sessions[i]));
        g_fwp11.sessions[i].used = 1;
        g_fwp11.sessions[i].flags =
            flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
        *session = i + 1;
        rv = CKR_OK;
        break;
    }
out:
    fwp11_leave();
    return rv;
}

/* The last session closed: the application is logged out (v2.40 5.6). */
static void logout_if_last(void)
{
    uint8_t rep[1];
    size_t len = 0;
    int st = 0;

    if (session_count(0) == 0 && g_fwp11.logged_in) {
        (void)fwp11_call(FW_CMD_LOGOUT, NULL, 0, rep, sizeof(rep), &len, &st);
        g_fwp11.logged_in = 0;
    }
}

ck_rv_t C_CloseSession(ck_session_handle_t session)
{
    struct fwp11_session *s;
    ck_rv_t rv = fwp11_enter();

    if (rv != CKR_OK)
        return rv;
    s = fwp11_session_get(session);
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
    } else {
        explicit_bzero(s, sizeof(*s));
        fwp11_sobj_drop(session);
        logout_if_last();
    }
    fwp11_leave();
    return rv;
}

ck_rv_t C_CloseAllSessions(ck_slot_id_t slot_id)
{
    ck_rv_t rv;

    if (slot_id != FWP11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    explicit_bzero(g_fwp11.sessions, sizeof(g_fwp11.sessions));
    fwp11_sobj_drop(0);
    logout_if_last();
    fwp11_leave();
    return CKR_OK;
}

/* Also the health probe of callers (keyholdd pings with it): a device
 * that hung up ends the session here, without a round trip. */
ck_rv_t C_GetSessionInfo(ck_session_handle_t session,
                         struct ck_session_info *info)
{
    struct fwp11_session *s;
    int rw;
    ck_rv_t rv;

    if (info == NULL)
        return CKR_ARGUMENTS_BAD;
    rv = fwp11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!fwp11_dev_alive(&g_fwp11.dev))
        fwp11_lost();
    s = fwp11_session_get(session);
    if (s == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    rw = (s->flags & CKF_RW_SESSION) != 0;
    memset(info, 0, sizeof(*info));
    info->slot_id = FWP11_SLOT_ID;
    info->flags = s->flags;
    if (g_fwp11.logged_in)
        info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    else
        info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
out:
    fwp11_leave();
    return rv;
}

/* ---- login ---------------------------------------------------------- */

ck_rv_t C_Login(ck_session_handle_t session, ck_user_type_t user_type,
                unsigned char *pin, unsigned long pin_len)
{
    uint8_t rep[8];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv = fwp11_enter();

    if (rv != CKR_OK)
        return rv;
    if (fwp11_session_get(session) == NULL) {
        rv = CKR_SESSION_HANDLE_INVALID;
        goto out;
    }
    rv = CKR_USER_TYPE_INVALID;
    if (user_type != CKU_USER)
        goto out;
    rv = CKR_USER_ALREADY_LOGGED_IN;
    if (g_fwp11.logged_in)
        goto out;
    rv = CKR_PIN_LEN_RANGE;
    if (pin == NULL || pin_len < FW_PIN_MIN || pin_len > FW_PIN_MAX)
        goto out;
    rv = fwp11_call(FW_CMD_LOGIN, pin, pin_len, rep, sizeof(rep), &len, &st);
    if (rv != CKR_OK)
        goto out;
    if (st == FW_ST_STATE)
        rv = CKR_USER_PIN_NOT_INITIALIZED; /* factory state: no PIN yet */
    else
        rv = fwp11_status_rv(st);
    if (rv == CKR_OK)
        g_fwp11.logged_in = 1;
out:
    fwp11_leave();
    return rv;
}

ck_rv_t C_Logout(ck_session_handle_t session)
{
    uint8_t rep[1];
    size_t len = 0;
    int st = 0;
    ck_rv_t rv = fwp11_enter();

    if (rv != CKR_OK)
        return rv;
    if (fwp11_session_get(session) == NULL)
        rv = CKR_SESSION_HANDLE_INVALID;
    else if (!g_fwp11.logged_in)
        rv = CKR_USER_NOT_LOGGED_IN;
    else
        rv = fwp11_call(FW_CMD_LOGOUT, NULL, 0, rep, sizeof(rep), &len, &st);
    if (rv == CKR_OK) {
        g_fwp11.logged_in = 0;
        fwp11_sobj_drop(0); /* every session object is private (v2.40 5.6) */
        for (size_t i = 0; i < FWP11_SESSIONS_MAX; i++)
            explicit_bzero(&g_fwp11.sessions[i].op,
                           sizeof(g_fwp11.sessions[i].op));
    }
    fwp11_leave();
    return rv;
}
