/*
 * cmd_operator.c - `keyhold operator init|unseal|seal|rotate|key-status`:
 * the server's lifecycle through sys/init, sys/unseal, sys/seal,
 * sys/rotate and sys/key-status (Vault API: sys/init and sys/seal, 3.7).
 *
 * Owns those verbs' requests and Vault's output for them: init's "Unseal
 * Key N:" / "Initial Root Token:" lines, unseal's seal status table,
 * key-status' "Key Term" rows. generate-root lives in
 * cmd_generate_root.c, raft and step-down in cmd_raft.c. Must never print
 * an unseal key except init's answer, and never echo a prompted key.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "output.h"
#include "table.h"
#include "verbs.h"

#define UNSEAL_KEY_MAX 1024

/* {secret_shares, secret_threshold[, recovery_shares, recovery_threshold]}
 * with Vault's defaults of 5 and 3. */
static int init_body(const struct cli_ctx *ctx, json_t *body)
{
    long long shares;
    long long threshold;
    long long rshares;
    long long rthreshold;
    bool recovery = cli_opt_get(ctx, "recovery-shares") != NULL ||
                    cli_opt_get(ctx, "recovery-threshold") != NULL;
    int r;

    if (cli_opt_int(ctx, "key-shares", 5, &shares) < 0 ||
        cli_opt_int(ctx, "key-threshold", 3, &threshold) < 0 ||
        cli_opt_int(ctx, "recovery-shares", 5, &rshares) < 0 ||
        cli_opt_int(ctx, "recovery-threshold", 3, &rthreshold) < 0)
        return KH_EINVAL;
    r = cli_json_set_int(body, "secret_shares", shares);
    if (r == 0)
        r = cli_json_set_int(body, "secret_threshold", threshold);
    if (r == 0 && recovery)
        r = cli_json_set_int(body, "recovery_shares", rshares);
    if (r == 0 && recovery)
        r = cli_json_set_int(body, "recovery_threshold", rthreshold);
    return r < 0 ? cli_build_failed(r) : 0;
}

/* -format=json|yaml: Vault's init output object. */
static int init_print_data(const struct cli_ctx *ctx, const json_t *resp,
                           const json_t *sent)
{
    json_t *out = json_pack(
        "{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "unseal_keys_b64",
        json_object_get(resp, "keys_base64"), "unseal_keys_hex",
        json_object_get(resp, "keys"), "unseal_shares",
        json_object_get(sent, "secret_shares"), "unseal_threshold",
        json_object_get(sent, "secret_threshold"), "recovery_keys_b64",
        json_object_get(resp, "recovery_keys_base64"), "recovery_keys_hex",
        json_object_get(resp, "recovery_keys"), "recovery_keys_shares",
        json_object_get(sent, "recovery_shares"), "recovery_keys_threshold",
        json_object_get(sent, "recovery_threshold"), "root_token",
        json_object_get(resp, "root_token"));
    int r;

    if (out == NULL)
        return cli_output_failed(KH_ENOMEM);
    r = cli_output_value(ctx, out);
    json_decref(out);
    return r;
}

static void init_print_keys(const json_t *keys, const char *label)
{
    const json_t *key;
    size_t i;

    json_array_foreach(keys, i, key)
    {
        printf("%s Key %zu: %s\n", label, i + 1,
               json_is_string(key) ? json_string_value(key) : "");
    }
}

static int init_print(const struct cli_ctx *ctx, const json_t *resp,
                      const json_t *sent)
{
    const json_t *recovery = json_object_get(resp, "recovery_keys_base64");
    bool is_recovery = json_array_size(recovery) > 0;
    size_t t;

    if (ctx->format != CLI_FORMAT_TABLE)
        return init_print_data(ctx, resp, sent);
    init_print_keys(json_object_get(resp, "keys_base64"), "Unseal");
    init_print_keys(recovery, "Recovery");
    printf("\nInitial Root Token: %s\n\n", cli_json_str(resp, "root_token"));
    if (is_recovery) {
        t = (size_t)json_integer_value(
            json_object_get(sent, "recovery_threshold"));
        printf("Success! Keyhold is initialized\n\nRecovery key initialized "
               "with %zu key shares and a key threshold of %zu.\nPlease "
               "securely distribute the key shares printed above.\n",
               json_array_size(recovery), t);
        return CLI_EXIT_OK;
    }
    t = (size_t)json_integer_value(json_object_get(sent, "secret_threshold"));
    printf("Keyhold initialized with %zu key shares and a key threshold of "
           "%zu.\nPlease securely distribute the key shares printed above. "
           "When Keyhold is\nre-sealed, restarted, or stopped, you must "
           "supply at least %zu of these keys\nto unseal it before it can "
           "start servicing requests.\n\nKeyhold does not store the "
           "generated root key. Without at least %zu keys to\nreconstruct "
           "the root key, Keyhold will remain permanently sealed!\n",
           json_array_size(json_object_get(resp, "keys_base64")), t, t, t);
    return CLI_EXIT_OK;
}

