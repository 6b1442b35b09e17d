/*
 * test_audit_verify.c - the audit log verifier: intact logs pass with the
 * right counts; a mutation test (random edits, deletions, insertions,
 * reorderings and replayed runs before the last checkpoint, 1,750 of them
 * from a fixed seed): exact repeats of earlier records are accepted and
 * counted as duplicates, every other mutation is detected; replayed runs
 * (a socket device's in-flight window sent again) are skipped without
 * counting their checkpoints or gaps twice, and a repeat that differs,
 * or goes back further than the duplicate ring or before the first
 * record, is a break named by file:line; specific breaks name the right
 * line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/chain.h"
#include "audit/verify.h"
#include "common/encoding.h"
#include "common/err.h"

#define LINES 120
#define CHECKPOINT_EVERY 10
#define GAP_EVERY 25
#define GAP_LOST 3
/* Gap records among seq 1..n (those with seq % GAP_EVERY == 7). */
#define GAPS(n) (((n) + GAP_EVERY - 7) / GAP_EVERY)
#define MUTATION_KINDS 7
#define MUTATIONS 1750

struct log
{
    char *lines[LINES + 8];
    size_t len[LINES + 8];
    size_t count;
    size_t last_checkpoint;     /* index of the last checkpoint line */
};

static void log_build(struct log *l, size_t records, const char *prefix)
{
    uint8_t head[AUDIT_CHAIN_HASH_BYTES] = {0};
    uint8_t key[AUDIT_CKEY_BYTES] = {7};
    char body[512], hex[AUDIT_CHAIN_HEX_BYTES], mac[AUDIT_MAC_TEXT_BYTES];
    uint64_t seq;

    memset(l, 0, sizeof(*l));
    for (seq = 1; seq <= records; seq++) {
        if (seq % CHECKPOINT_EVERY == 0) {
            kh_hex_encode(head, sizeof(head), hex);
            audit_checkpoint_mac(key, "file/", seq - 1, hex, mac);
            snprintf(body, sizeof(body),
                     "{\"type\":\"checkpoint\",\"checkpoint\":{\"device\":"
                     "\"file/\",\"count\":%" PRIu64 ",\"head\":\"%s\","
                     "\"mac\":\"%s\"}}", seq - 1, hex, mac);
            l->last_checkpoint = l->count;
        } else if (seq % GAP_EVERY == 7) {
            snprintf(body, sizeof(body),
                     "{\"time\":\"2024-01-01T00:00:00Z\",\"type\":"
                     "\"audit_gap\",\"lost\":%d}", GAP_LOST);
        } else {
            snprintf(body, sizeof(body),
                     "{\"time\":\"2024-01-01T00:00:%02" PRIu64 "Z\","
                     "\"type\":\"request\",\"request\":{\"path\":"
                     "\"secret/%" PRIu64 "\",\"data\":{\"k\":\"hmac-sha256:"
                     "%016" PRIx64 "\"}}}", seq % 60, seq, seq * 2654435761u);
        }
        assert_int_equal(audit_chain_line(prefix, seq, head, body,
                                          strlen(body), &l->lines[l->count],
                                          &l->len[l->count]),
                         0);
        audit_chain_hash(l->lines[l->count], l->len[l->count] - 1, head);
        l->count++;
    }
}

static void log_free(struct log *l)
{
    size_t i;

    for (i = 0; i < l->count; i++)
        free(l->lines[i]);
}

static char *log_join(const struct log *l, size_t *ret_len)
{
    size_t total = 0, i, off = 0;
    char *buf;

    for (i = 0; i < l->count; i++)
        total += l->len[i];
    buf = malloc(total + 1);
    assert_non_null(buf);
    for (i = 0; i < l->count; i++) {
        memcpy(buf + off, l->lines[i], l->len[i]);
        off += l->len[i];
    }
    buf[off] = '\0';
    *ret_len = off;
    return buf;
}

/* Verify buf with a duplicate ring of ring records (0: the default). */
static int verify_ring(const char *buf, size_t len, size_t ring,
                       struct audit_verify *v)
{
    int r;

    assert_int_equal(audit_verify_init(v, ring), 0);
    audit_verify_file(v, "mem.log");
    r = audit_verify_buffer(v, buf, len);
    audit_verify_release(v); /* the results stay in *v */
    return r;
}

