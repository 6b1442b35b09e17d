/*
 * token_create_request.c - auth/token/create, create-orphan and
 * create/:role (Vault API: token create): the request fields, the rules that
 * depend on the caller, and the response.
 *
 * Caller rules (Vault's handleCreateCommon, with sudo = root for now):
 *   - `id`, `no_parent` (on create) and `period` (unless a role supplies
 *     one) need a root token: 400 otherwise, as Vault answers;
 *   - a non-root caller may only ask for policies it has itself (400
 *     "child policies must be subset of parent"), unless a role with
 *     allowed lists decides instead;
 *   - no policies in the request: the role's allowed_policies, else the
 *     caller's own (a root caller thus makes a root token).
 * The created token is a child of the caller unless create-orphan,
 * no_parent or the role's orphan says otherwise. Everything about the
 * token itself (limits, TTL, ID) is token_create.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "token/token_backend.h"
#include "token/token_internal.h"

/* The fields a create request may carry (unknown ones are ignored). */
struct create_fields
{
    bool no_parent;
    bool period_given;
};

static int parse_ttls(const struct kh_request *req, struct token_create_req *c,
                      bool *period_given, char *errmsg, size_t errmsg_size)
{
    bool present = false;
    int r;

    r = token_field_duration(req, "ttl", &present, &c->ttl_s, errmsg,
                             errmsg_size);
    if (r == 0 && !present)
        r = token_field_duration(req, "lease", &present, &c->ttl_s, errmsg,
                                 errmsg_size);
    if (r == 0)
        r = token_field_duration(req, "explicit_max_ttl", &present,
                                 &c->explicit_max_ttl_s, errmsg, errmsg_size);
    if (r == 0)
        r = token_field_duration(req, "period", period_given, &c->period_s,
                                 errmsg, errmsg_size);
    if (r == 0 && c->period_s == 0)
        *period_given = false;
    return r;
}

static int parse_type(const struct kh_request *req, struct token_create_req *c,
                      char *errmsg, size_t errmsg_size)
{
    const char *type = kh_request_string(req, "type");

    c->type = TOKEN_TYPE_SERVICE;
    c->type_given = type != NULL && type[0] != '\0';
    if (!c->type_given)
        return 0;
    if (strcmp(type, "batch") == 0)
        c->type = TOKEN_TYPE_BATCH;
    else if (strcmp(type, "service") != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid \"type\" \"%.32s\" (service or batch)", type);
    return 0;
}

static int parse_fields(const struct kh_request *req, json_t *keep,
                        struct token_create_req *c, struct create_fields *f,
                        char *errmsg, size_t errmsg_size)
{
    unsigned long long uses = 0;
    bool present = false;
    int r;

    c->id = kh_request_string(req, "id");
    if (c->id != NULL && c->id[0] == '\0')
        c->id = NULL;
    c->display_name = kh_request_string(req, "display_name");
    c->meta = json_object_get(req->data, "meta");
    r = token_field_strings(req, "policies", keep, c->policies,
                            TOKEN_POLICIES_MAX, &c->policy_count, &present,
                            errmsg, errmsg_size);
    c->policies_given = c->policy_count > 0;
    if (r == 0)
        r = token_field_meta(c->meta, errmsg, errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "no_parent", false, &f->no_parent, errmsg,
                            errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "no_default_policy", false,
                            &c->no_default_policy, errmsg, errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "renewable", true, &c->renewable, errmsg,
                            errmsg_size);
    if (r == 0)
        r = kh_request_uint(req, "num_uses", 0, TOKEN_NUM_USES_MAX, &uses,
                            errmsg, errmsg_size);
    c->num_uses = (unsigned)uses;
    if (r == 0)
        r = parse_ttls(req, c, &f->period_given, errmsg, errmsg_size);
    if (r == 0)
        r = parse_type(req, c, errmsg, errmsg_size);
    return r;
}

static bool caller_has(const struct token_entry *caller, const char *name)
{
    size_t i;

    for (i = 0; i < caller->policy_count; i++) {
        if (strcmp(caller->policies[i], name) == 0)
            return true;
    }
    return false;
}

