/*
 * test_audit_socket.c - the socket audit device against a real TCP
 * collector thread in the test: file + socket together; a peer that
 * accepts and never reads (blackholed) does not stall requests while the
 * file records them (the added p99 is measured and printed); a stopped
 * peer is spooled for and, restarted, gets the spool replayed in order
 * with nothing missing (checked with the verifier); a blackholed peer
 * killed with unread lines in its buffers and replaced by a fresh one
 * (5 rounds) loses nothing: the in-flight window is sent again before the
 * spool, and the union of what the collectors received verifies from
 * seq 1 to the device's last seq, duplicates allowed; spool overflow is
 * counted and marked by a gap record; a socket-only server refuses
 * requests when its peer is gone; replay_window_bytes is validated.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "core/request.h"
#include "token/token_store.h"

#define CANARY "canary-Sock-51d2"
#define PENDING_MAX 64

/* ---- the collector: a TCP peer the test controls ---------------------- */

enum peer_mode { PEER_READ, PEER_BLACKHOLE };

struct peer
{
    pthread_mutex_t lock;
    pthread_t thread;
    int port;
    int listener;
    enum peer_mode mode;
    bool quit;
    int pending[PENDING_MAX];   /* accepted, unread (blackhole) */
    size_t pending_count;
    int current;
    char *partial;              /* the current connection's torn tail */
    size_t partial_len;
    char *got;                  /* complete lines received */
    size_t got_len;
    size_t lines;
    uint64_t last_seq;          /* seq of the last complete line */
};

static int listen_on(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, small = 4096;
    socklen_t len = sizeof(sin);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    (void)len;
    return fd;
}

static uint64_t line_seq(const char *line, size_t len)
{
    const char *m = memmem(line, len, "{\"seq\":", 7);

    return m != NULL ? strtoull(m + 7, NULL, 10) : 0;
}

static void peer_take(struct peer *p, const char *buf, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p->partial = realloc(p->partial, p->partial_len + 1);
        p->partial[p->partial_len++] = buf[i];
        if (buf[i] != '\n')
            continue;
        p->got = realloc(p->got, p->got_len + p->partial_len + 1);
        memcpy(p->got + p->got_len, p->partial, p->partial_len);
        p->got_len += p->partial_len;
        p->got[p->got_len] = '\0';
        p->lines++;
        p->last_seq = line_seq(p->partial, p->partial_len);
        p->partial_len = 0;
    }
}