static int verify_buf(const char *buf, size_t len, struct audit_verify *v)
{
    return verify_ring(buf, len, 0, v);
}

/* An intact log verifies, with its checkpoints and unanchored tail. */
static void test_intact(void **state)
{
    struct audit_verify v;
    struct log l;
    size_t len;
    char *buf;

    (void)state;
    log_build(&l, LINES + 5, "");
    buf = log_join(&l, &len);
    assert_int_equal(verify_buf(buf, len, &v), 0);
    assert_int_equal(v.records, LINES + 5);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.last_seq, LINES + 5);
    assert_int_equal(v.checkpoints, (LINES + 5) / CHECKPOINT_EVERY);
    assert_int_equal(audit_verify_unanchored(&v), 5);
    assert_int_equal(v.lost, GAP_LOST * GAPS(LINES + 5));
    assert_int_equal(v.duplicates, 0);
    free(buf);
    log_free(&l);
}

/* Splice out [a, b) of a buffer's lines and optionally insert text. */
struct mut
{
    char *buf;
    size_t len;
};

static void mut_lines(const struct log *l, struct mut *m, size_t drop_at,
                      size_t drop_n, const char *insert, size_t insert_len,
                      size_t swap_a, size_t swap_b)
{
    size_t total = insert_len + 1, i, off = 0;

    for (i = 0; i < l->count; i++)
        total += l->len[i];
    m->buf = malloc(total);
    assert_non_null(m->buf);
    for (i = 0; i < l->count; i++) {
        size_t src = i == swap_a ? swap_b : i == swap_b ? swap_a : i;
        if (i == drop_at && insert != NULL) {
            memcpy(m->buf + off, insert, insert_len);
            off += insert_len;
        }
        if (i >= drop_at && i < drop_at + drop_n)
            continue;
        memcpy(m->buf + off, l->lines[src], l->len[src]);
        off += l->len[src];
    }
    m->len = off;
}

/* Lines [a, b) as one buffer (a replayed run); when alter, one byte of
 * one of them is changed. */
static char *run_text(const struct log *l, size_t a, size_t b, bool alter,
                      size_t *ret_len)
{
    size_t total = 0, off = 0, k, target, pos;
    unsigned char c;
    char *text;

    for (k = a; k < b; k++)
        total += l->len[k];
    text = malloc(total + 1);
    assert_non_null(text);
    target = a + (size_t)rand() % (b - a);
    for (k = a; k < b; k++) {
        memcpy(text + off, l->lines[k], l->len[k]);
        if (alter && k == target) {
            pos = off + (size_t)rand() % l->len[k];
            do {
                c = (unsigned char)(rand() & 0xff);
            } while (c == (unsigned char)text[pos]);
            text[pos] = (char)c;
        }
        off += l->len[k];
    }
    *ret_len = off;
    return text;
}

/* Insert a replayed run before line i: [a, b) with b <= i + 2 (lines at
 * and after i arrive in the run first, their originals repeat them), or
 * with b <= i when drop (line i is then deleted: a gap after a replay). */
static void mutate_replay(const struct log *l, size_t i, bool alter,
                          bool drop, struct mut *m, size_t *ret_dups)
{
    const size_t none = (size_t)-1;
    size_t a, b, len;
    char *text;

    if (drop && i == 0)
        i = 1;
    b = drop ? i - (size_t)rand() % (i < 3 ? i : 3)
             : i + (size_t)rand() % 3;
    if (b == 0)
        b = 1;
    a = b - 1 - (size_t)rand() % (b < 40 ? b : 40);
    if (a > i)
        a = i; /* a run that starts after line i is a reordering */
    text = run_text(l, a, b, alter, &len);
    mut_lines(l, m, i, drop ? 1 : 0, text, len, none, none);
    free(text);
    *ret_dups = b - a;
}

/* Mutate lines before the last checkpoint. *ret_dups: how many exact
 * repeats the mutation added when it is harmless (the verifier must
 * accept it), (size_t)-1 when it must be detected. */
