/*
 * kv_metadata.c - `keyhold kv metadata get|put|delete` on KV v2 mounts
 * (MOUNT/metadata/KEY, Vault API: KV v2).
 *
 * Owns the metadata verbs and Vault's output for them: "== Metadata Path
 * ==", the key's metadata table, then one "== Version N ==" table per
 * version in numeric order. Must never run on a KV v1 mount (there is no
 * metadata there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cli.h"
#include "common/err.h"
#include "kv.h"
#include "output.h"
#include "verbs.h"

static int meta_target(const struct cli_ctx *ctx, size_t argc, char **argv,
                       struct kv_target *t, char *path, size_t size)
{
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = kv_resolve(ctx, argv[0], t);
    if (r != CLI_EXIT_OK)
        return r;
    if (t->version != 2) {
        fprintf(stderr, "Metadata not supported on KV Version 1\n");
        return CLI_EXIT_LOCAL;
    }
    kv_path(t, "metadata", path, size);
    return CLI_EXIT_OK;
}

static int version_compare(const void *a, const void *b)
{
    long long x = atoll(*(const char *const *)a);
    long long y = atoll(*(const char *const *)b);

    return (x > y) - (x < y);
}

static int meta_print_versions(const json_t *versions)
{
    const char **keys = NULL;
    const char *key;
    const json_t *value;
    size_t count = 0;
    size_t i;
    int r = CLI_EXIT_OK;

    keys = calloc(json_object_size(versions) + 1, sizeof(*keys));
    if (keys == NULL)
        return cli_output_failed(KH_ENOMEM);
    json_object_foreach((json_t *)versions, key, value)
    {
        keys[count++] = key;
    }
    qsort(keys, count, sizeof(*keys), version_compare);
    for (i = 0; r == CLI_EXIT_OK && i < count; i++) {
        char title[64];

        (void)snprintf(title, sizeof(title), "Version %s", keys[i]);
        printf("\n");
        r = kv_print_section(title, json_object_get(versions, keys[i]));
    }
    free(keys);
    return r;
}

static int meta_print(const struct cli_ctx *ctx, const char *path,
                      const json_t *resp)
{
    const json_t *data = json_object_get(resp, "data");
    json_t *copy;
    int r;

    if (ctx->field != NULL)
        return cli_output_field(ctx, resp, ctx->field);
    if (ctx->format != CLI_FORMAT_TABLE || !json_is_object(data))
        return cli_output_secret(ctx, resp);
    copy = json_copy((json_t *)data);
    if (copy == NULL)
        return cli_output_failed(KH_ENOMEM);
    (void)json_object_del(copy, "versions");
    kv_print_path("Metadata Path", path);
    r = kv_print_section("Metadata", copy);
    json_decref(copy);
    if (r == CLI_EXIT_OK && json_is_object(json_object_get(data, "versions")))
        r = meta_print_versions(json_object_get(data, "versions"));
    return r;
}

static int meta_get_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    struct kv_target t;
    int r = meta_target(ctx, argc, argv, &t, path, sizeof(path));

    if (r != CLI_EXIT_OK)
        return r;
    (void)cli_api_call(ctx, "GET", path, NULL, 0, &res);
    if (res.outcome == CLI_OUTCOME_SECRET) {
        r = meta_print(ctx, path, res.json);
    } else if (res.outcome == CLI_OUTCOME_NOT_FOUND ||
               res.outcome == CLI_OUTCOME_EMPTY) {
        fprintf(stderr, "No value found at %s\n", path);
        r = CLI_EXIT_REMOTE;
    } else {
        r = cli_api_fail(&res, "reading %s", path);
    }
    cli_result_free(&res);
    return r;
}

/* -custom-metadata=k=v ... into custom_metadata. */
static int meta_custom(const struct cli_ctx *ctx, json_t *body)
{
    json_t *custom = NULL;
    const char *item;
    size_t index = 0;
    int r = 0;

    while (r == 0 &&
           (item = cli_opt_next(ctx, "custom-metadata", &index)) != NULL) {
        const char *eq = strchr(item, '=');
        char key[512];

        if (eq == NULL || (size_t)(eq - item) >= sizeof(key)) {
            fprintf(stderr,
                    "Invalid -custom-metadata \"%s\": must be "
                    "key=value\n",
                    item);
            json_decref(custom);
            return KH_EINVAL;
        }
        memcpy(key, item, (size_t)(eq - item));
        key[eq - item] = '\0';
        if (custom == NULL && (custom = json_object()) == NULL)
            return cli_build_failed(KH_ENOMEM);
        r = cli_json_set_str(custom, key, eq + 1);
    }
    if (r == 0 && custom != NULL &&
        json_object_set(body, "custom_metadata", custom) != 0)
        r = KH_ENOMEM;
    json_decref(custom);
    if (r < 0)
        (void)cli_build_failed(r);
    return r;
}

