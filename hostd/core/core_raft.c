/*
 * core_raft.c - the core on integrated storage: opening the raft node
 * from the configuration, bootstrapping at init, and high availability
 * (Vault API: HA, integrated storage). The active node is the raft leader;
 * every other unsealed node is a standby that forwards requests to it.
 *
 * A watcher thread looks every CORE_HA_TICK_MS: a standby whose node now
 * leads is promoted (keyring read again, mounts, policies, leases and
 * audit loaded, the leader advertisement written); an active node that no
 * longer leads is demoted (all of that unloaded, the barrier stays
 * unsealed). A node that has no seal configuration yet (joining) loads it
 * once it arrives and auto-unseals; retry_join blocks are tried while the
 * node belongs to no cluster.
 *
 * Must never let two nodes act as active on one store: promotion waits for
 * kh_raft_node_is_leader(), which holds only after a barrier of the
 * leader's term applied, and every write of a deposed node fails in raft.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core_internal.h"
#include "raft/raft_fsm.h"
#include "raft/raft_io_lmdb.h"
#include "raft/raft_node.h"

#define CORE_HA_TICK_MS           50
#define CORE_RETRY_JOIN_S         2
#define CORE_BOOTSTRAP_TIMEOUT_MS 30000u

const char *core_addr_host_port(const char *addr)
{
    const char *p = strstr(addr, "://");

    return p != NULL ? p + 3 : addr;
}

/* An optional unsigned parameter within [min, max] (0 when absent). */
static int uint_param(const struct kh_config_stanza *st, const char *name,
                      unsigned min, unsigned max, unsigned *ret, char *errmsg,
                      size_t errmsg_size)
{
    const char *text = kh_config_param(st, name);
    char *end = NULL;
    unsigned long v;

    if (text == NULL)
        return 0;
    v = strtoul(text, &end, 10);
    if (end == text || *end != '\0' || v < min || v > max)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\": %s must be %u..%u", name, min, max);
    *ret = (unsigned)v;
    return 0;
}

static int raft_options_fill(const struct kh_config *config,
                             struct kh_raft_node_options *o,
                             struct kh_raft_tls *tls, bool *ret_tls,
                             char *errmsg, size_t errmsg_size)
{
    const struct kh_config_stanza *st = &config->storage;
    const char *disable = kh_config_param(st, "tls_disable");
    unsigned multiplier = 0;
    int r;

    memset(o, 0, sizeof(*o));
    o->dir = kh_config_param(st, "path");
    o->node_id = kh_config_param(st, "node_id");
    if (config->cluster_addr == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\" needs cluster_addr (the address "
                         "other nodes reach this one's raft port at)");
    o->cluster_addr = core_addr_host_port(config->cluster_addr);
    r = uint_param(st, "election_ms", KH_RAFT_ELECTION_MS_MIN,
                   KH_RAFT_ELECTION_MS_MAX, &o->election_ms, errmsg,
                   errmsg_size);
    if (r == 0)
        r = uint_param(st, "performance_multiplier", 1, 10, &multiplier,
                       errmsg, errmsg_size);
    if (r == 0)
        r = uint_param(st, "snapshot_threshold", 16, KH_RAFT_APPEND_ENTRIES_MAX / 2,
                   &o->snapshot_threshold, errmsg, errmsg_size);
    if (r == 0)
        r = uint_param(st, "trailing_logs", 1, KH_RAFT_APPEND_ENTRIES_MAX / 2,
                       &o->snapshot_trailing, errmsg, errmsg_size);
    if (r != 0)
        return r;
    /* Vault's knob: timing scaled by an integer; election_ms wins. */
    if (o->election_ms == 0 && multiplier != 0)
        o->election_ms = multiplier * KH_RAFT_ELECTION_MS_DEFAULT;
    *ret_tls = !(disable != NULL && strcmp(disable, "true") == 0);
    if (!*ret_tls)
        return 0;
    tls->cert_file = kh_config_param(st, "tls_cert_file");
    tls->key_file = kh_config_param(st, "tls_key_file");
    tls->ca_file = kh_config_param(st, "tls_ca_file");
    if (tls->cert_file == NULL || tls->key_file == NULL || tls->ca_file == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\": the cluster port is mutual TLS: "
                         "set tls_cert_file, tls_key_file and tls_ca_file "
                         "(or tls_disable = \"true\" on a test machine)");
    tls->bind_node_id = true;
    o->tls = tls;
    return 0;
}

