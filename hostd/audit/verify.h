/*
 * verify.h - offline verification of audit logs (chain.h): walks the
 * lines of one or more files in order (a log rotated with SIGHUP keeps
 * its chain across files), and names the first broken record as
 * file:line with the reason, or proves the chain intact.
 *
 * Checked offline: every line carries the chain fields; the walk starts
 * at seq 1 (unless allow_partial) from a prev_hash of 64 zeros; seq
 * increases by one; prev_hash is the SHA-256 of the previous line; each
 * checkpoint's count and head match its
 * position. Records after the last checkpoint are reported as unanchored:
 * cutting records from the end of a log is only visible against a
 * checkpoint. Not checked offline: checkpoint MACs (the key stays in the
 * server; POST sys/audit/verify-checkpoint checks one).
 *
 * Replayed runs: a stream socket device delivers at least once (it sends
 * its in-flight window again after a reconnect, socket.c), so a collected
 * log may repeat records. A line whose seq is not above the last accepted
 * one must be byte-identical (same SHA-256) to the record accepted with
 * that seq; it is then skipped and counted in duplicates, and the chain
 * goes on from the last accepted record. The hashes of the last
 * ring_records accepted records are kept for this; a repeat that differs,
 * or that goes back further than the ring or before the first record of
 * the walk, is a break like any other.
 *
 * The walker never allocates per line beyond one JSON parse (its ring is
 * allocated once, by init), never recurses over input and never trusts a
 * length it read.
 */
#ifndef KH_AUDIT_VERIFY_H
#define KH_AUDIT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/chain.h"
#include "common/assert.h"

#define AUDIT_VERIFY_REASON_BYTES 256
#define AUDIT_VERIFY_FILE_BYTES 1024
/* Longest line accepted: a maximal record plus prefix and chain fields. */
#define AUDIT_VERIFY_LINE_BYTES_MAX \
    (AUDIT_RECORD_BYTES_MAX + AUDIT_PREFIX_BYTES_MAX + 256)
/* Hashes kept for duplicate checks (4 MiB): more records than the largest
 * socket replay window (16 MiB) can hold, each line being >= 128 bytes. */
#define AUDIT_VERIFY_RING_RECORDS 131072

struct audit_verify
{
    /* Set after audit_verify_init: accept a walk that starts after seq 1
     * (a later part of a rotated log). By default the first record must
     * be the device's first (seq 1), so records cut from the start of a
     * log are caught. */
    bool allow_partial;

    /* Walk state. ring[seq % ring_records] is the hash of the accepted
     * record seq, for seq in (last_seq - ring_records, last_seq] and
     * >= first_seq. */
    uint8_t (*ring)[AUDIT_CHAIN_HASH_BYTES];    /* malloc'ed by init */
    size_t ring_records;
    bool have_prev;
    uint8_t prev_hash[AUDIT_CHAIN_HASH_BYTES];
    uint64_t prev_seq;
    char file[AUDIT_VERIFY_FILE_BYTES];
    uint64_t line_no;               /* in the current file, from 1 */

    /* Results. */
    uint64_t records;               /* lines verified, repeats excluded */
    uint64_t duplicates;            /* exact repeats skipped */
    uint64_t first_seq, last_seq;
    uint64_t checkpoints;
    uint64_t last_checkpoint_seq;   /* 0: none */
    uint64_t lost;                  /* sum of audit_gap records */
    bool broken;
    char broken_file[AUDIT_VERIFY_FILE_BYTES];
    uint64_t broken_line;
    char reason[AUDIT_VERIFY_REASON_BYTES];
};

/* Reset v for a new walk with a ring of ring_records hashes (0: the
 * default AUDIT_VERIFY_RING_RECORDS). 0 or KH_ENOMEM. Pair with
 * audit_verify_release (also after a failed init). */
int audit_verify_init(struct audit_verify *v,
                      size_t ring_records) KH_MUST_CHECK;
/* Free the ring; accepts NULL. v keeps its results. */
void audit_verify_release(struct audit_verify *v);
/* Name the file the next lines come from (line numbers restart at 1). */
void audit_verify_file(struct audit_verify *v, const char *name);
/* One line without its newline. 0, or KH_ECORRUPT for the first broken
 * line (recorded in v; later calls return KH_ECORRUPT and do nothing). */
int audit_verify_line(struct audit_verify *v, const char *line,
                      size_t len) KH_MUST_CHECK;
/* A whole buffer of newline-terminated lines from one file (an
 * unterminated last line is broken: a torn write). */
int audit_verify_buffer(struct audit_verify *v, const char *buf,
                        size_t len) KH_MUST_CHECK;
/* Files in order. KH_EIO (errmsg) when one cannot be read, KH_ECORRUPT
 * when the chain breaks, else 0. */
int audit_verify_files(struct audit_verify *v, const char *const *files,
                       size_t count, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* Records after the last checkpoint (all of them if there is none). */
uint64_t audit_verify_unanchored(const struct audit_verify *v);

#endif
