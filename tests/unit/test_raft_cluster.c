/*
 * test_raft_cluster.c - three raft servers in one process on one libuv
 * loop, each with Keyhold's raft_io (LMDB log, loopback TCP inside mutual
 * TLS, with a CA and node certificates made here) and the LMDB FSM in its
 * own temporary directory: election, 100 batches applied alike
 * everywhere, a stopped follower catching up through a snapshot, a new
 * leader after the leader stops with no acknowledged write lost, and a
 * restart of every node rebuilding the same state from disk. Also
 * measures durable commits per second with 1 and 64 applies in flight,
 * over plain TCP and over TLS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "raft/raft_fsm.h"
#include "raft/raft_io_lmdb.h"
#include "raft/raft_limits.h"
#include "storage/storage.h"

#include "lib/fixture.h"

#define NODES 3
#define ELECTION_MS 500
#define HEARTBEAT_MS 100
#define SNAPSHOT_THRESHOLD 64
#define SNAPSHOT_TRAILING 16
#define WAIT_MS 30000
#define KEYS_MAX 4096

_Static_assert(SNAPSHOT_THRESHOLD + SNAPSHOT_TRAILING <
                   KH_RAFT_APPEND_ENTRIES_MAX,
               "AppendEntries stay within the limit");

struct node
{
    raft_id id;
    char address[32];
    char dir[PATH_MAX];
    struct raft raft;
    struct raft_io io;
    struct kh_raft_fsm *fsm;
    char cert_file[PATH_MAX];
    char key_file[PATH_MAX];
    struct kh_raft_tls tls;
    bool running;
    bool closed;
};

struct cluster
{
    char *tmp;
    uv_loop_t loop;
    uv_timer_t wake;
    struct node nodes[NODES];
    bool tls;             /* mutual TLS between the nodes */
    char ca_file[PATH_MAX];
    bool acked[KEYS_MAX]; /* acknowledged writes, by key number */
    unsigned keys;        /* writes attempted */
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
static void path_join(char *out, size_t size, const char *dir,
                      const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < size);
}

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

/* Snapshots are marks until a follower needs the data (raft_fsm.h). */
static int expand_snapshot(void *arg, struct raft_buffer *buf)
{
    return kh_raft_fsm_expand(arg, buf);
}

