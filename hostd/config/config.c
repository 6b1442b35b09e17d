/*
 * config.c - keyholdd's configuration: files and directories in, a
 * validated struct kh_config out.
 *
 * Owns the schema (which keys exist at each level, their types, each
 * storage and seal backend's allowed keys), the merge of several files
 * (listeners accumulate; scalars and stanzas from later files win), and
 * every message that names file:line:col. Syntax belongs to hcl.c.
 *
 * Each document is first applied to a fresh kh_config of its own and
 * merged only when it validated completely, so a failing file leaves the
 * caller's config untouched. It must never accept an unknown key, never
 * log (the caller does), and never free a string without wiping it: a seal
 * PIN travels through here.
 */
#include "config/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/hcl.h"

#define LISTENER_ADDRESS_DEFAULT "127.0.0.1:8200"

enum field_kind {
    FIELD_STRING,
    FIELD_BOOL,
    FIELD_DURATION,
    FIELD_SIZE,
    FIELD_TLS_VERSION,
};

/* A scalar key of the top level or of a listener block. */
struct field
{
    const char *name;
    enum field_kind kind;
    size_t offset;              /* in kh_config or kh_config_listener */
    const char *const *allowed; /* FIELD_STRING: NULL = any value */
    const char *expected;       /* the allowed values, for messages */
};

static const char *const log_levels[] = {"trace",   "debug", "info",  "warn",
                                         "warning", "err",   "error", NULL};
static const char *const log_formats[] = {"standard", "json", NULL};

static const struct field top_fields[] = {
    {"api_addr", FIELD_STRING, offsetof(struct kh_config, api_addr), NULL,
     NULL},
    {"cluster_addr", FIELD_STRING, offsetof(struct kh_config, cluster_addr),
     NULL, NULL},
    {"disable_mlock", FIELD_BOOL, offsetof(struct kh_config, disable_mlock),
     NULL, NULL},
    {"log_level", FIELD_STRING, offsetof(struct kh_config, log_level),
     log_levels, "trace, debug, info, warn or error"},
    {"log_format", FIELD_STRING, offsetof(struct kh_config, log_format),
     log_formats, "\"standard\" or \"json\""},
    {"ui", FIELD_BOOL, offsetof(struct kh_config, ui), NULL, NULL},
    {"default_lease_ttl", FIELD_DURATION,
     offsetof(struct kh_config, default_lease_ttl_s), NULL, NULL},
    {"max_lease_ttl", FIELD_DURATION,
     offsetof(struct kh_config, max_lease_ttl_s), NULL, NULL},
};

static const struct field listener_fields[] = {
    {"address", FIELD_STRING, offsetof(struct kh_config_listener, address),
     NULL, NULL},
    {"cluster_address", FIELD_STRING,
     offsetof(struct kh_config_listener, cluster_address), NULL, NULL},
    {"tls_disable", FIELD_BOOL,
     offsetof(struct kh_config_listener, tls_disable), NULL, NULL},
    {"tls_cert_file", FIELD_STRING,
     offsetof(struct kh_config_listener, tls_cert_file), NULL, NULL},
    {"tls_key_file", FIELD_STRING,
     offsetof(struct kh_config_listener, tls_key_file), NULL, NULL},
    {"tls_min_version", FIELD_TLS_VERSION,
     offsetof(struct kh_config_listener, tls_min_version), NULL, NULL},
    {"max_request_size", FIELD_SIZE,
     offsetof(struct kh_config_listener, max_request_size), NULL, NULL},
};

/* Bits of file_ctx.seen: one per top_fields entry, then the stanzas. */
#define SEEN_STORAGE (1u << KH_ARRAY_LEN(top_fields))
#define SEEN_SEAL    (1u << (KH_ARRAY_LEN(top_fields) + 1))
_Static_assert(KH_ARRAY_LEN(top_fields) + 2 <= 32, "seen bits fit");
_Static_assert(KH_ARRAY_LEN(listener_fields) <= 32, "seen bits fit");

/* One backend type of a storage or seal stanza and its allowed keys. */
struct stanza_schema
{
    const char *type;
    const char *const *keys;
    const char *required; /* a key that must be set, or NULL */
    bool retry_join;      /* accepts retry_join { } blocks */
};

static const char *const no_keys[] = {NULL};
static const char *const lmdb_keys[] = {"path", "map_size", NULL};
static const char *const raft_keys[] = {
    "path",          "node_id",       "performance_multiplier",
    "election_ms",   "tls_cert_file", "tls_key_file",
    "tls_ca_file",   "tls_disable",   "snapshot_threshold",
    "trailing_logs", NULL};
/* The subset of Vault's seal "pkcs11" parameters that Keyhold supports. */
static const char *const pkcs11_keys[] = {
    "lib",
    "slot",
    "token_label",
    "pin",
    "key_label",
    "mechanism",
    "generate_key",
    "hmac_key_label",
    "hmac_mechanism",
    "default_key_label",
    "disabled",
    NULL,
};
static const char *const tpm2_keys[] = {"tcti", "pcrs", "pcr_bank", NULL};
static const char *const retry_join_keys[] = {
    "leader_api_addr",         "leader_ca_cert_file",
    "leader_client_cert_file", "leader_client_key_file",
    "leader_tls_servername",   NULL};

