/*
 * cmd_generate_root.c - `keyhold operator generate-root`: minting a new
 * root token from a quorum of unseal keys (Vault API: sys/generate-root).
 *
 * Owns the generate-root modes, which are Vault's flags: -generate-otp,
 * -init [-otp=X], -status, -cancel, -decode=ENCODED -otp=OTP, and the
 * default mode that provides one key share (-nonce=N, else the running
 * attempt's nonce). Decoding is local: token = base64 (no padding) decode
 * of ENCODED, XOR the OTP's bytes. Must never echo a prompted key and never
 * print the decoded token anywhere but standard output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cli.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "output.h"
#include "table.h"
#include "verbs.h"

#define GR_KEY_MAX   1024
#define GR_TOKEN_MAX 1024

static int gr_row_int(struct cli_table *t, const char *key, json_int_t v)
{
    char text[32];

    (void)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, v);
    return cli_table_add(t, key, text);
}

/* Vault's printStatus for generate-root. */
static int gr_status_table(const json_t *st)
{
    struct cli_table t;
    char progress[64];
    const char *encoded = cli_json_str(st, "encoded_token");
    int r;

    (void)snprintf(progress, sizeof(progress),
                   "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
                   json_integer_value(json_object_get(st, "progress")),
                   json_integer_value(json_object_get(st, "required")));
    cli_table_init(&t, 2);
    t.headerless = true;
    r = cli_table_add(&t, "Nonce", cli_json_str(st, "nonce"));
    if (r == 0)
        r = cli_table_add(
            &t, "Started",
            json_is_true(json_object_get(st, "started")) ? "true" : "false");
    if (r == 0)
        r = cli_table_add(&t, "Progress", progress);
    if (r == 0)
        r = cli_table_add(
            &t, "Complete",
            json_is_true(json_object_get(st, "complete")) ? "true" : "false");
    if (r == 0 && encoded[0] != '\0')
        r = cli_table_add(&t, "Encoded Token", encoded);
    else if (r == 0 && cli_json_str(st, "encoded_root_token")[0] != '\0')
        r = cli_table_add(&t, "Encoded Root Token",
                          cli_json_str(st, "encoded_root_token"));
    if (r == 0 && cli_json_str(st, "otp")[0] != '\0') {
        fprintf(stderr, "A One-Time-Password has been generated for you and "
                        "is shown in the OTP field.\nYou will need this value "
                        "to decode the resulting root token, so keep it "
                        "safe.\n");
        r = cli_table_add(&t, "OTP", cli_json_str(st, "otp"));
    }
    if (r == 0 && json_integer_value(json_object_get(st, "otp_length")) != 0)
        r = gr_row_int(&t, "OTP Length",
                       json_integer_value(json_object_get(st, "otp_length")));
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&t);
    cli_table_free(&t);
    return r;
}

/* One call whose answer is a status object; print it. */
static int gr_call_print(const struct cli_ctx *ctx, const char *method,
                         const char *path, const json_t *body,
                         const char *doing)
{
    struct cli_result res;
    int r;

    (void)cli_api_call_json(ctx, method, path, body, &res);
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json))
        r = cli_api_fail(&res, "%s", doing);
    else if (ctx->format != CLI_FORMAT_TABLE)
        r = cli_output_value(ctx, res.json);
    else
        r = gr_status_table(res.json);
    cli_result_free(&res);
    return r;
}

/* The running attempt's status (for its nonce and otp_length). */
static int gr_status_get(const struct cli_ctx *ctx, json_t **ret_status)
{
    struct cli_result res;
    int r = CLI_EXIT_OK;

    (void)cli_api_call(ctx, "GET", "sys/generate-root/attempt", NULL, 0, &res);
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(res.json))
        r = cli_api_fail(&res, "getting root generation status");
    else
        *ret_status = json_incref(res.json);
    cli_result_free(&res);
    return r;
}

