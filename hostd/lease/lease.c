/*
 * lease.c - lease records and the lease API: register, lookup, list,
 * renew, revoke. Records hold what the backend needs to revoke the
 * secret ("internal") and the salted hash of the token that created it
 * ("token_hash"), never the secret handed to the client nor a token ID.
 */
#include "lease/lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "lease/lease_internal.h"
#include "mount/mount_table.h"

int64_t lease_now(void)
{
    return (int64_t)time(NULL);
}

int lease_record_load(struct lease_manager *mgr, const char *id,
                      json_t **ret)
{
    char path[sizeof(LEASE_RECORD_PREFIX) + LEASE_ID_BYTES_MAX];
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *record;
    int r;

    if (strlen(id) > LEASE_ID_BYTES_MAX || strstr(id, "..") != NULL)
        return KH_ENOTFOUND;
    snprintf(path, sizeof(path), "%s%s", LEASE_RECORD_PREFIX, id);
    r = barrier_get(mgr->core->barrier, path, &value, &len);
    if (r != 0)
        return r;
    record = json_loadb((const char *)value, len, 0, NULL);
    kh_free_secret(value, len);
    if (record == NULL || !json_is_object(record)) {
        json_decref(record);
        return KH_ECORRUPT;
    }
    *ret = record;
    return 0;
}

int lease_record_store(struct lease_manager *mgr, json_t *record)
{
    char path[sizeof(LEASE_RECORD_PREFIX) + LEASE_ID_BYTES_MAX];
    const char *id = json_string_value(json_object_get(record, "id"));
    char *text;
    int r;

    KH_ASSERT(id != NULL);
    snprintf(path, sizeof(path), "%s%s", LEASE_RECORD_PREFIX, id);
    text = json_dumps(record, JSON_COMPACT);
    if (text == NULL)
        return KH_ENOMEM;
    r = barrier_put(mgr->core->barrier, path, (const uint8_t *)text,
                    strlen(text));
    kh_free_secret(text, strlen(text));
    return r;
}

int lease_record_insert(struct lease_manager *mgr, json_t *record)
{
    char path[sizeof(LEASE_RECORD_PREFIX) + LEASE_ID_BYTES_MAX];
    char index_key[LEASE_INDEX_KEY_BYTES];
    const char *id = json_string_value(json_object_get(record, "id"));
    const char *owner = lease_record_owner(record);
    struct kh_storage_op ops[2];
    size_t n = 0;
    char *text;
    int r;

    KH_ASSERT(id != NULL);
    if (owner != NULL && lease_owner_key(owner, id, index_key) != 0)
        return KH_ELIMIT;
    snprintf(path, sizeof(path), "%s%s", LEASE_RECORD_PREFIX, id);
    text = json_dumps(record, JSON_COMPACT);
    if (text == NULL)
        return KH_ENOMEM;
    ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, path,
                                      (const uint8_t *)text, strlen(text)};
    if (owner != NULL)
        ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, index_key,
                                          (const uint8_t *)"1", 1};
    r = barrier_batch(mgr->core->barrier, ops, n);
    kh_free_secret(text, strlen(text));
    return r;
}

int lease_record_delete(struct lease_manager *mgr, const json_t *record)
{
    char path[sizeof(LEASE_RECORD_PREFIX) + LEASE_ID_BYTES_MAX];
    char index_key[LEASE_INDEX_KEY_BYTES];
    const char *id = json_string_value(json_object_get(record, "id"));
    const char *owner = lease_record_owner(record);
    struct kh_storage_op ops[2];
    size_t n = 0;

    if (id == NULL || strlen(id) > LEASE_ID_BYTES_MAX)
        return KH_ECORRUPT;
    snprintf(path, sizeof(path), "%s%s", LEASE_RECORD_PREFIX, id);
    ops[n++] = (struct kh_storage_op){KH_STORAGE_DELETE, path, NULL, 0};
    if (owner != NULL && lease_owner_key(owner, id, index_key) == 0)
        ops[n++] = (struct kh_storage_op){KH_STORAGE_DELETE, index_key,
                                          NULL, 0};
    return barrier_batch(mgr->core->barrier, ops, n);
}

static uint64_t clamp_ttl(uint64_t want, uint64_t def, uint64_t max)
{
    uint64_t ttl = want != 0 ? want : def;

    if (ttl == 0 || ttl > max)
        ttl = max;
    return ttl;
}

/* The lease's TTL and max TTL: the engine's wish within the mount's and
 * the server's limits, then within the creating token's life (a batch
 * token's expiry is fixed, so it bounds the max TTL too). */
static void register_ttls(const struct lease_manager *mgr,
                          const struct mount_entry *mount,
                          const struct token_entry *token,
                          const struct kh_response *resp, int64_t now,
                          uint64_t *ret_ttl, uint64_t *ret_max_ttl)
{
    const struct kh_config *config = mgr->core->config;
    uint64_t sys_max = config->max_lease_ttl_s ? config->max_lease_ttl_s
                                               : LEASE_TTL_SYSTEM_MAX_S;
    uint64_t max = mount->max_lease_ttl_s ? mount->max_lease_ttl_s : sys_max;
    uint64_t def = mount->default_lease_ttl_s ? mount->default_lease_ttl_s
                   : config->default_lease_ttl_s ? config->default_lease_ttl_s
                                                 : max;
    int64_t bound = token != NULL ? token_entry_lease_bound(token) : 0;
    uint64_t ttl, max_ttl, left;

    max_ttl = clamp_ttl(resp->lease.max_ttl_s, max, max);
    ttl = clamp_ttl(resp->lease.ttl_s, def, max_ttl);
    if (bound != 0) {
        left = bound > now ? (uint64_t)(bound - now) : 0;
        if (ttl > left)
            ttl = left;
        if (token->type == TOKEN_TYPE_BATCH && max_ttl > left)
            max_ttl = left;
    }
    *ret_ttl = ttl;
    *ret_max_ttl = max_ttl;
}

