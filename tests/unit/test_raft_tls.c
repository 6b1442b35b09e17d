/*
 * test_raft_tls.c - mutual TLS on the raft cluster port (raft_tls.c inside
 * raft_io_lmdb.c): raft servers in one process on one libuv loop, as in
 * test_raft_cluster.c, with a CA, a rogue CA and node certificates made
 * here with the OpenSSL API.
 *
 * Covers: a cluster whose certificates share a CA elects and replicates,
 * and every byte a TCP proxy sees between two nodes is TLS (no handshake
 * magic, key or value in it) while the entries arrive; a node whose
 * certificate comes from another CA never has a message accepted nor
 * receives one while the others work; raw TCP clients writing garbage,
 * a plaintext handshake or a TLS client without a certificate are dropped
 * with no message accepted and the node keeps working; init refuses a
 * missing or unreadable file and a key that does not match its
 * certificate with KH_ECONFIG and the file's name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "raft/raft_codec.h"
#include "raft/raft_fsm.h"
#include "raft/raft_io_lmdb.h"
#include "storage/storage.h"

#include "lib/fixture.h"

#define NODES             3
#define ELECTION_MS       500
#define HEARTBEAT_MS      100
#define WAIT_MS           30000
#define KEYS_MAX          256
#define CAPTURE_BYTES_MAX (8u * 1024u * 1024u)
#define PIPE_CHUNK_BYTES  (64u * 1024u)
#define FORGED_TERM       1000u /* a term no honest node reaches here */

struct node
{
    raft_id id;
    char address[32]; /* in the configuration: where peers connect */
    char listen[32];  /* where it listens (differs behind the proxy) */
    char dir[PATH_MAX];
    char cert_file[PATH_MAX];
    char key_file[PATH_MAX];
    struct kh_raft_tls tls;
    struct raft raft;
    struct raft_io io;
    struct kh_raft_fsm *fsm;
    /* Test hook around the io: raft's start and recv, to count what raft
     * is handed. Set once per start, read only by the hooks below. */
    int (*io_start)(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                    raft_io_recv_cb recv);
    raft_io_recv_cb raft_recv;
    unsigned from[NODES + 1]; /* messages raft received, by sender id */
    bool running;
    bool closed;
};

struct cluster
{
    char *tmp;
    uv_loop_t loop;
    uv_timer_t wake;
    struct node nodes[NODES];
    EVP_PKEY *ca_key, *rogue_key;
    X509 *ca, *rogue;
    char ca_file[PATH_MAX];
    char rogue_file[PATH_MAX];
    struct proxy *proxy; /* test_tls_wire_is_ciphertext's, while open */
    bool acked[KEYS_MAX];
};

struct apply_req
{
    struct raft_apply req;
    struct cluster *c;
    unsigned key;
    bool done;
    int status;
};

/* dir + "/" + name into out, which must hold it. */
static void path_join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < size);
}

/* ---- certificates, made with the OpenSSL API ---- */

static void cert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for key named cn, valid for a day: a self-signed CA when
 * issuer is NULL, else a node certificate for TLS servers and clients. */
static X509 *cert_make(const char *cn, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key, long serial)
{
    X509 *x = X509_new();
    X509_NAME *name;
    bool ca = issuer == NULL;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)cn, -1,
                                                -1, 0),
                     1);
    assert_int_equal(
        X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer)), 1);
    cert_ext(x, ca ? x : issuer, NID_basic_constraints,
             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    cert_ext(x, ca ? x : issuer, NID_key_usage,
             ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!ca)
        cert_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
    assert_true(X509_sign(x, ca ? key : issuer_key, EVP_sha256()) > 0);
    return x;
}

static void pem_write(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    if (cert != NULL)
        assert_int_equal(PEM_write_X509(f, cert), 1);
    if (key != NULL)
        assert_int_equal(
            PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
}

static EVP_PKEY *key_make(void)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    assert_non_null(key);
    return key;
}

