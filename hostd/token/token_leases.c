/*
 * token_leases.c - what the token store tells the lease manager: the
 * owner a lease records for the token that created it, the bound a token
 * puts on its leases' TTL, and the durable queue of revoked tokens whose
 * leases must be revoked (sys/token/revoked/<hash>, written by
 * token_tree.c in the batch that removes a token).
 *
 * Owns the queue records only; it never calls the lease manager (the
 * lease manager polls the queue) and never sees a token ID: owners are
 * salted hashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "token/token_internal.h"

void token_key_revoked(const char *hash, char out[TOKEN_KEY_BYTES])
{
    KH_ASSERT(strlen(hash) == TOKEN_HASH_HEX_BYTES);
    snprintf(out, TOKEN_KEY_BYTES, "%s%s", TOKEN_REVOKED_PREFIX, hash);
}

void token_entry_lease_owner(const struct token_entry *e,
                             char out[TOKEN_HASH_HEX_BYTES + 1])
{
    const char *owner = e->type == TOKEN_TYPE_BATCH ? e->parent : e->id_hash;

    KH_ASSERT(strlen(owner) <= TOKEN_HASH_HEX_BYTES);
    memcpy(out, owner, strlen(owner) + 1);
}

int64_t token_entry_lease_bound(const struct token_entry *e)
{
    if (e->root || e->period_s != 0)
        return 0;
    return e->expire_time;
}

int token_store_revoked_list(struct token_store *store,
                             char (*hashes)[TOKEN_HASH_HEX_BYTES + 1],
                             size_t max, size_t *ret_count)
{
    struct kh_storage_list list = {0};
    size_t i, count = 0;
    int r;

    KH_ASSERT(store != NULL);
    r = barrier_list(store->barrier, TOKEN_REVOKED_PREFIX, &list);
    if (r != 0)
        return r;
    for (i = 0; i < list.count && count < max; i++) {
        if (!token_hash_valid(list.keys[i]))
            continue; /* a folder or a foreign name: not ours to drain */
        memcpy(hashes[count++], list.keys[i], TOKEN_HASH_HEX_BYTES + 1);
    }
    kh_storage_list_free(&list);
    *ret_count = count;
    return 0;
}

int token_store_revoked_done(struct token_store *store, const char *hash)
{
    char key[TOKEN_KEY_BYTES];
    int r;

    KH_ASSERT(store != NULL);
    if (!token_hash_valid(hash))
        return KH_EINVAL;
    token_key_revoked(hash, key);
    r = barrier_delete(store->barrier, key);
    return r == KH_ENOTFOUND ? 0 : r;
}

int token_store_lease_bound(struct token_store *store, const char *hash,
                            int64_t *ret_expire_time)
{
    struct token_entry *e;
    int r;

    KH_ASSERT(store != NULL);
    if (hash == NULL || !token_hash_valid(hash))
        return KH_EINVAL;
    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_entry_load(store, hash, e);
    if (r == 0)
        *ret_expire_time = token_entry_lease_bound(e);
    free(e);
    return r;
}
