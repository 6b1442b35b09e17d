/*
 * core.c - opening and closing the core, status snapshots, seal and
 * auto-unseal. Initialisation is in core_init.c, operator unseal in
 * core_unseal.c.
 *
 * Only this layer logs seal/unseal outcomes (once, at the point the
 * outcome is known). Root and unseal keys live on the stack only for the
 * length of one call and are wiped in the out: block.
 */
#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core_internal.h"
#include "raft/raft_node.h"

#define AUTOUNSEAL_BACKOFF_MIN_S 1
#define AUTOUNSEAL_BACKOFF_MAX_S 30

static int core_open_seal(struct kh_core *core, char *errmsg,
                          size_t errmsg_size)
{
    char seal_msg[KH_ERRMSG_SIZE] = "";
    int r;

    r = seal_open(&core->config->seal, &core->seal, seal_msg,
                  sizeof(seal_msg));
    if (core->seal == NULL)
        return kh_errmsg(errmsg, errmsg_size, r, "%s", seal_msg);
    if (r != 0) {
        /* The device is configured but not usable now: stay sealed, say
         * why in status, retry in the background. */
        snprintf(core->seal_error, sizeof(core->seal_error), "%s", seal_msg);
        core->seal_refused = r == KH_EAUTH;
        log_error("seal: %s%s", seal_msg,
                  core->seal_refused ? "; not retrying: correct the PIN and "
                                       "restart" : "");
    }
    return 0;
}

int core_load_state_locked(struct kh_core *core, char *errmsg,
                           size_t errmsg_size)
{
    int r;

    r = seal_config_load(core->storage, &core->seal_config);
    if (r == KH_ENOTFOUND)
        return 0;
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "storage: cannot read the seal configuration: %s",
                         kh_strerror(r));
    if (strcmp(core->seal_config.type, core->seal->ops->type) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "seal: the store was initialised with seal \"%s\" "
                         "but the configuration names seal \"%s\"",
                         core->seal_config.type, core->seal->ops->type);
    core->initialized = true;
    return 0;
}

static void *autounseal_main(void *arg)
{
    struct kh_core *core = arg;
    unsigned backoff = AUTOUNSEAL_BACKOFF_MIN_S;
    char msg[KH_ERRMSG_SIZE];

    pthread_mutex_lock(&core->lock);
    while (!core->stopping && !core->seal_refused &&
           barrier_sealed(core->barrier)) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += backoff;
        pthread_cond_timedwait(&core->stop_cond, &core->lock, &deadline);
        if (core->stopping)
            break;
        pthread_mutex_unlock(&core->lock);
        if (kh_core_autounseal(core, msg, sizeof(msg)) == 0)
            log_info("seal: auto-unseal succeeded after retry");
        pthread_mutex_lock(&core->lock);
        backoff = backoff * 2 > AUTOUNSEAL_BACKOFF_MAX_S
                      ? AUTOUNSEAL_BACKOFF_MAX_S
                      : backoff * 2;
    }
    pthread_mutex_unlock(&core->lock);
    return NULL;
}

/* The audit broker, with the devices and directories the configuration
 * declares (devices are loaded at unseal: their salts are in the
 * barrier). */
static int core_open_audit(struct kh_core *core, char *errmsg,
                           size_t errmsg_size)
{
    struct audit_options options = {
        .devices = core->config->audit,
        .device_count = core->config->audit_count,
        .allowed_dirs = (const char *const *)core->config->audit_allowed_dirs,
        .allowed_dir_count = core->config->audit_allowed_dir_count,
    };

    return audit_broker_create(core, &options, &core->audit, errmsg,
                               errmsg_size);
}

static int core_open_parts(struct kh_core *core, char *errmsg,
                           size_t errmsg_size)
{
    int r;

    if (core->config->storage.type != NULL &&
        strcmp(core->config->storage.type, "raft") == 0)
        r = core_raft_open(core, errmsg, errmsg_size);
    else
        r = kh_storage_open(&core->config->storage, &core->storage, errmsg,
                            errmsg_size);
    if (r != 0)
        return r;
    snprintf(core->storage_type, sizeof(core->storage_type), "%s",
             core->config->storage.type);
    r = barrier_create(core->storage, &core->barrier);
    if (r == 0)
        r = token_store_create(core->barrier, &core->tokens);
    if (r == 0)
        r = mount_table_create(core->barrier, core->storage, &core->mounts);
    if (r == 0)
        r = lease_manager_create(core, &core->leases);
    if (r == 0)
        r = policy_store_create(core->barrier, &core->policies);
    if (r == 0)
        r = core_open_audit(core, errmsg, errmsg_size);
    if (r == 0)
        token_store_configure(core->tokens, core->config->default_lease_ttl_s,
                              core->config->max_lease_ttl_s);
    /* Expired tokens already fail at lookup; tidy removes their records. */
    if (r == 0)
        r = token_store_start_tidy(core->tokens, 0);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "core: %s", kh_strerror(r));
    core->progress_shares =
        kh_secure_alloc(KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX);
    core->root_generation.shares =
        kh_secure_alloc(KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX);
    if (core->progress_shares == NULL || core->root_generation.shares == NULL)
        return KH_ENOMEM;
    r = core_open_seal(core, errmsg, errmsg_size);
    if (r == 0)
        r = core_load_state_locked(core, errmsg, errmsg_size);
    return r;
}

