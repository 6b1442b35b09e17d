/*
 * test_kv.c - the KV secrets engine (hostd/engines/kv/): every v2 endpoint
 * of Vault API: KV v2 and the v1 engine of §6.2, driven through
 * kv_backend_ops with requests built by http_request_build as the server
 * builds them, over a real barrier on LMDB in a temporary directory.
 * Covers the 404 envelopes, check-and-set (including an 8-thread race),
 * merge patch, max_versions trimming, delete_version_after expiry, the
 * limits at max and max + 1, listing, existence checks, and that no
 * plaintext reaches the LMDB file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "barrier/barrier.h"
#include "barrier/view.h"
#include "common/err.h"
#include "common/secret.h"
#include "engines/kv/kv.h"
#include "http/request_parse.h"
#include "http/response.h"
#include "mount/mount_table.h"

#include "lib/fixture.h"

#define V2_UUID      "6f2b9c1e-0000-4000-8000-00000000000a"
#define V1_UUID      "6f2b9c1e-0000-4000-8000-00000000000b"
#define RACE_THREADS 8

struct kv_mount
{
    struct mount_entry *entry; /* heap: the struct is large */
    void *state;
};

struct fixture
{
    struct fixture_store db;
    struct kv_mount v2;
    struct kv_mount v1;
};

/* One answer, as the server would send it. */
struct answer
{
    unsigned status;
    json_t *body; /* NULL for an empty body */
};

/* ---- fixture ---- */

static void mount_open(struct fixture *f, struct kv_mount *m, const char *path,
                       const char *uuid, const char *options_json)
{
    char errmsg[KH_ERRMSG_SIZE] = "";

    m->entry = calloc(1, sizeof(*m->entry));
    assert_non_null(m->entry);
    if (fixture_mount_open(m->entry, &f->db, &kv_backend_ops, path, uuid,
                           options_json, errmsg, sizeof(errmsg)) != 0)
        fail_msg("mount %s: %s", path, errmsg);
    m->state = m->entry->state;
}

static void mount_close(struct kv_mount *m)
{
    if (m->entry == NULL)
        return;
    fixture_mount_close(m->entry);
    free(m->entry);
    m->entry = NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_non_null(f);
    if (fixture_store_open(&f->db, "kv", NULL, errmsg, sizeof(errmsg)) != 0)
        fail_msg("store: %s", errmsg);
    mount_open(f, &f->v2, "secret/", V2_UUID, "{\"version\":\"2\"}");
    mount_open(f, &f->v1, "kv1/", V1_UUID, "{\"version\":\"1\"}");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    mount_close(&f->v2);
    mount_close(&f->v1);
    assert_int_equal(fixture_store_close(&f->db), 0);
    free(f);
    return 0;
}

/* ---- requests ---- */

/* Run method on mount m at sub (may end in "?name=value") with body (JSON
 * text or NULL), exactly as the server's gate would: build, existence
 * check for writes, handle, map the error, render. */
