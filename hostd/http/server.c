/*
 * server.c - libmicrohttpd glue: listeners, TLS, the per-request body
 * buffer, and handing each complete request to request_handle().
 *
 * Owns the MHD daemons and, per connection, the body buffer (wiped when
 * the request completes: bodies carry secrets). Limits are enforced here,
 * where bytes first enter: header count and size, URL length, body size.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <unistd.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/request_handle.h"
#include "http/forward.h"
#include "http/request_parse.h"
#include "http/response.h"
#include "http/tls_files.h"
#include "raft/raft_node.h"

struct http_listener
{
    struct http_server *server;
    const struct kh_config_listener *config;
    struct MHD_Daemon *daemon;
    struct tls_files tls;
    uint16_t port;
};

struct http_server
{
    struct kh_core *core;
    struct http_listener listeners[KH_CONFIG_LISTENERS_MAX];
    size_t count;
};

struct http_conn_ctx
{
    uint8_t *body;
    size_t len;
    size_t cap;
    bool rejected;              /* a response was queued early */
    bool started;               /* the header call has been seen */
    int late_error;             /* body refused: answer at the final call */
    size_t uri_len;             /* the raw request target, query included */
};

struct query_collect
{
    struct http_query_arg args[KH_HTTP_QUERY_ARGS_MAX + 1];
    size_t count;
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value)
{
    struct query_collect *q = cls;

    if (q->count >= KH_ARRAY_LEN(q->args))
        return MHD_NO;
    q->args[q->count].name = key;
    q->args[q->count].value = value;
    q->count++;
    return MHD_YES;
}

static enum MHD_Result add_arg_length(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    size_t *len = cls;

    /* "?" or "&", the key, "=" and the value (decoded: a lower bound) */
    *len += 2 + strlen(key) + (value != NULL ? strlen(value) : 0);
    return MHD_YES;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value)
{
    size_t *count = cls;

    (*count)++;
    return MHD_YES;
}

/* Response bodies carry secrets (KV reads, credentials): wiped when MHD
 * is done with them. */
static void free_wiped(void *text)
{
    if (text == NULL)
        return;
    kh_wipe(text, malloc_usable_size(text));
    free(text);
}

static enum MHD_Result send_response(struct MHD_Connection *c,
                                     const struct kh_response *resp)
{
    struct MHD_Response *mhd;
    enum MHD_Result ret;
    unsigned status = 500;
    char *text = NULL;
    size_t len = 0;

    if (http_response_render(resp, &text, &len, &status) != 0) {
        status = 503;
        text = NULL;
        len = 0;
    }
    mhd = MHD_create_response_from_buffer_with_free_callback(len, text,
                                                             free_wiped);
    if (mhd == NULL) {
        free_wiped(text);
        return MHD_NO;
    }
    MHD_add_response_header(mhd, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->text != NULL && resp->content_type != NULL
                                ? resp->content_type
                                : "application/json");
    MHD_add_response_header(mhd, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, status, mhd);
    MHD_destroy_response(mhd);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int r,
                                  const char *msg)
{
    struct kh_response resp = {0};
    enum MHD_Result ret;

    http_response_error(&resp, r, msg);
    ret = send_response(c, &resp);
    kh_response_clear(&resp);
    return ret;
}

static void remote_address(struct MHD_Connection *c, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info != NULL ? info->client_addr : NULL;

    out[0] = '\0';
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  out, (socklen_t)size);
}

static uint64_t body_limit(const struct http_listener *l, const char *url);

/* Paths a standby answers itself: its own state, and joining. */
static bool forward_local(const char *url)
{
    static const char *const local[] = {
        "/v1/sys/health",  "/v1/sys/seal-status",
        "/v1/sys/leader",  "/v1/sys/unseal",
        "/v1/sys/storage/raft/join", "/v1/sys/storage/raft/digest",
    };
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(local); i++)
        if (strcmp(url, local[i]) == 0)
            return true;
    return false;
}

/* A raft standby hands the request to the active node and relays the
 * answer (http/forward.h). False when this node answers itself. */
static bool dispatch_forward(struct http_listener *l, struct MHD_Connection *c,
                             const struct http_raw_request *raw,
                             enum MHD_Result *ret)
{
    char active[512], errmsg[KH_ERRMSG_SIZE] = "";
    struct http_forward_result fr;
    struct kh_response resp;
    int r;

