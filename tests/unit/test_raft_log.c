/*
 * test_raft_log.c - the raft log in LMDB on real files: durable appends
 * that come back after reopening, contiguity, truncation, term and vote,
 * snapshots with trailing entries and installed ones, every limit at max
 * and max + 1; the message and configuration codecs; the FSM's batch
 * codec and its idempotent apply with the applied index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/limits.h"
#include "raft/raft_codec.h"
#include "raft/raft_fsm.h"
#include "raft/raft_limits.h"
#include "raft/raft_log.h"
#include "storage/lmdb_internal.h"
#include "storage/storage.h"

#include "lib/fixture.h"

struct fixture
{
    char *tmp;
    char dir[PATH_MAX];
    struct kh_raft_log *log;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_non_null(f);
    assert_int_equal(fixture_tmp_make("raftlog", &f->tmp), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/raft", f->tmp);
    assert_int_equal(kh_raft_log_open(f->dir, &f->log, errmsg, sizeof(errmsg)),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    kh_raft_log_close(f->log);
    assert_int_equal(fixture_tmp_remove(f->tmp), 0);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    char errmsg[KH_ERRMSG_SIZE] = "";

    kh_raft_log_close(f->log);
    f->log = NULL;
    assert_int_equal(kh_raft_log_open(f->dir, &f->log, errmsg, sizeof(errmsg)),
                     0);
}

static int append(struct kh_raft_log *log, uint64_t first, size_t n,
                  size_t len, uint64_t term)
{
    struct kh_raft_log_entry *e = calloc(n, sizeof(*e));
    struct kh_raft_log_txn *txn = NULL;
    uint8_t *data = calloc(1, len + 1);
    size_t i;
    int r;

    assert_non_null(e);
    assert_non_null(data);
    for (i = 0; i < n; i++) {
        e[i].term = term;
        e[i].type = 1;
        e[i].data = data;
        e[i].len = len;
        data[0] = (uint8_t)(first + i);
    }
    if (len > 0)
        data[0] = 0x5a;
    assert_int_equal(kh_raft_log_begin(log, &txn), 0);
    r = kh_raft_log_txn_append(txn, first, e, n);
    if (r == 0)
        r = kh_raft_log_commit(txn);
    else
        kh_raft_log_abort(txn);
    free(e);
    free(data);
    return r;
}

static void state_of(struct kh_raft_log *log, struct kh_raft_log_state *st)
{
    struct kh_raft_log_reader *rd = NULL;

    assert_int_equal(kh_raft_log_read_begin(log, &rd, st), 0);
    kh_raft_log_read_end(rd);
}

/* Appended entries, term and vote survive closing and reopening. */
static void test_durable_reopen(void **state)
{
    struct fixture *f = *state;
    struct kh_raft_log_reader *rd = NULL;
    struct kh_raft_log_state st;
    struct kh_raft_log_entry e;

    assert_int_equal(append(f->log, 1, 10, 100, 3), 0);
    assert_int_equal(append(f->log, 11, 5, 0, 4), 0);
    assert_int_equal(kh_raft_log_set_term(f->log, 7), 0);
    assert_int_equal(kh_raft_log_set_vote(f->log, 2), 0);
    reopen(f);
    assert_int_equal(kh_raft_log_read_begin(f->log, &rd, &st), 0);
    assert_int_equal(st.term, 7);
    assert_int_equal(st.vote, 2);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(st.last_index, 15);
    assert_int_equal(st.entry_bytes, 1000);
    assert_false(st.has_snapshot);
    assert_int_equal(kh_raft_log_read_entry(rd, 3, &e), 0);
    assert_int_equal(e.term, 3);
    assert_int_equal(e.type, 1);
    assert_int_equal(e.len, 100);
    assert_int_equal(e.data[0], 0x5a);
    assert_int_equal(kh_raft_log_read_entry(rd, 15, &e), 0);
    assert_int_equal(e.term, 4);
    assert_int_equal(e.len, 0);
    assert_int_equal(kh_raft_log_read_entry(rd, 16, &e), KH_ENOTFOUND);
    kh_raft_log_read_end(rd);
    /* A new term clears the vote. */
    assert_int_equal(kh_raft_log_set_term(f->log, 8), 0);
    state_of(f->log, &st);
    assert_int_equal(st.term, 8);
    assert_int_equal(st.vote, 0);
}

