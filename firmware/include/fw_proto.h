/*
 * fw_proto.h - the Keyhold device protocol: the one public header of the
 * firmware, shared by the device, the host simulator and host clients.
 *
 * Version 4 (this one): an authenticated, encrypted session. SESSION_OPEN
 * (plaintext, any state) runs an ephemeral P-256 ECDH signed by the
 * device key that INFO shows; after it every request and reply that
 * carries FW_FLAG_SEALED is AES-256-GCM under its direction's key. LOGIN,
 * INIT_PIN and every command of the logged-in state are accepted sealed
 * only (plaintext: FW_ST_NOSESSION); the login lives and dies with its
 * session. See "Session" below.
 * Version 3: GEN_EC takes a label and EC_LIST reads the P-256
 * slots back (PKCS#11 key pairs); STATS reads the last handler's time.
 * Firmware 0.3.1 added UNWRAP_KEY and VERIFY (PKCS#11 C_UnwrapKey into a
 * token object, C_Verify); an older device answers them BADCMD.
 * Version 2 added the caller's IV to WRAP, a label to GEN_WRAP and
 * WRAP_LIST. Older frames get BADVERSION.
 *
 * Frame (all integers little-endian):
 *
 *   off  size  field
 *     0     2  magic 'K' 'H'
 *     2     1  version (FW_PROTO_VERSION)
 *     3     1  command; a reply carries command | FW_REPLY_BIT
 *     4     4  sequence number, echoed in the reply
 *     8     1  status (requests: must be 0; replies: FW_ST_*)
 *     9     1  flags: FW_FLAG_SEALED or 0 (other bits must be 0)
 *    10     2  payload length, <= FW_MAX_PAYLOAD (fw_limits.h)
 *    12     n  payload
 *  12+n     4  CRC-32 (IEEE, reflected) over bytes [0, 12+n)
 *
 * A reply never exceeds FW_MAX_FRAME. A malformed frame whose header was
 * read gets an error reply with its sequence number; bytes before a magic
 * are skipped. This header owns the wire format and the parser contract; it
 * must never expose device state or key material.
 *
 * Session (v4). Host: ephemeral P-256 key (hpub) and a 16-byte nonce hn;
 * SESSION_OPEN(hpub || hn). Device: ephemeral key (dpub), nonce dn, and
 * sig = ECDSA-P256 (RFC 6979, device key) over SHA-256("KH-SESSION-V4" ||
 * hpub || hn || dpub || dn); reply dpub || dn || sig. The host checks sig
 * under the device public key it pinned (INFO on first contact, or the one
 * recorded at provisioning). Both sides: z = x(ECDH), OKM[64] =
 * HKDF-SHA256(salt = hn || dn, ikm = z, info = "KH-SESSION-V4" || hpub ||
 * dpub); k_h2d = OKM[0..32), k_d2h = OKM[32..64).
 *
 * A sealed frame (flags = FW_FLAG_SEALED): payload = GCM(k, nonce, aad =
 * the 12 header bytes as sent (length = ciphertext + tag), plaintext) ||
 * tag[16], nonce = seq u32 LE || 8 zero bytes (the sequence number
 * extended to 96 bits), k = k_h2d for requests, k_d2h for replies. The
 * device accepts a sealed request only with seq strictly above the last
 * accepted one (the SESSION_OPEN's seq to begin with), else FW_ST_REPLAY;
 * a bad tag gets FW_ST_AUTH and closes the session. A reply to an
 * accepted sealed request is sealed with the request's seq, so no nonce
 * repeats under either key; an error the device answers in plaintext to a
 * sealed request (NOSESSION, REPLAY, AUTH) means the host's session is
 * gone. The session closes (keys wiped, login ended) on a bad tag, a new
 * SESSION_OPEN, LOGOUT and RESET (after their sealed reply), a lost
 * transport, and a reboot. At seq 0xFFFFFFFF the host opens a new one.
 */
#ifndef FW_PROTO_H
#define FW_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "fw_limits.h"

#define FW_MAGIC0 0x4Bu /* 'K' */
#define FW_MAGIC1 0x48u /* 'H' */
#define FW_PROTO_VERSION 4u
#define FW_REPLY_BIT 0x80u
#define FW_FIRMWARE_VERSION "keyhold-fw 0.4.0"

/* Header flags (byte 9). */
#define FW_FLAG_SEALED 0x01u /* payload is ct || tag under the session */