int lease_register(struct lease_manager *mgr, const struct mount_entry *mount,
                   const struct token_entry *token, const char *request_path,
                   struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    char owner[LEASE_OWNER_HEX_BYTES + 1] = "";
    char id[LEASE_ID_BYTES_MAX + 1];
    char random[LEASE_RANDOM_CHARS + 1];
    int64_t now = lease_now();
    uint64_t ttl, max_ttl;
    json_t *record = NULL;
    int r;

    KH_ASSERT(resp->lease.requested);
    register_ttls(mgr, mount, token, resp, now, &ttl, &max_ttl);
    if (token != NULL)
        token_entry_lease_owner(token, owner);
    r = kh_random_base62(random, LEASE_RANDOM_CHARS);
    if (r != 0)
        return r;
    if ((size_t)snprintf(id, sizeof(id), "%s/%s", request_path, random) >=
        sizeof(id))
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "request path too long for a lease ID");
    record = json_pack("{s:s, s:s, s:s, s:O, s:I, s:I, s:I, s:I, s:I, s:b, "
                       "s:i, s:s}",
                       "id", id, "path", request_path, "mount_uuid",
                       mount->uuid, "internal", resp->lease.internal,
                       "issue_time", (json_int_t)now, "expire_time",
                       (json_int_t)(now + (int64_t)ttl), "max_expire_time",
                       (json_int_t)(now + (int64_t)max_ttl), "ttl",
                       (json_int_t)ttl, "last_renewal", (json_int_t)0,
                       "renewable", resp->lease.renewable, "revoke_attempts",
                       0, "last_revoke_error", "");
    if (record == NULL || (owner[0] != '\0' &&
                           json_object_set_new(record, LEASE_OWNER_FIELD,
                                               json_string(owner)) != 0)) {
        json_decref(record);
        return KH_ENOMEM;
    }
    pthread_mutex_lock(&mgr->lock);
    r = mgr->count >= LEASES_MAX
            ? kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                        "too many leases (limit %d)", LEASES_MAX)
            : lease_index_put_locked(mgr, id, now + (int64_t)ttl, true);
    pthread_mutex_unlock(&mgr->lock);
    if (r == 0 && (r = lease_record_insert(mgr, record)) != 0) {
        pthread_mutex_lock(&mgr->lock);
        lease_index_remove_locked(mgr, id);
        pthread_mutex_unlock(&mgr->lock);
    }
    json_decref(record);
    if (r != 0)
        return r;
    if (owner[0] != '\0')
        lease_owner_recheck(mgr, owner, id);
    json_object_set_new(resp->body, "lease_id", json_string(id));
    json_object_set_new(resp->body, "lease_duration",
                        json_integer((json_int_t)ttl));
    json_object_set_new(resp->body, "renewable",
                        json_boolean(resp->lease.renewable));
    return 0;
}

static json_t *time_or_null(json_int_t t)
{
    struct timespec ts = {(time_t)t, 0};
    char text[KH_TIME_STR_SIZE];

    if (t == 0)
        return json_null();
    kh_time_format(&ts, text);
    return json_string(text);
}

int lease_lookup(struct lease_manager *mgr, const char *lease_id,
                 json_t **ret_data, char *errmsg, size_t errmsg_size)
{
    json_t *record = NULL;
    json_int_t expire;
    int r;

    r = lease_id != NULL ? lease_record_load(mgr, lease_id, &record)
                         : KH_ENOTFOUND;
    if (r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid lease");
    if (r != 0)
        return r;
    expire = json_integer_value(json_object_get(record, "expire_time"));
    *ret_data = json_pack(
        "{s:O, s:o, s:o, s:o, s:O, s:I, s:O, s:O}", "id",
        json_object_get(record, "id"), "issue_time",
        time_or_null(json_integer_value(json_object_get(record,
                                                        "issue_time"))),
        "expire_time", time_or_null(expire), "last_renewal",
        time_or_null(json_integer_value(json_object_get(record,
                                                        "last_renewal"))),
        "renewable", json_object_get(record, "renewable"), "ttl",
        (json_int_t)(expire > lease_now() ? expire - lease_now() : 0),
        "revoke_attempts", json_object_get(record, "revoke_attempts"),
        "last_revoke_error", json_object_get(record, "last_revoke_error"));
    json_decref(record);
    return *ret_data != NULL ? 0 : KH_ENOMEM;
}

int lease_list(struct lease_manager *mgr, const char *prefix,
               json_t **ret_keys)
{
    char path[sizeof(LEASE_RECORD_PREFIX) + LEASE_ID_BYTES_MAX];
    struct kh_storage_list list = {0};
    json_t *keys;
    size_t i;
    int r;

    if (strlen(prefix) > LEASE_ID_BYTES_MAX)
        return KH_EINVAL;
    snprintf(path, sizeof(path), "%s%s", LEASE_RECORD_PREFIX, prefix);
    r = barrier_list(mgr->core->barrier, path, &list);
    if (r != 0)
        return r;
    keys = json_array();
    for (i = 0; keys != NULL && i < list.count; i++)
        json_array_append_new(keys, json_string(list.keys[i]));
    kh_storage_list_free(&list);
    if (keys == NULL)
        return KH_ENOMEM;
    *ret_keys = keys;
    return 0;
}
