/*
 * test_token_leases.c - leases and the tokens that created them, through
 * the real request path of a whole core on LMDB: a lease records its
 * token's salted hash and an index entry; every way a token goes
 * (revoke, revoke-self, revoke-accessor, revoke-orphan, a parent's tree,
 * tidy of an expired token, use-limit exhaustion) revokes its leases
 * through the backend in the background, retried while the backend
 * fails; the token bounds the lease TTL; records without an owner stay
 * usable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/err.h"
#include "core/core.h"
#include "core/request_handle.h"
#include "engines/backend.h"
#include "http/request_parse.h"
#include "lease/lease.h"
#include "mount/mount_table.h"
#include "token/token_store.h"

#include "lib/fixture.h"

#define USERS_MAX 8192

/* ---- a test engine: "creds" issues a leased user u<N> ----------------- */

static atomic_int revoked_count;
static atomic_bool revoke_fails;
static atomic_int revoke_delay_ms;
static atomic_bool revoked_user[USERS_MAX];
static atomic_int issued;

static int test_handle(const struct backend_request *br,
                       struct kh_response *resp, char *errmsg,
                       size_t errmsg_size)
{
    unsigned long long ttl = 0;
    char user[32];
    int r;

    if (strncmp(br->subpath, "creds", 5) != 0)
        return backend_no_route(br, errmsg, errmsg_size);
    r = kh_request_uint(br->req, "ttl", 0, 1000000, &ttl, errmsg, errmsg_size);
    if (r != 0)
        return r;
    snprintf(user, sizeof(user), "u%d", atomic_fetch_add(&issued, 1) + 1);
    r = kh_response_envelope(resp, br->req,
                             json_pack("{s:s}", "username", user));
    resp->lease.requested = true;
    resp->lease.internal = json_pack("{s:s}", "user", user);
    resp->lease.ttl_s = ttl;
    resp->lease.renewable = true;
    return r;
}

static int test_revoke(const struct backend_request *br, const json_t *internal,
                       char *errmsg, size_t errmsg_size)
{
    const char *user = json_string_value(json_object_get(internal, "user"));
    int n;

    (void)br;
    assert_non_null(user);
    if (atomic_load(&revoke_delay_ms) > 0)
        usleep((useconds_t)atomic_load(&revoke_delay_ms) * 1000u);
    if (atomic_load(&revoke_fails))
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "database down");
    n = atoi(user + 1);
    if (n > 0 && n < USERS_MAX)
        atomic_store(&revoked_user[n], true);
    atomic_fetch_add(&revoked_count, 1);
    return 0;
}

static int test_renew(const struct backend_request *br, const json_t *internal,
                      uint64_t ttl_s, char *errmsg, size_t errmsg_size)
{
    (void)br, (void)internal, (void)ttl_s, (void)errmsg, (void)errmsg_size;
    return 0;
}

static const struct backend_ops test_ops = {
    .type = "tokleasetest",
    .handle = test_handle,
    .revoke = test_revoke,
    .renew = test_renew,
};

/* ---- fixture: a real core on LMDB, initialised and unsealed ---------- */

struct fixture
{
    struct fixture_core fc;
};

/* One issued lease: its ID and the user the engine made. */
struct lease
{
    char id[LEASE_ID_BYTES_MAX + 1];
    int user;
    long long duration;
};

/* A token made for a test. */
struct token
{
    char id[TOKEN_ID_BYTES_MAX + 1];
    char accessor[TOKEN_RANDOM_CHARS + 1];
};

static int call(struct fixture *f, const char *token, const char *method,
                const char *path, const char *body, json_t **ret_body)
{
    struct fixture_request spec = {
        method, path, body, token != NULL ? token : f->fc.root_token, NULL};
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];
    int status;

    assert_int_equal(fixture_request_handle(f->fc.core, &spec, &resp, NULL,
                                            errmsg, sizeof(errmsg)),
                     0);
    status = resp.status != 0 ? resp.status : (resp.body ? 200 : 204);
    if (ret_body != NULL)
        *ret_body = json_incref(resp.body);
    kh_response_clear(&resp);
    return status;
}