int core_raft_open(struct kh_core *core, char *errmsg, size_t errmsg_size)
{
    struct kh_raft_node_options o;
    struct kh_raft_tls tls;
    bool use_tls = false;
    int r;

    r = raft_options_fill(core->config, &o, &tls, &use_tls, errmsg,
                          errmsg_size);
    if (r != 0)
        return r;
    if (!use_tls)
        log_warn("raft: the cluster port is plain TCP (tls_disable): for "
                 "tests only");
    r = kh_raft_node_open(&o, &core->raft, errmsg, errmsg_size);
    if (r != 0)
        return r;
    core->storage = kh_raft_node_storage(core->raft);
    return 0;
}

int core_raft_prepare_init_locked(struct kh_core *core, char *errmsg,
                                  size_t errmsg_size)
{
    struct kh_raft_status st;

    if (core->raft == NULL)
        return 0;
    kh_raft_node_status(core->raft, &st);
    if (st.configured && !st.leader)
        return kh_errmsg(errmsg, errmsg_size, KH_ESTATE,
                         "this node belongs to a raft cluster but is not its "
                         "active node");
    if (st.started)
        return 0;
    if (kh_raft_node_bootstrap(core->raft, CORE_BOOTSTRAP_TIMEOUT_MS) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "raft: cannot bootstrap a new cluster");
    log_info("raft: bootstrapped a new cluster with this node as its only "
             "voter");
    return 0;
}

/* Write where clients and standbys find the active node. */
static int leader_advertise(struct kh_core *core)
{
    const struct kh_config *c = core->config;
    json_t *doc;
    char *text;
    int r = KH_ENOMEM;

    doc =
        json_pack("{s:s, s:s, s:s}", "api_addr", c->api_addr ? c->api_addr : "",
                  "cluster_addr", c->cluster_addr ? c->cluster_addr : "",
                  "node_id", kh_config_param(&c->storage, "node_id"));
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text != NULL)
        r = kh_storage_put(core->storage, CORE_LEADER_PATH,
                           (const uint8_t *)text, strlen(text));
    free(text);
    json_decref(doc);
    return r;
}

int core_raft_promote_locked(struct kh_core *core)
{
    char msg[KH_ERRMSG_SIZE];
    int r;

    r = barrier_reload(core->barrier);
    if (r != 0)
        return r;
    r = mount_table_load(core->mounts);
    if (r == 0)
        r = policy_store_setup(core->policies);
    if (r == 0)
        r = lease_manager_start(core->leases);
    if (r == 0)
        r = leader_advertise(core);
    if (r != 0) {
        core_unload_locked(core);
        return r;
    }
    if (audit_broker_load(core->audit, msg, sizeof(msg)) != 0)
        log_error("audit: %s", msg);
    __atomic_store_n(&core->active, true, __ATOMIC_RELEASE);
    clock_gettime(CLOCK_REALTIME, &core->active_time);
    log_info("core: this node is now the active node");
    return 0;
}

void core_raft_demote_locked(struct kh_core *core)
{
    core_unload_locked(core);
    __atomic_store_n(&core->active, false, __ATOMIC_RELEASE);
    memset(&core->active_time, 0, sizeof(core->active_time));
    log_info("core: this node is now a standby");
}

/* ---- the watcher thread ---- */

static void ha_leadership_locked(struct kh_core *core, bool *autounseal)
{
    bool leader = kh_raft_node_is_leader(core->raft);
    int r;

    if (leader && !core->active) {
        r = core_raft_promote_locked(core);
        if (r == KH_ECORRUPT) {
            /* A restore brought another cluster's keyring: unseal anew. */
            log_warn("core: the stored keyring no longer opens with this "
                     "node's root key; sealing to unseal again");
            core_seal_discard_locked(core);
            *autounseal = core->seal->ops->auto_unseal;
        } else if (r != 0) {
            log_error("core: cannot become active: %s", kh_strerror(r));
        }
    } else if (!leader && core->active) {
        core_raft_demote_locked(core);
    }
}

