/*
 * verify.c - the audit log verifier (verify.h). Reads files itself
 * (getline, bounded by AUDIT_VERIFY_LINE_BYTES_MAX); checks each line
 * against the previous one, and a repeated one against the ring of recent
 * line hashes, so memory stays constant whatever the log size. Never
 * writes anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/verify.h"
#include "common/encoding.h"
#include "common/err.h"

int audit_verify_init(struct audit_verify *v, size_t ring_records)
{
    KH_ASSERT(v != NULL);
    memset(v, 0, sizeof(*v));
    KH_ASSERT(!v->allow_partial);
    snprintf(v->file, sizeof(v->file), "-");
    v->ring_records = ring_records > 0 ? ring_records
                                       : AUDIT_VERIFY_RING_RECORDS;
    if (v->ring_records > SIZE_MAX / sizeof(*v->ring))
        return KH_ENOMEM;
    /* Entries are read only once written (see verify.h): no zeroing. */
    v->ring = malloc(v->ring_records * sizeof(*v->ring));
    if (v->ring == NULL)
        return KH_ENOMEM;
    return 0;
}

void audit_verify_release(struct audit_verify *v)
{
    if (v == NULL)
        return;
    free(v->ring);
    v->ring = NULL;
}

void audit_verify_file(struct audit_verify *v, const char *name)
{
    snprintf(v->file, sizeof(v->file), "%s", name);
    v->line_no = 0;
}