/* -generate-otp: a base62 OTP as long as the server's otp_length. */
static int gr_generate_otp(const struct cli_ctx *ctx)
{
    char otp[GR_TOKEN_MAX];
    json_t *status = NULL;
    json_int_t len;
    int r = gr_status_get(ctx, &status);

    if (r != CLI_EXIT_OK)
        return r;
    len = json_integer_value(json_object_get(status, "otp_length"));
    json_decref(status);
    if (len <= 0 || len >= (json_int_t)sizeof(otp)) {
        fprintf(stderr,
                "Error generating OTP: the server advertises an OTP "
                "length of %" JSON_INTEGER_FORMAT "\n",
                len);
        return CLI_EXIT_REMOTE;
    }
    if (kh_random_base62(otp, (size_t)len) < 0) {
        fprintf(stderr, "Error generating OTP: no randomness\n");
        return CLI_EXIT_LOCAL;
    }
    printf("%s\n", otp);
    kh_wipe(otp, sizeof(otp));
    return CLI_EXIT_OK;
}

static int gr_init(const struct cli_ctx *ctx)
{
    json_t *body = json_object();
    int r;

    if (body == NULL || cli_json_set_opt(body, "otp", ctx, "otp") < 0) {
        json_decref(body);
        return cli_build_failed(KH_ENOMEM);
    }
    r = gr_call_print(ctx, "PUT", "sys/generate-root/attempt", body,
                      "initializing root generation");
    json_decref(body);
    return r;
}

static int gr_cancel(const struct cli_ctx *ctx)
{
    struct cli_result res;
    int r = CLI_EXIT_OK;

    (void)cli_api_call(ctx, "DELETE", "sys/generate-root/attempt", NULL, 0,
                       &res);
    if (!cli_result_ok(&res))
        r = cli_api_fail(&res, "canceling root token generation");
    else
        printf("Success! Root token generation canceled (if it was "
               "started)\n");
    cli_result_free(&res);
    return r;
}

/* token = base64-decode(encoded) XOR otp, into token (size > otp). */
static int gr_xor_decode(const char *encoded, const char *otp, char *token,
                         size_t size)
{
    uint8_t raw[GR_TOKEN_MAX];
    size_t raw_len = 0;
    size_t i;
    int r = KH_EINVAL;

    if (kh_base64_decode(encoded, strlen(encoded), raw, sizeof(raw), &raw_len) <
        0) {
        fprintf(stderr, "Error decoding root token: the encoded token is not "
                        "base64\n");
        goto out;
    }
    if (raw_len != strlen(otp) || raw_len >= size) {
        fprintf(stderr,
                "Error decoding root token: the OTP is %zu "
                "characters, the encoded token %zu bytes\n",
                strlen(otp), raw_len);
        goto out;
    }
    for (i = 0; i < raw_len; i++)
        token[i] = (char)(raw[i] ^ (uint8_t)otp[i]);
    token[raw_len] = '\0';
    r = 0; /* success */
out:
    kh_wipe(raw, sizeof(raw));
    return r;
}

