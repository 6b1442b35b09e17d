/*
 * test_fw_pkcs11.c - unit tests of libkeyhold-fw-pkcs11.so (dlopen'ed from
 * the build tree) against the real device core, booted in this process on
 * a temporary NV file and served on a temporary unix socket by a thread,
 * exactly as keyhold-fw-sim serves it; OpenSSL checks what the device
 * computed. Test-only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/fw_core.h"
#include "fw_test_util.h"

#define PIN "2468"

static struct ck_function_list *g_fn;
static void *g_dl;
static int g_lfd = -1;
static pthread_t g_server;
static atomic_int g_drop; /* server: close the current client */
static char g_sock[400];
static uint8_t g_out[FW_MAX_FRAME];

/* The device side: one client at a time, like keyhold-fw-sim. */
static void serve(int c)
{
    uint8_t buf[256];
    struct pollfd pfd = {.fd = c, .events = POLLIN};

    for (;;) {
        if (atomic_exchange(&g_drop, 0))
            break;
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            size_t len = fw_core_rx(buf[i], g_out, sizeof(g_out));
            if (len > 0 && write(c, g_out, len) != (ssize_t)len)
                return;
        }
    }
}

static void *server_main(void *arg)
{
    for (;;) {
        int c = accept(g_lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        serve(c);
        close(c);
        fw_core_session_end();
        fw_core_rx_idle();
    }
}

static int setup(void **state)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct fw_reply rep;
    char env[450];
    CK_C_GetFunctionList get;

    assert_int_equal(fwt_setup(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, PIN, 4, &rep), FW_ST_OK);
    snprintf(g_sock, sizeof(g_sock), "%s.sock", fwt_nv_path());
    assert_true(strlen(g_sock) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, g_sock, strlen(g_sock) + 1);
    g_lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(g_lfd >= 0);
    assert_int_equal(bind(g_lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(g_lfd, 4), 0);
    assert_int_equal(pthread_create(&g_server, NULL, server_main, NULL), 0);
    snprintf(env, sizeof(env), "unix:%s", g_sock);
    setenv("KEYHOLD_FW_DEVICE", env, 1);
    g_dl = dlopen(KH_FW_PKCS11_PATH, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(g_dl);
    *(void **)&get = dlsym(g_dl, "C_GetFunctionList");
    assert_non_null(get);
    assert_int_equal(get(&g_fn), CKR_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)g_fn->C_Finalize(NULL);
    shutdown(g_lfd, SHUT_RDWR);
    close(g_lfd);
    pthread_join(g_server, NULL);
    dlclose(g_dl);
    unlink(g_sock);
    fwt_teardown();
    return 0;
}

static ck_session_handle_t open_login(void)
{
    ck_session_handle_t s = 0;

    assert_int_equal(g_fn->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                         NULL, NULL, &s),
                     CKR_OK);
    assert_int_equal(g_fn->C_Login(s, CKU_USER, (unsigned char *)PIN, 4),
                     CKR_OK);
    return s;
}

static ck_object_handle_t gen_key(ck_session_handle_t s, const char *label)
{
    ck_object_class_t cls = CKO_SECRET_KEY;
    ck_key_type_t kt = CKK_AES;
    unsigned long vl = 32;
    unsigned char yes = 1;
    struct ck_attribute t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &vl, sizeof(vl)},
        {CKA_TOKEN, &yes, 1},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    struct ck_mechanism m = {CKM_AES_KEY_GEN, NULL, 0};
    ck_object_handle_t k = 0;

    assert_int_equal(g_fn->C_GenerateKey(s, &m, t, 5, &k), CKR_OK);
    return k;
}

/* Caller mutex functions: never called (the module refuses them without
 * CKF_OS_LOCKING_OK and uses its own lock with it). */
static ck_rv_t mutex_create(void **mutex)
{
    return CKR_GENERAL_ERROR;
}

static ck_rv_t mutex_other(void *mutex)
{
    return CKR_GENERAL_ERROR;
}

/* Library, slot, token and mechanism information (AES-GCM wraps and
 * unwraps, ECDSA verifies); a second C_Initialize and unsupported
 * functions answer their v2.40 codes. */
