/*
 * token_renew.c - renewal of a token's TTL (Vault API: token lookup, renew, revoke renew,
 * renew-self, renew-accessor), as Vault's framework.LeaseExtend and
 * CalculateTTL do it:
 *
 *   periodic token   TTL = period, capped by what explicit_max_ttl leaves
 *   other tokens     TTL = increment (0: the creation TTL), capped by what
 *                    the token's max TTL (system/mount max lowered by
 *                    explicit_max_ttl) leaves since its creation
 *
 * and, Keyhold's addition, never past its parent's expiry, so a child is
 * never left alive by a parent that expires (tidy removes both at once).
 * Root tokens without a TTL, non-renewable and batch tokens answer 400.
 * The whole read-modify-write runs under the store's write lock.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "token/token_internal.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Seconds left until t (at least 0). */
static uint64_t left_until(int64_t t, int64_t now)
{
    return t > now ? (uint64_t)(t - now) : 0;
}

static int renewable_check(const struct token_entry *e, char *errmsg,
                           size_t errmsg_size)
{
    if (e->type == TOKEN_TYPE_BATCH)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "batch tokens cannot be renewed");
    if (!e->renewable || e->expire_time == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "lease is not renewable");
    return 0;
}

/* The new TTL of e before the parent's cap. */
static uint64_t renew_ttl(const struct token_entry *e, uint64_t increment_s,
                          int64_t now)
{
    uint64_t ttl;

    if (e->period_s != 0) {
        ttl = e->period_s;
        if (e->explicit_max_ttl_s != 0)
            ttl = min_u64(ttl, left_until(e->creation_time +
                                              (int64_t)e->explicit_max_ttl_s,
                                          now));
        return ttl;
    }
    ttl = increment_s != 0 ? increment_s : e->creation_ttl_s;
    if (e->max_ttl_s != 0)
        ttl = min_u64(
            ttl, left_until(e->creation_time + (int64_t)e->max_ttl_s, now));
    return ttl;
}

/* Cap by the parent's expiry; KH_EPERM when the parent is gone. */
static int parent_cap(struct token_store *store, const struct token_entry *e,
                      int64_t now, uint64_t *ttl)
{
    struct token_entry *parent;
    int r;

    if (e->orphan)
        return 0;
    parent = malloc(sizeof(*parent));
    if (parent == NULL)
        return KH_ENOMEM;
    r = token_entry_load_valid(store, e->parent, parent);
    if (r == 0 && parent->expire_time != 0)
        *ttl = min_u64(*ttl, left_until(parent->expire_time, now));
    free(parent);
    return r;
}

int token_renew(struct token_store *store, const char *hash,
                uint64_t increment_s, struct token_entry *ret, char *errmsg,
                size_t errmsg_size)
{
    struct token_entry *e;
    int64_t now = token_now();
    uint64_t ttl;
    int r;

    KH_ASSERT(store != NULL);
    KH_ASSERT(token_hash_valid(hash));
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    pthread_mutex_lock(&store->write_lock);
    r = token_entry_load_valid(store, hash, e);
    if (r == 0)
        r = renewable_check(e, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    ttl = renew_ttl(e, min_u64(increment_s, TOKEN_TTL_MAX_S), now);
    r = parent_cap(store, e, now, &ttl);
    if (r != 0)
        goto out;
    if (ttl != 0) { /* 0: at its max already; keep the current expiry */
        e->expire_time = now + (int64_t)ttl;
        e->last_renewal = now;
        r = token_entry_rewrite(store, e);
        if (r != 0)
            goto out;
    }
    memcpy(ret, e, sizeof(*e));
    r = 0; /* success */
out:
    pthread_mutex_unlock(&store->write_lock);
    free(e);
    return r;
}
