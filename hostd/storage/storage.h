/*
 * storage.h - the physical storage interface (hostd/README.md).
 *
 * A flat, ordered map from keys (UTF-8 paths such as "core/keyring" or
 * "logical/<uuid>/foo", at most KH_STORAGE_KEY_BYTES_MAX bytes) to opaque
 * byte values. Everything above this interface is the same for every
 * backend; above the barrier, values are ciphertext only, except the seal
 * configuration and the sealed root key, which live under "core/seal/".
 *
 * Backends implement struct kh_storage_ops in one file each (lmdb.c; raft
 * later) and are chosen once at start-up by kh_storage_open().
 *
 * Thread safety: every function may be called from any thread at the same
 * time. Writes are serialised by the backend; reads never block on writes.
 *
 * Errors: KH_ENOTFOUND (get/delete of a missing key: delete treats it as
 * success and returns 0), KH_EINVAL (key empty, too long, or value too
 * big), KH_EFULL (the backend could not grow: disk or map limit), KH_EIO,
 * KH_ENOMEM. An unrecoverable backend error marks the store failed: every
 * later call returns KH_EIO.
 */
#ifndef KH_STORAGE_STORAGE_H
#define KH_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

struct kh_config_stanza;

enum kh_storage_op_kind {
    KH_STORAGE_PUT = 1,
    KH_STORAGE_DELETE = 2,
};

/* One operation of an atomic batch. value/len are ignored for DELETE. */
struct kh_storage_op
{
    enum kh_storage_op_kind kind;
    const char *key;
    const uint8_t *value;
    size_t len;
};

/* The result of list(): keys directly or deeply below the prefix, with the
 * prefix removed. Vault semantics: only one level is returned; a deeper key
 * "a/b/c" under prefix "a/" appears once as "b/". Sorted, unique. */
struct kh_storage_list
{
    char **keys;
    size_t count;
};

struct kh_storage_ops
{
    const char *name;
    /* *ret_value is malloc'ed; the caller frees (kh_free_secret if it may
     * hold plaintext, plain free for ciphertext). */
    int (*get)(void *impl, const char *key, uint8_t **ret_value,
               size_t *ret_len);
    int (*put)(void *impl, const char *key, const uint8_t *value, size_t len);
    int (*del)(void *impl, const char *key);
    int (*list)(void *impl, const char *prefix, struct kh_storage_list *ret);
    /* All ops commit together or none does. */
    int (*batch)(void *impl, const struct kh_storage_op *ops, size_t count);
    void (*close)(void *impl);
};

struct kh_storage
{
    const struct kh_storage_ops *ops;
    void *impl;
};

/* Open the backend a config stanza names ("lmdb"). errmsg says why not:
 * an unwritable directory, a corrupt data file, an unknown type. */
int kh_storage_open(const struct kh_config_stanza *stanza,
                    struct kh_storage **ret_storage, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;

/* Open LMDB directly: dir is created (0700) if missing. map_bytes 0 means
 * KH_LMDB_MAP_BYTES_DEFAULT. */
int kh_storage_lmdb_open(const char *dir, uint64_t map_bytes,
                         struct kh_storage **ret_storage, char *errmsg,
                         size_t errmsg_size) KH_MUST_CHECK;

/* Close and free; accepts NULL. */
void kh_storage_close(struct kh_storage *storage);

/* Delete every key that starts with prefix ("" = everything), walking
 * the folders depth-first with a bounded explicit stack. Used to remove a
 * mount's data and the leftovers of a crashed initialisation. */
int kh_storage_delete_prefix(struct kh_storage *storage,
                             const char *prefix) KH_MUST_CHECK;

/* Free a list result's keys (not the struct itself); accepts empty lists. */
void kh_storage_list_free(struct kh_storage_list *list);

static inline int kh_storage_get(struct kh_storage *s, const char *key,
                                 uint8_t **ret_value, size_t *ret_len)
{
    return s->ops->get(s->impl, key, ret_value, ret_len);
}

static inline int kh_storage_put(struct kh_storage *s, const char *key,
                                 const uint8_t *value, size_t len)
{
    return s->ops->put(s->impl, key, value, len);
}

static inline int kh_storage_delete(struct kh_storage *s, const char *key)
{
    return s->ops->del(s->impl, key);
}

static inline int kh_storage_list(struct kh_storage *s, const char *prefix,
                                  struct kh_storage_list *ret)
{
    return s->ops->list(s->impl, prefix, ret);
}

static inline int kh_storage_batch(struct kh_storage *s,
                                   const struct kh_storage_op *ops,
                                   size_t count)
{
    return s->ops->batch(s->impl, ops, count);
}

#endif
