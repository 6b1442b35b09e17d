/*
 * fw_cmds.c - boot, the byte-stream entry point and the command table:
 * {command, payload bounds, allowed states, handler}. Every gate (length,
 * state) runs in fw_core_handle before a handler sees a byte, so handlers
 * only parse payloads whose size is already bounded. It owns the login,
 * which lives inside a v4 session (fw_sess.c): a sealed request is opened
 * before the gates, its reply sealed after the handler, and a command not
 * marked plaintext-ok is refused unless it came sealed. It must never put
 * a wrapping key, a private key or the PIN hash into a reply, change
 * persistent state without saving it before the reply goes out, or keep
 * the login once the session is gone.
 */
#include "core/fw_core.h"

#include <string.h>

#include "core/fw_board.h"
#include "core/fw_sess.h"
#include "core/fw_state.h"
#include "crypto/fw_crypto.h"

#define S_F (1u << FW_STATE_FACTORY)
#define S_I (1u << FW_STATE_IDLE)
#define S_U (1u << FW_STATE_USER)
#define S_L (1u << FW_STATE_LOCKED)
#define S_ALL (S_F | S_I | S_U | S_L)

typedef int (*fw_handler)(const uint8_t *in, size_t n, uint8_t *out,
                          size_t *ret_len);

/* How a command may arrive: sealed only (the default), also in
 * plaintext, or in plaintext only (SESSION_OPEN). */
enum fw_wire
{
    W_SEALED = 0,
    W_ANY = 1,
    W_PLAIN = 2,
};

struct fw_cmd_desc
{
    uint8_t cmd;
    uint16_t min_len;
    uint16_t max_len;
    uint8_t states;
    fw_handler fn;
    uint8_t wire;
};

static struct fw_parser g_parser;
static int g_logged_in;        /* implies fw_sess_is_open() */
static uint32_t g_cur_seq;     /* seq of the frame being handled */
static int g_close_after;      /* end the session after this reply */
static uint8_t g_req[FW_SEALED_MAX];
static uint8_t g_reply[FW_MAX_PAYLOAD];
static uint64_t g_last_ns; /* handler time of the last command but STATS */

/* The session and the login end together. */
static void session_end(void)
{
    fw_sess_close();
    g_logged_in = 0;
}

static uint8_t cur_state(void)
{
    return g_logged_in ? (uint8_t)FW_STATE_USER : g_fw_state.state;
}

static int save_logged(uint8_t ev, uint32_t arg)
{
    int r = fw_state_log(ev, arg);

    return r != 0 ? r : fw_state_save();
}

static int h_info(const uint8_t *in, size_t n, uint8_t *out, size_t *ret_len)
{
    const char *ver = FW_FIRMWARE_VERSION;
    size_t vl = strlen(ver);
    int r;

    out[0] = FW_PROTO_VERSION;
    out[1] = cur_state();
    out[2] = g_fw_state.tries_left;
    out[3] = fw_board_entropy_is_test() ? FW_INFO_TEST_ENTROPY : 0;
    fw_put_u64(out + 4, g_fw_state.counter);
    fw_put_u32(out + 12, g_fw_state.log_next);
    memcpy(out + 16, g_fw_state.log_head, FW_HASH_LEN);
    r = fw_ec_public(g_fw_state.dev_priv, out + 48);
    if (r != 0)
        return r;
    memcpy(out + 48 + FW_EC_PUB_LEN, ver, vl);
    *ret_len = 48 + FW_EC_PUB_LEN + vl;
    return 0;
}

static int h_attest(const uint8_t *in, size_t n, uint8_t *out,
                    size_t *ret_len)
{
    uint8_t pub[FW_EC_PUB_LEN], h[FW_HASH_LEN];
    struct fw_span parts[4] = {
        {(const uint8_t *)"KH-ATTEST", 9},
        {(const uint8_t *)FW_FIRMWARE_VERSION, sizeof(FW_FIRMWARE_VERSION) - 1},
        {pub, sizeof(pub)},
        {in, n},
    };
    int r = fw_ec_public(g_fw_state.dev_priv, pub);

    if (r == 0)
        r = fw_sha256(parts, 4, h);
    if (r == 0)
        r = fw_ec_sign(g_fw_state.dev_priv, h, out);
    if (r == 0)
        *ret_len = FW_EC_SIG_LEN;
    return r;
}

