/*
 * test_audit_verify.c - the audit log verifier: intact logs pass with the
 * right counts; a mutation test (random edits, deletions, insertions and
 * reorderings before the last checkpoint, 1,200 of them from a fixed
 * seed) must all be detected; specific breaks name the right line.
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
#define MUTATIONS 1200

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

static int verify_buf(const char *buf, size_t len, struct audit_verify *v)
{
    audit_verify_init(v);
    audit_verify_file(v, "mem.log");
    return audit_verify_buffer(v, buf, len);
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

static void mutate(const struct log *l, unsigned kind, struct mut *m)
{
    size_t limit = l->last_checkpoint; /* lines [0, limit) may change */
    size_t i = (size_t)rand() % limit, j;
    const size_t none = (size_t)-1;

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
    case 2: { /* insert a copy of another line, or junk */
        j = (size_t)rand() % l->count;
        if (rand() % 2 == 0)
            mut_lines(l, m, i, 0, l->lines[j], l->len[j], none, none);
        else
            mut_lines(l, m, i, 0, "{\"seq\":1}\n", 10, none, none);
        break;
    }
    default: /* swap two distinct lines before the checkpoint */
        do {
            j = (size_t)rand() % limit;
        } while (j == i);
        mut_lines(l, m, none, 0, NULL, 0, i, j);
        break;
    }
}

/* The mutation test: every random edit, deletion, insertion or
 * reordering before the last checkpoint is detected. */
static void test_mutations_all_detected(void **state)
{
    unsigned detected[4] = {0}, tried[4] = {0}, n;
    struct audit_verify v;
    struct log l;

    (void)state;
    srand(20240501);
    log_build(&l, LINES, "");
    assert_int_equal(l.last_checkpoint, LINES - 1);
    for (n = 0; n < MUTATIONS; n++) {
        struct mut m;
        unsigned kind = n % 4;
        mutate(&l, kind, &m);
        tried[kind]++;
        if (verify_buf(m.buf, m.len, &v) == KH_ECORRUPT)
            detected[kind]++;
        else
            fail_msg("mutation %u (kind %u) not detected", n, kind);
        if (n < 4)
            print_message("e.g. kind %u: %s:%" PRIu64 ": %s\n", kind,
                          v.broken_file, v.broken_line, v.reason);
        assert_true(v.broken_line >= 1);
        free(m.buf);
    }
    print_message("mutations: edits %u/%u, deletions %u/%u, insertions "
                  "%u/%u, reorderings %u/%u detected\n",
                  detected[0], tried[0], detected[1], tried[1], detected[2],
                  tried[2], detected[3], tried[3]);
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
    audit_verify_init(&v);
    v.allow_partial = true;
    assert_int_equal(audit_verify_buffer(&v, buf + l.len[0] + l.len[1],
                                         len - l.len[0] - l.len[1]),
                     0);
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

/* Several files are one chain; a missing middle file is caught. */
static void test_files_in_order(void **state)
{
    const char *base = getenv("KH_TEST_TMP");
    char dir[512], a[600], b[600], c[600], errmsg[KH_ERRMSG_SIZE];
    const char *all[3] = {a, b, c}, *gap[2] = {a, c};
    struct audit_verify v;
    struct log l;
    FILE *fp;
    size_t i;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/auditv-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    snprintf(c, sizeof(c), "%s/c", dir);
    log_build(&l, 30, "");
    for (i = 0; i < l.count; i++) {
        fp = fopen(i < 10 ? a : i < 20 ? b : c, "a");
        assert_non_null(fp);
        fwrite(l.lines[i], 1, l.len[i], fp);
        fclose(fp);
    }
    audit_verify_init(&v);
    assert_int_equal(audit_verify_files(&v, all, 3, errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(v.records, 30);
    audit_verify_init(&v);
    assert_int_equal(audit_verify_files(&v, gap, 2, errmsg, sizeof(errmsg)),
                     KH_ECORRUPT);
    assert_string_equal(v.broken_file, c);
    assert_int_equal(v.broken_line, 1);
    unlink(a);
    unlink(b);
    unlink(c);
    rmdir(dir);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