static struct answer call_at(struct kv_mount *m, const char *method,
                             const char *sub, const char *body)
{
    struct fixture_request spec = {method, NULL, body, NULL, NULL};
    struct kh_request req;
    struct kh_response resp = {0};
    struct backend_request br;
    struct answer a = {0, NULL};
    char errmsg[KH_ERRMSG_SIZE] = "";
    char url[4096 + 256];
    char *text = NULL;
    size_t len = 0;
    int r;

    snprintf(url, sizeof(url), "/v1/%s%s", m->entry->path, sub);
    spec.url = url;
    assert_int_equal(fixture_request_build(&spec, &req, errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(fixture_backend_request(NULL, m->entry, &req, NULL, &br),
                     0);
    if (req.op == KH_OP_UPDATE) {
        bool exists = false;
        assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
        req.op = exists ? KH_OP_UPDATE : KH_OP_CREATE;
    }
    r = kv_backend_ops.handle(&br, &resp, errmsg, sizeof(errmsg));
    if (r != 0)
        http_response_error(&resp, r, errmsg);
    assert_int_equal(http_response_render(&resp, &text, &len, &a.status), 0);
    if (text != NULL) {
        a.body = json_loads(text, 0, NULL);
        assert_non_null(a.body);
    }
    free(text);
    kh_response_clear(&resp);
    kh_request_clear(&req);
    return a;
}

static void answer_free(struct answer *a)
{
    json_decref(a->body);
    a->body = NULL;
}

/* Expect status; free the answer. */
static void expect(struct kv_mount *m, const char *method, const char *sub,
                   const char *body, unsigned status)
{
    struct answer a = call_at(m, method, sub, body);

    if (a.status != status) {
        char *dump = a.body ? json_dumps(a.body, 0) : NULL;
        print_error("%s %s -> %u %s\n", method, sub, a.status,
                    dump ? dump : "");
        free(dump);
    }
    assert_int_equal(a.status, status);
    answer_free(&a);
}

/* Expect a 400 whose single error is msg (or contains it). */
static void expect_error(struct kv_mount *m, const char *method,
                         const char *sub, const char *body, unsigned status,
                         const char *msg)
{
    struct answer a = call_at(m, method, sub, body);
    json_t *errors = json_object_get(a.body, "errors");

    assert_int_equal(a.status, status);
    assert_true(json_is_array(errors));
    if (msg == NULL) {
        assert_int_equal(json_array_size(errors), 0);
    } else {
        assert_int_equal(json_array_size(errors), 1);
        assert_non_null(
            strstr(json_string_value(json_array_get(errors, 0)), msg));
    }
    answer_free(&a);
}

/* data of a 200 envelope (borrowed from a). */
static json_t *data_of(const struct answer *a)
{
    assert_int_equal(a->status, 200);
    assert_true(json_is_object(json_object_get(a->body, "data")));
    return json_object_get(a->body, "data");
}

static json_int_t int_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* Write {"k": value} to data/<path>; returns the new version. */
static json_int_t put_value(struct fixture *f, const char *path,
                            const char *value)
{
    char sub[1200];
    char body[512];
    struct answer a;
    json_int_t v;

    snprintf(sub, sizeof(sub), "data/%s", path);
    snprintf(body, sizeof(body), "{\"options\":{},\"data\":{\"k\":\"%s\"}}",
             value);
    a = call_at(&f->v2, "POST", sub, body);
    v = int_at(data_of(&a), "version");
    answer_free(&a);
    return v;
}

/* The value of "k" at data/<sub> (sub may carry ?version=). */
static void check_value(struct fixture *f, const char *sub, const char *want)
{
    struct answer a = call_at(&f->v2, "GET", sub, NULL);
    json_t *inner = json_object_get(data_of(&a), "data");

    assert_string_equal(str_at(inner, "k"), want);
    answer_free(&a);
}

/* Assert a is Vault's 404 envelope for a deleted/destroyed version and
 * return its metadata (borrowed). */
static json_t *expect_gone(const struct answer *a, json_int_t version,
                           bool destroyed)
{
    json_t *data = json_object_get(a->body, "data");
    json_t *meta = json_object_get(data, "metadata");

    assert_int_equal(a->status, 404);
    assert_null(json_object_get(a->body, "errors"));
    assert_non_null(json_object_get(a->body, "request_id"));
    assert_true(json_is_null(json_object_get(data, "data")));
    assert_int_equal(int_at(meta, "version"), version);
    assert_true(json_is_boolean(json_object_get(meta, "destroyed")));
    assert_int_equal(json_is_true(json_object_get(meta, "destroyed")),
                     destroyed);
    assert_non_null(json_object_get(meta, "created_time"));
    return meta;
}

/* Number of stored version records of the v2 mount (all secrets). */
static size_t version_records(struct fixture *f)
{
    struct kh_storage_list folders = {NULL, 0};
    size_t total = 0;
    size_t i;

    assert_int_equal(view_list(&f->v2.entry->view, "v/", &folders), 0);
    for (i = 0; i < folders.count; i++) {
        struct kh_storage_list items = {NULL, 0};
        char prefix[128];
        snprintf(prefix, sizeof(prefix), "v/%s", folders.keys[i]);
        assert_int_equal(view_list(&f->v2.entry->view, prefix, &items), 0);
        total += items.count;
        kh_storage_list_free(&items);
    }
    kh_storage_list_free(&folders);
    return total;
}

/* ---- config ---- */

/* A fresh mount reports max_versions 0, no CAS and "0s". */
static void test_config_defaults(void **state)
{
    struct fixture *f = *state;
    struct answer a = call_at(&f->v2, "GET", "config", NULL);
    json_t *d = data_of(&a);

    assert_int_equal(int_at(d, "max_versions"), 0);
    assert_true(json_is_false(json_object_get(d, "cas_required")));
    assert_string_equal(str_at(d, "delete_version_after"), "0s");
    answer_free(&a);
}

/* POST config changes the given fields; durations read back Go-style. */
static void test_config_write_read(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *d;

    expect(&f->v2, "POST", "config",
           "{\"max_versions\":5,\"cas_required\":true,"
           "\"delete_version_after\":\"1h30m\"}",
           204);
    expect(&f->v2, "POST", "config", "{\"max_versions\":\"7\"}", 204);
    a = call_at(&f->v2, "GET", "config", NULL);
    d = data_of(&a);
    assert_int_equal(int_at(d, "max_versions"), 7);
    assert_true(json_is_true(json_object_get(d, "cas_required")));
    assert_string_equal(str_at(d, "delete_version_after"), "1h30m0s");
    answer_free(&a);
    expect(&f->v2, "POST", "config", "{\"delete_version_after\":\"0s\"}", 204);
    a = call_at(&f->v2, "GET", "config", NULL);
    assert_string_equal(str_at(data_of(&a), "delete_version_after"), "0s");
    answer_free(&a);
}

/* Malformed or out-of-range config fields are 400 with a message. */
static void test_config_invalid(void **state)
{
    struct fixture *f = *state;

    expect_error(&f->v2, "POST", "config", "{\"max_versions\":\"many\"}", 400,
                 "max_versions");
    expect_error(&f->v2, "POST", "config", "{\"max_versions\":1001}", 400,
                 "at most 1000");
    expect(&f->v2, "POST", "config", "{\"max_versions\":1000}", 204);
    expect_error(&f->v2, "POST", "config",
                 "{\"delete_version_after\":\"soon\"}", 400,
                 "delete_version_after");
    expect_error(&f->v2, "POST", "config", "{\"cas_required\":\"maybe\"}", 400,
                 "cas_required");
}

/* Go's Duration.String() forms for whole seconds. */
static void test_duration_string(void **state)
{
    char out[KV_DURATION_STR_SIZE];

    (void)state;
    kv_duration_string(0, out);
    assert_string_equal(out, "0s");
    kv_duration_string(59, out);
    assert_string_equal(out, "59s");
    kv_duration_string(90, out);
    assert_string_equal(out, "1m30s");
    kv_duration_string(3600, out);
    assert_string_equal(out, "1h0m0s");
    kv_duration_string(12319, out);
    assert_string_equal(out, "3h25m19s");
}

/* ---- data ---- */

/* A write answers 200 with version metadata; a read returns data and
 * metadata. */
static void test_write_then_read(void **state)
{
    struct fixture *f = *state;
    struct answer a = call_at(&f->v2, "POST", "data/app/db",
                              "{\"options\":{},\"data\":{\"u\":\"a\"}}");
    json_t *d = data_of(&a);
    json_t *meta;

    assert_int_equal(int_at(d, "version"), 1);
    assert_string_equal(str_at(d, "deletion_time"), "");
    assert_true(json_is_false(json_object_get(d, "destroyed")));
    assert_true(json_is_null(json_object_get(d, "custom_metadata")));
    assert_non_null(strchr(str_at(d, "created_time"), 'T'));
    assert_int_equal(
        str_at(d, "created_time")[strlen(str_at(d, "created_time")) - 1], 'Z');
    answer_free(&a);
    a = call_at(&f->v2, "GET", "data/app/db", NULL);
    d = data_of(&a);
    assert_string_equal(str_at(json_object_get(d, "data"), "u"), "a");
    meta = json_object_get(d, "metadata");
    assert_int_equal(int_at(meta, "version"), 1);
    assert_string_equal(str_at(meta, "deletion_time"), "");
    answer_free(&a);
}

/* Each write adds a version; ?version=N reads it, 0 reads the current. */
static void test_versions_read_by_number(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(put_value(f, "a", "one"), 1);
    assert_int_equal(put_value(f, "a", "two"), 2);
    assert_int_equal(put_value(f, "a", "three"), 3);
    check_value(f, "data/a?version=2", "two");
    check_value(f, "data/a?version=1", "one");
    check_value(f, "data/a?version=0", "three");
    check_value(f, "data/a", "three");
    expect_error(&f->v2, "GET", "data/a?version=abc", NULL, 400, "version");
}

/* Missing secrets and versions are 404 {"errors":[]}. */
static void test_read_missing(void **state)
{
    struct fixture *f = *state;

    expect_error(&f->v2, "GET", "data/nope", NULL, 404, NULL);
    put_value(f, "here", "x");
    expect_error(&f->v2, "GET", "data/here?version=9", NULL, 404, NULL);
    expect_error(&f->v2, "GET", "metadata/nope", NULL, 404, NULL);
}

/* A write needs "data", and it must be an object. */
static void test_write_needs_data(void **state)
{
    struct fixture *f = *state;

    expect_error(&f->v2, "POST", "data/x", "{\"options\":{}}", 400,
                 "no data provided");
    expect_error(&f->v2, "POST", "data/x", "{\"data\":null}", 400,
                 "no data provided");
    expect_error(&f->v2, "POST", "data/x", "{\"data\":[1,2]}", 400,
                 "data must be a JSON object");
    expect_error(&f->v2, "POST", "data/x", "{\"data\":{},\"options\":5}", 400,
                 "options");
    expect(&f->v2, "POST", "data/x", "{\"data\":{}}", 200);
}

/* cas 0 writes only when the secret has no version yet. */
static void test_cas_zero(void **state)
{
    struct fixture *f = *state;

    expect(&f->v2, "POST", "data/c", "{\"options\":{\"cas\":0},\"data\":{}}",
           200);
    expect_error(&f->v2, "POST", "data/c",
                 "{\"options\":{\"cas\":0},\"data\":{}}", 400,
                 "check-and-set parameter did not match the current "
                 "version");
}

/* cas N must equal the current version. */
static void test_cas_mismatch(void **state)
{
    struct fixture *f = *state;

    put_value(f, "c", "1");
    expect_error(&f->v2, "POST", "data/c",
                 "{\"options\":{\"cas\":5},\"data\":{}}", 400,
                 "check-and-set parameter did not match the current "
                 "version");
    expect(&f->v2, "POST", "data/c",
           "{\"options\":{\"cas\":\"1\"},"
           "\"data\":{}}",
           200);
    expect_error(&f->v2, "POST", "data/c",
                 "{\"options\":{\"cas\":-1},\"data\":{}}", 400, "cas");
}

/* Mount config cas_required refuses writes without options.cas. */
static void test_cas_required_config(void **state)
{
    struct fixture *f = *state;

    expect(&f->v2, "POST", "config", "{\"cas_required\":true}", 204);
    expect_error(&f->v2, "POST", "data/r", "{\"options\":{},\"data\":{}}", 400,
                 "check-and-set parameter required for this call");
    expect(&f->v2, "POST", "data/r", "{\"options\":{\"cas\":0},\"data\":{}}",
           200);
}

/* Key metadata cas_required refuses writes without options.cas. */
static void test_cas_required_metadata(void **state)
{
    struct fixture *f = *state;

    put_value(f, "m", "1");
    expect(&f->v2, "POST", "metadata/m", "{\"cas_required\":true}", 204);
    expect_error(&f->v2, "POST", "data/m", "{\"data\":{}}", 400,
                 "check-and-set parameter required for this call");
    expect(&f->v2, "POST", "data/m", "{\"options\":{\"cas\":1},\"data\":{}}",
           200);
    put_value(f, "other", "free"); /* other keys are unaffected */
}

struct race_arg
{
    struct fixture *f;
    unsigned status;
    pthread_barrier_t *start;
};

static void *race_writer(void *p)
{
    struct race_arg *arg = p;
    struct answer a;

    pthread_barrier_wait(arg->start);
    a = call_at(&arg->f->v2, "POST", "data/race",
                "{\"options\":{\"cas\":1},\"data\":{\"w\":\"x\"}}");
    arg->status = a.status;
    answer_free(&a);
    return NULL;
}

/* Eight threads racing with the same cas: exactly one write wins. */
static void test_cas_race(void **state)
{
    struct fixture *f = *state;
    struct race_arg args[RACE_THREADS];
    pthread_t threads[RACE_THREADS];
    pthread_barrier_t start;
    struct answer a;
    int wins = 0, losses = 0;
    int i;

    put_value(f, "race", "v1");
    pthread_barrier_init(&start, NULL, RACE_THREADS);
    for (i = 0; i < RACE_THREADS; i++) {
        args[i] = (struct race_arg){f, 0, &start};
        assert_int_equal(
            pthread_create(&threads[i], NULL, race_writer, &args[i]), 0);
    }
    for (i = 0; i < RACE_THREADS; i++) {
        pthread_join(threads[i], NULL);
        wins += args[i].status == 200;
        losses += args[i].status == 400;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(wins, 1);
    assert_int_equal(losses, RACE_THREADS - 1);
    a = call_at(&f->v2, "GET", "metadata/race", NULL);
    assert_int_equal(int_at(data_of(&a), "current_version"), 2);
    answer_free(&a);
}

/* ---- patch ---- */

/* PATCH merges per RFC 7386: nested objects merge, null removes keys. */
static void test_patch_merge(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *want;

    expect(&f->v2, "POST", "data/p",
           "{\"data\":{\"a\":1,\"n\":{\"x\":1,\"y\":2},\"k\":\"v\","
           "\"arr\":[1,2]}}",
           200);
    a = call_at(&f->v2, "PATCH", "data/p",
                "{\"data\":{\"n\":{\"y\":null,\"z\":3},\"k\":null,"
                "\"new\":{\"q\":null,\"r\":1},\"arr\":[3]}}");
    assert_int_equal(int_at(data_of(&a), "version"), 2);
    answer_free(&a);
    a = call_at(&f->v2, "GET", "data/p", NULL);
    want = json_loads("{\"a\":1,\"n\":{\"x\":1,\"z\":3},\"new\":{\"r\":1},"
                      "\"arr\":[3]}",
                      0, NULL);
    assert_true(json_equal(json_object_get(data_of(&a), "data"), want));
    json_decref(want);
    answer_free(&a);
}

/* The merge itself: scalars replace objects and back, deep nesting works,
 * the depth bound holds. */
static void test_merge_patch_unit(void **state)
{
    json_t *target = json_loads("{\"a\":{\"b\":1},\"c\":2}", 0, NULL);
    json_t *patch = json_loads("{\"a\":\"s\",\"c\":{\"d\":{\"e\":null,"
                               "\"f\":[null]}}}",
                               0, NULL);
    json_t *want =
        json_loads("{\"a\":\"s\",\"c\":{\"d\":{\"f\":[null]}}}", 0, NULL);
    json_t *deep = json_object();
    json_t *cur = deep;
    json_t *t2 = json_object();
    int i;

    (void)state;
    assert_int_equal(kv_merge_patch(target, patch), 0);
    assert_true(json_equal(target, want));
    for (i = 0; i < KH_JSON_DEPTH_MAX; i++) { /* depth 65 objects */
        json_t *next = json_object();
        json_object_set_new(cur, "n", next);
        cur = next;
    }
    assert_int_equal(kv_merge_patch(t2, deep), KH_ELIMIT);
    json_decref(target);
    json_decref(patch);
    json_decref(want);
    json_decref(deep);
    json_decref(t2);
}

/* PATCH of a missing secret is 404 {"errors":[]}; of a deleted one the
 * 404 envelope. */
static void test_patch_missing_or_deleted(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    expect_error(&f->v2, "PATCH", "data/none", "{\"data\":{\"a\":1}}", 404,
                 NULL);
    put_value(f, "gone", "x");
    expect(&f->v2, "DELETE", "data/gone", NULL, 204);
    a = call_at(&f->v2, "PATCH", "data/gone", "{\"data\":{\"a\":1}}");
    expect_gone(&a, 1, false);
    answer_free(&a);
    expect_error(&f->v2, "PATCH", "data/gone", "{\"options\":{}}", 400,
                 "no data provided");
}

/* PATCH honours options.cas. */
static void test_patch_cas(void **state)
{
    struct fixture *f = *state;

    put_value(f, "pc", "x");
    expect_error(&f->v2, "PATCH", "data/pc",
                 "{\"options\":{\"cas\":7},\"data\":{\"a\":1}}", 400,
                 "did not match");
    expect(&f->v2, "PATCH", "data/pc",
           "{\"options\":{\"cas\":1},\"data\":{\"a\":1}}", 200);
    check_value(f, "data/pc", "x");
}

/* ---- delete, undelete, destroy ---- */

/* DELETE data/:path soft-deletes the current version: reads give the 404
 * envelope with deletion_time set. */
static void test_delete_latest(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *meta;

    put_value(f, "d", "x");
    expect(&f->v2, "DELETE", "data/d", NULL, 204);
    a = call_at(&f->v2, "GET", "data/d", NULL);
    meta = expect_gone(&a, 1, false);
    assert_true(strlen(str_at(meta, "deletion_time")) > 0);
    answer_free(&a);
    expect(&f->v2, "DELETE", "data/d", NULL, 204); /* idempotent */
    expect(&f->v2, "DELETE", "data/never", NULL, 204);
}

/* The 404 envelope is a complete response object without "errors". */
static void test_gone_envelope_shape(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = {
        "request_id", "lease_id",  "renewable", "lease_duration",
        "data",       "wrap_info", "warnings",  "auth"};
    struct answer a;
    size_t i;

    put_value(f, "shape", "x");
    expect(&f->v2, "DELETE", "data/shape", NULL, 204);
    a = call_at(&f->v2, "GET", "data/shape", NULL);
    for (i = 0; i < KH_ARRAY_LEN(keys); i++)
        assert_non_null(json_object_get(a.body, keys[i]));
    assert_int_equal(json_object_size(a.body), KH_ARRAY_LEN(keys));
    assert_int_equal(json_object_size(json_object_get(a.body, "data")), 2);
    assert_int_equal(json_object_size(json_object_get(
                         json_object_get(a.body, "data"), "metadata")),
                     5);
    answer_free(&a);
}

/* delete/ and undelete/ act on the listed versions only. */
static void test_delete_undelete_versions(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    put_value(f, "du", "one");
    put_value(f, "du", "two");
    expect(&f->v2, "POST", "delete/du", "{\"versions\":[1]}", 204);
    a = call_at(&f->v2, "GET", "data/du?version=1", NULL);
    expect_gone(&a, 1, false);
    answer_free(&a);
    check_value(f, "data/du", "two");
    expect(&f->v2, "POST", "undelete/du", "{\"versions\":[1, 5]}", 204);
    check_value(f, "data/du?version=1", "one");
    expect(&f->v2, "POST", "delete/du", "{\"versions\":\"1,2\"}", 204);
    a = call_at(&f->v2, "GET", "data/du", NULL);
    expect_gone(&a, 2, false);
    answer_free(&a);
}

/* destroy/ erases the data for good: envelope says destroyed, the record
 * is gone from storage, undelete cannot bring it back. */
static void test_destroy(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    put_value(f, "ds", "one");
    put_value(f, "ds", "two");
    assert_int_equal(version_records(f), 2);
    expect(&f->v2, "PUT", "destroy/ds", "{\"versions\":[1]}", 204);
    assert_int_equal(version_records(f), 1);
    a = call_at(&f->v2, "GET", "data/ds?version=1", NULL);
    expect_gone(&a, 1, true);
    answer_free(&a);
    expect(&f->v2, "POST", "undelete/ds", "{\"versions\":[1]}", 204);
    a = call_at(&f->v2, "GET", "data/ds?version=1", NULL);
    expect_gone(&a, 1, true);
    answer_free(&a);
    a = call_at(&f->v2, "GET", "metadata/ds", NULL);
    assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(data_of(&a), "versions"), "1"),
        "destroyed")));
    answer_free(&a);
    check_value(f, "data/ds", "two");
}

