/*
 * test_http_forward.c - the standby's forwarding client against a real
 * libmicrohttpd server on a free loopback port, started afresh for each
 * test. The server echoes what it received (method, decoded path and
 * query, the forwarded headers, the body's length and hash) as JSON with
 * status 201, or answers in one of the modes below (oversize bodies,
 * chunked bodies, a redirect, a slow answer), and counts the connections
 * it accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>

#include "common/err.h"
#include "http/forward.h"

#define TOKEN              "hvs.forward-test-token-0123456789"
#define CLIENT             "192.0.2.7"
#define ECHO_BODY_TEXT_MAX 4096u

enum server_mode {
    MODE_ECHO,
    MODE_BIG,      /* big_len bytes with a Content-Length */
    MODE_CHUNKED,  /* big_len bytes, chunked, no Content-Length */
    MODE_REDIRECT, /* 307 to another address */
    MODE_SLOW,     /* echo after delay_ms */
    MODE_NO_TYPE,  /* 200 with a body and no Content-Type */
};

struct test_server
{
    struct MHD_Daemon *daemon;
    char addr[64]; /* "http://127.0.0.1:<port>" */
    uint16_t port;
    _Atomic int mode;
    size_t big_len;
    uint8_t *big;
    unsigned delay_ms;
    atomic_uint connections;
    atomic_uint requests;
};

struct echo_request
{
    uint8_t *body;
    size_t len;
    size_t cap;
};

struct chunk_state
{
    size_t left;
};

static uint32_t fnv1a(const uint8_t *p, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the test server ---- */

static enum MHD_Result echo_query(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
    (void)kind;
    json_array_append_new(cls, json_pack("[s, s?]", key, value));
    return MHD_YES;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO;
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_echo(struct MHD_Connection *c, const char *url,
                                   const char *method,
                                   const struct echo_request *er)
{
    json_t *query = json_array();
    json_t *obj;
    char *text;
    struct MHD_Response *resp;

    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, echo_query, query);
    obj = json_pack(
        "{s:s, s:s, s:o, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I}",
        "method", method, "url", url, "query", query, "token",
        header(c, "X-Vault-Token"), "authorization", header(c, "Authorization"),
        "content_type", header(c, "Content-Type"), "vault_forwarded_for",
        header(c, "X-Vault-Forwarded-For"), "forwarded_for",
        header(c, "X-Forwarded-For"), "expect", header(c, "Expect"),
        "content_length", header(c, "Content-Length"), "body_len",
        (json_int_t)er->len, "body_hash", (json_int_t)fnv1a(er->body, er->len));
    if (obj == NULL)
        return MHD_NO;
    if (er->len <= ECHO_BODY_TEXT_MAX && er->len > 0)
        json_object_set_new(obj, "body",
                            json_stringn((const char *)er->body, er->len));
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(text), text,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return queue(c, 201, resp);
}

static ssize_t chunk_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct chunk_state *cs = cls;
    size_t n = cs->left < max ? cs->left : max;

    (void)pos;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    memset(buf, 'c', n);
    cs->left -= n;
    return (ssize_t)n;
}

static enum MHD_Result answer_mode(struct test_server *s,
                                   struct MHD_Connection *c, const char *url,
                                   const char *method,
                                   const struct echo_request *er)
{
    struct MHD_Response *resp;
    struct chunk_state *cs;

    switch (atomic_load(&s->mode)) {
    case MODE_BIG:
        /* A copy: the test frees s->big as soon as the client returns,
         * which may be before sendmsg() does. */
        return queue(c, 200,
                     MHD_create_response_from_buffer(s->big_len, s->big,
                                                     MHD_RESPMEM_MUST_COPY));
    case MODE_CHUNKED:
        cs = malloc(sizeof(*cs));
        if (cs == NULL)
            return MHD_NO;
        cs->left = s->big_len;
        return queue(c, 200,
                     MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                                       chunk_read, cs, free));
    case MODE_REDIRECT:
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp != NULL)
            MHD_add_response_header(resp, "Location",
                                    "http://127.0.0.1:1/v1/elsewhere");
        return queue(c, 307, resp);
    case MODE_NO_TYPE:
        return queue(c, 200,
                     MHD_create_response_from_buffer(5, (void *)"plain",
                                                     MHD_RESPMEM_PERSISTENT));
    case MODE_SLOW:
        usleep(s->delay_ms * 1000u);
        return answer_echo(c, url, method, er);
    default:
        return answer_echo(c, url, method, er);
    }
}

