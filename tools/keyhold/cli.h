/*
 * cli.h - shared state and contracts of the keyhold command-line client.
 *
 * keyhold mirrors the `vault` CLI: same verbs, flags, environment variables,
 * output formats and exit codes, against a server that speaks Vault's HTTP
 * API. This header owns the resolved configuration (struct cli_ctx), the
 * client's limits, the exit codes and the verb table's row type. It must
 * never hold a secret other than the token, which lives in one heap buffer
 * wiped by cli_ctx_clear().
 *
 * Exit codes follow Vault's documented convention: 0 success, 1 a local
 * error (bad flag, wrong argument count, unreadable input, and any error of
 * `status`), 2 an error answered by or on the way to the server (API error,
 * "No value found", transport failure) and a sealed server for `status`,
 * 127 an unknown or missing verb.
 */
#ifndef KH_TOOLS_CLI_H
#define KH_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "common/assert.h"

/* Limits (house style). Token and URL sizes match hostd/config/limits.h
 * (KH_HTTP_TOKEN_BYTES_MAX, KH_HTTP_URL_BYTES_MAX): a longer one could never
 * be accepted by keyholdd, so the client refuses it before sending. */
#define CLI_ADDRESS_BYTES_MAX  2048
#define CLI_URL_BYTES_MAX      8192
#define CLI_TOKEN_BYTES_MAX    512
#define CLI_RESPONSE_BYTES_MAX (64u * 1024u * 1024u)
/* One @file, stdin value or JSON object read from stdin: Vault's 32 MiB
 * request cap, since a larger body would be refused with 413 anyway. */
#define CLI_INPUT_BYTES_MAX (32u * 1024u * 1024u)
#define CLI_JSON_DEPTH_MAX  64
#define CLI_ARGS_MAX        4096
#define CLI_TIMEOUT_S       60L
#define CLI_REDIRECTS_MAX   3L

#define CLI_DEFAULT_ADDRESS "https://127.0.0.1:8200"

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_LOCAL = 1,
    CLI_EXIT_REMOTE = 2,
    CLI_EXIT_NO_COMMAND = 127,
};

enum cli_format {
    CLI_FORMAT_TABLE = 0,
    CLI_FORMAT_JSON,
    CLI_FORMAT_YAML,
};

/* One verb option as given after the verb: name from flags.c's verb
 * table, value from argv ("true"/"false" for a boolean option). */
struct cli_opt
{
    const char *name;
    const char *value;
};

/* Flags exactly as given on the command line; NULL when absent. Pointers
 * point into argv. */
struct cli_flags
{
    const char *address;
    const char *format;
    const char *field;
    const char *ca_cert;
    int skip_verify; /* -1 absent, else 0/1 */
    bool force;
    bool help;
    bool version;
    char **args;          /* positionals, verb first; owned (array only) */
    size_t arg_count;     /* entries in args */
    struct cli_opt *opts; /* verb options in order; owned (array only) */
    size_t opt_count;
};

/* The resolved configuration: flags over KEYHOLD_* over VAULT_* over
 * defaults. Strings other than token point into argv or the environment. */
struct cli_ctx
{
    const char *address;
    const char *ca_cert; /* NULL: the system trust store */
    bool skip_verify;
    enum cli_format format;
    const char *field; /* -field=NAME or NULL */
    bool force;
    char *token; /* owned; NULL when no token is configured */
    size_t token_len;
    const struct cli_opt *opts; /* the verb's options (cli_flags.opts) */
    size_t opt_count;
};

/* One verb: a row of main.c's dispatch table. run() receives the
 * positionals after the verb and returns an enum cli_exit value. A verb
 * group (operator, kv, ...) has subs instead of run; options lists the
 * verb options (flags.c's verb table) the verb accepts, NULL-terminated,
 * or is NULL for none. */
struct cli_command
{
    const char *name;
    int (*run)(struct cli_ctx *ctx, size_t argc, char **argv);
    const char *synopsis;
    const char *usage;
    const struct cli_command *const *subs; /* NULL-terminated, or NULL */
    const char *const *options;
};

/* flags.c: split argv (without argv[0]) into flags and positionals; global
 * flags are accepted before the verb and anywhere after it, `--` ends flag
 * parsing. On success *ret_flags owns an args array (free with
 * cli_flags_free). Returns 0 or KH_EINVAL with errmsg set. */
