/*
 * raft_node.c - the loop thread of one raft server and the request queue
 * that lets HTTP threads use it (raft_node.h).
 *
 * Owns the libuv loop and its thread, the raft instance, its io and FSM,
 * the queue of waiting requests and the published status. Must never
 * call libraft off the loop thread, never let a caller wait without a
 * deadline, and never free a request its caller still waits on (a caller
 * that gives up marks it abandoned; the loop frees it when libraft is done
 * with it).
 *
 * Status: a tick on the loop copies what callers may ask (state, term,
 * indexes, leader, servers and the leader's view of them) into a
 * snapshot under the node lock every KH_NODE_TICK_MS; readers copy it.
 * Leadership counts only once a barrier of the current term applied, so a
 * new leader never serves from a store missing earlier commits.
 */
#include "raft/raft_node.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "common/err.h"
#include "common/log.h"
#include "raft/raft_codec.h"
#include "raft/raft_fsm.h"
#include "raft/raft_io_lmdb.h"
#include "raft/raft_log.h"
#include "raft/raft_node_internal.h"

#define KH_NODE_TICK_MS         20u
#define KH_NODE_CHANGE_RETRY_MS 100u
#define KH_NODE_DIR_BYTES_MAX   3800u

enum req_kind {
    REQ_APPLY = 1,
    REQ_BOOTSTRAP,
    REQ_START,
    REQ_ADD,
    REQ_REMOVE,
    REQ_TRANSFER,
    REQ_DUMP,
};

struct node_req
{
    struct node_req *next;
    enum req_kind kind;
    struct kh_raft_node *node;
    struct raft_buffer buf;   /* APPLY: ours until raft_apply() takes it */
    struct kh_raft_wbuf dump; /* DUMP: the store's snapshot data */
    uint64_t dump_index;
    uint64_t dump_term;
    raft_id id;
    char address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    bool voter;
    int status; /* KH_* */
    bool done;
    bool abandoned;
    pthread_cond_t cond; /* its caller waits on it (with node->lock) */
    union
    {
        struct raft_apply apply;
        struct raft_change change;
        struct raft_transfer transfer;
    } u;
};

struct kh_raft_node
{
    char dir[KH_NODE_DIR_BYTES_MAX + 1];
    char node_id[KH_RAFT_NODE_ID_BYTES_MAX + 1];
    char address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    raft_id id;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick;
    pthread_t thread;
    bool thread_running;
    struct raft raft;
    struct raft_io io;
    struct kh_raft_fsm *fsm;
    struct raft_barrier barrier; /* the leader's first barrier of a term */
    bool barrier_pending;
    uint64_t barrier_term;
    uint64_t ready_term; /* loop only: term whose barrier applied */
    bool loop_ready;
    bool handles_ready;
    bool io_ready;
    bool raft_inited;
    bool raft_started;                        /* loop only */
    bool closing;                             /* loop only */
    uint64_t last_heard[KH_RAFT_SERVERS_MAX]; /* loop only, by conf slot */
    /* Under lock: */
    pthread_mutex_t lock;
    struct node_req *queue;
    bool stopping;
    struct kh_raft_status status;
    bool leader; /* status.leader, read without the lock (atomic) */
    struct kh_storage *face;
};

/* ---- identities ---- */

uint64_t kh_raft_node_id_of(const char *node_id)
{
    unsigned long long id = raft_digest(node_id, 0);

    return id == 0 ? 1 : (uint64_t)id;
}

