/*
 * raft_io_lmdb.c - struct raft_io over raft_log.c and libuv TCP, inside
 * mutual TLS (raft_tls.c) when configured.
 *
 * Owns the log handle, the queue of durable writes and its one worker,
 * the tick timer, the listener, the incoming connections, the outgoing
 * peer connections and, with TLS, the SSL_CTX and one TLS engine per
 * connection. Must never report an append, truncate or snapshot as done
 * before the LMDB transaction holding it committed (this closes the
 * window behind raft_uv 0.15's split-brain fix, canonical/raft #429: raft
 * never sees an index that is not on disk), never run two writers or
 * reorder writes, never call a raft callback from inside the raft call
 * that started it, and never allocate from a peer's length before checking
 * it against raft_limits.h (with TLS: the decrypted length). With TLS it
 * must never write a raft byte outside a TLS record or before the server
 * verified, nor read one before the client verified; TLS bytes move
 * between memory BIOs and libuv on the loop thread, never blocking.
 *
 * raft_uv's truncate and close assertion crashes (#450, #471, #291, #324)
 * have no counterpart here: a truncate is one more ordered operation in
 * the queue, and close waits for the running worker, cancels what is
 * queued, and closes every handle before raft's close callback fires.
 */
#include "raft/raft_io_lmdb.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "raft/raft_codec.h"
#include "raft/raft_limits.h"
#include "raft/raft_log.h"
#include "raft/raft_tls.h"

#define IO_HANDSHAKE_MAGIC 0x4b485246u /* "KHRF" */
#define IO_HANDSHAKE_VERSION 1u
#define IO_HANDSHAKE_BYTES_MAX (4u + 4u + 8u + 2u + KH_RAFT_ADDRESS_BYTES_MAX)
#define IO_FRAME_HEADER_BYTES 4u
#define IO_READ_CHUNK_BYTES (64u * 1024u)
#define IO_PEER_READ_BYTES (16u * 1024u) /* TLS handshake flights */
#define IO_REMOTE_BYTES 64u              /* "address:port", IPv6 too */
#define IO_WHY_BYTES 256u
#define IO_TLS_WARN_INTERVAL_MS 1000u
#define IO_BACKLOG 64

enum io_op_kind
{
    IO_OP_APPEND = 1,
    IO_OP_TRUNCATE,
    IO_OP_SNAPSHOT_PUT,
    IO_OP_SNAPSHOT_GET,
};

/* One queued durable operation; fields by kind. */
struct io_op
{
    struct io_op *next;
    enum io_op_kind kind;
    uint64_t index; /* append: first index; truncate: from */
    const struct raft_entry *entries;
    unsigned n;
    struct raft_io_append *append;
    raft_io_append_cb append_cb;
    const struct raft_snapshot *snapshot;
    unsigned trailing;
    struct kh_raft_wbuf conf; /* snapshot_put: the encoded configuration */
    struct raft_io_snapshot_put *put;
    raft_io_snapshot_put_cb put_cb;
    struct raft_io_snapshot_get *get;
    raft_io_snapshot_get_cb get_cb;
    struct raft_snapshot *got; /* snapshot_get's result */
    int status;                /* RAFT_* code */
};

struct io_impl;

/* An outgoing message being written. */
struct io_send
{
    struct io_send *next;
    struct io_peer *peer;
    struct raft_io_send *req;
    raft_io_send_cb cb;
    uv_write_t write;
    uint8_t header[IO_FRAME_HEADER_BYTES];
    struct kh_raft_wbuf body;
    uint8_t *wire; /* TLS: the records of header and body, malloc'ed */
};

/* TLS bytes that are not a message (handshake flights, alerts) on their
 * way to the socket. */
struct io_wire
{
    uv_write_t write;
    uint8_t data[];
};

enum io_peer_state
{
    IO_PEER_IDLE = 0,
    IO_PEER_CONNECTING,
    IO_PEER_CONNECTED,
    IO_PEER_CLOSING,
};

struct io_peer
{
    struct io_peer *next;
    struct io_impl *io;
    raft_id id;
    char address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    enum io_peer_state state;
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct io_send *queue; /* waiting for the connection */
    unsigned queued;
    uint8_t handshake[IO_FRAME_HEADER_BYTES + IO_HANDSHAKE_BYTES_MAX];
    uv_write_t handshake_write;
    struct kh_raft_tls_conn *tls; /* with TLS, from connect to close */
    uint8_t chunk[IO_PEER_READ_BYTES];
};

/* An incoming connection. */
struct io_conn
{
    struct io_conn *next;
    struct io_impl *io;
    uv_tcp_t tcp;
    struct kh_raft_tls_conn *tls; /* with TLS, from accept to close */
    char remote[IO_REMOTE_BYTES]; /* the peer's address, for logs */
    bool greeted; /* the handshake frame was read */
    raft_id peer_id;
    char peer_address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    uint8_t header[IO_FRAME_HEADER_BYTES];
    size_t header_len;
    uint8_t *frame; /* malloc'ed, frame_len bytes */
    size_t frame_len;
    size_t frame_got;
    char chunk[IO_READ_CHUNK_BYTES];
    uint8_t plain[IO_READ_CHUNK_BYTES]; /* TLS: decrypted */
};

struct io_impl
{
    struct raft_io *raft_io;
    uv_loop_t *loop;
    struct kh_raft_log *log;
    raft_id id;
    char address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    uint64_t next_index; /* of the next append, as raft sees the log */
    uint64_t term;       /* as loaded or last set; for recover */
    uint64_t rng;
    uv_timer_t timer;
    unsigned tick_ms;
    raft_io_tick_cb tick;
    raft_io_recv_cb recv;
    struct kh_raft_tls_ctx *tls; /* NULL: plain TCP */
    bool bind_node_id;           /* certificates must name the node */
    uint64_t tls_warn_ms;        /* when the last TLS warning was logged */
    unsigned tls_warn_suppressed;
    bool tls_warned;
    bool listening;
    uv_tcp_t listener;
    struct io_peer *peers;
    struct io_conn *conns;
    struct io_op *queue, *queue_tail; /* waiting for the worker */
    struct io_op *batch;              /* with the worker */
    uv_work_t work;
    bool working;
    bool closing;
    unsigned handles; /* open uv handles */
    raft_io_close_cb close_cb;
    int (*expand)(void *arg, struct raft_buffer *buf);
    void *expand_arg;
};

static int io_rv(int r)
{
    switch (r) {
    case 0:
        return 0;
    case KH_ENOMEM:
        return RAFT_NOMEM;
    case KH_ETOOBIG:
        return RAFT_TOOBIG;
    case KH_EINVAL:
        return RAFT_INVALID;
    case KH_EFULL:
        return RAFT_NOSPACE;
    case KH_EIO:
        return RAFT_IOERR;
    default:
        return RAFT_IOERR;
    }
}

