/*
 * cmd_raft.c - `keyhold operator raft list-peers|join|remove-peer|
 * autopilot state` and `keyhold operator step-down`: integrated storage's
 * membership through sys/storage/raft/configuration, .../join,
 * .../remove-peer, .../autopilot/state, and sys/step-down.
 *
 * Owns those verbs' requests and Vault's output for them: list-peers'
 * Node/Address/State/Voter table, join's "Joined" row, autopilot's
 * "pretty" summary. The snapshot verbs live in cmd_raft_snapshot.c. Must
 * never send a request before its arguments were checked, and never print
 * the token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "jwalk.h"
#include "output.h"
#include "render.h"
#include "table.h"
#include "verbs.h"

/* A PEM CA bundle given to -leader-ca-cert=@FILE. */
#define RAFT_CA_CERT_BYTES_MAX (1024u * 1024u)

/* The autopilot summary, rendered whole before it is printed. */
#define RAFT_PRETTY_BYTES_MAX (1024u * 1024u)

/* ---- list-peers ---- */

static int peers_add(struct cli_table *table, const json_t *server)
{
    const char *cells[4];

    cells[0] = cli_json_str(server, "node_id");
    cells[1] = cli_json_str(server, "address");
    cells[2] =
        json_is_true(json_object_get(server, "leader")) ? "leader" : "follower";
    cells[3] =
        json_is_true(json_object_get(server, "voter")) ? "true" : "false";
    return cli_table_add_row(table, cells);
}

/* Vault's list-peers table: Node | Address | State | Voter. */
static int peers_print(const struct cli_ctx *ctx, const json_t *resp)
{
    static const char *const header[] = {"Node", "Address", "State", "Voter"};
    const json_t *data = json_object_get(resp, "data");
    const json_t *servers;
    const json_t *server;
    struct cli_table table;
    size_t i;
    int r;

    if (ctx->format != CLI_FORMAT_TABLE || ctx->field != NULL)
        return cli_output_response(ctx, resp);
    servers = json_object_get(json_object_get(data, "config"), "servers");
    if (!json_is_array(servers)) {
        fprintf(stderr, "No raft cluster configuration found\n");
        return CLI_EXIT_REMOTE;
    }
    cli_table_init(&table, 4);
    r = cli_table_add_row(&table, header);
    json_array_foreach(servers, i, server)
    {
        if (r == 0)
            r = peers_add(&table, server);
    }
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&table);
    cli_table_free(&table);
    return r;
}

static int raft_list_peers_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int r;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "GET", "sys/storage/raft/configuration", NULL, 0,
                       &res);
    if (res.outcome == CLI_OUTCOME_NOT_FOUND) {
        fprintf(stderr, "No raft cluster configuration found\n");
        r = CLI_EXIT_REMOTE;
    } else if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json)) {
        r = cli_api_fail(&res, "reading the raft cluster configuration");
    } else {
        r = peers_print(ctx, res.json);
    }
    cli_result_free(&res);
    return r;
}

/* ---- join ---- */

/* -leader-ca-cert as Vault's parseFlagFile reads it: "@FILE" is the
 * file's contents, anything else the PEM text itself. */
static int join_ca_cert(const struct cli_ctx *ctx, json_t *body)
{
    const char *value = cli_opt_get(ctx, "leader-ca-cert");
    char *pem = NULL;
    size_t len = 0;
    json_t *text;
    int r;

    if (value == NULL || value[0] == '\0')
        return CLI_EXIT_OK;
    if (value[0] != '@')
        return cli_json_set_str(body, "leader_ca_cert", value) < 0
                   ? cli_build_failed(KH_EINVAL)
                   : CLI_EXIT_OK;
    r = cli_read_file(value + 1, RAFT_CA_CERT_BYTES_MAX, &pem, &len);
    if (r < 0) {
        fprintf(stderr, "Failed to parse leader CA certificate: %s: %s\n",
                value + 1,
                r == KH_EIO       ? strerror(errno)
                : r == KH_ETOOBIG ? "larger than 1 MiB"
                                  : kh_strerror(r));
        return CLI_EXIT_LOCAL;
    }
    text = json_stringn(pem, len);
    r = text != NULL && json_object_set_new(body, "leader_ca_cert", text) == 0
            ? CLI_EXIT_OK
            : cli_build_failed(text == NULL ? KH_EINVAL : KH_ENOMEM);
    kh_free_secret(pem, len + 1);
    return r;
}

/* Vault's join output: a "Joined" row, or the answer as json/yaml. */
static int join_print(const struct cli_ctx *ctx, const struct cli_result *res)
{
    const json_t *data = cli_result_data(res);
    struct cli_table table;
    int r;

    if (data == NULL) {
        fprintf(stderr, "Error joining the node to the Raft cluster: the "
                        "server's answer has no \"joined\" field\n");
        return CLI_EXIT_REMOTE;
    }
    if (ctx->format != CLI_FORMAT_TABLE)
        return cli_output_value(ctx, data);
    cli_table_init(&table, 2);
    r = cli_table_add(&table, "Key", "Value");
    if (r == 0)
        r = cli_table_add(
            &table, "Joined",
            json_is_true(json_object_get(data, "joined")) ? "true" : "false");
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&table);
    cli_table_free(&table);
    return r;
}