bool kh_raft_node_id_valid(const char *node_id)
{
    size_t i, len = strnlen(node_id, KH_RAFT_NODE_ID_BYTES_MAX + 1);

    if (len == 0 || len > KH_RAFT_NODE_ID_BYTES_MAX)
        return false;
    for (i = 0; i < len; i++) {
        char c = node_id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void kh_raft_node_name_key(uint64_t id, char out[KH_RAFT_NAME_KEY_BYTES])
{
    (void)snprintf(out, KH_RAFT_NAME_KEY_BYTES, "%s%016" PRIx64,
                   KH_RAFT_NAMES_PREFIX, id);
}

/* ---- completing requests (loop thread) ---- */

static void req_free(struct node_req *req)
{
    if (req == NULL)
        return;
    if (req->buf.base != NULL)
        raft_free(req->buf.base);
    kh_raft_wbuf_free(&req->dump);
    pthread_cond_destroy(&req->cond);
    free(req);
}

static void req_finish(struct node_req *req, int status)
{
    struct kh_raft_node *node = req->node;
    bool abandoned;

    pthread_mutex_lock(&node->lock);
    req->status = status;
    req->done = true;
    abandoned = req->abandoned;
    if (!abandoned)
        pthread_cond_signal(&req->cond);
    pthread_mutex_unlock(&node->lock);
    if (abandoned)
        req_free(req);
}

static int status_from_raft(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
    case RAFT_NOCONNECTION:
        return KH_EUNAVAIL;
    case RAFT_MALFORMED:
    case RAFT_BADID:
    case RAFT_BADROLE:
        return KH_EINVAL;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
        return KH_ECONFLICT;
    case RAFT_TOOBIG:
        return KH_ETOOBIG;
    case RAFT_NOMEM:
        return KH_ENOMEM;
    case RAFT_CANTCHANGE:
        return KH_ESTATE;
    default:
        return KH_EIO;
    }
}

static void apply_cb(struct raft_apply *r, int status, void *result)
{
    (void)result;
    req_finish(r->data, status_from_raft(status));
}

static void change_done_cb(struct raft_change *c, int status)
{
    req_finish(c->data, status_from_raft(status));
}

static void add_cb(struct raft_change *c, int status)
{
    struct node_req *req = c->data;
    int rv;

    if (status != 0 || !req->voter) {
        req_finish(req, status_from_raft(status));
        return;
    }
    rv = raft_assign(&req->node->raft, &req->u.change, req->id, RAFT_VOTER,
                     change_done_cb);
    if (rv != 0)
        req_finish(req, status_from_raft(rv));
}

static void transfer_cb(struct raft_transfer *t)
{
    struct node_req *req = t->data;

    req_finish(req,
               raft_state(&req->node->raft) == RAFT_LEADER ? KH_EUNAVAIL : 0);
}

/* ---- running requests (loop thread) ---- */

static const struct raft_server *conf_find(const struct raft_configuration *c,
                                           raft_id id)
{
    unsigned i;

    for (i = 0; i < c->n; i++)
        if (c->servers[i].id == id)
            return &c->servers[i];
    return NULL;
}

static int run_bootstrap(struct kh_raft_node *node)
{
    struct raft_configuration conf;
    int rv;

    if (node->raft_started)
        return KH_ESTATE;
    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, node->id, node->address, RAFT_VOTER);
    if (rv == 0)
        rv = raft_bootstrap(&node->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP)
        return KH_ESTATE;
    if (rv != 0) {
        log_error("raft: cannot bootstrap: %s (%s)", raft_strerror(rv),
                  raft_errmsg(&node->raft));
        return KH_EIO;
    }
    rv = raft_start(&node->raft);
    if (rv != 0) {
        log_error("raft: cannot start: %s (%s)", raft_strerror(rv),
                  raft_errmsg(&node->raft));
        return KH_EIO;
    }
    node->raft_started = true;
    return 0;
}

static int run_start(struct kh_raft_node *node)
{
    if (node->raft_started)
        return 0;
    int rv = raft_start(&node->raft);

    if (rv != 0) {
        log_error("raft: cannot start: %s (%s)", raft_strerror(rv),
                  raft_errmsg(&node->raft));
        return KH_EIO;
    }
    node->raft_started = true;
    return 0;
}

/* Add: an identical member is success; a voter wanted but a spare found
 * is promoted. */
static int run_add(struct kh_raft_node *node, struct node_req *req)
{
    const struct raft_server *s = conf_find(&node->raft.configuration, req->id);
    unsigned i;

    if (s != NULL && strcmp(s->address, req->address) != 0)
        return KH_ECONFLICT;
    for (i = 0; i < node->raft.configuration.n; i++)
        if (node->raft.configuration.servers[i].id != req->id &&
            strcmp(node->raft.configuration.servers[i].address, req->address) ==
                0)
            return KH_ECONFLICT;
    req->u.change.data = req;
    if (s == NULL)
        return status_from_raft(raft_add(&node->raft, &req->u.change, req->id,
                                         req->address, add_cb));
    if (s->role == RAFT_VOTER || !req->voter) {
        req_finish(req, 0);
        return 1; /* finished */
    }
    return status_from_raft(raft_assign(&node->raft, &req->u.change, req->id,
                                        RAFT_VOTER, change_done_cb));
}

