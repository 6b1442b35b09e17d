/*
 * token_roles.c - token roles (Vault API: token roles): auth/token/roles,
 * roles/:name, and what a role does to auth/token/create/:name.
 *
 * A role is stored as one normalised JSON object at
 * sys/token/roles/<name> (names are lowercased, [a-z0-9_.-]). Writes
 * update only the fields a request carries, on top of the stored role or
 * the defaults (renewable true, token_type "default-service"). Reads echo
 * the deprecated aliases (period, explicit_max_ttl, bound_cidrs) as Vault
 * does. Applying a role never widens what the request layer allowed:
 * allowed lists restrict, disallowed lists forbid, orphan/period come
 * from the role because an operator with write access to the role chose
 * them (that is Vault's model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "engines/backend.h"
#include "token/token_internal.h"

static const char *const role_lists[] = {
    "allowed_policies",       "disallowed_policies",
    "allowed_policies_glob",  "disallowed_policies_glob",
    "allowed_entity_aliases", "token_bound_cidrs",
};

bool token_glob_match(const char *pattern, const char *text)
{
    const char *star = NULL, *resume = NULL;

    /* Greedy with one backtrack point: linear-time, no recursion. */
    while (*text != '\0') {
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern == *text) {
            pattern++;
            text++;
        } else if (star != NULL) {
            pattern = star + 1;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
}

int token_role_name_ok(const char *name, char out[TOKEN_ROLE_NAME_MAX + 1],
                       char *errmsg, size_t errmsg_size)
{
    size_t i, len = strlen(name);

    if (len == 0 || len > TOKEN_ROLE_NAME_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "role name must be 1-%d characters",
                         TOKEN_ROLE_NAME_MAX);
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.') ||
            (c == '.' && i + 1 < len && name[i + 1] == '.'))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid role name \"%.64s\"", name);
        out[i] = c;
    }
    out[len] = '\0';
    return 0;
}

static void role_key(const char *name, char out[TOKEN_KEY_BYTES + 64])
{
    snprintf(out, TOKEN_KEY_BYTES + 64, "%s%s", TOKEN_ROLE_PREFIX, name);
}

/* A stored role must have every field with its type. */
static bool role_well_formed(const json_t *role)
{
    size_t i;

    if (!json_is_object(role))
        return false;
    for (i = 0; i < KH_ARRAY_LEN(role_lists); i++) {
        const json_t *a = json_object_get(role, role_lists[i]);
        if (!json_is_array(a) || json_array_size(a) > TOKEN_POLICIES_MAX)
            return false;
    }
    return json_is_boolean(json_object_get(role, "orphan")) &&
           json_is_boolean(json_object_get(role, "renewable")) &&
           json_is_boolean(json_object_get(role, "token_no_default_policy")) &&
           json_is_string(json_object_get(role, "path_suffix")) &&
           json_is_string(json_object_get(role, "token_type")) &&
           json_is_integer(json_object_get(role, "token_period")) &&
           json_is_integer(json_object_get(role, "token_explicit_max_ttl"));
}

int token_role_load(struct token_store *store, const char *name,
                    json_t **ret_role)
{
    char key[TOKEN_KEY_BYTES + 64];
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *role;
    int r;

    role_key(name, key);
    r = barrier_get(store->barrier, key, &value, &len);
    if (r != 0)
        return r;
    role = len <= TOKEN_ROLE_JSON_BYTES_MAX
               ? json_loadb((const char *)value, len, 0, NULL)
               : NULL;
    kh_free_secret(value, len);
    if (!role_well_formed(role)) {
        json_decref(role);
        return KH_ECORRUPT;
    }
    *ret_role = role;
    return 0;
}

static json_t *role_defaults(void)
{
    return json_pack("{s:[], s:[], s:[], s:[], s:[], s:[], s:b, s:b, s:b, "
                     "s:s, s:s, s:i, s:i}",
                     "allowed_policies", "disallowed_policies",
                     "allowed_policies_glob", "disallowed_policies_glob",
                     "allowed_entity_aliases", "token_bound_cidrs", "orphan", 0,
                     "renewable", 1, "token_no_default_policy", 0,
                     "path_suffix", "", "token_type", "default-service",
                     "token_period", 0, "token_explicit_max_ttl", 0);
}