/* An append must follow the last entry: gaps and overlaps are refused. */
static void test_contiguity(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(append(f->log, 2, 1, 1, 1), KH_EINVAL);
    assert_int_equal(append(f->log, 1, 3, 1, 1), 0);
    assert_int_equal(append(f->log, 3, 1, 1, 1), KH_EINVAL);
    assert_int_equal(append(f->log, 5, 1, 1, 1), KH_EINVAL);
    assert_int_equal(append(f->log, 4, 1, 1, 1), 0);
}

/* Truncate removes a suffix; appends continue from the cut, durably. */
static void test_truncate(void **state)
{
    struct fixture *f = *state;
    struct kh_raft_log_txn *txn = NULL;
    struct kh_raft_log_state st;

    assert_int_equal(append(f->log, 1, 10, 8, 1), 0);
    assert_int_equal(kh_raft_log_begin(f->log, &txn), 0);
    assert_int_equal(kh_raft_log_txn_truncate(txn, 6), 0);
    assert_int_equal(kh_raft_log_commit(txn), 0);
    reopen(f);
    state_of(f->log, &st);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(st.last_index, 5);
    assert_int_equal(append(f->log, 6, 2, 8, 2), 0);
    /* Truncate and append in one transaction, as the io batches them. */
    assert_int_equal(kh_raft_log_begin(f->log, &txn), 0);
    assert_int_equal(kh_raft_log_txn_truncate(txn, 2), 0);
    kh_raft_log_abort(txn);
    state_of(f->log, &st);
    assert_int_equal(st.last_index, 7); /* aborted: nothing changed */
    assert_int_equal(kh_raft_log_begin(f->log, &txn), 0);
    assert_int_equal(kh_raft_log_txn_truncate(txn, 0), KH_EINVAL);
    kh_raft_log_abort(txn);
}

static void snapshot_put(struct kh_raft_log *log, uint64_t index,
                         uint64_t trailing, size_t len, int expect)
{
    static const uint8_t conf[] = {0, 0, 0, 0};
    struct kh_raft_log_snapshot s = {0};
    struct kh_raft_log_txn *txn = NULL;
    uint8_t *data = calloc(1, len + 1);
    int r;

    assert_non_null(data);
    memset(data, 0xab, len);
    s.index = index;
    s.term = 2;
    s.conf_index = 1;
    s.conf = conf;
    s.conf_len = sizeof(conf);
    s.data = data;
    s.len = len;
    assert_int_equal(kh_raft_log_begin(log, &txn), 0);
    r = kh_raft_log_txn_snapshot(txn, &s, trailing);
    if (r == 0)
        r = kh_raft_log_commit(txn);
    else
        kh_raft_log_abort(txn);
    free(data);
    assert_int_equal(r, expect);
}

/* A snapshot keeps its trailing entries; an installed one (trailing 0)
 * drops them all and appends resume after it. */
static void test_snapshot(void **state)
{
    struct fixture *f = *state;
    struct kh_raft_log_state st;

    assert_int_equal(append(f->log, 1, 20, 4, 1), 0);
    snapshot_put(f->log, 15, 4, 1000, 0);
    reopen(f);
    state_of(f->log, &st);
    assert_true(st.has_snapshot);
    assert_int_equal(st.snapshot.index, 15);
    assert_int_equal(st.snapshot.term, 2);
    assert_int_equal(st.snapshot.len, 1000);
    assert_int_equal(st.snapshot.conf_len, 4);
    assert_int_equal(st.first_index, 12);
    assert_int_equal(st.last_index, 20);
    snapshot_put(f->log, 14, 4, 10, KH_EINVAL); /* never back */
    snapshot_put(f->log, 30, 0, 10, 0);
    state_of(f->log, &st);
    assert_int_equal(st.first_index, 0);
    assert_int_equal(st.snapshot.index, 30);
    assert_int_equal(append(f->log, 21, 1, 4, 3), KH_EINVAL);
    assert_int_equal(append(f->log, 31, 1, 4, 3), 0);
    reopen(f);
    state_of(f->log, &st);
    assert_int_equal(st.first_index, 31);
    assert_int_equal(st.last_index, 31);
}