static void mutate(const struct log *l, unsigned kind, struct mut *m,
                   size_t *ret_dups)
{
    size_t limit = l->last_checkpoint; /* lines [0, limit) may change */
    size_t i = (size_t)rand() % limit, j;
    const size_t none = (size_t)-1;

    *ret_dups = none;
    switch (kind) {
    case 0: { /* edit one byte of a line before the checkpoint */
        size_t off = 0, k, pos;
        unsigned char c;
        mut_lines(l, m, none, 0, NULL, 0, none, none);
        for (k = 0; k < i; k++)
            off += l->len[k];
        pos = off + (size_t)rand() % l->len[i];
        do {
            c = (unsigned char)(rand() & 0xff);
        } while (c == (unsigned char)m->buf[pos]);
        m->buf[pos] = (char)c;
        break;
    }
    case 1: /* delete one or more lines */
        j = 1 + (size_t)rand() % 3;
        if (i + j > limit)
            j = limit - i;
        mut_lines(l, m, i, j, NULL, 0, none, none);
        break;
    case 2: /* insert a copy of another line (a repeat if not later than
             * line i, whose original then repeats it), or junk */
        j = (size_t)rand() % l->count;
        if (rand() % 2 == 0) {
            mut_lines(l, m, i, 0, l->lines[j], l->len[j], none, none);
            if (j <= i)
                *ret_dups = 1;
        } else {
            mut_lines(l, m, i, 0, "{\"seq\":1}\n", 10, none, none);
        }
        break;
    case 3: /* swap two distinct lines before the checkpoint */
        do {
            j = (size_t)rand() % limit;
        } while (j == i);
        mut_lines(l, m, none, 0, NULL, 0, i, j);
        break;
    case 4: /* a replayed run of exact records: harmless */
        mutate_replay(l, i, false, false, m, ret_dups);
        break;
    case 5: /* a replayed run with one byte changed */
        mutate_replay(l, i, true, false, m, &j);
        break;
    default: /* a replayed run, then a record missing */
        mutate_replay(l, i, false, true, m, &j);
        break;
    }
}

/* The mutation test: exact repeats of earlier records (inserted copies,
 * replayed runs) are accepted as duplicates with every record counted
 * once; every other edit, deletion, insertion or reordering before the
 * last checkpoint is detected. */
static void test_mutations_all_detected(void **state)
{
    unsigned detected[MUTATION_KINDS] = {0}, accepted[MUTATION_KINDS] = {0};
    unsigned tried[MUTATION_KINDS] = {0}, n, k, must_detect = 0;
    struct audit_verify v;
    struct log l;

    (void)state;
    srand(20240501);
    log_build(&l, LINES, "");
    assert_int_equal(l.last_checkpoint, LINES - 1);
    for (n = 0; n < MUTATIONS; n++) {
        unsigned kind = n % MUTATION_KINDS;
        size_t dups;
        struct mut m;
        int r;
        mutate(&l, kind, &m, &dups);
        tried[kind]++;
        r = verify_buf(m.buf, m.len, &v);
        if (dups != (size_t)-1) {
            if (r != 0)
                fail_msg("mutation %u (kind %u): exact repeats refused: "
                         "%s:%" PRIu64 ": %s", n, kind, v.broken_file,
                         v.broken_line, v.reason);
            assert_int_equal(v.records, LINES);
            assert_int_equal(v.duplicates, dups);
            assert_int_equal(v.checkpoints, LINES / CHECKPOINT_EVERY);
            assert_int_equal(v.lost, GAP_LOST * GAPS(LINES));
            accepted[kind]++;
        } else {
            must_detect++;
            if (r != KH_ECORRUPT)
                fail_msg("mutation %u (kind %u) not detected", n, kind);
            assert_true(v.broken_line >= 1);
            detected[kind]++;
        }
        if (n < MUTATION_KINDS)
            print_message("e.g. kind %u: %s:%" PRIu64 ": %s\n", kind,
                          v.broken_file, v.broken_line,
                          r == 0 ? "accepted" : v.reason);
        free(m.buf);
    }
    print_message("mutations: edits %u/%u, deletions %u/%u, insertions "
                  "%u/%u (+%u exact repeats accepted), reorderings %u/%u, "
                  "replays %u/%u accepted, altered replays %u/%u, replay "
                  "then gap %u/%u detected; %u had to be detected\n",
                  detected[0], tried[0], detected[1], tried[1], detected[2],
                  tried[2] - accepted[2], accepted[2], detected[3], tried[3],
                  accepted[4], tried[4], detected[5], tried[5], detected[6],
                  tried[6], must_detect);
    for (k = 0; k < MUTATION_KINDS; k++)
        assert_int_equal(detected[k] + accepted[k], tried[k]);
    assert_true(must_detect >= 1000);
    assert_int_equal(accepted[4], tried[4]);
    log_free(&l);
}

