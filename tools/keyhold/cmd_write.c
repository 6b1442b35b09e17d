/*
 * cmd_write.c - `keyhold write PATH [K=V...]`: POST /v1/PATH with a JSON
 * object built from the data arguments (args.h).
 *
 * Owns the write verb's rules, which are Vault's: no data without -force
 * is a usage error; success without a body prints "Success! Data written
 * to: PATH" in table format and nothing otherwise; an answer with a body is
 * printed as a secret; errors are "Error writing data to PATH: ..." with
 * exit code 2. Must never leave the request body unwiped.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "args.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "output.h"

/* The finished call: print what Vault prints and pick the exit code. */
static int write_report(const struct cli_ctx *ctx, struct cli_result *res,
                        const char *path)
{
    char doing[CLI_URL_BYTES_MAX + 32];

    if (res->outcome == CLI_OUTCOME_NOT_FOUND && res->resp.body_len == 0)
        res->outcome = CLI_OUTCOME_EMPTY;
    switch (res->outcome) {
    case CLI_OUTCOME_SECRET:
        return cli_output_response(ctx, res->json);
    case CLI_OUTCOME_EMPTY:
        if (ctx->format == CLI_FORMAT_TABLE)
            printf("Success! Data written to: %s\n", path);
        return CLI_EXIT_OK;
    case CLI_OUTCOME_NOT_FOUND:
    case CLI_OUTCOME_API_ERROR:
    case CLI_OUTCOME_FAILED:
        break;
    }
    (void)snprintf(doing, sizeof(doing), "writing data to %s", path);
    cli_api_print_error(res, doing);
    return CLI_EXIT_REMOTE;
}

static int write_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX];
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    json_t *data = NULL;
    char *body = NULL;
    int exit_code = CLI_EXIT_LOCAL;

    if (argc < 1)
        return cli_usage_error(1, argc);
    if (cli_path_sanitize(argv[0], path, sizeof(path)) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    if (cli_args_build(argc - 1, argv + 1, stdin, &data, errmsg,
                       sizeof(errmsg)) < 0) {
        fprintf(stderr, "Failed to parse K=V data: %s\n", errmsg);
        goto out;
    }
    if (json_object_size(data) == 0 && !ctx->force) {
        fprintf(stderr, "Must supply data or use -force\n");
        goto out;
    }
    body = json_dumps(data, JSON_COMPACT);
    if (body == NULL) {
        fprintf(stderr, "Failed to encode the request: out of memory\n");
        goto out;
    }
    (void)cli_api_call(ctx, "POST", path, body, strlen(body), &res);
    exit_code = write_report(ctx, &res, path);
out:
    cli_result_free(&res);
    cli_json_free(body);
    json_decref(data);
    return exit_code;
}

const struct cli_command cli_cmd_write = {
    .name = "write",
    .run = write_run,
    .synopsis = "Write data, configuration, and secrets",
    .usage =
        "Usage: keyhold write [options] PATH [DATA K=V...]\n"
        "\n"
        "  Writes data to the server at the given path. The data can be "
        "credentials,\n"
        "  secrets, configuration, or arbitrary data. The specific behavior "
        "of this\n"
        "  command is determined by the thing mounted at the path.\n"
        "\n"
        "  Data is specified as \"key=value\" pairs. If the value begins "
        "with an \"@\",\n"
        "  it is loaded from a file (\"\\@\" gives a literal \"@\"). If the "
        "value is \"-\",\n"
        "  it is read from stdin. A key given more than once becomes a "
        "list.\n"
        "  A lone \"-\" argument reads a JSON object from stdin, and "
        "\"@FILE\" one\n"
        "  from FILE.\n"
        "\n"
        "  Persist data in the static secrets engine:\n"
        "\n"
        "      $ keyhold write secret/my-secret foo=bar\n"
        "\n"
        "  Upload a file's contents as a value:\n"
        "\n"
        "      $ keyhold write secret/cert pem=@cert.pem\n"
        "\n"
        "Command Options:\n"
        "\n"
        "  -force (-f)\n"
        "      Allow the operation to continue with no key=value pairs. "
        "This\n"
        "      allows writing to keys that do not need or expect data.\n",
};
