/*
 * core_join.c - joining a raft cluster (Vault API: sys/storage/raft/join
 * and the bootstrap challenge).
 *
 * A joining node proves it belongs before it is added: the active node
 * stores a random answer through its barrier and hands out the record (a
 * ciphertext under the cluster keyring) with the sealed keyring and the
 * sealed root key. Only a node whose seal opens that root key - the same
 * HSM or TPM-bound key, as with auto-unseal - can open the keyring, read
 * the answer and send it back; then the active node adds it as a voter.
 *
 * Owns the pending challenges (a small table, each valid for
 * JOIN_CHALLENGE_TTL_S, compared in constant time). Must never add a
 * server whose answer did not match, never keep a root key beyond one
 * call, and never leave the temporary store behind.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core_internal.h"
#include "raft/raft_node.h"
#include "seal/shamir.h"

#define JOIN_ANSWER_BYTES       32
#define JOIN_CHALLENGE_TTL_S    120
#define JOIN_PENDING_MAX        16
#define JOIN_RESPONSE_BYTES_MAX (1024u * 1024u)
#define JOIN_HTTP_TIMEOUT_S     15L
#define JOIN_CHALLENGE_PATH     "core/raft/challenge"

struct join_pending
{
    char server_id[KH_RAFT_NODE_ID_BYTES_MAX + 1];
    uint8_t answer[JOIN_ANSWER_BYTES];
    time_t expires;
};

static struct join_pending join_pending[JOIN_PENDING_MAX];
static pthread_mutex_t join_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the active node's side ---- */

static void pending_put(const char *server_id,
                        const uint8_t answer[JOIN_ANSWER_BYTES])
{
    time_t now = time(NULL);
    size_t i, slot = 0;

    pthread_mutex_lock(&join_lock);
    for (i = 0; i < JOIN_PENDING_MAX; i++) {
        if (strcmp(join_pending[i].server_id, server_id) == 0 ||
            join_pending[i].expires < now) {
            slot = i;
            break;
        }
        if (join_pending[i].expires < join_pending[slot].expires)
            slot = i;
    }
    snprintf(join_pending[slot].server_id, sizeof(join_pending[slot].server_id),
             "%s", server_id);
    memcpy(join_pending[slot].answer, answer, JOIN_ANSWER_BYTES);
    join_pending[slot].expires = now + JOIN_CHALLENGE_TTL_S;
    pthread_mutex_unlock(&join_lock);
}

/* True (and the challenge consumed) when answer matches. */
static bool pending_take(const char *server_id, const uint8_t *answer,
                         size_t len)
{
    time_t now = time(NULL);
    bool ok = false;
    size_t i;

    pthread_mutex_lock(&join_lock);
    for (i = 0; i < JOIN_PENDING_MAX; i++) {
        struct join_pending *p = &join_pending[i];
        if (p->expires < now || strcmp(p->server_id, server_id) != 0)
            continue;
        ok = len == JOIN_ANSWER_BYTES &&
             kh_ct_equal(p->answer, answer, JOIN_ANSWER_BYTES);
        if (ok)
            memset(p, 0, sizeof(*p));
        break;
    }
    pthread_mutex_unlock(&join_lock);
    return ok;
}

/* Base64 of a stored record, as it lies in storage. */
static int stored_b64(struct kh_core *core, const char *path, json_t *obj,
                      const char *name)
{
    uint8_t *value = NULL;
    size_t len = 0;
    char *text;
    int r;

    r = kh_storage_get(core->storage, path, &value, &len);
    if (r != 0)
        return r;
    text = malloc(kh_base64_encoded_len(len) + 1);
    r = KH_ENOMEM;
    if (text != NULL) {
        kh_base64_encode(value, len, true, text);
        r = json_object_set_new(obj, name, json_string(text)) == 0 ? 0
                                                                   : KH_ENOMEM;
    }
    free(text);
    free(value);
    return r;
}

