/*
 * request_handle.h - the request path in one function (house style).
 */
#ifndef KH_CORE_REQUEST_HANDLE_H
#define KH_CORE_REQUEST_HANDLE_H

#include "core/core.h"
#include "core/request.h"

/* Run every gate in order and fill resp: a response, or the mapped error.
 * Never fails: every outcome is a response. The token gate sets
 * req->token_entry for the handler (and clears it before returning). */
void request_handle(struct kh_core *core, struct kh_request *req,
                    struct kh_response *resp);

#endif