/* A Shamir joiner holds the root key its shares opened until the keyring
 * has been replicated to it; then it unseals like any node. */
static void ha_join_unseal_locked(struct kh_core *core)
{
    char msg[KH_ERRMSG_SIZE];
    int r;

    r = barrier_unseal(core->barrier, core->join_root_key);
    if (r == KH_ENOTFOUND)
        return; /* not replicated yet */
    if (r == 0)
        r = core_load_state_locked(core, msg, sizeof(msg));
    if (r == 0)
        r = core_after_unseal_locked(core);
    kh_secure_free(core->join_root_key, KH_ROOT_KEY_BYTES);
    core->join_root_key = NULL;
    if (r != 0) {
        core_seal_locked(core);
        log_error("core: unsealing after the join failed: %s", kh_strerror(r));
        return;
    }
    log_info("core: joined and unsealed");
}

static void ha_step(struct kh_core *core, time_t *next_join)
{
    struct kh_raft_status st;
    char msg[KH_ERRMSG_SIZE];
    bool autounseal = false, try_join = false;
    time_t now = time(NULL);

    pthread_mutex_lock(&core->lock);
    if (core->restoring) {
        pthread_mutex_unlock(&core->lock);
        return;
    }
    if (!core->initialized) {
        if (core_load_state_locked(core, msg, sizeof(msg)) != 0)
            log_error("core: %s", msg);
        autounseal = core->initialized && core->seal->ops->auto_unseal;
    } else if (!barrier_sealed(core->barrier)) {
        ha_leadership_locked(core, &autounseal);
    } else if (core->join_root_key != NULL) {
        ha_join_unseal_locked(core);
    } else {
        autounseal = core->seal->ops->auto_unseal && !core->seal_refused &&
                     !core->operator_sealed && now >= *next_join;
        if (autounseal)
            *next_join = now + CORE_RETRY_JOIN_S;
    }
    if (!core->initialized && now >= *next_join) {
        kh_raft_node_status(core->raft, &st);
        try_join = !st.configured &&
                   kh_config_param(&core->config->storage,
                                   "retry_join.0.leader_api_addr") != NULL;
        *next_join = now + CORE_RETRY_JOIN_S;
    }
    pthread_mutex_unlock(&core->lock);
    if (autounseal)
        (void)kh_core_autounseal(core, msg, sizeof(msg));
    if (try_join)
        core_raft_retry_join(core);
}

static void *ha_main(void *arg)
{
    struct kh_core *core = arg;
    struct timespec deadline;
    time_t next_join = 0;

    pthread_mutex_lock(&core->lock);
    while (!core->stopping) {
        pthread_mutex_unlock(&core->lock);
        ha_step(core, &next_join);
        pthread_mutex_lock(&core->lock);
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += CORE_HA_TICK_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        if (!core->stopping)
            pthread_cond_timedwait(&core->stop_cond, &core->lock, &deadline);
    }
    pthread_mutex_unlock(&core->lock);
    return NULL;
}

int core_raft_start_watcher(struct kh_core *core)
{
    if (core->raft == NULL)
        return 0;
    if (pthread_create(&core->ha_thread, NULL, ha_main, core) != 0)
        return KH_ENOMEM;
    core->ha_running = true;
    return 0;
}

void core_raft_close(struct kh_core *core)
{
    if (core->ha_running)
        pthread_join(core->ha_thread, NULL);
    core->ha_running = false;
    json_decref(core->join_doc);
    core->join_doc = NULL;
    free(core->join_leader);
    core_join_tls_free(&core->join_tls);
    kh_secure_free(core->join_root_key, KH_ROOT_KEY_BYTES);
    core->join_root_key = NULL;
    kh_raft_node_close(core->raft);
    core->raft = NULL;
    core->storage = NULL;
}

/* ---- where requests go ---- */