static enum MHD_Result server_handle(void *cls, struct MHD_Connection *c,
                                     const char *url, const char *method,
                                     const char *version,
                                     const char *upload_data,
                                     size_t *upload_size, void **con_cls)
{
    struct test_server *s = cls;
    struct echo_request *er = *con_cls;

    (void)version;
    if (er == NULL) {
        er = calloc(1, sizeof(*er));
        *con_cls = er;
        return er != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        if (er->len + *upload_size > er->cap) {
            size_t cap = (er->len + *upload_size) * 2;
            uint8_t *body = realloc(er->body, cap);
            if (body == NULL)
                return MHD_NO;
            er->body = body;
            er->cap = cap;
        }
        memcpy(er->body + er->len, upload_data, *upload_size);
        er->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->requests, 1);
    return answer_mode(s, c, url, method, er);
}

static void server_completed(void *cls, struct MHD_Connection *c,
                             void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct echo_request *er = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (er != NULL) {
        free(er->body);
        free(er);
    }
    *con_cls = NULL;
}

static void server_connection(void *cls, struct MHD_Connection *c,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct test_server *s = cls;

    (void)c;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->connections, 1);
}

static int setup(void **state)
{
    struct test_server *s = calloc(1, sizeof(*s));
    struct sockaddr_in sin;
    const union MHD_DaemonInfo *info;

    if (s == NULL)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = 0;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, server_handle, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sin, MHD_OPTION_NOTIFY_COMPLETED, server_completed,
        s, MHD_OPTION_NOTIFY_CONNECTION, server_connection, s, MHD_OPTION_END);
    info = s->daemon != NULL
               ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)
               : NULL;
    if (info == NULL || info->port == 0) {
        if (s->daemon != NULL)
            MHD_stop_daemon(s->daemon);
        free(s);
        return -1;
    }
    s->port = info->port;
    snprintf(s->addr, sizeof(s->addr), "http://127.0.0.1:%u",
             (unsigned)s->port);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct test_server *s = *state;

    /* Each test starts without a kept-alive connection to an old port. */
    http_forward_thread_release();
    http_forward_set_limit_for_tests(0);
    http_forward_set_timeout_for_tests(0);
    MHD_stop_daemon(s->daemon);
    free(s->big);
    free(s);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

/* ---- helpers ---- */

static struct http_raw_request raw_make(const char *method, const char *url)
{
    return (struct http_raw_request){
        .method = method,
        .url = url,
        .content_type = "application/json",
        .vault_token = TOKEN,
        .body = (const uint8_t *)"",
        .remote_addr = CLIENT,
    };
}