/* init -status: 0 initialized, 2 not, 1 error (Vault's codes). */
static int init_status(const struct cli_ctx *ctx)
{
    struct cli_result res;
    int r;

    (void)cli_api_call(ctx, "GET", "sys/init", NULL, 0, &res);
    if (res.outcome != CLI_OUTCOME_SECRET) {
        (void)cli_api_fail(&res, "checking init status");
        r = CLI_EXIT_LOCAL;
    } else if (json_is_true(json_object_get(res.json, "initialized"))) {
        printf("Keyhold is initialized\n");
        r = CLI_EXIT_OK;
    } else {
        printf("Keyhold is not initialized\n");
        r = CLI_EXIT_REMOTE;
    }
    cli_result_free(&res);
    return r;
}

static int operator_init_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    json_t *body;
    int r = CLI_EXIT_LOCAL;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    if (cli_opt_on(ctx, "status"))
        return init_status(ctx);
    body = json_object();
    if (body == NULL)
        return cli_build_failed(KH_ENOMEM);
    if (init_body(ctx, body) < 0)
        goto out;
    (void)cli_api_call_json(ctx, "PUT", "sys/init", body, &res);
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json)) {
        r = cli_api_fail(&res, "initializing");
        goto out;
    }
    r = init_print(ctx, res.json, body);
out:
    cli_result_free(&res);
    json_decref(body);
    return r;
}

/* The key from argv ("-": one line of standard input) or the terminal. */
int cli_read_key_arg(size_t argc, char **argv, const char *prompt, char *key,
                     size_t size)
{
    if (argc == 1 && strcmp(argv[0], "-") != 0) {
        if (strlen(argv[0]) >= size) {
            fprintf(stderr, "The key is longer than %zu bytes\n", size - 1);
            return CLI_EXIT_LOCAL;
        }
        (void)snprintf(key, size, "%s", argv[0]);
        return CLI_EXIT_OK;
    }
    if (cli_prompt_secret(argc == 0 ? prompt : "", key, size) < 0) {
        fprintf(stderr, "Error reading the key from the terminal\n");
        return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

static int operator_unseal_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char key[UNSEAL_KEY_MAX] = "";
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    bool reset = cli_opt_on(ctx, "reset");
    json_t *body = json_object();
    int r;

    r = cli_args_between(0, reset ? 0 : 1, argc);
    if (r == CLI_EXIT_OK && body == NULL)
        r = cli_build_failed(KH_ENOMEM);
    if (r == CLI_EXIT_OK && !reset)
        r = cli_read_key_arg(argc, argv, "Unseal Key (will be hidden): ", key,
                             sizeof(key));
    if (r != CLI_EXIT_OK)
        goto out;
    if ((reset ? cli_json_set_bool(body, "reset", true)
               : cli_json_set_str(body, "key", key)) < 0) {
        r = cli_build_failed(KH_EINVAL);
        goto out;
    }
    (void)cli_api_call_json(ctx, "PUT", "sys/unseal", body, &res);
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json))
        r = cli_api_fail(&res, "unsealing");
    else
        r = cli_seal_status_print(ctx, res.json);
out:
    cli_result_free(&res);
    json_decref(body);
    kh_wipe(key, sizeof(key));
    return r;
}

static int operator_seal_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int r = CLI_EXIT_OK;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "PUT", "sys/seal", NULL, 0, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "sealing");
    else
        printf("Success! Keyhold is sealed.\n");
    cli_result_free(&res);
    return r;
}

/* Go's RFC822 ("02 Jan 06 15:04 UTC") of an RFC 3339 UTC time. */
static void install_time(const char *rfc3339, char *out, size_t size)
{
    char month[8];
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || strftime(month, sizeof(month), "%b", &tm) == 0) {
        (void)snprintf(out, size, "%s", rfc3339);
        return;
    }
    (void)snprintf(out, size, "%02d %s %02d %02d:%02d UTC", tm.tm_mday, month,
                   tm.tm_year % 100, tm.tm_hour, tm.tm_min);
}

