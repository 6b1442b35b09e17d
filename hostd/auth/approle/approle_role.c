/*
 * approle_role.c - AppRole roles (Vault API: AppRole): role/:role create,
 * update, read, delete, LIST role, and role/:role/role-id.
 *
 * Owns the role_id index: a role ID maps to exactly one role, checked and
 * written in the same batch as the role (under the mount's mutex). It must
 * never return a role ID anywhere but role/:role/role-id, and never store
 * one in a storage key (the index is keyed by its salted hash).
 */
#include "auth/approle/approle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define ROLE_ID_DOMAIN "role_id"

int approle_role_list(const struct approle_call *call)
{
    struct kh_storage_list list = {0};
    json_t *keys = NULL;
    size_t i;
    int r;

    r = view_list(call->br->view, "role/", &list);
    if (r != 0)
        goto out;
    if (list.count == 0) {
        r = KH_ENOTFOUND;
        goto out;
    }
    r = KH_ENOMEM;
    keys = json_array();
    for (i = 0; keys != NULL && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0)
            goto out;
    }
    if (keys == NULL)
        goto out;
    r = approle_respond(call, json_pack("{s:O}", "keys", keys));
out:
    json_decref(keys);
    kh_storage_list_free(&list);
    return r;
}

/* The read view: secret ID settings, token fields with their aliases. */
static json_t *role_view(const struct approle_role *role)
{
    json_t *data;

    data = json_pack("{s:b, s:b, s:o, s:o, s:I, s:I}", "bind_secret_id",
                     role->bind_secret_id, "local_secret_ids",
                     role->local_secret_ids, "secret_id_bound_cidrs",
                     tokenutil_cidrs_json(&role->secret_id_bound_cidrs),
                     "bound_cidr_list",
                     tokenutil_cidrs_json(&role->secret_id_bound_cidrs),
                     "secret_id_num_uses", (json_int_t)role->secret_id_num_uses,
                     "secret_id_ttl", (json_int_t)role->secret_id_ttl_s);
    if (data != NULL && tokenutil_describe(&role->token, data) != 0) {
        json_decref(data);
        data = NULL;
    }
    return data;
}

int approle_role_read(const struct approle_call *call)
{
    struct approle_role *role;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = approle_role_load(call->br->view, call->role, role);
    if (r == 0)
        r = approle_respond(call, role_view(role));
    kh_free_secret(role, sizeof(*role));
    return r;
}

int approle_role_exists(const struct approle_call *call, bool *ret_exists)
{
    struct approle_role *role;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = approle_role_load(call->br->view, call->role, role);
    kh_free_secret(role, sizeof(*role));
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    return 0;
}

/* A role ID from the request: 1..APPROLE_ROLE_ID_BYTES_MAX bytes. */
static int role_id_field(const struct approle_call *call, char *out,
                         size_t out_size, bool *ret_present)
{
    const json_t *v = tokenutil_field(call->br->req->data, "role_id");

    *ret_present = false;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        strlen(json_string_value(v)) != json_string_length(v))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing role_id");
    if (json_string_length(v) >= out_size)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                         "role_id is longer than %d bytes",
                         APPROLE_ROLE_ID_BYTES_MAX);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    *ret_present = true;
    return 0;
}

/* Fail with 400 when the index says hmac belongs to another role. */
static int role_id_unique(const struct approle_call *call, const char *key)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = view_get(call->br->view, key, &value, &len);
    if (r == KH_ENOTFOUND)
        return 0;
    if (r == 0 &&
        (len != strlen(call->role) || memcmp(value, call->role, len) != 0))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "role_id already in use");
    free(value);
    return r;
}

/* Write role and its index in one batch. old_hmac: the index of the role
 * ID stored so far ("" for a new role). */
