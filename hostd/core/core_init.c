/*
 * core_init.c - sys/init: create the root key, the barrier keyring, the
 * root token and the cluster identity, protect the root key with the seal,
 * and hand the operator their key shares (Vault API: sys/init).
 *
 * The order makes a crash at any point safe: the seal configuration, which
 * is what marks the store initialised, is written last. A crashed
 * initialisation leaves a store that is still uninitialised; the next
 * sys/init first removes what the crashed one left behind (nothing in it
 * can be decrypted: its root key was never stored).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "core/core_internal.h"
#include "seal/shamir.h"

#define RECOVERY_SHARES_DEFAULT 5
#define RECOVERY_THRESHOLD_DEFAULT 3

static int validate_request(const struct kh_core *core,
                            struct kh_init_request *init, char *errmsg,
                            size_t errmsg_size)
{
    bool auto_seal = core->seal->ops->auto_unseal;
    unsigned shares = auto_seal ? init->recovery_shares : init->secret_shares;
    unsigned threshold =
        auto_seal ? init->recovery_threshold : init->secret_threshold;

    if (!auto_seal && (init->recovery_shares != 0 ||
                       init->recovery_threshold != 0))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "parameters recovery_shares,recovery_threshold not "
                         "applicable to seal type shamir");
    if (shares == 0 || shares > KH_SHAMIR_SHARES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid seal configuration: shares must be between "
                         "1 and %d", KH_SHAMIR_SHARES_MAX);
    if (threshold == 0 || threshold > shares)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid seal configuration: threshold cannot be "
                         "larger than shares");
    if (shares > 1 && threshold == 1)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid seal configuration: threshold must be "
                         "greater than one for multiple shares");
    return 0;
}

/* Split key into shares and append them to result as hex and base64. */
static int add_shares(json_t *result, const char *hex_name,
                      const char *b64_name, const uint8_t *key,
                      unsigned shares, unsigned threshold)
{
    uint8_t split[KH_SHAMIR_SHARES_MAX * KH_SHARE_BYTES_MAX];
    char hex[2 * KH_SHARE_BYTES_MAX + 1];
    char b64[2 * KH_SHARE_BYTES_MAX + 4];
    json_t *hex_list = json_array();
    json_t *b64_list = json_array();
    size_t share_len = shares == 1 ? KH_ROOT_KEY_BYTES : KH_SHARE_BYTES_MAX;
    unsigned i;
    int r = KH_ENOMEM;

    if (hex_list == NULL || b64_list == NULL)
        goto out;
    if (shares == 1) {
        memcpy(split, key, KH_ROOT_KEY_BYTES);
    } else {
        r = shamir_split(key, KH_ROOT_KEY_BYTES, shares, threshold, split);
        if (r != 0)
            goto out;
    }
    r = KH_ENOMEM;
    for (i = 0; i < shares; i++) {
        kh_hex_encode(split + i * share_len, share_len, hex);
        kh_base64_encode(split + i * share_len, share_len, true, b64);
        if (json_array_append_new(hex_list, json_string(hex)) != 0 ||
            json_array_append_new(b64_list, json_string(b64)) != 0)
            goto out;
    }
    if (json_object_set(result, hex_name, hex_list) != 0 ||
        json_object_set(result, b64_name, b64_list) != 0)
        goto out;
    r = 0; /* success */
out:
    json_decref(hex_list);
    json_decref(b64_list);
    kh_wipe(split, sizeof(split));
    kh_wipe(hex, sizeof(hex));
    kh_wipe(b64, sizeof(b64));
    return r;
}

static int store_cluster_identity(struct kh_core *core)
{
    char id[KH_UUID_STR_LEN + 1];
    char text[256];
    int r;

    r = kh_uuid_generate(id);
    if (r != 0)
        return r;
    snprintf(text, sizeof(text), "{\"name\":\"keyhold-cluster-%.8s\","
             "\"id\":\"%s\"}", id, id);
    return barrier_put(core->barrier, CORE_CLUSTER_PATH,
                       (const uint8_t *)text, strlen(text));
}

/* Everything inside the barrier: token salt, root token, identity. */
static int init_barrier_contents(struct kh_core *core,
                                 const struct kh_init_request *init,
                                 char *root_token, size_t root_token_size)
{
    int r;

    r = token_store_setup(core->tokens);
    if (r == 0)
        r = token_store_create_root(core->tokens, init->root_token_id,
                                    root_token, root_token_size);
    if (r == 0)
        r = store_cluster_identity(core);
    if (r == 0)
        r = mount_table_setup(core->mounts);
    return r;
}

