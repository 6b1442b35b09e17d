/*
 * approle_secret.c - AppRole secret IDs (Vault API: AppRole):
 * role/:role/secret-id (generate, LIST), custom-secret-id,
 * secret-id/lookup, secret-id/destroy, secret-id-accessor/lookup and
 * secret-id-accessor/destroy.
 *
 * Owns the per-role secret ID limit and the rules tying a secret ID to its
 * role (CIDRs within the role's, uses and TTL no larger than the role's).
 * It must never store or log a secret ID: only its salted hash reaches
 * storage, and the plaintext lives on the stack until it is wiped.
 */
#include "auth/approle/approle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define SECRET_DOMAIN "secret_id"
#define ZERO_TIME     "0001-01-01T00:00:00Z"

/* "metadata": a string holding a JSON object of strings (hvac, the CLI),
 * or such an object directly; absent or null is empty. */
static int metadata_field(const struct approle_call *call, json_t **ret)
{
    const json_t *v = tokenutil_field(call->br->req->data, "metadata");
    json_t *obj = NULL, *value;
    const char *key;
    size_t bytes = 0;

    if (v != NULL && json_is_string(v) && json_string_length(v) > 0) {
        if (json_string_length(v) > APPROLE_METADATA_BYTES_MAX)
            goto too_big;
        obj = json_loadb(json_string_value(v), json_string_length(v),
                         JSON_REJECT_DUPLICATES, NULL);
    } else if (v == NULL || json_is_string(v)) {
        obj = json_object();
    } else if (json_is_object(v)) {
        obj = json_deep_copy(v);
    }
    if (!json_is_object(obj))
        goto bad;
    if (json_object_size(obj) > APPROLE_METADATA_KEYS_MAX)
        goto too_big;
    json_object_foreach(obj, key, value)
    {
        if (!json_is_string(value))
            goto bad;
        bytes += strlen(key) + json_string_length(value);
    }
    if (bytes > APPROLE_METADATA_BYTES_MAX)
        goto too_big;
    *ret = obj;
    return 0;
bad:
    json_decref(obj);
    return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                     "failed to parse metadata: must be a JSON object of "
                     "strings");
too_big:
    json_decref(obj);
    return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                     "metadata exceeds %d bytes or %d keys",
                     APPROLE_METADATA_BYTES_MAX, APPROLE_METADATA_KEYS_MAX);
}

/* CIDR lists of a new secret ID: each within the role's. */
static int secret_cidr_fields(const struct approle_call *call,
                              const struct approle_role *role,
                              struct approle_secret *s)
{
    const json_t *data = call->br->req->data;
    bool present;
    int r;

    r = tokenutil_field_cidrs(data, "cidr_list", &present, &s->cidr_list,
                              call->errmsg, call->errmsg_size);
    if (r == 0 &&
        !tokenutil_cidrs_subset(&s->cidr_list, &role->secret_id_bound_cidrs))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "failed to validate CIDR blocks: \"cidr_list\" must "
                      "lie within the role's secret_id_bound_cidrs");
    if (r == 0)
        r = tokenutil_field_cidrs(data, "token_bound_cidrs", &present,
                                  &s->token_bound_cidrs, call->errmsg,
                                  call->errmsg_size);
    if (r == 0 && !tokenutil_cidrs_subset(&s->token_bound_cidrs,
                                          &role->token.bound_cidrs))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "failed to validate CIDR blocks: \"token_bound_cidrs\" "
                      "must lie within the role's token_bound_cidrs");
    return r;
}

/* num_uses and ttl: the role's unless given; never above the role's. */
static int secret_limit_fields(const struct approle_call *call,
                               const struct approle_role *role,
                               struct approle_secret *s)
{
    const json_t *data = call->br->req->data;
    bool present;
    int r;

    s->num_uses = role->secret_id_num_uses;
    s->ttl_s = role->secret_id_ttl_s;
    r = tokenutil_field_uint(data, "num_uses", APPROLE_SECRET_ID_NUM_USES_MAX,
                             &present, &s->num_uses, call->errmsg,
                             call->errmsg_size);
    if (r == 0 && present && role->secret_id_num_uses != 0 &&
        (s->num_uses == 0 || s->num_uses > role->secret_id_num_uses))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "num_uses cannot be higher than the role's "
                         "secret_id_num_uses");
    if (r == 0)
        r = tokenutil_field_duration(data, "ttl", APPROLE_SECRET_ID_TTL_MAX_S,
                                     &present, &s->ttl_s, call->errmsg,
                                     call->errmsg_size);
    if (r == 0 && present && s->ttl_s == 0)
        s->ttl_s = role->secret_id_ttl_s;
    if (r == 0 && role->secret_id_ttl_s != 0 &&
        s->ttl_s > role->secret_id_ttl_s)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "ttl cannot be longer than the role's "
                         "secret_id_ttl");
    return r;
}

