/*
 * cmd_read.c - `keyhold read PATH`: GET /v1/PATH and print the secret.
 *
 * Owns the read verb's rules, which are Vault's: a 404 (or an empty
 * answer) is "No value found at PATH" with exit code 2, an API or transport
 * error is "Error reading PATH: ..." with exit code 2. Must never print the
 * token.
 */
#include <stdio.h>

#include "api.h"
#include "cli.h"
#include "output.h"

static int read_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX];
    char doing[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    int exit_code = CLI_EXIT_REMOTE;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_path_sanitize(argv[0], path, sizeof(path)) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    (void)cli_api_call(ctx, "GET", path, NULL, 0, &res);
    switch (res.outcome) {
    case CLI_OUTCOME_SECRET:
        exit_code = cli_output_response(ctx, res.json);
        break;
    case CLI_OUTCOME_EMPTY:
    case CLI_OUTCOME_NOT_FOUND:
        fprintf(stderr, "No value found at %s\n", path);
        break;
    case CLI_OUTCOME_API_ERROR:
    case CLI_OUTCOME_FAILED:
        (void)snprintf(doing, sizeof(doing), "reading %s", path);
        cli_api_print_error(&res, doing);
        break;
    }
    cli_result_free(&res);
    return exit_code;
}

const struct cli_command cli_cmd_read = {
    .name = "read",
    .run = read_run,
    .synopsis = "Read data and retrieves secrets",
    .usage =
        "Usage: keyhold read [options] PATH\n"
        "\n"
        "  Reads data from the server at the given path. This can be used "
        "to read\n"
        "  secrets, generate dynamic credentials, get configuration details, "
        "and\n"
        "  more.\n"
        "\n"
        "  Read a secret from the static secrets engine:\n"
        "\n"
        "      $ keyhold read secret/my-secret\n"
        "\n"
        "  Print only one field of it, with no trailing newline when piped:\n"
        "\n"
        "      $ keyhold read -field=password secret/my-secret\n",
};
