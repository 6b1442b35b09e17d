/*
 * db_pool.c - libpq connection pools of the database engine: one pool per
 * connection name per mount, at most max_open_connections connections
 * each, every session with a connect timeout, a statement timeout and
 * standard_conforming_strings on (the template escaping relies on it).
 *
 * Owns the pools, their connections and the rendered connection strings
 * (which hold the root password and are wiped when the pool dies). It never
 * runs statements of its own beyond libpq's liveness check and never logs.
 *
 * Lifetime: a pool is referenced by the mount's table and by each
 * connection handed out; db_pool_invalidate() removes it from the table
 * (config changed) and it is freed when the last connection comes back.
 * A caller waits at most DB_POOL_WAIT_S for a free connection and
 * DB_CONNECT_TIMEOUT_S for a new one, and only ever for its own pool.
 */
#include "engines/database/database.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "common/secret.h"

struct db_pool
{
    char name[DB_NAME_BYTES_MAX + 1];
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t freed;
    char *conninfo;         /* secret: rendered with the password */
    char *conninfo_pending; /* secret: with password_pending, or NULL */
    char *password;         /* secrets to scrub from libpq errors */
    char *password_pending;
    bool scram;
    unsigned max_open;
    unsigned open; /* idle + in use */
    PGconn *idle[DB_OPEN_CONNECTIONS_MAX];
    unsigned idle_count;
    unsigned refs; /* the table's + one per connection out */
    bool retired;
};

static void free_secret_str(char *s)
{
    if (s != NULL)
        kh_free_secret(s, strlen(s));
}

static void pool_free(struct db_pool *pool)
{
    unsigned i;

    if (pool == NULL)
        return;
    for (i = 0; i < pool->idle_count; i++)
        PQfinish(pool->idle[i]);
    free_secret_str(pool->conninfo);
    free_secret_str(pool->conninfo_pending);
    free_secret_str(pool->password);
    free_secret_str(pool->password_pending);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* Drop one reference; the last one frees the pool. */
static void pool_unref(struct db_pool *pool)
{
    bool last;

    pthread_mutex_lock(&pool->lock);
    KH_ASSERT(pool->refs > 0);
    last = --pool->refs == 0;
    pthread_mutex_unlock(&pool->lock);
    if (last)
        pool_free(pool);
}

/* The first line of libpq's error text, scrubbed of both passwords. */
static void pg_error_text(const char *text, const char *pw1, const char *pw2,
                          char out[DB_ERRTEXT_BYTES])
{
    char *nl;

    snprintf(out, DB_ERRTEXT_BYTES, "%s", text != NULL ? text : "");
    nl = strchr(out, '\n');
    if (nl != NULL && nl[1] == '\0')
        *nl = '\0';
    for (nl = out; *nl != '\0'; nl++) {
        if (*nl == '\n' || *nl == '\t')
            *nl = ' ';
    }
    db_scrub(out, pw1);
    db_scrub(out, pw2);
}

/* libpq prints notices (and the server's goodbye) to stderr by default;
 * the engine reports errors through errmsg instead. */
static void pg_notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Open one session for conninfo with the engine's session settings. */
static int pg_connect(const char *conninfo, const char *pw1, const char *pw2,
                      PGconn **ret, char *errmsg, size_t errmsg_size)
{
    char timeout[16], options[96], text[DB_ERRTEXT_BYTES];
    const char *keys[] = {"dbname",          "connect_timeout",  "options",
                          "client_encoding", "application_name", NULL};
    const char *values[] = {conninfo, timeout,   options,
                            "UTF8",   "keyhold", NULL};
    PGconn *pg;

    snprintf(timeout, sizeof(timeout), "%d", DB_CONNECT_TIMEOUT_S);
    snprintf(options, sizeof(options),
             "-c statement_timeout=%d -c standard_conforming_strings=on",
             DB_STATEMENT_TIMEOUT_MS);
    pg = PQconnectdbParams(keys, values, 1);
    if (pg == NULL)
        return KH_ENOMEM;
    if (PQstatus(pg) != CONNECTION_OK) {
        pg_error_text(PQerrorMessage(pg), pw1, pw2, text);
        PQfinish(pg);
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "error connecting to the database: %s", text);
    }
    PQsetNoticeProcessor(pg, pg_notice_ignore, NULL);
    *ret = pg;
    return 0;
}

