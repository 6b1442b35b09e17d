/*
 * output.c - responses as tables, JSON, YAML or a single raw field.
 *
 * Owns the mapping from Vault's envelope to the vault CLI's table rows
 * (lease, auth, wrap_info, then data keys sorted) and to -field lookups.
 * Must never print a rendering that failed half-way: everything is
 * rendered into a buffer first and written once.
 */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "jwalk.h"
#include "render.h"

bool cli_output_is_envelope(const json_t *resp)
{
    return json_is_object(resp) &&
           (json_object_get(resp, "request_id") != NULL ||
            json_object_get(resp, "data") != NULL ||
            json_object_get(resp, "auth") != NULL ||
            json_object_get(resp, "wrap_info") != NULL);
}

int cli_output_failed(int r)
{
    if (r == KH_ELIMIT)
        fprintf(stderr,
                "Error formatting output: the response nests deeper than "
                "%d levels\n",
                CLI_JSON_DEPTH_MAX);
    else
        fprintf(stderr, "Error formatting output: %s\n", kh_strerror(r));
    return CLI_EXIT_LOCAL;
}

static int output_write(const struct cli_buf *text)
{
    if (text->len > 0 &&
        fwrite(cli_buf_text(text), 1, text->len, stdout) != text->len)
        return cli_output_failed(KH_EIO);
    return CLI_EXIT_OK;
}

/* Go's time.Duration String() with Vault's humanDuration trimming:
 * 768h, 1h, 1h1m, 1m30s, 30s, 0s. */
static void duration_human(json_int_t seconds, char *out, size_t size)
{
    json_int_t h = seconds / 3600;
    json_int_t m = seconds % 3600 / 60;
    json_int_t s = seconds % 60;

    if (seconds < 0)
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "s", seconds);
    else if (h > 0 && m == 0 && s == 0)
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "h", h);
    else if (h > 0 && s == 0)
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "h%lldm", h, m);
    else if (h > 0)
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "h%lldm%llds", h, m,
                       s);
    else if (m > 0 && s == 0)
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "m", m);
    else if (m > 0)
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "m%llds", m, s);
    else
        (void)snprintf(out, size, "%" JSON_INTEGER_FORMAT "s", s);
}

static const char *string_of(const json_t *object, const char *key)
{
    const char *s = json_string_value(json_object_get(object, key));

    return s != NULL ? s : "";
}

static const char *bool_of(const json_t *object, const char *key)
{
    return json_is_true(json_object_get(object, key)) ? "true" : "false";
}

static int add_duration(struct cli_table *table, const char *key,
                        const json_t *object, const char *member)
{
    char text[64];

    duration_human(json_integer_value(json_object_get(object, member)), text,
                   sizeof(text));
    return cli_table_add(table, key, text);
}

/* lease_id/lease_duration/lease_renewable, or refresh_interval for a
 * lease without an id (KV's TTL hint). */
static int rows_lease(struct cli_table *table, const json_t *resp)
{
    const char *lease_id = string_of(resp, "lease_id");
    int r;

    if (json_integer_value(json_object_get(resp, "lease_duration")) <= 0)
        return 0;
    if (lease_id[0] == '\0')
        return add_duration(table, "refresh_interval", resp, "lease_duration");
    r = cli_table_add(table, "lease_id", lease_id);
    if (r == 0)
        r = add_duration(table, "lease_duration", resp, "lease_duration");
    if (r == 0)
        r = cli_table_add(table, "lease_renewable", bool_of(resp, "renewable"));
    return r;
}

/* Go's %q of a []string: ["a" "b"]. */
static int add_quoted_list(struct cli_table *table, const char *key,
                           const json_t *list)
{
    struct cli_buf text;
    const json_t *item;
    size_t i;
    int r;

    cli_buf_init(&text, CLI_RESPONSE_BYTES_MAX);
    r = cli_buf_puts(&text, "[");
    json_array_foreach(list, i, item)
    {
        char *quoted = json_dumps(item, JSON_ENCODE_ANY);

        if (r == 0 && i > 0)
            r = cli_buf_puts(&text, " ");
        if (r == 0)
            r = quoted != NULL ? cli_buf_puts(&text, quoted) : KH_ENOMEM;
        cli_json_free(quoted);
    }
    if (r == 0)
        r = cli_buf_puts(&text, "]");
    if (r == 0)
        r = cli_table_add(table, key, cli_buf_text(&text));
    cli_buf_free(&text);
    return r;
}