int kh_core_join_challenge(struct kh_core *core, const char *server_id,
                           json_t **ret_body, char *errmsg, size_t errmsg_size)
{
    const char *path = JOIN_CHALLENGE_PATH;
    uint8_t answer[JOIN_ANSWER_BYTES];
    json_t *body = NULL;
    int r;

    if (core->raft == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "this node does not use raft storage");
    if (server_id == NULL || !kh_raft_node_id_valid(server_id))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "server_id must be 1..%u of [A-Za-z0-9._-]",
                         KH_RAFT_NODE_ID_BYTES_MAX);
    /* One record for every challenge: each caller takes its ciphertext
     * with it, so unauthenticated callers cannot grow the store. */
    r = kh_random_bytes(answer, sizeof(answer));
    if (r == 0)
        r = barrier_put(core->barrier, path, answer, sizeof(answer));
    body = json_object();
    if (r == 0 && body == NULL)
        r = KH_ENOMEM;
    if (r == 0)
        r = stored_b64(core, path, body, "challenge");
    if (r == 0)
        r = stored_b64(core, BARRIER_KEYRING_PATH, body, "keyring");
    if (r == 0)
        r = stored_b64(core, SEAL_ROOT_KEY_PATH, body, "root_key");
    if (r == 0 &&
        (json_object_set_new(body, "seal_type",
                             json_string(core->seal->ops->type)) != 0 ||
         json_object_set_new(
             body, "seal_config",
             json_pack("{s:i, s:i}", "secret_shares",
                       (int)core->seal_config.secret_shares, "secret_threshold",
                       (int)core->seal_config.secret_threshold)) != 0))
        r = KH_ENOMEM;
    if (r != 0) {
        json_decref(body);
        kh_wipe(answer, sizeof(answer));
        return kh_errmsg(errmsg, errmsg_size, r,
                         "cannot issue a challenge: "
                         "%s",
                         kh_strerror(r));
    }
    pending_put(server_id, answer);
    kh_wipe(answer, sizeof(answer));
    *ret_body = body;
    return 0;
}

int kh_core_join_answer(struct kh_core *core, const char *server_id,
                        const char *answer_b64, const char *cluster_addr,
                        bool non_voter, char *errmsg, size_t errmsg_size)
{
    uint8_t answer[JOIN_ANSWER_BYTES + 4];
    size_t len = 0;
    int r;

    if (core->raft == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "this node does not use raft storage");
    if (server_id == NULL || answer_b64 == NULL || cluster_addr == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "server_id, answer and cluster_addr are required");
    if (kh_base64_decode(answer_b64, strlen(answer_b64), answer, sizeof(answer),
                         &len) != 0 ||
        !pending_take(server_id, answer, len)) {
        kh_wipe(answer, sizeof(answer));
        log_warn("raft: refused to add \"%.64s\": wrong or expired answer",
                 server_id);
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "the challenge answer is wrong or expired");
    }
    kh_wipe(answer, sizeof(answer));
    r = kh_raft_node_add_server(core->raft, server_id,
                                core_addr_host_port(cluster_addr), !non_voter,
                                KH_RAFT_CHANGE_TIMEOUT_MS);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "cannot add \"%s\": %s",
                         server_id, kh_strerror(r));
    log_info("raft: added \"%s\" at %s as a %s", server_id, cluster_addr,
             non_voter ? "non-voter" : "voter");
    return 0;
}

/* ---- the joining node's side ---- */

struct join_buf
{
    char *data;
    size_t len;
    bool too_big;
};

static size_t join_write(char *p, size_t size, size_t n, void *arg)
{
    struct join_buf *b = arg;
    size_t add = size * n;
    char *grown;

    if (b->len + add > JOIN_RESPONSE_BYTES_MAX) {
        b->too_big = true;
        return 0;
    }
    grown = realloc(b->data, b->len + add + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, p, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* The leader's CA (a file, or PEM text given to sys/storage/raft/join)
 * and this node's client certificate for an https API. */
static void join_tls_apply(CURL *curl, const struct kh_join_tls *tls)
{
    struct curl_blob blob;

    if (tls == NULL)
        return;
    if (tls->ca != NULL && strncmp(tls->ca, "-----BEGIN", 10) == 0) {
        blob.data = (void *)tls->ca;
        blob.len = strlen(tls->ca);
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    } else if (tls->ca != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca);
    }
    if (tls->cert_file != NULL && tls->key_file != NULL) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->key_file);
    }
}

