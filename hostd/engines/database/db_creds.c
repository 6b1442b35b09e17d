/*
 * db_creds.c - database/creds/:role (a new PostgreSQL user with a lease)
 * and the lease's revoke and renew (Vault API: database engine, §3.10).
 *
 * Issuing: the creation statements run in one transaction with the user's
 * name, a fresh password and VALID UNTIL = the lease's expiry; the admin is
 * then made a member of the new role (PostgreSQL 15 needs it to terminate
 * the role's sessions and DROP OWNED BY). On failure the rollback
 * statements run. The lease's internal data holds the connection, the role
 * and the user name - never the password.
 *
 * Revoking: a user already gone counts as revoked. Otherwise the engine
 * first locks it out (ALTER ROLE NOLOGIN, terminate every session), then
 * runs the role's revocation statements in a transaction. Any failure is
 * returned, and the lease manager retries until it succeeds. When the
 * role has no revocation statements the default below runs; it works when
 * the user holds grants on tables (a bare DROP ROLE does not):
 *
 *   REASSIGN OWNED BY "{{name}}" TO CURRENT_USER;
 *   DROP OWNED BY "{{name}}";        -- also revokes every grant it holds
 *   DROP ROLE IF EXISTS "{{name}}";
 *
 * Renewing runs the renew statements (default: ALTER ROLE ... VALID UNTIL)
 * with the new expiry. Never logs names with passwords, nor statements.
 */
#include "engines/database/database.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "lease/lease.h"
#include "mount/mount_table.h"
#include "token/token_store.h"

static const char *const default_revocation[] = {
    "REASSIGN OWNED BY \"{{name}}\" TO CURRENT_USER",
    "DROP OWNED BY \"{{name}}\"",
    "DROP ROLE IF EXISTS \"{{name}}\"",
};

static const char *const default_renew[] = {
    "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'",
};