/* Start one request; a nonzero result finishes it at once (1: already). */
static int run_req(struct kh_raft_node *node, struct node_req *req)
{
    if (req->kind == REQ_BOOTSTRAP)
        return run_bootstrap(node);
    if (req->kind == REQ_START)
        return run_start(node);
    if (req->kind == REQ_DUMP) {
        req->dump_index = raft_last_applied(&node->raft);
        req->dump_term = node->raft.current_term;
        req_finish(req, kh_raft_fsm_dump(node->fsm, &req->dump));
        return 1;
    }
    if (raft_state(&node->raft) != RAFT_LEADER)
        return KH_EUNAVAIL;
    switch (req->kind) {
    case REQ_APPLY:
        req->u.apply.data = req;
        if (raft_apply(&node->raft, &req->u.apply, &req->buf, 1, apply_cb) != 0)
            return KH_EUNAVAIL;
        req->buf.base = NULL; /* raft's now */
        return 0;
    case REQ_ADD:
        return run_add(node, req);
    case REQ_REMOVE:
        if (conf_find(&node->raft.configuration, req->id) == NULL)
            return KH_ENOTFOUND;
        req->u.change.data = req;
        return status_from_raft(
            raft_remove(&node->raft, &req->u.change, req->id, change_done_cb));
    case REQ_TRANSFER:
        req->u.transfer.data = req;
        return status_from_raft(
            raft_transfer(&node->raft, &req->u.transfer, 0, transfer_cb));

    default:
        return KH_EINTERNAL;
    }
}

static void loop_close(struct kh_raft_node *node);

static void wake_cb(uv_async_t *handle)
{
    struct kh_raft_node *node = handle->data;
    struct node_req *list, *req;
    bool stopping;
    int r;

    pthread_mutex_lock(&node->lock);
    list = node->queue;
    node->queue = NULL;
    stopping = node->stopping;
    pthread_mutex_unlock(&node->lock);
    while (list != NULL) {
        req = list;
        list = req->next;
        req->next = NULL;
        r = stopping ? KH_EUNAVAIL : run_req(node, req);
        if (r < 0 ||
            (r == 0 && (req->kind == REQ_BOOTSTRAP || req->kind == REQ_START)))
            req_finish(req, r);
    }
    if (stopping && !node->closing)
        loop_close(node);
}

/* ---- the tick: leadership and the published status (loop thread) ---- */

static void barrier_cb(struct raft_barrier *b, int status)
{
    struct kh_raft_node *node = b->data;

    node->barrier_pending = false;
    if (status == 0 && raft_state(&node->raft) == RAFT_LEADER &&
        node->raft.current_term == node->barrier_term)
        node->ready_term = node->barrier_term;
}

static void leadership_check(struct kh_raft_node *node)
{
    if (raft_state(&node->raft) != RAFT_LEADER) {
        node->ready_term = 0;
        return;
    }
    if (node->ready_term == node->raft.current_term || node->barrier_pending)
        return;
    node->barrier.data = node;
    node->barrier_term = node->raft.current_term;
    if (raft_barrier(&node->raft, &node->barrier, barrier_cb) == 0)
        node->barrier_pending = true;
}

/* The leader's view of server slot i: match index and last contact. */
static void progress_read(struct kh_raft_node *node, unsigned i,
                          struct kh_raft_server_info *info, uint64_t now)
{
    struct raft_progress *p;

    info->last_contact_ms = UINT64_MAX;
    if (raft_state(&node->raft) != RAFT_LEADER ||
        node->raft.leader_state.progress == NULL || i >= KH_RAFT_SERVERS_MAX)
        return;
    if (info->id == node->id) {
        info->match_index = raft_last_index(&node->raft);
        info->last_contact_ms = 0;
        node->last_heard[i] = now;
        return;
    }
    p = &node->raft.leader_state.progress[i];
    info->match_index = p->match_index;
    if (p->recent_recv)
        node->last_heard[i] = now;
    if (node->last_heard[i] != 0)
        info->last_contact_ms = now - node->last_heard[i];
}

