/*
 * test_userpass.c - the userpass auth method (hostd/auth/userpass/) over a
 * real barrier view: LMDB in a temp directory, an initialised barrier, a
 * token store on the same barrier. Requests are built from wire pieces with
 * http_request_build() as the server does and handed to the backend's
 * handle(); logins are checked through the issued token in the store.
 * Passwords are hashed with the real scrypt parameters, so this suite also
 * prints the cost of one login.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/tokenutil.h"
#include "auth/userpass/userpass.h"
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

#define INVALID "invalid username or password"

static int setup(void **state)
{
    return fixture_backend_setup(state, "userpass", &userpass_backend_ops,
                                 "auth/userpass/");
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

static void ok(struct fixture_backend *f, const char *method,
               const char *subpath, const char *body)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];

    assert_int_equal(call_from(f, method, subpath, body, NULL, &resp, errmsg),
                     0);
    kh_response_clear(&resp);
}

static void fails(struct fixture_backend *f, const char *method,
                  const char *subpath, const char *body, int code,
                  const char *text)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];

    assert_int_equal(call_from(f, method, subpath, body, NULL, &resp, errmsg),
                     code);
    if (text != NULL && strstr(errmsg, text) == NULL)
        fail_msg("errmsg \"%s\" lacks \"%s\"", errmsg, text);
    kh_response_clear(&resp);
}

static json_t *read_data(struct fixture_backend *f, const char *method,
                         const char *subpath)
{
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *data;

    assert_int_equal(call_from(f, method, subpath, NULL, NULL, &resp, errmsg),
                     0);
    data = json_incref(json_object_get(resp.body, "data"));
    assert_non_null(data);
    kh_response_clear(&resp);
    return data;
}

/* Log in as user with password from remote; *ret_auth (optional) is a new
 * reference to the auth block. */
static int login_from(struct fixture_backend *f, const char *user,
                      const char *password, const char *remote,
                      json_t **ret_auth, char *errmsg)
{
    struct kh_response resp;
    json_t *body = json_object();
    char path[1024], *text;
    int r;

    if (password != NULL)
        json_object_set_new(body, "password", json_string(password));
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    snprintf(path, sizeof(path), "login/%s", user);
    r = call_from(f, "POST", path, text, remote, &resp, errmsg);
    free(text);
    if (r == 0 && ret_auth != NULL)
        *ret_auth = json_incref(json_object_get(resp.body, "auth"));
    kh_response_clear(&resp);
    return r;
}

static int login(struct fixture_backend *f, const char *user,
                 const char *password, json_t **ret_auth, char *errmsg)
{
    return login_from(f, user, password, NULL, ret_auth, errmsg);
}

static bool has_string(const json_t *array, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(array); i++)
        if (strcmp(json_string_value(json_array_get(array, i)), s) == 0)
            return true;
    return false;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stored record of a user, parsed. */
static json_t *stored_user(struct fixture_backend *f, const char *name)
{
    char key[256];
    uint8_t *v = NULL;
    size_t len = 0;
    json_t *obj;

    snprintf(key, sizeof(key), "user/%s", name);
    assert_int_equal(view_get(&f->mount.view, key, &v, &len), 0);
    obj = json_loadb((const char *)v, len, 0, NULL);
    assert_non_null(obj);
    kh_free_secret(v, len);
    return obj;
}

/* ---- users ---- */

/* hvac's create_or_update_user body creates a user; a read shows the
 * token fields under both names and never the password. */
static void test_user_create_read(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d;

    ok(f, "POST", "users/bob", "{\"password\":\"pw\",\"policies\":[\"a\"]}");
    d = read_data(f, "GET", "users/bob");
    assert_true(has_string(json_object_get(d, "token_policies"), "a"));
    assert_true(has_string(json_object_get(d, "policies"), "a"));
    assert_null(json_object_get(d, "password"));
    assert_null(json_object_get(d, "hash"));
    assert_string_equal(json_string_value(json_object_get(d, "token_type")),
                        "default");
    json_decref(d);
}

