/*
 * seal_pkcs11.c - the pkcs11 seal: the root key is wrapped by an AES-256
 * key that lives in a PKCS#11 token and never leaves it (hsm/pkcs11.c).
 *
 * Owns the stanza's parameters (the PIN in locked memory, wiped on close)
 * and the hsm handle. The PIN may come from KEYHOLD_HSM_PIN or
 * VAULT_HSM_PIN, which override the configuration file. Never logs; never
 * puts the PIN in an error message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "hsm.h"
#include "seal/seal_backends.h"

#define PKCS11_PIN_BYTES_MAX 256

struct seal_pkcs11
{
    char *lib;
    long slot;
    char *token_label;
    char *key_label;
    char *pin;                  /* kh_secure_alloc, PKCS11_PIN_BYTES_MAX */
    enum hsm_mechanism mechanism;
    bool generate_key;
    struct hsm *hsm;            /* NULL until connected */
};

static int pkcs11_wrap(struct seal *seal, const uint8_t *unseal_key,
                       const char *path, const uint8_t key[KH_ROOT_KEY_BYTES],
                       uint8_t **ret_blob, size_t *ret_blob_len)
{
    struct seal_pkcs11 *p = seal->impl;

    if (p->hsm == NULL)
        return KH_EUNAVAIL;
    return hsm_wrap(p->hsm, (const uint8_t *)path, strlen(path), key,
                    KH_ROOT_KEY_BYTES, ret_blob, ret_blob_len);
}

static int pkcs11_unwrap(struct seal *seal, const uint8_t *unseal_key,
                         const char *path, const uint8_t *blob,
                         size_t blob_len, uint8_t key[KH_ROOT_KEY_BYTES])
{
    struct seal_pkcs11 *p = seal->impl;
    size_t len = 0;
    int r;

    if (p->hsm == NULL)
        return KH_EUNAVAIL;
    r = hsm_unwrap(p->hsm, (const uint8_t *)path, strlen(path), blob,
                   blob_len, key, KH_ROOT_KEY_BYTES, &len);
    if (r == 0 && len != KH_ROOT_KEY_BYTES) {
        kh_wipe(key, KH_ROOT_KEY_BYTES);
        r = KH_ECORRUPT;
    }
    return r;
}

static int pkcs11_health(struct seal *seal)
{
    struct seal_pkcs11 *p = seal->impl;

    if (p->hsm == NULL)
        return KH_EUNAVAIL;
    return hsm_ping(p->hsm);
}

static void pkcs11_close(struct seal *seal)
{
    struct seal_pkcs11 *p = seal->impl;

    if (p == NULL)
        return;
    hsm_close(p->hsm);
    free(p->lib);
    free(p->token_label);
    free(p->key_label);
    kh_secure_free(p->pin, PKCS11_PIN_BYTES_MAX);
    free(p);
    seal->impl = NULL;
}

static const struct seal_ops seal_pkcs11_ops = {
    .type = "pkcs11",
    .auto_unseal = true,
    .wrap = pkcs11_wrap,
    .unwrap = pkcs11_unwrap,
    .health = pkcs11_health,
    .close = pkcs11_close,
};

static int parse_mechanism(const char *text, enum hsm_mechanism *ret)
{
    if (text == NULL || strcmp(text, "CKM_AES_GCM") == 0 ||
        strcmp(text, "0x1087") == 0) {
        *ret = HSM_MECH_AES_GCM;
        return 0;
    }
    if (strcmp(text, "CKM_AES_KEY_WRAP_PAD") == 0 ||
        strcmp(text, "0x210A") == 0 || strcmp(text, "0x210a") == 0) {
        *ret = HSM_MECH_AES_KEY_WRAP_PAD;
        return 0;
    }
    return KH_ECONFIG;
}

