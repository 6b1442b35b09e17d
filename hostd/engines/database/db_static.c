/*
 * db_static.c - static roles (Vault API: database engine): an existing PostgreSQL
 * user whose password Keyhold rotates every rotation_period.
 * database/static-roles/:name defines one (and rotates at once),
 * database/static-creds/:name returns the current password,
 * database/rotate-role/:name rotates now.
 *
 * Rotation (database.h): one thread per mount wakes every second and
 * rotates the roles that are due, retrying a failure after
 * DB_ROTATION_RETRY_S; static-creds rotates first when it finds a due role
 * the thread has not reached. Every rotation holds the mount's static_lock,
 * so a request never sees a password that is being replaced.
 *
 * Owns the static-role records and their passwords: a new password is set
 * in PostgreSQL first and stored after, and never logged.
 */
#include "engines/database/database.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"

#define DB_ROTATION_IDLE_S 3600 /* longest sleep between scans */

static const char *const default_rotation =
    "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}'";

static json_t *rotation_statements(const struct db_static_role *role)
{
    json_t *out;

    if (json_array_size(role->rotation) > 0)
        return json_incref(role->rotation);
    out = json_array();
    if (out != NULL &&
        json_array_append_new(out, json_string(default_rotation)) != 0) {
        json_decref(out);
        out = NULL;
    }
    return out;
}

/* Rotate one role now; static_lock held. Stores the role on success. */
static int rotate_locked(struct db_state *state, const char *name,
                         struct db_static_role *role, char *errmsg,
                         size_t errmsg_size)
{
    char fresh[DB_PASSWORD_CHARS + 1] = "";
    struct db_template_vars vars = {role->username, fresh, NULL};
    struct db_conn conn = {0};
    json_t *statements = rotation_statements(role);
    char *copy = NULL;
    int r = KH_ENOMEM;

    if (statements == NULL)
        goto out;
    if ((r = db_password_generate(fresh)) ||
        (r = db_conn_acquire(state, role->db_name, &conn, errmsg, errmsg_size)))
        goto out;
    r = db_exec_tx(conn.pg, statements, &vars, db_conn_scram(&conn), errmsg,
                   errmsg_size);
    db_conn_release(&conn);
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    copy = strdup(fresh);
    if (copy == NULL)
        goto out;
    if (role->password != NULL)
        kh_free_secret(role->password, strlen(role->password));
    role->password = copy;
    role->last_rotation = (int64_t)time(NULL);
    r = db_static_role_store(&state->view, name, role);
    /* 0 means "scan soon" and must stay so */
    if (r == 0 && state->next_rotation != 0 &&
        role->last_rotation + (int64_t)role->rotation_period_s <
            state->next_rotation)
        state->next_rotation =
            role->last_rotation + (int64_t)role->rotation_period_s;
out:
    kh_wipe(fresh, sizeof(fresh));
    json_decref(statements);
    return r;
}

/* Check the connection exists and allows the role. */
static int static_check_allowed(const struct db_call *call, const char *db_name)
{
    struct db_config config = {0};
    int r;

    r = db_config_load(&call->state->view, db_name, &config);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "no database connection named \"%s\"", db_name);
    if (r == 0 && !db_role_allowed(config.allowed_roles, call->name))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "\"%s\" is not an allowed role", call->name);
    db_config_clear(&config);
    return r;
}

