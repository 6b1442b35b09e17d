/*
 * verbs.h - helpers shared by the verb files (cmd_*.c).
 *
 * Owns nothing: these are small contracts between verbs, such as printing
 * a seal status the way `status` does, Vault's "===== Title =====" section
 * headers, and building request bodies. Every printing helper returns an
 * enum cli_exit value; every builder returns 0 or a negative KH_E* code.
 */
#ifndef KH_TOOLS_VERBS_H
#define KH_TOOLS_VERBS_H

#include <jansson.h>
#include <stddef.h>

#include "api.h"
#include "cli.h"
#include "common/assert.h"

/* cmd_status.c: print a seal-status object (merged with sys/leader) as
 * `status` does. Returns CLI_EXIT_OK or CLI_EXIT_LOCAL; the caller maps a
 * sealed server to its own exit code. */
int cli_seal_status_print(const struct cli_ctx *ctx, json_t *status);

/* cmd_operator.c: an unseal key from argv[0] ("-": a line of standard
 * input) or, with no argument, prompted for without echo. Returns an enum
 * cli_exit value (the error printed). */
int cli_read_key_arg(size_t argc, char **argv, const char *prompt, char *key,
                     size_t size);

/* cmd_generate_root.c: `operator generate-root`. */
extern const struct cli_command cli_cmd_generate_root;

/* cmd_tpm2.c: `operator seal-rebind`. */
extern const struct cli_command cli_cmd_seal_rebind;

/* Argument count between min and max (inclusive), else the usage error. */
int cli_args_between(size_t min, size_t max, size_t got);

/* Vault's padEqualSigns: "== title ==" centred over width characters. */
void cli_print_header(const char *title, size_t width);

/* Vault's getHeaderForMap: a section header sized for a Key/Value table of
 * object's keys. */
void cli_print_map_header(const char *title, const json_t *object);

/* Set key to a new string / integer / boolean; KH_ENOMEM on failure, or
 * KH_EINVAL when the string is not UTF-8. */
int cli_json_set_str(json_t *object, const char *key,
                     const char *value) KH_MUST_CHECK;
int cli_json_set_int(json_t *object, const char *key,
                     long long value) KH_MUST_CHECK;
int cli_json_set_bool(json_t *object, const char *key,
                      bool value) KH_MUST_CHECK;

/* Copy option name's value, when given, into object[key] as a string. */
int cli_json_set_opt(json_t *object, const char *key, const struct cli_ctx *ctx,
                     const char *name) KH_MUST_CHECK;

/* Print "Error building the request: ..." for r and return
 * CLI_EXIT_LOCAL. */
int cli_build_failed(int r);

/* A mount path as Vault's CLI shows it: sanitized, with one trailing '/'.
 * Returns 0 or KH_ETOOBIG. */
int cli_mount_path(const char *path, char *out, size_t out_size) KH_MUST_CHECK;

/* Print a sys/mounts or sys/auth listing (data keyed by path) as Vault's
 * "secrets list"/"auth list" table, detailed or not (auth: the token type
 * column instead of force-no-cache); json/yaml print the data object. */
int cli_mounts_print(const struct cli_ctx *ctx, const json_t *mounts,
                     bool detailed, bool auth);

#endif
