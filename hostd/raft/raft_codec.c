/*
 * raft_codec.c - bounded encoding of raft configurations and messages.
 *
 * Owns nothing beyond the buffers it is handed. Must never read past a
 * buffer, allocate from a length it has not checked against a limit, or
 * hand raft a message that is only partly built.
 */
#include "raft/raft_codec.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "raft/raft_limits.h"

#define CODEC_WBUF_CAP_MIN 256u
#define CODEC_FLAG_DISRUPT 0x01u
#define CODEC_FLAG_PRE_VOTE 0x02u

void kh_raft_wbuf_init(struct kh_raft_wbuf *w, size_t max)
{
    KH_ASSERT(w != NULL);
    KH_ASSERT(max > 0);
    memset(w, 0, sizeof(*w));
    w->max = max;
}

/* Room for n more bytes, or a sticky error. */
static bool wbuf_reserve(struct kh_raft_wbuf *w, size_t n)
{
    size_t cap;
    uint8_t *p;

    if (w->error != 0)
        return false;
    if (n > w->max - w->len) {
        w->error = KH_ETOOBIG;
        return false;
    }
    if (w->len + n <= w->cap)
        return true;
    cap = w->cap < CODEC_WBUF_CAP_MIN ? CODEC_WBUF_CAP_MIN : w->cap;
    while (cap < w->len + n)
        cap = cap > w->max / 2 ? w->max : cap * 2;
    p = realloc(w->data, cap);
    if (p == NULL) {
        w->error = KH_ENOMEM;
        return false;
    }
    w->data = p;
    w->cap = cap;
    return true;
}

