/*
 * sys_status.c - sys/health, sys/seal-status, sys/leader: answered from a
 * consistent snapshot of the core state (Vault API: sys/seal-status, §2.5, §2.6).
 * Unauthenticated and reachable in every state; they reveal no secret.
 * Besides Vault's fields, seal-status and health carry "seal_healthy"
 * (the seal device answers and, for tpm2, the PCRs still match the sealed
 * root key), and seal-status "seal_error" when there is a reason to give.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

#define KH_HEALTH_TEXT_BYTES 768
#include "raft/raft_node.h"
#include "core/core.h"
#include "core/sys/sys_handlers.h"
#include "http/request_parse.h"

/* Why the seal is not healthy or did not auto-unseal: the seal's own
 * account (struct seal's errmsg: which PCRs changed, TPM unreachable)
 * while unhealthy, else the core's last auto-unseal failure; "" when
 * there is nothing to say. */
static void seal_error_text(struct kh_core *core,
                            const struct kh_core_status *s, char *out,
                            size_t size)
{
    out[0] = '\0';
    pthread_mutex_lock(&core->lock);
    if (!s->seal_healthy && core->seal->errmsg[0] != '\0')
        snprintf(out, size, "%s", core->seal->errmsg);
    pthread_mutex_unlock(&core->lock);
    if (out[0] == '\0' && s->seal_error[0] != '\0')
        snprintf(out, size, "%s", s->seal_error);
    if (out[0] == '\0' && !s->seal_healthy)
        snprintf(out, size, "the seal device is not reachable");
}

json_t *sys_seal_status_json(struct kh_core *core)
{
    char seal_error[KH_ERRMSG_SIZE];
    struct kh_core_status s;
    json_t *body;

    kh_core_status(core, &s);
    body = json_pack("{s:s, s:b, s:b, s:i, s:i, s:i, s:s, s:s, s:s, s:b, "
                     "s:b, s:s}",
                     "type", s.seal_type, "initialized", s.initialized,
                     "sealed", s.sealed, "t", (int)s.threshold, "n",
                     (int)s.shares, "progress", s.sealed ? (int)s.progress : 0,
                     "nonce", s.sealed ? s.nonce : "", "version",
                     KH_SERVER_VERSION, "build_date", core->build_date,
                     "migration", 0, "recovery_seal", s.recovery_seal,
                     "storage_type", s.storage_type);
    if (body != NULL && !s.sealed) {
        json_object_set_new(body, "cluster_name", json_string(s.cluster_name));
        json_object_set_new(body, "cluster_id", json_string(s.cluster_id));
    }
    /* Keyhold's extra fields: the seal device's health and why not. */
    seal_error_text(core, &s, seal_error, sizeof(seal_error));
    if (body != NULL) {
        json_object_set_new(body, "seal_healthy",
                            json_boolean(s.seal_healthy));
        if (seal_error[0] != '\0')
            json_object_set_new(body, "seal_error", json_string(seal_error));
    }
    return body;
}

int sys_seal_status(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg,
                    size_t errmsg_size)
{
    return kh_response_raw(resp, sys_seal_status_json(core));
}

/* A status-code override from the query: absent keeps def. */
static int health_code(const struct kh_request *req, const char *name,
                       unsigned def, unsigned *ret, char *errmsg,
                       size_t errmsg_size)
{
    unsigned long long code = def;
    int r;

    r = kh_request_uint(req, name, def, 599, &code, errmsg, errmsg_size);
    if (r == 0 && code < 200)
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "\"%s\" must be an HTTP status code", name);
    if (r == 0)
        *ret = (unsigned)code;
    return r;
}

static int health_status(const struct kh_request *req,
                         const struct kh_core_status *s, unsigned *ret,
                         char *errmsg, size_t errmsg_size)
{
    unsigned uninit = 501, sealed = 503, active = 200, unused = 0;
    unsigned standby = 429;
    bool flag = false, standby_ok = false;
    int r;

    r = health_code(req, "uninitcode", 501, &uninit, errmsg, errmsg_size);
    if (r == 0)
        r = health_code(req, "sealedcode", 503, &sealed, errmsg, errmsg_size);
    if (r == 0)
        r = health_code(req, "activecode", 200, &active, errmsg, errmsg_size);
    if (r == 0)
        r = health_code(req, "drsecondarycode", 472, &unused, errmsg,
                        errmsg_size);
    if (r == 0)
        r = health_code(req, "performancestandbycode", 473, &unused, errmsg,
                        errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "perfstandbyok", false, &flag, errmsg,
                            errmsg_size);
    if (r == 0)
        r = health_code(req, "standbycode", 429, &standby, errmsg,
                        errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "standbyok", false, &standby_ok, errmsg,
                            errmsg_size);
    if (r != 0)
        return r;
    /* First match wins (Vault API: sys/health). */
    *ret = !s->initialized ? uninit
           : s->sealed     ? sealed
           : s->standby    ? (standby_ok ? active : standby)
                           : active;
    return 0;
}

/* True when text needs no JSON escaping (it is printed as is). */
static bool json_plain(const char *text)
{
    const unsigned char *p;

    for (p = (const unsigned char *)text; *p != '\0'; p++)
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return false;
    return true;
}