/* The version commands need a version list; on a missing secret they are
 * no-ops. */
static void test_versions_field(void **state)
{
    struct fixture *f = *state;

    expect_error(&f->v2, "POST", "delete/x", "{}", 400,
                 "no version number provided");
    expect_error(&f->v2, "POST", "undelete/x", "{\"versions\":[]}", 400,
                 "no version number provided");
    expect_error(&f->v2, "POST", "destroy/x", "{\"versions\":[\"a\"]}", 400,
                 "versions");
    expect(&f->v2, "POST", "destroy/x", "{\"versions\":[1]}", 204);
}

/* ---- metadata ---- */

/* GET metadata/:path reports every field of Vault API: KV v2. */
static void test_metadata_read(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *d, *versions;

    put_value(f, "md", "one");
    put_value(f, "md", "two");
    expect(&f->v2, "POST", "delete/md", "{\"versions\":[1]}", 204);
    a = call_at(&f->v2, "GET", "metadata/md", NULL);
    d = data_of(&a);
    assert_true(json_is_false(json_object_get(d, "cas_required")));
    assert_int_equal(int_at(d, "current_version"), 2);
    assert_int_equal(int_at(d, "oldest_version"), 0);
    assert_int_equal(int_at(d, "max_versions"), 0);
    assert_string_equal(str_at(d, "delete_version_after"), "0s");
    assert_true(json_is_null(json_object_get(d, "custom_metadata")));
    assert_true(strlen(str_at(d, "created_time")) > 0);
    assert_true(strlen(str_at(d, "updated_time")) > 0);
    versions = json_object_get(d, "versions");
    assert_int_equal(json_object_size(versions), 2);
    assert_true(
        strlen(str_at(json_object_get(versions, "1"), "deletion_time")) > 0);
    assert_string_equal(str_at(json_object_get(versions, "2"), "deletion_time"),
                        "");
    answer_free(&a);
}

