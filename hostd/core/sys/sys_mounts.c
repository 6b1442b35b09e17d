/*
 * sys_mounts.c - sys/mounts and sys/auth (Vault API: sys/mounts and sys/auth): list,
 * read, enable, disable, tune. Both share one set of handlers; the route
 * row says which table (auth when the path starts with sys/auth).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "core/core.h"
#include "core/sys/sys_handlers.h"
#include "lease/lease.h"
#include "mount/mount_codec.h"
#include "mount/mount_table.h"
#include "policy/acl.h"
#include "policy/policy.h"

static bool is_auth_path(const struct kh_request *req)
{
    return strncmp(req->path, "sys/auth", strlen("sys/auth")) == 0;
}

/* The path after "sys/mounts/" or "sys/auth/", without "/tune". */
static int mount_path_of(const struct kh_request *req, bool tune, char *out,
                         size_t size)
{
    const char *p = req->path + strlen(is_auth_path(req) ? "sys/auth/"
                                                         : "sys/mounts/");
    size_t len = strlen(p);

    if (tune) {
        if (len < strlen("/tune"))
            return KH_EINVAL;
        len -= strlen("/tune");
    }
    if (len == 0 || len >= size)
        return KH_EINVAL;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

int sys_mounts_list(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size)
{
    json_t *listing = NULL;
    int r;

    r = mount_table_describe(core->mounts, is_auth_path(req), NULL, false,
                             &listing);
    if (r != 0)
        return r;
    if (!is_auth_path(req))
        json_object_set_new(listing, "sys/",
                            json_pack("{s:s, s:s, s:s, s:{}, s:b, s:b}",
                                      "type", "system", "description",
                                      "system endpoints used for control, "
                                      "policy and debugging",
                                      "accessor", "system", "options",
                                      "local", 0, "seal_wrap", 0));
    return kh_response_envelope_inject(resp, req, listing);
}

/* The tune view shows effective TTLs: 0 ("system") becomes the server's
 * default and maximum (Vault API: sys/mounts). */
static void tune_substitute_defaults(struct kh_core *core, json_t *config)
{
    uint64_t max = core->config->max_lease_ttl_s ? core->config->max_lease_ttl_s
                                                 : LEASE_TTL_SYSTEM_MAX_S;
    uint64_t def = core->config->default_lease_ttl_s
                       ? core->config->default_lease_ttl_s
                       : max;

    if (json_integer_value(json_object_get(config, "default_lease_ttl")) == 0)
        json_object_set_new(config, "default_lease_ttl",
                            json_integer((json_int_t)def));
    if (json_integer_value(json_object_get(config, "max_lease_ttl")) == 0)
        json_object_set_new(config, "max_lease_ttl",
                            json_integer((json_int_t)max));
}

int sys_mounts_read(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size)
{
    bool tune = strlen(req->path) > 5 &&
                strcmp(req->path + strlen(req->path) - 5, "/tune") == 0;
    char path[MOUNT_PATH_BYTES_MAX];
    json_t *entry = NULL;
    int r;

    r = mount_path_of(req, tune, path, sizeof(path));
    if (r == 0)
        r = mount_table_describe(core->mounts, is_auth_path(req), path, tune,
                                 &entry);
    if (r == KH_ENOTFOUND || r == KH_EINVAL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "cannot fetch sysview for path \"%s\"", path);
    if (r != 0)
        return r;
    if (tune) {
        json_t *config = json_incref(json_object_get(entry, "config"));
        tune_substitute_defaults(core, config);
        json_object_set_new(config, "description", json_incref(
            json_object_get(entry, "description")));
        json_object_set(config, "options", json_object_get(entry, "options"));
        json_decref(entry);
        entry = config;
    }
    return kh_response_envelope_inject(resp, req, entry);
}

/* TTL fields: durations or seconds, in the body or under "config". */
static int ttl_field(const struct kh_request *req, const char *name,
                     uint64_t *ret, char *errmsg, size_t errmsg_size)
{
    json_t *v = json_object_get(req->data, name);
    json_t *config = json_object_get(req->data, "config");
    char text[32];

    if ((v == NULL || json_is_null(v)) && json_is_object(config))
        v = json_object_get(config, name);
    *ret = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ret = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "system") == 0)
        return 0;
    if (json_is_string(v)) {
        snprintf(text, sizeof(text), "%s", json_string_value(v));
        if (kh_duration_parse(text, ret) == 0)
            return 0;
    }
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "\"%s\" must be a duration", name);
}

