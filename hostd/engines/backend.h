/*
 * backend.h - the interface every secrets engine and auth method
 * implements (house style): one const struct backend_ops per type, in
 * its own folder (engines/kv, auth/approle, ...), listed in
 * engines/registry.c and chosen when a mount is enabled.
 *
 * A backend sees one request at a time through struct backend_request: the
 * path relative to its mount, the request fields, the caller's token
 * entry, and its mount's barrier view - the only storage it may touch.
 * Backends never decide permissions: the request gate checks the ACL
 * before calling handle(), using unauthenticated(), existence() and
 * sudo() to learn what the gate needs.
 */
#ifndef KH_ENGINES_BACKEND_H
#define KH_ENGINES_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "barrier/view.h"
#include "core/request.h"

struct kh_core;
struct mount_entry;
struct token_entry;

struct backend_request
{
    struct kh_core *core;
    const struct mount_entry *mount;
    const struct kh_request *req;
    const char *subpath;            /* path below the mount, no leading / */
    const struct barrier_view *view;
    const struct token_entry *token; /* NULL on unauthenticated paths */
    void *state;                    /* what init() returned for the mount */
};

struct backend_ops
{
    const char *type;               /* "kv", "approle", "userpass", ... */
    bool is_auth;                   /* mounted under auth/ */

    /* Per-mount state when the mount is enabled or loaded at unseal
     * (NULL allowed for both). options: the mount's options object. */
    int (*init)(const struct mount_entry *mount, void **ret_state);
    void (*cleanup)(void *state);

    /* True when subpath/op needs no token (login paths). NULL: none. */
    bool (*unauthenticated)(const char *subpath, enum kh_operation op);

    /* True when subpath/op additionally needs sudo. NULL: none. */
    bool (*sudo)(const char *subpath, enum kh_operation op);

    /* For POST/PUT: does the target exist? Decides create vs update for
     * the ACL. NULL: no existence check (always update). */
    int (*existence)(const struct backend_request *br, bool *ret_exists);

    /* Answer the request: fill resp and return 0, or return a KH_E* code
     * with errmsg for the client. KH_ENOTFOUND with an empty errmsg is
     * Vault's 404 {"errors":[]}; a backend path that does not exist
     * returns KH_ENOTFOUND with "no handler for route" (use
     * backend_no_route()). */
    int (*handle)(const struct backend_request *br, struct kh_response *resp,
                  char *errmsg, size_t errmsg_size);

    /* Leased secrets (dynamic credentials). A handler that issues one sets
     * resp->lease (core/request.h); the lease manager calls these later,
     * from its own thread, with br->req NULL and br->token NULL.
     * revoke: make the secret unusable; an error is retried (with
     * backoff, forever) until it succeeds. renew: extend the secret to
     * ttl_s from now. NULL: the backend issues no leases. */
    int (*revoke)(const struct backend_request *br, const json_t *internal,
                  char *errmsg, size_t errmsg_size);
    int (*renew)(const struct backend_request *br, const json_t *internal,
                 uint64_t ttl_s, char *errmsg, size_t errmsg_size);

    /* The mount is being disabled (sys/mounts DELETE), never called when
     * it is merely unloaded at seal: destroy what the backend keeps
     * outside its view (HSM objects). Called once, after the mount left
     * the table (no request runs on it) and before its view is cleared
     * (still readable), with br->req, br->token and br->subpath NULL and
     * br->core NULL when the mount table does not know it. Best effort:
     * the backend logs each object it leaves behind, by name, for the
     * operator; on an error errmsg summarises and the caller logs it and
     * disables the mount anyway (as Vault does). NULL: nothing outside
     * the view. */
    int (*disable)(const struct backend_request *br, char *errmsg,
                   size_t errmsg_size);
};

/* The registry: the ops for a mount type ("kv-v2" resolves to "kv"), or
 * NULL if unknown. */
const struct backend_ops *backend_lookup(const char *type, bool is_auth);

/* Add a backend type at start-up, before any core opens and before other
 * threads run (tests register their own engines this way). The table is
 * never changed afterwards. KH_ELIMIT when full. */
int backend_registry_add(const struct backend_ops *ops);

/* Fill errmsg with Vault's "no handler for route" text for br's path and
 * return KH_ENOTFOUND. */
int backend_no_route(const struct backend_request *br, char *errmsg,
                     size_t errmsg_size);

#endif
