/*
 * mount_codec.h - mount entries to and from their stored JSON form.
 */
#ifndef KH_MOUNT_CODEC_H
#define KH_MOUNT_CODEC_H

#include <stddef.h>

#include <jansson.h>

#include "mount/mount_table.h"

/* JSON array text of the entries of one kind (auth or not); malloc'ed. */
char *mount_codec_encode(const struct mount_entry *const *entries,
                         size_t count, bool is_auth);

/* Decode a stored table and append its entries at entries[*count...]
 * (max total). KH_ECORRUPT on a malformed table. */
int mount_codec_decode(const char *text, size_t len,
                       struct mount_entry **entries, size_t max,
                       size_t *count) KH_MUST_CHECK;

/* The API view of one entry (Vault API: sys/mounts shape). */
json_t *mount_codec_describe(const struct mount_entry *m);

#endif
