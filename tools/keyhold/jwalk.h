/*
 * jwalk.h - iterative, depth-bounded traversal of a JSON document.
 *
 * The server's responses are untrusted input, so nothing in the client
 * recurses over them (the house style: no recursion over untrusted input): the
 * renderers (YAML, Go-style %v values) are callbacks driven by this walker,
 * which keeps an explicit stack of at most CLI_JSON_DEPTH_MAX containers.
 * Object members are visited in byte order of their keys, as Go's fmt and
 * yaml packages print maps.
 */
#ifndef KH_TOOLS_JWALK_H
#define KH_TOOLS_JWALK_H

#include <jansson.h>
#include <stddef.h>

#include "common/assert.h"

struct cli_jwalk_ops
{
    /* Called for every value in document order: the root (parent NULL,
     * depth 0), each array item (key NULL, index set) and each object
     * member (key set, index its rank in key order). depth counts the
     * containers around the value. A container's members follow this
     * call. A negative return stops the walk with that code. */
    int (*value)(void *ctx, const json_t *parent, const char *key, size_t index,
                 const json_t *value, size_t depth);
    /* Called after the last member of a container, empty ones included;
     * depth is the container's own. */
    int (*leave)(void *ctx, const json_t *container, size_t depth);
};

/* Walk root. Returns 0, the first negative callback result, KH_ELIMIT when
 * containers nest deeper than CLI_JSON_DEPTH_MAX, or KH_ENOMEM. */
int cli_jwalk(const json_t *root, const struct cli_jwalk_ops *ops,
              void *ctx) KH_MUST_CHECK;

/* The keys of object in byte order, in a new array of borrowed pointers
 * (valid while object is unchanged); the caller frees the array with
 * free(). An empty object gives *ret_keys NULL and count 0. Returns 0 or
 * KH_ENOMEM. */
int cli_json_sorted_keys(const json_t *object, const char ***ret_keys,
                         size_t *ret_count) KH_MUST_CHECK;

/* True for a non-empty object or array. */
int cli_json_is_open_container(const json_t *value);

#endif