/* Drop one accessor's entry when it has expired, or the accessor when
 * its entry is gone or unreadable. */
static int prune_one(const struct approle_call *call, const char *accessor,
                     int64_t now)
{
    char key[APPROLE_KEY_BYTES_MAX], hex[APPROLE_HMAC_HEX_BYTES] = "";
    struct approle_secret s;
    uint8_t *value = NULL;
    size_t len = 0;
    bool drop = true;
    int r;

    memset(&s, 0, sizeof(s));
    r = approle_key(key, "accessor", call->role, accessor);
    if (r == 0)
        r = view_get(call->br->view, key, &value, &len);
    if (r == 0 && len == APPROLE_HMAC_HEX_BYTES - 1) {
        memcpy(hex, value, len);
        hex[len] = '\0';
    }
    free(value);
    if (r != 0)
        return r == KH_ENOTFOUND ? 0 : r;
    if (hex[0] != '\0') {
        r = approle_secret_load(call->br->view, call->role, hex, &s);
        if (r == 0)
            drop = approle_secret_expired(&s, now);
        else if (r != KH_ENOTFOUND && r != KH_ECORRUPT)
            return r;
        approle_secret_clear(&s);
    }
    if (!drop)
        return 0;
    if (hex[0] == '\0')
        return view_delete(call->br->view, key);
    return approle_secret_remove(call->br->view, call->role, hex, accessor);
}

/* Remove the expired (and dangling) entries of the role. */
static int secret_prune(const struct approle_call *call)
{
    char prefix[APPROLE_KEY_BYTES_MAX];
    struct kh_storage_list list = {0};
    int64_t now = approle_now();
    size_t i;
    int r;

    r = approle_key(prefix, "accessor", call->role, "");
    if (r == 0)
        r = view_list(call->br->view, prefix, &list);
    for (i = 0; r == 0 && i < list.count; i++)
        r = prune_one(call, list.keys[i], now);
    kh_storage_list_free(&list);
    return r;
}

static int secret_count(const struct approle_call *call, size_t *ret)
{
    char prefix[APPROLE_KEY_BYTES_MAX];
    struct kh_storage_list list = {0};
    int r;

    r = approle_key(prefix, "accessor", call->role, "");
    if (r == 0)
        r = view_list(call->br->view, prefix, &list);
    if (r == 0)
        *ret = list.count;
    kh_storage_list_free(&list);
    return r;
}

/* Room for one more secret ID, pruning expired ones when full. */
static int secret_room(const struct approle_call *call)
{
    size_t count = 0;
    int r;

    r = secret_count(call, &count);
    if (r == 0 && count >= APPROLE_SECRET_IDS_PER_ROLE_MAX) {
        r = secret_prune(call);
        if (r == 0)
            r = secret_count(call, &count);
    }
    if (r == 0 && count >= APPROLE_SECRET_IDS_PER_ROLE_MAX)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                      "role \"%s\" has reached the limit of %d secret IDs",
                      call->role, APPROLE_SECRET_IDS_PER_ROLE_MAX);
    return r;
}

/* The secret ID of a custom-secret-id request into out. */
static int custom_secret_field(const struct approle_call *call, char *out,
                               size_t out_size)
{
    const json_t *v = tokenutil_field(call->br->req->data, "secret_id");

    if (v == NULL || !json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing secret_id");
    if (json_string_length(v) >= out_size)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                         "secret_id is longer than %d bytes",
                         APPROLE_SECRET_ID_BYTES_MAX);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

/* Write the entry and its accessor index in one batch. */
static int secret_store(const struct approle_call *call,
                        const struct approle_secret *s, const char *hmac)
{
    char entry_key[APPROLE_KEY_BYTES_MAX], acc_key[APPROLE_KEY_BYTES_MAX];
    struct kh_storage_op ops[2];
    char *text = NULL;
    size_t len = 0;
    uint8_t *old = NULL;
    size_t old_len = 0;
    int r;

    r = approle_key(entry_key, "secret_id", call->role, hmac);
    if (r == 0)
        r = approle_key(acc_key, "accessor", call->role, s->accessor);
    if (r == 0) {
        r = view_get(call->br->view, entry_key, &old, &old_len);
        kh_free_secret(old, old_len);
        if (r == 0)
            return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                             "secret ID is already registered");
        r = r == KH_ENOTFOUND ? 0 : r;
    }
    if (r == 0)
        r = approle_secret_encode(s, &text, &len);
    if (r != 0)
        return r;
    ops[0] = (struct kh_storage_op){KH_STORAGE_PUT, entry_key,
                                    (const uint8_t *)text, len};
    ops[1] = (struct kh_storage_op){KH_STORAGE_PUT, acc_key,
                                    (const uint8_t *)hmac, strlen(hmac)};
    r = view_batch(call->br->view, ops, KH_ARRAY_LEN(ops));
    kh_free_secret(text, len);
    return r;
}

