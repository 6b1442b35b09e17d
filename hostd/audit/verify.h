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
 * The walker never allocates per line beyond one JSON parse, never
 * recurses over input and never trusts a length it read.
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

struct audit_verify
{
    /* Set after audit_verify_init: accept a walk that starts after seq 1
     * (a later part of a rotated log). By default the first record must
     * be the device's first (seq 1), so records cut from the start of a
     * log are caught. */
    bool allow_partial;

    /* Walk state. */
    bool have_prev;
    uint8_t prev_hash[AUDIT_CHAIN_HASH_BYTES];
    uint64_t prev_seq;
    char file[AUDIT_VERIFY_FILE_BYTES];
    uint64_t line_no;               /* in the current file, from 1 */

    /* Results. */
    uint64_t records;               /* lines verified */
    uint64_t first_seq, last_seq;
    uint64_t checkpoints;
    uint64_t last_checkpoint_seq;   /* 0: none */
    uint64_t lost;                  /* sum of audit_gap records */
    bool broken;
    char broken_file[AUDIT_VERIFY_FILE_BYTES];
    uint64_t broken_line;
    char reason[AUDIT_VERIFY_REASON_BYTES];
};

void audit_verify_init(struct audit_verify *v);
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
