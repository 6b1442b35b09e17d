/*
 * fw_frame.c - the frame codec: CRC-32, the byte-at-a-time parser and the
 * encoder. It owns the wire format only; it must never look at a payload's
 * meaning, allocate, or loop on a count taken from untrusted data (every
 * loop is bounded by FW_MAX_FRAME).
 */
#include "fw_proto.h"

#include <string.h>

uint32_t fw_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

void fw_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void fw_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void fw_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t fw_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t fw_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t fw_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void fw_parser_init(struct fw_parser *p)
{
    p->priv_pos = 0;
    p->priv_need = FW_HDR_LEN;
}

int fw_parser_busy(const struct fw_parser *p)
{
    return p->priv_pos != 0;
}

/* Header complete: validate it and set the total length to wait for. */
static enum fw_feed check_header(struct fw_parser *p, struct fw_frame *f)
{
    const uint8_t *b = p->priv_buf;
    uint16_t len = fw_get_u16(b + 10);

    f->cmd = b[3];
    f->seq = fw_get_u32(b + 4);
    f->flags = 0;
    f->len = 0;
    f->payload = NULL;
    if (b[2] != FW_PROTO_VERSION)
        f->status = FW_ST_BADVERSION;
    else if ((b[9] & (uint8_t)~FW_FLAG_SEALED) != 0 ||
             (b[8] != 0 && !(b[3] & FW_REPLY_BIT)))
        f->status = FW_ST_BADFRAME;
    else if (len > FW_MAX_PAYLOAD)
        f->status = FW_ST_TOOBIG;
    else {
        p->priv_need = FW_HDR_LEN + len + FW_CRC_LEN;
        return FW_FEED_MORE;
    }
    fw_parser_init(p);
    return FW_FEED_ERROR;
}

static enum fw_feed check_frame(struct fw_parser *p, struct fw_frame *f)
{
    const uint8_t *b = p->priv_buf;
    size_t body = p->priv_need - FW_CRC_LEN;
    uint32_t want = fw_get_u32(b + body);

    f->cmd = b[3];
    f->seq = fw_get_u32(b + 4);
    f->status = b[8];
    f->flags = b[9];
    f->len = fw_get_u16(b + 10);
    f->payload = b + FW_HDR_LEN;
    fw_parser_init(p);
    if (fw_crc32(0, b, body) != want) {
        f->status = FW_ST_BADCRC;
        f->flags = 0;
        f->len = 0;
        f->payload = NULL;
        return FW_FEED_ERROR;
    }
    return FW_FEED_FRAME;
}

enum fw_feed fw_parser_feed(struct fw_parser *p, uint8_t byte,
                            struct fw_frame *ret_frame)
{
    if (p->priv_pos == 0 && byte != FW_MAGIC0)
        return FW_FEED_MORE;
    if (p->priv_pos == 1 && byte != FW_MAGIC1) {
        p->priv_pos = (byte == FW_MAGIC0) ? 1u : 0u;
        return FW_FEED_MORE;
    }
    if (p->priv_pos >= p->priv_need || p->priv_need > FW_MAX_FRAME) {
        fw_parser_init(p); /* cannot happen; never write out of bounds */
        return FW_FEED_MORE;
    }
    p->priv_buf[p->priv_pos++] = byte;
    if (p->priv_pos == FW_HDR_LEN && p->priv_need == FW_HDR_LEN)
        return check_header(p, ret_frame);
    if (p->priv_pos == p->priv_need && p->priv_pos > FW_HDR_LEN)
        return check_frame(p, ret_frame);
    return FW_FEED_MORE;
}

void fw_frame_header(uint8_t out[FW_HDR_LEN], uint8_t cmd, uint8_t status,
                     uint8_t flags, uint32_t seq, uint16_t len)
{
    out[0] = FW_MAGIC0;
    out[1] = FW_MAGIC1;
    out[2] = FW_PROTO_VERSION;
    out[3] = cmd;
    fw_put_u32(out + 4, seq);
    out[8] = status;
    out[9] = flags;
    fw_put_u16(out + 10, len);
}

size_t fw_frame_finish(uint8_t *out, size_t len)
{
    fw_put_u32(out + FW_HDR_LEN + len, fw_crc32(0, out, FW_HDR_LEN + len));
    return FW_HDR_LEN + len + FW_CRC_LEN;
}

void fw_session_nonce(uint8_t out[FW_GCM_IV_LEN], uint32_t seq)
{
    memset(out, 0, FW_GCM_IV_LEN);
    fw_put_u32(out, seq);
}

size_t fw_frame_encode(uint8_t *out, size_t cap, uint8_t cmd, uint8_t status,
                       uint32_t seq, const uint8_t *payload, size_t len)
{
    size_t total = FW_HDR_LEN + len + FW_CRC_LEN;

    if (len > FW_MAX_PAYLOAD || cap < total || (len > 0 && payload == NULL))
        return 0;
    if (len > 0)
        memmove(out + FW_HDR_LEN, payload, len);
    fw_frame_header(out, cmd, status, 0, seq, (uint16_t)len);
    return fw_frame_finish(out, len);
}
