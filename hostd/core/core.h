/*
 * core.h - the server's state machine: uninitialised -> sealed -> unsealed
 * (active), and the operations that move between states: init, unseal,
 * seal, auto-unseal, barrier rotation.
 *
 * Owns the storage, the barrier, the seal and the token store, and the
 * unseal progress (shares in locked memory, wiped on reset, success and
 * close). One mutex, core->lock, guards every state change and the
 * progress; readers of the sealed flag use barrier_sealed(), which takes
 * the barrier's own lock. Request handlers receive the core and call these
 * functions; they never touch the members directly except the read-only
 * pointers documented below.
 */
#ifndef KH_CORE_CORE_H
#define KH_CORE_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "audit/audit.h"
#include "barrier/barrier.h"
#include "common/assert.h"
#include "common/encoding.h"
#include "config/config.h"
#include "lease/lease.h"
#include "mount/mount_table.h"
#include "policy/policy_store.h"
#include "seal/seal.h"
#include "storage/storage.h"
#include "token/token_store.h"

struct kh_raft_node;

/* How a joining node reaches the leader's API over https: the leader's CA
 * (a file name, or PEM text) and this node's client certificate files;
 * every field may be NULL. */
struct kh_join_tls
{
    const char *ca;
    const char *cert_file;
    const char *key_file;
};

/* The same, owned (a pending Shamir join keeps it). */
struct kh_join_tls_owned
{
    char *ca;
    char *cert_file;
    char *key_file;
};

#define KH_SERVER_VERSION "1.15.0+keyhold-" KH_VERSION
#define KH_SHARE_BYTES_MAX (KH_ROOT_KEY_BYTES + 1)

struct kh_core_options
{
    const struct kh_config *config;     /* not owned; must outlive core */
    bool start_autounseal_thread;       /* retry an unavailable HSM */
};

/* A sys/generate-root attempt (guarded by kh_core.lock). */
struct kh_root_generation
{
    bool started;
    char nonce[KH_UUID_STR_LEN + 1];
    char otp[TOKEN_ID_BYTES_MAX + 1];
    uint8_t *shares;                    /* kh_secure_alloc */
    unsigned progress;
    size_t share_len;
};

struct kh_core
{
    /* Read-only after kh_core_open; safe to use from any thread. */
    struct kh_storage *storage;
    struct barrier *barrier;
    struct token_store *tokens;
    struct mount_table *mounts;
    struct lease_manager *leases;
    struct audit_broker *audit;
    struct policy_store *policies;
    const struct kh_config *config;
    char storage_type[16];
    char build_date[KH_TIME_STR_SIZE];

    /* Guarded by lock. */
    pthread_mutex_t lock;
    struct seal *seal;
    bool initialized;
    struct seal_config seal_config;
    uint8_t *progress_shares;           /* kh_secure_alloc */
    size_t progress_share_len;
    unsigned progress;
    char progress_nonce[KH_UUID_STR_LEN + 1];
    char cluster_name[64];
    char cluster_id[KH_UUID_STR_LEN + 1];
    struct timespec active_time;
    char seal_error[KH_ERRMSG_SIZE];    /* last auto-unseal failure */
    bool seal_refused;                  /* the HSM refused our credentials:
                                           retrying could lock the PIN */
    bool seal_healthy;                  /* cached; see kh_core_status */
    struct timespec seal_checked;
    struct kh_root_generation root_generation;

    /* Integrated storage: the raft node (NULL with other storage), the
     * HA watcher thread, and whether this node is the active one (guarded
     * by lock; always true on a single unsealed node). */
    struct kh_raft_node *raft;
    pthread_t ha_thread;
    bool ha_running;
    bool active;
    bool operator_sealed;               /* sys/seal: no auto-unseal */
    bool restoring;                     /* a snapshot restore runs */
    /* A Shamir-sealed node joining a cluster: the challenge waits for the
     * operator's unseal key shares (join_doc), then the root key they
     * opened waits for the replicated keyring (join_root_key). */
    json_t *join_doc;
    char *join_leader;
    struct kh_join_tls_owned join_tls;
    uint8_t *join_root_key;             /* kh_secure_alloc */