/* The -decode value, or a line of standard input for "-". */
static int gr_encoded_get(const char *given, char *out, size_t size)
{
    if (strcmp(given, "-") != 0) {
        if (strlen(given) >= size) {
            fprintf(stderr, "The encoded token is too long\n");
            return CLI_EXIT_LOCAL;
        }
        (void)snprintf(out, size, "%s", given);
        return CLI_EXIT_OK;
    }
    if (cli_prompt_secret("", out, size) < 0) {
        fprintf(stderr, "Error reading the encoded token from stdin\n");
        return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

static int gr_decode(const struct cli_ctx *ctx)
{
    char encoded[GR_TOKEN_MAX * 2];
    char token[GR_TOKEN_MAX];
    const char *otp = cli_opt_get(ctx, "otp");
    json_t *out;
    int r;

    if (otp == NULL || otp[0] == '\0') {
        fprintf(stderr, "Missing -otp flag; an OTP is required to decode "
                        "the token\n");
        return CLI_EXIT_LOCAL;
    }
    r = gr_encoded_get(cli_opt_get(ctx, "decode"), encoded, sizeof(encoded));
    if (r != CLI_EXIT_OK)
        return r;
    if (gr_xor_decode(encoded, otp, token, sizeof(token)) < 0)
        return CLI_EXIT_LOCAL;
    if (ctx->format == CLI_FORMAT_TABLE) {
        printf("%s%s", token, isatty(STDOUT_FILENO) ? "\n" : "");
        r = CLI_EXIT_OK;
    } else {
        out = json_pack("{s:s}", "token", token);
        r = out != NULL ? cli_output_value(ctx, out)
                        : cli_output_failed(KH_ENOMEM);
        json_decref(out);
    }
    kh_wipe(token, sizeof(token));
    return r;
}

/* The default mode: provide one key share for the running attempt. */
static int gr_provide(const struct cli_ctx *ctx, size_t argc, char **argv)
{
    char key[GR_KEY_MAX] = "";
    const char *nonce = cli_opt_get(ctx, "nonce");
    json_t *status = NULL;
    json_t *body = json_object();
    int r = cli_args_between(0, 1, argc);

    if (r == CLI_EXIT_OK && body == NULL)
        r = cli_build_failed(KH_ENOMEM);
    if (r == CLI_EXIT_OK && nonce == NULL) {
        r = gr_status_get(ctx, &status);
        nonce = cli_json_str(status, "nonce");
    }
    if (r == CLI_EXIT_OK)
        r = cli_read_key_arg(argc, argv, "Unseal Key (will be hidden): ", key,
                             sizeof(key));
    if (r != CLI_EXIT_OK)
        goto out;
    if (cli_json_set_str(body, "key", key) < 0 ||
        cli_json_set_str(body, "nonce", nonce) < 0) {
        r = cli_build_failed(KH_EINVAL);
        goto out;
    }
    r = gr_call_print(ctx, "PUT", "sys/generate-root/update", body,
                      "providing unseal key");
out:
    json_decref(body);
    json_decref(status);
    kh_wipe(key, sizeof(key));
    return r;
}

static int generate_root_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    bool init = cli_opt_on(ctx, "init");
    bool gen = cli_opt_on(ctx, "generate-otp");
    bool status = cli_opt_on(ctx, "status");
    bool cancel = cli_opt_on(ctx, "cancel");
    bool decode = cli_opt_get(ctx, "decode") != NULL;
    int modes = init + gen + status + cancel + decode;

    if (modes > 1) {
        fprintf(stderr, "Only one of -init, -generate-otp, -decode, -status "
                        "and -cancel may be given\n");
        return CLI_EXIT_LOCAL;
    }
    if (modes == 1 && argc != 0)
        return cli_usage_error(0, argc);
    if (gen)
        return gr_generate_otp(ctx);
    if (init)
        return gr_init(ctx);
    if (cancel)
        return gr_cancel(ctx);
    if (decode)
        return gr_decode(ctx);
    if (status)
        return gr_call_print(ctx, "GET", "sys/generate-root/attempt", NULL,
                             "getting root generation status");
    return gr_provide(ctx, argc, argv);
}

static const char *const generate_root_options[] = {
    "init", "generate-otp", "otp", "nonce", "decode", "status", "cancel", NULL};

const struct cli_command cli_cmd_generate_root = {
    .name = "generate-root",
    .run = generate_root_run,
    .synopsis = "Generate a new root token",
    .usage =
        "Usage: keyhold operator generate-root [options] [KEY]\n"
        "\n"
        "  Generates a new root token from a quorum of unseal keys, "
        "protected\n"
        "  by a one-time password (OTP).\n"
        "\n"
        "      $ keyhold operator generate-root -init    (prints the OTP)\n"
        "      $ keyhold operator generate-root          (once per key "
        "holder)\n"
        "      $ keyhold operator generate-root -decode=ENCODED -otp=OTP\n"
        "\n"
        "Command Options:\n"
        "\n"
        "  -init               Start an attempt (-otp=X to use your own "
        "OTP).\n"
        "  -generate-otp       Print a new OTP of the right length.\n"
        "  -nonce=<string>     The attempt's nonce (default: the running "
        "one's).\n"
        "  -decode=<string>    Decode an encoded token (\"-\": stdin); "
        "needs -otp.\n"
        "  -status             Print the attempt's status.\n"
        "  -cancel             Cancel the attempt.\n",
    .options = generate_root_options,
};