static void io_maybe_finish(struct io_impl *io);

static void io_handle_closed(uv_handle_t *h)
{
    struct io_impl *io = h->data;

    KH_ASSERT(io->handles > 0);
    io->handles--;
    io_maybe_finish(io);
}

/* ---- durable writes ---- */

static int io_op_apply(struct kh_raft_log_txn *txn, struct io_op *op)
{
    struct kh_raft_log_entry entries[64];
    struct kh_raft_log_snapshot s;
    unsigned done = 0, k, i;
    int r;

    switch (op->kind) {
    case IO_OP_APPEND:
        /* In slices of a fixed stack array: the log checks each slice's
         * contiguity against what the previous one wrote. */
        while (done < op->n) {
            k = op->n - done < KH_ARRAY_LEN(entries)
                    ? op->n - done
                    : (unsigned)KH_ARRAY_LEN(entries);
            for (i = 0; i < k; i++) {
                entries[i].term = op->entries[done + i].term;
                entries[i].type = (uint8_t)op->entries[done + i].type;
                entries[i].data = op->entries[done + i].buf.base;
                entries[i].len = op->entries[done + i].buf.len;
            }
            r = kh_raft_log_txn_append(txn, op->index + done, entries, k);
            if (r != 0)
                return r;
            done += k;
        }
        return 0;
    case IO_OP_TRUNCATE:
        return kh_raft_log_txn_truncate(txn, op->index);
    case IO_OP_SNAPSHOT_PUT:
        s.index = op->snapshot->index;
        s.term = op->snapshot->term;
        s.conf_index = op->snapshot->configuration_index;
        s.conf = op->conf.data;
        s.conf_len = op->conf.len;
        s.data = op->snapshot->n_bufs > 0 ? op->snapshot->bufs[0].base : NULL;
        s.len = op->snapshot->n_bufs > 0 ? op->snapshot->bufs[0].len : 0;
        return kh_raft_log_txn_snapshot(txn, &s, op->trailing);
    default:
        return 0;
    }
}

static int io_snapshot_load(struct kh_raft_log *log,
                            struct raft_snapshot **ret);

/* Worker thread: every write of the batch in one transaction, then the
 * reads, which see it. */
static void io_work(uv_work_t *work)
{
    struct io_impl *io = work->data;
    struct kh_raft_log_txn *txn = NULL;
    struct io_op *op;
    int r;

    r = kh_raft_log_begin(io->log, &txn);
    for (op = io->batch; op != NULL && r == 0; op = op->next)
        r = io_op_apply(txn, op);
    if (r == 0)
        r = kh_raft_log_commit(txn);
    else
        kh_raft_log_abort(txn);
    for (op = io->batch; op != NULL; op = op->next) {
        op->status = io_rv(r);
        if (op->kind == IO_OP_SNAPSHOT_GET && r == 0)
            op->status = io_rv(io_snapshot_load(io->log, &op->got));
    }
}

static void io_op_complete(struct io_impl *io, struct io_op *op)
{
    switch (op->kind) {
    case IO_OP_APPEND:
        op->append_cb(op->append, op->status);
        break;
    case IO_OP_SNAPSHOT_PUT:
        op->put_cb(op->put, op->status);
        break;
    case IO_OP_SNAPSHOT_GET:
        /* The FSM stores marks; whoever reads a snapshot gets the data. */
        if (op->status == 0 && io->expand != NULL && op->got->n_bufs == 1 &&
            io->expand(io->expand_arg, &op->got->bufs[0]) != 0) {
            raft_configuration_close(&op->got->configuration);
            raft_free(op->got->bufs[0].base);
            raft_free(op->got->bufs);
            raft_free(op->got);
            op->got = NULL;
            op->status = RAFT_IOERR;
        }
        op->get_cb(op->get, op->status == 0 ? op->got : NULL, op->status);
        break;
    default:
        break;
    }
    kh_raft_wbuf_free(&op->conf);
    free(op);
}

static void io_work_done(uv_work_t *work, int status);

static void io_work_start(struct io_impl *io)
{
    if (io->working || io->queue == NULL)
        return;
    io->batch = io->queue;
    io->queue = NULL;
    io->queue_tail = NULL;
    io->work.data = io;
    io->working = true;
    /* Fails only without a work function. */
    KH_ASSERT(uv_queue_work(io->loop, &io->work, io_work, io_work_done) == 0);
}

static void io_work_done(uv_work_t *work, int status)
{
    struct io_impl *io = work->data;
    struct io_op *op, *next;

    KH_ASSERT(io->working);
    (void)status; /* uv_cancel is never called: the work always ran */
    io->working = false;
    op = io->batch;
    io->batch = NULL;
    for (; op != NULL; op = next) {
        next = op->next;
        io_op_complete(io, op);
    }
    if (io->closing)
        io_maybe_finish(io);
    else
        io_work_start(io);
}

static void io_enqueue(struct io_impl *io, struct io_op *op)
{
    KH_ASSERT(op->next == NULL);
    KH_ASSERT(!io->closing);
    if (io->queue_tail != NULL)
        io->queue_tail->next = op;
    else
        io->queue = op;
    io->queue_tail = op;
    io_work_start(io);
}

/* ---- loading ---- */

/* A raft_snapshot on raft's heap from the stored one. */
static int io_snapshot_build(const struct kh_raft_log_snapshot *s,
                             struct raft_snapshot **ret)
{
    struct raft_snapshot *snap;
    struct kh_raft_rbuf rb;
    int r;

    snap = raft_calloc(1, sizeof(*snap));
    if (snap == NULL)
        return KH_ENOMEM;
    snap->bufs = raft_calloc(1, sizeof(*snap->bufs));
    snap->n_bufs = 1;
    if (snap->bufs != NULL)
        snap->bufs[0].base = raft_malloc(s->len > 0 ? s->len : 1);
    if (snap->bufs == NULL || snap->bufs[0].base == NULL) {
        r = KH_ENOMEM;
        goto fail;
    }
    memcpy(snap->bufs[0].base, s->data, s->len);
    snap->bufs[0].len = s->len;
    kh_raft_rbuf_init(&rb, s->conf, s->conf_len);
    r = kh_raft_conf_decode(&rb, &snap->configuration);
    if (r != 0 || kh_raft_rbuf_left(&rb) != 0) {
        r = KH_EIO; /* a stored configuration that does not decode */
        goto fail;
    }
    snap->index = s->index;
    snap->term = s->term;
    snap->configuration_index = s->conf_index;
    *ret = snap;
    return 0;
fail:
    if (snap->bufs != NULL)
        raft_free(snap->bufs[0].base);
    raft_free(snap->bufs);
    raft_free(snap);
    return r;
}

