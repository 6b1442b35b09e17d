/*
 * cmd_auth.c - `keyhold auth enable|disable|list`: auth methods through
 * sys/auth (Vault API: sys/auth).
 *
 * Owns the auth verbs' request bodies and messages, which are Vault's
 * ("Success! Enabled userpass auth method at: userpass/"). Must never send
 * credentials: logging in is `keyhold login`'s job.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "common/err.h"
#include "verbs.h"

static int auth_list_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    const json_t *data;
    int exit_code;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "GET", "sys/auth", NULL, 0, &res);
    data = cli_result_data(&res);
    if (data == NULL)
        exit_code = cli_api_fail(&res, "listing enabled authentications");
    else
        exit_code =
            cli_mounts_print(ctx, data, cli_opt_on(ctx, "detailed"), true);
    cli_result_free(&res);
    return exit_code;
}

static int auth_enable_body(const struct cli_ctx *ctx, const char *type,
                            json_t **ret_body)
{
    json_t *body = json_object();
    int r = body != NULL ? 0 : KH_ENOMEM;

    if (r == 0)
        r = cli_json_set_str(body, "type", type);
    if (r == 0)
        r = cli_json_set_opt(body, "description", ctx, "description");
    if (r < 0) {
        json_decref(body);
        return r;
    }
    *ret_body = body;
    return 0;
}

static int auth_enable_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char mount[CLI_URL_BYTES_MAX];
    char api_path[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    const char *path = cli_opt_get(ctx, "path");
    json_t *body = NULL;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_mount_path(path != NULL ? path : argv[0], mount, sizeof(mount)) <
        0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    r = auth_enable_body(ctx, argv[0], &body);
    if (r < 0)
        return cli_build_failed(r);
    (void)snprintf(api_path, sizeof(api_path), "sys/auth/%s", mount);
    (void)cli_api_call_json(ctx, "POST", api_path, body, &res);
    json_decref(body);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "enabling %s auth", argv[0]);
    else {
        printf("Success! Enabled %s auth method at: %s\n", argv[0], mount);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static int auth_disable_run(struct cli_ctx *ctx, size_t argc, char **argv)
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
    (void)snprintf(api_path, sizeof(api_path), "sys/auth/%s", mount);
    (void)cli_api_call(ctx, "DELETE", api_path, NULL, 0, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "disabling auth method at %s", mount);
    else {
        printf("Success! Disabled the auth method (if it existed) at: %s\n",
               mount);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static const char *const enable_options[] = {"path", "description", NULL};
static const char *const list_options[] = {"detailed", NULL};

static const struct cli_command auth_enable = {
    .name = "enable",
    .run = auth_enable_run,
    .synopsis = "Enable an auth method",
    .usage = "Usage: keyhold auth enable [options] TYPE\n"
             "\n"
             "  Enables an auth method at -path (default: TYPE).\n"
             "\n"
             "      $ keyhold auth enable userpass\n"
             "\n"
             "Command Options:\n"
             "\n"
             "  -path=<string>          Mount path under auth/ (default "
             "TYPE).\n"
             "  -description=<string>   Human-friendly description.\n",
    .options = enable_options,
};

static const struct cli_command auth_disable = {
    .name = "disable",
    .run = auth_disable_run,
    .synopsis = "Disable an auth method",
    .usage = "Usage: keyhold auth disable [options] PATH\n"
             "\n"
             "  Disables the auth method at PATH; its tokens are revoked.\n",
};

static const struct cli_command auth_list = {
    .name = "list",
    .run = auth_list_run,
    .synopsis = "List enabled auth methods",
    .usage = "Usage: keyhold auth list [options]\n"
             "\n"
             "  Lists the enabled auth methods (-detailed: every "
             "setting).\n",
    .options = list_options,
};

static const struct cli_command *const auth_subs[] = {
    &auth_disable, &auth_enable, &auth_list, NULL};

const struct cli_command cli_cmd_auth = {
    .name = "auth",
    .synopsis = "Interact with auth methods",
    .usage = "Usage: keyhold auth <subcommand> [options] [args]\n"
             "\n"
             "  Enables, disables and lists auth methods. To log in, use\n"
             "  \"keyhold login\".\n",
    .subs = auth_subs,
};
