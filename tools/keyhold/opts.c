/*
 * opts.c - reading a verb's options (-mount=secret, -policy=a -policy=b,
 * -reset) once flags.c has collected them.
 *
 * Owns the rules Go's flag package applies to a verb's options: the last
 * value of a flag wins, integers parse as strconv.ParseInt(s, 0, 64) does,
 * an option the verb does not define is an error. Must never keep a
 * pointer of its own: values point into argv.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/err.h"

const char *cli_opt_next(const struct cli_ctx *ctx, const char *name,
                         size_t *index)
{
    KH_ASSERT(ctx != NULL && name != NULL && index != NULL);
    while (*index < ctx->opt_count) {
        const struct cli_opt *opt = &ctx->opts[*index];

        *index += 1;
        if (strcmp(opt->name, name) == 0)
            return opt->value;
    }
    return NULL;
}

const char *cli_opt_get(const struct cli_ctx *ctx, const char *name)
{
    const char *value = NULL;
    const char *next;
    size_t index = 0;

    while ((next = cli_opt_next(ctx, name, &index)) != NULL)
        value = next;
    return value;
}

bool cli_opt_on(const struct cli_ctx *ctx, const char *name)
{
    const char *value = cli_opt_get(ctx, name);

    return value != NULL && strcmp(value, "true") == 0;
}

int cli_opt_int(const struct cli_ctx *ctx, const char *name, long long def,
                long long *ret_value)
{
    const char *text = cli_opt_get(ctx, name);
    char *end = NULL;
    long long value;

    KH_ASSERT(ret_value != NULL);
    if (text == NULL) {
        *ret_value = def;
        return 0;
    }
    errno = 0;
    value = strtoll(text, &end, 0);
    if (text[0] == '\0' || *end != '\0' || errno != 0) {
        fprintf(stderr, "invalid value \"%s\" for flag -%s: parse error\n",
                text, name);
        return KH_EINVAL;
    }
    *ret_value = value;
    return 0;
}

int cli_opts_check(const struct cli_ctx *ctx, const struct cli_command *cmd)
{
    size_t i;
    size_t j;

    KH_ASSERT(ctx != NULL && cmd != NULL);
    for (i = 0; i < ctx->opt_count; i++) {
        bool known = false;

        for (j = 0; cmd->options != NULL && cmd->options[j] != NULL; j++) {
            if (strcmp(cmd->options[j], ctx->opts[i].name) == 0)
                known = true;
        }
        if (!known) {
            fprintf(stderr,
                    "flag provided but not defined: -%s\n\nRun \"keyhold "
                    "%s -h\" for usage.\n",
                    ctx->opts[i].name, cmd->name);
            return CLI_EXIT_LOCAL;
        }
    }
    return CLI_EXIT_OK;
}
