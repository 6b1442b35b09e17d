/*
 * cmd_secrets.c - `keyhold secrets enable|disable|list|tune`: secrets
 * engines through sys/mounts (Vault API: sys/mounts), and the mount tables
 * that `secrets list` and `auth list` print.
 *
 * Owns the secrets verbs' request bodies and messages, which are Vault's
 * ("Success! Enabled the kv secrets engine at: kv/"). Must never guess a
 * mount's type: the server's sys/mounts answer is the only source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "cli.h"
#include "common/err.h"
#include "jwalk.h"
#include "output.h"
#include "render.h"
#include "table.h"
#include "verbs.h"

#define MOUNT_COLUMNS_DETAILED 12

/* Vault's TTL cell: "system" for 0, else the number of seconds. */
static void ttl_cell(const json_t *config, const char *key, char *out,
                     size_t size)
{
    json_int_t ttl = json_integer_value(json_object_get(config, key));

    if (ttl == 0)
        (void)snprintf(out, size, "system");
    else
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT, ttl);
}

static int options_cell(const json_t *mount, struct cli_buf *out)
{
    const json_t *options = json_object_get(mount, "options");

    if (!json_is_object(options))
        return cli_buf_puts(out, "map[]");
    return cli_render_govalue(options, out);
}

static int mount_row_detailed(struct cli_table *t, const char *path,
                              const json_t *mount, bool auth)
{
    const json_t *config = json_object_get(mount, "config");
    char def_ttl[32];
    char max_ttl[32];
    struct cli_buf options;
    const char *cells[MOUNT_COLUMNS_DETAILED];
    int r;

    ttl_cell(config, "default_lease_ttl", def_ttl, sizeof(def_ttl));
    ttl_cell(config, "max_lease_ttl", max_ttl, sizeof(max_ttl));
    cli_buf_init(&options, CLI_RESPONSE_BYTES_MAX);
    r = options_cell(mount, &options);
    cells[0] = path;
    cells[1] = cli_json_str(mount, "type");
    cells[2] = cli_json_str(mount, "accessor");
    cells[3] = def_ttl;
    cells[4] = max_ttl;
    cells[5] = auth ? cli_json_str(config, "token_type")
                    : (json_is_true(json_object_get(config, "force_no_cache"))
                           ? "true"
                           : "false");
    cells[6] =
        json_is_true(json_object_get(mount, "local")) ? "local" : "replicated";
    cells[7] =
        json_is_true(json_object_get(mount, "seal_wrap")) ? "true" : "false";
    cells[8] = json_is_true(json_object_get(mount, "external_entropy_access"))
                   ? "true"
                   : "false";
    cells[9] = cli_buf_text(&options);
    cells[10] = cli_json_str(mount, "description");
    cells[11] = cli_json_str(mount, "uuid");
    if (r == 0)
        r = cli_table_add_row(t, cells);
    cli_buf_free(&options);
    return r;
}

static int mounts_table(const json_t *mounts, bool detailed, bool auth)
{
    static const char *const head[] = {
        "Path",        "Plugin",      "Accessor",
        "Default TTL", "Max TTL",     "Force No Cache",
        "Replication", "Seal Wrap",   "External Entropy Access",
        "Options",     "Description", "UUID"};
    static const char *const head_short[] = {"Path", "Type", "Accessor",
                                             "Description"};
    const char *heads[MOUNT_COLUMNS_DETAILED];
    struct cli_table t;
    const char **keys = NULL;
    size_t count = 0;
    size_t i;
    int r;

    memcpy(heads, head, sizeof(heads));
    if (auth)
        heads[5] = "Token Type";
    cli_table_init(&t, detailed ? MOUNT_COLUMNS_DETAILED : 4);
    r = cli_table_add_row(&t, detailed ? heads : head_short);
    if (r == 0)
        r = cli_json_sorted_keys(mounts, &keys, &count);
    for (i = 0; r == 0 && i < count; i++) {
        const json_t *m = json_object_get(mounts, keys[i]);
        const char *cells[4] = {keys[i], cli_json_str(m, "type"),
                                cli_json_str(m, "accessor"),
                                cli_json_str(m, "description")};

        if (!json_is_object(m))
            continue;
        r = detailed ? mount_row_detailed(&t, keys[i], m, auth)
                     : cli_table_add_row(&t, cells);
    }
    free(keys);
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&t);
    cli_table_free(&t);
    return r;
}

int cli_mounts_print(const struct cli_ctx *ctx, const json_t *mounts,
                     bool detailed, bool auth)
{
    if (ctx->format != CLI_FORMAT_TABLE)
        return cli_output_value(ctx, mounts);
    return mounts_table(mounts, detailed, auth);
}

static int secrets_list_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    const json_t *data;
    int exit_code;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "GET", "sys/mounts", NULL, 0, &res);
    data = cli_result_data(&res);
    if (data == NULL)
        exit_code = cli_api_fail(&res, "listing secrets engines");
    else
        exit_code =
            cli_mounts_print(ctx, data, cli_opt_on(ctx, "detailed"), false);
    cli_result_free(&res);
    return exit_code;
}

/* The tune config: TTLs and description as given on the command line. */
static int tune_body(const struct cli_ctx *ctx, json_t *object)
{
    int r =
        cli_json_set_opt(object, "default_lease_ttl", ctx, "default-lease-ttl");

    if (r == 0)
        r = cli_json_set_opt(object, "max_lease_ttl", ctx, "max-lease-ttl");
    return r;
}

