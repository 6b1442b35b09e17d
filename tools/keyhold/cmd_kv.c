/*
 * cmd_kv.c - `keyhold kv put|get|patch|list|delete|undelete|destroy|
 * rollback` on KV version 1 and 2 mounts (Vault API: KV v2 and KV v1); the
 * `kv metadata` group is in kv_metadata.c.
 *
 * Owns the kv verbs' requests and Vault's output for them: "== Secret
 * Path ==", "== Metadata ==" and "== Data ==" sections in table format,
 * the whole secret in json/yaml, -field from the secret's data. Must never
 * write without the data the user gave, and never roll back onto a
 * version that changed since it was read (rollback writes with cas).
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "args.h"
#include "cli.h"
#include "common/err.h"
#include "kv.h"
#include "output.h"
#include "verbs.h"

/* Resolve argv[0] and build the K=V data of argv[1..]. */
static int kv_prepare(const struct cli_ctx *ctx, size_t argc, char **argv,
                      struct kv_target *t, json_t **ret_data)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    json_t *data = NULL;
    int r;

    if (argc < 1)
        return cli_usage_error(1, argc);
    if (cli_args_build(argc - 1, argv + 1, stdin, &data, errmsg,
                       sizeof(errmsg)) < 0) {
        fprintf(stderr, "Failed to parse K=V data: %s\n", errmsg);
        return CLI_EXIT_LOCAL;
    }
    if (json_object_size(data) == 0) {
        fprintf(stderr, "Must supply data\n");
        json_decref(data);
        return CLI_EXIT_LOCAL;
    }
    r = kv_resolve(ctx, argv[0], t);
    if (r != CLI_EXIT_OK) {
        json_decref(data);
        return r;
    }
    *ret_data = data;
    return CLI_EXIT_OK;
}

/* Send a write (v2: {data, options}; v1: the data) and print it. */
static int kv_send_write(const struct cli_ctx *ctx, const struct kv_target *t,
                         const char *method, json_t *data, long long cas)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    json_t *body =
        t->version == 2 ? kv_write_body(data, cas) : json_incref(data);
    int r;

    if (body == NULL)
        return cli_build_failed(KH_ENOMEM);
    kv_path(t, "data", path, sizeof(path));
    (void)cli_api_call_json(ctx, method, path, body, &res);
    json_decref(body);
    if (res.outcome == CLI_OUTCOME_NOT_FOUND && strcmp(method, "PATCH") == 0) {
        fprintf(stderr, "No value found at %s\n", path);
        r = CLI_EXIT_REMOTE;
    } else if (!cli_result_ok(&res)) {
        r = cli_api_fail(&res, "writing data to %s", path);
    } else {
        r = kv_print_written(
            ctx, t, path, res.outcome == CLI_OUTCOME_SECRET ? res.json : NULL);
    }
    cli_result_free(&res);
    return r;
}

static int kv_put_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct kv_target t;
    json_t *data = NULL;
    long long cas;
    int r;

    if (cli_opt_int(ctx, "cas", -1, &cas) < 0)
        return CLI_EXIT_LOCAL;
    r = kv_prepare(ctx, argc, argv, &t, &data);
    if (r != CLI_EXIT_OK)
        return r;
    r = kv_send_write(ctx, &t, "POST", data, cas);
    json_decref(data);
    return r;
}

/* GET the secret at path (version 0: the current one). */
static int kv_read(const struct cli_ctx *ctx, const char *path,
                   long long version, struct cli_result *res)
{
    char query[64] = "";

    if (version > 0)
        (void)snprintf(query, sizeof(query), "version=%lld", version);
    return cli_api_call_query(ctx, "GET", path, query, NULL, 0, res);
}

static int kv_get_print(const struct cli_ctx *ctx, const struct kv_target *t,
                        const char *path, const json_t *resp)
{
    const json_t *data = json_object_get(resp, "data");
    const json_t *secret =
        t->version == 2 ? json_object_get(data, "data") : data;
    const json_t *metadata = json_object_get(data, "metadata");
    int r = CLI_EXIT_OK;

    if (ctx->field != NULL && t->version == 2) {
        if (!json_is_object(secret)) {
            fprintf(stderr, "No data found at %s\n", path);
            return CLI_EXIT_REMOTE;
        }
        return cli_output_field(ctx, secret, ctx->field);
    }
    if (ctx->field != NULL)
        return cli_output_field(ctx, resp, ctx->field);
    if (ctx->format != CLI_FORMAT_TABLE)
        return cli_output_secret(ctx, resp);
    if (t->version == 2) {
        kv_print_path("Secret Path", path);
        if (json_is_object(metadata)) {
            r = kv_print_section("Metadata", metadata);
            printf("\n");
        }
    }
    if (r == CLI_EXIT_OK && json_is_object(secret))
        r = kv_print_section("Data", secret);
    return r;
}

