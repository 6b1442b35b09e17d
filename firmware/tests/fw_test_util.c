/*
 * fw_test_util.c - see fw_test_util.h. Test-only; it drives the device
 * only through its byte-stream entry point.
 */
#include "fw_test_util.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boards/host/fw_board_host.h"
#include "core/fw_core.h"
#include "crypto/fw_crypto.h"

static char g_dir[256];
static char g_nv[300];
static uint32_t g_seq = 1;

int fwt_setup(void)
{
    const char *base = getenv("KH_TEST_TMP");

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/fwtest.XXXXXX", base);
    if (mkdtemp(g_dir) == NULL)
        return -1;
    snprintf(g_nv, sizeof(g_nv), "%s/nv", g_dir);
    if (fw_host_board_open(g_nv) != 0)
        return -1;
    return fw_core_boot();
}

int fwt_restart(void)
{
    fw_core_wipe();
    fw_crypto_free();
    if (fw_host_board_open(g_nv) != 0)
        return -1;
    return fw_core_boot();
}

void fwt_teardown(void)
{
    char huk[320];

    fw_crypto_free();
    fw_host_board_close();
    snprintf(huk, sizeof(huk), "%s.huk", g_nv);
    unlink(g_nv);
    unlink(huk);
    rmdir(g_dir);
}

const char *fwt_nv_path(void)
{
    return g_nv;
}

size_t fwt_feed(const uint8_t *p, size_t n, struct fw_reply *rep, size_t max)
{
    static uint8_t out[FW_MAX_FRAME];
    static struct fw_parser rp;
    size_t got = 0;

    for (size_t i = 0; i < n; i++) {
        size_t len = fw_core_rx(p[i], out, sizeof(out));
        if (len == 0)
            continue;
        fw_parser_init(&rp);
        for (size_t k = 0; k < len; k++) {
            struct fw_frame f;
            if (fw_parser_feed(&rp, out[k], &f) != FW_FEED_FRAME)
                continue;
            assert_true(k == len - 1);
            if (got < max) {
                rep[got].cmd = f.cmd;
                rep[got].status = f.status;
                rep[got].seq = f.seq;
                rep[got].len = f.len;
                memcpy(rep[got].payload, f.payload, f.len);
            }
            got++;
        }
    }
    return got;
}

int fwt_cmd(uint8_t cmd, const void *payload, size_t len,
            struct fw_reply *rep)
{
    static uint8_t frame[FW_MAX_FRAME];
    uint32_t seq = g_seq++;
    size_t n = fw_frame_encode(frame, sizeof(frame), cmd, 0, seq, payload,
                               len);

    if (n == 0 || fwt_feed(frame, n, rep, 1) != 1)
        return -1;
    assert_int_equal(rep->seq, seq);
    assert_int_equal(rep->cmd, cmd | FW_REPLY_BIT);
    return rep->status;
}

void fwt_init_login(void)
{
    struct fw_reply rep;

    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
}

static EVP_PKEY *pub_to_pkey(const uint8_t pub[FW_EC_PUB_LEN])
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *)pub, FW_EC_PUB_LEN);
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

int fwt_openssl_verify(const uint8_t pub[FW_EC_PUB_LEN],
                       const uint8_t hash[FW_HASH_LEN],
                       const uint8_t sig[FW_EC_SIG_LEN])
{
    EVP_PKEY *pk = pub_to_pkey(pub);
    ECDSA_SIG *es = ECDSA_SIG_new();
    EVP_PKEY_CTX *vc = NULL;
    unsigned char *der = NULL;
    int der_len, ok = 0;

    if (pk == NULL || es == NULL)
        goto out;
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    der_len = i2d_ECDSA_SIG(es, &der);
    vc = EVP_PKEY_CTX_new(pk, NULL);
    if (der_len <= 0 || vc == NULL || EVP_PKEY_verify_init(vc) <= 0)
        goto out;
    ok = EVP_PKEY_verify(vc, der, (size_t)der_len, hash, FW_HASH_LEN) == 1;
out:
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(vc);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pk);
    return ok;
}

void fwt_sha256(const void *const *ptrs, const size_t *lens, size_t n,
                uint8_t out[FW_HASH_LEN])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int olen = 0;

    assert_non_null(c);
    assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(EVP_DigestUpdate(c, ptrs[i], lens[i]), 1);
    assert_int_equal(EVP_DigestFinal_ex(c, out, &olen), 1);
    EVP_MD_CTX_free(c);
}