static void test_info(void **state)
{
    struct ck_c_initialize_args a = {0};
    struct ck_token_info ti;
    struct ck_mechanism_info mi;
    ck_slot_id_t slots[2];
    unsigned long n = 2;

    a.create_mutex = mutex_create;
    a.destroy_mutex = mutex_other;
    a.lock_mutex = mutex_other;
    a.unlock_mutex = mutex_other;
    assert_int_equal(g_fn->C_Initialize(&a), CKR_CANT_LOCK);
    a.flags = CKF_OS_LOCKING_OK;
    assert_int_equal(g_fn->C_Initialize(&a), CKR_OK);
    assert_int_equal(g_fn->C_Initialize(NULL),
                     CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal(g_fn->C_GetSlotList(1, slots, &n), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(g_fn->C_GetTokenInfo(0, &ti), CKR_OK);
    assert_memory_equal(ti.label, "keyhold-fw                      ", 32);
    assert_true(ti.flags & CKF_USER_PIN_INITIALIZED);
    assert_true(ti.flags & CKF_TOKEN_INITIALIZED);
    assert_int_equal(ti.firmware_version.minor, 4);
    assert_int_equal(g_fn->C_GetMechanismInfo(0, CKM_AES_GCM, &mi), CKR_OK);
    assert_int_equal(mi.flags &
                         (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
                     CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
    assert_int_equal(g_fn->C_GetMechanismInfo(0, CKM_AES_CBC, &mi),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(g_fn->C_GetTokenInfo(1, &ti), CKR_SLOT_ID_INVALID);
    assert_int_equal(g_fn->C_GetMechanismInfo(0, CKM_ECDSA, &mi), CKR_OK);
    assert_true(mi.flags & CKF_SIGN);
    assert_true(mi.flags & CKF_VERIFY);
    assert_int_equal(mi.max_key_size, 256);
    assert_int_equal(g_fn->C_VerifyInit(1, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(g_fn->C_DigestInit(1, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(g_fn->C_VerifyUpdate(1, NULL, 0),
                     CKR_FUNCTION_NOT_SUPPORTED);
}

/* Login maps onto the device: wrong PIN, right PIN, already logged in,
 * session states, logout. */
static void test_login(void **state)
{
    struct ck_session_info si;
    ck_session_handle_t s = 0;

    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    assert_int_equal(g_fn->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &s),
                     CKR_OK);
    assert_int_equal(g_fn->C_Login(s, CKU_USER, (unsigned char *)"0000", 4),
                     CKR_PIN_INCORRECT);
    assert_int_equal(g_fn->C_Login(s, CKU_USER, (unsigned char *)"12", 2),
                     CKR_PIN_LEN_RANGE);
    assert_int_equal(g_fn->C_Login(s, CKU_USER, (unsigned char *)PIN, 4),
                     CKR_OK);
    assert_int_equal(g_fn->C_Login(s, CKU_USER, (unsigned char *)PIN, 4),
                     CKR_USER_ALREADY_LOGGED_IN);
    assert_int_equal(g_fn->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_USER_FUNCTIONS);
    assert_int_equal(g_fn->C_Logout(s), CKR_OK);
    assert_int_equal(g_fn->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
    assert_int_equal(g_fn->C_CloseSession(s), CKR_OK);
    assert_int_equal(g_fn->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
}

/* Key generation refuses an extractable key; the key is found by label
 * and class after login only; its attributes say sensitive and never
 * extractable, and CKA_VALUE is sensitive while the rest is answered. */
static void test_keygen_find_attrs(void **state)
{
    unsigned char yes = 1, sens = 0, extr = 1, never = 0, lab[40];
    unsigned long vl = 0, cls = CKO_SECRET_KEY, n = 0;
    ck_object_handle_t k, found[4];
    struct ck_mechanism m = {CKM_AES_KEY_GEN, NULL, 0};
    struct ck_attribute bad[] = {{CKA_EXTRACTABLE, &yes, 1}};
    struct ck_attribute find[] = {{CKA_CLASS, &cls, sizeof(cls)},
                                  {CKA_LABEL, "kek", 3}};
    struct ck_attribute get[] = {
        {CKA_SENSITIVE, &sens, 1},          {CKA_EXTRACTABLE, &extr, 1},
        {CKA_NEVER_EXTRACTABLE, &never, 1}, {CKA_VALUE_LEN, &vl, sizeof(vl)},
        {CKA_VALUE, lab, sizeof(lab)},      {CKA_LABEL, lab, sizeof(lab)},
    };
    ck_session_handle_t s;

    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    assert_int_equal(g_fn->C_GenerateKey(s, &m, bad, 1, &k),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    gen_key(s, "other");
    k = gen_key(s, "kek");
    assert_int_equal(g_fn->C_FindObjectsInit(s, find, 2), CKR_OK);
    assert_int_equal(g_fn->C_FindObjects(s, found, 4, &n), CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(found[0], k);
    assert_int_equal(g_fn->C_GetAttributeValue(s, k, get, 6),
                     CKR_ATTRIBUTE_SENSITIVE);
    assert_true(sens == 1 && extr == 0 && never == 1 && vl == 32);
    assert_int_equal(get[4].value_len, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(get[5].value_len, 3);
    assert_memory_equal(lab, "kek", 3);
    assert_int_equal(g_fn->C_Logout(s), CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsInit(s, find, 2), CKR_OK);
    assert_int_equal(g_fn->C_FindObjects(s, found, 4, &n), CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 0);
}

static ck_rv_t gcm(ck_session_handle_t s, ck_object_handle_t k, int enc,
                   unsigned char iv_byte, const char *aad, const uint8_t *in,
                   unsigned long n, uint8_t *out, unsigned long *out_len)
{
    uint8_t iv[12];
    struct ck_gcm_params p = {iv,          12, 96, (unsigned char *)aad,
                              strlen(aad), 128};
    struct ck_mechanism m = {CKM_AES_GCM, &p, sizeof(p)};
    ck_rv_t rv;

    memset(iv, iv_byte, sizeof(iv));
    rv = enc ? g_fn->C_EncryptInit(s, &m, k) : g_fn->C_DecryptInit(s, &m, k);
    if (rv != CKR_OK)
        return rv;
    return enc ? g_fn->C_Encrypt(s, (unsigned char *)in, n, out, out_len)
               : g_fn->C_Decrypt(s, (unsigned char *)in, n, out, out_len);
}

/* AES-GCM round trip through the device with the caller's IV: same IV
 * same ciphertext; another IV or AAD fails to decrypt; size query and a
 * short buffer keep the operation; bad parameters are refused. */
static void test_gcm(void **state)
{
    const uint8_t pt[32] = "root key root key root key root";
    uint8_t ct[64], ct2[64], back[64];
    unsigned long cl = sizeof(ct), cl2 = sizeof(ct2), bl = sizeof(back);
    uint8_t iv[16];
    struct ck_gcm_params p = {iv, 16, 128, NULL, 0, 128};
    struct ck_mechanism m = {CKM_AES_GCM, &p, sizeof(p)};
    ck_session_handle_t s;
    ck_object_handle_t k;

    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    k = gen_key(s, "kek");
    assert_int_equal(g_fn->C_EncryptInit(s, &m, k),
                     CKR_MECHANISM_PARAM_INVALID);
    p.iv_len = 12;
    p.tag_bits = 96;
    assert_int_equal(g_fn->C_EncryptInit(s, &m, k),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(gcm(s, k, 1, 7, "core/kek", pt, 32, ct, &cl), CKR_OK);
    assert_int_equal(cl, 48);
    assert_int_equal(gcm(s, k, 1, 7, "core/kek", pt, 32, ct2, &cl2), CKR_OK);
    assert_memory_equal(ct, ct2, 48);
    assert_int_equal(gcm(s, k, 0, 7, "core/kek", ct, 48, NULL, &bl), CKR_OK);
    assert_int_equal(bl, 32);
    bl = 8;
    assert_int_equal(g_fn->C_Decrypt(s, ct, 48, back, &bl),
                     CKR_BUFFER_TOO_SMALL);
    bl = sizeof(back);
    assert_int_equal(g_fn->C_Decrypt(s, ct, 48, back, &bl), CKR_OK);
    assert_int_equal(bl, 32);
    assert_memory_equal(back, pt, 32);
    assert_int_equal(gcm(s, k, 0, 8, "core/kek", ct, 48, back, &bl),
                     CKR_ENCRYPTED_DATA_INVALID);
    assert_int_equal(gcm(s, k, 0, 7, "core/kex", ct, 48, back, &bl),
                     CKR_ENCRYPTED_DATA_INVALID);
    assert_int_equal(g_fn->C_Decrypt(s, ct, 48, back, &bl),
                     CKR_OPERATION_NOT_INITIALIZED);
}

/* The device hangs up: the session is gone (no round trip needed to
 * notice); a new session and login work again; random crosses chunks. */
static void test_link_lost(void **state)
{
    struct ck_session_info si;
    uint8_t r[600];
    ck_session_handle_t s;
    size_t zeros = 0;

    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    atomic_store(&g_drop, 1);
    usleep(200 * 1000);
    assert_int_equal(g_fn->C_GetSessionInfo(s, &si),
                     CKR_SESSION_HANDLE_INVALID);
    s = open_login();
    assert_int_equal(g_fn->C_GetSessionInfo(s, &si), CKR_OK);
    assert_int_equal(si.state, CKS_RW_USER_FUNCTIONS);
    memset(r, 0, sizeof(r));
    assert_int_equal(g_fn->C_GenerateRandom(s, r, sizeof(r)), CKR_OK);
    for (size_t i = 0; i < sizeof(r); i++)
        zeros += r[i] == 0;
    assert_true(zeros < 30);
}

static ck_rv_t gen_pair(ck_session_handle_t s, const uint8_t *oid,
                        size_t oid_len, const char *label,
                        ck_object_handle_t *pub, ck_object_handle_t *priv)
{
    ck_key_type_t kt = CKK_EC;
    unsigned char yes = 1;
    struct ck_attribute pt[] = {
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &yes, 1},
        {CKA_VERIFY, &yes, 1},
        {CKA_EC_PARAMS, (void *)oid, oid_len},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    struct ck_attribute kt2[] = {
        {CKA_TOKEN, &yes, 1},     {CKA_PRIVATE, &yes, 1},
        {CKA_SENSITIVE, &yes, 1}, {CKA_SIGN, &yes, 1},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    struct ck_mechanism m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};

    return g_fn->C_GenerateKeyPair(s, &m, pt, 5, kt2, 5, pub, priv);
}

static ck_rv_t ecdsa(ck_session_handle_t s, ck_object_handle_t k,
                     const uint8_t *in, unsigned long n, uint8_t *sig,
                     unsigned long *sig_len)
{
    struct ck_mechanism m = {CKM_ECDSA, NULL, 0};
    ck_rv_t rv = g_fn->C_SignInit(s, &m, k);

    return rv != CKR_OK ? rv : g_fn->C_Sign(s, (unsigned char *)in, n, sig,
                                            sig_len);
}

/* P-256 key pair generated in the device: only prime256v1 is accepted;
 * the private key is found by class and label, sensitive, its value
 * unreadable; the public key's CKA_EC_POINT is the device's point; a
 * CKM_ECDSA signature of a hash verifies with OpenSSL and is
 * deterministic; a longer input signs as its leftmost 32 bytes; a size
 * query keeps the operation; an AES key cannot sign. */
static void test_ecdsa(void **state)
{
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x03, 0x01, 0x07};
    static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    unsigned long cls = CKO_PRIVATE_KEY, n = 0, sl, sl2;
    uint8_t point[80], val[40], hash[48], sig[64], sig2[64], sens = 0;
    struct ck_attribute find[] = {{CKA_CLASS, &cls, sizeof(cls)},
                                  {CKA_LABEL, "sig", 3}};
    struct ck_attribute pget[] = {{CKA_EC_POINT, point, sizeof(point)}};
    struct ck_attribute kget[] = {{CKA_SENSITIVE, &sens, 1},
                                  {CKA_VALUE, val, sizeof(val)}};
    ck_object_handle_t pub = 0, priv = 0, found[4], aes;
    struct ck_mechanism m = {CKM_ECDSA, NULL, 0};
    ck_session_handle_t s;

    for (size_t i = 0; i < sizeof(hash); i++)
        hash[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    assert_int_equal(gen_pair(s, p384, sizeof(p384), "x", &pub, &priv),
                     CKR_CURVE_NOT_SUPPORTED);
    assert_int_equal(gen_pair(s, p256, sizeof(p256), "other", &pub, &priv),
                     CKR_OK);
    assert_int_equal(gen_pair(s, p256, sizeof(p256), "sig", &pub, &priv),
                     CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsInit(s, find, 2), CKR_OK);
    assert_int_equal(g_fn->C_FindObjects(s, found, 4, &n), CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(found[0], priv);
    assert_int_equal(g_fn->C_GetAttributeValue(s, priv, kget, 2),
                     CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(sens, 1);
    assert_int_equal(g_fn->C_GetAttributeValue(s, pub, pget, 1), CKR_OK);
    assert_int_equal(pget[0].value_len, 67);
    assert_true(point[0] == 0x04 && point[1] == 65 && point[2] == 0x04);
    sl = 0;
    assert_int_equal(ecdsa(s, priv, hash, 32, NULL, &sl), CKR_OK);
    assert_int_equal(sl, 64);
    assert_int_equal(g_fn->C_Sign(s, hash, 32, sig, &sl), CKR_OK);
    assert_true(fwt_openssl_verify(point + 2, hash, sig));
    sl2 = sizeof(sig2);
    assert_int_equal(ecdsa(s, priv, hash, 48, sig2, &sl2), CKR_OK);
    assert_memory_equal(sig, sig2, 64);
    assert_int_equal(ecdsa(s, priv, hash, 65, sig2, &sl2),
                     CKR_DATA_LEN_RANGE);
    assert_int_equal(g_fn->C_Sign(s, hash, 32, sig2, &sl2),
                     CKR_OPERATION_NOT_INITIALIZED);
    hash[0] ^= 1;
    assert_false(fwt_openssl_verify(point + 2, hash, sig));
    aes = gen_key(s, "kek");
    assert_int_equal(g_fn->C_SignInit(s, &m, aes), CKR_KEY_HANDLE_INVALID);
}

/* ---- key wrapping and verification ---------------------------------- */

/* A session AES key of n bytes with value v. */
static ck_object_handle_t make_key(ck_session_handle_t s, const uint8_t *v,
                                   unsigned long n, unsigned char extractable,
                                   unsigned char sensitive, const char *label)
{
    ck_object_class_t cls = CKO_SECRET_KEY;
    ck_key_type_t kt = CKK_AES;
    unsigned char no = 0;
    struct ck_attribute t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &no, 1},
        {CKA_EXTRACTABLE, &extractable, 1},
        {CKA_SENSITIVE, &sensitive, 1},
        {CKA_VALUE, (void *)v, n},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    ck_object_handle_t k = 0;

    assert_int_equal(g_fn->C_CreateObject(s, t, 7, &k), CKR_OK);
    return k;
}

/* CKM_AES_GCM wrap of k under kek, IV 12 x 0x09 and the AAD given. */
static ck_rv_t wrap(ck_session_handle_t s, ck_object_handle_t kek,
                    ck_object_handle_t k, const char *aad, uint8_t *out,
                    unsigned long *out_len)
{
    uint8_t iv[12];
    struct ck_gcm_params p = {iv,          12, 96, (unsigned char *)aad,
                              strlen(aad), 128};
    struct ck_mechanism m = {CKM_AES_GCM, &p, sizeof(p)};

    memset(iv, 9, sizeof(iv));
    return g_fn->C_WrapKey(s, &m, kek, k, out, out_len);
}

/* The matching unwrap into a token (device) or a session object. */
static ck_rv_t unwrap(ck_session_handle_t s, ck_object_handle_t kek,
                      const char *aad, const uint8_t *blob, unsigned long n,
                      unsigned char token, unsigned char extractable,
                      const char *label, ck_object_handle_t *ret)
{
    uint8_t iv[12];
    struct ck_gcm_params p = {iv,          12, 96, (unsigned char *)aad,
                              strlen(aad), 128};
    struct ck_mechanism m = {CKM_AES_GCM, &p, sizeof(p)};
    ck_object_class_t cls = CKO_SECRET_KEY;
    ck_key_type_t kt = CKK_AES;
    struct ck_attribute t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &token, 1},
        {CKA_EXTRACTABLE, &extractable, 1},
        {CKA_LABEL, (void *)label, strlen(label)},
    };

    memset(iv, 9, sizeof(iv));
    return g_fn->C_UnwrapKey(s, &m, kek, (unsigned char *)blob, n, t, 5, ret);
}

/* CKA_VALUE of k into out (cap bytes); its length, or -1 if refused. */
static long key_value(ck_session_handle_t s, ck_object_handle_t k,
                      uint8_t *out, unsigned long cap)
{
    struct ck_attribute a = {CKA_VALUE, out, cap};

    if (g_fn->C_GetAttributeValue(s, k, &a, 1) != CKR_OK)
        return -1;
    return (long)a.value_len;
}

/* One boolean attribute of k (0 or 1; -1 if not answered). */
static int key_bool(ck_session_handle_t s, ck_object_handle_t k,
                    ck_attribute_type_t type)
{
    unsigned char b = 2;
    struct ck_attribute a = {type, &b, 1};

    if (g_fn->C_GetAttributeValue(s, k, &a, 1) != CKR_OK)
        return -1;
    return b;
}

/* AES-256-GCM with OpenSSL: out = ct || tag (n + 16 bytes). */
static void ossl_gcm(const uint8_t key[32], const uint8_t iv[12],
                     const char *aad, const uint8_t *pt, int n, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0;

    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv),
                     1);
    assert_int_equal(EVP_EncryptUpdate(c, NULL, &len,
                                       (const unsigned char *)aad,
                                       (int)strlen(aad)),
                     1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &len, pt, n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + len, &len), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n),
                     1);
    EVP_CIPHER_CTX_free(c);
}

/* An extractable session key wrapped under a device key with CKM_AES_GCM
 * and unwrapped back into a session object has the same value (32- and
 * 16-byte keys); the blob is ct || tag, which C_Decrypt under the device
 * key opens to the value; a size query and a short buffer answer the
 * length; a flipped ciphertext or tag byte or another AAD answer
 * CKR_WRAPPED_KEY_INVALID, a blob of no AES key size
 * CKR_WRAPPED_KEY_LEN_RANGE. */
static void test_wrap_roundtrip(void **state)
{
    uint8_t v32[32], v16[16], blob[64], bad[64], back[40];
    unsigned long bl = 0, n;
    ck_object_handle_t kek, k, k2, k16;
    ck_session_handle_t s;

    for (size_t i = 0; i < sizeof(v32); i++)
        v32[i] = (uint8_t)(i * 3 + 1);
    for (size_t i = 0; i < sizeof(v16); i++)
        v16[i] = (uint8_t)(0xA0 + i);
    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    kek = gen_key(s, "kek");
    k = make_key(s, v32, 32, 1, 0, "data-key");
    assert_int_equal(key_value(s, k, back, sizeof(back)), 32);
    assert_memory_equal(back, v32, 32);
    assert_int_equal(wrap(s, kek, k, "wrap", NULL, &bl), CKR_OK);
    assert_int_equal(bl, 48);
    bl = 47;
    assert_int_equal(wrap(s, kek, k, "wrap", blob, &bl), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(bl, 48);
    bl = sizeof(blob);
    assert_int_equal(wrap(s, kek, k, "wrap", blob, &bl), CKR_OK);
    assert_int_equal(bl, 48);
    n = sizeof(back);
    assert_int_equal(gcm(s, kek, 0, 9, "wrap", blob, 48, back, &n), CKR_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(back, v32, 32);
    assert_int_equal(unwrap(s, kek, "wrap", blob, 48, 0, 1, "back", &k2),
                     CKR_OK);
    assert_true(k2 != k);
    memset(back, 0, sizeof(back));
    assert_int_equal(key_value(s, k2, back, sizeof(back)), 32);
    assert_memory_equal(back, v32, 32);
    memcpy(bad, blob, 48);
    bad[5] ^= 1;
    assert_int_equal(unwrap(s, kek, "wrap", bad, 48, 0, 1, "x", &k2),
                     CKR_WRAPPED_KEY_INVALID);
    bad[5] ^= 1;
    bad[47] ^= 0x80;
    assert_int_equal(unwrap(s, kek, "wrap", bad, 48, 0, 1, "x", &k2),
                     CKR_WRAPPED_KEY_INVALID);
    assert_int_equal(unwrap(s, kek, "warp", blob, 48, 0, 1, "x", &k2),
                     CKR_WRAPPED_KEY_INVALID);
    assert_int_equal(unwrap(s, kek, "wrap", blob, 47, 0, 1, "x", &k2),
                     CKR_WRAPPED_KEY_LEN_RANGE);
    k16 = make_key(s, v16, 16, 1, 0, "short");
    bl = sizeof(blob);
    assert_int_equal(wrap(s, kek, k16, "", blob, &bl), CKR_OK);
    assert_int_equal(bl, 32);
    assert_int_equal(unwrap(s, kek, "", blob, 32, 0, 1, "short2", &k2),
                     CKR_OK);
    assert_int_equal(key_value(s, k2, back, sizeof(back)), 16);
    assert_memory_equal(back, v16, 16);
}

/* C_UnwrapKey with CKA_TOKEN true imports the key into the device
 * (UNWRAP_KEY): a wrapping-key object found by its label, sensitive, not
 * extractable, not local, never-extractable nor always-sensitive, which
 * encrypts exactly as OpenSSL does under the original value and wraps a
 * key itself; a tampered blob (leaving the slot free), an extractable
 * token template, a 16-byte key and a read-only session are refused. */
static void test_unwrap_into_device(void **state)
{
    static const uint8_t pt[20] = "imported key payload";
    uint8_t v32[32], blob[64], bad[64], ct[64], ref[64], iv[12], back[40];
    unsigned long bl = sizeof(blob), cl = sizeof(ct), cls = CKO_SECRET_KEY;
    unsigned long kgm = 0, n = 0;
    struct ck_attribute find[] = {{CKA_CLASS, &cls, sizeof(cls)},
                                  {CKA_LABEL, "imported", 8}};
    struct ck_attribute kg = {CKA_KEY_GEN_MECHANISM, &kgm, sizeof(kgm)};
    ck_object_handle_t kek, k, imp = 0, k2, found[4];
    ck_session_handle_t s, ro = 0;

    for (size_t i = 0; i < sizeof(v32); i++)
        v32[i] = (uint8_t)(0x55 ^ (i * 11));
    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    kek = gen_key(s, "kek");
    k = make_key(s, v32, 32, 1, 0, "to-import");
    assert_int_equal(wrap(s, kek, k, "imp", blob, &bl), CKR_OK);
    memcpy(bad, blob, 48);
    bad[0] ^= 4;
    assert_int_equal(unwrap(s, kek, "imp", bad, 48, 1, 0, "imported", &imp),
                     CKR_WRAPPED_KEY_INVALID);
    assert_int_equal(unwrap(s, kek, "imp", blob, 48, 1, 1, "imported", &imp),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(unwrap(s, kek, "imp", blob, 48, 1, 0, "imported", &imp),
                     CKR_OK);
    assert_int_equal(imp, kek + 1); /* the failed tries took no slot */
    assert_int_equal(g_fn->C_FindObjectsInit(s, find, 2), CKR_OK);
    assert_int_equal(g_fn->C_FindObjects(s, found, 4, &n), CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(found[0], imp);
    assert_int_equal(key_bool(s, imp, CKA_SENSITIVE), 1);
    assert_int_equal(key_bool(s, imp, CKA_EXTRACTABLE), 0);
    assert_int_equal(key_bool(s, imp, CKA_LOCAL), 0);
    assert_int_equal(key_bool(s, imp, CKA_NEVER_EXTRACTABLE), 0);
    assert_int_equal(key_bool(s, imp, CKA_ALWAYS_SENSITIVE), 0);
    assert_int_equal(key_bool(s, imp, CKA_WRAP), 1);
    assert_int_equal(key_bool(s, kek, CKA_LOCAL), 1);
    assert_int_equal(key_bool(s, kek, CKA_NEVER_EXTRACTABLE), 1);
    assert_int_equal(g_fn->C_GetAttributeValue(s, imp, &kg, 1), CKR_OK);
    assert_int_equal(kgm, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(key_value(s, imp, back, sizeof(back)), -1);
    /* the device holds the original value: OpenSSL agrees byte for byte */
    assert_int_equal(gcm(s, imp, 1, 5, "aad", pt, sizeof(pt), ct, &cl),
                     CKR_OK);
    assert_int_equal(cl, sizeof(pt) + 16);
    memset(iv, 5, sizeof(iv));
    ossl_gcm(v32, iv, "aad", pt, sizeof(pt), ref);
    assert_memory_equal(ct, ref, sizeof(pt) + 16);
    bl = sizeof(blob);
    assert_int_equal(wrap(s, imp, k, "again", blob, &bl), CKR_OK);
    assert_int_equal(unwrap(s, imp, "again", blob, 48, 0, 1, "again", &k2),
                     CKR_OK);
    assert_int_equal(key_value(s, k2, back, sizeof(back)), 32);
    assert_memory_equal(back, v32, 32);
    k2 = make_key(s, v32, 16, 1, 0, "aes-128");
    bl = sizeof(blob);
    assert_int_equal(wrap(s, kek, k2, "", blob, &bl), CKR_OK);
    assert_int_equal(unwrap(s, kek, "", blob, 32, 1, 0, "small", &k2),
                     CKR_WRAPPED_KEY_LEN_RANGE);
    assert_int_equal(g_fn->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL,
                                         &ro),
                     CKR_OK);
    bl = sizeof(blob);
    assert_int_equal(wrap(s, kek, k, "imp", blob, &bl), CKR_OK);
    assert_int_equal(unwrap(ro, kek, "imp", blob, 48, 1, 0, "ro", &k2),
                     CKR_SESSION_READ_ONLY);
}

/* Only extractable session keys can be wrapped: a device key, a P-256
 * private key and a non-extractable session key (whose value is also
 * unreadable) answer CKR_KEY_UNEXTRACTABLE, a public key
 * CKR_KEY_NOT_WRAPPABLE; a sensitive but extractable key wraps; a
 * session object cannot wrap; session objects are found by label, refuse
 * token templates and odd sizes, and die with C_DestroyObject, their
 * session, the logout and the device link; device objects cannot be
 * destroyed. */
static void test_wrap_refusals(void **state)
{
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x03, 0x01, 0x07};
    uint8_t v[32], blob[64], back[40];
    unsigned long bl = sizeof(blob), n = 0;
    unsigned char yes = 1;
    struct ck_attribute tok[] = {{CKA_TOKEN, &yes, 1}, {CKA_VALUE, v, 32}};
    struct ck_attribute odd[] = {{CKA_VALUE, v, 20}};
    struct ck_attribute find[] = {{CKA_LABEL, "sess", 4}};
    ck_object_handle_t kek, pub, priv, ne, sens, k, found[8];
    ck_session_handle_t s, s2;

    memset(v, 0x3c, sizeof(v));
    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    kek = gen_key(s, "kek");
    assert_int_equal(gen_pair(s, p256, sizeof(p256), "sig", &pub, &priv),
                     CKR_OK);
    ne = make_key(s, v, 32, 0, 0, "sess");
    sens = make_key(s, v, 32, 1, 1, "sens");
    assert_int_equal(wrap(s, kek, kek, "", blob, &bl), CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(wrap(s, kek, priv, "", blob, &bl),
                     CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(wrap(s, kek, ne, "", blob, &bl), CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(wrap(s, kek, pub, "", blob, &bl), CKR_KEY_NOT_WRAPPABLE);
    assert_int_equal(wrap(s, kek, 0x999, "", blob, &bl),
                     CKR_KEY_HANDLE_INVALID);
    assert_int_equal(wrap(s, sens, ne, "", blob, &bl),
                     CKR_WRAPPING_KEY_HANDLE_INVALID);
    assert_int_equal(key_value(s, ne, back, sizeof(back)), -1);
    assert_int_equal(key_value(s, sens, back, sizeof(back)), -1);
    assert_int_equal(wrap(s, kek, sens, "", blob, &bl), CKR_OK);
    assert_int_equal(g_fn->C_CreateObject(s, tok, 2, &k),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(g_fn->C_CreateObject(s, odd, 1, &k),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(g_fn->C_CreateObject(s, tok, 0, &k),
                     CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(g_fn->C_FindObjectsInit(s, find, 1), CKR_OK);
    assert_int_equal(g_fn->C_FindObjects(s, found, 8, &n), CKR_OK);
    assert_int_equal(g_fn->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(found[0], ne);
    assert_int_equal(key_bool(s, ne, CKA_TOKEN), 0);
    assert_int_equal(g_fn->C_DestroyObject(s, kek), CKR_ACTION_PROHIBITED);
    assert_int_equal(g_fn->C_DestroyObject(s, ne), CKR_OK);
    assert_int_equal(key_bool(s, ne, CKA_TOKEN), -1);
    assert_int_equal(g_fn->C_DestroyObject(s, ne), CKR_OBJECT_HANDLE_INVALID);
    /* a session object dies with its session, all of them at logout */
    assert_int_equal(g_fn->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL,
                                         &s2),
                     CKR_OK);
    k = make_key(s2, v, 24, 1, 0, "s2");
    assert_int_equal(key_bool(s, k, CKA_TOKEN), 0);
    assert_int_equal(g_fn->C_CloseSession(s2), CKR_OK);
    assert_int_equal(key_bool(s, k, CKA_TOKEN), -1);
    assert_int_equal(g_fn->C_Logout(s), CKR_OK);
    assert_int_equal(wrap(s, kek, sens, "", blob, &bl),
                     CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(g_fn->C_Login(s, CKU_USER, (unsigned char *)PIN, 4),
                     CKR_OK);
    assert_int_equal(key_bool(s, sens, CKA_TOKEN), -1);
    k = make_key(s, v, 32, 1, 0, "link");
    assert_int_equal(key_bool(s, k, CKA_TOKEN), 0);
    atomic_store(&g_drop, 1);
    usleep(200 * 1000);
    s = open_login();
    assert_int_equal(key_bool(s, k, CKA_TOKEN), -1);
}

/* C_Verify with CKM_ECDSA and the device's public key accepts the
 * device's signature (also over a longer input, by its leftmost 32
 * bytes) and answers CKR_SIGNATURE_INVALID for a flipped signature byte,
 * another hash and another key pair; bad lengths, a private-key handle
 * and a C_Verify without C_VerifyInit are refused. */
static void test_verify(void **state)
{
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                   0xce, 0x3d, 0x03, 0x01, 0x07};
    uint8_t hash[48], sig[64];
    unsigned long sl = sizeof(sig);
    struct ck_mechanism m = {CKM_ECDSA, NULL, 0};
    ck_object_handle_t pub, priv, pub2, priv2;
    ck_session_handle_t s;

    for (size_t i = 0; i < sizeof(hash); i++)
        hash[i] = (uint8_t)(i * 5 + 3);
    assert_int_equal(g_fn->C_Initialize(NULL), CKR_OK);
    s = open_login();
    assert_int_equal(gen_pair(s, p256, sizeof(p256), "sig", &pub, &priv),
                     CKR_OK);
    assert_int_equal(gen_pair(s, p256, sizeof(p256), "sig2", &pub2, &priv2),
                     CKR_OK);
    assert_int_equal(ecdsa(s, priv, hash, 32, sig, &sl), CKR_OK);
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OK);
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OPERATION_ACTIVE);
    assert_int_equal(g_fn->C_Verify(s, hash, 32, sig, 64), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 32, sig, 64),
                     CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 48, sig, 64), CKR_OK);
    sig[10] ^= 0x01;
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 32, sig, 64),
                     CKR_SIGNATURE_INVALID);
    sig[10] ^= 0x01;
    hash[31] ^= 0x80;
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 32, sig, 64),
                     CKR_SIGNATURE_INVALID);
    hash[31] ^= 0x80;
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub2), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 32, sig, 64),
                     CKR_SIGNATURE_INVALID);
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 32, sig, 63),
                     CKR_SIGNATURE_LEN_RANGE);
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_OK);
    assert_int_equal(g_fn->C_Verify(s, hash, 0, sig, 64), CKR_DATA_LEN_RANGE);
    assert_int_equal(g_fn->C_VerifyInit(s, &m, priv), CKR_KEY_HANDLE_INVALID);
    m.mechanism = CKM_ECDSA_SHA256;
    assert_int_equal(g_fn->C_VerifyInit(s, &m, pub), CKR_MECHANISM_INVALID);
}

/* UNWRAP_KEY on the device itself: login needed; at its largest request
 * (32-byte label, 64-byte AAD) it imports the key, marked
 * FW_WRAP_IMPORTED in WRAP_LIST, and the slot then encrypts as OpenSSL
 * does with that key; one byte more, a label over FW_LABEL_MAX, a
 * ciphertext other than one AES-256 key, a used, missing or empty slot
 * and a bad tag are refused. */
static void test_device_unwrap_key(void **state)
{
    uint8_t key[32], iv[12], req[200], w[200], ref[64], data[16];
    struct fw_reply rep;
    size_t wl, n;

    memset(req, 0, sizeof(req));
    memset(key, 0x6b, sizeof(key));
    memset(iv, 0x21, sizeof(iv));
    memset(data, 0x44, sizeof(data));
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, 65, &rep), FW_ST_STATE);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, PIN, 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, "\0", 1, &rep), FW_ST_OK);
    /* WRAP under slot 0 with a 64-byte AAD: slot, aad_len, aad, iv, key */
    w[0] = 0;
    fw_put_u16(w + 1, 64);
    memset(w + 3, 0x7a, 64);
    memcpy(w + 67, iv, 12);
    memcpy(w + 79, key, 32);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, w, 111, &rep), FW_ST_OK);
    assert_int_equal(rep.len, 12 + 32 + 16);
    memcpy(w + 79, rep.payload + 12, 48); /* now UNWRAP's request */
    wl = 79 + 48;
    req[0] = 1;
    req[1] = 32;
    memset(req + 2, 'L', 32);
    memcpy(req + 34, w, wl);
    n = 34 + wl;
    assert_int_equal(n, 161);
    req[n] = 0;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n + 1, &rep),
                     FW_ST_BADLEN);
    req[1] = 33;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n, &rep), FW_ST_BADLEN);
    req[1] = 32;
    req[0] = FW_WRAP_SLOTS;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n, &rep), FW_ST_BADARG);
    req[0] = 0;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n, &rep), FW_ST_EXISTS);
    req[0] = 1;
    req[n - 1] ^= 1;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n, &rep), FW_ST_AUTH);
    req[n - 1] ^= 1;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n - 1, &rep),
                     FW_ST_BADLEN);
    req[34] = 2; /* an empty source slot */
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n, &rep), FW_ST_NOKEY);
    req[34] = 0;
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP_KEY, req, n, &rep), FW_ST_OK);
    assert_int_equal(rep.len, 0);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP_LIST, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.payload[0], FW_WRAP_GENERATED);
    assert_int_equal(rep.payload[FW_WRAP_LIST_ENTRY], FW_WRAP_IMPORTED);
    assert_int_equal(rep.payload[FW_WRAP_LIST_ENTRY + 1], 32);
    assert_int_equal(rep.payload[2 * FW_WRAP_LIST_ENTRY], 0);
    /* slot 1 holds key: WRAP under it matches OpenSSL */
    w[0] = 1;
    fw_put_u16(w + 1, 0);
    memcpy(w + 3, iv, 12);
    memcpy(w + 15, data, sizeof(data));
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, w, 15 + sizeof(data), &rep),
                     FW_ST_OK);
    ossl_gcm(key, iv, "", data, sizeof(data), ref);
    assert_int_equal(rep.len, 12 + sizeof(data) + 16);
    assert_memory_equal(rep.payload + 12, ref, sizeof(data) + 16);
}