static int pin_hash(const uint8_t *pin, size_t n, uint8_t out[FW_HASH_LEN])
{
    struct fw_span parts[3] = {
        {(const uint8_t *)"KH-PIN", 6},
        {g_fw_state.pin_salt, FW_PIN_SALT_LEN},
        {pin, n},
    };

    return fw_sha256(parts, 3, out);
}

static int h_init_pin(const uint8_t *in, size_t n, uint8_t *out,
                      size_t *ret_len)
{
    int r = fw_random(g_fw_state.pin_salt, FW_PIN_SALT_LEN);

    if (r == 0)
        r = pin_hash(in, n, g_fw_state.pin_hash);
    if (r != 0)
        return r;
    g_fw_state.tries_left = FW_PIN_TRIES;
    g_fw_state.state = FW_STATE_IDLE;
    return save_logged(FW_EV_PIN_SET, 0);
}

/* The try is spent and saved before the PIN is compared, so cutting power
 * after a wrong guess cannot give it back. Allowed while logged in too (a
 * UART has no disconnect): a failed re-login ends the session. */
static int h_login(const uint8_t *in, size_t n, uint8_t *out, size_t *ret_len)
{
    uint8_t h[FW_HASH_LEN];
    int r, ok;

    g_logged_in = 0;
    if (g_fw_state.state == FW_STATE_LOCKED || g_fw_state.tries_left == 0)
        return -FW_ST_LOCKED;
    g_fw_state.tries_left--;
    r = fw_state_save();
    if (r != 0)
        return r;
    r = pin_hash(in, n, h);
    if (r != 0)
        return r;
    ok = !fw_ct_diff(h, g_fw_state.pin_hash, FW_HASH_LEN);
    fw_wipe(h, sizeof(h));
    if (ok) {
        g_fw_state.tries_left = FW_PIN_TRIES;
        g_logged_in = 1;
        return save_logged(FW_EV_LOGIN_OK, 0);
    }
    if (g_fw_state.tries_left == 0) {
        g_fw_state.state = FW_STATE_LOCKED;
        r = save_logged(FW_EV_LOCKOUT, 0);
        return r != 0 ? r : -FW_ST_LOCKED;
    }
    r = save_logged(FW_EV_LOGIN_FAIL, g_fw_state.tries_left);
    out[0] = g_fw_state.tries_left;
    *ret_len = 1;
    return r != 0 ? r : -FW_ST_BADPIN;
}

/* The reply is still sealed; the session ends right after it. */
static int h_logout(const uint8_t *in, size_t n, uint8_t *out,
                    size_t *ret_len)
{
    g_logged_in = 0;
    g_close_after = 1;
    return 0;
}

/* A new session replaces any previous one and starts logged out. */
static int h_session_open(const uint8_t *in, size_t n, uint8_t *out,
                          size_t *ret_len)
{
    session_end();
    return fw_sess_open(in, g_cur_seq, g_fw_state.dev_priv, out, ret_len);
}

/* slot, then an optional label (not secret, kept for PKCS#11 search). */
static int h_gen_wrap(const uint8_t *in, size_t n, uint8_t *out,
                      size_t *ret_len)
{
    uint8_t slot = in[0];
    int r;

    if (slot >= FW_WRAP_SLOTS)
        return -FW_ST_BADARG;
    if (g_fw_state.wrap_used[slot])
        return -FW_ST_EXISTS;
    r = fw_random(g_fw_state.wrap_key[slot], FW_AES_KEY_LEN);
    if (r != 0)
        return r;
    g_fw_state.wrap_used[slot] = FW_WRAP_GENERATED;
    memset(g_fw_state.wrap_label[slot], 0, FW_LABEL_MAX);
    memcpy(g_fw_state.wrap_label[slot], in + 1, n - 1);
    g_fw_state.wrap_label_len[slot] = (uint8_t)(n - 1);
    return save_logged(FW_EV_GEN_WRAP, slot);
}

/* Every wrapping-key slot: used flag and label; never a key byte. */
static int h_wrap_list(const uint8_t *in, size_t n, uint8_t *out,
                       size_t *ret_len)
{
    for (size_t i = 0; i < FW_WRAP_SLOTS; i++) {
        uint8_t *e = out + i * FW_WRAP_LIST_ENTRY;
        e[0] = g_fw_state.wrap_used[i];
        e[1] = g_fw_state.wrap_label_len[i];
        memcpy(e + 2, g_fw_state.wrap_label[i], FW_LABEL_MAX);
    }
    *ret_len = FW_WRAP_SLOTS * FW_WRAP_LIST_ENTRY;
    return 0;
}