/* Load the role a secret ID is issued for; 400 when absent or unbound. */
static int secret_role(const struct approle_call *call,
                       struct approle_role *role)
{
    int r;

    r = approle_role_load(call->br->view, call->role, role);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "role \"%s\" does not exist", call->role);
    if (r == 0 && !role->bind_secret_id)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "bind_secret_id is not set on the role");
    return r;
}

/* Fill s from the request and the role, with a fresh accessor. */
static int secret_prepare(const struct approle_call *call,
                          const struct approle_role *role,
                          struct approle_secret *s)
{
    int r;

    memset(s, 0, sizeof(*s));
    r = metadata_field(call, &s->metadata);
    if (r == 0)
        r = secret_cidr_fields(call, role, s);
    if (r == 0)
        r = secret_limit_fields(call, role, s);
    if (r == 0)
        r = secret_room(call);
    if (r == 0)
        r = approle_uuid(s->accessor);
    s->creation_time = approle_now();
    s->last_updated_time = s->creation_time;
    s->expiration_time =
        s->ttl_s != 0 ? s->creation_time + (int64_t)s->ttl_s : 0;
    return r;
}

/* generate (custom false) and custom-secret-id. */
static int secret_create(const struct approle_call *call, bool custom)
{
    char secret_id[APPROLE_SECRET_ID_BYTES_MAX + 1];
    char hmac[APPROLE_HMAC_HEX_BYTES];
    struct approle_role *role;
    struct approle_secret s;
    int r;

    memset(&s, 0, sizeof(s));
    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = secret_role(call, role);
    if (r == 0)
        r = custom ? custom_secret_field(call, secret_id, sizeof(secret_id))
                   : approle_uuid(secret_id);
    if (r == 0)
        r = secret_prepare(call, role, &s);
    if (r == 0)
        r = approle_hmac(call->state, call->br->view, SECRET_DOMAIN, secret_id,
                         hmac);
    if (r == 0)
        r = secret_store(call, &s, hmac);
    if (r == 0)
        r = approle_respond(
            call, json_pack("{s:s, s:s, s:I, s:I}", "secret_id", secret_id,
                            "secret_id_accessor", s.accessor, "secret_id_ttl",
                            (json_int_t)s.ttl_s, "secret_id_num_uses",
                            (json_int_t)s.num_uses));
    approle_secret_clear(&s);
    kh_free_secret(role, sizeof(*role));
    kh_wipe(secret_id, sizeof(secret_id));
    return r;
}

int approle_secret_generate(const struct approle_call *call)
{
    return secret_create(call, false);
}

int approle_secret_custom(const struct approle_call *call)
{
    return secret_create(call, true);
}

int approle_secret_list(const struct approle_call *call)
{
    char prefix[APPROLE_KEY_BYTES_MAX];
    struct kh_storage_list list = {0};
    json_t *keys = NULL;
    size_t i;
    int r;

    r = approle_key(prefix, "accessor", call->role, "");
    if (r == 0)
        r = view_list(call->br->view, prefix, &list);
    if (r == 0 && list.count == 0)
        r = KH_ENOTFOUND;
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    keys = json_array();
    for (i = 0; keys != NULL && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0)
            goto out;
    }
    if (keys != NULL)
        r = approle_respond(call, json_pack("{s:O}", "keys", keys));
out:
    json_decref(keys);
    kh_storage_list_free(&list);
    return r;
}

static void time_string(int64_t t, char out[KH_TIME_STR_SIZE])
{
    struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = 0};

    if (t == 0)
        snprintf(out, KH_TIME_STR_SIZE, "%s", ZERO_TIME);
    else
        kh_time_format(&ts, out);
}

