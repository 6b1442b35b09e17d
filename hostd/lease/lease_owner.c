/*
 * lease_owner.c - leases by the token that created them (Vault API: "when
 * a token is revoked, all leases created with it are revoked"): the owner
 * recorded on a lease, the storage index of a token's leases
 * (sys/expire/token/<owner>/<escaped lease id>), and the drain of the
 * token store's revoked-token queue, which marks a revoked token's leases
 * due so the ordinary expiry path revokes them through their backends,
 * retrying failures forever.
 *
 * Marking a lease rewrites its record with expire_time = now and deletes
 * its index entry in one atomic batch, so each lease is handled once and
 * a crash leaves it either still indexed (marked again by the next drain)
 * or already due (revoked by the expiry pass after the restart). The
 * work of one pass is bounded (LEASE_OWNER_MARKS_PASS_MAX leases over at
 * most LEASE_OWNERS_PASS_MAX tokens); a token with more leases continues
 * at the next pass. Owners are salted token hashes: this file never sees
 * a token ID and never blocks a request on a backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "lease/lease_internal.h"

_Static_assert(LEASE_OWNER_HEX_BYTES == TOKEN_HASH_HEX_BYTES,
               "a lease owner is a token hash");

/* Leases marked in one storage batch (two operations each). */
#define LEASE_MARK_BATCH LEASE_EXPIRE_BATCH
/* A lease due within this many seconds is left to expire rather than
 * rewritten, so a marker never races the expiry pass revoking it. */
#define LEASE_MARK_SLACK_S 5

const char *lease_record_owner(const json_t *record)
{
    const char *owner =
        json_string_value(json_object_get(record, LEASE_OWNER_FIELD));
    size_t i;

    if (owner == NULL || strlen(owner) != LEASE_OWNER_HEX_BYTES)
        return NULL;
    for (i = 0; i < LEASE_OWNER_HEX_BYTES; i++) {
        if (!((owner[i] >= '0' && owner[i] <= '9') ||
              (owner[i] >= 'a' && owner[i] <= 'f')))
            return NULL;
    }
    return owner;
}

int lease_owner_key(const char *owner, const char *id,
                    char out[LEASE_INDEX_KEY_BYTES])
{
    size_t n, i;

    KH_ASSERT(strlen(owner) == LEASE_OWNER_HEX_BYTES);
    n = (size_t)snprintf(out, LEASE_INDEX_KEY_BYTES, "%s%s/",
                         LEASE_TOKEN_INDEX_PREFIX, owner);
    for (i = 0; id[i] != '\0'; i++) {
        if (i >= LEASE_ID_BYTES_MAX)
            return KH_ELIMIT;
        if (id[i] == '%' || id[i] == '/') {
            memcpy(out + n, id[i] == '%' ? "%25" : "%2F", 3);
            n += 3;
        } else {
            out[n++] = id[i];
        }
    }
    KH_ASSERT(n < LEASE_INDEX_KEY_BYTES);
    out[n] = '\0';
    return 0;
}

/* The lease ID an index entry name stands for; KH_ECORRUPT for a name
 * this file did not write. */
static int owner_key_decode(const char *name, char out[LEASE_ID_BYTES_MAX + 1])
{
    size_t n = 0, i;
    char c;

    for (i = 0; name[i] != '\0'; i++) {
        c = name[i];
        if (c == '/')
            return KH_ECORRUPT;
        if (c == '%') {
            if (strncmp(name + i, "%25", 3) == 0)
                c = '%';
            else if (strncmp(name + i, "%2F", 3) == 0)
                c = '/';
            else
                return KH_ECORRUPT;
            i += 2;
        }
        if (n == LEASE_ID_BYTES_MAX)
            return KH_ECORRUPT;
        out[n++] = c;
    }
    out[n] = '\0';
    return n > 0 ? 0 : KH_ECORRUPT;
}