/* Common header of WRAP/UNWRAP: slot u8, aad_len u16, aad. */
static int wrap_args(const uint8_t *in, size_t n, const uint8_t **ret_key,
                     size_t *ret_aad_len)
{
    size_t aad_len = fw_get_u16(in + 1);

    if (in[0] >= FW_WRAP_SLOTS)
        return -FW_ST_BADARG;
    if (aad_len > FW_AAD_MAX || 3 + aad_len > n)
        return -FW_ST_BADLEN;
    if (!g_fw_state.wrap_used[in[0]])
        return -FW_ST_NOKEY;
    *ret_key = g_fw_state.wrap_key[in[0]];
    *ret_aad_len = aad_len;
    return 0;
}

/* The caller's IV (PKCS#11 semantics): slot, aad_len, aad, iv, pt. */
static int h_wrap(const uint8_t *in, size_t n, uint8_t *out, size_t *ret_len)
{
    const uint8_t *key = NULL, *iv;
    size_t aad_len = 0, pt_len;
    int r = wrap_args(in, n, &key, &aad_len);

    if (r != 0)
        return r;
    if (n - 3 - aad_len < FW_GCM_IV_LEN)
        return -FW_ST_BADLEN;
    pt_len = n - 3 - aad_len - FW_GCM_IV_LEN;
    if (pt_len > FW_WRAP_MAX)
        return -FW_ST_BADLEN;
    iv = in + 3 + aad_len;
    memcpy(out, iv, FW_GCM_IV_LEN);
    r = fw_gcm_seal(key, iv, in + 3, aad_len, iv + FW_GCM_IV_LEN, pt_len,
                    out + FW_GCM_IV_LEN, out + FW_GCM_IV_LEN + pt_len);
    if (r == 0)
        *ret_len = FW_GCM_IV_LEN + pt_len + FW_GCM_TAG_LEN;
    return r;
}

static int h_unwrap(const uint8_t *in, size_t n, uint8_t *out,
                    size_t *ret_len)
{
    const uint8_t *key = NULL, *iv, *ct;
    size_t aad_len = 0, blob, ct_len;
    int r = wrap_args(in, n, &key, &aad_len);

    if (r != 0)
        return r;
    blob = n - 3 - aad_len;
    if (blob < FW_GCM_IV_LEN + FW_GCM_TAG_LEN ||
        blob > FW_GCM_IV_LEN + FW_WRAP_MAX + FW_GCM_TAG_LEN)
        return -FW_ST_BADLEN;
    iv = in + 3 + aad_len;
    ct = iv + FW_GCM_IV_LEN;
    ct_len = blob - FW_GCM_IV_LEN - FW_GCM_TAG_LEN;
    r = fw_gcm_open(key, iv, in + 3, aad_len, ct, ct_len, ct + ct_len, out);
    if (r == -FW_ST_AUTH) {
        int r2 = save_logged(FW_EV_UNWRAP_FAIL, in[0]);
        return r2 != 0 ? r2 : r;
    }
    if (r == 0)
        *ret_len = ct_len;
    return r;
}

/* dst, label_len, label, then UNWRAP's request (slot, aad_len, aad, iv,
 * ct, tag) whose ciphertext is exactly one AES-256 key: the key is
 * decrypted into a local buffer, stored in the free slot dst as an
 * imported key and wiped; no reply byte depends on it. */
