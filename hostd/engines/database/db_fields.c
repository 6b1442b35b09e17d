/*
 * db_fields.c - request fields of the database engine with Vault's lenient
 * typing (Vault API: request body rules, §6.3): statement lists in their four
 * accepted shapes, comma-separated lists, TDS durations, names, the
 * allowed_roles check and the validation of a connection's settings.
 *
 * Pure functions over JSON values: no storage, no libpq, no logging. Each
 * enforces the limits of database.h where the data enters.
 */
#include "engines/database/database.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"

/* Copy of s without surrounding white space, or NULL (ENOMEM). */
static char *trimmed(const char *s, size_t len)
{
    char *out;

    while (len > 0 && isspace((unsigned char)s[0])) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* Append a statement string, enforcing the limits. */
static int statements_add(json_t *list, const char *text, const char *field,
                          char *errmsg, size_t errmsg_size)
{
    char *t = trimmed(text, strlen(text));
    int r = KH_ENOMEM;

    if (t == NULL)
        return KH_ENOMEM;
    if (t[0] == '\0') {
        r = 0; /* empty items are dropped */
        goto out;
    }
    r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                  "\"%s\": a statement is longer than %u bytes", field,
                  DB_STATEMENT_BYTES_MAX);
    if (strlen(t) > DB_STATEMENT_BYTES_MAX)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                  "\"%s\": more than %d statements", field, DB_STATEMENTS_MAX);
    if (json_array_size(list) >= DB_STATEMENTS_MAX)
        goto out;
    r = json_array_append_new(list, json_string(t)) == 0 ? 0 : KH_ENOMEM;
out:
    free(t);
    return r;
}

/* A whole string that is base64 of printable text: its decoding. */
static char *base64_text(const char *s)
{
    size_t len = strlen(s), out_len = 0, i;
    uint8_t *out;

    if (len == 0 || len % 4 != 0 || len > DB_STATEMENT_BYTES_MAX)
        return NULL;
    for (i = 0; i < len; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' &&
            s[i] != '=')
            return NULL;
    }
    out = malloc(len + 1);
    if (out == NULL || kh_base64_decode(s, len, out, len, &out_len) != 0)
        goto bad;
    for (i = 0; i < out_len; i++) {
        if (out[i] == 0 || (out[i] < 0x20 && !isspace(out[i])) ||
            out[i] == 0x7f)
            goto bad;
    }
    out[out_len] = '\0';
    return (char *)out;
bad:
    free(out);
    return NULL;
}

/* A string field: JSON-array text, base64 text, or the statement. */
static int statements_from_string(json_t *list, const char *s,
                                  const char *field, char *errmsg,
                                  size_t errmsg_size)
{
    json_t *parsed = NULL;
    char *decoded = NULL;
    size_t i;
    int r;

    while (isspace((unsigned char)*s))
        s++;
    if (s[0] == '[')
        parsed = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_array(parsed)) {
        r = 0;
        for (i = 0; r == 0 && i < json_array_size(parsed); i++) {
            const json_t *v = json_array_get(parsed, i);
            r = json_is_string(v)
                    ? statements_add(list, json_string_value(v), field, errmsg,
                                     errmsg_size)
                    : kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                                "\"%s\" must hold strings", field);
        }
        json_decref(parsed);
        return r;
    }
    json_decref(parsed);
    decoded = base64_text(s);
    r = statements_add(list, decoded != NULL ? decoded : s, field, errmsg,
                       errmsg_size);
    free(decoded);
    return r;
}

int db_fields_statements(const json_t *value, const char *field, json_t **ret,
                         char *errmsg, size_t errmsg_size)
{
    json_t *list;
    size_t i;
    int r = 0;

    KH_ASSERT(field != NULL);
    KH_ASSERT(ret != NULL);
    if (value == NULL || json_is_null(value)) {
        *ret = NULL;
        return 0;
    }
    if (!json_is_array(value) && !json_is_string(value))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a list of statements", field);
    list = json_array();
    if (list == NULL)
        return KH_ENOMEM;
    if (json_is_string(value))
        r = statements_from_string(list, json_string_value(value), field,
                                   errmsg, errmsg_size);
    for (i = 0; r == 0 && json_is_array(value) && i < json_array_size(value);
         i++) {
        const json_t *v = json_array_get(value, i);
        r = json_is_string(v) ? statements_add(list, json_string_value(v),
                                               field, errmsg, errmsg_size)
                              : kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                                          "\"%s\" must hold strings", field);
    }
    if (r != 0) {
        json_decref(list);
        return r;
    }
    *ret = list;
    return 0;
}