static int mount_request_from(const struct kh_request *req,
                              struct mount_request *m, char *errmsg,
                              size_t errmsg_size)
{
    json_t *options = json_object_get(req->data, "options");
    int r;

    memset(m, 0, sizeof(*m));
    m->type = kh_request_string(req, "type");
    m->description = kh_request_string(req, "description");
    if (options != NULL && !json_is_null(options)) {
        if (!json_is_object(options) ||
            json_object_size(options) > MOUNT_OPTIONS_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"options\" must be a map of at most %d "
                             "strings", MOUNT_OPTIONS_MAX);
        m->options = options;
    }
    r = kh_request_bool(req, "local", false, &m->local, errmsg, errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "seal_wrap", false, &m->seal_wrap, errmsg,
                            errmsg_size);
    if (r == 0)
        r = ttl_field(req, "default_lease_ttl", &m->default_lease_ttl_s,
                      errmsg, errmsg_size);
    if (r == 0)
        r = ttl_field(req, "max_lease_ttl", &m->max_lease_ttl_s, errmsg,
                      errmsg_size);
    return r;
}

int sys_mounts_write(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size)
{
    bool tune = strlen(req->path) > 5 &&
                strcmp(req->path + strlen(req->path) - 5, "/tune") == 0;
    char path[MOUNT_PATH_BYTES_MAX];
    struct mount_request m;
    int r;

    r = mount_path_of(req, tune, path, sizeof(path));
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid mount path");
    r = mount_request_from(req, &m, errmsg, errmsg_size);
    if (r != 0)
        return r;
    m.path = path;
    if (tune) {
        r = mount_table_tune(core->mounts, is_auth_path(req), path, &m,
                             errmsg, errmsg_size);
    } else {
        if (m.type == NULL || m.type[0] == '\0')
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"type\" is required");
        r = mount_table_enable(core->mounts, is_auth_path(req), &m, errmsg,
                               errmsg_size);
    }
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

int sys_mounts_delete(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    char path[MOUNT_PATH_BYTES_MAX];
    int r;

    r = mount_path_of(req, false, path, sizeof(path));
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid mount path");
    /* Leases first: a mount is removed only once its secrets are revoked
     * (an unreachable backend keeps the mount, and says why). */
    if (!is_auth_path(req)) {
        char prefix[MOUNT_PATH_BYTES_MAX + 1];
        snprintf(prefix, sizeof(prefix), "%s%s", path,
                 path[strlen(path) - 1] == '/' ? "" : "/");
        r = lease_revoke_prefix(core->leases, prefix, false, errmsg,
                                errmsg_size);
        if (r != 0)
            return r;
    }
    r = mount_table_disable(core->mounts, core, is_auth_path(req), path,
                            errmsg, errmsg_size);
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

/* sys/internal/ui/mounts/:path - which mount serves a path, for clients
 * (the CLI's kv verbs) whose token may use the path but not sys/mounts.
 * The caller must hold some capability on the path itself. */
int sys_internal_ui_mount(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    const char *path = req->path + strlen("sys/internal/ui/mounts/");
    const struct token_entry *token = req->token_entry;
    const struct mount_entry *mount = NULL;
    const char *names[TOKEN_POLICIES_MAX];
    const char *subpath = NULL;
    struct acl *acl = NULL;
    unsigned caps = 0;
    json_t *data;
    size_t i;
    int r;

    KH_ASSERT(token != NULL);
    for (i = 0; i < token->policy_count; i++)
        names[i] = token->policies[i];
    r = policy_store_acl_for(core->policies, names, token->policy_count,
                             &acl);
    if (r != 0)
        return r;
    caps = acl_capabilities(acl, path);
    acl_free(acl);
    if (caps == 0 || (caps & POLICY_CAP_DENY) != 0)
        return KH_EPERM;
    r = mount_table_route(core->mounts, path, &mount, &subpath);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "no mount found for \"%s\"", path);
    if (r != 0)
        return r;
    data = mount_codec_describe(mount);
    if (data != NULL)
        json_object_set_new(data, "path", json_string(mount->path));
    mount_table_release(core->mounts);
    return kh_response_envelope(resp, req, data);
}
