/*
 * test_token_store.c - the token store and the `token` auth backend
 * (hostd/token/) over a real barrier on LMDB in a temp directory.
 *
 * Requests are built from wire pieces with http_request_build() as the
 * server does, passed through a miniature gate (token_store_use() for the
 * caller's token, as core/request.c will call it) and answered by
 * token_backend_ops.handle(); errors are mapped with http_response_error()
 * so every check sees the status and body a client would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "core/core.h"
#include "http/request_parse.h"
#include "http/response.h"
#include "mount/mount_table.h"
#include "token/token_backend.h"
#include "token/token_internal.h"
#include "token/token_store.h"

#include "lib/fixture.h"

struct fixture
{
    struct fixture_store db;
    struct token_store *store;
    struct kh_config *config;
    struct kh_core core;      /* only tokens and config are used */
    struct mount_entry mount; /* auth/token/ */
    char root[TOKEN_ID_BYTES_MAX + 1];
};

/* One answer: HTTP status and the parsed body (NULL for 204). */
struct answer
{
    unsigned status;
    json_t *body;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE];

    assert_non_null(f);
    if (fixture_store_open(&f->db, "token", "data", errmsg, sizeof(errmsg)))
        fail_msg("store: %s", errmsg);
    assert_int_equal(token_store_create(f->db.barrier, &f->store), 0);
    assert_int_equal(token_store_setup(f->store), 0);
    assert_int_equal(
        token_store_create_root(f->store, NULL, f->root, sizeof(f->root)), 0);
    f->config = kh_config_new();
    assert_non_null(f->config);
    f->core.tokens = f->store;
    f->core.config = f->config;
    strcpy(f->mount.path, "auth/token/");
    strcpy(f->mount.type, "token");
    f->mount.is_auth = true;
    f->mount.ops = &token_backend_ops;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    token_store_free(f->store);
    kh_config_free(f->config);
    assert_int_equal(fixture_store_close(&f->db), 0);
    kh_wipe(f, sizeof(*f));
    free(f);
    return 0;
}

static void answer_clear(struct answer *a)
{
    json_decref(a->body);
    memset(a, 0, sizeof(*a));
}

/* method /v1/auth/token/<sub> with body (JSON text or NULL), as token,
 * from remote (NULL: 127.0.0.1). The mini gate: token_store_use, bound
 * CIDRs; sudo and ACL are the real gate's and not exercised here. */
static struct answer call_from(struct fixture *f, const char *method,
                               const char *sub, const char *body,
                               const char *token, const char *remote)
{
    struct fixture_request spec = {method, NULL, body, token, remote};
    struct kh_request req;
    struct kh_response resp = {0};
    struct token_entry *entry = malloc(sizeof(*entry));
    struct backend_request br;
    char errmsg[KH_ERRMSG_SIZE] = "";
    char url[512];
    struct answer a = {0};
    int r;

    assert_non_null(entry);
    snprintf(url, sizeof(url), "/v1/auth/token/%s", sub);
    spec.url = url;
    r = fixture_request_build(&spec, &req, errmsg, sizeof(errmsg));
    assert_int_equal(r, 0);
    r = token_store_use(f->store, req.token, entry);
    if (r == 0 && !token_entry_cidr_ok(entry, req.remote_addr))
        r = KH_EPERM;
    if (r == 0) {
        assert_int_equal(
            fixture_backend_request(&f->core, &f->mount, &req, entry, &br), 0);
        r = token_backend_ops.handle(&br, &resp, errmsg, sizeof(errmsg));
    } else {
        errmsg[0] = '\0';
    }
    if (r != 0)
        http_response_error(&resp, r, errmsg);
    a.status = resp.status == 0 ? 200 : (unsigned)resp.status;
    a.body = resp.body;
    resp.body = NULL;
    kh_response_clear(&resp);
    kh_request_clear(&req);
    free(entry);
    return a;
}

static struct answer call(struct fixture *f, const char *method,
                          const char *sub, const char *body, const char *token)
{
    return call_from(f, method, sub, body, token, NULL);
}

/* POST create (sub) as token; returns the new client token (static). */
static const char *create_as(struct fixture *f, const char *sub,
                             const char *body, const char *token,
                             char out[TOKEN_ID_BYTES_MAX + 1])
{
    struct answer a = call(f, "POST", sub, body, token);
    const char *id;

    if (a.status != 200)
        fprintf(stderr, "create %s: %u %s\n", sub, a.status,
                json_dumps(a.body, 0));
    assert_int_equal(a.status, 200);
    id = json_string_value(
        json_object_get(json_object_get(a.body, "auth"), "client_token"));
    assert_non_null(id);
    snprintf(out, TOKEN_ID_BYTES_MAX + 1, "%s", id);
    answer_clear(&a);
    return out;
}

/* The auth block field of a create/renew answer. */
static json_t *auth_field(const struct answer *a, const char *name)
{
    return json_object_get(json_object_get(a->body, "auth"), name);
}

static json_t *data_field(const struct answer *a, const char *name)
{
    return json_object_get(json_object_get(a->body, "data"), name);
}

static const char *first_error(const struct answer *a)
{
    return json_string_value(
        json_array_get(json_object_get(a->body, "errors"), 0));
}

static bool token_valid(struct fixture *f, const char *id)
{
    struct token_entry e;

    return token_store_lookup(f->store, id, &e) == 0;
}

/* The policies array of a lookup as "a,b,c". */
static void policies_text(struct fixture *f, const char *id, char *out,
                          size_t size)
{
    struct token_entry e;
    size_t i, n = 0;

    out[0] = '\0';
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    for (i = 0; i < e.policy_count; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "," : "",
                              e.policies[i]);
}

/* A non-root token with policies a and default (child of root). */
static const char *make_user(struct fixture *f,
                             char out[TOKEN_ID_BYTES_MAX + 1])
{
    return create_as(f, "create", "{\"policies\":[\"a\"]}", f->root, out);
}

/* ---------------------------------------------------------------- */

/* Create then lookup: "hvs." + 24 base62 ID, sorted policies + default. */
static void test_create_lookup(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], pol[256];
    size_t i;

    create_as(f, "create", "{\"policies\":[\"b\",\"a\",\"b\"]}", f->root, id);
    assert_int_equal(strlen(id), 4 + TOKEN_RANDOM_CHARS);
    assert_memory_equal(id, "hvs.", 4);
    for (i = 4; id[i] != '\0'; i++)
        assert_true(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
                           "mnopqrstuvwxyz",
                           id[i]) != NULL);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "a,b,default");
}

