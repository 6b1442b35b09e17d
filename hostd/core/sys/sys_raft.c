/*
 * sys_raft.c - the integrated-storage paths of the system backend (Vault
 * API: sys/storage/raft, sys/step-down, sys/leader): configuration,
 * remove-peer, autopilot state, snapshots, join and its challenge.
 *
 * Owns no state: every answer is read from the raft node or the core at
 * the time of the request. Snapshot uploads arrive as the raw body (the
 * parser leaves them alone) and are checked whole before anything is
 * written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "core/core_internal.h"
#include "core/sys/sys_handlers.h"
#include "raft/raft_node.h"

static int need_raft(struct kh_core *core, char *errmsg, size_t errmsg_size)
{
    if (core->raft == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "raft storage is not in use");
    return 0;
}

int sys_raft_configuration(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size)
{
    struct kh_raft_status st;
    json_t *servers;
    size_t i;
    int r = need_raft(core, errmsg, errmsg_size);

    if (r != 0)
        return r;
    kh_raft_node_status(core->raft, &st);
    servers = json_array();
    for (i = 0; servers != NULL && i < st.server_count; i++)
        json_array_append_new(
            servers,
            json_pack("{s:s, s:s, s:b, s:s, s:b}", "node_id",
                      st.servers[i].node_id, "address", st.servers[i].address,
                      "leader", st.servers[i].leader, "protocol_version", "3",
                      "voter", st.servers[i].voter));
    return kh_response_envelope(resp, req,
                                json_pack("{s:{s:I, s:o}}", "config", "index",
                                          (json_int_t)st.configuration_index,
                                          "servers", servers));
}

int sys_raft_remove_peer(struct kh_core *core, const struct kh_request *req,
                         struct kh_response *resp, char *errmsg,
                         size_t errmsg_size)
{
    const char *id = kh_request_string(req, "server_id");
    int r = need_raft(core, errmsg, errmsg_size);

    if (r != 0)
        return r;
    if (id == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "server_id is required");
    r = kh_raft_node_remove_server(core->raft, id, KH_RAFT_CHANGE_TIMEOUT_MS);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "no server \"%s\" in the configuration", id);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "cannot remove \"%s\": %s", id,
                         kh_strerror(r));
    log_info("raft: removed \"%s\" from the configuration", id);
    kh_response_no_content(resp);
    return 0;
}

/* "12.5s" style, as Vault prints last_contact. */
static json_t *contact_text(uint64_t ms)
{
    char text[48];

    if (ms == UINT64_MAX)
        return json_string("never");
    snprintf(text, sizeof(text), "%llu.%03llus", (unsigned long long)ms / 1000,
             (unsigned long long)ms % 1000);
    return json_string(text);
}

/* A server is healthy when the leader heard from it within a few election
 * timeouts and it is not far behind. */
#define AUTOPILOT_CONTACT_MS_MAX 5000u
#define AUTOPILOT_LAG_MAX        1000u

static json_t *autopilot_server(const struct kh_raft_status *st,
                                const struct kh_raft_server_info *s,
                                bool *ret_healthy)
{
    bool healthy = s->last_contact_ms <= AUTOPILOT_CONTACT_MS_MAX &&
                   s->match_index + AUTOPILOT_LAG_MAX >= st->last_index;

    *ret_healthy = healthy;
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:b, s:s, s:s}", "id",
                     s->node_id, "name", s->node_id, "address", s->address,
                     "node_status", healthy ? "alive" : "failed",
                     "last_contact", contact_text(s->last_contact_ms),
                     "last_term", (json_int_t)st->term, "last_index",
                     (json_int_t)s->match_index, "healthy", healthy, "status",
                     s->leader  ? "leader"
                     : s->voter ? "voter"
                                : "non-voter",
                     "version", KH_SERVER_VERSION);
}

int sys_raft_autopilot_state(struct kh_core *core, const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size)
{
    struct kh_raft_status st;
    json_t *servers, *voters;
    size_t i, voter_count = 0, healthy_voters = 0;
    bool healthy, all = true;
    int r = need_raft(core, errmsg, errmsg_size);

    if (r != 0)
        return r;
    kh_raft_node_status(core->raft, &st);
    servers = json_object();
    voters = json_array();
    for (i = 0; servers && voters && i < st.server_count; i++) {
        json_object_set_new(servers, st.servers[i].node_id,
                            autopilot_server(&st, &st.servers[i], &healthy));
        all = all && healthy;
        if (st.servers[i].voter) {
            voter_count++;
            healthy_voters += healthy;
            json_array_append_new(voters, json_string(st.servers[i].node_id));
        }
    }
    /* Voters that may fail with a majority of healthy ones left. */
    return kh_response_envelope(
        resp, req,
        json_pack("{s:b, s:I, s:s, s:o, s:o}", "healthy", all && st.leader,
                  "failure_tolerance",
                  (json_int_t)(healthy_voters > voter_count / 2
                                   ? healthy_voters - (voter_count / 2 + 1)
                                   : 0),
                  "leader", st.leader_id, "voters", voters, "servers",
                  servers));
}

