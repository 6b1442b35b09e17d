/*
 * test_fw_core.c - every device command on the host board: PIN retries and
 * lockout (surviving restart), wrap/unwrap with AAD and tampering, P-256
 * sign and attestation verified with OpenSSL, counter monotonic across
 * restarts, the event-log hash chain, and zeroisation by factory reset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "fw_test_util.h"

static int setup(void **state)
{
    return fwt_setup();
}

static int teardown(void **state)
{
    fwt_teardown();
    return 0;
}

/* Wrong PINs count down, persist across restart, and lock the device;
 * a locked device refuses even the right PIN. */
static void test_login_lockout(void **state)
{
    struct fw_reply rep;

    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "0000", 4, &rep), FW_ST_BADPIN);
    assert_int_equal(rep.payload[0], FW_PIN_TRIES - 1);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_LOGOUT, NULL, 0, &rep), FW_ST_OK);
    for (unsigned i = 1; i < FW_PIN_TRIES; i++) {
        assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "9999", 4, &rep), FW_ST_BADPIN);
        assert_int_equal(rep.payload[0], FW_PIN_TRIES - i);
        if (i == 2)
            assert_int_equal(fwt_restart(), 0);
    }
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "9999", 4, &rep), FW_ST_LOCKED);
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_LOCKED);
    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.payload[1], FW_STATE_LOCKED);
    assert_int_equal(rep.payload[2], 0);
}

static size_t wrap_req(uint8_t *req, uint8_t slot, const char *aad,
                       const uint8_t *data, size_t n)
{
    size_t al = strlen(aad);

    req[0] = slot;
    fw_put_u16(req + 1, (uint16_t)al);
    memcpy(req + 3, aad, al);
    memcpy(req + 3 + al, data, n);
    return 3 + al + n;
}

/* A WRAP request: slot, aad, the caller's IV (byte iv_byte repeated), pt. */
static size_t seal_req(uint8_t *req, uint8_t slot, const char *aad,
                       uint8_t iv_byte, const uint8_t *data, size_t n)
{
    size_t al = strlen(aad);

    req[0] = slot;
    fw_put_u16(req + 1, (uint16_t)al);
    memcpy(req + 3, aad, al);
    memset(req + 3 + al, iv_byte, FW_GCM_IV_LEN);
    memcpy(req + 3 + al + FW_GCM_IV_LEN, data, n);
    return 3 + al + FW_GCM_IV_LEN + n;
}

/* Wrap/unwrap round trip; the key survives restart; a flipped ciphertext,
 * tag or AAD byte, or another slot's key, is refused with AUTH. */
static void test_wrap_unwrap(void **state)
{
    static uint8_t req[FW_MAX_PAYLOAD], blob[FW_MAX_PAYLOAD];
    struct fw_reply rep;
    const uint8_t secret[] = "the master key 0123456789abcdef";
    uint8_t slot = 1;
    size_t n, bl;

    fwt_init_login();
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_EXISTS);
    slot = 2;
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_OK);
    n = seal_req(req, 1, "barrier", 0x11, secret, sizeof(secret));
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_OK);
    bl = rep.len;
    assert_int_equal(bl, FW_GCM_IV_LEN + sizeof(secret) + FW_GCM_TAG_LEN);
    memcpy(blob, rep.payload, bl);
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    n = wrap_req(req, 1, "barrier", blob, bl);
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP, req, n, &rep), FW_ST_OK);
    assert_int_equal(rep.len, sizeof(secret));
    assert_memory_equal(rep.payload, secret, sizeof(secret));
    const size_t flips[] = {3 + 7 + FW_GCM_IV_LEN + 2, 3 + 7 + bl - 1, 4};
    for (size_t i = 0; i < 3; i++) {
        n = wrap_req(req, 1, "barrier", blob, bl);
        req[flips[i]] ^= 0x20;
        assert_int_equal(fwt_cmd(FW_CMD_UNWRAP, req, n, &rep), FW_ST_AUTH);
        assert_int_equal(rep.len, 0);
    }
    n = wrap_req(req, 2, "barrier", blob, bl);
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP, req, n, &rep), FW_ST_AUTH);
    n = wrap_req(req, 3, "barrier", blob, bl);
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP, req, n, &rep), FW_ST_NOKEY);
}