/* POST metadata sets max_versions, cas_required, delete_version_after and
 * custom_metadata, which data reads then show. */
static void test_metadata_write(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *d;

    put_value(f, "mw", "x");
    expect(&f->v2, "POST", "metadata/mw",
           "{\"max_versions\":3,\"cas_required\":false,"
           "\"delete_version_after\":\"2h\","
           "\"custom_metadata\":{\"owner\":\"ops\"}}",
           204);
    a = call_at(&f->v2, "GET", "metadata/mw", NULL);
    d = data_of(&a);
    assert_int_equal(int_at(d, "max_versions"), 3);
    assert_string_equal(str_at(d, "delete_version_after"), "2h0m0s");
    assert_string_equal(str_at(json_object_get(d, "custom_metadata"), "owner"),
                        "ops");
    answer_free(&a);
    a = call_at(&f->v2, "GET", "data/mw", NULL);
    d = json_object_get(data_of(&a), "metadata");
    assert_string_equal(str_at(json_object_get(d, "custom_metadata"), "owner"),
                        "ops");
    answer_free(&a);
    /* metadata may exist before any version: reads stay 404 */
    expect(&f->v2, "POST", "metadata/empty", "{\"max_versions\":2}", 204);
    expect_error(&f->v2, "GET", "data/empty", NULL, 404, NULL);
    expect_error(&f->v2, "POST", "metadata/mw", "{\"max_versions\":-2}", 400,
                 "max_versions");
}