/* Any thread: the stored snapshot, or NULL (0) when there is none. */
static int io_snapshot_load(struct kh_raft_log *log,
                            struct raft_snapshot **ret)
{
    struct kh_raft_log_reader *rd = NULL;
    struct kh_raft_log_state st;
    int r;

    *ret = NULL;
    r = kh_raft_log_read_begin(log, &rd, &st);
    if (r != 0)
        return r;
    if (st.has_snapshot)
        r = io_snapshot_build(&st.snapshot, ret);
    kh_raft_log_read_end(rd);
    return r;
}

/* Every stored entry into one raft_malloc'ed batch. */
static int io_entries_load(struct kh_raft_log_reader *rd,
                           const struct kh_raft_log_state *st,
                           struct raft_entry **ret_entries, size_t *ret_n)
{
    struct kh_raft_log_entry e;
    struct raft_entry *entries = NULL;
    uint8_t *batch = NULL;
    size_t n, i, off = 0;
    int r = KH_EINTERNAL;

    *ret_entries = NULL;
    *ret_n = 0;
    if (st->first_index == 0)
        return 0;
    n = st->last_index - st->first_index + 1;
    entries = raft_calloc(n, sizeof(*entries));
    batch = raft_malloc(st->entry_bytes > 0 ? st->entry_bytes : 1);
    if (entries == NULL || batch == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        r = kh_raft_log_read_entry(rd, st->first_index + i, &e);
        if (r != 0)
            goto out;
        if (e.len > st->entry_bytes - off) {
            r = KH_EIO;
            goto out;
        }
        memcpy(batch + off, e.data, e.len);
        entries[i].term = e.term;
        entries[i].type = e.type;
        entries[i].buf.base = batch + off;
        entries[i].buf.len = e.len;
        entries[i].batch = batch;
        off += e.len;
    }
    *ret_entries = entries;
    *ret_n = n;
    entries = NULL;
    batch = NULL;
    r = 0; /* success */
out:
    raft_free(entries);
    raft_free(batch);
    return r;
}

static int io_load(struct raft_io *raft_io, raft_term *term,
                   raft_id *voted_for, struct raft_snapshot **snapshot,
                   raft_index *start_index, struct raft_entry *entries[],
                   size_t *n_entries)
{
    struct io_impl *io = raft_io->impl;
    struct kh_raft_log_reader *rd = NULL;
    struct kh_raft_log_state st;
    struct raft_snapshot *snap = NULL;
    int r;

    r = kh_raft_log_read_begin(io->log, &rd, &st);
    if (r != 0)
        return io_rv(r);
    if (st.has_snapshot)
        r = io_snapshot_build(&st.snapshot, &snap);
    if (r == 0)
        r = io_entries_load(rd, &st, entries, n_entries);
    kh_raft_log_read_end(rd);
    if (r != 0) {
        if (snap != NULL)
            raft_configuration_close(&snap->configuration);
        if (snap != NULL)
            raft_free(snap->bufs[0].base);
        if (snap != NULL)
            raft_free(snap->bufs);
        raft_free(snap);
        return io_rv(r);
    }
    *term = st.term;
    *voted_for = st.vote;
    *snapshot = snap;
    *start_index = st.first_index != 0 ? st.first_index
                   : st.has_snapshot   ? st.snapshot.index + 1
                                       : 1;
    io->next_index = st.last_index != 0  ? st.last_index + 1
                     : st.has_snapshot   ? st.snapshot.index + 1
                                         : 1;
    io->term = st.term;
    return 0;
}

/* ---- synchronous writes ---- */

static int io_set_term(struct raft_io *raft_io, raft_term term)
{
    struct io_impl *io = raft_io->impl;
    int r = kh_raft_log_set_term(io->log, term);

    if (r == 0)
        io->term = term;
    return io_rv(r);
}

static int io_set_vote(struct raft_io *raft_io, raft_id server_id)
{
    struct io_impl *io = raft_io->impl;

    return io_rv(kh_raft_log_set_vote(io->log, server_id));
}

/* Append one configuration entry at index, durably, now. */
static int io_append_conf(struct io_impl *io, uint64_t index, uint64_t term,
                          const struct raft_configuration *conf)
{
    struct kh_raft_log_entry e;
    struct kh_raft_log_txn *txn = NULL;
    struct raft_buffer buf = {NULL, 0};
    int r;

    if (raft_configuration_encode(conf, &buf) != 0)
        return KH_ENOMEM;
    e.term = term;
    e.type = RAFT_CHANGE;
    e.data = buf.base;
    e.len = buf.len;
    r = kh_raft_log_begin(io->log, &txn);
    if (r == 0) {
        r = kh_raft_log_txn_append(txn, index, &e, 1);
        if (r == 0)
            r = kh_raft_log_commit(txn);
        else
            kh_raft_log_abort(txn);
    }
    raft_free(buf.base);
    return r;
}

static int io_bootstrap(struct raft_io *raft_io,
                        const struct raft_configuration *conf)
{
    struct io_impl *io = raft_io->impl;
    struct kh_raft_log_reader *rd = NULL;
    struct kh_raft_log_state st;
    int r;

    r = kh_raft_log_read_begin(io->log, &rd, &st);
    if (r != 0)
        return io_rv(r);
    kh_raft_log_read_end(rd);
    if (st.term != 0 || st.first_index != 0 || st.has_snapshot)
        return RAFT_CANTBOOTSTRAP;
    /* The entry first: a crash before the term is written leaves a log
     * that refuses a second bootstrap rather than an empty one. */
    r = io_append_conf(io, 1, 1, conf);
    if (r == 0)
        r = kh_raft_log_set_term(io->log, 1);
    if (r == 0)
        io->term = 1;
    return io_rv(r);
}

static int io_recover(struct raft_io *raft_io,
                      const struct raft_configuration *conf)
{
    struct io_impl *io = raft_io->impl;
    struct kh_raft_log_reader *rd = NULL;
    struct kh_raft_log_state st;
    uint64_t next;
    int r;

    r = kh_raft_log_read_begin(io->log, &rd, &st);
    if (r != 0)
        return io_rv(r);
    kh_raft_log_read_end(rd);
    next = st.last_index != 0 ? st.last_index + 1
           : st.has_snapshot  ? st.snapshot.index + 1
                              : 1;
    return io_rv(io_append_conf(io, next, st.term, conf));
}

/* ---- queued writes ---- */

