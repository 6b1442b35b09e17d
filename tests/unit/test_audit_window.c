/*
 * test_audit_window.c - the in-flight window of stream audit devices
 * (hostd/audit/window.c) against a model: after every append it holds
 * exactly the shortest run of the newest lines whose total reaches the
 * bound (all of them before that), byte for byte, oldest first; a line
 * longer than the bound is held (alone, then with those after it) and
 * the memory it took is given back once it leaves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/window.h"
#include "common/err.h"

#define APPENDS 5000
#define BOUND   4096

struct model
{
    char *lines[APPENDS];
    size_t len[APPENDS];
    size_t count;
};

/* Line n of length len: "<n>:xxxx...\n". */
static char *make_line(size_t n, size_t len)
{
    char *line = malloc(len);
    int head;

    assert_non_null(line);
    assert_true(len >= 16);
    memset(line, 'a' + (int)(n % 26), len);
    head = snprintf(line, len, "%zu:", n);
    line[head] = '#';
    line[len - 1] = '\n';
    return line;
}

/* The model's expected content: newest lines from the end back to the
 * first one that makes the total reach bound. */
static void expect(const struct model *m, size_t bound, size_t *ret_first,
                   size_t *ret_bytes)
{
    size_t total = 0, i = m->count;

    while (i > 0 && total < bound) {
        i--;
        total += m->len[i];
    }
    *ret_first = i;
    *ret_bytes = total;
}

static void check_window(const struct audit_window *w, const struct model *m,
                         size_t bound)
{
    const char *data;
    size_t len, first, bytes, off = 0, i;

    expect(m, bound, &first, &bytes);
    audit_window_data(w, &data, &len);
    assert_int_equal(len, bytes);
    assert_int_equal(w->lines, m->count - first);
    for (i = first; i < m->count; i++) {
        assert_memory_equal(data + off, m->lines[i], m->len[i]);
        off += m->len[i];
    }
}

static void model_free(struct model *m)
{
    size_t i;

    for (i = 0; i < m->count; i++)
        free(m->lines[i]);
    m->count = 0;
}

/* Random line sizes (16 bytes to half the bound): the window is the
 * shortest newest run reaching the bound after every append, and its
 * buffer never grows past twice the bound. */
static void test_window_matches_model(void **state)
{
    struct audit_window w;
    struct model *m = calloc(1, sizeof(*m));
    size_t n;

    (void)state;
    srand(7);
    assert_int_equal(audit_window_init(&w, BOUND), 0);
    check_window(&w, m, BOUND);
    for (n = 0; n < APPENDS; n++) {
        size_t len = 16 + (size_t)rand() % (BOUND / 2);
        m->lines[n] = make_line(n, len);
        m->len[n] = len;
        m->count++;
        assert_int_equal(audit_window_append(&w, m->lines[n], len), 0);
        check_window(&w, m, BOUND);
        assert_int_equal(w.alloc, 2 * BOUND);
    }
    audit_window_release(&w);
    audit_window_release(&w); /* twice: harmless */
    model_free(m);
    free(m);
}

/* A line longer than the bound is held whole, alone at first; once
 * enough lines follow it leaves and the buffer shrinks back. */
static void test_window_oversized_line(void **state)
{
    struct audit_window w;
    struct model *m = calloc(1, sizeof(*m));
    size_t n, big = 5 * BOUND;

    (void)state;
    assert_int_equal(audit_window_init(&w, BOUND), 0);
    for (n = 0; n < 10; n++) {
        m->lines[n] = make_line(n, 100);
        m->len[n] = 100;
        m->count++;
        assert_int_equal(audit_window_append(&w, m->lines[n], 100), 0);
    }
    m->lines[n] = make_line(n, big);
    m->len[n] = big;
    m->count++;
    assert_int_equal(audit_window_append(&w, m->lines[n], big), 0);
    check_window(&w, m, BOUND);
    assert_int_equal(w.lines, 1);
    assert_true(w.alloc >= big);
    for (n = 11; n < 200; n++) {
        m->lines[n] = make_line(n, 300);
        m->len[n] = 300;
        m->count++;
        assert_int_equal(audit_window_append(&w, m->lines[n], 300), 0);
        check_window(&w, m, BOUND);
    }
    assert_int_equal(w.alloc, 2 * BOUND);
    audit_window_release(&w);
    model_free(m);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_matches_model),
        cmocka_unit_test(test_window_oversized_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
