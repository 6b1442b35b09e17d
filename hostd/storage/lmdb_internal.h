/*
 * lmdb_internal.h - the LMDB backend's entry points below the public
 * storage.h surface, for storage.c and tests/unit/test_storage_lmdb.c only.
 */
#ifndef KH_STORAGE_LMDB_INTERNAL_H
#define KH_STORAGE_LMDB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

struct kh_storage;
struct kh_storage_op;

/* kh_storage_lmdb_open() with the growth ceiling given instead of
 * KH_LMDB_MAP_BYTES_MAX, so tests can reach "map full" with a small map.
 * map_bytes 0 means KH_LMDB_MAP_BYTES_DEFAULT (capped at map_bytes_max).
 * Returns 0, KH_EINVAL (bad sizes or path), KH_ECONFIG (directory already
 * open in this process), KH_EIO (directory or data file unusable; errmsg
 * says which and why) or KH_ENOMEM. */
int kh_storage_lmdb_open_with_max(const char *dir, uint64_t map_bytes,
                                  uint64_t map_bytes_max,
                                  struct kh_storage **ret_storage, char *errmsg,
                                  size_t errmsg_size) KH_MUST_CHECK;

/* Open without fsync at commit (MDB_NOSYNC), for the raft FSM's store,
 * whose durable record is the raft log: a commit survives a crash of the
 * process, and kh_storage_lmdb_sync() flushes. */
int kh_storage_lmdb_open_nosync(const char *dir,
                                struct kh_storage **ret_storage, char *errmsg,
                                size_t errmsg_size) KH_MUST_CHECK;
int kh_storage_lmdb_sync(struct kh_storage *storage) KH_MUST_CHECK;

/* The current map size in bytes (grows on demand). */
uint64_t kh_storage_lmdb_map_bytes(const struct kh_storage *storage);

/* The reserved key holding the raft FSM's applied index (8 bytes, big
 * endian). It starts with 0x01, which no Vault path does; list("") shows
 * it, so the raft layer hides it from everything above storage. */
#define KH_STORAGE_LMDB_APPLIED_KEY "\x01kh-raft-applied-index"

/* Apply ops (as kh_storage_batch()) and record index as the applied raft
 * index, in one durable transaction, only if index is above the stored
 * applied index; otherwise change nothing (replay is idempotent). index 0
 * changes nothing and just reads. *ret_applied (NULL allowed) receives
 * the applied index after the call. Returns 0, KH_EINVAL (bad ops), KH_EIO
 * (failed store or a malformed stored index), KH_EFULL or KH_ENOMEM. */
int kh_storage_lmdb_batch_applied(struct kh_storage *storage,
                                  const struct kh_storage_op *ops,
                                  size_t count, uint64_t index,
                                  uint64_t *ret_applied) KH_MUST_CHECK;

#endif
