/*
 * test_approle.c - the AppRole auth method (hostd/auth/approle/) and the
 * shared token field parsing (hostd/auth/tokenutil.c) over a real barrier
 * view: LMDB in a temp directory, an initialised barrier, a token store on
 * the same barrier. Requests are built from wire pieces with
 * http_request_build() as the server does and handed to the backend's
 * handle(); logins are checked through the issued token in the store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/approle/approle.h"
#include "auth/tokenutil.h"
#include "barrier/barrier.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "http/request_parse.h"
#include "mount/mount_table.h"
#include "storage/storage.h"
#include "token/token_store.h"

#include "lib/fixture.h"

#define INVALID "invalid role or secret ID"

static int setup(void **state)
{
    return fixture_backend_setup(state, "approle", &approle_backend_ops,
                                 "auth/approle/");
}

static int teardown(void **state)
{
    return fixture_backend_teardown(state);
}

/* One request below the mount from remote (NULL: 127.0.0.1). */
static int call_from(struct fixture_backend *f, const char *method,
                     const char *subpath, const char *body, const char *remote,
                     struct kh_response *resp, char *errmsg)
{
    struct fixture_request spec = {method, subpath, body, NULL, remote};
    int r = KH_EINTERNAL;

    assert_int_equal(
        fixture_backend_call(f, &spec, NULL, resp, &r, errmsg, KH_ERRMSG_SIZE),
        0);
    return r;
}

static int call(struct fixture_backend *f, const char *method,
                const char *subpath, const char *body, struct kh_response *resp,
                char *errmsg)
{
    return call_from(f, method, subpath, body, NULL, resp, errmsg);
}

/* A request that must succeed; resp is cleared unless kept. */
static void ok(struct fixture_backend *f, const char *method,
               const char *subpath, const char *body)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];

    assert_int_equal(call(f, method, subpath, body, &resp, errmsg), 0);
    kh_response_clear(&resp);
}

/* A request that must fail with code and an errmsg containing text. */
static void fails(struct fixture_backend *f, const char *method,
                  const char *subpath, const char *body, int code,
                  const char *text)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];

    assert_int_equal(call(f, method, subpath, body, &resp, errmsg), code);
    if (text != NULL && strstr(errmsg, text) == NULL)
        fail_msg("errmsg \"%s\" lacks \"%s\"", errmsg, text);
    kh_response_clear(&resp);
}

/* GET/LIST and return a new reference to data. */
static json_t *read_data(struct fixture_backend *f, const char *method,
                         const char *subpath)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *data;

    assert_int_equal(call(f, method, subpath, NULL, &resp, errmsg), 0);
    data = json_incref(json_object_get(resp.body, "data"));
    assert_non_null(data);
    kh_response_clear(&resp);
    return data;
}

static void role_id_of(struct fixture_backend *f, const char *role, char *out,
                       size_t size)
{
    char path[256];
    json_t *data;

    snprintf(path, sizeof(path), "role/%s/role-id", role);
    data = read_data(f, "GET", path);
    snprintf(out, size, "%s",
             json_string_value(json_object_get(data, "role_id")));
    json_decref(data);
}

/* Generate a secret ID for role with body; returns the data object. */
static json_t *gen_secret(struct fixture_backend *f, const char *role,
                          const char *body)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE], path[256];
    json_t *data;

    snprintf(path, sizeof(path), "role/%s/secret-id", role);
    assert_int_equal(call(f, "POST", path, body, &resp, errmsg), 0);
    data = json_incref(json_object_get(resp.body, "data"));
    assert_non_null(json_object_get(data, "secret_id"));
    kh_response_clear(&resp);
    return data;
}

/* Log in; on success *ret_auth is a new reference to the auth block. */
static int login_from(struct fixture_backend *f, const char *role_id,
                      const char *secret_id, const char *remote,
                      json_t **ret_auth, char *errmsg)
{
    struct kh_response resp;
    json_t *body = json_object();
    char *text;
    int r;

    if (role_id != NULL)
        json_object_set_new(body, "role_id", json_string(role_id));
    json_object_set_new(body, "secret_id",
                        secret_id != NULL ? json_string(secret_id)
                                          : json_null());
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    r = call_from(f, "POST", "login", text, remote, &resp, errmsg);
    free(text);
    if (r == 0 && ret_auth != NULL)
        *ret_auth = json_incref(json_object_get(resp.body, "auth"));
    kh_response_clear(&resp);
    return r;
}

static int login(struct fixture_backend *f, const char *role_id,
                 const char *secret_id, json_t **ret_auth, char *errmsg)
{
    return login_from(f, role_id, secret_id, NULL, ret_auth, errmsg);
}