/* The create answer has Vault's auth block and data null. */
static void test_create_auth_block(void **state)
{
    struct fixture *f = *state;
    struct answer a = call(f, "POST", "create",
                           "{\"policies\":[\"a\"],\"meta\":{\"k\":\"v\"},"
                           "\"no_parent\":false,\"no_default_policy\":false,"
                           "\"renewable\":true,\"ttl\":\"1h\","
                           "\"display_name\":\"token\",\"num_uses\":0}",
                           f->root);

    assert_int_equal(a.status, 200);
    assert_true(json_is_null(json_object_get(a.body, "data")));
    assert_int_equal(strlen(json_string_value(auth_field(&a, "accessor"))),
                     TOKEN_RANDOM_CHARS);
    assert_int_equal(json_array_size(auth_field(&a, "policies")), 2);
    assert_string_equal(
        json_string_value(json_array_get(auth_field(&a, "policies"), 0)), "a");
    assert_int_equal(json_array_size(auth_field(&a, "token_policies")), 2);
    assert_string_equal(
        json_string_value(json_object_get(auth_field(&a, "metadata"), "k")),
        "v");
    assert_int_equal(json_integer_value(auth_field(&a, "lease_duration")),
                     3600);
    assert_true(json_is_true(auth_field(&a, "renewable")));
    assert_string_equal(json_string_value(auth_field(&a, "entity_id")), "");
    assert_string_equal(json_string_value(auth_field(&a, "token_type")),
                        "service");
    assert_true(json_is_false(auth_field(&a, "orphan")));
    assert_int_equal(json_integer_value(auth_field(&a, "num_uses")), 0);
    assert_true(json_is_null(auth_field(&a, "mfa_requirement")));
    answer_clear(&a);
}

/* lookup-self (GET and POST) returns the token info of §4.2. */
static void test_lookup_self_fields(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    const char *methods[] = {"GET", "POST"};
    size_t i;

    create_as(f, "create", "{\"policies\":[\"a\"],\"ttl\":3600}", f->root, id);
    for (i = 0; i < 2; i++) {
        struct answer a = call(f, methods[i], "lookup-self", NULL, id);
        assert_int_equal(a.status, 200);
        assert_string_equal(json_string_value(data_field(&a, "id")), id);
        assert_string_equal(json_string_value(data_field(&a, "path")),
                            "auth/token/create");
        assert_string_equal(json_string_value(data_field(&a, "display_name")),
                            "token");
        assert_true(json_integer_value(data_field(&a, "ttl")) > 3590);
        assert_int_equal(json_integer_value(data_field(&a, "creation_ttl")),
                         3600);
        assert_true(json_is_string(data_field(&a, "expire_time")));
        assert_true(json_is_string(data_field(&a, "issue_time")));
        assert_true(json_integer_value(data_field(&a, "creation_time")) >
                    1700000000);
        assert_true(json_is_null(data_field(&a, "meta")));
        assert_string_equal(json_string_value(data_field(&a, "type")),
                            "service");
        assert_string_equal(json_string_value(data_field(&a, "entity_id")), "");
        assert_true(json_is_false(data_field(&a, "orphan")));
        answer_clear(&a);
    }
}

/* The root token: policies [root], path auth/token/root, no expiry. */
static void test_root_lookup(void **state)
{
    struct fixture *f = *state;
    struct answer a = call(f, "GET", "lookup-self", NULL, f->root);

    assert_int_equal(a.status, 200);
    assert_string_equal(
        json_string_value(json_array_get(data_field(&a, "policies"), 0)),
        "root");
    assert_int_equal(json_array_size(data_field(&a, "policies")), 1);
    assert_string_equal(json_string_value(data_field(&a, "path")),
                        "auth/token/root");
    assert_string_equal(json_string_value(data_field(&a, "display_name")),
                        "root");
    assert_int_equal(json_integer_value(data_field(&a, "ttl")), 0);
    assert_true(json_is_null(data_field(&a, "expire_time")));
    answer_clear(&a);
}

/* Lookup of an unknown token: 403 "bad token"; unknown caller: 403. */
static void test_lookup_unknown(void **state)
{
    struct fixture *f = *state;
    struct answer a =
        call(f, "POST", "lookup", "{\"token\":\"hvs.nosuchtoken000000000000\"}",
             f->root);

    assert_int_equal(a.status, 403);
    assert_string_equal(first_error(&a), "bad token");
    answer_clear(&a);
    a = call(f, "GET", "lookup-self", NULL, "hvs.nosuchtoken000000000000");
    assert_int_equal(a.status, 403);
    answer_clear(&a);
}

