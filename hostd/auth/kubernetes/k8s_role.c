/*
 * k8s_role.c - Kubernetes roles (Vault API: Kubernetes auth "Roles"): role/:name
 * create, update, read, delete, LIST role; the stored role record; and
 * the binding of a service account name and namespace to a role ("*" and
 * '*' globs).
 *
 * Owns the role record and the binding rules. Writes run under the
 * mount's mutex (held by the caller). The glob matcher is iterative and
 * bounded by the entry and value sizes (253 bytes each): no recursion
 * over input.
 */
#include "auth/kubernetes/kubernetes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authutil.h"
#include "common/err.h"

#define ALIAS_UID  "serviceaccount_uid"
#define ALIAS_NAME "serviceaccount_name"

static bool name_char(char c, bool edge)
{
    if (isalnum((unsigned char)c) || c == '_')
        return true;
    return !edge && (c == '-' || c == '.');
}

int k8s_role_name_check(const char *name, size_t len,
                        char out[K8S_ROLE_NAME_BYTES_MAX + 1], char *errmsg,
                        size_t errmsg_size)
{
    size_t i;

    KH_ASSERT(name != NULL);
    if (len == 0 || len > K8S_ROLE_NAME_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "role name must be 1 to %d bytes",
                         K8S_ROLE_NAME_BYTES_MAX);
    for (i = 0; i < len; i++) {
        if (!name_char(name[i], i == 0 || i == len - 1))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid role name: use letters, digits, '_', "
                             "'-' and '.', starting and ending with a "
                             "letter, digit or '_'");
        out[i] = (char)tolower((unsigned char)name[i]);
    }
    out[len] = '\0';
    return 0;
}

static int role_key(char out[K8S_KEY_BYTES_MAX], const char *name)
{
    int n = snprintf(out, K8S_KEY_BYTES_MAX, "role/%s", name);

    return n < 0 || n >= K8S_KEY_BYTES_MAX ? KH_ELIMIT : 0;
}

/* ---- binding ---- */

bool k8s_glob_match(const char *pattern, const char *value)
{
    const char *p = pattern, *s = value, *star = NULL, *resume = NULL;

    KH_ASSERT(pattern != NULL);
    KH_ASSERT(value != NULL);
    while (*s != '\0') {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star != NULL) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool k8s_bound_match(const struct k8s_bound *bound, const char *value)
{
    size_t i;

    KH_ASSERT(bound->count <= K8S_BOUND_ITEMS_MAX);
    if (value[0] == '\0')
        return false;
    for (i = 0; i < bound->count; i++) {
        if (k8s_glob_match(bound->items[i], value))
            return true;
    }
    return false;
}

/* ---- fields ---- */

static bool bound_item_ok(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!isgraph((unsigned char)s[i]) || s[i] == ',')
            return false;
    }
    return len > 0;
}

/* Append s[0..len) trimmed (empties dropped, duplicates kept once). */
static int bound_add(struct k8s_bound *b, const char *name, const char *s,
                     size_t len, char *errmsg, size_t errmsg_size)
{
    size_t i;

    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if (len > K8S_BOUND_ITEM_BYTES_MAX || !bound_item_ok(s, len))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\": entries are 1 to %d printable bytes "
                         "without spaces",
                         name, K8S_BOUND_ITEM_BYTES_MAX);
    for (i = 0; i < b->count; i++) {
        if (strlen(b->items[i]) == len && memcmp(b->items[i], s, len) == 0)
            return 0;
    }
    if (b->count == K8S_BOUND_ITEMS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" has more than %d entries", name,
                         K8S_BOUND_ITEMS_MAX);
    memcpy(b->items[b->count], s, len);
    b->items[b->count][len] = '\0';
    b->count++;
    return 0;
}

