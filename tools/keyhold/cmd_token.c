/*
 * cmd_token.c - `keyhold token create|lookup|renew|revoke`: the token
 * store at auth/token/... (Vault API: token auth).
 *
 * Owns the token verbs, which choose the endpoint as Vault's CLI does
 * (lookup-self / lookup / lookup-accessor, create / create-orphan /
 * create/ROLE, ...) and print the answer as Vault does: an auth table for
 * create and renew, the token's data for lookup, a Success line for
 * revoke. Must never print the caller's own token except as the server
 * returns it in a response.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "common/err.h"
#include "output.h"
#include "verbs.h"

/* POST path with {key: value, increment?}; key NULL sends no body. */
static int token_call(const struct cli_ctx *ctx, const char *path,
                      const char *key, const char *value, const char *increment,
                      struct cli_result *res)
{
    json_t *body = NULL;
    int r = 0;

    if (key != NULL || increment != NULL) {
        body = json_object();
        r = body != NULL ? 0 : KH_ENOMEM;
    }
    if (r == 0 && key != NULL)
        r = cli_json_set_str(body, key, value);
    if (r == 0 && increment != NULL)
        r = cli_json_set_str(body, "increment", increment);
    if (r < 0) {
        json_decref(body);
        memset(res, 0, sizeof(*res));
        res->outcome = CLI_OUTCOME_FAILED;
        return cli_build_failed(r);
    }
    (void)cli_api_call_json(ctx, "POST", path, body, res);
    json_decref(body);
    return CLI_EXIT_OK;
}

/* -metadata=k=v ... into "meta". */
static int create_meta(const struct cli_ctx *ctx, json_t *body)
{
    json_t *meta = NULL;
    const char *item;
    size_t index = 0;
    int r = 0;

    while (r == 0 && (item = cli_opt_next(ctx, "metadata", &index)) != NULL) {
        const char *eq = strchr(item, '=');
        char key[256];

        if (eq == NULL || (size_t)(eq - item) >= sizeof(key)) {
            fprintf(stderr, "Invalid -metadata \"%s\": must be key=value\n",
                    item);
            json_decref(meta);
            return KH_EINVAL;
        }
        memcpy(key, item, (size_t)(eq - item));
        key[eq - item] = '\0';
        if (meta == NULL && (meta = json_object()) == NULL)
            return KH_ENOMEM;
        r = cli_json_set_str(meta, key, eq + 1);
    }
    if (r == 0 && meta != NULL && json_object_set(body, "meta", meta) != 0)
        r = KH_ENOMEM;
    json_decref(meta);
    return r < 0 ? cli_build_failed(r) : 0;
}

/* Policies, TTLs, flags: the token create body. */
static int create_body(const struct cli_ctx *ctx, json_t *body)
{
    json_t *policies = json_array();
    const char *item;
    size_t index = 0;
    long long uses = 0;
    int r = policies != NULL ? 0 : KH_ENOMEM;

    while (r == 0 && (item = cli_opt_next(ctx, "policy", &index)) != NULL)
        r = json_array_append_new(policies, json_string(item)) == 0 ? 0
                                                                    : KH_EINVAL;
    if (r == 0 && json_array_size(policies) > 0)
        r = json_object_set(body, "policies", policies) == 0 ? 0 : KH_ENOMEM;
    json_decref(policies);
    if (r == 0)
        r = cli_json_set_opt(body, "ttl", ctx, "ttl");
    if (r == 0)
        r = cli_json_set_opt(body, "explicit_max_ttl", ctx, "explicit-max-ttl");
    if (r == 0)
        r = cli_json_set_opt(body, "period", ctx, "period");
    if (r == 0)
        r = cli_json_set_opt(body, "display_name", ctx, "display-name");
    if (r == 0)
        r = cli_json_set_opt(body, "type", ctx, "type");
    if (r == 0)
        r = cli_json_set_opt(body, "id", ctx, "id");
    if (r == 0 && cli_opt_get(ctx, "renewable") != NULL)
        r = cli_json_set_bool(body, "renewable", cli_opt_on(ctx, "renewable"));
    if (r == 0 && cli_opt_on(ctx, "no-default-policy"))
        r = cli_json_set_bool(body, "no_default_policy", true);
    if (r < 0)
        return cli_build_failed(r);
    if (cli_opt_int(ctx, "use-limit", 0, &uses) < 0)
        return KH_EINVAL;
    if (uses != 0 && cli_json_set_int(body, "num_uses", uses) < 0)
        return cli_build_failed(KH_ENOMEM);
    return create_meta(ctx, body);
}