static int setup(void **state)
{
    static struct fixture f;
    char errmsg[KH_ERRMSG_SIZE] = "";

    if (fixture_core_open(&f.fc, "tokleases", NULL, errmsg, sizeof(errmsg)) !=
            0 ||
        fixture_core_init_unseal(&f.fc, errmsg, sizeof(errmsg)) != 0)
        fail_msg("core: %s", errmsg);
    assert_int_equal(call(&f, NULL, "POST", "/v1/sys/mounts/db",
                          "{\"type\":\"tokleasetest\","
                          "\"config\":{\"max_lease_ttl\":\"2h\"}}",
                          NULL),
                     204);
    /* Tokens with this policy alone are neither root nor unbounded. */
    assert_int_equal(call(&f, NULL, "PUT", "/v1/sys/policies/acl/dbread",
                          "{\"policy\":\"path \\\"db/*\\\" "
                          "{ capabilities = [\\\"read\\\"] }\"}",
                          NULL),
                     204);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(fixture_core_close(&f->fc), 0);
    return 0;
}

/* POST auth/token/<endpoint> with body as parent (NULL: root). */
static void token_make(struct fixture *f, const char *parent,
                       const char *endpoint, const char *body,
                       struct token *ret)
{
    char path[128];
    json_t *out = NULL, *auth;

    snprintf(path, sizeof(path), "/v1/auth/token/%s", endpoint);
    assert_int_equal(call(f, parent, "POST", path, body, &out), 200);
    auth = json_object_get(out, "auth");
    snprintf(ret->id, sizeof(ret->id), "%s",
             json_string_value(json_object_get(auth, "client_token")));
    snprintf(ret->accessor, sizeof(ret->accessor), "%s",
             json_string_value(json_object_get(auth, "accessor")));
    json_decref(out);
}

static void token_child(struct fixture *f, const char *parent, const char *body,
                        struct token *ret)
{
    token_make(f, parent, "create", body != NULL ? body : "{}", ret);
}

/* GET db/creds/app?ttl=<ttl> as token. */
static void issue(struct fixture *f, const char *token, unsigned ttl,
                  struct lease *ret)
{
    char path[64];
    json_t *out = NULL;

    snprintf(path, sizeof(path), "/v1/db/creds/app?ttl=%u", ttl);
    assert_int_equal(call(f, token, "GET", path, NULL, &out), 200);
    snprintf(ret->id, sizeof(ret->id), "%s",
             json_string_value(json_object_get(out, "lease_id")));
    ret->user = atoi(json_string_value(json_object_get(
                         json_object_get(out, "data"), "username")) +
                     1);
    ret->duration = json_integer_value(json_object_get(out, "lease_duration"));
    json_decref(out);
}

/* sys/leases/lookup of l: the status, and its data when ret_data. */
static int lookup(struct fixture *f, const struct lease *l, json_t **ret_data)
{
    char body[LEASE_ID_BYTES_MAX + 32];
    json_t *out = NULL;
    int status;

    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\"}", l->id);
    status = call(f, NULL, "PUT", "/v1/sys/leases/lookup", body, &out);
    if (ret_data != NULL)
        *ret_data = json_incref(json_object_get(out, "data"));
    json_decref(out);
    return status;
}

/* Run expiry passes (the thread runs them too) until user is revoked or
 * about seconds have passed. */
static bool wait_revoked(struct fixture *f, int user, unsigned seconds)
{
    unsigned i;

    for (i = 0; i < seconds * 10 && !atomic_load(&revoked_user[user]); i++) {
        (void)lease_expire_due(f->fc.core->leases);
        usleep(100000);
    }
    return atomic_load(&revoked_user[user]);
}

/* A few passes, for checks that something is NOT revoked. */
static void run_passes(struct fixture *f)
{
    int i;

    for (i = 0; i < 3; i++) {
        (void)lease_expire_due(f->fc.core->leases);
        usleep(50000);
    }
}

