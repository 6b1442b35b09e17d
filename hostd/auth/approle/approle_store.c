/*
 * approle_store.c - the AppRole records in the mount's barrier view: the
 * per-mount salt, salted hashes of role IDs and secret IDs, and the JSON
 * encoding of roles and secret ID entries.
 *
 * Owns the salt cache (locked memory, wiped on cleanup). It must never
 * write a role ID or secret ID into a storage key or a log, and treats
 * every stored record as untrusted: a malformed one is KH_ECORRUPT.
 */
#include "auth/approle/approle.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/err.h"
#include "common/secret.h"

#define SALT_KEY "salt"

int64_t approle_now(void)
{
    return (int64_t)time(NULL);
}

/* Load the salt, creating it when the mount has none. Caller locks. */
static int salt_load(struct approle_state *state,
                     const struct barrier_view *view)
{
    uint8_t fresh[APPROLE_SALT_BYTES];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    if (state->salt_loaded)
        return 0;
    r = view_get(view, SALT_KEY, &value, &len);
    if (r == KH_ENOTFOUND) {
        r = kh_random_bytes(fresh, sizeof(fresh));
        if (r == 0)
            r = view_put(view, SALT_KEY, fresh, sizeof(fresh));
        if (r == 0)
            memcpy(state->salt, fresh, sizeof(fresh));
    } else if (r == 0 && len != APPROLE_SALT_BYTES) {
        r = KH_ECORRUPT;
    } else if (r == 0) {
        memcpy(state->salt, value, APPROLE_SALT_BYTES);
    }
    if (r == 0)
        state->salt_loaded = true;
    kh_free_secret(value, len);
    kh_wipe(fresh, sizeof(fresh));
    return r;
}

void approle_salt_forget(struct approle_state *state)
{
    if (state == NULL || state->salt == NULL)
        return;
    kh_wipe(state->salt, APPROLE_SALT_BYTES);
    state->salt_loaded = false;
}

int approle_hmac(struct approle_state *state, const struct barrier_view *view,
                 const char *domain, const char *text,
                 char out[APPROLE_HMAC_HEX_BYTES])
{
    char digest[] = "SHA256";
    OSSL_PARAM params[2];
    uint8_t mac[32];
    size_t mac_len = 0;
    EVP_MAC *hmac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    int r;

    KH_ASSERT(domain != NULL);
    KH_ASSERT(text != NULL);
    r = salt_load(state, view);
    if (r != 0)
        return r;
    r = KH_EINTERNAL;
    params[0] = OSSL_PARAM_construct_utf8_string("digest", digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    if (ctx == NULL ||
        EVP_MAC_init(ctx, state->salt, APPROLE_SALT_BYTES, params) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)domain, strlen(domain) + 1) != 1 ||
        EVP_MAC_update(ctx, (const uint8_t *)text, strlen(text)) != 1 ||
        EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) != 1 ||
        mac_len != sizeof(mac))
        goto out;
    kh_hex_encode(mac, sizeof(mac), out);
    r = 0; /* success */
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    kh_wipe(mac, sizeof(mac));
    return r;
}

int approle_key(char out[APPROLE_KEY_BYTES_MAX], const char *kind,
                const char *role, const char *leaf)
{
    int n;

    KH_ASSERT(kind != NULL);
    KH_ASSERT(leaf != NULL);
    if (role != NULL)
        n = snprintf(out, APPROLE_KEY_BYTES_MAX, "%s/%s/%s", kind, role, leaf);
    else
        n = snprintf(out, APPROLE_KEY_BYTES_MAX, "%s/%s", kind, leaf);
    return n < 0 || n >= APPROLE_KEY_BYTES_MAX ? KH_ELIMIT : 0;
}

static bool name_char(char c, bool edge)
{
    if (isalnum((unsigned char)c) || c == '_')
        return true;
    return !edge && (c == '-' || c == '.');
}

int approle_name_check(const char *name, size_t len,
                       char out[APPROLE_NAME_BYTES_MAX + 1], char *errmsg,
                       size_t errmsg_size)
{
    size_t i;

    KH_ASSERT(name != NULL);
    if (len == 0 || len > APPROLE_NAME_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "role name must be 1 to %d bytes",
                         APPROLE_NAME_BYTES_MAX);
    for (i = 0; i < len; i++) {
        if (!name_char(name[i], i == 0 || i == len - 1))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid role name: use letters, digits, '_', "
                             "'-' and '.', starting and ending with a "
                             "letter, digit or '_'");
        out[i] = (char)tolower((unsigned char)name[i]);
    }
    out[len] = '\0';
    return 0;
}