static const char *sid_of(const json_t *data)
{
    return json_string_value(json_object_get(data, "secret_id"));
}

static bool has_string(const json_t *array, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(array); i++)
        if (strcmp(json_string_value(json_array_get(array, i)), s) == 0)
            return true;
    return false;
}

/* ---- roles ---- */

/* A new role has Vault's defaults and reads back with both field names. */
static void test_role_defaults(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d;

    ok(f, "POST", "role/web", "{}");
    d = read_data(f, "GET", "role/web");
    assert_true(json_is_true(json_object_get(d, "bind_secret_id")));
    assert_int_equal(json_integer_value(json_object_get(d, "secret_id_ttl")),
                     0);
    assert_string_equal(json_string_value(json_object_get(d, "token_type")),
                        "default");
    assert_int_equal(json_array_size(json_object_get(d, "token_policies")), 0);
    assert_non_null(json_object_get(d, "policies"));
    assert_null(json_object_get(d, "role_id"));
    json_decref(d);
}

/* Legacy aliases are accepted (CSL string, duration strings, numeric
 * strings) and echoed under both names. */
static void test_role_aliases(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d, *p;

    ok(f, "POST", "role/r",
       "{\"policies\":\"B, a,a\",\"ttl\":\"1h\",\"max_ttl\":7200,"
       "\"period\":\"30m\",\"num_uses\":\"3\",\"bound_cidrs\":\"10.0.0.0/8\","
       "\"bound_cidr_list\":[\"192.168.0.0/16\"]}");
    d = read_data(f, "GET", "role/r");
    p = json_object_get(d, "token_policies");
    assert_int_equal(json_array_size(p), 2);
    assert_string_equal(json_string_value(json_array_get(p, 0)), "a");
    assert_string_equal(json_string_value(json_array_get(p, 1)), "b");
    assert_true(json_equal(p, json_object_get(d, "policies")));
    assert_int_equal(json_integer_value(json_object_get(d, "token_ttl")), 3600);
    assert_int_equal(json_integer_value(json_object_get(d, "ttl")), 3600);
    assert_int_equal(json_integer_value(json_object_get(d, "max_ttl")), 7200);
    assert_int_equal(json_integer_value(json_object_get(d, "token_period")),
                     1800);
    assert_int_equal(json_integer_value(json_object_get(d, "num_uses")), 3);
    assert_true(
        has_string(json_object_get(d, "token_bound_cidrs"), "10.0.0.0/8"));
    assert_true(has_string(json_object_get(d, "secret_id_bound_cidrs"),
                           "192.168.0.0/16"));
    json_decref(d);
}

/* When a request sends both names, the token_* one wins. */
static void test_role_token_name_wins(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d;

    ok(f, "POST", "role/r",
       "{\"token_policies\":[\"x\"],\"policies\":[\"y\"],\"token_ttl\":60,"
       "\"ttl\":120,\"token_num_uses\":1,\"num_uses\":9}");
    d = read_data(f, "GET", "role/r");
    assert_true(has_string(json_object_get(d, "token_policies"), "x"));
    assert_false(has_string(json_object_get(d, "token_policies"), "y"));
    assert_int_equal(json_integer_value(json_object_get(d, "token_ttl")), 60);
    assert_int_equal(json_integer_value(json_object_get(d, "token_num_uses")),
                     1);
    json_decref(d);
}

/* An update changes only the fields it names; the role ID stays. */
static void test_role_update_keeps_fields(void **state)
{
    struct fixture_backend *f = *state;
    char before[300], after[300];
    json_t *d;

    ok(f, "POST", "role/r", "{\"token_ttl\":\"90s\",\"secret_id_ttl\":600}");
    role_id_of(f, "r", before, sizeof(before));
    ok(f, "PUT", "role/r", "{\"token_policies\":\"p1\"}");
    role_id_of(f, "r", after, sizeof(after));
    assert_string_equal(before, after);
    d = read_data(f, "GET", "role/r");
    assert_int_equal(json_integer_value(json_object_get(d, "token_ttl")), 90);
    assert_int_equal(json_integer_value(json_object_get(d, "secret_id_ttl")),
                     600);
    assert_true(has_string(json_object_get(d, "token_policies"), "p1"));
    json_decref(d);
}

/* Role names are case-insensitive and stored lowercased. */
static void test_role_name_case(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d;

    ok(f, "POST", "role/MyRole", "{}");
    d = read_data(f, "GET", "role/myrole");
    json_decref(d);
    d = read_data(f, "LIST", "role");
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 1);
    assert_true(has_string(json_object_get(d, "keys"), "myrole"));
    json_decref(d);
}

