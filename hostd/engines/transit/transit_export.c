/*
 * transit_export.c - export/:type/:name[/:version] (Vault API: transit):
 * the one way software key material leaves the engine.
 *
 * Owns the export rules: only keys created (or configured) exportable,
 * never managed keys; type encryption-key (AEAD keys: base64 of the raw
 * key; RSA: PEM), signing-key (ECDSA, ed25519, RSA: PEM private key) or
 * hmac-key (base64 of the version's HMAC key); all usable versions, or
 * the one asked for ("latest" allowed). Copies are wiped where they die.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

enum export_kind {
    EXPORT_ENCRYPTION = 1,
    EXPORT_SIGNING,
    EXPORT_HMAC,
};

static int export_kind(const struct transit_call *call,
                       const struct transit_policy *pol,
                       enum export_kind *ret)
{
    const struct transit_type_info *info = transit_type_info(pol->type);
    const char *type = call->name;

    if (strcmp(type, "encryption-key") == 0 && info->encryption)
        *ret = EXPORT_ENCRYPTION;
    else if (strcmp(type, "signing-key") == 0 && info->signing)
        *ret = EXPORT_SIGNING;
    else if (strcmp(type, "hmac-key") == 0)
        *ret = EXPORT_HMAC;
    else
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "export type \"%s\" is not valid for a %s key", type,
                         info->name);
    return 0;
}

/* The text of one version's exported material, malloc'ed. */
static int export_text(const struct transit_policy *pol,
                       const struct transit_version *v, enum export_kind kind,
                       char **ret)
{
    const struct transit_type_info *info = transit_type_info(pol->type);

    if (kind == EXPORT_HMAC) {
        if (pol->type == TRANSIT_HMAC)
            *ret = transit_b64(v->key, v->key_len);
        else
            *ret = transit_b64(v->hmac_key, sizeof(v->hmac_key));
        return *ret != NULL ? 0 : KH_ENOMEM;
    }
    if (info->asymmetric)
        return transit_crypto_private_pem(v, ret);
    *ret = transit_b64(v->key, v->key_len);
    return *ret != NULL ? 0 : KH_ENOMEM;
}

/* Which versions: all usable ones, or the one in the path. */
static int export_range(const struct transit_call *call,
                        const struct transit_policy *pol, const char *which,
                        uint32_t *ret_from, uint32_t *ret_to)
{
    char *end = NULL;
    unsigned long n;

    *ret_from = pol->min_decryption_version;
    *ret_to = pol->latest_version;
    if (which == NULL)
        return 0;
    if (strcmp(which, "latest") == 0) {
        *ret_from = pol->latest_version;
        return 0;
    }
    n = strtoul(which, &end, 10);
    if (which[0] < '1' || which[0] > '9' || *end != '\0' ||
        n > pol->latest_version || n < pol->min_decryption_version)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "invalid key version");
    *ret_from = (uint32_t)n;
    *ret_to = (uint32_t)n;
    return 0;
}

static int export_build(const struct transit_call *call,
                        const struct transit_policy *pol, const char *which)
{
    enum export_kind kind = EXPORT_HMAC;
    uint32_t from = 0, to = 0, i;
    json_t *keys = NULL;
    char num[16];
    char *text = NULL;
    int r;

    if (!pol->exportable || pol->managed)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "private key material is not exportable");
    r = export_kind(call, pol, &kind);
    if (r == 0)
        r = export_range(call, pol, which, &from, &to);
    if (r != 0)
        return r;
    keys = json_object();
    for (i = from; keys != NULL && r == 0 && i <= to; i++) {
        r = export_text(pol, transit_policy_version(pol, i), kind, &text);
        snprintf(num, sizeof(num), "%u", (unsigned)i);
        if (r == 0 && json_object_set_new(keys, num, json_string(text)) != 0)
            r = KH_ENOMEM;
        kh_free_secret(text, text != NULL ? strlen(text) : 0);
        text = NULL;
    }
    if (keys == NULL || r != 0) {
        json_decref(keys);
        return r != 0 ? r : KH_ENOMEM;
    }
    return kh_response_envelope(
        call->resp, call->br->req,
        json_pack("{s:s, s:s, s:o}", "name", pol->name, "type",
                  transit_type_info(pol->type)->name, "keys", keys));
}

int transit_export_read(const struct transit_call *call)
{
    char name[TRANSIT_KEY_NAME_BYTES_MAX + 1];
    const char *slash = strchr(call->tail, '/');
    size_t len = slash != NULL ? (size_t)(slash - call->tail)
                               : strlen(call->tail);
    struct transit_policy *pol = NULL;
    int r;

    if (len > TRANSIT_KEY_NAME_BYTES_MAX)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                         "key name is longer than %d bytes",
                         TRANSIT_KEY_NAME_BYTES_MAX);
    memcpy(name, call->tail, len);
    name[len] = '\0';
    r = transit_name_check(name, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    r = transit_key_acquire(call, name, false, &pol);
    if (r == KH_ENOTFOUND)
        call->errmsg[0] = '\0';
    if (r != 0)
        return r;
    r = export_build(call, pol, slash != NULL ? slash + 1 : NULL);
    transit_unlock(call->state);
    return r;
}
