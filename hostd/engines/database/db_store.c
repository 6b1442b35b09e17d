/*
 * db_store.c - the database engine's records in its barrier view
 * (config/<name>, role/<name>, static-role/<name>) and their JSON
 * encoding.
 *
 * Owns the record layout and the checks a loaded record must pass before
 * anything uses it, and the LIST and DELETE steps the config, role and
 * static-role handlers share. Never touches PostgreSQL. Records may hold
 * passwords: every serialised buffer and loaded value is wiped before it
 * is freed.
 */
#include "engines/database/database.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define DB_KEY_BYTES (32 + DB_NAME_BYTES_MAX)

static int record_key(const char *kind, const char *name,
                      char key[DB_KEY_BYTES])
{
    if (!db_name_valid(name))
        return KH_EINVAL;
    snprintf(key, DB_KEY_BYTES, "%s/%s", kind, name);
    return 0;
}

/* Load and parse kind/name. */
static int record_get(const struct barrier_view *view, const char *kind,
                      const char *name, json_t **ret)
{
    char key[DB_KEY_BYTES];
    uint8_t *bytes = NULL;
    size_t len = 0;
    json_t *doc;
    int r;

    r = record_key(kind, name, key);
    if (r != 0)
        return r;
    r = view_get(view, key, &bytes, &len);
    if (r != 0)
        return r;
    doc = json_loadb((const char *)bytes, len, 0, NULL);
    kh_free_secret(bytes, len);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return KH_ECORRUPT;
    }
    *ret = doc;
    return 0;
}

/* Serialise doc (stolen) and store it at kind/name. */
static int record_put(const struct barrier_view *view, const char *kind,
                      const char *name, json_t *doc)
{
    char key[DB_KEY_BYTES];
    char *text = NULL;
    int r;

    if (doc == NULL)
        return KH_ENOMEM;
    r = record_key(kind, name, key);
    if (r == 0) {
        text = json_dumps(doc, JSON_COMPACT);
        r = text != NULL
                ? view_put(view, key, (const uint8_t *)text, strlen(text))
                : KH_ENOMEM;
    }
    if (text != NULL)
        kh_free_secret(text, strlen(text));
    json_decref(doc);
    return r;
}

/* A string member (copied) or NULL; KH_ECORRUPT when not a string. */
static int member_strdup(const json_t *doc, const char *key, bool required,
                         char **ret)
{
    const json_t *v = json_object_get(doc, key);

    *ret = NULL;
    if (v == NULL || json_is_null(v))
        return required ? KH_ECORRUPT : 0;
    if (!json_is_string(v))
        return KH_ECORRUPT;
    *ret = strdup(json_string_value(v));
    return *ret != NULL ? 0 : KH_ENOMEM;
}

/* An array member (new reference); an empty array when absent. */
static int member_array(const json_t *doc, const char *key, json_t **ret)
{
    json_t *v = json_object_get(doc, key);

    if (v != NULL && !json_is_array(v))
        return KH_ECORRUPT;
    *ret = v != NULL ? json_incref(v) : json_array();
    return *ret != NULL ? 0 : KH_ENOMEM;
}

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *array_or_empty(json_t *a)
{
    return a != NULL ? json_incref(a) : json_array();
}

void db_config_clear(struct db_config *config)
{
    if (config == NULL)
        return;
    free(config->connection_url);
    free(config->username);
    if (config->password != NULL)
        kh_free_secret(config->password, strlen(config->password));
    if (config->password_pending != NULL)
        kh_free_secret(config->password_pending,
                       strlen(config->password_pending));
    json_decref(config->allowed_roles);
    json_decref(config->root_rotation);
    memset(config, 0, sizeof(*config));
}

int db_config_load(const struct barrier_view *view, const char *name,
                   struct db_config *ret)
{
    struct db_config c = {0};
    json_t *doc = NULL;
    json_int_t max_open;
    int r;