static int kv_get_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    struct kv_target t;
    long long version;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_opt_int(ctx, "version", 0, &version) < 0)
        return CLI_EXIT_LOCAL;
    r = kv_resolve(ctx, argv[0], &t);
    if (r != CLI_EXIT_OK)
        return r;
    kv_path(&t, "data", path, sizeof(path));
    (void)kv_read(ctx, path, t.version == 2 ? version : 0, &res);
    if (res.outcome == CLI_OUTCOME_SECRET) {
        r = kv_get_print(ctx, &t, path, res.json);
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

/* -method=rw: read the current version, merge, write with its cas. */
static int kv_patch_rw(const struct cli_ctx *ctx, const struct kv_target *t,
                       json_t *patch, long long cas)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    const json_t *data;
    json_t *merged = NULL;
    int r;

    kv_path(t, "data", path, sizeof(path));
    (void)kv_read(ctx, path, 0, &res);
    data = json_object_get(json_object_get(res.json, "data"), "data");
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(data)) {
        if (res.outcome == CLI_OUTCOME_API_ERROR ||
            res.outcome == CLI_OUTCOME_FAILED) {
            r = cli_api_fail(&res, "reading %s", path);
        } else {
            fprintf(stderr, "No value found at %s\n", path);
            r = CLI_EXIT_REMOTE;
        }
        goto out;
    }
    if (cas < 0)
        cas = json_integer_value(json_object_get(
            json_object_get(json_object_get(res.json, "data"), "metadata"),
            "version"));
    merged = json_deep_copy(data);
    if (merged == NULL || json_object_update(merged, patch) != 0) {
        r = cli_build_failed(KH_ENOMEM);
        goto out;
    }
    r = kv_send_write(ctx, t, "POST", merged, cas);
out:
    json_decref(merged);
    cli_result_free(&res);
    return r;
}

static int kv_patch_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    const char *method = cli_opt_get(ctx, "method");
    struct kv_target t;
    json_t *data = NULL;
    long long cas;
    int r;

    if (method != NULL && strcmp(method, "patch") != 0 &&
        strcmp(method, "rw") != 0) {
        fprintf(stderr, "Unsupported method provided to -method flag: %s\n",
                method);
        return CLI_EXIT_LOCAL;
    }
    if (cli_opt_int(ctx, "cas", -1, &cas) < 0)
        return CLI_EXIT_LOCAL;
    r = kv_prepare(ctx, argc, argv, &t, &data);
    if (r != CLI_EXIT_OK)
        return r;
    if (t.version != 2) {
        fprintf(stderr, "K/V engine mount must be version 2 for patch "
                        "support\n");
        r = CLI_EXIT_REMOTE;
    } else if (method != NULL && strcmp(method, "rw") == 0) {
        r = kv_patch_rw(ctx, &t, data, cas);
    } else {
        r = kv_send_write(ctx, &t, "PATCH", data, cas);
    }
    json_decref(data);
    return r;
}

static int kv_list_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    char *list_argv[1] = {path};
    struct kv_target t;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = kv_resolve(ctx, argv[0], &t);
    if (r != CLI_EXIT_OK)
        return r;
    kv_path(&t, "metadata", path, sizeof(path));
    return cli_cmd_list.run(ctx, 1, list_argv);
}

/* POST {"versions": [...]} to MOUNT/<part>/REL (v2 only). */
static int kv_versions_op(const struct cli_ctx *ctx, const struct kv_target *t,
                          const char *part, const char *method,
                          const char *success)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    json_t *versions = NULL;
    json_t *body;
    int r = kv_versions(ctx, &versions);

    if (r != CLI_EXIT_OK)
        return r;
    body = json_pack("{s:o}", "versions", versions);
    if (body == NULL)
        return cli_build_failed(KH_ENOMEM);
    kv_path(t, part, path, sizeof(path));
    (void)cli_api_call_json(ctx, method, path, body, &res);
    json_decref(body);
    if (!cli_result_ok(&res)) {
        r = cli_api_fail(
            &res, "%s %s",
            strcmp(part, "delete") == 0 ? "deleting" : "writing data to", path);
    } else {
        printf("%s%s\n", success, path);
        r = CLI_EXIT_OK;
    }
    cli_result_free(&res);
    return r;
}