static int token_create_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[1024];
    const char *role = cli_opt_get(ctx, "role");
    struct cli_result res;
    json_t *body;
    int r;

    (void)argv;
    if (argc != 0)
        return cli_usage_error(0, argc);
    body = json_object();
    if (body == NULL)
        return cli_build_failed(KH_ENOMEM);
    if (create_body(ctx, body) < 0) {
        json_decref(body);
        return CLI_EXIT_LOCAL;
    }
    if (role != NULL)
        (void)snprintf(path, sizeof(path), "auth/token/create/%s", role);
    else
        (void)snprintf(path, sizeof(path), "auth/token/%s",
                       cli_opt_on(ctx, "orphan") ? "create-orphan" : "create");
    (void)cli_api_call_json(ctx, "POST", path, body, &res);
    json_decref(body);
    if (res.outcome == CLI_OUTCOME_SECRET)
        r = cli_output_response(ctx, res.json);
    else
        r = cli_api_fail(&res, "creating token");
    cli_result_free(&res);
    return r;
}

static int token_lookup_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    bool accessor = cli_opt_on(ctx, "accessor");
    struct cli_result res;
    int r;

    r = cli_args_between(accessor ? 1 : 0, 1, argc);
    if (r != CLI_EXIT_OK)
        return r;
    if (argc == 0)
        (void)cli_api_call(ctx, "GET", "auth/token/lookup-self", NULL, 0, &res);
    else
        r = token_call(
            ctx, accessor ? "auth/token/lookup-accessor" : "auth/token/lookup",
            accessor ? "accessor" : "token", argv[0], NULL, &res);
    if (r != CLI_EXIT_OK)
        return r;
    if (res.outcome == CLI_OUTCOME_SECRET)
        r = cli_output_response(ctx, res.json);
    else
        r = cli_api_fail(&res, "looking up token");
    cli_result_free(&res);
    return r;
}

static int token_renew_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    bool accessor = cli_opt_on(ctx, "accessor");
    const char *increment = cli_opt_get(ctx, "increment");
    struct cli_result res;
    int r;

    r = cli_args_between(accessor ? 1 : 0, 1, argc);
    if (r != CLI_EXIT_OK)
        return r;
    if (argc == 0)
        r = token_call(ctx, "auth/token/renew-self", NULL, NULL, increment,
                       &res);
    else
        r = token_call(
            ctx, accessor ? "auth/token/renew-accessor" : "auth/token/renew",
            accessor ? "accessor" : "token", argv[0], increment, &res);
    if (r != CLI_EXIT_OK)
        return r;
    if (res.outcome == CLI_OUTCOME_SECRET)
        r = cli_output_response(ctx, res.json);
    else
        r = cli_api_fail(&res, "renewing token");
    cli_result_free(&res);
    return r;
}

/* Which endpoint and body key revoke uses; NULL path for a bad mix. */
static const char *revoke_path(const struct cli_ctx *ctx, size_t argc,
                               const char **ret_key)
{
    const char *mode = cli_opt_get(ctx, "mode");

    *ret_key = "token";
    if (mode != NULL && strcmp(mode, "orphan") != 0 && strcmp(mode, "") != 0) {
        fprintf(stderr,
                "Invalid -mode \"%s\" (only \"orphan\" is "
                "supported)\n",
                mode);
        return NULL;
    }
    if (cli_opt_on(ctx, "self")) {
        *ret_key = NULL;
        if (argc != 0 || cli_opt_on(ctx, "accessor")) {
            fprintf(stderr, "Too many arguments: -self takes no token\n");
            return NULL;
        }
        return "auth/token/revoke-self";
    }
    if (argc != 1) {
        (void)cli_usage_error(1, argc);
        return NULL;
    }
    if (cli_opt_on(ctx, "accessor")) {
        *ret_key = "accessor";
        return "auth/token/revoke-accessor";
    }
    return mode != NULL && strcmp(mode, "orphan") == 0
               ? "auth/token/revoke-orphan"
               : "auth/token/revoke";
}