int kh_core_open(const struct kh_core_options *options,
                 struct kh_core **ret_core, char *errmsg, size_t errmsg_size)
{
    struct kh_core *core;
    char msg[KH_ERRMSG_SIZE];
    int r;

    core = calloc(1, sizeof(*core));
    if (core == NULL)
        return KH_ENOMEM;
    pthread_mutex_init(&core->lock, NULL);
    pthread_cond_init(&core->stop_cond, NULL);
    core->config = options->config;
    snprintf(core->build_date, sizeof(core->build_date), "%s", KH_BUILD_DATE);
    r = core_open_parts(core, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    if (core->initialized && core->seal->ops->auto_unseal) {
        if (kh_core_autounseal(core, msg, sizeof(msg)) != 0 &&
            options->start_autounseal_thread) {
            if (pthread_create(&core->autounseal_thread, NULL,
                               autounseal_main, core) == 0)
                core->autounseal_running = true;
        }
    }
    r = core_raft_start_watcher(core);
    if (r != 0)
        goto out;
    *ret_core = core;
    core = NULL;
    r = 0; /* success */
out:
    kh_core_close(core);
    return r;
}

void kh_core_close(struct kh_core *core)
{
    if (core == NULL)
        return;
    pthread_mutex_lock(&core->lock);
    core->stopping = true;
    pthread_cond_broadcast(&core->stop_cond);
    pthread_mutex_unlock(&core->lock);
    if (core->autounseal_running)
        pthread_join(core->autounseal_thread, NULL);
    if (core->ha_running)
        pthread_join(core->ha_thread, NULL);
    core->ha_running = false;
    if (core->barrier != NULL)
        core_seal_locked(core);
    audit_broker_free(core->audit);
    lease_manager_free(core->leases);
    policy_store_free(core->policies);
    token_store_free(core->tokens);
    mount_table_free(core->mounts);
    barrier_free(core->barrier);
    seal_close(core->seal);
    if (core->raft != NULL)
        core_raft_close(core);
    else
        kh_storage_close(core->storage);
    kh_secure_free(core->progress_shares,
                   KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX);
    kh_secure_free(core->root_generation.shares,
                   KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX);
    pthread_cond_destroy(&core->stop_cond);
    pthread_mutex_destroy(&core->lock);
    free(core);
}

/* Asking the HSM costs a round trip to the device: health and status
 * requests reuse the answer for SEAL_HEALTH_CACHE_S. */
#define SEAL_HEALTH_CACHE_S 5

static bool core_seal_healthy_locked(struct kh_core *core)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (core->seal_checked.tv_sec == 0 ||
        now.tv_sec - core->seal_checked.tv_sec >= SEAL_HEALTH_CACHE_S) {
        core->seal_healthy = seal_ready(core->seal) &&
                             core->seal->ops->health(core->seal) == 0;
        core->seal_checked = now;
    }
    return core->seal_healthy;
}

void kh_core_status(struct kh_core *core, struct kh_core_status *ret)
{
    struct kh_core_status s;

    memset(&s, 0, sizeof(s));
    pthread_mutex_lock(&core->lock);
    s.initialized = core->initialized;
    s.sealed = barrier_sealed(core->barrier);
    snprintf(s.seal_type, sizeof(s.seal_type), "%s", core->seal->ops->type);
    s.recovery_seal = core->seal->ops->auto_unseal;
    if (core->initialized) {
        s.threshold = s.recovery_seal ? core->seal_config.recovery_threshold
                                      : core->seal_config.secret_threshold;
        s.shares = s.recovery_seal ? core->seal_config.recovery_shares
                                   : core->seal_config.secret_shares;
    }
    s.progress = core->progress;
    memcpy(s.nonce, core->progress_nonce, sizeof(s.nonce));
    memcpy(s.cluster_name, core->cluster_name, sizeof(s.cluster_name));
    memcpy(s.cluster_id, core->cluster_id, sizeof(s.cluster_id));
    memcpy(s.storage_type, core->storage_type, sizeof(s.storage_type));
    s.active_time = core->active_time;
    memcpy(s.seal_error, core->seal_error, sizeof(s.seal_error));
    s.seal_healthy = core_seal_healthy_locked(core);
    s.ha_enabled = core->raft != NULL;
    s.standby = core->raft != NULL && !s.sealed && !core->active;
    pthread_mutex_unlock(&core->lock);
    *ret = s;
}

