/*
 * token_create.c - making tokens (Vault API: token create, and the logins of
 * §5 through token_store_issue): the entry's policies (sorted, unique,
 * "default" added unless declined or root), display name, TTL, limits,
 * a fresh random ID and accessor, and the atomic insert under the
 * parent.
 *
 * TTL rules (Vault's framework.CalculateTTL): the max is the system/mount
 * max, lowered by a backend max and by explicit_max_ttl; a periodic token
 * lives for its period (capped by explicit_max_ttl); otherwise the
 * requested TTL or the default, capped by the max; a root-policy token
 * without a TTL never expires. A child never outlives its parent: its TTL
 * is capped by the parent's remaining TTL, read under the write lock.
 *
 * Permission rules that depend on the caller (subset of policies, id,
 * no_parent, period) are the request layer's (token_create_request.c);
 * this file never decides who may create what, only whether the result
 * is well-formed. The new ID leaves only through ret_id and is wiped
 * from every local buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "mount/mount_table.h"
#include "token/token_internal.h"

void token_ttl_limits(const struct mount_entry *mount,
                      uint64_t config_default_s, uint64_t config_max_s,
                      uint64_t *ret_default_s, uint64_t *ret_max_s)
{
    uint64_t def = config_default_s, max = config_max_s;

    if (def == 0)
        def = TOKEN_TTL_SYSTEM_DEFAULT_S;
    if (max == 0)
        max = TOKEN_TTL_SYSTEM_DEFAULT_S;
    if (mount != NULL && mount->default_lease_ttl_s != 0)
        def = mount->default_lease_ttl_s;
    if (mount != NULL && mount->max_lease_ttl_s != 0)
        max = mount->max_lease_ttl_s;
    if (def > max)
        def = max;
    *ret_default_s = def;
    *ret_max_s = max;
}

void token_display_name(const char *name, bool prefix,
                        char out[TOKEN_DISPLAY_NAME_BYTES])
{
    size_t i, start;

    if (name == NULL || name[0] == '\0') {
        strcpy(out, "token");
        return;
    }
    snprintf(out, TOKEN_DISPLAY_NAME_BYTES, "%s%s", prefix ? "token-" : "",
             name);
    start = prefix ? 6 : 0;
    for (i = start; out[i] != '\0'; i++) {
        char c = out[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-'))
            out[i] = '-';
    }
}

static int policy_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static bool has_policy(const struct token_entry *e, const char *name)
{
    size_t i;

    for (i = 0; i < e->policy_count; i++) {
        if (strcmp(e->policies[i], name) == 0)
            return true;
    }
    return false;
}

/* Append name unless present. */
static int policy_add(struct token_entry *e, const char *name, char *errmsg,
                      size_t errmsg_size)
{
    if (!token_policy_name_valid(name))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid policy name \"%.64s\"", name);
    if (has_policy(e, name))
        return 0;
    if (e->policy_count == TOKEN_POLICIES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "too many policies (limit %d)", TOKEN_POLICIES_MAX);
    strcpy(e->policies[e->policy_count++], name);
    return 0;
}

/* The entry's policies: the request's or the caller's, plus "default"
 * unless declined, root, or the (non-root) caller lacks it. */
static int entry_policies(struct token_entry *e,
                          const struct token_create_req *c,
                          const struct token_entry *caller, char *errmsg,
                          size_t errmsg_size)
{
    bool add_default = !c->no_default_policy;
    size_t i;
    int r = 0;

    e->policy_count = 0;
    if (c->policies_given) {
        for (i = 0; r == 0 && i < c->policy_count; i++)
            r = policy_add(e, c->policies[i], errmsg, errmsg_size);
    } else if (caller != NULL) {
        for (i = 0; r == 0 && i < caller->policy_count; i++)
            r = policy_add(e, caller->policies[i], errmsg, errmsg_size);
    }
    if (r != 0)
        return r;
    e->root = has_policy(e, "root");
    if (caller != NULL && !caller->root && !has_policy(caller, "default"))
        add_default = false;
    if (add_default && !e->root)
        r = policy_add(e, "default", errmsg, errmsg_size);
    qsort(e->policies, e->policy_count, TOKEN_POLICY_NAME_MAX, policy_cmp);
    return r;
}