/* n's certificate (signed by ca) and key into its directory; it trusts
 * the cluster CA whoever signed its own certificate. */
static void node_certs(struct cluster *c, struct node *n, X509 *ca,
                       EVP_PKEY *ca_key)
{
    EVP_PKEY *key = key_make();
    X509 *cert;
    char cn[32];

    snprintf(cn, sizeof(cn), "node%llu", (unsigned long long)n->id);
    cert = cert_make(cn, key, ca, ca_key, 10 + (long)n->id);
    path_join(n->cert_file, sizeof(n->cert_file), n->dir, "cert.pem");
    path_join(n->key_file, sizeof(n->key_file), n->dir, "key.pem");
    pem_write(n->cert_file, cert, NULL);
    pem_write(n->key_file, NULL, key);
    n->tls = (struct kh_raft_tls){n->cert_file, n->key_file, c->ca_file,
                                      false};
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* ---- nodes on one loop ---- */

static void wake_cb(uv_timer_t *t)
{
    (void)t;
}

static uint64_t now_ms(struct cluster *c)
{
    uv_update_time(&c->loop);
    return uv_now(&c->loop);
}

static void spin(struct cluster *c, unsigned ms)
{
    uint64_t end = now_ms(c) + ms;

    while (now_ms(c) < end)
        uv_run(&c->loop, UV_RUN_ONCE);
}

static struct node *node_of(struct raft_io *io)
{
    return (struct node *)((char *)io - offsetof(struct node, io));
}

static void hook_recv(struct raft_io *io, struct raft_message *msg)
{
    struct node *n = node_of(io);

    if (msg->server_id >= 1 && msg->server_id <= NODES)
        n->from[msg->server_id]++;
    n->raft_recv(io, msg);
}

static int hook_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                      raft_io_recv_cb recv)
{
    struct node *n = node_of(io);

    n->raft_recv = recv;
    return n->io_start(io, msecs, tick, hook_recv);
}

/* Snapshots are marks until a follower needs the data (raft_fsm.h). */
static int expand_snapshot(void *arg, struct raft_buffer *buf)
{
    return kh_raft_fsm_expand(arg, buf);
}

