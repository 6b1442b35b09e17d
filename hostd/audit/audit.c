/*
 * audit.c - the audit broker: fans each request and response out to the
 * enabled devices and waits, with a deadline, until at least one of them
 * confirmed it (audit.h). Owns the device array, the tickets, the
 * allowed directories and the checkpoint key's lifetime.
 *
 * Fails closed: when devices are enabled and none confirms a record in
 * time, the caller gets KH_EUNAVAIL and must not serve the request or
 * show the response. Never logs a record or a secret.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "barrier/barrier.h"
#include "common/log.h"
#include "common/secret.h"
#include "config/config.h"
#include "core/core.h"
#include "core/request.h"

#define NO_DEVICE_TEXT "audit: no device recorded the request"

/* ---- tickets ---- */

struct audit_ticket *audit_ticket_new(void)
{
    struct audit_ticket *t = calloc(1, sizeof(*t));
    pthread_condattr_t attr;

    if (t == NULL)
        return NULL;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&t->lock, NULL);
    t->refs = 1;
    return t;
}

static void ticket_release_locked(struct audit_ticket *t)
{
    bool last;

    KH_ASSERT(t->refs > 0);
    last = --t->refs == 0;
    pthread_mutex_unlock(&t->lock);
    if (last) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->cond);
        free(t);
    }
}

void audit_ticket_hold(struct audit_ticket *t)
{
    pthread_mutex_lock(&t->lock);
    t->refs++;
    t->expected++;
    pthread_mutex_unlock(&t->lock);
}

void audit_ticket_settle(struct audit_ticket *t, bool ok)
{
    pthread_mutex_lock(&t->lock);
    if (ok)
        t->ok++;
    else
        t->failed++;
    pthread_cond_broadcast(&t->cond);
    ticket_release_locked(t);
}

/* Wait until one device confirmed, all answered, or the deadline. */
static bool ticket_wait(struct audit_ticket *t, uint64_t timeout_ms)
{
    struct timespec deadline;
    bool ok;

    audit_deadline_in(timeout_ms, &deadline);
    pthread_mutex_lock(&t->lock);
    while (t->ok == 0 && t->ok + t->failed < t->expected)
        if (pthread_cond_timedwait(&t->cond, &t->lock, &deadline) != 0 &&
            audit_ms_until(&deadline) == 0)
            break;
    ok = t->ok > 0;
    ticket_release_locked(t);
    return ok;
}

/* ---- create, load, unload ---- */

static int dirs_add(struct audit_dir_policy *dirs, const char *dir)
{
    char real[PATH_MAX];

    if (dir[0] != '/' || realpath(dir, real) == NULL ||
        strlen(real) >= AUDIT_DIR_BYTES_MAX)
        return KH_ECONFIG;
    if (dirs->count == AUDIT_DIRS_MAX)
        return KH_ELIMIT;
    snprintf(dirs->dirs[dirs->count++], AUDIT_DIR_BYTES_MAX, "%s", real);
    return 0;
}

static int dirs_from_env(struct audit_dir_policy *dirs, char *errmsg,
                         size_t errmsg_size)
{
    const char *env = getenv(AUDIT_ALLOWED_DIRS_ENV);
    char *copy, *save = NULL, *dir;
    int r = 0;

    if (env == NULL || env[0] == '\0')
        return 0;
    copy = strdup(env);
    if (copy == NULL)
        return KH_ENOMEM;
    for (dir = strtok_r(copy, ":", &save); dir != NULL && r == 0;
         dir = strtok_r(NULL, ":", &save)) {
        r = dirs_add(dirs, dir);
        if (r != 0)
            kh_errmsg(errmsg, errmsg_size, r,
                      "%s: \"%s\" is not an existing absolute directory",
                      AUDIT_ALLOWED_DIRS_ENV, dir);
    }
    free(copy);
    return r;
}

static int config_devices_copy(struct audit_broker *b,
                               const struct audit_options *o)
{
    size_t i, j;

    b->config_devices = json_array();
    if (b->config_devices == NULL)
        return KH_ENOMEM;
    for (i = 0; o != NULL && i < o->device_count; i++) {
        const struct kh_config_stanza *s = &o->devices[i];
        json_t *opts = json_object(), *e;
        char path[AUDIT_PATH_BYTES_MAX];
        const char *mount = kh_config_param(s, "path");
        for (j = 0; opts != NULL && j < s->param_count; j++)
            if (strcmp(s->params[j].name, "path") != 0)
                json_object_set_new(opts, s->params[j].name,
                                    json_string(s->params[j].value));
        snprintf(path, sizeof(path), "%s/", s->type ? s->type : "");
        e = json_pack("{s:s, s:s, s:s, s:o}", "path", mount ? mount : path,
                      "type", s->type ? s->type : "", "description",
                      "declared in the server configuration", "options",
                      opts);
        if (e == NULL || json_array_append_new(b->config_devices, e) != 0)
            return KH_ENOMEM;
    }
    return 0;
}

