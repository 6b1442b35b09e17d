/*
 * cmd_login.c - `keyhold login`: authenticate and keep the token.
 *
 * Owns the login verb: the token method (verified with
 * auth/token/lookup-self), userpass-style methods (POST
 * auth/MOUNT/login/USERNAME {password}) and every other method (POST
 * auth/MOUNT/login with the K=V arguments, e.g. approle's role_id and
 * secret_id); then the token helper file (KEYHOLD_TOKEN_FILE or
 * ~/.vault-token, written 0600 through a rename) and Vault's output.
 * Must never echo a prompted secret, never print the token unless asked
 * to print the login's result, and never leave a partial token file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "args.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "output.h"
#include "verbs.h"

#define LOGIN_SECRET_MAX 4096

/* Methods whose login path ends in the username. */
static bool method_takes_username(const char *method)
{
    static const char *const names[] = {"userpass", "ldap", "okta", "radius"};
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(names); i++) {
        if (strcmp(method, names[i]) == 0)
            return true;
    }
    return false;
}

/* Write the token to the helper file: a temporary file beside it, 0600,
 * then rename over it. */
static int token_store(const char *token)
{
    char path[4096];
    char tmp[4200];
    size_t len = strlen(token);
    int fd;
    int r = KH_EINTERNAL;

    if (cli_token_file_path(path, sizeof(path)) < 0) {
        fprintf(stderr, "Error storing token: no HOME and no "
                        "KEYHOLD_TOKEN_FILE\n");
        return KH_EINVAL;
    }
    (void)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "Error storing token: %s: %s\n", tmp, strerror(errno));
        return KH_EIO;
    }
    if (write(fd, token, len) != (ssize_t)len || fsync(fd) != 0) {
        fprintf(stderr, "Error storing token: %s: %s\n", tmp, strerror(errno));
        r = KH_EIO;
        goto out;
    }
    r = close(fd);
    fd = -1;
    if (r != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "Error storing token: %s: %s\n", path, strerror(errno));
        r = KH_EIO;
        goto out;
    }
    r = 0; /* success */
out:
    if (fd >= 0)
        (void)close(fd);
    if (r < 0)
        (void)unlink(tmp);
    return r;
}

/* A token goes into a header: printable ASCII only, and not too long. */
static bool token_is_sane(const char *token)
{
    size_t len = strlen(token);
    size_t i;

    if (len == 0 || len > CLI_TOKEN_BYTES_MAX)
        return false;
    for (i = 0; i < len; i++) {
        if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7e)
            return false;
    }
    return true;
}

/* object[key] = value (a new reference); nothing when value is NULL. */
static int copy_member(json_t *object, const char *key, json_t *value)
{
    if (value == NULL)
        return 0;
    return json_object_set(object, key, value) == 0 ? 0 : KH_ENOMEM;
}

/* The token method's answer as Vault's CLI shows it: lookup-self's data
 * turned into an auth block. */
static int token_auth_build(const char *token, json_t *resp)
{
    const json_t *data = json_object_get(resp, "data");
    json_t *auth = json_object();
    int r = auth != NULL ? 0 : KH_ENOMEM;

    if (r == 0)
        r = cli_json_set_str(auth, "client_token", token);
    if (r == 0)
        r = cli_json_set_str(auth, "accessor", cli_json_str(data, "accessor"));
    if (r == 0)
        r = copy_member(auth, "policies", json_object_get(data, "policies"));
    if (r == 0)
        r = copy_member(auth, "token_policies",
                        json_object_get(data, "policies"));
    if (r == 0)
        r = copy_member(auth, "identity_policies",
                        json_object_get(data, "identity_policies"));
    if (r == 0 && json_is_object(json_object_get(data, "meta")))
        r = copy_member(auth, "metadata", json_object_get(data, "meta"));
    if (r == 0)
        r = cli_json_set_int(auth, "lease_duration",
                             json_integer_value(json_object_get(data, "ttl")));
    if (r == 0)
        r = cli_json_set_bool(auth, "renewable",
                              json_is_true(json_object_get(data, "renewable")));
    if (r == 0 && json_object_set(resp, "auth", auth) != 0)
        r = KH_ENOMEM;
    if (r == 0 && json_object_set_new(resp, "data", json_null()) != 0)
        r = KH_ENOMEM;
    json_decref(auth);
    return r < 0 ? KH_ENOMEM : 0;
}

