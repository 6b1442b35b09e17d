/*
 * fw_state.c - persistence of the device state: AES-256-GCM records under
 * a key derived from the hardware unique key, written A/B with a sequence
 * number so a power cut (or kill -9 of the emulator) mid-write leaves the
 * previous record valid. It owns the NV layout and the event-log chain; it
 * must never write key material to NV unencrypted or keep the NV key
 * beyond the device's RAM.
 *
 * Record in a slot: magic u32, seq u32, len u32, iv[12], ct[len], tag[16];
 * AAD = the first 12 bytes.
 */
#include "core/fw_state.h"

#include <string.h>

#include "core/fw_board.h"
#include "crypto/fw_crypto.h"
#include "fw_proto.h"

#define REC_MAGIC 0x564E484Bu /* "KHNV" */
#define REC_HDR 12u
#define REC_OVERHEAD (REC_HDR + FW_GCM_IV_LEN + FW_GCM_TAG_LEN)

_Static_assert(sizeof(struct fw_nvstate) + REC_OVERHEAD <= FW_NV_SLOT_SIZE,
               "state does not fit one NV slot");

struct fw_nvstate g_fw_state;
static uint8_t g_nv_key[FW_AES_KEY_LEN];
static uint32_t g_nv_seq;   /* sequence of the newest record */
static uint32_t g_nv_slot;  /* slot holding it */
static uint8_t g_rec[FW_NV_SLOT_SIZE];

static int nv_key_derive(void)
{
    uint8_t huk[FW_AES_KEY_LEN];
    int r = fw_board_huk_get(huk);

    if (r == -FW_ST_NOKEY) {
        r = fw_random(huk, sizeof(huk));
        if (r == 0)
            r = fw_board_huk_provision(huk);
    }
    if (r == 0)
        r = fw_hkdf_sha256((const uint8_t *)"keyhold-nv", 10, huk,
                           sizeof(huk), (const uint8_t *)"nv-record-v1", 12,
                           g_nv_key, sizeof(g_nv_key));
    fw_wipe(huk, sizeof(huk));
    return r;
}

/* Decrypt slot into st; returns 0 and its sequence number if valid. */
static int slot_read(uint32_t slot, struct fw_nvstate *st, uint32_t *ret_seq)
{
    uint32_t len;
    int r;

    r = fw_board_nv_read(slot * FW_NV_SLOT_SIZE, g_rec, sizeof(g_rec));
    if (r != 0)
        return r;
    len = fw_get_u32(g_rec + 8);
    if (fw_get_u32(g_rec) != REC_MAGIC || len != sizeof(*st))
        return -FW_ST_NOKEY;
    r = fw_gcm_open(g_nv_key, g_rec + REC_HDR, g_rec, REC_HDR,
                    g_rec + REC_HDR + FW_GCM_IV_LEN, len,
                    g_rec + REC_HDR + FW_GCM_IV_LEN + len, (uint8_t *)st);
    if (r != 0)
        return r;
    if (st->layout != FW_STATE_LAYOUT)
        return -FW_ST_NV;
    *ret_seq = fw_get_u32(g_rec + 4);
    return 0;
}

int fw_state_load(void)
{
    static struct fw_nvstate tmp;
    uint32_t seq = 0;
    int found = 0;
    int r = nv_key_derive();

    if (r != 0)
        return r;
    for (uint32_t slot = 0; slot < 2; slot++) {
        if (slot_read(slot, &tmp, &seq) != 0)
            continue;
        if (!found || seq > g_nv_seq) {
            g_fw_state = tmp;
            g_nv_seq = seq;
            g_nv_slot = slot;
            found = 1;
        }
    }
    fw_wipe(&tmp, sizeof(tmp));
    fw_wipe(g_rec, sizeof(g_rec));
    if (!found) {
        g_nv_seq = 0;
        g_nv_slot = 1; /* first save goes to slot 0 */
        return -FW_ST_NOKEY;
    }
    return 0;
}

int fw_state_save(void)
{
    uint32_t slot = g_nv_slot ^ 1u;
    uint32_t len = sizeof(g_fw_state);
    int r;

    memset(g_rec, 0, sizeof(g_rec));
    fw_put_u32(g_rec, REC_MAGIC);
    fw_put_u32(g_rec + 4, g_nv_seq + 1);
    fw_put_u32(g_rec + 8, len);
    r = fw_random(g_rec + REC_HDR, FW_GCM_IV_LEN);
    if (r == 0)
        r = fw_gcm_seal(g_nv_key, g_rec + REC_HDR, g_rec, REC_HDR,
                        (const uint8_t *)&g_fw_state, len,
                        g_rec + REC_HDR + FW_GCM_IV_LEN,
                        g_rec + REC_HDR + FW_GCM_IV_LEN + len);
    if (r == 0)
        r = fw_board_nv_write(slot * FW_NV_SLOT_SIZE, g_rec, sizeof(g_rec));
    fw_wipe(g_rec, sizeof(g_rec));
    if (r != 0)
        return -FW_ST_NV;
    g_nv_seq++;
    g_nv_slot = slot;
    return 0;
}

int fw_state_erase(void)
{
    int r = 0;

    memset(g_rec, 0, sizeof(g_rec));
    for (uint32_t slot = 0; slot < 2; slot++)
        if (fw_board_nv_write(slot * FW_NV_SLOT_SIZE, g_rec,
                              sizeof(g_rec)) != 0)
            r = -FW_ST_NV;
    g_nv_slot = 1;
    return r;
}

void fw_state_log_encode(const struct fw_log_entry *e, uint8_t *out)
{
    fw_put_u32(out, e->seq);
    out[4] = e->type;
    fw_put_u32(out + 5, e->arg);
    memcpy(out + 9, e->hash, FW_HASH_LEN);
}

int fw_state_log(uint8_t type, uint32_t arg)
{
    struct fw_nvstate *s = &g_fw_state;
    struct fw_log_entry *e = &s->log[s->log_next % FW_LOG_ENTRIES];
    uint8_t body[9];
    struct fw_span parts[2];
    int r;

    fw_put_u32(body, s->log_next);
    body[4] = type;
    fw_put_u32(body + 5, arg);
    parts[0].p = s->log_head;
    parts[0].n = FW_HASH_LEN;
    parts[1].p = body;
    parts[1].n = sizeof(body);
    r = fw_sha256(parts, 2, s->log_head);
    if (r != 0)
        return r;
    e->seq = s->log_next;
    e->type = type;
    e->arg = arg;
    memcpy(e->hash, s->log_head, FW_HASH_LEN);
    s->log_next++;
    return 0;
}
