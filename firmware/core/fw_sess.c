/*
 * fw_sess.c - the device side of the v4 session: an ephemeral P-256 ECDH
 * signed with the device key, HKDF-SHA256 into one AES-256-GCM key per
 * direction, and the replay counter. It owns the session keys (static
 * storage, no heap) and wipes them on every close; it must never seal two
 * frames under one nonce, accept a sealed request whose seq is not above
 * the last accepted one, or keep a key after a bad tag.
 */
#include "core/fw_sess.h"

#include <string.h>

#include "crypto/fw_crypto.h"

#define INFO_LEN (FW_SESSION_LABEL_LEN + 2u * FW_EC_PUB_LEN)

static struct
{
    int open;
    uint32_t last_seq; /* highest accepted request seq */
    uint8_t k_h2d[FW_AES_KEY_LEN];
    uint8_t k_d2h[FW_AES_KEY_LEN];
} g_sess;

int fw_sess_is_open(void)
{
    return g_sess.open;
}

void fw_sess_close(void)
{
    fw_wipe(&g_sess, sizeof(g_sess));
}

/* dpub || dn of out are set: sign the transcript with the device key. */
static int sess_sign(const uint8_t *in, const uint8_t *out,
                     const uint8_t dev_priv[FW_EC_PRIV_LEN], uint8_t *sig)
{
    uint8_t h[FW_HASH_LEN];
    struct fw_span parts[3] = {
        {(const uint8_t *)FW_SESSION_LABEL, FW_SESSION_LABEL_LEN},
        {in, FW_SESSION_REQ_LEN},
        {out, FW_EC_PUB_LEN + FW_SESSION_NONCE_LEN},
    };
    int r = fw_sha256(parts, 3, h);

    if (r == 0)
        r = fw_ec_sign(dev_priv, h, sig);
    return r;
}

/* OKM = HKDF(salt = hn || dn, ikm = z, info = label || hpub || dpub). */
static int sess_derive(const uint8_t *in, const uint8_t *out,
                       const uint8_t z[FW_EC_PRIV_LEN])
{
    uint8_t salt[2 * FW_SESSION_NONCE_LEN], info[INFO_LEN];
    uint8_t okm[FW_SESSION_KEYS_LEN];
    int r;

    memcpy(salt, in + FW_EC_PUB_LEN, FW_SESSION_NONCE_LEN);
    memcpy(salt + FW_SESSION_NONCE_LEN, out + FW_EC_PUB_LEN,
           FW_SESSION_NONCE_LEN);
    memcpy(info, FW_SESSION_LABEL, FW_SESSION_LABEL_LEN);
    memcpy(info + FW_SESSION_LABEL_LEN, in, FW_EC_PUB_LEN);
    memcpy(info + FW_SESSION_LABEL_LEN + FW_EC_PUB_LEN, out, FW_EC_PUB_LEN);
    r = fw_hkdf_sha256(salt, sizeof(salt), z, FW_EC_PRIV_LEN, info,
                       sizeof(info), okm, sizeof(okm));
    if (r == 0) {
        memcpy(g_sess.k_h2d, okm, FW_AES_KEY_LEN);
        memcpy(g_sess.k_d2h, okm + FW_AES_KEY_LEN, FW_AES_KEY_LEN);
    }
    fw_wipe(okm, sizeof(okm));
    return r;
}

int fw_sess_open(const uint8_t *in, uint32_t seq,
                 const uint8_t dev_priv[FW_EC_PRIV_LEN], uint8_t *out,
                 size_t *ret_len)
{
    uint8_t eph[FW_EC_PRIV_LEN], z[FW_EC_PRIV_LEN];
    int r;

    fw_sess_close();
    r = fw_ec_generate(eph, out);
    if (r == 0)
        r = fw_ecdh(eph, in, z); /* checks hpub is on the curve */
    if (r == 0)
        r = fw_random(out + FW_EC_PUB_LEN, FW_SESSION_NONCE_LEN);
    if (r == 0)
        r = sess_sign(in, out, dev_priv,
                      out + FW_EC_PUB_LEN + FW_SESSION_NONCE_LEN);
    if (r == 0)
        r = sess_derive(in, out, z);
    fw_wipe(eph, sizeof(eph));
    fw_wipe(z, sizeof(z));
    if (r != 0) {
        fw_sess_close();
        return r;
    }
    g_sess.open = 1;
    g_sess.last_seq = seq;
    *ret_len = FW_SESSION_REP_LEN;
    return 0;
}

int fw_sess_unseal(const struct fw_frame *f, uint8_t *out, size_t *ret_len)
{
    uint8_t aad[FW_HDR_LEN], iv[FW_GCM_IV_LEN];
    size_t n;
    int r;

    if (!g_sess.open)
        return -FW_ST_NOSESSION;
    if (f->seq <= g_sess.last_seq)
        return -FW_ST_REPLAY;
    if (f->len < FW_GCM_TAG_LEN) {
        fw_sess_close();
        return -FW_ST_AUTH;
    }
    n = f->len - FW_GCM_TAG_LEN;
    fw_frame_header(aad, f->cmd, f->status, f->flags, f->seq, f->len);
    fw_session_nonce(iv, f->seq);
    r = fw_gcm_open(g_sess.k_h2d, iv, aad, sizeof(aad), f->payload, n,
                    f->payload + n, out);
    if (r != 0) {
        fw_sess_close();
        return -FW_ST_AUTH;
    }
    g_sess.last_seq = f->seq;
    *ret_len = n;
    return 0;
}

size_t fw_sess_seal(uint8_t *out, size_t cap, uint8_t cmd, uint8_t status,
                    uint32_t seq, const uint8_t *pt, size_t len)
{
    uint8_t iv[FW_GCM_IV_LEN];
    size_t n = len + FW_GCM_TAG_LEN;

    if (!g_sess.open || len > FW_SEALED_MAX ||
        cap < FW_HDR_LEN + n + FW_CRC_LEN)
        return 0;
    fw_frame_header(out, cmd, status, FW_FLAG_SEALED, seq, (uint16_t)n);
    fw_session_nonce(iv, seq);
    if (fw_gcm_seal(g_sess.k_d2h, iv, out, FW_HDR_LEN, pt, len,
                    out + FW_HDR_LEN, out + FW_HDR_LEN + len) != 0)
        return 0;
    return fw_frame_finish(out, n);
}
