/*
 * transit_view.c - the JSON description of a transit key that GET
 * keys/:name (and create, rotate, config) answer (Vault API: transit "Key
 * info").
 *
 * Owns the field names and their Vault forms: "keys" maps each version
 * from min_decryption_version on to its creation time (unix seconds) for
 * symmetric keys, or to {creation_time, name, public_key} for asymmetric
 * ones. Managed keys add managed_key_labels and managed_key_uses (the
 * encryptions made per version). It never shows private key material.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

static const char *curve_name(enum transit_key_type type)
{
    switch (type) {
    case TRANSIT_ECDSA_P256:
        return "P-256";
    case TRANSIT_ED25519:
        return "ed25519";
    case TRANSIT_RSA_2048:
        return "rsa-2048";
    case TRANSIT_RSA_4096:
        return "rsa-4096";
    default:
        break;
    }
    return "";
}

static json_t *version_entry(const struct transit_policy *pol,
                             const struct transit_version *v)
{
    const struct transit_type_info *info = transit_type_info(pol->type);
    struct timespec ts = {(time_t)v->created_s, 0};
    char when[KH_TIME_STR_SIZE];

    if (!info->asymmetric)
        return json_integer((json_int_t)v->created_s);
    kh_time_format(&ts, when);
    return json_pack("{s:s, s:s, s:s}", "creation_time", when, "name",
                     curve_name(pol->type), "public_key",
                     v->public_key != NULL ? v->public_key : "");
}

/* managed_key_labels and managed_key_uses, added to data. */
static int managed_fields(struct transit_state *state,
                          const struct transit_policy *pol, json_t *data)
{
    char label[TRANSIT_LABEL_BYTES];
    char num[16];
    json_t *labels = json_object();
    json_t *uses = json_object();
    size_t i;
    int rc = labels == NULL || uses == NULL;

    for (i = pol->min_decryption_version - 1; rc == 0 && i < pol->version_count;
         i++) {
        const struct transit_version *v = &pol->versions[i];
        snprintf(num, sizeof(num), "%u", (unsigned)v->version);
        transit_managed_label(state, pol->name, v->version, label);
        rc |= json_object_set_new(labels, num, json_string(label));
        rc |= json_object_set_new(
            uses, num, json_integer((json_int_t)transit_managed_uses(state, v)));
    }
    rc |= json_object_set_new(data, "managed_key_labels", labels);
    rc |= json_object_set_new(data, "managed_key_uses", uses);
    return rc == 0 ? 0 : KH_ENOMEM;
}

json_t *transit_key_view(struct transit_state *state,
                         const struct transit_policy *pol)
{
    const struct transit_type_info *info = transit_type_info(pol->type);
    json_t *keys = json_object();
    json_t *data;
    char num[16];
    size_t i;
    int rc = keys == NULL;

    KH_ASSERT(info != NULL);
    KH_ASSERT(pol->min_decryption_version >= 1);
    for (i = pol->min_decryption_version - 1; rc == 0 && i < pol->version_count;
         i++) {
        snprintf(num, sizeof(num), "%u", (unsigned)pol->versions[i].version);
        rc |= json_object_set_new(keys, num,
                                  version_entry(pol, &pol->versions[i]));
    }
    data = json_pack(
        "{s:s, s:s, s:o, s:I, s:i, s:I, s:I, s:b, s:b, s:b, s:b, s:b, s:b, "
        "s:b, s:b, s:I, s:b, s:b}",
        "name", pol->name, "type", info->name, "keys", keys, "latest_version",
        (json_int_t)pol->latest_version, "min_available_version", 0,
        "min_decryption_version", (json_int_t)pol->min_decryption_version,
        "min_encryption_version", (json_int_t)pol->min_encryption_version,
        "deletion_allowed", pol->deletion_allowed, "derived", pol->derived,
        "exportable", pol->exportable, "allow_plaintext_backup",
        pol->allow_plaintext_backup, "supports_encryption", info->encryption,
        "supports_decryption", info->encryption, "supports_derivation",
        info->aead && !pol->managed, "supports_signing", info->signing, "auto_rotate_period",
        (json_int_t)pol->auto_rotate_period_s, "imported_key", 0,
        "managed_key", pol->managed);
    if (data == NULL || rc != 0) {
        json_decref(data);
        return NULL;
    }
    if (pol->derived &&
        json_object_set_new(data, "kdf", json_string("hkdf_sha256")) != 0)
        rc = 1;
    if (rc == 0 && pol->managed && managed_fields(state, pol, data) != 0)
        rc = 1;
    if (rc != 0) {
        json_decref(data);
        return NULL;
    }
    return data;
}
