/*
 * transit_policy.c - one transit key ("policy", as Vault calls it) as
 * stored in the mount's barrier view at policy/<name>, and its versions.
 *
 * Owns the type table, the record's JSON form (format 1), loading and
 * storing through the barrier view (the only place software key material
 * is persisted), and adding a version (material from transit_crypto.c,
 * or a token object from transit_managed.c). Records come back from the
 * barrier authenticated, yet decoding validates every type and bound and
 * answers KH_ECORRUPT rather than asserting. Key material is wiped where
 * it dies. It takes no locks: callers hold the mount lock.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/secret.h"

#define POLICY_FORMAT 1

static const struct transit_type_info type_table[] = {
    {TRANSIT_AES256_GCM96, "aes256-gcm96", true, true, false, false},
    {TRANSIT_CHACHA20_POLY1305, "chacha20-poly1305", true, true, false, false},
    {TRANSIT_ECDSA_P256, "ecdsa-p256", false, false, true, true},
    {TRANSIT_ED25519, "ed25519", false, false, true, true},
    {TRANSIT_RSA_2048, "rsa-2048", false, true, true, true},
    {TRANSIT_RSA_4096, "rsa-4096", false, true, true, true},
    {TRANSIT_HMAC, "hmac", false, false, false, false},
};

const struct transit_type_info *transit_type_by_name(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < KH_ARRAY_LEN(type_table); i++) {
        if (strcmp(type_table[i].name, name) == 0)
            return &type_table[i];
    }
    return NULL;
}

const struct transit_type_info *transit_type_info(enum transit_key_type t)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(type_table); i++) {
        if (type_table[i].type == t)
            return &type_table[i];
    }
    return NULL;
}

int64_t transit_now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static void version_clear(struct transit_version *v)
{
    kh_free_secret(v->key, v->key_len);
    free(v->public_key);
    kh_wipe(v, sizeof(*v));
}

void transit_policy_free(struct transit_policy *pol)
{
    size_t i;

    if (pol == NULL)
        return;
    for (i = 0; i < pol->version_count; i++)
        version_clear(&pol->versions[i]);
    free(pol->versions);
    kh_wipe(pol, sizeof(*pol));
    free(pol);
}

struct transit_version *transit_policy_version(const struct transit_policy *pol,
                                               uint64_t version)
{
    if (version == 0 || version > pol->version_count)
        return NULL;
    KH_ASSERT(pol->versions[version - 1].version == version);
    return &pol->versions[version - 1];
}

/* ---- encoding ---- */