/* PATCH metadata merges custom_metadata (null deletes) and needs an
 * existing secret. */
static void test_metadata_patch(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *cm;

    expect_error(&f->v2, "PATCH", "metadata/mp",
                 "{\"custom_metadata\":{\"a\":\"1\"}}", 404, NULL);
    put_value(f, "mp", "x");
    expect(&f->v2, "POST", "metadata/mp",
           "{\"custom_metadata\":{\"a\":\"1\",\"b\":\"2\"}}", 204);
    expect(&f->v2, "PATCH", "metadata/mp",
           "{\"custom_metadata\":{\"a\":null,\"c\":\"3\"}}", 204);
    a = call_at(&f->v2, "GET", "metadata/mp", NULL);
    cm = json_object_get(data_of(&a), "custom_metadata");
    assert_int_equal(json_object_size(cm), 2);
    assert_null(json_object_get(cm, "a"));
    assert_string_equal(str_at(cm, "b"), "2");
    assert_string_equal(str_at(cm, "c"), "3");
    assert_int_equal(int_at(data_of(&a), "max_versions"), 0);
    answer_free(&a);
}

/* DELETE metadata removes every version and the metadata. */
static void test_metadata_delete(void **state)
{
    struct fixture *f = *state;

    put_value(f, "gone", "1");
    put_value(f, "gone", "2");
    put_value(f, "stay", "1");
    assert_int_equal(version_records(f), 3);
    expect(&f->v2, "DELETE", "metadata/gone", NULL, 204);
    assert_int_equal(version_records(f), 1);
    expect_error(&f->v2, "GET", "data/gone", NULL, 404, NULL);
    expect_error(&f->v2, "GET", "metadata/gone", NULL, 404, NULL);
    expect(&f->v2, "DELETE", "metadata/gone", NULL, 204);
    assert_int_equal(put_value(f, "gone", "new"), 1); /* numbering restarts */
    check_value(f, "data/stay", "1");
}

/* LIST metadata/ shows one level with folders; nothing is 404. */
static void test_list_nested(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *want;

    expect_error(&f->v2, "LIST", "metadata", NULL, 404, NULL);
    put_value(f, "app", "1");
    put_value(f, "app/db", "1");
    put_value(f, "app/cache/x", "1");
    put_value(f, "zeta", "1");
    a = call_at(&f->v2, "LIST", "metadata", NULL);
    want = json_loads("[\"app\",\"app/\",\"zeta\"]", 0, NULL);
    assert_true(json_equal(json_object_get(data_of(&a), "keys"), want));
    json_decref(want);
    answer_free(&a);
    a = call_at(&f->v2, "GET", "metadata/app/?list=true", NULL);
    want = json_loads("[\"cache/\",\"db\"]", 0, NULL);
    assert_true(json_equal(json_object_get(data_of(&a), "keys"), want));
    json_decref(want);
    answer_free(&a);
    expect_error(&f->v2, "LIST", "metadata/none/", NULL, 404, NULL);
}

/* ---- max_versions and delete_version_after ---- */

/* max_versions trims the oldest versions and their data. */
static void test_max_versions_trim(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *d;
    int i;

    expect(&f->v2, "POST", "config", "{\"max_versions\":3}", 204);
    for (i = 1; i <= 5; i++) {
        char value[8];
        snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(put_value(f, "t", value), i);
        if (i == 2 || i == 3) { /* Vault moves oldest once the window fills */
            a = call_at(&f->v2, "GET", "metadata/t", NULL);
            assert_int_equal(int_at(data_of(&a), "oldest_version"), i - 2);
            answer_free(&a);
        }
    }
    a = call_at(&f->v2, "GET", "metadata/t", NULL);
    d = data_of(&a);
    assert_int_equal(int_at(d, "oldest_version"), 3);
    assert_int_equal(int_at(d, "current_version"), 5);
    assert_int_equal(json_object_size(json_object_get(d, "versions")), 3);
    assert_null(json_object_get(json_object_get(d, "versions"), "2"));
    answer_free(&a);
    assert_int_equal(version_records(f), 3);
    expect_error(&f->v2, "GET", "data/t?version=2", NULL, 404, NULL);
    check_value(f, "data/t?version=3", "v3");
}

/* Number of versions metadata/<path> lists. */
static size_t listed_versions(struct fixture *f, const char *path)
{
    char sub[256];
    struct answer a;
    size_t n;

    snprintf(sub, sizeof(sub), "metadata/%s", path);
    a = call_at(&f->v2, "GET", sub, NULL);
    n = json_object_size(json_object_get(data_of(&a), "versions"));
    answer_free(&a);
    return n;
}

/* The larger non-zero max_versions of key and mount applies (Vault's
 * AddVersion); 0 everywhere keeps 10. */
static void test_max_versions_sources(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    int i;

    expect(&f->v2, "POST", "config", "{\"max_versions\":2}", 204);
    expect(&f->v2, "POST", "metadata/k4", "{\"max_versions\":4}", 204);
    for (i = 0; i < 6; i++)
        put_value(f, "k4", "x");
    assert_int_equal(listed_versions(f, "k4"), 4);
    expect(&f->v2, "POST", "config", "{\"max_versions\":5}", 204);
    expect(&f->v2, "POST", "metadata/k5", "{\"max_versions\":2}", 204);
    for (i = 0; i < 7; i++)
        put_value(f, "k5", "x");
    assert_int_equal(listed_versions(f, "k5"), 5);
    expect(&f->v2, "POST", "config", "{\"max_versions\":0}", 204);
    for (i = 0; i < 11; i++)
        put_value(f, "k10", "x");
    assert_int_equal(listed_versions(f, "k10"), 10);
    a = call_at(&f->v2, "GET", "metadata/k10", NULL);
    assert_int_equal(int_at(data_of(&a), "oldest_version"), 2);
    answer_free(&a);
}