int approle_uuid(char out[KH_UUID_STR_LEN + 1])
{
    uint8_t b[16];
    int r;

    r = kh_random_bytes(b, sizeof(b));
    if (r == 0) {
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
        snprintf(out, KH_UUID_STR_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                 "%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                 b[10], b[11], b[12], b[13], b[14], b[15]);
    }
    kh_wipe(b, sizeof(b));
    return r;
}

int approle_role_new(const char *name, struct approle_role *ret)
{
    KH_ASSERT(strlen(name) <= APPROLE_NAME_BYTES_MAX);
    memset(ret, 0, sizeof(*ret));
    snprintf(ret->name, sizeof(ret->name), "%s", name);
    ret->bind_secret_id = true;
    tokenutil_init(&ret->token);
    return approle_uuid(ret->role_id);
}

/* ---- roles ---- */

int approle_role_encode(const struct approle_role *role, char **ret_text,
                        size_t *ret_len)
{
    json_t *obj;
    char *text = NULL;
    int r = KH_ENOMEM;

    obj = json_pack("{s:s, s:s, s:b, s:b, s:o, s:I, s:I}", "name", role->name,
                    "role_id", role->role_id, "bind_secret_id",
                    role->bind_secret_id, "local_secret_ids",
                    role->local_secret_ids, "secret_id_bound_cidrs",
                    tokenutil_cidrs_json(&role->secret_id_bound_cidrs),
                    "secret_id_num_uses", (json_int_t)role->secret_id_num_uses,
                    "secret_id_ttl", (json_int_t)role->secret_id_ttl_s);
    if (obj == NULL || tokenutil_encode(&role->token, obj) != 0)
        goto out;
    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL)
        goto out;
    *ret_len = strlen(text);
    *ret_text = text;
    r = 0; /* success */
out:
    json_decref(obj);
    return r;
}