static void node_start(struct cluster *c, struct node *n)
{
    struct raft_configuration conf;
    char path[PATH_MAX], errmsg[KH_ERRMSG_SIZE] = "";
    int i, rv;

    path_join(path, sizeof(path), n->dir, "raft");
    rv = kh_raft_io_init(&n->io, &c->loop, path, &n->tls, errmsg,
                         sizeof(errmsg));
    if (rv != 0)
        fail_msg("kh_raft_io_init: %s", errmsg);
    n->io_start = n->io.start;
    n->io.start = hook_start;
    path_join(path, sizeof(path), n->dir, "fsm");
    assert_int_equal(kh_raft_fsm_open(path, &n->fsm, errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(raft_init(&n->raft, &n->io, kh_raft_fsm_vtable(n->fsm),
                               n->id, n->listen),
                     0);
    kh_raft_fsm_attach(n->fsm, &n->raft);
    kh_raft_io_set_expander(&n->io, expand_snapshot, n->fsm);
    raft_set_election_timeout(&n->raft, ELECTION_MS);
    raft_set_heartbeat_timeout(&n->raft, HEARTBEAT_MS);
    raft_set_pre_vote(&n->raft, true);
    raft_configuration_init(&conf);
    for (i = 0; i < NODES; i++)
        assert_int_equal(raft_configuration_add(&conf, c->nodes[i].id,
                                                c->nodes[i].address,
                                                RAFT_VOTER),
                         0);
    rv = raft_bootstrap(&n->raft, &conf);
    assert_true(rv == 0 || rv == RAFT_CANTBOOTSTRAP);
    raft_configuration_close(&conf);
    assert_int_equal(raft_start(&n->raft), 0);
    n->running = true;
    n->closed = false;
}

static void node_closed(struct raft *raft)
{
    struct node *n = raft->data;

    n->closed = true;
}

static void node_stop(struct cluster *c, struct node *n)
{
    uint64_t end = now_ms(c) + WAIT_MS;

    n->raft.data = n;
    raft_close(&n->raft, node_closed);
    while (!n->closed && now_ms(c) < end)
        uv_run(&c->loop, UV_RUN_ONCE);
    assert_true(n->closed);
    kh_raft_fsm_close(n->fsm);
    n->fsm = NULL;
    n->running = false;
}

static struct node *leader_of(struct cluster *c)
{
    int i;

    for (i = 0; i < NODES; i++)
        if (c->nodes[i].running && raft_state(&c->nodes[i].raft) == RAFT_LEADER)
            return &c->nodes[i];
    return NULL;
}

static struct node *wait_leader(struct cluster *c)
{
    uint64_t end = now_ms(c) + WAIT_MS;
    struct node *l;

    while ((l = leader_of(c)) == NULL && now_ms(c) < end)
        uv_run(&c->loop, UV_RUN_ONCE);
    assert_non_null(l);
    return l;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct apply_req *a = req->data;

    (void)result;
    a->done = true;
    a->status = status;
    if (status == 0)
        a->c->acked[a->key] = true;
}

/* Submit one write of key k to the leader; NULL if it refused at once. */
static struct apply_req *submit(struct cluster *c, struct node *l, unsigned k)
{
    char key[32], value[32];
    struct kh_storage_op op;
    struct raft_buffer buf;
    struct apply_req *a = calloc(1, sizeof(*a));

    assert_non_null(a);
    assert_true(k < KEYS_MAX);
    snprintf(key, sizeof(key), "k/%05u", k);
    snprintf(value, sizeof(value), "value-%u", k);
    op = (struct kh_storage_op){KH_STORAGE_PUT, key, (const uint8_t *)value,
                                strlen(value)};
    assert_int_equal(kh_raft_batch_encode(&op, 1, &buf), 0);
    a->c = c;
    a->key = k;
    a->req.data = a;
    if (raft_apply(&l->raft, &a->req, &buf, 1, apply_cb) != 0) {
        raft_free(buf.base);
        free(a);
        return NULL;
    }
    return a;
}

/* Write keys [from, to) one at a time through whoever leads, retrying
 * a key until it is acknowledged. */
static void write_keys(struct cluster *c, unsigned from, unsigned to)
{
    struct apply_req *a;
    uint64_t end;
    unsigned k;

    for (k = from; k < to; k++) {
        end = now_ms(c) + WAIT_MS;
        while (!c->acked[k] && now_ms(c) < end) {
            a = submit(c, wait_leader(c), k);
            if (a == NULL) {
                spin(c, 10);
                continue;
            }
            while (!a->done)
                uv_run(&c->loop, UV_RUN_ONCE);
            free(a);
        }
        assert_true(c->acked[k]);
    }
}

static bool node_has(struct node *n, unsigned k)
{
    char key[32], value[32];
    uint8_t *v = NULL;
    size_t len = 0;
    bool ok;

    snprintf(key, sizeof(key), "k/%05u", k);
    snprintf(value, sizeof(value), "value-%u", k);
    if (kh_storage_get(kh_raft_fsm_storage(n->fsm), key, &v, &len) != 0)
        return false;
    ok = len == strlen(value) && memcmp(v, value, len) == 0;
    free(v);
    return ok;
}

/* n applies keys [from, to) within WAIT_MS. */
static void wait_has(struct cluster *c, struct node *n, unsigned from,
                     unsigned to)
{
    uint64_t end = now_ms(c) + WAIT_MS;
    unsigned k = from;

    while (k < to && now_ms(c) < end) {
        if (node_has(n, k))
            k++;
        else
            spin(c, 20);
    }
    assert_int_equal(k, to);
}

/* A loopback port nobody listens on now (lib/fixture.h). */
static int free_port(void)
{
    int port = fixture_free_port();

    assert_true(port != 0);
    return port;
}

static int setup(void **state)
{
    struct cluster *c = calloc(1, sizeof(*c));
    struct node *n;
    int i;

    assert_non_null(c);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(fixture_tmp_make("rafttls", &c->tmp), 0);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    assert_int_equal(uv_timer_init(&c->loop, &c->wake), 0);
    assert_int_equal(uv_timer_start(&c->wake, wake_cb, 5, 5), 0);
    c->ca_key = key_make();
    c->rogue_key = key_make();
    c->ca = cert_make("keyhold raft test CA", c->ca_key, NULL, NULL, 1);
    c->rogue = cert_make("keyhold raft test CA", c->rogue_key, NULL, NULL, 1);
    path_join(c->ca_file, sizeof(c->ca_file), c->tmp, "ca.pem");
    path_join(c->rogue_file, sizeof(c->rogue_file), c->tmp, "rogue.pem");
    pem_write(c->ca_file, c->ca, NULL);
    pem_write(c->rogue_file, c->rogue, NULL);
    for (i = 0; i < NODES; i++) {
        n = &c->nodes[i];
        n->id = (raft_id)i + 1;
        snprintf(n->address, sizeof(n->address), "127.0.0.1:%d", free_port());
        memcpy(n->listen, n->address, sizeof(n->listen));
        snprintf(n->dir, sizeof(n->dir), "%s/node%d", c->tmp, i + 1);
        assert_int_equal(mkdir(n->dir, 0700), 0);
        node_certs(c, n, c->ca, c->ca_key);
    }
    *state = c;
    return 0;
}

static void proxy_close(struct cluster *c);

static int teardown(void **state)
{
    struct cluster *c = *state;
    int i;

    for (i = 0; i < NODES; i++)
        if (c->nodes[i].running)
            node_stop(c, &c->nodes[i]);
    if (c->proxy != NULL)
        proxy_close(c);
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
    X509_free(c->ca);
    X509_free(c->rogue);
    EVP_PKEY_free(c->ca_key);
    EVP_PKEY_free(c->rogue_key);
    assert_int_equal(fixture_tmp_remove(c->tmp), 0);
    free(c);
    return 0;
}

/* ---- a TCP proxy that records what passes ---- */

struct proxy
{
    uv_tcp_t listener;
    struct sockaddr_in upstream;
    struct pipe *pipes;
    uint8_t *seen[2]; /* 0: client to server, 1: server to client */
    size_t seen_len[2];
    bool listener_closed;
};

struct pipe
{
    struct pipe *next;
    struct proxy *px;
    uv_tcp_t side[2]; /* 0: the client, 1: the upstream server */
    uv_connect_t connect;
    bool closing;
    unsigned closed; /* sides whose close callback ran */
    char buf[2][PIPE_CHUNK_BYTES];
};

struct pipe_write
{
    uv_write_t write;
    char data[];
};

static void pipe_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
}

static void pipe_side_closed(uv_handle_t *h)
{
    struct pipe *p = h->data, **pp;

    if (++p->closed < 2)
        return;
    for (pp = &p->px->pipes; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p);
}

static void pipe_close(struct pipe *p)
{
    if (p->closing)
        return;
    p->closing = true;
    uv_close((uv_handle_t *)&p->side[0], pipe_side_closed);
    uv_close((uv_handle_t *)&p->side[1], pipe_side_closed);
}

static void pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pipe *p = h->data;
    int i = h == (uv_handle_t *)&p->side[0] ? 0 : 1;

    (void)suggested;
    *buf = uv_buf_init(p->buf[i], sizeof(p->buf[i]));
}

