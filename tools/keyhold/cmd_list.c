/*
 * cmd_list.c - `keyhold list PATH`: LIST /v1/PATH/ and print the keys.
 *
 * Owns the list verb's rules, which are Vault's: the path gets a trailing
 * '/'; the table is a "Keys" column; json and yaml print only the keys
 * array; nothing there is "No value found at PATH/" (table) or "{}"
 * (other formats), both with exit code 2; errors are "Error listing
 * PATH/: ..." with exit code 2.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "output.h"
#include "table.h"

static int list_table(const json_t *keys)
{
    struct cli_table table;
    const json_t *key;
    size_t i;
    int r;

    cli_table_init(&table, 1);
    r = cli_table_add(&table, "Keys", NULL);
    json_array_foreach(keys, i, key)
    {
        if (r < 0)
            break;
        if (!json_is_string(key)) {
            fprintf(stderr, "Error: a key in the list is not a string\n");
            cli_table_free(&table);
            return CLI_EXIT_LOCAL;
        }
        r = cli_table_add(&table, json_string_value(key), NULL);
    }
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&table);
    cli_table_free(&table);
    return r;
}

/* The secret came back: find data.keys (or keys of a raw answer). */
static int list_print(const struct cli_ctx *ctx, const json_t *resp,
                      const char *path)
{
    const json_t *data = json_object_get(resp, "data");
    const json_t *keys;

    if (!cli_output_is_envelope(resp))
        data = resp;
    keys = json_object_get(data, "keys");
    if (ctx->format != CLI_FORMAT_TABLE) {
        if (!json_is_array(keys)) {
            printf("{}\n");
            return CLI_EXIT_REMOTE;
        }
        return cli_output_value(ctx, keys);
    }
    if (!json_is_object(data)) {
        fprintf(stderr, "No value found at %s\n", path);
        return CLI_EXIT_REMOTE;
    }
    if (!json_is_array(keys)) {
        fprintf(stderr, "No entries found at %s\n", path);
        return CLI_EXIT_REMOTE;
    }
    return list_table(keys);
}

static int list_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX];
    char doing[CLI_URL_BYTES_MAX + 16];
    struct cli_result res;
    size_t len;
    int exit_code = CLI_EXIT_REMOTE;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_path_sanitize(argv[0], path, sizeof(path) - 1) < 0) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    len = strlen(path);
    path[len] = '/';
    path[len + 1] = '\0';
    (void)cli_api_call(ctx, "LIST", path, NULL, 0, &res);
    switch (res.outcome) {
    case CLI_OUTCOME_SECRET:
        exit_code = list_print(ctx, res.json, path);
        break;
    case CLI_OUTCOME_EMPTY:
    case CLI_OUTCOME_NOT_FOUND:
        if (ctx->format != CLI_FORMAT_TABLE)
            printf("{}\n");
        else
            fprintf(stderr, "No value found at %s\n", path);
        break;
    case CLI_OUTCOME_API_ERROR:
    case CLI_OUTCOME_FAILED:
        (void)snprintf(doing, sizeof(doing), "listing %s", path);
        cli_api_print_error(&res, doing);
        break;
    }
    cli_result_free(&res);
    return exit_code;
}

const struct cli_command cli_cmd_list = {
    .name = "list",
    .run = list_run,
    .synopsis = "List data or secrets",
    .usage = "Usage: keyhold list [options] PATH\n"
             "\n"
             "  Lists data from the server at the given path. This can be "
             "used to list\n"
             "  keys in a given secrets engine.\n"
             "\n"
             "  List values under the \"my-app\" folder of the static secrets "
             "engine:\n"
             "\n"
             "      $ keyhold list secret/my-app/\n",
};