/* WRAP bounds: FW_WRAP_MAX accepted, an AAD over FW_AAD_MAX refused. */
static void test_wrap_bounds(void **state)
{
    static uint8_t req[FW_MAX_PAYLOAD + 64], data[FW_WRAP_MAX + 1];
    char aad[FW_AAD_MAX + 2];
    struct fw_reply rep;
    uint8_t slot = 0;

    fwt_init_login();
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_OK);
    memset(aad, 'a', sizeof(aad));
    aad[FW_AAD_MAX + 1] = '\0';
    size_t n = seal_req(req, 0, aad, 0, data, 1);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_BADLEN);
    aad[FW_AAD_MAX] = '\0';
    n = seal_req(req, 0, aad, 0, data, FW_WRAP_MAX);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_OK);
    n = seal_req(req, 0, "", 0, data, FW_WRAP_MAX + 1);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_BADLEN);
    /* an AAD that leaves no room for the IV */
    n = wrap_req(req, 0, "0123456789a", data, 0);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_BADLEN);
}

/* WRAP uses and echoes the caller's IV: same IV and input give the same
 * output, another IV another ciphertext, and UNWRAP opens both. */
static void test_wrap_caller_iv(void **state)
{
    static uint8_t req[FW_MAX_PAYLOAD], a[FW_MAX_PAYLOAD], b[FW_MAX_PAYLOAD];
    const uint8_t pt[] = "sixteen byte key";
    struct fw_reply rep;
    uint8_t slot = 0, iv[FW_GCM_IV_LEN];
    size_t n, bl;

    fwt_init_login();
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_OK);
    n = seal_req(req, 0, "aad", 0x5A, pt, sizeof(pt));
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_OK);
    bl = rep.len;
    memcpy(a, rep.payload, bl);
    memset(iv, 0x5A, sizeof(iv));
    assert_memory_equal(a, iv, FW_GCM_IV_LEN);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_OK);
    assert_memory_equal(rep.payload, a, bl);
    n = seal_req(req, 0, "aad", 0x5B, pt, sizeof(pt));
    assert_int_equal(fwt_cmd(FW_CMD_WRAP, req, n, &rep), FW_ST_OK);
    memcpy(b, rep.payload, bl);
    assert_memory_not_equal(a + FW_GCM_IV_LEN, b + FW_GCM_IV_LEN,
                            bl - FW_GCM_IV_LEN);
    n = wrap_req(req, 0, "aad", b, bl);
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP, req, n, &rep), FW_ST_OK);
    assert_memory_equal(rep.payload, pt, sizeof(pt));
}

/* GEN_WRAP stores a label (FW_LABEL_MAX accepted, one more refused);
 * WRAP_LIST reports used slots and labels after login only, across a
 * restart, and never more than flags and labels. */
static void test_wrap_labels(void **state)
{
    uint8_t req[2 + FW_LABEL_MAX];
    struct fw_reply rep;

    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP_LIST, NULL, 0, &rep), FW_ST_STATE);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    req[0] = 2;
    memcpy(req + 1, "kek", 3);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, req, 4, &rep), FW_ST_OK);
    req[0] = 3;
    memset(req + 1, 'L', FW_LABEL_MAX + 1);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, req, 2 + FW_LABEL_MAX, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, req, 1 + FW_LABEL_MAX, &rep),
                     FW_ST_OK);
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_WRAP_LIST, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.len, FW_WRAP_SLOTS * FW_WRAP_LIST_ENTRY);
    assert_int_equal(rep.payload[0], 0);
    assert_int_equal(rep.payload[1], 0);
    const uint8_t *e2 = rep.payload + 2 * FW_WRAP_LIST_ENTRY;
    assert_int_equal(e2[0], 1);
    assert_int_equal(e2[1], 3);
    assert_memory_equal(e2 + 2, "kek", 3);
    assert_int_equal(e2[5], 0);
    const uint8_t *e3 = rep.payload + 3 * FW_WRAP_LIST_ENTRY;
    assert_int_equal(e3[0], 1);
    assert_int_equal(e3[1], FW_LABEL_MAX);
    assert_memory_equal(e3 + 2, req + 1, FW_LABEL_MAX);
}

/* P-256 keys: sign verifies with OpenSSL, is deterministic, and the key
 * (same public point) survives a restart. */