/* list when it has statements, else a new array of the defaults. */
static json_t *statements_or(const json_t *list, const char *const *defs,
                             size_t count)
{
    json_t *out;
    size_t i;

    if (json_array_size(list) > 0)
        return json_incref((json_t *)list);
    out = json_array();
    for (i = 0; out != NULL && i < count; i++) {
        if (json_array_append_new(out, json_string(defs[i])) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* The lease TTL and max TTL exactly as lease_register() will clamp them. */
static void creds_ttls(const struct backend_request *br,
                       const struct db_role *role, uint64_t *ret_ttl,
                       uint64_t *ret_max)
{
    const struct kh_config *config = br->core->config;
    uint64_t sys_max = config->max_lease_ttl_s ? config->max_lease_ttl_s
                                               : LEASE_TTL_SYSTEM_MAX_S;
    uint64_t max =
        br->mount->max_lease_ttl_s ? br->mount->max_lease_ttl_s : sys_max;
    uint64_t def = br->mount->default_lease_ttl_s
                       ? br->mount->default_lease_ttl_s
                   : config->default_lease_ttl_s ? config->default_lease_ttl_s
                                                 : max;
    uint64_t max_ttl =
        role->max_ttl_s != 0 && role->max_ttl_s < max ? role->max_ttl_s : max;
    uint64_t ttl = role->default_ttl_s != 0 ? role->default_ttl_s : def;

    int64_t bound = br->token != NULL ? token_entry_lease_bound(br->token)
                                      : 0;
    int64_t now = (int64_t)time(NULL);

    if (ttl == 0 || ttl > max_ttl)
        ttl = max_ttl;
    /* The creating token's remaining life bounds the lease too. */
    if (bound > 0 && (bound <= now || (uint64_t)(bound - now) < ttl))
        ttl = bound > now ? (uint64_t)(bound - now) : 1;
    *ret_ttl = ttl;
    *ret_max = max_ttl;
}

/* Run creation (+ admin membership) in one transaction; on failure the
 * rollback statements, best effort, outside it. */
static int creds_create_user(struct db_conn *conn, const struct db_role *role,
                             const struct db_template_vars *vars, char *errmsg,
                             size_t errmsg_size)
{
    char ignored[KH_ERRMSG_SIZE];
    bool scram = db_conn_scram(conn);
    int r;

    r = db_exec_sql(conn->pg, "BEGIN", errmsg, errmsg_size);
    if (r == 0)
        r = db_exec_list(conn->pg, role->creation, vars, scram, errmsg,
                         errmsg_size);
    if (r == 0) {
        db_exec_grant_to_admin(conn->pg, vars->name);
        r = db_exec_sql(conn->pg, "COMMIT", errmsg, errmsg_size);
    }
    if (r == 0)
        return 0;
    db_exec_quiet(conn->pg, "ROLLBACK");
    if (json_array_size(role->rollback) > 0 &&
        db_exec_list(conn->pg, role->rollback, vars, scram, ignored,
                     sizeof(ignored)) != 0)
        log_warn("database: rollback statements failed after a failed "
                 "creation of a user on connection %s",
                 role->db_name);
    return r;
}

/* Fill the response: data and the lease request. */
static int creds_respond(const struct db_call *call, const struct db_role *role,
                         const char *username, const char *password,
                         uint64_t ttl, uint64_t max_ttl)
{
    struct kh_response *resp = call->resp;
    json_t *internal;
    int r;

    KH_ASSERT(username[0] != '\0');
    KH_ASSERT(db_password_policy_ok(password));
    internal =
        json_pack("{s:s, s:s, s:s, s:O}", "db_name", role->db_name, "role",
                  call->name, "username", username, "revocation_statements",
                  role->revocation != NULL ? role->revocation : json_null());
    if (internal == NULL)
        return KH_ENOMEM;
    r = kh_response_envelope(
        resp, call->br->req,
        json_pack("{s:s, s:s}", "username", username, "password", password));
    if (r != 0) {
        json_decref(internal);
        return r;
    }
    json_decref(resp->lease.internal);
    resp->lease.requested = true;
    resp->lease.internal = internal;
    resp->lease.ttl_s = ttl;
    resp->lease.max_ttl_s = max_ttl;
    resp->lease.renewable = true;
    return 0;
}

/* Load the role and check its connection allows it. */
static int creds_load_role(const struct db_call *call, struct db_role *role)
{
    struct db_config config = {0};
    int r;

    r = db_role_load(&call->state->view, call->name, role);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unknown role: %s", call->name);
    if (r != 0)
        return r;
    r = db_config_load(&call->state->view, role->db_name, &config);
    if (r == KH_ENOTFOUND)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "no database connection named \"%s\"", role->db_name);
    else if (r == 0 && !db_role_allowed(config.allowed_roles, call->name))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINTERNAL,
                      "\"%s\" is not an allowed role", call->name);
    db_config_clear(&config);
    return r;
}

int db_creds_read(const struct db_call *call)
{
    const struct token_entry *token = call->br->token;
    char username[DB_USERNAME_BYTES_MAX + 1];
    char password[DB_PASSWORD_CHARS + 1] = "";
    char expiration[DB_EXPIRATION_SIZE];
    struct db_template_vars vars = {username, password, expiration};
    struct db_role role = {0};
    struct db_conn conn = {0};
    uint64_t ttl, max_ttl;
    int64_t now = (int64_t)time(NULL);
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    r = creds_load_role(call, &role);
    if (r != 0)
        goto out;
    creds_ttls(call->br, &role, &ttl, &max_ttl);
    db_expiration_format(now + (int64_t)ttl, expiration);
    if ((r = db_username_generate(token != NULL ? token->display_name : NULL,
                                  call->name, now, username)) ||
        (r = db_password_generate(password)) ||
        (r = db_conn_acquire(call->state, role.db_name, &conn, call->errmsg,
                             call->errmsg_size)))
        goto out;
    r = creds_create_user(&conn, &role, &vars, call->errmsg, call->errmsg_size);
    db_conn_release(&conn);
    if (r == KH_EINVAL)
        r = KH_EINTERNAL; /* Vault answers 500 when the database refuses */
    if (r != 0)
        goto out;
    r = creds_respond(call, &role, username, password, ttl, max_ttl);
    if (r == 0)
        log_debug("database: issued user %s for role %s (ttl %llus)", username,
                  call->name, (unsigned long long)ttl);
out:
    kh_wipe(password, sizeof(password));
    db_role_clear(&role);
    return r;
}

/* The statements a lease runs: the role's if it still exists, else the
 * ones saved in the lease, else the defaults. */
static json_t *lease_statements(struct db_state *state, const json_t *internal,
                                bool renew)
{
    const char *role_name =
        json_string_value(json_object_get(internal, "role"));
    const json_t *saved =
        renew ? NULL : json_object_get(internal, "revocation_statements");
    struct db_role role = {0};
    json_t *out;

    if (role_name != NULL && db_role_load(&state->view, role_name, &role) == 0)
        saved = renew ? role.renew : role.revocation;
    out = renew
              ? statements_or(saved, default_renew, KH_ARRAY_LEN(default_renew))
              : statements_or(saved, default_revocation,
                              KH_ARRAY_LEN(default_revocation));
    db_role_clear(&role);
    return out;
}

int db_creds_revoke(struct db_state *state, const json_t *internal,
                    char *errmsg, size_t errmsg_size)
{
    const char *db_name =
        json_string_value(json_object_get(internal, "db_name"));
    const char *user = json_string_value(json_object_get(internal, "username"));
    struct db_template_vars vars = {user, NULL, NULL};
    struct db_conn conn = {0};
    json_t *statements = NULL;
    bool exists = false;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(internal != NULL);
    if (db_name == NULL || user == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "lease data lacks db_name or username");
    statements = lease_statements(state, internal, false);
    if (statements == NULL)
        return KH_ENOMEM;
    r = db_conn_acquire(state, db_name, &conn, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = db_exec_role_exists(conn.pg, user, &exists, errmsg, errmsg_size);
    if (r == 0 && exists)
        r = db_exec_lock_out(conn.pg, user, errmsg, errmsg_size);
    if (r == 0 && exists)
        r = db_exec_tx(conn.pg, statements, &vars, false, errmsg, errmsg_size);
    db_conn_release(&conn);
out:
    json_decref(statements);
    return r;
}

int db_creds_renew(struct db_state *state, const json_t *internal,
                   uint64_t ttl_s, char *errmsg, size_t errmsg_size)
{
    const char *db_name =
        json_string_value(json_object_get(internal, "db_name"));
    const char *user = json_string_value(json_object_get(internal, "username"));
    char expiration[DB_EXPIRATION_SIZE];
    struct db_template_vars vars = {user, NULL, expiration};
    struct db_conn conn = {0};
    json_t *statements = NULL;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(internal != NULL);
    if (db_name == NULL || user == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "lease data lacks db_name or username");
    db_expiration_format((int64_t)time(NULL) + (int64_t)ttl_s, expiration);
    statements = lease_statements(state, internal, true);
    if (statements == NULL)
        return KH_ENOMEM;
    r = db_conn_acquire(state, db_name, &conn, errmsg, errmsg_size);
    if (r == 0) {
        r = db_exec_tx(conn.pg, statements, &vars, false, errmsg, errmsg_size);
        db_conn_release(&conn);
    }
    json_decref(statements);
    return r;
}