/* One storage batch of marks; keys and texts are owned. */
struct mark_batch
{
    struct kh_storage_op ops[2 * LEASE_MARK_BATCH];
    char *keys[2 * LEASE_MARK_BATCH];
    char *texts[LEASE_MARK_BATCH];
    char *due[LEASE_MARK_BATCH]; /* IDs moved up in the index */
    size_t n_ops, n_texts, n_due;
};

static void mark_batch_clear(struct mark_batch *b)
{
    size_t i;

    for (i = 0; i < b->n_ops; i++)
        free(b->keys[i]);
    for (i = 0; i < b->n_texts; i++)
        kh_free_secret(b->texts[i], strlen(b->texts[i]));
    for (i = 0; i < b->n_due; i++)
        free(b->due[i]);
    b->n_ops = b->n_texts = b->n_due = 0;
}

/* Add to b: the index entry of id under owner goes; its record (if any,
 * and not due within LEASE_MARK_SLACK_S) is rewritten due now. */
static int mark_one(struct lease_manager *mgr, struct mark_batch *b,
                    const char *owner, const char *id, int64_t now)
{
    json_t *record = NULL;
    char *key = NULL, *text = NULL, *due = NULL;
    int r;

    r = lease_record_load(mgr, id, &record);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    if (r == 0 && json_integer_value(json_object_get(record, "expire_time")) >
                      now + LEASE_MARK_SLACK_S) {
        json_object_set_new(record, "expire_time", json_integer(now));
        r = KH_ENOMEM;
        text = json_dumps(record, JSON_COMPACT);
        due = strdup(id);
        if (text == NULL || due == NULL ||
            asprintf(&key, "%s%s", LEASE_RECORD_PREFIX, id) < 0) {
            key = NULL;
            goto out;
        }
        b->ops[b->n_ops] = (struct kh_storage_op){
            KH_STORAGE_PUT, key, (const uint8_t *)text, strlen(text)};
        b->keys[b->n_ops++] = key;
        b->texts[b->n_texts++] = text;
        b->due[b->n_due++] = due;
        key = text = due = NULL;
    }
    r = KH_ENOMEM;
    key = malloc(LEASE_INDEX_KEY_BYTES);
    if (key == NULL || lease_owner_key(owner, id, key) != 0)
        goto out;
    b->ops[b->n_ops] = (struct kh_storage_op){KH_STORAGE_DELETE, key, NULL, 0};
    b->keys[b->n_ops++] = key;
    key = NULL;
    r = 0; /* success */
out:
    free(key);
    if (text != NULL)
        kh_free_secret(text, strlen(text));
    free(due);
    json_decref(record);
    return r;
}

/* Mark the leases ids[0..count) of owner due now in one batch. Returns
 * how many leases were moved up (not counting those already due). */
static size_t mark_due(struct lease_manager *mgr, const char *owner,
                       const char *const *ids, size_t count, int64_t now)
{
    struct mark_batch *b = calloc(1, sizeof(*b));
    size_t marked = 0, i;

    KH_ASSERT(count <= LEASE_MARK_BATCH);
    if (b == NULL)
        return 0;
    pthread_mutex_lock(&mgr->mark_lock);
    for (i = 0; i < count; i++) {
        if (mark_one(mgr, b, owner, ids[i], now) != 0)
            log_warn("lease: cannot mark %s for revocation yet", ids[i]);
    }
    if (b->n_ops > 0 &&
        barrier_batch(mgr->core->barrier, b->ops, b->n_ops) != 0) {
        log_warn("lease: cannot mark the leases of a revoked token (will "
                 "retry)");
        goto out;
    }
    pthread_mutex_lock(&mgr->lock);
    for (i = 0; i < b->n_due; i++) {
        if (lease_index_put_locked(mgr, b->due[i], now, false) == 0)
            marked++;
    }
    pthread_mutex_unlock(&mgr->lock);
out:
    pthread_mutex_unlock(&mgr->mark_lock);
    mark_batch_clear(b);
    free(b);
    return marked;
}

