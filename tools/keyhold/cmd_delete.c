/*
 * cmd_delete.c - `keyhold delete PATH`: DELETE /v1/PATH.
 *
 * Owns the delete verb's rules, which are Vault's: success (204, or a 404
 * with an empty body) prints "Success! Data deleted (if it existed) at:
 * PATH" in table format and nothing otherwise; an answer with a body is
 * printed as a secret; errors are "Error deleting PATH: ..." with exit
 * code 2. Must never print the token.
 */
#include <stdio.h>

#include "api.h"
#include "cli.h"
#include "output.h"

static int delete_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX];
    char doing[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    int exit_code = CLI_EXIT_OK;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_path_sanitize(argv[0], path, sizeof(path)) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    (void)cli_api_call(ctx, "DELETE", path, NULL, 0, &res);
    if (res.outcome == CLI_OUTCOME_NOT_FOUND && res.resp.body_len == 0)
        res.outcome = CLI_OUTCOME_EMPTY;
    switch (res.outcome) {
    case CLI_OUTCOME_SECRET:
        exit_code = cli_output_response(ctx, res.json);
        break;
    case CLI_OUTCOME_EMPTY:
        if (ctx->format == CLI_FORMAT_TABLE)
            printf("Success! Data deleted (if it existed) at: %s\n", path);
        break;
    case CLI_OUTCOME_NOT_FOUND:
    case CLI_OUTCOME_API_ERROR:
    case CLI_OUTCOME_FAILED:
        (void)snprintf(doing, sizeof(doing), "deleting %s", path);
        cli_api_print_error(&res, doing);
        exit_code = CLI_EXIT_REMOTE;
        break;
    }
    cli_result_free(&res);
    return exit_code;
}

const struct cli_command cli_cmd_delete = {
    .name = "delete",
    .run = delete_run,
    .synopsis = "Delete secrets and configuration",
    .usage =
        "Usage: keyhold delete [options] PATH\n"
        "\n"
        "  Deletes secrets and configuration from the server at the given "
        "path. The\n"
        "  behavior of \"delete\" is delegated to the backend corresponding "
        "to the\n"
        "  given path. Deleting a path that does not exist succeeds.\n"
        "\n"
        "  Remove data in the status secrets engine:\n"
        "\n"
        "      $ keyhold delete secret/my-secret\n",
};
