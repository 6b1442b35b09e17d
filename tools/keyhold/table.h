/*
 * table.h - Vault's table layout (github.com/ryanuber/columnize as the
 * vault CLI configures it).
 *
 * The first row is the header; an underline of dashes as long as each
 * header cell follows it. Columns are left-aligned, padded to the widest
 * cell (in UTF-8 characters) and joined by four spaces; the last column is
 * not padded; an empty cell prints as "n/a". Cells are copied in and wiped
 * on free, since values may be secrets.
 */
#ifndef KH_TOOLS_TABLE_H
#define KH_TOOLS_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/assert.h"

#define CLI_TABLE_COLUMNS_MAX 16

struct cli_table_row
{
    char *cell[CLI_TABLE_COLUMNS_MAX];
    size_t len[CLI_TABLE_COLUMNS_MAX];
};

struct cli_table
{
    struct cli_table_row *rows; /* owned */
    size_t count;
    size_t cap;
    size_t columns;  /* 1 .. CLI_TABLE_COLUMNS_MAX */
    bool headerless; /* no header row, no underline (Vault's columnOutput
                        without a header, e.g. key-status) */
};

void cli_table_init(struct cli_table *table, size_t columns);
/* Append a row; c1 is ignored by a one-column table. Returns 0 or
 * KH_ENOMEM. */
int cli_table_add(struct cli_table *table, const char *c0,
                  const char *c1) KH_MUST_CHECK;
/* Append a row of table->columns cells (NULL cells print as n/a).
 * Returns 0 or KH_ENOMEM. */
int cli_table_add_row(struct cli_table *table,
                      const char *const *cells) KH_MUST_CHECK;
/* Append key and Go's %v of value. Returns 0, KH_ENOMEM, KH_ETOOBIG or
 * KH_ELIMIT. */
int cli_table_add_value(struct cli_table *table, const char *key,
                        const json_t *value) KH_MUST_CHECK;
/* Print; a table with only its header prints nothing (a headerless table
 * with no rows neither). */
void cli_table_print(const struct cli_table *table, FILE *out);
/* Wipe and free every cell; accepts an initialised table. */
void cli_table_free(struct cli_table *table);

#endif