void kh_raft_wbuf_put(struct kh_raft_wbuf *w, const void *p, size_t n)
{
    KH_ASSERT(w != NULL);
    KH_ASSERT(p != NULL || n == 0);
    if (!wbuf_reserve(w, n) || n == 0)
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

static void wbuf_put_be(struct kh_raft_wbuf *w, uint64_t v, size_t n)
{
    uint8_t b[8];
    size_t i;

    KH_ASSERT(n <= sizeof(b));
    for (i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    kh_raft_wbuf_put(w, b, n);
}

void kh_raft_wbuf_put_u8(struct kh_raft_wbuf *w, uint8_t v)
{
    wbuf_put_be(w, v, 1);
}

void kh_raft_wbuf_put_u16(struct kh_raft_wbuf *w, uint16_t v)
{
    wbuf_put_be(w, v, 2);
}

void kh_raft_wbuf_put_u32(struct kh_raft_wbuf *w, uint32_t v)
{
    wbuf_put_be(w, v, 4);
}

void kh_raft_wbuf_put_u64(struct kh_raft_wbuf *w, uint64_t v)
{
    wbuf_put_be(w, v, 8);
}

int kh_raft_wbuf_error(const struct kh_raft_wbuf *w)
{
    KH_ASSERT(w != NULL);
    return w->error;
}

void kh_raft_wbuf_free(struct kh_raft_wbuf *w)
{
    if (w == NULL)
        return;
    free(w->data);
    w->data = NULL;
    w->len = 0;
    w->cap = 0;
}

void kh_raft_rbuf_init(struct kh_raft_rbuf *r, const void *p, size_t len)
{
    KH_ASSERT(r != NULL);
    KH_ASSERT(p != NULL || len == 0);
    r->p = p;
    r->len = len;
    r->pos = 0;
    r->failed = false;
}

const uint8_t *kh_raft_rbuf_bytes(struct kh_raft_rbuf *r, size_t n)
{
    static const uint8_t empty[1];
    const uint8_t *p;

    KH_ASSERT(r != NULL);
    if (r->failed || n > r->len - r->pos) {
        r->failed = true;
        return NULL;
    }
    if (n == 0)
        return r->p != NULL ? r->p + r->pos : empty;
    p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint64_t rbuf_be(struct kh_raft_rbuf *r, size_t n)
{
    const uint8_t *p = kh_raft_rbuf_bytes(r, n);
    uint64_t v = 0;
    size_t i;

    if (p == NULL)
        return 0;
    for (i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

uint8_t kh_raft_rbuf_u8(struct kh_raft_rbuf *r)
{
    return (uint8_t)rbuf_be(r, 1);
}

uint16_t kh_raft_rbuf_u16(struct kh_raft_rbuf *r)
{
    return (uint16_t)rbuf_be(r, 2);
}

uint32_t kh_raft_rbuf_u32(struct kh_raft_rbuf *r)
{
    return (uint32_t)rbuf_be(r, 4);
}

uint64_t kh_raft_rbuf_u64(struct kh_raft_rbuf *r)
{
    return rbuf_be(r, 8);
}

bool kh_raft_rbuf_ok(const struct kh_raft_rbuf *r)
{
    KH_ASSERT(r != NULL);
    return !r->failed;
}

size_t kh_raft_rbuf_left(const struct kh_raft_rbuf *r)
{
    KH_ASSERT(r != NULL);
    return r->failed ? 0 : r->len - r->pos;
}

void kh_raft_be64_put(uint8_t out[8], uint64_t v)
{
    size_t i;

    for (i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * (7 - i)));
}

uint64_t kh_raft_be64_get(const uint8_t in[8])
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void kh_raft_conf_encode(struct kh_raft_wbuf *w,
                         const struct raft_configuration *conf)
{
    size_t i, len;

    KH_ASSERT(w != NULL);
    KH_ASSERT(conf != NULL);
    if (conf->n > KH_RAFT_SERVERS_MAX) {
        w->error = KH_ETOOBIG;
        return;
    }
    kh_raft_wbuf_put_u32(w, conf->n);
    for (i = 0; i < conf->n; i++) {
        len = strlen(conf->servers[i].address);
        if (len == 0 || len > KH_RAFT_ADDRESS_BYTES_MAX) {
            w->error = KH_ETOOBIG;
            return;
        }
        kh_raft_wbuf_put_u64(w, conf->servers[i].id);
        kh_raft_wbuf_put_u8(w, (uint8_t)conf->servers[i].role);
        kh_raft_wbuf_put_u16(w, (uint16_t)len);
        kh_raft_wbuf_put(w, conf->servers[i].address, len);
    }
}

int kh_raft_conf_decode(struct kh_raft_rbuf *r,
                        struct raft_configuration *ret_conf)
{
    struct raft_configuration conf;
    char address[KH_RAFT_ADDRESS_BYTES_MAX + 1];
    const uint8_t *p;
    uint32_t n, i;
    uint64_t id;
    uint16_t len;
    uint8_t role;
    int rc = KH_EINVAL;

    KH_ASSERT(r != NULL);
    KH_ASSERT(ret_conf != NULL);
    raft_configuration_init(&conf);
    n = kh_raft_rbuf_u32(r);
    if (!kh_raft_rbuf_ok(r) || n > KH_RAFT_SERVERS_MAX)
        goto out;
    for (i = 0; i < n; i++) {
        id = kh_raft_rbuf_u64(r);
        role = kh_raft_rbuf_u8(r);
        len = kh_raft_rbuf_u16(r);
        if (len == 0 || len > KH_RAFT_ADDRESS_BYTES_MAX)
            goto out;
        p = kh_raft_rbuf_bytes(r, len);
        if (p == NULL || memchr(p, 0, len) != NULL)
            goto out;
        memcpy(address, p, len);
        address[len] = '\0';
        if (raft_configuration_add(&conf, id, address, role) != 0)
            goto out; /* a zero id, duplicate, bad role or no memory */
    }
    *ret_conf = conf;
    raft_configuration_init(&conf);
    rc = 0; /* success */
out:
    raft_configuration_close(&conf);
    return rc;
}

static void encode_entries(struct kh_raft_wbuf *w,
                           const struct raft_append_entries *ae)
{
    unsigned i;

    if (ae->n_entries > KH_RAFT_APPEND_ENTRIES_MAX) {
        w->error = KH_ETOOBIG;
        return;
    }
    kh_raft_wbuf_put_u64(w, ae->term);
    kh_raft_wbuf_put_u64(w, ae->prev_log_index);
    kh_raft_wbuf_put_u64(w, ae->prev_log_term);
    kh_raft_wbuf_put_u64(w, ae->leader_commit);
    kh_raft_wbuf_put_u32(w, ae->n_entries);
    for (i = 0; i < ae->n_entries; i++) {
        if (ae->entries[i].buf.len > KH_RAFT_ENTRY_BYTES_MAX) {
            w->error = KH_ETOOBIG;
            return;
        }
        kh_raft_wbuf_put_u64(w, ae->entries[i].term);
        kh_raft_wbuf_put_u8(w, (uint8_t)ae->entries[i].type);
        kh_raft_wbuf_put_u32(w, (uint32_t)ae->entries[i].buf.len);
        kh_raft_wbuf_put(w, ae->entries[i].buf.base, ae->entries[i].buf.len);
    }
}

static void encode_snapshot(struct kh_raft_wbuf *w,
                            const struct raft_install_snapshot *is)
{
    if (is->data.len > KH_RAFT_SNAPSHOT_BYTES_MAX) {
        w->error = KH_ETOOBIG;
        return;
    }
    kh_raft_wbuf_put_u64(w, is->term);
    kh_raft_wbuf_put_u64(w, is->last_index);
    kh_raft_wbuf_put_u64(w, is->last_term);
    kh_raft_conf_encode(w, &is->conf);
    kh_raft_wbuf_put_u64(w, is->conf_index);
    kh_raft_wbuf_put_u32(w, (uint32_t)is->data.len);
    kh_raft_wbuf_put(w, is->data.base, is->data.len);
}

int kh_raft_message_encode(const struct raft_message *msg,
                           struct kh_raft_wbuf *w)
{
    KH_ASSERT(msg != NULL);
    KH_ASSERT(w != NULL);
    kh_raft_wbuf_init(w, KH_RAFT_MESSAGE_BYTES_MAX);
    kh_raft_wbuf_put_u8(w, (uint8_t)msg->type);
    switch (msg->type) {
    case RAFT_IO_REQUEST_VOTE:
        kh_raft_wbuf_put_u64(w, msg->request_vote.term);
        kh_raft_wbuf_put_u64(w, msg->request_vote.candidate_id);
        kh_raft_wbuf_put_u64(w, msg->request_vote.last_log_index);
        kh_raft_wbuf_put_u64(w, msg->request_vote.last_log_term);
        kh_raft_wbuf_put_u8(
            w, (uint8_t)((msg->request_vote.disrupt_leader
                              ? CODEC_FLAG_DISRUPT
                              : 0) |
                         (msg->request_vote.pre_vote ? CODEC_FLAG_PRE_VOTE
                                                     : 0)));
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        kh_raft_wbuf_put_u64(w, msg->request_vote_result.term);
        kh_raft_wbuf_put_u8(w, msg->request_vote_result.vote_granted ? 1 : 0);
        kh_raft_wbuf_put_u8(w, (uint8_t)msg->request_vote_result.pre_vote);
        break;
    case RAFT_IO_APPEND_ENTRIES:
        encode_entries(w, &msg->append_entries);
        break;
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        kh_raft_wbuf_put_u64(w, msg->append_entries_result.term);
        kh_raft_wbuf_put_u64(w, msg->append_entries_result.rejected);
        kh_raft_wbuf_put_u64(w, msg->append_entries_result.last_log_index);
        break;
    case RAFT_IO_INSTALL_SNAPSHOT:
        encode_snapshot(w, &msg->install_snapshot);
        break;
    case RAFT_IO_TIMEOUT_NOW:
        kh_raft_wbuf_put_u64(w, msg->timeout_now.term);
        kh_raft_wbuf_put_u64(w, msg->timeout_now.last_log_index);
        kh_raft_wbuf_put_u64(w, msg->timeout_now.last_log_term);
        break;
    default:
        return KH_EINVAL;
    }
    return kh_raft_wbuf_error(w);
}

/* Entries: a first pass checks every header and sums the data, then one
 * raft_malloc'ed batch holds all of it, as libraft expects of received
 * entries (each entry's batch set, freed by raft once unreferenced). */
static int decode_entries(struct kh_raft_rbuf *r,
                          struct raft_append_entries *ae)
{
    struct kh_raft_rbuf scan;
    struct raft_entry *entries = NULL;
    uint8_t *batch = NULL;
    size_t total = 0, off = 0, len;
    uint32_t n, i;
    int rc = KH_EINVAL;

    ae->term = kh_raft_rbuf_u64(r);
    ae->prev_log_index = kh_raft_rbuf_u64(r);
    ae->prev_log_term = kh_raft_rbuf_u64(r);
    ae->leader_commit = kh_raft_rbuf_u64(r);
    n = kh_raft_rbuf_u32(r);
    if (!kh_raft_rbuf_ok(r) || n > KH_RAFT_APPEND_ENTRIES_MAX)
        return KH_EINVAL;
    scan = *r;
    for (i = 0; i < n; i++) {
        (void)kh_raft_rbuf_u64(&scan);
        (void)kh_raft_rbuf_u8(&scan);
        len = kh_raft_rbuf_u32(&scan);
        if (len > KH_RAFT_ENTRY_BYTES_MAX ||
            kh_raft_rbuf_bytes(&scan, len) == NULL)
            return KH_EINVAL;
        total += len;
    }
    ae->entries = NULL;
    ae->n_entries = 0;
    if (n == 0)
        return 0;
    entries = raft_calloc(n, sizeof(*entries));
    batch = raft_malloc(total > 0 ? total : 1);
    if (entries == NULL || batch == NULL) {
        rc = KH_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        entries[i].term = kh_raft_rbuf_u64(r);
        entries[i].type = kh_raft_rbuf_u8(r);
        len = kh_raft_rbuf_u32(r);
        memcpy(batch + off, kh_raft_rbuf_bytes(r, len), len);
        entries[i].buf.base = batch + off;
        entries[i].buf.len = len;
        entries[i].batch = batch;
        off += len;
    }
    KH_ASSERT(off == total);
    ae->entries = entries;
    ae->n_entries = n;
    entries = NULL;
    batch = NULL;
    rc = 0; /* success */
out:
    raft_free(entries);
    raft_free(batch);
    return rc;
}

static int decode_snapshot(struct kh_raft_rbuf *r,
                           struct raft_install_snapshot *is)
{
    const uint8_t *p;
    uint32_t len;
    int rc;

    is->term = kh_raft_rbuf_u64(r);
    is->last_index = kh_raft_rbuf_u64(r);
    is->last_term = kh_raft_rbuf_u64(r);
    rc = kh_raft_conf_decode(r, &is->conf);
    if (rc != 0)
        return rc;
    is->conf_index = kh_raft_rbuf_u64(r);
    len = kh_raft_rbuf_u32(r);
    p = len <= KH_RAFT_SNAPSHOT_BYTES_MAX ? kh_raft_rbuf_bytes(r, len) : NULL;
    if (p == NULL) {
        raft_configuration_close(&is->conf);
        return KH_EINVAL;
    }
    is->data.base = raft_malloc(len > 0 ? len : 1);
    if (is->data.base == NULL) {
        raft_configuration_close(&is->conf);
        return KH_ENOMEM;
    }
    memcpy(is->data.base, p, len);
    is->data.len = len;
    return 0;
}

static int decode_small(struct kh_raft_rbuf *r, struct raft_message *m)
{
    uint8_t flags, pre_vote;

    switch (m->type) {
    case RAFT_IO_REQUEST_VOTE:
        m->request_vote.term = kh_raft_rbuf_u64(r);
        m->request_vote.candidate_id = kh_raft_rbuf_u64(r);
        m->request_vote.last_log_index = kh_raft_rbuf_u64(r);
        m->request_vote.last_log_term = kh_raft_rbuf_u64(r);
        flags = kh_raft_rbuf_u8(r);
        m->request_vote.disrupt_leader = (flags & CODEC_FLAG_DISRUPT) != 0;
        m->request_vote.pre_vote = (flags & CODEC_FLAG_PRE_VOTE) != 0;
        return 0;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        m->request_vote_result.term = kh_raft_rbuf_u64(r);
        m->request_vote_result.vote_granted = kh_raft_rbuf_u8(r) != 0;
        pre_vote = kh_raft_rbuf_u8(r);
        if (pre_vote > raft_tribool_false)
            return KH_EINVAL;
        m->request_vote_result.pre_vote = (raft_tribool)pre_vote;
        return 0;
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        m->append_entries_result.term = kh_raft_rbuf_u64(r);
        m->append_entries_result.rejected = kh_raft_rbuf_u64(r);
        m->append_entries_result.last_log_index = kh_raft_rbuf_u64(r);
        return 0;
    case RAFT_IO_TIMEOUT_NOW:
        m->timeout_now.term = kh_raft_rbuf_u64(r);
        m->timeout_now.last_log_index = kh_raft_rbuf_u64(r);
        m->timeout_now.last_log_term = kh_raft_rbuf_u64(r);
        return 0;
    default:
        return KH_EINVAL;
    }
}

int kh_raft_message_decode(const uint8_t *p, size_t len,
                           struct raft_message *ret_msg)
{
    struct raft_message m;
    struct kh_raft_rbuf r;
    int rc;

    KH_ASSERT(ret_msg != NULL);
    KH_ASSERT(p != NULL || len == 0);
    if (len > KH_RAFT_MESSAGE_BYTES_MAX)
        return KH_EINVAL;
    memset(&m, 0, sizeof(m));
    kh_raft_rbuf_init(&r, p, len);
    m.type = kh_raft_rbuf_u8(&r);
    if (m.type == RAFT_IO_APPEND_ENTRIES)
        rc = decode_entries(&r, &m.append_entries);
    else if (m.type == RAFT_IO_INSTALL_SNAPSHOT)
        rc = decode_snapshot(&r, &m.install_snapshot);
    else
        rc = decode_small(&r, &m);
    if (rc != 0)
        return rc;
    if (!kh_raft_rbuf_ok(&r) || kh_raft_rbuf_left(&r) != 0) {
        kh_raft_message_release(&m);
        return KH_EINVAL;
    }
    *ret_msg = m;
    return 0;
}

void kh_raft_message_release(struct raft_message *msg)
{
    if (msg == NULL)
        return;
    if (msg->type == RAFT_IO_APPEND_ENTRIES &&
        msg->append_entries.n_entries > 0) {
        raft_free(msg->append_entries.entries[0].batch);
        raft_free(msg->append_entries.entries);
        msg->append_entries.entries = NULL;
        msg->append_entries.n_entries = 0;
    } else if (msg->type == RAFT_IO_INSTALL_SNAPSHOT) {
        raft_configuration_close(&msg->install_snapshot.conf);
        raft_free(msg->install_snapshot.data.base);
        msg->install_snapshot.data.base = NULL;
    }
}
