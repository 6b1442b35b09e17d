/*
 * cmd_policy.c - `keyhold policy write|read|list|delete`: ACL policies
 * through sys/policies/acl (Vault API: sys/policy).
 *
 * Owns the policy verbs, which behave as Vault's: names are lowercased,
 * the policy text is sent verbatim as {"policy": TEXT}, `policy read`
 * prints the text alone in table format, a missing policy is "No policy
 * named: NAME" with exit code 2. Must never parse the policy itself: the
 * server is the one judge of its syntax.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "output.h"
#include "table.h"
#include "verbs.h"

/* sys/policies/acl/<lowercased name>; the name shown to the user too. */
static int policy_path(const char *arg, char *name, size_t name_size,
                       char *path, size_t path_size)
{
    size_t i;

    if (cli_path_sanitize(arg, name, name_size) < 0) {
        fprintf(stderr, "Policy name is longer than %zu bytes\n", name_size);
        return CLI_EXIT_LOCAL;
    }
    for (i = 0; name[i] != '\0'; i++)
        name[i] = (char)tolower((unsigned char)name[i]);
    (void)snprintf(path, path_size, "sys/policies/acl/%s", name);
    return CLI_EXIT_OK;
}

static int policy_read_text(const char *source, char **ret_text,
                            size_t *ret_len)
{
    int r;

    if (strcmp(source, "-") == 0)
        r = cli_read_stream(stdin, CLI_INPUT_BYTES_MAX, ret_text, ret_len);
    else
        r = cli_read_file(source, CLI_INPUT_BYTES_MAX, ret_text, ret_len);
    if (r < 0) {
        fprintf(stderr, "Error opening policy file: %s: %s\n",
                strcmp(source, "-") == 0 ? "stdin" : source, kh_strerror(r));
        return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

static int policy_write_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char name[1024];
    char path[1100];
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    json_t *body = NULL;
    char *text = NULL;
    size_t len = 0;
    int r;

    if (argc != 2)
        return cli_usage_error(2, argc);
    r = policy_path(argv[0], name, sizeof(name), path, sizeof(path));
    if (r == CLI_EXIT_OK)
        r = policy_read_text(argv[1], &text, &len);
    if (r != CLI_EXIT_OK)
        return r;
    body = json_object();
    if (body == NULL || cli_json_set_str(body, "policy", text) < 0) {
        r = cli_build_failed(body == NULL ? KH_ENOMEM : KH_EINVAL);
        goto out;
    }
    (void)cli_api_call_json(ctx, "PUT", path, body, &res);
    if (!cli_result_ok(&res)) {
        r = cli_api_fail(&res, "uploading policy");
        goto out;
    }
    printf("Success! Uploaded policy: %s\n", name);
    r = CLI_EXIT_OK;
out:
    cli_result_free(&res);
    json_decref(body);
    kh_free_secret(text, len + 1);
    return r;
}

/* Table format: the policy text alone, whitespace trimmed. */
static int policy_print(const struct cli_ctx *ctx, const struct cli_result *res)
{
    const json_t *data = cli_result_data(res);
    const char *text = cli_json_str(data, "policy");
    size_t start = 0;
    size_t end;

    if (ctx->format != CLI_FORMAT_TABLE || ctx->field != NULL)
        return cli_output_response(ctx, res->json);
    if (text[0] == '\0')
        text = cli_json_str(data, "rules");
    end = strlen(text);
    while (start < end && isspace((unsigned char)text[start]))
        start++;
    while (end > start && isspace((unsigned char)text[end - 1]))
        end--;
    printf("%.*s\n", (int)(end - start), text + start);
    return CLI_EXIT_OK;
}

static int policy_read_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char name[1024];
    char path[1100];
    struct cli_result res;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = policy_path(argv[0], name, sizeof(name), path, sizeof(path));
    if (r != CLI_EXIT_OK)
        return r;
    (void)cli_api_call(ctx, "GET", path, NULL, 0, &res);
    if (res.outcome == CLI_OUTCOME_NOT_FOUND ||
        (res.outcome == CLI_OUTCOME_SECRET && cli_result_data(&res) == NULL)) {
        fprintf(stderr, "No policy named: %s\n", name);
        r = CLI_EXIT_REMOTE;
    } else if (res.outcome != CLI_OUTCOME_SECRET) {
        r = cli_api_fail(&res, "reading policy named %s", name);
    } else {
        r = policy_print(ctx, &res);
    }
    cli_result_free(&res);
    return r;
}

static int policy_list_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    const json_t *keys;
    const json_t *key;
    size_t i;
    int r = CLI_EXIT_OK;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "LIST", "sys/policies/acl/", NULL, 0, &res);
    keys = json_object_get(cli_result_data(&res), "keys");
    if (!json_is_array(keys)) {
        r = cli_api_fail(&res, "listing policies");
    } else if (ctx->format != CLI_FORMAT_TABLE) {
        r = cli_output_value(ctx, keys);
    } else {
        json_array_foreach(keys, i, key)
        {
            printf("%s\n", json_is_string(key) ? json_string_value(key) : "");
        }
    }
    cli_result_free(&res);
    return r;
}

static int policy_delete_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char name[1024];
    char path[1100];
    struct cli_result res;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = policy_path(argv[0], name, sizeof(name), path, sizeof(path));
    if (r != CLI_EXIT_OK)
        return r;
    (void)cli_api_call(ctx, "DELETE", path, NULL, 0, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "deleting %s", name);
    else
        printf("Success! Deleted policy: %s\n", name);
    cli_result_free(&res);
    return r;
}

static const struct cli_command policy_write = {
    .name = "write",
    .run = policy_write_run,
    .synopsis = "Upload a policy",
    .usage = "Usage: keyhold policy write [options] NAME PATH\n"
             "\n"
             "  Uploads a policy from the local file PATH (\"-\": standard "
             "input)\n"
             "  under NAME, replacing any policy of that name.\n"
             "\n"
             "      $ keyhold policy write my-policy /tmp/policy.hcl\n",
};

static const struct cli_command policy_read = {
    .name = "read",
    .run = policy_read_run,
    .synopsis = "Print the contents of a policy",
    .usage = "Usage: keyhold policy read [options] NAME\n"
             "\n"
             "  Prints the text of the named policy.\n",
};

static const struct cli_command policy_list = {
    .name = "list",
    .run = policy_list_run,
    .synopsis = "List the installed policies",
    .usage = "Usage: keyhold policy list [options]\n"
             "\n"
             "  Lists the names of the installed policies, one a line.\n",
};

static const struct cli_command policy_delete = {
    .name = "delete",
    .run = policy_delete_run,
    .synopsis = "Delete a policy by name",
    .usage = "Usage: keyhold policy delete [options] NAME\n"
             "\n"
             "  Deletes the named policy; tokens holding it lose its "
             "grants.\n",
};

static const struct cli_command *const policy_subs[] = {
    &policy_delete, &policy_list, &policy_read, &policy_write, NULL};

const struct cli_command cli_cmd_policy = {
    .name = "policy",
    .synopsis = "Interact with policies",
    .usage = "Usage: keyhold policy <subcommand> [options] [args]\n"
             "\n"
             "  Writes, reads, lists and deletes ACL policies.\n",
    .subs = policy_subs,
};
