/*
 * request_parse.h - turn the pieces of an HTTP request into a struct
 * kh_request (Vault API: wire rules): method -> operation, "/v1/" path checks,
 * query and body -> request fields, token headers. Pure functions with no
 * I/O, so the fuzz target drives exactly what the server runs.
 *
 * Errors (with errmsg for the client): KH_ENOTFOUND (not an API path or a
 * non-canonical one), KH_EMETHOD (unknown method), KH_EMEDIATYPE (PATCH
 * without merge-patch), KH_EINVAL (bad JSON, bad list flag, too deep),
 * KH_ETOOBIG (path or body over the limits), KH_ENOMEM.
 */
#ifndef KH_HTTP_REQUEST_PARSE_H
#define KH_HTTP_REQUEST_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "core/request.h"

struct http_query_arg
{
    const char *name;
    const char *value;          /* NULL for "?flag" without '=' */
};

struct http_raw_request
{
    const char *method;
    const char *url;            /* percent-decoded path, no query */
    const struct http_query_arg *query;
    size_t query_count;
    const char *content_type;   /* may be NULL */
    const char *vault_token;    /* X-Vault-Token, may be NULL */
    const char *authorization;  /* Authorization, may be NULL */
    const uint8_t *body;
    size_t body_len;
    size_t body_bytes_max;
    const char *remote_addr;
};

/* Build req (zeroed by the caller) from raw. On error req holds whatever
 * was built; the caller clears it either way. */
int http_request_build(const struct http_raw_request *raw,
                       struct kh_request *req, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
int http_parse_bool(const char *text, bool *ret) KH_MUST_CHECK;

/* True when text nests objects/arrays no deeper than depth_max (strings
 * are skipped correctly). Linear, no recursion. */
bool http_json_depth_ok(const char *text, size_t len, unsigned depth_max);

#endif