/* Usernames are lowercased everywhere: path, listing, login, metadata. */
static void test_username_lowercased(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *d, *auth = NULL;

    ok(f, "POST", "users/Bob", "{\"password\":\"pw\"}");
    d = read_data(f, "LIST", "users");
    assert_int_equal(json_array_size(json_object_get(d, "keys")), 1);
    assert_true(has_string(json_object_get(d, "keys"), "bob"));
    json_decref(d);
    assert_int_equal(login(f, "BOB", "pw", &auth, errmsg), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(auth, "metadata"), "username")),
                        "bob");
    json_decref(auth);
}

/* A login issues a token with the user's policies plus default, path
 * auth/userpass/login/<user>; prints the cost of one login. */
static void test_login_issues_token(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    struct token_entry *e = calloc(1, sizeof(*e));
    json_t *auth = NULL;
    double t0, t1;

    assert_non_null(e);
    ok(f, "POST", "users/alice",
       "{\"password\":\"s3cret\",\"token_policies\":\"dev,ops\","
       "\"token_ttl\":\"30m\"}");
    t0 = now_s();
    assert_int_equal(login(f, "alice", "s3cret", &auth, errmsg), 0);
    t1 = now_s();
    print_message("userpass login (scrypt N=2^15 r=8 p=3): %.1f ms\n",
                  (t1 - t0) * 1000.0);
    assert_true(has_string(json_object_get(auth, "policies"), "dev"));
    assert_true(has_string(json_object_get(auth, "policies"), "default"));
    assert_int_equal(
        json_integer_value(json_object_get(auth, "lease_duration")), 1800);
    assert_int_equal(
        token_store_lookup(
            f->core->tokens,
            json_string_value(json_object_get(auth, "client_token")), e),
        0);
    assert_string_equal(e->path, "auth/userpass/login/alice");
    assert_non_null(strstr(e->display_name, "alice"));
    json_decref(auth);
    free(e);
}

/* A wrong password and an unknown user give the same 400, at about the
 * same cost (both run scrypt). */
static void test_login_bad_credentials(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    double t0, known, unknown;

    ok(f, "POST", "users/bob", "{\"password\":\"right\"}");
    t0 = now_s();
    assert_int_equal(login(f, "bob", "wrong", NULL, errmsg), KH_EINVAL);
    known = now_s() - t0;
    assert_string_equal(errmsg, INVALID);
    t0 = now_s();
    assert_int_equal(login(f, "nobody", "wrong", NULL, errmsg), KH_EINVAL);
    unknown = now_s() - t0;
    assert_string_equal(errmsg, INVALID);
    print_message("wrong password %.1f ms, unknown user %.1f ms\n",
                  known * 1000.0, unknown * 1000.0);
    assert_true(unknown > known / 3.0);
    assert_true(known > unknown / 3.0);
}

/* Missing passwords: at login, and when creating a user. */
static void test_missing_password(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];

    fails(f, "POST", "users/bob", "{\"policies\":\"a\"}", KH_EINVAL,
          "missing password");
    fails(f, "GET", "users/bob", NULL, KH_ENOTFOUND, NULL);
    fails(f, "POST", "users/bob", "{\"password\":\"\"}", KH_EINVAL,
          "missing password");
    ok(f, "POST", "users/bob", "{\"password\":\"pw\"}");
    assert_int_equal(login(f, "bob", NULL, NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, "missing password");
}

/* An update without a password keeps the password and unnamed fields. */
static void test_update_keeps_password(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *d;

    ok(f, "POST", "users/bob", "{\"password\":\"pw\",\"policies\":\"a\"}");
    ok(f, "PUT", "users/bob", "{\"token_ttl\":60}");
    d = read_data(f, "GET", "users/bob");
    assert_int_equal(json_integer_value(json_object_get(d, "token_ttl")), 60);
    assert_true(has_string(json_object_get(d, "token_policies"), "a"));
    json_decref(d);
    assert_int_equal(login(f, "bob", "pw", NULL, errmsg), 0);
}

/* users/:u/password replaces the password; unknown users are a 400. */
static void test_password_change(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];

    ok(f, "POST", "users/bob", "{\"password\":\"old\"}");
    ok(f, "POST", "users/bob/password", "{\"password\":\"new\"}");
    assert_int_equal(login(f, "bob", "old", NULL, errmsg), KH_EINVAL);
    assert_int_equal(login(f, "bob", "new", NULL, errmsg), 0);
    fails(f, "POST", "users/bob/password", "{}", KH_EINVAL, "missing password");
    fails(f, "POST", "users/carol/password", "{\"password\":\"x\"}", KH_EINVAL,
          "does not exist");
}

