/*
 * dev_mode.c - setting up and tearing down `keyholdd -dev`.
 *
 * Owns the temporary directory; removes it on cleanup. The SoftHSM2 PINs
 * are random per run and live only in the generated configuration, which
 * is wiped with the config. Prints the root token on purpose: that is what
 * dev mode is for, as in Vault.
 */
#include "server/dev_mode.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "hsm.h"
#include "mount/mount_table.h"

#define DEV_TOKEN_LABEL "keyhold-dev"
#define DEV_KEY_LABEL "keyhold-dev-root-kek"

static const char *softhsm_module(void)
{
    static const char *const candidates[] = {
        DEV_SOFTHSM_MODULE,
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    };
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(candidates); i++) {
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    }
    return NULL;
}

/* A private SoftHSM2 token store under dir, selected for this process. */
static int prepare_softhsm(const struct dev_mode *dev, const char *pin,
                           char *errmsg, size_t errmsg_size)
{
    char path[512];
    char so_pin[33];
    uint8_t raw[16];
    FILE *f;
    int r;

    snprintf(path, sizeof(path), "%s/softhsm-tokens", dev->dir);
    if (mkdir(path, 0700) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "mkdir %s: %s", path,
                         strerror(errno));
    snprintf(path, sizeof(path), "%s/softhsm2.conf", dev->dir);
    f = fopen(path, "w");
    if (f == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "create %s: %s", path,
                         strerror(errno));
    fprintf(f, "directories.tokendir = %s/softhsm-tokens\n"
               "objectstore.backend = file\nlog.level = ERROR\n"
               "slots.removable = false\n",
            dev->dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", path, 1);
    r = kh_random_bytes(raw, sizeof(raw));
    if (r != 0)
        return r;
    kh_hex_encode(raw, sizeof(raw), so_pin);
    r = hsm_pkcs11_init_token(softhsm_module(), DEV_TOKEN_LABEL, so_pin, pin,
                              errmsg, errmsg_size);
    kh_wipe(so_pin, sizeof(so_pin));
    kh_wipe(raw, sizeof(raw));
    return r;
}

static int dev_config_text(const struct dev_mode_options *options,
                           const struct dev_mode *dev, const char *pin,
                           char *out, size_t size)
{
    const char *address = options->listen_address != NULL
                              ? options->listen_address
                              : DEV_LISTEN_ADDRESS_DEFAULT;
    int n;

    if (strcmp(options->seal_type, "shamir") == 0)
        n = snprintf(out, size,
                     "listener \"tcp\" {\n  address = \"%s\"\n"
                     "  tls_disable = true\n}\n"
                     "storage \"lmdb\" {\n  path = \"%s/data\"\n}\n"
                     "disable_mlock = true\n",
                     address, dev->dir);
    else
        n = snprintf(out, size,
                     "listener \"tcp\" {\n  address = \"%s\"\n"
                     "  tls_disable = true\n}\n"
                     "storage \"lmdb\" {\n  path = \"%s/data\"\n}\n"
                     "seal \"pkcs11\" {\n  lib = \"%s\"\n"
                     "  token_label = \"%s\"\n  pin = \"%s\"\n"
                     "  key_label = \"%s\"\n  generate_key = true\n}\n"
                     "disable_mlock = true\n",
                     address, dev->dir, softhsm_module(), DEV_TOKEN_LABEL,
                     pin, DEV_KEY_LABEL);
    return n < 0 || (size_t)n >= size ? KH_ELIMIT : 0;
}

int dev_mode_prepare(const struct dev_mode_options *options,
                     struct dev_mode *dev, struct kh_config **ret_config,
                     char *errmsg, size_t errmsg_size)
{
    struct kh_config *config = NULL;
    const char *base = getenv("TMPDIR");
    char text[4096];
    char pin[33];
    uint8_t raw[16];
    int r;

    memset(dev, 0, sizeof(*dev));
    snprintf(dev->dir, sizeof(dev->dir), "%s/keyhold-dev-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    if (mkdtemp(dev->dir) == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "mkdtemp %s: %s",
                         dev->dir, strerror(errno));
    r = kh_random_bytes(raw, sizeof(raw));
    if (r != 0)
        goto out;
    kh_hex_encode(raw, sizeof(raw), pin);
    if (strcmp(options->seal_type, "pkcs11") == 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                      "dev mode: SoftHSM2 is not installed (no "
                      "libsofthsm2.so); install softhsm2 or use "
                      "-dev-seal=shamir");
        if (softhsm_module() == NULL)
            goto out;
        r = prepare_softhsm(dev, pin, errmsg, errmsg_size);
        if (r != 0)
            goto out;
    }
    r = dev_config_text(options, dev, pin, text, sizeof(text));
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    config = kh_config_new();
    if (config == NULL)
        goto out;
    r = kh_config_parse_text(config, text, strlen(text), "<dev mode>", errmsg,
                             errmsg_size);
    if (r != 0)
        goto out;
    *ret_config = config;
    config = NULL;
    r = 0; /* success */
out:
    kh_config_free(config);
    kh_wipe(text, sizeof(text));
    kh_wipe(pin, sizeof(pin));
    kh_wipe(raw, sizeof(raw));
    return r;
}