static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pipe *p = s->data;
    struct proxy *px = p->px;
    int i = s == (uv_stream_t *)&p->side[0] ? 0 : 1;
    struct pipe_write *w;
    uv_buf_t out;
    size_t n;

    if (nread == 0)
        return;
    if (nread < 0) {
        pipe_close(p);
        return;
    }
    n = (size_t)nread;
    if (px->seen_len[i] + n <= CAPTURE_BYTES_MAX) {
        memcpy(px->seen[i] + px->seen_len[i], buf->base, n);
        px->seen_len[i] += n;
    }
    w = malloc(sizeof(*w) + n);
    assert_non_null(w);
    memcpy(w->data, buf->base, n);
    w->write.data = w;
    out = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->write, (uv_stream_t *)&p->side[1 - i], &out, 1,
                 pipe_written) != 0) {
        free(w);
        pipe_close(p);
    }
}

static void pipe_connected(uv_connect_t *req, int status)
{
    struct pipe *p = req->data;

    if (status != 0 || p->closing ||
        uv_read_start((uv_stream_t *)&p->side[0], pipe_alloc, pipe_read) != 0 ||
        uv_read_start((uv_stream_t *)&p->side[1], pipe_alloc, pipe_read) != 0)
        pipe_close(p);
}

static void proxy_accept(uv_stream_t *server, int status)
{
    struct proxy *px = server->data;
    struct pipe *p;

    if (status != 0)
        return;
    p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->px = px;
    assert_int_equal(uv_tcp_init(server->loop, &p->side[0]), 0);
    assert_int_equal(uv_tcp_init(server->loop, &p->side[1]), 0);
    p->side[0].data = p;
    p->side[1].data = p;
    p->connect.data = p;
    p->next = px->pipes;
    px->pipes = p;
    if (uv_accept(server, (uv_stream_t *)&p->side[0]) != 0 ||
        uv_tcp_connect(&p->connect, &p->side[1],
                       (const struct sockaddr *)&px->upstream,
                       pipe_connected) != 0)
        pipe_close(p);
}

