/*
 * database.h - the database secrets engine for PostgreSQL (the Vault HTTP API
 * §6.3): dynamic users with a lease, static users rotated on a period,
 * root credential rotation.
 *
 * One backend type, "database". This header is the public ops table plus
 * the internal API shared by the files of engines/database/, one job each:
 *
 *   db_backend.c   ops table, per-mount state, route table, revoke/renew
 *   db_config.c    config/:name, reset/:name (connections)
 *   db_roles.c     roles/:name (dynamic role definitions)
 *   db_creds.c     creds/:name, and the revoke/renew of their leases
 *   db_static.c    static-roles/:name, static-creds/:name, rotate-role/:name
 *                  and the rotation thread
 *   db_root.c      rotate-root/:name
 *   db_pool.c      libpq connection pools (one per connection name)
 *   db_exec.c      running statement lists in a transaction over libpq
 *   db_store.c     records in the barrier view and their encoding
 *   db_template.c  {{name}}/{{password}}/... substitution with escaping
 *   db_fields.c    request fields: statement lists, CSL, durations, names
 *   db_names.c     generated user names and passwords
 *
 * Storage layout inside the mount's barrier view (all sealed by the
 * barrier; keys are not secret):
 *
 *   config/<name>        a connection, including its root password
 *   role/<name>          a dynamic role
 *   static-role/<name>   a static role, including its current password
 *
 * Secrets: root passwords, generated passwords and the rendered SQL and
 * connection strings that hold them are wiped where they die. Nothing here
 * logs a credential; statements are logged only as templates.
 *
 * Escaping: a template value is never pasted into SQL unescaped. Utility
 * statements (CREATE ROLE, ALTER ROLE) cannot take $1 parameters, so each
 * placeholder is escaped for the quoting context the template author
 * wrote around it: inside "..." the value's '"' are doubled (what
 * PQescapeIdentifier does), inside '...' its '\'' are doubled (what
 * PQescapeLiteral does with standard_conforming_strings, which every
 * session of the pool forces on), and a bare placeholder becomes a quoted
 * literal. Queries that take values (role lookup, session termination)
 * use PQexecParams.
 *
 * Concurrency: per-mount state (struct db_state) with one mutex for
 * record read-modify-write, one for static roles and their rotations, one
 * for the pool table; each pool has its own lock and condition. No lock is
 * held while waiting for a connection from another pool, so a stuck
 * database stalls only the requests that need it (and those for at most
 * DB_CONNECT_TIMEOUT_S / DB_STATEMENT_TIMEOUT_MS).
 *
 * Static rotation: one small thread per mount wakes every second and
 * rotates the static roles whose period has passed (a failed rotation is
 * retried after DB_ROTATION_RETRY_S); a write of a static role rotates at
 * once, and static-creds never returns a password older than its period
 * (it rotates first when the thread has not yet).
 */
#ifndef KH_ENGINES_DATABASE_DATABASE_H
#define KH_ENGINES_DATABASE_DATABASE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engines/backend.h"

/* ---- limits (house style) ---- */

#define DB_NAME_BYTES_MAX           128 /* connection, role, static role */
#define DB_STATEMENTS_MAX           64  /* items in one statements list */
#define DB_STATEMENT_BYTES_MAX      (64u * 1024u)
#define DB_URL_BYTES_MAX            4096
#define DB_USERNAME_BYTES_MAX       63 /* PostgreSQL NAMEDATALEN - 1 */
#define DB_ROOT_PASSWORD_BYTES_MAX  1024
#define DB_PASSWORD_CHARS           24 /* generated passwords */
#define DB_ALLOWED_ROLES_MAX        256
#define DB_OPEN_CONNECTIONS_DEFAULT 4
#define DB_OPEN_CONNECTIONS_MAX     64
#define DB_POOLS_MAX                256  /* connections per mount */
#define DB_STATIC_ROLES_MAX         1024 /* per mount */
#define DB_CONNECT_TIMEOUT_S        5
#define DB_STATEMENT_TIMEOUT_MS     30000
#define DB_POOL_WAIT_S              10
#define DB_ROTATION_PERIOD_MIN_S    5
#define DB_ROTATION_RETRY_S         10
#define DB_TTL_MAX_S                (100ull * 365ull * 86400ull)
#define DB_EXPIRATION_SIZE          32  /* "YYYY-MM-DD HH:MM:SS+0000" */
#define DB_ERRTEXT_BYTES            384 /* a PostgreSQL error in a message */

