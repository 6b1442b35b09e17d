/*
 * test_fw_session.c - the v4 session between a host (firmware/host/
 * fw_hsess.h over OpenSSL) and the device core: open and round trip, the
 * plaintext refusals, replay, tampering, a forged SESSION_OPEN signature,
 * the nonce discipline, and every way a session ends. Frames are built
 * and fed byte by byte as a UART would carry them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/fw_core.h"
#include "fw_test_util.h"

static uint8_t g_frame[FW_MAX_FRAME], g_out[FW_MAX_FRAME];

static int setup(void **state)
{
    return fwt_setup();
}

static int teardown(void **state)
{
    fwt_teardown();
    return 0;
}

/* Feed frame[0..n) to the device; returns the reply's length in g_out. */
static size_t feed(const uint8_t *frame, size_t n)
{
    size_t olen = 0;

    for (size_t i = 0; i < n && olen == 0; i++)
        olen = fw_core_rx(frame[i], g_out, sizeof(g_out));
    return olen;
}

/* Seal cmd in the harness session with the next seq into g_frame. */
static size_t seal(uint8_t cmd, const void *p, size_t len, uint32_t *ret_seq)
{
    *ret_seq = fwt_next_seq();
    return fwh_seal(fwt_session(), g_frame, sizeof(g_frame), cmd, *ret_seq,
                    p, len);
}

static int contains(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* A session opens, a command round-trips sealed both ways, and the PIN
 * never crosses the link in clear. */
static void test_open_and_round_trip(void **state)
{
    struct fw_reply rep;
    uint32_t seq;
    size_t n, olen;
    uint8_t want[2];

    assert_int_equal(fwt_session_open(), 0);
    n = seal(FW_CMD_INIT_PIN, "8642", 4, &seq);
    assert_true(n > 0);
    assert_false(contains(g_frame, n, "8642"));
    olen = feed(g_frame, n);
    assert_true(olen > 0);
    assert_int_equal(g_out[9], FW_FLAG_SEALED);
    assert_int_equal(fwt_decode(g_out, olen, seq, &rep), 0);
    assert_int_equal(rep.status, FW_ST_OK);
    n = seal(FW_CMD_LOGIN, "8642", 4, &seq);
    assert_false(contains(g_frame, n, "8642"));
    olen = feed(g_frame, n);
    assert_int_equal(fwt_decode(g_out, olen, seq, &rep), 0);
    assert_int_equal(rep.status, FW_ST_OK);
    fw_put_u16(want, 48);
    assert_int_equal(fwt_cmd(FW_CMD_RANDOM, want, 2, &rep), FW_ST_OK);
    assert_int_equal(rep.len, 48);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, "\0kek", 4, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.payload[1], FW_STATE_USER);
}

/* LOGIN, INIT_PIN and logged-in commands in plaintext get NOSESSION (and
 * a plaintext LOGIN spends no PIN try); a sealed SESSION_OPEN is refused. */