/* The first key share of an init result, as hex, into out. */
static void first_key(json_t *result, const char *name, char *out,
                      size_t size)
{
    const char *key = json_string_value(
        json_array_get(json_object_get(result, name), 0));

    snprintf(out, size, "%s", key != NULL ? key : "");
}

/* Dev servers mount secret/ as KV version 2, as Vault's do. */
static int mount_dev_kv(struct kh_core *core, char *errmsg,
                        size_t errmsg_size)
{
    json_t *options = json_pack("{s:s}", "version", "2");
    struct mount_request m = {
        .path = "secret",
        .type = "kv",
        .description = "key/value secret storage",
        .options = options,
    };
    int r;

    if (options == NULL)
        return KH_ENOMEM;
    r = mount_table_enable(core->mounts, false, &m, errmsg, errmsg_size);
    json_decref(options);
    return r;
}

int dev_mode_initialize(const struct dev_mode_options *options,
                        struct dev_mode *dev, struct kh_core *core,
                        char *errmsg, size_t errmsg_size)
{
    struct kh_init_request init = {0};
    bool shamir = strcmp(options->seal_type, "shamir") == 0;
    uint8_t key[KH_ROOT_KEY_BYTES];
    size_t key_len = 0;
    json_t *result = NULL;
    int r;

    init.secret_shares = shamir ? 1 : 0;
    init.secret_threshold = shamir ? 1 : 0;
    init.recovery_shares = shamir ? 0 : 1;
    init.recovery_threshold = shamir ? 0 : 1;
    init.root_token_id = options->root_token_id;
    r = kh_core_init(core, &init, &result, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    snprintf(dev->root_token, sizeof(dev->root_token), "%s",
             json_string_value(json_object_get(result, "root_token")));
    first_key(result, shamir ? "keys" : "recovery_keys",
              shamir ? dev->unseal_key : dev->recovery_key,
              sizeof(dev->unseal_key));
    if (shamir) {
        r = kh_hex_decode(dev->unseal_key, strlen(dev->unseal_key), key,
                          sizeof(key), &key_len);
        if (r == 0)
            r = kh_core_unseal(core, key, key_len, false, errmsg,
                               errmsg_size);
    }
    if (r == 0)
        r = mount_dev_kv(core, errmsg, errmsg_size);
out:
    json_decref(result);
    kh_wipe(key, sizeof(key));
    return r;
}

void dev_mode_print_banner(const struct dev_mode *dev, const char *address)
{
    printf("==> Keyhold server started in dev mode.\n\n"
           "WARNING! dev mode is enabled! In this mode, Keyhold runs "
           "entirely in a temporary\ndirectory (%s), is initialized and "
           "unsealed, and listens without TLS.\nDo not run dev mode in "
           "production.\n\n"
           "You may need to set the following environment variables:\n\n"
           "    $ export VAULT_ADDR='http://%s'\n"
           "    $ export VAULT_TOKEN='%s'\n\n"
           "(KEYHOLD_ADDR and KEYHOLD_TOKEN work as well.)\n\n",
           dev->dir, address, dev->root_token);
    if (dev->unseal_key[0] != '\0')
        printf("Unseal Key: %s\n", dev->unseal_key);
    if (dev->recovery_key[0] != '\0')
        printf("Recovery Key: %s\n", dev->recovery_key);
    printf("Root Token: %s\n\nDevelopment mode should NOT be used in "
           "production installations!\n\n",
           dev->root_token);
    fflush(stdout);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)remove(path);
    return 0;
}

void dev_mode_cleanup(struct dev_mode *dev)
{
    if (dev->dir[0] != '\0')
        (void)nftw(dev->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    kh_wipe(dev, sizeof(*dev));
}