static void status_build(struct kh_raft_node *node, struct kh_raft_status *s)
{
    const struct raft_configuration *c = &node->raft.configuration;
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    uint64_t now = uv_now(&node->loop);
    unsigned i;

    memset(s, 0, sizeof(*s));
    s->started = node->raft_started;
    s->configured = c->n > 0;
    s->leader = node->ready_term != 0 &&
                node->ready_term == node->raft.current_term &&
                raft_state(&node->raft) == RAFT_LEADER;
    s->term = node->raft.current_term;
    s->last_index = raft_last_index(&node->raft);
    s->commit_index = node->raft.commit_index;
    s->applied_index = raft_last_applied(&node->raft);
    s->configuration_index = node->raft.configuration_index;
    raft_leader(&node->raft, &leader_id, &leader_address);
    if (leader_address != NULL)
        (void)snprintf(s->leader_address, sizeof(s->leader_address), "%s",
                       leader_address);
    s->leader_raft_id = leader_id;
    for (i = 0; i < c->n && i < KH_RAFT_SERVERS_MAX; i++) {
        struct kh_raft_server_info *info = &s->servers[i];
        info->id = c->servers[i].id;
        (void)snprintf(info->address, sizeof(info->address), "%s",
                       c->servers[i].address);
        info->voter = c->servers[i].role == RAFT_VOTER;
        info->leader = info->id == leader_id;
        progress_read(node, i, info, now);
    }
    s->server_count = i;
}

static void tick_cb(uv_timer_t *t)
{
    struct kh_raft_node *node = t->data;
    struct kh_raft_status s;

    if (!node->raft_started || node->closing)
        return;
    leadership_check(node);
    status_build(node, &s);
    pthread_mutex_lock(&node->lock);
    node->status = s;
    pthread_mutex_unlock(&node->lock);
    __atomic_store_n(&node->leader, s.leader, __ATOMIC_RELEASE);
}

/* ---- the loop thread ---- */

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void raft_closed(struct raft *raft)
{
    struct kh_raft_node *node = raft->data;

    uv_close((uv_handle_t *)&node->wake, handle_closed);
    uv_close((uv_handle_t *)&node->tick, handle_closed);
}

static void loop_close(struct kh_raft_node *node)
{
    struct kh_raft_status s;

    node->closing = true;
    memset(&s, 0, sizeof(s));
    pthread_mutex_lock(&node->lock);
    node->status = s;
    pthread_mutex_unlock(&node->lock);
    __atomic_store_n(&node->leader, false, __ATOMIC_RELEASE);
    uv_timer_stop(&node->tick);
    node->raft.data = node;
    raft_close(&node->raft, raft_closed);
}