int kh_core_active_addr(struct kh_core *core, char *out, size_t size)
{
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *api = NULL, *node_id = NULL;
    int r;

    if (core->raft == NULL || __atomic_load_n(&core->active, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&core->lock);
    r = core->initialized && !core->active && !barrier_sealed(core->barrier);
    pthread_mutex_unlock(&core->lock);
    if (r == 0)
        return 0;
    if (kh_storage_get(core->storage, CORE_LEADER_PATH, &value, &len) != 0)
        return KH_EUNAVAIL;
    doc = json_loadb((const char *)value, len, 0, NULL);
    free(value);
    r = KH_EUNAVAIL;
    if (doc != NULL &&
        json_unpack(doc, "{s:s, s:s}", "api_addr", &api, "node_id", &node_id) ==
            0 &&
        kh_raft_node_leader_is(core->raft, node_id) && api[0] != '\0' &&
        strcmp(node_id, kh_config_param(&core->config->storage, "node_id")) !=
            0 &&
        strlen(api) < size) {
        memcpy(out, api, strlen(api) + 1);
        r = 1;
    }
    json_decref(doc);
    return r;
}

/* ---- snapshot restore ---- */

void core_scratch_remove(const char *dir)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    (void)unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    (void)unlink(path);
    (void)rmdir(dir);
}

/* Find the stored value of key among the snapshot's records. */
static int snapshot_find(const uint8_t *data, size_t len, const char *key,
                         const uint8_t **ret, size_t *ret_len)
{
    size_t pos = KH_RAFT_FSM_SNAP_HEADER_BYTES, klen, vlen;
    size_t want = strlen(key);

    while (pos + 2 <= len) {
        klen = ((size_t)data[pos] << 8) | data[pos + 1];
        pos += 2;
        if (klen > len - pos || len - pos - klen < 4)
            return KH_EINVAL;
        vlen = ((size_t)data[pos + klen] << 24) |
               ((size_t)data[pos + klen + 1] << 16) |
               ((size_t)data[pos + klen + 2] << 8) | data[pos + klen + 3];
        if (vlen > len - pos - klen - 4)
            return KH_EINVAL;
        if (klen == want && memcmp(data + pos, key, want) == 0) {
            *ret = data + pos + klen + 4;
            *ret_len = vlen;
            return 0;
        }
        pos += klen + 4 + vlen;
    }
    return KH_ENOTFOUND;
}

int core_snapshot_keys_match(struct kh_core *core, const uint8_t *file,
                             size_t len)
{
    char dir[4100], msg[KH_ERRMSG_SIZE];
    const uint8_t *data, *keyring;
    size_t data_len, keyring_len;
    struct kh_storage *st = NULL;
    int r;

    r = kh_raft_snapshot_check(file, len, NULL, NULL, NULL, &data, &data_len);
    if (r == 0)
        r = snapshot_find(data, data_len, BARRIER_KEYRING_PATH, &keyring,
                          &keyring_len);
    if (r != 0)
        return r;
    snprintf(dir, sizeof(dir), "%s/restore.tmp",
             kh_config_param(&core->config->storage, "path"));
    core_scratch_remove(dir);
    r = kh_storage_lmdb_open(dir, 0, &st, msg, sizeof(msg));
    if (r == 0)
        r = kh_storage_put(st, BARRIER_KEYRING_PATH, keyring, keyring_len);
    if (r == 0)
        r = barrier_keyring_opens(core->barrier, st);
    kh_storage_close(st);
    core_scratch_remove(dir);
    return r;
}

int core_raft_restore(struct kh_core *core, const uint8_t *file, size_t len,
                      char *errmsg, size_t errmsg_size)
{
    int r;

    pthread_mutex_lock(&core->lock);
    if (!core->active || core->restoring) {
        pthread_mutex_unlock(&core->lock);
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "this node is not the active node");
    }
    core_raft_demote_locked(core);
    core->restoring = true;
    pthread_mutex_unlock(&core->lock);
    log_info("raft: restoring a snapshot of %zu bytes", len);
    r = kh_raft_node_snapshot_restore(core->raft, file, len);
    pthread_mutex_lock(&core->lock);
    core->restoring = false;
    if (r == 0) {
        int p = core_raft_promote_locked(core);
        if (p == KH_ECORRUPT) {
            log_warn("raft: the restored keyring needs other keys: sealing; "
                     "unseal with the snapshot's keys");
            core_seal_discard_locked(core);
        }
    }
    pthread_mutex_unlock(&core->lock);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "the restore stopped: %s (run it again to finish)",
                         kh_strerror(r));
    log_info("raft: snapshot restored");
    return 0;
}