/* The stored record of lease l (caller decrefs). */
static json_t *record_of(struct fixture *f, const struct lease *l)
{
    char path[LEASE_ID_BYTES_MAX + 32];
    uint8_t *value = NULL;
    size_t len = 0;
    json_t *record;

    snprintf(path, sizeof(path), "sys/expire/id/%s", l->id);
    assert_int_equal(barrier_get(f->fc.core->barrier, path, &value, &len), 0);
    record = json_loadb((const char *)value, len, 0, NULL);
    free(value);
    assert_non_null(record);
    return record;
}

/* How many index entries the owner of lease l has. */
static size_t index_count(struct fixture *f, const char *owner)
{
    char prefix[128];
    struct kh_storage_list list = {0};
    size_t n;

    snprintf(prefix, sizeof(prefix), "sys/expire/token/%s/", owner);
    assert_int_equal(barrier_list(f->fc.core->barrier, prefix, &list), 0);
    n = list.count;
    kh_storage_list_free(&list);
    return n;
}

/* Whether owner is (still) in the token store's revoked-token queue. */
static bool queued(struct fixture *f, const char *owner)
{
    char hashes[64][TOKEN_HASH_HEX_BYTES + 1];
    size_t count = 0, i;

    assert_int_equal(
        token_store_revoked_list(f->fc.core->tokens, hashes, 64, &count), 0);
    for (i = 0; i < count; i++) {
        if (strcmp(hashes[i], owner) == 0)
            return true;
    }
    return false;
}

/* A lease records its token's salted hash (never the ID or accessor) and
 * the token's index lists it. */
static void test_lease_records_owner(void **state)
{
    struct fixture *f = *state;
    struct token t;
    struct lease l;
    json_t *record;
    const char *owner;
    char *text;

    token_child(f, NULL, NULL, &t);
    issue(f, t.id, 600, &l);
    record = record_of(f, &l);
    owner = json_string_value(json_object_get(record, "token_hash"));
    assert_non_null(owner);
    assert_int_equal(strlen(owner), TOKEN_HASH_HEX_BYTES);
    text = json_dumps(record, JSON_COMPACT);
    assert_null(strstr(text, t.id));
    assert_null(strstr(text, t.accessor));
    free(text);
    assert_int_equal(index_count(f, owner), 1);
    json_decref(record);
}

/* auth/token/revoke answers 204 and the token's leases are revoked
 * through the backend; lookup then says invalid, the index and the
 * queue entry are gone. */
static void test_revoke_revokes_leases(void **state)
{
    struct fixture *f = *state;
    struct token t;
    struct lease a, b;
    json_t *record;
    char owner[TOKEN_HASH_HEX_BYTES + 1];
    char body[1024];
    int i;

    token_child(f, NULL, NULL, &t);
    issue(f, t.id, 600, &a);
    issue(f, t.id, 600, &b);
    record = record_of(f, &a);
    snprintf(owner, sizeof(owner), "%s",
             json_string_value(json_object_get(record, "token_hash")));
    json_decref(record);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", t.id);
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/revoke", body, NULL),
                     204);
    assert_true(wait_revoked(f, a.user, 5));
    assert_true(wait_revoked(f, b.user, 5));
    assert_int_equal(lookup(f, &a, NULL), 400);
    assert_int_equal(lookup(f, &b, NULL), 400);
    assert_int_equal(index_count(f, owner), 0);
    for (i = 0; i < 50 && queued(f, owner); i++) {
        (void)lease_expire_due(f->fc.core->leases);
        usleep(20000);
    }
    assert_false(queued(f, owner));
}

