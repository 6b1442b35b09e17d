/*
 * db_root.c - database/rotate-root/:name (Vault API: database engine): a new random
 * password for the connection's admin user, set in PostgreSQL with the
 * root rotation statements and then known only to Keyhold.
 *
 * Crash safety: the new password is stored as password_pending before the
 * ALTER ROLE and promoted after it, and the pool tries the pending one when
 * the current one is refused, so a crash in between never loses the admin.
 * Never returns, logs or puts in an error message either password.
 */
#include "engines/database/database.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"

static const char *const default_root_rotation[] = {
    "ALTER ROLE \"{{username}}\" WITH PASSWORD '{{password}}'",
};

static json_t *root_statements(const struct db_config *c)
{
    json_t *out;

    if (json_array_size(c->root_rotation) > 0)
        return json_incref(c->root_rotation);
    out = json_array();
    if (out != NULL && json_array_append_new(
                           out, json_string(default_root_rotation[0])) != 0) {
        json_decref(out);
        out = NULL;
    }
    return out;
}

/* Set the new password in PostgreSQL through a session opened with the
 * current one. */
static int root_alter(const struct db_config *c, const char *password,
                      char *errmsg, size_t errmsg_size)
{
    struct db_template_vars vars = {c->username, password, NULL};
    struct pg_conn *pg = NULL;
    json_t *statements = root_statements(c);
    int r;

    if (statements == NULL)
        return KH_ENOMEM;
    r = db_connect_direct(c, NULL, &pg, errmsg, errmsg_size);
    if (r == 0)
        r = db_exec_tx(pg, statements, &vars, c->scram, errmsg, errmsg_size);
    db_connect_close(pg);
    json_decref(statements);
    return r;
}

/* Move *from into *to (wiping what *to held). */
static void password_move(char **to, char **from)
{
    if (*to != NULL)
        kh_free_secret(*to, strlen(*to));
    *to = *from;
    *from = NULL;
}

int db_root_rotate(const struct db_call *call)
{
    char fresh[DB_PASSWORD_CHARS + 1] = "";
    struct db_config c = {0};
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(&call->state->records_lock);
    r = db_config_load(&call->state->view, call->name, &c);
    if (r == KH_ENOTFOUND)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "no database connection named \"%s\"", call->name);
    if (r != 0)
        goto out;
    r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                  "unable to rotate root credentials: connection_url must "
                  "use {{password}} and a username must be set");
    if (strstr(c.connection_url, "{{password}}") == NULL ||
        c.username == NULL || c.username[0] == '\0')
        goto out;
    r = db_password_generate(fresh);
    if (r != 0)
        goto out;
    if (c.password_pending != NULL)
        kh_free_secret(c.password_pending, strlen(c.password_pending));
    r = (c.password_pending = strdup(fresh)) != NULL ? 0 : KH_ENOMEM;
    if (r == 0)
        r = db_config_store(&call->state->view, call->name, &c);
    if (r == 0)
        r = root_alter(&c, fresh, call->errmsg, call->errmsg_size);
    if (r != 0) {
        /* the old password still holds: forget the pending one */
        if (c.password_pending != NULL) {
            kh_free_secret(c.password_pending, strlen(c.password_pending));
            c.password_pending = NULL;
            if (db_config_store(&call->state->view, call->name, &c) != 0)
                log_warn("database: could not clear the pending root "
                         "password of %s (harmless)",
                         call->name);
        }
        goto out;
    }
    password_move(&c.password, &c.password_pending);
    r = db_config_store(&call->state->view, call->name, &c);
    db_pool_invalidate(call->state, call->name);
    if (r == 0)
        kh_response_no_content(call->resp);
out:
    pthread_mutex_unlock(&call->state->records_lock);
    kh_wipe(fresh, sizeof(fresh));
    db_config_clear(&c);
    return r;
}