/* True when name is in the role's list (exact) or glob list. */
static bool role_matches(const json_t *role, const char *list,
                         const char *glob_list, const char *name)
{
    const json_t *a = json_object_get(role, list);
    const json_t *g = json_object_get(role, glob_list);
    size_t i;

    for (i = 0; i < json_array_size(a); i++) {
        if (strcmp(json_string_value(json_array_get(a, i)), name) == 0)
            return true;
    }
    for (i = 0; i < json_array_size(g); i++) {
        if (token_glob_match(json_string_value(json_array_get(g, i)), name))
            return true;
    }
    return false;
}

static int role_policies(const json_t *role, const struct token_entry *caller,
                         struct token_create_req *c, bool *ret_checked,
                         char *errmsg, size_t errmsg_size)
{
    const json_t *allowed = json_object_get(role, "allowed_policies");
    bool restricted =
        json_array_size(allowed) > 0 ||
        json_array_size(json_object_get(role, "allowed_policies_glob")) > 0;
    size_t i;

    if (!c->policies_given && restricted) {
        for (i = 0; i < json_array_size(allowed); i++)
            c->policies[i] = json_string_value(json_array_get(allowed, i));
        c->policy_count = json_array_size(allowed);
        c->policies_given = true;
    } else if (!c->policies_given && caller != NULL) {
        for (i = 0; i < caller->policy_count; i++)
            c->policies[i] = caller->policies[i];
        c->policy_count = caller->policy_count;
        c->policies_given = true;
    }
    for (i = 0; i < c->policy_count; i++) {
        const char *p = c->policies[i];
        if (role_matches(role, "disallowed_policies",
                         "disallowed_policies_glob", p))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "token policy \"%.64s\" is disallowed by this "
                             "role",
                             p);
        if (restricted && strcmp(p, "default") != 0 &&
            !role_matches(role, "allowed_policies", "allowed_policies_glob", p))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "token policies must be subset of the role's "
                             "allowed policies (\"%.64s\" is not)",
                             p);
    }
    if (role_matches(role, "disallowed_policies", "disallowed_policies_glob",
                     "default"))
        c->no_default_policy = true;
    *ret_checked = restricted;
    return 0;
}

/* token_type of the role against the request's "type". */
static int role_type(const json_t *role, struct token_create_req *c,
                     char *errmsg, size_t errmsg_size)
{
    const char *t = json_string_value(json_object_get(role, "token_type"));
    bool want_batch = c->type_given && c->type == TOKEN_TYPE_BATCH;

    if (strcmp(t, "service") == 0 || strcmp(t, "batch") == 0) {
        enum token_type fixed =
            t[0] == 's' ? TOKEN_TYPE_SERVICE : TOKEN_TYPE_BATCH;
        if (c->type_given && c->type != fixed)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "the role only allows %s tokens", t);
        c->type = fixed;
    } else if (!c->type_given) {
        c->type = strcmp(t, "default-batch") == 0 ? TOKEN_TYPE_BATCH
                                                  : TOKEN_TYPE_SERVICE;
    } else {
        c->type = want_batch ? TOKEN_TYPE_BATCH : TOKEN_TYPE_SERVICE;
    }
    return 0;
}

