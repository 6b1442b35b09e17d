/*
 * dev_mode.h - `keyholdd -dev`: a throw-away server for development and
 * CI, as `vault server -dev`: data in a fresh temporary directory, HTTP on
 * 127.0.0.1:8200, initialised and unsealed at start. The root key is
 * wrapped by a private SoftHSM2 token created in the same directory, so
 * dev mode runs the same hardware-rooted path as production.
 */
#ifndef KH_SERVER_DEV_MODE_H
#define KH_SERVER_DEV_MODE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "core/core.h"

#define DEV_LISTEN_ADDRESS_DEFAULT "127.0.0.1:8200"
#define DEV_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

struct dev_mode_options
{
    const char *root_token_id;      /* NULL: random */
    const char *listen_address;     /* NULL: DEV_LISTEN_ADDRESS_DEFAULT */
    const char *seal_type;          /* "pkcs11" (default) or "shamir" */
};

struct dev_mode
{
    char dir[256];                  /* the temporary directory */
    char root_token[KH_HTTP_TOKEN_BYTES_MAX + 1];
    char unseal_key[2 * KH_ROOT_KEY_BYTES + 1]; /* shamir only */
    char recovery_key[2 * KH_ROOT_KEY_BYTES + 1]; /* pkcs11 only */
};

/* Create the directory (and SoftHSM2 token) and a configuration for it. */
int dev_mode_prepare(const struct dev_mode_options *options,
                     struct dev_mode *dev, struct kh_config **ret_config,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Initialise and unseal the freshly opened core. */
int dev_mode_initialize(const struct dev_mode_options *options,
                        struct dev_mode *dev, struct kh_core *core,
                        char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Print the banner: address, root token, export lines. */
void dev_mode_print_banner(const struct dev_mode *dev, const char *address);

/* Remove the temporary directory and wipe dev's secrets. */
void dev_mode_cleanup(struct dev_mode *dev);

#endif