static int io_append(struct raft_io *raft_io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n,
                     raft_io_append_cb cb)
{
    struct io_impl *io = raft_io->impl;
    struct io_op *op;
    unsigned i;

    KH_ASSERT(req != NULL);
    KH_ASSERT(cb != NULL);
    if (io->closing)
        return RAFT_CANCELED;
    if (n == 0 || n > KH_RAFT_APPEND_ENTRIES_MAX)
        return n == 0 ? RAFT_INVALID : RAFT_TOOBIG;
    for (i = 0; i < n; i++)
        if (entries[i].buf.len > KH_RAFT_ENTRY_BYTES_MAX)
            return RAFT_TOOBIG;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return RAFT_NOMEM;
    op->kind = IO_OP_APPEND;
    op->index = io->next_index;
    op->entries = entries;
    op->n = n;
    op->append = req;
    op->append_cb = cb;
    io->next_index += n;
    io_enqueue(io, op);
    return 0;
}

static int io_truncate(struct raft_io *raft_io, raft_index index)
{
    struct io_impl *io = raft_io->impl;
    struct io_op *op;

    if (io->closing)
        return RAFT_CANCELED;
    if (index == 0 || index > io->next_index)
        return RAFT_INVALID;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return RAFT_NOMEM;
    op->kind = IO_OP_TRUNCATE;
    op->index = index;
    io->next_index = index;
    io_enqueue(io, op);
    return 0;
}

static int io_snapshot_put(struct raft_io *raft_io, unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb)
{
    struct io_impl *io = raft_io->impl;
    struct io_op *op;
    int r;

    KH_ASSERT(snapshot != NULL);
    KH_ASSERT(cb != NULL);
    if (io->closing)
        return RAFT_CANCELED;
    /* raft hands one buffer for an installed snapshot and the FSM's
     * buffers for a local one; raft_fsm.c always makes exactly one. */
    if (snapshot->n_bufs != 1)
        return RAFT_INVALID;
    if (snapshot->bufs[0].len > KH_RAFT_SNAPSHOT_BYTES_MAX)
        return RAFT_TOOBIG;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return RAFT_NOMEM;
    kh_raft_wbuf_init(&op->conf, KH_RAFT_CONF_BYTES_MAX);
    kh_raft_conf_encode(&op->conf, &snapshot->configuration);
    r = kh_raft_wbuf_error(&op->conf);
    if (r != 0) {
        kh_raft_wbuf_free(&op->conf);
        free(op);
        return io_rv(r);
    }
    op->kind = IO_OP_SNAPSHOT_PUT;
    op->snapshot = snapshot;
    op->trailing = trailing;
    op->put = req;
    op->put_cb = cb;
    if (trailing == 0)
        io->next_index = snapshot->index + 1;
    io_enqueue(io, op);
    return 0;
}

static int io_snapshot_get(struct raft_io *raft_io,
                           struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb)
{
    struct io_impl *io = raft_io->impl;
    struct io_op *op;

    KH_ASSERT(cb != NULL);
    if (io->closing)
        return RAFT_CANCELED;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return RAFT_NOMEM;
    op->kind = IO_OP_SNAPSHOT_GET;
    op->get = req;
    op->get_cb = cb;
    io_enqueue(io, op);
    return 0;
}

static raft_time io_time(struct raft_io *raft_io)
{
    struct io_impl *io = raft_io->impl;

    return uv_now(io->loop);
}

/* xorshift64*: election jitter only, nothing secret. */
static int io_random(struct raft_io *raft_io, int min, int max)
{
    struct io_impl *io = raft_io->impl;
    uint64_t x = io->rng;

    KH_ASSERT(max >= min);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    io->rng = x;
    if (max == min)
        return min;
    return min + (int)((x * 0x2545F4914F6CDD1Dull) %
                       (uint64_t)((int64_t)max - min));
}

/* ---- TLS bytes on the wire ---- */

/* One warning line per failed TLS connection, at most one a second per
 * io: a node with the wrong certificate retries at every heartbeat. */
static void io_tls_warn(struct io_impl *io, const char *direction,
                        const char *address, const char *why)
{
    uint64_t now = uv_now(io->loop);

    if (io->tls_warned && now - io->tls_warn_ms < IO_TLS_WARN_INTERVAL_MS) {
        io->tls_warn_suppressed++;
        return;
    }
    if (io->tls_warn_suppressed > 0)
        log_warn("raft: TLS connection %s %s closed: %s (and %u more "
                 "TLS failures in the last %u ms)",
                 direction, address, why, io->tls_warn_suppressed,
                 (unsigned)(now - io->tls_warn_ms));
    else
        log_warn("raft: TLS connection %s %s closed: %s", direction, address,
                 why);
    io->tls_warned = true;
    io->tls_warn_ms = now;
    io->tls_warn_suppressed = 0;
}

static void io_wire_written(uv_write_t *w, int status)
{
    (void)status; /* a broken connection shows in its reads and writes */
    free(w->data); /* the struct io_wire that holds w */
}

/* Write what the TLS engine holds for the socket (handshake flights,
 * alerts, key updates) after everything written before it. */
static int io_wire_flush(struct kh_raft_tls_conn *tls, uv_tcp_t *tcp)
{
    size_t n = kh_raft_tls_conn_pending(tls);
    struct io_wire *w;
    uv_buf_t buf;

    if (n == 0)
        return 0;
    if (n > UINT_MAX - sizeof(*w))
        return KH_ETOOBIG;
    w = malloc(sizeof(*w) + n);
    if (w == NULL)
        return KH_ENOMEM;
    kh_raft_tls_conn_take(tls, w->data, n);
    w->write.data = w;
    buf = uv_buf_init((char *)w->data, (unsigned)n);
    if (uv_write(&w->write, (uv_stream_t *)tcp, &buf, 1, io_wire_written) !=
        0) {
        free(w);
        return KH_EIO;
    }
    return 0;
}

/* ---- outgoing messages ---- */

static void io_send_free(struct io_send *s)
{
    kh_raft_wbuf_free(&s->body);
    free(s->wire);
    free(s);
}

static void io_send_fail(struct io_send *s, int status)
{
    if (s->cb != NULL)
        s->cb(s->req, status);
    io_send_free(s);
}

static void io_peer_reset(struct io_peer *peer);

/* A failed write means the connection is gone: drop it, so that the next
 * message reconnects (the peer may have restarted). */
static void io_send_written(uv_write_t *w, int status)
{
    struct io_send *s = w->data;
    struct io_peer *peer = s->peer;

    io_send_fail(s, status == 0 ? 0 : RAFT_NOCONNECTION);
    if (status != 0 && peer->state == IO_PEER_CONNECTED)
        io_peer_reset(peer);
}

static void io_peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct io_peer *peer = h->data;

    (void)suggested;
    *buf = uv_buf_init((char *)peer->chunk, sizeof(peer->chunk));
}

static void io_peer_established(struct io_peer *peer);

/* Bytes from the server: handshake flights until it verified, then
 * nothing but the end, since peers never send on this connection. */