/* VERIFY on the device itself takes exactly slot, hash and r || s after
 * login, accepts the slot's signature and answers AUTH for a flipped
 * byte, NOKEY for an empty slot and BADARG past the last one. */
static void test_device_verify(void **state)
{
    uint8_t vreq[1 + 32 + 64 + 1];
    struct fw_reply rep;

    memset(vreq, 0, sizeof(vreq));
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 97, &rep), FW_ST_STATE);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, PIN, 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_EC, "\0", 1, &rep), FW_ST_OK);
    vreq[0] = 0;
    memset(vreq + 1, 0x5e, 32);
    assert_int_equal(fwt_cmd(FW_CMD_SIGN, vreq, 33, &rep), FW_ST_OK);
    memcpy(vreq + 33, rep.payload, 64);
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 97, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 98, &rep), FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 96, &rep), FW_ST_BADLEN);
    vreq[96] ^= 1;
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 97, &rep), FW_ST_AUTH);
    vreq[0] = 1;
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 97, &rep), FW_ST_NOKEY);
    vreq[0] = FW_EC_SLOTS;
    assert_int_equal(fwt_cmd(FW_CMD_VERIFY, vreq, 97, &rep), FW_ST_BADARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keygen_find_attrs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gcm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ecdsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwrap_into_device, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrap_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_unwrap_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_device_verify, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