static int broken(struct audit_verify *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int broken(struct audit_verify *v, const char *fmt, ...)
{
    va_list ap;

    v->broken = true;
    snprintf(v->broken_file, sizeof(v->broken_file), "%s", v->file);
    v->broken_line = v->line_no;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
    va_end(ap);
    return KH_ECORRUPT;
}

static const char zero_hex[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* A checkpoint must describe its own position in the chain. */
static int check_checkpoint(struct audit_verify *v, json_t *doc,
                            uint64_t seq, const char *prev_hex)
{
    json_t *cp = json_object_get(doc, "checkpoint");
    json_t *count = json_object_get(cp, "count");
    const char *head = json_string_value(json_object_get(cp, "head"));

    if (!json_is_integer(count) || head == NULL ||
        !json_is_string(json_object_get(cp, "mac")))
        return broken(v, "checkpoint record without count, head or mac");
    if ((uint64_t)json_integer_value(count) != seq - 1 ||
        json_integer_value(count) < 0)
        return broken(v, "checkpoint count %" JSON_INTEGER_FORMAT
                      " does not match its position (%" PRIu64 ")",
                      json_integer_value(count), seq - 1);
    if (strcmp(head, prev_hex) != 0)
        return broken(v, "checkpoint head does not match prev_hash");
    v->checkpoints++;
    v->last_checkpoint_seq = seq;
    return 0;
}

static int check_links(struct audit_verify *v, uint64_t seq,
                       const char *prev_hex)
{
    char expect[AUDIT_CHAIN_HEX_BYTES];

    if (!v->have_prev) {
        if (seq != 1 && !v->allow_partial)
            return broken(v, "the log starts at seq %" PRIu64 ": earlier "
                          "records are missing (verify a later part of a "
                          "rotated log with -partial)", seq);
        if (seq == 1 && strcmp(prev_hex, zero_hex) != 0)
            return broken(v, "first record (seq 1) must have a zero "
                          "prev_hash");
        v->first_seq = seq;
        return 0;
    }
    if (seq != v->prev_seq + 1)
        return broken(v, "seq %" PRIu64 " follows seq %" PRIu64
                      " (records missing, inserted or reordered)",
                      seq, v->prev_seq);
    kh_hex_encode(v->prev_hash, sizeof(v->prev_hash), expect);
    if (strcmp(expect, prev_hex) != 0)
        return broken(v, "prev_hash does not match the previous record "
                      "(it was altered)");
    return 0;
}

/* seq is not above the last accepted record: an exact repeat of the
 * record accepted with that seq is skipped (*ret_dup), anything else is
 * a break. */
static int check_repeat(struct audit_verify *v, uint64_t seq,
                        const uint8_t hash[AUDIT_CHAIN_HASH_BYTES],
                        bool *ret_dup)
{
    if (seq < v->first_seq)
        return broken(v, "seq %" PRIu64 " repeats a record before the "
                      "first one of the log (seq %" PRIu64 ")", seq,
                      v->first_seq);
    if (v->last_seq - seq >= v->ring_records)
        return broken(v, "seq %" PRIu64 " follows seq %" PRIu64 ": it goes "
                      "back further than the %zu records kept for "
                      "duplicate checks", seq, v->last_seq,
                      v->ring_records);
    if (memcmp(v->ring[seq % v->ring_records], hash,
               AUDIT_CHAIN_HASH_BYTES) != 0)
        return broken(v, "seq %" PRIu64 " repeats an earlier seq with "
                      "other content (after seq %" PRIu64 "; a record "
                      "altered, inserted or reordered)", seq, v->last_seq);
    *ret_dup = true;
    return 0;
}

static int check_doc(struct audit_verify *v, json_t *doc,
                     const uint8_t hash[AUDIT_CHAIN_HASH_BYTES],
                     bool *ret_dup)
{
    json_t *seq_v = json_object_get(doc, "seq");
    const char *prev = json_string_value(json_object_get(doc, "prev_hash"));
    const char *type = json_string_value(json_object_get(doc, "type"));
    json_t *lost = json_object_get(doc, "lost");
    uint64_t seq;
    int r;

    if (!json_is_integer(seq_v) || json_integer_value(seq_v) <= 0)
        return broken(v, "seq missing or not a positive integer");
    if (prev == NULL || strlen(prev) != 64 ||
        strspn(prev, "0123456789abcdef") != 64)
        return broken(v, "prev_hash missing or not 64 lowercase hex digits");
    seq = (uint64_t)json_integer_value(seq_v);
    if (v->have_prev && seq <= v->last_seq)
        return check_repeat(v, seq, hash, ret_dup);
    r = check_links(v, seq, prev);
    if (r == 0 && type != NULL && strcmp(type, "checkpoint") == 0)
        r = check_checkpoint(v, doc, seq, prev);
    if (r == 0 && type != NULL && strcmp(type, "audit_gap") == 0 &&
        json_is_integer(lost) && json_integer_value(lost) > 0)
        v->lost += (uint64_t)json_integer_value(lost);
    if (r == 0)
        v->last_seq = seq;
    return r;
}

int audit_verify_line(struct audit_verify *v, const char *line, size_t len)
{
    uint8_t hash[AUDIT_CHAIN_HASH_BYTES];
    const char *start;
    json_error_t jerr;
    bool dup = false;
    json_t *doc;
    int r;

    KH_ASSERT(v != NULL && v->ring != NULL);
    KH_ASSERT(line != NULL || len == 0);
    if (v->broken)
        return KH_ECORRUPT;
    v->line_no++;
    if (len == 0)
        return broken(v, "empty line");
    if (len > AUDIT_VERIFY_LINE_BYTES_MAX)
        return broken(v, "line longer than %u bytes",
                      (unsigned)AUDIT_VERIFY_LINE_BYTES_MAX);
    if (memchr(line, '\0', len) != NULL)
        return broken(v, "NUL byte in line");
    start = memmem(line, len, AUDIT_CHAIN_MARKER, strlen(AUDIT_CHAIN_MARKER));
    if (start == NULL)
        return broken(v, "no chain fields (seq, prev_hash)");
    doc = json_loadb(start, len - (size_t)(start - line),
                     JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return broken(v, "record is not a JSON object: %s", jerr.text);
    }
    audit_chain_hash(line, len, hash);
    r = check_doc(v, doc, hash, &dup);
    json_decref(doc);
    if (r != 0)
        return r;
    if (dup) {
        v->duplicates++;
        return 0;
    }
    memcpy(v->prev_hash, hash, sizeof(hash));
    memcpy(v->ring[v->last_seq % v->ring_records], hash, sizeof(hash));
    v->prev_seq = v->last_seq;
    v->have_prev = true;
    v->records++;
    return 0;
}

int audit_verify_buffer(struct audit_verify *v, const char *buf, size_t len)
{
    size_t off = 0;
    int r = 0;

    while (r == 0 && off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (nl == NULL) {
            v->line_no++;
            return broken(v, "last line has no newline (torn write)");
        }
        r = audit_verify_line(v, buf + off, (size_t)(nl - (buf + off)));
        off = (size_t)(nl - buf) + 1;
    }
    return r;
}

static int verify_stream(struct audit_verify *v, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int r = 0;

    while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n') {
            v->line_no++;
            r = broken(v, "last line has no newline (torn write)");
            break;
        }
        r = audit_verify_line(v, line, (size_t)n - 1);
    }
    if (r == 0 && ferror(f))
        r = KH_EIO;
    free(line);
    return r;
}

int audit_verify_files(struct audit_verify *v, const char *const *files,
                       size_t count, char *errmsg, size_t errmsg_size)
{
    size_t i;
    int r = 0;

    for (i = 0; i < count && r == 0; i++) {
        FILE *f = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "r");
        if (f == NULL)
            return kh_errmsg(errmsg, errmsg_size, KH_EIO, "%s: %s",
                             files[i], strerror(errno));
        audit_verify_file(v, files[i]);
        r = verify_stream(v, f);
        if (f != stdin)
            fclose(f);
        if (r == KH_EIO)
            return kh_errmsg(errmsg, errmsg_size, r, "%s: read error",
                             files[i]);
    }
    return r;
}

uint64_t audit_verify_unanchored(const struct audit_verify *v)
{
    if (v->records == 0)
        return 0;
    if (v->last_checkpoint_seq == 0)
        return v->records;
    return v->last_seq - v->last_checkpoint_seq;
}