static int role_save(const struct approle_call *call,
                     const struct approle_role *role, const char *old_hmac)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    char role_key[APPROLE_KEY_BYTES_MAX], new_key[APPROLE_KEY_BYTES_MAX];
    char old_key[APPROLE_KEY_BYTES_MAX];
    struct kh_storage_op ops[3];
    size_t count = 1, len = 0;
    char *text = NULL;
    int r;

    memset(ops, 0, sizeof(ops));
    r = approle_hmac(call->state, call->br->view, ROLE_ID_DOMAIN, role->role_id,
                     hmac);
    if (r == 0)
        r = approle_key(role_key, "role", NULL, role->name);
    if (r == 0)
        r = approle_key(new_key, "role_id", NULL, hmac);
    if (r == 0 && strcmp(hmac, old_hmac) != 0)
        r = role_id_unique(call, new_key);
    if (r == 0)
        r = approle_role_encode(role, &text, &len);
    if (r != 0)
        goto out;
    ops[0] = (struct kh_storage_op){KH_STORAGE_PUT, role_key,
                                    (const uint8_t *)text, len};
    ops[count++] =
        (struct kh_storage_op){KH_STORAGE_PUT, new_key,
                               (const uint8_t *)role->name, strlen(role->name)};
    if (old_hmac[0] != '\0' && strcmp(hmac, old_hmac) != 0) {
        r = approle_key(old_key, "role_id", NULL, old_hmac);
        if (r != 0)
            goto out;
        ops[count++] =
            (struct kh_storage_op){KH_STORAGE_DELETE, old_key, NULL, 0};
    }
    r = view_batch(call->br->view, ops, count);
out:
    kh_free_secret(text, len);
    return r;
}

/* The secret ID settings of a role write. */
static int role_apply_secret_fields(const struct approle_call *call,
                                    struct approle_role *role, bool created)
{
    const json_t *data = call->br->req->data;
    const char *name;
    bool present, local = role->local_secret_ids;
    int r;

    r = tokenutil_field_bool(data, "bind_secret_id", &present,
                             &role->bind_secret_id, call->errmsg,
                             call->errmsg_size);
    name = tokenutil_pick(data, "secret_id_bound_cidrs", "bound_cidr_list");
    if (r == 0 && name != NULL)
        r = tokenutil_field_cidrs(data, name, &present,
                                  &role->secret_id_bound_cidrs, call->errmsg,
                                  call->errmsg_size);
    if (r == 0)
        r = tokenutil_field_uint(data, "secret_id_num_uses",
                                 APPROLE_SECRET_ID_NUM_USES_MAX, &present,
                                 &role->secret_id_num_uses, call->errmsg,
                                 call->errmsg_size);
    if (r == 0)
        r = tokenutil_field_duration(
            data, "secret_id_ttl", APPROLE_SECRET_ID_TTL_MAX_S, &present,
            &role->secret_id_ttl_s, call->errmsg, call->errmsg_size);
    /* hvac 0.11.2 names the field enable_local_secret_ids */
    name = tokenutil_pick(data, "local_secret_ids", "enable_local_secret_ids");
    if (r == 0 && name != NULL)
        r = tokenutil_field_bool(data, name, &present, &local, call->errmsg,
                                 call->errmsg_size);
    if (r == 0 && !created && local != role->local_secret_ids)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "local_secret_ids can only be modified during role "
                      "creation");
    role->local_secret_ids = local;
    return r;
}

/* Apply the request's fields to role (new or loaded). */
static int role_apply(const struct approle_call *call,
                      struct approle_role *role, bool created)
{
    bool present;
    int r;

    r = role_apply_secret_fields(call, role, created);
    if (r == 0)
        r = role_id_field(call, role->role_id, sizeof(role->role_id), &present);
    if (r == 0)
        r = tokenutil_parse(&role->token, call->br->req->data, call->errmsg,
                            call->errmsg_size);
    if (r == 0 && !role->bind_secret_id &&
        role->secret_id_bound_cidrs.count == 0 &&
        role->token.bound_cidrs.count == 0)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "at least one constraint should be enabled on the "
                      "role");
    return r;
}

/* Load role, or start a new one (*ret_created); old_hmac receives the
 * index of the stored role ID ("" when new). */
static int role_load_or_new(const struct approle_call *call,
                            struct approle_role *role, bool *ret_created,
                            char old_hmac[APPROLE_HMAC_HEX_BYTES])
{
    int r;

    old_hmac[0] = '\0';
    r = approle_role_load(call->br->view, call->role, role);
    if (r == KH_ENOTFOUND) {
        *ret_created = true;
        return approle_role_new(call->role, role);
    }
    *ret_created = false;
    if (r == 0)
        r = approle_hmac(call->state, call->br->view, ROLE_ID_DOMAIN,
                         role->role_id, old_hmac);
    return r;
}

int approle_role_write(const struct approle_call *call)
{
    char old_hmac[APPROLE_HMAC_HEX_BYTES];
    struct approle_role *role;
    bool created = false;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = role_load_or_new(call, role, &created, old_hmac);
    if (r == 0)
        r = role_apply(call, role, created);
    if (r == 0)
        r = role_save(call, role, old_hmac);
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(role, sizeof(*role));
    return r;
}