static void peer_step(struct peer *p)
{
    struct pollfd pfd[2];
    char buf[65536];
    ssize_t n;
    int fd;

    pfd[0] = (struct pollfd){.fd = p->listener, .events = POLLIN};
    /* A blackhole does not even look at its connections. */
    pfd[1] = (struct pollfd){.fd = p->mode == PEER_READ ? p->current : -1,
                             .events = POLLIN};
    if (p->listener < 0 && p->current < 0) {
        pthread_mutex_unlock(&p->lock);
        usleep(10000);
        pthread_mutex_lock(&p->lock);
        return;
    }
    pthread_mutex_unlock(&p->lock);
    n = poll(pfd, 2, 20);
    pthread_mutex_lock(&p->lock);
    if (n <= 0)
        return;
    if ((pfd[0].revents & POLLIN) != 0 && p->listener >= 0) {
        fd = accept(p->listener, NULL, NULL);
        if (fd >= 0 && p->pending_count < PENDING_MAX)
            p->pending[p->pending_count++] = fd;
        else if (fd >= 0)
            close(fd);
    }
    if (pfd[1].revents != 0 && p->current >= 0 && p->mode == PEER_READ) {
        n = read(p->current, buf, sizeof(buf));
        if (n > 0) {
            peer_take(p, buf, (size_t)n);
        } else {
            close(p->current); /* EOF: a torn tail is dropped */
            p->current = -1;
            p->partial_len = 0;
        }
    }
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;

    pthread_mutex_lock(&p->lock);
    while (!p->quit) {
        if (p->mode == PEER_READ && p->current < 0 && p->pending_count > 0) {
            p->current = p->pending[0];
            memmove(p->pending, p->pending + 1,
                    --p->pending_count * sizeof(int));
        }
        peer_step(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* A collector on port (0: any free port). */
static struct peer *peer_start(int port)
{
    struct peer *p = calloc(1, sizeof(*p));
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    pthread_mutex_init(&p->lock, NULL);
    p->listener = listen_on(port);
    assert_int_equal(getsockname(p->listener, (struct sockaddr *)&sin, &len),
                     0);
    p->port = ntohs(sin.sin_port);
    p->current = -1;
    assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
    return p;
}

static void peer_set_mode(struct peer *p, enum peer_mode mode)
{
    pthread_mutex_lock(&p->lock);
    p->mode = mode;
    pthread_mutex_unlock(&p->lock);
}

/* The peer process goes away: listener and connections closed. */
static void peer_stop(struct peer *p)
{
    size_t i;

    pthread_mutex_lock(&p->lock);
    close(p->listener);
    p->listener = -1;
    if (p->current >= 0)
        close(p->current);
    p->current = -1;
    p->partial_len = 0;
    for (i = 0; i < p->pending_count; i++)
        close(p->pending[i]);
    p->pending_count = 0;
    pthread_mutex_unlock(&p->lock);
    /* The peer thread may sit in poll() on those fds, which keeps them
     * open until it returns: let the close take effect. */
    usleep(100 * 1000);
}

static void peer_restart(struct peer *p)
{
    int fd = listen_on(p->port);

    pthread_mutex_lock(&p->lock);
    p->listener = fd;
    p->mode = PEER_READ;
    pthread_mutex_unlock(&p->lock);
}

static size_t peer_lines(struct peer *p)
{
    size_t n;

    pthread_mutex_lock(&p->lock);
    n = p->lines;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static uint64_t peer_last_seq(struct peer *p)
{
    uint64_t n;

    pthread_mutex_lock(&p->lock);
    n = p->last_seq;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static void peer_free(struct peer *p)
{
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    peer_stop(p);
    free(p->partial);
    free(p->got);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- fixture: barrier, broker, file device ---------------------------- */

struct fx
{
    char *dir;
    char log[512];
    struct kh_storage *storage;
    struct barrier *barrier;
    struct kh_core *core;
    struct audit_broker *b;
    struct token_entry token;
    struct peer *peer;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *base = getenv("KH_TEST_TMP");
    uint8_t key[KH_ROOT_KEY_BYTES];
    char errmsg[KH_ERRMSG_SIZE], db[600];

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    (void)mkdir(base, 0700);
    assert_true(asprintf(&f->dir, "%s/auditsock-XXXXXX", base) > 0);
    assert_non_null(mkdtemp(f->dir));
    snprintf(db, sizeof(db), "%s/db", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
    setenv(AUDIT_ALLOWED_DIRS_ENV, f->dir, 1);
    assert_int_equal(kh_storage_lmdb_open(db, 0, &f->storage, errmsg,
                                          sizeof(errmsg)), 0);
    assert_int_equal(barrier_create(f->storage, &f->barrier), 0);
    assert_int_equal(kh_random_bytes(key, sizeof(key)), 0);
    assert_int_equal(barrier_initialize(f->barrier, key), 0);
    f->core = calloc(1, sizeof(*f->core));
    f->core->storage = f->storage;
    f->core->barrier = f->barrier;
    snprintf(f->token.accessor, sizeof(f->token.accessor), "acc0123456789");
    snprintf(f->token.policies[0], TOKEN_POLICY_NAME_MAX, "root");
    f->token.policy_count = 1;
    f->token.root = true;
    assert_int_equal(audit_broker_create(f->core, NULL, &f->b, errmsg,
                                         sizeof(errmsg)), 0);
    assert_int_equal(audit_broker_load(f->b, errmsg, sizeof(errmsg)), 0);
    f->peer = peer_start(0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    audit_broker_free(f->b);
    peer_free(f->peer);
    barrier_free(f->barrier);
    kh_storage_close(f->storage);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f->core);
    free(f);
    unsetenv(AUDIT_ALLOWED_DIRS_ENV);
    return 0;
}

static void enable_file(struct fx *f)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    json_t *o = json_pack("{s:s}", "file_path", f->log);

    if (audit_broker_enable(f->b, "file", "file", "", o, false, errmsg,
                            sizeof(errmsg)) != 0)
        fail_msg("enable file: %s", errmsg);
    json_decref(o);
}

static void enable_socket(struct fx *f, const char *timeout,
                          const char *spool_max)
{
    char errmsg[KH_ERRMSG_SIZE] = "", address[64];
    json_t *o;

    snprintf(address, sizeof(address), "127.0.0.1:%d", f->peer->port);
    o = json_pack("{s:s, s:s, s:s}", "address", address, "socket_type",
                  "tcp", "write_timeout", timeout);
    if (spool_max != NULL)
        json_object_set_new(o, "spool_max_records", json_string(spool_max));
    if (audit_broker_enable(f->b, "sock", "socket", "", o, false, errmsg,
                            sizeof(errmsg)) != 0)
        fail_msg("enable socket: %s", errmsg);
    json_decref(o);
}

/* One request and its response; big adds 50 strings to the data. */
static int log_pair(struct fx *f, bool big)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_request req = {0};
    struct kh_response resp = {0};
    int r, i;

    req.op = KH_OP_READ;
    req.path = strdup("secret/data/app");
    req.data = json_pack("{s:s}", "password", CANARY);
    for (i = 0; big && i < 50; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(req.data, k, json_string(CANARY));
    }
    snprintf(req.token, sizeof(req.token), "hvs.sockettesttoken");
    req.has_token = true;
    r = audit_log_request(f->b, &req, &f->token, errmsg, sizeof(errmsg));
    if (r == 0) {
        assert_int_equal(kh_response_envelope(&resp, &req,
                                              json_pack("{s:s}", "v",
                                                        CANARY)),
                         0);
        r = audit_log_response(f->b, &req, &f->token, &resp, 0, NULL, errmsg,
                               sizeof(errmsg));
    }
    kh_response_clear(&resp);
    kh_request_clear(&req);
    return r;
}

static uint64_t stat_of(struct fx *f, const char *path, int which)
{
    struct audit_device_stats s;

    assert_int_equal(audit_broker_stats(f->b, path, &s), 0);
    return which == 0 ? s.spooled : which == 1 ? s.seq
           : which == 2 ? s.lost : s.queued;
}

/* The writers run behind the requests (a request waits for the first
 * device only): wait (bounded) until a stat of path reaches min. */
static void wait_stat(struct fx *f, const char *path, int which,
                      uint64_t min)
{
    int i;

    for (i = 0; i < 500 && stat_of(f, path, which) < min; i++)
        usleep(10000);
}

/* Wait (bounded) until the device's writer has taken every record, its
 * spool is empty and the peer's last line is the last record the device
 * chained (replayed lines come before it). */
static void wait_delivered(struct fx *f, size_t extra_ms)
{
    int i;

    for (i = 0; i < 1000; i++) {
        /* Read in this order: nothing queued, nothing spooled, so seq is
         * final and the peer must have it. */
        if (stat_of(f, "sock", 3) == 0 && stat_of(f, "sock", 0) == 0 &&
            peer_last_seq(f->peer) == stat_of(f, "sock", 1))
            break;
        if (i % 100 == 0 && getenv("KH_DEBUG_PEER") != NULL)
            print_message("spooled %llu seq %llu lines %zu last %llu "
                          "pending %zu current %d\n",
                          (unsigned long long)stat_of(f, "sock", 0),
                          (unsigned long long)stat_of(f, "sock", 1),
                          peer_lines(f->peer),
                          (unsigned long long)peer_last_seq(f->peer),
                          f->peer->pending_count, f->peer->current);
        usleep(10000);
    }
    usleep((useconds_t)extra_ms * 1000);
    assert_int_equal(stat_of(f, "sock", 0), 0);
    assert_int_equal(peer_last_seq(f->peer), stat_of(f, "sock", 1));
}

/* Verify text (what collectors received, in order): intact, no canary. */
static void verify_text(const char *text, size_t len, struct audit_verify *v)
{
    int r;

    assert_int_equal(audit_verify_init(v, 0), 0);
    audit_verify_file(v, "peer");
    r = audit_verify_buffer(v, text, len);
    audit_verify_release(v);
    if (r != 0)
        fail_msg("peer log broken: %s:%llu: %s", v->broken_file,
                 (unsigned long long)v->broken_line, v->reason);
    assert_null(memmem(text, len, CANARY, strlen(CANARY)));
}

/* A copy of what the peer received (no lock held while asserting). */
static char *peer_copy(struct peer *p, size_t *ret_len)
{
    char *text;

    pthread_mutex_lock(&p->lock);
    text = malloc(p->got_len + 1);
    if (text != NULL && p->got_len > 0)
        memcpy(text, p->got, p->got_len);
    *ret_len = p->got_len;
    pthread_mutex_unlock(&p->lock);
    assert_non_null(text);
    return text;
}

static void verify_peer(struct fx *f, struct audit_verify *v)
{
    size_t len;
    char *text = peer_copy(f->peer, &len);

    verify_text(text, len, v);
    free(text);
}

/* File and socket record the same requests; both logs verify. */
static void test_file_and_socket_together(void **state)
{
    struct fx *f = *state;
    const char *files[1] = {f->log};
    char errmsg[KH_ERRMSG_SIZE];
    struct audit_verify v;
    int i;

    enable_file(f);
    enable_socket(f, "2s", NULL);
    for (i = 0; i < 20; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    verify_peer(f, &v);
    assert_int_equal(v.records, 40);
    wait_stat(f, "file", 1, 40);
    assert_int_equal(audit_verify_init(&v, 0), 0);
    assert_int_equal(audit_verify_files(&v, files, 1, errmsg,
                                        sizeof(errmsg)), 0);
    audit_verify_release(&v);
    assert_int_equal(v.records, 40);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* p99 (and p50) in microseconds of n timed request/response pairs. */
static uint64_t p99_us(struct fx *f, int n, uint64_t *ret_p50)
{
    uint64_t *t = calloc((size_t)n, sizeof(*t)), p;
    struct timespec a, b;
    int i;

    for (i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(log_pair(f, true), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000 +
                          (b.tv_nsec - a.tv_nsec) / 1000);
    }
    qsort(t, (size_t)n, sizeof(*t), cmp_u64);
    p = t[(n * 99) / 100];
    *ret_p50 = t[n / 2];
    free(t);
    return p;
}

/* A blackholed peer (accepts, never reads) costs requests no deadline:
 * the file confirms them. When the peer reads again, the stalled
 * connection resumes mid-line, the spool follows, nothing is missing and
 * nothing comes twice. */
static void test_blackholed_peer_does_not_stall(void **state)
{
    struct fx *f = *state;
    uint64_t base, holed, base50, holed50;
    struct audit_verify v;

    enable_file(f);
    base = p99_us(f, 300, &base50);
    enable_socket(f, "300ms", NULL);
    assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    peer_set_mode(f->peer, PEER_BLACKHOLE);
    holed = p99_us(f, 300, &holed50);
    print_message("request+response: file only p50 %llu us p99 %llu us; "
                  "file + blackholed socket (write_timeout 300ms) p50 %llu "
                  "us p99 %llu us; added p99 %lld us; spooled %llu\n",
                  (unsigned long long)base50, (unsigned long long)base,
                  (unsigned long long)holed50, (unsigned long long)holed,
                  (long long)holed - (long long)base,
                  (unsigned long long)stat_of(f, "sock", 0));
    assert_true(holed < 300000);
    assert_true(stat_of(f, "sock", 0) > 0);
    peer_set_mode(f->peer, PEER_READ);
    wait_delivered(f, 0);
    verify_peer(f, &v);
    assert_int_equal(v.records, stat_of(f, "sock", 1));
    assert_int_equal(stat_of(f, "sock", 2), 0);
    /* The stalled connection was kept and resumed: no line came twice. */
    assert_int_equal(v.duplicates, 0);
    assert_int_equal(peer_lines(f->peer), v.records);
}

/* The peer stops and restarts: records in between are spooled and
 * replayed in order; the peer's log is one intact chain. */
static void test_stopped_peer_spool_replayed(void **state)
{
    struct fx *f = *state;
    struct audit_verify v;
    int i;

    enable_file(f);
    enable_socket(f, "500ms", NULL);
    for (i = 0; i < 5; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    peer_stop(f->peer);
    for (i = 0; i < 10; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_stat(f, "sock", 1, 30);
    assert_true(stat_of(f, "sock", 0) >= 19);
    peer_restart(f->peer);
    wait_delivered(f, 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    verify_peer(f, &v);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.records, 36);
    assert_int_equal(v.lost, 0);
}

/* A spool that overflows counts the loss and chains a gap record. */
static void test_spool_overflow_counted(void **state)
{
    struct fx *f = *state;
    struct audit_verify v;
    int i;

    enable_file(f);
    enable_socket(f, "500ms", "5");
    assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    peer_stop(f->peer);
    for (i = 0; i < 10; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_stat(f, "sock", 2, 15);
    print_message("spooled %llu lost %llu seq %llu lines %zu\n",
                  (unsigned long long)stat_of(f, "sock", 0),
                  (unsigned long long)stat_of(f, "sock", 2),
                  (unsigned long long)stat_of(f, "sock", 1),
                  peer_lines(f->peer));
    assert_int_equal(stat_of(f, "sock", 2), 15);
    peer_restart(f->peer);
    wait_delivered(f, 0);
    assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    verify_peer(f, &v);
    assert_int_equal(v.lost, 15);
    assert_int_equal(v.records, 2 + 5 + 1 + 2);
}

/* Socket only and the peer is gone: nothing records, so requests are
 * refused, within the deadline; they pass again once it is back. */
static void test_socket_only_refuses_when_gone(void **state)
{
    struct fx *f = *state;
    struct timespec a, b;
    long ms;

    enable_socket(f, "300ms", NULL);
    assert_int_equal(log_pair(f, false), 0);
    peer_stop(f->peer);
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(log_pair(f, false), KH_EUNAVAIL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms < 1000);
    peer_restart(f->peer);
    usleep(2500 * 1000); /* longer than the largest retry backoff */
    assert_int_equal(log_pair(f, false), 0);
}

/* The collector process dies: what it read is kept (as a collector's
 * file would be), a fresh one listens on the same port. */
static void peer_kill_and_replace(struct fx *f, char **union_text,
                                  size_t *union_len)
{
    int port = f->peer->port;
    size_t len;
    char *text;

    peer_stop(f->peer);
    text = peer_copy(f->peer, &len);
    *union_text = realloc(*union_text, *union_len + len + 1);
    assert_non_null(*union_text);
    memcpy(*union_text + *union_len, text, len);
    *union_len += len;
    free(text);
    peer_free(f->peer);
    f->peer = peer_start(port);
}

#define KILL_ROUNDS 5

/* One round: fill the buffers of a blackholed peer, kill it, start a
 * fresh one; the union of all collectors verifies, nothing missing. */
static void kill_round(struct fx *f, int round, char **all, size_t *all_len)
{
    uint64_t read_before_kill, sent_at_kill, first_seq;
    struct audit_verify v;
    size_t len;
    char *live;
    int i;

    for (i = 0; i < 5; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    peer_set_mode(f->peer, PEER_BLACKHOLE);
    /* Fill both kernels' buffers until the device spools. */
    for (i = 0; i < 400 && stat_of(f, "sock", 0) < 20; i++)
        assert_int_equal(log_pair(f, true), 0);
    assert_true(stat_of(f, "sock", 0) > 0);
    read_before_kill = peer_last_seq(f->peer);
    /* What the device counted as sent: all it chained but the spool. */
    sent_at_kill = stat_of(f, "sock", 1) - stat_of(f, "sock", 0);
    peer_kill_and_replace(f, all, all_len);
    for (i = 0; i < 5; i++)
        assert_int_equal(log_pair(f, false), 0);
    wait_delivered(f, 0);
    live = peer_copy(f->peer, &len);
    first_seq = line_seq(live, len);
    print_message("round %d: the killed collector had read up to seq %llu "
                  "of %llu sent; the fresh one got %zu lines from seq "
                  "%llu\n", round, (unsigned long long)read_before_kill,
                  (unsigned long long)sent_at_kill, peer_lines(f->peer),
                  (unsigned long long)first_seq);
    /* Sent lines died unread with the collector (without the window they
     * would be missing), and the fresh one starts at or before the first
     * of them. */
    assert_true(read_before_kill < sent_at_kill);
    assert_true(first_seq <= read_before_kill + 1);
    /* The live collector's lines go after the dead ones' for this check
     * only: when it is killed next round, all it read is appended. */
    *all = realloc(*all, *all_len + len + 1);
    assert_non_null(*all);
    memcpy(*all + *all_len, live, len);
    free(live);
    verify_text(*all, *all_len + len, &v);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.last_seq, stat_of(f, "sock", 1));
    assert_int_equal(v.records, stat_of(f, "sock", 1));
    assert_true(v.duplicates > 0);
    assert_int_equal(v.lost, 0);
    assert_int_equal(stat_of(f, "sock", 2), 0);
    print_message("round %d: union of %d collectors: %llu records, %llu "
                  "duplicates, nothing missing\n", round, round + 1,
                  (unsigned long long)v.records,
                  (unsigned long long)v.duplicates);
}

/* A blackholed peer is killed for real with lines unread in its buffers
 * (and in ours), then a fresh collector starts: the device sends its
 * in-flight window again before the spool, so the union of what all the
 * collectors received verifies from seq 1 to the device's last record
 * with nothing missing (duplicates allowed). Five rounds. */
static void test_killed_blackholed_peer_loses_nothing(void **state)
{
    struct fx *f = *state;
    char *all = NULL;
    size_t all_len = 0;
    int round;

    enable_file(f);
    enable_socket(f, "300ms", NULL);
    for (round = 1; round <= KILL_ROUNDS; round++)
        kill_round(f, round, &all, &all_len);
    free(all);
}

/* replay_window_bytes: a number of bytes from 256 KiB to 16 MiB, for
 * stream sockets only. */
static void test_replay_window_option(void **state)
{
    static const char *const bad[] = {"1000", "262143", "16777217", "1MiB",
                                      "-5", ""};
    struct fx *f = *state;
    char errmsg[KH_ERRMSG_SIZE];
    json_t *o;
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(bad); i++) {
        o = json_pack("{s:s, s:s}", "address", "127.0.0.1:9",
                      "replay_window_bytes", bad[i]);
        errmsg[0] = '\0';
        assert_int_equal(audit_broker_enable(f->b, "w", "socket", "", o,
                                             false, errmsg, sizeof(errmsg)),
                         KH_EINVAL);
        assert_non_null(strstr(errmsg, "replay_window_bytes"));
        json_decref(o);
    }
    o = json_pack("{s:s, s:s, s:s}", "address", "127.0.0.1:9",
                  "socket_type", "udp", "replay_window_bytes", "262144");
    assert_int_equal(audit_broker_enable(f->b, "w", "socket", "", o, false,
                                         errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    json_decref(o);
    o = json_pack("{s:s, s:s}", "address", "127.0.0.1:9",
                  "replay_window_bytes", "262144");
    assert_int_equal(audit_broker_enable(f->b, "w", "socket", "", o, false,
                                         errmsg, sizeof(errmsg)),
                     0);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_and_socket_together,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_blackholed_peer_does_not_stall,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stopped_peer_spool_replayed,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_spool_overflow_counted,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_socket_only_refuses_when_gone,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_killed_blackholed_peer_loses_nothing, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_replay_window_option, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