/* login [TOKEN | -]: verify the token with lookup-self. */
static int login_token(const struct cli_ctx *ctx, size_t argc, char **argv,
                       json_t **ret_resp)
{
    char token[CLI_TOKEN_BYTES_MAX + 2] = "";
    struct cli_ctx as_token = *ctx;
    struct cli_result res;
    int r = CLI_EXIT_LOCAL;

    if (argc > 1)
        return cli_usage_error(1, argc);
    if (argc == 1 && strcmp(argv[0], "-") != 0) {
        const char *given = argv[0];

        if (strncmp(given, "token=", 6) == 0)
            given += 6;
        (void)snprintf(token, sizeof(token), "%s", given);
    } else if (cli_prompt_secret(argc == 0 ? "Token (will be hidden): " : "",
                                 token, sizeof(token)) < 0) {
        fprintf(stderr, "Error reading the token from the terminal\n");
        goto out;
    }
    if (!token_is_sane(token)) {
        fprintf(stderr,
                "Error: the token must be 1 to %d printable "
                "characters\n",
                CLI_TOKEN_BYTES_MAX);
        goto out;
    }
    as_token.token = token;
    as_token.token_len = strlen(token);
    (void)cli_api_call(&as_token, "GET", "auth/token/lookup-self", NULL, 0,
                       &res);
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json)) {
        r = cli_api_fail(&res, "authenticating");
    } else if (token_auth_build(token, res.json) < 0) {
        r = cli_output_failed(KH_ENOMEM);
    } else {
        *ret_resp = json_incref(res.json);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
out:
    kh_wipe(token, sizeof(token));
    return r;
}

/* userpass-style methods: take username out of the body (it goes into
 * the path) and prompt for a missing password. */
static int login_username(json_t *body, char *username, size_t size)
{
    const char *given = json_string_value(json_object_get(body, "username"));
    char password[LOGIN_SECRET_MAX];
    int r;

    if (given == NULL || given[0] == '\0') {
        fprintf(stderr, "Missing username: give username=NAME\n");
        return CLI_EXIT_LOCAL;
    }
    if (strlen(given) >= size || strchr(given, '/') != NULL) {
        fprintf(stderr, "Invalid username\n");
        return CLI_EXIT_LOCAL;
    }
    (void)snprintf(username, size, "%s", given);
    (void)json_object_del(body, "username");
    if (json_object_get(body, "password") != NULL)
        return CLI_EXIT_OK;
    if (cli_prompt_secret("Password (will be hidden): ", password,
                          sizeof(password)) < 0) {
        fprintf(stderr, "Error reading the password from the terminal\n");
        return CLI_EXIT_LOCAL;
    }
    r = cli_json_set_str(body, "password", password);
    kh_wipe(password, sizeof(password));
    return r < 0 ? cli_build_failed(r) : CLI_EXIT_OK;
}

/* Any other method: POST auth/MOUNT/login[/USERNAME] with the K=V data. */
static int login_method(const struct cli_ctx *ctx, const char *method,
                        const char *mount, size_t argc, char **argv,
                        json_t **ret_resp)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    char username[512] = "";
    char path[CLI_URL_BYTES_MAX];
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    json_t *body = NULL;
    int r = CLI_EXIT_LOCAL;

    if (cli_args_build(argc, argv, stdin, &body, errmsg, sizeof(errmsg)) < 0) {
        fprintf(stderr, "Error parsing configuration: %s\n", errmsg);
        return CLI_EXIT_LOCAL;
    }
    if (method_takes_username(method)) {
        r = login_username(body, username, sizeof(username));
        if (r != CLI_EXIT_OK)
            goto out;
    }
    (void)snprintf(path, sizeof(path), "auth/%s/login%s%s", mount,
                   username[0] != '\0' ? "/" : "", username);
    (void)cli_api_call_json(ctx, "POST", path, body, &res);
    if (res.outcome != CLI_OUTCOME_SECRET) {
        r = cli_api_fail(&res, "authenticating");
        goto out;
    }
    if (!json_is_object(json_object_get(res.json, "auth"))) {
        fprintf(stderr, "Error authenticating: no auth block in the "
                        "response\n");
        r = CLI_EXIT_REMOTE;
        goto out;
    }
    *ret_resp = json_incref(res.json);
    r = CLI_EXIT_OK;