static int raft_join_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    json_t *body;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    body = json_object();
    if (body == NULL)
        return cli_build_failed(KH_ENOMEM);
    r = join_ca_cert(ctx, body);
    if (r != CLI_EXIT_OK)
        goto out;
    if (cli_json_set_str(body, "leader_api_addr", argv[0]) < 0 ||
        cli_json_set_bool(body, "retry", cli_opt_on(ctx, "retry")) < 0) {
        r = cli_build_failed(KH_EINVAL);
        goto out;
    }
    (void)cli_api_call_json(ctx, "POST", "sys/storage/raft/join", body, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "joining the node to the Raft cluster");
    else
        r = join_print(ctx, &res);
out:
    cli_result_free(&res);
    json_decref(body);
    return r;
}

/* ---- remove-peer ---- */

static int raft_remove_peer_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    json_t *body;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    body = json_object();
    if (body == NULL || cli_json_set_str(body, "server_id", argv[0]) < 0) {
        json_decref(body);
        return cli_build_failed(body == NULL ? KH_ENOMEM : KH_EINVAL);
    }
    (void)cli_api_call_json(ctx, "POST", "sys/storage/raft/remove-peer", body,
                            &res);
    if (!cli_result_ok(&res)) {
        r = cli_api_fail(&res, "removing the peer from raft cluster");
    } else {
        printf("Peer removed successfully!\n");
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    json_decref(body);
    return r;
}

/* ---- autopilot state ---- */

/* "<label><%v of value>\n"; an absent value prints as "". */
static int pretty_line(struct cli_buf *out, const char *label,
                       const json_t *value)
{
    int r = cli_buf_puts(out, label);

    if (r == 0 && value != NULL && !json_is_null(value))
        r = cli_render_govalue(value, out);
    return r == 0 ? cli_buf_puts(out, "\n") : r;
}

/* One "   <prefix><item>" line per string of an array. */
static int pretty_list(struct cli_buf *out, const char *title,
                       const json_t *list)
{
    const json_t *item;
    size_t i;
    int r = cli_buf_puts(out, title);

    json_array_foreach(list, i, item)
    {
        if (r == 0)
            r = pretty_line(out, "   ", item);
    }
    return r;
}

/* Vault's formatServer: the server's id, then its fields indented. */
static int pretty_server(struct cli_buf *out, const char *id,
                         const json_t *server)
{
    static const char *const rows[][2] = {
        {"      Name:            ", "name"},
        {"      Address:         ", "address"},
        {"      Status:          ", "status"},
        {"      Node Status:     ", "node_status"},
        {"      Healthy:         ", "healthy"},
        {"      Last Contact:    ", "last_contact"},
        {"      Last Term:       ", "last_term"},
        {"      Last Index:      ", "last_index"},
    };
    size_t i;
    int r = cli_buf_printf(out, "   %s\n", id);

    for (i = 0; r == 0 && i < KH_ARRAY_LEN(rows); i++)
        r = pretty_line(out, rows[i][0], json_object_get(server, rows[i][1]));
    return r;
}

/* Vault's PrettyFormatter.OutputAutopilotState, servers sorted by id. */
static int autopilot_render(const json_t *data, struct cli_buf *out)
{
    const json_t *servers = json_object_get(data, "servers");
    const json_t *non_voters = json_object_get(data, "non_voters");
    const char **ids = NULL;
    size_t count = 0;
    size_t i;
    int r;

    r = pretty_line(out, "Healthy:                      ",
                    json_object_get(data, "healthy"));
    if (r == 0)
        r = pretty_line(out, "Failure Tolerance:            ",
                        json_object_get(data, "failure_tolerance"));
    if (r == 0)
        r = pretty_line(out, "Leader:                       ",
                        json_object_get(data, "leader"));
    if (r == 0)
        r = pretty_list(out, "Voters:\n", json_object_get(data, "voters"));
    if (r == 0 && json_array_size(non_voters) > 0)
        r = pretty_list(out, "Non Voters:\n", non_voters);
    if (r == 0)
        r = cli_buf_puts(out, "Servers:\n");
    if (r == 0 && json_is_object(servers))
        r = cli_json_sorted_keys(servers, &ids, &count);
    for (i = 0; r == 0 && i < count; i++)
        r = pretty_server(out, ids[i], json_object_get(servers, ids[i]));
    free(ids);
    return r;
}

static int autopilot_print(const struct cli_ctx *ctx, const json_t *data)
{
    struct cli_buf text;
    int r;

    if (ctx->format != CLI_FORMAT_TABLE)
        return cli_output_value(ctx, data);
    cli_buf_init(&text, RAFT_PRETTY_BYTES_MAX);
    r = autopilot_render(data, &text);
    if (r < 0)
        r = cli_output_failed(r);
    else if (fwrite(cli_buf_text(&text), 1, text.len, stdout) != text.len)
        r = cli_output_failed(KH_EIO);
    else
        r = CLI_EXIT_OK;
    cli_buf_free(&text);
    return r;
}

