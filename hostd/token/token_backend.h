/*
 * token_backend.h - the built-in `token` auth method mounted at
 * auth/token/ (Vault API: token auth): create, create-orphan, create/:role,
 * lookup, lookup-self, lookup-accessor, renew, renew-self,
 * renew-accessor, revoke, revoke-self, revoke-accessor, revoke-orphan,
 * accessors, roles, roles/:name and tidy.
 *
 * The backend keeps no per-mount state: it works on the core's token
 * store (br->core->tokens), which lives outside any mount's barrier view
 * (sys/token/...). sudo(): revoke-orphan and accessors. No path is
 * unauthenticated. Where Vault asks for root or sudo inside a handler
 * (id, no_parent, period and policies outside the caller's own on
 * create), Keyhold requires a root token for now.
 */
#ifndef KH_TOKEN_TOKEN_BACKEND_H
#define KH_TOKEN_TOKEN_BACKEND_H

#include "engines/backend.h"

/* type "token", is_auth true; listed in engines/registry.c. */
extern const struct backend_ops token_backend_ops;

/* The handlers of auth/token/create, create-orphan and create/:role
 * (token_create_request.c). role is NULL except for create/:role. */
enum token_create_mode {
    TOKEN_CREATE_PLAIN = 1,
    TOKEN_CREATE_ORPHAN,
    TOKEN_CREATE_ROLE,
};

int token_handle_create(const struct backend_request *br,
                        enum token_create_mode mode, const char *role,
                        struct kh_response *resp, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;

#endif