/* TTL and renewal cap before the parent's cap (see the file comment). */
static void entry_ttl(struct token_entry *e, const struct token_create_req *c)
{
    uint64_t max = c->system_max_ttl_s, ttl;

    if (c->backend_max_ttl_s != 0 && c->backend_max_ttl_s < max)
        max = c->backend_max_ttl_s;
    if (c->explicit_max_ttl_s != 0 && c->explicit_max_ttl_s < max)
        max = c->explicit_max_ttl_s;
    if (c->period_s != 0) {
        ttl = c->period_s;
        if (c->explicit_max_ttl_s != 0 && ttl > c->explicit_max_ttl_s)
            ttl = c->explicit_max_ttl_s;
        max = c->explicit_max_ttl_s;
    } else if (c->ttl_s == 0 && e->root) {
        ttl = c->explicit_max_ttl_s;
        max = c->explicit_max_ttl_s;
    } else {
        ttl = c->ttl_s != 0 ? c->ttl_s : c->default_ttl_s;
        if (ttl > max)
            ttl = max;
    }
    e->creation_ttl_s = ttl;
    e->max_ttl_s = max;
    e->explicit_max_ttl_s = c->explicit_max_ttl_s;
    e->period_s = c->period_s;
}

static int entry_meta(struct token_entry *e, const json_t *meta, char *errmsg,
                      size_t errmsg_size)
{
    const char *key;
    const json_t *value;
    int r;

    r = token_field_meta(meta, errmsg, errmsg_size);
    if (r != 0 || meta == NULL || json_is_null(meta))
        return r;
    json_object_foreach((json_t *)meta, key, value)
    {
        KH_ASSERT(e->meta_count < TOKEN_META_MAX);
        strcpy(e->meta[e->meta_count].key, key);
        strcpy(e->meta[e->meta_count].value, json_string_value(value));
        e->meta_count++;
    }
    return 0;
}

static int entry_cidrs(struct token_entry *e, const struct token_create_req *c,
                       char *errmsg, size_t errmsg_size)
{
    size_t i;

    if (c->bound_cidr_count > TOKEN_BOUND_CIDRS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "too many bound CIDRs (limit %d)",
                         TOKEN_BOUND_CIDRS_MAX);
    for (i = 0; i < c->bound_cidr_count; i++) {
        if (!token_cidr_valid(c->bound_cidrs[i]))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid CIDR \"%.64s\"", c->bound_cidrs[i]);
        strcpy(e->bound_cidrs[i], c->bound_cidrs[i]);
    }
    e->bound_cidr_count = c->bound_cidr_count;
    return 0;
}

/* Batch tokens: no period, no uses limit, no root, no custom ID. */
static int check_batch(const struct token_entry *e,
                       const struct token_create_req *c, char *errmsg,
                       size_t errmsg_size)
{
    if (c->type != TOKEN_TYPE_BATCH)
        return 0;
    if (c->period_s != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "batch tokens cannot be periodic");
    if (c->num_uses != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "batch tokens cannot have a use limit");
    if (e->root)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "batch tokens cannot be root tokens");
    if (c->id != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "batch tokens cannot have a custom ID");
    return 0;
}

/* Everything of the entry that does not depend on the parent's state. */
static int entry_build(struct token_entry *e, const struct token_create_req *c,
                       const struct token_entry *caller, char *errmsg,
                       size_t errmsg_size)
{
    int r;

    memset(e, 0, sizeof(*e));
    if (c->num_uses > TOKEN_NUM_USES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"num_uses\" must be at most %u", TOKEN_NUM_USES_MAX);
    /* A client's display_name is refused when too long; a login's (made
     * by an auth method from a mount path) is truncated instead. */
    if (c->display_name_prefix && c->display_name != NULL &&
        strlen(c->display_name) > TOKEN_DISPLAY_INPUT_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"display_name\" is too long (limit %d bytes)",
                         TOKEN_DISPLAY_INPUT_MAX);
    if (c->path == NULL || strlen(c->path) >= sizeof(e->path) ||
        (c->role != NULL && strlen(c->role) >= sizeof(e->role)))
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT, "token path too long");
    r = entry_policies(e, c, caller, errmsg, errmsg_size);
    if (r == 0)
        r = entry_meta(e, c->meta, errmsg, errmsg_size);
    if (r == 0)
        r = entry_cidrs(e, c, errmsg, errmsg_size);
    if (r == 0)
        r = check_batch(e, c, errmsg, errmsg_size);
    if (r != 0)
        return r;
    token_display_name(c->display_name, c->display_name_prefix,
                       e->display_name);
    strcpy(e->path, c->path);
    snprintf(e->role, sizeof(e->role), "%s", c->role ? c->role : "");
    e->type =
        c->type == TOKEN_TYPE_BATCH ? TOKEN_TYPE_BATCH : TOKEN_TYPE_SERVICE;
    e->num_uses = c->num_uses;
    e->renewable = c->renewable && e->type == TOKEN_TYPE_SERVICE;
    entry_ttl(e, c);
    return 0;
}

