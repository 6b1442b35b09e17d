/*
 * db_exec.c - running the database engine's SQL over one libpq session:
 * statement lists rendered from templates and run in a transaction, the
 * parameterised role lookup, locking a role out and terminating its
 * sessions, and the admin membership grant PostgreSQL 15 needs.
 *
 * Owns the rendered SQL (it holds passwords: wiped after each statement)
 * and the error texts it returns, which are scrubbed of the password and
 * its SCRAM verifier. It never logs statements or values and never keeps
 * a session: callers own the connection.
 */
#include "engines/database/database.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/secret.h"

/* Format a failed result into errmsg (scrubbed) and return KH_EINVAL, or
 * KH_EUNAVAIL when the session is gone. Only the server's primary message
 * is kept: its context lines quote the statement, which may hold a
 * password. */
static int result_error(PGconn *pg, const PGresult *res, const char *what,
                        const struct db_template_vars *vars,
                        const char *verifier, char *errmsg, size_t errmsg_size)
{
    char text[DB_ERRTEXT_BYTES];
    const char *primary =
        res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *severity =
        res != NULL ? PQresultErrorField(res, PG_DIAG_SEVERITY) : NULL;
    char *p;

    if (primary != NULL)
        snprintf(text, sizeof(text), "%s: %s",
                 severity != NULL ? severity : "ERROR", primary);
    else
        snprintf(text, sizeof(text), "%s",
                 PQerrorMessage(pg) != NULL ? PQerrorMessage(pg) : "");
    for (p = text; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    }
    while (p > text && p[-1] == ' ')
        *--p = '\0';
    if (vars != NULL)
        db_scrub(text, vars->password);
    db_scrub(text, verifier);
    return kh_errmsg(errmsg, errmsg_size,
                     PQstatus(pg) == CONNECTION_OK ? KH_EINVAL : KH_EUNAVAIL,
                     "%s: %s", what, text);
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int db_exec_sql(struct pg_conn *pg, const char *sql, char *errmsg,
                size_t errmsg_size)
{
    PGresult *res;
    int r = 0;

    KH_ASSERT(pg != NULL);
    KH_ASSERT(sql != NULL);
    res = PQexec(pg, sql);
    if (!result_ok(res))
        r = result_error(pg, res, "statement failed", NULL, NULL, errmsg,
                         errmsg_size);
    PQclear(res);
    return r;
}

void db_exec_quiet(struct pg_conn *pg, const char *sql)
{
    KH_ASSERT(pg != NULL);
    KH_ASSERT(sql != NULL);
    PQclear(PQexec(pg, sql));
}

/* Run one rendered template. */
static int exec_one(PGconn *pg, const char *tmpl,
                    const struct db_template_vars *vars, const char *verifier,
                    char *errmsg, size_t errmsg_size)
{
    char *sql = NULL;
    PGresult *res = NULL;
    int r;

    r = db_template_render(tmpl, vars, &sql, errmsg, errmsg_size);
    if (r != 0)
        return r;
    res = PQexec(pg, sql);
    if (!result_ok(res))
        r = result_error(pg, res, "statement failed", vars, verifier, errmsg,
                         errmsg_size);
    PQclear(res);
    kh_free_secret(sql, strlen(sql) + 1);
    return r;
}

int db_exec_list(struct pg_conn *pg, const json_t *list,
                 const struct db_template_vars *vars, bool scram, char *errmsg,
                 size_t errmsg_size)
{
    struct db_template_vars v = *vars;
    char *verifier = NULL;
    size_t i;
    int r = 0;

    KH_ASSERT(pg != NULL);
    KH_ASSERT(json_is_array(list));
    if (scram && vars->password != NULL && vars->name != NULL) {
        /* the server stores this verifier; the password never reaches it */
        verifier = PQencryptPasswordConn(pg, vars->password, vars->name,
                                         "scram-sha-256");
        if (verifier == NULL)
            return result_error(pg, NULL, "hashing the password", vars, NULL,
                                errmsg, errmsg_size);
        v.password = verifier;
    }
    for (i = 0; r == 0 && i < json_array_size(list); i++)
        r = exec_one(pg, json_string_value(json_array_get(list, i)), &v,
                     verifier, errmsg, errmsg_size);
    if (verifier != NULL) {
        kh_wipe(verifier, strlen(verifier));
        PQfreemem(verifier);
    }
    if (r != 0)
        db_scrub(errmsg, vars->password);
    return r;
}

int db_exec_tx(struct pg_conn *pg, const json_t *list,
               const struct db_template_vars *vars, bool scram, char *errmsg,
               size_t errmsg_size)
{
    int r;

    r = db_exec_sql(pg, "BEGIN", errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = db_exec_list(pg, list, vars, scram, errmsg, errmsg_size);
    if (r == 0)
        r = db_exec_sql(pg, "COMMIT", errmsg, errmsg_size);
    if (r != 0)
        db_exec_quiet(pg, "ROLLBACK");
    return r;
}

int db_exec_role_exists(struct pg_conn *pg, const char *name, bool *ret_exists,
                        char *errmsg, size_t errmsg_size)
{
    const char *values[1] = {name};
    PGresult *res;
    int r = 0;

    KH_ASSERT(pg != NULL);
    KH_ASSERT(name != NULL);
    res =
        PQexecParams(pg, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                     1, NULL, values, NULL, NULL, 0);
    if (!result_ok(res))
        r = result_error(pg, res, "looking up the role", NULL, NULL, errmsg,
                         errmsg_size);
    else
        *ret_exists = PQntuples(res) > 0;
    PQclear(res);
    return r;
}

int db_exec_lock_out(struct pg_conn *pg, const char *name, char *errmsg,
                     size_t errmsg_size)
{
    static const char terminate[] =
        "SELECT pg_catalog.pg_terminate_backend(pid) "
        "FROM pg_catalog.pg_stat_activity "
        "WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()";
    struct db_template_vars vars = {name, NULL, NULL};
    const char *values[1] = {name};
    PGresult *res;
    int r;

    /* no new session from here on, then end the open ones */
    r = exec_one(pg, "ALTER ROLE {{name}} NOLOGIN", &vars, NULL, errmsg,
                 errmsg_size);
    if (r != 0)
        return r;
    res = PQexecParams(pg, terminate, 1, NULL, values, NULL, NULL, 0);
    if (!result_ok(res))
        r = result_error(pg, res, "terminating the role's sessions", NULL, NULL,
                         errmsg, errmsg_size);
    PQclear(res);
    return r;
}

void db_exec_grant_to_admin(struct pg_conn *pg, const char *name)
{
    struct db_template_vars vars = {name, NULL, NULL};
    char ignored[KH_ERRMSG_SIZE];

    if (db_exec_sql(pg, "SAVEPOINT keyhold_grant", ignored, sizeof(ignored)) !=
        0)
        return;
    if (exec_one(pg, "GRANT {{name}} TO CURRENT_USER", &vars, NULL, ignored,
                 sizeof(ignored)) != 0)
        db_exec_quiet(pg, "ROLLBACK TO SAVEPOINT keyhold_grant");
    db_exec_quiet(pg, "RELEASE SAVEPOINT keyhold_grant");
}
