/*
 * raft_storage.c - the kh_storage face of a raft node (storage.h): reads
 * from the node's own store, writes as raft entries (raft_node.h).
 *
 * Owns nothing but the face itself. Must never show the FSM's reserved
 * applied-index key above storage, and never write to the store directly:
 * only the FSM does, from committed entries.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "raft/raft_node.h"
#include "raft/raft_node_internal.h"
#include "storage/lmdb_internal.h"

static int face_get(void *impl, const char *key, uint8_t **ret_value,
                    size_t *ret_len)
{
    struct kh_raft_node *node = impl;
    int r;

    if (key[0] == KH_STORAGE_LMDB_APPLIED_KEY[0])
        return KH_EINVAL;
    r = kh_storage_get(kh_raft_node_read_begin(node), key, ret_value, ret_len);
    kh_raft_node_read_end(node);
    return r;
}

static int face_put(void *impl, const char *key, const uint8_t *value,
                    size_t len)
{
    struct kh_storage_op op = {KH_STORAGE_PUT, key, value, len};

    return kh_raft_node_apply(impl, &op, 1);
}

static int face_del(void *impl, const char *key)
{
    struct kh_storage_op op = {KH_STORAGE_DELETE, key, NULL, 0};

    return kh_raft_node_apply(impl, &op, 1);
}

/* Drop the reserved key (it sorts first: 0x01 is below every path). */
static void list_hide_reserved(struct kh_storage_list *list)
{
    if (list->count == 0 || list->keys[0][0] != KH_STORAGE_LMDB_APPLIED_KEY[0])
        return;
    free(list->keys[0]);
    memmove(&list->keys[0], &list->keys[1],
            (list->count - 1) * sizeof(list->keys[0]));
    list->count--;
}

static int face_list(void *impl, const char *prefix,
                     struct kh_storage_list *ret)
{
    struct kh_raft_node *node = impl;
    int r;

    r = kh_storage_list(kh_raft_node_read_begin(node), prefix, ret);
    kh_raft_node_read_end(node);
    if (r == 0 && prefix[0] == '\0')
        list_hide_reserved(ret);
    return r;
}

static int face_batch(void *impl, const struct kh_storage_op *ops, size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (ops[i].key[0] == KH_STORAGE_LMDB_APPLIED_KEY[0])
            return KH_EINVAL;
    return kh_raft_node_apply(impl, ops, count);
}

/* The node owns the face: closing it through storage.h does nothing. */
static void face_close(void *impl)
{
    (void)impl;
}

static const struct kh_storage_ops raft_face_ops = {
    .name = "raft",
    .get = face_get,
    .put = face_put,
    .del = face_del,
    .list = face_list,
    .batch = face_batch,
    .close = face_close,
};

int kh_raft_storage_create(struct kh_raft_node *node,
                           struct kh_storage **ret_storage)
{
    struct kh_storage *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return KH_ENOMEM;
    s->ops = &raft_face_ops;
    s->impl = node;
    *ret_storage = s;
    return 0;
}

void kh_raft_storage_free(struct kh_storage *storage)
{
    free(storage);
}