/* The ID: requested (printable, no '.') or random with the type prefix. */
static int entry_id(const struct token_create_req *c, enum token_type type,
                    char id[TOKEN_ID_BYTES_MAX + 1], char *errmsg,
                    size_t errmsg_size)
{
    const char *prefix =
        type == TOKEN_TYPE_BATCH ? TOKEN_BATCH_PREFIX : TOKEN_PREFIX;
    size_t i;

    if (c->id == NULL) {
        strcpy(id, prefix);
        return kh_random_base62(id + strlen(prefix), TOKEN_RANDOM_CHARS);
    }
    if (c->id[0] == '\0' || strlen(c->id) > TOKEN_ID_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"id\" must be 1-%d bytes", TOKEN_ID_BYTES_MAX);
    for (i = 0; c->id[i] != '\0'; i++) {
        if ((unsigned char)c->id[i] <= 0x20 || c->id[i] == 0x7f)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"id\" must be printable without spaces");
        if (c->id[i] == '.') /* Vault: reserved for type prefixes */
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "token IDs can not contain a period");
    }
    strcpy(id, c->id);
    return 0;
}

/* KH_EINVAL when a token is stored under hash (a requested ID). */
static int id_unused_locked(struct token_store *store, const char *hash,
                            char *errmsg, size_t errmsg_size)
{
    struct token_entry *e = malloc(sizeof(*e));
    int r;

    if (e == NULL)
        return KH_ENOMEM;
    r = token_entry_load(store, hash, e);
    free(e);
    if (r == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "cannot create a token with a duplicate ID");
    return r == KH_ENOTFOUND ? 0 : r;
}

/* Under the write lock: the parent's current state, depth and TTL cap,
 * a duplicate-ID check, then the insert. */
static int insert_locked(struct token_store *store, struct token_entry *e,
                         const struct token_entry *parent_in, bool custom_id,
                         char *errmsg, size_t errmsg_size)
{
    struct token_entry *parent = NULL;
    int64_t now = token_now();
    int r = KH_ENOMEM;

    if (parent_in != NULL) {
        parent = malloc(sizeof(*parent));
        if (parent == NULL)
            goto out;
        r = token_entry_load_valid(store, parent_in->id_hash, parent);
        if (r != 0)
            goto out; /* revoked or expired meanwhile: KH_EPERM */
        r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                      "token tree too deep (limit %d)", TOKEN_TREE_DEPTH_MAX);
        if (parent->depth + 1 >= TOKEN_TREE_DEPTH_MAX)
            goto out;
        memcpy(e->parent, parent->id_hash, sizeof(e->parent));
        e->depth = parent->depth + 1;
        if (parent->expire_time != 0 &&
            (e->creation_ttl_s == 0 ||
             (int64_t)e->creation_ttl_s > parent->expire_time - now))
            e->creation_ttl_s = (uint64_t)(parent->expire_time - now);
    }
    e->orphan = e->parent[0] == '\0';
    e->creation_time = now;
    e->expire_time = e->creation_ttl_s ? now + (int64_t)e->creation_ttl_s : 0;
    if (e->creation_ttl_s == 0)
        e->renewable = false; /* nothing to renew (Vault) */
    if (custom_id) {
        r = id_unused_locked(store, e->id_hash, errmsg, errmsg_size);
        if (r != 0)
            goto out;
    }
    r = token_entry_insert(store, e);
out:
    free(parent);
    return r;
}