    if (forward_local(raw->url))
        return false;
    r = kh_core_active_addr(l->server->core, active, sizeof(active));
    if (r == 0)
        return false;
    memset(&resp, 0, sizeof(resp));
    memset(&fr, 0, sizeof(fr));
    if (r < 0)
        r = kh_errmsg(errmsg, sizeof(errmsg), KH_EUNAVAIL,
                      "local node not active but active cluster node not "
                      "found");
    else
        /* An https active node is verified with the system's CAs or the
         * cluster's own CA. */
        r = http_forward(raw, active,
                         kh_config_param(&l->server->core->config->storage,
                                         "tls_ca_file"),
                         &fr, errmsg, sizeof(errmsg));
    if (r != 0) {
        http_response_error(&resp, r, errmsg);
    } else {
        resp.status = (int)fr.status;
        resp.text = fr.body_len > 0 ? (char *)fr.body : strdup("");
        resp.text_len = fr.body_len;
        if (fr.body_len > 0) {
            fr.body = NULL; /* resp's now */
            fr.body_len = 0;
        }
        resp.content_type =
            fr.content_type[0] ? fr.content_type : "application/json";
        if (resp.text == NULL)
            http_response_error(&resp, KH_ENOMEM, "");
    }
    *ret = send_response(c, &resp);
    kh_response_clear(&resp);
    http_forward_result_free(&fr);
    return true;
}

/* The whole request has arrived: parse, run the request path, answer. */
static enum MHD_Result dispatch(struct http_listener *l,
                                struct MHD_Connection *c, const char *url,
                                const char *method, struct http_conn_ctx *ctx)
{
    struct http_raw_request raw;
    struct query_collect query;
    struct kh_request req;
    struct kh_response resp;
    char errmsg[KH_ERRMSG_SIZE] = "";
    char addr[64];
    enum MHD_Result ret;
    int r;

    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    query.count = 0;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query,
                              &query);
    remote_address(c, addr, sizeof(addr));
    raw = (struct http_raw_request){
        .method = method,
        .url = url,
        .query = query.args,
        .query_count = query.count,
        .content_type = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .vault_token =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Vault-Token"),
        .authorization = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .body = ctx->body != NULL ? ctx->body : (const uint8_t *)"",
        .body_len = ctx->len,
        .body_bytes_max = body_limit(l, url),
        .remote_addr = addr,
    };
    if (dispatch_forward(l, c, &raw, &ret))
        return ret;
    r = http_request_build(&raw, &req, errmsg, sizeof(errmsg));
    if (r != 0)
        http_response_error(&resp, r, errmsg);
    else
        request_handle(l->server->core, &req, &resp);
    ret = send_response(c, &resp);
    kh_request_clear(&req);
    kh_response_clear(&resp);
    return ret;
}

/* The body limit of a request: the listener's, or room for a whole raft
 * snapshot file on the snapshot restore paths. */
static uint64_t body_limit(const struct http_listener *l, const char *url)
{
    uint64_t max = l->config->max_request_size;

    if (url != NULL &&
        (strcmp(url, "/v1/sys/storage/raft/snapshot") == 0 ||
         strcmp(url, "/v1/sys/storage/raft/snapshot-force") == 0) &&
        max < KH_RAFT_SNAPSHOT_FILE_BYTES_MAX)
        max = KH_RAFT_SNAPSHOT_FILE_BYTES_MAX;
    return max;
}

/* Reject before reading the body when headers already break a limit. */
static int check_headers(struct http_listener *l, struct MHD_Connection *c,
                         const char *url, size_t ctx_uri_len, char *errmsg,
                         size_t errmsg_size)
{
    const char *length_text = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t headers = 0;

    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &headers);
    if (headers > KH_HTTP_HEADER_COUNT_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "too many request headers (limit %d)",
                         KH_HTTP_HEADER_COUNT_MAX);
    if (ctx_uri_len > KH_HTTP_URL_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "request URL too long (limit %d bytes)",
                         KH_HTTP_URL_BYTES_MAX);
    if (length_text != NULL &&
        strtoull(length_text, NULL, 10) > body_limit(l, url))
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "request body too large (limit %llu bytes)",
                         (unsigned long long)body_limit(l, url));
    return 0;
}