/* users/:u/policies replaces the policies (token_policies or policies). */
static void test_policies_endpoint(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *d, *auth = NULL;

    ok(f, "POST", "users/bob", "{\"password\":\"pw\",\"policies\":\"a\"}");
    ok(f, "POST", "users/bob/policies", "{\"token_policies\":\"x,Y\"}");
    d = read_data(f, "GET", "users/bob");
    assert_int_equal(json_array_size(json_object_get(d, "token_policies")), 2);
    assert_true(has_string(json_object_get(d, "token_policies"), "y"));
    assert_false(has_string(json_object_get(d, "token_policies"), "a"));
    json_decref(d);
    assert_int_equal(login(f, "bob", "pw", &auth, errmsg), 0);
    assert_true(has_string(json_object_get(auth, "policies"), "x"));
    json_decref(auth);
    ok(f, "POST", "users/bob/policies", "{\"policies\":[\"z\"]}");
    d = read_data(f, "GET", "users/bob");
    assert_true(has_string(json_object_get(d, "policies"), "z"));
    json_decref(d);
    fails(f, "POST", "users/nobody/policies", "{\"policies\":\"a\"}", KH_EINVAL,
          "does not exist");
}

/* DELETE removes the user: reads 404, login fails, empty LIST 404. */
static void test_user_delete(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];

    fails(f, "LIST", "users/", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "users/bob", "{\"password\":\"pw\"}");
    ok(f, "DELETE", "users/bob", NULL);
    ok(f, "DELETE", "users/bob", NULL);
    fails(f, "GET", "users/bob", NULL, KH_ENOTFOUND, NULL);
    fails(f, "LIST", "users", NULL, KH_ENOTFOUND, NULL);
    assert_int_equal(login(f, "bob", "pw", NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
}

/* Storage holds a salted scrypt hash, never the password; equal passwords
 * hash differently. */
static void test_stored_hash(void **state)
{
    struct fixture_backend *f = *state;
    json_t *a, *b, *pa, *pb;
    char *text;

    ok(f, "POST", "users/a", "{\"password\":\"same-password\"}");
    ok(f, "POST", "users/b", "{\"password\":\"same-password\"}");
    a = stored_user(f, "a");
    b = stored_user(f, "b");
    text = json_dumps(a, JSON_COMPACT);
    assert_null(strstr(text, "same-password"));
    free(text);
    pa = json_object_get(a, "password");
    pb = json_object_get(b, "password");
    assert_string_equal(json_string_value(json_object_get(pa, "kdf")),
                        "scrypt");
    assert_int_equal(json_integer_value(json_object_get(pa, "n")),
                     (json_int_t)USERPASS_SCRYPT_N);
    assert_false(
        json_equal(json_object_get(pa, "salt"), json_object_get(pb, "salt")));
    assert_false(
        json_equal(json_object_get(pa, "hash"), json_object_get(pb, "hash")));
    json_decref(a);
    json_decref(b);
}

/* A stored record with absurd scrypt parameters is refused as corrupt,
 * without attempting the hash. */
static void test_corrupt_hash_params(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE], *text;
    json_t *u;

    ok(f, "POST", "users/bob", "{\"password\":\"pw\"}");
    u = stored_user(f, "bob");
    json_object_set_new(json_object_get(u, "password"), "n",
                        json_integer((json_int_t)1 << 40));
    text = json_dumps(u, JSON_COMPACT);
    assert_int_equal(view_put(&f->mount.view, "user/bob", (const uint8_t *)text,
                              strlen(text)),
                     0);
    free(text);
    json_decref(u);
    assert_int_equal(login(f, "bob", "pw", NULL, errmsg), KH_ECORRUPT);
    fails(f, "GET", "users/bob", NULL, KH_ECORRUPT, NULL);
}