/* Revoke: the token fails lookup afterwards; revoking again is 204. */
static void test_revoke(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], body[640];
    struct answer a;

    make_user(f, id);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", id);
    a = call(f, "POST", "revoke", body, f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    assert_false(token_valid(f, id));
    a = call(f, "POST", "revoke", body, f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    a = call(f, "POST", "lookup", body, f->root);
    assert_int_equal(a.status, 403);
    answer_clear(&a);
}

/* Revoking a token revokes its children and grandchildren (3 levels). */
static void test_revoke_tree(void **state)
{
    struct fixture *f = *state;
    char a1[TOKEN_ID_BYTES_MAX + 1], b1[TOKEN_ID_BYTES_MAX + 1];
    char b2[TOKEN_ID_BYTES_MAX + 1], c1[TOKEN_ID_BYTES_MAX + 1];
    char other[TOKEN_ID_BYTES_MAX + 1];
    struct answer a;

    create_as(f, "create", NULL, f->root, a1); /* root child: root */
    create_as(f, "create", NULL, a1, b1);
    create_as(f, "create", NULL, a1, b2);
    create_as(f, "create", NULL, b1, c1);
    create_as(f, "create", NULL, f->root, other);
    a = call(f, "POST", "revoke-self", NULL, a1);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    assert_false(token_valid(f, a1));
    assert_false(token_valid(f, b1));
    assert_false(token_valid(f, b2));
    assert_false(token_valid(f, c1));
    assert_true(token_valid(f, other));
    assert_true(token_valid(f, f->root));
}

/* An orphan made with create-orphan survives its creator's revocation. */
static void test_orphan_survives(void **state)
{
    struct fixture *f = *state;
    char user[TOKEN_ID_BYTES_MAX + 1], orphan[TOKEN_ID_BYTES_MAX + 1];
    char child[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;
    struct answer a;

    make_user(f, user);
    create_as(f, "create-orphan", NULL, user, orphan);
    create_as(f, "create", NULL, user, child);
    assert_int_equal(token_store_lookup(f->store, orphan, &e), 0);
    assert_true(e.orphan);
    assert_string_equal(e.path, "auth/token/create-orphan");
    a = call(f, "POST", "revoke-self", NULL, user);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    assert_true(token_valid(f, orphan));
    assert_false(token_valid(f, child));
}

/* revoke-orphan removes only the token; children become orphans. */
static void test_revoke_orphan(void **state)
{
    struct fixture *f = *state;
    char p[TOKEN_ID_BYTES_MAX + 1], c[TOKEN_ID_BYTES_MAX + 1];
    char g[TOKEN_ID_BYTES_MAX + 1], body[640];
    struct token_entry e;
    struct answer a;

    create_as(f, "create", NULL, f->root, p);
    create_as(f, "create", NULL, p, c);
    create_as(f, "create", NULL, c, g);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", p);
    a = call(f, "POST", "revoke-orphan", body, f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    assert_false(token_valid(f, p));
    assert_int_equal(token_store_lookup(f->store, c, &e), 0);
    assert_true(e.orphan);
    assert_int_equal(token_store_lookup(f->store, g, &e), 0);
    assert_false(e.orphan);
    /* the grandchild still hangs off the child */
    assert_int_equal(token_store_revoke(f->store, c), 0);
    assert_false(token_valid(f, g));
}

/* lookup-accessor answers with an empty id; revoke-accessor revokes. */
static void test_accessor_lookup_revoke(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], body[640];
    struct token_entry e;
    struct answer a;

    make_user(f, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    snprintf(body, sizeof(body), "{\"accessor\":\"%s\"}", e.accessor);
    a = call(f, "POST", "lookup-accessor", body, f->root);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(data_field(&a, "id")), "");
    assert_string_equal(json_string_value(data_field(&a, "accessor")),
                        e.accessor);
    answer_clear(&a);
    a = call(f, "POST", "renew-accessor", body, f->root);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(auth_field(&a, "client_token")), "");
    answer_clear(&a);
    a = call(f, "POST", "revoke-accessor", body, f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    assert_false(token_valid(f, id));
    a = call(f, "POST", "lookup-accessor", body, f->root);
    assert_int_equal(a.status, 400);
    assert_string_equal(first_error(&a), "invalid accessor");
    answer_clear(&a);
}

/* A token with ttl=1s fails lookup and use once it has expired. */
static void test_ttl_expiry(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;
    struct answer a;

    create_as(f, "create", "{\"ttl\":\"1s\",\"policies\":[\"a\"]}", f->root,
              id);
    assert_true(token_valid(f, id));
    sleep(2);
    assert_int_equal(token_store_lookup(f->store, id, &e), KH_EPERM);
    assert_int_equal(token_store_use(f->store, id, &e), KH_EPERM);
    a = call(f, "GET", "lookup-self", NULL, id);
    assert_int_equal(a.status, 403);
    answer_clear(&a);
}

/* Renewal extends the TTL but never past the mount's max TTL. */
static void test_renew_up_to_max(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct answer a;

    f->mount.max_lease_ttl_s = 100;
    create_as(f, "create", "{\"ttl\":10,\"policies\":[\"a\"]}", f->root, id);
    a = call(f, "POST", "renew-self", "{\"increment\":50}", id);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_integer_value(auth_field(&a, "lease_duration")), 50);
    assert_string_equal(json_string_value(auth_field(&a, "client_token")), id);
    answer_clear(&a);
    a = call(f, "POST", "renew-self", "{\"increment\":\"1h\"}", id);
    assert_int_equal(a.status, 200);
    assert_true(json_integer_value(auth_field(&a, "lease_duration")) <= 100);
    assert_true(json_integer_value(auth_field(&a, "lease_duration")) >= 98);
    answer_clear(&a);
}

/* explicit_max_ttl caps the creation TTL and every renewal. */
static void test_explicit_max_ttl(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], body[640];
    struct answer a;

    create_as(f, "create",
              "{\"ttl\":\"1h\",\"explicit_max_ttl\":30,\"policies\":[\"a\"]}",
              f->root, id);
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"increment\":3600}", id);
    a = call(f, "POST", "renew", body, f->root);
    assert_int_equal(a.status, 200);
    assert_true(json_integer_value(auth_field(&a, "lease_duration")) <= 30);
    assert_true(json_integer_value(auth_field(&a, "lease_duration")) >= 28);
    answer_clear(&a);
    a = call(f, "POST", "lookup", body, f->root);
    assert_int_equal(json_integer_value(data_field(&a, "explicit_max_ttl")),
                     30);
    answer_clear(&a);
}

/* A periodic token lives for its period and renews back to it. */
static void test_period(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct answer a;

    create_as(f, "create", "{\"period\":\"2m\",\"policies\":[\"a\"]}", f->root,
              id);
    a = call(f, "POST", "renew-self", "{\"increment\":100000}", id);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_integer_value(auth_field(&a, "lease_duration")), 120);
    answer_clear(&a);
    a = call(f, "GET", "lookup-self", NULL, id);
    assert_int_equal(json_integer_value(data_field(&a, "period")), 120);
    assert_true(json_is_string(data_field(&a, "last_renewal")));
    answer_clear(&a);
}

/* id, no_parent and period need root: 400 for other callers. */
static void test_root_only_options(void **state)
{
    struct fixture *f = *state;
    char user[TOKEN_ID_BYTES_MAX + 1];
    const char *bodies[] = {"{\"id\":\"my-token\"}", "{\"no_parent\":true}",
                            "{\"period\":60}"};
    size_t i;

    make_user(f, user);
    for (i = 0; i < KH_ARRAY_LEN(bodies); i++) {
        struct answer a = call(f, "POST", "create", bodies[i], user);
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(first_error(&a), "root or sudo"));
        answer_clear(&a);
    }
}

/* Root may choose the ID; a duplicate ID is refused. */
static void test_custom_id(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct answer a;

    create_as(f, "create", "{\"id\":\"my-own-token\",\"policies\":[\"a\"]}",
              f->root, id);
    assert_string_equal(id, "my-own-token");
    assert_true(token_valid(f, "my-own-token"));
    a = call(f, "POST", "create", "{\"id\":\"my-own-token\"}", f->root);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(first_error(&a), "duplicate"));
    answer_clear(&a);
}

/* num_uses=2: two uses succeed, the third fails; lookups consume none. */
static void test_num_uses(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;

    create_as(f, "create", "{\"num_uses\":2,\"policies\":[\"a\"]}", f->root,
              id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.num_uses, 2);
    assert_int_equal(token_store_use(f->store, id, &e), 0);
    assert_int_equal(e.num_uses, 1);
    assert_int_equal(token_store_use(f->store, id, &e), 0);
    assert_int_equal(e.num_uses, 0);
    assert_int_equal(token_store_use(f->store, id, &e), KH_EPERM);
    assert_int_equal(token_store_lookup(f->store, id, &e), KH_EPERM);
}