/* Vault's printKeyStatus: a headerless two-column table. */
static int key_status_print(const struct cli_ctx *ctx, const json_t *data)
{
    struct cli_table t;
    char term[32];
    char when[64];
    char count[32];
    int r;

    if (ctx->format != CLI_FORMAT_TABLE)
        return cli_output_value(ctx, data);
    (void)snprintf(term, sizeof(term), "%" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(data, "term")));
    (void)snprintf(count, sizeof(count), "%" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(data, "encryptions")));
    install_time(cli_json_str(data, "install_time"), when, sizeof(when));
    cli_table_init(&t, 2);
    t.headerless = true;
    r = cli_table_add(&t, "Key Term", term);
    if (r == 0)
        r = cli_table_add(&t, "Install Time", when);
    if (r == 0)
        r = cli_table_add(&t, "Encryption Count", count);
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&t);
    cli_table_free(&t);
    return r;
}

static int key_status_fetch(const struct cli_ctx *ctx, bool rotated)
{
    struct cli_result res;
    const json_t *data;
    int r;

    (void)cli_api_call(ctx, "GET", "sys/key-status", NULL, 0, &res);
    data = cli_result_data(&res);
    if (data == NULL) {
        r = cli_api_fail(&res, "reading key status");
    } else {
        if (rotated && ctx->format == CLI_FORMAT_TABLE)
            printf("Success! Rotated key\n\n");
        r = key_status_print(ctx, data);
    }
    cli_result_free(&res);
    return r;
}

static int operator_key_status_run(struct cli_ctx *ctx, size_t argc,
                                   char **argv)
{
    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    return key_status_fetch(ctx, false);
}

static int operator_rotate_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int r;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "PUT", "sys/rotate", NULL, 0, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "rotating key");
    else
        r = key_status_fetch(ctx, true);
    cli_result_free(&res);
    return r;
}

static const char *const init_options[] = {
    "key-shares",         "key-threshold", "recovery-shares",
    "recovery-threshold", "status",        NULL};
static const char *const unseal_options[] = {"reset", NULL};

static const struct cli_command operator_init = {
    .name = "init",
    .run = operator_init_run,
    .synopsis = "Initialize a server",
    .usage = "Usage: keyhold operator init [options]\n"
             "\n"
             "  Initializes a new server: generates the root key, splits it "
             "into\n"
             "  -key-shares unseal keys of which -key-threshold unseal it "
             "(5 and 3\n"
             "  by default), and prints them with the initial root token. "
             "With an\n"
             "  auto-unseal seal, -recovery-shares and -recovery-threshold "
             "shape the\n"
             "  recovery keys. -status exits 0 when initialized, 2 when "
             "not.\n",
    .options = init_options,
};

static const struct cli_command operator_unseal = {
    .name = "unseal",
    .run = operator_unseal_run,
    .synopsis = "Unseal the server",
    .usage = "Usage: keyhold operator unseal [options] [KEY]\n"
             "\n"
             "  Provides one unseal key. Without KEY it is prompted for, "
             "without\n"
             "  echo (\"-\" reads it from standard input). -reset discards "
             "the keys\n"
             "  given so far.\n",
    .options = unseal_options,
};

static const struct cli_command operator_seal = {
    .name = "seal",
    .run = operator_seal_run,
    .synopsis = "Seal the server",
    .usage = "Usage: keyhold operator seal [options]\n"
             "\n"
             "  Seals the server: it forgets its keys until unsealed "
             "again.\n",
};

static const struct cli_command operator_rotate = {
    .name = "rotate",
    .run = operator_rotate_run,
    .synopsis = "Rotate the underlying encryption key",
    .usage = "Usage: keyhold operator rotate [options]\n"
             "\n"
             "  Installs a new barrier encryption key term; data is "
             "re-encrypted\n"
             "  lazily. Needs sudo.\n",
};

static const struct cli_command operator_key_status = {
    .name = "key-status",
    .run = operator_key_status_run,
    .synopsis = "Provide information about the active encryption key",
    .usage = "Usage: keyhold operator key-status [options]\n"
             "\n"
             "  Prints the barrier key's term, install time and encryption "
             "count.\n",
};

static const struct cli_command *const operator_subs[] = {
    &cli_cmd_generate_root,
    &operator_init,
    &operator_key_status,
    &cli_cmd_raft,
    &operator_rotate,
    &operator_seal,
    &cli_cmd_seal_rebind,
    &cli_cmd_step_down,
    &operator_unseal,
    NULL};

const struct cli_command cli_cmd_operator = {
    .name = "operator",
    .synopsis = "Perform operator-specific tasks",
    .usage = "Usage: keyhold operator <subcommand> [options] [args]\n"
             "\n"
             "  Initializes, unseals, seals and rotates the server, "
             "generates\n"
             "  new root tokens and manages the raft cluster.\n",
    .subs = operator_subs,
};
