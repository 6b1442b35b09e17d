/*
 * core_generate_root.c - sys/generate-root (Vault API: sys/generate-root): operators
 * who hold a quorum of unseal (or recovery) key shares mint a new root
 * token, delivered encrypted with a one-time pad the initiator chose.
 *
 * Encoding (the current Vault scheme): the OTP is base62 of exactly the
 * root token's length; encoded = base64, unpadded, of token XOR OTP. The
 * token exists in clear only inside this file, wiped before return; the
 * shares of the attempt live in locked memory, wiped on cancel and
 * completion.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "core/core_internal.h"

#define ROOT_TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + TOKEN_RANDOM_CHARS)

static json_t *status_json_locked(struct kh_core *core, const char *encoded,
                                  const char *otp)
{
    struct kh_root_generation *g = &core->root_generation;

    return json_pack("{s:b, s:s, s:i, s:i, s:b, s:s, s:s, s:s, s:s, s:i}",
                     "started", g->started, "nonce", g->nonce, "progress",
                     (int)g->progress, "required", (int)core_threshold(core),
                     "complete", encoded != NULL, "encoded_token",
                     encoded != NULL ? encoded : "", "encoded_root_token",
                     encoded != NULL ? encoded : "", "pgp_fingerprint", "",
                     "otp", otp != NULL ? otp : "", "otp_length",
                     (int)ROOT_TOKEN_LEN);
}

static void reset_locked(struct kh_core *core)
{
    struct kh_root_generation *g = &core->root_generation;

    kh_wipe(g->shares, KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX);
    kh_wipe(g->otp, sizeof(g->otp));
    g->started = false;
    g->progress = 0;
    g->share_len = 0;
    g->nonce[0] = '\0';
}

int kh_core_generate_root_status(struct kh_core *core, json_t **ret)
{
    int r = 0;

    pthread_mutex_lock(&core->lock);
    if (!core->initialized)
        r = KH_EINVAL;
    else
        *ret = status_json_locked(core, NULL, NULL);
    pthread_mutex_unlock(&core->lock);
    return r;
}

static bool otp_valid(const char *otp)
{
    size_t i;

    if (strlen(otp) != ROOT_TOKEN_LEN)
        return false;
    for (i = 0; i < ROOT_TOKEN_LEN; i++) {
        char c = otp[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

int kh_core_generate_root_start(struct kh_core *core, const char *otp,
                                json_t **ret, char *errmsg,
                                size_t errmsg_size)
{
    struct kh_root_generation *g = &core->root_generation;
    bool generated = otp == NULL || otp[0] == '\0';
    int r;

    pthread_mutex_lock(&core->lock);
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "server is not yet initialized");
    if (!core->initialized)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "root generation already in progress");
    if (g->started)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "OTP string has incorrect length");
    if (!generated && !otp_valid(otp))
        goto out;
    r = generated ? kh_random_base62(g->otp, ROOT_TOKEN_LEN) : 0;
    if (!generated)
        memcpy(g->otp, otp, ROOT_TOKEN_LEN + 1);
    if (r == 0)
        r = kh_uuid_generate(g->nonce);
    if (r != 0)
        goto out;
    g->started = true;
    *ret = status_json_locked(core, NULL, generated ? g->otp : NULL);
    log_info("core: root token generation started");
out:
    pthread_mutex_unlock(&core->lock);
    return r;
}

void kh_core_generate_root_cancel(struct kh_core *core)
{
    pthread_mutex_lock(&core->lock);
    reset_locked(core);
    pthread_mutex_unlock(&core->lock);
}

/* Quorum reached: verify the key, mint the token, encode it. */
static int complete_locked(struct kh_core *core, char *encoded,
                           char *errmsg, size_t errmsg_size)
{
    struct kh_root_generation *g = &core->root_generation;
    uint8_t key[KH_ROOT_KEY_BYTES];
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    char token[TOKEN_ID_BYTES_MAX + 1];
    uint8_t mixed[ROOT_TOKEN_LEN];
    size_t i;
    int r;

    r = core_shares_combine(g->shares, g->progress, g->share_len, key);
    if (r == 0)
        r = core_root_key_from_shares_locked(core, key, root_key, errmsg,
                                             errmsg_size);
    if (r == KH_ECORRUPT)
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "root generation failed: the key shares are not "
                      "valid");
    if (r == 0)
        r = token_store_create_root(core->tokens, NULL, token, sizeof(token));
    if (r == 0 && strlen(token) != ROOT_TOKEN_LEN)
        r = KH_EINTERNAL;
    if (r == 0) {
        for (i = 0; i < ROOT_TOKEN_LEN; i++)
            mixed[i] = (uint8_t)(token[i] ^ g->otp[i]);
        kh_base64_encode(mixed, sizeof(mixed), false, encoded);
    }
    kh_wipe(key, sizeof(key));
    kh_wipe(root_key, sizeof(root_key));
    kh_wipe(token, sizeof(token));
    kh_wipe(mixed, sizeof(mixed));
    return r;
}

int kh_core_generate_root_update(struct kh_core *core, const uint8_t *share,
                                 size_t share_len, const char *nonce,
                                 json_t **ret, char *errmsg,
                                 size_t errmsg_size)
{
    struct kh_root_generation *g = &core->root_generation;
    char encoded[2 * ROOT_TOKEN_LEN];
    int r;

    pthread_mutex_lock(&core->lock);
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "no root generation in progress");
    if (!g->started)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "incorrect nonce supplied");
    if (nonce == NULL || strcmp(nonce, g->nonce) != 0)
        goto out;
    r = core_share_add_locked(core, g->shares, &g->progress, &g->share_len,
                              share, share_len, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    if (g->progress < core_threshold(core)) {
        *ret = status_json_locked(core, NULL, NULL);
        goto out;
    }
    r = complete_locked(core, encoded, errmsg, errmsg_size);
    if (r == 0) {
        *ret = status_json_locked(core, encoded, NULL);
        log_info("core: a new root token was generated by key holders");
    }
    reset_locked(core);
out:
    pthread_mutex_unlock(&core->lock);
    kh_wipe(encoded, sizeof(encoded));
    return r;
}