/* A CSL string or an array of strings into *ret (when present). */
static int bound_field(const json_t *obj, const char *name,
                       struct k8s_bound *ret, char *errmsg, size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, name);
    struct k8s_bound b;
    const char *s, *comma;
    size_t i;
    int r = 0;

    if (v == NULL)
        return 0;
    memset(&b, 0, sizeof(b));
    if (json_is_string(v)) {
        s = json_string_value(v);
        comma = s;
        for (i = 0; r == 0 && comma != NULL; i++) {
            if (i == TOKENUTIL_CSL_ITEMS_MAX)
                return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                                 "\"%s\" has more than %d items", name,
                                 TOKENUTIL_CSL_ITEMS_MAX);
            comma = strchr(s, ',');
            r = bound_add(&b, name, s, comma ? (size_t)(comma - s) : strlen(s),
                          errmsg, errmsg_size);
            if (comma != NULL)
                s = comma + 1;
        }
    } else if (json_is_array(v)) {
        for (i = 0; r == 0 && i < json_array_size(v); i++) {
            const json_t *item = json_array_get(v, i);
            if (!json_is_string(item))
                return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                                 "\"%s\" must be a list of strings", name);
            r = bound_add(&b, name, json_string_value(item),
                          json_string_length(item), errmsg, errmsg_size);
        }
    } else {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "\"%s\" must be a list of strings", name);
    }
    if (r == 0)
        *ret = b;
    return r;
}

static int audience_alias_fields(const json_t *obj, struct k8s_role *role,
                                 char *errmsg, size_t errmsg_size)
{
    const json_t *aud = tokenutil_field(obj, "audience");
    const json_t *src = tokenutil_field(obj, "alias_name_source");

    if (aud != NULL &&
        (!json_is_string(aud) ||
         json_string_length(aud) > K8S_AUDIENCE_BYTES_MAX ||
         strlen(json_string_value(aud)) != json_string_length(aud)))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"audience\" must be a string of at most %d bytes",
                         K8S_AUDIENCE_BYTES_MAX);
    if (src != NULL && (!json_is_string(src) ||
                        (strcmp(json_string_value(src), ALIAS_UID) != 0 &&
                         strcmp(json_string_value(src), ALIAS_NAME) != 0)))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"alias_name_source\" must be \"" ALIAS_UID
                         "\" or \"" ALIAS_NAME "\"");
    if (aud != NULL)
        memcpy(role->audience, json_string_value(aud),
               json_string_length(aud) + 1);
    if (src != NULL)
        role->alias_by_name = strcmp(json_string_value(src), ALIAS_NAME) == 0;
    return 0;
}

static bool bound_has_star(const struct k8s_bound *b)
{
    size_t i;

    for (i = 0; i < b->count; i++) {
        if (strcmp(b->items[i], "*") == 0)
            return true;
    }
    return false;
}

/* Vault's rules on the two lists: both required, "*" alone, not both. */
static int role_validate(const struct k8s_role *role, char *errmsg,
                         size_t errmsg_size)
{
    if (role->names.count == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"bound_service_account_names\" can not be empty");
    if (role->namespaces.count == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"bound_service_account_namespaces\" can not be "
                         "empty");
    if ((bound_has_star(&role->names) && role->names.count > 1) ||
        (bound_has_star(&role->namespaces) && role->namespaces.count > 1))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "can not mix \"*\" with values");
    if (bound_has_star(&role->names) && bound_has_star(&role->namespaces))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "service_account_names and "
                         "service_account_namespaces can not both be \"*\"");
    return 0;
}

/* Apply the fields present in obj onto role, then validate. */
static int role_parse(const json_t *obj, struct k8s_role *role, char *errmsg,
                      size_t errmsg_size)
{
    int r;

    r = bound_field(obj, "bound_service_account_names", &role->names, errmsg,
                    errmsg_size);
    if (r == 0)
        r = bound_field(obj, "bound_service_account_namespaces",
                        &role->namespaces, errmsg, errmsg_size);
    if (r == 0)
        r = audience_alias_fields(obj, role, errmsg, errmsg_size);
    if (r == 0)
        r = tokenutil_parse(&role->token, obj, errmsg, errmsg_size);
    if (r == 0)
        r = role_validate(role, errmsg, errmsg_size);
    return r;
}