/* POST body to leader + path; *ret the JSON answer of a 2xx. */
static int join_post(const char *leader, const struct kh_join_tls *tls,
                     const char *path, json_t *body, json_t **ret, char *errmsg,
                     size_t errmsg_size)
{
    struct join_buf buf = {NULL, 0, false};
    struct curl_slist *headers = NULL;
    char url[512];
    char *text = json_dumps(body, JSON_COMPACT);
    long status = 0;
    CURL *curl = curl_easy_init();
    CURLcode code = CURLE_FAILED_INIT;
    int r = KH_EUNAVAIL;

    snprintf(url, sizeof(url), "%s/v1/%s", leader, path);
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (curl != NULL && text != NULL && headers != NULL) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, JOIN_HTTP_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, join_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
        join_tls_apply(curl, tls);
        code = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    if (code != CURLE_OK)
        r = kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "%s: %s", url,
                      curl_easy_strerror(code));
    else if (status < 200 || status > 299)
        r = kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "%s: HTTP %ld: %.200s",
                      url, status, buf.data ? buf.data : "");
    else if ((*ret = buf.len ? json_loads(buf.data, 0, NULL) : json_object()) ==
             NULL)
        r = kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "%s: not JSON", url);
    else
        r = 0;
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(text);
    free(buf.data);
    return r;
}

/* Store a base64 field of the challenge at path in st. */
static int put_b64(struct kh_storage *st, json_t *doc, const char *name,
                   const char *path)
{
    const char *text = json_string_value(json_object_get(doc, name));
    uint8_t *bytes;
    size_t len = 0;
    int r;

    if (text == NULL || strlen(text) > JOIN_RESPONSE_BYTES_MAX)
        return KH_EINVAL;
    bytes = malloc(strlen(text) + 1);
    if (bytes == NULL)
        return KH_ENOMEM;
    r = kh_base64_decode(text, strlen(text), bytes, strlen(text) + 1, &len);
    if (r == 0)
        r = kh_storage_put(st, path, bytes, len);
    free(bytes);
    return r;
}

/* Open the challenge with this node's seal, in a scratch store. */
static int join_solve(struct kh_core *core, json_t *doc,
                      const uint8_t *unseal_key,
                      uint8_t answer[JOIN_ANSWER_BYTES],
                      uint8_t ret_root_key[KH_ROOT_KEY_BYTES], char *errmsg,
                      size_t errmsg_size)
{
    const char *path = JOIN_CHALLENGE_PATH;
    char dir[4100];
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    struct kh_storage *st = NULL;
    struct barrier *b = NULL;
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    snprintf(dir, sizeof(dir), "%s/join.tmp",
             kh_config_param(&core->config->storage, "path"));
    core_scratch_remove(dir);
    r = kh_storage_lmdb_open(dir, 0, &st, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = put_b64(st, doc, "challenge", path);
    if (r == 0)
        r = put_b64(st, doc, "keyring", BARRIER_KEYRING_PATH);
    if (r == 0)
        r = put_b64(st, doc, "root_key", SEAL_ROOT_KEY_PATH);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "the challenge is malformed");
        goto out;
    }
    if (unseal_key == NULL && !seal_ready(core->seal))
        (void)seal_connect(core->seal, core->seal_error,
                           sizeof(core->seal_error));
    r = seal_recover_key(core->seal, st, unseal_key, SEAL_ROOT_KEY_PATH,
                         root_key);
    if (r == 0)
        r = barrier_create(st, &b);
    if (r == 0)
        r = barrier_unseal(b, root_key);
    if (r == 0)
        r = barrier_get(b, path, &value, &len);
    if (r != 0 || len != JOIN_ANSWER_BYTES) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                      "this node's seal cannot open the cluster's keys: it "
                      "does not share the cluster's seal key");
        goto out;
    }
    memcpy(answer, value, JOIN_ANSWER_BYTES);
    if (ret_root_key != NULL)
        memcpy(ret_root_key, root_key, KH_ROOT_KEY_BYTES);
    r = 0; /* success */