    /* The auto-unseal retry thread. */
    pthread_t autounseal_thread;
    bool autounseal_running;
    bool stopping;                      /* guarded by lock */
    pthread_cond_t stop_cond;
};

/* A consistent snapshot for sys/seal-status, sys/health, sys/leader. */
struct kh_core_status
{
    bool initialized;
    bool sealed;
    char seal_type[16];
    bool recovery_seal;
    unsigned threshold;
    unsigned shares;
    unsigned progress;
    char nonce[KH_UUID_STR_LEN + 1];
    char cluster_name[64];
    char cluster_id[KH_UUID_STR_LEN + 1];
    char storage_type[16];
    struct timespec active_time;
    bool seal_healthy;
    char seal_error[KH_ERRMSG_SIZE];
    bool ha_enabled;                    /* raft storage */
    bool standby;                       /* unsealed, not active */
};

struct kh_init_request
{
    unsigned secret_shares;
    unsigned secret_threshold;
    unsigned recovery_shares;
    unsigned recovery_threshold;
    const char *root_token_id;          /* NULL: random */
};

/* Open storage and seal from the configuration and load the state. With an
 * auto seal on an initialised store, unseal at once; if the HSM is not
 * available, keep serving sealed and retry with capped backoff. */
int kh_core_open(const struct kh_core_options *options,
                 struct kh_core **ret_core, char *errmsg,
                 size_t errmsg_size) KH_MUST_CHECK;

/* Stop the retry thread, seal, close everything; accepts NULL. */
void kh_core_close(struct kh_core *core);

void kh_core_status(struct kh_core *core, struct kh_core_status *ret);

/* Join the raft cluster whose active node answers at leader (an http(s)
 * URL; tls may be NULL), proving membership (core_join.c). Success when
 * already a member. */
int kh_core_raft_join(struct kh_core *core, const char *leader,
                      const struct kh_join_tls *tls, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;
/* The active node's side of a join: issue a challenge for server_id, and
 * check its answer and add the server. */
int kh_core_join_challenge(struct kh_core *core, const char *server_id,
                           json_t **ret_body, char *errmsg,
                           size_t errmsg_size) KH_MUST_CHECK;
int kh_core_join_answer(struct kh_core *core, const char *server_id,
                        const char *answer_b64, const char *cluster_addr,
                        bool non_voter, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;

/* For a request arriving at a standby: 1 with the active node's api_addr
 * in out (forward the request there), 0 to handle it here (not a raft
 * standby), KH_EUNAVAIL when no active node is known. */
int kh_core_active_addr(struct kh_core *core, char *out, size_t size);

/* sys/init. *ret_result receives the raw response object (keys,
 * keys_base64, recovery_keys..., root_token). */
int kh_core_init(struct kh_core *core, const struct kh_init_request *init,
                 json_t **ret_result, char *errmsg,
                 size_t errmsg_size) KH_MUST_CHECK;

/* sys/unseal with one share (reset discards progress first). Shares are
 * unseal keys for shamir and recovery keys for auto seals. */
int kh_core_unseal(struct kh_core *core, const uint8_t *share,
                   size_t share_len, bool reset, char *errmsg,
                   size_t errmsg_size) KH_MUST_CHECK;

/* sys/seal: wipe keys from memory. */
int kh_core_seal(struct kh_core *core) KH_MUST_CHECK;

/* sys/generate-root: status, start (otp NULL or "": the server makes one
 * and returns it once), cancel, update with one share. *ret is the status
 * object of Vault API: sys/generate-root. */
int kh_core_generate_root_status(struct kh_core *core, json_t **ret);
int kh_core_generate_root_start(struct kh_core *core, const char *otp,
                                json_t **ret, char *errmsg,
                                size_t errmsg_size) KH_MUST_CHECK;
void kh_core_generate_root_cancel(struct kh_core *core);
int kh_core_generate_root_update(struct kh_core *core, const uint8_t *share,
                                 size_t share_len, const char *nonce,
                                 json_t **ret, char *errmsg,
                                 size_t errmsg_size) KH_MUST_CHECK;

/* Try an auto-unseal now (start-up and the retry thread). */
int kh_core_autounseal(struct kh_core *core, char *errmsg,
                       size_t errmsg_size);

#endif