/* A deleted record is named at the line after the gap. */
static void test_names_first_broken_line(void **state)
{
    struct audit_verify v;
    struct log l;
    struct mut m;

    (void)state;
    log_build(&l, 30, "keyhold: ");
    mut_lines(&l, &m, 11, 1, NULL, 0, (size_t)-1, (size_t)-1);
    assert_int_equal(verify_buf(m.buf, m.len, &v), KH_ECORRUPT);
    assert_string_equal(v.broken_file, "mem.log");
    assert_int_equal(v.broken_line, 12);
    assert_non_null(strstr(v.reason, "seq 13 follows seq 11"));
    assert_int_equal(v.records, 11);
    free(m.buf);
    log_free(&l);
}

/* Torn last line, a forged first record, a checkpoint out of place. */
static void test_specific_breaks(void **state)
{
    uint8_t zero[AUDIT_CHAIN_HASH_BYTES] = {0}, other[AUDIT_CHAIN_HASH_BYTES];
    struct audit_verify v;
    struct log l;
    size_t len;
    char *buf, *line = NULL;

    (void)state;
    log_build(&l, 12, "");
    buf = log_join(&l, &len);
    assert_int_equal(verify_buf(buf, len - 5, &v), KH_ECORRUPT);
    assert_non_null(strstr(v.reason, "torn"));
    /* A log that starts mid-way is broken, unless partial is allowed. */
    assert_int_equal(verify_buf(buf + l.len[0] + l.len[1],
                                len - l.len[0] - l.len[1], &v),
                     KH_ECORRUPT);
    assert_non_null(strstr(v.reason, "starts at seq 3"));
    assert_int_equal(audit_verify_init(&v, 0), 0);
    v.allow_partial = true;
    assert_int_equal(audit_verify_buffer(&v, buf + l.len[0] + l.len[1],
                                         len - l.len[0] - l.len[1]),
                     0);
    audit_verify_release(&v);
    assert_int_equal(v.first_seq, 3);
    free(buf);
    /* seq 1 with a non-zero prev_hash. */
    memset(other, 0xab, sizeof(other));
    assert_int_equal(audit_chain_line("", 1, other, "{\"a\":1}", 7, &line,
                                      &len),
                     0);
    assert_int_equal(verify_buf(line, len, &v), KH_ECORRUPT);
    free(line);
    /* A checkpoint that claims another count. */
    assert_int_equal(
        audit_chain_line("", 1, zero,
                         "{\"type\":\"checkpoint\",\"checkpoint\":{"
                         "\"count\":5,\"head\":\"00\",\"mac\":\"x\"}}",
                         strlen("{\"type\":\"checkpoint\",\"checkpoint\":{"
                                "\"count\":5,\"head\":\"00\",\"mac\":\"x\"}}"),
                         &line, &len),
        0);
    assert_int_equal(verify_buf(line, len, &v), KH_ECORRUPT);
    assert_non_null(strstr(v.reason, "checkpoint"));
    free(line);
    /* Duplicate keys are refused. */
    assert_int_equal(verify_buf("{\"seq\":1,\"seq\":2}\n", 18, &v),
                     KH_ECORRUPT);
    log_free(&l);
}

static void write_lines(const char *path, const struct log *l, size_t a,
                        size_t b)
{
    FILE *fp = fopen(path, "w");
    size_t i;

    assert_non_null(fp);
    for (i = a; i < b; i++)
        assert_int_equal(fwrite(l->lines[i], 1, l->len[i], fp), l->len[i]);
    assert_int_equal(fclose(fp), 0);
}