static int h_unwrap_key(const uint8_t *in, size_t n, uint8_t *out,
                        size_t *ret_len)
{
    uint8_t key[FW_AES_KEY_LEN], dst = in[0];
    const uint8_t *wkey = NULL, *w, *iv;
    size_t label_len = in[1], aad_len = 0, wn;
    int r;

    if (label_len > FW_LABEL_MAX || n < 2 + label_len + 3)
        return -FW_ST_BADLEN;
    w = in + 2 + label_len;
    wn = n - 2 - label_len;
    r = wrap_args(w, wn, &wkey, &aad_len);
    if (r != 0)
        return r;
    if (wn - 3 - aad_len != FW_GCM_IV_LEN + FW_AES_KEY_LEN + FW_GCM_TAG_LEN)
        return -FW_ST_BADLEN;
    if (dst >= FW_WRAP_SLOTS)
        return -FW_ST_BADARG;
    if (g_fw_state.wrap_used[dst])
        return -FW_ST_EXISTS;
    iv = w + 3 + aad_len;
    r = fw_gcm_open(wkey, iv, w + 3, aad_len, iv + FW_GCM_IV_LEN,
                    FW_AES_KEY_LEN, iv + FW_GCM_IV_LEN + FW_AES_KEY_LEN, key);
    if (r == 0)
        memcpy(g_fw_state.wrap_key[dst], key, FW_AES_KEY_LEN);
    fw_wipe(key, sizeof(key));
    if (r == -FW_ST_AUTH) {
        int r2 = save_logged(FW_EV_UNWRAP_FAIL, w[0]);
        return r2 != 0 ? r2 : r;
    }
    if (r != 0)
        return r;
    g_fw_state.wrap_used[dst] = FW_WRAP_IMPORTED;
    memset(g_fw_state.wrap_label[dst], 0, FW_LABEL_MAX);
    memcpy(g_fw_state.wrap_label[dst], in + 2, label_len);
    g_fw_state.wrap_label_len[dst] = (uint8_t)label_len;
    return save_logged(FW_EV_UNWRAP_KEY, dst);
}

/* slot, then an optional label (not secret, kept for PKCS#11 search). */
static int h_gen_ec(const uint8_t *in, size_t n, uint8_t *out,
                    size_t *ret_len)
{
    uint8_t slot = in[0];
    int r;

    if (slot >= FW_EC_SLOTS)
        return -FW_ST_BADARG;
    if (g_fw_state.ec_used[slot])
        return -FW_ST_EXISTS;
    r = fw_ec_generate(g_fw_state.ec_priv[slot], out);
    if (r != 0)
        return r;
    g_fw_state.ec_used[slot] = 1;
    memset(g_fw_state.ec_label[slot], 0, FW_LABEL_MAX);
    memcpy(g_fw_state.ec_label[slot], in + 1, n - 1);
    g_fw_state.ec_label_len[slot] = (uint8_t)(n - 1);
    r = save_logged(FW_EV_GEN_EC, slot);
    if (r == 0)
        *ret_len = FW_EC_PUB_LEN;
    return r;
}

static int ec_slot(uint8_t slot)
{
    if (slot >= FW_EC_SLOTS)
        return -FW_ST_BADARG;
    return g_fw_state.ec_used[slot] ? 0 : -FW_ST_NOKEY;
}

static int h_get_pub(const uint8_t *in, size_t n, uint8_t *out,
                     size_t *ret_len)
{
    int r = ec_slot(in[0]);

    if (r == 0)
        r = fw_ec_public(g_fw_state.ec_priv[in[0]], out);
    if (r == 0)
        *ret_len = FW_EC_PUB_LEN;
    return r;
}

/* Every P-256 slot: used flag and label; never a key byte. */
static int h_ec_list(const uint8_t *in, size_t n, uint8_t *out,
                     size_t *ret_len)
{
    for (size_t i = 0; i < FW_EC_SLOTS; i++) {
        uint8_t *e = out + i * FW_EC_LIST_ENTRY;
        e[0] = g_fw_state.ec_used[i];
        e[1] = g_fw_state.ec_label_len[i];
        memcpy(e + 2, g_fw_state.ec_label[i], FW_LABEL_MAX);
    }
    *ret_len = FW_EC_SLOTS * FW_EC_LIST_ENTRY;
    return 0;
}

static int h_sign(const uint8_t *in, size_t n, uint8_t *out, size_t *ret_len)
{
    int r = ec_slot(in[0]);

    if (r == 0)
        r = fw_ec_sign(g_fw_state.ec_priv[in[0]], in + 1, out);
    if (r == 0)
        *ret_len = FW_EC_SIG_LEN;
    return r;
}

/* slot, hash, r||s: checked against the slot's public key. */
static int h_verify(const uint8_t *in, size_t n, uint8_t *out,
                    size_t *ret_len)
{
    uint8_t pub[FW_EC_PUB_LEN];
    int r = ec_slot(in[0]);

    if (r == 0)
        r = fw_ec_public(g_fw_state.ec_priv[in[0]], pub);
    if (r == 0)
        r = fw_ec_verify(pub, in + 1, in + 1 + FW_HASH_LEN);
    return r;
}