/* num_uses above the limit is refused; at the limit accepted. */
static void test_num_uses_limit(void **state)
{
    struct fixture *f = *state;
    char body[128], id[TOKEN_ID_BYTES_MAX + 1];
    struct answer a;

    snprintf(body, sizeof(body), "{\"num_uses\":%u}", TOKEN_NUM_USES_MAX);
    create_as(f, "create", body, f->root, id);
    snprintf(body, sizeof(body), "{\"num_uses\":%u}", TOKEN_NUM_USES_MAX + 1);
    a = call(f, "POST", "create", body, f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* A non-root caller may only pass a subset of its own policies. */
static void test_policy_subset(void **state)
{
    struct fixture *f = *state;
    char user[TOKEN_ID_BYTES_MAX + 1], id[TOKEN_ID_BYTES_MAX + 1];
    char pol[256];
    struct answer a;

    make_user(f, user);
    a = call(f, "POST", "create", "{\"policies\":[\"b\"]}", user);
    assert_int_equal(a.status, 400);
    assert_string_equal(first_error(&a),
                        "child policies must be subset of parent");
    answer_clear(&a);
    a = call(f, "POST", "create", "{\"policies\":[\"root\"]}", user);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    create_as(f, "create", "{\"policies\":\"a\"}", user, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "a,default");
    /* no policies: the caller's own */
    create_as(f, "create", "{}", user, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "a,default");
}

/* "default" is added unless no_default_policy, and never to root. */
static void test_default_policy(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], pol[256];

    create_as(f, "create", "{\"policies\":\"x,y\"}", f->root, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "default,x,y");
    create_as(f, "create", "{\"policies\":[\"x\"],\"no_default_policy\":true}",
              f->root, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "x");
    create_as(f, "create", NULL, f->root, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "root");
}

/* Policies per token: 63 + default fits, 64 + default does not. */
static void test_policies_limit(void **state)
{
    struct fixture *f = *state;
    char body[4096], id[TOKEN_ID_BYTES_MAX + 1];
    size_t n = 0, i;
    struct answer a;

    n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"policies\":[");
    for (i = 0; i < TOKEN_POLICIES_MAX - 1; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"p%zu\"",
                              i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}");
    create_as(f, "create", body, f->root, id);
    snprintf(body + n, sizeof(body) - n, ",\"extra\"]}");
    a = call(f, "POST", "create", body, f->root);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(first_error(&a), "too many policies"));
    answer_clear(&a);
}

