/*
 * api.h - one Vault API call as the vault CLI's api package sees it.
 *
 * Turns an HTTP exchange into an outcome (secret, empty, not found, API
 * error, failure) with the same 404 rules as Vault's api.Logical, and
 * prints errors in Vault's ResponseError format:
 *
 *   Error reading PATH: Error making API request.
 *
 *   URL: GET http://127.0.0.1:8200/v1/PATH
 *   Code: 403. Errors:
 *
 *   * permission denied
 */
#ifndef KH_TOOLS_API_H
#define KH_TOOLS_API_H

#include <jansson.h>

#include "cli.h"
#include "common/assert.h"
#include "common/err.h"
#include "http.h"

enum cli_outcome {
    CLI_OUTCOME_SECRET,    /* status < 400 with a JSON body, or a 404 that
                              still carries data or warnings */
    CLI_OUTCOME_EMPTY,     /* status < 400 and no body (204) */
    CLI_OUTCOME_NOT_FOUND, /* 404 with neither data nor warnings */
    CLI_OUTCOME_API_ERROR, /* any other status >= 400 */
    CLI_OUTCOME_FAILED,    /* no usable answer; errmsg says why */
};

struct cli_result
{
    enum cli_outcome outcome;
    const char *method;
    struct cli_http_response resp; /* valid unless FAILED */
    json_t *json;                  /* the parsed body, or NULL */
    char errmsg[KH_ERRMSG_SIZE];   /* FAILED only */
};

/* Call method on path and classify the answer into *res (always filled,
 * release with cli_result_free). Returns 0 when the server answered, or
 * the negative KH_E* code of a FAILED outcome. */
int cli_api_call(const struct cli_ctx *ctx, const char *method,
                 const char *path, const char *body, size_t body_len,
                 struct cli_result *res);

/* cli_api_call() with a query string (already encoded, without '?'). */
int cli_api_call_query(const struct cli_ctx *ctx, const char *method,
                       const char *path, const char *query, const char *body,
                       size_t body_len, struct cli_result *res);

/* cli_api_call() with body encoded from a JSON value (borrowed; NULL sends
 * no body). The encoded copy is wiped. */
int cli_api_call_json(const struct cli_ctx *ctx, const char *method,
                      const char *path, const json_t *body,
                      struct cli_result *res);

/* True when the server accepted the request (a body or a 204). */
bool cli_result_ok(const struct cli_result *res);

/* The data of a response: the envelope's "data" object, or the whole body
 * of a raw (non-envelope) answer; NULL when there is none. */
const json_t *cli_result_data(const struct cli_result *res);

/* A string member of object, or "" when absent or not a string. */
const char *cli_json_str(const json_t *object, const char *key);

/* Print "Error <doing>: <reason>" (doing formatted from fmt) and return
 * CLI_EXIT_REMOTE. */
int cli_api_fail(const struct cli_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "Error <doing>: <reason>" to stderr for a FAILED, API_ERROR or
 * NOT_FOUND result (the last two in ResponseError format). */
void cli_api_print_error(const struct cli_result *res, const char *doing);

void cli_result_free(struct cli_result *res);

#endif
