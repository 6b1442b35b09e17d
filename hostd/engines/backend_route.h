/*
 * backend_route.h - the declarative route table a backend uses to map its
 * sub-path and operation to a handler (house style), shared by every
 * engine and auth method so that path matching and Vault's answers for a
 * path outside the table live in one place.
 *
 * A row is {pattern, operations, flags}. Each backend embeds it as the
 * first member of its own row struct next to its typed handler, so no
 * function pointer is ever cast:
 *
 *   struct approle_route {
 *       struct backend_route route;
 *       approle_handler_fn fn;
 *   };
 *   static const struct approle_route rows[] = {
 *       {{"login", BACKEND_OPS_WRITE, BACKEND_ROUTE_UNAUTH}, approle_login},
 *       {{"role", BACKEND_OP(KH_OP_LIST), 0}, approle_role_list},
 *   };
 *   static const struct backend_route_table table =
 *       BACKEND_ROUTE_TABLE(rows, route, true);
 *
 * and the handler of a match is rows[match.index].fn.
 *
 * Patterns (matched byte for byte against the sub-path, no leading '/'):
 *   '*'   one non-empty segment (no '/'), captured;
 *   '**'  at the end only: the rest of the path, possibly empty or with
 *         '/', captured;
 *   a final '/' is optional: "roles/" matches "roles" and "roles/";
 *   every other byte matches itself.
 * The first row whose pattern matches and which serves the operation wins.
 * A table made with list_slash ignores one trailing '/' of a LIST path
 * ("role/" lists like "role"), as Vault's clients send it.
 *
 * This file never decides permissions: the flags only describe rows so
 * that the backend's unauthenticated(), sudo() and existence() answer the
 * request gate from the same table its handle() dispatches on.
 */
#ifndef KH_ENGINES_BACKEND_ROUTE_H
#define KH_ENGINES_BACKEND_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/assert.h"
#include "engines/backend.h"

/* Operation bits of a row. KH_OP_CREATE and KH_OP_UPDATE are both POST/PUT
 * (the existence check picks one), so write rows serve both. */
#define BACKEND_OP(op)    (1u << (unsigned)(op))
#define BACKEND_OPS_WRITE (BACKEND_OP(KH_OP_CREATE) | BACKEND_OP(KH_OP_UPDATE))
#define BACKEND_OPS_ALL   (~0u)

/* Row flags. */
#define BACKEND_ROUTE_UNAUTH    (1u << 0) /* no token needed (login) */
#define BACKEND_ROUTE_SUDO      (1u << 1) /* also needs sudo */
#define BACKEND_ROUTE_EXISTENCE (1u << 2) /* create vs update is checked */

/* Captured segments per match: the most '*' / '**' one pattern may hold. */
#define BACKEND_ROUTE_CAPTURES_MAX 2

struct backend_route
{
    const char *pattern;
    unsigned ops;   /* BACKEND_OP() bits */
    unsigned flags; /* BACKEND_ROUTE_* bits */
};

/* A backend's rows: the embedded struct backend_route of the first row,
 * the row count and the size of one row of the backend's own struct. */
struct backend_route_table
{
    const struct backend_route *first;
    size_t count;
    size_t stride;
    bool list_slash; /* LIST ignores one trailing '/' of the path */
};

/* The table over rows[], whose struct backend_route member is named
 * member (a constant initialiser for a file-scope table). */
#define BACKEND_ROUTE_TABLE(rows, member, list_slash_)                         \
    {                                                                          \
        &(rows)[0].member, KH_ARRAY_LEN(rows), sizeof((rows)[0]), list_slash_  \
    }

struct backend_route_capture
{
    const char *ptr; /* into the sub-path; NUL-terminated only when the
                        capture ends the pattern */
    size_t len;
};

struct backend_route_match
{
    size_t index;                      /* the row's index in its table */
    const struct backend_route *route; /* that row */
    size_t capture_count;
    struct backend_route_capture capture[BACKEND_ROUTE_CAPTURES_MAX];
};

/* Find the row for subpath and op. 0 with *ret_match filled; KH_ENOTFOUND
 * when no row matches the path; KH_EMETHOD when some row matches the path
 * but none serves op. No message: see backend_route_find(). */
int backend_route_match(const struct backend_route_table *table,
                        const char *subpath, enum kh_operation op,
                        struct backend_route_match *ret_match);

/* The same for br's sub-path and operation, with Vault's texts in errmsg:
 * KH_ENOTFOUND "no handler for route" (backend_no_route()) and KH_EMETHOD
 * "unsupported operation" (backend_route_unsupported()). */
int backend_route_find(const struct backend_route_table *table,
                       const struct backend_request *br,
                       struct backend_route_match *ret_match, char *errmsg,
                       size_t errmsg_size);

/* True when a row matching subpath and serving one of ops (BACKEND_OP()
 * bits, or BACKEND_OPS_ALL for a path-wide rule) carries every bit of
 * flags. */
bool backend_route_flagged(const struct backend_route_table *table,
                           const char *subpath, unsigned ops, unsigned flags);

/* Fill errmsg with Vault's 405 text and return KH_EMETHOD. */
int backend_route_unsupported(char *errmsg, size_t errmsg_size);

#endif