/* Role names: 128 bytes accepted, 129 refused, bad characters refused. */
static void test_role_name_limits(void **state)
{
    struct fixture_backend *f = *state;
    char path[APPROLE_NAME_BYTES_MAX + 16];

    memset(path, 0, sizeof(path));
    memcpy(path, "role/", 5);
    memset(path + 5, 'a', APPROLE_NAME_BYTES_MAX);
    ok(f, "POST", path, "{}");
    path[5 + APPROLE_NAME_BYTES_MAX] = 'a';
    fails(f, "POST", path, "{}", KH_EINVAL, "role name");
    fails(f, "POST", "role/-bad", "{}", KH_EINVAL, "invalid role name");
    fails(f, "POST", "role/bad-", "{}", KH_EINVAL, "invalid role name");
    fails(f, "POST", "role/a*b", "{}", KH_EINVAL, "invalid role name");
    ok(f, "POST", "role/a.b-c_d", "{}");
}

/* LIST role lists names; deletes remove them; an empty list is 404. */
static void test_role_list_delete(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d;

    fails(f, "LIST", "role", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "role/r1", "{}");
    ok(f, "POST", "role/r2", "{}");
    d = read_data(f, "LIST", "role/");
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 2);
    json_decref(d);
    ok(f, "DELETE", "role/r1", NULL);
    ok(f, "DELETE", "role/r1", NULL); /* idempotent */
    fails(f, "GET", "role/r1", NULL, KH_ENOTFOUND, NULL);
    ok(f, "DELETE", "role/r2", NULL);
    fails(f, "LIST", "role", NULL, KH_ENOTFOUND, NULL);
}

/* role-id: a UUID made at creation, replaceable by a custom one. */
static void test_role_id_custom(void **state)
{
    struct fixture_backend *f = *state;
    char rid[300];
    json_t *s, *auth = NULL;
    char errmsg[KH_ERRMSG_SIZE];

    ok(f, "POST", "role/r", "{}");
    role_id_of(f, "r", rid, sizeof(rid));
    assert_int_equal(strlen(rid), KH_UUID_STR_LEN);
    ok(f, "POST", "role/r/role-id", "{\"role_id\":\"my-custom-id\"}");
    role_id_of(f, "r", rid, sizeof(rid));
    assert_string_equal(rid, "my-custom-id");
    s = gen_secret(f, "r", "{\"metadata\":null}");
    assert_int_equal(login(f, "my-custom-id", sid_of(s), &auth, errmsg), 0);
    json_decref(auth);
    fails(f, "POST", "role/r/role-id", "{}", KH_EINVAL, "missing role_id");
    fails(f, "GET", "role/nope/role-id", NULL, KH_ENOTFOUND, NULL);
    json_decref(s);
}

/* A role ID belongs to one role only; the old one stops working. */
static void test_role_id_unique(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], old[300];
    json_t *s;

    ok(f, "POST", "role/r1", "{\"role_id\":\"dup\"}");
    ok(f, "POST", "role/r2", "{}");
    role_id_of(f, "r2", old, sizeof(old));
    fails(f, "POST", "role/r2/role-id", "{\"role_id\":\"dup\"}", KH_EINVAL,
          "role_id already in use");
    fails(f, "POST", "role/r3", "{\"role_id\":\"dup\"}", KH_EINVAL,
          "role_id already in use");
    fails(f, "GET", "role/r3", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "role/r1/role-id", "{\"role_id\":\"dup\"}"); /* same role */
    ok(f, "POST", "role/r2/role-id", "{\"role_id\":\"fresh\"}");
    s = gen_secret(f, "r2", NULL);
    assert_int_equal(login(f, old, sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    assert_int_equal(login(f, "fresh", sid_of(s), NULL, errmsg), 0);
    json_decref(s);
}

/* ---- secret IDs and login ---- */

/* generate + login: the auth block carries the role's policies, the
 * metadata {role_name} and a token the store knows. */
static void test_login_issues_token(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300];
    struct token_entry *e = calloc(1, sizeof(*e));
    json_t *s, *auth = NULL;
    const char *tok;

    assert_non_null(e);
    ok(f, "POST", "role/app",
       "{\"token_policies\":\"a,b\",\"token_ttl\":"
       "\"1h\"}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app", "{\"metadata\":null}");
    assert_int_equal(strlen(sid_of(s)), KH_UUID_STR_LEN);
    assert_int_equal(
        strlen(json_string_value(json_object_get(s, "secret_id_accessor"))),
        KH_UUID_STR_LEN);
    assert_int_equal(login(f, rid, sid_of(s), &auth, errmsg), 0);
    assert_true(has_string(json_object_get(auth, "policies"), "a"));
    assert_true(has_string(json_object_get(auth, "policies"), "default"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(auth, "metadata"), "role_name")),
                        "app");
    assert_int_equal(
        json_integer_value(json_object_get(auth, "lease_duration")), 3600);
    tok = json_string_value(json_object_get(auth, "client_token"));
    assert_non_null(tok);
    assert_int_equal(token_store_lookup(f->core->tokens, tok, e), 0);
    assert_string_equal(e->path, "auth/approle/login");
    json_decref(auth);
    json_decref(s);
    free(e);
}