out:
    cli_result_free(&res);
    json_decref(body);
    return r;
}

/* Store (unless told not to) and print the result the way Vault does. */
static int login_finish(const struct cli_ctx *ctx, const json_t *resp)
{
    const char *token =
        cli_json_str(json_object_get(resp, "auth"), "client_token");
    bool token_only = cli_opt_on(ctx, "token-only");
    bool no_store = cli_opt_on(ctx, "no-store") || token_only;

    if (token[0] == '\0') {
        fprintf(stderr, "Error authenticating: the server returned no "
                        "token\n");
        return CLI_EXIT_REMOTE;
    }
    if (token_only)
        return cli_output_field(ctx, resp, "token");
    if (!no_store && token_store(token) < 0)
        return CLI_EXIT_LOCAL;
    if (no_store)
        fprintf(stderr, "The token was not stored in the token helper. Set "
                        "the KEYHOLD_TOKEN\nenvironment variable or pass the "
                        "token below with each request.\n\n");
    if (ctx->field != NULL)
        return cli_output_field(ctx, resp, ctx->field);
    if (ctx->format == CLI_FORMAT_TABLE && !no_store)
        printf("Success! You are now authenticated. The token information "
               "displayed below\nis already stored in the token helper. You "
               "do NOT need to run \"keyhold\nlogin\" again. Future requests "
               "will automatically use this token.\n\n");
    else if (ctx->format == CLI_FORMAT_TABLE)
        printf("Success! You are now authenticated.\n\n");
    return cli_output_secret(ctx, resp);
}

static int login_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    const char *method = cli_opt_get(ctx, "method");
    const char *mount = cli_opt_get(ctx, "path");
    json_t *resp = NULL;
    int r;

    if (method == NULL)
        method = "token";
    if (mount == NULL)
        mount = method;
    if (strcmp(method, "token") == 0)
        r = login_token(ctx, argc, argv, &resp);
    else
        r = login_method(ctx, method, mount, argc, argv, &resp);
    if (r == CLI_EXIT_OK)
        r = login_finish(ctx, resp);
    json_decref(resp);
    return r;
}

static const char *const login_options[] = {"method", "path", "no-store",
                                            "token-only", NULL};

const struct cli_command cli_cmd_login = {
    .name = "login",
    .run = login_run,
    .synopsis = "Authenticate locally",
    .usage =
        "Usage: keyhold login [options] [AUTH K=V...]\n"
        "\n"
        "  Authenticates with the server and stores the token in the token\n"
        "  helper file (KEYHOLD_TOKEN_FILE, else ~/.vault-token), so later\n"
        "  commands use it.\n"
        "\n"
        "  With a token (prompted for, without echo, when not given):\n"
        "\n"
        "      $ keyhold login s.3jnbMAKl1i4YS3QoKdbHzGXq\n"
        "\n"
        "  With userpass (the password is prompted for when missing):\n"
        "\n"
        "      $ keyhold login -method=userpass username=alice\n"
        "\n"
        "  With AppRole:\n"
        "\n"
        "      $ keyhold login -method=approle role_id=ID secret_id=SECRET\n"
        "\n"
        "Command Options:\n"
        "\n"
        "  -method=<string>   Auth method type (default \"token\").\n"
        "  -path=<string>     Mount path of the method (default: its type).\n"
        "  -no-store          Do not store the token.\n"
        "  -token-only        Print only the token (implies -no-store).\n",
    .options = login_options,
};