static int io_peer_tls_input(struct io_peer *peer, const uint8_t *p, size_t n)
{
    char why[IO_WHY_BYTES] = "";
    size_t got = 0;
    bool done = false;
    int r;

    r = kh_raft_tls_conn_recv(peer->tls, p, n); /* p is peer->chunk */
    if (r != 0)
        return r;
    if (!kh_raft_tls_conn_established(peer->tls)) {
        r = kh_raft_tls_conn_handshake(peer->tls, &done, why, sizeof(why));
        if (io_wire_flush(peer->tls, &peer->tcp) != 0 && r == 0)
            r = KH_EIO;
        if (r == KH_EAUTH || r == KH_EINVAL)
            io_tls_warn(peer->io, "to", peer->address, why);
        if (r != 0 || !done)
            return r;
        io_peer_established(peer);
        if (peer->state != IO_PEER_CONNECTED)
            return 0; /* reset already */
    }
    r = kh_raft_tls_conn_read(peer->tls, peer->chunk, sizeof(peer->chunk),
                              &got, why, sizeof(why));
    if (r == KH_EAUTH || r == KH_EINVAL)
        io_tls_warn(peer->io, "to", peer->address, why);
    if (r == 0 && got != 0)
        r = KH_EINVAL;
    return r;
}

/* Plain TCP: any byte or EOF ends the connection. TLS: see above. */
static void io_peer_read(uv_stream_t *stream, ssize_t nread,
                         const uv_buf_t *buf)
{
    struct io_peer *peer = stream->data;

    if (nread == 0 || (peer->state != IO_PEER_CONNECTING &&
                       peer->state != IO_PEER_CONNECTED))
        return;
    if (nread < 0 && peer->tls != NULL &&
        !kh_raft_tls_conn_established(peer->tls))
        io_tls_warn(peer->io, "to", peer->address,
                    "closed by the peer during the handshake");
    if (nread < 0 || peer->tls == NULL ||
        io_peer_tls_input(peer, (const uint8_t *)buf->base, (size_t)nread) !=
            0)
        io_peer_reset(peer);
}

static void io_peer_closed(uv_handle_t *h)
{
    struct io_peer *peer = h->data;

    peer->state = IO_PEER_IDLE;
    kh_raft_tls_conn_free(peer->tls);
    peer->tls = NULL;
    KH_ASSERT(peer->io->handles > 0);
    peer->io->handles--;
    io_maybe_finish(peer->io);
}

/* Drop the connection and fail what waits for it. */
static void io_peer_reset(struct io_peer *peer)
{
    struct io_send *s;

    while ((s = peer->queue) != NULL) {
        peer->queue = s->next;
        io_send_fail(s, peer->io->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    }
    peer->queued = 0;
    if (peer->state == IO_PEER_CONNECTING || peer->state == IO_PEER_CONNECTED) {
        peer->state = IO_PEER_CLOSING;
        peer->tcp.data = peer;
        uv_close((uv_handle_t *)&peer->tcp, io_peer_closed);
    }
}

/* TLS: the frame becomes records, written as one buffer; the plaintext
 * goes at once. */
static int io_send_write_tls(struct io_peer *peer, struct io_send *s)
{
    uv_buf_t buf;
    size_t n;

    KH_ASSERT(peer->tls != NULL && kh_raft_tls_conn_established(peer->tls));
    if (kh_raft_tls_conn_write(peer->tls, s->header, sizeof(s->header)) !=
            0 ||
        kh_raft_tls_conn_write(peer->tls, s->body.data, s->body.len) != 0)
        return KH_ENOMEM;
    kh_raft_wbuf_free(&s->body);
    n = kh_raft_tls_conn_pending(peer->tls);
    if (n == 0 || n > UINT_MAX)
        return KH_ETOOBIG;
    s->wire = malloc(n);
    if (s->wire == NULL)
        return KH_ENOMEM;
    kh_raft_tls_conn_take(peer->tls, s->wire, n);
    buf = uv_buf_init((char *)s->wire, (unsigned)n);
    return uv_write(&s->write, (uv_stream_t *)&peer->tcp, &buf, 1,
                    io_send_written);
}

static int io_send_write(struct io_peer *peer, struct io_send *s)
{
    uv_buf_t bufs[2];
    uint32_t len = (uint32_t)s->body.len;

    KH_ASSERT(peer->state == IO_PEER_CONNECTED);
    s->header[0] = (uint8_t)(len >> 24);
    s->header[1] = (uint8_t)(len >> 16);
    s->header[2] = (uint8_t)(len >> 8);
    s->header[3] = (uint8_t)len;
    s->write.data = s;
    if (peer->io->tls != NULL)
        return io_send_write_tls(peer, s);
    bufs[0] = uv_buf_init((char *)s->header, sizeof(s->header));
    bufs[1] = uv_buf_init((char *)s->body.data, (unsigned)s->body.len);
    return uv_write(&s->write, (uv_stream_t *)&peer->tcp, bufs, 2,
                    io_send_written);
}

static void io_handshake_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status; /* a failed connection shows in the writes after it */
}

/* Write the frame naming this node (id, address): in the clear or as TLS
 * records. */
static int io_peer_hello(struct io_peer *peer)
{
    struct kh_raft_wbuf hs;
    uv_buf_t buf;
    size_t len;

    kh_raft_wbuf_init(&hs, IO_HANDSHAKE_BYTES_MAX);
    kh_raft_wbuf_put_u32(&hs, IO_HANDSHAKE_MAGIC);
    kh_raft_wbuf_put_u32(&hs, IO_HANDSHAKE_VERSION);
    kh_raft_wbuf_put_u64(&hs, peer->io->id);
    kh_raft_wbuf_put_u16(&hs, (uint16_t)strlen(peer->io->address));
    kh_raft_wbuf_put(&hs, peer->io->address, strlen(peer->io->address));
    if (kh_raft_wbuf_error(&hs) != 0) {
        kh_raft_wbuf_free(&hs);
        return KH_ENOMEM;
    }
    peer->handshake[0] = (uint8_t)(hs.len >> 24);
    peer->handshake[1] = (uint8_t)(hs.len >> 16);
    peer->handshake[2] = (uint8_t)(hs.len >> 8);
    peer->handshake[3] = (uint8_t)hs.len;
    memcpy(peer->handshake + IO_FRAME_HEADER_BYTES, hs.data, hs.len);
    len = hs.len + IO_FRAME_HEADER_BYTES;
    kh_raft_wbuf_free(&hs);
    if (peer->io->tls != NULL) {
        KH_ASSERT(peer->tls != NULL &&
                  kh_raft_tls_conn_established(peer->tls));
        if (kh_raft_tls_conn_write(peer->tls, peer->handshake, len) != 0)
            return KH_ENOMEM;
        return io_wire_flush(peer->tls, &peer->tcp);
    }
    buf = uv_buf_init((char *)peer->handshake, (unsigned)len);
    if (uv_write(&peer->handshake_write, (uv_stream_t *)&peer->tcp, &buf, 1,
                 io_handshake_written) != 0)
        return KH_EIO;
    return 0;
}

