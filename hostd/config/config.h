/*
 * config.h - keyholdd's server configuration: loading, validating, freeing.
 *
 * Files are HCL (the subset Vault configurations use) or JSON; a path may be
 * a file or a directory (every *.hcl and *.json in it, in name order).
 * Several files merge: listeners accumulate, scalars and stanzas from later
 * files win. Unknown keys are errors; every error names file:line:column and
 * what was expected.
 *
 * Storage and seal stanzas are kept as validated name=value string pairs
 * (numbers and booleans rendered as text) because their keys belong to the
 * backend; config.c knows each backend's allowed keys and rejects others.
 *
 * Ownership: kh_config_load() returns a struct the caller frees with
 * kh_config_free(), which wipes string values (a seal PIN may be in there).
 */
#ifndef KH_CONFIG_CONFIG_H
#define KH_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/limits.h"

struct kh_config_param
{
    char *name;
    char *value;
};

/* A backend stanza: storage "lmdb" { path = "..." }. */
struct kh_config_stanza
{
    char *type;                 /* NULL when the stanza is absent */
    struct kh_config_param params[KH_CONFIG_PARAMS_MAX];
    size_t param_count;
};

struct kh_config_listener
{
    char *address;              /* "127.0.0.1:8200" (default) */
    char *cluster_address;      /* may be NULL */
    bool tls_disable;
    char *tls_cert_file;        /* required unless tls_disable */
    char *tls_key_file;
    int tls_min_version;        /* 12 or 13 (from "tls12"/"tls13") */
    uint64_t max_request_size;  /* bytes; KH_HTTP_BODY_BYTES_DEFAULT */
};

struct kh_config
{
    struct kh_config_listener listeners[KH_CONFIG_LISTENERS_MAX];
    size_t listener_count;
    struct kh_config_stanza storage;
    struct kh_config_stanza seal;
    /* audit "file" { file_path = ... } blocks: they accumulate across
     * files, like listeners. */
    struct kh_config_stanza audit[KH_CONFIG_AUDIT_MAX];
    size_t audit_count;
    /* Directories that file devices enabled through the API may write
     * under (a device declared here may write anywhere it names). */
    char *audit_allowed_dirs[KH_CONFIG_AUDIT_DIRS_MAX];
    size_t audit_allowed_dir_count;
    char *api_addr;
    char *cluster_addr;
    bool disable_mlock;
    char *log_level;            /* NULL = "info" */
    char *log_format;           /* NULL = "standard"; or "json" */
    bool ui;
    uint64_t default_lease_ttl_s;   /* 0 = system default (768h) */
    uint64_t max_lease_ttl_s;
};

/* Load and merge the given files/directories into a new config.
 * Returns 0, or KH_ECONFIG / KH_EIO / KH_ENOMEM with errmsg describing
 * "file:line:col: expected ..." */
int kh_config_load(const char *const *paths, size_t path_count,
                   struct kh_config **ret_config, char *errmsg,
                   size_t errmsg_size);

/* Parse one in-memory document (HCL or JSON, detected by content) and merge
 * it into config. filename is used only in messages. */
int kh_config_parse_text(struct kh_config *config, const char *text,
                         size_t len, const char *filename, char *errmsg,
                         size_t errmsg_size);

/* A zeroed config with defaults; NULL on allocation failure. */
struct kh_config *kh_config_new(void);

/* Wipe and free; accepts NULL. */
void kh_config_free(struct kh_config *config);

/* Look up a stanza parameter; NULL when absent. */
const char *kh_config_param(const struct kh_config_stanza *stanza,
                            const char *name);

/* Parse a duration: a bare integer is seconds ("90", also a JSON number),
 * otherwise Go-style units s, m, h, plus d: "30m", "1h30m", "7d".
 * Returns 0 or KH_EINVAL. */
int kh_duration_parse(const char *text, uint64_t *ret_seconds);

#endif
