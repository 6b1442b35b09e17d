/*
 * token_tree.c - the parent/child index and revocation (the Vault HTTP API
 * §4.2): revoking a token revokes all its descendants; revoke-orphan
 * removes one token and turns its children into orphans.
 *
 * The index is one record per edge, sys/token/parent/<parent>/<child>, so
 * a token's children are one barrier_list away. A revocation walks the
 * tree depth-first with an explicit stack of TOKEN_TREE_DEPTH_MAX + 1
 * frames (creation refuses deeper trees), removing leaves first: at every
 * step the top of the stack is either expanded by its first remaining
 * child or removed with its accessor and its incoming edge in one atomic
 * batch. A crash midway therefore leaves a smaller, still-connected tree
 * whose remaining tokens a second revocation or tidy removes. The walk
 * never recurses and is bounded by TOKEN_REVOKE_NODES_MAX removals.
 *
 * Removing a service or root token also queues it for the lease manager
 * (sys/token/revoked/<hash>, token_leases.c) in the same batch, so the
 * leases it created are revoked after it, whatever path removed it; a
 * batch token's leases belong to its parent and go with the parent.
 *
 * Every function here runs under store->write_lock (the *_locked ones
 * require it held; token_tree_revoke takes it).
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "token/token_internal.h"

typedef char tree_hash[TOKEN_HASH_HEX_BYTES + 1];

/* The first child of parent in *ret, or KH_ENOTFOUND when it has none. */
static int first_child(struct token_store *store, const char *parent,
                       tree_hash ret)
{
    char prefix[TOKEN_KEY_BYTES];
    struct kh_storage_list list = {0};
    int r;

    token_key_children(parent, prefix);
    r = barrier_list(store->barrier, prefix, &list);
    if (r != 0)
        return r;
    r = KH_ENOTFOUND;
    if (list.count > 0) {
        r = KH_ECORRUPT;
        if (token_hash_valid(list.keys[0])) {
            memcpy(ret, list.keys[0], TOKEN_HASH_HEX_BYTES + 1);
            r = 0;
        }
    }
    kh_storage_list_free(&list);
    return r;
}

/* Remove one token: its entry, its accessor record and the edge from its
 * parent (walk_parent, the frame below it in the walk, or for the start
 * of a walk the parent its entry names), and queue its leases for
 * revocation unless it is a batch token. A missing entry only loses its
 * edge (and is queued again, which is harmless). */
static int remove_one(struct token_store *store, const char *hash,
                      const char *walk_parent)
{
    char id_key[TOKEN_KEY_BYTES], acc_key[TOKEN_KEY_BYTES];
    char edge_key[TOKEN_KEY_BYTES], revoked_key[TOKEN_KEY_BYTES];
    char acc_hash[TOKEN_HASH_HEX_BYTES + 1];
    struct kh_storage_op ops[4];
    struct token_entry *e;
    size_t n = 0;
    int r;

    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_entry_load(store, hash, e);
    if (r == KH_ENOTFOUND)
        memset(e, 0, sizeof(*e)); /* no accessor, no parent */
    else if (r != 0)
        goto out;
    token_key_id(hash, id_key);
    ops[n++] = (struct kh_storage_op){KH_STORAGE_DELETE, id_key, NULL, 0};
    if (e->accessor[0] != '\0') {
        r = token_hash(store, e->accessor, acc_hash);
        if (r != 0)
            goto out;
        token_key_accessor(acc_hash, acc_key);
        ops[n++] = (struct kh_storage_op){KH_STORAGE_DELETE, acc_key, NULL, 0};
    }
    if (walk_parent == NULL && e->parent[0] != '\0')
        walk_parent = e->parent;
    if (walk_parent != NULL) {
        token_key_parent(walk_parent, hash, edge_key);
        ops[n++] = (struct kh_storage_op){KH_STORAGE_DELETE, edge_key, NULL, 0};
    }
    if (e->type != TOKEN_TYPE_BATCH) { /* its leases go with it */
        token_key_revoked(hash, revoked_key);
        ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, revoked_key,
                                          (const uint8_t *)"1", 1};
    }
    r = barrier_batch(store->barrier, ops, n);