static int h_random(const uint8_t *in, size_t n, uint8_t *out,
                    size_t *ret_len)
{
    size_t want = fw_get_u16(in);
    int r;

    if (want > FW_RANDOM_MAX)
        return -FW_ST_BADLEN;
    r = fw_random(out, want);
    if (r == 0)
        *ret_len = want;
    return r;
}

/* Saved before the reply: a value once returned is never handed out
 * again, even if the device dies right after. */
static int h_counter_inc(const uint8_t *in, size_t n, uint8_t *out,
                         size_t *ret_len)
{
    int r;

    if (g_fw_state.counter == UINT64_MAX)
        return -FW_ST_BADARG;
    g_fw_state.counter++;
    r = fw_state_save();
    if (r != 0)
        return r;
    fw_put_u64(out, g_fw_state.counter);
    *ret_len = 8;
    return 0;
}

static int h_counter_get(const uint8_t *in, size_t n, uint8_t *out,
                         size_t *ret_len)
{
    fw_put_u64(out, g_fw_state.counter);
    *ret_len = 8;
    return 0;
}

static int h_log_read(const uint8_t *in, size_t n, uint8_t *out,
                      size_t *ret_len)
{
    uint32_t next = g_fw_state.log_next;
    uint32_t first = next > FW_LOG_ENTRIES ? next - FW_LOG_ENTRIES : 0;
    uint32_t idx = fw_get_u32(in);
    uint32_t count = 0;

    if (idx < first)
        idx = first;
    fw_put_u32(out, next);
    while (idx < next && count < FW_LOG_READ_MAX) {
        fw_state_log_encode(&g_fw_state.log[idx % FW_LOG_ENTRIES],
                            out + 5 + count * FW_LOG_ENTRY_LEN);
        idx++;
        count++;
    }
    out[4] = (uint8_t)count;
    *ret_len = 5 + count * FW_LOG_ENTRY_LEN;
    return 0;
}

static int h_stats(const uint8_t *in, size_t n, uint8_t *out,
                   size_t *ret_len)
{
    fw_put_u64(out, g_last_ns);
    *ret_len = 8;
    return 0;
}

/* Fresh state: new device key, factory state, counter kept (monotonic). */
static int state_fresh(uint64_t counter)
{
    uint8_t pub[FW_EC_PUB_LEN];

    fw_wipe(&g_fw_state, sizeof(g_fw_state));
    g_fw_state.layout = FW_STATE_LAYOUT;
    g_fw_state.state = FW_STATE_FACTORY;
    g_fw_state.counter = counter;
    return fw_ec_generate(g_fw_state.dev_priv, pub);
}

static int h_reset(const uint8_t *in, size_t n, uint8_t *out, size_t *ret_len)
{
    uint64_t counter = g_fw_state.counter;
    int r;

    if (fw_ct_diff(in, (const uint8_t *)FW_RESET_CONFIRM, n))
        return -FW_ST_BADARG;
    g_logged_in = 0;
    g_close_after = 1; /* the device key changes: so must the session */
    r = fw_state_erase();
    if (r == 0)
        r = state_fresh(counter);
    if (r == 0)
        r = save_logged(FW_EV_RESET, (uint32_t)counter);
    return r;
}

/* UNWRAP_KEY: dst, label_len, label, slot, aad_len, aad, iv, key, tag. */
#define UNWRAP_KEY_MIN \
    (2u + 3u + FW_GCM_IV_LEN + FW_AES_KEY_LEN + FW_GCM_TAG_LEN)
#define UNWRAP_KEY_MAX (UNWRAP_KEY_MIN + FW_LABEL_MAX + FW_AAD_MAX)

