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
static struct fwh_sess g_hs;

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
    fwh_sess_clear(&g_hs);
    fw_core_wipe();
    fw_crypto_free();
    if (fw_host_board_open(g_nv) != 0)
        return -1;
    return fw_core_boot();
}

void fwt_teardown(void)
{
    char huk[320];

    fwh_sess_clear(&g_hs);
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

struct fwh_sess *fwt_session(void)
{
    return &g_hs;
}

uint32_t fwt_next_seq(void)
{
    return g_seq++;
}

void fwt_session_drop(void)
{
    fwh_sess_clear(&g_hs);
}

int fwt_cmd_plain(uint8_t cmd, const void *payload, size_t len,
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

int fwt_session_open(void)
{
    static struct fw_reply rep;
    uint8_t devpub[FW_EC_PUB_LEN], req[FW_SESSION_REQ_LEN];

    if (fwt_cmd_plain(FW_CMD_INFO, NULL, 0, &rep) != FW_ST_OK ||
        rep.len < 48 + FW_EC_PUB_LEN)
        return -1;
    memcpy(devpub, rep.payload + 48, FW_EC_PUB_LEN);
    if (fwh_sess_begin(&g_hs, req) != 0 ||
        fwt_cmd_plain(FW_CMD_SESSION_OPEN, req, sizeof(req), &rep) !=
            FW_ST_OK)
        return -1;
    return fwh_sess_finish(&g_hs, rep.payload, rep.len, devpub);
}

int fwt_decode(const uint8_t *out, size_t n, uint32_t seq,
               struct fw_reply *rep)
{
    static struct fw_parser rp;
    size_t plen = 0;

    fw_parser_init(&rp);
    for (size_t k = 0; k < n; k++) {
        struct fw_frame f;
        if (fw_parser_feed(&rp, out[k], &f) != FW_FEED_FRAME)
            continue;
        rep->cmd = f.cmd;
        rep->status = f.status;
        rep->seq = f.seq;
        rep->len = 0;
        if (!(f.flags & FW_FLAG_SEALED)) {
            rep->len = f.len;
            memcpy(rep->payload, f.payload, f.len);
            return 1; /* plaintext */
        }
        if (fwh_open(&g_hs, &f, seq, rep->payload, sizeof(rep->payload),
                     &plen) != 0)
            return -1;
        rep->len = plen;
        return 0; /* sealed, opened */
    }
    return -1;
}

/* One sealed exchange: 0 sealed reply, 1 plaintext reply, -1 failure. */
static int sealed_once(uint8_t cmd, const void *payload, size_t len,
                       struct fw_reply *rep)
{
    static uint8_t frame[FW_MAX_FRAME], out[FW_MAX_FRAME];
    uint32_t seq = g_seq++;
    size_t n = fwh_seal(&g_hs, frame, sizeof(frame), cmd, seq, payload, len);
    size_t olen = 0;

    for (size_t i = 0; i < n && olen == 0; i++)
        olen = fw_core_rx(frame[i], out, sizeof(out));
    if (n == 0 || olen == 0)
        return -1;
    return fwt_decode(out, olen, seq, rep);
}

int fwt_cmd(uint8_t cmd, const void *payload, size_t len,
            struct fw_reply *rep)
{
    int k = -1;

    for (int tries = 0; tries < 2; tries++) {
        if (!g_hs.open && fwt_session_open() != 0)
            return -1;
        k = sealed_once(cmd, payload, len, rep);
        if (k != 1 || (rep->status != FW_ST_NOSESSION &&
                       rep->status != FW_ST_AUTH &&
                       rep->status != FW_ST_REPLAY))
            break;
        fwh_sess_clear(&g_hs); /* the device dropped it: once more */
    }
    if (k < 0)
        return -1;
    assert_int_equal(rep->cmd, cmd | FW_REPLY_BIT);
    /* a plaintext answer to a sealed request is only ever an error */
    assert_true(k == 0 || rep->status != FW_ST_OK);
    if (k == 1 || ((cmd == FW_CMD_LOGOUT || cmd == FW_CMD_RESET) &&
                   rep->status == FW_ST_OK))
        fwh_sess_clear(&g_hs);
    return rep->status;
}

void fwt_init_login(void)
{
    struct fw_reply rep;

    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, "1234", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_OK);
}

int fwt_openssl_verify(const uint8_t pub[FW_EC_PUB_LEN],
                       const uint8_t hash[FW_HASH_LEN],
                       const uint8_t sig[FW_EC_SIG_LEN])
{
    return fwh_ecdsa_ok(pub, hash, sig);
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