/* Append a delete of every key under prefix to ops (keys strdup'ed). */
static int collect_deletes(const struct barrier_view *view, const char *prefix,
                           struct kh_storage_op *ops, size_t *count, size_t max)
{
    struct kh_storage_list list = {0};
    size_t i;
    int r;

    r = view_list(view, prefix, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        char *key = NULL;
        if (*count >= max) {
            r = KH_ECORRUPT; /* more secret IDs than the limit allows */
            break;
        }
        if (asprintf(&key, "%s%s", prefix, list.keys[i]) < 0) {
            r = KH_ENOMEM;
            break;
        }
        ops[(*count)++] =
            (struct kh_storage_op){KH_STORAGE_DELETE, key, NULL, 0};
    }
    kh_storage_list_free(&list);
    return r;
}

/* The ops removing role, its index and every secret ID: one batch. */
static int role_delete_ops(const struct approle_call *call,
                           const struct approle_role *role,
                           struct kh_storage_op *ops, size_t *count)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    char prefix[APPROLE_KEY_BYTES_MAX];
    char *key = NULL;
    int r;

    r = approle_hmac(call->state, call->br->view, ROLE_ID_DOMAIN, role->role_id,
                     hmac);
    if (r == 0 && asprintf(&key, "role_id/%s", hmac) < 0)
        r = KH_ENOMEM;
    if (r == 0)
        ops[(*count)++] =
            (struct kh_storage_op){KH_STORAGE_DELETE, key, NULL, 0};
    key = NULL;
    if (r == 0 && asprintf(&key, "role/%s", role->name) < 0)
        r = KH_ENOMEM;
    if (r == 0)
        ops[(*count)++] =
            (struct kh_storage_op){KH_STORAGE_DELETE, key, NULL, 0};
    if (r == 0)
        r = approle_key(prefix, "secret_id", role->name, "");
    if (r == 0)
        r = collect_deletes(call->br->view, prefix, ops, count,
                            KH_STORAGE_BATCH_OPS_MAX);
    if (r == 0)
        r = approle_key(prefix, "accessor", role->name, "");
    if (r == 0)
        r = collect_deletes(call->br->view, prefix, ops, count,
                            KH_STORAGE_BATCH_OPS_MAX);
    return r;
}

int approle_role_delete(const struct approle_call *call)
{
    struct approle_role *role;
    struct kh_storage_op *ops;
    size_t count = 0, i;
    int r;

    role = malloc(sizeof(*role));
    ops = calloc(KH_STORAGE_BATCH_OPS_MAX, sizeof(*ops));
    r = role != NULL && ops != NULL ? 0 : KH_ENOMEM;
    if (r == 0)
        r = approle_role_load(call->br->view, call->role, role);
    if (r == 0)
        r = role_delete_ops(call, role, ops, &count);
    if (r == 0)
        r = view_batch(call->br->view, ops, count);
    if (r == KH_ENOTFOUND)
        r = 0; /* deleting a missing role succeeds (Vault) */
    if (r == 0)
        kh_response_no_content(call->resp);
    for (i = 0; ops != NULL && i < count; i++)
        free((char *)ops[i].key);
    free(ops);
    kh_free_secret(role, role != NULL ? sizeof(*role) : 0);
    return r;
}

int approle_role_id_read(const struct approle_call *call)
{
    struct approle_role *role;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = approle_role_load(call->br->view, call->role, role);
    if (r == 0)
        r = approle_respond(call, json_pack("{s:s}", "role_id", role->role_id));
    kh_free_secret(role, sizeof(*role));
    return r;
}

int approle_role_id_write(const struct approle_call *call)
{
    char old_hmac[APPROLE_HMAC_HEX_BYTES];
    struct approle_role *role;
    bool present = false;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = approle_role_load(call->br->view, call->role, role);
    if (r == KH_ENOTFOUND)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "role \"%s\" does not exist", call->role);
    if (r == 0)
        r = approle_hmac(call->state, call->br->view, ROLE_ID_DOMAIN,
                         role->role_id, old_hmac);
    if (r == 0)
        r = role_id_field(call, role->role_id, sizeof(role->role_id), &present);
    if (r == 0 && !present)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "missing role_id");
    if (r == 0)
        r = role_save(call, role, old_hmac);
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(role, sizeof(*role));
    return r;
}