#define DB_PLUGIN_POSTGRES "postgresql-database-plugin"

/* The HTTP ops table, listed in engines/registry.c. */
extern const struct backend_ops database_backend_ops;

/* ---- records (db_store.c) ---- */

struct db_config
{
    char *connection_url; /* template with {{username}} etc. */
    char *username;
    char *password;         /* secret */
    char *password_pending; /* secret; during rotate-root, or NULL */
    json_t *allowed_roles;  /* array of strings */
    json_t *root_rotation;  /* array of statements */
    bool verify_connection;
    bool scram; /* password_authentication scram-sha-256 */
    unsigned max_open_connections;
};

struct db_role
{
    char db_name[DB_NAME_BYTES_MAX + 1];
    json_t *creation; /* arrays of statements */
    json_t *revocation;
    json_t *rollback;
    json_t *renew;
    uint64_t default_ttl_s; /* 0: the mount's */
    uint64_t max_ttl_s;
};

struct db_static_role
{
    char db_name[DB_NAME_BYTES_MAX + 1];
    char username[DB_USERNAME_BYTES_MAX + 1];
    uint64_t rotation_period_s;
    json_t *rotation;      /* array of statements */
    char *password;        /* secret; NULL before the first */
    int64_t last_rotation; /* unix seconds; 0 before the first */
};

/* Free members (wiping secrets) and zero the struct; accept zeroed. */
void db_config_clear(struct db_config *config);
void db_role_clear(struct db_role *role);
void db_static_role_clear(struct db_static_role *role);

/* KH_ENOTFOUND when absent; KH_ECORRUPT when malformed. */
int db_config_load(const struct barrier_view *view, const char *name,
                   struct db_config *ret) KH_MUST_CHECK;
int db_config_store(const struct barrier_view *view, const char *name,
                    const struct db_config *config) KH_MUST_CHECK;
int db_role_load(const struct barrier_view *view, const char *name,
                 struct db_role *ret) KH_MUST_CHECK;
int db_role_store(const struct barrier_view *view, const char *name,
                  const struct db_role *role) KH_MUST_CHECK;
int db_static_role_load(const struct barrier_view *view, const char *name,
                        struct db_static_role *ret) KH_MUST_CHECK;
int db_static_role_store(const struct barrier_view *view, const char *name,
                         const struct db_static_role *role) KH_MUST_CHECK;
/* kind: "config", "role" or "static-role". */
int db_record_delete(const struct barrier_view *view, const char *kind,
                     const char *name) KH_MUST_CHECK;
/* Is kind/name stored? */
int db_record_exists(const struct barrier_view *view, const char *kind,
                     const char *name, bool *ret_exists) KH_MUST_CHECK;
/* Names under kind as a JSON array (empty when none). */
int db_record_list(const struct barrier_view *view, const char *kind,
                   json_t **ret_keys) KH_MUST_CHECK;

/* ---- per-mount state and one call (db_backend.c) ---- */

struct db_pool;

struct db_state
{
    struct barrier_view view;     /* copy of the mount's view */
    pthread_mutex_t records_lock; /* config and role read-modify-write */
    pthread_mutex_t static_lock;  /* static roles and their rotation */
    pthread_mutex_t pools_lock;   /* pools[] and pool_count */
    struct db_pool *pools[DB_POOLS_MAX];
    size_t pool_count;
    /* the rotation thread */
    pthread_mutex_t thread_lock;
    pthread_cond_t thread_wake;
    pthread_t thread;
    bool thread_running;
    bool stopping;
    int64_t next_rotation; /* unix seconds; guarded by static_lock */
};