/* delete_version_after: deletion_time = created + duration; once passed,
 * reads give the 404 envelope and metadata shows the version deleted. */
static void test_delete_version_after(void **state)
{
    struct fixture *f = *state;
    struct kv_metadata *meta = NULL;
    struct answer a;
    json_t *v1;

    expect(&f->v2, "POST", "config", "{\"delete_version_after\":\"1s\"}", 204);
    put_value(f, "dva", "x");
    assert_int_equal(kv_metadata_load(&f->v2.entry->view, "dva", &meta), 0);
    assert_int_equal(meta->versions[0].deletion_ns -
                         meta->versions[0].created_ns,
                     1000000000LL);
    kv_metadata_free(meta);
    check_value(f, "data/dva", "x");
    usleep(1100 * 1000);
    a = call_at(&f->v2, "GET", "data/dva", NULL);
    expect_gone(&a, 1, false);
    answer_free(&a);
    a = call_at(&f->v2, "GET", "metadata/dva", NULL);
    v1 = json_object_get(json_object_get(data_of(&a), "versions"), "1");
    assert_true(strlen(str_at(v1, "deletion_time")) > 0);
    answer_free(&a);
    /* the shorter of mount and key durations applies */
    expect(&f->v2, "POST", "metadata/dva2",
           "{\"delete_version_after\":\"10m\"}", 204);
    put_value(f, "dva2", "y");
    assert_int_equal(kv_metadata_load(&f->v2.entry->view, "dva2", &meta), 0);
    assert_int_equal(meta->versions[0].deletion_ns -
                         meta->versions[0].created_ns,
                     1000000000LL);
    kv_metadata_free(meta);
}

/* ---- routing ---- */

/* A sub-path outside the v2 table is Vault's 404 envelope with a warning
 * naming the CLI command. */
static void test_invalid_subpath(void **state)
{
    struct fixture *f = *state;
    struct answer a = call_at(&f->v2, "GET", "foo", NULL);
    json_t *warnings = json_object_get(a.body, "warnings");

    assert_int_equal(a.status, 404);
    assert_null(json_object_get(a.body, "errors"));
    assert_true(json_is_null(json_object_get(a.body, "data")));
    assert_int_equal(json_array_size(warnings), 1);
    assert_non_null(strstr(json_string_value(json_array_get(warnings, 0)),
                           "Invalid path for a versioned K/V secrets "
                           "engine"));
    assert_non_null(strstr(json_string_value(json_array_get(warnings, 0)),
                           "'vault kv get'"));
    answer_free(&a);
    a = call_at(&f->v2, "POST", "foo/bar", "{\"a\":1}");
    assert_int_equal(a.status, 404);
    assert_non_null(strstr(json_string_value(json_array_get(
                               json_object_get(a.body, "warnings"), 0)),
                           "'vault kv put'"));
    answer_free(&a);
    expect(&f->v2, "GET", "config/x", NULL, 404);
    expect(&f->v2, "LIST", "", NULL, 404);
    expect(&f->v2, "GET", "data", NULL, 404);
}

/* A valid path with an operation it does not support is 405. */
static void test_wrong_operation(void **state)
{
    struct fixture *f = *state;

    expect_error(&f->v2, "LIST", "data/x/", NULL, 405, "unsupported operation");
    expect(&f->v2, "DELETE", "config", NULL, 405);
    expect(&f->v2, "PATCH", "config", "{}", 405);
    expect(&f->v2, "GET", "delete/x", NULL, 405);
    expect(&f->v2, "DELETE", "destroy/x", NULL, 405);
    expect(&f->v2, "LIST", "undelete/x", NULL, 405);
    expect(&f->v2, "PATCH", "kv1path", "{}", 404);
    expect(&f->v1, "PATCH", "x", "{}", 405);
}

/* Existence: data/ needs a current version, metadata/ a record; v1 the
 * key; other paths count as existing (update). */
static void test_existence(void **state)
{
    struct fixture *f = *state;
    struct backend_request br = {0};
    struct kh_request req = {0};
    bool exists = true;

    req.op = KH_OP_UPDATE;
    br.mount = f->v2.entry;
    br.req = &req;
    br.view = &f->v2.entry->view;
    br.state = f->v2.state;
    br.subpath = "data/e";
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_false(exists);
    expect(&f->v2, "POST", "metadata/e", "{\"max_versions\":1}", 204);
    br.subpath = "metadata/e";
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
    br.subpath = "data/e";
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_false(exists);
    put_value(f, "e", "x");
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
    br.subpath = "config";
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
    br.mount = f->v1.entry;
    br.view = &f->v1.entry->view;
    br.state = f->v1.state;
    br.subpath = "e";
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_false(exists);
    expect(&f->v1, "POST", "e", "{\"a\":\"b\"}", 204);
    assert_int_equal(kv_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
}

/* ---- limits ---- */

/* {"k":"xxx..."} of exactly total serialised bytes. */
static char *sized_body(size_t total)
{
    size_t n = total - strlen("{\"k\":\"\"}");
    char *body = malloc(n + 64);

    assert_non_null(body);
    strcpy(body, "{\"data\":{\"k\":\"");
    memset(body + strlen(body), 'x', n);
    strcpy(body + strlen("{\"data\":{\"k\":\"") + n, "\"}}");
    return body;
}

/* Secret data at KV_SECRET_BYTES_DEFAULT is stored, one byte more is 400. */
static void test_limit_secret_bytes(void **state)
{
    struct fixture *f = *state;
    char *body = sized_body(KV_SECRET_BYTES_DEFAULT);

    expect(&f->v2, "POST", "data/big", body, 200);
    free(body);
    body = sized_body(KV_SECRET_BYTES_DEFAULT + 1);
    expect_error(&f->v2, "POST", "data/big", body, 400, "more than the limit");
    free(body);
}

/* The mount option max_secret_bytes changes the limit; bad values make
 * init fail. */
static void test_limit_secret_bytes_option(void **state)
{
    struct fixture *f = *state;
    struct kv_mount small = {0};
    struct mount_entry bad = {0};
    void *st = NULL;
    char *body;

    mount_open(f, &small, "small/", "6f2b9c1e-0000-4000-8000-00000000000c",
               "{\"version\":\"2\",\"max_secret_bytes\":\"100\"}");
    body = sized_body(100);
    expect(&small, "POST", "data/s", body, 200);
    free(body);
    body = sized_body(101);
    expect_error(&small, "POST", "data/s", body, 400, "limit of 100");
    free(body);
    mount_close(&small);
    bad.options = json_loads("{\"max_secret_bytes\":\"lots\"}", 0, NULL);
    assert_int_equal(kv_backend_ops.init(&bad, &st), KH_EINVAL);
    json_decref(bad.options);
    bad.options = json_loads("{\"max_secret_bytes\":\"16777217\"}", 0, NULL);
    assert_int_equal(kv_backend_ops.init(&bad, &st), KH_EINVAL);
    json_decref(bad.options);
}

/* {"data":{"k0":0,...}} with n keys. */
static char *keys_body(size_t n)
{
    size_t cap = 32 + n * 16;
    char *body = malloc(cap);
    size_t len;
    size_t i;

    assert_non_null(body);
    len = (size_t)snprintf(body, cap, "{\"data\":{");
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, cap - len, "%s\"k%zu\":0",
                                i ? "," : "", i);
    snprintf(body + len, cap - len, "}}");
    return body;
}