static void test_sign_openssl(void **state)
{
    struct fw_reply rep;
    uint8_t req[1 + FW_HASH_LEN], pub[FW_EC_PUB_LEN], sig[FW_EC_SIG_LEN];

    fwt_init_login();
    req[0] = 0;
    assert_int_equal(fwt_cmd(FW_CMD_GEN_EC, req, 1, &rep), FW_ST_OK);
    assert_int_equal(rep.len, FW_EC_PUB_LEN);
    memcpy(pub, rep.payload, FW_EC_PUB_LEN);
    SHA256((const unsigned char *)"hello", 5, req + 1);
    assert_int_equal(fwt_cmd(FW_CMD_SIGN, req, sizeof(req), &rep), FW_ST_OK);
    memcpy(sig, rep.payload, FW_EC_SIG_LEN);
    assert_true(fwt_openssl_verify(pub, req + 1, sig));
    assert_int_equal(fwt_cmd(FW_CMD_SIGN, req, sizeof(req), &rep), FW_ST_OK);
    assert_memory_equal(sig, rep.payload, FW_EC_SIG_LEN);
    sig[10] ^= 1;
    assert_false(fwt_openssl_verify(pub, req + 1, sig));
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_GET_PUB, req, 1, &rep), FW_ST_OK);
    assert_memory_equal(rep.payload, pub, FW_EC_PUB_LEN);
    req[0] = 1;
    assert_int_equal(fwt_cmd(FW_CMD_SIGN, req, sizeof(req), &rep),
                     FW_ST_NOKEY);
}

/* EC labels: GEN_EC keeps the label (max length), EC_LIST reads used
 * flags and labels back after a restart and never a key byte; a label of
 * FW_LABEL_MAX + 1 is BADLEN; STATS reports the last handler's time. */
static void test_ec_list_stats(void **state)
{
    struct fw_reply rep;
    uint8_t req[2 + FW_LABEL_MAX];

    fwt_init_login();
    req[0] = 2;
    memset(req + 1, 'L', sizeof(req) - 1);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_EC, req, 2 + FW_LABEL_MAX, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_EC, req, 1 + FW_LABEL_MAX, &rep),
                     FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_STATS, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.len, 8);
    assert_true(fw_get_u64(rep.payload) > 0);
    memcpy(req, "\0sig", 4);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_EC, req, 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_EC_LIST, NULL, 0, &rep), FW_ST_STATE);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_EC_LIST, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.len, FW_EC_SLOTS * FW_EC_LIST_ENTRY);
    assert_int_equal(rep.payload[0], 1);
    assert_int_equal(rep.payload[1], 3);
    assert_memory_equal(rep.payload + 2, "sig", 3);
    assert_int_equal(rep.payload[FW_EC_LIST_ENTRY], 0);
    const uint8_t *e2 = rep.payload + 2 * FW_EC_LIST_ENTRY;
    assert_int_equal(e2[0], 1);
    assert_int_equal(e2[1], FW_LABEL_MAX);
    for (size_t i = 0; i < FW_LABEL_MAX; i++)
        assert_int_equal(e2[2 + i], 'L');
}

/* ATTEST signs version, device key and nonce; OpenSSL accepts it. */
static void test_attest(void **state)
{
    struct fw_reply rep;
    uint8_t devpub[FW_EC_PUB_LEN], h[FW_HASH_LEN];
    const char nonce[] = "fresh-nonce";

    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    memcpy(devpub, rep.payload + 48, FW_EC_PUB_LEN);
    assert_memory_equal(rep.payload + 48 + FW_EC_PUB_LEN,
                        FW_FIRMWARE_VERSION, strlen(FW_FIRMWARE_VERSION));
    assert_int_equal(fwt_cmd(FW_CMD_ATTEST, nonce, strlen(nonce), &rep),
                     FW_ST_OK);
    const void *ptrs[4] = {"KH-ATTEST", FW_FIRMWARE_VERSION, devpub, nonce};
    size_t lens[4] = {9, strlen(FW_FIRMWARE_VERSION), sizeof(devpub),
                      strlen(nonce)};
    fwt_sha256(ptrs, lens, 4, h);
    assert_true(fwt_openssl_verify(devpub, h, rep.payload));
}

/* The counter only goes up, across restarts too. */
static void test_counter(void **state)
{
    struct fw_reply rep;
    uint64_t last = 0;

    fwt_init_login();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fwt_cmd(FW_CMD_COUNTER_INC, NULL, 0, &rep),
                         FW_ST_OK);
        assert_true(fw_get_u64(rep.payload) == last + 1);
        last = fw_get_u64(rep.payload);
        assert_int_equal(fwt_restart(), 0);
        assert_int_equal(fwt_cmd(FW_CMD_COUNTER_GET, NULL, 0, &rep),
                         FW_ST_OK);
        assert_true(fw_get_u64(rep.payload) == last);
        assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
    }
    assert_true(last == 3);
}