/* {type, description, config, options} for sys/mounts/PATH. */
static int enable_body(const struct cli_ctx *ctx, const char *type,
                       json_t **ret_body)
{
    json_t *body = json_object();
    json_t *config = json_object();
    json_t *options = json_object();
    const char *version = cli_opt_get(ctx, "version");
    int r = body && config && options ? 0 : KH_ENOMEM;

    if (strcmp(type, "kv-v2") == 0) {
        type = "kv";
        version = "2";
    }
    if (r == 0)
        r = cli_json_set_str(body, "type", type);
    if (r == 0)
        r = cli_json_set_opt(body, "description", ctx, "description");
    if (r == 0)
        r = tune_body(ctx, config);
    if (r == 0 && version != NULL)
        r = cli_json_set_str(options, "version", version);
    if (r == 0 && json_object_set(body, "config", config) != 0)
        r = KH_ENOMEM;
    if (r == 0 && json_object_set(body, "options", options) != 0)
        r = KH_ENOMEM;
    json_decref(config);
    json_decref(options);
    if (r < 0) {
        json_decref(body);
        return r;
    }
    *ret_body = body;
    return 0;
}

static int secrets_enable_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char mount[CLI_URL_BYTES_MAX];
    char api_path[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    json_t *body = NULL;
    const char *path = cli_opt_get(ctx, "path");
    const char *type;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    type = argv[0];
    if (path == NULL)
        path = type;
    if (cli_mount_path(path, mount, sizeof(mount)) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    r = enable_body(ctx, type, &body);
    if (r < 0)
        return cli_build_failed(r);
    (void)snprintf(api_path, sizeof(api_path), "sys/mounts/%s", mount);
    (void)cli_api_call_json(ctx, "POST", api_path, body, &res);
    json_decref(body);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "enabling");
    else {
        printf("Success! Enabled the %s secrets engine at: %s\n", type, mount);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static int secrets_disable_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char mount[CLI_URL_BYTES_MAX];
    char api_path[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_mount_path(argv[0], mount, sizeof(mount)) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    (void)snprintf(api_path, sizeof(api_path), "sys/mounts/%s", mount);
    (void)cli_api_call(ctx, "DELETE", api_path, NULL, 0, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "disabling secrets engine at %s", mount);
    else {
        printf("Success! Disabled the secrets engine (if it existed) at: %s\n",
               mount);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static int secrets_tune_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char mount[CLI_URL_BYTES_MAX];
    char api_path[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    json_t *body;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_mount_path(argv[0], mount, sizeof(mount)) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    body = json_object();
    r = body != NULL ? tune_body(ctx, body) : KH_ENOMEM;
    if (r == 0)
        r = cli_json_set_opt(body, "description", ctx, "description");
    if (r < 0) {
        json_decref(body);
        return cli_build_failed(r);
    }
    (void)snprintf(api_path, sizeof(api_path), "sys/mounts/%stune", mount);
    (void)cli_api_call_json(ctx, "POST", api_path, body, &res);
    json_decref(body);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "tuning secrets engine %s", mount);
    else {
        printf("Success! Tuned the secrets engine at: %s\n", mount);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static const char *const enable_options[] = {
    "path",          "description", "version", "default-lease-ttl",
    "max-lease-ttl", NULL};
static const char *const tune_options[] = {"description", "default-lease-ttl",
                                           "max-lease-ttl", NULL};
static const char *const list_options[] = {"detailed", NULL};

static const struct cli_command secrets_enable = {
    .name = "enable",
    .run = secrets_enable_run,
    .synopsis = "Enable a secrets engine",
    .usage = "Usage: keyhold secrets enable [options] TYPE\n"
             "\n"
             "  Enables a secrets engine at -path (default: TYPE).\n"
             "\n"
             "      $ keyhold secrets enable -path=kv2 -version=2 kv\n"
             "\n"
             "Command Options:\n"
             "\n"
             "  -path=<string>               Mount path (default TYPE).\n"
             "  -description=<string>        Human-friendly description.\n"
             "  -version=<int>               KV version (options.version).\n"
             "  -default-lease-ttl=<dur>     Default lease TTL.\n"
             "  -max-lease-ttl=<dur>         Maximum lease TTL.\n",
    .options = enable_options,
};

static const struct cli_command secrets_disable = {
    .name = "disable",
    .run = secrets_disable_run,
    .synopsis = "Disable a secrets engine",
    .usage = "Usage: keyhold secrets disable [options] PATH\n"
             "\n"
             "  Disables the secrets engine at PATH and revokes its "
             "leases.\n",
};

static const struct cli_command secrets_list = {
    .name = "list",
    .run = secrets_list_run,
    .synopsis = "List enabled secrets engines",
    .usage = "Usage: keyhold secrets list [options]\n"
             "\n"
             "  Lists the enabled secrets engines (-detailed: every "
             "setting).\n",
    .options = list_options,
};

static const struct cli_command secrets_tune = {
    .name = "tune",
    .run = secrets_tune_run,
    .synopsis = "Tune a secrets engine configuration",
    .usage = "Usage: keyhold secrets tune [options] PATH\n"
             "\n"
             "  Tunes -default-lease-ttl, -max-lease-ttl or -description "
             "of the\n"
             "  secrets engine at PATH.\n",
    .options = tune_options,
};

static const struct cli_command *const secrets_subs[] = {
    &secrets_disable, &secrets_enable, &secrets_list, &secrets_tune, NULL};

const struct cli_command cli_cmd_secrets = {
    .name = "secrets",
    .synopsis = "Interact with secrets engines",
    .usage = "Usage: keyhold secrets <subcommand> [options] [args]\n"
             "\n"
             "  Enables, disables, tunes and lists secrets engines.\n",
    .subs = secrets_subs,
};