/* Listen on address and forward every connection to upstream; c->proxy
 * until proxy_close(). */
static struct proxy *proxy_open(struct cluster *c, const char *address,
                                const char *upstream)
{
    struct proxy *px = calloc(1, sizeof(*px));
    struct sockaddr_in sa;

    assert_non_null(px);
    px->seen[0] = malloc(CAPTURE_BYTES_MAX);
    px->seen[1] = malloc(CAPTURE_BYTES_MAX);
    assert_non_null(px->seen[0]);
    assert_non_null(px->seen[1]);
    assert_int_equal(
        uv_ip4_addr("127.0.0.1", atoi(strchr(address, ':') + 1), &sa), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", atoi(strchr(upstream, ':') + 1),
                                 &px->upstream),
                     0);
    assert_int_equal(uv_tcp_init(&c->loop, &px->listener), 0);
    px->listener.data = px;
    c->proxy = px;
    assert_int_equal(
        uv_tcp_bind(&px->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&px->listener, 16, proxy_accept),
                     0);
    return px;
}

static void proxy_listener_closed(uv_handle_t *h)
{
    struct proxy *px = h->data;

    px->listener_closed = true;
}

static void proxy_close(struct cluster *c)
{
    struct proxy *px = c->proxy;
    struct pipe *p;
    uint64_t end = now_ms(c) + WAIT_MS;

    c->proxy = NULL;
    uv_close((uv_handle_t *)&px->listener, proxy_listener_closed);
    for (p = px->pipes; p != NULL; p = p->next)
        pipe_close(p);
    while ((px->pipes != NULL || !px->listener_closed) && now_ms(c) < end)
        uv_run(&c->loop, UV_RUN_ONCE);
    assert_null(px->pipes);
    assert_true(px->listener_closed);
    free(px->seen[0]);
    free(px->seen[1]);
    free(px);
}

/* ---- raw clients ---- */