static int raft_autopilot_state_run(struct cli_ctx *ctx, size_t argc,
                                    char **argv)
{
    struct cli_result res;
    const json_t *data;
    int r;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "GET", "sys/storage/raft/autopilot/state", NULL, 0,
                       &res);
    data = cli_result_data(&res);
    if (res.outcome == CLI_OUTCOME_EMPTY)
        r = CLI_EXIT_OK; /* no state: Vault prints nothing */
    else if (data == NULL)
        r = cli_api_fail(&res, "checking autopilot state");
    else
        r = autopilot_print(ctx, data);
    cli_result_free(&res);
    return r;
}

/* ---- step-down ---- */

static int operator_step_down_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int r = CLI_EXIT_OK;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    (void)cli_api_call(ctx, "PUT", "sys/step-down", NULL, 0, &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "stepping down");
    else
        printf("Success! Stepped down: %s\n", ctx->address);
    cli_result_free(&res);
    return r;
}

/* ---- the verb table ---- */

static const char *const join_options[] = {"leader-ca-cert", "retry", NULL};

static const struct cli_command raft_list_peers = {
    .name = "list-peers",
    .run = raft_list_peers_run,
    .synopsis = "Returns the Raft peer set",
    .usage = "Usage: keyhold operator raft list-peers [options]\n"
             "\n"
             "  Lists the servers of the integrated storage (raft) cluster: "
             "their\n"
             "  node ID, cluster address, state (leader or follower) and "
             "whether\n"
             "  they vote. -format=json prints the server's answer.\n",
};

static const struct cli_command raft_join = {
    .name = "join",
    .run = raft_join_run,
    .synopsis = "Joins a node to the Raft cluster",
    .usage = "Usage: keyhold operator raft join [options] LEADER_API_ADDR\n"
             "\n"
             "  Asks the node at -address (not yet a member) to join the "
             "raft\n"
             "  cluster whose leader answers at LEADER_API_ADDR, e.g.\n"
             "  https://10.0.0.1:8200. The request needs no token.\n"
             "\n"
             "  -leader-ca-cert=<string>\n"
             "      CA certificate (PEM) that verifies the leader's TLS "
             "certificate;\n"
             "      \"@FILE\" reads it from FILE.\n"
             "\n"
             "  -retry\n"
             "      Keep retrying the join in the background until it "
             "succeeds.\n",
    .options = join_options,
};

static const struct cli_command raft_remove_peer = {
    .name = "remove-peer",
    .run = raft_remove_peer_run,
    .synopsis = "Removes a node from the Raft cluster",
    .usage = "Usage: keyhold operator raft remove-peer [options] SERVER_ID\n"
             "\n"
             "  Removes the server with node ID SERVER_ID from the raft "
             "cluster's\n"
             "  configuration. Needs sudo.\n",
};

static const struct cli_command raft_autopilot_state = {
    .name = "state",
    .run = raft_autopilot_state_run,
    .synopsis = "Displays the state of the raft cluster as seen by autopilot",
    .usage = "Usage: keyhold operator raft autopilot state [options]\n"
             "\n"
             "  Prints the cluster's health as autopilot sees it: healthy "
             "or not,\n"
             "  failure tolerance, leader and voters, then one block per "
             "server\n"
             "  (status, node status, last contact, term and index). "
             "-format=json\n"
             "  prints the state object.\n",
};

static const struct cli_command *const raft_autopilot_subs[] = {
    &raft_autopilot_state, NULL};

static const struct cli_command raft_autopilot = {
    .name = "autopilot",
    .synopsis = "Inspect the raft cluster's autopilot state",
    .usage = "Usage: keyhold operator raft autopilot <subcommand> [options]\n"
             "\n"
             "  Reads what autopilot knows of the raft cluster.\n",
    .subs = raft_autopilot_subs,
};

static const struct cli_command *const raft_subs[] = {
    &raft_autopilot,        &raft_join, &raft_list_peers, &raft_remove_peer,
    &cli_cmd_raft_snapshot, NULL};

const struct cli_command cli_cmd_raft = {
    .name = "raft",
    .synopsis = "Interact with the integrated storage (raft) cluster",
    .usage = "Usage: keyhold operator raft <subcommand> [options] [args]\n"
             "\n"
             "  Manages the servers of an integrated storage (raft) cluster "
             "and its\n"
             "  snapshots.\n",
    .subs = raft_subs,
};

const struct cli_command cli_cmd_step_down = {
    .name = "step-down",
    .run = operator_step_down_run,
    .synopsis = "Forces the active node to give up leadership",
    .usage = "Usage: keyhold operator step-down [options]\n"
             "\n"
             "  Asks the active node to step down: another node becomes "
             "active.\n"
             "  Needs sudo.\n",
};