/* Build a pool from a loaded config. */
static int pool_create(const char *name, const struct db_config *config,
                       struct db_pool **ret)
{
    struct db_pool *pool = calloc(1, sizeof(*pool));
    int r = KH_ENOMEM;

    if (pool == NULL)
        return KH_ENOMEM;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    snprintf(pool->name, sizeof(pool->name), "%s", name);
    pool->scram = config->scram;
    pool->max_open = config->max_open_connections;
    pool->refs = 1;
    r = db_url_render(config->connection_url, config->username,
                      config->password, &pool->conninfo);
    if (r == 0 && config->password_pending != NULL)
        r = db_url_render(config->connection_url, config->username,
                          config->password_pending, &pool->conninfo_pending);
    if (r == 0 && config->password != NULL &&
        (pool->password = strdup(config->password)) == NULL)
        r = KH_ENOMEM;
    if (r == 0 && config->password_pending != NULL &&
        (pool->password_pending = strdup(config->password_pending)) == NULL)
        r = KH_ENOMEM;
    if (r != 0) {
        pool_free(pool);
        return r;
    }
    *ret = pool;
    return 0;
}

/* The pool for name with a reference for the caller, created from the
 * stored config when the table has none. */
static int pool_get(struct db_state *state, const char *name,
                    struct db_pool **ret)
{
    struct db_config config = {0};
    struct db_pool *pool = NULL;
    size_t i;
    int r = 0;

    pthread_mutex_lock(&state->pools_lock);
    for (i = 0; i < state->pool_count; i++) {
        if (strcmp(state->pools[i]->name, name) == 0) {
            pool = state->pools[i];
            break;
        }
    }
    if (pool == NULL) {
        r = db_config_load(&state->view, name, &config);
        if (r == 0)
            r = state->pool_count < DB_POOLS_MAX
                    ? pool_create(name, &config, &pool)
                    : KH_ELIMIT;
        if (r == 0)
            state->pools[state->pool_count++] = pool;
        db_config_clear(&config);
    }
    if (pool != NULL) {
        pthread_mutex_lock(&pool->lock);
        pool->refs++;
        pthread_mutex_unlock(&pool->lock);
    }
    pthread_mutex_unlock(&state->pools_lock);
    if (r == 0)
        *ret = pool;
    return r;
}

/* Open a new connection for the pool (without its lock). */
static int pool_connect(struct db_pool *pool, PGconn **ret, char *errmsg,
                        size_t errmsg_size)
{
    int r;

    r = pg_connect(pool->conninfo, pool->password, pool->password_pending, ret,
                   errmsg, errmsg_size);
    if (r != 0 && pool->conninfo_pending != NULL)
        r = pg_connect(pool->conninfo_pending, pool->password,
                       pool->password_pending, ret, errmsg, errmsg_size);
    return r;
}

/* Take a live idle connection, open a new one, or wait; pool locked on
 * entry and on return. *ret_new: the caller must connect (slot taken). */
static int pool_take_locked(struct db_pool *pool, PGconn **ret_idle,
                            bool *ret_new)
{
    struct timespec deadline;

    KH_ASSERT(pool->open <= pool->max_open);
    KH_ASSERT(pool->idle_count <= pool->open);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += DB_POOL_WAIT_S;
    for (;;) {
        while (pool->idle_count > 0) {
            PGconn *pg = pool->idle[--pool->idle_count];
            /* a session the server ended (restart, terminate) is dropped */
            if (PQconsumeInput(pg) == 1 && PQstatus(pg) == CONNECTION_OK) {
                *ret_idle = pg;
                *ret_new = false;
                return 0;
            }
            PQfinish(pg);
            pool->open--;
        }
        if (pool->open < pool->max_open) {
            pool->open++;
            *ret_new = true;
            return 0;
        }
        if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) ==
            ETIMEDOUT)
            return KH_EUNAVAIL;
    }
}