static const char *pin_source(const struct kh_config_stanza *stanza)
{
    const char *pin = getenv("KEYHOLD_HSM_PIN");

    if (pin == NULL || pin[0] == '\0')
        pin = getenv("VAULT_HSM_PIN");
    if (pin == NULL || pin[0] == '\0')
        pin = kh_config_param(stanza, "pin");
    return pin;
}

static int parse_params(struct seal_pkcs11 *p,
                        const struct kh_config_stanza *stanza, char *errmsg,
                        size_t errmsg_size)
{
    const char *lib = kh_config_param(stanza, "lib");
    const char *slot = kh_config_param(stanza, "slot");
    const char *token_label = kh_config_param(stanza, "token_label");
    const char *key_label = kh_config_param(stanza, "key_label");
    const char *generate = kh_config_param(stanza, "generate_key");
    const char *pin = pin_source(stanza);
    char *end = NULL;

    if (lib == NULL || key_label == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "seal \"pkcs11\": \"lib\" and \"key_label\" are "
                         "required");
    if ((slot == NULL) == (token_label == NULL))
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "seal \"pkcs11\": set exactly one of \"slot\" and "
                         "\"token_label\"");
    if (pin == NULL || strlen(pin) >= PKCS11_PIN_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "seal \"pkcs11\": no PIN: set \"pin\" or "
                         "KEYHOLD_HSM_PIN");
    if (parse_mechanism(kh_config_param(stanza, "mechanism"),
                        &p->mechanism) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "seal \"pkcs11\": mechanism must be CKM_AES_GCM or "
                         "CKM_AES_KEY_WRAP_PAD");
    p->slot = -1;
    if (slot != NULL) {
        errno = 0;
        p->slot = strtol(slot, &end, 0);
        if (errno != 0 || end == slot || *end != '\0' || p->slot < 0)
            return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                             "seal \"pkcs11\": slot must be a number");
    }
    p->generate_key = generate != NULL && (strcmp(generate, "true") == 0 ||
                                           strcmp(generate, "1") == 0);
    p->lib = strdup(lib);
    p->key_label = strdup(key_label);
    p->token_label = token_label != NULL ? strdup(token_label) : NULL;
    p->pin = kh_secure_alloc(PKCS11_PIN_BYTES_MAX);
    if (p->lib == NULL || p->key_label == NULL || p->pin == NULL ||
        (token_label != NULL && p->token_label == NULL))
        return KH_ENOMEM;
    memcpy(p->pin, pin, strlen(pin) + 1);
    return 0;
}

int seal_pkcs11_init(struct seal *seal, const struct kh_config_stanza *stanza,
                     char *errmsg, size_t errmsg_size)
{
    struct seal_pkcs11 *p;
    int r;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return KH_ENOMEM;
    seal->impl = p;
    r = parse_params(p, stanza, errmsg, errmsg_size);
    if (r != 0) {
        pkcs11_close(seal);
        return r;
    }
    seal->ops = &seal_pkcs11_ops;
    return seal_pkcs11_connect(seal, errmsg, errmsg_size);
}

int seal_pkcs11_connect(struct seal *seal, char *errmsg, size_t errmsg_size)
{
    struct seal_pkcs11 *p = seal->impl;
    struct hsm_pkcs11_params params;

    KH_ASSERT(p != NULL);
    if (p->hsm != NULL)
        return 0;
    params = (struct hsm_pkcs11_params){
        .lib = p->lib,
        .slot = p->slot,
        .token_label = p->token_label,
        .pin = p->pin,
        .key_label = p->key_label,
        .mechanism = p->mechanism,
        .generate_key = p->generate_key,
    };
    return hsm_pkcs11_open(&params, &p->hsm, errmsg, errmsg_size);
}

bool seal_pkcs11_ready(const struct seal *seal)
{
    const struct seal_pkcs11 *p = seal->impl;

    return p != NULL && p->hsm != NULL;
}

struct hsm *seal_pkcs11_hsm(const struct seal *seal)
{
    const struct seal_pkcs11 *p = seal->impl;

    return p != NULL ? p->hsm : NULL;
}