/* Entry bytes, entries per append and snapshot bytes at max and max+1. */
static void test_limits(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(append(f->log, 1, 1, KH_RAFT_ENTRY_BYTES_MAX, 1), 0);
    assert_int_equal(append(f->log, 2, 1, KH_RAFT_ENTRY_BYTES_MAX + 1, 1),
                     KH_ETOOBIG);
    assert_int_equal(append(f->log, 2, KH_RAFT_APPEND_ENTRIES_MAX, 0, 1), 0);
    assert_int_equal(append(f->log, 2 + KH_RAFT_APPEND_ENTRIES_MAX,
                            KH_RAFT_APPEND_ENTRIES_MAX + 1, 0, 1),
                     KH_ETOOBIG);
    snapshot_put(f->log, 5, 1, KH_RAFT_SNAPSHOT_BYTES_MAX + 1, KH_ETOOBIG);
    snapshot_put(f->log, 5, 1, KH_RAFT_SNAPSHOT_BYTES_MAX, 0);
    reopen(f);
}

/* Every message type survives encode/decode; truncated and oversized
 * bodies are refused. */
static void test_message_codec(void **state)
{
    struct raft_message m, d;
    struct raft_entry entries[2];
    struct kh_raft_wbuf w;
    size_t cut;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries.term = 9;
    m.append_entries.prev_log_index = 4;
    m.append_entries.prev_log_term = 8;
    m.append_entries.leader_commit = 3;
    entries[0] = (struct raft_entry){9, RAFT_COMMAND, {"abc", 3}, NULL};
    entries[1] = (struct raft_entry){9, RAFT_BARRIER, {"", 0}, NULL};
    m.append_entries.entries = entries;
    m.append_entries.n_entries = 2;
    assert_int_equal(kh_raft_message_encode(&m, &w), 0);
    assert_int_equal(kh_raft_message_decode(w.data, w.len, &d), 0);
    assert_int_equal(d.type, RAFT_IO_APPEND_ENTRIES);
    assert_int_equal(d.append_entries.n_entries, 2);
    assert_int_equal(d.append_entries.prev_log_term, 8);
    assert_memory_equal(d.append_entries.entries[0].buf.base, "abc", 3);
    assert_int_equal(d.append_entries.entries[1].type, RAFT_BARRIER);
    kh_raft_message_release(&d);
    for (cut = 0; cut < w.len; cut++)
        assert_int_not_equal(kh_raft_message_decode(w.data, cut, &d), 0);
    kh_raft_wbuf_free(&w);

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_INSTALL_SNAPSHOT;
    m.install_snapshot.term = 2;
    m.install_snapshot.last_index = 40;
    raft_configuration_init(&m.install_snapshot.conf);
    assert_int_equal(raft_configuration_add(&m.install_snapshot.conf, 1,
                                            "127.0.0.1:1", RAFT_VOTER),
                     0);
    m.install_snapshot.data.base = "snap";
    m.install_snapshot.data.len = 4;
    assert_int_equal(kh_raft_message_encode(&m, &w), 0);
    raft_configuration_close(&m.install_snapshot.conf);
    assert_int_equal(kh_raft_message_decode(w.data, w.len, &d), 0);
    assert_int_equal(d.install_snapshot.conf.n, 1);
    assert_string_equal(d.install_snapshot.conf.servers[0].address,
                        "127.0.0.1:1");
    assert_int_equal(d.install_snapshot.data.len, 4);
    kh_raft_message_release(&d);
    kh_raft_wbuf_free(&w);

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_REQUEST_VOTE;
    m.request_vote.term = 5;
    m.request_vote.pre_vote = true;
    assert_int_equal(kh_raft_message_encode(&m, &w), 0);
    assert_int_equal(kh_raft_message_decode(w.data, w.len, &d), 0);
    assert_true(d.request_vote.pre_vote);
    assert_false(d.request_vote.disrupt_leader);
    w.data[0] = 99; /* unknown type */
    assert_int_equal(kh_raft_message_decode(w.data, w.len, &d), KH_EINVAL);
    kh_raft_wbuf_free(&w);
}

