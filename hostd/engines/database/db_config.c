/*
 * db_config.c - database/config/:name (connections) and database/reset/:name
 * (Vault API: database engine): create and update with Vault's merge of absent
 * fields, verify_connection, read without the password, list, delete.
 *
 * Owns the mapping between request fields and struct db_config. The root
 * password is stored through the barrier and never returned, logged or put
 * in an error message. A change drops the connection pool, so the next
 * request connects with the new settings.
 */
#include "engines/database/database.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define DB_LITERAL_PASSWORD_WARNING                                            \
    "Password found in connection_url, use a templated url to enable root "    \
    "rotation and prevent read access to password information."

/* Replace *dst with a copy of the string field name when present. */
static int take_string(const struct kh_request *req, const char *name,
                       bool secret, char **dst, char *errmsg,
                       size_t errmsg_size)
{
    const json_t *v = json_object_get(req->data, name);
    char *copy;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a string", name);
    copy = strdup(json_string_value(v));
    if (copy == NULL)
        return KH_ENOMEM;
    if (*dst != NULL && secret)
        kh_free_secret(*dst, strlen(*dst));
    else
        free(*dst);
    *dst = copy;
    return 0;
}

/* password_authentication: "password" (default) or "scram-sha-256". */
static int take_password_auth(const struct kh_request *req, bool *scram,
                              char *errmsg, size_t errmsg_size)
{
    const json_t *v = json_object_get(req->data, "password_authentication");
    const char *s = json_string_value(v);

    if (v == NULL || json_is_null(v))
        return 0;
    if (s != NULL && (strcmp(s, "password") == 0 || s[0] == '\0')) {
        *scram = false;
        return 0;
    }
    if (s != NULL && strcmp(s, "scram-sha-256") == 0) {
        *scram = true;
        return 0;
    }
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "\"password_authentication\" must be \"password\" or "
                     "\"scram-sha-256\"");
}

/* Apply the request's fields over c (the stored config or defaults). */
static int config_apply(const struct kh_request *req, struct db_config *c,
                        char *errmsg, size_t errmsg_size)
{
    const json_t *data = req->data;
    unsigned long long max_open = c->max_open_connections;
    json_t *list = NULL;
    bool had_password = false;
    int r;

    had_password = json_is_string(json_object_get(data, "password"));
    if ((r = take_string(req, "connection_url", false, &c->connection_url,
                         errmsg, errmsg_size)) ||
        (r = take_string(req, "username", false, &c->username, errmsg,
                         errmsg_size)) ||
        (r = take_string(req, "password", true, &c->password, errmsg,
                         errmsg_size)) ||
        (r = kh_request_bool(req, "verify_connection", true,
                             &c->verify_connection, errmsg, errmsg_size)) ||
        (r = kh_request_uint(req, "max_open_connections", max_open,
                             DB_OPEN_CONNECTIONS_MAX, &max_open, errmsg,
                             errmsg_size)) ||
        (r = take_password_auth(req, &c->scram, errmsg, errmsg_size)))
        return r;
    c->max_open_connections = (unsigned)max_open;
    if (had_password && c->password_pending != NULL) {
        kh_free_secret(c->password_pending, strlen(c->password_pending));
        c->password_pending = NULL;
    }
    if (json_object_get(data, "allowed_roles") != NULL) {
        r = db_fields_csl(json_object_get(data, "allowed_roles"),
                          "allowed_roles", DB_ALLOWED_ROLES_MAX, &list, errmsg,
                          errmsg_size);
        if (r != 0)
            return r;
        json_decref(c->allowed_roles);
        c->allowed_roles = list;
    }
    r = db_fields_statements(json_object_get(data, "root_rotation_statements"),
                             "root_rotation_statements", &list, errmsg,
                             errmsg_size);
    if (r == 0 && list != NULL) {
        json_decref(c->root_rotation);
        c->root_rotation = list;
    }
    return r;
}