/* Missing role_id is its own 400; a wrong role ID and a wrong secret ID
 * give the same error. */
static void test_login_errors(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300];
    json_t *s;

    ok(f, "POST", "role/app", "{}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app", NULL);
    assert_int_equal(login(f, NULL, sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, "missing role_id");
    assert_int_equal(login(f, "", sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, "missing role_id");
    assert_int_equal(login(f, "wrong", sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    assert_int_equal(login(f, rid, "wrong", NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    assert_int_equal(login(f, rid, NULL, NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, "missing secret_id");
    /* a secret ID of another role is wrong too */
    ok(f, "POST", "role/other", "{}");
    json_decref(s);
    s = gen_secret(f, "other", NULL);
    assert_int_equal(login(f, rid, sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    json_decref(s);
}

/* A secret ID with num_uses = 2 works twice, then never; lookup shows the
 * remaining uses. */
static void test_secret_num_uses(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300], body[128];
    json_t *s, *d;
    struct kh_response resp;

    ok(f, "POST", "role/app", "{}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app", "{\"num_uses\":2}");
    assert_int_equal(
        json_integer_value(json_object_get(s, "secret_id_num_uses")), 2);
    assert_int_equal(login(f, rid, sid_of(s), NULL, errmsg), 0);
    snprintf(body, sizeof(body), "{\"secret_id\":\"%s\"}", sid_of(s));
    assert_int_equal(
        call(f, "POST", "role/app/secret-id/lookup", body, &resp, errmsg), 0);
    d = json_object_get(resp.body, "data");
    assert_int_equal(
        json_integer_value(json_object_get(d, "secret_id_num_uses")), 1);
    kh_response_clear(&resp);
    assert_int_equal(login(f, rid, sid_of(s), NULL, errmsg), 0);
    assert_int_equal(login(f, rid, sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    fails(f, "LIST", "role/app/secret-id", NULL, KH_ENOTFOUND, NULL);
    json_decref(s);
}

struct race
{
    struct fixture_backend *f;
    const char *rid;
    const char *sid;
    int result;
};

static void *race_login(void *arg)
{
    struct race *r = arg;
    char errmsg[KH_ERRMSG_SIZE];

    r->result = login(r->f, r->rid, r->sid, NULL, errmsg);
    return NULL;
}

/* Concurrent logins with a num_uses = 1 secret ID: exactly one wins. */
static void test_secret_single_use_race(void **state)
{
    struct fixture_backend *f = *state;
    char rid[300];
    struct race races[8];
    pthread_t threads[8];
    json_t *s;
    int wins = 0;
    size_t i;

    ok(f, "POST", "role/app", "{}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app", "{\"num_uses\":1}");
    for (i = 0; i < 8; i++) {
        races[i] = (struct race){f, rid, sid_of(s), -100};
        assert_int_equal(
            pthread_create(&threads[i], NULL, race_login, &races[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        if (races[i].result == 0)
            wins++;
        else
            assert_int_equal(races[i].result, KH_EINVAL);
    }
    assert_int_equal(wins, 1);
    json_decref(s);
}

/* A secret ID expires after its TTL; lookup then answers 204. */
static void test_secret_ttl_expiry(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300], body[128];
    struct kh_response resp;
    json_t *s;

    ok(f, "POST", "role/app", "{\"secret_id_ttl\":\"1s\"}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app", NULL);
    assert_int_equal(json_integer_value(json_object_get(s, "secret_id_ttl")),
                     1);
    sleep(2);
    assert_int_equal(login(f, rid, sid_of(s), NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    snprintf(body, sizeof(body), "{\"secret_id\":\"%s\"}", sid_of(s));
    assert_int_equal(
        call(f, "POST", "role/app/secret-id/lookup", body, &resp, errmsg), 0);
    assert_int_equal(resp.status, 204);
    kh_response_clear(&resp);
    json_decref(s);
}

/* Lookup shows metadata, CIDRs and times; login metadata includes the
 * secret ID's metadata next to role_name. */
static void test_secret_lookup_metadata(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300], body[256];
    struct kh_response resp;
    json_t *s, *d, *auth = NULL;

    ok(f, "POST", "role/app", "{\"secret_id_ttl\":3600}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app",
                   "{\"metadata\":\"{\\\"env\\\":\\\"prod\\\"}\","
                   "\"cidr_list\":\"127.0.0.0/8\"}");
    snprintf(body, sizeof(body), "{\"secret_id\":\"%s\"}", sid_of(s));
    assert_int_equal(
        call(f, "POST", "role/app/secret-id/lookup", body, &resp, errmsg), 0);
    d = json_object_get(resp.body, "data");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(d, "metadata"), "env")),
                        "prod");
    assert_true(has_string(json_object_get(d, "cidr_list"), "127.0.0.0/8"));
    assert_int_equal(json_integer_value(json_object_get(d, "secret_id_ttl")),
                     3600);
    assert_string_equal(
        json_string_value(json_object_get(d, "secret_id_accessor")),
        json_string_value(json_object_get(s, "secret_id_accessor")));
    assert_non_null(
        strchr(json_string_value(json_object_get(d, "expiration_time")), 'T'));
    kh_response_clear(&resp);
    assert_int_equal(login(f, rid, sid_of(s), &auth, errmsg), 0);
    d = json_object_get(auth, "metadata");
    assert_string_equal(json_string_value(json_object_get(d, "env")), "prod");
    assert_string_equal(json_string_value(json_object_get(d, "role_name")),
                        "app");
    json_decref(auth);
    json_decref(s);
}

/* LIST secret-id lists accessors; accessor lookup/destroy and secret-id
 * destroy remove entries. */
static void test_secret_accessors(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300], body[256];
    json_t *s1, *s2, *d;
    const char *acc1;

    ok(f, "POST", "role/app", "{}");
    role_id_of(f, "app", rid, sizeof(rid));
    s1 = gen_secret(f, "app", NULL);
    s2 = gen_secret(f, "app", NULL);
    acc1 = json_string_value(json_object_get(s1, "secret_id_accessor"));
    d = read_data(f, "LIST", "role/app/secret-id");
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 2);
    assert_true(has_string(json_object_get(d, "keys"), acc1));
    json_decref(d);
    snprintf(body, sizeof(body), "{\"secret_id_accessor\":\"%s\"}", acc1);
    ok(f, "POST", "role/app/secret-id-accessor/lookup", body);
    ok(f, "POST", "role/app/secret-id-accessor/destroy", body);
    fails(f, "POST", "role/app/secret-id-accessor/lookup", body, KH_ENOTFOUND,
          "failed to find accessor");
    assert_int_equal(login(f, rid, sid_of(s1), NULL, errmsg), KH_EINVAL);
    snprintf(body, sizeof(body), "{\"secret_id\":\"%s\"}", sid_of(s2));
    ok(f, "POST", "role/app/secret-id/destroy", body);
    assert_int_equal(login(f, rid, sid_of(s2), NULL, errmsg), KH_EINVAL);
    fails(f, "LIST", "role/app/secret-id/", NULL, KH_ENOTFOUND, NULL);
    json_decref(s1);
    json_decref(s2);
}

/* custom-secret-id registers the caller's secret ID, once. */
static void test_custom_secret_id(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300];
    struct kh_response resp;

    ok(f, "POST", "role/app", "{}");
    role_id_of(f, "app", rid, sizeof(rid));
    assert_int_equal(call(f, "POST", "role/app/custom-secret-id",
                          "{\"secret_id\":\"my-own-secret\"}", &resp, errmsg),
                     0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(resp.body, "data"), "secret_id")),
                        "my-own-secret");
    kh_response_clear(&resp);
    fails(f, "POST", "role/app/custom-secret-id",
          "{\"secret_id\":\"my-own-secret\"}", KH_EINVAL, "already registered");
    fails(f, "POST", "role/app/custom-secret-id", "{}", KH_EINVAL,
          "missing secret_id");
    assert_int_equal(login(f, rid, "my-own-secret", NULL, errmsg), 0);
}

/* Only salted hashes reach storage: neither the secret ID nor the role ID
 * appears in any key or decrypted value of the view. */
static void test_storage_holds_hashes_only(void **state)
{
    struct fixture_backend *f = *state;
    const char *prefixes[] = {"", "role/", "role_id/", "secret_id/app/",
                              "accessor/app/"};
    char rid[300], key[512];
    json_t *s;
    size_t i, j;

    ok(f, "POST", "role/app", "{}");
    role_id_of(f, "app", rid, sizeof(rid));
    s = gen_secret(f, "app", NULL);
    for (i = 0; i < KH_ARRAY_LEN(prefixes); i++) {
        struct kh_storage_list list = {0};
        assert_int_equal(view_list(&f->mount.view, prefixes[i], &list), 0);
        assert_true(list.count > 0);
        for (j = 0; j < list.count; j++) {
            uint8_t *v = NULL;
            size_t len = 0;
            char *text;
            assert_null(strstr(list.keys[j], sid_of(s)));
            assert_null(strstr(list.keys[j], rid));
            snprintf(key, sizeof(key), "%s%s", prefixes[i], list.keys[j]);
            if (key[strlen(key) - 1] == '/' ||
                view_get(&f->mount.view, key, &v, &len) != 0)
                continue;
            text = strndup((const char *)v, len);
            assert_null(strstr(text, sid_of(s)));
            if (strncmp(key, "role/", 5) != 0)
                assert_null(strstr(text, rid));
            free(text);
            kh_free_secret(v, len);
        }
        kh_storage_list_free(&list);
    }
    json_decref(s);
}

/* secret_id_bound_cidrs and a secret ID's cidr_list gate the client
 * address; a cidr_list outside the role's is refused. */
static void test_login_cidrs(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300];
    json_t *s;

    ok(f, "POST", "role/app", "{\"secret_id_bound_cidrs\":\"10.0.0.0/8\"}");
    role_id_of(f, "app", rid, sizeof(rid));
    fails(f, "POST", "role/app/secret-id", "{\"cidr_list\":\"192.168.0.0/16\"}",
          KH_EINVAL, "CIDR");
    s = gen_secret(f, "app", "{\"cidr_list\":[\"10.1.0.0/16\"]}");
    assert_int_equal(login_from(f, rid, sid_of(s), "127.0.0.1", NULL, errmsg),
                     KH_EINVAL);
    assert_non_null(strstr(errmsg, "CIDR"));
    assert_int_equal(login_from(f, rid, sid_of(s), "10.2.0.1", NULL, errmsg),
                     KH_EINVAL);
    assert_int_equal(
        login_from(f, rid, sid_of(s), "::ffff:10.1.2.3", NULL, errmsg), 0);
    assert_int_equal(login_from(f, rid, sid_of(s), "10.1.2.3", NULL, errmsg),
                     0);
    json_decref(s);
}

/* bind_secret_id = false needs another constraint; login then needs only
 * the role ID from an allowed address. */
static void test_role_without_secret(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], rid[300];

    fails(f, "POST", "role/app", "{\"bind_secret_id\":false}", KH_EINVAL,
          "at least one constraint");
    ok(f, "POST", "role/app",
       "{\"bind_secret_id\":\"false\",\"secret_id_bound_cidrs\":"
       "\"127.0.0.1/32\"}");
    role_id_of(f, "app", rid, sizeof(rid));
    assert_int_equal(login(f, rid, NULL, NULL, errmsg), 0);
    assert_int_equal(login_from(f, rid, NULL, "10.0.0.1", NULL, errmsg),
                     KH_EINVAL);
    fails(f, "POST", "role/app/secret-id", NULL, KH_EINVAL,
          "bind_secret_id is not set");
}

/* A secret ID may not exceed the role's uses or TTL; it inherits them
 * when not given. */
static void test_secret_within_role_limits(void **state)
{
    struct fixture_backend *f = *state;
    json_t *s;

    ok(f, "POST", "role/app",
       "{\"secret_id_num_uses\":5,\"secret_id_ttl\":\"10m\"}");
    fails(f, "POST", "role/app/secret-id", "{\"num_uses\":6}", KH_EINVAL,
          "num_uses");
    fails(f, "POST", "role/app/secret-id", "{\"num_uses\":0}", KH_EINVAL,
          "num_uses");
    fails(f, "POST", "role/app/secret-id", "{\"ttl\":\"11m\"}", KH_EINVAL,
          "ttl");
    s = gen_secret(f, "app", "{}");
    assert_int_equal(
        json_integer_value(json_object_get(s, "secret_id_num_uses")), 5);
    assert_int_equal(json_integer_value(json_object_get(s, "secret_id_ttl")),
                     600);
    json_decref(s);
    s = gen_secret(f, "app", "{\"num_uses\":2,\"ttl\":60}");
    assert_int_equal(json_integer_value(json_object_get(s, "secret_id_ttl")),
                     60);
    json_decref(s);
    fails(f, "POST", "role/nope/secret-id", NULL, KH_EINVAL, "does not exist");
}

/* Metadata: up to APPROLE_METADATA_KEYS_MAX string entries; more, bad
 * JSON or non-string values are refused. */
static void test_secret_metadata_limits(void **state)
{
    struct fixture_backend *f = *state;
    char *meta = NULL, *body = NULL, *next;
    json_t *obj = json_object(), *wrap;
    int i;

    ok(f, "POST", "role/app", "{}");
    for (i = 0; i < APPROLE_METADATA_KEYS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(obj, k, json_string("v"));
    }
    meta = json_dumps(obj, JSON_COMPACT);
    wrap = json_pack("{s:s}", "metadata", meta);
    body = json_dumps(wrap, JSON_COMPACT);
    json_decref(gen_secret(f, "app", body));
    free(meta);
    free(body);
    json_decref(wrap);
    json_object_set_new(obj, "one-more", json_string("v"));
    meta = json_dumps(obj, JSON_COMPACT);
    wrap = json_pack("{s:s}", "metadata", meta);
    next = json_dumps(wrap, JSON_COMPACT);
    fails(f, "POST", "role/app/secret-id", next, KH_ELIMIT, "metadata");
    free(next);
    free(meta);
    json_decref(wrap);
    json_decref(obj);
    fails(f, "POST", "role/app/secret-id", "{\"metadata\":\"{bad\"}", KH_EINVAL,
          "metadata");
    fails(f, "POST", "role/app/secret-id", "{\"metadata\":\"{\\\"a\\\":1}\"}",
          KH_EINVAL, "metadata");
}

/* At most APPROLE_SECRET_IDS_PER_ROLE_MAX live secret IDs per role. */
static void test_secret_count_limit(void **state)
{
    struct fixture_backend *f = *state;
    int i;

    ok(f, "POST", "role/app", "{}");
    for (i = 0; i < APPROLE_SECRET_IDS_PER_ROLE_MAX; i++)
        ok(f, "POST", "role/app/secret-id", NULL);
    fails(f, "POST", "role/app/secret-id", NULL, KH_ELIMIT, "limit");
    fails(f, "POST", "role/app/custom-secret-id", "{\"secret_id\":\"x\"}",
          KH_ELIMIT, "limit");
    /* deleting the role removes all of them in one batch */
    ok(f, "DELETE", "role/app", NULL);
    ok(f, "POST", "role/app", "{}");
    fails(f, "LIST", "role/app/secret-id", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "role/app/secret-id", NULL);
}

/* Unknown paths are 404 "no handler", known paths with the wrong
 * operation 405; only login needs no token. */
static void test_routes(void **state)
{
    struct fixture_backend *f = *state;

    fails(f, "GET", "nope", NULL, KH_ENOTFOUND, "no handler for route");
    fails(f, "GET", "role/a/b/c/d", NULL, KH_ENOTFOUND, "no handler");
    fails(f, "GET", "login", NULL, KH_EMETHOD, "unsupported operation");
    fails(f, "DELETE", "role/a/role-id", NULL, KH_EMETHOD, NULL);
    assert_true(approle_backend_ops.unauthenticated("login", KH_OP_UPDATE));
    assert_true(approle_backend_ops.unauthenticated("login", KH_OP_CREATE));
    assert_false(approle_backend_ops.unauthenticated("login", KH_OP_READ));
    assert_false(approle_backend_ops.unauthenticated("role/x", KH_OP_UPDATE));
    assert_true(approle_backend_ops.is_auth);
    assert_string_equal(approle_backend_ops.type, "approle");
}

/* The existence check tells create from update for role/:role. */
static void test_existence(void **state)
{
    struct fixture_backend *f = *state;
    char path[] = "auth/approle/role/Exists";
    struct kh_request req = {.op = KH_OP_UPDATE, .path = path};
    struct backend_request br;
    bool exists = true;

    assert_int_equal(
        fixture_backend_request(f->core, &f->mount, &req, NULL, &br), 0);
    assert_int_equal(approle_backend_ops.existence(&br, &exists), 0);
    assert_false(exists);
    ok(f, "POST", "role/exists", "{}");
    assert_int_equal(approle_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
}

/* ---- tokenutil ---- */

/* token_ttl above token_max_ttl, bad token_type, batch with uses, bad
 * CIDRs and malformed values are 400s. */
static void test_tokenutil_validation(void **state)
{
    struct fixture_backend *f = *state;

    fails(f, "POST", "role/r", "{\"token_ttl\":100,\"token_max_ttl\":50}",
          KH_EINVAL, "token_max_ttl");
    fails(f, "POST", "role/r", "{\"token_type\":\"odd\"}", KH_EINVAL,
          "token_type");
    fails(f, "POST", "role/r",
          "{\"token_type\":\"batch\",\"token_num_uses\":2}", KH_EINVAL,
          "batch");
    fails(f, "POST", "role/r", "{\"token_bound_cidrs\":\"10.0.0.0/33\"}",
          KH_EINVAL, "CIDR");
    fails(f, "POST", "role/r", "{\"token_bound_cidrs\":\"not-an-ip\"}",
          KH_EINVAL, "CIDR");
    fails(f, "POST", "role/r", "{\"token_ttl\":\"soon\"}", KH_EINVAL,
          "token_ttl");
    fails(f, "POST", "role/r", "{\"token_num_uses\":-1}", KH_EINVAL,
          "token_num_uses");
    fails(f, "POST", "role/r", "{\"token_no_default_policy\":\"maybe\"}",
          KH_EINVAL, "boolean");
    fails(f, "POST", "role/r", "{\"token_policies\":[1]}", KH_EINVAL,
          "strings");
    fails(f, "GET", "role/r", NULL, KH_ENOTFOUND, NULL);
}

/* Policy and CIDR lists: max entries accepted, max + 1 refused. */
static void test_tokenutil_list_limits(void **state)
{
    struct fixture_backend *f = *state;
    json_t *pol = json_array(), *cidrs = json_array(), *body;
    char *text;
    int i;

    for (i = 0; i < TOKENUTIL_POLICIES_MAX; i++) {
        char p[16];
        snprintf(p, sizeof(p), "p%d", i);
        json_array_append_new(pol, json_string(p));
    }
    for (i = 0; i < TOKENUTIL_CIDRS_MAX; i++) {
        char c[32];
        snprintf(c, sizeof(c), "10.%d.0.0/16", i);
        json_array_append_new(cidrs, json_string(c));
    }
    body = json_pack("{s:O, s:O}", "token_policies", pol, "token_bound_cidrs",
                     cidrs);
    text = json_dumps(body, JSON_COMPACT);
    ok(f, "POST", "role/r", text);
    free(text);
    json_array_append_new(pol, json_string("one-more"));
    json_object_set(body, "token_policies", pol);
    text = json_dumps(body, JSON_COMPACT);
    fails(f, "POST", "role/r", text, KH_ELIMIT, "token_policies");
    free(text);
    json_array_remove(pol, TOKENUTIL_POLICIES_MAX);
    json_object_set(body, "token_policies", pol);
    json_array_append_new(cidrs, json_string("192.168.0.0/16"));
    json_object_set(body, "token_bound_cidrs", cidrs);
    text = json_dumps(body, JSON_COMPACT);
    fails(f, "POST", "role/r", text, KH_ELIMIT, "token_bound_cidrs");
    free(text);
    json_decref(body);
    json_decref(pol);
    json_decref(cidrs);
}

/* CIDR helpers: containment, IPv6, mapped IPv4, subsets. */
static void test_tokenutil_cidr_match(void **state)
{
    struct tokenutil_cidrs list = {0}, inner = {0};

    (void)state;
    assert_true(tokenutil_cidrs_allow(&list, "anything"));
    list.count = 2;
    snprintf(list.items[0], sizeof(list.items[0]), "192.168.1.0/25");
    snprintf(list.items[1], sizeof(list.items[1]), "2001:db8::/32");
    assert_true(tokenutil_cidrs_allow(&list, "192.168.1.127"));
    assert_false(tokenutil_cidrs_allow(&list, "192.168.1.128"));
    assert_true(tokenutil_cidrs_allow(&list, "::ffff:192.168.1.5"));
    assert_true(tokenutil_cidrs_allow(&list, "2001:db8:1::1"));
    assert_false(tokenutil_cidrs_allow(&list, "2001:db9::1"));
    assert_false(tokenutil_cidrs_allow(&list, ""));
    assert_false(tokenutil_cidrs_allow(&list, "192.168.1.1/32"));
    inner.count = 1;
    snprintf(inner.items[0], sizeof(inner.items[0]), "192.168.1.64/26");
    assert_true(tokenutil_cidrs_subset(&inner, &list));
    snprintf(inner.items[0], sizeof(inner.items[0]), "192.168.1.0/24");
    assert_false(tokenutil_cidrs_subset(&inner, &list));
    snprintf(inner.items[0], sizeof(inner.items[0]), "192.168.1.9");
    assert_true(tokenutil_cidrs_subset(&inner, &list));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_role_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_token_name_wins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_role_update_keeps_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_role_name_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_name_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_id_custom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_id_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_issues_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_num_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_single_use_race, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_ttl_expiry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_lookup_metadata, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_accessors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_secret_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_holds_hashes_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_cidrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_without_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_within_role_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_metadata_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_secret_count_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokenutil_validation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tokenutil_list_limits, setup,
                                        teardown),
        cmocka_unit_test(test_tokenutil_cidr_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
