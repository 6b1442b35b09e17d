/*
 * cmd_lease.c - `keyhold lease renew|revoke|lookup`: leases through
 * sys/leases/... (Vault API: sys/leases).
 *
 * Owns the lease verbs, which behave as Vault's: renew prints the renewed
 * secret, revoke prints a Success line (-prefix for a whole prefix, with
 * -force to ignore backend errors), lookup prints the lease's data. Must
 * never revoke a prefix unless -prefix was given.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "common/err.h"
#include "output.h"
#include "verbs.h"

static int lease_body(const char *lease_id, const char *increment,
                      json_t **ret_body)
{
    json_t *body = json_object();
    int r = body != NULL ? 0 : KH_ENOMEM;

    if (r == 0)
        r = cli_json_set_str(body, "lease_id", lease_id);
    if (r == 0 && increment != NULL)
        r = cli_json_set_str(body, "increment", increment);
    if (r < 0) {
        json_decref(body);
        return r;
    }
    *ret_body = body;
    return 0;
}

static int lease_call(const struct cli_ctx *ctx, const char *path,
                      const char *lease_id, const char *increment,
                      struct cli_result *res)
{
    json_t *body = NULL;
    int r = lease_body(lease_id, increment, &body);

    if (r < 0) {
        memset(res, 0, sizeof(*res));
        res->outcome = CLI_OUTCOME_FAILED;
        return cli_build_failed(r);
    }
    (void)cli_api_call_json(ctx, "PUT", path, body, res);
    json_decref(body);
    return CLI_EXIT_OK;
}

static int lease_renew_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = lease_call(ctx, "sys/leases/renew", argv[0],
                   cli_opt_get(ctx, "increment"), &res);
    if (r != CLI_EXIT_OK)
        return r;
    if (res.outcome == CLI_OUTCOME_SECRET)
        r = cli_output_response(ctx, res.json);
    else
        r = cli_api_fail(&res, "renewing %s", argv[0]);
    cli_result_free(&res);
    return r;
}

static int lease_lookup_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct cli_result res;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = lease_call(ctx, "sys/leases/lookup", argv[0], NULL, &res);
    if (r != CLI_EXIT_OK)
        return r;
    if (res.outcome == CLI_OUTCOME_SECRET)
        r = cli_output_response(ctx, res.json);
    else
        r = cli_api_fail(&res, "looking up lease id %s", argv[0]);
    cli_result_free(&res);
    return r;
}

static int lease_revoke_one(const struct cli_ctx *ctx, const char *id)
{
    struct cli_result res;
    int r = lease_call(ctx, "sys/leases/revoke", id, NULL, &res);

    if (r != CLI_EXIT_OK)
        return r;
    if (!cli_result_ok(&res)) {
        r = cli_api_fail(&res, "revoking lease %s", id);
    } else {
        printf("Success! Revoked lease: %s\n", id);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static int lease_revoke_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char id[CLI_URL_BYTES_MAX];
    char path[CLI_URL_BYTES_MAX + 32];
    struct cli_result res;
    bool prefix = cli_opt_on(ctx, "prefix");
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (ctx->force && !prefix) {
        fprintf(stderr, "Specifying -force requires also specifying "
                        "-prefix\n");
        return CLI_EXIT_LOCAL;
    }
    if (cli_path_sanitize(argv[0], id, sizeof(id)) < 0) {
        fprintf(stderr, "Lease id is longer than %d bytes\n",
                CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    if (!prefix)
        return lease_revoke_one(ctx, id);
    (void)snprintf(path, sizeof(path), "sys/leases/%s/%s",
                   ctx->force ? "revoke-force" : "revoke-prefix", id);
    (void)cli_api_call(ctx, "PUT", path, NULL, 0, &res);
    if (!cli_result_ok(&res)) {
        r = cli_api_fail(&res, "%srevoking leases with prefix %s",
                         ctx->force ? "force " : "", id);
    } else {
        printf("Success! %s any leases with prefix: %s\n",
               ctx->force ? "Force revoked" : "Revoked", id);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static const char *const renew_options[] = {"increment", NULL};
static const char *const revoke_options[] = {"prefix", NULL};

static const struct cli_command lease_renew = {
    .name = "renew",
    .run = lease_renew_run,
    .synopsis = "Renew the lease of a secret",
    .usage = "Usage: keyhold lease renew [options] ID\n"
             "\n"
             "  Renews the lease ID, asking for -increment more time (a\n"
             "  duration such as 1h; the server may grant less).\n"
             "\n"
             "      $ keyhold lease renew -increment=1h database/creds/r/abc\n",
    .options = renew_options,
};

static const struct cli_command lease_revoke = {
    .name = "revoke",
    .run = lease_revoke_run,
    .synopsis = "Revoke a lease and the secret behind it",
    .usage = "Usage: keyhold lease revoke [options] ID\n"
             "\n"
             "  Revokes the lease ID. With -prefix, ID is a prefix and every "
             "lease\n"
             "  under it is revoked; -force (with -prefix) ignores backend "
             "errors.\n",
    .options = revoke_options,
};

static const struct cli_command lease_lookup = {
    .name = "lookup",
    .run = lease_lookup_run,
    .synopsis = "Look up the lease of a secret",
    .usage = "Usage: keyhold lease lookup [options] ID\n"
             "\n"
             "  Prints the lease's issue and expiry times, TTL and "
             "renewability.\n",
};

static const struct cli_command *const lease_subs[] = {
    &lease_lookup, &lease_renew, &lease_revoke, NULL};

const struct cli_command cli_cmd_lease = {
    .name = "lease",
    .synopsis = "Interact with leases",
    .usage = "Usage: keyhold lease <subcommand> [options] [args]\n"
             "\n"
             "  Renews, revokes and looks up leases.\n",
    .subs = lease_subs,
};