/* Forward raw to s and parse the echo; the result is freed here. */
static json_t *forward_echo(struct test_server *s,
                            const struct http_raw_request *raw)
{
    struct http_forward_result res = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    json_t *obj;

    assert_int_equal(
        http_forward(raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(res.status, 201);
    assert_string_equal(res.content_type, "application/json");
    assert_non_null(res.body);
    assert_int_equal(res.body[res.body_len], '\0');
    obj = json_loadb((const char *)res.body, res.body_len, 0, NULL);
    assert_non_null(obj);
    http_forward_result_free(&res);
    assert_null(res.body);
    return obj;
}

static const char *field(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

static json_int_t field_int(const json_t *obj, const char *name)
{
    return json_integer_value(json_object_get(obj, name));
}

static void assert_null_field(const json_t *obj, const char *name)
{
    assert_true(json_is_null(json_object_get(obj, name)));
}

/* ---- tests ---- */

/* Method, path, query (spaces, '&', '=', '+', a flag), token and the
 * client address arrive at the active node exactly. */
static void test_forward_get_exact(void **state)
{
    struct test_server *s = *state;
    const struct http_query_arg query[] = {
        {"a b", "x&y=z+1 2"},
        {"flag", NULL},
        {"list", "true"},
        {"ünï", "%41"},
    };
    struct http_raw_request raw = raw_make("GET", "/v1/secret/data/a b/%2F?#");
    json_t *obj, *q;

    raw.query = query;
    raw.query_count = KH_ARRAY_LEN(query);
    obj = forward_echo(s, &raw);
    assert_string_equal(field(obj, "method"), "GET");
    assert_string_equal(field(obj, "url"), "/v1/secret/data/a b/%2F?#");
    q = json_object_get(obj, "query");
    assert_int_equal(json_array_size(q), 4);
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(q, 0), 0)), "a b");
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(q, 0), 1)),
        "x&y=z+1 2");
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(q, 1), 0)), "flag");
    assert_true(json_is_null(json_array_get(json_array_get(q, 1), 1)));
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(q, 2), 1)), "true");
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(q, 3), 0)), "ünï");
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(q, 3), 1)), "%41");
    assert_string_equal(field(obj, "token"), TOKEN);
    assert_null_field(obj, "authorization");
    assert_string_equal(field(obj, "vault_forwarded_for"), CLIENT);
    assert_string_equal(field(obj, "forwarded_for"), CLIENT);
    assert_string_equal(field(obj, "content_type"), "application/json");
    assert_null_field(obj, "content_length");
    assert_int_equal(field_int(obj, "body_len"), 0);
    json_decref(obj);
    assert_int_equal(atomic_load(&s->requests), 1);
}

/* LIST (a custom method) and DELETE go out as themselves, without a
 * body; an absent token stays absent. */
static void test_forward_list_delete(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("LIST", "/v1/secret/metadata/");
    json_t *obj;

    raw.vault_token = NULL;
    obj = forward_echo(s, &raw);
    assert_string_equal(field(obj, "method"), "LIST");
    assert_string_equal(field(obj, "url"), "/v1/secret/metadata/");
    assert_null_field(obj, "token");
    assert_null_field(obj, "content_length");
    json_decref(obj);
    raw = raw_make("DELETE", "/v1/secret/data/x");
    obj = forward_echo(s, &raw);
    assert_string_equal(field(obj, "method"), "DELETE");
    assert_int_equal(field_int(obj, "body_len"), 0);
    json_decref(obj);
}

/* A PUT with an empty body sends Content-Length: 0; a body without a
 * Content-Type gets none (not libcurl's form type). */
static void test_forward_put_empty_and_untyped(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("PUT", "/v1/sys/seal");
    json_t *obj;

    obj = forward_echo(s, &raw);
    assert_string_equal(field(obj, "method"), "PUT");
    assert_string_equal(field(obj, "content_length"), "0");
    assert_int_equal(field_int(obj, "body_len"), 0);
    json_decref(obj);
    raw = raw_make("POST", "/v1/auth/userpass/login/bob");
    raw.content_type = NULL;
    raw.body = (const uint8_t *)"{\"password\":\"pw\"}";
    raw.body_len = strlen((const char *)raw.body);
    obj = forward_echo(s, &raw);
    assert_string_equal(field(obj, "method"), "POST");
    assert_null_field(obj, "content_type");
    assert_string_equal(field(obj, "body"), "{\"password\":\"pw\"}");
    json_decref(obj);
}

/* A 1 MiB binary body arrives whole, and so does one a byte longer (past
 * libcurl's Expect: 100-continue threshold) without an Expect header;
 * Authorization and a PATCH content type travel with them. */