static int kv_delete_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res;
    struct kv_target t;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = kv_resolve(ctx, argv[0], &t);
    if (r != CLI_EXIT_OK)
        return r;
    if (cli_opt_get(ctx, "versions") != NULL && t.version == 2)
        return kv_versions_op(ctx, &t, "delete", "POST",
                              "Success! Data deleted (if it existed) at: ");
    kv_path(&t, "data", path, sizeof(path));
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

/* undelete and destroy: v2 only, -versions required. */
static int kv_version_verb(const struct cli_ctx *ctx, size_t argc, char **argv,
                           const char *part, const char *method)
{
    struct kv_target t;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_opt_get(ctx, "versions") == NULL)
        return kv_versions(ctx, NULL);
    r = kv_resolve(ctx, argv[0], &t);
    if (r != CLI_EXIT_OK)
        return r;
    if (t.version != 2) {
        fprintf(stderr, "%s is not supported on a KV version 1 mount\n", part);
        return CLI_EXIT_REMOTE;
    }
    return kv_versions_op(ctx, &t, part, method, "Success! Data written to: ");
}

static int kv_undelete_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    return kv_version_verb(ctx, argc, argv, "undelete", "POST");
}

static int kv_destroy_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    return kv_version_verb(ctx, argc, argv, "destroy", "PUT");
}

/* The current version, after checking version N can be rolled back to. */
static int kv_rollback_check(const struct cli_ctx *ctx,
                             const struct kv_target *t, long long version,
                             long long *ret_current)
{
    char path[CLI_URL_BYTES_MAX * 2];
    char key[32];
    struct cli_result res;
    const json_t *data;
    const json_t *entry;
    int r = CLI_EXIT_REMOTE;

    kv_path(t, "metadata", path, sizeof(path));
    (void)cli_api_call(ctx, "GET", path, NULL, 0, &res);
    data = cli_result_data(&res);
    if (data == NULL) {
        if (res.outcome == CLI_OUTCOME_NOT_FOUND)
            fprintf(stderr, "No value found at %s\n", path);
        else
            (void)cli_api_fail(&res, "reading %s", path);
        goto out;
    }
    (void)snprintf(key, sizeof(key), "%lld", version);
    entry = json_object_get(json_object_get(data, "versions"), key);
    if (!json_is_object(entry))
        fprintf(stderr,
                "Cannot roll back to version %lld: it does not "
                "exist\n",
                version);
    else if (json_is_true(json_object_get(entry, "destroyed")))
        fprintf(stderr, "Cannot roll back to a version that has been "
                        "destroyed\n");
    else if (cli_json_str(entry, "deletion_time")[0] != '\0')
        fprintf(stderr, "Cannot roll back to a version that has been "
                        "deleted\n");
    else {
        *ret_current =
            json_integer_value(json_object_get(data, "current_version"));
        r = CLI_EXIT_OK;
    }
out:
    cli_result_free(&res);
    return r;
}

static int kv_rollback_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char path[CLI_URL_BYTES_MAX * 2];
    struct cli_result res = {.outcome = CLI_OUTCOME_FAILED};
    struct kv_target t;
    const json_t *data;
    long long version;
    long long current = 0;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (cli_opt_int(ctx, "version", 0, &version) < 0)
        return CLI_EXIT_LOCAL;
    if (version <= 0) {
        fprintf(stderr, "Must specify a version to roll back to with "
                        "-version\n");
        return CLI_EXIT_LOCAL;
    }
    r = kv_resolve(ctx, argv[0], &t);
    if (r == CLI_EXIT_OK && t.version != 2) {
        fprintf(stderr, "K/V engine mount must be version 2 for rollback "
                        "support\n");
        r = CLI_EXIT_REMOTE;
    }
    if (r == CLI_EXIT_OK)
        r = kv_rollback_check(ctx, &t, version, &current);
    if (r != CLI_EXIT_OK)
        return r;
    kv_path(&t, "data", path, sizeof(path));
    (void)kv_read(ctx, path, version, &res);
    data = json_object_get(json_object_get(res.json, "data"), "data");
    if (res.outcome != CLI_OUTCOME_SECRET || !json_is_object(data))
        r = cli_api_fail(&res, "reading version %lld of %s", version, path);
    else
        r = kv_send_write(ctx, &t, "POST", (json_t *)data, current);
    cli_result_free(&res);
    return r;
}

