/*
 * response.h - the one place an error becomes an HTTP status and Vault's
 * {"errors":[...]} body (Vault API: errors and statuses), and where a response is
 * rendered to bytes.
 */
#ifndef KH_HTTP_RESPONSE_H
#define KH_HTTP_RESPONSE_H

#include <stddef.h>

#include "core/request.h"

/* HTTP status for a KH_E* code. */
unsigned http_status_for_error(int r);

/* Replace resp with the error response for r: status from the table and
 * {"errors":[errmsg]}; an empty errmsg gives the code's text, except for
 * KH_ENOTFOUND and KH_EMETHOD-without-text, which give "errors":[] as
 * Vault does for a missing item. Never fails: on allocation failure the
 * body is left NULL and the status kept. */
void http_response_error(struct kh_response *resp, int r, const char *errmsg);

/* Render the body: *ret_text is malloc'ed (caller frees) or NULL for an
 * empty body. *ret_status is the final status (200/204 resolved). */
int http_response_render(const struct kh_response *resp, char **ret_text,
                         size_t *ret_len, unsigned *ret_status) KH_MUST_CHECK;

#endif
