/*
 * sys_leases.c - the sys/leases endpoints and the legacy sys/renew,
 * sys/revoke, sys/revoke-prefix and sys/revoke-force aliases
 * (Vault API: sys/leases).
 * The lease ID may come in the body or as the rest of the path.
 */
#include <string.h>

#include "common/err.h"
#include "core/core.h"
#include "core/sys/sys_handlers.h"
#include "lease/lease.h"

/* The text after the first of the given prefixes that path starts with,
 * or NULL. */
static const char *path_rest(const char *path, const char *const *prefixes,
                             size_t count)
{
    size_t i;

    for (i = 0; i < count; i++) {
        size_t len = strlen(prefixes[i]);
        if (strncmp(path, prefixes[i], len) == 0 && path[len] != '\0')
            return path + len;
    }
    return NULL;
}

static const char *lease_id_of(const struct kh_request *req)
{
    static const char *const prefixes[] = {
        "sys/leases/renew/", "sys/leases/revoke/", "sys/renew/",
        "sys/revoke/"};
    const char *id = kh_request_string(req, "lease_id");

    if (id != NULL && id[0] != '\0')
        return id;
    return path_rest(req->path, prefixes, KH_ARRAY_LEN(prefixes));
}

int sys_leases_lookup(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    json_t *data = NULL;
    int r;

    r = lease_lookup(core->leases, kh_request_string(req, "lease_id"), &data,
                     errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_envelope(resp, req, data);
}

int sys_leases_list(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size)
{
    const char *prefix = req->path + strlen("sys/leases/lookup/");
    json_t *keys = NULL;
    int r;

    r = lease_list(core->leases, prefix, &keys);
    if (r != 0)
        return r;
    if (json_array_size(keys) == 0) {
        json_decref(keys);
        return KH_ENOTFOUND;
    }
    return kh_response_envelope(resp, req, json_pack("{s:o}", "keys", keys));
}

int sys_leases_renew(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size)
{
    const char *id = lease_id_of(req);
    unsigned long long increment = 0;
    json_t *inc = json_object_get(req->data, "increment");
    uint64_t ttl = 0;
    int r;

    if (json_is_string(inc)) {
        uint64_t seconds = 0;
        if (kh_duration_parse(json_string_value(inc), &seconds) != 0)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"increment\" must be a duration");
        increment = seconds;
    } else {
        r = kh_request_uint(req, "increment", 0, LEASE_TTL_SYSTEM_MAX_S * 100,
                            &increment, errmsg, errmsg_size);
        if (r != 0)
            return r;
    }
    r = lease_renew(core->leases, id, increment, &ttl, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = kh_response_envelope(resp, req, NULL);
    if (r == 0) {
        json_object_set_new(resp->body, "lease_id", json_string(id));
        json_object_set_new(resp->body, "renewable", json_true());
        json_object_set_new(resp->body, "lease_duration",
                            json_integer((json_int_t)ttl));
    }
    return r;
}

int sys_leases_revoke(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    int r;

    r = lease_revoke(core->leases, lease_id_of(req), errmsg, errmsg_size);
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

int sys_leases_revoke_prefix(struct kh_core *core,
                             const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size)
{
    static const char *const prefixes[] = {
        "sys/leases/revoke-prefix/", "sys/revoke-prefix/",
        "sys/leases/revoke-force/", "sys/revoke-force/"};
    const char *prefix = path_rest(req->path, prefixes,
                                   KH_ARRAY_LEN(prefixes));
    bool force = strstr(req->path, "revoke-force/") != NULL;
    int r;

    if (prefix == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "missing prefix");
    r = lease_revoke_prefix(core->leases, prefix, force, errmsg, errmsg_size);
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

int sys_leases_tidy(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size)
{
    (void)lease_expire_due(core->leases);
    kh_response_no_content(resp);
    return 0;
}