static json_t *bound_json(const struct k8s_bound *b)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < b->count; i++) {
        if (json_array_append_new(a, json_string(b->items[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The fields shared by the stored form and the read view. */
static json_t *role_json(const struct k8s_role *role)
{
    return json_pack(
        "{s:o, s:o, s:s, s:s}", "bound_service_account_names",
        bound_json(&role->names), "bound_service_account_namespaces",
        bound_json(&role->namespaces), "audience", role->audience,
        "alias_name_source", role->alias_by_name ? ALIAS_NAME : ALIAS_UID);
}

/* ---- storage ---- */

int k8s_role_load(const struct barrier_view *view, const char *name,
                  struct k8s_role *ret)
{
    char key[K8S_KEY_BYTES_MAX], msg[KH_ERRMSG_SIZE];
    struct k8s_role *role = NULL;
    uint8_t *value = NULL;
    json_t *obj = NULL;
    size_t len = 0;
    int r;

    r = role_key(key, name);
    if (r == 0)
        r = view_get(view, key, &value, &len);
    if (r != 0)
        goto out;
    role = calloc(1, sizeof(*role));
    r = KH_ENOMEM;
    if (role == NULL)
        goto out;
    tokenutil_init(&role->token);
    snprintf(role->name, sizeof(role->name), "%s", name);
    obj = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    r = json_is_object(obj) ? role_parse(obj, role, msg, sizeof(msg))
                            : KH_ECORRUPT;
    if (r != 0 && r != KH_ENOMEM)
        r = KH_ECORRUPT;
    if (r == 0)
        *ret = *role;
out:
    json_decref(obj);
    free(role);
    free(value);
    return r;
}

static int role_save(const struct k8s_call *call, const struct k8s_role *role)
{
    char key[K8S_KEY_BYTES_MAX];
    char *text = NULL;
    json_t *obj;
    int r = KH_ENOMEM;

    KH_ASSERT(role->names.count > 0);
    KH_ASSERT(role->namespaces.count > 0);
    obj = role_json(role);
    if (obj == NULL || tokenutil_encode(&role->token, obj) != 0)
        goto out;
    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL)
        goto out;
    r = role_key(key, role->name);
    if (r == 0)
        r = view_put(call->br->view, key, (const uint8_t *)text, strlen(text));
out:
    free(text);
    json_decref(obj);
    return r;
}

/* ---- handlers ---- */

int k8s_role_list(const struct k8s_call *call)
{
    json_t *data = NULL;
    int r;

    r = auth_list_keys(call->br->view, "role/", &data);
    return r != 0 ? r : k8s_respond(call, data);
}

int k8s_role_read(const struct k8s_call *call)
{
    struct k8s_role *role;
    json_t *data = NULL;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = k8s_role_load(call->br->view, call->role, role);
    if (r == KH_ENOTFOUND)
        call->errmsg[0] = '\0'; /* Vault: 404 {"errors":[]} */
    if (r == 0) {
        data = role_json(role);
        r = data != NULL ? tokenutil_describe(&role->token, data) : KH_ENOMEM;
    }
    if (r == 0) {
        r = k8s_respond(call, data);
        data = NULL;
    }
    json_decref(data);
    free(role);
    return r;
}

int k8s_role_write(const struct k8s_call *call)
{
    struct k8s_role *role;
    int r;

    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = k8s_role_load(call->br->view, call->role, role);
    if (r == KH_ENOTFOUND) {
        memset(role, 0, sizeof(*role));
        snprintf(role->name, sizeof(role->name), "%s", call->role);
        tokenutil_init(&role->token);
        r = 0;
    }
    if (r == 0)
        r = role_parse(call->br->req->data, role, call->errmsg,
                       call->errmsg_size);
    if (r == 0)
        r = role_save(call, role);
    if (r == 0)
        kh_response_no_content(call->resp);
    free(role);
    return r;
}

int k8s_role_delete(const struct k8s_call *call)
{
    char key[K8S_KEY_BYTES_MAX];
    int r;

    r = role_key(key, call->role);
    if (r == 0)
        r = view_delete(call->br->view, key);
    if (r == KH_ENOTFOUND)
        r = 0;
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

int k8s_role_exists(const struct k8s_call *call, bool *ret_exists)
{
    char key[K8S_KEY_BYTES_MAX];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = role_key(key, call->role);
    if (r == 0)
        r = view_get(call->br->view, key, &value, &len);
    free(value);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    return 0;
}
