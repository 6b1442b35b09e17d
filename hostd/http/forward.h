/*
 * forward.h - the standby's request forwarding client (Vault API: high
 * availability, "request forwarding"): a raft standby sends every API
 * request it receives, unchanged, to the active node's api_addr and hands
 * the answer back to its own client.
 *
 * What is forwarded: the method as is (LIST and other custom methods
 * included), the decoded path re-escaped, the decoded query arguments
 * re-encoded, the headers X-Vault-Token, Authorization and Content-Type
 * when present, X-Vault-Forwarded-For and X-Forwarded-For carrying the
 * client's address, and the body. What comes back: the status, the body
 * and its Content-Type. Nothing else travels either way.
 *
 * Each calling thread keeps one libcurl handle (created on first use,
 * released when the thread exits or calls http_forward_thread_release()),
 * so consecutive forwards from one thread reuse one keep-alive connection.
 * libcurl must have been initialised (curl_global_init) before the first
 * call from any thread. Redirects are never followed, proxy variables are
 * ignored, and an https active node is verified (ca_file, else the system
 * store). The token and the body are never logged; header text built here
 * is wiped before it is freed.
 */
#ifndef KH_HTTP_FORWARD_H
#define KH_HTTP_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "config/limits.h"
#include "http/request_parse.h"

/* The answer body cap: a 64 MiB raft snapshot plus its framing fits. */
#define KH_FORWARD_RESPONSE_BYTES_MAX (80u * 1024u * 1024u)
/* The whole exchange, connect included; a connect alone gets less, so a
 * black-holed active node does not hold a worker for the full budget. */
#define KH_FORWARD_TIMEOUT_MS         65000L
#define KH_FORWARD_CONNECT_TIMEOUT_MS 5000L
/* active_api_addr, scheme included. */
#define KH_FORWARD_ADDR_BYTES_MAX 1024u
/* The request target built for the active node (escaping at most triples
 * each byte of what the client sent). */
#define KH_FORWARD_URL_BYTES_MAX                                               \
    (KH_FORWARD_ADDR_BYTES_MAX + 3u * KH_HTTP_URL_BYTES_MAX)
#define KH_FORWARD_METHOD_BYTES_MAX       32u
#define KH_FORWARD_CONTENT_TYPE_BYTES_MAX 128u

struct http_forward_result
{
    long status;   /* the active node's HTTP status */
    uint8_t *body; /* malloc'ed, NUL-terminated after body_len
                      bytes; NULL when empty */
    size_t body_len;
    char content_type[KH_FORWARD_CONTENT_TYPE_BYTES_MAX]; /* "" when none */
};

/* Send raw to active_api_addr ("http://host:port" or "https://host:port",
 * an optional trailing '/' ignored) and collect the answer into *ret
 * (written only on success; the caller frees it with
 * http_forward_result_free()). ca_file (may be NULL) verifies an https
 * active node. Bounded by KH_FORWARD_RESPONSE_BYTES_MAX and
 * KH_FORWARD_TIMEOUT_MS. Any status the active node answers, 4xx and 5xx
 * included, is a success here.
 *
 * Errors, with errmsg naming the active node's address:
 * KH_EUNAVAIL when it cannot be reached (refused, timed out, TLS failure,
 * connection dropped) or active_api_addr is not an http(s) address;
 * KH_ETOOBIG when the answer body or its Content-Type is over the limits,
 * or the request target would be over KH_FORWARD_URL_BYTES_MAX;
 * KH_EMETHOD for a method that is not an HTTP token; KH_EINVAL for a path
 * not starting with '/' or a header value with control characters;
 * KH_ENOMEM. */
int http_forward(const struct http_raw_request *raw,
                 const char *active_api_addr, const char *ca_file,
                 struct http_forward_result *ret, char *errmsg,
                 size_t errmsg_size) KH_MUST_CHECK;

/* Wipe and free result->body and zero *result. Accepts NULL. */
void http_forward_result_free(struct http_forward_result *result);

/* Release the calling thread's handle (and so its kept-alive
 * connections) now instead of at thread exit. Safe when it has none. */
void http_forward_thread_release(void);

/* Tests only: replace KH_FORWARD_RESPONSE_BYTES_MAX (0 restores it). */
void http_forward_set_limit_for_tests(size_t bytes_max);

/* Tests only: replace KH_FORWARD_TIMEOUT_MS (0 restores it). */
void http_forward_set_timeout_for_tests(long timeout_ms);

#endif