/* Commands. Payloads (request -> reply):
 *  INFO        -      -> ver u8, state u8, tries u8, flags u8, counter u64,
 *                        log_count u32, log_head[32], devpub[65], version str
 *  ATTEST      nonce  -> sig[64] over SHA-256("KH-ATTEST" || version ||
 *                        devpub || nonce) with the device key
 *  SESSION_OPEN hpub[65] hn[16] -> dpub[65] dn[16] sig[64] (plaintext)
 *  INIT_PIN    pin    -> -                     (factory state only)
 *  LOGIN       pin    -> - | BADPIN(tries u8) | LOCKED
 *  LOGOUT      -      -> -
 *  GEN_WRAP    slot, label (0..FW_LABEL_MAX bytes) -> -
 *                                          (key never leaves the device)
 *  WRAP        slot, aad_len u16, aad, iv[12], pt -> iv[12] ct tag[16]
 *              (the caller's IV, echoed: PKCS#11 CKM_AES_GCM semantics;
 *              the caller must never offer one IV twice under a key)
 *  UNWRAP      slot, aad_len u16, aad, iv ct tag -> pt
 *  WRAP_LIST   -      -> FW_WRAP_SLOTS x (used u8, label_len u8,
 *                        label[FW_LABEL_MAX], zero padded); used is
 *                        FW_WRAP_GENERATED or FW_WRAP_IMPORTED (0: free)
 *  UNWRAP_KEY  dst u8, label_len u8, label, then UNWRAP's request with a
 *              ciphertext of FW_AES_KEY_LEN bytes -> -
 *              (the decrypted key goes into the free slot dst as an
 *              imported wrapping key; it never appears in a reply)
 *  GEN_EC      slot, label (0..FW_LABEL_MAX bytes) -> pub[65]
 *  GET_PUB     slot   -> pub[65]
 *  EC_LIST     -      -> FW_EC_SLOTS x (used u8, label_len u8,
 *                        label[FW_LABEL_MAX], zero padded)
 *  SIGN        slot, hash[32] -> r||s [64] (RFC 6979 deterministic; the
 *              caller hashes: the device signs the 32-byte digest as is)
 *  VERIFY      slot, hash[32], r||s [64] -> - | AUTH (the signature does
 *              not verify under the slot's public key)
 *  RANDOM      n u16  -> n bytes
 *  COUNTER_INC -      -> value u64 (persisted before the reply)
 *  COUNTER_GET -      -> value u64
 *  LOG_READ    index u32 -> count u8, entries (seq u32, type u8, arg u32,
 *                        hash[32]) with hash = SHA-256(prev || seq||type||arg)
 *  RESET       "ZEROISE" -> -              (allowed in every state)
 *  STATS       -      -> ns u64: the device time the previous command's
 *                        handler took (fw_board_ns; under QEMU -icount
 *                        shift=0 its guest instruction count) */
enum fw_cmd
{
    FW_CMD_ERROR = 0x00, /* replies to frames whose command is unknown */
    FW_CMD_INFO = 0x01,
    FW_CMD_ATTEST = 0x02,
    FW_CMD_INIT_PIN = 0x03,
    FW_CMD_LOGIN = 0x04,
    FW_CMD_LOGOUT = 0x05,
    FW_CMD_SESSION_OPEN = 0x06,
    FW_CMD_GEN_WRAP = 0x10,
    FW_CMD_WRAP = 0x11,
    FW_CMD_UNWRAP = 0x12,
    FW_CMD_WRAP_LIST = 0x13,
    FW_CMD_UNWRAP_KEY = 0x14,
    FW_CMD_GEN_EC = 0x20,
    FW_CMD_GET_PUB = 0x21,
    FW_CMD_SIGN = 0x22,
    FW_CMD_EC_LIST = 0x23,
    FW_CMD_VERIFY = 0x24,
    FW_CMD_RANDOM = 0x30,
    FW_CMD_COUNTER_INC = 0x31,
    FW_CMD_COUNTER_GET = 0x32,
    FW_CMD_LOG_READ = 0x40,
    FW_CMD_STATS = 0x41,
    FW_CMD_RESET = 0x7E,
};

/* Reply status. Device functions return 0 or -FW_ST_*. */
enum fw_status
{
    FW_ST_OK = 0,
    FW_ST_BADFRAME = 1,
    FW_ST_BADCRC = 2,
    FW_ST_TOOBIG = 3,
    FW_ST_BADVERSION = 4,
    FW_ST_BADCMD = 5,
    FW_ST_BADLEN = 6,
    FW_ST_STATE = 7,
    FW_ST_BADPIN = 8,
    FW_ST_LOCKED = 9,
    FW_ST_NOKEY = 10,
    FW_ST_EXISTS = 11,
    FW_ST_AUTH = 12,
    FW_ST_INTERNAL = 13,
    FW_ST_NV = 14,
    FW_ST_BADARG = 15,
    FW_ST_NOSESSION = 16, /* sealed-only command in plaintext, or sealed
                             frame without a session: open a session */
    FW_ST_REPLAY = 17,    /* sealed seq not above the last accepted */
};

