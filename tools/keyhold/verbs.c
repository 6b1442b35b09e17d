/*
 * verbs.c - helpers shared by the verb files: argument counts, section
 * headers, request-body builders and the mount listings of `secrets list`
 * and `auth list`.
 *
 * Owns no state. Must never print a secret: these helpers only print
 * headers, mount tables and errors.
 */
#include "verbs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common/err.h"
#include "jwalk.h"
#include "output.h"
#include "render.h"
#include "table.h"

int cli_args_between(size_t min, size_t max, size_t got)
{
    if (got < min)
        return cli_usage_error(min, got);
    if (got > max)
        return cli_usage_error(max, got);
    return CLI_EXIT_OK;
}

void cli_print_header(const char *title, size_t width)
{
    size_t title_len = strlen(title) + 2;
    size_t signs = width > title_len ? width - title_len : 4;
    size_t i;

    if (signs % 2 != 0)
        signs++;
    for (i = 0; i < signs / 2; i++)
        putchar('=');
    printf(" %s ", title);
    for (i = 0; i < signs / 2; i++)
        putchar('=');
    putchar('\n');
}

void cli_print_map_header(const char *title, const json_t *object)
{
    const char *key;
    const json_t *value;
    size_t max_key = 0;

    json_object_foreach((json_t *)object, key, value)
    {
        if (strlen(key) > max_key)
            max_key = strlen(key);
    }
    /* 4 for the column glue, 5 for "Value" (Vault's getHeaderForMap). */
    cli_print_header(title, max_key + 4 + 5);
}

int cli_json_set_str(json_t *object, const char *key, const char *value)
{
    json_t *string = json_string(value);

    if (string == NULL)
        return KH_EINVAL;
    return json_object_set_new(object, key, string) == 0 ? 0 : KH_ENOMEM;
}

int cli_json_set_int(json_t *object, const char *key, long long value)
{
    return json_object_set_new(object, key, json_integer(value)) == 0
               ? 0
               : KH_ENOMEM;
}

int cli_json_set_bool(json_t *object, const char *key, bool value)
{
    return json_object_set_new(object, key, json_boolean(value)) == 0
               ? 0
               : KH_ENOMEM;
}

int cli_json_set_opt(json_t *object, const char *key, const struct cli_ctx *ctx,
                     const char *name)
{
    const char *value = cli_opt_get(ctx, name);

    if (value == NULL)
        return 0;
    return cli_json_set_str(object, key, value);
}

int cli_build_failed(int r)
{
    fprintf(stderr, "Error building the request: %s\n",
            r == KH_EINVAL ? "a value is not valid UTF-8 text"
                           : kh_strerror(r));
    return CLI_EXIT_LOCAL;
}

int cli_mount_path(const char *path, char *out, size_t out_size)
{
    size_t len;
    int r;

    KH_ASSERT(out_size > 1);
    r = cli_path_sanitize(path, out, out_size - 1);
    if (r < 0)
        return r;
    len = strlen(out);
    out[len] = '/';
    out[len + 1] = '\0';
    return 0;
}
