/*
 * kv_mount.c - finding the KV mount (and its version) a kv verb's path is
 * under, and the output pieces every kv verb shares.
 *
 * Owns the preflight Vault's CLI makes before any kv operation: GET
 * sys/internal/ui/mounts/PATH, falling back to GET sys/mounts and the
 * longest mount path that prefixes PATH when the server lacks the first.
 * Must never guess: an unknown mount is an error, not "version 1".
 */
#include "kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "common/err.h"
#include "jwalk.h"
#include "output.h"
#include "table.h"
#include "verbs.h"

static int version_of(const json_t *mount)
{
    const char *v = cli_json_str(json_object_get(mount, "options"), "version");

    return strcmp(v, "2") == 0 ? 2 : 1;
}

/* Longest key of mounts that prefixes full + "/". */
static const char *longest_mount(const json_t *mounts, const char *full,
                                 const json_t **ret_mount)
{
    const char *key;
    const char *best = NULL;
    const json_t *value;
    size_t full_len = strlen(full);

    json_object_foreach((json_t *)mounts, key, value)
    {
        size_t len = strlen(key);
        bool exact = len == full_len + 1 && strncmp(full, key, full_len) == 0;
        bool prefix = len > 0 && key[len - 1] == '/' &&
                      (strncmp(full, key, len) == 0 || exact);

        if (prefix && (best == NULL || len > strlen(best))) {
            best = key;
            *ret_mount = value;
        }
    }
    return best;
}

static int resolve_from_mounts(const struct cli_ctx *ctx, const char *full,
                               struct kv_target *t)
{
    struct cli_result res;
    const json_t *mount = NULL;
    const json_t *data;
    const char *best;
    int r = CLI_EXIT_OK;

    (void)cli_api_call(ctx, "GET", "sys/mounts", NULL, 0, &res);
    data = cli_result_data(&res);
    if (data == NULL) {
        r = cli_api_fail(&res, "determining the mount of %s", full);
        goto out;
    }
    best = longest_mount(data, full, &mount);
    if (best == NULL) {
        fprintf(stderr, "Error: no secrets engine is mounted at %s\n", full);
        r = CLI_EXIT_REMOTE;
        goto out;
    }
    (void)snprintf(t->mount, sizeof(t->mount), "%s", best);
    t->version = version_of(mount);
out:
    cli_result_free(&res);
    return r;
}

/* sys/internal/ui/mounts/PATH: 0 when it answered, 1 when the server
 * does not have it (the caller falls back). */
static int resolve_from_ui(const struct cli_ctx *ctx, const char *full,
                           struct kv_target *t)
{
    char path[CLI_URL_BYTES_MAX + 32];
    struct cli_result res;
    const json_t *data;
    int found = 1;

    (void)snprintf(path, sizeof(path), "sys/internal/ui/mounts/%s", full);
    (void)cli_api_call(ctx, "GET", path, NULL, 0, &res);
    data = cli_result_data(&res);
    if (data != NULL && cli_json_str(data, "path")[0] != '\0') {
        (void)snprintf(t->mount, sizeof(t->mount), "%s",
                       cli_json_str(data, "path"));
        t->version = version_of(data);
        found = 0;
    }
    cli_result_free(&res);
    return found;
}

int kv_resolve(const struct cli_ctx *ctx, const char *arg,
               struct kv_target *ret)
{
    const char *mount_opt = cli_opt_get(ctx, "mount");
    char full[CLI_URL_BYTES_MAX];
    char rel[CLI_URL_BYTES_MAX];
    size_t mount_len;
    int r;