static int verify_paths(const char *const *files, size_t n,
                        struct audit_verify *v)
{
    char errmsg[KH_ERRMSG_SIZE];
    int r;

    assert_int_equal(audit_verify_init(v, 0), 0);
    r = audit_verify_files(v, files, n, errmsg, sizeof(errmsg));
    audit_verify_release(v);
    return r;
}

/* Several files are one chain; a missing middle file is caught; a file
 * that replays the end of one file and the start of the next (what a
 * collector writes after a reconnect) is skipped across the boundary. */
static void test_files_in_order(void **state)
{
    const char *base = getenv("KH_TEST_TMP");
    char dir[512], a[600], b[600], c[600], r[600];
    const char *all[3] = {a, b, c}, *gap[2] = {a, c};
    const char *replayed[4] = {a, r, b, c};
    struct audit_verify v;
    struct log l;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/auditv-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    snprintf(c, sizeof(c), "%s/c", dir);
    snprintf(r, sizeof(r), "%s/r", dir);
    log_build(&l, 30, "");
    write_lines(a, &l, 0, 10);
    write_lines(b, &l, 10, 20);
    write_lines(c, &l, 20, 30);
    write_lines(r, &l, 5, 15);
    assert_int_equal(verify_paths(all, 3, &v), 0);
    assert_int_equal(v.records, 30);
    assert_int_equal(verify_paths(gap, 2, &v), KH_ECORRUPT);
    assert_string_equal(v.broken_file, c);
    assert_int_equal(v.broken_line, 1);
    assert_int_equal(verify_paths(replayed, 4, &v), 0);
    assert_int_equal(v.records, 30);
    assert_int_equal(v.duplicates, 10);
    unlink(a);
    unlink(b);
    unlink(c);
    unlink(r);
    rmdir(dir);
    log_free(&l);
}

/* The runs of lines [ranges[2k], ranges[2k + 1]) of l, as one buffer. */
static char *runs(const struct log *l, const size_t *ranges, size_t n,
                  size_t *ret_len)
{
    size_t total = 0, off = 0, i, k;
    char *buf;

    for (k = 0; k + 1 < n; k += 2)
        for (i = ranges[k]; i < ranges[k + 1]; i++)
            total += l->len[i];
    buf = malloc(total + 1);
    assert_non_null(buf);
    for (k = 0; k + 1 < n; k += 2)
        for (i = ranges[k]; i < ranges[k + 1]; i++) {
            memcpy(buf + off, l->lines[i], l->len[i]);
            off += l->len[i];
        }
    *ret_len = off;
    return buf;
}

static char *two_runs(const struct log *l, size_t a, size_t b, size_t c,
                      size_t d, size_t *ret_len)
{
    const size_t ranges[4] = {a, b, c, d};

    return runs(l, ranges, 4, ret_len);
}

/* A replayed run (seq 11..20 again after seq 20, then on to 40) is
 * skipped: every record counted once, its checkpoint and gap record not
 * counted twice, the chain going on from the last accepted record. */
static void test_replay_accepted(void **state)
{
    struct audit_verify v;
    struct log l;
    size_t len;
    char *buf;

    (void)state;
    log_build(&l, 40, "keyhold: ");
    buf = two_runs(&l, 0, 20, 10, 40, &len);
    assert_int_equal(verify_buf(buf, len, &v), 0);
    assert_int_equal(v.records, 40);
    assert_int_equal(v.duplicates, 10);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.last_seq, 40);
    assert_int_equal(v.checkpoints, 4);
    assert_int_equal(v.lost, GAP_LOST * GAPS(40));
    assert_int_equal(audit_verify_unanchored(&v), 0);
    free(buf);
    /* The whole log twice over. */
    buf = two_runs(&l, 0, 40, 0, 40, &len);
    assert_int_equal(verify_buf(buf, len, &v), 0);
    assert_int_equal(v.records, 40);
    assert_int_equal(v.duplicates, 40);
    free(buf);
    log_free(&l);
}

/* A repeated seq whose line differs from the record first accepted with
 * it is a break, named at its own line. */