static int rows_token_meta(struct cli_table *table, const json_t *metadata)
{
    const char **keys = NULL;
    size_t count = 0;
    size_t i;
    int r;

    if (!json_is_object(metadata))
        return 0;
    r = cli_json_sorted_keys(metadata, &keys, &count);
    for (i = 0; r == 0 && i < count; i++) {
        char name[256];

        (void)snprintf(name, sizeof(name), "token_meta_%s", keys[i]);
        r = cli_table_add_value(table, name,
                                json_object_get(metadata, keys[i]));
    }
    free(keys);
    return r;
}

static int rows_auth(struct cli_table *table, const json_t *auth)
{
    int r;

    if (!json_is_object(auth))
        return 0;
    r = cli_table_add(table, "token", string_of(auth, "client_token"));
    if (r == 0)
        r = cli_table_add(table, "token_accessor", string_of(auth, "accessor"));
    if (r == 0 &&
        json_integer_value(json_object_get(auth, "lease_duration")) == 0)
        r = cli_table_add(table, "token_duration", "\xe2\x88\x9e"); /* ∞ */
    else if (r == 0)
        r = add_duration(table, "token_duration", auth, "lease_duration");
    if (r == 0)
        r = cli_table_add(table, "token_renewable", bool_of(auth, "renewable"));
    if (r == 0)
        r = add_quoted_list(table, "token_policies",
                            json_object_get(auth, "token_policies"));
    if (r == 0)
        r = add_quoted_list(table, "identity_policies",
                            json_object_get(auth, "identity_policies"));
    if (r == 0)
        r = add_quoted_list(table, "policies",
                            json_object_get(auth, "policies"));
    if (r == 0)
        r = rows_token_meta(table, json_object_get(auth, "metadata"));
    return r;
}

/* Vault prints these names with a colon; kept for script compatibility. */
static int rows_wrap(struct cli_table *table, const json_t *wrap)
{
    int r;

    if (!json_is_object(wrap))
        return 0;
    r = cli_table_add(table, "wrapping_token:", string_of(wrap, "token"));
    if (r == 0)
        r = cli_table_add(table,
                          "wrapping_accessor:", string_of(wrap, "accessor"));
    if (r == 0)
        r = add_duration(table, "wrapping_token_ttl:", wrap, "ttl");
    if (r == 0)
        r = cli_table_add(table, "wrapping_token_creation_time:",
                          string_of(wrap, "creation_time"));
    if (r == 0)
        r = cli_table_add(table, "wrapping_token_creation_path:",
                          string_of(wrap, "creation_path"));
    if (r == 0 && string_of(wrap, "wrapped_accessor")[0] != '\0')
        r = cli_table_add(
            table, "wrapped_accessor:", string_of(wrap, "wrapped_accessor"));
    return r;
}

static int rows_data(struct cli_table *table, const json_t *data)
{
    const char **keys = NULL;
    size_t count = 0;
    size_t i;
    int r;

    if (!json_is_object(data))
        return 0;
    r = cli_json_sorted_keys(data, &keys, &count);
    for (i = 0; r == 0 && i < count; i++)
        r = cli_table_add_value(table, keys[i], json_object_get(data, keys[i]));
    free(keys);
    return r;
}

static void print_warnings(const json_t *resp)
{
    const json_t *warnings = json_object_get(resp, "warnings");
    const json_t *item;
    size_t i;

    if (!json_is_array(warnings) || json_array_size(warnings) == 0)
        return;
    fprintf(stderr, "WARNING! The following warnings were returned from the "
                    "server:\n\n");
    json_array_foreach(warnings, i, item)
    {
        fprintf(stderr, "  * %s\n\n",
                json_is_string(item) ? json_string_value(item) : "");
    }
}

static int output_secret_table(const json_t *resp)
{
    struct cli_table table;
    int r;

    cli_table_init(&table, 2);
    r = cli_table_add(&table, "Key", "Value");
    if (r == 0 && cli_output_is_envelope(resp)) {
        print_warnings(resp);
        r = rows_lease(&table, resp);
        if (r == 0)
            r = rows_auth(&table, json_object_get(resp, "auth"));
        if (r == 0)
            r = rows_wrap(&table, json_object_get(resp, "wrap_info"));
        if (r == 0)
            r = rows_data(&table, json_object_get(resp, "data"));
    } else if (r == 0) {
        r = rows_data(&table, resp);
    }
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&table);
    cli_table_free(&table);
    return r;
}

int cli_output_table(const struct cli_table *table)
{
    cli_table_print(table, stdout);
    return CLI_EXIT_OK;
}