/* Audit device options (hostd/audit validates their values); "path" is the
 * mount path of the device, "description" its text. */
static const char *const audit_file_keys[] = {
    "path", "description", "file_path", "mode", "log_raw", "hmac_accessor",
    "prefix", "format", "sync_secrets", "checkpoint_interval", NULL};
static const char *const audit_socket_keys[] = {
    "path", "description", "address", "socket_type", "write_timeout",
    "log_raw", "hmac_accessor", "prefix", "format", "spool_max_records",
    "spool_max_bytes", "checkpoint_interval", NULL};
static const char *const audit_syslog_keys[] = {
    "path", "description", "facility", "tag", "socket_path", "log_raw",
    "hmac_accessor", "prefix", "format", "checkpoint_interval", NULL};

static const struct stanza_schema audit_schemas[] = {
    {"file", audit_file_keys, "file_path", false},
    {"socket", audit_socket_keys, "address", false},
    {"syslog", audit_syslog_keys, NULL, false},
};

static const struct stanza_schema storage_schemas[] = {
    {"lmdb", lmdb_keys, "path", false},
    {"raft", raft_keys, "path", true},
    {"inmem", no_keys, NULL, false},
};

static const struct stanza_schema seal_schemas[] = {
    {"shamir", no_keys, NULL, false},
    {"pkcs11", pkcs11_keys, NULL, false},
    {"tpm2", tpm2_keys, NULL, false},
};

struct stanza_kind
{
    const char *name; /* "storage" or "seal" */
    const struct stanza_schema *schemas;
    size_t schema_count;
    const char *expected;
    unsigned seen_bit;
    size_t offset; /* of the stanza in kh_config */
};

static const struct stanza_kind storage_kind = {
    .name = "storage",
    .schemas = storage_schemas,
    .schema_count = KH_ARRAY_LEN(storage_schemas),
    .expected = "lmdb, raft or inmem",
    .seen_bit = SEEN_STORAGE,
    .offset = offsetof(struct kh_config, storage),
};

static const struct stanza_kind seal_kind = {
    .name = "seal",
    .schemas = seal_schemas,
    .schema_count = KH_ARRAY_LEN(seal_schemas),
    .expected = "shamir, pkcs11 or tpm2",
    .seen_bit = SEEN_SEAL,
    .offset = offsetof(struct kh_config, seal),
};

static const struct stanza_kind audit_kind = {
    .name = "audit",
    .schemas = audit_schemas,
    .schema_count = KH_ARRAY_LEN(audit_schemas),
    .expected = "file, socket or syslog",
    .seen_bit = 0,
    .offset = 0,
};

/* One block found under a key, whichever way it was written. */
struct block_ref
{
    const char *label; /* NULL for retry_join */
    unsigned line;
    unsigned col;
    const struct kh_hcl_node *body; /* an OBJECT */
};

struct block_refs
{
    struct block_ref refs[KH_CONFIG_PARAMS_MAX];
    size_t count;
};

/* The state of applying one document. */
struct file_ctx
{
    const char *filename;
    char *errmsg;
    size_t errmsg_size;
    struct kh_config *cfg; /* this document's settings only */
    size_t listener_base;  /* listeners from earlier documents */
    size_t audit_base;     /* audit blocks from earlier documents */
    unsigned seen;
};