int token_role_apply(const json_t *role, const char *name,
                     const struct token_entry *caller,
                     struct token_create_req *c, bool *ret_orphan,
                     bool *ret_checked, char *path_buf, char *errmsg,
                     size_t errmsg_size)
{
    const json_t *cidrs = json_object_get(role, "token_bound_cidrs");
    const char *suffix =
        json_string_value(json_object_get(role, "path_suffix"));
    uint64_t period =
        (uint64_t)json_integer_value(json_object_get(role, "token_period"));
    uint64_t max = (uint64_t)json_integer_value(
        json_object_get(role, "token_explicit_max_ttl"));
    size_t i;
    int r;

    KH_ASSERT(role_well_formed(role));
    r = role_policies(role, caller, c, ret_checked, errmsg, errmsg_size);
    if (r == 0)
        r = role_type(role, c, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (period != 0)
        c->period_s = period;
    if (max != 0 && (c->explicit_max_ttl_s == 0 || max < c->explicit_max_ttl_s))
        c->explicit_max_ttl_s = max;
    if (json_array_size(cidrs) > TOKEN_BOUND_CIDRS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "too many bound CIDRs");
    for (i = 0; i < json_array_size(cidrs); i++)
        c->bound_cidrs[i] = json_string_value(json_array_get(cidrs, i));
    c->bound_cidr_count = json_array_size(cidrs);
    c->renewable =
        c->renewable && json_is_true(json_object_get(role, "renewable"));
    if (json_is_true(json_object_get(role, "token_no_default_policy")))
        c->no_default_policy = true;
    snprintf(path_buf, TOKEN_PATH_BYTES_MAX, "auth/token/create/%s%s%s", name,
             suffix[0] != '\0' ? "/" : "", suffix);
    c->path = path_buf;
    c->role = name;
    *ret_orphan = json_is_true(json_object_get(role, "orphan"));
    return 0;
}

/* ---- the HTTP handlers ---- */

/* One list field of a role write (alias: the deprecated name, or NULL). */
static int role_update_list(const struct kh_request *req, json_t *role,
                            const char *field, const char *alias, json_t *keep,
                            char *errmsg, size_t errmsg_size)
{
    const char *items[TOKEN_POLICIES_MAX];
    bool cidrs = strcmp(field, "token_bound_cidrs") == 0;
    size_t max = cidrs ? TOKEN_BOUND_CIDRS_MAX : TOKEN_POLICIES_MAX;
    bool present = false;
    size_t i, count = 0;
    json_t *a;
    int r;

    r = token_field_strings(req, field, keep, items, max, &count, &present,
                            errmsg, errmsg_size);
    if (r == 0 && !present && alias != NULL)
        r = token_field_strings(req, alias, keep, items, max, &count, &present,
                                errmsg, errmsg_size);
    if (r != 0 || !present)
        return r;
    a = json_array();
    for (i = 0; a != NULL && i < count; i++) {
        bool ok = cidrs ? token_cidr_valid(items[i])
                  : strncmp(field, "allowed_entity", 14) == 0
                      ? strlen(items[i]) < TOKEN_POLICY_NAME_MAX
                      : token_policy_name_valid(items[i]);
        if (!ok) {
            json_decref(a);
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid entry \"%.64s\" in \"%s\"", items[i],
                             field);
        }
        if (json_array_append_new(a, json_string(items[i])) != 0)
            break;
    }
    if (a == NULL || i < count || json_object_set_new(role, field, a) != 0)
        return KH_ENOMEM;
    return 0;
}

static int role_update_scalars(const struct kh_request *req, json_t *role,
                               char *errmsg, size_t errmsg_size)
{
    static const char *const bools[] = {"orphan", "renewable",
                                        "token_no_default_policy"};
    static const char *const ttls[][2] = {
        {"token_period", "period"},
        {"token_explicit_max_ttl", "explicit_max_ttl"}};
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < KH_ARRAY_LEN(bools); i++) {
        bool v = json_is_true(json_object_get(role, bools[i]));
        r = kh_request_bool(req, bools[i], v, &v, errmsg, errmsg_size);
        if (r == 0 && json_object_set_new(role, bools[i], json_boolean(v)))
            r = KH_ENOMEM;
    }
    for (i = 0; r == 0 && i < KH_ARRAY_LEN(ttls); i++) {
        bool present = false;
        uint64_t s = 0;
        r = token_field_duration(req, ttls[i][0], &present, &s, errmsg,
                                 errmsg_size);
        if (r == 0 && !present)
            r = token_field_duration(req, ttls[i][1], &present, &s, errmsg,
                                     errmsg_size);
        if (r == 0 && present &&
            json_object_set_new(role, ttls[i][0],
                                json_integer((json_int_t)s)) != 0)
            r = KH_ENOMEM;
    }
    return r;
}

static int role_update_strings(const struct kh_request *req, json_t *role,
                               char *errmsg, size_t errmsg_size)
{
    static const char *const types[] = {"service", "batch", "default-service",
                                        "default-batch", "default"};
    const char *suffix = kh_request_string(req, "path_suffix");
    const char *type = kh_request_string(req, "token_type");
    size_t i;

    if (suffix != NULL) {
        if (strlen(suffix) > TOKEN_PATH_SUFFIX_MAX ||
            strstr(suffix, "..") != NULL)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"path_suffix\" must be at most %d bytes "
                             "without \"..\"",
                             TOKEN_PATH_SUFFIX_MAX);
        if (json_object_set_new(role, "path_suffix", json_string(suffix)))
            return KH_ENOMEM;
    }
    if (type == NULL)
        return 0;
    for (i = 0; i < KH_ARRAY_LEN(types); i++) {
        if (strcmp(type, types[i]) == 0)
            break;
    }
    if (i == KH_ARRAY_LEN(types))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid \"token_type\" \"%.32s\"", type);
    if (strcmp(type, "default") == 0)
        type = "default-service";
    return json_object_set_new(role, "token_type", json_string(type)) == 0
               ? 0
               : KH_ENOMEM;
}