static void *loop_main(void *arg)
{
    struct kh_raft_node *node = arg;

    (void)uv_run(&node->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- opening ---- */

/* True when the log holds any state (a term, an entry or a snapshot):
 * raft starts at once; otherwise it waits to bootstrap or be added. */
static int log_has_state(const char *log_dir, bool *ret, char *errmsg,
                         size_t errmsg_size)
{
    struct kh_raft_log *log = NULL;
    struct kh_raft_log_reader *reader = NULL;
    struct kh_raft_log_state st;
    int r;

    r = kh_raft_log_open(log_dir, &log, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = kh_raft_log_read_begin(log, &reader, &st);
    if (r == 0) {
        *ret = st.term != 0 || st.last_index != 0 || st.has_snapshot;
        kh_raft_log_read_end(reader);
    } else {
        r = kh_errmsg(errmsg, errmsg_size, r,
                      "raft: cannot read the log in "
                      "%s: %s",
                      log_dir, kh_strerror(r));
    }
    kh_raft_log_close(log);
    return r;
}

static int node_check_options(const struct kh_raft_node_options *o,
                              char *errmsg, size_t errmsg_size)
{
    if (o->dir == NULL || strlen(o->dir) == 0 ||
        strlen(o->dir) > KH_NODE_DIR_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\": \"path\" is required (at most %u "
                         "bytes)",
                         KH_NODE_DIR_BYTES_MAX);
    if (o->node_id == NULL || !kh_raft_node_id_valid(o->node_id))
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\": \"node_id\" must be 1..%u of "
                         "[A-Za-z0-9._-]",
                         KH_RAFT_NODE_ID_BYTES_MAX);
    if (o->cluster_addr == NULL || strlen(o->cluster_addr) == 0 ||
        strlen(o->cluster_addr) > KH_RAFT_ADDRESS_BYTES_MAX ||
        strchr(o->cluster_addr, ':') == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\": cluster_addr must be host:port");
    if (o->election_ms != 0 && (o->election_ms < KH_RAFT_ELECTION_MS_MIN ||
                                o->election_ms > KH_RAFT_ELECTION_MS_MAX))
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "storage \"raft\": election_ms must be %u..%u",
                         KH_RAFT_ELECTION_MS_MIN, KH_RAFT_ELECTION_MS_MAX);
    return 0;
}

static void node_tune(struct kh_raft_node *node,
                      const struct kh_raft_node_options *o)
{
    unsigned election =
        o->election_ms ? o->election_ms : KH_RAFT_ELECTION_MS_DEFAULT;
    unsigned heartbeat = o->heartbeat_ms ? o->heartbeat_ms : election / 10;

    raft_set_election_timeout(&node->raft, election);
    raft_set_heartbeat_timeout(&node->raft, heartbeat ? heartbeat : 1);
    raft_set_snapshot_threshold(&node->raft,
                                o->snapshot_threshold
                                    ? o->snapshot_threshold
                                    : KH_RAFT_SNAPSHOT_THRESHOLD_DEFAULT);
    raft_set_snapshot_trailing(
        &node->raft, o->snapshot_trailing ? o->snapshot_trailing
                                          : KH_RAFT_SNAPSHOT_TRAILING_DEFAULT);
    raft_set_pre_vote(&node->raft, true);
}

static int node_expand(void *arg, struct raft_buffer *buf)
{
    return kh_raft_fsm_expand(arg, buf);
}

/* The loop, the io, the FSM and raft_init(); raft starts later or now. */
static int node_open_raft(struct kh_raft_node *node,
                          const struct kh_raft_node_options *o, bool *start,
                          char *errmsg, size_t errmsg_size)
{
    char path[KH_NODE_DIR_BYTES_MAX + 16];
    int r;

    if (mkdir(node->dir, 0700) != 0 && errno != EEXIST)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO,
                         "storage \"raft\": cannot create %s: %s", node->dir,
                         strerror(errno));
    (void)snprintf(path, sizeof(path), "%s/log", node->dir);
    r = log_has_state(path, start, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (uv_loop_init(&node->loop) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "raft: no loop");
    node->loop_ready = true;
    node->wake.data = node;
    node->tick.data = node;
    if (uv_async_init(&node->loop, &node->wake, wake_cb) != 0 ||
        uv_timer_init(&node->loop, &node->tick) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "raft: loop handles");
    node->handles_ready = true;
    r = kh_raft_io_init(&node->io, &node->loop, path, o->tls, errmsg,
                        errmsg_size);
    if (r != 0)
        return r;
    node->io_ready = true;
    (void)snprintf(path, sizeof(path), "%s/fsm", node->dir);
    r = kh_raft_fsm_open(path, &node->fsm, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (raft_init(&node->raft, &node->io, kh_raft_fsm_vtable(node->fsm),
                  node->id, node->address) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "raft: init: %s",
                         raft_errmsg(&node->raft));
    node->raft_inited = true;
    kh_raft_fsm_attach(node->fsm, &node->raft);
    kh_raft_io_set_expander(&node->io, node_expand, node->fsm);
    node_tune(node, o);
    return 0;
}

static int node_open_handles(struct kh_raft_node *node, bool start,
                             char *errmsg, size_t errmsg_size)
{
    if (uv_timer_start(&node->tick, tick_cb, KH_NODE_TICK_MS,
                       KH_NODE_TICK_MS) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "raft: loop timer");
    if (start && raft_start(&node->raft) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "raft: start: %s",
                         raft_errmsg(&node->raft));
    node->raft_started = start;
    if (pthread_create(&node->thread, NULL, loop_main, node) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "raft: no thread");
    node->thread_running = true;
    return 0;
}

static void node_free(struct kh_raft_node *node)
{
    kh_raft_storage_free(node->face);
    kh_raft_fsm_close(node->fsm);
    pthread_mutex_destroy(&node->lock);
    free(node);
}

int kh_raft_node_open(const struct kh_raft_node_options *options,
                      struct kh_raft_node **ret_node, char *errmsg,
                      size_t errmsg_size)
{
    struct kh_raft_node *node;
    bool start = false;
    int r;

    KH_ASSERT(ret_node != NULL);
    r = node_check_options(options, errmsg, errmsg_size);
    if (r != 0)
        return r;
    node = calloc(1, sizeof(*node));
    if (node == NULL)
        return KH_ENOMEM;
    pthread_mutex_init(&node->lock, NULL);
    memcpy(node->dir, options->dir, strlen(options->dir) + 1);
    memcpy(node->node_id, options->node_id, strlen(options->node_id) + 1);
    memcpy(node->address, options->cluster_addr,
           strlen(options->cluster_addr) + 1);
    node->id = kh_raft_node_id_of(node->node_id);
    r = node_open_raft(node, options, &start, errmsg, errmsg_size);
    if (r == 0)
        r = kh_raft_storage_create(node, &node->face);
    if (r == 0)
        r = node_open_handles(node, start, errmsg, errmsg_size);
    if (r != 0) {
        kh_raft_node_close(node);
        return r;
    }
    *ret_node = node;
    return 0;
}

void kh_raft_node_close(struct kh_raft_node *node)
{
    if (node == NULL)
        return;
    if (node->thread_running) {
        pthread_mutex_lock(&node->lock);
        node->stopping = true;
        pthread_mutex_unlock(&node->lock);
        uv_async_send(&node->wake);
        pthread_join(node->thread, NULL);
    } else if (node->raft_inited) {
        loop_close(node); /* raft_closed() closes the handles */
        (void)uv_run(&node->loop, UV_RUN_DEFAULT);
    } else {
        if (node->io_ready)
            kh_raft_io_discard(&node->io);
        if (node->handles_ready) {
            uv_close((uv_handle_t *)&node->wake, handle_closed);
            uv_close((uv_handle_t *)&node->tick, handle_closed);
        }
        if (node->loop_ready)
            (void)uv_run(&node->loop, UV_RUN_DEFAULT);
    }
    if (node->loop_ready)
        (void)uv_loop_close(&node->loop);
    node_free(node);
}

/* ---- callers ---- */

/* Queue req and wait for it (at most timeout_ms). When it did not finish
 * in time it is marked abandoned and belongs to the loop, which frees it;
 * otherwise (req->done) the caller frees it. */
static int node_submit_keep(struct kh_raft_node *node, struct node_req *req,
                            unsigned timeout_ms, bool *ret_owned)
{
    struct timespec deadline;

    req->node = node;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&node->lock);
    *ret_owned = true;
    if (node->stopping) {
        pthread_mutex_unlock(&node->lock);
        return KH_EUNAVAIL;
    }
    req->next = node->queue;
    node->queue = req;
    pthread_mutex_unlock(&node->lock);
    uv_async_send(&node->wake);
    pthread_mutex_lock(&node->lock);
    while (!req->done && pthread_cond_timedwait(&req->cond, &node->lock,
                                                &deadline) != ETIMEDOUT)
        ;
    if (!req->done) {
        req->abandoned = true;
        *ret_owned = false;
        pthread_mutex_unlock(&node->lock);
        return KH_EUNAVAIL;
    }
    pthread_mutex_unlock(&node->lock);
    return req->status;
}

/* node_submit_keep(), then free the request unless the loop still has
 * it (abandoned: the loop frees it). */
static int node_submit(struct kh_raft_node *node, struct node_req *req,
                       unsigned timeout_ms)
{
    bool owned;
    int r = node_submit_keep(node, req, timeout_ms, &owned);

    if (owned)
        req_free(req);
    return r;
}

static struct node_req *req_new(enum req_kind kind)
{
    struct node_req *req = calloc(1, sizeof(*req));
    pthread_condattr_t attr;

    if (req == NULL)
        return NULL;
    req->kind = kind;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&req->cond, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        free(req);
        return NULL;
    }
    pthread_condattr_destroy(&attr);
    return req;
}