int audit_broker_create(struct kh_core *core,
                        const struct audit_options *options,
                        struct audit_broker **ret_broker, char *errmsg,
                        size_t errmsg_size)
{
    struct audit_broker *b = calloc(1, sizeof(*b));
    size_t i;
    int r = 0;

    KH_ASSERT(core != NULL);
    if (b == NULL)
        return KH_ENOMEM;
    b->core = core;
    pthread_rwlock_init(&b->lock, NULL);
    for (i = 0; options != NULL && i < options->allowed_dir_count && r == 0;
         i++) {
        r = dirs_add(&b->dirs, options->allowed_dirs[i]);
        if (r != 0)
            kh_errmsg(errmsg, errmsg_size, r,
                      "audit_allowed_dirs: \"%s\" is not an existing "
                      "absolute directory", options->allowed_dirs[i]);
    }
    if (r == 0 && b->dirs.count == 0)
        r = dirs_from_env(&b->dirs, errmsg, errmsg_size);
    if (r == 0)
        r = config_devices_copy(b, options);
    if (r != 0) {
        audit_broker_free(b);
        return r;
    }
    *ret_broker = b;
    return 0;
}

void audit_broker_free(struct audit_broker *b)
{
    if (b == NULL)
        return;
    audit_broker_unload(b);
    json_decref(b->config_devices);
    pthread_rwlock_destroy(&b->lock);
    free(b);
}

int audit_broker_load(struct audit_broker *b, char *errmsg,
                      size_t errmsg_size)
{
    char table_errmsg[KH_ERRMSG_SIZE] = "";
    int r, r_table;

    pthread_rwlock_wrlock(&b->lock);
    if (b->loaded) {
        pthread_rwlock_unlock(&b->lock);
        return 0;
    }
    /* Without the key, devices still record (checkpoints wait for it). */
    r = audit_ckey_load(b, errmsg, errmsg_size);
    r_table = audit_table_load(b, table_errmsg, sizeof(table_errmsg));
    /* An unreadable table hides which devices exist: refuse everything
     * rather than serve requests unaudited. */
    b->broken = r_table != 0;
    b->loaded = true;
    pthread_rwlock_unlock(&b->lock);
    if (r_table != 0) {
        snprintf(errmsg, errmsg_size, "%s", table_errmsg);
        return r_table;
    }
    return r;
}

void audit_broker_unload(struct audit_broker *b)
{
    size_t i;

    pthread_rwlock_wrlock(&b->lock);
    for (i = 0; i < b->dev_count; i++) {
        audit_table_dev_free(b->devs[i]);
        b->devs[i] = NULL;
    }
    b->dev_count = 0;
    b->broken = false;
    kh_secure_free(b->ckey, AUDIT_CKEY_BYTES);
    b->ckey = NULL;
    b->loaded = false;
    pthread_rwlock_unlock(&b->lock);
}

void audit_broker_reopen(struct audit_broker *b)
{
    size_t i;

    pthread_rwlock_rdlock(&b->lock);
    for (i = 0; i < b->dev_count; i++)
        if (b->devs[i]->thread_running)
            audit_dev_request_reopen(b->devs[i]);
    pthread_rwlock_unlock(&b->lock);
}

/* ---- the request gate ---- */

static int fan_out(struct audit_broker *b, const struct kh_request *req,
                   const struct token_entry *token,
                   const struct kh_response *resp, bool is_response,
                   const char *error_text, char *errmsg, size_t errmsg_size)
{
    struct audit_ticket *t = NULL;
    uint64_t timeout_ms = 0;
    bool secret = is_response && audit_response_secret(resp);
    size_t i;
    bool ok;

    KH_ASSERT(req != NULL);
    pthread_rwlock_rdlock(&b->lock);
    if (b->broken) {
        pthread_rwlock_unlock(&b->lock);
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, NO_DEVICE_TEXT);
    }
    if (b->dev_count == 0) {
        pthread_rwlock_unlock(&b->lock);
        return 0;
    }
    t = audit_ticket_new();
    for (i = 0; t != NULL && i < b->dev_count; i++) {
        struct audit_dev *d = b->devs[i];
        struct audit_format f = {.salt = d->salt, .log_raw = d->log_raw,
                                 .hmac_accessor = d->hmac_accessor};
        char *body = NULL;
        size_t len = 0;
        int r;
        if (!d->thread_running)
            continue;
        r = is_response ? audit_entry_response(&f, req, token, resp,
                                               error_text, &body, &len)
                        : audit_entry_request(&f, req, token, &body, &len);
        if (r == 0 && audit_dev_enqueue(d, body, len, t, secret) == 0 &&
            d->write_timeout_ms > timeout_ms)
            timeout_ms = d->write_timeout_ms;
    }
    pthread_rwlock_unlock(&b->lock);
    ok = t != NULL && ticket_wait(t, timeout_ms);
    if (!ok)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, NO_DEVICE_TEXT);
    return 0;
}

int audit_log_request(struct audit_broker *b, const struct kh_request *req,
                      const struct token_entry *token, char *errmsg,
                      size_t errmsg_size)
{
    return fan_out(b, req, token, NULL, false, NULL, errmsg, errmsg_size);
}

int audit_log_response(struct audit_broker *b, const struct kh_request *req,
                       const struct token_entry *token,
                       const struct kh_response *resp, int error,
                       const char *error_text, char *errmsg,
                       size_t errmsg_size)
{
    const char *text = error_text;

    if (error != 0 && (text == NULL || text[0] == '\0'))
        text = kh_strerror(error);
    return fan_out(b, req, token, resp, true, error != 0 ? text : NULL,
                   errmsg, errmsg_size);
}
