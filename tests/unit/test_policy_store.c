/*
 * test_policy_store.c - the policy store (hostd/policy/policy_store.c)
 * over a real barrier on LMDB in a fresh temporary directory: CRUD, the
 * built-in `default` and the implicit `root`, names, the compiled cache
 * (invalidation on overwrite and delete, references that outlive an
 * overwrite, negative entries, seal), ACLs for a token's policy names,
 * the ACL cache (a policy change decides the very next acquire; a held
 * ACL outlives the change), corrupt records, and concurrent readers
 * against a writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "barrier/barrier.h"
#include "common/err.h"
#include "common/secret.h"
#include "policy/policy_store.h"
#include "storage/storage.h"

#include "lib/fixture.h"

#define READ_P   "path \"secret/*\" { capabilities = [\"read\"] }\n"
#define UPDATE_P "path \"secret/*\" { capabilities = [\"update\"] }\n"

struct fixture
{
    struct fixture_store db;
    struct policy_store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_non_null(f);
    if (fixture_store_open(&f->db, "policy", "db", errmsg, sizeof(errmsg)))
        fail_msg("store: %s", errmsg);
    assert_int_equal(policy_store_create(f->db.barrier, &f->store), 0);
    assert_int_equal(policy_store_setup(f->store), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    policy_store_free(f->store);
    assert_int_equal(fixture_store_close(&f->db), 0);
    free(f);
    return 0;
}

static void put_ok(struct policy_store *store, const char *name,
                   const char *text)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r = policy_store_put(store, name, text, strlen(text), errmsg,
                             sizeof(errmsg));

    if (r != 0)
        fail_msg("put %s: %d %s", name, r, errmsg);
}

/* Whether the ACL of names allows op on path. */
static bool allows(struct policy_store *store, const char *const *names,
                   size_t count, const char *path, enum kh_operation op)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct acl *acl = NULL;
    int r;

    assert_int_equal(policy_store_acl_for(store, names, count, &acl), 0);
    r = acl_check(acl, path, op, false, NULL, NULL, errmsg, sizeof(errmsg));
    acl_free(acl);
    assert_true(r == 0 || r == KH_EPERM);
    return r == 0;
}

/* Whether the cached ACL of names allows op on path. */
static bool cached_allows(struct policy_store *store, const char *const *names,
                          size_t count, const char *path, enum kh_operation op)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct policy_store_acl *held = NULL;
    int r;

    assert_int_equal(policy_store_acl_acquire(store, names, count, &held), 0);
    r = acl_check(policy_store_acl_of(held), path, op, false, NULL, NULL,
                  errmsg, sizeof(errmsg));
    policy_store_acl_release(held);
    assert_true(r == 0 || r == KH_EPERM);
    return r == 0;
}

/* setup() writes `default` with the §8.4 self-service grants only. */
static void test_default_policy(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"default"};
    struct policy *p = NULL;

    assert_int_equal(policy_store_get_compiled(f->store, "default", &p), 0);
    assert_non_null(strstr(p->text, "auth/token/lookup-self"));
    policy_unref(p);
    assert_true(
        allows(f->store, names, 1, "auth/token/lookup-self", KH_OP_READ));
    assert_true(
        allows(f->store, names, 1, "auth/token/renew-self", KH_OP_UPDATE));
    assert_true(
        allows(f->store, names, 1, "auth/token/revoke-self", KH_OP_UPDATE));
    assert_true(
        allows(f->store, names, 1, "sys/capabilities-self", KH_OP_UPDATE));
    assert_true(allows(f->store, names, 1, "sys/leases/renew", KH_OP_UPDATE));
    assert_true(allows(f->store, names, 1, "sys/leases/lookup", KH_OP_UPDATE));
    assert_true(allows(f->store, names, 1, "sys/renew", KH_OP_UPDATE));
    assert_true(allows(f->store, names, 1, "cubbyhole/a/b", KH_OP_CREATE));
    assert_true(allows(f->store, names, 1, "cubbyhole/a/", KH_OP_LIST));
    assert_true(
        allows(f->store, names, 1, "sys/wrapping/unwrap", KH_OP_UPDATE));
    assert_true(
        allows(f->store, names, 1, "sys/tools/hash/sha2-256", KH_OP_UPDATE));
    assert_true(allows(f->store, names, 1, "sys/internal/ui/resultant-acl",
                       KH_OP_READ));
    assert_false(
        allows(f->store, names, 1, "auth/token/lookup-self", KH_OP_UPDATE));
    assert_false(allows(f->store, names, 1, "secret/x", KH_OP_READ));
    assert_false(allows(f->store, names, 1, "sys/policy", KH_OP_READ));
}

