/*
 * cmd_status.c - `keyhold status`: seal and HA status.
 *
 * Owns the status verb, which reads sys/seal-status and, when the server
 * has it, sys/leader, and prints them as Vault does: Key/Value rows in
 * table format, the merged object otherwise. Exit codes are Vault's for
 * this verb: 0 unsealed, 2 sealed, 1 on any error (including the server
 * being unreachable). Must never fail because sys/leader is missing.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "output.h"
#include "table.h"
#include "verbs.h"

static const char *str_of(const json_t *object, const char *key)
{
    const char *s = json_string_value(json_object_get(object, key));

    return s != NULL ? s : "";
}

static const char *yes_no(const json_t *object, const char *key)
{
    return json_is_true(json_object_get(object, key)) ? "true" : "false";
}

static int add_int(struct cli_table *table, const char *key,
                   const json_t *object, const char *member)
{
    char text[32];

    (void)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(object, member)));
    return cli_table_add(table, key, text);
}

/* Rows up to the seal details: type, state, shares, unseal progress. */
static int rows_seal(struct cli_table *t, const json_t *seal)
{
    bool recovery = json_is_true(json_object_get(seal, "recovery_seal"));
    bool sealed = json_is_true(json_object_get(seal, "sealed"));
    char progress[64];
    int r;

    r = cli_table_add(t, "Seal Type", str_of(seal, "type"));
    if (r == 0 && recovery)
        r = cli_table_add(t, "Recovery Seal Type",
                          str_of(seal, "recovery_seal_type"));
    if (r == 0)
        r = cli_table_add(t, "Initialized", yes_no(seal, "initialized"));
    if (r == 0)
        r = cli_table_add(t, "Sealed", yes_no(seal, "sealed"));
    if (r == 0)
        r = add_int(t, recovery ? "Total Recovery Shares" : "Total Shares",
                    seal, "n");
    if (r == 0)
        r = add_int(t, "Threshold", seal, "t");
    if (r == 0 && sealed) {
        (void)snprintf(progress, sizeof(progress),
                       "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                       json_integer_value(json_object_get(seal, "progress")),
                       json_integer_value(json_object_get(seal, "t")));
        r = cli_table_add(t, "Unseal Progress", progress);
        if (r == 0)
            r = cli_table_add(t, "Unseal Nonce", str_of(seal, "nonce"));
    }
    if (r == 0 && json_is_true(json_object_get(seal, "migration")))
        r = cli_table_add(t, "Seal Migration in Progress", "true");
    return r;
}

/* Version, build date (OpenBao: commit_date), storage, cluster. */
static int rows_build(struct cli_table *t, const json_t *seal)
{
    const char *date = str_of(seal, "build_date");
    int r;

    if (date[0] == '\0')
        date = str_of(seal, "commit_date");
    r = cli_table_add(t, "Version", str_of(seal, "version"));
    if (r == 0)
        r = cli_table_add(t, "Build Date", date);
    if (r == 0)
        r = cli_table_add(t, "Storage Type", str_of(seal, "storage_type"));
    if (r == 0 && str_of(seal, "cluster_name")[0] != '\0' &&
        str_of(seal, "cluster_id")[0] != '\0') {
        r = cli_table_add(t, "Cluster Name", str_of(seal, "cluster_name"));
        if (r == 0)
            r = cli_table_add(t, "Cluster ID", str_of(seal, "cluster_id"));
    }
    return r;
}

/* HA rows from the merged status (sys/leader's fields included). */
static int rows_ha(struct cli_table *t, const json_t *status)
{
    bool self = json_is_true(json_object_get(status, "is_self"));
    const char *active = str_of(status, "active_time");
    const char *leader = str_of(status, "leader_address");
    int r;

    r = cli_table_add(t, "HA Enabled", yes_no(status, "ha_enabled"));
    if (r < 0 || !json_is_true(json_object_get(status, "ha_enabled")) ||
        json_is_true(json_object_get(status, "sealed")))
        return r;
    r = cli_table_add(t, "HA Cluster",
                      str_of(status, "leader_cluster_address"));
    if (r == 0)
        r = cli_table_add(t, "HA Mode", self ? "active" : "standby");
    if (r == 0 && self && active[0] != '\0' &&
        strncmp(active, "0001-01-01", 10) != 0)
        r = cli_table_add(t, "Active Since", active);
    if (r == 0 && !self)
        r = cli_table_add(t, "Active Node Address",
                          leader[0] != '\0' ? leader : "<none>");
    if (r == 0 && json_integer_value(
                      json_object_get(status, "raft_committed_index")) > 0) {
        r = add_int(t, "Raft Committed Index", status, "raft_committed_index");
        if (r == 0)
            r = add_int(t, "Raft Applied Index", status, "raft_applied_index");
    }
    return r;
}

static int status_table(const json_t *status)
{
    struct cli_table table;
    int r;

    cli_table_init(&table, 2);
    r = cli_table_add(&table, "Key", "Value");
    if (r == 0)
        r = rows_seal(&table, status);
    if (r == 0)
        r = rows_build(&table, status);
    if (r == 0)
        r = rows_ha(&table, status);
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&table);
    cli_table_free(&table);
    return r;
}

/* Add sys/leader's fields that seal-status lacks; a server without
 * sys/leader (or one that refuses it while sealed) is not an error. */
static void status_merge_leader(const struct cli_ctx *ctx, json_t *status)
{
    struct cli_result res;

    (void)cli_api_call(ctx, "GET", "sys/leader", NULL, 0, &res);
    if (res.outcome == CLI_OUTCOME_SECRET && json_is_object(res.json) &&
        !cli_output_is_envelope(res.json))
        (void)json_object_update_missing(status, res.json);
    cli_result_free(&res);
}

int cli_seal_status_print(const struct cli_ctx *ctx, json_t *status)
{
    status_merge_leader(ctx, status);
    if (ctx->format == CLI_FORMAT_TABLE)
        return status_table(status);
    return cli_output_value(ctx, status);
}

static int status_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int exit_code = CLI_EXIT_LOCAL;

    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "GET", "sys/seal-status", NULL, 0, &res);
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json)) {
        if (res.outcome == CLI_OUTCOME_EMPTY ||
            (res.outcome == CLI_OUTCOME_SECRET && !json_is_object(res.json)))
            fprintf(stderr, "Error checking seal status: the server sent no "
                            "seal status object\n");
        else
            cli_api_print_error(&res, "checking seal status");
        goto out;
    }
    exit_code = cli_seal_status_print(ctx, res.json);
    if (exit_code == CLI_EXIT_OK &&
        json_is_true(json_object_get(res.json, "sealed")))
        exit_code = CLI_EXIT_REMOTE;
out:
    cli_result_free(&res);
    return exit_code;
}

const struct cli_command cli_cmd_status = {
    .name = "status",
    .run = status_run,
    .synopsis = "Print seal and HA status",
    .usage =
        "Usage: keyhold status [options]\n"
        "\n"
        "  Prints the current state of the server including whether it is "
        "sealed and\n"
        "  if HA mode is enabled. This command prints regardless of whether "
        "the\n"
        "  server is sealed.\n"
        "\n"
        "  The exit code reflects the seal status:\n"
        "\n"
        "      - 0 - unsealed\n"
        "      - 1 - error\n"
        "      - 2 - sealed\n"
        "\n"
        "      $ keyhold status\n",
};