static int body_append(struct http_conn_ctx *ctx, const char *data,
                       size_t len, size_t max)
{
    if (len > max - ctx->len || ctx->len + len > max)
        return KH_ETOOBIG;
    if (ctx->len + len > ctx->cap) {
        size_t cap = ctx->cap == 0 ? 4096 : ctx->cap;
        uint8_t *grown;
        while (cap < ctx->len + len)
            cap = cap > max / 2 ? max : cap * 2;
        grown = malloc(cap);
        if (grown == NULL)
            return KH_ENOMEM;
        if (ctx->body != NULL)
            memcpy(grown, ctx->body, ctx->len);
        kh_free_secret(ctx->body, ctx->cap);
        ctx->body = grown;
        ctx->cap = cap;
    }
    memcpy(ctx->body + ctx->len, data, len);
    ctx->len += len;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct http_listener *l = cls;
    struct http_conn_ctx *ctx = *con_cls;
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r;

    if (ctx == NULL) {
        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL)
            return MHD_NO;
        *con_cls = ctx;
    }
    if (!ctx->started) {
        ctx->started = true;
        ctx->uri_len = strlen(url);
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg_length,
                                  &ctx->uri_len);
        r = check_headers(l, c, url, ctx->uri_len, errmsg, sizeof(errmsg));
        if (r != 0) {
            ctx->rejected = true;
            return send_error(c, r, errmsg);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!ctx->rejected && ctx->late_error == 0) {
            r = body_append(ctx, upload, *upload_size, body_limit(l, url));
            if (r != 0) {
                ctx->late_error = r;
                kh_free_secret(ctx->body, ctx->cap);
                ctx->body = NULL;
                ctx->len = ctx->cap = 0;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (ctx->rejected)
        return MHD_YES;
    if (ctx->late_error != 0) {
        ctx->rejected = true;
        return send_error(c, ctx->late_error,
                          ctx->late_error == KH_ETOOBIG
                              ? "request body too large"
                              : "");
    }
    return dispatch(l, c, url, method, ctx);
}

/* %XX decoding that keeps "%00" as is: a NUL must not cut the path. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *out = s;
    const char *in = s;

    while (*in != '\0') {
        unsigned v;
        if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
            isxdigit((unsigned char)in[2]) &&
            sscanf(in + 1, "%2x", &v) == 1 && v != 0) {
            *out++ = (char)v;
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_conn_ctx *ctx = *con_cls;

    if (ctx == NULL)
        return;
    kh_free_secret(ctx->body, ctx->cap);
    free(ctx);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls,
                                                          const char *fmt,
                                                          va_list ap)
{
    char msg[512];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_debug("http: %s", msg);
}

static int parse_address(const char *address, struct sockaddr_storage *ret,
                         char *errmsg, size_t errmsg_size)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    struct addrinfo hints, *res = NULL;
    size_t host_len;
    int gai;

    if (colon == NULL || colon == address || colon[1] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "listener address \"%s\": expected host:port",
                         address);
    host_len = (size_t)(colon - address);
    if (address[0] == '[' && host_len >= 2 && address[host_len - 1] == ']') {
        address++;
        host_len -= 2;
    }
    if (host_len >= sizeof(host))
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "listener address \"%s\": host too long", address);
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "listener address \"%s\": %s", address,
                         gai_strerror(gai));
    memset(ret, 0, sizeof(*ret));
    memcpy(ret, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Start one daemon; listen_fd >= 0 reuses a quiesced socket. */
static struct MHD_Daemon *daemon_start(struct http_listener *l,
                                       const struct sockaddr_storage *addr,
                                       int listen_fd)
{
    /* poll(), not epoll: with epoll, MHD 0.9.75 leaves a connection that
     * overflowed its memory (a flood of query arguments) hanging until the
     * timeout instead of closing it; poll closes it at once. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    const char *priorities = l->config->tls_min_version >= 13
                                 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                                 : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    struct MHD_OptionItem opts[20];
    size_t n = 0;

    if (addr != NULL && addr->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger first, so MHD's option parsing can already use it. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
                                        (intptr_t)mhd_log, NULL};
    opts[n++] = (struct MHD_OptionItem){
        MHD_OPTION_THREAD_POOL_SIZE,
        l->server->core->raft != NULL ? KH_HTTP_THREADS_RAFT
                                      : KH_HTTP_THREADS_DEFAULT,
        NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        KH_HTTP_CONNECTIONS_MAX, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                        KH_HTTP_CONNECTION_TIMEOUT_S, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        KH_HTTP_HEADER_BYTES_MAX * 2, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK,
                                        (intptr_t)unescape, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)on_completed, NULL};
    if (listen_fd >= 0)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET,
                                            listen_fd, NULL};
    else
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0,
                                            (void *)addr};
    if (!l->config->tls_disable) {
        flags |= MHD_USE_TLS;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                            l->tls.key};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                            l->tls.cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)priorities};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

static int listener_start(struct http_listener *l, char *errmsg,
                          size_t errmsg_size)
{
    struct sockaddr_storage addr;
    const union MHD_DaemonInfo *info;
    int r;

    r = parse_address(l->config->address != NULL ? l->config->address
                                                 : "127.0.0.1:8200",
                      &addr, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (!l->config->tls_disable) {
        if (l->config->tls_cert_file == NULL ||
            l->config->tls_key_file == NULL)
            return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                             "listener %s: tls_cert_file and tls_key_file "
                             "are required unless tls_disable = true",
                             l->config->address);
        r = tls_files_load(&l->tls, l->config->tls_cert_file,
                           l->config->tls_key_file, errmsg, errmsg_size);
        if (r != 0)
            return r;
    }
    l->daemon = daemon_start(l, &addr, -1);
    if (l->daemon == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "cannot listen on %s (address in use, or bad TLS "
                         "certificate/key)",
                         l->config->address);
    info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info != NULL ? info->port : 0;
    return 0;
}

int http_server_start(struct kh_core *core,
                      const struct kh_config_listener *listeners,
                      size_t count, struct http_server **ret_server,
                      char *errmsg, size_t errmsg_size)
{
    struct http_server *server;
    size_t i;
    int r = 0;

    KH_ASSERT(count <= KH_CONFIG_LISTENERS_MAX);
    server = calloc(1, sizeof(*server));
    if (server == NULL)
        return KH_ENOMEM;
    server->core = core;
    for (i = 0; i < count && r == 0; i++) {
        struct http_listener *l = &server->listeners[i];
        l->server = server;
        l->config = &listeners[i];
        server->count = i + 1;
        r = listener_start(l, errmsg, errmsg_size);
    }
    if (r != 0) {
        http_server_stop(server);
        return r;
    }
    *ret_server = server;
    return 0;
}

uint16_t http_server_port(const struct http_server *server, size_t i)
{
    KH_ASSERT(i < server->count);
    return server->listeners[i].port;
}

/* MHD closes the listen socket when a start fails: hand it a copy, and
 * close the original only once a daemon owns the copy. */
static struct MHD_Daemon *daemon_restart(struct http_listener *l,
                                         MHD_socket fd)
{
    struct MHD_Daemon *d;
    int copy = dup(fd);

    if (copy < 0)
        return NULL;
    d = daemon_start(l, NULL, copy);
    if (d != NULL)
        close(fd);
    return d;
}

int http_server_reload_tls(struct http_server *server, char *errmsg,
                           size_t errmsg_size)
{
    size_t i;
    int r = 0;

    for (i = 0; i < server->count; i++) {
        struct http_listener *l = &server->listeners[i];
        struct tls_files old = l->tls;
        struct tls_files fresh = {0};
        struct MHD_Daemon *previous = l->daemon;
        MHD_socket fd;

        if (l->config->tls_disable || l->daemon == NULL)
            continue;
        r = tls_files_load(&fresh, l->config->tls_cert_file,
                           l->config->tls_key_file, errmsg, errmsg_size);
        if (r != 0)
            return r;
        fd = MHD_quiesce_daemon(previous);
        l->tls = fresh;
        l->daemon = daemon_restart(l, fd);
        if (l->daemon == NULL) {
            /* The new certificate was refused: keep serving the old one. */
            tls_files_clear(&l->tls);
            l->tls = old;
            l->daemon = daemon_restart(l, fd);
            MHD_stop_daemon(previous);
            return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                             "listener %s: new certificate or key refused",
                             l->config->address);
        }
        MHD_stop_daemon(previous);
        tls_files_clear(&old);
    }
    return r;
}

void http_server_stop(struct http_server *server)
{
    size_t i;

    if (server == NULL)
        return;
    for (i = 0; i < server->count; i++) {
        if (server->listeners[i].daemon != NULL)
            MHD_stop_daemon(server->listeners[i].daemon);
        tls_files_clear(&server->listeners[i].tls);
    }
    free(server);
}