/* Device states, also the bits of a command's allowed-state mask. */
enum fw_dev_state
{
    FW_STATE_FACTORY = 0, /* no PIN yet */
    FW_STATE_IDLE = 1,    /* PIN set, not logged in */
    FW_STATE_USER = 2,    /* logged in */
    FW_STATE_LOCKED = 3,  /* PIN tries exhausted: only INFO/LOG/RESET */
};

/* INFO flags. */
#define FW_INFO_TEST_ENTROPY 0x01u /* emulated, insecure entropy source */

/* Event log types. */
enum fw_event
{
    FW_EV_BOOT = 1,
    FW_EV_LOGIN_OK = 2,
    FW_EV_LOGIN_FAIL = 3,
    FW_EV_LOCKOUT = 4,
    FW_EV_GEN_WRAP = 5,
    FW_EV_GEN_EC = 6,
    FW_EV_UNWRAP_FAIL = 7,
    FW_EV_RESET = 8,
    FW_EV_PIN_SET = 9,
    FW_EV_UNWRAP_KEY = 10,
};

/* WRAP_LIST used byte: how a wrapping key came to be in its slot. */
#define FW_WRAP_GENERATED 1u /* GEN_WRAP: made by the device's DRBG */
#define FW_WRAP_IMPORTED 2u  /* UNWRAP_KEY: decrypted into the device */

#define FW_RESET_CONFIRM "ZEROISE"

/* A parsed frame; payload points into the parser's own buffer. */
struct fw_frame
{
    uint8_t cmd;
    uint8_t status;
    uint8_t flags; /* FW_FLAG_SEALED or 0 */
    uint32_t seq;
    uint16_t len;
    const uint8_t *payload;
};

/* Byte-at-a-time stream parser. Caller-allocated; fields are private. */
struct fw_parser
{
    uint8_t priv_buf[FW_MAX_FRAME];
    uint32_t priv_pos;
    uint32_t priv_need;
};

/* Result of fw_parser_feed. */
enum fw_feed
{
    FW_FEED_MORE = 0,  /* nothing complete yet */
    FW_FEED_FRAME = 1, /* *ret_frame holds a valid frame */
    FW_FEED_ERROR = 2, /* header read but frame bad: *ret_status, *ret_seq */
};

uint32_t fw_crc32(uint32_t crc, const uint8_t *p, size_t n);

void fw_parser_init(struct fw_parser *p);

/* Nonzero while a frame is partly received (the board drops it after
 * FW_RX_IDLE_MS without a byte, by calling fw_parser_init). */
int fw_parser_busy(const struct fw_parser *p);

/* Feed one byte. The frame stays valid until the next call. On
 * FW_FEED_ERROR, ret_frame->seq and ret_frame->cmd are those of the
 * offending header and ret_frame->status the reason (FW_ST_*). */
enum fw_feed fw_parser_feed(struct fw_parser *p, uint8_t byte,
                            struct fw_frame *ret_frame);

/* Encode a frame into out (cap >= FW_HDR_LEN + len + FW_CRC_LEN). Returns the
 * frame length, or 0 if it does not fit or len > FW_MAX_PAYLOAD. */
size_t fw_frame_encode(uint8_t *out, size_t cap, uint8_t cmd, uint8_t status,
                       uint32_t seq, const uint8_t *payload, size_t len);

/* Write a frame header (for a sealed frame, the AAD) into out. */
void fw_frame_header(uint8_t out[FW_HDR_LEN], uint8_t cmd, uint8_t status,
                     uint8_t flags, uint32_t seq, uint16_t len);

/* out holds a header and len payload bytes: append the CRC and return
 * the frame length (the caller checked cap >= FW_HDR_LEN + len +
 * FW_CRC_LEN and len <= FW_MAX_PAYLOAD). */
size_t fw_frame_finish(uint8_t *out, size_t len);

/* The GCM nonce of a sealed frame: seq LE, then 8 zero bytes. */
void fw_session_nonce(uint8_t out[FW_GCM_IV_LEN], uint32_t seq);

/* Little-endian helpers shared by device and clients. */
void fw_put_u16(uint8_t *p, uint16_t v);
void fw_put_u32(uint8_t *p, uint32_t v);
void fw_put_u64(uint8_t *p, uint64_t v);
uint16_t fw_get_u16(const uint8_t *p);
uint32_t fw_get_u32(const uint8_t *p);
uint64_t fw_get_u64(const uint8_t *p);

#endif
