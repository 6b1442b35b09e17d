/*
 * main.c - the keyhold command: global set-up, the verb table, usage text.
 *
 * Owns process-wide state (libcurl's global init, jansson's wiping
 * allocator), the dispatch table of verbs and the help texts. It resolves
 * the configuration once, runs one verb and wipes the token before exit.
 * Must never interpret a verb's arguments itself.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/err.h"

static int version_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    printf("Keyhold v%s\n", KH_VERSION);
    return CLI_EXIT_OK;
}

static const struct cli_command cmd_version = {
    .name = "version",
    .run = version_run,
    .synopsis = "Prints the keyhold version",
    .usage = "Usage: keyhold version\n"
             "\n"
             "  Prints the version of this keyhold CLI. It does not contact "
             "the server.\n",
};

/* The verbs, in the order the help lists them. */
static const struct cli_command *const commands[] = {
    &cli_cmd_read,     &cli_cmd_write,   &cli_cmd_delete, &cli_cmd_list,
    &cli_cmd_login,    &cli_cmd_status,  &cli_cmd_kv,     &cli_cmd_token,
    &cli_cmd_policy,   &cli_cmd_secrets, &cli_cmd_auth,   &cli_cmd_lease,
    &cli_cmd_operator, &cmd_version,
};

static const char options_text[] =
    "HTTP Options:\n"
    "\n"
    "  -address=<string>\n"
    "      Address of the server. The default is " CLI_DEFAULT_ADDRESS ".\n"
    "      This can also be given with KEYHOLD_ADDR or VAULT_ADDR.\n"
    "\n"
    "  -ca-cert=<string>\n"
    "      Path to a PEM-encoded CA certificate file used to verify the\n"
    "      server's certificate. This can also be given with KEYHOLD_CACERT\n"
    "      or VAULT_CACERT.\n"
    "\n"
    "  -tls-skip-verify\n"
    "      Do not verify the server's TLS certificate. Insecure: only for\n"
    "      tests. This can also be given with KEYHOLD_SKIP_VERIFY=1 or\n"
    "      VAULT_SKIP_VERIFY=1.\n"
    "\n"
    "  The token is taken from KEYHOLD_TOKEN, VAULT_TOKEN, or the token\n"
    "  file that \"keyhold login\" writes: KEYHOLD_TOKEN_FILE when set,\n"
    "  else ~/.vault-token.\n"
    "\n"
    "Output Options:\n"
    "\n"
    "  -field=<string>\n"
    "      Print only the field with the given name, raw, with no trailing\n"
    "      newline unless stdout is a terminal.\n"
    "\n"
    "  -format=<string>\n"
    "      Print the output in the given format: \"table\", \"json\" or\n"
    "      \"yaml\". This can also be given with KEYHOLD_FORMAT or\n"
    "      VAULT_FORMAT.\n";

static void usage_general(FILE *out)
{
    size_t i;

    fprintf(out, "Usage: keyhold <command> [args]\n\nCommands:\n");
    for (i = 0; i < KH_ARRAY_LEN(commands); i++)
        fprintf(out, "    %-10s  %s\n", commands[i]->name,
                commands[i]->synopsis);
    fprintf(out, "\nRun \"keyhold <command> -h\" for a command's options.\n");
}

/* A verb group's usage: its own text and its subcommands. */
static void usage_group(const struct cli_command *cmd, FILE *out)
{
    size_t i;

    fprintf(out, "%s\nSubcommands:\n", cmd->usage);
    for (i = 0; cmd->subs[i] != NULL; i++)
        fprintf(out, "    %-14s  %s\n", cmd->subs[i]->name,
                cmd->subs[i]->synopsis);
}

static void usage_command(const struct cli_command *cmd)
{
    if (cmd->subs != NULL) {
        usage_group(cmd, stdout);
        return;
    }
    printf("%s\n", cmd->usage);
    if (cmd != &cmd_version)
        printf("%s", options_text);
}

static const struct cli_command *command_find(const char *name)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    }
    return NULL;
}

/* Descend into verb groups (kv metadata get): *depth counts the
 * positionals that named the verb. */
static const struct cli_command *command_descend(const struct cli_command *cmd,
                                                 const struct cli_flags *flags,
                                                 size_t *depth)
{
    size_t i;
    bool found = true;

    *depth = 1;
    while (cmd->subs != NULL && found && *depth < flags->arg_count) {
        found = false;
        for (i = 0; cmd->subs[i] != NULL; i++) {
            if (strcmp(cmd->subs[i]->name, flags->args[*depth]) == 0) {
                cmd = cmd->subs[i];
                *depth += 1;
                found = true;
                break;
            }
        }
    }
    return cmd;
}

/* Resolve the configuration, run the verb, wipe the token. */
static int command_run(const struct cli_command *cmd,
                       const struct cli_flags *flags, size_t depth)
{
    struct cli_ctx ctx = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    int exit_code;

    if (cmd == &cmd_version)
        return cmd->run(&ctx, 0, NULL);
    if (cli_ctx_resolve(flags, &ctx, errmsg, sizeof(errmsg)) < 0) {
        fprintf(stderr, "%s\n", errmsg);
        return CLI_EXIT_LOCAL;
    }
    exit_code = cli_opts_check(&ctx, cmd);
    if (exit_code == CLI_EXIT_OK)
        exit_code =
            cmd->run(&ctx, flags->arg_count - depth, flags->args + depth);
    cli_ctx_clear(&ctx);
    return exit_code;
}

static int dispatch(const struct cli_flags *flags)
{
    const struct cli_command *cmd;
    size_t depth = 1;

    if (flags->arg_count == 0) {
        if (flags->version)
            return command_run(&cmd_version, flags, 1);
        usage_general(flags->help ? stdout : stderr);
        return flags->help ? CLI_EXIT_OK : CLI_EXIT_NO_COMMAND;
    }
    cmd = command_find(flags->args[0]);
    if (cmd == NULL) {
        fprintf(stderr, "Unknown command: %s\n\n", flags->args[0]);
        usage_general(stderr);
        return CLI_EXIT_NO_COMMAND;
    }
    cmd = command_descend(cmd, flags, &depth);
    if (flags->help) {
        usage_command(cmd);
        return CLI_EXIT_OK;
    }
    if (cmd->subs != NULL) {
        if (depth < flags->arg_count)
            fprintf(stderr, "Unknown subcommand: %s\n\n", flags->args[depth]);
        usage_group(cmd, stderr);
        return CLI_EXIT_NO_COMMAND;
    }
    return command_run(cmd, flags, depth);
}

int main(int argc, char **argv)
{
    struct cli_flags flags = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    int exit_code = CLI_EXIT_LOCAL;

    cli_json_memory_init();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "Error: could not initialise libcurl\n");
        return CLI_EXIT_LOCAL;
    }
    if (cli_flags_parse(argc - 1, argv + 1, &flags, errmsg, sizeof(errmsg)) <
        0) {
        fprintf(stderr, "%s\n\nRun \"keyhold -h\" for usage.\n", errmsg);
        goto out;
    }
    exit_code = dispatch(&flags);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "Error writing output\n");
        exit_code = CLI_EXIT_LOCAL;
    }
out:
    cli_flags_free(&flags);
    curl_global_cleanup();
    return exit_code;
}