int kh_raft_node_apply(struct kh_raft_node *node,
                       const struct kh_storage_op *ops, size_t count)
{
    struct node_req *req;
    int r;

    if (!kh_raft_node_is_leader(node))
        return KH_EUNAVAIL;
    req = req_new(REQ_APPLY);
    if (req == NULL)
        return KH_ENOMEM;
    r = kh_raft_batch_encode(ops, count, &req->buf);
    if (r != 0) {
        free(req);
        return r;
    }
    return node_submit(node, req, KH_RAFT_APPLY_TIMEOUT_MS);
}

static int node_wait_leader(struct kh_raft_node *node, unsigned timeout_ms)
{
    unsigned waited;
    const struct timespec step = {0, KH_NODE_TICK_MS * 1000000L};

    for (waited = 0; waited < timeout_ms; waited += KH_NODE_TICK_MS) {
        if (kh_raft_node_is_leader(node))
            return 0;
        nanosleep(&step, NULL);
    }
    return KH_EUNAVAIL;
}

int kh_raft_node_bootstrap(struct kh_raft_node *node, unsigned timeout_ms)
{
    struct node_req *req = req_new(REQ_BOOTSTRAP);
    char key[KH_RAFT_NAME_KEY_BYTES];
    struct kh_storage_op op;
    int r;

    if (req == NULL)
        return KH_ENOMEM;
    r = node_submit(node, req, timeout_ms);
    if (r == 0)
        r = node_wait_leader(node, timeout_ms);
    if (r != 0)
        return r;
    kh_raft_node_name_key(node->id, key);
    op = (struct kh_storage_op){KH_STORAGE_PUT, key,
                                (const uint8_t *)node->node_id,
                                strlen(node->node_id)};
    return kh_raft_node_apply(node, &op, 1);
}