/* revoke-self and revoke-accessor revoke the token's leases too. */
static void test_revoke_self_and_accessor(void **state)
{
    struct fixture *f = *state;
    struct token s, a;
    struct lease ls, la;
    char body[1024];

    token_child(f, NULL, NULL, &s);
    token_child(f, NULL, NULL, &a);
    issue(f, s.id, 600, &ls);
    issue(f, a.id, 600, &la);
    assert_int_equal(
        call(f, s.id, "POST", "/v1/auth/token/revoke-self", NULL, NULL), 204);
    assert_true(wait_revoked(f, ls.user, 5));
    assert_int_equal(lookup(f, &la, NULL), 200);
    snprintf(body, sizeof(body), "{\"accessor\":\"%s\"}", a.accessor);
    assert_int_equal(
        call(f, NULL, "POST", "/v1/auth/token/revoke-accessor", body, NULL),
        204);
    assert_true(wait_revoked(f, la.user, 5));
    assert_int_equal(lookup(f, &la, NULL), 400);
}

/* revoke-orphan revokes the token's own leases, not its children's. */
static void test_revoke_orphan_keeps_children(void **state)
{
    struct fixture *f = *state;
    struct token p, c;
    struct lease lp, lc;
    char body[1024];

    token_child(f, NULL, NULL, &p);
    token_child(f, p.id, NULL, &c);
    issue(f, p.id, 600, &lp);
    issue(f, c.id, 600, &lc);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", p.id);
    assert_int_equal(
        call(f, NULL, "POST", "/v1/auth/token/revoke-orphan", body, NULL), 204);
    assert_true(wait_revoked(f, lp.user, 5));
    run_passes(f);
    assert_false(atomic_load(&revoked_user[lc.user]));
    assert_int_equal(lookup(f, &lc, NULL), 200);
    assert_int_equal(
        call(f, c.id, "GET", "/v1/auth/token/lookup-self", NULL, NULL), 200);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", c.id);
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/revoke", body, NULL),
                     204);
    assert_true(wait_revoked(f, lc.user, 5));
}

/* Revoking a parent revokes the leases of its whole tree, and no
 * others. */
static void test_tree_revokes_descendants(void **state)
{
    struct fixture *f = *state;
    struct token p, c, g, other;
    struct lease lp, lc, lg, lo;
    char body[1024];

    token_child(f, NULL, NULL, &p);
    token_child(f, p.id, NULL, &c);
    token_child(f, c.id, NULL, &g);
    token_child(f, NULL, NULL, &other);
    issue(f, p.id, 600, &lp);
    issue(f, c.id, 600, &lc);
    issue(f, g.id, 600, &lg);
    issue(f, other.id, 600, &lo);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", p.id);
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/revoke", body, NULL),
                     204);
    assert_true(wait_revoked(f, lp.user, 5));
    assert_true(wait_revoked(f, lc.user, 5));
    assert_true(wait_revoked(f, lg.user, 5));
    run_passes(f);
    assert_false(atomic_load(&revoked_user[lo.user]));
    assert_int_equal(lookup(f, &lo, NULL), 200);
}

/* The use that exhausts a use-limited token revokes its leases; a lease
 * made with the last use itself is revoked too (the token went while
 * the request ran). */
static void test_use_limit_exhaustion(void **state)
{
    struct fixture *f = *state;
    struct token two, one;
    struct lease l2, l1;

    token_child(f, NULL, "{\"num_uses\":2}", &two);
    issue(f, two.id, 600, &l2);
    run_passes(f);
    assert_false(atomic_load(&revoked_user[l2.user]));
    assert_int_equal(
        call(f, two.id, "GET", "/v1/auth/token/lookup-self", NULL, NULL), 200);
    assert_true(wait_revoked(f, l2.user, 5));
    token_child(f, NULL, "{\"num_uses\":1}", &one);
    issue(f, one.id, 600, &l1);
    assert_true(wait_revoked(f, l1.user, 5));
    assert_int_equal(lookup(f, &l1, NULL), 400);
}

/* The token bounds the lease TTL at issue and at renewal; root and
 * periodic tokens do not. */