static void test_forward_body_1mib(void **state)
{
    struct test_server *s = *state;
    const size_t sizes[] = {1024u * 1024u, 1024u * 1024u + 1u};
    const size_t len = sizes[1];
    uint8_t *body = malloc(len);
    struct http_raw_request raw = raw_make("PATCH", "/v1/secret/data/big");
    json_t *obj;
    size_t i;

    assert_non_null(body);
    for (i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 131u + (i >> 9));
    raw.body = body;
    raw.content_type = "application/merge-patch+json";
    raw.authorization = "Bearer " TOKEN;
    for (i = 0; i < KH_ARRAY_LEN(sizes); i++) {
        raw.body_len = sizes[i];
        obj = forward_echo(s, &raw);
        assert_string_equal(field(obj, "method"), "PATCH");
        assert_int_equal(field_int(obj, "body_len"), (json_int_t)sizes[i]);
        assert_int_equal(field_int(obj, "body_hash"),
                         (json_int_t)fnv1a(body, sizes[i]));
        assert_null_field(obj, "expect");
        assert_string_equal(field(obj, "content_type"),
                            "application/merge-patch+json");
        assert_string_equal(field(obj, "authorization"), "Bearer " TOKEN);
        json_decref(obj);
    }
    free(body);
}

/* HEAD answers the status and Content-Type with no body. */
static void test_forward_head(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("HEAD", "/v1/sys/health");
    struct http_forward_result res = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";

    assert_int_equal(
        http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(res.status, 201);
    assert_null(res.body);
    assert_int_equal(res.body_len, 0);
    assert_string_equal(res.content_type, "application/json");
    http_forward_result_free(&res);
}

static int forward_big(struct test_server *s, enum server_mode mode, size_t len,
                       struct http_forward_result *res, char *errmsg,
                       size_t errmsg_size)
{
    struct http_raw_request raw = raw_make("GET", "/v1/sys/storage/raft/"
                                                  "snapshot");

    free(s->big);
    s->big = malloc(len);
    assert_non_null(s->big);
    memset(s->big, 'b', len);
    s->big_len = len;
    atomic_store(&s->mode, mode);
    memset(res, 0, sizeof(*res));
    return http_forward(&raw, s->addr, NULL, res, errmsg, errmsg_size);
}

/* An answer of exactly the limit is collected; one byte more is
 * KH_ETOOBIG, refused from its Content-Length before it is read, or while
 * it streams when chunked. */
static void test_forward_limit(void **state)
{
    struct test_server *s = *state;
    const size_t max = 65536;
    const enum server_mode modes[] = {MODE_BIG, MODE_CHUNKED};
    const char *const why[] = {"announced a body over", "answered a body over"};
    struct http_forward_result res;
    char errmsg[KH_ERRMSG_SIZE] = "";
    size_t i;

    http_forward_set_limit_for_tests(max);
    for (i = 0; i < KH_ARRAY_LEN(modes); i++) {
        assert_int_equal(
            forward_big(s, modes[i], max, &res, errmsg, sizeof(errmsg)), 0);
        assert_int_equal(res.status, 200);
        assert_int_equal(res.body_len, max);
        assert_string_equal(res.content_type, "");
        http_forward_result_free(&res);
        errmsg[0] = '\0';
        assert_int_equal(
            forward_big(s, modes[i], max + 1, &res, errmsg, sizeof(errmsg)),
            KH_ETOOBIG);
        assert_non_null(strstr(errmsg, s->addr));
        assert_non_null(strstr(errmsg, why[i]));
        assert_null(res.body);
    }
}

/* Under the real limit a 64 MiB answer (a raft snapshot) comes back
 * whole. */
static void test_forward_snapshot_fits(void **state)
{
    struct test_server *s = *state;
    const size_t len = 64u * 1024u * 1024u;
    struct http_forward_result res;
    char errmsg[KH_ERRMSG_SIZE] = "";
    double t0 = now_ms();

    assert_int_equal(
        forward_big(s, MODE_BIG, len, &res, errmsg, sizeof(errmsg)), 0);
    print_message("64 MiB answer forwarded in %.0f ms\n", now_ms() - t0);
    assert_int_equal(res.body_len, len);
    assert_int_equal(res.body[0], 'b');
    assert_int_equal(res.body[len - 1], 'b');
    http_forward_result_free(&res);
}

/* A closed port is KH_EUNAVAIL at once, naming the address and not the
 * token. */
static void test_forward_closed_port(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("GET", "/v1/sys/health");
    struct http_forward_result res = {0};
    struct sockaddr_in sin = {0};
    socklen_t sin_len = sizeof(sin);
    char errmsg[KH_ERRMSG_SIZE] = "";
    char addr[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double t0;

    (void)s;
    assert_true(fd >= 0);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sin_len), 0);
    close(fd); /* bound, never listened: the port refuses */
    snprintf(addr, sizeof(addr), "http://127.0.0.1:%u",
             (unsigned)ntohs(sin.sin_port));
    t0 = now_ms();
    assert_int_equal(
        http_forward(&raw, addr, NULL, &res, errmsg, sizeof(errmsg)),
        KH_EUNAVAIL);
    assert_true(now_ms() - t0 < 2000.0);
    assert_non_null(strstr(errmsg, addr));
    assert_null(strstr(errmsg, TOKEN));
    assert_int_equal(res.status, 0);
}