    r = record_get(view, "config", name, &doc);
    if (r != 0)
        return r;
    if ((r = member_strdup(doc, "connection_url", true, &c.connection_url)) ||
        (r = member_strdup(doc, "username", false, &c.username)) ||
        (r = member_strdup(doc, "password", false, &c.password)) ||
        (r = member_strdup(doc, "password_pending", false,
                           &c.password_pending)) ||
        (r = member_array(doc, "allowed_roles", &c.allowed_roles)) ||
        (r = member_array(doc, "root_rotation_statements", &c.root_rotation)))
        goto out;
    r = KH_ECORRUPT;
    max_open = json_integer_value(json_object_get(doc, "max_open_connections"));
    if (max_open < 1 || max_open > DB_OPEN_CONNECTIONS_MAX)
        goto out;
    c.max_open_connections = (unsigned)max_open;
    c.verify_connection =
        json_is_true(json_object_get(doc, "verify_connection"));
    c.scram = json_is_true(json_object_get(doc, "scram"));
    *ret = c;
    memset(&c, 0, sizeof(c));
    r = 0; /* success */
out:
    db_config_clear(&c);
    json_decref(doc);
    return r;
}

int db_config_store(const struct barrier_view *view, const char *name,
                    const struct db_config *c)
{
    KH_ASSERT(c->connection_url != NULL);
    KH_ASSERT(c->max_open_connections >= 1);
    return record_put(
        view, "config", name,
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:b, s:i}",
                  "connection_url", c->connection_url, "username",
                  string_or_null(c->username), "password",
                  string_or_null(c->password), "password_pending",
                  string_or_null(c->password_pending), "allowed_roles",
                  array_or_empty(c->allowed_roles), "root_rotation_statements",
                  array_or_empty(c->root_rotation), "verify_connection",
                  c->verify_connection, "scram", c->scram,
                  "max_open_connections", (int)c->max_open_connections));
}

void db_role_clear(struct db_role *role)
{
    if (role == NULL)
        return;
    json_decref(role->creation);
    json_decref(role->revocation);
    json_decref(role->rollback);
    json_decref(role->renew);
    memset(role, 0, sizeof(*role));
}

/* A TTL member in 0..DB_TTL_MAX_S. */
static int member_ttl(const json_t *doc, const char *key, uint64_t *ret)
{
    const json_t *v = json_object_get(doc, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > DB_TTL_MAX_S)
        return KH_ECORRUPT;
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

/* A db_name member into a fixed buffer. */
static int member_db_name(const json_t *doc, char out[DB_NAME_BYTES_MAX + 1])
{
    const char *s = json_string_value(json_object_get(doc, "db_name"));

    if (!db_name_valid(s))
        return KH_ECORRUPT;
    snprintf(out, DB_NAME_BYTES_MAX + 1, "%s", s);
    return 0;
}

int db_role_load(const struct barrier_view *view, const char *name,
                 struct db_role *ret)
{
    struct db_role role = {0};
    json_t *doc = NULL;
    int r;

    r = record_get(view, "role", name, &doc);
    if (r != 0)
        return r;
    if ((r = member_db_name(doc, role.db_name)) ||
        (r = member_array(doc, "creation_statements", &role.creation)) ||
        (r = member_array(doc, "revocation_statements", &role.revocation)) ||
        (r = member_array(doc, "rollback_statements", &role.rollback)) ||
        (r = member_array(doc, "renew_statements", &role.renew)) ||
        (r = member_ttl(doc, "default_ttl", &role.default_ttl_s)) ||
        (r = member_ttl(doc, "max_ttl", &role.max_ttl_s)))
        goto out;
    *ret = role;
    memset(&role, 0, sizeof(role));
    r = 0; /* success */
out:
    db_role_clear(&role);
    json_decref(doc);
    return r;
}

int db_role_store(const struct barrier_view *view, const char *name,
                  const struct db_role *role)
{
    KH_ASSERT(db_name_valid(role->db_name));
    KH_ASSERT(json_array_size(role->creation) > 0);
    return record_put(
        view, "role", name,
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I}", "db_name",
                  role->db_name, "creation_statements",
                  array_or_empty(role->creation), "revocation_statements",
                  array_or_empty(role->revocation), "rollback_statements",
                  array_or_empty(role->rollback), "renew_statements",
                  array_or_empty(role->renew), "default_ttl",
                  (json_int_t)role->default_ttl_s, "max_ttl",
                  (json_int_t)role->max_ttl_s));
}