static void test_ttl_bounded_by_token(void **state)
{
    struct fixture *f = *state;
    struct token t, periodic;
    struct lease l, lr, lp;
    char body[LEASE_ID_BYTES_MAX + 64];
    json_t *out = NULL;

    token_child(f, NULL, "{\"ttl\":\"60s\",\"policies\":[\"dbread\"]}", &t);
    issue(f, t.id, 600, &l);
    assert_true(l.duration >= 58 && l.duration <= 60);
    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\",\"increment\":3600}",
             l.id);
    assert_int_equal(call(f, NULL, "PUT", "/v1/sys/leases/renew", body, &out),
                     200);
    assert_true(json_integer_value(json_object_get(out, "lease_duration")) <=
                60);
    json_decref(out);
    issue(f, NULL, 600, &lr);
    assert_int_equal(lr.duration, 600);
    token_child(f, NULL, "{\"period\":\"60s\",\"policies\":[\"dbread\"]}",
                &periodic);
    issue(f, periodic.id, 600, &lp);
    assert_int_equal(lp.duration, 600);
}

/* Tidy removes an expired (periodic, so uncapped) token and its leases. */
static void test_tidy_expired_token(void **state)
{
    struct fixture *f = *state;
    struct token t;
    struct lease l;

    token_child(f, NULL, "{\"period\":\"1s\"}", &t);
    issue(f, t.id, 600, &l);
    assert_int_equal(l.duration, 600);
    sleep(2);
    run_passes(f);
    assert_false(atomic_load(&revoked_user[l.user]));
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/tidy", NULL, NULL),
                     200);
    assert_true(wait_revoked(f, l.user, 5));
}

/* While the backend fails, the revoked token's lease stays visible as
 * pending (ttl 0, attempts, last error), cannot be renewed, and is
 * revoked once the backend recovers. */
static void test_failing_backend_retried(void **state)
{
    struct fixture *f = *state;
    struct token t;
    struct lease l;
    char body[LEASE_ID_BYTES_MAX + 64];
    json_t *data = NULL;
    int i;

    token_child(f, NULL, NULL, &t);
    issue(f, t.id, 600, &l);
    atomic_store(&revoke_fails, true);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", t.id);
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/revoke", body, NULL),
                     204);
    for (i = 0; i < 50; i++) {
        (void)lease_expire_due(f->fc.core->leases);
        assert_int_equal(lookup(f, &l, &data), 200);
        if (json_integer_value(json_object_get(data, "revoke_attempts")) > 0)
            break;
        json_decref(data);
        data = NULL;
        usleep(50000);
    }
    assert_non_null(data);
    assert_int_equal(json_integer_value(json_object_get(data, "ttl")), 0);
    assert_string_equal(
        json_string_value(json_object_get(data, "last_revoke_error")),
        "database down");
    json_decref(data);
    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\"}", l.id);
    assert_int_equal(call(f, NULL, "PUT", "/v1/sys/leases/renew", body, NULL),
                     400);
    atomic_store(&revoke_fails, false);
    assert_true(wait_revoked(f, l.user, 10));
    assert_int_equal(lookup(f, &l, NULL), 400);
}

/* The revoke request does not wait for the backends: with a slow
 * backend it answers at once, and the leases follow. */
static void test_revoke_answers_before_backends(void **state)
{
    struct fixture *f = *state;
    struct token t;
    struct lease l[3];
    struct timespec t0, t1;
    char body[1024];
    int i;

    token_child(f, NULL, NULL, &t);
    for (i = 0; i < 3; i++)
        issue(f, t.id, 600, &l[i]);
    atomic_store(&revoke_delay_ms, 300);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", t.id);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/revoke", body, NULL),
                     204);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
                    (t1.tv_nsec - t0.tv_nsec) / 1000000 <
                300);
    for (i = 0; i < 3; i++)
        assert_true(wait_revoked(f, l[i].user, 10));
    atomic_store(&revoke_delay_ms, 0);
}

/* A token with more leases than one storage batch holds loses them
 * all. */