/* setup() keeps an edited `default`: it only writes a missing one. */
static void test_setup_keeps_edited_default(void **state)
{
    struct fixture *f = *state;
    struct policy *p = NULL;

    put_ok(f->store, "default", READ_P);
    assert_int_equal(policy_store_setup(f->store), 0);
    policy_store_seal(f->store); /* reload from the barrier */
    assert_int_equal(policy_store_get_compiled(f->store, "default", &p), 0);
    assert_string_equal(p->text, READ_P);
    policy_unref(p);
}

/* put, get, list and delete round-trip through the barrier. */
static void test_crud(void **state)
{
    struct fixture *f = *state;
    struct kh_storage_list list = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct policy *p = NULL;
    uint8_t *value = NULL;
    size_t len = 0;

    put_ok(f->store, "p1", READ_P);
    assert_int_equal(policy_store_get_compiled(f->store, "p1", &p), 0);
    assert_string_equal(p->name, "p1");
    assert_string_equal(p->text, READ_P);
    policy_unref(p);
    /* the record under sys/policy/p1 */
    assert_int_equal(barrier_get(f->db.barrier, "sys/policy/p1", &value, &len),
                     0);
    assert_non_null(memmem(value, len, "\"name\":\"p1\"", 11));
    kh_free_secret(value, len);
    assert_int_equal(policy_store_list(f->store, &list), 0);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.keys[0], "default");
    assert_string_equal(list.keys[1], "p1");
    kh_storage_list_free(&list);
    assert_int_equal(
        policy_store_delete(f->store, "p1", errmsg, sizeof(errmsg)), 0);
    assert_int_equal(policy_store_get_compiled(f->store, "p1", &p),
                     KH_ENOTFOUND);
    assert_int_equal(
        policy_store_delete(f->store, "p1", errmsg, sizeof(errmsg)), 0);
    assert_int_equal(policy_store_list(f->store, &list), 0);
    assert_int_equal(list.count, 1);
    kh_storage_list_free(&list);
}