out:
    free(e);
    return r;
}

int token_tree_revoke_locked(struct token_store *store, const char *hash,
                             size_t *ret_count)
{
    tree_hash *stack;
    size_t top = 0, removed = 0, steps;
    int r = KH_ENOMEM;

    KH_ASSERT(token_hash_valid(hash));
    stack = calloc(TOKEN_TREE_DEPTH_MAX + 1, sizeof(*stack));
    if (stack == NULL)
        return KH_ENOMEM;
    memcpy(stack[top++], hash, TOKEN_HASH_HEX_BYTES + 1);
    /* Each token is pushed once and popped once. */
    for (steps = 0; top > 0; steps++) {
        r = KH_ELIMIT;
        if (steps >= 2 * (size_t)TOKEN_REVOKE_NODES_MAX)
            goto out;
        r = first_child(store, stack[top - 1], stack[top]);
        if (r == 0) {
            r = KH_ELIMIT;
            if (top == TOKEN_TREE_DEPTH_MAX)
                goto out; /* deeper than creation allows */
            top++;
            continue;
        }
        if (r != KH_ENOTFOUND)
            goto out;
        r = remove_one(store, stack[top - 1], top > 1 ? stack[top - 2] : NULL);
        if (r != 0)
            goto out;
        top--;
        removed++;
    }
    if (ret_count != NULL)
        *ret_count += removed;
    r = 0; /* success */
out:
    free(stack);
    return r;
}

int token_tree_revoke(struct token_store *store, const char *hash)
{
    int r;

    pthread_mutex_lock(&store->write_lock);
    r = token_tree_revoke_locked(store, hash, NULL);
    pthread_mutex_unlock(&store->write_lock);
    return r;
}

/* Make child an orphan and drop its edge from parent, atomically. */
static int orphan_child(struct token_store *store, const char *parent,
                        const char *child)
{
    char edge_key[TOKEN_KEY_BYTES], id_key[TOKEN_KEY_BYTES];
    struct kh_storage_op ops[2];
    struct token_entry *e;
    char *text = NULL;
    size_t len = 0, n = 0;
    int r;

    e = malloc(sizeof(*e));
    if (e == NULL)
        return KH_ENOMEM;
    r = token_entry_load(store, child, e);
    if (r != 0 && r != KH_ENOTFOUND)
        goto out;
    if (r == 0) {
        e->parent[0] = '\0';
        e->orphan = true;
        e->depth = 0;
        r = token_entry_encode(e, &text, &len);
        if (r != 0)
            goto out;
        token_key_id(child, id_key);
        ops[n++] = (struct kh_storage_op){KH_STORAGE_PUT, id_key,
                                          (const uint8_t *)text, len};
    }
    token_key_parent(parent, child, edge_key);
    ops[n++] = (struct kh_storage_op){KH_STORAGE_DELETE, edge_key, NULL, 0};
    r = barrier_batch(store->barrier, ops, n);
out:
    if (text != NULL)
        kh_free_secret(text, len);
    free(e);
    return r;
}

int token_tree_revoke_orphan_locked(struct token_store *store, const char *hash)
{
    char prefix[TOKEN_KEY_BYTES];
    struct kh_storage_list list = {0};
    size_t i;
    int r;

    KH_ASSERT(token_hash_valid(hash));
    token_key_children(hash, prefix);
    r = barrier_list(store->barrier, prefix, &list);
    for (i = 0; r == 0 && i < list.count; i++) {
        r = KH_ECORRUPT;
        if (token_hash_valid(list.keys[i]))
            r = orphan_child(store, hash, list.keys[i]);
    }
    if (r == 0)
        r = remove_one(store, hash, NULL);
    kh_storage_list_free(&list);
    return r;
}