static int role_store(struct token_store *store, const char *name,
                      const json_t *role)
{
    char key[TOKEN_KEY_BYTES + 64];
    char *text;
    int r;

    KH_ASSERT(role_well_formed(role));
    text = json_dumps(role, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return KH_ENOMEM;
    role_key(name, key);
    r = barrier_put(store->barrier, key, (const uint8_t *)text, strlen(text));
    free(text);
    return r;
}

int token_role_write(const struct backend_request *br, const char *name_in,
                     struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    struct token_store *store = br->core->tokens;
    char name[TOKEN_ROLE_NAME_MAX + 1];
    json_t *keep = NULL, *role = NULL;
    size_t i;
    int r;

    r = token_role_name_ok(name_in, name, errmsg, errmsg_size);
    if (r != 0)
        return r;
    keep = json_array();
    if (keep == NULL)
        return KH_ENOMEM;
    pthread_mutex_lock(&store->write_lock);
    r = token_role_load(store, name, &role);
    if (r == KH_ENOTFOUND) {
        role = role_defaults();
        r = role == NULL ? KH_ENOMEM : 0;
    }
    for (i = 0; r == 0 && i < KH_ARRAY_LEN(role_lists); i++)
        r = role_update_list(br->req, role, role_lists[i],
                             i == 5 ? "bound_cidrs" : NULL, keep, errmsg,
                             errmsg_size);
    if (r == 0)
        r = role_update_scalars(br->req, role, errmsg, errmsg_size);
    if (r == 0)
        r = role_update_strings(br->req, role, errmsg, errmsg_size);
    if (r == 0)
        r = role_store(store, name, role);
    pthread_mutex_unlock(&store->write_lock);
    json_decref(role);
    json_decref(keep);
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

int token_role_read(const struct backend_request *br, const char *name_in,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    char name[TOKEN_ROLE_NAME_MAX + 1];
    json_t *role = NULL;
    int r;

    r = token_role_name_ok(name_in, name, errmsg, errmsg_size);
    if (r == 0)
        r = token_role_load(br->core->tokens, name, &role);
    if (r == KH_ENOTFOUND)
        errmsg[0] = '\0';
    if (r != 0)
        return r;
    if (json_object_set_new(role, "name", json_string(name)) != 0 ||
        json_object_set(role, "period",
                        json_object_get(role, "token_period")) != 0 ||
        json_object_set(role, "explicit_max_ttl",
                        json_object_get(role, "token_explicit_max_ttl")) != 0 ||
        json_object_set(role, "bound_cidrs",
                        json_object_get(role, "token_bound_cidrs")) != 0) {
        json_decref(role);
        return KH_ENOMEM;
    }
    return kh_response_envelope(resp, br->req, role);
}

int token_role_delete(const struct backend_request *br, const char *name_in,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    char name[TOKEN_ROLE_NAME_MAX + 1];
    char key[TOKEN_KEY_BYTES + 64];
    int r;

    r = token_role_name_ok(name_in, name, errmsg, errmsg_size);
    if (r != 0)
        return r;
    role_key(name, key);
    r = barrier_delete(br->core->tokens->barrier, key);
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

int token_roles_list(const struct backend_request *br, struct kh_response *resp,
                     char *errmsg, size_t errmsg_size)
{
    struct kh_storage_list list = {0};
    json_t *keys, *data;
    size_t i;
    int r;

    (void)errmsg_size;
    errmsg[0] = '\0';
    r = barrier_list(br->core->tokens->barrier, TOKEN_ROLE_PREFIX, &list);
    if (r != 0)
        return r;
    r = KH_ENOTFOUND; /* no roles: 404 {"errors":[]} */
    keys = list.count > 0 ? json_array() : NULL;
    for (i = 0; keys != NULL && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0) {
            json_decref(keys);
            keys = NULL;
            r = KH_ENOMEM;
        }
    }
    kh_storage_list_free(&list);
    if (keys == NULL)
        return r;
    data = json_pack("{s:o}", "keys", keys);
    return data != NULL ? kh_response_envelope(resp, br->req, data) : KH_ENOMEM;
}