/* display_name: "token-<name>" with [^A-Za-z0-9-] -> '-'; absent: token. */
static void test_display_name(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], name[TOKEN_DISPLAY_INPUT_MAX + 1];
    char body[640];
    struct token_entry e;
    struct answer a;

    create_as(f, "create", "{\"display_name\":\"my app!x_y.z\"}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_string_equal(e.display_name, "token-my-app-x-y-z");
    create_as(f, "create", "{\"display_name\":\"token\"}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_string_equal(e.display_name, "token-token");
    create_as(f, "create", "{}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_string_equal(e.display_name, "token");
    /* the limit: TOKEN_DISPLAY_INPUT_MAX bytes fit, one more does not */
    memset(name, 'n', sizeof(name));
    snprintf(body, sizeof(body), "{\"display_name\":\"%.*s\"}",
             TOKEN_DISPLAY_INPUT_MAX, name);
    create_as(f, "create", body, f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(strlen(e.display_name), 6 + TOKEN_DISPLAY_INPUT_MAX);
    snprintf(body, sizeof(body), "{\"display_name\":\"%.*s\"}",
             TOKEN_DISPLAY_INPUT_MAX + 1, name);
    a = call(f, "POST", "create", body, f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* Metadata: TOKEN_META_MAX entries fit, one more is refused. */
static void test_meta_limit(void **state)
{
    struct fixture *f = *state;
    char body[4096], id[TOKEN_ID_BYTES_MAX + 1];
    size_t n = 0, i;
    struct token_entry e;
    struct answer a;

    n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"meta\":{");
    for (i = 0; i < TOKEN_META_MAX; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"k%zu\":\"v\"",
                              i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "}}");
    create_as(f, "create", body, f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.meta_count, TOKEN_META_MAX);
    snprintf(body + n, sizeof(body) - n, ",\"extra\":\"v\"}}");
    a = call(f, "POST", "create", body, f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    a = call(f, "POST", "create", "{\"meta\":{\"k\":1}}", f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* A child's TTL never exceeds its parent's remaining TTL. */
static void test_child_ttl_capped(void **state)
{
    struct fixture *f = *state;
    char parent[TOKEN_ID_BYTES_MAX + 1], child[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;

    create_as(f, "create", "{\"ttl\":100}", f->root, parent);
    create_as(f, "create", "{\"ttl\":\"10h\"}", parent, child);
    assert_int_equal(token_store_lookup(f->store, child, &e), 0);
    assert_true(e.creation_ttl_s <= 100);
    assert_true(e.creation_ttl_s >= 98);
}

/* Renewing a root token, a non-renewable token: 400. */
static void test_renew_refused(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct answer a;

    a = call(f, "POST", "renew-self", "{}", f->root);
    assert_int_equal(a.status, 400);
    assert_string_equal(first_error(&a), "lease is not renewable");
    answer_clear(&a);
    create_as(f, "create", "{\"renewable\":false,\"policies\":[\"a\"]}",
              f->root, id);
    a = call(f, "POST", "renew-self", NULL, id);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    a = call(f, "POST", "renew", "{\"token\":\"hvs.unknown\"}", f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* Batch tokens: hvb. prefix, no accessor, not renewable, not revocable
 * alone, no children; revoked with their parent. */
static void test_batch(void **state)
{
    struct fixture *f = *state;
    char parent[TOKEN_ID_BYTES_MAX + 1], id[TOKEN_ID_BYTES_MAX + 1];
    char body[640];
    struct token_entry e;
    struct answer a;

    make_user(f, parent);
    create_as(f, "create", "{\"type\":\"batch\"}", parent, id);
    assert_memory_equal(id, "hvb.", 4);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.type, TOKEN_TYPE_BATCH);
    assert_string_equal(e.accessor, "");
    assert_false(e.renewable);
    a = call(f, "POST", "renew-self", NULL, id);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", id);
    a = call(f, "POST", "revoke", body, f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    a = call(f, "POST", "create", NULL, id);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    a = call(f, "POST", "create", "{\"type\":\"batch\",\"period\":5}", f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    assert_int_equal(token_store_revoke(f->store, parent), 0);
    assert_false(token_valid(f, id));
}

/* Roles: write (204), read with aliases, list (LIST and ?list=true),
 * delete; reads and lists of nothing are 404. */
static void test_roles_crud(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    a = call(f, "LIST", "roles", NULL, f->root);
    assert_int_equal(a.status, 404);
    answer_clear(&a);
    a = call(f, "POST", "roles/Ops",
             "{\"allowed_policies\":\"a,b\",\"orphan\":true,"
             "\"token_period\":\"1h\",\"token_type\":\"service\","
             "\"bound_cidrs\":[\"10.0.0.0/8\"]}",
             f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    a = call(f, "GET", "roles/ops", NULL, f->root);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(data_field(&a, "name")), "ops");
    assert_int_equal(json_array_size(data_field(&a, "allowed_policies")), 2);
    assert_true(json_is_true(data_field(&a, "orphan")));
    assert_true(json_is_true(data_field(&a, "renewable")));
    assert_int_equal(json_integer_value(data_field(&a, "token_period")), 3600);
    assert_int_equal(json_integer_value(data_field(&a, "period")), 3600);
    assert_string_equal(json_string_value(json_array_get(
                            data_field(&a, "token_bound_cidrs"), 0)),
                        "10.0.0.0/8");
    answer_clear(&a);
    /* an update keeps what it does not mention */
    a = call(f, "POST", "roles/ops", "{\"orphan\":false}", f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    a = call(f, "GET", "roles/ops", NULL, f->root);
    assert_true(json_is_false(data_field(&a, "orphan")));
    assert_int_equal(json_array_size(data_field(&a, "allowed_policies")), 2);
    answer_clear(&a);
    a = call(f, "GET", "roles?list=true", NULL, f->root);
    assert_int_equal(a.status, 200);
    assert_string_equal(
        json_string_value(json_array_get(data_field(&a, "keys"), 0)), "ops");
    answer_clear(&a);
    a = call(f, "DELETE", "roles/ops", NULL, f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    a = call(f, "GET", "roles/ops", NULL, f->root);
    assert_int_equal(a.status, 404);
    assert_int_equal(json_array_size(json_object_get(a.body, "errors")), 0);
    answer_clear(&a);
    a = call(f, "POST", "roles/ops", "{\"token_type\":\"weird\"}", f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* create/:role applies allowed_policies (default and check), the path. */
static void test_create_role_policies(void **state)
{
    struct fixture *f = *state;
    char user[TOKEN_ID_BYTES_MAX + 1], id[TOKEN_ID_BYTES_MAX + 1];
    char pol[256];
    struct token_entry e;
    struct answer a;

    a = call(f, "POST", "roles/app",
             "{\"allowed_policies\":[\"x\",\"y\"],"
             "\"allowed_policies_glob\":[\"team-*\"],"
             "\"disallowed_policies\":\"z\"}",
             f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    make_user(f, user); /* has only a + default: the role decides */
    create_as(f, "create/app", NULL, user, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "default,x,y");
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_string_equal(e.path, "auth/token/create/app");
    assert_string_equal(e.role, "app");
    create_as(f, "create/app", "{\"policies\":[\"team-blue\"]}", user, id);
    policies_text(f, id, pol, sizeof(pol));
    assert_string_equal(pol, "default,team-blue");
    a = call(f, "POST", "create/app", "{\"policies\":[\"q\"]}", user);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
    a = call(f, "POST", "create/app", "{\"policies\":[\"z\"]}", f->root);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(first_error(&a), "disallowed"));
    answer_clear(&a);
    a = call(f, "POST", "create/nope", NULL, user);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* create/:role with orphan and token_period: any caller gets both. */
static void test_create_role_orphan_period(void **state)
{
    struct fixture *f = *state;
    char user[TOKEN_ID_BYTES_MAX + 1], id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;
    struct answer a;

    a = call(f, "POST", "roles/per",
             "{\"orphan\":true,\"token_period\":120,\"path_suffix\":\"v1\","
             "\"token_explicit_max_ttl\":600}",
             f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    make_user(f, user);
    create_as(f, "create/per", "{\"policies\":[\"a\"]}", user, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_true(e.orphan);
    assert_int_equal(e.period_s, 120);
    assert_int_equal(e.creation_ttl_s, 120);
    assert_int_equal(e.explicit_max_ttl_s, 600);
    assert_string_equal(e.path, "auth/token/create/per/v1");
    assert_int_equal(token_store_revoke(f->store, user), 0);
    assert_true(token_valid(f, id));
}

/* Bound CIDRs: a role's token_bound_cidrs restrict the client address. */
static void test_bound_cidrs(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;
    struct answer a;

    a = call(f, "POST", "roles/net",
             "{\"token_bound_cidrs\":\"10.0.0.0/8, 2001:db8::/32\"}", f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    create_as(f, "create/net", "{\"policies\":[\"a\"]}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.bound_cidr_count, 2);
    assert_true(token_entry_cidr_ok(&e, "10.1.2.3"));
    assert_true(token_entry_cidr_ok(&e, "::ffff:10.9.9.9"));
    assert_true(token_entry_cidr_ok(&e, "2001:db8:1::5"));
    assert_false(token_entry_cidr_ok(&e, "192.168.1.1"));
    assert_false(token_entry_cidr_ok(&e, "2001:db9::1"));
    assert_false(token_entry_cidr_ok(&e, "not-an-address"));
    assert_false(token_entry_cidr_ok(&e, ""));
    a = call_from(f, "GET", "lookup-self", NULL, id, "192.168.1.1");
    assert_int_equal(a.status, 403);
    answer_clear(&a);
    a = call_from(f, "GET", "lookup-self", NULL, id, "10.0.0.7");
    assert_int_equal(a.status, 200);
    assert_string_equal(
        json_string_value(json_array_get(data_field(&a, "bound_cidrs"), 1)),
        "2001:db8::/32");
    answer_clear(&a);
    a = call(f, "POST", "roles/bad",
             "{\"token_bound_cidrs\":[\"10.0.0.0/33\"]}", f->root);
    assert_int_equal(a.status, 400);
    answer_clear(&a);
}

/* The storage key of a token and whether it exists in the barrier. */
static bool stored(struct fixture *f, const char *prefix, const char *text)
{
    char hash[TOKEN_HASH_HEX_BYTES + 1];
    char key[TOKEN_KEY_BYTES];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    assert_int_equal(token_hash(f->store, text, hash), 0);
    snprintf(key, sizeof(key), "%s%s", prefix, hash);
    r = barrier_get(f->db.barrier, key, &value, &len);
    kh_free_secret(value, len);
    assert_true(r == 0 || r == KH_ENOTFOUND);
    return r == 0;
}

static size_t count_keys(struct fixture *f, const char *prefix)
{
    struct kh_storage_list list = {0};
    size_t n;

    assert_int_equal(barrier_list(f->db.barrier, prefix, &list), 0);
    n = list.count;
    kh_storage_list_free(&list);
    return n;
}

/* tidy removes expired tokens with their children: storage keys gone. */
static void test_tidy_removes_expired(void **state)
{
    struct fixture *f = *state;
    char p[TOKEN_ID_BYTES_MAX + 1], c[TOKEN_ID_BYTES_MAX + 1];
    char keep[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry pe;
    struct answer a;

    create_as(f, "create", "{\"ttl\":1}", f->root, p);
    create_as(f, "create", NULL, p, c);
    create_as(f, "create", "{\"ttl\":\"1h\"}", f->root, keep);
    assert_int_equal(token_store_lookup(f->store, p, &pe), 0);
    assert_true(stored(f, TOKEN_ID_PREFIX, p));
    assert_true(stored(f, TOKEN_ID_PREFIX, c));
    assert_true(stored(f, TOKEN_ACCESSOR_PREFIX, pe.accessor));
    assert_int_equal(count_keys(f, TOKEN_ID_PREFIX), 4);
    sleep(2);
    a = call(f, "POST", "tidy", NULL, f->root);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(json_string_value(json_array_get(
                               json_object_get(a.body, "warnings"), 0)),
                           "2 expired"));
    answer_clear(&a);
    assert_false(stored(f, TOKEN_ID_PREFIX, p));
    assert_false(stored(f, TOKEN_ID_PREFIX, c));
    assert_false(stored(f, TOKEN_ACCESSOR_PREFIX, pe.accessor));
    assert_true(stored(f, TOKEN_ID_PREFIX, keep));
    assert_int_equal(count_keys(f, TOKEN_ID_PREFIX), 2);
    assert_int_equal(count_keys(f, TOKEN_ACCESSOR_PREFIX), 2);
    assert_int_equal(count_keys(f, TOKEN_PARENT_PREFIX), 1); /* root's */
}

/* The background tidy thread removes an expired token by itself. */
static void test_tidy_thread(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    int i;

    create_as(f, "create", "{\"ttl\":1}", f->root, id);
    assert_int_equal(token_store_start_tidy(f->store, 1), 0);
    for (i = 0; i < 50 && stored(f, TOKEN_ID_PREFIX, id); i++)
        usleep(100 * 1000);
    assert_false(stored(f, TOKEN_ID_PREFIX, id));
    token_store_stop_tidy(f->store);
    token_store_stop_tidy(f->store); /* idempotent */
}

/* Tidy repairs dangling records: an accessor whose token is gone and
 * children of a parent that is gone. */
static void test_tidy_dangling(void **state)
{
    struct fixture *f = *state;
    char p[TOKEN_ID_BYTES_MAX + 1], c[TOKEN_ID_BYTES_MAX + 1];
    char hash[TOKEN_HASH_HEX_BYTES + 1], key[TOKEN_KEY_BYTES];
    size_t removed = 0;

    create_as(f, "create", NULL, f->root, p);
    create_as(f, "create", NULL, p, c);
    /* simulate a crash that removed only the parent's entry */
    assert_int_equal(token_hash(f->store, p, hash), 0);
    token_key_id(hash, key);
    assert_int_equal(barrier_delete(f->db.barrier, key), 0);
    assert_int_equal(token_store_tidy(f->store, &removed), 0);
    assert_int_equal(removed, 1);
    assert_false(stored(f, TOKEN_ID_PREFIX, c));
    assert_int_equal(count_keys(f, TOKEN_ACCESSOR_PREFIX), 1);
    assert_int_equal(count_keys(f, TOKEN_ID_PREFIX), 1);
}

/* Search a file's bytes for needle. */
static bool file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    size_t cap = 1 << 20, len = 0, n;
    char *buf = malloc(cap);
    bool found;

    assert_non_null(fp);
    assert_non_null(buf);
    while ((n = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(fp);
    found = memmem(buf, len, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

/* The LMDB file holds no raw token ID nor accessor. */
static void test_no_raw_id_stored(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], path[512];
    struct token_entry e;

    create_as(f, "create", "{\"id\":\"custom-visible-id-123\"}", f->root, id);
    create_as(f, "create", "{\"policies\":[\"a\"]}", id, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    snprintf(path, sizeof(path), "%s/data/data.mdb", f->db.dir);
    assert_true(file_contains(path, "sys/token/id/")); /* the scan works */
    assert_false(file_contains(path, f->root));
    assert_false(file_contains(path, f->root + 4));
    assert_false(file_contains(path, "custom-visible-id-123"));
    assert_false(file_contains(path, id + 4));
    assert_false(file_contains(path, e.accessor));
}

struct worker
{
    struct fixture *f;
    int failures;
};

#define WORKER_TOKENS 25

/* Each worker creates tokens (half with a child) and revokes every other
 * one through the store while the others do the same. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char ids[WORKER_TOKENS][TOKEN_ID_BYTES_MAX + 1];
    char child[TOKEN_ID_BYTES_MAX + 1];
    int i;

    for (i = 0; i < WORKER_TOKENS; i++) {
        struct answer a =
            call(w->f, "POST", "create", "{\"policies\":[\"a\"]}", w->f->root);
        const char *id = json_string_value(auth_field(&a, "client_token"));
        if (a.status != 200 || id == NULL) {
            w->failures++;
            answer_clear(&a);
            continue;
        }
        snprintf(ids[i], sizeof(ids[i]), "%s", id);
        answer_clear(&a);
        a = call(w->f, "POST", "create", "{}", ids[i]);
        if (a.status != 200)
            w->failures++;
        snprintf(child, sizeof(child), "%s",
                 json_string_value(auth_field(&a, "client_token")));
        answer_clear(&a);
        if (i % 2 == 0 && token_store_revoke(w->f->store, ids[i]) != 0)
            w->failures++;
        if (i % 2 == 0 && token_valid(w->f, child))
            w->failures++;
    }
    return NULL;
}

/* 4 threads create and revoke at the same time; the store stays exact. */
static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    pthread_t threads[4];
    struct worker workers[4];
    size_t i;

    for (i = 0; i < 4; i++) {
        workers[i] = (struct worker){f, 0};
        assert_int_equal(
            pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
    }
    /* root + per worker: 12 surviving tokens with one child each */
    assert_int_equal(count_keys(f, TOKEN_ID_PREFIX),
                     1 + 4 * (WORKER_TOKENS / 2) * 2);
    assert_int_equal(count_keys(f, TOKEN_ACCESSOR_PREFIX),
                     1 + 4 * (WORKER_TOKENS / 2) * 2);
}

/* Concurrent uses of a use-limited token: exactly num_uses succeed. */
static void *use_main(void *arg)
{
    void **args = arg;
    struct fixture *f = args[0];
    const char *id = args[1];
    int *ok = args[2];
    struct token_entry e;
    int i;

    for (i = 0; i < 10; i++) {
        if (token_store_use(f->store, id, &e) == 0)
            __atomic_add_fetch(ok, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void test_concurrent_uses(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    pthread_t threads[4];
    int ok = 0;
    void *args[3] = {f, id, &ok};
    size_t i;

    create_as(f, "create", "{\"num_uses\":7}", f->root, id);
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, use_main, args), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    assert_int_equal(ok, 7);
}

/* A chain at the depth limit: the next child is refused, and revoking
 * the top removes the whole chain through the bounded stack. */
static void test_tree_depth_limit(void **state)
{
    struct fixture *f = *state;
    char top[TOKEN_ID_BYTES_MAX + 1], cur[TOKEN_ID_BYTES_MAX + 1];
    char next[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;
    struct answer a;
    int i;

    create_as(f, "create", "{\"no_parent\":true}", f->root, top);
    strcpy(cur, top);
    for (i = 1; i < TOKEN_TREE_DEPTH_MAX; i++) {
        create_as(f, "create", NULL, cur, next);
        strcpy(cur, next);
    }
    assert_int_equal(token_store_lookup(f->store, cur, &e), 0);
    assert_int_equal(e.depth, TOKEN_TREE_DEPTH_MAX - 1);
    a = call(f, "POST", "create", NULL, cur);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(first_error(&a), "too deep"));
    answer_clear(&a);
    assert_int_equal(token_store_revoke(f->store, top), 0);
    assert_false(token_valid(f, cur));
    assert_int_equal(count_keys(f, TOKEN_ID_PREFIX), 1);
}

/* LIST accessors returns every live accessor; sudo() marks it. */
static void test_accessors_list_and_sudo(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;
    struct answer a;
    size_t i;
    bool found = false;

    make_user(f, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    a = call(f, "LIST", "accessors", NULL, f->root);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_array_size(data_field(&a, "keys")), 2);
    for (i = 0; i < 2; i++)
        found |=
            strcmp(json_string_value(json_array_get(data_field(&a, "keys"), i)),
                   e.accessor) == 0;
    assert_true(found);
    answer_clear(&a);
    assert_true(token_backend_ops.sudo("accessors/", KH_OP_LIST));
    assert_true(token_backend_ops.sudo("revoke-orphan", KH_OP_UPDATE));
    assert_false(token_backend_ops.sudo("create", KH_OP_UPDATE));
    assert_false(token_backend_ops.sudo("lookup-self", KH_OP_READ));
    assert_null(token_backend_ops.unauthenticated);
    assert_string_equal(token_backend_ops.type, "token");
    assert_true(token_backend_ops.is_auth);
}

/* Unknown sub-paths are 404, known ones with the wrong method 405. */
static void test_routes(void **state)
{
    struct fixture *f = *state;
    struct answer a;

    a = call(f, "GET", "nope", NULL, f->root);
    assert_int_equal(a.status, 404);
    answer_clear(&a);
    a = call(f, "DELETE", "create", NULL, f->root);
    assert_int_equal(a.status, 405);
    answer_clear(&a);
    a = call(f, "GET", "accessors", NULL, f->root);
    assert_int_equal(a.status, 405);
    answer_clear(&a);
    a = call(f, "GET", "roles/a/b", NULL, f->root);
    assert_int_equal(a.status, 404);
    answer_clear(&a);
}

/* The existence check: roles/:name exists or not; other paths update. */
static void test_existence(void **state)
{
    struct fixture *f = *state;
    struct backend_request br = {0};
    struct answer a;
    bool exists = false;

    br.core = &f->core;
    br.subpath = "roles/r1";
    assert_int_equal(token_backend_ops.existence(&br, &exists), 0);
    assert_false(exists);
    a = call(f, "POST", "roles/r1", "{}", f->root);
    assert_int_equal(a.status, 204);
    answer_clear(&a);
    assert_int_equal(token_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
    br.subpath = "create";
    assert_int_equal(token_backend_ops.existence(&br, &exists), 0);
    assert_true(exists);
}

/* token_store_issue: an orphan login token with the mount's TTL tuning,
 * its display name and the auth block. */
static void test_issue(void **state)
{
    struct fixture *f = *state;
    struct mount_entry mount = {0};
    struct token_params params = {0};
    struct kh_request req = {0};
    struct kh_response resp = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    char long_name[300];
    struct token_entry e;
    const char *id;
    json_t *auth;

    strcpy(mount.path, "auth/approle/");
    mount.default_lease_ttl_s = 600;
    mount.max_lease_ttl_s = 900;
    params.policies[0] = "app";
    params.policy_count = 1;
    params.path = "auth/approle/login";
    params.renewable = true;
    params.ttl_s = 0;
    params.bound_cidrs[0] = "127.0.0.1/32";
    params.bound_cidr_count = 1;
    strcpy(req.request_id, "00000000-0000-4000-8000-000000000000");
    assert_int_equal(token_store_issue(f->store, &mount, &params, &req, &resp,
                                       errmsg, sizeof(errmsg)),
                     0);
    auth = json_object_get(resp.body, "auth");
    id = json_string_value(json_object_get(auth, "client_token"));
    assert_non_null(id);
    assert_int_equal(
        json_integer_value(json_object_get(auth, "lease_duration")), 600);
    assert_true(json_is_true(json_object_get(auth, "orphan")));
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_string_equal(e.display_name, "approle");
    assert_string_equal(e.path, "auth/approle/login");
    assert_int_equal(e.max_ttl_s, 900);
    assert_true(token_entry_cidr_ok(&e, "127.0.0.1"));
    assert_false(token_entry_cidr_ok(&e, "127.0.0.2"));
    kh_response_clear(&resp);
    params.ttl_s = 5000; /* capped by the mount max */
    params.display_name = "bob smith";
    assert_int_equal(token_store_issue(f->store, &mount, &params, &req, &resp,
                                       errmsg, sizeof(errmsg)),
                     0);
    auth = json_object_get(resp.body, "auth");
    assert_int_equal(
        json_integer_value(json_object_get(auth, "lease_duration")), 900);
    id = json_string_value(json_object_get(auth, "client_token"));
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_string_equal(e.display_name, "bob-smith");
    kh_response_clear(&resp);
    /* a login's long display name is truncated, not refused */
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    params.display_name = long_name;
    assert_int_equal(token_store_issue(f->store, &mount, &params, &req, &resp,
                                       errmsg, sizeof(errmsg)),
                     0);
    id = json_string_value(
        json_object_get(json_object_get(resp.body, "auth"), "client_token"));
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(strlen(e.display_name), TOKEN_DISPLAY_NAME_BYTES - 1);
    kh_response_clear(&resp);
    params.bound_cidrs[0] = "300.0.0.1";
    assert_int_equal(token_store_issue(f->store, &mount, &params, &req, &resp,
                                       errmsg, sizeof(errmsg)),
                     KH_EINVAL);
}

/* Legacy "lease" and the configured default TTL (config, then 768h). */
static void test_ttl_defaults(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry e;

    create_as(f, "create", "{\"lease\":\"30m\",\"policies\":[\"a\"]}", f->root,
              id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.creation_ttl_s, 1800);
    create_as(f, "create", "{\"policies\":[\"a\"]}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.creation_ttl_s, TOKEN_TTL_SYSTEM_DEFAULT_S);
    f->config->default_lease_ttl_s = 7200;
    create_as(f, "create", "{\"policies\":[\"a\"]}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.creation_ttl_s, 7200);
    f->mount.default_lease_ttl_s = 60;
    create_as(f, "create", "{\"policies\":[\"a\"]}", f->root, id);
    assert_int_equal(token_store_lookup(f->store, id, &e), 0);
    assert_int_equal(e.creation_ttl_s, 60);
}

/* After a seal the salt is gone: lookups fail until it is reloaded. */
/* The gate's lookup reads every change at once, with the decode cache
 * warm: a revoked token, its child, an expired record, a record
 * rewritten behind the store's back and a used-up token all fail (or
 * show the change) on the very next token_store_use(). */
static void test_use_sees_every_change(void **state)
{
    struct fixture *f = *state;
    char id[TOKEN_ID_BYTES_MAX + 1], child[TOKEN_ID_BYTES_MAX + 1];
    char once[TOKEN_ID_BYTES_MAX + 1];
    struct token_entry *e = malloc(sizeof(*e));
    struct token_entry *stored = malloc(sizeof(*stored));

    assert_non_null(e);
    assert_non_null(stored);
    make_user(f, id);
    create_as(f, "create", "{\"policies\":[\"a\"]}", id, child);
    assert_int_equal(token_store_use(f->store, id, e), 0);
    assert_int_equal(token_store_use(f->store, id, e), 0); /* cached */
    assert_int_equal(token_store_use(f->store, child, e), 0);
    /* rewritten in storage: new policies and expiry seen at once */
    assert_int_equal(token_store_use(f->store, id, stored), 0);
    strcpy(stored->policies[stored->policy_count++], "zz-new");
    assert_int_equal(token_entry_rewrite(f->store, stored), 0);
    assert_int_equal(token_store_use(f->store, id, e), 0);
    assert_int_equal(e->policy_count, stored->policy_count);
    assert_string_equal(e->policies[e->policy_count - 1], "zz-new");
    stored->expire_time = token_now() - 1;
    assert_int_equal(token_entry_rewrite(f->store, stored), 0);
    assert_int_equal(token_store_use(f->store, id, e), KH_EPERM);
    stored->expire_time = 0;
    assert_int_equal(token_entry_rewrite(f->store, stored), 0);
    assert_int_equal(token_store_use(f->store, id, e), 0);
    /* revoked: the token and its child fail on the next use */
    assert_int_equal(token_store_revoke(f->store, id), 0);
    assert_int_equal(token_store_use(f->store, id, e), KH_EPERM);
    assert_int_equal(token_store_use(f->store, child, e), KH_EPERM);
    /* used up: the last use succeeds, the next one fails */
    create_as(f, "create", "{\"num_uses\":1,\"policies\":[\"a\"]}", f->root,
              once);
    assert_int_equal(token_store_lookup(f->store, once, e), 0); /* warm */
    assert_int_equal(token_store_use(f->store, once, e), 0);
    assert_int_equal(e->num_uses, 0);
    assert_int_equal(token_store_use(f->store, once, e), KH_EPERM);
    assert_int_equal(token_store_lookup(f->store, once, e), KH_EPERM);
    free(stored);
    free(e);
}

/* More tokens than the decode cache has slots, in four rounds: every
 * use returns that token's own entry (its hash, accessor and policy),
 * never another token's from the same slot. */
static void test_use_many_tokens(void **state)
{
    struct fixture *f = *state;
    enum { TOKENS = TOKEN_CACHE_SLOTS * 2 };
    char(*ids)[TOKEN_ID_BYTES_MAX + 1] = calloc(TOKENS, sizeof(*ids));
    char(*accessors)[TOKEN_RANDOM_CHARS + 1] =
        calloc(TOKENS, sizeof(*accessors));
    struct token_entry *e = malloc(sizeof(*e));
    char hash[TOKEN_HASH_HEX_BYTES + 1], body[96], policy[32];
    size_t i, round;

    assert_non_null(ids);
    assert_non_null(accessors);
    assert_non_null(e);
    for (i = 0; i < TOKENS; i++) {
        snprintf(body, sizeof(body), "{\"policies\":[\"p%zu\"]}", i);
        create_as(f, "create", body, f->root, ids[i]);
    }
    for (round = 0; round < 4; round++) {
        for (i = 0; i < TOKENS; i++) {
            assert_int_equal(token_store_use(f->store, ids[i], e), 0);
            assert_int_equal(token_hash(f->store, ids[i], hash), 0);
            assert_string_equal(e->id_hash, hash);
            snprintf(policy, sizeof(policy), "p%zu", i);
            assert_int_equal(e->policy_count, 2); /* default, p<i> */
            assert_string_equal(e->policies[1], policy);
            if (round == 0)
                strcpy(accessors[i], e->accessor);
            assert_string_equal(e->accessor, accessors[i]);
        }
    }
    free(e);
    free(accessors);
    free(ids);
}

static void test_seal_forgets_salt(void **state)
{
    struct fixture *f = *state;
    struct token_entry e;

    token_store_seal(f->store);
    barrier_seal(f->db.barrier);
    assert_int_equal(token_store_lookup(f->store, f->root, &e), KH_ESEALED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_auth_block, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lookup_self_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_root_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_survives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_orphan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accessor_lookup_revoke, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_up_to_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_max_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_only_options, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_custom_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_num_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_num_uses_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_subset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_display_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_ttl_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_role_policies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_create_role_orphan_period, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bound_cidrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tidy_removes_expired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tidy_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tidy_dangling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_raw_id_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_uses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accessors_list_and_sudo, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seal_forgets_salt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_use_sees_every_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_use_many_tokens, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