static const struct fw_cmd_desc g_cmds[] = {
    {FW_CMD_INFO, 0, 0, S_ALL, h_info, W_ANY},
    {FW_CMD_ATTEST, 0, FW_NONCE_MAX, S_ALL, h_attest, W_ANY},
    {FW_CMD_SESSION_OPEN, FW_SESSION_REQ_LEN, FW_SESSION_REQ_LEN, S_ALL,
     h_session_open, W_PLAIN},
    {FW_CMD_INIT_PIN, FW_PIN_MIN, FW_PIN_MAX, S_F, h_init_pin, W_SEALED},
    {FW_CMD_LOGIN, FW_PIN_MIN, FW_PIN_MAX, S_I | S_U | S_L, h_login,
     W_SEALED},
    {FW_CMD_LOGOUT, 0, 0, S_U, h_logout, W_SEALED},
    {FW_CMD_GEN_WRAP, 1, 1 + FW_LABEL_MAX, S_U, h_gen_wrap, W_SEALED},
    {FW_CMD_WRAP, 3 + FW_GCM_IV_LEN,
     3 + FW_AAD_MAX + FW_GCM_IV_LEN + FW_WRAP_MAX, S_U, h_wrap, W_SEALED},
    {FW_CMD_UNWRAP, 3 + FW_GCM_IV_LEN + FW_GCM_TAG_LEN,
     3 + FW_AAD_MAX + FW_GCM_IV_LEN + FW_WRAP_MAX + FW_GCM_TAG_LEN, S_U,
     h_unwrap, W_SEALED},
    {FW_CMD_WRAP_LIST, 0, 0, S_U, h_wrap_list, W_SEALED},
    {FW_CMD_UNWRAP_KEY, UNWRAP_KEY_MIN, UNWRAP_KEY_MAX, S_U, h_unwrap_key,
     W_SEALED},
    {FW_CMD_GEN_EC, 1, 1 + FW_LABEL_MAX, S_U, h_gen_ec, W_SEALED},
    {FW_CMD_GET_PUB, 1, 1, S_U, h_get_pub, W_SEALED},
    {FW_CMD_EC_LIST, 0, 0, S_U, h_ec_list, W_SEALED},
    {FW_CMD_SIGN, 1 + FW_HASH_LEN, 1 + FW_HASH_LEN, S_U, h_sign, W_SEALED},
    {FW_CMD_VERIFY, 1 + FW_HASH_LEN + FW_EC_SIG_LEN,
     1 + FW_HASH_LEN + FW_EC_SIG_LEN, S_U, h_verify, W_SEALED},
    {FW_CMD_RANDOM, 2, 2, S_I | S_U, h_random, W_SEALED},
    {FW_CMD_COUNTER_INC, 0, 0, S_U, h_counter_inc, W_SEALED},
    {FW_CMD_COUNTER_GET, 0, 0, S_ALL, h_counter_get, W_ANY},
    {FW_CMD_LOG_READ, 4, 4, S_ALL, h_log_read, W_ANY},
    {FW_CMD_STATS, 0, 0, S_ALL, h_stats, W_ANY},
    {FW_CMD_RESET, sizeof(FW_RESET_CONFIRM) - 1, sizeof(FW_RESET_CONFIRM) - 1,
     S_ALL, h_reset, W_ANY},
};

_Static_assert(3 + FW_AAD_MAX + FW_GCM_IV_LEN + FW_WRAP_MAX +
                       FW_GCM_TAG_LEN <= FW_SEALED_MAX,
               "unwrap request exceeds a sealed frame");
_Static_assert(UNWRAP_KEY_MAX <= FW_SEALED_MAX,
               "unwrap-key request exceeds a sealed frame");
_Static_assert(FW_GCM_IV_LEN + FW_WRAP_MAX + FW_GCM_TAG_LEN <= FW_SEALED_MAX,
               "wrap reply exceeds a sealed frame");
_Static_assert(FW_WRAP_SLOTS * FW_WRAP_LIST_ENTRY <= FW_SEALED_MAX,
               "wrap list exceeds a sealed frame");
_Static_assert(FW_EC_SLOTS * FW_EC_LIST_ENTRY <= FW_SEALED_MAX,
               "EC list exceeds a sealed frame");
_Static_assert(48 + FW_EC_PUB_LEN + FW_VERSION_MAX <= FW_SEALED_MAX,
               "INFO reply exceeds a sealed frame");
_Static_assert(FW_RANDOM_MAX <= FW_SEALED_MAX, "RANDOM exceeds a frame");
_Static_assert(FW_SESSION_REP_LEN <= FW_MAX_PAYLOAD,
               "SESSION_OPEN reply exceeds the frame payload");
_Static_assert(FW_LABEL_MAX <= 255, "a label length fits its u8");
_Static_assert(5 + FW_LOG_READ_MAX * FW_LOG_ENTRY_LEN <= FW_SEALED_MAX,
               "log read-out exceeds the frame payload");

/* Run d's handler on in[0..n); its time is kept for STATS (STATS itself
 * excluded). */