    memset(ret, 0, sizeof(*ret));
    if (cli_path_sanitize(arg, rel, sizeof(rel)) < 0 ||
        (mount_opt != NULL &&
         cli_mount_path(mount_opt, ret->mount, sizeof(ret->mount)) < 0) ||
        (size_t)snprintf(full, sizeof(full), "%s%s", ret->mount, rel) >=
            sizeof(full)) {
        fprintf(stderr, "Path is longer than %d bytes\n", CLI_URL_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    if (resolve_from_ui(ctx, full, ret) != 0) {
        r = resolve_from_mounts(ctx, full, ret);
        if (r != CLI_EXIT_OK)
            return r;
    }
    if (mount_opt != NULL &&
        cli_mount_path(mount_opt, ret->mount, sizeof(ret->mount)) < 0)
        return CLI_EXIT_LOCAL; /* checked above; cannot happen */
    mount_len = strlen(ret->mount);
    if (strlen(full) < mount_len)
        mount_len = strlen(full);
    (void)snprintf(ret->rel, sizeof(ret->rel), "%s", full + mount_len);
    return CLI_EXIT_OK;
}

void kv_path(const struct kv_target *t, const char *part, char *out,
             size_t out_size)
{
    if (t->version == 2)
        (void)snprintf(out, out_size, "%s%s/%s", t->mount, part, t->rel);
    else
        (void)snprintf(out, out_size, "%s%s", t->mount, t->rel);
}

void kv_print_path(const char *title, const char *path)
{
    cli_print_header(title, strlen(path));
    printf("%s\n\n", path);
}

int kv_print_section(const char *title, const json_t *object)
{
    struct cli_table t;
    const char **keys = NULL;
    size_t count = 0;
    size_t i;
    int r;

    cli_print_map_header(title, object);
    cli_table_init(&t, 2);
    r = cli_table_add(&t, "Key", "Value");
    if (r == 0)
        r = cli_json_sorted_keys(object, &keys, &count);
    for (i = 0; r == 0 && i < count; i++)
        r = cli_table_add_value(&t, keys[i], json_object_get(object, keys[i]));
    free(keys);
    r = r < 0 ? cli_output_failed(r) : cli_output_table(&t);
    cli_table_free(&t);
    return r;
}

int kv_versions(const struct cli_ctx *ctx, json_t **ret)
{
    const char *text = cli_opt_get(ctx, "versions");
    json_t *list;
    char *end;

    if (text == NULL || text[0] == '\0') {
        fprintf(stderr, "No versions provided, use the \"-versions\" flag to "
                        "specify the version(s)\n");
        return CLI_EXIT_LOCAL;
    }
    list = json_array();
    if (list == NULL)
        return cli_build_failed(KH_ENOMEM);
    while (*text != '\0') {
        long long v = strtoll(text, &end, 10);

        if (end == text || v < 0 || (*end != ',' && *end != '\0') ||
            json_array_append_new(list, json_integer(v)) != 0) {
            fprintf(stderr,
                    "Invalid -versions \"%s\": a comma-separated "
                    "list of version numbers\n",
                    cli_opt_get(ctx, "versions"));
            json_decref(list);
            return CLI_EXIT_LOCAL;
        }
        text = *end == ',' ? end + 1 : end;
    }
    *ret = list;
    return CLI_EXIT_OK;
}

int kv_print_written(const struct cli_ctx *ctx, const struct kv_target *t,
                     const char *path, const json_t *resp)
{
    const json_t *data;

    if (resp == NULL) {
        printf("Success! Data written to: %s\n", path);
        return CLI_EXIT_OK;
    }
    if (ctx->field != NULL)
        return cli_output_field(ctx, resp, ctx->field);
    if (ctx->format != CLI_FORMAT_TABLE)
        return cli_output_secret(ctx, resp);
    data = json_object_get(resp, "data");
    if (t->version != 2 || !json_is_object(data))
        return cli_output_secret(ctx, resp);
    kv_print_path("Secret Path", path);
    return kv_print_section("Metadata", data);
}

json_t *kv_write_body(json_t *data, long long cas)
{
    json_t *body = json_object();
    json_t *options = json_object();

    if (body == NULL || options == NULL ||
        json_object_set(body, "data", data) != 0 ||
        (cas >= 0 && cli_json_set_int(options, "cas", cas) < 0) ||
        json_object_set(body, "options", options) != 0) {
        json_decref(body);
        json_decref(options);
        return NULL;
    }
    json_decref(options);
    return body;
}