int db_conn_acquire(struct db_state *state, const char *name,
                    struct db_conn *ret, char *errmsg, size_t errmsg_size)
{
    struct db_pool *pool = NULL;
    PGconn *pg = NULL;
    bool fresh = false;
    int r;

    KH_ASSERT(state != NULL);
    KH_ASSERT(name != NULL);
    r = pool_get(state, name, &pool);
    if (r == KH_ENOTFOUND || r == KH_EINVAL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "no database connection named \"%s\"", name);
    if (r != 0)
        return r;
    pthread_mutex_lock(&pool->lock);
    r = pool_take_locked(pool, &pg, &fresh);
    pthread_mutex_unlock(&pool->lock);
    if (r != 0) {
        unsigned max_open = pool->max_open;
        pool_unref(pool);
        return kh_errmsg(errmsg, errmsg_size, r,
                         "all %u connections to \"%s\" stayed busy for %ds",
                         max_open, name, DB_POOL_WAIT_S);
    }
    if (fresh) {
        r = pool_connect(pool, &pg, errmsg, errmsg_size);
        if (r != 0) {
            pthread_mutex_lock(&pool->lock);
            pool->open--;
            pthread_cond_signal(&pool->freed);
            pthread_mutex_unlock(&pool->lock);
            pool_unref(pool);
            return r;
        }
    }
    ret->pool = pool;
    ret->pg = pg;
    return 0;
}

void db_conn_release(struct db_conn *conn)
{
    struct db_pool *pool;
    PGconn *pg;

    if (conn == NULL || conn->pool == NULL)
        return;
    pool = conn->pool;
    pg = conn->pg;
    pthread_mutex_lock(&pool->lock);
    KH_ASSERT(pool->open > 0);
    KH_ASSERT(pool->idle_count < pool->open);
    if (pg != NULL && !pool->retired && PQstatus(pg) == CONNECTION_OK &&
        PQtransactionStatus(pg) == PQTRANS_IDLE &&
        pool->idle_count < DB_OPEN_CONNECTIONS_MAX) {
        pool->idle[pool->idle_count++] = pg;
    } else {
        PQfinish(pg);
        pool->open--;
    }
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
    pool_unref(pool);
    conn->pool = NULL;
    conn->pg = NULL;
}

bool db_conn_scram(const struct db_conn *conn)
{
    return conn->pool->scram;
}

/* Retire a pool removed from the table: close its idle connections. */
static void pool_retire(struct db_pool *pool)
{
    unsigned i;

    pthread_mutex_lock(&pool->lock);
    pool->retired = true;
    for (i = 0; i < pool->idle_count; i++)
        PQfinish(pool->idle[i]);
    pool->open -= pool->idle_count;
    pool->idle_count = 0;
    pthread_mutex_unlock(&pool->lock);
    pool_unref(pool);
}

void db_pool_invalidate(struct db_state *state, const char *name)
{
    struct db_pool *pool = NULL;
    size_t i;

    pthread_mutex_lock(&state->pools_lock);
    for (i = 0; i < state->pool_count; i++) {
        if (strcmp(state->pools[i]->name, name) == 0) {
            pool = state->pools[i];
            state->pools[i] = state->pools[--state->pool_count];
            break;
        }
    }
    pthread_mutex_unlock(&state->pools_lock);
    if (pool != NULL)
        pool_retire(pool);
}

void db_pools_close(struct db_state *state)
{
    size_t i;

    pthread_mutex_lock(&state->pools_lock);
    for (i = 0; i < state->pool_count; i++)
        pool_retire(state->pools[i]);
    state->pool_count = 0;
    pthread_mutex_unlock(&state->pools_lock);
}

int db_connect_direct(const struct db_config *config, const char *password,
                      struct pg_conn **ret, char *errmsg, size_t errmsg_size)
{
    const char *pw = password != NULL ? password : config->password;
    char *conninfo = NULL;
    int r;

    r = db_url_render(config->connection_url, config->username, pw, &conninfo);
    if (r != 0)
        return r;
    r = pg_connect(conninfo, pw, config->password, ret, errmsg, errmsg_size);
    free_secret_str(conninfo);
    return r;
}

void db_connect_close(struct pg_conn *pg)
{
    if (pg != NULL)
        PQfinish(pg);
}