/* The rules of the file comment that need root ("sudo"). */
static int caller_rules(const struct token_entry *caller,
                        enum token_create_mode mode,
                        const struct token_create_req *c,
                        const struct create_fields *f, bool role_period,
                        bool role_checked, char *errmsg, size_t errmsg_size)
{
    size_t i;

    if (caller->root)
        return 0;
    if (c->id != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "root or sudo privileges required to specify "
                         "token id");
    if (mode == TOKEN_CREATE_PLAIN && f->no_parent)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "root or sudo privileges required to create "
                         "orphan token");
    if (f->period_given && !role_period)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "root or sudo privileges required to create "
                         "periodic token");
    for (i = 0; !role_checked && c->policies_given && i < c->policy_count;
         i++) {
        if (!caller_has(caller, c->policies[i]))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "child policies must be subset of parent");
    }
    return 0;
}

/* Apply the role of create/:role. */
static int apply_role(const struct backend_request *br, const char *role_in,
                      struct token_create_req *c, json_t **role,
                      char name[TOKEN_ROLE_NAME_MAX + 1], char *path_buf,
                      bool *orphan, bool *checked, bool *role_period,
                      char *errmsg, size_t errmsg_size)
{
    int r;

    r = token_role_name_ok(role_in, name, errmsg, errmsg_size);
    if (r == 0)
        r = token_role_load(br->core->tokens, name, role);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "unknown role %s",
                         name);
    if (r != 0)
        return r;
    *role_period =
        json_integer_value(json_object_get(*role, "token_period")) > 0;
    return token_role_apply(*role, name, br->token, c, orphan, checked,
                            path_buf, errmsg, errmsg_size);
}

static int create_and_respond(const struct backend_request *br,
                              struct token_create_req *c, bool orphan,
                              struct kh_response *resp, char *errmsg,
                              size_t errmsg_size)
{
    const struct kh_config *config = br->core->config;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry *e;
    int r;

    token_ttl_limits(br->mount, config ? config->default_lease_ttl_s : 0,
                     config ? config->max_lease_ttl_s : 0, &c->default_ttl_s,
                     &c->system_max_ttl_s);
    c->display_name_prefix = true;
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_create(br->core->tokens, br->token, orphan, c, id, e, errmsg,
                     errmsg_size);
    if (r == 0)
        r = token_respond_auth(resp, br->req, e, id);
    kh_wipe(id, sizeof(id));
    free(e);
    return r;
}

int token_handle_create(const struct backend_request *br,
                        enum token_create_mode mode, const char *role_in,
                        struct kh_response *resp, char *errmsg,
                        size_t errmsg_size)
{
    struct create_fields f = {0};
    struct token_create_req *c = NULL;
    char role_name[TOKEN_ROLE_NAME_MAX + 1];
    char path[TOKEN_PATH_BYTES_MAX];
    bool orphan = false, checked = false, role_period = false;
    json_t *keep = json_array(), *role = NULL;
    int r = KH_ENOMEM;

    if (br->token == NULL) {
        json_decref(keep);
        return KH_EPERM;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || keep == NULL)
        goto out;
    r = parse_fields(br->req, keep, c, &f, errmsg, errmsg_size);
    c->path = mode == TOKEN_CREATE_ORPHAN ? "auth/token/create-orphan"
                                          : "auth/token/create";
    if (r == 0 && mode == TOKEN_CREATE_ROLE)
        r = apply_role(br, role_in, c, &role, role_name, path, &orphan,
                       &checked, &role_period, errmsg, errmsg_size);
    if (r == 0)
        r = caller_rules(br->token, mode, c, &f, role_period, checked, errmsg,
                         errmsg_size);
    if (r != 0)
        goto out;
    orphan = orphan || mode == TOKEN_CREATE_ORPHAN ||
             (mode == TOKEN_CREATE_PLAIN && f.no_parent);
    r = create_and_respond(br, c, orphan, resp, errmsg, errmsg_size);
out:
    json_decref(role);
    json_decref(keep);
    free(c);
    return r;
}