void db_static_role_clear(struct db_static_role *role)
{
    if (role == NULL)
        return;
    json_decref(role->rotation);
    if (role->password != NULL)
        kh_free_secret(role->password, strlen(role->password));
    memset(role, 0, sizeof(*role));
}

int db_static_role_load(const struct barrier_view *view, const char *name,
                        struct db_static_role *ret)
{
    struct db_static_role role = {0};
    const char *user;
    json_t *doc = NULL;
    int r;

    r = record_get(view, "static-role", name, &doc);
    if (r != 0)
        return r;
    user = json_string_value(json_object_get(doc, "username"));
    r = KH_ECORRUPT;
    if (user == NULL || user[0] == '\0' || strlen(user) > DB_USERNAME_BYTES_MAX)
        goto out;
    snprintf(role.username, sizeof(role.username), "%s", user);
    role.last_rotation =
        json_integer_value(json_object_get(doc, "last_rotation"));
    if ((r = member_db_name(doc, role.db_name)) ||
        (r = member_ttl(doc, "rotation_period", &role.rotation_period_s)) ||
        (r = member_array(doc, "rotation_statements", &role.rotation)) ||
        (r = member_strdup(doc, "password", false, &role.password)))
        goto out;
    *ret = role;
    memset(&role, 0, sizeof(role));
    r = 0; /* success */
out:
    db_static_role_clear(&role);
    json_decref(doc);
    return r;
}

int db_static_role_store(const struct barrier_view *view, const char *name,
                         const struct db_static_role *role)
{
    KH_ASSERT(db_name_valid(role->db_name));
    KH_ASSERT(role->rotation_period_s >= DB_ROTATION_PERIOD_MIN_S);
    return record_put(
        view, "static-role", name,
        json_pack("{s:s, s:s, s:I, s:o, s:o, s:I}", "db_name", role->db_name,
                  "username", role->username, "rotation_period",
                  (json_int_t)role->rotation_period_s, "rotation_statements",
                  array_or_empty(role->rotation), "password",
                  string_or_null(role->password), "last_rotation",
                  (json_int_t)role->last_rotation));
}

int db_record_delete(const struct barrier_view *view, const char *kind,
                     const char *name)
{
    char key[DB_KEY_BYTES];
    int r;

    r = record_key(kind, name, key);
    if (r != 0)
        return r;
    r = view_delete(view, key);
    return r == KH_ENOTFOUND ? 0 : r;
}

int db_record_exists(const struct barrier_view *view, const char *kind,
                     const char *name, bool *ret_exists)
{
    char key[DB_KEY_BYTES];
    uint8_t *bytes = NULL;
    size_t len = 0;
    int r;

    r = record_key(kind, name, key);
    if (r != 0)
        return r;
    r = view_get(view, key, &bytes, &len);
    if (r == 0)
        kh_free_secret(bytes, len);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    return 0;
}

int db_record_list(const struct barrier_view *view, const char *kind,
                   json_t **ret_keys)
{
    char prefix[32];
    struct kh_storage_list list = {0};
    json_t *keys;
    size_t i;
    int r;

    snprintf(prefix, sizeof(prefix), "%s/", kind);
    r = view_list(view, prefix, &list);
    if (r != 0)
        return r;
    keys = json_array();
    for (i = 0; keys != NULL && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0) {
            json_decref(keys);
            keys = NULL;
        }
    }
    kh_storage_list_free(&list);
    if (keys == NULL)
        return KH_ENOMEM;
    *ret_keys = keys;
    return 0;
}

int db_call_list(const struct db_call *call, const char *kind)
{
    json_t *keys = NULL;
    int r;

    KH_ASSERT(call->state != NULL);
    r = db_record_list(&call->state->view, kind, &keys);
    if (r != 0)
        return r;
    if (json_array_size(keys) == 0) {
        json_decref(keys);
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ENOTFOUND, "%s",
                         "");
    }
    return kh_response_envelope(call->resp, call->br->req,
                                json_pack("{s:o}", "keys", keys));
}

int db_call_delete(const struct db_call *call, pthread_mutex_t *lock,
                   const char *kind)
{
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(lock);
    r = db_record_delete(&call->state->view, kind, call->name);
    pthread_mutex_unlock(lock);
    return r;
}