static int run_timed(const struct fw_cmd_desc *d, const uint8_t *in,
                     size_t n, size_t *ret_len)
{
    uint64_t t0 = fw_board_ns();
    int r = d->fn(in, n, g_reply, ret_len);

    if (d->cmd != FW_CMD_STATS)
        g_last_ns = fw_board_ns() - t0;
    return r;
}

/* The gates: known command, wire form, length, state. */
static int gate(const struct fw_cmd_desc *d, size_t n, int sealed)
{
    if (d == NULL)
        return -FW_ST_BADCMD;
    if (sealed && d->wire == W_PLAIN)
        return -FW_ST_BADFRAME;
    if (!sealed && d->wire == W_SEALED)
        return -FW_ST_NOSESSION;
    if (n < d->min_len || n > d->max_len)
        return -FW_ST_BADLEN;
    if (!((1u << cur_state()) & d->states))
        return -FW_ST_STATE;
    return 0;
}

/* A sealed request that cannot be opened gets a plaintext error; a bad
 * tag has closed the session, and the login goes with it. */
static size_t refuse_sealed(const struct fw_frame *f, int r, uint8_t *out,
                            size_t cap)
{
    if (!fw_sess_is_open())
        g_logged_in = 0;
    return fw_frame_encode(out, cap, (uint8_t)(f->cmd | FW_REPLY_BIT),
                           (uint8_t)-r, f->seq, NULL, 0);
}

size_t fw_core_handle(const struct fw_frame *f, uint8_t *out, size_t cap)
{
    const struct fw_cmd_desc *d = NULL;
    const uint8_t *in = f->payload;
    size_t n = f->len, len = 0;
    int sealed = (f->flags & FW_FLAG_SEALED) != 0;
    uint8_t rcmd = (uint8_t)(f->cmd | FW_REPLY_BIT);
    int r;

    if (sealed) {
        r = fw_sess_unseal(f, g_req, &n);
        if (r != 0)
            return refuse_sealed(f, r, out, cap);
        in = g_req;
    }
    for (size_t i = 0; i < sizeof(g_cmds) / sizeof(g_cmds[0]); i++)
        if (g_cmds[i].cmd == f->cmd)
            d = &g_cmds[i];
    g_cur_seq = f->seq;
    g_close_after = 0;
    r = gate(d, n, sealed);
    if (r == 0)
        r = run_timed(d, in, n, &len);
    if (r != 0 && r != -FW_ST_BADPIN)
        len = 0;
    if (sealed && fw_sess_is_open())
        len = fw_sess_seal(out, cap, rcmd, (uint8_t)-r, f->seq, g_reply, len);
    else
        len = fw_frame_encode(out, cap, rcmd, (uint8_t)-r, f->seq, g_reply,
                              len);
    if (g_close_after)
        session_end();
    fw_wipe(g_req, sizeof(g_req));
    fw_wipe(g_reply, sizeof(g_reply));
    return len;
}

size_t fw_core_rx(uint8_t byte, uint8_t *out, size_t cap)
{
    struct fw_frame f;
    enum fw_feed e = fw_parser_feed(&g_parser, byte, &f);

    if (e == FW_FEED_FRAME)
        return fw_core_handle(&f, out, cap);
    if (e == FW_FEED_ERROR)
        return fw_frame_encode(out, cap, (uint8_t)(f.cmd | FW_REPLY_BIT),
                               f.status, f.seq, NULL, 0);
    return 0;
}

void fw_core_rx_idle(void)
{
    fw_parser_init(&g_parser);
}

void fw_core_session_end(void)
{
    session_end();
}

void fw_core_wipe(void)
{
    session_end();
    fw_wipe(&g_fw_state, sizeof(g_fw_state));
    fw_wipe(g_reply, sizeof(g_reply));
}

int fw_core_boot(void)
{
    static const char pers[] = "keyhold-fw drbg";
    int r;

    fw_parser_init(&g_parser);
    session_end();
    r = fw_crypto_init(fw_board_entropy, NULL, (const uint8_t *)pers,
                       sizeof(pers) - 1);
    if (r != 0)
        return r;
    r = fw_state_load();
    if (r == -FW_ST_NOKEY)
        r = state_fresh(0);
    if (r != 0)
        return r;
    return save_logged(FW_EV_BOOT, g_fw_state.log_next);
}