static int token_revoke_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    const char *key = NULL;
    const char *path = revoke_path(ctx, argc, &key);
    struct cli_result res;
    int r;

    if (path == NULL)
        return CLI_EXIT_LOCAL;
    r = token_call(ctx, path, key, key != NULL ? argv[0] : NULL, NULL, &res);
    if (r != CLI_EXIT_OK)
        return r;
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "revoking token");
    else
        printf("Success! Revoked token (if it existed)\n");
    cli_result_free(&res);
    return r;
}

static const char *const create_options[] = {
    "policy", "ttl",       "explicit-max-ttl",  "period",
    "orphan", "renewable", "use-limit",         "display-name",
    "role",   "metadata",  "no-default-policy", "type",
    "id",     NULL};
static const char *const lookup_options[] = {"accessor", NULL};
static const char *const renew_options[] = {"accessor", "increment", NULL};
static const char *const revoke_options[] = {"accessor", "self", "mode", NULL};

static const struct cli_command token_create = {
    .name = "create",
    .run = token_create_run,
    .synopsis = "Create a new token",
    .usage = "Usage: keyhold token create [options]\n"
             "\n"
             "  Creates a child of the current token (or an orphan with "
             "-orphan, or\n"
             "  through a token role with -role) and prints it.\n"
             "\n"
             "      $ keyhold token create -policy=app -ttl=1h\n"
             "\n"
             "Command Options:\n"
             "\n"
             "  -policy=<string>            A policy (repeatable).\n"
             "  -ttl=<duration>             Initial TTL.\n"
             "  -explicit-max-ttl=<dur>     Hard cap on the lifetime.\n"
             "  -period=<duration>          Make a periodic token.\n"
             "  -orphan                     No parent token.\n"
             "  -renewable=<bool>           Allow renewal (default true).\n"
             "  -use-limit=<int>            Number of uses (0: no limit).\n"
             "  -display-name=<string>      Name shown in audit logs.\n"
             "  -metadata=<key=value>       Metadata (repeatable).\n"
             "  -no-default-policy          Leave out the default policy.\n"
             "  -role=<string>              Create through this token "
             "role.\n"
             "  -type=<string>              service or batch.\n"
             "  -id=<string>                Requested token value (root "
             "only).\n",
    .options = create_options,
};

static const struct cli_command token_lookup = {
    .name = "lookup",
    .run = token_lookup_run,
    .synopsis = "Display information about a token",
    .usage = "Usage: keyhold token lookup [options] [TOKEN | -accessor "
             "ACCESSOR]\n"
             "\n"
             "  Prints a token's properties: the current token when none is "
             "given.\n",
    .options = lookup_options,
};

static const struct cli_command token_renew = {
    .name = "renew",
    .run = token_renew_run,
    .synopsis = "Renew a token lease",
    .usage = "Usage: keyhold token renew [options] [TOKEN]\n"
             "\n"
             "  Renews a token (the current one when none is given), asking "
             "for\n"
             "  -increment more time. -accessor renews by accessor.\n",
    .options = renew_options,
};

static const struct cli_command token_revoke = {
    .name = "revoke",
    .run = token_revoke_run,
    .synopsis = "Revoke a token and its children",
    .usage = "Usage: keyhold token revoke [options] [TOKEN | -self | "
             "-accessor ACCESSOR]\n"
             "\n"
             "  Revokes a token and its children; -mode=orphan keeps the "
             "children\n"
             "  as orphans.\n",
    .options = revoke_options,
};

static const struct cli_command *const token_subs[] = {
    &token_create, &token_lookup, &token_renew, &token_revoke, NULL};

const struct cli_command cli_cmd_token = {
    .name = "token",
    .synopsis = "Interact with tokens",
    .usage = "Usage: keyhold token <subcommand> [options] [args]\n"
             "\n"
             "  Creates, looks up, renews and revokes tokens.\n",
    .subs = token_subs,
};
