/*
 * sys_policy.c - sys/policy (legacy), sys/policies/acl and
 * sys/capabilities* (Vault API: sys/policy, §3.4): the HTTP face of the
 * policy store (policy/policy_store.h) and of ACL evaluation (acl.h).
 *
 * Owns the request and response shapes: the "policy"/"rules" keys, name
 * lowercasing with its warning, base64-encoded policy text, `root` in
 * listings, data injected at the top level on the legacy paths. It must
 * never decide who may call it (the route table and the ACL gate do),
 * never store text the store did not parse, and never report capabilities
 * other than those acl_capabilities() computes.
 */
#include "core/sys/sys_policy.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/err.h"
#include "core/core.h"
#include "policy/policy_store.h"
#include "token/token_store.h"

#define LEGACY_PREFIX "sys/policy"
#define ACL_PREFIX    "sys/policies/acl"

static_assert(POLICY_NAME_BYTES_MAX < TOKEN_POLICY_NAME_MAX,
              "a stored policy name fits a token's policy list");
static_assert(ACL_POLICIES_MAX >= TOKEN_POLICIES_MAX,
              "every policy of a token fits one ACL");

/* The ":name" of prefix + "/" + name, lowercased into out; *ret_changed
 * says whether lowercasing changed it. Empty when the path ends at the
 * prefix (with or without '/'). */
static int path_name(const struct kh_request *req, const char *prefix,
                     char out[POLICY_NAME_BYTES_MAX + 1], bool *ret_changed,
                     char *errmsg, size_t errmsg_size)
{
    size_t plen = strlen(prefix), i, len;
    const char *name;

    KH_ASSERT(strncmp(req->path, prefix, plen) == 0);
    name = req->path + plen;
    if (*name == '/')
        name++;
    len = strlen(name);
    if (len > POLICY_NAME_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "policy name longer than %u bytes",
                         (unsigned)POLICY_NAME_BYTES_MAX);
    *ret_changed = false;
    for (i = 0; i < len; i++) {
        out[i] = (char)tolower((unsigned char)name[i]);
        *ret_changed = *ret_changed || out[i] != name[i];
    }
    out[len] = '\0';
    return 0;
}

/* ---- listing ---- */

/* Stored names plus "root" last, as Vault lists them. */
static int names_json(struct kh_core *core, json_t **ret)
{
    struct kh_storage_list list = {0};
    json_t *keys = json_array();
    size_t i;
    int r;

    if (keys == NULL)
        return KH_ENOMEM;
    r = policy_store_list(core->policies, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0)
            r = KH_ENOMEM;
    }
    if (r == 0 &&
        json_array_append_new(keys, json_string(POLICY_ROOT_NAME)) != 0)
        r = KH_ENOMEM;
    kh_storage_list_free(&list);
    if (r != 0) {
        json_decref(keys);
        return r;
    }
    *ret = keys;
    return 0;
}

int sys_policy_list(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    json_t *keys = NULL;
    int r;

    r = names_json(core, &keys);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "failed to list policies: %s",
                         kh_strerror(r));
    return kh_response_envelope_inject(
        resp, req, json_pack("{s:O, s:o}", "keys", keys, "policies", keys));
}

int sys_policies_acl_list(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    json_t *keys = NULL, *data;
    int r;

    r = names_json(core, &keys);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "failed to list policies: %s",
                         kh_strerror(r));
    data = json_pack("{s:o}", "keys", keys);
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(resp, req, data);
}

/* ---- read ---- */

