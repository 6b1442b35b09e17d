/*
 * test_lease.c - the lease manager through the real request path: a test
 * secrets engine issues leased credentials, and the tests check renewal,
 * revocation, expiry, retries against a failing backend (revocation never
 * gives up), revoke-prefix/force, persistence across seal, and that
 * disabling a mount revokes its leases first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "core/core.h"
#include "core/request_handle.h"
#include "engines/backend.h"
#include "http/request_parse.h"
#include "lease/lease.h"

#include "lib/fixture.h"

/* ---- a test engine: "creds" issues a leased user ---------------------- */

static int revoked_count;
static int renewed_count;
static bool revoke_fails;
static int issued;

static int test_handle(const struct backend_request *br,
                       struct kh_response *resp, char *errmsg,
                       size_t errmsg_size)
{
    unsigned long long ttl = 0;
    char user[32];
    int r;

    if (strncmp(br->subpath, "creds", 5) != 0)
        return backend_no_route(br, errmsg, errmsg_size);
    r = kh_request_uint(br->req, "ttl", 0, 1000000, &ttl, errmsg,
                        errmsg_size);
    if (r != 0)
        return r;
    snprintf(user, sizeof(user), "u%d", ++issued);
    r = kh_response_envelope(resp, br->req,
                             json_pack("{s:s}", "username", user));
    resp->lease.requested = true;
    resp->lease.internal = json_pack("{s:s}", "user", user);
    resp->lease.ttl_s = ttl;
    resp->lease.renewable = true;
    return r;
}

static int test_revoke(const struct backend_request *br,
                       const json_t *internal, char *errmsg,
                       size_t errmsg_size)
{
    assert_non_null(json_object_get(internal, "user"));
    if (revoke_fails)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "database down");
    revoked_count++;
    return 0;
}

static int test_renew(const struct backend_request *br,
                      const json_t *internal, uint64_t ttl_s, char *errmsg,
                      size_t errmsg_size)
{
    renewed_count++;
    return 0;
}

static const struct backend_ops test_ops = {
    .type = "leasetest",
    .handle = test_handle,
    .revoke = test_revoke,
    .renew = test_renew,
};

/* ---- fixture: a real core on LMDB, initialised and unsealed ---------- */

struct fixture
{
    struct fixture_core fc;
};

static int status_of(struct fixture *f, const char *method, const char *path,
                     const char *body, json_t **ret_body)
{
    struct fixture_request spec = {method, path, body, f->fc.root_token,
                                   NULL};
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

    if (fixture_core_open(&f.fc, "lease", NULL, errmsg, sizeof(errmsg)) != 0 ||
        fixture_core_init_unseal(&f.fc, errmsg, sizeof(errmsg)) != 0)
        fail_msg("core: %s", errmsg);
    assert_int_equal(status_of(&f, "POST", "/v1/sys/mounts/db",
                               "{\"type\":\"leasetest\","
                               "\"config\":{\"max_lease_ttl\":\"1h\"}}",
                               NULL), 204);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(fixture_core_close(&f->fc), 0);
    return 0;
}

/* Issue creds and return the lease id (caller frees). */
static char *issue(struct fixture *f, const char *ttl)
{
    char path[64];
    json_t *body = NULL;
    char *id;

    snprintf(path, sizeof(path), "/v1/db/creds/app?ttl=%s", ttl);
    assert_int_equal(status_of(f, "GET", path, NULL, &body), 200);
    id = strdup(json_string_value(json_object_get(body, "lease_id")));
    json_decref(body);
    return id;
}

/* A leased secret carries lease_id, lease_duration and renewable. */
static void test_issue_sets_lease_fields(void **state)
{
    struct fixture *f = *state;
    json_t *body = NULL;

    assert_int_equal(status_of(f, "GET", "/v1/db/creds/app?ttl=60", NULL,
                               &body), 200);
    assert_int_equal(strncmp(json_string_value(json_object_get(
                                 body, "lease_id")), "db/creds/app/", 13), 0);
    assert_int_equal(json_integer_value(json_object_get(body,
                                                        "lease_duration")),
                     60);
    assert_true(json_is_true(json_object_get(body, "renewable")));
    json_decref(body);
}

/* The mount's max TTL caps what the engine asks for. */
static void test_ttl_capped_by_mount_max(void **state)
{
    struct fixture *f = *state;
    json_t *body = NULL;

    assert_int_equal(status_of(f, "GET", "/v1/db/creds/app?ttl=999999", NULL,
                               &body), 200);
    assert_int_equal(json_integer_value(json_object_get(body,
                                                        "lease_duration")),
                     3600);
    json_decref(body);
}

/* lookup and renew through sys/leases, renew capped at the max. */
static void test_lookup_and_renew(void **state)
{
    struct fixture *f = *state;
    char *id = issue(f, "60");
    char body[600];
    json_t *out = NULL;
    int before = renewed_count;

    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\"}", id);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/lookup", body, &out),
                     200);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(out, "data"), "ttl")) <= 60);
    json_decref(out);
    snprintf(body, sizeof(body),
             "{\"lease_id\":\"%s\",\"increment\":\"2h\"}", id);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/renew", body, &out),
                     200);
    assert_true(json_integer_value(json_object_get(out, "lease_duration")) <=
                3600);
    assert_int_equal(renewed_count, before + 1);
    json_decref(out);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/lookup",
                               "{\"lease_id\":\"db/creds/app/nope\"}", &out),
                     400);
    json_decref(out);
    free(id);
}

