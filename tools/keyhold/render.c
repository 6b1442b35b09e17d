/*
 * render.c - JSON scalars and whole documents as JSON text, and Go's %v.
 *
 * Owns the number formatting shared by every renderer and the %v
 * rendering used by table cells. Must never recurse over a value: nested
 * values go through cli_jwalk().
 */
#include "render.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "jwalk.h"

/* Shortest "%.*g" that parses back to exactly d (what Go prints). */
static int render_real(double d, struct cli_buf *out)
{
    char text[40];
    int precision;

    for (precision = 1; precision <= 17; precision++) {
        (void)snprintf(text, sizeof(text), "%.*g", precision, d);
        if (strtod(text, NULL) == d)
            break;
    }
    return cli_buf_puts(out, text);
}

int cli_render_scalar(const json_t *value, struct cli_buf *out)
{
    KH_ASSERT(value != NULL);
    KH_ASSERT(out != NULL);
    switch (json_typeof(value)) {
    case JSON_INTEGER:
        return cli_buf_printf(out, "%" JSON_INTEGER_FORMAT,
                              json_integer_value(value));
    case JSON_REAL:
        return render_real(json_real_value(value), out);
    case JSON_TRUE:
        return cli_buf_puts(out, "true");
    case JSON_FALSE:
        return cli_buf_puts(out, "false");
    case JSON_NULL:
        return cli_buf_puts(out, "null");
    case JSON_STRING:
        return cli_buf_append(out, json_string_value(value),
                              json_string_length(value));
    case JSON_OBJECT:
    case JSON_ARRAY:
        break;
    }
    return KH_EINVAL;
}

static int govalue_value(void *ctx, const json_t *parent, const char *key,
                         size_t index, const json_t *value, size_t depth)
{
    struct cli_buf *out = ctx;
    int r = 0;

    if (parent != NULL && index > 0)
        r = cli_buf_puts(out, " ");
    if (r == 0 && key != NULL)
        r = cli_buf_printf(out, "%s:", key);
    if (r < 0)
        return r;
    if (json_is_object(value))
        return cli_buf_puts(out, "map[");
    if (json_is_array(value))
        return cli_buf_puts(out, "[");
    if (json_is_null(value))
        return cli_buf_puts(out, "<nil>");
    return cli_render_scalar(value, out);
}

static int govalue_leave(void *ctx, const json_t *container, size_t depth)
{
    return cli_buf_puts(ctx, "]");
}

static const struct cli_jwalk_ops govalue_ops = {
    .value = govalue_value,
    .leave = govalue_leave,
};

int cli_render_govalue(const json_t *value, struct cli_buf *out)
{
    KH_ASSERT(value != NULL);
    KH_ASSERT(out != NULL);
    return cli_jwalk(value, &govalue_ops, out);
}

/* jansson's dump recurses, but only as deep as its parser let the
 * document be, and the walk below refuses anything deeper than our own
 * limit first. */
static int depth_check_value(void *ctx, const json_t *parent, const char *key,
                             size_t index, const json_t *value, size_t depth)
{
    return 0;
}

static int depth_check_leave(void *ctx, const json_t *container, size_t depth)
{
    return 0;
}

static const struct cli_jwalk_ops depth_check_ops = {
    .value = depth_check_value,
    .leave = depth_check_leave,
};

static int json_dump_cb(const char *buffer, size_t size, void *data)
{
    return cli_buf_append(data, buffer, size) < 0 ? -1 : 0;
}

int cli_render_json(const json_t *value, struct cli_buf *out)
{
    int r;

    KH_ASSERT(value != NULL);
    KH_ASSERT(out != NULL);
    r = cli_jwalk(value, &depth_check_ops, NULL);
    if (r < 0)
        return r;
    if (json_dump_callback(value, json_dump_cb, out,
                           JSON_INDENT(2) | JSON_ENCODE_ANY |
                               JSON_PRESERVE_ORDER) != 0)
        return KH_ENOMEM;
    return cli_buf_puts(out, "\n");
}