/* The health body, printed directly: the hottest path of the API (load
 * balancers poll it) skips building a JSON tree. Field order and values are
 * what the tree would give. NULL when a string needs escaping or on
 * allocation failure (the caller then builds the tree). */
static char *health_text(const struct kh_core_status *s)
{
    char *text = malloc(KH_HEALTH_TEXT_BYTES);
    int n;

    if (text == NULL || !json_plain(s->cluster_name) ||
        !json_plain(s->cluster_id)) {
        free(text);
        return NULL;
    }
    n = snprintf(text, KH_HEALTH_TEXT_BYTES,
                 "{\"initialized\":%s,\"sealed\":%s,\"standby\":%s,"
                 "\"performance_standby\":false,"
                 "\"replication_performance_mode\":\"disabled\","
                 "\"replication_dr_mode\":\"disabled\","
                 "\"server_time_utc\":%lld,\"version\":\"%s\"",
                 s->initialized ? "true" : "false",
                 s->sealed ? "true" : "false", s->standby ? "true" : "false",
                 (long long)time(NULL), KH_SERVER_VERSION);
    if (n > 0 && n < KH_HEALTH_TEXT_BYTES && !s->sealed)
        n += snprintf(text + n, KH_HEALTH_TEXT_BYTES - (size_t)n,
                      ",\"cluster_name\":\"%s\",\"cluster_id\":\"%s\"",
                      s->cluster_name, s->cluster_id);
    if (n > 0 && n < KH_HEALTH_TEXT_BYTES)
        n += snprintf(text + n, KH_HEALTH_TEXT_BYTES - (size_t)n,
                      ",\"seal_healthy\":%s}",
                      s->seal_healthy ? "true" : "false");
    if (n <= 0 || n >= KH_HEALTH_TEXT_BYTES) {
        free(text);
        return NULL;
    }
    return text;
}

int sys_health(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    struct kh_core_status s;
    unsigned status = 0;
    json_t *body;
    int r;

    kh_core_status(core, &s);
    r = health_status(req, &s, &status, errmsg, errmsg_size);
    if (r != 0)
        return r;
    resp->text = health_text(&s);
    if (resp->text != NULL) {
        resp->content_type = "application/json";
        resp->status = (int)status;
        return 0;
    }
    body = json_pack("{s:b, s:b, s:b, s:b, s:s, s:s, s:I, s:s}",
                     "initialized", s.initialized, "sealed", s.sealed,
                     "standby", s.standby, "performance_standby", 0,
                     "replication_performance_mode", "disabled",
                     "replication_dr_mode", "disabled", "server_time_utc",
                     (json_int_t)time(NULL), "version", KH_SERVER_VERSION);
    if (body != NULL && !s.sealed) {
        json_object_set_new(body, "cluster_name", json_string(s.cluster_name));
        json_object_set_new(body, "cluster_id", json_string(s.cluster_id));
    }
    /* Keyhold's extra field: a node keeps serving when its seal device
     * goes away after unseal, but says so here. */
    if (body != NULL)
        json_object_set_new(body, "seal_healthy",
                            json_boolean(s.seal_healthy));
    r = kh_response_raw(resp, body);
    resp->status = (int)status;
    return r;
}

int sys_leader(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    struct kh_core_status s;
    struct kh_raft_status rs;
    char active_time[KH_TIME_STR_SIZE] = "0001-01-01T00:00:00Z";
    char leader[512] = "";
    json_t *body;

    (void)req;
    (void)errmsg;
    (void)errmsg_size;
    kh_core_status(core, &s);
    if (s.sealed)
        return KH_ESEALED;
    if (core->raft == NULL)
        return kh_response_raw(
            resp,
            json_pack("{s:b, s:b, s:s, s:s, s:s, s:b, s:i}", "ha_enabled", 0,
                      "is_self", 0, "active_time", "0001-01-01T00:00:00Z",
                      "leader_address", "", "leader_cluster_address", "",
                      "performance_standby", 0,
                      "performance_standby_last_remote_wal", 0));
    kh_raft_node_status(core->raft, &rs);
    if (!s.standby) {
        snprintf(leader, sizeof(leader), "%s",
                 core->config->api_addr ? core->config->api_addr : "");
        if (s.active_time.tv_sec != 0)
            kh_time_format(&s.active_time, active_time);
    } else if (kh_core_active_addr(core, leader, sizeof(leader)) != 1) {
        leader[0] = '\0';
    }
    body = json_pack("{s:b, s:b, s:s, s:s, s:s, s:b, s:i, s:I, s:I}",
                     "ha_enabled", 1, "is_self", !s.standby, "active_time",
                     active_time, "leader_address", leader,
                     "leader_cluster_address",
                     rs.leader_address[0] ? rs.leader_address : "",
                     "performance_standby", 0,
                     "performance_standby_last_remote_wal", 0,
                     "raft_committed_index", (json_int_t)rs.commit_index,
                     "raft_applied_index", (json_int_t)rs.applied_index);
    return kh_response_raw(resp, body);
}