/* data {name, <text_key>: text}; `root` reads as empty text (Vault). */
static int read_common(struct kh_core *core, const struct kh_request *req,
                       struct kh_response *resp, const char *prefix,
                       const char *text_key, bool inject, char *errmsg,
                       size_t errmsg_size)
{
    char name[POLICY_NAME_BYTES_MAX + 1];
    struct policy *p = NULL;
    json_t *data;
    bool changed;
    int r;

    r = path_name(req, prefix, name, &changed, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (strcmp(name, POLICY_ROOT_NAME) == 0) {
        data = json_pack("{s:s, s:s}", "name", name, text_key, "");
    } else {
        r = policy_store_get_compiled(core->policies, name, &p);
        if (r == KH_ENOTFOUND)
            return KH_ENOTFOUND; /* 404 {"errors":[]} */
        if (r != 0)
            return kh_errmsg(errmsg, errmsg_size, r,
                             "failed to read policy: %s", kh_strerror(r));
        data = json_pack("{s:s, s:s%}", "name", name, text_key, p->text,
                         p->text_len);
        policy_unref(p);
    }
    if (data == NULL)
        return KH_ENOMEM;
    return inject ? kh_response_envelope_inject(resp, req, data)
                  : kh_response_envelope(resp, req, data);
}

int sys_policy_read(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    /* GET sys/policy/ is the listing */
    if (strcmp(req->path, LEGACY_PREFIX "/") == 0)
        return sys_policy_list(core, req, resp, errmsg, errmsg_size);
    return read_common(core, req, resp, LEGACY_PREFIX, "rules", true, errmsg,
                       errmsg_size);
}

int sys_policies_acl_read(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    return read_common(core, req, resp, ACL_PREFIX, "policy", false, errmsg,
                       errmsg_size);
}

/* ---- write ---- */

/* The policy text of a request, decoded from base64 when it is valid
 * base64 whose decoding parses as a policy (Vault decodes any valid
 * base64). *ret is malloc'ed and NUL-terminated. */
static int policy_text(const char *name, const char *text, size_t len,
                       char **ret, size_t *ret_len)
{
    char errmsg[KH_ERRMSG_SIZE];
    size_t out_size = len / 4 * 3 + 4, out_len = 0;
    char *out = malloc(out_size > len ? out_size : len + 1);
    struct policy *p = NULL;
    bool decoded;

    if (out == NULL)
        return KH_ENOMEM;
    decoded = kh_base64_decode(text, len, (uint8_t *)out, out_size - 1,
                               &out_len) == 0;
    if (decoded &&
        policy_parse(name, out, out_len, &p, errmsg, sizeof(errmsg)) == 0) {
        policy_unref(p);
        out[out_len] = '\0';
        *ret = out;
        *ret_len = out_len;
        return 0;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    *ret = out;
    *ret_len = len;
    return 0;
}

/* A string field with its length, or NULL when absent, null or empty. */
static const char *field_text(const struct kh_request *req, const char *key,
                              size_t *ret_len)
{
    json_t *v = req->data != NULL ? json_object_get(req->data, key) : NULL;

    if (v == NULL || !json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    *ret_len = json_string_length(v);
    return json_string_value(v);
}

static int add_warning(json_t *warnings, const char *text)
{
    return json_array_append_new(warnings, json_string(text)) != 0 ? KH_ENOMEM
                                                                   : 0;
}

/* 204, or 200 with an envelope carrying the warnings. */
static int respond_warnings(struct kh_response *resp,
                            const struct kh_request *req, json_t *warnings)
{
    int r;

    if (json_array_size(warnings) == 0) {
        kh_response_no_content(resp);
        return 0;
    }
    r = kh_response_envelope(resp, req, NULL);
    if (r == 0 && json_object_set(resp->body, "warnings", warnings) != 0)
        r = KH_ENOMEM;
    return r;
}

static int write_common(struct kh_core *core, const struct kh_request *req,
                        struct kh_response *resp, const char *prefix,
                        bool legacy, char *errmsg, size_t errmsg_size)
{
    char name[POLICY_NAME_BYTES_MAX + 1];
    json_t *warnings = json_array();
    const char *raw;
    char *text = NULL;
    size_t raw_len = 0, len = 0;
    bool changed = false;
    int r = KH_ENOMEM;

    if (warnings == NULL)
        goto out;
    r = path_name(req, prefix, name, &changed, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = KH_EINVAL;
    if (name[0] == '\0') {
        kh_errmsg(errmsg, errmsg_size, r,
                  "policy name must be provided in the URL");
        goto out;
    }
    raw = field_text(req, "policy", &raw_len);
    if (raw == NULL && legacy) {
        raw = field_text(req, "rules", &raw_len);
        if (raw != NULL &&
            add_warning(warnings, "'rules' is deprecated, please use "
                                  "'policy' instead") != 0)
            goto out;
    }
    if (raw == NULL) {
        kh_errmsg(errmsg, errmsg_size, r,
                  "'policy' parameter not supplied or empty");
        goto out;
    }
    if (changed) {
        char warning[KH_ERRMSG_SIZE];
        snprintf(warning, sizeof(warning), "policy name was converted to %s",
                 name);
        if (add_warning(warnings, warning) != 0)
            goto out;
    }
    r = policy_text(name, raw, raw_len, &text, &len);
    if (r == 0)
        r = policy_store_put(core->policies, name, text, len, errmsg,
                             errmsg_size);
    if (r == 0)
        r = respond_warnings(resp, req, warnings);
out:
    free(text);
    json_decref(warnings);
    return r;
}

int sys_policy_write(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    return write_common(core, req, resp, LEGACY_PREFIX, true, errmsg,
                        errmsg_size);
}

int sys_policies_acl_write(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size)
{
    return write_common(core, req, resp, ACL_PREFIX, false, errmsg,
                        errmsg_size);
}

/* ---- delete ---- */

static int delete_common(struct kh_core *core, const struct kh_request *req,
                         struct kh_response *resp, const char *prefix,
                         char *errmsg, size_t errmsg_size)
{
    char name[POLICY_NAME_BYTES_MAX + 1];
    bool changed;
    int r;

    r = path_name(req, prefix, name, &changed, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (name[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "policy name must be provided in the URL");
    r = policy_store_delete(core->policies, name, errmsg, errmsg_size);
    if (r != 0)
        return r;
    kh_response_no_content(resp);
    return 0;
}

int sys_policy_delete(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    return delete_common(core, req, resp, LEGACY_PREFIX, errmsg, errmsg_size);
}

int sys_policies_acl_delete(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size)
{
    return delete_common(core, req, resp, ACL_PREFIX, errmsg, errmsg_size);
}

/* ---- capabilities ---- */

/* Append the comma-separated parts of a string to paths. */
static int split_csl(const char *s, json_t *paths)
{
    const char *comma;
    size_t n;

    for (;;) {
        comma = strchr(s, ',');
        n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (json_array_size(paths) >= SYS_CAPABILITIES_PATHS_MAX)
            return KH_ELIMIT;
        if (json_array_append_new(paths, json_stringn(s, n)) != 0)
            return KH_ENOMEM;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

/* "paths" (array or comma string), else the deprecated "path". */
static int request_paths(const struct kh_request *req, json_t **ret,
                         char *errmsg, size_t errmsg_size)
{
    json_t *v = json_object_get(req->data, "paths");
    json_t *paths = json_array(), *el;
    size_t i;
    int r = 0;

    if (paths == NULL)
        return KH_ENOMEM;
    if (v == NULL || json_is_null(v) ||
        (json_is_array(v) && json_array_size(v) == 0) ||
        (json_is_string(v) && json_string_length(v) == 0))
        v = json_object_get(req->data, "path");
    if (json_is_string(v) && json_string_length(v) > 0)
        r = split_csl(json_string_value(v), paths);
    json_array_foreach(json_is_array(v) ? v : NULL, i, el)
    {
        if (r == 0 && !json_is_string(el))
            r = KH_EINVAL;
        else if (r == 0 && i >= SYS_CAPABILITIES_PATHS_MAX)
            r = KH_ELIMIT;
        else if (r == 0 && json_array_append(paths, el) != 0)
            r = KH_ENOMEM;
    }
    if (r == 0 && json_array_size(paths) == 0)
        r = KH_EINVAL;
    if (r != 0) {
        json_decref(paths);
        if (r == KH_ELIMIT)
            return kh_errmsg(errmsg, errmsg_size, r,
                             "at most %u paths may be asked at once",
                             (unsigned)SYS_CAPABILITIES_PATHS_MAX);
        return r == KH_EINVAL
                   ? kh_errmsg(errmsg, errmsg_size, r, "paths must be supplied")
                   : r;
    }
    *ret = paths;
    return 0;
}

/* The ACL of a token entry (root, or its policies through the store). */
static int entry_acl(struct kh_core *core, const struct token_entry *entry,
                     struct acl **ret)
{
    const char *names[TOKEN_POLICIES_MAX];
    size_t i, count = entry->policy_count;

    if (entry->root)
        return acl_create(NULL, 0, true, ret);
    if (count > TOKEN_POLICIES_MAX)
        return KH_ECORRUPT;
    for (i = 0; i < count; i++)
        names[i] = entry->policies[i];
    return policy_store_acl_for(core->policies, names, count, ret);
}

/* The capabilities response of Vault API: sys/capabilities for a token entry. */
static int capabilities_reply(struct kh_core *core,
                              const struct kh_request *req,
                              const struct token_entry *entry,
                              struct kh_response *resp, char *errmsg,
                              size_t errmsg_size)
{
    json_t *paths = NULL, *data = NULL;
    struct acl *acl = NULL;
    size_t i;
    int r;

    r = request_paths(req, &paths, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = entry_acl(core, entry, &acl);
    if (r == 0 && (data = json_object()) == NULL)
        r = KH_ENOMEM;
    for (i = 0; r == 0 && i < json_array_size(paths); i++) {
        const char *p = json_string_value(json_array_get(paths, i));
        unsigned caps = acl_capabilities(acl, p[0] == '/' ? p + 1 : p);
        json_t *names = policy_caps_json(caps);
        /* "capabilities" too when exactly one path was asked (Vault) */
        if (names == NULL ||
            (json_array_size(paths) == 1 &&
             json_object_set(data, "capabilities", names) != 0) ||
            json_object_set_new(data, p, names) != 0)
            r = KH_ENOMEM;
    }
    acl_free(acl);
    json_decref(paths);
    if (r != 0) {
        json_decref(data);
        return kh_errmsg(errmsg, errmsg_size, r,
                         "failed to evaluate capabilities: %s", kh_strerror(r));
    }
    return kh_response_envelope_inject(resp, req, data);
}

int sys_capabilities_self(struct kh_core *core, const struct kh_request *req,
                          struct kh_response *resp, char *errmsg,
                          size_t errmsg_size)
{
    if (req->token_entry == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM, "permission denied");
    return capabilities_reply(core, req, req->token_entry, resp, errmsg,
                              errmsg_size);
}

int sys_capabilities(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    const char *token = kh_request_string(req, "token");
    struct token_entry entry;
    int r;

    if (token == NULL || token[0] == '\0')
        return sys_capabilities_self(core, req, resp, errmsg, errmsg_size);
    if (strlen(token) > TOKEN_ID_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid token");
    r = token_store_lookup(core->tokens, token, &entry);
    if (r == KH_EPERM || r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid token");
    if (r != 0)
        return r;
    return capabilities_reply(core, req, &entry, resp, errmsg, errmsg_size);
}

int sys_capabilities_accessor(struct kh_core *core,
                              const struct kh_request *req,
                              struct kh_response *resp, char *errmsg,
                              size_t errmsg_size)
{
    const char *accessor = kh_request_string(req, "accessor");
    struct token_entry entry;
    int r;

    if (accessor == NULL || accessor[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "missing accessor");
    if (strlen(accessor) > TOKEN_RANDOM_CHARS)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid accessor");
    r = token_store_lookup_accessor(core->tokens, accessor, &entry);
    if (r == KH_EPERM || r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid accessor");
    if (r != 0)
        return r;
    return capabilities_reply(core, req, &entry, resp, errmsg, errmsg_size);
}