int cli_output_value(const struct cli_ctx *ctx, const json_t *value)
{
    struct cli_buf text;
    int r;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(value != NULL);
    cli_buf_init(&text, CLI_RESPONSE_BYTES_MAX * 2);
    if (ctx->format == CLI_FORMAT_YAML) {
        r = cli_render_yaml(value, &text);
    } else if (ctx->format == CLI_FORMAT_JSON) {
        r = cli_render_json(value, &text);
    } else {
        r = cli_render_govalue(value, &text);
        if (r == 0)
            r = cli_buf_puts(&text, "\n");
    }
    r = r < 0 ? cli_output_failed(r) : output_write(&text);
    cli_buf_free(&text);
    return r;
}

int cli_output_secret(const struct cli_ctx *ctx, const json_t *resp)
{
    KH_ASSERT(ctx != NULL);
    KH_ASSERT(resp != NULL);
    if (ctx->format == CLI_FORMAT_TABLE)
        return output_secret_table(resp);
    return cli_output_value(ctx, resp);
}

int cli_output_response(const struct cli_ctx *ctx, const json_t *resp)
{
    KH_ASSERT(ctx != NULL);
    if (ctx->field != NULL)
        return cli_output_field(ctx, resp, ctx->field);
    return cli_output_secret(ctx, resp);
}

struct field_alias
{
    const char *field;
    const char *section; /* NULL: the envelope's top level */
    const char *member;
};

static const struct field_alias field_aliases[] = {
    {"token", "auth", "client_token"},
    {"token_accessor", "auth", "accessor"},
    {"token_duration", "auth", "lease_duration"},
    {"token_renewable", "auth", "renewable"},
    {"token_policies", "auth", "token_policies"},
    {"identity_policies", "auth", "identity_policies"},
    {"policies", "auth", "policies"},
    {"wrapping_token", "wrap_info", "token"},
    {"wrapping_accessor", "wrap_info", "accessor"},
    {"wrapping_token_ttl", "wrap_info", "ttl"},
    {"wrapping_token_creation_time", "wrap_info", "creation_time"},
    {"wrapping_token_creation_path", "wrap_info", "creation_path"},
    {"wrapped_accessor", "wrap_info", "wrapped_accessor"},
    {"lease_id", NULL, "lease_id"},
    {"lease_duration", NULL, "lease_duration"},
    {"lease_renewable", NULL, "renewable"},
    {"refresh_interval", NULL, "lease_duration"},
};

static const json_t *field_find(const json_t *resp, const char *field)
{
    static const char meta_prefix[] = "token_meta_";
    const json_t *auth = json_object_get(resp, "auth");
    const json_t *value;
    size_t i;

    if (!cli_output_is_envelope(resp))
        return json_object_get(resp, field);
    value = json_object_get(json_object_get(resp, "data"), field);
    if (value != NULL && !json_is_null(value))
        return value;
    for (i = 0; i < KH_ARRAY_LEN(field_aliases); i++) {
        const struct field_alias *a = &field_aliases[i];
        const json_t *section =
            a->section != NULL ? json_object_get(resp, a->section) : resp;

        if (strcmp(field, a->field) == 0 && json_is_object(section))
            return json_object_get(section, a->member);
    }
    if (strncmp(field, meta_prefix, sizeof(meta_prefix) - 1) == 0)
        return json_object_get(json_object_get(auth, "metadata"),
                               field + sizeof(meta_prefix) - 1);
    return NULL;
}

int cli_output_field(const struct cli_ctx *ctx, const json_t *resp,
                     const char *field)
{
    const json_t *value;
    struct cli_buf text;
    int r;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(field != NULL);
    value = resp != NULL ? field_find(resp, field) : NULL;
    if (value == NULL || json_is_null(value)) {
        fprintf(stderr, "Field \"%s\" not present in secret\n", field);
        return CLI_EXIT_LOCAL;
    }
    cli_buf_init(&text, CLI_RESPONSE_BYTES_MAX * 2);
    if (ctx->format == CLI_FORMAT_JSON)
        r = cli_render_json(value, &text);
    else if (ctx->format == CLI_FORMAT_YAML)
        r = cli_render_yaml(value, &text);
    else
        r = cli_render_govalue(value, &text);
    /* Raw: a newline for a terminal, none for a pipe (Vault's PrintRaw). */
    if (r == 0 && text.len > 0 && text.data[text.len - 1] == '\n')
        text.data[--text.len] = '\0';
    if (r == 0 && isatty(STDOUT_FILENO))
        r = cli_buf_puts(&text, "\n");
    r = r < 0 ? cli_output_failed(r) : output_write(&text);
    cli_buf_free(&text);
    return r;
}