static int init_locked(struct kh_core *core, struct kh_init_request *init,
                       json_t *result, char *errmsg, size_t errmsg_size)
{
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    uint8_t unseal_key[KH_ROOT_KEY_BYTES];
    char root_token[TOKEN_ID_BYTES_MAX + 1];
    bool auto_seal = core->seal->ops->auto_unseal;
    struct seal_config config;
    int r;

    memset(&config, 0, sizeof(config));
    snprintf(config.type, sizeof(config.type), "%s", core->seal->ops->type);
    config.secret_shares = auto_seal ? 1 : init->secret_shares;
    config.secret_threshold = auto_seal ? 1 : init->secret_threshold;
    config.recovery_shares = auto_seal ? init->recovery_shares : 0;
    config.recovery_threshold = auto_seal ? init->recovery_threshold : 0;

    r = core_raft_prepare_init_locked(core, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = kh_random_bytes(root_key, sizeof(root_key));
    if (r == 0)
        r = kh_random_bytes(unseal_key, sizeof(unseal_key));
    /* A new raft cluster holds only its own server name: keep it. */
    if (r == 0 && core->raft == NULL)
        r = kh_storage_delete_prefix(core->storage, "");
    if (r == 0)
        r = barrier_initialize(core->barrier, root_key);
    if (r != 0)
        goto fail;
    r = init_barrier_contents(core, init, root_token, sizeof(root_token));
    if (r != 0)
        goto fail;
    /* unseal_key doubles as the recovery key of an auto seal. */
    r = seal_store(core->seal, core->storage, &config, unseal_key, root_key,
                   auto_seal ? unseal_key : NULL);
    if (r != 0)
        goto fail;
    r = add_shares(result, auto_seal ? "recovery_keys" : "keys",
                   auto_seal ? "recovery_keys_base64" : "keys_base64",
                   unseal_key, auto_seal ? config.recovery_shares
                                         : config.secret_shares,
                   auto_seal ? config.recovery_threshold
                             : config.secret_threshold);
    if (r == 0 && json_object_set_new(result, "root_token",
                                      json_string(root_token)) != 0)
        r = KH_ENOMEM;
    if (r != 0)
        goto fail;
    core->initialized = true;
    core->seal_config = config;
    mount_table_unload(core->mounts); /* loaded again at unseal */
    if (auto_seal)
        r = core_after_unseal_locked(core);
    else
        core_seal_locked(core); /* operators unseal with the shares */
    goto out;
fail:
    core_seal_locked(core);
    kh_errmsg(errmsg, errmsg_size, r, "initialization failed: %s",
              kh_strerror(r));
out:
    kh_wipe(root_key, sizeof(root_key));
    kh_wipe(unseal_key, sizeof(unseal_key));
    kh_wipe(root_token, sizeof(root_token));
    return r;
}

int kh_core_init(struct kh_core *core, const struct kh_init_request *request,
                 json_t **ret_result, char *errmsg, size_t errmsg_size)
{
    struct kh_init_request init = *request;
    json_t *result = NULL;
    int r;

    pthread_mutex_lock(&core->lock);
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "Vault is already initialized");
    if (core->initialized)
        goto out;
    /* An HSM that was down at start is tried again on demand. */
    if (!seal_ready(core->seal) && !core->seal_refused &&
        seal_connect(core->seal, core->seal_error,
                     sizeof(core->seal_error)) == 0)
        core->seal_error[0] = '\0';
    r = kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "seal: %s",
                  core->seal_error[0] ? core->seal_error
                                      : "the seal device is not available");
    if (!seal_ready(core->seal))
        goto out;
    if (core->seal->ops->auto_unseal && init.recovery_shares == 0 &&
        init.recovery_threshold == 0) {
        init.recovery_shares = RECOVERY_SHARES_DEFAULT;
        init.recovery_threshold = RECOVERY_THRESHOLD_DEFAULT;
    }
    r = validate_request(core, &init, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    result = json_pack("{s:[], s:[]}", "keys", "keys_base64");
    if (result == NULL)
        goto out;
    r = init_locked(core, &init, result, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    log_info("core: initialized with seal \"%s\"", core->seal->ops->type);
    *ret_result = result;
    result = NULL;
    r = 0; /* success */
out:
    pthread_mutex_unlock(&core->lock);
    json_decref(result);
    return r;
}
