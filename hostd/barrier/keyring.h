/*
 * keyring.h - the barrier's keyring in memory and on disk.
 *
 * Invariants: terms are numbered 1..count with no gap (terms[i].term ==
 * i + 1); the active term is the last one (count); each term's key is
 * AEAD_KEY_BYTES long and lives in kh_secure_alloc memory; 1 <= count <=
 * KH_BARRIER_TERMS_MAX once a keyring holds a term.
 *
 * Serialised form (all integers big endian; exact length checked):
 *
 *     magic "KHKR" (4) | format (1) | count (4)
 *     count x { term (4) | install_s (8) | install_ns (4) |
 *               encryptions (8) | key (32) }
 *
 * The serialised bytes hold every key in clear: callers seal them with
 * aead_encrypt under the root key at once and wipe them (kh_free_secret).
 *
 * Thread safety: none here. The barrier adds and drops terms only under its
 * write lock; encryption counters are read and bumped with atomics, which
 * is why they may change under a reader's feet.
 */
#ifndef KH_BARRIER_KEYRING_H
#define KH_BARRIER_KEYRING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "barrier/aead.h"
#include "common/assert.h"

#define KEYRING_MAGIC        "KHKR"
#define KEYRING_MAGIC_BYTES  4
#define KEYRING_FORMAT       1
#define KEYRING_HEADER_BYTES (KEYRING_MAGIC_BYTES + 1 + 4)
#define KEYRING_ENTRY_BYTES  (4 + 8 + 4 + 8 + AEAD_KEY_BYTES)

struct keyring_term
{
    uint32_t term;
    struct timespec install_time;
    uint64_t encryptions; /* atomic: __atomic builtins only */
};

struct keyring
{
    struct keyring_term *terms; /* count used of cap */
    uint8_t *keys;              /* kh_secure_alloc, cap * AEAD_KEY_BYTES */
    size_t count;
    size_t cap;
};

/* An empty keyring (no term yet). Free with keyring_free. */
int keyring_new(struct keyring **ret_keyring) KH_MUST_CHECK;

/* Wipe every key and free; accepts NULL. */
void keyring_free(struct keyring *kr);

/* Append term count + 1 with a copy of key, installed at *install_time,
 * zero encryptions. KH_ELIMIT at KH_BARRIER_TERMS_MAX terms, KH_ENOMEM. */
int keyring_add_term(struct keyring *kr, const uint8_t key[AEAD_KEY_BYTES],
                     const struct timespec *install_time) KH_MUST_CHECK;

/* Drop the last term (undo of keyring_add_term), wiping its key. */
void keyring_drop_last(struct keyring *kr);

/* The active (last) term; the keyring must hold at least one. */
struct keyring_term *keyring_active(struct keyring *kr);

/* The key of a term, or NULL if the keyring has no such term (0 included).
 * Valid until the next keyring_add_term/drop_last/free. */
const uint8_t *keyring_key(const struct keyring *kr, uint32_t term);

/* Serialise into a malloc'ed buffer (free with kh_free_secret). The active
 * term's counter is written as max(its counter, active_floor), so a caller
 * can persist a reservation of encryptions it has not made yet. */
int keyring_encode(const struct keyring *kr, uint64_t active_floor,
                   uint8_t **ret_buf, size_t *ret_len) KH_MUST_CHECK;

/* Parse a serialised keyring. KH_ECORRUPT for anything malformed (wrong
 * magic, format or length, a term out of sequence, a bad time), KH_ENOMEM.
 * buf is not modified; the caller still wipes it. */
int keyring_decode(const uint8_t *buf, size_t len,
                   struct keyring **ret_keyring) KH_MUST_CHECK;

#endif