/* Split one comma-separated string into list. */
static int csl_split(json_t *list, const char *s, const char *field, size_t max,
                     char *errmsg, size_t errmsg_size)
{
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char *item = trimmed(s, n);
        int r = 0;
        if (item == NULL)
            return KH_ENOMEM;
        if (item[0] != '\0' && json_array_size(list) >= max)
            r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                          "\"%s\": more than %zu entries", field, max);
        else if (item[0] != '\0' &&
                 json_array_append_new(list, json_string(item)) != 0)
            r = KH_ENOMEM;
        free(item);
        if (r != 0)
            return r;
        s += n + (comma != NULL ? 1 : 0);
    }
    return 0;
}

int db_fields_csl(const json_t *value, const char *field, size_t max,
                  json_t **ret, char *errmsg, size_t errmsg_size)
{
    json_t *list = json_array();
    size_t i;
    int r = 0;

    KH_ASSERT(field != NULL);
    KH_ASSERT(max > 0);
    if (list == NULL)
        return KH_ENOMEM;
    if (json_is_string(value))
        r = csl_split(list, json_string_value(value), field, max, errmsg,
                      errmsg_size);
    else if (json_is_array(value))
        for (i = 0; r == 0 && i < json_array_size(value); i++) {
            const json_t *v = json_array_get(value, i);
            r = json_is_string(v)
                    ? csl_split(list, json_string_value(v), field, max, errmsg,
                                errmsg_size)
                    : kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                                "\"%s\" must hold strings", field);
        }
    else if (value != NULL && !json_is_null(value))
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "\"%s\" must be a comma-separated list", field);
    if (r != 0) {
        json_decref(list);
        return r;
    }
    *ret = list;
    return 0;
}

int db_fields_duration(const json_t *value, const char *field, uint64_t max_s,
                       uint64_t *ret, char *errmsg, size_t errmsg_size)
{
    uint64_t seconds = 0;

    if (json_is_integer(value) && json_integer_value(value) >= 0)
        seconds = (uint64_t)json_integer_value(value);
    else if (!json_is_string(value) ||
             kh_duration_parse(json_string_value(value), &seconds) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a duration such as \"1h\"", field);
    if (seconds > max_s)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" must be at most %llu seconds", field,
                         (unsigned long long)max_s);
    *ret = seconds;
    return 0;
}

static bool name_edge_ok(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

bool db_name_valid(const char *name)
{
    size_t n, i;

    if (name == NULL)
        return false;
    n = strlen(name);
    if (n == 0 || n > DB_NAME_BYTES_MAX || !name_edge_ok(name[0]) ||
        !name_edge_ok(name[n - 1]))
        return false;
    for (i = 0; i < n; i++) {
        if (!name_edge_ok(name[i]) && name[i] != '-' && name[i] != '.')
            return false;
    }
    return true;
}

bool db_role_allowed(const json_t *allowed_roles, const char *role)
{
    size_t i;

    for (i = 0; i < json_array_size(allowed_roles); i++) {
        const char *a = json_string_value(json_array_get(allowed_roles, i));
        size_t n = a != NULL ? strlen(a) : 0;
        if (a == NULL || n == 0)
            continue;
        if (strcmp(a, role) == 0 || strcmp(a, "*") == 0)
            return true;
        /* "prefix*" allows every role that starts with prefix */
        if (a[n - 1] == '*' && strncmp(a, role, n - 1) == 0)
            return true;
    }
    return false;
}

int db_config_validate(const char *plugin_name, const struct db_config *cfg,
                       char *errmsg, size_t errmsg_size)
{
    KH_ASSERT(cfg != NULL);
    KH_ASSERT(errmsg != NULL);
    if (plugin_name == NULL || strcmp(plugin_name, DB_PLUGIN_POSTGRES) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "plugin_name must be \"%s\"", DB_PLUGIN_POSTGRES);
    if (cfg->connection_url == NULL || cfg->connection_url[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "connection_url is required");
    if (strlen(cfg->connection_url) > DB_URL_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "connection_url is longer than %d bytes",
                         DB_URL_BYTES_MAX);
    if (cfg->username != NULL && strlen(cfg->username) > DB_USERNAME_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "username is longer than %d bytes",
                         DB_USERNAME_BYTES_MAX);
    if (cfg->password != NULL &&
        strlen(cfg->password) > DB_ROOT_PASSWORD_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "password is longer than %d bytes",
                         DB_ROOT_PASSWORD_BYTES_MAX);
    if (cfg->max_open_connections < 1 ||
        cfg->max_open_connections > DB_OPEN_CONNECTIONS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "max_open_connections must be 1..%d",
                         DB_OPEN_CONNECTIONS_MAX);
    if (strstr(cfg->connection_url, "{{password}}") != NULL &&
        (cfg->password == NULL || cfg->password[0] == '\0'))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "connection_url uses {{password}} but no password "
                         "is set");
    return 0;
}