static int meta_body(const struct cli_ctx *ctx, json_t *body)
{
    long long max_versions;
    int r;

    if (cli_opt_int(ctx, "max-versions", -1, &max_versions) < 0)
        return KH_EINVAL;
    r = max_versions >= 0 ? cli_json_set_int(body, "max_versions", max_versions)
                          : 0;
    if (r == 0 && cli_opt_get(ctx, "cas-required") != NULL)
        r = cli_json_set_bool(body, "cas_required",
                              cli_opt_on(ctx, "cas-required"));
    if (r == 0)
        r = cli_json_set_opt(body, "delete_version_after", ctx,
                             "delete-version-after");
    if (r < 0) {
        (void)cli_build_failed(r);
        return r;
    }
    return meta_custom(ctx, body);
}

static int meta_put_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    struct kv_target t;
    json_t *body;
    int r = meta_target(ctx, argc, argv, &t, path, sizeof(path));

    if (r != CLI_EXIT_OK)
        return r;
    body = json_object();
    if (body == NULL)
        return cli_build_failed(KH_ENOMEM);
    if (meta_body(ctx, body) < 0) {
        json_decref(body);
        return CLI_EXIT_LOCAL;
    }
    (void)cli_api_call_json(ctx, "POST", path, body, &res);
    json_decref(body);
    if (!cli_result_ok(&res)) {
        r = cli_api_fail(&res, "writing data to %s", path);
    } else {
        printf("Success! Data written to: %s\n", path);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static int meta_delete_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    struct kv_target t;
    int r = meta_target(ctx, argc, argv, &t, path, sizeof(path));

    if (r != CLI_EXIT_OK)
        return r;
    (void)cli_api_call(ctx, "DELETE", path, NULL, 0, &res);
    if (!cli_result_ok(&res) && res.outcome != CLI_OUTCOME_NOT_FOUND) {
        r = cli_api_fail(&res, "deleting %s", path);
    } else {
        printf("Success! Data deleted (if it existed) at: %s\n", path);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static const char *const get_options[] = {"mount", NULL};
static const char *const put_options[] = {
    "mount",           "max-versions",
    "cas-required",    "delete-version-after",
    "custom-metadata", NULL};

static const struct cli_command meta_get = {
    .name = "get",
    .run = meta_get_run,
    .synopsis = "Retrieves key metadata from the KV store",
    .usage = "Usage: keyhold kv metadata get [options] PATH\n"
             "\n"
             "  Prints the key's metadata and every version's state.\n",
    .options = get_options,
};

static const struct cli_command meta_put = {
    .name = "put",
    .run = meta_put_run,
    .synopsis = "Sets or updates key settings in the KV store",
    .usage = "Usage: keyhold kv metadata put [options] PATH\n"
             "\n"
             "  Sets -max-versions, -cas-required, -delete-version-after "
             "and\n"
             "  -custom-metadata=k=v (repeatable) on the key.\n",
    .options = put_options,
};

static const struct cli_command meta_delete = {
    .name = "delete",
    .run = meta_delete_run,
    .synopsis = "Deletes all versions and metadata for a key in the KV store",
    .usage = "Usage: keyhold kv metadata delete [options] PATH\n"
             "\n"
             "  Erases every version of the key and its metadata.\n",
    .options = get_options,
};

static const struct cli_command *const meta_subs[] = {&meta_delete, &meta_get,
                                                      &meta_put, NULL};

const struct cli_command kv_cmd_metadata = {
    .name = "metadata",
    .synopsis = "Interact with Keyhold's Key-Value storage metadata",
    .usage = "Usage: keyhold kv metadata <subcommand> [options] [args]\n"
             "\n"
             "  Reads, writes and deletes the metadata of KV v2 keys.\n",
    .subs = meta_subs,
};