/* An index entry this file did not write would keep its token queued
 * forever: it is deleted. */
static void drop_foreign(struct lease_manager *mgr, const char *folder,
                         const char *name)
{
    char *key = NULL;

    if (asprintf(&key, "%s%s", folder, name) < 0)
        return;
    if (barrier_delete(mgr->core->barrier, key) != 0)
        log_warn("lease: cannot delete a malformed index entry %s", key);
    free(key);
}

/* Mark up to budget leases of owner; drop owner from the queue when it
 * has none left. Returns how many index entries were handled. */
static size_t drain_owner(struct lease_manager *mgr, const char *owner,
                          size_t budget, int64_t now)
{
    char folder[sizeof(LEASE_TOKEN_INDEX_PREFIX) + LEASE_OWNER_HEX_BYTES + 1];
    const char *ids[LEASE_MARK_BATCH];
    char(*decoded)[LEASE_ID_BYTES_MAX + 1] = NULL;
    struct kh_storage_list list = {0};
    size_t handled = 0, i = 0, n;

    if (strlen(owner) > LEASE_OWNER_HEX_BYTES)
        return 0; /* not an owner this store writes */
    snprintf(folder, sizeof(folder), "%s%.*s/", LEASE_TOKEN_INDEX_PREFIX,
             (int)LEASE_OWNER_HEX_BYTES, owner);
    if (barrier_list(mgr->core->barrier, folder, &list) != 0)
        return 0;
    if (list.count == 0) {
        if (token_store_revoked_done(mgr->core->tokens, owner) != 0)
            log_warn("lease: cannot dequeue a revoked token (will retry)");
        goto out;
    }
    decoded = malloc(LEASE_MARK_BATCH * sizeof(*decoded));
    while (decoded != NULL && i < list.count && handled < budget) {
        for (n = 0;
             i < list.count && n < LEASE_MARK_BATCH && handled + n < budget;
             i++) {
            if (owner_key_decode(list.keys[i], decoded[n]) == 0) {
                ids[n] = decoded[n];
                n++;
            } else {
                drop_foreign(mgr, folder, list.keys[i]);
            }
        }
        (void)mark_due(mgr, owner, ids, n, now);
        handled += n;
    }
out:
    free(decoded);
    kh_storage_list_free(&list);
    return handled;
}

size_t lease_owners_drain(struct lease_manager *mgr)
{
    char owners[LEASE_OWNERS_PASS_MAX][TOKEN_HASH_HEX_BYTES + 1];
    size_t count = 0, handled = 0, i;
    int64_t now = lease_now();

    if (mgr->core->tokens == NULL ||
        token_store_revoked_list(mgr->core->tokens, owners,
                                 LEASE_OWNERS_PASS_MAX, &count) != 0)
        return 0; /* sealed, or no token store: the next pass retries */
    for (i = 0; i < count && handled < LEASE_OWNER_MARKS_PASS_MAX; i++)
        handled += drain_owner(mgr, owners[i],
                               LEASE_OWNER_MARKS_PASS_MAX - handled, now);
    return handled;
}

void lease_owner_recheck(struct lease_manager *mgr, const char *owner,
                         const char *id)
{
    int64_t bound = 0;

    if (mgr->core->tokens == NULL ||
        token_store_lease_bound(mgr->core->tokens, owner, &bound) !=
            KH_ENOTFOUND)
        return;
    /* The token went while the request ran (or the renewal was written):
     * its drain may have missed this lease, so it is marked here. */
    if (mark_due(mgr, owner, &id, 1, lease_now()) == 1)
        lease_manager_wake(mgr);
}

int lease_owner_bound(struct lease_manager *mgr, const char *owner,
                      int64_t *ret_bound)
{
    if (mgr->core->tokens == NULL) {
        *ret_bound = 0;
        return 0;
    }
    return token_store_lease_bound(mgr->core->tokens, owner, ret_bound);
}