/* The connection carries raft now (TCP up, or TLS verified): name this
 * node, then send what waited, in order. */
static void io_peer_established(struct io_peer *peer)
{
    struct io_send *s;

    peer->state = IO_PEER_CONNECTED;
    if (peer->io->bind_node_id &&
        !kh_raft_tls_conn_peer_is(peer->tls, peer->id)) {
        io_tls_warn(peer->io, "to", peer->address,
                    "the certificate does not name the node expected there");
        io_peer_reset(peer);
        return;
    }
    if (io_peer_hello(peer) != 0) {
        io_peer_reset(peer);
        return;
    }
    while ((s = peer->queue) != NULL) {
        peer->queue = s->next;
        peer->queued--;
        if (io_send_write(peer, s) != 0) {
            /* A frame cut short leaves the stream unusable. */
            io_send_fail(s, RAFT_NOCONNECTION);
            io_peer_reset(peer);
            return;
        }
    }
}

static void io_peer_connected(uv_connect_t *c, int status)
{
    struct io_peer *peer = c->data;
    struct io_impl *io = peer->io;
    bool done = false;
    char why[IO_WHY_BYTES] = "";

    if (status != 0 || io->closing) {
        io_peer_reset(peer);
        return;
    }
    if (uv_read_start((uv_stream_t *)&peer->tcp, io_peer_alloc,
                      io_peer_read) != 0) {
        io_peer_reset(peer);
        return;
    }
    if (io->tls == NULL) {
        io_peer_established(peer);
        return;
    }
    /* TLS: messages keep waiting (CONNECTING) until the server verified;
     * this step only produces the ClientHello. */
    KH_ASSERT(peer->tls == NULL);
    if (kh_raft_tls_conn_new(io->tls, false, &peer->tls) != 0 ||
        kh_raft_tls_conn_handshake(peer->tls, &done, why, sizeof(why)) != 0 ||
        io_wire_flush(peer->tls, &peer->tcp) != 0)
        io_peer_reset(peer);
}

