/*
 * yaml.c - the -format=yaml rendering.
 *
 * Owns YAML layout and string quoting. Output is block style as Go's
 * yaml.v2 writes it (the vault CLI renders YAML through it): map keys
 * sorted, a sequence under a map key at the key's column, a map inside a
 * sequence item starting on the "- " line, empty containers as {} and [].
 * A string is written plain only when YAML would read it back as that same
 * string; anything else is double-quoted with JSON escapes, which YAML's
 * double-quoted style accepts. Must never recurse over the document.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "common/err.h"
#include "jwalk.h"
#include "render.h"

struct yaml_writer
{
    struct cli_buf *out;
    size_t column[CLI_JSON_DEPTH_MAX + 2]; /* column of members by depth */
    bool inline_pending; /* the cursor sits after "- ": no indent next */
};

/* Words YAML 1.1 resolves to booleans or null. */
static bool yaml_is_reserved(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no",   "on",
                                        "off",  "y",     "n",   "null", "~"};
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(words); i++) {
        if (strcasecmp(s, words[i]) == 0)
            return true;
    }
    return false;
}

/* Plain only for [A-Za-z_/] followed by [A-Za-z0-9_./@+=,-] or inner
 * spaces: no indicator, no number, no timestamp, no comment, no ": ". */
static bool yaml_plain_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || strlen(s) != len || yaml_is_reserved(s))
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          s[0] == '_' || s[0] == '/'))
        return false;
    if (s[len - 1] == ' ')
        return false;
    for (i = 1; i < len; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9'))
            continue;
        if (strchr("_./@+=,- ", c) == NULL)
            return false;
    }
    return true;
}

static int yaml_string(struct cli_buf *out, const char *s, size_t len)
{
    json_t *copy;
    char *quoted;
    int r;

    if (yaml_plain_ok(s, len))
        return cli_buf_append(out, s, len);
    copy = json_stringn_nocheck(s, len);
    if (copy == NULL)
        return KH_ENOMEM;
    quoted = json_dumps(copy, JSON_ENCODE_ANY);
    json_decref(copy);
    if (quoted == NULL)
        return KH_ENOMEM;
    r = cli_buf_puts(out, quoted);
    cli_json_free(quoted);
    return r;
}

/* A value that fits on the current line: scalar or empty container. */
static int yaml_inline(struct cli_buf *out, const json_t *value)
{
    if (json_is_string(value))
        return yaml_string(out, json_string_value(value),
                           json_string_length(value));
    if (json_is_object(value))
        return cli_buf_puts(out, "{}");
    if (json_is_array(value))
        return cli_buf_puts(out, "[]");
    return cli_render_scalar(value, out);
}

static int yaml_indent(struct yaml_writer *w, size_t column)
{
    static const char spaces[] = "                                ";
    int r = 0;

    if (w->inline_pending) {
        w->inline_pending = false;
        return 0;
    }
    while (r == 0 && column > 0) {
        size_t n = column < sizeof(spaces) - 1 ? column : sizeof(spaces) - 1;
        r = cli_buf_append(w->out, spaces, n);
        column -= n;
    }
    return r;
}

static int yaml_value(void *ctx, const json_t *parent, const char *key,
                      size_t index, const json_t *value, size_t depth)
{
    struct yaml_writer *w = ctx;
    bool open = cli_json_is_open_container(value);
    int r;

    KH_ASSERT(depth <= CLI_JSON_DEPTH_MAX);
    if (parent == NULL) {
        w->column[1] = 0;
        if (open)
            return 0;
        r = yaml_inline(w->out, value);
        return r < 0 ? r : cli_buf_puts(w->out, "\n");
    }
    r = yaml_indent(w, w->column[depth]);
    if (r == 0 && key != NULL)
        r = yaml_string(w->out, key, strlen(key));
    if (r == 0)
        r = cli_buf_puts(w->out, key != NULL ? ":" : "-");
    if (r < 0)
        return r;
    if (!open) {
        r = cli_buf_puts(w->out, " ");
        if (r == 0)
            r = yaml_inline(w->out, value);
        return r < 0 ? r : cli_buf_puts(w->out, "\n");
    }
    if (key == NULL) {
        /* The first line of the item's content follows the dash. */
        w->inline_pending = true;
        w->column[depth + 1] = w->column[depth] + 2;
        return cli_buf_puts(w->out, " ");
    }
    w->column[depth + 1] =
        json_is_array(value) ? w->column[depth] : w->column[depth] + 2;
    return cli_buf_puts(w->out, "\n");
}

static int yaml_leave(void *ctx, const json_t *container, size_t depth)
{
    return 0;
}

static const struct cli_jwalk_ops yaml_ops = {
    .value = yaml_value,
    .leave = yaml_leave,
};

int cli_render_yaml(const json_t *value, struct cli_buf *out)
{
    struct yaml_writer w = {.out = out, .inline_pending = false};

    KH_ASSERT(value != NULL);
    KH_ASSERT(out != NULL);
    return cli_jwalk(value, &yaml_ops, &w);
}