out:
    kh_wipe(root_key, sizeof(root_key));
    kh_free_secret(value, len);
    barrier_free(b);
    kh_storage_close(st);
    core_scratch_remove(dir);
    return r;
}

/* Answer the challenge and start raft so the leader can add this node. */
static int join_answer(struct kh_core *core, const char *leader,
                       const struct kh_join_tls *tls,
                       const uint8_t answer[JOIN_ANSWER_BYTES], char *errmsg,
                       size_t errmsg_size)
{
    const char *node_id = kh_config_param(&core->config->storage, "node_id");
    char answer_b64[64];
    json_t *req, *done = NULL;
    int r;

    r = kh_raft_node_start_joining(core->raft);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "raft: cannot start");
    kh_base64_encode(answer, JOIN_ANSWER_BYTES, true, answer_b64);
    req = json_pack("{s:s, s:s, s:s}", "server_id", node_id, "answer",
                    answer_b64, "cluster_addr", core->config->cluster_addr);
    r = req ? join_post(leader, tls, "sys/storage/raft/bootstrap/answer", req,
                        &done, errmsg, errmsg_size)
            : KH_ENOMEM;
    json_decref(req);
    json_decref(done);
    kh_wipe(answer_b64, sizeof(answer_b64));
    if (r == 0)
        log_info("raft: joined the cluster of %s", leader);
    return r;
}

/* A Shamir-sealed joiner keeps the challenge until the operator's unseal
 * key shares arrive (core_unseal.c calls core_join_unseal_locked). */
static int join_wait_shares_locked(struct kh_core *core, json_t *doc,
                                   const char *leader,
                                   const struct kh_join_tls *tls, char *errmsg,
                                   size_t errmsg_size)
{
    json_t *conf = json_object_get(doc, "seal_config");
    int shares = 0, threshold = 0;

    if (json_unpack(conf, "{s:i, s:i}", "secret_shares", &shares,
                    "secret_threshold", &threshold) != 0 ||
        shares < 1 || threshold < 1 || threshold > shares ||
        shares > KH_SHAMIR_SHARES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "the challenge has no usable seal configuration");
    json_decref(core->join_doc);
    free(core->join_leader);
    core_join_tls_free(&core->join_tls);
    core->join_doc = json_incref(doc);
    core->join_leader = strdup(leader);
    core->join_tls.ca = tls && tls->ca ? strdup(tls->ca) : NULL;
    core->join_tls.cert_file =
        tls && tls->cert_file ? strdup(tls->cert_file) : NULL;
    core->join_tls.key_file =
        tls && tls->key_file ? strdup(tls->key_file) : NULL;
    memset(&core->seal_config, 0, sizeof(core->seal_config));
    snprintf(core->seal_config.type, sizeof(core->seal_config.type), "%s",
             core->seal->ops->type);
    core->seal_config.secret_shares = (unsigned)shares;
    core->seal_config.secret_threshold = (unsigned)threshold;
    core->initialized = true; /* sys/unseal takes the shares now */
    core_progress_reset_locked(core);
    log_info("raft: join pending: unseal this node with the cluster's "
             "unseal key shares");
    return core->join_leader != NULL ? 0 : KH_ENOMEM;
}