static int io_peer_connect(struct io_peer *peer)
{
    struct sockaddr_storage sa;
    char host[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    const char *colon = strrchr(peer->address, ':');
    int port;

    if (colon == NULL || (size_t)(colon - peer->address) >= sizeof(host))
        return RAFT_INVALID;
    memcpy(host, peer->address, (size_t)(colon - peer->address));
    host[colon - peer->address] = '\0';
    port = atoi(colon + 1);
    if (port <= 0 || port > 65535 ||
        uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0)
        return RAFT_INVALID;
    if (uv_tcp_init(peer->io->loop, &peer->tcp) != 0)
        return RAFT_IOERR;
    peer->io->handles++;
    peer->tcp.data = peer;
    peer->connect.data = peer;
    peer->state = IO_PEER_CONNECTING;
    (void)uv_tcp_nodelay(&peer->tcp, 1);
    if (uv_tcp_connect(&peer->connect, &peer->tcp,
                       (const struct sockaddr *)&sa, io_peer_connected) != 0) {
        peer->state = IO_PEER_CLOSING;
        uv_close((uv_handle_t *)&peer->tcp, io_peer_closed);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static struct io_peer *io_peer_get(struct io_impl *io, raft_id id,
                                   const char *address)
{
    struct io_peer *peer;

    for (peer = io->peers; peer != NULL; peer = peer->next)
        if (peer->id == id && strcmp(peer->address, address) == 0)
            return peer;
    if (strlen(address) > KH_RAFT_ADDRESS_BYTES_MAX)
        return NULL;
    peer = calloc(1, sizeof(*peer));
    if (peer == NULL)
        return NULL;
    peer->io = io;
    peer->id = id;
    memcpy(peer->address, address, strlen(address) + 1);
    peer->next = io->peers;
    io->peers = peer;
    return peer;
}

/* Keep s until the connection is up, in order. */
static void io_peer_queue(struct io_peer *peer, struct io_send *s)
{
    struct io_send **p = &peer->queue;
    unsigned i;

    for (i = 0; *p != NULL && i < KH_RAFT_PEER_QUEUE_MAX; i++)
        p = &(*p)->next;
    KH_ASSERT(*p == NULL);
    *p = s;
    peer->queued++;
}

static int io_send(struct raft_io *raft_io, struct raft_io_send *req,
                   const struct raft_message *message, raft_io_send_cb cb)
{
    struct io_impl *io = raft_io->impl;
    struct io_peer *peer;
    struct io_send *s;
    int r;

    KH_ASSERT(message != NULL);
    /* cb may be NULL: libraft sends TimeoutNow without one. */
    if (io->closing)
        return RAFT_CANCELED;
    peer = io_peer_get(io, message->server_id, message->server_address);
    if (peer == NULL)
        return RAFT_NOMEM;
    if (peer->state == IO_PEER_CLOSING ||
        (peer->state == IO_PEER_CONNECTING &&
         peer->queued >= KH_RAFT_PEER_QUEUE_MAX))
        return RAFT_NOCONNECTION;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return RAFT_NOMEM;
    r = kh_raft_message_encode(message, &s->body);
    if (r != 0) {
        io_send_free(s);
        return io_rv(r);
    }
    s->peer = peer;
    s->req = req;
    s->cb = cb;
    if (peer->state == IO_PEER_IDLE) {
        r = io_peer_connect(peer);
        if (r != 0) {
            io_send_free(s);
            return r;
        }
    }
    if (peer->state == IO_PEER_CONNECTING) {
        io_peer_queue(peer, s);
        return 0;
    }
    if (io_send_write(peer, s) != 0) {
        io_send_free(s);
        io_peer_reset(peer);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

/* ---- incoming messages ---- */

static void io_conn_closed(uv_handle_t *h)
{
    struct io_conn *conn = h->data;
    struct io_impl *io = conn->io;
    struct io_conn **p;

    for (p = &io->conns; *p != NULL; p = &(*p)->next)
        if (*p == conn) {
            *p = conn->next;
            break;
        }
    kh_raft_tls_conn_free(conn->tls);
    free(conn->frame);
    free(conn);
    KH_ASSERT(io->handles > 0);
    io->handles--;
    io_maybe_finish(io);
}

static void io_conn_close(struct io_conn *conn)
{
    if (uv_is_closing((uv_handle_t *)&conn->tcp))
        return;
    uv_close((uv_handle_t *)&conn->tcp, io_conn_closed);
}

static int io_conn_greet(struct io_conn *conn)
{
    struct kh_raft_rbuf r;
    const uint8_t *addr;
    uint16_t len;

    kh_raft_rbuf_init(&r, conn->frame, conn->frame_len);
    if (kh_raft_rbuf_u32(&r) != IO_HANDSHAKE_MAGIC ||
        kh_raft_rbuf_u32(&r) != IO_HANDSHAKE_VERSION)
        return KH_EINVAL;
    conn->peer_id = kh_raft_rbuf_u64(&r);
    len = kh_raft_rbuf_u16(&r);
    if (len == 0 || len > KH_RAFT_ADDRESS_BYTES_MAX)
        return KH_EINVAL;
    addr = kh_raft_rbuf_bytes(&r, len);
    if (addr == NULL || kh_raft_rbuf_left(&r) != 0 || conn->peer_id == 0 ||
        memchr(addr, 0, len) != NULL)
        return KH_EINVAL;
    memcpy(conn->peer_address, addr, len);
    conn->peer_address[len] = '\0';
    if (conn->io->bind_node_id &&
        !kh_raft_tls_conn_peer_is(conn->tls, conn->peer_id)) {
        io_tls_warn(conn->io, "from", conn->peer_address,
                    "the certificate does not name the node it claims to be");
        return KH_EINVAL;
    }
    conn->greeted = true;
    return 0;
}

/* A whole frame arrived: the handshake or one message for raft. */
static int io_conn_frame(struct io_conn *conn)
{
    struct io_impl *io = conn->io;
    struct raft_message msg;
    int r;

    if (!conn->greeted)
        return io_conn_greet(conn);
    r = kh_raft_message_decode(conn->frame, conn->frame_len, &msg);
    if (r != 0)
        return r;
    msg.server_id = conn->peer_id;
    msg.server_address = conn->peer_address;
    if (io->recv == NULL || io->closing) {
        kh_raft_message_release(&msg);
        return 0;
    }
    io->recv(io->raft_io, &msg); /* raft owns what msg points to */
    return 0;
}

/* Consume bytes; KH_EINVAL closes the connection. */
static int io_conn_feed(struct io_conn *conn, const uint8_t *p, size_t n)
{
    size_t k, max;
    int r;

    while (n > 0) {
        if (conn->header_len < IO_FRAME_HEADER_BYTES) {
            k = IO_FRAME_HEADER_BYTES - conn->header_len;
            k = k < n ? k : n;
            memcpy(conn->header + conn->header_len, p, k);
            conn->header_len += k;
            p += k;
            n -= k;
            if (conn->header_len < IO_FRAME_HEADER_BYTES)
                return 0;
            conn->frame_len = ((size_t)conn->header[0] << 24) |
                              ((size_t)conn->header[1] << 16) |
                              ((size_t)conn->header[2] << 8) |
                              conn->header[3];
            max = conn->greeted ? KH_RAFT_MESSAGE_BYTES_MAX
                                : IO_HANDSHAKE_BYTES_MAX;
            if (conn->frame_len == 0 || conn->frame_len > max)
                return KH_EINVAL;
            conn->frame = malloc(conn->frame_len);
            if (conn->frame == NULL)
                return KH_ENOMEM;
            conn->frame_got = 0;
        }
        k = conn->frame_len - conn->frame_got;
        k = k < n ? k : n;
        memcpy(conn->frame + conn->frame_got, p, k);
        conn->frame_got += k;
        p += k;
        n -= k;
        if (conn->frame_got < conn->frame_len)
            return 0;
        r = io_conn_frame(conn);
        free(conn->frame);
        conn->frame = NULL;
        conn->header_len = 0;
        if (r != 0)
            return r;
    }
    return 0;
}

static void io_conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct io_conn *conn = h->data;

    (void)suggested;
    *buf = uv_buf_init(conn->chunk, sizeof(conn->chunk));
}

/* TLS bytes from a client: handshake flights until it verified, then
 * records whose plaintext goes through io_conn_feed() and its limits. */
static int io_conn_tls_input(struct io_conn *conn, const uint8_t *p, size_t n)
{
    char why[IO_WHY_BYTES] = "";
    size_t got = 0;
    bool done = false;
    int r;

    r = kh_raft_tls_conn_recv(conn->tls, p, n);
    if (r != 0)
        return r;
    if (!kh_raft_tls_conn_established(conn->tls)) {
        r = kh_raft_tls_conn_handshake(conn->tls, &done, why, sizeof(why));
        /* On failure this carries the alert that tells the client why. */
        if (io_wire_flush(conn->tls, &conn->tcp) != 0 && r == 0)
            r = KH_EIO;
        if (r == KH_EAUTH || r == KH_EINVAL)
            io_tls_warn(conn->io, "from", conn->remote, why);
        if (r != 0 || !done)
            return r;
    }
    do {
        r = kh_raft_tls_conn_read(conn->tls, conn->plain, sizeof(conn->plain),
                                  &got, why, sizeof(why));
        if (r == KH_EAUTH || r == KH_EINVAL)
            io_tls_warn(conn->io, "from", conn->remote, why);
        if (r == 0 && got > 0)
            r = io_conn_feed(conn, conn->plain, got);
    } while (r == 0 && got > 0);
    if (r == 0)
        r = io_wire_flush(conn->tls, &conn->tcp); /* a key update */
    return r;
}

static void io_conn_read(uv_stream_t *stream, ssize_t nread,
                         const uv_buf_t *buf)
{
    struct io_conn *conn = stream->data;
    const uint8_t *p = (const uint8_t *)buf->base;
    int r;

    if (nread == 0)
        return;
    if (nread < 0 || conn->io->closing) {
        io_conn_close(conn);
        return;
    }
    if (conn->io->tls != NULL)
        r = io_conn_tls_input(conn, p, (size_t)nread);
    else
        r = io_conn_feed(conn, p, (size_t)nread);
    if (r != 0)
        io_conn_close(conn);
}

/* "address:port" of the client, for logs. */
static void io_conn_remote(struct io_conn *conn)
{
    struct sockaddr_storage sa;
    char host[INET6_ADDRSTRLEN] = "?";
    int len = (int)sizeof(sa), port = 0;

    memset(&sa, 0, sizeof(sa));
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&sa, &len) == 0) {
        if (sa.ss_family == AF_INET) {
            (void)uv_ip4_name((struct sockaddr_in *)&sa, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            (void)uv_ip6_name((struct sockaddr_in6 *)&sa, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        }
    }
    snprintf(conn->remote, sizeof(conn->remote), "%s:%d", host, port);
}

static void io_accept(uv_stream_t *server, int status)
{
    struct io_impl *io = server->data;
    struct io_conn *conn;

    if (status != 0 || io->closing)
        return;
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return;
    conn->io = io;
    if (uv_tcp_init(io->loop, &conn->tcp) != 0) {
        free(conn);
        return;
    }
    io->handles++;
    conn->tcp.data = conn;
    conn->next = io->conns;
    io->conns = conn;
    if (uv_accept(server, (uv_stream_t *)&conn->tcp) != 0) {
        io_conn_close(conn);
        return;
    }
    io_conn_remote(conn);
    if ((io->tls != NULL &&
         kh_raft_tls_conn_new(io->tls, true, &conn->tls) != 0) ||
        uv_read_start((uv_stream_t *)&conn->tcp, io_conn_alloc,
                      io_conn_read) != 0)
        io_conn_close(conn);
}

/* ---- life cycle ---- */

static int io_listen(struct io_impl *io)
{
    struct sockaddr_in sa;
    char host[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    const char *colon = strrchr(io->address, ':');
    int port;

    if (colon == NULL || (size_t)(colon - io->address) >= sizeof(host))
        return RAFT_INVALID;
    memcpy(host, io->address, (size_t)(colon - io->address));
    host[colon - io->address] = '\0';
    port = atoi(colon + 1);
    if (port <= 0 || port > 65535 || uv_ip4_addr(host, port, &sa) != 0)
        return RAFT_INVALID;
    if (uv_tcp_init(io->loop, &io->listener) != 0)
        return RAFT_IOERR;
    io->handles++;
    io->listening = true;
    io->listener.data = io;
    if (uv_tcp_bind(&io->listener, (const struct sockaddr *)&sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&io->listener, IO_BACKLOG, io_accept) != 0)
        return RAFT_IOERR;
    return 0;
}

static void io_timer_cb(uv_timer_t *timer)
{
    struct io_impl *io = timer->data;

    if (io->tick != NULL && !io->closing)
        io->tick(io->raft_io);
}

static int io_start(struct raft_io *raft_io, unsigned msecs,
                    raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    struct io_impl *io = raft_io->impl;
    int rv;

    KH_ASSERT(msecs > 0);
    KH_ASSERT(!io->closing);
    io->tick = tick;
    io->recv = recv;
    io->tick_ms = msecs;
    rv = io_listen(io);
    if (rv != 0)
        return rv;
    if (uv_timer_start(&io->timer, io_timer_cb, msecs, msecs) != 0)
        return RAFT_IOERR;
    return 0;
}

static int io_init(struct raft_io *raft_io, raft_id id, const char *address)
{
    struct io_impl *io = raft_io->impl;
    size_t len = strlen(address);

    if (id == 0 || len == 0 || len > KH_RAFT_ADDRESS_BYTES_MAX)
        return RAFT_INVALID;
    io->id = id;
    memcpy(io->address, address, len + 1);
    io->rng = (id * 0x9E3779B97F4A7C15ull) ^ uv_hrtime();
    if (io->rng == 0)
        io->rng = 1;
    return 0;
}

static void io_maybe_finish(struct io_impl *io)
{
    struct io_op *op;
    struct io_peer *peer;
    raft_io_close_cb cb;
    struct raft_io *raft_io;

    if (!io->closing || io->working)
        return;
    while ((op = io->queue) != NULL) {
        io->queue = op->next;
        op->status = RAFT_CANCELED;
        io_op_complete(io, op);
    }
    io->queue_tail = NULL;
    if (io->handles > 0)
        return;
    while ((peer = io->peers) != NULL) {
        io->peers = peer->next;
        free(peer);
    }
    cb = io->close_cb;
    raft_io = io->raft_io;
    kh_raft_log_close(io->log);
    kh_raft_tls_ctx_free(io->tls);
    free(io);
    raft_io->impl = NULL;
    if (cb != NULL)
        cb(raft_io);
}

static void io_close(struct raft_io *raft_io, raft_io_close_cb cb)
{
    struct io_impl *io = raft_io->impl;
    struct io_conn *conn;
    struct io_peer *peer;

    KH_ASSERT(!io->closing);
    io->closing = true;
    io->close_cb = cb;
    uv_close((uv_handle_t *)&io->timer, io_handle_closed);
    if (io->listening)
        uv_close((uv_handle_t *)&io->listener, io_handle_closed);
    for (conn = io->conns; conn != NULL; conn = conn->next)
        io_conn_close(conn);
    for (peer = io->peers; peer != NULL; peer = peer->next)
        io_peer_reset(peer);
}

int kh_raft_io_init(struct raft_io *raft_io, uv_loop_t *loop,
                    const char *log_dir, const struct kh_raft_tls *tls,
                    char *errmsg, size_t errmsg_size)
{
    struct io_impl *io;
    int r;

    KH_ASSERT(raft_io != NULL);
    KH_ASSERT(loop != NULL);
    memset(raft_io, 0, sizeof(*raft_io));
    io = calloc(1, sizeof(*io));
    if (io == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "raft: out of memory");
    /* The files first: a bad one fails before the log is opened. */
    r = tls != NULL ? kh_raft_tls_ctx_new(tls, &io->tls, errmsg, errmsg_size)
                    : 0;
    io->bind_node_id = tls != NULL && tls->bind_node_id;
    if (r == 0)
        r = kh_raft_log_open(log_dir, &io->log, errmsg, errmsg_size);
    if (r != 0) {
        kh_raft_tls_ctx_free(io->tls);
        free(io);
        return r;
    }
    io->raft_io = raft_io;
    io->loop = loop;
    io->next_index = 1;
    KH_ASSERT(uv_timer_init(loop, &io->timer) == 0);
    io->timer.data = io;
    io->handles = 1;
    raft_io->version = 1;
    raft_io->impl = io;
    raft_io->init = io_init;
    raft_io->close = io_close;
    raft_io->load = io_load;
    raft_io->start = io_start;
    raft_io->bootstrap = io_bootstrap;
    raft_io->recover = io_recover;
    raft_io->set_term = io_set_term;
    raft_io->set_vote = io_set_vote;
    raft_io->send = io_send;
    raft_io->append = io_append;
    raft_io->truncate = io_truncate;
    raft_io->snapshot_put = io_snapshot_put;
    raft_io->snapshot_get = io_snapshot_get;
    raft_io->time = io_time;
    raft_io->random = io_random;
    return 0;
}

void kh_raft_io_set_expander(struct raft_io *raft_io,
                             int (*expand)(void *arg, struct raft_buffer *buf),
                             void *arg)
{
    struct io_impl *io = raft_io->impl;

    io->expand = expand;
    io->expand_arg = arg;
}

void kh_raft_io_discard(struct raft_io *raft_io)
{
    struct io_impl *io;
    uv_loop_t *loop;
    int i;

    if (raft_io == NULL || raft_io->impl == NULL)
        return;
    io = raft_io->impl;
    loop = io->loop;
    io_close(raft_io, NULL);
    /* The timer (and a listener, if start ran) close within a few loop
     * turns; io_maybe_finish frees io when the last one has. */
    for (i = 0; i < 1000 && raft_io->impl != NULL; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    KH_ASSERT(raft_io->impl == NULL);
}