/* The batch codec round-trips, refuses malformed input, and the FSM's
 * applied index makes replay change nothing. */
static void test_batch_apply_idempotent(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_op ops[2] = {
        {KH_STORAGE_PUT, "a/b", (const uint8_t *)"v1", 2},
        {KH_STORAGE_DELETE, "c", NULL, 0},
    };
    struct kh_storage_op again = {KH_STORAGE_PUT, "a/b", (const uint8_t *)"v2",
                                  2};
    struct raft_buffer buf = {NULL, 0}, buf2 = {NULL, 0};
    struct kh_raft_batch b;
    struct kh_storage *st = NULL;
    char dir[PATH_MAX], errmsg[KH_ERRMSG_SIZE];
    uint8_t *value = NULL;
    uint64_t applied = 0;
    size_t len = 0, cut;

    assert_int_equal(kh_raft_batch_encode(ops, 2, &buf), 0);
    assert_int_equal(kh_raft_batch_decode(buf.base, buf.len, &b), 0);
    assert_int_equal(b.count, 2);
    assert_string_equal(b.ops[0].key, "a/b");
    assert_int_equal(b.ops[1].kind, KH_STORAGE_DELETE);
    kh_raft_batch_free(&b);
    for (cut = 0; cut < buf.len; cut++)
        assert_int_equal(kh_raft_batch_decode(buf.base, cut, &b), KH_EINVAL);
    assert_int_equal(kh_raft_batch_decode(buf.base, buf.len, &b), 0);
    snprintf(dir, sizeof(dir), "%s/fsm", f->tmp);
    assert_int_equal(kh_storage_lmdb_open(dir, 0, &st, errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(
        kh_storage_lmdb_batch_applied(st, b.ops, b.count, 5, &applied), 0);
    assert_int_equal(applied, 5);
    /* Replaying 5 (or anything older) with other content changes nothing. */
    assert_int_equal(kh_storage_lmdb_batch_applied(st, &again, 1, 5, &applied),
                     0);
    assert_int_equal(kh_storage_lmdb_batch_applied(st, &again, 1, 3, &applied),
                     0);
    assert_int_equal(applied, 5);
    assert_int_equal(kh_storage_get(st, "a/b", &value, &len), 0);
    assert_memory_equal(value, "v1", 2);
    free(value);
    assert_int_equal(kh_storage_lmdb_batch_applied(st, &again, 1, 6, &applied),
                     0);
    assert_int_equal(kh_storage_lmdb_batch_applied(st, NULL, 0, 0, &applied),
                     0);
    assert_int_equal(applied, 6);
    kh_storage_close(st);
    kh_raft_batch_free(&b);
    raft_free(buf.base);
    /* Limits: ops per batch and entry bytes. */
    assert_int_equal(kh_raft_batch_encode(ops, 0, &buf2), KH_EINVAL);
    again.len = KH_RAFT_ENTRY_BYTES_MAX;
    again.value = calloc(1, again.len);
    assert_int_equal(kh_raft_batch_encode(&again, 1, &buf2), KH_ETOOBIG);
    again.len = KH_RAFT_ENTRY_BYTES_MAX - 64;
    assert_int_equal(kh_raft_batch_encode(&again, 1, &buf2), 0);
    raft_free(buf2.base);
    free((void *)again.value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_durable_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contiguity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test(test_message_codec),
        cmocka_unit_test_setup_teardown(test_batch_apply_idempotent, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