int core_join_unseal_locked(struct kh_core *core,
                            const uint8_t key[KH_ROOT_KEY_BYTES], char *errmsg,
                            size_t errmsg_size)
{
    uint8_t answer[JOIN_ANSWER_BYTES];
    uint8_t *root_key = kh_secure_alloc(KH_ROOT_KEY_BYTES);
    int r;

    if (root_key == NULL)
        return KH_ENOMEM;
    r = join_solve(core, core->join_doc, key, answer, root_key, errmsg,
                   errmsg_size);
    if (r == KH_EPERM)
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "unseal failed: the key shares do not open the "
                      "cluster's root key");
    if (r == 0)
        r = join_answer(core, core->join_leader,
                        (const struct kh_join_tls *)&core->join_tls, answer,
                        errmsg, errmsg_size);
    kh_wipe(answer, sizeof(answer));
    if (r != 0) {
        kh_secure_free(root_key, KH_ROOT_KEY_BYTES);
        return r;
    }
    kh_secure_free(core->join_root_key, KH_ROOT_KEY_BYTES);
    core->join_root_key = root_key;
    json_decref(core->join_doc);
    core->join_doc = NULL;
    return 0;
}

void core_join_tls_free(struct kh_join_tls_owned *tls)
{
    free(tls->ca);
    free(tls->cert_file);
    free(tls->key_file);
    memset(tls, 0, sizeof(*tls));
}

int kh_core_raft_join(struct kh_core *core, const char *leader,
                      const struct kh_join_tls *tls, char *errmsg,
                      size_t errmsg_size)
{
    const char *node_id = kh_config_param(&core->config->storage, "node_id");
    uint8_t answer[JOIN_ANSWER_BYTES];
    struct kh_raft_status st;
    json_t *req = NULL, *doc = NULL;
    int r;

    if (core->raft == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "this node does not use raft storage");
    kh_raft_node_status(core->raft, &st);
    if (st.configured)
        return 0; /* already a member */
    if (leader == NULL || strncmp(leader, "http", 4) != 0 ||
        strlen(leader) > 400)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "leader_api_addr must be an http(s) URL");
    req = json_pack("{s:s}", "server_id", node_id);
    r = req ? join_post(leader, tls, "sys/storage/raft/bootstrap/challenge",
                        req, &doc, errmsg, errmsg_size)
            : KH_ENOMEM;
    json_decref(req);
    if (r == 0 && !core->seal->ops->auto_unseal) {
        pthread_mutex_lock(&core->lock);
        r = join_wait_shares_locked(core, doc, leader, tls, errmsg,
                                    errmsg_size);
        pthread_mutex_unlock(&core->lock);
        json_decref(doc);
        return r;
    }
    if (r == 0) {
        pthread_mutex_lock(&core->lock);
        r = join_solve(core, doc, NULL, answer, NULL, errmsg, errmsg_size);
        pthread_mutex_unlock(&core->lock);
    }
    json_decref(doc);
    if (r == 0)
        r = join_answer(core, leader, tls, answer, errmsg, errmsg_size);
    kh_wipe(answer, sizeof(answer));
    return r;
}

void core_raft_retry_join(struct kh_core *core)
{
    const struct kh_config_stanza *s = &core->config->storage;
    char name[64], msg[KH_ERRMSG_SIZE];
    struct kh_join_tls tls;
    const char *leader;
    unsigned i;

    for (i = 0; i < KH_CONFIG_PARAMS_MAX; i++) {
        snprintf(name, sizeof(name), "retry_join.%u.leader_api_addr", i);
        leader = kh_config_param(s, name);
        if (leader == NULL)
            return;
        snprintf(name, sizeof(name), "retry_join.%u.leader_ca_cert_file", i);
        tls.ca = kh_config_param(s, name);
        snprintf(name, sizeof(name), "retry_join.%u.leader_client_cert_file",
                 i);
        tls.cert_file = kh_config_param(s, name);
        snprintf(name, sizeof(name), "retry_join.%u.leader_client_key_file", i);
        tls.key_file = kh_config_param(s, name);
        if (kh_core_raft_join(core, leader, &tls, msg, sizeof(msg)) == 0)
            return;
        log_warn("raft: retry_join: %s", msg);
    }
}
