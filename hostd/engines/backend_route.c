/*
 * backend_route.c - matching a backend's sub-path and operation against its
 * declarative route table (engines/backend_route.h), and Vault's 404 and
 * 405 answers for what the table does not serve.
 *
 * Owns only the matching: it reads static tables and the request's
 * sub-path, allocates nothing, and never decides permissions or calls a
 * handler. Matching is one pass over the pattern with no recursion or
 * backtracking, so a path of any length costs at most table rows x path
 * length.
 */
#include "engines/backend_route.h"

#include <string.h>

#include "common/err.h"

#define BACKEND_UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

/* Row i: the embedded struct backend_route of the backend's i-th row. */
static const struct backend_route *
table_row(const struct backend_route_table *table, size_t i)
{
    const void *row;

    KH_ASSERT(i < table->count);
    row = (const char *)table->first + i * table->stride;
    return row;
}

static bool capture_add(struct backend_route_match *m, const char *ptr,
                        size_t len)
{
    KH_ASSERT(m->capture_count < BACKEND_ROUTE_CAPTURES_MAX);
    m->capture[m->capture_count].ptr = ptr;
    m->capture[m->capture_count].len = len;
    m->capture_count++;
    return true;
}

/* Match path[0..len) against pattern (syntax in backend_route.h); the
 * captures go to m. */
static bool pattern_matches(const char *pattern, const char *path, size_t len,
                            struct backend_route_match *m)
{
    size_t i = 0;

    m->capture_count = 0;
    for (; *pattern != '\0'; pattern++) {
        if (pattern[0] == '*' && pattern[1] == '*') {
            KH_ASSERT(pattern[2] == '\0');
            return capture_add(m, path + i, len - i);
        }
        if (*pattern == '*') {
            size_t n = 0;
            while (i + n < len && path[i + n] != '/')
                n++;
            if (n == 0)
                return false;
            capture_add(m, path + i, n);
            i += n;
        } else if (*pattern == '/' && pattern[1] == '\0' && i == len) {
            return true; /* a final '/' is optional */
        } else if (i >= len || path[i++] != *pattern) {
            return false;
        }
    }
    return i == len;
}

/* The length of subpath that the rows see for ops. */
static size_t path_length(const struct backend_route_table *table,
                          const char *subpath, unsigned ops)
{
    size_t len = strlen(subpath);

    if (table->list_slash && ops == BACKEND_OP(KH_OP_LIST) && len > 0 &&
        subpath[len - 1] == '/')
        len--;
    return len;
}

/* The first row matching subpath and serving one of ops; *ret_known: some
 * row matches the path. */
static bool table_search(const struct backend_route_table *table,
                         const char *subpath, unsigned ops,
                         struct backend_route_match *ret_match, bool *ret_known)
{
    size_t len = path_length(table, subpath, ops);
    struct backend_route_match m = {0};
    size_t i;

    *ret_known = false;
    for (i = 0; i < table->count; i++) {
        const struct backend_route *row = table_row(table, i);
        if (!pattern_matches(row->pattern, subpath, len, &m))
            continue;
        *ret_known = true;
        if ((row->ops & ops) == 0)
            continue;
        m.index = i;
        m.route = row;
        *ret_match = m;
        return true;
    }
    return false;
}

int backend_route_match(const struct backend_route_table *table,
                        const char *subpath, enum kh_operation op,
                        struct backend_route_match *ret_match)
{
    bool known = false;

    KH_ASSERT(table != NULL);
    KH_ASSERT(subpath != NULL);
    if (table_search(table, subpath, BACKEND_OP(op), ret_match, &known))
        return 0;
    return known ? KH_EMETHOD : KH_ENOTFOUND;
}

int backend_route_find(const struct backend_route_table *table,
                       const struct backend_request *br,
                       struct backend_route_match *ret_match, char *errmsg,
                       size_t errmsg_size)
{
    int r;

    KH_ASSERT(br != NULL && br->req != NULL);
    r = backend_route_match(table, br->subpath, br->req->op, ret_match);
    if (r == KH_EMETHOD)
        return backend_route_unsupported(errmsg, errmsg_size);
    if (r == KH_ENOTFOUND)
        return backend_no_route(br, errmsg, errmsg_size);
    return r;
}

bool backend_route_flagged(const struct backend_route_table *table,
                           const char *subpath, unsigned ops, unsigned flags)
{
    struct backend_route_match m = {0};
    size_t len;
    size_t i;

    KH_ASSERT(table != NULL);
    KH_ASSERT(subpath != NULL);
    len = path_length(table, subpath, ops);
    for (i = 0; i < table->count; i++) {
        const struct backend_route *row = table_row(table, i);
        if ((row->ops & ops) != 0 && (row->flags & flags) == flags &&
            pattern_matches(row->pattern, subpath, len, &m))
            return true;
    }
    return false;
}

int backend_route_unsupported(char *errmsg, size_t errmsg_size)
{
    return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD, "%s",
                     BACKEND_UNSUPPORTED);
}
