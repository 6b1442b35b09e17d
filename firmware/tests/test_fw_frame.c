/*
 * test_fw_frame.c - the frame parser and the dispatcher gates: malformed,
 * oversized, truncated and unknown frames get error replies (or are
 * skipped), never a crash or a hang; bounds are tested at max and max + 1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/fw_core.h"
#include "fw_test_util.h"

static uint8_t g_buf[FW_MAX_FRAME + 64];
static uint8_t g_big[FW_MAX_PAYLOAD + 1];

static int setup(void **state)
{
    return fwt_setup();
}

static int teardown(void **state)
{
    fwt_teardown();
    return 0;
}

/* A well-formed INFO frame gets an OK reply echoing the sequence number. */
static void test_valid_frame(void **state)
{
    struct fw_reply rep;

    assert_int_equal(fwt_cmd(FW_CMD_INFO, NULL, 0, &rep), FW_ST_OK);
    assert_int_equal(rep.payload[0], FW_PROTO_VERSION);
    assert_int_equal(rep.payload[1], FW_STATE_FACTORY);
}

/* A flipped CRC bit gets a BADCRC reply carrying the frame's seq. */
static void test_bad_crc(void **state)
{
    struct fw_reply rep;
    size_t n = fw_frame_encode(g_buf, sizeof(g_buf), FW_CMD_INFO, 0, 77,
                               NULL, 0);

    g_buf[n - 1] ^= 0x01;
    assert_int_equal(fwt_feed(g_buf, n, &rep, 1), 1);
    assert_int_equal(rep.status, FW_ST_BADCRC);
    assert_int_equal(rep.seq, 77);
}

/* Length FW_MAX_PAYLOAD + 1 in a header is refused with TOOBIG at once. */
static void test_oversized(void **state)
{
    struct fw_reply rep;
    size_t n = fw_frame_encode(g_buf, sizeof(g_buf), FW_CMD_WRAP, 0, 9,
                               NULL, 0);

    fw_put_u16(g_buf + 10, FW_MAX_PAYLOAD + 1);
    assert_int_equal(fwt_feed(g_buf, FW_HDR_LEN, &rep, 1), 1);
    assert_int_equal(rep.status, FW_ST_TOOBIG);
    assert_int_equal(rep.seq, 9);
    (void)n;
    /* the encoder refuses max + 1 and accepts max */
    assert_int_equal(fw_frame_encode(g_buf, sizeof(g_buf), 1, 0, 1, g_big,
                                     FW_MAX_PAYLOAD + 1), 0);
    assert_int_equal(fw_frame_encode(g_buf, sizeof(g_buf), 1, 0, 1, g_big,
                                     FW_MAX_PAYLOAD), FW_MAX_FRAME);
}

/* A full-size payload parses (plaintext, and sealed at the most a sealed
 * frame carries); the command table then rejects its length. */
static void test_max_payload(void **state)
{
    struct fw_reply rep;

    assert_int_equal(fwt_cmd_plain(FW_CMD_INFO, g_big, FW_MAX_PAYLOAD, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_INFO, g_big, FW_SEALED_MAX, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_ATTEST, g_big, FW_NONCE_MAX + 1, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_ATTEST, g_big, FW_NONCE_MAX, &rep),
                     FW_ST_OK);
}

/* Wrong version and unknown flag bits are refused; the sealed flag
 * without a session gets NOSESSION. */
static void test_bad_header(void **state)
{
    struct fw_reply rep;
    size_t n = fw_frame_encode(g_buf, sizeof(g_buf), FW_CMD_INFO, 0, 5,
                               NULL, 0);

    g_buf[2] = FW_PROTO_VERSION - 1; /* a version-1 client */
    assert_int_equal(fwt_feed(g_buf, n, &rep, 1), 1);
    assert_int_equal(rep.status, FW_ST_BADVERSION);
    n = fw_frame_encode(g_buf, sizeof(g_buf), FW_CMD_INFO, 0, 6, NULL, 0);
    g_buf[9] = 2;
    assert_int_equal(fwt_feed(g_buf, n, &rep, 1), 1);
    assert_int_equal(rep.status, FW_ST_BADFRAME);
    n = fw_frame_encode(g_buf, sizeof(g_buf), FW_CMD_INFO, 0, 7, NULL, 0);
    g_buf[9] = FW_FLAG_SEALED;
    fw_put_u32(g_buf + n - FW_CRC_LEN, fw_crc32(0, g_buf, n - FW_CRC_LEN));
    assert_int_equal(fwt_feed(g_buf, n, &rep, 1), 1);
    assert_int_equal(rep.status, FW_ST_NOSESSION);
}

/* Garbage (including a lone 'K') before a frame is skipped. */
static void test_resync(void **state)
{
    struct fw_reply rep;
    static const uint8_t junk[] = {0x00, 'K', 'K', 0xFF, 'H', 'x', 'K'};
    size_t n;

    memcpy(g_buf, junk, sizeof(junk));
    n = fw_frame_encode(g_buf + sizeof(junk), sizeof(g_buf) - sizeof(junk),
                        FW_CMD_COUNTER_GET, 0, 11, NULL, 0);
    /* the trailing 'K' of junk followed by the frame's 'K','H' resyncs */
    assert_int_equal(fwt_feed(g_buf, sizeof(junk) + n, &rep, 1), 1);
    assert_int_equal(rep.status, FW_ST_OK);
    assert_int_equal(rep.seq, 11);
}

/* A truncated frame is dropped after idle; the next frame is served. */
static void test_truncated_then_idle(void **state)
{
    struct fw_reply rep;
    size_t n = fw_frame_encode(g_buf, sizeof(g_buf), FW_CMD_INFO, 0, 3,
                               NULL, 0);

    assert_int_equal(fwt_feed(g_buf, n - 2, &rep, 1), 0);
    fw_core_rx_idle();
    assert_int_equal(fwt_cmd(FW_CMD_COUNTER_GET, NULL, 0, &rep), FW_ST_OK);
}

/* Unknown commands get BADCMD; commands outside their state get STATE. */
static void test_unknown_and_state(void **state)
{
    struct fw_reply rep;
    uint8_t slot = 0;

    assert_int_equal(fwt_cmd(0x55, NULL, 0, &rep), FW_ST_BADCMD);
    assert_int_equal(fwt_cmd(FW_CMD_GEN_WRAP, &slot, 1, &rep), FW_ST_STATE);
    assert_int_equal(fwt_cmd(FW_CMD_LOGIN, "1234", 4, &rep), FW_ST_STATE);
}

/* PIN and RANDOM bounds: min - 1 / max + 1 refused, max accepted. */
static void test_bounds(void **state)
{
    struct fw_reply rep;
    uint8_t n[2];

    memset(g_big, '7', sizeof(g_big));
    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, g_big, FW_PIN_MIN - 1, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, g_big, FW_PIN_MAX + 1, &rep),
                     FW_ST_BADLEN);
    assert_int_equal(fwt_cmd(FW_CMD_INIT_PIN, g_big, FW_PIN_MAX, &rep),
                     FW_ST_OK);
    fw_put_u16(n, FW_RANDOM_MAX + 1);
    assert_int_equal(fwt_cmd(FW_CMD_RANDOM, n, 2, &rep), FW_ST_BADLEN);
    fw_put_u16(n, FW_RANDOM_MAX);
    assert_int_equal(fwt_cmd(FW_CMD_RANDOM, n, 2, &rep), FW_ST_OK);
    assert_int_equal(rep.len, FW_RANDOM_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_then_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