int cli_flags_parse(int argc, char **argv, struct cli_flags *ret_flags,
                    char *errmsg, size_t errmsg_size);
void cli_flags_free(struct cli_flags *flags);
/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
int cli_parse_bool(const char *text, bool *ret_value);

/* config.c: resolve flags and environment into *ret_ctx; reads the token
 * from KEYHOLD_TOKEN, VAULT_TOKEN or the token file (cli_token_file_path).
 * Returns 0, or KH_EINVAL / KH_EIO with errmsg set (never containing the
 * token). On success the
 * caller must call cli_ctx_clear(). */
int cli_ctx_resolve(const struct cli_flags *flags, struct cli_ctx *ret_ctx,
                    char *errmsg, size_t errmsg_size);
/* Wipe and free the token; accepts a zeroed or cleared ctx. */
void cli_ctx_clear(struct cli_ctx *ctx);

/* Vault's sanitizePath: strip surrounding whitespace and every leading and
 * trailing '/'. Writes into out (size out_size); KH_ETOOBIG if it does not
 * fit. */
int cli_path_sanitize(const char *path, char *out, size_t out_size);
/* Print a "Not enough/Too many arguments" error; returns CLI_EXIT_LOCAL. */
int cli_usage_error(size_t expected, size_t got);

/* Where the token helper keeps the token: KEYHOLD_TOKEN_FILE when set,
 * else ~/.vault-token. Returns 0, or KH_EINVAL (no HOME) / KH_ETOOBIG. */
int cli_token_file_path(char *out, size_t out_size) KH_MUST_CHECK;

/* opts.c: the verb options of ctx. cli_opt_get gives the last value of
 * name (NULL when absent); cli_opt_on is true when the last value of a
 * boolean option is true. cli_opt_next walks every value of a repeatable
 * option: start with *index 0, NULL at the end. */
const char *cli_opt_get(const struct cli_ctx *ctx, const char *name);
bool cli_opt_on(const struct cli_ctx *ctx, const char *name);
const char *cli_opt_next(const struct cli_ctx *ctx, const char *name,
                         size_t *index);
/* An integer option as Go's flag.Int parses it; absent gives def. Prints
 * the error and returns KH_EINVAL for a malformed value. */
int cli_opt_int(const struct cli_ctx *ctx, const char *name, long long def,
                long long *ret_value) KH_MUST_CHECK;
/* Refuse an option the command does not declare: prints Go's "flag
 * provided but not defined" and returns CLI_EXIT_LOCAL, else CLI_EXIT_OK. */
int cli_opts_check(const struct cli_ctx *ctx, const struct cli_command *cmd);

/* prompt.c: print prompt on stderr and read one line from standard input,
 * with the terminal's echo off when it is a terminal (a secret). The line
 * (without its newline) goes to buf. Returns 0, KH_EIO (no input) or
 * KH_ETOOBIG (longer than size - 1). */
int cli_prompt_secret(const char *prompt, char *buf, size_t size) KH_MUST_CHECK;

/* jsonmem.c: route jansson's allocations through a free that wipes (JSON
 * documents carry secrets). cli_json_memory_init() must run before any
 * jansson call; memory jansson returns (json_dumps) is released with
 * cli_json_free(). */
void cli_json_memory_init(void);
void cli_json_free(void *p);

/* The verbs (cmd_*.c). */
extern const struct cli_command cli_cmd_auth;
extern const struct cli_command cli_cmd_kv;
extern const struct cli_command cli_cmd_lease;
extern const struct cli_command cli_cmd_login;
extern const struct cli_command cli_cmd_operator;
extern const struct cli_command cli_cmd_policy;
extern const struct cli_command cli_cmd_secrets;
extern const struct cli_command cli_cmd_token;
extern const struct cli_command cli_cmd_status;
extern const struct cli_command cli_cmd_read;
extern const struct cli_command cli_cmd_write;
extern const struct cli_command cli_cmd_list;
extern const struct cli_command cli_cmd_delete;
/* cmd_raft.c: `operator raft` and `operator step-down`; cmd_raft_snapshot.c:
 * `operator raft snapshot`. */
extern const struct cli_command cli_cmd_raft;
extern const struct cli_command cli_cmd_raft_snapshot;
extern const struct cli_command cli_cmd_step_down;

#endif