static void test_plaintext_refused(void **state)
{
    struct fw_reply rep;
    uint8_t req[FW_SESSION_REQ_LEN] = {0};

    assert_int_equal(fwt_cmd_plain(FW_CMD_INIT_PIN, "1234", 4, &rep),
                     FW_ST_NOSESSION);
    fwt_init_login();
    assert_int_equal(fwt_cmd_plain(FW_CMD_LOGIN, "1234", 4, &rep),
                     FW_ST_NOSESSION);
    assert_int_equal(fwt_cmd_plain(FW_CMD_WRAP_LIST, NULL, 0, &rep),
                     FW_ST_NOSESSION);
    assert_int_equal(fwt_cmd_plain(FW_CMD_LOGOUT, NULL, 0, &rep),
                     FW_ST_NOSESSION);
    assert_int_equal(fwt_cmd(FW_CMD_SESSION_OPEN, req, sizeof(req), &rep),
                     FW_ST_BADFRAME);
    /* the session and the login survived all of that */
    assert_int_equal(fwt_cmd(FW_CMD_WRAP_LIST, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(fwt_cmd_plain(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.payload[2], FW_PIN_TRIES);
}

/* A replayed sealed frame, or one numbered below the last, gets a
 * plaintext REPLAY and is not executed; the session stays usable. */
static void test_replay_refused(void **state)
{
    static uint8_t first[FW_MAX_FRAME];
    struct fw_reply rep, c1, c2;
    uint32_t seq, old;
    size_t n, olen;

    fwt_init_login();
    n = seal(FW_CMD_COUNTER_INC, NULL, 0, &seq);
    memcpy(first, g_frame, n);
    olen = feed(first, n);
    assert_int_equal(fwt_decode(g_out, olen, seq, &c1), 0);
    assert_int_equal(c1.status, FW_ST_OK);
    olen = feed(first, n); /* the same bytes again */
    assert_int_equal(fwt_decode(g_out, olen, seq, &rep), 1);
    assert_int_equal(rep.status, FW_ST_REPLAY);
    assert_int_equal(rep.len, 0);
    old = fwt_next_seq(); /* sealed with a fresh, higher seq later on */
    n = seal(FW_CMD_COUNTER_GET, NULL, 0, &seq);
    olen = feed(g_frame, n);
    assert_int_equal(fwt_decode(g_out, olen, seq, &c2), 0);
    assert_int_equal(fw_get_u64(c2.payload), fw_get_u64(c1.payload));
    n = fwh_seal(fwt_session(), g_frame, sizeof(g_frame), FW_CMD_COUNTER_INC,
                 old, NULL, 0); /* a lower seq, never used */
    olen = feed(g_frame, n);
    assert_int_equal(fwt_decode(g_out, olen, old, &rep), 1);
    assert_int_equal(rep.status, FW_ST_REPLAY);
    assert_int_equal(fwt_cmd(FW_CMD_COUNTER_GET, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(fw_get_u64(rep.payload), fw_get_u64(c1.payload));
}

/* A flipped ciphertext (or tag, or header) bit gets a plaintext AUTH and
 * closes the session: the old keys get NOSESSION and the login is gone. */
static void test_tamper_closes(void **state)
{
    static const size_t spots[3] = {FW_HDR_LEN + 1, FW_HDR_LEN + 4 + 3, 3};
    struct fw_reply rep;
    uint32_t seq;
    size_t n, olen;

    for (size_t i = 0; i < 3; i++) {
        fwt_session_drop();
        if (i == 0)
            fwt_init_login();
        else
            assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep),
                             FW_ST_OK);
        n = seal(FW_CMD_LOGIN, "1234", 4, &seq);
        g_frame[spots[i]] ^= 0x01;
        fw_put_u32(g_frame + n - FW_CRC_LEN,
                   fw_crc32(0, g_frame, n - FW_CRC_LEN));
        olen = feed(g_frame, n);
        assert_int_equal(fwt_decode(g_out, olen, fw_get_u32(g_frame + 4),
                                    &rep), 1);
        assert_int_equal(rep.status, FW_ST_AUTH);
        n = seal(FW_CMD_WRAP_LIST, NULL, 0, &seq);
        olen = feed(g_frame, n);
        assert_int_equal(fwt_decode(g_out, olen, seq, &rep), 1);
        assert_int_equal(rep.status, FW_ST_NOSESSION);
        assert_int_equal(fwt_cmd_plain(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
        assert_int_equal(rep.payload[1], FW_STATE_IDLE);
        assert_int_equal(rep.payload[2], FW_PIN_TRIES);
    }
}

/* The host refuses a SESSION_OPEN reply whose signature is forged,
 * signed by another key, or whose ephemeral key was swapped. */
static void test_forged_signature(void **state)
{
    struct fw_reply info, rep;
    struct fwh_sess hs = {0};
    uint8_t req[FW_SESSION_REQ_LEN], other[FW_EC_PUB_LEN];
    uint8_t good[FW_SESSION_REP_LEN];

    assert_int_equal(fwt_cmd_plain(FW_CMD_INFO, NULL, 0, &info), FW_ST_OK);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(fwh_sess_begin(&hs, req), 0);
        assert_int_equal(fwt_cmd_plain(FW_CMD_SESSION_OPEN, req, sizeof(req),
                                       &rep), FW_ST_OK);
        assert_int_equal(rep.len, FW_SESSION_REP_LEN);
        memcpy(good, rep.payload, sizeof(good));
        if (k == 0)
            rep.payload[FW_SESSION_REP_LEN - 1] ^= 0x01; /* s */
        else if (k == 1)
            rep.payload[FW_EC_PUB_LEN + 3] ^= 0x01; /* dn */
        else if (k == 2)
            memcpy(rep.payload, req, FW_EC_PUB_LEN); /* swapped dpub */
        if (k < 3) {
            assert_int_equal(fwh_sess_finish(&hs, rep.payload, rep.len,
                                             info.payload + 48), -1);
            assert_false(hs.open);
            continue;
        }
        /* a genuine reply, but the host pinned another device's key */
        memcpy(other, good, FW_EC_PUB_LEN); /* the ephemeral: not it */
        assert_int_equal(fwh_sess_finish(&hs, good, sizeof(good), other), -1);
        assert_false(hs.open);
    }
    fwh_sess_clear(&hs);
}

/* Nonces: every sealed reply carries its request's seq, requests are
 * strictly increasing, a reply the host did not ask for (another seq) is
 * refused, and a refused request is never answered under the session key
 * (so no d2h nonce is used twice). */
static void test_counter_never_reused(void **state)
{
    struct fw_reply rep;
    uint32_t seq, prev = 0;
    size_t n, olen;

    fwt_init_login();
    for (int i = 0; i < 20; i++) {
        n = seal(i % 2 ? FW_CMD_COUNTER_GET : FW_CMD_WRAP_LIST, NULL, 0,
                 &seq);
        assert_true(seq > prev);
        prev = seq;
        olen = feed(g_frame, n);
        assert_int_equal(g_out[9], FW_FLAG_SEALED);
        assert_int_equal(fw_get_u32(g_out + 4), seq);
        /* the same reply presented as the answer to another request */
        assert_int_equal(fwt_decode(g_out, olen, seq + 1, &rep), -1);
        assert_int_equal(fwt_decode(g_out, olen, seq, &rep), 0);
        /* the replay of this request gets a plaintext reply */
        olen = feed(g_frame, n);
        assert_int_equal(g_out[9], 0);
    }
}

/* LOGOUT (after its sealed reply), a new SESSION_OPEN, a lost transport
 * and a reboot each end the session and the login. */
static void test_session_ends(void **state)
{
    struct fw_reply rep;
    struct fwh_sess keep;
    uint32_t seq;
    size_t n, olen;

    fwt_init_login();
    for (int how = 0; how < 4; how++) {
        if (how > 0)
            assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep),
                             FW_ST_OK);
        keep = *fwt_session();
        if (how == 0) {
            assert_int_equal(fwt_cmd(FW_CMD_LOGOUT, NULL, 0, &rep),
                             FW_ST_OK);
        } else if (how == 1) {
            fwt_session_drop();
            assert_int_equal(fwt_session_open(), 0);
            assert_int_equal(fwt_cmd(FW_CMD_WRAP_LIST, NULL, 0, &rep),
                             FW_ST_STATE);
        } else if (how == 2) {
            fw_core_session_end();
        } else {
            assert_int_equal(fwt_restart(), 0);
        }
        *fwt_session() = keep; /* the old keys no longer open anything */
        n = seal(FW_CMD_WRAP_LIST, NULL, 0, &seq);
        olen = feed(g_frame, n);
        assert_int_equal(fwt_decode(g_out, olen, seq, &rep), 1);
        assert_true(rep.status == FW_ST_NOSESSION ||
                    rep.status == FW_ST_AUTH);
        fwt_session_drop();
        assert_int_equal(fwt_cmd_plain(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
        assert_int_equal(rep.payload[1], FW_STATE_IDLE);
    }
}

/* SESSION_OPEN with a point off the curve, or of the wrong length, opens
 * nothing. */
static void test_bad_open(void **state)
{
    struct fw_reply rep;
    uint8_t req[FW_SESSION_REQ_LEN + 1];

    memset(req, 0x11, sizeof(req));
    req[0] = 0x04;
    assert_int_equal(fwt_cmd_plain(FW_CMD_SESSION_OPEN, req,
                                   FW_SESSION_REQ_LEN, &rep), FW_ST_BADARG);
    assert_int_equal(fwt_cmd_plain(FW_CMD_SESSION_OPEN, req,
                                   FW_SESSION_REQ_LEN - 1, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd_plain(FW_CMD_SESSION_OPEN, req,
                                   FW_SESSION_REQ_LEN + 1, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwh_sess_begin(fwt_session(), req), 0);
    fwt_session()->open = 1; /* keys of zeros: the device has none */
    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_and_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plaintext_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged_signature, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_counter_never_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_open, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