/* root cannot be written, read or deleted; default cannot be deleted. */
static void test_builtin_names_refused(void **state)
{
    struct fixture *f = *state;
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct policy *p = NULL;

    assert_int_equal(policy_store_put(f->store, "root", READ_P, strlen(READ_P),
                                      errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    assert_string_equal(errmsg, "cannot update \"root\" policy");
    assert_int_equal(policy_store_get_compiled(f->store, "root", &p),
                     KH_ENOTFOUND);
    assert_int_equal(
        policy_store_delete(f->store, "root", errmsg, sizeof(errmsg)),
        KH_EINVAL);
    assert_string_equal(errmsg, "cannot delete \"root\" policy");
    assert_int_equal(
        policy_store_delete(f->store, "default", errmsg, sizeof(errmsg)),
        KH_EINVAL);
    assert_string_equal(errmsg, "cannot delete \"default\" policy");
    assert_int_equal(policy_store_get_compiled(f->store, "default", &p), 0);
    policy_unref(p);
}

/* Names: lowercase printable ASCII without '/', 1..127 bytes. */
static void test_names(void **state)
{
    struct fixture *f = *state;
    char errmsg[KH_ERRMSG_SIZE] = "";
    char name[POLICY_NAME_BYTES_MAX + 2];
    struct policy *p = NULL;

    assert_true(policy_store_name_valid("app-1_x.y@z"));
    assert_false(policy_store_name_valid("App"));
    assert_false(policy_store_name_valid("a/b"));
    assert_false(policy_store_name_valid("a b"));
    assert_false(policy_store_name_valid(""));
    memset(name, 'n', sizeof(name));
    name[POLICY_NAME_BYTES_MAX] = '\0';
    put_ok(f->store, name, READ_P);
    assert_int_equal(policy_store_get_compiled(f->store, name, &p), 0);
    policy_unref(p);
    name[POLICY_NAME_BYTES_MAX] = 'n';
    name[POLICY_NAME_BYTES_MAX + 1] = '\0';
    assert_int_equal(policy_store_put(f->store, name, READ_P, strlen(READ_P),
                                      errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    assert_int_equal(policy_store_put(f->store, "a/b", READ_P, strlen(READ_P),
                                      errmsg, sizeof(errmsg)),
                     KH_EINVAL);
}

/* A policy that does not parse is refused with line:col and not stored. */
static void test_parse_error_not_stored(void **state)
{
    struct fixture *f = *state;
    const char *bad = "path \"a\" {\n  capabilities = [\"rread\"]\n}";
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct policy *p = NULL;

    assert_int_equal(policy_store_put(f->store, "bad", bad, strlen(bad), errmsg,
                                      sizeof(errmsg)),
                     KH_EINVAL);
    assert_string_equal(errmsg, "failed to parse policy: bad:2:19: invalid "
                                "capability \"rread\"");
    assert_int_equal(policy_store_get_compiled(f->store, "bad", &p),
                     KH_ENOTFOUND);
}

/* Overwriting replaces the cached compiled policy; a reference taken
 * before stays valid and unchanged. */
static void test_cache_overwrite(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"p1"};
    struct policy *before = NULL, *after = NULL;

    put_ok(f->store, "p1", READ_P);
    assert_int_equal(policy_store_get_compiled(f->store, "p1", &before), 0);
    assert_true(allows(f->store, names, 1, "secret/x", KH_OP_READ));
    put_ok(f->store, "p1", UPDATE_P);
    assert_false(allows(f->store, names, 1, "secret/x", KH_OP_READ));
    assert_true(allows(f->store, names, 1, "secret/x", KH_OP_UPDATE));
    assert_int_equal(policy_store_get_compiled(f->store, "p1", &after), 0);
    assert_ptr_not_equal(before, after);
    assert_string_equal(before->text, READ_P);
    assert_string_equal(after->text, UPDATE_P);
    policy_unref(before);
    policy_unref(after);
    /* delete invalidates too */
    {
        char errmsg[KH_ERRMSG_SIZE];
        assert_int_equal(
            policy_store_delete(f->store, "p1", errmsg, sizeof(errmsg)), 0);
    }
    assert_false(allows(f->store, names, 1, "secret/x", KH_OP_UPDATE));
}

/* A name looked up before it exists is found once written. */
static void test_negative_cache(void **state)
{
    struct fixture *f = *state;
    struct policy *p = NULL;

    assert_int_equal(policy_store_get_compiled(f->store, "later", &p),
                     KH_ENOTFOUND);
    assert_int_equal(policy_store_get_compiled(f->store, "later", &p),
                     KH_ENOTFOUND);
    put_ok(f->store, "later", READ_P);
    assert_int_equal(policy_store_get_compiled(f->store, "later", &p), 0);
    policy_unref(p);
    policy_store_invalidate(f->store, "later");
    assert_int_equal(policy_store_get_compiled(f->store, "later", &p), 0);
    policy_unref(p);
}

/* Seal drops the cache; a sealed barrier answers KH_ESEALED. */
static void test_seal(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"p1"};
    struct acl *acl = NULL;
    struct policy *p = NULL;

    put_ok(f->store, "p1", READ_P);
    policy_store_seal(f->store);
    assert_int_equal(policy_store_get_compiled(f->store, "p1", &p), 0);
    policy_unref(p);
    policy_store_seal(f->store);
    barrier_seal(f->db.barrier);
    assert_int_equal(policy_store_get_compiled(f->store, "p1", &p), KH_ESEALED);
    assert_int_equal(policy_store_acl_for(f->store, names, 1, &acl),
                     KH_ESEALED);
    assert_null(acl);
    assert_int_equal(policy_store_setup(f->store), KH_ESEALED);
}

/* ACLs for a token: root wins, unknown names grant nothing, policies
 * merge, more than ACL_POLICIES_MAX names is refused. */
static void test_acl_for(void **state)
{
    struct fixture *f = *state;
    const char *both[] = {"p1", "ghost", "p2"};
    const char *with_root[] = {"p1", "root"};
    const char *ghost[] = {"ghost", "Invalid/Name"};
    const char *many[ACL_POLICIES_MAX + 1];
    struct acl *acl = NULL;
    size_t i;

    put_ok(f->store, "p1", READ_P);
    put_ok(f->store, "p2", UPDATE_P);
    assert_true(allows(f->store, both, 3, "secret/x", KH_OP_READ));
    assert_true(allows(f->store, both, 3, "secret/x", KH_OP_UPDATE));
    assert_false(allows(f->store, both, 3, "secret/x", KH_OP_DELETE));
    assert_true(allows(f->store, with_root, 2, "sys/anything", KH_OP_DELETE));
    assert_int_equal(policy_store_acl_for(f->store, with_root, 2, &acl), 0);
    assert_true(acl_is_root(acl));
    acl_free(acl);
    assert_false(allows(f->store, ghost, 2, "secret/x", KH_OP_READ));
    for (i = 0; i < KH_ARRAY_LEN(many); i++)
        many[i] = "p1";
    assert_true(
        allows(f->store, many, ACL_POLICIES_MAX, "secret/x", KH_OP_READ));
    acl = NULL;
    assert_int_equal(
        policy_store_acl_for(f->store, many, ACL_POLICIES_MAX + 1, &acl),
        KH_ELIMIT);
    assert_null(acl);
}

/* The ACL cache: a second acquire of the same names shares the cached
 * ACL; every put, delete, invalidate and seal changes the very next
 * decision; a reference held across a change stays valid and keeps the
 * old decision. */
static void test_acl_cache_follows_changes(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"default", "p1"};
    const char *with_new[] = {"default", "later", "p1"};
    const char *delete_record =
        "{\"version\":1,\"name\":\"p1\",\"policy\":"
        "\"path \\\"secret/*\\\" { capabilities = [\\\"delete\\\"] }\"}";
    struct policy_store_acl *first = NULL, *second = NULL;
    char errmsg[KH_ERRMSG_SIZE];

    put_ok(f->store, "p1", READ_P);
    assert_int_equal(policy_store_acl_acquire(f->store, names, 2, &first), 0);
    assert_int_equal(policy_store_acl_acquire(f->store, names, 2, &second), 0);
    assert_ptr_equal(first, second); /* cached */
    policy_store_acl_release(second);
    put_ok(f->store, "p1", UPDATE_P);
    /* the held ACL still decides as before the change */
    assert_int_equal(acl_check(policy_store_acl_of(first), "secret/x",
                               KH_OP_READ, false, NULL, NULL, errmsg,
                               sizeof(errmsg)),
                     0);
    assert_false(cached_allows(f->store, names, 2, "secret/x", KH_OP_READ));
    assert_true(cached_allows(f->store, names, 2, "secret/x", KH_OP_UPDATE));
    policy_store_acl_release(first);
    /* a policy created after the set was cached joins at once */
    assert_false(cached_allows(f->store, with_new, 3, "other/x", KH_OP_READ));
    put_ok(f->store, "later", "path \"other/*\" { capabilities = "
                              "[\"read\"] }\n");
    assert_true(cached_allows(f->store, with_new, 3, "other/x", KH_OP_READ));
    assert_int_equal(
        policy_store_delete(f->store, "p1", errmsg, sizeof(errmsg)), 0);
    assert_false(cached_allows(f->store, names, 2, "secret/x", KH_OP_UPDATE));
    /* a record rewritten behind the store's back counts once invalidated */
    assert_int_equal(barrier_put(f->db.barrier, "sys/policy/p1",
                                 (const uint8_t *)delete_record,
                                 strlen(delete_record)),
                     0);
    policy_store_invalidate(f->store, "p1");
    assert_true(cached_allows(f->store, names, 2, "secret/x", KH_OP_DELETE));
    /* seal: nothing is answered from the cache while sealed */
    policy_store_seal(f->store);
    barrier_seal(f->db.barrier);
    assert_int_equal(policy_store_acl_acquire(f->store, names, 2, &first),
                     KH_ESEALED);
}

/* The ACL cache answers exactly like policy_store_acl_for: root wins, an
 * unknown name grants nothing, the same set in another order is the same
 * decision, more than ACL_POLICIES_MAX names is refused, and more sets
 * than POLICY_ACL_CACHE_MAX are all still decided right. */
static void test_acl_cache_matches_acl_for(void **state)
{
    struct fixture *f = *state;
    const char *with_root[] = {"p1", "root"};
    const char *ab[] = {"p1", "p2"};
    const char *ba[] = {"p2", "p1"};
    const char *many[ACL_POLICIES_MAX + 1];
    struct policy_store_acl *held = NULL;
    char names[POLICY_ACL_CACHE_MAX * 2][16];
    const char *set[2];
    size_t i;

    put_ok(f->store, "p1", READ_P);
    put_ok(f->store, "p2", UPDATE_P);
    assert_int_equal(policy_store_acl_acquire(f->store, with_root, 2, &held),
                     0);
    assert_true(acl_is_root(policy_store_acl_of(held)));
    policy_store_acl_release(held);
    assert_true(cached_allows(f->store, ab, 2, "secret/x", KH_OP_UPDATE));
    assert_true(cached_allows(f->store, ba, 2, "secret/x", KH_OP_READ));
    assert_false(cached_allows(f->store, ba, 2, "secret/x", KH_OP_DELETE));
    for (i = 0; i < KH_ARRAY_LEN(many); i++)
        many[i] = "p1";
    held = NULL;
    assert_int_equal(
        policy_store_acl_acquire(f->store, many, ACL_POLICIES_MAX + 1, &held),
        KH_ELIMIT);
    assert_null(held);
    /* twice the cache's size of distinct sets, two rounds: evictions */
    for (i = 0; i < KH_ARRAY_LEN(names); i++)
        snprintf(names[i], sizeof(names[i]), "ghost-%zu", i);
    for (i = 0; i < 2 * KH_ARRAY_LEN(names); i++) {
        size_t n = i % KH_ARRAY_LEN(names);
        set[0] = names[n];
        set[1] = n % 2 ? "p1" : "p2";
        assert_true(cached_allows(f->store, set, 2, "secret/x",
                                  n % 2 ? KH_OP_READ : KH_OP_UPDATE));
        assert_false(cached_allows(f->store, set, 2, "secret/x",
                                   n % 2 ? KH_OP_UPDATE : KH_OP_READ));
    }
}

/* A stored record that does not decode is KH_ECORRUPT, not a policy. */
static void test_corrupt_record(void **state)
{
    struct fixture *f = *state;
    const char *junk = "{\"version\":1,\"name\":\"other\",\"policy\":\"\"}";
    const char *bad = "{\"version\":1,\"name\":\"bad\",\"policy\":\"x {\"}";
    struct policy *p = NULL;

    assert_int_equal(barrier_put(f->db.barrier, "sys/policy/junk",
                                 (const uint8_t *)junk, strlen(junk)),
                     0);
    assert_int_equal(policy_store_get_compiled(f->store, "junk", &p),
                     KH_ECORRUPT);
    assert_int_equal(barrier_put(f->db.barrier, "sys/policy/bad",
                                 (const uint8_t *)bad, strlen(bad)),
                     0);
    assert_int_equal(policy_store_get_compiled(f->store, "bad", &p),
                     KH_ECORRUPT);
    assert_null(p);
}

#define READERS           4
#define READER_ROUNDS_MIN 200
#define WRITER_ROUNDS     100

static atomic_bool writer_done;

static void *reader(void *arg)
{
    struct policy_store *store = arg;
    const char *names[] = {"hot", "default"};
    char errmsg[KH_ERRMSG_SIZE];
    int i, r;

    /* at least READER_ROUNDS_MIN rounds, and on until the writer stops */
    for (i = 0; i < READER_ROUNDS_MIN || !atomic_load(&writer_done); i++) {
        struct policy *p = NULL;
        struct acl *acl = NULL;
        struct policy_store_acl *held = NULL;
        if (policy_store_get_compiled(store, "hot", &p) == 0) {
            if (p->rules.glob_count != 1 || strlen(p->text) == 0)
                return (void *)1;
            policy_unref(p);
        }
        if (policy_store_acl_for(store, names, 2, &acl) != 0)
            return (void *)1;
        r = acl_check(acl, "secret/x", KH_OP_READ, false, NULL, NULL, errmsg,
                      sizeof(errmsg));
        acl_free(acl);
        if (r != 0 && r != KH_EPERM)
            return (void *)1;
        if (policy_store_acl_acquire(store, names, 2, &held) != 0)
            return (void *)1;
        r = acl_check(policy_store_acl_of(held), "secret/x", KH_OP_READ,
                      false, NULL, NULL, errmsg, sizeof(errmsg));
        policy_store_acl_release(held);
        if (r != 0 && r != KH_EPERM)
            return (void *)1;
    }
    return NULL;
}

/* Readers evaluate while a writer overwrites: no torn or freed policy
 * (ASan reports any use after free). */
static void test_concurrent_overwrite(void **state)
{
    struct fixture *f = *state;
    pthread_t threads[READERS];
    void *ret;
    int i;

    put_ok(f->store, "hot", READ_P);
    atomic_store(&writer_done, false);
    for (i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, reader, f->store),
                         0);
    for (i = 0; i < WRITER_ROUNDS; i++)
        put_ok(f->store, "hot", (i % 2) ? READ_P : UPDATE_P);
    atomic_store(&writer_done, true);
    for (i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(threads[i], &ret), 0);
        assert_null(ret);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_keeps_edited_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_builtin_names_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_error_not_stored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negative_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_cache_follows_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_acl_cache_matches_acl_for, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_overwrite, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
