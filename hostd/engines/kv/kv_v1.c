/*
 * kv_v1.c - KV version 1 (Vault API: KV v1): one JSON map per path,
 * stored at "d/<path>" in the mount's view. GET -> 200 with the map as
 * data (lease_duration from a "ttl" key or the mount default), POST/PUT
 * -> 204, DELETE -> 204, LIST -> keys; missing -> 404 {"errors":[]}.
 *
 * Owns nothing but these single-record operations, which need no lock: a
 * put or delete of one record is atomic in the barrier. It must never
 * return another path's data or write a map over the engine's limits.
 */
#include "engines/kv/kv.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "mount/mount_table.h"

/* Vault's system default lease TTL (768h), used when the mount has none. */
#define KV_V1_LEASE_DEFAULT_S 2764800ull

static int v1_key(const char *path, char out[KV_META_KEY_BYTES])
{
    int n = snprintf(out, KV_META_KEY_BYTES, "d/%s", path);

    return n < 0 || n >= KV_META_KEY_BYTES ? KH_ELIMIT : 0;
}

/* lease_duration of a read: the map's "ttl" if it parses, else the
 * mount's default, else the system default. */
static uint64_t v1_lease_seconds(const struct kv_call *call, const json_t *data)
{
    const json_t *ttl = json_object_get(data, "ttl");
    uint64_t seconds = 0;

    if (json_is_integer(ttl) && json_integer_value(ttl) >= 0)
        return (uint64_t)json_integer_value(ttl);
    if (json_is_string(ttl) &&
        kh_duration_parse(json_string_value(ttl), &seconds) == 0)
        return seconds;
    if (call->br->mount != NULL && call->br->mount->default_lease_ttl_s != 0)
        return call->br->mount->default_lease_ttl_s;
    return KV_V1_LEASE_DEFAULT_S;
}

static int v1_read(const struct kv_call *call)
{
    char key[KV_META_KEY_BYTES];
    uint8_t *bytes = NULL;
    size_t len = 0;
    json_t *data = NULL;
    uint64_t lease;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = v1_key(call->path, key);
    if (r == 0)
        r = view_get(call->br->view, key, &bytes, &len);
    if (r != 0)
        goto out;
    data = json_loadb((const char *)bytes, len, 0, NULL);
    if (!json_is_object(data)) {
        r = KH_ECORRUPT;
        goto out;
    }
    lease = v1_lease_seconds(call, data);
    r = kh_response_envelope(call->resp, call->br->req, data);
    data = NULL; /* stolen */
    if (r != 0)
        goto out;
    r = json_object_set_new(call->resp->body, "lease_duration",
                            json_integer((json_int_t)lease)) == 0
            ? 0
            : KH_ENOMEM;
out:
    json_decref(data);
    kh_free_secret(bytes, len);
    return r;
}

static int v1_write(const struct kv_call *call)
{
    char key[KV_META_KEY_BYTES];
    char *text = NULL;
    size_t len = 0;
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = v1_key(call->path, key);
    if (r != 0)
        return r;
    if (json_object_size(call->br->req->data) == 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing data fields");
    r = kv_data_serialise(call->state, call->br->req->data, &text, &len,
                          call->errmsg, call->errmsg_size);
    if (r == 0)
        r = view_put(call->br->view, key, (const uint8_t *)text, len);
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(text, len);
    return r;
}

static int v1_delete(const struct kv_call *call)
{
    char key[KV_META_KEY_BYTES];
    int r;

    r = kv_path_check(call->path, false, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = v1_key(call->path, key);
    if (r == 0)
        r = view_delete(call->br->view, key);
    if (r == KH_ENOTFOUND)
        r = 0;
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

static int v1_list(const struct kv_call *call)
{
    struct kh_storage_list list = {NULL, 0};
    int r;

    r = kv_path_check(call->path, true, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = kv_store_list(call->br->view, "d/", call->path, &list);
    if (r == 0 && list.count == 0)
        r = KH_ENOTFOUND; /* empty list: 404 {"errors":[]} */
    if (r != 0)
        goto out;
    r = kv_respond_keys(call, &list);
out:
    kh_storage_list_free(&list);
    return r;
}

int kv_v1_handle(const struct kv_call *call)
{
    switch (call->br->req->op) {
    case KH_OP_READ:
        return v1_read(call);
    case KH_OP_CREATE:
    case KH_OP_UPDATE:
        return v1_write(call);
    case KH_OP_DELETE:
        return v1_delete(call);
    case KH_OP_LIST:
        return v1_list(call);
    case KH_OP_PATCH:
    case KH_OP_HEAD:
        break;
    }
    return kh_errmsg(call->errmsg, call->errmsg_size, KH_EMETHOD,
                     "1 error occurred:\n\t* unsupported operation\n\n");
}

int kv_v1_exists(const struct kv_call *call, bool *ret_exists)
{
    char key[KV_META_KEY_BYTES];
    uint8_t *bytes = NULL;
    size_t len = 0;
    int r;

    if (kv_path_check(call->path, false, call->errmsg, call->errmsg_size) !=
            0 ||
        v1_key(call->path, key) != 0) {
        *ret_exists = false;
        return 0;
    }
    r = view_get(call->br->view, key, &bytes, &len);
    kh_free_secret(bytes, len);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    return 0;
}
