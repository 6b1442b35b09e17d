/*
 * fuzz_fw_frame.c - libFuzzer target for the firmware frame parser
 * (firmware/core/fw_frame.c): the input is a raw UART byte stream fed one
 * byte at a time. Every complete frame must re-encode to the exact bytes
 * it came from and parse again to the same fields; every error must carry
 * a known status and still encode as an error reply no larger than
 * FW_MAX_FRAME. A stream of any length leaves the parser within bounds.
 * Crashes, sanitizer reports and a violated invariant (abort) are
 * findings. Links the firmware core (see firmware/CMakeLists.txt).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fw_parser g_p, g_p2;
static uint8_t g_out[FW_MAX_FRAME];

static void check_frame(const struct fw_frame *f)
{
    struct fw_frame g;
    size_t n = fw_frame_encode(g_out, sizeof(g_out), f->cmd, f->status,
                               f->seq, f->payload, f->len);
    size_t hits = 0;

    if (n != FW_HDR_LEN + f->len + FW_CRC_LEN || f->len > FW_MAX_PAYLOAD)
        abort();
    fw_parser_init(&g_p2);
    for (size_t i = 0; i < n; i++) {
        enum fw_feed e = fw_parser_feed(&g_p2, g_out[i], &g);
        if (e == FW_FEED_ERROR)
            abort();
        if (e == FW_FEED_FRAME) {
            hits++;
            if (i != n - 1 || g.cmd != f->cmd || g.seq != f->seq ||
                g.len != f->len || memcmp(g.payload, f->payload, f->len))
                abort();
        }
    }
    if (hits != 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fw_frame f;

    fw_parser_init(&g_p);
    for (size_t i = 0; i < size; i++) {
        enum fw_feed e = fw_parser_feed(&g_p, data[i], &f);
        if (e == FW_FEED_FRAME) {
            check_frame(&f);
        } else if (e == FW_FEED_ERROR) {
            if (f.status < FW_ST_BADFRAME || f.status > FW_ST_BADVERSION)
                abort();
            if (fw_frame_encode(g_out, sizeof(g_out), f.cmd | FW_REPLY_BIT,
                                f.status, f.seq, NULL, 0) != FW_HDR_LEN +
                                                                 FW_CRC_LEN)
                abort();
        }
    }
    return 0;
}