int token_create(struct token_store *store, const struct token_entry *caller,
                 bool orphan, const struct token_create_req *c,
                 char ret_id[TOKEN_ID_BYTES_MAX + 1], struct token_entry *ret,
                 char *errmsg, size_t errmsg_size)
{
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry *e = NULL;
    int r;

    KH_ASSERT(store != NULL);
    KH_ASSERT(orphan || caller != NULL);
    if (caller != NULL && caller->type == TOKEN_TYPE_BATCH)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "batch tokens cannot create more tokens");
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = entry_build(e, c, caller, errmsg, errmsg_size);
    if (r == 0)
        r = entry_id(c, e->type, id, errmsg, errmsg_size);
    if (r == 0 && e->type == TOKEN_TYPE_SERVICE)
        r = kh_random_base62(e->accessor, TOKEN_RANDOM_CHARS);
    if (r == 0)
        r = token_hash(store, id, e->id_hash);
    if (r != 0)
        goto out;
    pthread_mutex_lock(&store->write_lock);
    r = insert_locked(store, e, orphan ? NULL : caller, c->id != NULL, errmsg,
                      errmsg_size);
    pthread_mutex_unlock(&store->write_lock);
    if (r != 0)
        goto out;
    memcpy(ret_id, id, strlen(id) + 1);
    memcpy(ret, e, sizeof(*e));
    r = 0; /* success */
out:
    kh_wipe(id, sizeof(id));
    free(e);
    return r;
}

/* The mount's name for a login token's display name: "auth/approle/" ->
 * "approle". */
static void mount_display(const struct mount_entry *mount, char *out,
                          size_t size)
{
    const char *p = mount != NULL ? mount->path : "";
    size_t len;

    if (strncmp(p, "auth/", 5) == 0)
        p += 5;
    len = strlen(p);
    if (len > 0 && p[len - 1] == '/')
        len--;
    snprintf(out, size, "%.*s", (int)len, p);
}

int token_store_issue(struct token_store *store,
                      const struct mount_entry *mount,
                      const struct token_params *params,
                      const struct kh_request *req, struct kh_response *resp,
                      char *errmsg, size_t errmsg_size)
{
    struct token_create_req c;
    char display[TOKEN_DISPLAY_NAME_BYTES];
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry *e = NULL;
    size_t i;
    int r = KH_EINVAL;

    KH_ASSERT(params != NULL);
    KH_ASSERT(params->policy_count <= TOKEN_POLICIES_MAX);
    memset(&c, 0, sizeof(c));
    if (params->bound_cidr_count > TOKEN_BOUND_CIDRS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT, "too many CIDRs");
    for (i = 0; i < params->policy_count; i++)
        c.policies[i] = params->policies[i];
    c.policy_count = params->policy_count;
    c.policies_given = true;
    c.no_default_policy = params->no_default_policy;
    c.meta = params->meta;
    mount_display(mount, display, sizeof(display));
    c.display_name = params->display_name ? params->display_name : display;
    c.path = params->path != NULL ? params->path : "auth/token/login";
    c.ttl_s = params->ttl_s;
    c.backend_max_ttl_s = params->max_ttl_s;
    c.explicit_max_ttl_s = params->explicit_max_ttl_s;
    c.period_s = params->period_s;
    c.num_uses = params->num_uses;
    c.renewable = params->renewable;
    for (i = 0; i < params->bound_cidr_count; i++)
        c.bound_cidrs[i] = params->bound_cidrs[i];
    c.bound_cidr_count = params->bound_cidr_count;
    c.type = TOKEN_TYPE_SERVICE;
    if (params->type != NULL && strcmp(params->type, "batch") == 0)
        c.type = TOKEN_TYPE_BATCH;
    else if (params->type != NULL && params->type[0] != '\0' &&
             strcmp(params->type, "service") != 0 &&
             strcmp(params->type, "default") != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid token type \"%.32s\"", params->type);
    pthread_mutex_lock(&store->write_lock);
    token_ttl_limits(mount, store->default_ttl_s, store->max_ttl_s,
                     &c.default_ttl_s, &c.system_max_ttl_s);
    pthread_mutex_unlock(&store->write_lock);
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_create(store, NULL, true, &c, id, e, errmsg, errmsg_size);
    if (r == 0)
        r = token_respond_auth(resp, req, e, id);
    kh_wipe(id, sizeof(id));
    free(e);
    return r;
}
