/*
 * args.h - the data arguments of `keyhold write`, as Vault's kv-builder
 * reads them.
 *
 *   k=v      the string v
 *   k=@FILE  the contents of FILE as a string (k=\@x is the literal "@x")
 *   k=-      all of standard input as a string
 *   -        a JSON object read from standard input, merged in
 *   @FILE    a JSON object read from FILE, merged in
 *
 * A key given more than once becomes a list of its values, in order.
 * Standard input can be consumed once. Every file or stdin read is capped
 * at CLI_INPUT_BYTES_MAX and wiped after use.
 */
#ifndef KH_TOOLS_ARGS_H
#define KH_TOOLS_ARGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "common/assert.h"

/* Build the object from argv[0..argc). On success *ret_object is a new
 * reference the caller releases. Returns 0, or KH_EINVAL (malformed
 * argument, bad JSON, stdin used twice, invalid UTF-8), KH_EIO (unreadable
 * file), KH_ETOOBIG or KH_ENOMEM, with errmsg set. */
int cli_args_build(size_t argc, char **argv, FILE *in, json_t **ret_object,
                   char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

#endif