/* Apply the request's fields over role. */
static int static_apply(const struct db_call *call, struct db_static_role *role,
                        bool exists)
{
    const struct kh_request *req = call->br->req;
    const char *db_name = kh_request_string(req, "db_name");
    const char *user = kh_request_string(req, "username");
    const json_t *period = json_object_get(req->data, "rotation_period");
    json_t *list = NULL;
    int r;

    if (db_name != NULL && db_name_valid(db_name))
        snprintf(role->db_name, sizeof(role->db_name), "%s", db_name);
    else if (db_name != NULL || !exists)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "a valid db_name is required");
    if (user != NULL && exists && strcmp(user, role->username) != 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "cannot update static account username");
    if (user == NULL && !exists)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "username is a required field");
    if (user != NULL &&
        (user[0] == '\0' || strlen(user) > DB_USERNAME_BYTES_MAX))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "username must be 1..%d bytes", DB_USERNAME_BYTES_MAX);
    if (user != NULL)
        snprintf(role->username, sizeof(role->username), "%s", user);
    if (period == NULL && !exists)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "rotation_period is required");
    if (period != NULL &&
        ((r = db_fields_duration(period, "rotation_period", DB_TTL_MAX_S,
                                 &role->rotation_period_s, call->errmsg,
                                 call->errmsg_size)) != 0))
        return r;
    if (role->rotation_period_s < DB_ROTATION_PERIOD_MIN_S)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "rotation_period must be %d seconds or more",
                         DB_ROTATION_PERIOD_MIN_S);
    r = db_fields_statements(json_object_get(req->data, "rotation_statements"),
                             "rotation_statements", &list, call->errmsg,
                             call->errmsg_size);
    if (r == 0 && list != NULL) {
        json_decref(role->rotation);
        role->rotation = list;
    }
    return r;
}

