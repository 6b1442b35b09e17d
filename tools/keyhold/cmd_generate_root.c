/*
 * cmd_generate_root.c - `keyhold operator generate-root`: minting a new
 * root token from a quorum of unseal keys (vault-api.md 3.9).
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
        r = cli_table_add(&t, "Started",
                          json_is_true(json_object_get(st, "started"))
                              ? "true"
                              : "false");
    if (r == 0)
        r = cli_table_add(&t, "Progress", progress);
    if (r == 0)
        r = cli_table_add(&t, "Complete",
                          json_is_true(json_object_get(st, "complete"))
                              ? "true"
                              : "false");
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
