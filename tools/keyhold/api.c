/*
 * api.c - classifying answers and printing API errors the vault way.
 *
 * Owns the parsed response of a call. Must never print the token (it is
 * only ever in the request headers, never in a URL or body shown here) and
 * never decide an exit code: the verbs do.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

static bool json_nonempty(const json_t *value)
{
    if (json_is_object(value))
        return json_object_size(value) > 0;
    if (json_is_array(value))
        return json_array_size(value) > 0;
    return false;
}

/* Vault's api.Logical: a 404 is "not found" unless it still carries a
 * secret (data or warnings). */
static void result_classify(struct cli_result *res)
{
    json_error_t error;
    long status = res->resp.status;

    if (res->resp.body_len > 0)
        res->json = json_loadb(res->resp.body, res->resp.body_len, 0, &error);
    if (status == 404) {
        const json_t *data = json_object_get(res->json, "data");
        const json_t *warnings = json_object_get(res->json, "warnings");

        res->outcome = json_nonempty(data) || json_nonempty(warnings)
                           ? CLI_OUTCOME_SECRET
                           : CLI_OUTCOME_NOT_FOUND;
        return;
    }
    if (status >= 400) {
        res->outcome = CLI_OUTCOME_API_ERROR;
        return;
    }
    if (res->resp.body_len == 0) {
        res->outcome = CLI_OUTCOME_EMPTY;
        return;
    }
    if (res->json == NULL) {
        res->outcome = CLI_OUTCOME_FAILED;
        kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_EINVAL,
                  "invalid JSON in response from %s: %s (line %d)",
                  res->resp.url, error.text, error.line);
        return;
    }
    res->outcome = CLI_OUTCOME_SECRET;
}

int cli_api_call(const struct cli_ctx *ctx, const char *method,
                 const char *path, const char *body, size_t body_len,
                 struct cli_result *res)
{
    return cli_api_call_query(ctx, method, path, NULL, body, body_len, res);
}

int cli_api_call_query(const struct cli_ctx *ctx, const char *method,
                       const char *path, const char *query, const char *body,
                       size_t body_len, struct cli_result *res)
{
    int r;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(res != NULL);
    memset(res, 0, sizeof(*res));
    res->method = method;
    r = cli_http_request(ctx, method, path, query, body, body_len, &res->resp,
                         res->errmsg, sizeof(res->errmsg));
    if (r < 0) {
        res->outcome = CLI_OUTCOME_FAILED;
        return r;
    }
    result_classify(res);
    return res->outcome == CLI_OUTCOME_FAILED ? KH_EINVAL : 0;
}

int cli_api_call_json(const struct cli_ctx *ctx, const char *method,
                      const char *path, const json_t *body,
                      struct cli_result *res)
{
    char *text = NULL;
    int r;

    if (body == NULL)
        return cli_api_call(ctx, method, path, NULL, 0, res);
    text = json_dumps(body, JSON_COMPACT);
    if (text == NULL) {
        memset(res, 0, sizeof(*res));
        res->method = method;
        res->outcome = CLI_OUTCOME_FAILED;
        return kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_ENOMEM,
                         "could not encode the request: out of memory");
    }
    r = cli_api_call(ctx, method, path, text, strlen(text), res);
    cli_json_free(text);
    return r;
}

bool cli_result_ok(const struct cli_result *res)
{
    return res->outcome == CLI_OUTCOME_SECRET ||
           res->outcome == CLI_OUTCOME_EMPTY;
}

const json_t *cli_result_data(const struct cli_result *res)
{
    const json_t *data;

    if (res->outcome != CLI_OUTCOME_SECRET || !json_is_object(res->json))
        return NULL;
    if (!cli_output_is_envelope(res->json))
        return res->json;
    data = json_object_get(res->json, "data");
    return json_is_object(data) ? data : NULL;
}

const char *cli_json_str(const json_t *object, const char *key)
{
    const char *s = json_string_value(json_object_get(object, key));

    return s != NULL ? s : "";
}

int cli_api_fail(const struct cli_result *res, const char *fmt, ...)
{
    char doing[CLI_URL_BYTES_MAX + 64];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(doing, sizeof(doing), fmt, ap);
    va_end(ap);
    cli_api_print_error(res, doing);
    return CLI_EXIT_REMOTE;
}

/* The errors array as Vault's ResponseError prints it, or the raw body
 * when the body is not {"errors": [strings]}. */
static void print_errors(const struct cli_result *res)
{
    const json_t *errors = json_object_get(res->json, "errors");
    const json_t *item;
    size_t i;

    if (!json_is_array(errors)) {
        fprintf(stderr, "Raw Message:\n\n%s\n", res->resp.body);
        return;
    }
    fprintf(stderr, "Errors:\n\n");
    json_array_foreach(errors, i, item)
    {
        fprintf(stderr, "* %s\n",
                json_is_string(item) ? json_string_value(item) : "");
    }
}

void cli_api_print_error(const struct cli_result *res, const char *doing)
{
    KH_ASSERT(res != NULL);
    KH_ASSERT(doing != NULL);
    if (res->outcome == CLI_OUTCOME_FAILED) {
        fprintf(stderr, "Error %s: %s\n", doing, res->errmsg);
        return;
    }
    fprintf(stderr,
            "Error %s: Error making API request.\n\nURL: %s %s\n"
            "Code: %ld. ",
            doing, res->method, res->resp.url, res->resp.status);
    print_errors(res);
}

void cli_result_free(struct cli_result *res)
{
    if (res == NULL)
        return;
    json_decref(res->json);
    res->json = NULL;
    cli_http_response_free(&res->resp);
}
