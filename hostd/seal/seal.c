/*
 * seal.c - choosing a seal backend, and the seal's records in storage:
 * the configuration and the protected root key, both outside the barrier.
 *
 * Never holds the root key beyond a call; never logs.
 */
#include "seal/seal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "seal/seal_backends.h"

int seal_open(const struct kh_config_stanza *stanza, struct seal **ret_seal,
              char *errmsg, size_t errmsg_size)
{
    const char *type = stanza != NULL ? stanza->type : NULL;
    struct seal *seal = NULL;
    int r = KH_EINTERNAL;

    seal = calloc(1, sizeof(*seal));
    if (seal == NULL)
        return KH_ENOMEM;
    if (type == NULL || strcmp(type, "shamir") == 0) {
        r = seal_shamir_init(seal);
    } else if (strcmp(type, "pkcs11") == 0) {
        r = seal_pkcs11_init(seal, stanza, errmsg, errmsg_size);
    } else if (strcmp(type, "tpm2") == 0) {
        r = seal_tpm2_init(seal, stanza, errmsg, errmsg_size);
    } else {
        r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                      "seal: unknown seal type \"%s\"", type);
    }
    if (r != 0 && seal->ops == NULL)
        goto out;
    /* A backend that is configured but whose device failed still yields a
     * seal, so the node can report the failure and retry. */
    *ret_seal = seal;
    seal = NULL;
out:
    free(seal);
    return r;
}

int seal_connect(struct seal *seal, char *errmsg, size_t errmsg_size)
{
    KH_ASSERT(seal != NULL);
    KH_ASSERT(seal->ops != NULL);
    if (strcmp(seal->ops->type, "pkcs11") == 0)
        return seal_pkcs11_connect(seal, errmsg, errmsg_size);
    if (strcmp(seal->ops->type, "tpm2") == 0)
        return seal_tpm2_connect(seal, errmsg, errmsg_size);
    return 0;
}

bool seal_ready(const struct seal *seal)
{
    KH_ASSERT(seal != NULL);
    if (strcmp(seal->ops->type, "pkcs11") == 0)
        return seal_pkcs11_ready(seal);
    if (strcmp(seal->ops->type, "tpm2") == 0)
        return seal_tpm2_ready(seal);
    return true;
}

void seal_close(struct seal *seal)
{
    if (seal == NULL)
        return;
    if (seal->ops != NULL && seal->ops->close != NULL)
        seal->ops->close(seal);
    free(seal);
}

int seal_config_load(struct kh_storage *storage, struct seal_config *ret)
{
    struct seal_config config;
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *type = NULL;
    json_int_t shares = 0, threshold = 0, rshares = 0, rthreshold = 0;
    int r;

    r = kh_storage_get(storage, SEAL_CONFIG_PATH, &value, &len);
    if (r != 0)
        goto out;
    r = KH_ECORRUPT;
    doc = json_loadb((const char *)value, len, 0, NULL);
    if (doc == NULL)
        goto out;
    if (json_unpack(doc, "{s:s, s:I, s:I, s:I, s:I}", "type", &type,
                    "secret_shares", &shares, "secret_threshold", &threshold,
                    "recovery_shares", &rshares, "recovery_threshold",
                    &rthreshold) != 0)
        goto out;
    if (strlen(type) >= sizeof(config.type) || shares < 0 ||
        shares > KH_SHAMIR_SHARES_MAX || threshold < 0 || threshold > shares ||
        rshares < 0 || rshares > KH_SHAMIR_SHARES_MAX || rthreshold < 0 ||
        rthreshold > rshares)
        goto out;
    memset(&config, 0, sizeof(config));
    strcpy(config.type, type);
    config.secret_shares = (unsigned)shares;
    config.secret_threshold = (unsigned)threshold;
    config.recovery_shares = (unsigned)rshares;
    config.recovery_threshold = (unsigned)rthreshold;
    *ret = config;
    r = 0; /* success */
out:
    json_decref(doc);
    free(value);
    return r;
}

static json_t *seal_config_json(const struct seal_config *config)
{
    return json_pack("{s:s, s:i, s:i, s:i, s:i}", "type", config->type,
                     "secret_shares", (int)config->secret_shares,
                     "secret_threshold", (int)config->secret_threshold,
                     "recovery_shares", (int)config->recovery_shares,
                     "recovery_threshold", (int)config->recovery_threshold);
}

int seal_store(struct seal *seal, struct kh_storage *storage,
               const struct seal_config *config, const uint8_t *unseal_key,
               const uint8_t root_key[KH_ROOT_KEY_BYTES],
               const uint8_t *recovery_key)
{
    struct kh_storage_op ops[3];
    uint8_t *blob = NULL;
    uint8_t *recovery_blob = NULL;
    size_t blob_len = 0;
    size_t recovery_blob_len = 0;
    size_t count = 2;
    json_t *doc = NULL;
    char *text = NULL;
    int r = KH_ENOMEM;

    doc = seal_config_json(config);
    if (doc == NULL)
        goto out;
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        goto out;
    r = seal->ops->wrap(seal, unseal_key, SEAL_ROOT_KEY_PATH, root_key, &blob,
                        &blob_len);
    if (r != 0)
        goto out;
    ops[0] = (struct kh_storage_op){KH_STORAGE_PUT, SEAL_CONFIG_PATH,
                                    (const uint8_t *)text, strlen(text)};
    ops[1] = (struct kh_storage_op){KH_STORAGE_PUT, SEAL_ROOT_KEY_PATH, blob,
                                    blob_len};
    if (recovery_key != NULL) {
        r = seal->ops->wrap(seal, NULL, SEAL_RECOVERY_KEY_PATH, recovery_key,
                            &recovery_blob, &recovery_blob_len);
        if (r != 0)
            goto out;
        ops[count++] = (struct kh_storage_op){
            KH_STORAGE_PUT, SEAL_RECOVERY_KEY_PATH, recovery_blob,
            recovery_blob_len};
    }
    r = kh_storage_batch(storage, ops, count);
out:
    free(recovery_blob);
    free(blob);
    free(text);
    json_decref(doc);
    return r;
}

int seal_recover_key(struct seal *seal, struct kh_storage *storage,
                     const uint8_t *unseal_key, const char *path,
                     uint8_t key[KH_ROOT_KEY_BYTES])
{
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int r;

    r = kh_storage_get(storage, path, &blob, &blob_len);
    if (r != 0)
        goto out;
    r = seal->ops->unwrap(seal, unseal_key, path, blob, blob_len, key);
out:
    free(blob);
    return r;
}
