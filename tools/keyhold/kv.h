/*
 * kv.h - what the kv verbs share: which mount a path is under, which KV
 * version that mount runs, and the API paths Vault's CLI derives from
 * them (kv v2 inserts data/, metadata/, delete/, undelete/ or destroy/
 * right after the mount).
 */
#ifndef KH_TOOLS_KV_H
#define KH_TOOLS_KV_H

#include <jansson.h>
#include <stddef.h>

#include "cli.h"
#include "common/assert.h"

struct kv_target
{
    char mount[CLI_URL_BYTES_MAX]; /* "secret/", or "" when unknown */
    char rel[CLI_URL_BYTES_MAX];   /* the path below the mount */
    int version;                   /* 1 or 2 */
};

/* Resolve arg (with -mount, arg is relative to that mount) into *ret:
 * asks sys/internal/ui/mounts/PATH, else sys/mounts with a longest-prefix
 * match. Prints the error itself and returns an enum cli_exit value. */
int kv_resolve(const struct cli_ctx *ctx, const char *arg,
               struct kv_target *ret);

/* The API path for an operation: v2 gives MOUNT + part + "/" + REL (part
 * one of "data", "metadata", "delete", "undelete", "destroy"), v1 gives
 * MOUNT + REL whatever part is. */
void kv_path(const struct kv_target *t, const char *part, char *out,
             size_t out_size);

/* Vault's outputPath: "== title ==" over path, the path, a blank line. */
void kv_print_path(const char *title, const char *path);

/* A section header sized for object and its Key/Value table (object's
 * members sorted, Go's %v values). Returns an enum cli_exit value. */
int kv_print_section(const char *title, const json_t *object);

/* -versions=1,2,3 as a JSON array of integers in *ret (new reference).
 * Prints the error; returns an enum cli_exit value. */
int kv_versions(const struct cli_ctx *ctx, json_t **ret);

/* Print a write's answer as kv put does: v2 the path and the new
 * version's metadata (table), the whole secret otherwise; v1 a Success
 * line. Returns an enum cli_exit value. */
int kv_print_written(const struct cli_ctx *ctx, const struct kv_target *t,
                     const char *path, const json_t *resp);

/* {"data": data, "options": {"cas": cas}} (cas < 0: no cas) as a new
 * reference, or NULL when out of memory. */
json_t *kv_write_body(json_t *data, long long cas);

/* kv_metadata.c: the `kv metadata` verb group. */
extern const struct cli_command kv_cmd_metadata;

#endif