/* Passwords: USERPASS_PASSWORD_BYTES_MAX accepted, one more refused. */
static void test_password_length_limit(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    char *pw = malloc(USERPASS_PASSWORD_BYTES_MAX + 2);
    json_t *body;
    char *text;

    assert_non_null(pw);
    memset(pw, 'p', USERPASS_PASSWORD_BYTES_MAX);
    pw[USERPASS_PASSWORD_BYTES_MAX] = '\0';
    body = json_pack("{s:s}", "password", pw);
    text = json_dumps(body, JSON_COMPACT);
    ok(f, "POST", "users/bob", text);
    free(text);
    json_decref(body);
    assert_int_equal(login(f, "bob", pw, NULL, errmsg), 0);
    pw[USERPASS_PASSWORD_BYTES_MAX] = 'p';
    pw[USERPASS_PASSWORD_BYTES_MAX + 1] = '\0';
    body = json_pack("{s:s}", "password", pw);
    text = json_dumps(body, JSON_COMPACT);
    fails(f, "POST", "users/bob", text, KH_ELIMIT, "password");
    free(text);
    json_decref(body);
    assert_int_equal(login(f, "bob", pw, NULL, errmsg), KH_EINVAL);
    assert_string_equal(errmsg, INVALID);
    free(pw);
}

/* Usernames: USERPASS_NAME_BYTES_MAX accepted, one more refused, bad
 * characters refused. */
static void test_username_limits(void **state)
{
    struct fixture_backend *f = *state;
    char path[USERPASS_NAME_BYTES_MAX + 16];

    memset(path, 0, sizeof(path));
    memcpy(path, "users/", 6);
    memset(path + 6, 'u', USERPASS_NAME_BYTES_MAX);
    ok(f, "POST", path, "{\"password\":\"pw\"}");
    path[6 + USERPASS_NAME_BYTES_MAX] = 'u';
    fails(f, "POST", path, "{\"password\":\"pw\"}", KH_EINVAL, "username");
    fails(f, "POST", "users/.bob", "{\"password\":\"pw\"}", KH_EINVAL,
          "invalid username");
    fails(f, "POST", "users/a$b", "{\"password\":\"pw\"}", KH_EINVAL,
          "invalid username");
    ok(f, "POST", "users/first.last@example.com", "{\"password\":\"pw\"}");
}

/* password_hash (Vault's bcrypt import) is refused, not ignored. */
static void test_password_hash_refused(void **state)
{
    struct fixture_backend *f = *state;

    fails(f, "POST", "users/bob",
          "{\"password_hash\":\"$2a$10$abcdefghijklmnopqrstuv\"}", KH_EINVAL,
          "password_hash");
}

/* token_bound_cidrs are checked at login (permission denied) and passed to
 * the token. */
static void test_login_bound_cidrs(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    struct token_entry *e = calloc(1, sizeof(*e));
    json_t *auth = NULL;

    assert_non_null(e);
    ok(f, "POST", "users/bob",
       "{\"password\":\"pw\",\"bound_cidrs\":\"10.0.0.0/8\"}");
    assert_int_equal(login_from(f, "bob", "pw", "127.0.0.1", NULL, errmsg),
                     KH_EPERM);
    assert_int_equal(login_from(f, "bob", "pw", "10.9.8.7", &auth, errmsg), 0);
    assert_int_equal(
        token_store_lookup(
            f->core->tokens,
            json_string_value(json_object_get(auth, "client_token")), e),
        0);
    assert_int_equal(e->bound_cidr_count, 1);
    json_decref(auth);
    free(e);
}

/* Legacy names are accepted and echoed: ttl, max_ttl, num_uses,
 * bound_cidrs, period. */
static void test_aliases(void **state)
{
    struct fixture_backend *f = *state;
    json_t *d;

    ok(f, "POST", "users/bob",
       "{\"password\":\"pw\",\"ttl\":\"2m\",\"max_ttl\":\"1h\","
       "\"num_uses\":4,\"period\":0,\"bound_cidrs\":[\"::1/128\"]}");
    d = read_data(f, "GET", "users/bob");
    assert_int_equal(json_integer_value(json_object_get(d, "token_ttl")), 120);
    assert_int_equal(json_integer_value(json_object_get(d, "ttl")), 120);
    assert_int_equal(json_integer_value(json_object_get(d, "token_max_ttl")),
                     3600);
    assert_int_equal(json_integer_value(json_object_get(d, "num_uses")), 4);
    assert_true(has_string(json_object_get(d, "bound_cidrs"), "::1/128"));
    assert_true(has_string(json_object_get(d, "token_bound_cidrs"), "::1/128"));
    json_decref(d);
}

/* A token use limit and batch type reach the issued token; invalid token
 * fields are 400s. */