int kh_raft_node_start_joining(struct kh_raft_node *node)
{
    struct node_req *req = req_new(REQ_START);

    if (req == NULL)
        return KH_ENOMEM;
    return node_submit(node, req, KH_RAFT_APPLY_TIMEOUT_MS);
}

bool kh_raft_node_is_leader(struct kh_raft_node *node)
{
    return __atomic_load_n(&node->leader, __ATOMIC_ACQUIRE);
}

bool kh_raft_node_leader_is(struct kh_raft_node *node, const char *node_id)
{
    uint64_t leader;

    pthread_mutex_lock(&node->lock);
    leader = node->status.leader_raft_id;
    pthread_mutex_unlock(&node->lock);
    return leader != 0 && leader == kh_raft_node_id_of(node_id);
}

/* Fill in the names of the servers from the store. */
static void status_names(struct kh_raft_node *node, struct kh_raft_status *s)
{
    struct kh_storage *st = kh_raft_node_read_begin(node);
    char key[KH_RAFT_NAME_KEY_BYTES];
    uint8_t *value;
    size_t i, len;

    for (i = 0; i < s->server_count; i++) {
        struct kh_raft_server_info *info = &s->servers[i];
        kh_raft_node_name_key(info->id, key);
        if (info->id == node->id) {
            memcpy(info->node_id, node->node_id, sizeof(info->node_id));
        } else if (kh_storage_get(st, key, &value, &len) == 0) {
            if (len < sizeof(info->node_id)) {
                memcpy(info->node_id, value, len);
                info->node_id[len] = '\0';
            }
            free(value);
        }
        if (info->leader)
            memcpy(s->leader_id, info->node_id, sizeof(s->leader_id));
    }
    kh_raft_node_read_end(node);
}

void kh_raft_node_status(struct kh_raft_node *node,
                         struct kh_raft_status *ret_status)
{
    pthread_mutex_lock(&node->lock);
    *ret_status = node->status;
    pthread_mutex_unlock(&node->lock);
    status_names(node, ret_status);
}