struct db_call
{
    const struct backend_request *br;
    struct db_state *state;
    const char *name; /* the path segment after the route */
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*db_handler_fn)(const struct db_call *call);

/* A LIST handler's answer: the names stored under kind as Vault's
 * {"keys": [...]}; KH_ENOTFOUND without a message when there are none. */
int db_call_list(const struct db_call *call, const char *kind) KH_MUST_CHECK;
/* Remove kind/call->name with lock held (the lock guarding that kind). */
int db_call_delete(const struct db_call *call, pthread_mutex_t *lock,
                   const char *kind) KH_MUST_CHECK;

/* Handlers, one per route and operation. */
int db_config_read(const struct db_call *call);
int db_config_write(const struct db_call *call);
int db_config_delete(const struct db_call *call);
int db_config_list(const struct db_call *call);
int db_reset_write(const struct db_call *call);
int db_roles_read(const struct db_call *call);
int db_roles_write(const struct db_call *call);
int db_roles_delete(const struct db_call *call);
int db_roles_list(const struct db_call *call);
int db_creds_read(const struct db_call *call);
int db_root_rotate(const struct db_call *call);
int db_static_read(const struct db_call *call);
int db_static_write(const struct db_call *call);
int db_static_delete(const struct db_call *call);
int db_static_list(const struct db_call *call);
int db_static_creds_read(const struct db_call *call);
int db_static_rotate_role(const struct db_call *call);

/* Lease callbacks (db_creds.c). */
int db_creds_revoke(struct db_state *state, const json_t *internal,
                    char *errmsg, size_t errmsg_size);
int db_creds_renew(struct db_state *state, const json_t *internal,
                   uint64_t ttl_s, char *errmsg, size_t errmsg_size);

/* The rotation thread (db_static.c). */
int db_static_thread_start(struct db_state *state) KH_MUST_CHECK;
void db_static_thread_stop(struct db_state *state);
/* Rotate every static role that is due; returns how many rotated. */
size_t db_static_rotate_due(struct db_state *state);

/* ---- connection pools (db_pool.c) ---- */

struct pg_conn; /* libpq's PGconn */

struct db_conn
{
    struct db_pool *pool;
    struct pg_conn *pg;
};

/* A connection to the database of connection `name`, from its pool
 * (created from the stored config on first use). Release it with
 * db_conn_release(), which keeps it for reuse only when the session is
 * healthy and idle (no open transaction). KH_EINVAL when no such config;
 * KH_EUNAVAIL when the database cannot be reached or the pool stays
 * exhausted. */