int db_static_write(const struct db_call *call)
{
    struct db_static_role role = {0};
    bool exists;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(&call->state->static_lock);
    r = db_static_role_load(&call->state->view, call->name, &role);
    exists = r == 0;
    if (r == KH_ENOTFOUND)
        r = 0;
    if (r == 0)
        r = static_apply(call, &role, exists);
    if (r == 0)
        r = static_check_allowed(call, role.db_name);
    /* a new role is rotated at once, so Keyhold knows its password */
    if (r == 0 && !exists)
        r = rotate_locked(call->state, call->name, &role, call->errmsg,
                          call->errmsg_size);
    else if (r == 0)
        r = db_static_role_store(&call->state->view, call->name, &role);
    if (r == 0)
        call->state->next_rotation = 0; /* rescan: the period may differ */
    pthread_mutex_unlock(&call->state->static_lock);
    db_static_role_clear(&role);
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

static void time_text(int64_t t, char out[KH_TIME_STR_SIZE])
{
    struct timespec ts = {(time_t)t, 0};

    kh_time_format(&ts, out);
}

int db_static_read(const struct db_call *call)
{
    struct db_static_role role = {0};
    char last[KH_TIME_STR_SIZE];
    json_t *data;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    r = db_static_role_load(&call->state->view, call->name, &role);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ENOTFOUND, "%s",
                         "");
    if (r != 0)
        return r;
    time_text(role.last_rotation, last);
    data = json_pack(
        "{s:s, s:s, s:I, s:o, s:s, s:s}", "db_name", role.db_name, "username",
        role.username, "rotation_period", (json_int_t)role.rotation_period_s,
        "rotation_statements",
        role.rotation != NULL ? json_incref(role.rotation) : json_array(),
        "last_vault_rotation", last, "credential_type", "password");
    db_static_role_clear(&role);
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

int db_static_delete(const struct db_call *call)
{
    int r;

    r = db_call_delete(call, &call->state->static_lock, "static-role");
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

int db_static_list(const struct db_call *call)
{
    KH_ASSERT(call->br->req->op == KH_OP_LIST);
    return db_call_list(call, "static-role");
}

/* Load a static role for a request; static_lock held. */
static int static_load(const struct db_call *call, struct db_static_role *role)
{
    int r = db_static_role_load(&call->state->view, call->name, role);

    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unknown static role: %s", call->name);
    return r;
}

int db_static_creds_read(const struct db_call *call)
{
    struct db_static_role role = {0};
    char last[KH_TIME_STR_SIZE];
    int64_t now = (int64_t)time(NULL), due;
    json_t *data = NULL;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(&call->state->static_lock);
    r = static_load(call, &role);
    due = role.last_rotation + (int64_t)role.rotation_period_s;
    if (r == 0 && (role.password == NULL || now >= due))
        r = rotate_locked(call->state, call->name, &role, call->errmsg,
                          call->errmsg_size);
    if (r == 0) {
        due = role.last_rotation + (int64_t)role.rotation_period_s;
        time_text(role.last_rotation, last);
        data = json_pack("{s:s, s:s, s:s, s:I, s:I}", "username", role.username,
                         "password", role.password, "last_vault_rotation", last,
                         "rotation_period", (json_int_t)role.rotation_period_s,
                         "ttl", (json_int_t)(due > now ? due - now : 0));
        r = data != NULL ? 0 : KH_ENOMEM;
    }
    pthread_mutex_unlock(&call->state->static_lock);
    db_static_role_clear(&role);
    if (r != 0)
        return r;
    return kh_response_envelope(call->resp, call->br->req, data);
}

int db_static_rotate_role(const struct db_call *call)
{
    struct db_static_role role = {0};
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(&call->state->static_lock);
    r = static_load(call, &role);
    if (r == 0)
        r = rotate_locked(call->state, call->name, &role, call->errmsg,
                          call->errmsg_size);
    pthread_mutex_unlock(&call->state->static_lock);
    db_static_role_clear(&role);
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

/* Rotate the role `name` if due; returns when it is next due. */
static int64_t rotate_if_due(struct db_state *state, const char *name,
                             int64_t now, size_t *rotated)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct db_static_role role = {0};
    int64_t due;

    if (db_static_role_load(&state->view, name, &role) != 0)
        return now + DB_ROTATION_RETRY_S;
    due = role.last_rotation + (int64_t)role.rotation_period_s;
    if (due <= now) {
        if (rotate_locked(state, name, &role, errmsg, sizeof(errmsg)) == 0) {
            (*rotated)++;
            due = role.last_rotation + (int64_t)role.rotation_period_s;
        } else {
            log_warn("database: rotation of static role %s failed (retry "
                     "in %ds): %s",
                     name, DB_ROTATION_RETRY_S, errmsg);
            due = now + DB_ROTATION_RETRY_S;
        }
    }
    db_static_role_clear(&role);
    return due;
}

size_t db_static_rotate_due(struct db_state *state)
{
    int64_t now = (int64_t)time(NULL), next = now + DB_ROTATION_IDLE_S;
    json_t *keys = NULL;
    size_t rotated = 0, i;

    pthread_mutex_lock(&state->static_lock);
    if (state->next_rotation > now ||
        db_record_list(&state->view, "static-role", &keys) != 0) {
        pthread_mutex_unlock(&state->static_lock);
        return 0;
    }
    for (i = 0; i < json_array_size(keys) && i < DB_STATIC_ROLES_MAX; i++) {
        int64_t due = rotate_if_due(
            state, json_string_value(json_array_get(keys, i)), now, &rotated);
        if (due < next)
            next = due;
    }
    state->next_rotation = next;
    pthread_mutex_unlock(&state->static_lock);
    json_decref(keys);
    return rotated;
}

static void *rotation_main(void *arg)
{
    struct db_state *state = arg;

    pthread_mutex_lock(&state->thread_lock);
    while (!state->stopping) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        (void)pthread_cond_timedwait(&state->thread_wake, &state->thread_lock,
                                     &deadline);
        if (state->stopping)
            break;
        pthread_mutex_unlock(&state->thread_lock);
        (void)db_static_rotate_due(state);
        pthread_mutex_lock(&state->thread_lock);
    }
    pthread_mutex_unlock(&state->thread_lock);
    return NULL;
}

int db_static_thread_start(struct db_state *state)
{
    KH_ASSERT(!state->thread_running);
    if (pthread_create(&state->thread, NULL, rotation_main, state) != 0)
        return KH_ENOMEM;
    state->thread_running = true;
    return 0;
}

void db_static_thread_stop(struct db_state *state)
{
    if (!state->thread_running)
        return;
    pthread_mutex_lock(&state->thread_lock);
    state->stopping = true;
    pthread_cond_signal(&state->thread_wake);
    pthread_mutex_unlock(&state->thread_lock);
    pthread_join(state->thread, NULL);
    state->thread_running = false;
}