int kh_raft_node_add_server(struct kh_raft_node *node, const char *node_id,
                            const char *address, bool voter,
                            unsigned timeout_ms)
{
    const struct timespec pause = {0, KH_NODE_CHANGE_RETRY_MS * 1000000L};
    unsigned waited;
    struct node_req *req;
    char key[KH_RAFT_NAME_KEY_BYTES];
    struct kh_storage_op op;
    int r;

    if (!kh_raft_node_id_valid(node_id) || address == NULL ||
        strlen(address) == 0 || strlen(address) > KH_RAFT_ADDRESS_BYTES_MAX ||
        strchr(address, ':') == NULL)
        return KH_EINVAL;
    if (!kh_raft_node_is_leader(node))
        return KH_EUNAVAIL;
    /* The name first: a server in the configuration always has one. */
    kh_raft_node_name_key(kh_raft_node_id_of(node_id), key);
    op = (struct kh_storage_op){KH_STORAGE_PUT, key, (const uint8_t *)node_id,
                                strlen(node_id)};
    r = kh_raft_node_apply(node, &op, 1);
    if (r != 0)
        return r;
    /* One change at a time in raft: another join waits its turn. */
    for (waited = 0;; waited += KH_NODE_CHANGE_RETRY_MS) {
        req = req_new(REQ_ADD);
        if (req == NULL)
            return KH_ENOMEM;
        req->id = kh_raft_node_id_of(node_id);
        memcpy(req->address, address, strlen(address) + 1);
        req->voter = voter;
        r = node_submit(node, req, timeout_ms);
        if (r != KH_ESTATE || waited >= timeout_ms)
            return r;
        nanosleep(&pause, NULL);
    }
}

int kh_raft_node_remove_server(struct kh_raft_node *node, const char *node_id,
                               unsigned timeout_ms)
{
    struct node_req *req;

    if (!kh_raft_node_id_valid(node_id))
        return KH_EINVAL;
    if (!kh_raft_node_is_leader(node))
        return KH_EUNAVAIL;
    req = req_new(REQ_REMOVE);
    if (req == NULL)
        return KH_ENOMEM;
    req->id = kh_raft_node_id_of(node_id);
    return node_submit(node, req, timeout_ms);
}

int kh_raft_node_step_down(struct kh_raft_node *node, unsigned timeout_ms)
{
    struct node_req *req;

    if (!kh_raft_node_is_leader(node))
        return KH_EUNAVAIL;
    req = req_new(REQ_TRANSFER);
    if (req == NULL)
        return KH_ENOMEM;
    return node_submit(node, req, timeout_ms);
}

struct kh_storage *kh_raft_node_storage(struct kh_raft_node *node)
{
    return node->face;
}

struct kh_storage *kh_raft_node_read_begin(struct kh_raft_node *node)
{
    kh_raft_fsm_read_lock(node->fsm);
    return kh_raft_fsm_storage(node->fsm);
}

void kh_raft_node_read_end(struct kh_raft_node *node)
{
    kh_raft_fsm_read_unlock(node->fsm);
}

uint64_t kh_raft_node_self_id(const struct kh_raft_node *node)
{
    return node->id;
}

int kh_raft_node_dump(struct kh_raft_node *node, struct kh_raft_wbuf *ret_dump,
                      uint64_t *ret_index, uint64_t *ret_term)
{
    if (!kh_raft_node_is_leader(node))
        return KH_EUNAVAIL;
    return kh_raft_node_dump_local(node, ret_dump, ret_index, ret_term);
}

int kh_raft_node_dump_local(struct kh_raft_node *node,
                            struct kh_raft_wbuf *ret_dump, uint64_t *ret_index,
                            uint64_t *ret_term)
{
    struct node_req *req;
    bool owned;
    int r;

    req = req_new(REQ_DUMP);
    if (req == NULL)
        return KH_ENOMEM;
    r = node_submit_keep(node, req, KH_RAFT_CHANGE_TIMEOUT_MS, &owned);
    if (r == 0) {
        *ret_dump = req->dump;
        memset(&req->dump, 0, sizeof(req->dump));
        *ret_index = req->dump_index;
        *ret_term = req->dump_term;
    }
    if (owned)
        req_free(req);
    return r;
}