static void test_token_fields(void **state)
{
    struct fixture_backend *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *auth = NULL;

    fails(f, "POST", "users/bob",
          "{\"password\":\"pw\",\"token_type\":\"batch\","
          "\"token_period\":60}",
          KH_EINVAL, "batch");
    fails(f, "GET", "users/bob", NULL, KH_ENOTFOUND, NULL);
    ok(f, "POST", "users/bob",
       "{\"password\":\"pw\",\"token_num_uses\":3,"
       "\"token_no_default_policy\":true,\"token_policies\":\"only\"}");
    assert_int_equal(login(f, "bob", "pw", &auth, errmsg), 0);
    assert_int_equal(json_integer_value(json_object_get(auth, "num_uses")), 3);
    assert_false(has_string(json_object_get(auth, "policies"), "default"));
    assert_true(has_string(json_object_get(auth, "policies"), "only"));
    json_decref(auth);
}

/* Unknown paths are 404, wrong operations 405; only login/:username needs no
 * token. */
static void test_routes(void **state)
{
    struct fixture_backend *f = *state;

    fails(f, "GET", "nope", NULL, KH_ENOTFOUND, "no handler for route");
    fails(f, "GET", "login/bob", NULL, KH_EMETHOD, "unsupported");
    fails(f, "POST", "users", "{}", KH_EMETHOD, NULL);
    fails(f, "GET", "users/bob/password", NULL, KH_EMETHOD, NULL);
    fails(f, "POST", "login", "{}", KH_ENOTFOUND, NULL);
    assert_true(
        userpass_backend_ops.unauthenticated("login/bob", KH_OP_UPDATE));
    assert_false(userpass_backend_ops.unauthenticated("login/bob", KH_OP_READ));
    assert_false(
        userpass_backend_ops.unauthenticated("users/bob", KH_OP_UPDATE));
    assert_true(userpass_backend_ops.is_auth);
    assert_string_equal(userpass_backend_ops.type, "userpass");
}

/* The existence check tells create from update for users/:username. */
static void test_existence(void **state)
{
    struct fixture_backend *f = *state;
    char path[] = "auth/userpass/users/Bob";
    struct kh_request req = {.op = KH_OP_UPDATE, .path = path};
    struct backend_request br;
    bool exists = true;

    assert_int_equal(
        fixture_backend_request(f->core, &f->mount, &req, NULL, &br), 0);
    assert_int_equal(userpass_backend_ops.existence(&br, &exists), 0);
    assert_false(exists);
    ok(f, "POST", "users/bob", "{\"password\":\"pw\"}");
    assert_int_equal(userpass_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
}

/* The KDF itself: verify accepts the password, refuses another, and the
 * stored form round-trips; bad stored forms are corrupt. */
static void test_kdf_roundtrip(void **state)
{
    struct userpass_hash h, back;
    bool match = false;
    json_t *obj;

    (void)state;
    assert_int_equal(userpass_hash_new("hunter2", 7, &h), 0);
    assert_int_equal(userpass_hash_verify(&h, "hunter2", 7, &match), 0);
    assert_true(match);
    assert_int_equal(userpass_hash_verify(&h, "hunter3", 7, &match), 0);
    assert_false(match);
    obj = userpass_hash_encode(&h);
    assert_non_null(obj);
    assert_int_equal(userpass_hash_decode(obj, &back), 0);
    assert_memory_equal(&h, &back, sizeof(h));
    json_object_set_new(obj, "n", json_integer(3)); /* not a power of 2 */
    assert_int_equal(userpass_hash_decode(obj, &back), KH_ECORRUPT);
    json_object_set_new(obj, "n", json_integer(1 << 14));
    json_object_set_new(obj, "salt", json_string("c2hvcnQ="));
    assert_int_equal(userpass_hash_decode(obj, &back), KH_ECORRUPT);
    json_object_set_new(obj, "kdf", json_string("md5"));
    assert_int_equal(userpass_hash_decode(obj, &back), KH_ECORRUPT);
    json_decref(obj);
    kh_wipe(&h, sizeof(h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_user_create_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_username_lowercased, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_issues_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_bad_credentials, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_keeps_password, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_password_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies_endpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_hash_params, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_password_length_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_username_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_hash_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_login_bound_cidrs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existence, setup, teardown),
        cmocka_unit_test(test_kdf_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