static void test_many_leases(void **state)
{
    struct fixture *f = *state;
    enum { N = 600 };
    struct lease *l = calloc(N, sizeof(*l));
    struct token t;
    char body[1024];
    int i, before = atomic_load(&revoked_count);

    assert_non_null(l);
    token_child(f, NULL, NULL, &t);
    for (i = 0; i < N; i++)
        issue(f, t.id, 600, &l[i]);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", t.id);
    assert_int_equal(call(f, NULL, "POST", "/v1/auth/token/revoke", body, NULL),
                     204);
    for (i = 0; i < N; i++)
        assert_true(wait_revoked(f, l[i].user, 10));
    assert_true(atomic_load(&revoked_count) >= before + N);
    assert_int_equal(lookup(f, &l[N - 1], NULL), 400);
    free(l);
}

/* A record stored before owners were kept (no token_hash) is loaded,
 * looked up and revoked as before. */
static void test_record_without_owner(void **state)
{
    struct fixture *f = *state;
    struct lease l = {"db/creds/app/OLDRECORD0000000000000000", 0, 0};
    char errmsg[KH_ERRMSG_SIZE], body[1024], *text;
    const struct mount_entry *mount = NULL;
    const char *subpath = NULL;
    uint8_t key[32];
    size_t key_len = 0;
    json_t *record;
    int64_t now = (int64_t)time(NULL);

    assert_int_equal(
        mount_table_route(f->fc.core->mounts, "db/creds/app", &mount, &subpath),
        0);
    l.user = atomic_fetch_add(&issued, 1) + 1;
    snprintf(body, sizeof(body), "u%d", l.user);
    record = json_pack(
        "{s:s, s:s, s:s, s:{s:s}, s:I, s:I, s:I, s:I, s:I, "
        "s:b, s:i, s:s}",
        "id", l.id, "path", "db/creds/app", "mount_uuid", mount->uuid,
        "internal", "user", body, "issue_time", (json_int_t)now, "expire_time",
        (json_int_t)(now + 600), "max_expire_time", (json_int_t)(now + 600),
        "ttl", (json_int_t)600, "last_renewal", (json_int_t)0, "renewable", 1,
        "revoke_attempts", 0, "last_revoke_error", "");
    mount_table_release(f->fc.core->mounts);
    text = json_dumps(record, JSON_COMPACT);
    assert_int_equal(barrier_put(f->fc.core->barrier,
                                 "sys/expire/id/db/creds/app/"
                                 "OLDRECORD0000000000000000",
                                 (const uint8_t *)text, strlen(text)),
                     0);
    free(text);
    json_decref(record);
    assert_int_equal(kh_core_seal(f->fc.core), 0);
    assert_int_equal(kh_hex_decode(f->fc.unseal_key, strlen(f->fc.unseal_key),
                                   key, sizeof(key), &key_len),
                     0);
    assert_int_equal(
        kh_core_unseal(f->fc.core, key, key_len, false, errmsg, sizeof(errmsg)),
        0);
    assert_int_equal(lookup(f, &l, NULL), 200);
    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\"}", l.id);
    assert_int_equal(call(f, NULL, "PUT", "/v1/sys/leases/revoke", body, NULL),
                     204);
    assert_true(atomic_load(&revoked_user[l.user]));
    assert_int_equal(lookup(f, &l, NULL), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lease_records_owner),
        cmocka_unit_test(test_revoke_revokes_leases),
        cmocka_unit_test(test_revoke_self_and_accessor),
        cmocka_unit_test(test_revoke_orphan_keeps_children),
        cmocka_unit_test(test_tree_revokes_descendants),
        cmocka_unit_test(test_use_limit_exhaustion),
        cmocka_unit_test(test_ttl_bounded_by_token),
        cmocka_unit_test(test_tidy_expired_token),
        cmocka_unit_test(test_failing_backend_retried),
        cmocka_unit_test(test_revoke_answers_before_backends),
        cmocka_unit_test(test_many_leases),
        cmocka_unit_test(test_record_without_owner),
    };

    if (backend_registry_add(&test_ops) != 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