/* An active node slower than the timeout is KH_EUNAVAIL when it expires. */
static void test_forward_timeout(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("GET", "/v1/sys/health");
    struct http_forward_result res = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    double t0, elapsed;

    s->delay_ms = 1500;
    atomic_store(&s->mode, MODE_SLOW);
    http_forward_set_timeout_for_tests(200);
    t0 = now_ms();
    assert_int_equal(
        http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)),
        KH_EUNAVAIL);
    elapsed = now_ms() - t0;
    assert_true(elapsed >= 150.0);
    assert_true(elapsed < 1200.0);
    assert_non_null(strstr(errmsg, "200 ms"));
    assert_non_null(strstr(errmsg, s->addr));
}

/* 100 sequential forwards from one thread share one connection; after
 * http_forward_thread_release() the next one opens a new one. */
static void test_forward_keepalive(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("GET", "/v1/sys/health");
    struct http_forward_result res;
    char errmsg[KH_ERRMSG_SIZE] = "";
    double t0 = now_ms();
    int i;

    for (i = 0; i < 100; i++) {
        memset(&res, 0, sizeof(res));
        assert_int_equal(
            http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)), 0);
        assert_int_equal(res.status, 201);
        http_forward_result_free(&res);
    }
    print_message("100 forwards in %.1f ms\n", now_ms() - t0);
    assert_int_equal(atomic_load(&s->requests), 100);
    assert_int_equal(atomic_load(&s->connections), 1);
    http_forward_thread_release();
    http_forward_thread_release(); /* twice: nothing left to release */
    assert_int_equal(
        http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)), 0);
    http_forward_result_free(&res);
    assert_int_equal(atomic_load(&s->connections), 2);
}

static void *forward_thread(void *arg)
{
    struct test_server *s = arg;
    struct http_raw_request raw = raw_make("GET", "/v1/sys/health");
    struct http_forward_result res;
    char errmsg[KH_ERRMSG_SIZE];
    intptr_t failures = 0;
    int i;

    for (i = 0; i < 25; i++) {
        memset(&res, 0, sizeof(res));
        if (http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)) !=
                0 ||
            res.status != 201)
            failures++;
        http_forward_result_free(&res);
    }
    return (void *)failures; /* the handle is released at thread exit */
}

/* Each thread keeps its own handle: two threads, two connections. */
static void test_forward_threads(void **state)
{
    struct test_server *s = *state;
    pthread_t t[2];
    void *failures;
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, forward_thread, s), 0);
    for (i = 0; i < KH_ARRAY_LEN(t); i++) {
        assert_int_equal(pthread_join(t[i], &failures), 0);
        assert_null(failures);
    }
    assert_int_equal(atomic_load(&s->requests), 50);
    assert_int_equal(atomic_load(&s->connections), 2);
}

