/*
 * kv_config.c - <mount>/config of KV v2 (Vault API: KV v2): max_versions
 * (0 means KV_MAX_VERSIONS_DEFAULT), cas_required and
 * delete_version_after ("0s" = off).
 *
 * Owns the two handlers; the stored form is kv_store.c's. Writes change
 * only the fields present (hvac sends a subset) and hold the mount's
 * write lock, so a concurrent data write sees the old or the new config.
 */
#include "engines/kv/kv.h"

#include "common/err.h"

int kv_config_read(const struct kv_call *call)
{
    struct kv_config config;
    char dva[KV_DURATION_STR_SIZE];
    json_t *data;
    int r;

    kv_lock_read(call->state);
    r = kv_config_load(call->br->view, &config);
    kv_unlock(call->state);
    if (r != 0)
        return r;
    kv_duration_string(config.delete_version_after_s, dva);
    data = json_pack("{s:I, s:b, s:s}", "max_versions",
                     (json_int_t)config.max_versions, "cas_required",
                     config.cas_required, "delete_version_after", dva);
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

int kv_config_write(const struct kv_call *call)
{
    const struct kh_request *req = call->br->req;
    struct kv_config config;
    unsigned long long max_versions = 0;
    uint64_t dva = 0;
    bool has_dva = false;
    bool cas = false;
    int r;

    r = kh_request_uint(req, "max_versions", 0, KV_MAX_VERSIONS_LIMIT,
                        &max_versions, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "cas_required", false, &cas, call->errmsg,
                            call->errmsg_size);
    if (r == 0)
        r = kv_fields_duration(req, "delete_version_after", &has_dva, &dva,
                               call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    kv_lock_write(call->state);
    r = kv_config_load(call->br->view, &config);
    if (r != 0)
        goto out;
    if (kv_fields_present(req, "max_versions"))
        config.max_versions = max_versions;
    if (kv_fields_present(req, "cas_required"))
        config.cas_required = cas;
    if (has_dva)
        config.delete_version_after_s = dva;
    r = kv_config_store(call->br->view, &config);
    if (r != 0)
        goto out;
    kh_response_no_content(call->resp);
    r = 0; /* success */
out:
    kv_unlock(call->state);
    return r;
}