static void node_start(struct cluster *c, struct node *n, bool bootstrap)
{
    struct raft_configuration conf;
    char path[PATH_MAX], errmsg[KH_ERRMSG_SIZE] = "";
    int i, rv;

    path_join(path, sizeof(path), n->dir, "raft");
    assert_int_equal(kh_raft_io_init(&n->io, &c->loop, path,
                                     c->tls ? &n->tls : NULL, errmsg,
                                     sizeof(errmsg)),
                     0);
    path_join(path, sizeof(path), n->dir, "fsm");
    assert_int_equal(kh_raft_fsm_open(path, &n->fsm, errmsg, sizeof(errmsg)),
                     0);
    assert_int_equal(raft_init(&n->raft, &n->io, kh_raft_fsm_vtable(n->fsm),
                               n->id, n->address),
                     0);
    kh_raft_fsm_attach(n->fsm, &n->raft);
    kh_raft_io_set_expander(&n->io, expand_snapshot, n->fsm);
    raft_set_election_timeout(&n->raft, ELECTION_MS);
    raft_set_heartbeat_timeout(&n->raft, HEARTBEAT_MS);
    raft_set_snapshot_threshold(&n->raft, SNAPSHOT_THRESHOLD);
    raft_set_snapshot_trailing(&n->raft, SNAPSHOT_TRAILING);
    raft_set_pre_vote(&n->raft, true);
    if (bootstrap) {
        raft_configuration_init(&conf);
        for (i = 0; i < NODES; i++)
            assert_int_equal(raft_configuration_add(&conf, c->nodes[i].id,
                                                    c->nodes[i].address,
                                                    RAFT_VOTER),
                             0);
        rv = raft_bootstrap(&n->raft, &conf);
        assert_true(rv == 0 || rv == RAFT_CANTBOOTSTRAP);
        raft_configuration_close(&conf);
    }
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
        if (c->nodes[i].running &&
            raft_state(&c->nodes[i].raft) == RAFT_LEADER)
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
static struct apply_req *submit(struct cluster *c, struct node *l,
                                unsigned k)
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
    if (to > c->keys)
        c->keys = to;
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

/* Every running node holds every acknowledged key (waiting for
 * followers to apply), and exactly c->keys keys at most. */
static void wait_converged(struct cluster *c)
{
    uint64_t end = now_ms(c) + WAIT_MS;
    bool all;
    unsigned k;
    int i;

    do {
        all = true;
        for (i = 0; i < NODES && all; i++) {
            if (!c->nodes[i].running)
                continue;
            for (k = 0; k < c->keys && all; k++)
                if (c->acked[k] && !node_has(&c->nodes[i], k))
                    all = false;
        }
        if (!all)
            spin(c, 20);
    } while (!all && now_ms(c) < end);
    for (i = 0; i < NODES && !all; i++)
        if (c->nodes[i].running)
            fprintf(stderr, "node %d: state %d applied %llu/%llu fsm %llu\n",
                    i + 1, raft_state(&c->nodes[i].raft),
                    (unsigned long long)raft_last_applied(&c->nodes[i].raft),
                    (unsigned long long)raft_last_index(&c->nodes[i].raft),
                    (unsigned long long)kh_raft_fsm_applied(c->nodes[i].fsm));
    assert_true(all);
}

/* The stores of the running nodes are identical, key by key. */
static void assert_identical(struct cluster *c)
{
    struct kh_storage_list ref = {NULL, 0}, other = {NULL, 0};
    size_t j;
    int i, first = -1;

    for (i = 0; i < NODES; i++) {
        if (!c->nodes[i].running)
            continue;
        if (first < 0) {
            first = i;
            assert_int_equal(
                kh_storage_list(kh_raft_fsm_storage(c->nodes[i].fsm), "k/",
                                &ref),
                0);
            continue;
        }
        assert_int_equal(kh_storage_list(kh_raft_fsm_storage(c->nodes[i].fsm),
                                         "k/", &other),
                         0);
        assert_int_equal(other.count, ref.count);
        for (j = 0; j < ref.count; j++)
            assert_string_equal(other.keys[j], ref.keys[j]);
        kh_storage_list_free(&other);
    }
    kh_storage_list_free(&ref);
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
                                                (const unsigned char *)cn,
                                                -1, -1, 0),
                     1);
    assert_int_equal(
        X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer)),
        1);
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

/* A CA in c->ca_file and, per node, a certificate it signed and the key
 * in the node's directory. */
static void certs_make(struct cluster *c)
{
    EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *key;
    X509 *ca, *cert;
    struct node *n;
    char cn[32];
    int i;

    assert_non_null(ca_key);
    ca = cert_make("keyhold raft test CA", ca_key, NULL, NULL, 1);
    path_join(c->ca_file, sizeof(c->ca_file), c->tmp, "ca.pem");
    pem_write(c->ca_file, ca, NULL);
    for (i = 0; i < NODES; i++) {
        n = &c->nodes[i];
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_non_null(key);
        snprintf(cn, sizeof(cn), "node%d", i + 1);
        cert = cert_make(cn, key, ca, ca_key, 2 + i);
        path_join(n->cert_file, sizeof(n->cert_file), n->dir, "cert.pem");
        path_join(n->key_file, sizeof(n->key_file), n->dir, "key.pem");
        pem_write(n->cert_file, cert, NULL);
        pem_write(n->key_file, NULL, key);
        n->tls = (struct kh_raft_tls){n->cert_file, n->key_file, c->ca_file,
                                      false};
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
}

static int setup(void **state, bool tls)
{
    struct cluster *c = calloc(1, sizeof(*c));
    int i, port;

    assert_non_null(c);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(fixture_tmp_make("raftcluster", &c->tmp), 0);
    assert_int_equal(uv_loop_init(&c->loop), 0);
    assert_int_equal(uv_timer_init(&c->loop, &c->wake), 0);
    assert_int_equal(uv_timer_start(&c->wake, wake_cb, 5, 5), 0);
    for (i = 0; i < NODES; i++) {
        c->nodes[i].id = (raft_id)i + 1;
        port = fixture_free_port();
        assert_true(port != 0);
        snprintf(c->nodes[i].address, sizeof(c->nodes[i].address),
                 "127.0.0.1:%d", port);
        snprintf(c->nodes[i].dir, sizeof(c->nodes[i].dir), "%s/node%d",
                 c->tmp, i + 1);
        assert_int_equal(mkdir(c->nodes[i].dir, 0700), 0);
    }
    c->tls = tls;
    if (tls)
        certs_make(c);
    *state = c;
    return 0;
}

static int setup_tcp(void **state)
{
    return setup(state, false);
}

static int setup_tls(void **state)
{
    return setup(state, true);
}

static int teardown(void **state)
{
    struct cluster *c = *state;
    int i;

    for (i = 0; i < NODES; i++)
        if (c->nodes[i].running)
            node_stop(c, &c->nodes[i]);
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&c->loop), 0);
    assert_int_equal(fixture_tmp_remove(c->tmp), 0);
    free(c);
    return 0;
}