static int cfg_error(const struct file_ctx *ctx, unsigned line, unsigned col,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cfg_error(const struct file_ctx *ctx, unsigned line, unsigned col,
                     const char *fmt, ...)
{
    char what[384];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return kh_errmsg(ctx->errmsg, ctx->errmsg_size, KH_ECONFIG, "%s:%u:%u: %s",
                     ctx->filename, line, col, what);
}

static int cfg_nomem(const struct file_ctx *ctx)
{
    return kh_errmsg(ctx->errmsg, ctx->errmsg_size, KH_ENOMEM,
                     "%s: out of memory", ctx->filename);
}

static void free_string(char **s)
{
    if (*s == NULL)
        return;
    kh_free_secret(*s, strlen(*s));
    *s = NULL;
}

static bool in_list(const char *const *list, const char *s)
{
    size_t i;

    for (i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static void stanza_clear(struct kh_config_stanza *stanza)
{
    size_t i;

    free_string(&stanza->type);
    for (i = 0; i < KH_CONFIG_PARAMS_MAX; i++) {
        free_string(&stanza->params[i].name);
        free_string(&stanza->params[i].value);
    }
    stanza->param_count = 0;
}

static void listener_clear(struct kh_config_listener *listener)
{
    free_string(&listener->address);
    free_string(&listener->cluster_address);
    free_string(&listener->tls_cert_file);
    free_string(&listener->tls_key_file);
}

static void listener_defaults(struct kh_config_listener *listener)
{
    listener->tls_min_version = 12;
    listener->max_request_size = KH_HTTP_BODY_BYTES_DEFAULT;
}

struct kh_config *kh_config_new(void)
{
    struct kh_config *config = calloc(1, sizeof(*config));
    size_t i;

    if (config == NULL)
        return NULL;
    for (i = 0; i < KH_CONFIG_LISTENERS_MAX; i++)
        listener_defaults(&config->listeners[i]);
    return config;
}

void kh_config_free(struct kh_config *config)
{
    size_t i;

    if (config == NULL)
        return;
    for (i = 0; i < KH_CONFIG_LISTENERS_MAX; i++)
        listener_clear(&config->listeners[i]);
    stanza_clear(&config->storage);
    stanza_clear(&config->seal);
    for (i = 0; i < KH_CONFIG_AUDIT_MAX; i++)
        stanza_clear(&config->audit[i]);
    for (i = 0; i < KH_CONFIG_AUDIT_DIRS_MAX; i++)
        free_string(&config->audit_allowed_dirs[i]);
    for (i = 0; i < KH_ARRAY_LEN(top_fields); i++)
        if (top_fields[i].kind == FIELD_STRING)
            free_string((char **)((char *)config + top_fields[i].offset));
    kh_free_secret(config, sizeof(*config));
}

const char *kh_config_param(const struct kh_config_stanza *stanza,
                            const char *name)
{
    size_t i;

    KH_ASSERT(stanza != NULL);
    KH_ASSERT(stanza->param_count <= KH_CONFIG_PARAMS_MAX);
    if (name == NULL)
        return NULL;
    for (i = 0; i < stanza->param_count; i++)
        if (strcmp(stanza->params[i].name, name) == 0)
            return stanza->params[i].value;
    return NULL;
}

/* ---- scalar values ---------------------------------------------------- */

static int dup_string(const struct file_ctx *ctx, const char *s, char **ret)
{
    char *copy = strdup(s);

    if (copy == NULL)
        return cfg_nomem(ctx);
    *ret = copy;
    return 0;
}

static int get_string(const struct file_ctx *ctx, const struct field *field,
                      const struct kh_hcl_node *value, char **dst)
{
    if (value->type != KH_HCL_STRING)
        return cfg_error(ctx, value->line, value->col,
                         "expected a string for \"%s\"", field->name);
    if (field->allowed != NULL && !in_list(field->allowed, value->text))
        return cfg_error(ctx, value->line, value->col,
                         "invalid value \"%.64s\" for \"%s\" (expected %s)",
                         value->text, field->name, field->expected);
    free_string(dst);
    return dup_string(ctx, value->text, dst);
}

/* true/false, 1/0, or those as strings, as Vault's parseutil accepts. */
static int get_bool(const struct file_ctx *ctx, const char *name,
                    const struct kh_hcl_node *value, bool *dst)
{
    const char *t = value->text;

    if (value->type == KH_HCL_BOOL) {
        *dst = value->boolean;
        return 0;
    }
    if (value->type == KH_HCL_STRING || value->type == KH_HCL_NUMBER) {
        if (strcmp(t, "1") == 0 ||
            (value->type == KH_HCL_STRING && strcmp(t, "true") == 0)) {
            *dst = true;
            return 0;
        }
        if (strcmp(t, "0") == 0 ||
            (value->type == KH_HCL_STRING && strcmp(t, "false") == 0)) {
            *dst = false;
            return 0;
        }
    }
    return cfg_error(ctx, value->line, value->col,
                     "expected a boolean for \"%s\"", name);
}

static int get_duration(const struct file_ctx *ctx, const char *name,
                        const struct kh_hcl_node *value, uint64_t *dst)
{
    if (value->type != KH_HCL_STRING && value->type != KH_HCL_NUMBER)
        return cfg_error(ctx, value->line, value->col,
                         "expected a duration for \"%s\"", name);
    if (kh_duration_parse(value->text, dst) < 0)
        return cfg_error(ctx, value->line, value->col,
                         "invalid duration \"%.64s\" for \"%s\" (expected "
                         "seconds or a value like \"30m\", \"1h30m\", \"7d\")",
                         value->text, name);
    return 0;
}

/* A byte count: a non-negative integer, 0 meaning the default. */
static int get_size(const struct file_ctx *ctx, const char *name,
                    const struct kh_hcl_node *value, uint64_t *dst)
{
    uint64_t v = 0;
    size_t i;

    if ((value->type != KH_HCL_NUMBER && value->type != KH_HCL_STRING) ||
        value->text_len == 0)
        goto bad;
    for (i = 0; i < value->text_len; i++) {
        char c = value->text[i];

        if (c < '0' || c > '9')
            goto bad;
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(c - '0'), &v) ||
            v > KH_HTTP_BODY_BYTES_MAX)
            return cfg_error(ctx, value->line, value->col,
                             "\"%s\" must be at most %u bytes", name,
                             KH_HTTP_BODY_BYTES_MAX);
    }
    *dst = v == 0 ? KH_HTTP_BODY_BYTES_DEFAULT : v;
    return 0;
bad:
    return cfg_error(ctx, value->line, value->col,
                     "expected a non-negative integer for \"%s\"", name);
}

static int get_tls_version(const struct file_ctx *ctx, const char *name,
                           const struct kh_hcl_node *value, int *dst)
{
    if (value->type == KH_HCL_STRING && strcmp(value->text, "tls12") == 0) {
        *dst = 12;
        return 0;
    }
    if (value->type == KH_HCL_STRING && strcmp(value->text, "tls13") == 0) {
        *dst = 13;
        return 0;
    }
    return cfg_error(ctx, value->line, value->col,
                     "expected \"tls12\" or \"tls13\" for \"%s\"", name);
}

static int set_field(const struct file_ctx *ctx, const struct field *field,
                     void *base, const struct kh_hcl_node *value)
{
    char *dst = (char *)base + field->offset;

    switch (field->kind) {
    case FIELD_STRING:
        return get_string(ctx, field, value, (char **)dst);
    case FIELD_BOOL:
        return get_bool(ctx, field->name, value, (bool *)dst);
    case FIELD_DURATION:
        return get_duration(ctx, field->name, value, (uint64_t *)dst);
    case FIELD_SIZE:
        return get_size(ctx, field->name, value, (uint64_t *)dst);
    case FIELD_TLS_VERSION:
        return get_tls_version(ctx, field->name, value, (int *)dst);
    }
    return KH_EINTERNAL;
}

/* Set the field named by item's key; *seen has a bit per field. */
static int apply_field(const struct file_ctx *ctx, const struct field *fields,
                       size_t field_count, void *base,
                       const struct kh_hcl_item *item, unsigned *seen,
                       const char *where)
{
    size_t i;

    for (i = 0; i < field_count; i++)
        if (strcmp(fields[i].name, item->key) == 0)
            break;
    if (i == field_count)
        return cfg_error(ctx, item->line, item->col, "unknown key \"%.64s\" %s",
                         item->key, where);
    if (*seen & (1u << i))
        return cfg_error(ctx, item->line, item->col, "duplicate key \"%s\" %s",
                         item->key, where);
    *seen |= 1u << i;
    return set_field(ctx, &fields[i], base, item->value);
}

/* ---- blocks ----------------------------------------------------------- */

static int add_ref(const struct file_ctx *ctx, struct block_refs *refs,
                   const char *key, const char *label, unsigned line,
                   unsigned col, const struct kh_hcl_node *body)
{
    if (body->type != KH_HCL_OBJECT)
        return cfg_error(ctx, body->line, body->col,
                         "expected a block for \"%s\"", key);
    if (refs->count == KH_ARRAY_LEN(refs->refs))
        return cfg_error(ctx, line, col, "more than %zu \"%s\" blocks",
                         KH_ARRAY_LEN(refs->refs), key);
    refs->refs[refs->count++] = (struct block_ref){label, line, col, body};
    return 0;
}

/* { label = { ... } } or { label = [{ ... }, ...] } (Vault's JSON form). */
static int collect_by_key(const struct file_ctx *ctx, const char *key,
                          const struct kh_hcl_node *obj,
                          struct block_refs *refs)
{
    const struct kh_hcl_item *item;
    const struct kh_hcl_node *elem;
    int r;

    for (item = obj->items; item != NULL; item = item->next) {
        if (item->label_count > 0)
            return cfg_error(ctx, item->labels->line, item->labels->col,
                             "unexpected label inside \"%s\"", key);
        if (item->value->type != KH_HCL_LIST) {
            r = add_ref(ctx, refs, key, item->key, item->line, item->col,
                        item->value);
            if (r < 0)
                return r;
            continue;
        }
        for (elem = item->value->elems; elem != NULL; elem = elem->next) {
            r = add_ref(ctx, refs, key, item->key, item->line, item->col, elem);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* Blocks with one label: `key "label" { }`, `key = { label = { } }`,
 * `key = [{ label = { } }]`, and the same in JSON. */
static int collect_labeled(const struct file_ctx *ctx,
                           const struct kh_hcl_item *item,
                           struct block_refs *refs)
{
    const struct kh_hcl_node *value = item->value;
    const struct kh_hcl_node *elem;
    int r;

    if (item->label_count > 1)
        return cfg_error(ctx, item->labels->next->line, item->labels->next->col,
                         "\"%s\" takes exactly one label", item->key);
    if (item->label_count == 1) {
        KH_ASSERT(value->type == KH_HCL_OBJECT);
        return add_ref(ctx, refs, item->key, item->labels->text,
                       item->labels->line, item->labels->col, value);
    }
    if (value->type == KH_HCL_OBJECT)
        return collect_by_key(ctx, item->key, value, refs);
    if (value->type != KH_HCL_LIST)
        return cfg_error(ctx, value->line, value->col,
                         "expected a block for \"%s\"", item->key);
    for (elem = value->elems; elem != NULL; elem = elem->next) {
        if (elem->type != KH_HCL_OBJECT)
            return cfg_error(ctx, elem->line, elem->col,
                             "expected a block for \"%s\"", item->key);
        r = collect_by_key(ctx, item->key, elem, refs);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Blocks without a label: `key { }`, `key = { }`, `key = [{ }, { }]`. */
static int collect_unlabeled(const struct file_ctx *ctx,
                             const struct kh_hcl_item *item,
                             struct block_refs *refs)
{
    const struct kh_hcl_node *elem;
    int r;

    if (item->label_count > 0)
        return cfg_error(ctx, item->labels->line, item->labels->col,
                         "\"%s\" takes no label", item->key);
    if (item->value->type != KH_HCL_LIST)
        return add_ref(ctx, refs, item->key, NULL, item->line, item->col,
                       item->value);
    for (elem = item->value->elems; elem != NULL; elem = elem->next) {
        r = add_ref(ctx, refs, item->key, NULL, elem->line, elem->col, elem);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- listeners -------------------------------------------------------- */

static int parse_listener(struct file_ctx *ctx, const struct block_ref *ref)
{
    struct kh_config_listener *listener;
    const struct kh_hcl_item *item;
    unsigned seen = 0;
    int r;

    if (strcmp(ref->label, "tcp") != 0)
        return cfg_error(ctx, ref->line, ref->col,
                         "unsupported listener type \"%.64s\" (expected "
                         "\"tcp\")",
                         ref->label);
    if (ctx->listener_base + ctx->cfg->listener_count >=
        KH_CONFIG_LISTENERS_MAX)
        return cfg_error(ctx, ref->line, ref->col, "more than %d listeners",
                         KH_CONFIG_LISTENERS_MAX);
    listener = &ctx->cfg->listeners[ctx->cfg->listener_count++];
    listener_defaults(listener);
    for (item = ref->body->items; item != NULL; item = item->next) {
        r = apply_field(ctx, listener_fields, KH_ARRAY_LEN(listener_fields),
                        listener, item, &seen, "in listener \"tcp\" block");
        if (r < 0)
            return r;
    }
    if (listener->address == NULL) {
        r = dup_string(ctx, LISTENER_ADDRESS_DEFAULT, &listener->address);
        if (r < 0)
            return r;
    }
    if (!listener->tls_disable &&
        (listener->tls_cert_file == NULL || listener->tls_key_file == NULL))
        return cfg_error(ctx, ref->line, ref->col,
                         "listener \"tcp\" needs tls_cert_file and "
                         "tls_key_file unless tls_disable is true");
    return 0;
}

static int apply_listeners(struct file_ctx *ctx, const struct kh_hcl_item *item)
{
    struct block_refs refs = {.count = 0};
    size_t i;
    int r;

    r = collect_labeled(ctx, item, &refs);
    for (i = 0; r == 0 && i < refs.count; i++)
        r = parse_listener(ctx, &refs.refs[i]);
    return r;
}

/* ---- storage and seal stanzas ----------------------------------------- */

/* A parameter's value as text: strings as is, numbers as written. */
static int render_scalar(const struct file_ctx *ctx, const char *name,
                         const struct kh_hcl_node *value, char **ret)
{
    switch (value->type) {
    case KH_HCL_STRING:
    case KH_HCL_NUMBER:
        return dup_string(ctx, value->text, ret);
    case KH_HCL_BOOL:
        return dup_string(ctx, value->boolean ? "true" : "false", ret);
    default:
        return cfg_error(ctx, value->line, value->col,
                         "expected a string, number or boolean for \"%s\"",
                         name);
    }
}

static int add_param(const struct file_ctx *ctx,
                     struct kh_config_stanza *stanza, const char *name,
                     const struct kh_hcl_item *item, const char *where)
{
    struct kh_config_param *param;
    int r;

    if (kh_config_param(stanza, name) != NULL)
        return cfg_error(ctx, item->line, item->col,
                         "duplicate key \"%s\" in %s", item->key, where);
    if (stanza->param_count == KH_CONFIG_PARAMS_MAX)
        return cfg_error(ctx, item->line, item->col,
                         "more than %d parameters in %s", KH_CONFIG_PARAMS_MAX,
                         where);
    param = &stanza->params[stanza->param_count];
    r = render_scalar(ctx, item->key, item->value, &param->value);
    if (r < 0)
        return r;
    r = dup_string(ctx, name, &param->name);
    if (r < 0)
        return r;
    stanza->param_count++;
    return 0;
}

/* retry_join { leader_api_addr = ... } blocks of raft, stored as
 * "retry_join.<n>.<key>" parameters, n counting from 0 in file order. */
static int parse_retry_join(const struct file_ctx *ctx,
                            struct kh_config_stanza *stanza,
                            const struct kh_hcl_item *join, size_t *index)
{
    struct block_refs refs = {.count = 0};
    const struct kh_hcl_item *item;
    char name[96];
    size_t i;
    int r;

    r = collect_unlabeled(ctx, join, &refs);
    for (i = 0; r == 0 && i < refs.count; i++, (*index)++) {
        for (item = refs.refs[i].body->items; item != NULL; item = item->next) {
            if (!in_list(retry_join_keys, item->key))
                return cfg_error(ctx, item->line, item->col,
                                 "unknown key \"%.64s\" in retry_join block",
                                 item->key);
            (void)snprintf(name, sizeof(name), "retry_join.%zu.%s", *index,
                           item->key);
            r = add_param(ctx, stanza, name, item, "storage \"raft\" block");
            if (r < 0)
                return r;
        }
    }
    return r;
}

static int parse_stanza(const struct file_ctx *ctx,
                        const struct stanza_kind *kind,
                        const struct stanza_schema *schema,
                        const struct block_ref *ref,
                        struct kh_config_stanza *stanza)
{
    const struct kh_hcl_item *item;
    char where[64];
    size_t joins = 0;
    int r;

    (void)snprintf(where, sizeof(where), "%s \"%s\" block", kind->name,
                   schema->type);
    r = dup_string(ctx, schema->type, &stanza->type);
    if (r < 0)
        return r;
    for (item = ref->body->items; item != NULL; item = item->next) {
        if (schema->retry_join && strcmp(item->key, "retry_join") == 0)
            r = parse_retry_join(ctx, stanza, item, &joins);
        else if (in_list(schema->keys, item->key))
            r = add_param(ctx, stanza, item->key, item, where);
        else
            r = cfg_error(ctx, item->line, item->col,
                          "unknown key \"%.64s\" in %s", item->key, where);
        if (r < 0)
            return r;
    }
    if (schema->required != NULL &&
        kh_config_param(stanza, schema->required) == NULL)
        return cfg_error(ctx, ref->line, ref->col, "%s needs \"%s\"", where,
                         schema->required);
    return 0;
}

static int apply_stanza(struct file_ctx *ctx, const struct kh_hcl_item *item,
                        const struct stanza_kind *kind)
{
    struct block_refs refs = {.count = 0};
    const struct block_ref *ref;
    struct kh_config_stanza *stanza;
    size_t i;
    size_t s;
    int r;

    stanza = (struct kh_config_stanza *)((char *)ctx->cfg + kind->offset);
    r = collect_labeled(ctx, item, &refs);
    for (i = 0; r == 0 && i < refs.count; i++) {
        ref = &refs.refs[i];
        if (ctx->seen & kind->seen_bit)
            return cfg_error(ctx, ref->line, ref->col,
                             "duplicate %s stanza (only one per file)",
                             kind->name);
        ctx->seen |= kind->seen_bit;
        for (s = 0; s < kind->schema_count; s++)
            if (strcmp(kind->schemas[s].type, ref->label) == 0)
                break;
        if (s == kind->schema_count)
            return cfg_error(ctx, ref->line, ref->col,
                             "unknown %s type \"%.64s\" (expected %s)",
                             kind->name, ref->label, kind->expected);
        r = parse_stanza(ctx, kind, &kind->schemas[s], ref, stanza);
    }
    return r;
}

/* audit "<type>" { ... } blocks: several per file, accumulating. */
static int apply_audit(struct file_ctx *ctx, const struct kh_hcl_item *item)
{
    struct block_refs refs = {.count = 0};
    const struct block_ref *ref;
    size_t i, s;
    int r;

    r = collect_labeled(ctx, item, &refs);
    for (i = 0; r == 0 && i < refs.count; i++) {
        ref = &refs.refs[i];
        if (ctx->audit_base + ctx->cfg->audit_count >= KH_CONFIG_AUDIT_MAX)
            return cfg_error(ctx, ref->line, ref->col,
                             "more than %d audit blocks", KH_CONFIG_AUDIT_MAX);
        for (s = 0; s < audit_kind.schema_count; s++)
            if (strcmp(audit_kind.schemas[s].type, ref->label) == 0)
                break;
        if (s == audit_kind.schema_count)
            return cfg_error(ctx, ref->line, ref->col,
                             "unknown audit type \"%.64s\" (expected %s)",
                             ref->label, audit_kind.expected);
        r = parse_stanza(ctx, &audit_kind, &audit_kind.schemas[s], ref,
                         &ctx->cfg->audit[ctx->cfg->audit_count++]);
    }
    return r;
}

/* audit_allowed_dirs = ["/var/log/keyhold", ...]: absolute paths. */
static int apply_audit_dirs(struct file_ctx *ctx,
                            const struct kh_hcl_item *item)
{
    const struct kh_hcl_node *elem;
    struct kh_config *cfg = ctx->cfg;
    int r;

    if (item->value->type != KH_HCL_LIST)
        return cfg_error(ctx, item->line, item->col,
                         "expected a list of directories for "
                         "\"audit_allowed_dirs\"");
    if (cfg->audit_allowed_dir_count != 0)
        return cfg_error(ctx, item->line, item->col,
                         "duplicate key \"audit_allowed_dirs\"");
    for (elem = item->value->elems; elem != NULL; elem = elem->next) {
        if (elem->type != KH_HCL_STRING || elem->text[0] != '/')
            return cfg_error(ctx, elem->line, elem->col,
                             "expected an absolute directory path");
        if (cfg->audit_allowed_dir_count == KH_CONFIG_AUDIT_DIRS_MAX)
            return cfg_error(ctx, elem->line, elem->col,
                             "more than %d audit_allowed_dirs",
                             KH_CONFIG_AUDIT_DIRS_MAX);
        r = dup_string(ctx, elem->text,
                       &cfg->audit_allowed_dirs[cfg->audit_allowed_dir_count]);
        if (r < 0)
            return r;
        cfg->audit_allowed_dir_count++;
    }
    return 0;
}

/* ---- documents -------------------------------------------------------- */

static int apply_root(struct file_ctx *ctx, const struct kh_hcl_node *root)
{
    const struct kh_hcl_item *item;
    int r = 0;

    KH_ASSERT(root->type == KH_HCL_OBJECT);
    for (item = root->items; item != NULL && r == 0; item = item->next) {
        if (strcmp(item->key, "listener") == 0)
            r = apply_listeners(ctx, item);
        else if (strcmp(item->key, "storage") == 0)
            r = apply_stanza(ctx, item, &storage_kind);
        else if (strcmp(item->key, "seal") == 0)
            r = apply_stanza(ctx, item, &seal_kind);
        else if (strcmp(item->key, "audit") == 0)
            r = apply_audit(ctx, item);
        else if (strcmp(item->key, "audit_allowed_dirs") == 0)
            r = apply_audit_dirs(ctx, item);
        else
            r = apply_field(ctx, top_fields, KH_ARRAY_LEN(top_fields), ctx->cfg,
                            item, &ctx->seen, "at top level");
    }
    return r;
}

static void move_field(struct kh_config *dst, struct kh_config *src,
                       const struct field *field)
{
    char *d = (char *)dst + field->offset;
    char *s = (char *)src + field->offset;

    switch (field->kind) {
    case FIELD_STRING:
        free_string((char **)d);
        *(char **)d = *(char **)s;
        *(char **)s = NULL;
        break;
    case FIELD_BOOL:
        *(bool *)d = *(bool *)s;
        break;
    case FIELD_DURATION:
    case FIELD_SIZE:
        *(uint64_t *)d = *(uint64_t *)s;
        break;
    case FIELD_TLS_VERSION:
        *(int *)d = *(int *)s;
        break;
    }
}

static void move_stanza(struct kh_config_stanza *dst,
                        struct kh_config_stanza *src)
{
    stanza_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

/* Hand what one validated document set over to the merged config. */
static void merge_document(struct kh_config *dst, struct kh_config *src,
                           unsigned seen)
{
    size_t i;

    KH_ASSERT(dst->listener_count + src->listener_count <=
              KH_CONFIG_LISTENERS_MAX);
    for (i = 0; i < src->listener_count; i++) {
        listener_clear(&dst->listeners[dst->listener_count]);
        dst->listeners[dst->listener_count++] = src->listeners[i];
        memset(&src->listeners[i], 0, sizeof(src->listeners[i]));
    }
    src->listener_count = 0;
    if (seen & SEEN_STORAGE)
        move_stanza(&dst->storage, &src->storage);
    if (seen & SEEN_SEAL)
        move_stanza(&dst->seal, &src->seal);
    KH_ASSERT(dst->audit_count + src->audit_count <= KH_CONFIG_AUDIT_MAX);
    for (i = 0; i < src->audit_count; i++)
        move_stanza(&dst->audit[dst->audit_count++], &src->audit[i]);
    src->audit_count = 0;
    if (src->audit_allowed_dir_count > 0) {
        for (i = 0; i < KH_CONFIG_AUDIT_DIRS_MAX; i++) {
            free_string(&dst->audit_allowed_dirs[i]);
            dst->audit_allowed_dirs[i] = src->audit_allowed_dirs[i];
            src->audit_allowed_dirs[i] = NULL;
        }
        dst->audit_allowed_dir_count = src->audit_allowed_dir_count;
        src->audit_allowed_dir_count = 0;
    }
    for (i = 0; i < KH_ARRAY_LEN(top_fields); i++)
        if (seen & (1u << i))
            move_field(dst, src, &top_fields[i]);
}

int kh_config_parse_text(struct kh_config *config, const char *text, size_t len,
                         const char *filename, char *errmsg, size_t errmsg_size)
{
    struct kh_hcl_doc *doc = NULL;
    struct file_ctx ctx = {.errmsg = errmsg, .errmsg_size = errmsg_size};
    int r = KH_EINTERNAL;

    KH_ASSERT(config != NULL);
    KH_ASSERT(text != NULL || len == 0);
    KH_ASSERT(config->listener_count <= KH_CONFIG_LISTENERS_MAX);
    ctx.filename = filename != NULL ? filename : "<config>";
    ctx.listener_base = config->listener_count;
    ctx.audit_base = config->audit_count;
    ctx.cfg = kh_config_new();
    if (ctx.cfg == NULL) {
        r = cfg_nomem(&ctx);
        goto out;
    }
    r = kh_hcl_parse(text, len, ctx.filename, &doc, errmsg, errmsg_size);
    if (r < 0)
        goto out;
    r = apply_root(&ctx, kh_hcl_root(doc));
    if (r < 0)
        goto out;
    merge_document(config, ctx.cfg, ctx.seen);
    r = 0; /* success */
out:
    kh_hcl_free(doc);
    kh_config_free(ctx.cfg);
    return r;
}

/* ---- files and directories -------------------------------------------- */

struct load_ctx
{
    struct kh_config *cfg;
    size_t file_count;
    char *errmsg;
    size_t errmsg_size;
};

static int io_error(const struct load_ctx *lc, const char *path, int err)
{
    return kh_errmsg(lc->errmsg, lc->errmsg_size, KH_EIO, "%s: %s", path,
                     strerror(err));
}

/* The whole file, at most KH_CONFIG_FILE_BYTES_MAX bytes, in a buffer of
 * *ret_len + 1 bytes the caller wipes and frees. */
static int read_file(const struct load_ctx *lc, const char *path,
                     char **ret_text, size_t *ret_len)
{
    struct stat st;
    char *buf = NULL;
    size_t cap = 0;
    size_t len = 0;
    ssize_t n;
    int fd;
    int r = KH_EINTERNAL;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        r = io_error(lc, path, errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ECONFIG,
                      "%s: not a regular file", path);
        goto out;
    }
    if (st.st_size > KH_CONFIG_FILE_BYTES_MAX) {
        r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ECONFIG,
                      "%s: file is larger than %u bytes", path,
                      KH_CONFIG_FILE_BYTES_MAX);
        goto out;
    }
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ENOMEM,
                      "%s: out of memory", path);
        goto out;
    }
    while (len < cap) {
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = io_error(lc, path, errno);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == cap) {
        r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ECONFIG,
                      "%s: file grew while being read", path);
        goto out;
    }
    *ret_text = buf;
    *ret_len = len;
    buf = NULL;
    r = 0; /* success */
out:
    if (fd >= 0)
        close(fd);
    kh_free_secret(buf, cap);
    return r;
}

static int load_file(struct load_ctx *lc, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int r = KH_EINTERNAL;

    if (lc->file_count == KH_CONFIG_FILES_MAX) {
        r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ECONFIG,
                      "%s: more than %d configuration files", path,
                      KH_CONFIG_FILES_MAX);
        goto out;
    }
    lc->file_count++;
    r = read_file(lc, path, &text, &len);
    if (r < 0)
        goto out;
    r = kh_config_parse_text(lc->cfg, text, len, path, lc->errmsg,
                             lc->errmsg_size);
    if (r < 0)
        goto out;
    r = 0; /* success */
out:
    kh_free_secret(text, len);
    return r;
}

static bool has_config_suffix(const char *name)
{
    size_t len = strlen(name);

    return (len > 4 && strcmp(name + len - 4, ".hcl") == 0) ||
           (len > 5 && strcmp(name + len - 5, ".json") == 0);
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular *.hcl and *.json files of dir, sorted, into paths. */
static int list_dir(struct load_ctx *lc, const char *dir, char **paths,
                    size_t *ret_count)
{
    char path[PATH_MAX];
    struct dirent *de;
    struct stat st;
    size_t count = 0;
    DIR *d;
    int r = KH_EINTERNAL;

    d = opendir(dir);
    if (d == NULL)
        return io_error(lc, dir, errno);
    while ((de = readdir(d)) != NULL) {
        if (!has_config_suffix(de->d_name))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
            (int)sizeof(path)) {
            r = io_error(lc, dir, ENAMETOOLONG);
            goto out;
        }
        if (stat(path, &st) < 0) {
            r = io_error(lc, path, errno);
            goto out;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (count == KH_CONFIG_FILES_MAX) {
            r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ECONFIG,
                          "%s: more than %d configuration files", dir,
                          KH_CONFIG_FILES_MAX);
            goto out;
        }
        paths[count] = strdup(path);
        if (paths[count++] == NULL) {
            r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ENOMEM,
                          "%s: out of memory", dir);
            goto out;
        }
    }
    qsort(paths, count, sizeof(paths[0]), compare_paths);
    r = 0; /* success */
out:
    *ret_count = count; /* so the caller frees what was listed */
    closedir(d);
    return r;
}

static int load_dir(struct load_ctx *lc, const char *dir)
{
    char *paths[KH_CONFIG_FILES_MAX] = {NULL};
    size_t count = 0;
    size_t i;
    int r = KH_EINTERNAL;

    r = list_dir(lc, dir, paths, &count);
    if (r < 0)
        goto out;
    if (count == 0) {
        r = kh_errmsg(lc->errmsg, lc->errmsg_size, KH_ECONFIG,
                      "%s: no *.hcl or *.json files in directory", dir);
        goto out;
    }
    for (i = 0; i < count; i++) {
        r = load_file(lc, paths[i]);
        if (r < 0)
            goto out;
    }
    r = 0; /* success */
out:
    for (i = 0; i < count; i++)
        free(paths[i]);
    return r;
}

int kh_config_load(const char *const *paths, size_t path_count,
                   struct kh_config **ret_config, char *errmsg,
                   size_t errmsg_size)
{
    struct load_ctx lc = {.errmsg = errmsg, .errmsg_size = errmsg_size};
    struct stat st;
    size_t i;
    int r = KH_EINTERNAL;

    KH_ASSERT(ret_config != NULL);
    KH_ASSERT(paths != NULL || path_count == 0);
    if (path_count == 0) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                      "no configuration file given");
        goto out;
    }
    lc.cfg = kh_config_new();
    if (lc.cfg == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < path_count; i++) {
        if (stat(paths[i], &st) < 0) {
            r = io_error(&lc, paths[i], errno);
            goto out;
        }
        r = S_ISDIR(st.st_mode) ? load_dir(&lc, paths[i])
                                : load_file(&lc, paths[i]);
        if (r < 0)
            goto out;
    }
    *ret_config = lc.cfg;
    lc.cfg = NULL;
    r = 0; /* success */
out:
    kh_config_free(lc.cfg);
    return r;
}