/* KV_SECRET_KEYS_MAX keys are stored, one more is 400 (also via PATCH). */
static void test_limit_keys(void **state)
{
    struct fixture *f = *state;
    char *body = keys_body(KV_SECRET_KEYS_MAX);

    expect(&f->v2, "POST", "data/keys", body, 200);
    free(body);
    body = keys_body(KV_SECRET_KEYS_MAX + 1);
    expect_error(&f->v2, "POST", "data/keys", body, 400, "at most 1024 keys");
    free(body);
    expect_error(&f->v2, "PATCH", "data/keys", "{\"data\":{\"extra\":1}}", 400,
                 "at most 1024 keys");
    expect(&f->v1, "POST", "many", "{\"a\":1}", 204);
}

/* Paths: KV_PATH_BYTES_MAX bytes and KV_PATH_SEGMENTS_MAX segments pass,
 * one more fails with 400. */
static void test_limit_path(void **state)
{
    struct fixture *f = *state;
    char sub[KV_PATH_BYTES_MAX + 16];
    char path[KV_PATH_BYTES_MAX + 2];
    size_t i;

    memset(path, 'p', KV_PATH_BYTES_MAX);
    path[KV_PATH_BYTES_MAX] = '\0';
    snprintf(sub, sizeof(sub), "data/%s", path);
    expect(&f->v2, "POST", sub, "{\"data\":{}}", 200);
    snprintf(sub, sizeof(sub), "metadata/%s", path);
    expect(&f->v2, "GET", sub, NULL, 200);
    strcat(path, "p");
    snprintf(sub, sizeof(sub), "data/%s", path);
    expect_error(&f->v2, "POST", sub, "{\"data\":{}}", 400, "longer than");
    path[0] = '\0';
    for (i = 0; i < KV_PATH_SEGMENTS_MAX; i++)
        strcat(path, i ? "/s" : "s");
    snprintf(sub, sizeof(sub), "data/%s", path);
    expect(&f->v2, "POST", sub, "{\"data\":{}}", 200);
    strcat(path, "/s");
    snprintf(sub, sizeof(sub), "data/%s", path);
    expect_error(&f->v2, "POST", sub, "{\"data\":{}}", 400, "segments");
    expect_error(&f->v2, "POST", "data/", "{\"data\":{}}", 400, "missing path");
    expect_error(&f->v2, "POST", "data/a/", "{\"data\":{}}", 400,
                 "invalid path");
}

/* custom_metadata: 64 entries, 128-byte keys, 512-byte values pass; one
 * more of each is 400. */
static void test_limit_custom_metadata(void **state)
{
    struct fixture *f = *state;
    char body[8192];
    char big[KV_CUSTOM_METADATA_VALUE_BYTES_MAX + 2];
    size_t len;
    size_t i;

    len = (size_t)snprintf(body, sizeof(body), "{\"custom_metadata\":{");
    for (i = 0; i < KV_CUSTOM_METADATA_MAX; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len,
                                "%s\"k%zu\":\"v\"", i ? "," : "", i);
    snprintf(body + len, sizeof(body) - len, "}}");
    expect(&f->v2, "POST", "metadata/cm", body, 204);
    snprintf(body + len, sizeof(body) - len, ",\"extra\":\"v\"}}");
    expect_error(&f->v2, "POST", "metadata/cm", body, 400, "up to 64 keys");
    memset(big, 'k', KV_CUSTOM_METADATA_KEY_BYTES_MAX + 1);
    big[KV_CUSTOM_METADATA_KEY_BYTES_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"custom_metadata\":{\"%s\":\"v\"}}", big);
    expect(&f->v2, "POST", "metadata/cm", body, 204);
    big[KV_CUSTOM_METADATA_KEY_BYTES_MAX] = 'k';
    big[KV_CUSTOM_METADATA_KEY_BYTES_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "{\"custom_metadata\":{\"%s\":\"v\"}}", big);
    expect_error(&f->v2, "POST", "metadata/cm", body, 400, "keys are limited");
    memset(big, 'v', KV_CUSTOM_METADATA_VALUE_BYTES_MAX);
    big[KV_CUSTOM_METADATA_VALUE_BYTES_MAX] = '\0';
    snprintf(body, sizeof(body), "{\"custom_metadata\":{\"k\":\"%s\"}}", big);
    expect(&f->v2, "POST", "metadata/cm", body, 204);
    strcat(big, "v");
    snprintf(body, sizeof(body), "{\"custom_metadata\":{\"k\":\"%s\"}}", big);
    expect_error(&f->v2, "POST", "metadata/cm", body, 400,
                 "values are limited");
    expect_error(&f->v2, "POST", "metadata/cm",
                 "{\"custom_metadata\":{\"k\":1}}", 400, "map of strings");
}

/* ---- storage ---- */