int db_conn_acquire(struct db_state *state, const char *name,
                    struct db_conn *ret, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;
void db_conn_release(struct db_conn *conn);
/* Forget the pool of `name` (config changed, deleted, reset, rotated);
 * connections in use are closed when released. */
void db_pool_invalidate(struct db_state *state, const char *name);
/* Close every pool (cleanup). */
void db_pools_close(struct db_state *state);
/* One connection outside any pool (verify_connection, rotate-root);
 * password: the root password to use (NULL: config->password). Close
 * with db_connect_close(). */
int db_connect_direct(const struct db_config *config, const char *password,
                      struct pg_conn **ret, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;
void db_connect_close(struct pg_conn *pg);
/* Whether the config uses a password authentication scheme that hashes
 * client-side (for templates). */
bool db_conn_scram(const struct db_conn *conn);

/* ---- statements (db_exec.c) ---- */

struct db_template_vars
{
    const char *name; /* also {{username}} */
    const char *password;
    const char *expiration;
};

/* Run one SQL text (possibly several statements) with no values. */
int db_exec_sql(struct pg_conn *pg, const char *sql, char *errmsg,
                size_t errmsg_size) KH_MUST_CHECK;
/* Render and run each statement of list, in order, in the current
 * transaction. scram: hash {{password}} client-side first. */
int db_exec_list(struct pg_conn *pg, const json_t *list,
                 const struct db_template_vars *vars, bool scram, char *errmsg,
                 size_t errmsg_size) KH_MUST_CHECK;
/* Run sql ignoring any error (ROLLBACK, savepoint release). */
void db_exec_quiet(struct pg_conn *pg, const char *sql);
/* BEGIN; list; COMMIT - or ROLLBACK and the first error. */
int db_exec_tx(struct pg_conn *pg, const json_t *list,
               const struct db_template_vars *vars, bool scram, char *errmsg,
               size_t errmsg_size) KH_MUST_CHECK;
/* Does role `name` exist (parameterised query)? */
int db_exec_role_exists(struct pg_conn *pg, const char *name, bool *ret_exists,
                        char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* Refuse new logins of `name` and terminate its sessions. */
int db_exec_lock_out(struct pg_conn *pg, const char *name, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;
/* Give the connected (admin) user membership of `name`, best effort, so
 * it may later DROP OWNED BY and terminate the role's sessions (needed
 * on PostgreSQL 15 when the admin has only CREATEROLE). Inside a
 * transaction: uses a savepoint. */
void db_exec_grant_to_admin(struct pg_conn *pg, const char *name);

/* ---- templates (db_template.c), pure ---- */

/* Render tmpl with vars (NULL members are unavailable: a template that
 * uses one is refused with KH_EINVAL). *ret is malloc'ed and may hold a
 * password: free it with kh_free_secret(s, strlen(s) + 1). */
int db_template_render(const char *tmpl, const struct db_template_vars *vars,
                       char **ret, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* Substitute {{username}} and {{password}} in a connection URL, encoded
 * for its form (percent-encoding in a postgres:// URI, quoted values in a
 * key=value string). *ret as above. */
int db_url_render(const char *url, const char *username, const char *password,
                  char **ret) KH_MUST_CHECK;
/* unix seconds as "YYYY-MM-DD HH:MM:SS+0000" (UTC). */
void db_expiration_format(int64_t t, char out[DB_EXPIRATION_SIZE]);
/* Replace every occurrence of secret in text with "*" characters (error
 * texts from libpq can quote a statement). Accepts NULL/empty secret. */
void db_scrub(char *text, const char *secret);
/* True when the URL carries a literal password (not {{password}}). */
bool db_url_has_literal_password(const char *url);

/* ---- request fields (db_fields.c), pure ---- */

/* A statements field: JSON array of strings, a string, a string holding
 * a JSON array, or base64 of the text. Absent or null: *ret = NULL. */
int db_fields_statements(const json_t *value, const char *field, json_t **ret,
                         char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* A comma-separated list or an array of strings, trimmed, no empties. */
int db_fields_csl(const json_t *value, const char *field, size_t max,
                  json_t **ret, char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* A TDS duration: integer seconds or a string like "1h30m". */
int db_fields_duration(const json_t *value, const char *field, uint64_t max_s,
                       uint64_t *ret, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* A connection or role name: [A-Za-z0-9_.-], starting and ending with
 * a letter, digit or '_', at most DB_NAME_BYTES_MAX bytes. */
bool db_name_valid(const char *name);
/* Is role allowed by allowed_roles ("*" or an exact entry)? */
bool db_role_allowed(const json_t *allowed_roles, const char *role);
/* Validate the fields of a connection that does not depend on the
 * database: plugin, URL, limits, password_authentication. */
int db_config_validate(const char *plugin_name, const struct db_config *cfg,
                       char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* ---- generated names (db_names.c) ---- */

/* v-<display[0:8]>-<role[0:8]>-<random20>-<unix time>, characters
 * outside [A-Za-z0-9_-] replaced by '_', cut to 63 bytes. */
void db_username_format(const char *display, const char *role,
                        const char *random20, int64_t now,
                        char out[DB_USERNAME_BYTES_MAX + 1]);
int db_username_generate(const char *display, const char *role, int64_t now,
                         char out[DB_USERNAME_BYTES_MAX + 1]) KH_MUST_CHECK;
/* DB_PASSWORD_CHARS of [A-Za-z0-9-] with at least one of each class. */
int db_password_generate(char out[DB_PASSWORD_CHARS + 1]) KH_MUST_CHECK;
bool db_password_policy_ok(const char *password);

#endif