/* Load cluster identity after the barrier opened; caller holds lock. */
int core_after_unseal_locked(struct kh_core *core)
{
    char msg[KH_ERRMSG_SIZE];
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *name = NULL, *id = NULL;
    int r;

    r = barrier_get(core->barrier, CORE_CLUSTER_PATH, &value, &len);
    if (r != 0)
        return r;
    doc = json_loadb((const char *)value, len, 0, NULL);
    r = KH_ECORRUPT;
    if (doc != NULL &&
        json_unpack(doc, "{s:s, s:s}", "name", &name, "id", &id) == 0 &&
        strlen(name) < sizeof(core->cluster_name) &&
        strlen(id) < sizeof(core->cluster_id)) {
        strcpy(core->cluster_name, name);
        strcpy(core->cluster_id, id);
        r = 0;
    }
    json_decref(doc);
    kh_free_secret(value, len);
    core_progress_reset_locked(core);
    core->operator_sealed = false;
    if (r != 0)
        return r;
    /* On integrated storage only the raft leader becomes active; the
     * watcher promotes a standby when its node leads. */
    if (core->raft != NULL) {
        if (!kh_raft_node_is_leader(core->raft)) {
            __atomic_store_n(&core->active, false, __ATOMIC_RELEASE);
            log_info("core: unsealed as a standby");
            return 0;
        }
        return core_raft_promote_locked(core);
    }
    r = mount_table_load(core->mounts);
    if (r == 0)
        r = policy_store_setup(core->policies);
    if (r == 0)
        r = lease_manager_start(core->leases);
    /* A device that cannot open leaves requests refused (never served
     * unaudited); the node still unseals so operators can fix it. */
    if (r == 0 && audit_broker_load(core->audit, msg, sizeof(msg)) != 0)
        log_error("audit: %s", msg);
    clock_gettime(CLOCK_REALTIME, &core->active_time);
    __atomic_store_n(&core->active, r == 0, __ATOMIC_RELEASE);
    return r;
}

int kh_core_autounseal(struct kh_core *core, char *errmsg, size_t errmsg_size)
{
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    int r = 0;

    pthread_mutex_lock(&core->lock);
    if (!core->initialized || !core->seal->ops->auto_unseal ||
        !barrier_sealed(core->barrier))
        goto out;
    r = KH_EAUTH;
    if (core->seal_refused)
        goto out;
    r = seal_connect(core->seal, errmsg, errmsg_size);
    if (r == KH_EAUTH)
        core->seal_refused = true;
    if (r != 0)
        goto record;
    r = seal_recover_key(core->seal, core->storage, NULL, SEAL_ROOT_KEY_PATH,
                         root_key);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "seal: cannot unwrap the root key: "
                  "%s", core->seal->errmsg[0] ? core->seal->errmsg
                                              : kh_strerror(r));
        goto record;
    }
    r = barrier_unseal(core->barrier, root_key);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "barrier: cannot open the keyring: "
                  "%s", kh_strerror(r));
        goto record;
    }
    r = core_after_unseal_locked(core);
    if (r != 0) {
        core_seal_locked(core);
        kh_errmsg(errmsg, errmsg_size, r, "core: %s", kh_strerror(r));
        goto record;
    }
    core->seal_error[0] = '\0';
    log_info("core: unsealed with seal \"%s\"", core->seal->ops->type);
    goto out;
record:
    snprintf(core->seal_error, sizeof(core->seal_error), "%s", errmsg);
    log_error("core: auto-unseal failed: %s", errmsg);
out:
    pthread_mutex_unlock(&core->lock);
    kh_wipe(root_key, sizeof(root_key));
    return r;
}

void core_seal_locked(struct kh_core *core)
{
    core_unload_locked(core);
    __atomic_store_n(&core->active, false, __ATOMIC_RELEASE);
    barrier_seal(core->barrier);
    if (core->progress_shares != NULL)
        core_progress_reset_locked(core);
}

void core_seal_discard_locked(struct kh_core *core)
{
    core_unload_locked(core);
    __atomic_store_n(&core->active, false, __ATOMIC_RELEASE);
    barrier_seal_discard(core->barrier);
    if (core->progress_shares != NULL)
        core_progress_reset_locked(core);
}

void core_unload_locked(struct kh_core *core)
{
    /* Audit first: it writes its chain heads through the barrier. Each
     * part may be missing when kh_core_open failed half way. */
    if (core->audit != NULL)
        audit_broker_unload(core->audit);
    if (core->leases != NULL)
        lease_manager_stop(core->leases);
    if (core->policies != NULL)
        policy_store_seal(core->policies);
    if (core->mounts != NULL)
        mount_table_unload(core->mounts);
    if (core->tokens != NULL)
        token_store_seal(core->tokens);
}

int kh_core_seal(struct kh_core *core)
{
    pthread_mutex_lock(&core->lock);
    core_seal_locked(core);
    core->operator_sealed = true;
    pthread_mutex_unlock(&core->lock);
    /* A sealed raft leader hands the cluster to a node that can serve. */
    if (core->raft != NULL &&
        kh_raft_node_step_down(core->raft, KH_RAFT_CHANGE_TIMEOUT_MS) == 0)
        log_info("core: sealed; leadership handed to another node");
    log_info("core: sealed");
    return 0;
}

void core_progress_reset_locked(struct kh_core *core)
{
    kh_wipe(core->progress_shares, KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX);
    core->progress = 0;
    core->progress_share_len = 0;
    core->progress_nonce[0] = '\0';
}