/* A blocking TCP connection to n's port, non-blocking once connected. */
static int raw_connect(struct node *n)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(
        uv_ip4_addr("127.0.0.1", atoi(strchr(n->address, ':') + 1), &sa), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

/* Run the loop until the node closes fd (EOF or reset); bytes it sends
 * first (a TLS alert) are read and dropped. True when it closed. */
static bool raw_wait_closed(struct cluster *c, int fd)
{
    uint64_t end = now_ms(c) + WAIT_MS;
    char buf[4096];
    ssize_t n;

    while (now_ms(c) < end) {
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            return true;
        if (n < 0)
            uv_run(&c->loop, UV_RUN_ONCE);
    }
    return false;
}

/* What a plaintext node would send: the handshake naming node 2, then a
 * RequestVote for FORGED_TERM. Accepted, it would raise the term. */
static size_t forged_frames(const struct node *claimed, uint8_t *out,
                            size_t cap)
{
    struct raft_message m;
    struct kh_raft_wbuf hs, body;
    size_t len = 0;

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_REQUEST_VOTE;
    m.request_vote.term = FORGED_TERM;
    m.request_vote.candidate_id = claimed->id;
    m.request_vote.last_log_index = FORGED_TERM;
    m.request_vote.last_log_term = FORGED_TERM;
    m.request_vote.disrupt_leader = true;
    kh_raft_wbuf_init(&hs, 512);
    kh_raft_wbuf_put_u32(&hs, 4u + 4u + 8u + 2u + strlen(claimed->address));
    kh_raft_wbuf_put_u32(&hs, 0x4b485246u); /* "KHRF" */
    kh_raft_wbuf_put_u32(&hs, 1u);
    kh_raft_wbuf_put_u64(&hs, claimed->id);
    kh_raft_wbuf_put_u16(&hs, (uint16_t)strlen(claimed->address));
    kh_raft_wbuf_put(&hs, claimed->address, strlen(claimed->address));
    assert_int_equal(kh_raft_message_encode(&m, &body), 0);
    kh_raft_wbuf_put_u32(&hs, (uint32_t)body.len);
    kh_raft_wbuf_put(&hs, body.data, body.len);
    assert_int_equal(kh_raft_wbuf_error(&hs), 0);
    assert_true(hs.len <= cap);
    memcpy(out, hs.data, hs.len);
    len = hs.len;
    kh_raft_wbuf_free(&hs);
    kh_raft_wbuf_free(&body);
    return len;
}

/* A TLS 1.3 client that trusts the cluster CA but has no certificate:
 * it completes its side of the handshake, writes the forged frames, and
 * must then be dropped. True when the node closed it. */
static bool tls_client_without_cert(struct cluster *c, struct node *target,
                                    const uint8_t *frames, size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    uint64_t end = now_ms(c) + WAIT_MS;
    bool closed = false;
    size_t n = 0;
    char buf[256];
    SSL *ssl;
    int fd, rc, e;

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), 1);
    assert_int_equal(SSL_CTX_load_verify_file(ctx, c->ca_file), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ssl = SSL_new(ctx);
    assert_non_null(ssl);
    fd = raw_connect(target);
    assert_int_equal(SSL_set_fd(ssl, fd), 1);
    while ((rc = SSL_connect(ssl)) != 1 && now_ms(c) < end) {
        e = SSL_get_error(ssl, rc);
        assert_true(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
        uv_run(&c->loop, UV_RUN_ONCE);
    }
    assert_int_equal(rc, 1); /* the server's certificate verified */
    (void)SSL_write_ex(ssl, frames, len, &n);
    while (!closed && now_ms(c) < end) {
        rc = SSL_read_ex(ssl, buf, sizeof(buf), &n);
        e = SSL_get_error(ssl, rc);
        if (rc == 1)
            fail_msg("the node sent application data");
        else if (e == SSL_ERROR_WANT_READ)
            uv_run(&c->loop, UV_RUN_ONCE);
        else
            closed = true; /* its alert, or the end of the stream */
    }
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return closed;
}

/* ---- tests ---- */

/* Three nodes with certificates from one CA elect a leader and replicate
 * over TLS; the leader and each follower hear from each other. */
static void test_tls_replicate(void **state)
{
    struct cluster *c = *state;
    struct node *l;
    int i;

    for (i = 0; i < NODES; i++)
        node_start(c, &c->nodes[i]);
    wait_leader(c);
    write_keys(c, 0, 20);
    for (i = 0; i < NODES; i++)
        wait_has(c, &c->nodes[i], 0, 20);
    l = wait_leader(c); /* it won votes or sent entries: both ways */
    for (i = 0; i < NODES; i++) {
        if (&c->nodes[i] == l)
            continue;
        assert_true(c->nodes[i].from[l->id] > 0);
        assert_true(l->from[c->nodes[i].id] > 0);
    }
}

/* A node whose certificate another CA signed (trusting the cluster CA
 * itself) never has a message accepted and never receives one, while
 * the two others elect and replicate. */
static void test_tls_rogue_node(void **state)
{
    struct cluster *c = *state;
    struct node *bad = &c->nodes[2];
    int i;

    node_certs(c, bad, c->rogue, c->rogue_key);
    for (i = 0; i < NODES; i++)
        node_start(c, &c->nodes[i]);
    assert_true(wait_leader(c) != bad);
    write_keys(c, 0, 20);
    wait_has(c, &c->nodes[0], 0, 20);
    wait_has(c, &c->nodes[1], 0, 20);
    spin(c, 4 * ELECTION_MS); /* the rogue node keeps trying meanwhile */
    write_keys(c, 20, 25);
    assert_true(leader_of(c) != bad);
    for (i = 0; i < NODES; i++) {
        assert_int_equal(c->nodes[i].from[bad->id], 0);
        assert_int_equal(bad->from[c->nodes[i].id], 0);
    }
    assert_true(c->nodes[0].from[2] > 0 && c->nodes[1].from[1] > 0);
    assert_int_equal(raft_last_index(&bad->raft), 1); /* the bootstrap */
    assert_false(node_has(bad, 0));
    assert_int_equal(kh_raft_fsm_applied(bad->fsm), 0);
}

/* Raw clients that write garbage, a TLS record header announcing too
 * much, a plaintext handshake with a forged RequestVote, or that speak
 * TLS without a certificate are dropped; nothing they sent reaches raft
 * and the cluster keeps working. */
static void test_tls_garbage(void **state)
{
    struct cluster *c = *state;
    struct node *target = &c->nodes[0];
    uint8_t frames[1024], noise[4096];
    const uint8_t record[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00};
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t len, i;
    int fd;

    for (i = 0; i < NODES; i++)
        node_start(c, &c->nodes[i]);
    wait_leader(c);
    write_keys(c, 0, 5);
    for (i = 0; i < sizeof(noise); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise[i] = (uint8_t)x;
    }
    len = forged_frames(&c->nodes[1], frames, sizeof(frames));

    fd = raw_connect(target);
    assert_int_equal(send(fd, noise, sizeof(noise), 0), (ssize_t)sizeof(noise));
    assert_true(raw_wait_closed(c, fd));
    close(fd);
    fd = raw_connect(target);
    assert_int_equal(send(fd, record, sizeof(record), 0),
                     (ssize_t)sizeof(record));
    assert_true(raw_wait_closed(c, fd));
    close(fd);
    fd = raw_connect(target);
    assert_int_equal(send(fd, frames, len, 0), (ssize_t)len);
    assert_true(raw_wait_closed(c, fd));
    close(fd);
    assert_true(tls_client_without_cert(c, target, frames, len));

    for (i = 0; i < NODES; i++)
        assert_true(c->nodes[i].raft.current_term < FORGED_TERM);
    write_keys(c, 5, 15);
    for (i = 0; i < NODES; i++)
        wait_has(c, &c->nodes[i], 0, 15);
    for (i = 0; i < NODES; i++)
        assert_true(c->nodes[i].raft.current_term < FORGED_TERM);
}

/* Everything between the leader and node 3, seen by a proxy on node 3's
 * configured address, is TLS records: no handshake magic, no key and no
 * value, although node 3 applies every entry through it. */
static void test_tls_wire_is_ciphertext(void **state)
{
    static const uint8_t magic[] = {'K', 'H', 'R', 'F', 0, 0, 0, 1};
    struct cluster *c = *state;
    struct node *n3 = &c->nodes[2];
    struct proxy *px;
    int i;

    snprintf(n3->listen, sizeof(n3->listen), "127.0.0.1:%d", free_port());
    px = proxy_open(c, n3->address, n3->listen);
    node_start(c, &c->nodes[0]);
    node_start(c, &c->nodes[1]);
    wait_leader(c);
    node_start(c, n3);
    write_keys(c, 0, 50);
    wait_has(c, n3, 0, 50);
    assert_true(leader_of(c) != n3);
    assert_true(px->seen_len[0] > 50u * 16u);
    for (i = 0; i < 2; i++) {
        assert_true(px->seen_len[i] > 5);
        assert_int_equal(px->seen[i][0], 0x16); /* a TLS handshake record */
        assert_int_equal(px->seen[i][1], 0x03);
        assert_null(memmem(px->seen[i], px->seen_len[i], magic, sizeof(magic)));
        assert_null(memmem(px->seen[i], px->seen_len[i], "k/000", 5));
        assert_null(memmem(px->seen[i], px->seen_len[i], "value-", 6));
        assert_null(memmem(px->seen[i], px->seen_len[i], "127.0.0.1", 9));
    }
    for (i = 0; i < NODES; i++)
        node_stop(c, &c->nodes[i]);
    proxy_close(c);
}

/* Init refuses what it cannot load or check, naming the file, and opens
 * no log then. */
static void test_tls_bad_files(void **state)
{
    struct cluster *c = *state;
    struct node *n = &c->nodes[0];
    char errmsg[KH_ERRMSG_SIZE], path[PATH_MAX], missing[PATH_MAX];
    char garbage[PATH_MAX];
    struct kh_raft_tls cases[4];
    const char *named[4];
    struct raft_io io;
    struct stat st;
    FILE *f;
    size_t i;

    path_join(path, sizeof(path), n->dir, "raft");
    path_join(missing, sizeof(missing), c->tmp, "missing.pem");
    path_join(garbage, sizeof(garbage), c->tmp, "garbage.pem");
    f = fopen(garbage, "w");
    assert_non_null(f);
    assert_true(fputs("-----BEGIN CERTIFICATE-----\nnot base64\n", f) >= 0);
    assert_int_equal(fclose(f), 0);
    /* missing certificate, another node's key, missing CA, not PEM */
    cases[0] = (struct kh_raft_tls){missing, n->key_file, c->ca_file, false};
    named[0] = missing;
    cases[1] =
        (struct kh_raft_tls){n->cert_file, c->nodes[1].key_file, c->ca_file,
                              false};
    named[1] = c->nodes[1].key_file;
    cases[2] = (struct kh_raft_tls){n->cert_file, n->key_file, missing, false};
    named[2] = missing;
    cases[3] = (struct kh_raft_tls){garbage, n->key_file, c->ca_file, false};
    named[3] = garbage;
    for (i = 0; i < KH_ARRAY_LEN(cases); i++) {
        errmsg[0] = '\0';
        assert_int_equal(kh_raft_io_init(&io, &c->loop, path, &cases[i], errmsg,
                                         sizeof(errmsg)),
                         KH_ECONFIG);
        assert_non_null(strstr(errmsg, named[i]));
        assert_null(io.impl);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(ERR_peek_error(), 0);
    }
    assert_int_equal(
        kh_raft_io_init(&io, &c->loop, path, &n->tls, errmsg, sizeof(errmsg)),
        0);
    kh_raft_io_discard(&io);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tls_replicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_rogue_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_wire_is_ciphertext, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_bad_files, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