static void test_replay_altered_named(void **state)
{
    struct audit_verify v;
    struct log l;
    size_t len, off = 0, i;
    char *buf, *p;

    (void)state;
    log_build(&l, 30, "");
    buf = two_runs(&l, 0, 20, 10, 30, &len);
    /* Line 25 of the buffer repeats seq 15 (index 14): change its time. */
    for (i = 0; i < 24; i++)
        off += l.len[i < 20 ? i : i - 10];
    p = strstr(buf + off, "\"time\":\"2024");
    assert_non_null(p);
    assert_true(p < buf + off + l.len[14]);
    p[strlen("\"time\":\"20")] = '9';
    assert_int_equal(verify_buf(buf, len, &v), KH_ECORRUPT);
    assert_int_equal(v.broken_line, 25);
    assert_non_null(strstr(v.reason, "seq 15 repeats an earlier seq"));
    assert_int_equal(v.records, 20);
    assert_int_equal(v.duplicates, 4);
    free(buf);
    log_free(&l);
}

/* A repeat reaching back further than the ring, or before the first
 * record of a partial walk, cannot be checked and is a break. */
static void test_replay_bounds(void **state)
{
    struct audit_verify v;
    struct log l;
    size_t len;
    char *buf;

    (void)state;
    log_build(&l, 30, "");
    /* seq 6..30 again after seq 20: 14 back. */
    buf = two_runs(&l, 0, 20, 5, 30, &len);
    assert_int_equal(verify_ring(buf, len, 16, &v), 0);
    assert_int_equal(v.duplicates, 15);
    assert_int_equal(verify_ring(buf, len, 14, &v), KH_ECORRUPT);
    assert_int_equal(v.broken_line, 21);
    assert_non_null(strstr(v.reason, "further than the 14 records"));
    assert_int_equal(verify_ring(buf, len, 15, &v), 0);
    free(buf);
    /* A partial walk from seq 11 sees seq 6 again. */
    buf = two_runs(&l, 10, 20, 5, 30, &len);
    assert_int_equal(audit_verify_init(&v, 0), 0);
    v.allow_partial = true;
    assert_int_equal(audit_verify_buffer(&v, buf, len), KH_ECORRUPT);
    audit_verify_release(&v);
    assert_int_equal(v.broken_line, 11);
    assert_non_null(strstr(v.reason, "before the first one"));
    free(buf);
    /* From seq 11 on, the same repeats are fine. */
    buf = two_runs(&l, 10, 20, 10, 30, &len);
    assert_int_equal(audit_verify_init(&v, 0), 0);
    v.allow_partial = true;
    assert_int_equal(audit_verify_buffer(&v, buf, len), 0);
    audit_verify_release(&v);
    assert_int_equal(v.records, 20);
    assert_int_equal(v.duplicates, 10);
    free(buf);
    log_free(&l);
}

/* A replay does not hide a gap or a reordering after it. */
static void test_replay_then_gap(void **state)
{
    struct audit_verify v;
    struct log l;
    size_t len;
    char *buf;

    (void)state;
    log_build(&l, 30, "");
    /* ..20, 11..20 again, then 22..: seq 21 missing. */
    {
        const size_t ranges[6] = {0, 20, 10, 20, 21, 30};
        buf = runs(&l, ranges, 6, &len);
    }
    assert_int_equal(verify_buf(buf, len, &v), KH_ECORRUPT);
    assert_int_equal(v.broken_line, 31);
    assert_non_null(strstr(v.reason, "seq 22 follows seq 20"));
    assert_int_equal(v.duplicates, 10);
    free(buf);
    /* ..20, 11..20 again, then 22, 21: reordered. */
    {
        const size_t ranges[8] = {0, 20, 10, 20, 21, 22, 20, 30};
        buf = runs(&l, ranges, 8, &len);
    }
    assert_int_equal(verify_buf(buf, len, &v), KH_ECORRUPT);
    assert_int_equal(v.broken_line, 31);
    free(buf);
    log_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact),
        cmocka_unit_test(test_mutations_all_detected),
        cmocka_unit_test(test_names_first_broken_line),
        cmocka_unit_test(test_specific_breaks),
        cmocka_unit_test(test_files_in_order),
        cmocka_unit_test(test_replay_accepted),
        cmocka_unit_test(test_replay_altered_named),
        cmocka_unit_test(test_replay_bounds),
        cmocka_unit_test(test_replay_then_gap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