/* A redirect is answered as is, never followed; an answer without a
 * Content-Type gives "". */
static void test_forward_redirect_and_untyped(void **state)
{
    struct test_server *s = *state;
    struct http_raw_request raw = raw_make("GET", "/v1/sys/health");
    struct http_forward_result res = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";

    atomic_store(&s->mode, MODE_REDIRECT);
    assert_int_equal(
        http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(res.status, 307);
    assert_int_equal(atomic_load(&s->requests), 1);
    http_forward_result_free(&res);
    atomic_store(&s->mode, MODE_NO_TYPE);
    assert_int_equal(
        http_forward(&raw, s->addr, NULL, &res, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "");
    assert_int_equal(res.body_len, 5);
    assert_memory_equal(res.body, "plain", 5);
    http_forward_result_free(&res);
    http_forward_result_free(NULL);
}

static int forward_once(struct test_server *s, const char *method,
                        const char *url, const char *token, const char *addr,
                        char *errmsg, size_t errmsg_size)
{
    struct http_raw_request raw = raw_make(method, url);
    struct http_forward_result res = {0};
    int r;

    raw.vault_token = token;
    r = http_forward(&raw, addr != NULL ? addr : s->addr, NULL, &res, errmsg,
                     errmsg_size);
    http_forward_result_free(&res);
    return r;
}

/* Malformed addresses, methods, paths and header values are refused
 * before anything is sent; https to a plain server fails its handshake. */
static void test_forward_refusals(void **state)
{
    struct test_server *s = *state;
    char errmsg[KH_ERRMSG_SIZE] = "";
    char https[80];
    static const char *const bad_addrs[] = {
        "ftp://127.0.0.1:1",     "http://",        "https:///", "http://a b:1",
        "http://127.0.0.1:1/?x", "127.0.0.1:8200",
    };
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(bad_addrs); i++)
        assert_int_equal(forward_once(s, "GET", "/v1/x", TOKEN, bad_addrs[i],
                                      errmsg, sizeof(errmsg)),
                         KH_EUNAVAIL);
    assert_int_equal(
        forward_once(s, "GE T", "/v1/x", TOKEN, NULL, errmsg, sizeof(errmsg)),
        KH_EMETHOD);
    assert_int_equal(
        forward_once(s, "", "/v1/x", TOKEN, NULL, errmsg, sizeof(errmsg)),
        KH_EMETHOD);
    assert_int_equal(
        forward_once(s, "GET", "v1/x", TOKEN, NULL, errmsg, sizeof(errmsg)),
        KH_EINVAL);
    assert_int_equal(forward_once(s, "GET", "/v1/x", "t\r\nX-Evil: 1", NULL,
                                  errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    assert_int_equal(atomic_load(&s->requests), 0);
    snprintf(https, sizeof(https), "https://127.0.0.1:%u/", (unsigned)s->port);
    assert_int_equal(
        forward_once(s, "GET", "/v1/x", TOKEN, https, errmsg, sizeof(errmsg)),
        KH_EUNAVAIL);
    assert_null(strstr(errmsg, TOKEN));
    /* A trailing slash on the address is ignored. */
    snprintf(https, sizeof(https), "%s/", s->addr);
    assert_int_equal(
        forward_once(s, "GET", "/v1/x", TOKEN, https, errmsg, sizeof(errmsg)),
        0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_forward_get_exact),
        T(test_forward_list_delete),
        T(test_forward_put_empty_and_untyped),
        T(test_forward_body_1mib),
        T(test_forward_head),
        T(test_forward_limit),
        T(test_forward_snapshot_fits),
        T(test_forward_closed_port),
        T(test_forward_timeout),
        T(test_forward_keepalive),
        T(test_forward_threads),
        T(test_forward_redirect_and_untyped),
        T(test_forward_refusals),
#undef T
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
