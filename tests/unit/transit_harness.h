/*
 * transit_harness.h - the fixture shared by test_transit_soft.c and
 * test_transit_managed.c: a real barrier on LMDB in a fresh temporary
 * directory, one transit mount, and requests built by http_request_build
 * and answered exactly as the server's gate would (existence check for
 * writes, handle, error mapping, rendering).
 *
 * Helpers are static inline so each test file uses the ones it needs.
 * The fixture removes its directory on close.
 */
#ifndef KH_TESTS_TRANSIT_HARNESS_H
#define KH_TESTS_TRANSIT_HARNESS_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "barrier/barrier.h"
#include "barrier/view.h"
#include "common/err.h"
#include "common/secret.h"
#include "engines/transit/transit.h"
#include "http/request_parse.h"
#include "http/response.h"
#include "mount/mount_table.h"

#define TFIX_UUID "7a1c0d2e-0000-4000-8000-0000000000c1"

struct tfix
{
    char tmp[PATH_MAX];
    struct kh_storage *storage;
    struct barrier *barrier;
    struct mount_entry *entry;
    struct kh_core *core; /* NULL, or a core whose seal the test owns */
};

struct answer
{
    unsigned status;
    json_t *body; /* NULL for an empty body */
};

static inline int tfix_rm_entry(const char *path, const struct stat *st,
                                int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A fresh directory under $KH_TEST_TMP (or /tmp) named prefix-XXXXXX. */
static inline void tfix_tmpdir(char *out, size_t size, const char *prefix)
{
    const char *base = getenv("KH_TEST_TMP");

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (mkdir(base, 0700) != 0)
        assert_int_equal(errno, EEXIST);
    snprintf(out, size, "%s/%s-XXXXXX", base, prefix);
    assert_non_null(mkdtemp(out));
}

/* (Re)load the mount: a fresh per-mount state, as after an unseal. */
static inline void tfix_mount(struct tfix *f)
{
    void *state = NULL;

    if (f->entry->state != NULL)
        transit_backend_ops.cleanup(f->entry->state);
    f->entry->state = NULL;
    assert_int_equal(transit_backend_ops.init(f->entry, &state), 0);
    f->entry->state = state;
}

static inline struct tfix *tfix_open(void)
{
    struct tfix *f = calloc(1, sizeof(*f));
    char errmsg[KH_ERRMSG_SIZE] = "";
    uint8_t root[KH_ROOT_KEY_BYTES];

    assert_non_null(f);
    tfix_tmpdir(f->tmp, sizeof(f->tmp), "transit");
    assert_int_equal(
        kh_storage_lmdb_open(f->tmp, 0, &f->storage, errmsg, sizeof(errmsg)),
        0);
    assert_int_equal(barrier_create(f->storage, &f->barrier), 0);
    assert_int_equal(kh_random_bytes(root, sizeof(root)), 0);
    assert_int_equal(barrier_initialize(f->barrier, root), 0);
    kh_wipe(root, sizeof(root));
    f->entry = calloc(1, sizeof(*f->entry));
    assert_non_null(f->entry);
    snprintf(f->entry->path, sizeof(f->entry->path), "transit/");
    snprintf(f->entry->type, sizeof(f->entry->type), "transit");
    snprintf(f->entry->uuid, sizeof(f->entry->uuid), "%s", TFIX_UUID);
    f->entry->options = json_object();
    f->entry->ops = &transit_backend_ops;
    assert_int_equal(view_init(&f->entry->view, f->barrier, f->storage,
                               "logical", TFIX_UUID),
                     0);
    tfix_mount(f);
    return f;
}

static inline void tfix_close(struct tfix *f)
{
    transit_backend_ops.cleanup(f->entry->state);
    json_decref(f->entry->options);
    free(f->entry);
    barrier_free(f->barrier);
    kh_storage_close(f->storage);
    assert_int_equal(nftw(f->tmp, tfix_rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(f);
}

/* The per-mount state (tests reach into the cache to age keys). */
static inline struct transit_state *tfix_state(struct tfix *f)
{
    return f->entry->state;
}

static inline struct answer tcall(struct tfix *f, const char *method,
                                  const char *sub, const char *body)
{
    struct http_raw_request raw = {0};
    struct kh_request req = {0};
    struct kh_response resp = {0};
    struct backend_request br = {0};
    struct answer a = {0, NULL};
    char errmsg[KH_ERRMSG_SIZE] = "";
    char url[512];
    char *text = NULL;
    size_t len = 0;
    int r;

    snprintf(url, sizeof(url), "/v1/transit/%s", sub);
    raw.method = method;
    raw.url = url;
    raw.content_type = "application/json";
    raw.body = (const uint8_t *)body;
    raw.body_len = body != NULL ? strlen(body) : 0;
    raw.body_bytes_max = KH_HTTP_BODY_BYTES_DEFAULT;
    assert_int_equal(http_request_build(&raw, &req, errmsg, sizeof(errmsg)), 0);
    br.core = f->core;
    br.mount = f->entry;
    br.req = &req;
    br.subpath = req.path + strlen("transit/");
    br.view = &f->entry->view;
    br.state = f->entry->state;
    if (req.op == KH_OP_UPDATE) {
        bool exists = false;
        assert_int_equal(transit_backend_ops.existence(&br, &exists), 0);
        req.op = exists ? KH_OP_UPDATE : KH_OP_CREATE;
    }
    r = transit_backend_ops.handle(&br, &resp, errmsg, sizeof(errmsg));
    if (r != 0)
        http_response_error(&resp, r, errmsg);
    assert_int_equal(http_response_render(&resp, &text, &len, &a.status), 0);
    if (text != NULL && len > 0) {
        a.body = json_loads(text, 0, NULL);
        assert_non_null(a.body);
    }
    free(text);
    kh_response_clear(&resp);
    kh_request_clear(&req);
    return a;
}

static inline void answer_free(struct answer *a)
{
    json_decref(a->body);
    a->body = NULL;
}

/* Call and check the status; returns the answer (free it). */
static inline struct answer texpect(struct tfix *f, const char *method,
                                    const char *sub, const char *body,
                                    unsigned status)
{
    struct answer a = tcall(f, method, sub, body);

    if (a.status != status) {
        char *dump = a.body ? json_dumps(a.body, 0) : NULL;
        print_error("%s %s -> %u %s\n", method, sub, a.status,
                    dump ? dump : "");
        free(dump);
    }
    assert_int_equal(a.status, status);
    return a;
}

static inline void tstatus(struct tfix *f, const char *method, const char *sub,
                           const char *body, unsigned status)
{
    struct answer a = texpect(f, method, sub, body, status);

    answer_free(&a);
}

/* Expect status and an errors list whose first message contains msg. */
static inline void terror(struct tfix *f, const char *method, const char *sub,
                          const char *body, unsigned status, const char *msg)
{
    struct answer a = texpect(f, method, sub, body, status);
    json_t *errors = json_object_get(a.body, "errors");
    const char *text;

    assert_true(json_is_array(errors));
    assert_true(json_array_size(errors) >= 1);
    text = json_string_value(json_array_get(errors, 0));
    if (strstr(text, msg) == NULL)
        print_error("error \"%s\" lacks \"%s\"\n", text, msg);
    assert_non_null(strstr(text, msg));
    answer_free(&a);
}

/* data of a 200 envelope (borrowed from a). */
static inline json_t *tdata(const struct answer *a)
{
    assert_true(json_is_object(json_object_get(a->body, "data")));
    return json_object_get(a->body, "data");
}

/* A copy of string member key of data's answer to a 200 call. */
static inline char *tstring(struct tfix *f, const char *method,
                            const char *sub, const char *body,
                            const char *key)
{
    struct answer a = texpect(f, method, sub, body, 200);
    const char *v = json_string_value(json_object_get(tdata(&a), key));
    char *copy;

    assert_non_null(v);
    copy = strdup(v);
    assert_non_null(copy);
    answer_free(&a);
    return copy;
}

/* Standard base64 of a C string, malloc'ed. */
static inline char *tb64(const char *s)
{
    char *out = transit_b64((const uint8_t *)s, strlen(s));

    assert_non_null(out);
    return out;
}

/* Decode base64 text into a malloc'ed buffer. */
static inline uint8_t *tunb64(const char *text, size_t *ret_len)
{
    size_t size = strlen(text) / 4 * 3 + 3;
    uint8_t *out = malloc(size);

    assert_non_null(out);
    assert_int_equal(kh_base64_decode(text, strlen(text), out, size, ret_len),
                     0);
    return out;
}

/* encrypt/name of plaintext (a C string); the ciphertext, malloc'ed. */
static inline char *tencrypt(struct tfix *f, const char *name,
                             const char *plain, const char *extra)
{
    char *b64 = tb64(plain);
    char body[4096];
    char sub[128];
    char *ct;

    snprintf(body, sizeof(body), "{\"plaintext\":\"%s\"%s%s}", b64,
             extra != NULL ? "," : "", extra != NULL ? extra : "");
    snprintf(sub, sizeof(sub), "encrypt/%s", name);
    ct = tstring(f, "POST", sub, body, "ciphertext");
    free(b64);
    return ct;
}

/* decrypt/name of ciphertext; the plaintext as a C string, malloc'ed. */
static inline char *tdecrypt(struct tfix *f, const char *name, const char *ct,
                             const char *extra)
{
    char body[8192];
    char sub[128];
    char *b64, *plain;
    size_t len = 0;
    uint8_t *bytes;

    snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"%s%s}", ct,
             extra != NULL ? "," : "", extra != NULL ? extra : "");
    snprintf(sub, sizeof(sub), "decrypt/%s", name);
    b64 = tstring(f, "POST", sub, body, "plaintext");
    bytes = tunb64(b64, &len);
    plain = strndup((const char *)bytes, len);
    assert_non_null(plain);
    free(bytes);
    free(b64);
    return plain;
}

/* The integer member key of GET keys/name's data. */
static inline json_int_t tkey_int(struct tfix *f, const char *name,
                                  const char *key)
{
    char sub[128];
    struct answer a;
    json_int_t v;

    snprintf(sub, sizeof(sub), "keys/%s", name);
    a = texpect(f, "GET", sub, NULL, 200);
    assert_true(json_is_integer(json_object_get(tdata(&a), key)));
    v = json_integer_value(json_object_get(tdata(&a), key));
    answer_free(&a);
    return v;
}

#endif
