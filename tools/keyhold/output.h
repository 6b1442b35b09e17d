/*
 * output.h - printing responses the way the vault CLI does.
 *
 * A response is either Vault's envelope ({"request_id", "lease_id", ...,
 * "data", "auth", "wrap_info", "warnings"}) or a raw object (sys/health,
 * sys/seal-status, ...), whose top-level keys then play the part of data.
 * json prints the response as received (indented), yaml renders it, table
 * prints Vault's Key/Value rows. These functions own their outcome: they
 * print any error themselves and return an enum cli_exit value.
 */
#ifndef KH_TOOLS_OUTPUT_H
#define KH_TOOLS_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "cli.h"
#include "table.h"

/* True when resp has Vault's envelope (request_id, data, auth or
 * wrap_info at the top level). */
bool cli_output_is_envelope(const json_t *resp);

/* Print a response in ctx->format (warnings of a table go to stderr). */
int cli_output_secret(const struct cli_ctx *ctx, const json_t *resp);

/* Print only one field (-field=NAME): from data, then the auth, wrap and
 * lease fields Vault offers (token, token_accessor, wrapping_token,
 * lease_id, ...). The value is printed raw, followed by a newline only
 * when stdout is a terminal, as Vault's PrintRaw does. A missing field is
 * `Field "NAME" not present in secret` and CLI_EXIT_LOCAL. */
int cli_output_field(const struct cli_ctx *ctx, const json_t *resp,
                     const char *field);

/* cli_output_field() when ctx->field is set, else cli_output_secret(). */
int cli_output_response(const struct cli_ctx *ctx, const json_t *resp);

/* Print a bare value (a list's keys) as json or yaml. */
int cli_output_value(const struct cli_ctx *ctx, const json_t *value);

/* Print a finished table to stdout; returns CLI_EXIT_OK. */
int cli_output_table(const struct cli_table *table);

/* Report a rendering failure ("Error formatting output: ...") and return
 * CLI_EXIT_LOCAL. */
int cli_output_failed(int r);

#endif
