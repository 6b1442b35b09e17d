/*
 * flags.c - the command line of keyhold: flags versus positionals.
 *
 * Owns the flag table and Go-compatible flag syntax (`-name=value`,
 * `-name value`, `--name`, booleans as `-name` or `-name=false`), as Vault's
 * CLI parses it. Unlike Go's flag package, flags are also accepted after
 * positionals (keyhold read PATH -format=json), until a `--`. Must never
 * interpret positionals: the verbs do that.
 *
 * Verb options (-mount, -policy, -reset, ...) are accepted only after the
 * verb and are kept in order, as name and value ("true"/"false" for a
 * boolean), in cli_flags.opts; main.c refuses the ones the verb does not
 * declare. After the verb, a name in the verb table wins over a global one
 * (`kv get -version=2` versus `keyhold -version`).
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
    FLAG_VERB, /* a verb option, kept in cli_flags.opts */
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

/* Every verb option of every verb; each verb declares which it takes. */
static const struct flag_row verb_table[] = {
    {"accessor", FLAG_VERB, false},
    {"cancel", FLAG_VERB, false},
    {"cas", FLAG_VERB, true},
    {"cas-required", FLAG_VERB, false},
    {"custom-metadata", FLAG_VERB, true},
    {"decode", FLAG_VERB, true},
    {"default-lease-ttl", FLAG_VERB, true},
    {"delete-version-after", FLAG_VERB, true},
    {"description", FLAG_VERB, true},
    {"detailed", FLAG_VERB, false},
    {"display-name", FLAG_VERB, true},
    {"explicit-max-ttl", FLAG_VERB, true},
    {"generate-otp", FLAG_VERB, false},
    {"id", FLAG_VERB, true},
    {"increment", FLAG_VERB, true},
    {"init", FLAG_VERB, false},
    {"key-shares", FLAG_VERB, true},
    {"key-threshold", FLAG_VERB, true},
    {"leader-ca-cert", FLAG_VERB, true},
    {"max-lease-ttl", FLAG_VERB, true},
    {"max-versions", FLAG_VERB, true},
    {"metadata", FLAG_VERB, true},
    {"method", FLAG_VERB, true},
    {"mode", FLAG_VERB, true},
    {"mount", FLAG_VERB, true},
    {"no-default-policy", FLAG_VERB, false},
    {"no-store", FLAG_VERB, false},
    {"nonce", FLAG_VERB, true},
    {"orphan", FLAG_VERB, false},
    {"otp", FLAG_VERB, true},
    {"path", FLAG_VERB, true},
    {"period", FLAG_VERB, true},
    {"policy", FLAG_VERB, true},
    {"prefix", FLAG_VERB, false},
    {"recovery-shares", FLAG_VERB, true},
    {"recovery-threshold", FLAG_VERB, true},
    {"renewable", FLAG_VERB, false},
    {"reset", FLAG_VERB, false},
    {"retry", FLAG_VERB, false},
    {"role", FLAG_VERB, true},
    {"self", FLAG_VERB, false},
    {"status", FLAG_VERB, false},
    {"token-only", FLAG_VERB, false},
    {"ttl", FLAG_VERB, true},
    {"type", FLAG_VERB, true},
    {"use-limit", FLAG_VERB, true},
    {"version", FLAG_VERB, true},
    {"versions", FLAG_VERB, true},
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

static const struct flag_row *row_find(const struct flag_row *table,
                                       size_t count, const char *name,
                                       size_t len)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (strlen(table[i].name) == len &&
            memcmp(table[i].name, name, len) == 0)
            return &table[i];
    }
    return NULL;
}

/* Verb options first once the verb is known, then global flags. */
static const struct flag_row *flag_lookup(const char *name, size_t len,
                                          bool after_verb, bool *ret_verb)
{
    const struct flag_row *row = NULL;

    if (after_verb)
        row = row_find(verb_table, KH_ARRAY_LEN(verb_table), name, len);
    *ret_verb = row != NULL;
    if (row == NULL)
        row = row_find(flag_table, KH_ARRAY_LEN(flag_table), name, len);
    return row;
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
    case FLAG_VERB:
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
    bool verb = false;

    if (name[0] == '-')
        name++;
    value = strchr(name, '=');
    name_len = value != NULL ? (size_t)(value - name) : strlen(name);
    if (value != NULL)
        value++;
    row = flag_lookup(name, name_len, flags->arg_count > 0, &verb);
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
    if (!verb) {
        flag_store(flags, row->id, value, on);
        return 0;
    }
    flags->opts[flags->opt_count].name = row->name;
    flags->opts[flags->opt_count].value =
        row->takes_value ? value : (on ? "true" : "false");
    flags->opt_count++;
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
    flags.opts = calloc((size_t)argc + 1, sizeof(*flags.opts));
    if (flags.args == NULL || flags.opts == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
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
    flags.opts = NULL;
    r = 0; /* success */
out:
    free(flags.args);
    free(flags.opts);
    return r;
}

void cli_flags_free(struct cli_flags *flags)
{
    if (flags == NULL)
        return;
    free(flags->args);
    free(flags->opts);
    flags->args = NULL;
    flags->arg_count = 0;
    flags->opts = NULL;
    flags->opt_count = 0;
}

int cli_usage_error(size_t expected, size_t got)
{
    fprintf(stderr, "%s arguments (expected %zu, got %zu)\n",
            got < expected ? "Not enough" : "Too many", expected, got);
    return CLI_EXIT_LOCAL;
}
