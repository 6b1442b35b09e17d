/*
 * config.c - where keyhold's settings come from.
 *
 * Owns the order of precedence (flag, then KEYHOLD_*, then VAULT_*, then
 * the default; for the token: KEYHOLD_TOKEN, VAULT_TOKEN, then the token
 * file: KEYHOLD_TOKEN_FILE or ~/.vault-token)
 * and the one heap copy of the token. Must never print the token, not even
 * in an error: messages name the source, never the value.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common/err.h"
#include "common/secret.h"

/* KEYHOLD_<name> when set and not empty, else VAULT_<name>, else NULL. */
static const char *env_lookup(const char *keyhold_name, const char *vault_name)
{
    const char *value = getenv(keyhold_name);

    if (value != NULL && value[0] != '\0')
        return value;
    value = getenv(vault_name);
    if (value != NULL && value[0] != '\0')
        return value;
    return NULL;
}

static int format_parse(const char *text, enum cli_format *ret_format)
{
    if (strcmp(text, "table") == 0)
        *ret_format = CLI_FORMAT_TABLE;
    else if (strcmp(text, "json") == 0)
        *ret_format = CLI_FORMAT_JSON;
    else if (strcmp(text, "yaml") == 0 || strcmp(text, "yml") == 0)
        *ret_format = CLI_FORMAT_YAML;
    else
        return KH_EINVAL;
    return 0;
}

/* A token goes into an HTTP header: refuse anything that could split it. */
static bool token_is_valid(const char *token, size_t len)
{
    size_t i;

    if (len == 0 || len > CLI_TOKEN_BYTES_MAX)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

int cli_token_file_path(char *out, size_t out_size)
{
    const char *file = getenv("KEYHOLD_TOKEN_FILE");
    const char *home = getenv("HOME");
    int n;

    KH_ASSERT(out != NULL && out_size > 0);
    if (file != NULL && file[0] != '\0')
        n = snprintf(out, out_size, "%s", file);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, out_size, "%s/.vault-token", home);
    else
        return KH_EINVAL;
    return n < 0 || (size_t)n >= out_size ? KH_ETOOBIG : 0;
}

/* Copy the token from the environment or the token file (whitespace
 * around it trimmed, as Vault's token helper does). A missing file is not
 * an error: requests go out without a token. */
static int token_load(char **ret_token, size_t *ret_len, char *errmsg,
                      size_t errmsg_size)
{
    const char *source = "KEYHOLD_TOKEN";
    const char *env = env_lookup("KEYHOLD_TOKEN", "VAULT_TOKEN");
    char path[4096];
    char *data = NULL;
    size_t len = 0;
    size_t total = 0;
    size_t start = 0;
    int r = KH_EINTERNAL;

    if (env != NULL) {
        if (getenv("KEYHOLD_TOKEN") == NULL || getenv("KEYHOLD_TOKEN")[0] == 0)
            source = "VAULT_TOKEN";
        data = strdup(env);
        if (data == NULL)
            return KH_ENOMEM;
        len = strlen(data);
    } else {
        if (cli_token_file_path(path, sizeof(path)) < 0)
            return 0;
        source = path;
        r = cli_read_file(path, CLI_TOKEN_BYTES_MAX + 64, &data, &len);
        if (r == KH_EIO && errno == ENOENT)
            return 0;
        if (r < 0) {
            kh_errmsg(errmsg, errmsg_size, r, "error reading token from %s",
                      path);
            goto out;
        }
    }
    total = len;
    while (len > 0 && strchr(" \t\r\n", data[len - 1]) != NULL)
        data[--len] = '\0';
    while (start < len && strchr(" \t\r\n", data[start]) != NULL)
        start++;
    if (len == start) {
        r = 0; /* an empty token means no token */
        goto out;
    }
    memmove(data, data + start, len - start + 1);
    kh_wipe(data + (len - start + 1), start);
    len -= start;
    if (!token_is_valid(data, len)) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "the token from %s is not a valid token (at most %d "
                      "printable characters)",
                      source, CLI_TOKEN_BYTES_MAX);
        goto out;
    }
    *ret_token = data;
    *ret_len = len;
    data = NULL;
    r = 0; /* success */
out:
    if (data != NULL)
        kh_free_secret(data, total + 1);
    return r;
}

static int address_check(const char *address, char *errmsg, size_t errmsg_size)
{
    size_t len = strlen(address);
    size_t i;

    if (len > CLI_ADDRESS_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "address is longer than %d bytes",
                         CLI_ADDRESS_BYTES_MAX);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)address[i];
        if (c < 0x21 || c > 0x7e)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "address contains invalid characters");
    }
    if (strncmp(address, "http://", 7) != 0 &&
        strncmp(address, "https://", 8) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "address \"%s\" must start with http:// or "
                         "https://",
                         address);
    return 0;
}

int cli_ctx_resolve(const struct cli_flags *flags, struct cli_ctx *ret_ctx,
                    char *errmsg, size_t errmsg_size)
{
    struct cli_ctx ctx = {0};
    const char *format;
    const char *skip;
    int r = KH_EINTERNAL;

    KH_ASSERT(flags != NULL);
    KH_ASSERT(ret_ctx != NULL);
    ctx.address = flags->address;
    if (ctx.address == NULL)
        ctx.address = env_lookup("KEYHOLD_ADDR", "VAULT_ADDR");
    if (ctx.address == NULL)
        ctx.address = CLI_DEFAULT_ADDRESS;
    r = address_check(ctx.address, errmsg, errmsg_size);
    if (r < 0)
        goto out;
    format = flags->format;
    if (format == NULL)
        format = env_lookup("KEYHOLD_FORMAT", "VAULT_FORMAT");
    if (format != NULL && format_parse(format, &ctx.format) < 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "Invalid output format: %s", format);
        goto out;
    }
    ctx.ca_cert = flags->ca_cert;
    if (ctx.ca_cert == NULL)
        ctx.ca_cert = env_lookup("KEYHOLD_CACERT", "VAULT_CACERT");
    skip = env_lookup("KEYHOLD_SKIP_VERIFY", "VAULT_SKIP_VERIFY");
    if (flags->skip_verify >= 0)
        ctx.skip_verify = flags->skip_verify == 1;
    else if (skip != NULL && cli_parse_bool(skip, &ctx.skip_verify) < 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "could not parse KEYHOLD_SKIP_VERIFY/VAULT_SKIP_VERIFY");
        goto out;
    }
    ctx.field = flags->field;
    ctx.force = flags->force;
    ctx.opts = flags->opts;
    ctx.opt_count = flags->opt_count;
    r = token_load(&ctx.token, &ctx.token_len, errmsg, errmsg_size);
    if (r < 0)
        goto out;
    *ret_ctx = ctx;
    r = 0; /* success */
out:
    return r;
}

void cli_ctx_clear(struct cli_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->token != NULL)
        kh_free_secret(ctx->token, ctx->token_len + 1);
    ctx->token = NULL;
    ctx->token_len = 0;
}

int cli_path_sanitize(const char *path, char *out, size_t out_size)
{
    size_t start = 0;
    size_t end;

    KH_ASSERT(path != NULL);
    KH_ASSERT(out != NULL);
    end = strlen(path);
    while (start < end && strchr(" \t\r\n/", path[start]) != NULL)
        start++;
    while (end > start && strchr(" \t\r\n/", path[end - 1]) != NULL)
        end--;
    if (end - start >= out_size)
        return KH_ETOOBIG;
    memcpy(out, path + start, end - start);
    out[end - start] = '\0';
    return 0;
}