/* Read the whole log and check each hash against the previous one and the
 * head reported by INFO. Returns the number of entries. */
static uint32_t verify_log(void)
{
    struct fw_reply rep;
    uint8_t prev[FW_HASH_LEN] = {0}, head[FW_HASH_LEN], idx[4];
    uint32_t total, i = 0;

    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    total = fw_get_u32(rep.payload + 12);
    memcpy(head, rep.payload + 16, FW_HASH_LEN);
    assert_true(total <= FW_LOG_ENTRIES);
    while (i < total) {
        fw_put_u32(idx, i);
        assert_int_equal(fwt_cmd(FW_CMD_LOG_READ, idx, 4, &rep), FW_ST_OK);
        assert_true(rep.payload[4] > 0 && rep.payload[4] <= FW_LOG_READ_MAX);
        for (unsigned k = 0; k < rep.payload[4]; k++, i++) {
            const uint8_t *e = rep.payload + 5 + k * FW_LOG_ENTRY_LEN;
            uint8_t h[FW_HASH_LEN];
            const void *ptrs[2] = {prev, e};
            size_t lens[2] = {FW_HASH_LEN, 9};
            assert_int_equal(fw_get_u32(e), i);
            fwt_sha256(ptrs, lens, 2, h);
            assert_memory_equal(h, e + 9, FW_HASH_LEN);
            memcpy(prev, h, FW_HASH_LEN);
        }
    }
    assert_memory_equal(prev, head, FW_HASH_LEN);
    return total;
}

/* The event log chains boot, PIN, login and key events; it verifies from
 * the zero anchor to the head INFO reports, across a restart. */
static void test_log_chain(void **state)
{
    struct fw_reply rep;
    uint8_t slot = 0;

    fwt_init_login();
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_LOGOUT, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "0000", 4, &rep), FW_ST_BADPIN);
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(verify_log(), 6);
}

/* Factory reset (refused without the confirm word) zeroises: new device
 * key, no PIN, no keys, log restarted, old NV records gone; the counter
 * keeps its value. */
static void test_factory_reset(void **state)
{
    static uint8_t before[FW_NV_SIZE], after[FW_NV_SIZE];
    struct fw_reply rep;
    uint8_t slot = 0, devpub[FW_EC_PUB_LEN];
    FILE *f;

    fwt_init_login();
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_COUNTER_INC, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    memcpy(devpub, rep.payload + 48, FW_EC_PUB_LEN);
    f = fopen(fwt_nv_path(), "rb");
    assert_non_null(f);
    assert_int_equal(fread(before, 1, sizeof(before), f), sizeof(before));
    fclose(f);
    assert_int_equal(fwt_cmd(FW_CMD_RESET, "ZEROISX", 7, &rep), FW_ST_BADARG);
    assert_int_equal(fwt_cmd(FW_CMD_RESET, "ZEROISE", 7, &rep), FW_ST_OK);
    f = fopen(fwt_nv_path(), "rb");
    assert_non_null(f);
    assert_int_equal(fread(after, 1, sizeof(after), f), sizeof(after));
    fclose(f);
    /* no 32-byte window of either old record survives anywhere */
    for (size_t s = 0; s < 2; s++)
        for (size_t o = 12; o + 32 <= FW_NV_SLOT_SIZE; o += 32)
            for (size_t p = 0; p + 32 <= sizeof(after); p += 4)
                if (before[s * FW_NV_SLOT_SIZE + o] != 0)
                    assert_true(memcmp(before + s * FW_NV_SLOT_SIZE + o,
                                       after + p, 32) != 0);
    assert_int_equal(fwt_restart(), 0);
    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.payload[1], FW_STATE_FACTORY);
    assert_true(fw_get_u64(rep.payload + 4) == 1);
    assert_memory_not_equal(rep.payload + 48, devpub, FW_EC_PUB_LEN);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_STATE);
    fwt_init_login();
    uint8_t req[3 + FW_GCM_IV_LEN + FW_GCM_TAG_LEN] = {0};
    assert_int_equal(fwt_cmd(FW_CMD_UNWRAP, req, sizeof(req), &rep),
                     FW_ST_NOKEY);
    assert_int_equal(verify_log(), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_unwrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ec_list_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_caller_iv, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrap_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_openssl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_factory_reset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