/* Connect once with the new settings (verify_connection). */
static int config_verify(const struct db_config *c, char *errmsg,
                         size_t errmsg_size)
{
    char inner[KH_ERRMSG_SIZE] = "";
    struct pg_conn *pg = NULL;
    int r;

    r = db_connect_direct(c, NULL, &pg, inner, sizeof(inner));
    db_connect_close(pg);
    if (r == 0)
        return 0;
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "error creating database object: %s",
                     inner[0] ? inner : kh_strerror(r));
}

int db_config_write(const struct db_call *call)
{
    const struct kh_request *req = call->br->req;
    struct db_config c = {0};
    const char *plugin = kh_request_string(req, "plugin_name");
    bool exists;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(&call->state->records_lock);
    r = db_config_load(&call->state->view, call->name, &c);
    exists = r == 0;
    if (r == KH_ENOTFOUND) {
        c.max_open_connections = DB_OPEN_CONNECTIONS_DEFAULT;
        r = 0;
    }
    if (r != 0)
        goto out;
    if (plugin == NULL && exists)
        plugin = DB_PLUGIN_POSTGRES;
    if ((r = config_apply(req, &c, call->errmsg, call->errmsg_size)) ||
        (r = db_config_validate(plugin, &c, call->errmsg, call->errmsg_size)))
        goto out;
    if (c.verify_connection &&
        (r = config_verify(&c, call->errmsg, call->errmsg_size)) != 0)
        goto out;
    r = db_config_store(&call->state->view, call->name, &c);
    if (r != 0)
        goto out;
    db_pool_invalidate(call->state, call->name);
    if (db_url_has_literal_password(c.connection_url)) {
        r = kh_response_envelope(call->resp, req, NULL);
        if (r == 0 && json_object_set_new(
                          call->resp->body, "warnings",
                          json_pack("[s]", DB_LITERAL_PASSWORD_WARNING)) != 0)
            r = KH_ENOMEM;
        goto out;
    }
    kh_response_no_content(call->resp);
    r = 0; /* success */
out:
    pthread_mutex_unlock(&call->state->records_lock);
    db_config_clear(&c);
    return r;
}

int db_config_read(const struct db_call *call)
{
    struct db_config c = {0};
    json_t *data;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    r = db_config_load(&call->state->view, call->name, &c);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ENOTFOUND, "%s",
                         "");
    if (r != 0)
        return r;
    data = json_pack(
        "{s:s, s:s, s:O, s:{s:s, s:s, s:i, s:s}, s:s, s:O, s:b}", "plugin_name",
        DB_PLUGIN_POSTGRES, "plugin_version", "", "allowed_roles",
        c.allowed_roles, "connection_details", "connection_url",
        c.connection_url, "username", c.username != NULL ? c.username : "",
        "max_open_connections", (int)c.max_open_connections,
        "password_authentication", c.scram ? "scram-sha-256" : "password",
        "password_policy", "", "root_credentials_rotate_statements",
        c.root_rotation, "verify_connection", c.verify_connection);
    db_config_clear(&c);
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

int db_config_delete(const struct db_call *call)
{
    int r;

    r = db_call_delete(call, &call->state->records_lock, "config");
    if (r != 0)
        return r;
    db_pool_invalidate(call->state, call->name);
    kh_response_no_content(call->resp);
    return 0;
}

int db_config_list(const struct db_call *call)
{
    KH_ASSERT(call->br->req->op == KH_OP_LIST);
    return db_call_list(call, "config");
}

int db_reset_write(const struct db_call *call)
{
    bool exists = false;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    r = db_record_exists(&call->state->view, "config", call->name, &exists);
    if (r != 0)
        return r;
    if (!exists)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "no database connection named \"%s\"", call->name);
    db_pool_invalidate(call->state, call->name);
    kh_response_no_content(call->resp);
    return 0;
}
