/*
 * http.h - the keyhold client's one way to talk to the server (libcurl).
 *
 * Contract: every request goes to <address>/v1/<path> with the path
 * percent-encoded (like Go's URL.EscapedPath), carries X-Vault-Request and,
 * when configured, X-Vault-Token; follows up to CLI_REDIRECTS_MAX redirects
 * keeping method and body (a standby's 307); refuses responses larger than
 * CLI_RESPONSE_BYTES_MAX; gives up after CLI_TIMEOUT_S seconds. TLS peers
 * are verified unless ctx->skip_verify. curl_global_init() must have run
 * (main.c does it once).
 */
#ifndef KH_TOOLS_HTTP_H
#define KH_TOOLS_HTTP_H

#include <stddef.h>

#include "cli.h"
#include "common/assert.h"

struct cli_http_response
{
    long status;     /* the final HTTP status */
    char *body;      /* NUL-terminated, owned, may hold secrets */
    size_t body_len; /* bytes in body */
    char *url;       /* the request URL (no credentials in it), owned */
};

/* Send method (GET, POST, PUT, PATCH, DELETE or LIST) to the API path
 * (without /v1/; sanitized by the caller) with an optional query string
 * (already encoded, without '?'; NULL for none) and an optional JSON body
 * (a PATCH body goes as application/merge-patch+json). Returns 0 and
 * fills *ret_resp whenever the server answered, whatever the status; the
 * caller frees it with cli_http_response_free(). Otherwise returns
 * KH_EUNAVAIL (no answer: refused, timeout, TLS failure), KH_ETOOBIG
 * (response over the cap), KH_EINVAL (URL too long) or KH_ENOMEM, with
 * errmsg in Go's url.Error style: `Get "URL": reason`. */
int cli_http_request(const struct cli_ctx *ctx, const char *method,
                     const char *path, const char *query, const char *body,
                     size_t body_len, struct cli_http_response *ret_resp,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Wipe the body and free everything; accepts a zeroed response. */
void cli_http_response_free(struct cli_http_response *resp);

#endif
