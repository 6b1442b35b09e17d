/*
 * table.c - aligned Key/Value (and single-column) tables, Vault style.
 *
 * Owns the rows and their cells. Must never leave a cell unwiped: a cell
 * may hold a secret value.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "render.h"

#define TABLE_GLUE  "    "
#define TABLE_EMPTY "n/a"

void cli_table_init(struct cli_table *table, size_t columns)
{
    KH_ASSERT(table != NULL);
    KH_ASSERT(columns >= 1 && columns <= CLI_TABLE_COLUMNS_MAX);
    table->rows = NULL;
    table->count = 0;
    table->cap = 0;
    table->columns = columns;
    table->headerless = false;
}

static int table_grow(struct cli_table *table)
{
    struct cli_table_row *rows;
    size_t cap;

    if (table->count < table->cap)
        return 0;
    cap = table->cap == 0 ? 16 : table->cap * 2;
    rows = realloc(table->rows, cap * sizeof(*rows)); /* pointers only */
    if (rows == NULL)
        return KH_ENOMEM;
    table->rows = rows;
    table->cap = cap;
    return 0;
}

static void row_free(struct cli_table_row *row)
{
    size_t i;

    for (i = 0; i < CLI_TABLE_COLUMNS_MAX; i++) {
        kh_free_secret(row->cell[i], row->len[i] + 1);
        row->cell[i] = NULL;
        row->len[i] = 0;
    }
}

/* Take ownership of the cells of row (heap strings, unused ones NULL). */
static int table_push(struct cli_table *table, struct cli_table_row *row)
{
    int r = table_grow(table);

    if (r < 0) {
        row_free(row);
        return r;
    }
    table->rows[table->count++] = *row;
    return 0;
}

int cli_table_add_row(struct cli_table *table, const char *const *cells)
{
    struct cli_table_row row;
    size_t i;

    KH_ASSERT(table != NULL);
    KH_ASSERT(cells != NULL);
    memset(&row, 0, sizeof(row));
    for (i = 0; i < table->columns; i++) {
        const char *cell = cells[i] != NULL ? cells[i] : "";

        row.len[i] = strlen(cell);
        row.cell[i] = strdup(cell);
        if (row.cell[i] == NULL) {
            row.len[i] = 0;
            row_free(&row);
            return KH_ENOMEM;
        }
    }
    return table_push(table, &row);
}

int cli_table_add(struct cli_table *table, const char *c0, const char *c1)
{
    const char *cells[2] = {c0, c1};

    KH_ASSERT(table != NULL);
    KH_ASSERT(c0 != NULL);
    KH_ASSERT(table->columns <= 2);
    KH_ASSERT(table->columns == 1 || c1 != NULL);
    return cli_table_add_row(table, cells);
}

int cli_table_add_value(struct cli_table *table, const char *key,
                        const json_t *value)
{
    struct cli_table_row row;
    struct cli_buf text;
    char *key_copy = NULL;
    char *cell = NULL;
    size_t cell_len = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(table != NULL);
    KH_ASSERT(table->columns == 2);
    cli_buf_init(&text, CLI_RESPONSE_BYTES_MAX);
    r = cli_render_govalue(value, &text);
    if (r == 0)
        r = cli_buf_steal(&text, &cell, &cell_len);
    if (r < 0)
        goto out;
    key_copy = strdup(key);
    if (key_copy == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    memset(&row, 0, sizeof(row));
    row.cell[0] = key_copy;
    row.len[0] = strlen(key_copy);
    row.cell[1] = cell;
    row.len[1] = cell_len;
    r = table_push(table, &row);
    key_copy = NULL;
    cell = NULL;
    if (r < 0)
        goto out;
    r = 0; /* success */
out:
    free(key_copy);
    kh_free_secret(cell, cell_len + 1);
    cli_buf_free(&text);
    return r;
}

/* Display width: UTF-8 characters, not bytes. */
static size_t text_width(const char *s, size_t len)
{
    size_t width = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            width++;
    }
    return width;
}

static void table_cell_print(FILE *out, const char *cell, size_t len,
                             size_t pad_to, bool last)
{
    size_t width;

    if (len == 0) {
        cell = TABLE_EMPTY;
        len = strlen(TABLE_EMPTY);
    }
    (void)fwrite(cell, 1, len, out);
    if (last) {
        (void)fputc('\n', out);
        return;
    }
    for (width = text_width(cell, len); width < pad_to; width++)
        (void)fputc(' ', out);
    (void)fputs(TABLE_GLUE, out);
}

void cli_table_print(const struct cli_table *table, FILE *out)
{
    size_t width[CLI_TABLE_COLUMNS_MAX] = {0};
    size_t row;
    size_t col;

    KH_ASSERT(table != NULL);
    if (table->count < (table->headerless ? 1u : 2u))
        return;
    for (row = 0; row < table->count; row++) {
        for (col = 0; col < table->columns; col++) {
            const struct cli_table_row *r = &table->rows[row];
            size_t w = r->len[col] == 0 ? strlen(TABLE_EMPTY)
                                        : text_width(r->cell[col], r->len[col]);
            if (w > width[col])
                width[col] = w;
        }
    }
    for (row = 0; row < table->count; row++) {
        const struct cli_table_row *r = &table->rows[row];

        for (col = 0; col < table->columns; col++)
            table_cell_print(out, r->cell[col], r->len[col], width[col],
                             col + 1 == table->columns);
        if (row != 0 || table->headerless)
            continue;
        /* The underline: dashes as long as each header cell. */
        for (col = 0; col < table->columns; col++) {
            size_t n = text_width(r->cell[col], r->len[col]);
            size_t i;

            for (i = 0; i < n; i++)
                (void)fputc('-', out);
            if (col + 1 == table->columns) {
                (void)fputc('\n', out);
                break;
            }
            for (; n < width[col]; n++)
                (void)fputc(' ', out);
            (void)fputs(TABLE_GLUE, out);
        }
    }
}

void cli_table_free(struct cli_table *table)
{
    size_t i;

    if (table == NULL)
        return;
    for (i = 0; i < table->count; i++)
        row_free(&table->rows[i]);
    free(table->rows);
    table->rows = NULL;
    table->count = 0;
    table->cap = 0;
}