static struct node *a_follower(struct cluster *c)
{
    int i;

    for (i = 0; i < NODES; i++)
        if (c->nodes[i].running &&
            raft_state(&c->nodes[i].raft) != RAFT_LEADER)
            return &c->nodes[i];
    fail_msg("no follower");
    return NULL;
}

/* Over mutual TLS: election, replication, catch-up through a snapshot,
 * leader loss with no acknowledged write lost, and a full restart from
 * disk. */
static void test_cluster(void **state)
{
    struct cluster *c = *state;
    struct node *f, *l;
    int i;

    for (i = 0; i < NODES; i++)
        node_start(c, &c->nodes[i], true);
    wait_leader(c);
    write_keys(c, 0, 100);
    wait_converged(c);
    assert_identical(c);

    /* A follower stops; 150 more writes pass the snapshot threshold, so
     * the leader no longer has the entries it missed. */
    f = a_follower(c);
    node_stop(c, f);
    write_keys(c, 100, 250);
    node_start(c, f, false);
    wait_converged(c);
    assert_identical(c);

    /* The leader stops: another is elected and nothing acknowledged is
     * lost; then it returns and catches up. */
    l = wait_leader(c);
    node_stop(c, l);
    write_keys(c, 250, 300);
    assert_true(wait_leader(c) != l);
    wait_converged(c);
    node_start(c, l, false);
    wait_converged(c);
    assert_identical(c);

    /* Every node stops and starts again from its directory alone. */
    for (i = 0; i < NODES; i++)
        node_stop(c, &c->nodes[i]);
    for (i = 0; i < NODES; i++)
        node_start(c, &c->nodes[i], true); /* CANTBOOTSTRAP: ignored */
    wait_leader(c);
    write_keys(c, 300, 310);
    wait_converged(c);
    assert_identical(c);
    for (i = 0; i < NODES; i++)
        assert_true(kh_raft_fsm_applied(c->nodes[i].fsm) > 300);
}

/* Durable commits per second with 1 and with 64 applies in flight (once
 * over plain TCP, once over TLS). */
static void test_throughput(void **state)
{
    struct cluster *c = *state;
    struct apply_req *inflight[64];
    struct node *l;
    uint64_t start, ms;
    unsigned k = 0, done, i, depth;
    size_t slot;

    for (i = 0; i < NODES; i++)
        node_start(c, &c->nodes[i], true);
    l = wait_leader(c);
    for (depth = 1; depth <= 64; depth *= 64) {
        done = 0;
        memset(inflight, 0, sizeof(inflight));
        start = now_ms(c);
        while (done < 1000 && k < KEYS_MAX) {
            for (slot = 0; slot < depth; slot++) {
                if (inflight[slot] != NULL && inflight[slot]->done) {
                    assert_int_equal(inflight[slot]->status, 0);
                    free(inflight[slot]);
                    inflight[slot] = NULL;
                    done++;
                }
                if (inflight[slot] == NULL && k < KEYS_MAX)
                    inflight[slot] = submit(c, l, k++);
                assert_non_null(inflight[slot]);
            }
            uv_run(&c->loop, UV_RUN_ONCE);
        }
        for (slot = 0; slot < depth; slot++) {
            while (!inflight[slot]->done)
                uv_run(&c->loop, UV_RUN_ONCE);
            free(inflight[slot]);
        }
        ms = now_ms(c) - start;
        fprintf(stderr, "raft (%s): %u durable commits with %u in flight: "
                "%llu ms (%.0f/s)\n", c->tls ? "tls" : "tcp", done, depth,
                (unsigned long long)ms,
                ms > 0 ? done * 1000.0 / (double)ms : 0.0);
    }
    c->keys = k;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cluster, setup_tls, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup_tcp, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup_tls, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
