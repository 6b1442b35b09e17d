/*
 * flags.c - the command line of keyhold: flags versus positionals.
 *
 * Owns the flag table and Go-compatible flag syntax (`-name=value`,
 * `-name value`, `--name`, booleans as `-name` or `-name=false`), as Vault's
 * CLI parses it. Unlike Go's flag package, flags are also accepted after
 * positionals (keyhold read PATH -format=json), until a `--`. Must never
 * interpret positionals: the verbs do that.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

enum flag_id {
    FLAG_ADDRESS,
    FLAG_FORMAT,
    FLAG_FIELD,
    FLAG_CA_CERT,
    FLAG_SKIP_VERIFY,
    FLAG_FORCE,
    FLAG_HELP,
    FLAG_VERSION,
};

struct flag_row
{
    const char *name;
    enum flag_id id;
    bool takes_value;
};

static const struct flag_row flag_table[] = {
    {"address", FLAG_ADDRESS, true},
    {"format", FLAG_FORMAT, true},
    {"field", FLAG_FIELD, true},
    {"ca-cert", FLAG_CA_CERT, true},
    {"tls-skip-verify", FLAG_SKIP_VERIFY, false},
    {"force", FLAG_FORCE, false},
    {"f", FLAG_FORCE, false},
    {"h", FLAG_HELP, false},
    {"help", FLAG_HELP, false},
    {"v", FLAG_VERSION, false},
    {"version", FLAG_VERSION, false},
};

int cli_parse_bool(const char *text, bool *ret_value)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    size_t i;

    KH_ASSERT(text != NULL);
    KH_ASSERT(ret_value != NULL);
    for (i = 0; i < KH_ARRAY_LEN(yes); i++) {
        if (strcmp(text, yes[i]) == 0) {
            *ret_value = true;
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *ret_value = false;
            return 0;
        }
    }
    return KH_EINVAL;
}

static const struct flag_row *flag_lookup(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(flag_table); i++) {
        if (strlen(flag_table[i].name) == len &&
            memcmp(flag_table[i].name, name, len) == 0)
            return &flag_table[i];
    }
    return NULL;
}

static void flag_store(struct cli_flags *flags, enum flag_id id,
                       const char *value, bool on)
{
    switch (id) {
    case FLAG_ADDRESS:
        flags->address = value;
        break;
    case FLAG_FORMAT:
        flags->format = value;
        break;
    case FLAG_FIELD:
        flags->field = value;
        break;
    case FLAG_CA_CERT:
        flags->ca_cert = value;
        break;
    case FLAG_SKIP_VERIFY:
        flags->skip_verify = on ? 1 : 0;
        break;
    case FLAG_FORCE:
        flags->force = on;
        break;
    case FLAG_HELP:
        flags->help = on;
        break;
    case FLAG_VERSION:
        flags->version = on;
        break;
    }
}

/* Consume the flag at argv[*index] (and its value, if separate). */
static int flag_take(struct cli_flags *flags, int argc, char **argv, int *index,
                     char *errmsg, size_t errmsg_size)
{
    const char *name = argv[*index] + 1;
    const char *value;
    const struct flag_row *row;
    size_t name_len;
    bool on = true;

    if (name[0] == '-')
        name++;
    value = strchr(name, '=');
    name_len = value != NULL ? (size_t)(value - name) : strlen(name);
    if (value != NULL)
        value++;
    row = flag_lookup(name, name_len);
    if (row == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "flag provided but not defined: -%.*s", (int)name_len,
                         name);
    if (row->takes_value && value == NULL) {
        if (*index + 1 >= argc)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "flag needs an argument: -%s", row->name);
        *index += 1;
        value = argv[*index];
    }
    if (!row->takes_value && value != NULL && cli_parse_bool(value, &on) < 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid boolean value \"%s\" for -%s: parse error",
                         value, row->name);
    flag_store(flags, row->id, value, on);
    return 0;
}

int cli_flags_parse(int argc, char **argv, struct cli_flags *ret_flags,
                    char *errmsg, size_t errmsg_size)
{
    struct cli_flags flags = {.skip_verify = -1};
    bool only_args = false;
    int i;
    int r = KH_EINTERNAL;

    KH_ASSERT(argc >= 0);
    KH_ASSERT(ret_flags != NULL);
    if (argc > CLI_ARGS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "too many arguments (at most %d)", CLI_ARGS_MAX);
    flags.args = calloc((size_t)argc + 1, sizeof(*flags.args));
    if (flags.args == NULL)
        return KH_ENOMEM;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];

        if (!only_args && strcmp(arg, "--") == 0) {
            only_args = true;
            continue;
        }
        if (only_args || arg[0] != '-' || arg[1] == '\0') {
            flags.args[flags.arg_count++] = argv[i];
            continue;
        }
        r = flag_take(&flags, argc, argv, &i, errmsg, errmsg_size);
        if (r < 0)
            goto out;
    }
    *ret_flags = flags;
    flags.args = NULL;
    r = 0; /* success */
out:
    free(flags.args);
    return r;
}

void cli_flags_free(struct cli_flags *flags)
{
    if (flags == NULL)
        return;
    free(flags->args);
    flags->args = NULL;
    flags->arg_count = 0;
}

int cli_usage_error(size_t expected, size_t got)
{
    fprintf(stderr, "%s arguments (expected %zu, got %zu)\n",
            got < expected ? "Not enough" : "Too many", expected, got);
    return CLI_EXIT_LOCAL;
}