/* Keyhold's own: this node's applied index and store digest, answered
 * by each node itself (never forwarded). */
int sys_raft_digest(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    uint8_t digest[32];
    char hex[65];
    uint64_t applied = 0;
    int r = need_raft(core, errmsg, errmsg_size);

    (void)req;
    if (r != 0)
        return r;
    r = kh_raft_node_local_digest(core->raft, &applied, digest);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "cannot read the store: %s",
                         kh_strerror(r));
    kh_hex_encode(digest, sizeof(digest), hex);
    return kh_response_raw(
        resp, json_pack("{s:s, s:I, s:s}", "node_id",
                        kh_config_param(&core->config->storage, "node_id"),
                        "applied_index", (json_int_t)applied, "sha256", hex));
}

int sys_raft_snapshot_read(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int r = need_raft(core, errmsg, errmsg_size);

    (void)req;
    if (r != 0)
        return r;
    r = kh_raft_node_snapshot_save(core->raft, &data, &len);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "cannot take a snapshot: %s",
                         kh_strerror(r));
    resp->text = (char *)data;
    resp->text_len = len;
    resp->content_type = "application/octet-stream";
    resp->status = 200;
    return 0;
}

static int restore(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, bool force, char *errmsg,
                   size_t errmsg_size)
{
    int r = need_raft(core, errmsg, errmsg_size);

    if (r != 0)
        return r;
    if (kh_raft_snapshot_check(req->raw_body, req->raw_body_len, NULL, NULL,
                               NULL, NULL, NULL) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "the snapshot is damaged or not a Keyhold raft "
                         "snapshot");
    if (!force &&
        core_snapshot_keys_match(core, req->raw_body, req->raw_body_len) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "the snapshot's keyring does not open with this "
                         "cluster's keys; use snapshot-force to restore it "
                         "anyway (the cluster then needs that snapshot's "
                         "unseal or recovery keys)");
    r = core_raft_restore(core, req->raw_body, req->raw_body_len, errmsg,
                          errmsg_size);
    if (r != 0)
        return r;
    kh_response_no_content(resp);
    return 0;
}

int sys_raft_snapshot_write(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size)
{
    return restore(core, req, resp, false, errmsg, errmsg_size);
}

int sys_raft_snapshot_force(struct kh_core *core, const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size)
{
    return restore(core, req, resp, true, errmsg, errmsg_size);
}

int sys_raft_join(struct kh_core *core, const struct kh_request *req,
                  struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    const char *leader = kh_request_string(req, "leader_api_addr");
    struct kh_join_tls tls = {kh_request_string(req, "leader_ca_cert"), NULL,
                              NULL};
    int r;

    /* Client certificates come from files named in the configuration
     * (retry_join); PEM text of a key is not taken over the API. */
    if (tls.ca != NULL && strncmp(tls.ca, "-----BEGIN", 10) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "leader_ca_cert must be PEM text");
    r = kh_core_raft_join(core, leader, &tls, errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_raw(resp, json_pack("{s:b}", "joined", 1));
}

int sys_raft_challenge(struct kh_core *core, const struct kh_request *req,
                       struct kh_response *resp, char *errmsg,
                       size_t errmsg_size)
{
    json_t *body = NULL;
    int r;

    r = kh_core_join_challenge(core, kh_request_string(req, "server_id"), &body,
                               errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_raw(resp, body);
}

int sys_raft_answer(struct kh_core *core, const struct kh_request *req,
                    struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    bool non_voter = false;
    int r;

    r = kh_request_bool(req, "non_voter", false, &non_voter, errmsg,
                        errmsg_size);
    if (r == 0)
        r = kh_core_join_answer(core, kh_request_string(req, "server_id"),
                                kh_request_string(req, "answer"),
                                kh_request_string(req, "cluster_addr"),
                                non_voter, errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_raw(resp, json_pack("{s:b}", "added", 1));
}