/* No plaintext of a written secret (v2 or v1) reaches the LMDB file. */
static void test_no_plaintext_on_disk(void **state)
{
    struct fixture *f = *state;
    static const char marker[] = "correct-horse-battery-staple-1234";
    char path[PATH_MAX + 16];
    uint8_t *bytes;
    FILE *fp;
    long size;

    expect(&f->v2, "POST", "data/plain",
           "{\"data\":{\"password\":\"correct-horse-battery-staple-1234\"}}",
           200);
    expect(&f->v1, "POST", "plain",
           "{\"password\":\"correct-horse-battery-staple-1234\"}", 204);
    expect(&f->v2, "POST", "metadata/plain",
           "{\"custom_metadata\":{\"note\":\"meta-plaintext-marker\"}}", 204);
    snprintf(path, sizeof(path), "%s/data.mdb", f->db.dir);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    size = ftell(fp);
    assert_true(size > 0);
    rewind(fp);
    bytes = malloc((size_t)size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    assert_null(memmem(bytes, (size_t)size, marker, strlen(marker)));
    assert_null(memmem(bytes, (size_t)size, "password", 8));
    assert_null(memmem(bytes, (size_t)size, "meta-plaintext-marker", 21));
    /* ...while the key names (not secret) are there in clear */
    assert_non_null(memmem(bytes, (size_t)size, "m/plain", 7));
    free(bytes);
}

/* Corrupt metadata records are refused, never trusted. */
static void test_metadata_decode_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"format\":1}",
        "{\"format\":2,\"created\":0,\"updated\":0,\"current\":0,\"oldest\":0,"
        "\"max_versions\":0,\"cas_required\":false,"
        "\"delete_version_after\":0,\"custom\":null,\"versions\":[]}",
        "{\"format\":1,\"created\":0,\"updated\":0,\"current\":1,\"oldest\":0,"
        "\"max_versions\":0,\"cas_required\":false,"
        "\"delete_version_after\":0,\"custom\":null,"
        "\"versions\":[[2,0,0,false]]}",
        "{\"format\":1,\"created\":0,\"updated\":0,\"current\":3,\"oldest\":0,"
        "\"max_versions\":0,\"cas_required\":false,"
        "\"delete_version_after\":0,\"custom\":null,"
        "\"versions\":[[2,0,0,false],[1,0,0,false]]}",
        "{\"format\":1,\"created\":0,\"updated\":0,\"current\":0,\"oldest\":0,"
        "\"max_versions\":5000,\"cas_required\":false,"
        "\"delete_version_after\":0,\"custom\":null,\"versions\":[]}",
        "{\"format\":1,\"created\":0,\"updated\":0,\"current\":1,\"oldest\":5,"
        "\"max_versions\":0,\"cas_required\":false,"
        "\"delete_version_after\":0,\"custom\":[],\"versions\":[]}",
    };
    struct kv_metadata *meta = NULL;
    size_t i;

    (void)state;
    for (i = 0; i < KH_ARRAY_LEN(bad); i++)
        assert_int_equal(
            kv_metadata_decode((const uint8_t *)bad[i], strlen(bad[i]), &meta),
            KH_ECORRUPT);
    assert_null(meta);
}

/* ---- v1 ---- */

/* v1: POST stores the map (204), GET returns it as data with the default
 * lease_duration, or the "ttl" key's. */
static void test_v1_write_read(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    expect(&f->v1, "POST", "x/y", "{\"user\":\"u\",\"n\":2}", 204);
    a = call_at(&f->v1, "GET", "x/y", NULL);
    assert_string_equal(str_at(data_of(&a), "user"), "u");
    assert_int_equal(int_at(data_of(&a), "n"), 2);
    assert_int_equal(int_at(a.body, "lease_duration"), 2764800);
    answer_free(&a);
    expect(&f->v1, "PUT", "x/y", "{\"user\":\"v\",\"ttl\":\"1h\"}", 204);
    a = call_at(&f->v1, "GET", "x/y", NULL);
    assert_string_equal(str_at(data_of(&a), "user"), "v");
    assert_null(json_object_get(data_of(&a), "n")); /* replaced, not merged */
    assert_int_equal(int_at(a.body, "lease_duration"), 3600);
    answer_free(&a);
    expect_error(&f->v1, "POST", "x/y", NULL, 400, "missing data fields");
}

/* v1: missing is 404 {"errors":[]}; DELETE removes; paths like data/ are
 * ordinary keys. */
static void test_v1_missing_delete(void **state)
{
    struct fixture *f = *state;

    expect_error(&f->v1, "GET", "nope", NULL, 404, NULL);
    expect(&f->v1, "POST", "data/k", "{\"a\":\"b\"}", 204);
    expect(&f->v1, "GET", "data/k", NULL, 200);
    expect(&f->v1, "DELETE", "data/k", NULL, 204);
    expect_error(&f->v1, "GET", "data/k", NULL, 404, NULL);
    expect(&f->v1, "DELETE", "data/k", NULL, 204);
}

/* v1: LIST at the root and in folders; empty is 404. */
static void test_v1_list(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    json_t *want;

    expect_error(&f->v1, "LIST", "", NULL, 404, NULL);
    expect(&f->v1, "POST", "a", "{\"v\":1}", 204);
    expect(&f->v1, "POST", "a/b", "{\"v\":1}", 204);
    expect(&f->v1, "POST", "a/c/d", "{\"v\":1}", 204);
    a = call_at(&f->v1, "LIST", "", NULL);
    want = json_loads("[\"a\",\"a/\"]", 0, NULL);
    assert_true(json_equal(json_object_get(data_of(&a), "keys"), want));
    json_decref(want);
    answer_free(&a);
    a = call_at(&f->v1, "LIST", "a", NULL);
    want = json_loads("[\"b\",\"c/\"]", 0, NULL);
    assert_true(json_equal(json_object_get(data_of(&a), "keys"), want));
    json_decref(want);
    answer_free(&a);
    expect_error(&f->v1, "LIST", "zz/", NULL, 404, NULL);
}

/* A mount without a version option is v1; v1 and v2 data are apart. */
static void test_v1_default_and_isolation(void **state)
{
    struct fixture *f = *state;
    struct kv_mount plain = {0};

    mount_open(f, &plain, "plain/", "6f2b9c1e-0000-4000-8000-00000000000d",
               "{}");
    expect(&plain, "POST", "k", "{\"a\":\"b\"}", 204);
    expect(&plain, "GET", "k", NULL, 200);
    expect_error(&f->v1, "GET", "k", NULL, 404, NULL);
    mount_close(&plain);
    put_value(f, "k", "x");
    expect_error(&f->v1, "GET", "k", NULL, 404, NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_defaults),
        T(test_config_write_read),
        T(test_config_invalid),
        cmocka_unit_test(test_duration_string),
        T(test_write_then_read),
        T(test_versions_read_by_number),
        T(test_read_missing),
        T(test_write_needs_data),
        T(test_cas_zero),
        T(test_cas_mismatch),
        T(test_cas_required_config),
        T(test_cas_required_metadata),
        T(test_cas_race),
        T(test_patch_merge),
        cmocka_unit_test(test_merge_patch_unit),
        T(test_patch_missing_or_deleted),
        T(test_patch_cas),
        T(test_delete_latest),
        T(test_gone_envelope_shape),
        T(test_delete_undelete_versions),
        T(test_destroy),
        T(test_versions_field),
        T(test_metadata_read),
        T(test_metadata_write),
        T(test_metadata_patch),
        T(test_metadata_delete),
        T(test_list_nested),
        T(test_max_versions_trim),
        T(test_max_versions_sources),
        T(test_delete_version_after),
        T(test_invalid_subpath),
        T(test_wrong_operation),
        T(test_existence),
        T(test_limit_secret_bytes),
        T(test_limit_secret_bytes_option),
        T(test_limit_keys),
        T(test_limit_path),
        T(test_limit_custom_metadata),
        T(test_no_plaintext_on_disk),
        cmocka_unit_test(test_metadata_decode_rejects),
        T(test_v1_write_read),
        T(test_v1_missing_delete),
        T(test_v1_list),
        T(test_v1_default_and_isolation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