/* Revoking calls the backend and forgets the lease. */
static void test_revoke_lease(void **state)
{
    struct fixture *f = *state;
    char *id = issue(f, "60");
    char body[600];
    int before = revoked_count;

    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\"}", id);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/revoke", body, NULL),
                     204);
    assert_int_equal(revoked_count, before + 1);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/lookup", body, NULL),
                     400);
    free(id);
}

/* A lease is revoked by the expiry pass once its TTL has passed. */
static void test_expiry(void **state)
{
    struct fixture *f = *state;
    char *id = issue(f, "1");
    int before = revoked_count;

    assert_int_equal(lease_expire_due(f->fc.core->leases), 0);
    sleep(2);
    assert_true(lease_expire_due(f->fc.core->leases) >= 1 ||
                revoked_count > before); /* the thread may win the race */
    assert_true(revoked_count > before);
    free(id);
}

/* A failing backend keeps the lease, records attempts, retries later. */
static void test_failed_revocation_is_retried(void **state)
{
    struct fixture *f = *state;
    char *id = issue(f, "1");
    char body[600];
    json_t *out = NULL;
    int before = revoked_count;

    revoke_fails = true;
    sleep(2);
    (void)lease_expire_due(f->fc.core->leases);
    snprintf(body, sizeof(body), "{\"lease_id\":\"%s\"}", id);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/lookup", body, &out),
                     200);
    assert_true(json_integer_value(json_object_get(
                    json_object_get(out, "data"), "revoke_attempts")) >= 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(out, "data"),
                            "last_revoke_error")), "database down");
    json_decref(out);
    assert_int_equal(revoked_count, before);
    revoke_fails = false;
    sleep(3); /* past the backoff */
    (void)lease_expire_due(f->fc.core->leases);
    assert_int_equal(revoked_count, before + 1);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/lookup", body, NULL),
                     400);
    free(id);
}

/* revoke-prefix revokes all; revoke-force drops what the backend refuses. */
static void test_revoke_prefix_and_force(void **state)
{
    struct fixture *f = *state;
    char *a = issue(f, "600"), *b = issue(f, "600");
    int before = revoked_count;

    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/revoke-prefix/db/"
                                         "creds/", NULL, NULL), 204);
    assert_true(revoked_count >= before + 2); /* and earlier tests' leases */
    assert_int_equal(lease_count(f->fc.core->leases), 0);
    free(a);
    free(b);
    a = issue(f, "600");
    revoke_fails = true;
    assert_int_equal(status_of(f, "PUT", "/v1/sys/revoke-prefix/db/", NULL,
                               NULL), 503);
    assert_true(lease_count(f->fc.core->leases) >= 1);
    assert_int_equal(status_of(f, "PUT", "/v1/sys/leases/revoke-force/db/",
                               NULL, NULL), 204);
    assert_int_equal(lease_count(f->fc.core->leases), 0);
    revoke_fails = false;
    free(a);
}

/* Leases survive seal and unseal, and LIST shows them. */
static void test_persist_and_list(void **state)
{
    struct fixture *f = *state;
    char *id = issue(f, "600");
    char errmsg[KH_ERRMSG_SIZE];
    uint8_t key[32];
    size_t key_len = 0, count = lease_count(f->fc.core->leases);
    json_t *out = NULL;

    assert_int_equal(kh_core_seal(f->fc.core), 0);
    assert_int_equal(kh_hex_decode(f->fc.unseal_key,
                                   strlen(f->fc.unseal_key), key, sizeof(key),
                                   &key_len), 0);
    assert_int_equal(kh_core_unseal(f->fc.core, key, key_len, false, errmsg,
                                    sizeof(errmsg)), 0);
    assert_int_equal(lease_count(f->fc.core->leases), count);
    assert_int_equal(status_of(f, "LIST", "/v1/sys/leases/lookup/db/creds/app",
                               NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(out, "data"), "keys")), count);
    json_decref(out);
    free(id);
}

/* Disabling a mount revokes its leases first; a failing backend keeps
 * the mount. */
static void test_unmount_revokes(void **state)
{
    struct fixture *f = *state;
    char *id = issue(f, "600");
    int before = revoked_count;

    revoke_fails = true;
    assert_int_equal(status_of(f, "DELETE", "/v1/sys/mounts/db", NULL, NULL),
                     503);
    assert_int_equal(status_of(f, "GET", "/v1/db/creds/x?ttl=5", NULL, NULL),
                     200);
    revoke_fails = false;
    assert_int_equal(status_of(f, "DELETE", "/v1/sys/mounts/db", NULL, NULL),
                     204);
    assert_true(revoked_count >= before + 2);
    assert_int_equal(lease_count(f->fc.core->leases), 0);
    assert_int_equal(status_of(f, "GET", "/v1/db/creds/x", NULL, NULL), 404);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_sets_lease_fields),
        cmocka_unit_test(test_ttl_capped_by_mount_max),
        cmocka_unit_test(test_lookup_and_renew),
        cmocka_unit_test(test_revoke_lease),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_failed_revocation_is_retried),
        cmocka_unit_test(test_revoke_prefix_and_force),
        cmocka_unit_test(test_persist_and_list),
        cmocka_unit_test(test_unmount_revokes),
    };

    if (backend_registry_add(&test_ops) != 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