/* The lookup view of an entry. */
static json_t *secret_view(const struct approle_secret *s)
{
    char created[KH_TIME_STR_SIZE], expires[KH_TIME_STR_SIZE];
    char updated[KH_TIME_STR_SIZE];

    time_string(s->creation_time, created);
    time_string(s->expiration_time, expires);
    time_string(s->last_updated_time, updated);
    return json_pack(
        "{s:o, s:s, s:s, s:s, s:O, s:s, s:I, s:I, s:o}", "cidr_list",
        tokenutil_cidrs_json(&s->cidr_list), "creation_time", created,
        "expiration_time", expires, "last_updated_time", updated, "metadata",
        s->metadata, "secret_id_accessor", s->accessor, "secret_id_num_uses",
        (json_int_t)s->num_uses, "secret_id_ttl", (json_int_t)s->ttl_s,
        "token_bound_cidrs", tokenutil_cidrs_json(&s->token_bound_cidrs));
}

/* Load a live entry by hmac: an expired one is removed and reads as
 * KH_ENOTFOUND. */
static int secret_load_live(const struct approle_call *call, const char *hmac,
                            struct approle_secret *s)
{
    int r;

    r = approle_secret_load(call->br->view, call->role, hmac, s);
    if (r == 0 && approle_secret_expired(s, approle_now())) {
        r = approle_secret_remove(call->br->view, call->role, hmac,
                                  s->accessor);
        approle_secret_clear(s);
        if (r == 0)
            r = KH_ENOTFOUND;
    }
    return r;
}

/* The hmac of the request's secret_id. */
static int secret_hmac_field(const struct approle_call *call,
                             char hmac[APPROLE_HMAC_HEX_BYTES])
{
    const char *sid = kh_request_string(call->br->req, "secret_id");

    if (sid == NULL || sid[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing secret_id");
    return approle_hmac(call->state, call->br->view, SECRET_DOMAIN, sid, hmac);
}

/* The hmac an accessor names; KH_ENOTFOUND with errmsg when unknown. */
static int accessor_hmac(const struct approle_call *call,
                         char hmac[APPROLE_HMAC_HEX_BYTES])
{
    const char *acc = kh_request_string(call->br->req, "secret_id_accessor");
    char key[APPROLE_KEY_BYTES_MAX];
    uint8_t *value = NULL;
    size_t len = 0, i;
    int r = KH_ENOTFOUND;

    if (acc == NULL || acc[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing secret_id_accessor");
    for (i = 0; acc[i] != '\0' && i <= KH_UUID_STR_LEN; i++)
        if (!((acc[i] >= '0' && acc[i] <= '9') ||
              (acc[i] >= 'a' && acc[i] <= 'f') || acc[i] == '-'))
            break;
    if (acc[i] == '\0' && i <= KH_UUID_STR_LEN &&
        approle_key(key, "accessor", call->role, acc) == 0)
        r = view_get(call->br->view, key, &value, &len);
    if (r == 0 && len == APPROLE_HMAC_HEX_BYTES - 1) {
        memcpy(hmac, value, len);
        hmac[len] = '\0';
    } else if (r == 0) {
        r = KH_ECORRUPT;
    }
    free(value);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ENOTFOUND,
                         "failed to find accessor entry for "
                         "secret_id_accessor");
    return r;
}

/* Answer a lookup of the entry at hmac: its view, or 204 when gone. */
static int lookup_respond(const struct approle_call *call, const char *hmac)
{
    struct approle_secret s;
    int r;

    r = secret_load_live(call, hmac, &s);
    if (r == KH_ENOTFOUND) {
        kh_response_no_content(call->resp);
        return 0;
    }
    if (r != 0)
        return r;
    r = approle_respond(call, secret_view(&s));
    approle_secret_clear(&s);
    return r;
}

/* Remove the entry at hmac if it exists; 204 either way. */
static int destroy_respond(const struct approle_call *call, const char *hmac)
{
    struct approle_secret s;
    int r;

    r = approle_secret_load(call->br->view, call->role, hmac, &s);
    if (r == 0) {
        r = approle_secret_remove(call->br->view, call->role, hmac, s.accessor);
        approle_secret_clear(&s);
    }
    if (r == KH_ENOTFOUND)
        r = 0;
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

int approle_secret_lookup(const struct approle_call *call)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    int r;

    r = secret_hmac_field(call, hmac);
    return r != 0 ? r : lookup_respond(call, hmac);
}

int approle_secret_destroy(const struct approle_call *call)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    int r;

    r = secret_hmac_field(call, hmac);
    return r != 0 ? r : destroy_respond(call, hmac);
}

int approle_accessor_lookup(const struct approle_call *call)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    int r;

    r = accessor_hmac(call, hmac);
    return r != 0 ? r : lookup_respond(call, hmac);
}

int approle_accessor_destroy(const struct approle_call *call)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    int r;

    r = accessor_hmac(call, hmac);
    return r != 0 ? r : destroy_respond(call, hmac);
}