static const char *const put_options[] = {"mount", "cas", NULL};
static const char *const patch_options[] = {"mount", "cas", "method", NULL};
static const char *const get_options[] = {"mount", "version", NULL};
static const char *const mount_options[] = {"mount", NULL};
static const char *const versions_options[] = {"mount", "versions", NULL};
static const char *const rollback_options[] = {"mount", "version", NULL};

static const struct cli_command kv_put = {
    .name = "put",
    .run = kv_put_run,
    .synopsis = "Sets or updates data in the KV store",
    .usage = "Usage: keyhold kv put [options] PATH K=V...\n"
             "\n"
             "  Writes the data to PATH (a new version on a KV v2 mount). "
             "-cas=N\n"
             "  writes only if the current version is N (0: only if none "
             "exists).\n"
             "\n"
             "      $ keyhold kv put -mount=secret foo bar=baz\n"
             "      $ keyhold kv put secret/foo bar=baz\n",
    .options = put_options,
};

static const struct cli_command kv_get = {
    .name = "get",
    .run = kv_get_run,
    .synopsis = "Retrieves data from the KV store",
    .usage = "Usage: keyhold kv get [options] PATH\n"
             "\n"
             "  Reads the data at PATH (-version=N: that version on KV "
             "v2).\n"
             "\n"
             "      $ keyhold kv get -field=bar secret/foo\n",
    .options = get_options,
};

static const struct cli_command kv_patch = {
    .name = "patch",
    .run = kv_patch_run,
    .synopsis = "Sets or updates data in the KV store without overwriting",
    .usage = "Usage: keyhold kv patch [options] PATH K=V...\n"
             "\n"
             "  Merges the data into the current version at PATH (KV v2). "
             "-method=rw\n"
             "  reads, merges and writes with check-and-set instead of a "
             "PATCH.\n",
    .options = patch_options,
};

static const struct cli_command kv_list = {
    .name = "list",
    .run = kv_list_run,
    .synopsis = "List data or secrets",
    .usage = "Usage: keyhold kv list [options] PATH\n"
             "\n"
             "  Lists the keys under PATH.\n",
    .options = mount_options,
};

static const struct cli_command kv_delete = {
    .name = "delete",
    .run = kv_delete_run,
    .synopsis = "Deletes versions in the KV store",
    .usage = "Usage: keyhold kv delete [options] PATH\n"
             "\n"
             "  Soft-deletes the current version at PATH, or -versions=1,2 "
             "on KV v2.\n",
    .options = versions_options,
};

static const struct cli_command kv_undelete = {
    .name = "undelete",
    .run = kv_undelete_run,
    .synopsis = "Undeletes versions in the KV store",
    .usage = "Usage: keyhold kv undelete [options] -versions=1,2 PATH\n"
             "\n"
             "  Restores soft-deleted versions (KV v2).\n",
    .options = versions_options,
};

static const struct cli_command kv_destroy = {
    .name = "destroy",
    .run = kv_destroy_run,
    .synopsis = "Permanently removes one or more versions in the KV store",
    .usage = "Usage: keyhold kv destroy [options] -versions=1,2 PATH\n"
             "\n"
             "  Erases the data of the given versions for good (KV v2).\n",
    .options = versions_options,
};

static const struct cli_command kv_rollback = {
    .name = "rollback",
    .run = kv_rollback_run,
    .synopsis = "Rolls back to a previous version of data",
    .usage = "Usage: keyhold kv rollback [options] -version=N PATH\n"
             "\n"
             "  Writes version N's data as a new version, if no other write "
             "came\n"
             "  in between (check-and-set on the current version).\n",
    .options = rollback_options,
};

static const struct cli_command *const kv_subs[] = {
    &kv_delete, &kv_destroy, &kv_get,      &kv_list,     &kv_cmd_metadata,
    &kv_patch,  &kv_put,     &kv_rollback, &kv_undelete, NULL};

const struct cli_command cli_cmd_kv = {
    .name = "kv",
    .synopsis = "Interact with Keyhold's Key-Value storage",
    .usage = "Usage: keyhold kv <subcommand> [options] [args]\n"
             "\n"
             "  Reads and writes KV secrets, version 1 or 2 (the mount's "
             "version is\n"
             "  detected). PATH is MOUNT/KEY, or KEY with -mount=MOUNT.\n",
    .subs = kv_subs,
};