static json_t *version_encode(const struct transit_version *v)
{
    json_t *o = json_pack("{s:I, s:I, s:I}", "version", (json_int_t)v->version,
                          "created", (json_int_t)v->created_s, "iv_reserved",
                          (json_int_t)v->iv_reserved);
    char hex[2 * TRANSIT_IV_FIXED_BYTES + 1];
    char *b64 = NULL;
    int rc = 0;

    if (o == NULL)
        return NULL;
    if (v->key != NULL) {
        b64 = transit_b64(v->key, v->key_len);
        rc |= b64 == NULL || json_object_set_new(o, "key", json_string(b64));
        kh_free_secret(b64, b64 != NULL ? strlen(b64) : 0);
    }
    if (v->has_hmac_key) {
        b64 = transit_b64(v->hmac_key, sizeof(v->hmac_key));
        rc |= b64 == NULL ||
              json_object_set_new(o, "hmac_key", json_string(b64));
        kh_free_secret(b64, b64 != NULL ? strlen(b64) : 0);
    }
    if (v->public_key != NULL)
        rc |= json_object_set_new(o, "public_key", json_string(v->public_key));
    kh_hex_encode(v->iv_fixed, sizeof(v->iv_fixed), hex);
    rc |= json_object_set_new(o, "iv_fixed", json_string(hex));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int transit_policy_encode(const struct transit_policy *pol, char **ret_text,
                          size_t *ret_len)
{
    const struct transit_type_info *info = transit_type_info(pol->type);
    json_t *doc, *versions;
    char *text = NULL;
    size_t i;

    KH_ASSERT(info != NULL);
    KH_ASSERT(pol->version_count == pol->latest_version);
    versions = json_array();
    for (i = 0; versions != NULL && i < pol->version_count; i++) {
        if (json_array_append_new(versions,
                                  version_encode(&pol->versions[i])) != 0) {
            json_decref(versions);
            versions = NULL;
        }
    }
    if (versions == NULL)
        return KH_ENOMEM;
    doc = json_pack(
        "{s:i, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:o}",
        "format", POLICY_FORMAT, "name", pol->name, "type", info->name,
        "derived", pol->derived, "exportable", pol->exportable,
        "allow_plaintext_backup", pol->allow_plaintext_backup,
        "deletion_allowed", pol->deletion_allowed, "managed", pol->managed,
        "min_decryption_version", (json_int_t)pol->min_decryption_version,
        "min_encryption_version", (json_int_t)pol->min_encryption_version,
        "auto_rotate_period", (json_int_t)pol->auto_rotate_period_s,
        "versions", versions);
    if (doc != NULL)
        text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return KH_ENOMEM;
    *ret_text = text;
    *ret_len = strlen(text);
    return 0;
}

/* ---- decoding ---- */

/* A base64 member into a malloc'ed buffer; absent gives NULL. */
static int decode_b64_member(const json_t *o, const char *name, uint8_t **ret,
                             size_t *ret_len)
{
    char scratch[KH_ERRMSG_SIZE];

    if (!transit_field_present(o, name)) {
        *ret = NULL;
        *ret_len = 0;
        return 0;
    }
    if (transit_field_b64(o, name, KH_STORAGE_VALUE_BYTES_MAX, true, ret,
                          ret_len, scratch, sizeof(scratch)) != 0)
        return KH_ECORRUPT;
    return 0;
}

static int version_decode(const json_t *o, uint32_t expect,
                          const struct transit_policy *pol,
                          struct transit_version *v)
{
    json_int_t version, created, reserved;
    const char *iv_hex = NULL, *pub = NULL;
    uint8_t *hmac = NULL;
    size_t hmac_len = 0, iv_len = 0;
    int r = KH_ECORRUPT;

    if (json_unpack((json_t *)o, "{s:I, s:I, s:I, s:s, s?s}", "version",
                    &version, "created", &created, "iv_reserved", &reserved,
                    "iv_fixed", &iv_hex, "public_key", &pub) != 0)
        return KH_ECORRUPT;
    if (version != (json_int_t)expect || reserved < 0 ||
        (uint64_t)reserved > TRANSIT_MANAGED_USES_MAX)
        return KH_ECORRUPT;
    v->version = expect;
    v->created_s = (int64_t)created;
    v->iv_reserved = (uint64_t)reserved;
    v->iv_next = v->iv_reserved;
    if (kh_hex_decode(iv_hex, strlen(iv_hex), v->iv_fixed,
                      sizeof(v->iv_fixed), &iv_len) != 0 ||
        iv_len != sizeof(v->iv_fixed))
        return KH_ECORRUPT;
    if (decode_b64_member(o, "key", &v->key, &v->key_len) != 0 ||
        decode_b64_member(o, "hmac_key", &hmac, &hmac_len) != 0)
        goto out;
    if (hmac != NULL && hmac_len != sizeof(v->hmac_key))
        goto out;
    if (hmac != NULL)
        memcpy(v->hmac_key, hmac, sizeof(v->hmac_key));
    v->has_hmac_key = hmac != NULL;
    if (pub != NULL && (v->public_key = strdup(pub)) == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    /* Software versions carry material, managed ones none. */
    if (pol->managed != (v->key == NULL))
        goto out;
    r = 0; /* success */
out:
    kh_free_secret(hmac, hmac_len);
    return r;
}

/* The settings of the record (everything but the versions). */
static int settings_decode(const json_t *doc, struct transit_policy *pol)
{
    const char *name = NULL, *type = NULL;
    int fmt, derived, exportable, backup, deletion, managed;
    json_int_t min_dec, min_enc, period;
    const struct transit_type_info *info;

    if (json_unpack((json_t *)doc,
                    "{s:i, s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:I, s:I, s:I}",
                    "format", &fmt, "name", &name, "type", &type, "derived",
                    &derived, "exportable", &exportable,
                    "allow_plaintext_backup", &backup, "deletion_allowed",
                    &deletion, "managed", &managed, "min_decryption_version",
                    &min_dec, "min_encryption_version", &min_enc,
                    "auto_rotate_period", &period) != 0)
        return KH_ECORRUPT;
    info = transit_type_by_name(type);
    if (fmt != POLICY_FORMAT || info == NULL ||
        strlen(name) > TRANSIT_KEY_NAME_BYTES_MAX || min_dec < 1 ||
        min_dec > TRANSIT_KEY_VERSIONS_MAX || min_enc < 0 ||
        min_enc > TRANSIT_KEY_VERSIONS_MAX || period < 0)
        return KH_ECORRUPT;
    snprintf(pol->name, sizeof(pol->name), "%s", name);
    pol->type = info->type;
    pol->derived = derived != 0;
    pol->exportable = exportable != 0;
    pol->allow_plaintext_backup = backup != 0;
    pol->deletion_allowed = deletion != 0;
    pol->managed = managed != 0;
    pol->min_decryption_version = (uint32_t)min_dec;
    pol->min_encryption_version = (uint32_t)min_enc;
    pol->auto_rotate_period_s = (uint64_t)period;
    return 0;
}

int transit_policy_decode(const uint8_t *bytes, size_t len,
                          struct transit_policy **ret_pol)
{
    struct transit_policy *pol = NULL;
    json_t *doc, *versions;
    size_t i, count;
    int r = KH_ECORRUPT;

    doc = json_loadb((const char *)bytes, len, 0, NULL);
    versions = doc != NULL ? json_object_get(doc, "versions") : NULL;
    count = json_array_size(versions);
    if (!json_is_array(versions) || count == 0 ||
        count > TRANSIT_KEY_VERSIONS_MAX)
        goto out;
    pol = calloc(1, sizeof(*pol));
    if (pol == NULL || (pol->versions = calloc(count, sizeof(*pol->versions))) ==
                           NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = settings_decode(doc, pol);
    for (i = 0; r == 0 && i < count; i++) {
        r = version_decode(json_array_get(versions, i), (uint32_t)(i + 1), pol,
                           &pol->versions[i]);
        pol->version_count = i + 1; /* free what was decoded */
    }
    if (r != 0)
        goto out;
    pol->latest_version = (uint32_t)count;
    r = KH_ECORRUPT;
    if (pol->min_decryption_version > pol->latest_version ||
        pol->min_encryption_version > pol->latest_version)
        goto out;
    *ret_pol = pol;
    pol = NULL;
    r = 0; /* success */
out:
    transit_policy_free(pol);
    json_decref(doc);
    return r;
}

/* ---- storage ---- */

static void storage_key(const char *name, char out[TRANSIT_STORAGE_KEY_BYTES])
{
    int n = snprintf(out, TRANSIT_STORAGE_KEY_BYTES, "policy/%s", name);

    KH_ASSERT(n > 0 && n < TRANSIT_STORAGE_KEY_BYTES);
}

int transit_policy_load(const struct barrier_view *view, const char *name,
                        struct transit_policy **ret_pol)
{
    char key[TRANSIT_STORAGE_KEY_BYTES];
    struct transit_policy *pol = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int r;

    KH_ASSERT(strlen(name) <= TRANSIT_KEY_NAME_BYTES_MAX);
    storage_key(name, key);
    r = view_get(view, key, &bytes, &len);
    if (r != 0)
        return r;
    r = transit_policy_decode(bytes, len, &pol);
    kh_free_secret(bytes, len);
    if (r != 0)
        return r;
    if (strcmp(pol->name, name) != 0) {
        transit_policy_free(pol);
        return KH_ECORRUPT;
    }
    *ret_pol = pol;
    return 0;
}

int transit_policy_store(const struct barrier_view *view,
                         const struct transit_policy *pol)
{
    char key[TRANSIT_STORAGE_KEY_BYTES];
    char *text = NULL;
    size_t len = 0;
    int r;

    KH_ASSERT(pol->latest_version >= 1);
    KH_ASSERT(pol->min_decryption_version >= 1);
    storage_key(pol->name, key);
    r = transit_policy_encode(pol, &text, &len);
    if (r != 0)
        return r;
    r = view_put(view, key, (const uint8_t *)text, len);
    kh_free_secret(text, len);
    return r;
}

int transit_policy_delete(const struct barrier_view *view, const char *name)
{
    char key[TRANSIT_STORAGE_KEY_BYTES];

    storage_key(name, key);
    return view_delete(view, key);
}

/* ---- versions ---- */

int transit_policy_add_version(const struct transit_call *call,
                               struct transit_policy *pol)
{
    struct transit_version *grown, *v;
    int r;

    KH_ASSERT(pol->version_count == pol->latest_version);
    if (pol->version_count >= TRANSIT_KEY_VERSIONS_MAX)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                         "key \"%s\" has reached %d versions", pol->name,
                         TRANSIT_KEY_VERSIONS_MAX);
    grown = realloc(pol->versions,
                    (pol->version_count + 1) * sizeof(*pol->versions));
    if (grown == NULL)
        return KH_ENOMEM;
    pol->versions = grown;
    v = &grown[pol->version_count];
    memset(v, 0, sizeof(*v));
    v->version = pol->latest_version + 1;
    v->created_s = transit_now_s();
    if (pol->managed)
        r = transit_managed_generate(call, pol, v);
    else
        r = transit_crypto_generate(pol->type, v);
    if (r != 0) {
        version_clear(v);
        return r;
    }
    pol->version_count++;
    pol->latest_version++;
    return 0;
}

void transit_policy_drop_last(const struct transit_call *call,
                              struct transit_policy *pol)
{
    size_t failed = 0;

    KH_ASSERT(pol->version_count > 0);
    KH_ASSERT(pol->version_count == pol->latest_version);
    if (pol->managed)
        (void)transit_managed_destroy(call, pol, pol->latest_version, &failed);
    version_clear(&pol->versions[pol->version_count - 1]);
    pol->version_count--;
    pol->latest_version--;
}
