/*
 * test_fw_pkcs11.c - unit tests of libkeyhold-fw-pkcs11.so (dlopen'ed from
 * the build tree) against the real device core, booted in this process on
 * a temporary NV file and served on a temporary unix socket by a thread,
 * exactly as keyhold-fw-sim serves it. Test-only.
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

/* Library, slot, token and mechanism information; a second C_Initialize
 * and unsupported functions answer their v2.40 codes. */
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
    assert_int_equal(ti.firmware_version.minor, 3);
    assert_int_equal(g_fn->C_GetMechanismInfo(0, CKM_AES_GCM, &mi), CKR_OK);
    assert_int_equal(mi.flags & (CKF_ENCRYPT | CKF_DECRYPT),
                     CKF_ENCRYPT | CKF_DECRYPT);
    assert_int_equal(g_fn->C_GetMechanismInfo(0, CKM_AES_CBC, &mi),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(g_fn->C_GetTokenInfo(1, &ti), CKR_SLOT_ID_INVALID);
    assert_int_equal(g_fn->C_GetMechanismInfo(0, CKM_ECDSA, &mi), CKR_OK);
    assert_true(mi.flags & CKF_SIGN);
    assert_int_equal(mi.max_key_size, 256);
    assert_int_equal(g_fn->C_VerifyInit(1, NULL, 1),
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
