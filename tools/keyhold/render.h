/*
 * render.h - turning JSON values into the text keyhold prints.
 *
 * Three renderings, as the vault CLI has them: Go's %v (table cells and
 * -field in table format), YAML (-format=yaml) and indented JSON
 * (-format=json). All append to a caller-owned struct cli_buf and return 0,
 * KH_ENOMEM, KH_ETOOBIG (buffer cap) or KH_ELIMIT (nesting deeper than
 * CLI_JSON_DEPTH_MAX); none recurses over the value.
 */
#ifndef KH_TOOLS_RENDER_H
#define KH_TOOLS_RENDER_H

#include <jansson.h>

#include "buf.h"
#include "common/assert.h"

/* Go's fmt %v of the value as Vault's api package decodes it: strings raw,
 * numbers as written, true/false, null as "<nil>", objects as
 * "map[k1:v1 k2:v2]" with keys sorted, arrays as "[a b]". */
int cli_render_govalue(const json_t *value, struct cli_buf *out) KH_MUST_CHECK;

/* A scalar: numbers, booleans and null as JSON text (reals in the shortest
 * form that reads back to the same double), strings raw. KH_EINVAL for a
 * container. */
int cli_render_scalar(const json_t *value, struct cli_buf *out) KH_MUST_CHECK;

/* A YAML document in block style (maps sorted, sequences under a key not
 * indented, like Go's yaml.v2), ending in a newline. Strings that would
 * not read back as the same string are double-quoted. */
int cli_render_yaml(const json_t *value, struct cli_buf *out) KH_MUST_CHECK;

/* JSON indented by two spaces, members in the server's order, ending in a
 * newline. */
int cli_render_json(const json_t *value, struct cli_buf *out) KH_MUST_CHECK;

#endif