/* Copy a bounded string member of obj; false when absent or too long. */
static bool copy_string(const json_t *obj, const char *name, char *out,
                        size_t out_size)
{
    const json_t *v = json_object_get(obj, name);

    if (!json_is_string(v) || json_string_length(v) >= out_size)
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* The non-token members of a stored role. */
static int role_decode_fields(const json_t *obj, struct approle_role *role)
{
    char msg[KH_ERRMSG_SIZE];
    bool present;
    int r;

    if (!copy_string(obj, "name", role->name, sizeof(role->name)) ||
        !copy_string(obj, "role_id", role->role_id, sizeof(role->role_id)))
        return KH_ECORRUPT;
    r = tokenutil_field_bool(obj, "bind_secret_id", &present,
                             &role->bind_secret_id, msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_field_bool(obj, "local_secret_ids", &present,
                                 &role->local_secret_ids, msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_field_cidrs(obj, "secret_id_bound_cidrs", &present,
                                  &role->secret_id_bound_cidrs, msg,
                                  sizeof(msg));
    if (r == 0)
        r = tokenutil_field_uint(obj, "secret_id_num_uses",
                                 APPROLE_SECRET_ID_NUM_USES_MAX, &present,
                                 &role->secret_id_num_uses, msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_field_uint(obj, "secret_id_ttl",
                                 APPROLE_SECRET_ID_TTL_MAX_S, &present,
                                 &role->secret_id_ttl_s, msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_parse(&role->token, obj, msg, sizeof(msg));
    return r == 0 ? 0 : (r == KH_ENOMEM ? r : KH_ECORRUPT);
}

int approle_role_load(const struct barrier_view *view, const char *name,
                      struct approle_role *ret)
{
    char key[APPROLE_KEY_BYTES_MAX];
    struct approle_role *role = NULL;
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *obj = NULL;
    int r;

    r = approle_key(key, "role", NULL, name);
    if (r == 0)
        r = view_get(view, key, &value, &len);
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    role = calloc(1, sizeof(*role));
    if (role == NULL)
        goto out;
    tokenutil_init(&role->token);
    r = KH_ECORRUPT;
    obj = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj))
        goto out;
    r = role_decode_fields(obj, role);
    if (r != 0)
        goto out;
    *ret = *role;
    r = 0; /* success */
out:
    json_decref(obj);
    kh_free_secret(value, len);
    kh_free_secret(role, role != NULL ? sizeof(*role) : 0);
    return r;
}

/* ---- secret ID entries ---- */

void approle_secret_clear(struct approle_secret *secret)
{
    if (secret == NULL)
        return;
    json_decref(secret->metadata);
    kh_wipe(secret, sizeof(*secret));
}

bool approle_secret_expired(const struct approle_secret *secret, int64_t now)
{
    return secret->expiration_time != 0 && now >= secret->expiration_time;
}

int approle_secret_encode(const struct approle_secret *secret, char **ret_text,
                          size_t *ret_len)
{
    json_t *obj;
    char *text;

    obj = json_pack(
        "{s:s, s:O, s:o, s:o, s:I, s:I, s:I, s:I, s:I}", "accessor",
        secret->accessor, "metadata", secret->metadata, "cidr_list",
        tokenutil_cidrs_json(&secret->cidr_list), "token_bound_cidrs",
        tokenutil_cidrs_json(&secret->token_bound_cidrs), "num_uses",
        (json_int_t)secret->num_uses, "ttl", (json_int_t)secret->ttl_s,
        "creation_time", (json_int_t)secret->creation_time, "expiration_time",
        (json_int_t)secret->expiration_time, "last_updated_time",
        (json_int_t)secret->last_updated_time);
    if (obj == NULL)
        return KH_ENOMEM;
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        return KH_ENOMEM;
    *ret_len = strlen(text);
    *ret_text = text;
    return 0;
}

/* The members of a stored entry into secret (metadata not yet set). */
static int secret_decode_fields(const json_t *obj,
                                struct approle_secret *secret)
{
    json_int_t times[3];
    char msg[KH_ERRMSG_SIZE];
    bool present;
    int r;

    if (!copy_string(obj, "accessor", secret->accessor,
                     sizeof(secret->accessor)) ||
        json_unpack((json_t *)obj, "{s:I, s:I, s:I}", "creation_time",
                    &times[0], "expiration_time", &times[1],
                    "last_updated_time", &times[2]) != 0)
        return KH_ECORRUPT;
    secret->creation_time = times[0];
    secret->expiration_time = times[1];
    secret->last_updated_time = times[2];
    r = tokenutil_field_cidrs(obj, "cidr_list", &present, &secret->cidr_list,
                              msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_field_cidrs(obj, "token_bound_cidrs", &present,
                                  &secret->token_bound_cidrs, msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_field_uint(obj, "num_uses",
                                 APPROLE_SECRET_ID_NUM_USES_MAX, &present,
                                 &secret->num_uses, msg, sizeof(msg));
    if (r == 0)
        r = tokenutil_field_uint(obj, "ttl", APPROLE_SECRET_ID_TTL_MAX_S,
                                 &present, &secret->ttl_s, msg, sizeof(msg));
    return r == 0 ? 0 : KH_ECORRUPT;
}

int approle_secret_load(const struct barrier_view *view, const char *role,
                        const char *hmac, struct approle_secret *ret)
{
    char key[APPROLE_KEY_BYTES_MAX];
    struct approle_secret secret;
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *obj = NULL;
    int r;

    memset(&secret, 0, sizeof(secret));
    r = approle_key(key, "secret_id", role, hmac);
    if (r == 0)
        r = view_get(view, key, &value, &len);
    if (r != 0)
        goto out;
    r = KH_ECORRUPT;
    obj = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj) ||
        !json_is_object(json_object_get(obj, "metadata")))
        goto out;
    r = secret_decode_fields(obj, &secret);
    if (r != 0)
        goto out;
    secret.metadata = json_incref(json_object_get(obj, "metadata"));
    *ret = secret;
    memset(&secret, 0, sizeof(secret));
    r = 0; /* success */
out:
    approle_secret_clear(&secret);
    json_decref(obj);
    kh_free_secret(value, len);
    return r;
}

int approle_secret_remove(const struct barrier_view *view, const char *role,
                          const char *hmac, const char *accessor)
{
    char entry_key[APPROLE_KEY_BYTES_MAX];
    char accessor_key[APPROLE_KEY_BYTES_MAX];
    struct kh_storage_op ops[2];
    int r;

    r = approle_key(entry_key, "secret_id", role, hmac);
    if (r == 0)
        r = approle_key(accessor_key, "accessor", role, accessor);
    if (r != 0)
        return r;
    memset(ops, 0, sizeof(ops));
    ops[0].kind = KH_STORAGE_DELETE;
    ops[0].key = entry_key;
    ops[1].kind = KH_STORAGE_DELETE;
    ops[1].key = accessor_key;
    return view_batch(view, ops, KH_ARRAY_LEN(ops));
}
