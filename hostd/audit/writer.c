/*
 * writer.c - the one writer thread of each audit device: takes records
 * from the device's bounded queue, chains them (chain.h), writes them in
 * batches under the write deadline, syncs once per batch (group commit),
 * settles the waiting tickets, and writes checkpoints.
 *
 * Devices with ops->spool (socket) keep every chained line that was not
 * delivered in a bounded spool and replay it in order, retrying the peer
 * with capped backoff; records the spool cannot hold are counted as lost
 * and a gap record ("type":"audit_gap") takes their place in the chain,
 * so a loss is never silent. Other devices (file, syslog) fail the
 * records they could not write and roll the chain back, so the next line
 * follows the last one really written.
 *
 * Owns dev->seq/head/spool (only this thread touches them while it runs).
 * Never logs a record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "barrier/barrier.h"
#include "common/encoding.h"
#include "common/log.h"
#include "core/core.h"

static int parse_count(const json_t *options, const char *name, uint64_t def,
                       uint64_t max, uint64_t *ret, char *errmsg,
                       size_t errmsg_size)
{
    const char *v = audit_option(options, name);
    unsigned long long n;
    char *end = NULL;

    if (v == NULL) {
        *ret = def;
        return 0;
    }
    errno = 0;
    n = strtoull(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || n == 0 || n > max ||
        v[0] == '-')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "option \"%s\" must be a number from 1 to %" PRIu64,
                         name, max);
    *ret = n;
    return 0;
}

static int configure_counts(struct audit_dev *dev, char *errmsg,
                            size_t errmsg_size)
{
    int r;

    r = parse_count(dev->options, "checkpoint_interval",
                    AUDIT_CHECKPOINT_INTERVAL_DEFAULT,
                    AUDIT_CHECKPOINT_INTERVAL_MAX, &dev->checkpoint_interval,
                    errmsg, errmsg_size);
    if (r == 0)
        r = parse_count(dev->options, "spool_max_records",
                        AUDIT_SPOOL_RECORDS_DEFAULT, 1000000,
                        &dev->spool_max_records, errmsg, errmsg_size);
    if (r == 0)
        r = parse_count(dev->options, "spool_max_bytes",
                        AUDIT_SPOOL_BYTES_DEFAULT, 1ull << 32,
                        &dev->spool_max_bytes, errmsg, errmsg_size);
    return r;
}

int audit_dev_configure(struct audit_dev *dev, char *errmsg,
                        size_t errmsg_size)
{
    const char *prefix = audit_option(dev->options, "prefix");
    const char *format = audit_option(dev->options, "format");
    pthread_condattr_t attr;
    int r;

    r = audit_option_bool(dev->options, "log_raw", false, &dev->log_raw,
                          errmsg, errmsg_size);
    if (r == 0)
        r = audit_option_bool(dev->options, "hmac_accessor", true,
                              &dev->hmac_accessor, errmsg, errmsg_size);
    if (r == 0)
        r = audit_option_bool(dev->options, "sync_secrets", true,
                              &dev->sync_secrets, errmsg, errmsg_size);
    if (r == 0)
        r = audit_option_ms(dev->options, "write_timeout",
                            AUDIT_WRITE_TIMEOUT_MS_DEFAULT,
                            &dev->write_timeout_ms, errmsg, errmsg_size);
    if (r == 0)
        r = configure_counts(dev, errmsg, errmsg_size);
    if (r != 0)
        return r;
    if (format != NULL && strcmp(format, "json") != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "format must be \"json\"");
    if (prefix != NULL && (strlen(prefix) >= AUDIT_PREFIX_BYTES_MAX ||
                           strchr(prefix, '\n') != NULL ||
                           strstr(prefix, AUDIT_CHAIN_MARKER) != NULL))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "prefix must be one line under %d bytes without "
                         "the chain marker",
                         AUDIT_PREFIX_BYTES_MAX);
    snprintf(dev->prefix, sizeof(dev->prefix), "%s", prefix ? prefix : "");
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&dev->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&dev->lock, NULL);
    dev->locks_ready = true;
    return 0;
}

/* ---- chain resume ---- */

static int resume_from_line(struct audit_dev *dev, const char *line,
                            size_t len)
{
    const char *start = strstr(line, AUDIT_CHAIN_MARKER);
    json_t *doc;
    json_int_t seq;

    if (start == NULL)
        return KH_ECORRUPT;
    doc = json_loadb(start, len - (size_t)(start - line), 0, NULL);
    seq = json_integer_value(json_object_get(doc, "seq"));
    json_decref(doc);
    if (seq <= 0)
        return KH_ECORRUPT;
    dev->seq = (uint64_t)seq;
    audit_chain_hash(line, len, dev->head);
    return 0;
}

static int resume_from_barrier(struct audit_dev *dev)
{
    char key[KH_STORAGE_KEY_BYTES_MAX];
    uint8_t *value = NULL;
    size_t len = 0, head_len = 0;
    const char *hex = NULL;
    json_int_t seq = 0;
    json_t *doc;
    int r;

    audit_dev_key(AUDIT_HEAD_PREFIX, dev->path, key, sizeof(key));
    r = barrier_get(dev->broker->core->barrier, key, &value, &len);
    if (r != 0)
        return r;
    doc = json_loadb((const char *)value, len, 0, NULL);
    r = KH_ECORRUPT;
    if (json_unpack(doc, "{s:I, s:s}", "seq", &seq, "head", &hex) == 0 &&
        seq >= 0 && kh_hex_decode(hex, strlen(hex), dev->head,
                                  sizeof(dev->head), &head_len) == 0 &&
        head_len == AUDIT_CHAIN_HASH_BYTES) {
        dev->seq = (uint64_t)seq;
        r = 0;
    }
    json_decref(doc);
    free(value);
    return r;
}

static void resume_chain(struct audit_dev *dev)
{
    char *line = NULL;
    size_t len = 0;

    dev->seq = 0;
    memset(dev->head, 0, sizeof(dev->head));
    if (dev->ops->tail != NULL && dev->ops->tail(dev->impl, &line, &len) == 0) {
        int r = resume_from_line(dev, line, len);
        free(line);
        if (r == 0)
            return;
    }
    if (resume_from_barrier(dev) != 0) {
        dev->seq = 0;
        memset(dev->head, 0, sizeof(dev->head));
    }
}

void audit_dev_key(const char *prefix, const char *path, char *out,
                   size_t size)
{
    size_t len = strlen(path);

    while (len > 0 && path[len - 1] == '/')
        len--;
    snprintf(out, size, "%s%.*s", prefix, (int)len, path);
}

static void store_head(struct audit_dev *dev, uint64_t checkpoint_count)
{
    char key[KH_STORAGE_KEY_BYTES_MAX], hex[AUDIT_CHAIN_HEX_BYTES];
    char *text;
    json_t *doc;

    kh_hex_encode(dev->head, sizeof(dev->head), hex);
    doc = json_pack("{s:I, s:s, s:I}", "seq", (json_int_t)dev->seq, "head",
                    hex, "checkpoint_count", (json_int_t)checkpoint_count);
    text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    audit_dev_key(AUDIT_HEAD_PREFIX, dev->path, key, sizeof(key));
    if (text != NULL &&
        barrier_put(dev->broker->core->barrier, key, (const uint8_t *)text,
                    strlen(text)) != 0)
        log_warn("audit: device %s: cannot store the chain head",
                 dev->path);
    free(text);
    json_decref(doc);
}

/* ---- chaining and writing ---- */

/* Has the CLOCK_MONOTONIC time at passed? */
static bool retry_due_at(const struct timespec *at)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > at->tv_sec ||
           (now.tv_sec == at->tv_sec && now.tv_nsec >= at->tv_nsec);
}

static void settle(struct audit_dev *dev, struct audit_ticket **t, bool ok)
{
    if (*t != NULL)
        audit_ticket_settle(*t, ok);
    *t = NULL;
    pthread_mutex_lock(&dev->lock);
    if (ok)
        dev->stats.written++;
    else
        dev->stats.failed++;
    pthread_mutex_unlock(&dev->lock);
}

/* Chain one record body into a line (advances seq/head). */
static int chain_record(struct audit_dev *dev, struct audit_record *rec,
                        struct audit_line *line)
{
    int r;

    memset(line, 0, sizeof(*line));
    r = audit_chain_line(dev->prefix, dev->seq + 1, dev->head, rec->body,
                         rec->len, &line->text, &line->len);
    free(rec->body);
    rec->body = NULL;
    if (r != 0)
        return r;
    dev->seq++;
    audit_chain_hash(line->text, line->len - 1, dev->head);
    memcpy(line->hash, dev->head, sizeof(line->hash));
    line->seq = dev->seq;
    line->ticket = rec->ticket;
    line->secret = rec->secret;
    rec->ticket = NULL;
    return 0;
}

static bool sync_due(struct audit_dev *dev)
{
    if (!retry_due_at(&dev->sync_at))
        return false;
    audit_deadline_in(AUDIT_SYNC_INTERVAL_MS, &dev->sync_at);
    return true;
}

/* Write lines[0..n) directly (devices without a spool). */
static void write_direct(struct audit_dev *dev, struct audit_line *lines,
                         size_t n, uint64_t seq0, const uint8_t *head0)
{
    struct iovec iov[AUDIT_BATCH_RECORDS + 1];
    struct timespec deadline;
    bool synced = false, wait_sync = false;
    size_t done = 0, i;

    KH_ASSERT(n <= KH_ARRAY_LEN(iov));
    for (i = 0; i < n; i++) {
        iov[i].iov_base = lines[i].text;
        iov[i].iov_len = lines[i].len;
    }
    audit_deadline_in(dev->write_timeout_ms, &deadline);
    if (n > 0 && dev->impl != NULL)
        (void)dev->ops->write(dev->impl, iov, n, &deadline, &done);
    for (i = 0; i < done; i++) {
        bool needs_sync = lines[i].secret && dev->sync_secrets &&
                          dev->ops->sync != NULL;
        wait_sync |= needs_sync;
        if (!needs_sync)
            settle(dev, &lines[i].ticket, true);
    }
    /* Group commit: one sync for the batch when a secret waits for it,
     * else at most every AUDIT_SYNC_INTERVAL_MS, so records that only
     * need the write are not queued behind a sync. */
    if (done > 0 && dev->ops->sync != NULL &&
        (wait_sync || sync_due(dev)))
        synced = dev->ops->sync(dev->impl) == 0;
    for (i = 0; i < n; i++)
        if (lines[i].ticket != NULL || i >= done)
            settle(dev, &lines[i].ticket, i < done && synced);
    /* Roll the chain back to the last line really written. */
    if (done < n) {
        dev->seq = done > 0 ? lines[done - 1].seq : seq0;
        memcpy(dev->head, done > 0 ? lines[done - 1].hash : head0,
               AUDIT_CHAIN_HASH_BYTES);
    }
}

static void process_direct(struct audit_dev *dev, struct audit_record *recs,
                           size_t n)
{
    struct audit_line lines[AUDIT_BATCH_RECORDS + 1];
    uint8_t head0[AUDIT_CHAIN_HASH_BYTES];
    uint64_t seq0 = dev->seq;
    size_t count = 0, i;

    memcpy(head0, dev->head, sizeof(head0));
    for (i = 0; i < n; i++) {
        if (chain_record(dev, &recs[i], &lines[count]) != 0) {
            settle(dev, &recs[i].ticket, false);
            continue;
        }
        count++;
    }
    write_direct(dev, lines, count, seq0, head0);
    for (i = 0; i < count; i++)
        free(lines[i].text);
    dev->since_checkpoint += count;
}

/* ---- spool (ops->spool) ---- */

static struct audit_line *spool_at(struct audit_dev *dev, size_t i)
{
    return &dev->spool[(dev->spool_head + i) % (dev->spool_max_records + 2)];
}

static bool spool_full(const struct audit_dev *dev, size_t len)
{
    return dev->spool_count >= dev->spool_max_records ||
           dev->spool_bytes + len > dev->spool_max_bytes;
}

static void spool_push(struct audit_dev *dev, struct audit_line *line)
{
    KH_ASSERT(dev->spool_count < dev->spool_max_records + 2);
    *spool_at(dev, dev->spool_count) = *line;
    dev->spool_count++;
    dev->spool_bytes += line->len;
}

static void spool_pop(struct audit_dev *dev)
{
    struct audit_line *line = spool_at(dev, 0);

    KH_ASSERT(dev->spool_count > 0);
    dev->spool_bytes -= line->len;
    free(line->text);
    memset(line, 0, sizeof(*line));
    dev->spool_head = (dev->spool_head + 1) % (dev->spool_max_records + 2);
    dev->spool_count--;
}

/* The record that stands for lost ones in the chain. */
static int gap_record(struct audit_dev *dev, struct audit_record *ret)
{
    char now_text[KH_TIME_STR_SIZE];
    struct timespec now;
    json_t *doc;

    clock_gettime(CLOCK_REALTIME, &now);
    kh_time_format(&now, now_text);
    doc = json_pack("{s:s, s:s, s:I}", "time", now_text, "type",
                    "audit_gap", "lost", (json_int_t)dev->lost_unreported);
    memset(ret, 0, sizeof(*ret));
    ret->body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (ret->body == NULL)
        return KH_ENOMEM;
    ret->len = strlen(ret->body);
    return 0;
}

static void spool_add(struct audit_dev *dev, struct audit_record *rec)
{
    struct audit_line line;
    struct audit_record gap;

    if (spool_full(dev, rec->len)) {
        dev->lost_unreported++;
        pthread_mutex_lock(&dev->lock);
        dev->stats.lost++;
        pthread_mutex_unlock(&dev->lock);
        free(rec->body);
        rec->body = NULL;
        settle(dev, &rec->ticket, false);
        return;
    }
    if (dev->lost_unreported > 0 && gap_record(dev, &gap) == 0 &&
        chain_record(dev, &gap, &line) == 0) {
        spool_push(dev, &line);
        dev->lost_unreported = 0;
    }
    if (chain_record(dev, rec, &line) != 0) {
        settle(dev, &rec->ticket, false);
        return;
    }
    spool_push(dev, &line);
    dev->since_checkpoint++;
}

static bool retry_due(const struct audit_dev *dev)
{
    return retry_due_at(&dev->retry_at);
}

/* Send the spool from its head; on failure back off and release waiters
 * (the lines stay spooled). */
static void spool_flush(struct audit_dev *dev)
{
    struct iovec iov[AUDIT_BATCH_RECORDS];
    struct timespec deadline;
    size_t n, done, i;
    int r = 0;

    while (r == 0 && dev->spool_count > 0 && retry_due(dev)) {
        n = dev->spool_count < AUDIT_BATCH_RECORDS ? dev->spool_count
                                                   : AUDIT_BATCH_RECORDS;
        for (i = 0; i < n; i++) {
            iov[i].iov_base = spool_at(dev, i)->text;
            iov[i].iov_len = spool_at(dev, i)->len;
        }
        audit_deadline_in(dev->write_timeout_ms, &deadline);
        done = 0;
        r = dev->ops->write(dev->impl, iov, n, &deadline, &done);
        for (i = 0; i < done; i++) {
            settle(dev, &spool_at(dev, 0)->ticket, true);
            spool_pop(dev);
        }
        if (r != 0) {
            dev->retry_ms = dev->retry_ms == 0 ? AUDIT_RETRY_MS_MIN
                                               : dev->retry_ms * 2;
            if (dev->retry_ms > AUDIT_RETRY_MS_MAX)
                dev->retry_ms = AUDIT_RETRY_MS_MAX;
            audit_deadline_in(dev->retry_ms, &dev->retry_at);
        } else {
            dev->retry_ms = 0;
        }
    }
    for (i = 0; i < dev->spool_count; i++)
        if (spool_at(dev, i)->ticket != NULL)
            settle(dev, &spool_at(dev, i)->ticket, false);
    pthread_mutex_lock(&dev->lock);
    dev->stats.spooled = dev->spool_count;
    pthread_mutex_unlock(&dev->lock);
}

/* ---- the thread ---- */

static void process(struct audit_dev *dev, struct audit_record *recs,
                    size_t n)
{
    size_t i;

    if (!dev->ops->spool) {
        process_direct(dev, recs, n);
    } else {
        for (i = 0; i < n; i++)
            spool_add(dev, &recs[i]);
        spool_flush(dev);
    }
    pthread_mutex_lock(&dev->lock);
    dev->stats.seq = dev->seq;
    pthread_mutex_unlock(&dev->lock);
}

int audit_checkpoint_write(struct audit_dev *dev)
{
    struct audit_record rec;
    char hex[AUDIT_CHAIN_HEX_BYTES], mac[AUDIT_MAC_TEXT_BYTES];
    char now_text[KH_TIME_STR_SIZE];
    struct timespec now;
    uint64_t count;
    json_t *doc;

    if (dev->broker->ckey == NULL)
        return KH_ESTATE;
    kh_hex_encode(dev->head, sizeof(dev->head), hex);
    audit_checkpoint_mac(dev->broker->ckey, dev->path, dev->seq, hex, mac);
    clock_gettime(CLOCK_REALTIME, &now);
    kh_time_format(&now, now_text);
    doc = json_pack("{s:s, s:s, s:{s:s, s:I, s:s, s:s}}", "time", now_text,
                    "type", "checkpoint", "checkpoint", "device", dev->path,
                    "count", (json_int_t)dev->seq, "head", hex, "mac", mac);
    memset(&rec, 0, sizeof(rec));
    rec.body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (rec.body == NULL)
        return KH_ENOMEM;
    rec.len = strlen(rec.body);
    count = dev->seq;
    process(dev, &rec, 1);
    dev->since_checkpoint = 0;
    pthread_mutex_lock(&dev->lock);
    dev->stats.checkpoints++;
    pthread_mutex_unlock(&dev->lock);
    store_head(dev, count);
    return 0;
}

/* Wait for work; take up to a batch. */
static size_t take(struct audit_dev *dev, struct audit_record *batch,
                   bool *ret_stop, bool *ret_reopen)
{
    struct timespec wake;
    size_t n = 0;

    pthread_mutex_lock(&dev->lock);
    while (dev->queue_count == 0 && !dev->stopping &&
           !dev->reopen_requested &&
           !(dev->spool_count > 0 && retry_due(dev))) {
        if (dev->spool_count > 0)
            wake = dev->retry_at;
        else
            audit_deadline_in(1000, &wake);
        pthread_cond_timedwait(&dev->cond, &dev->lock, &wake);
    }
    while (dev->queue_count > 0 && n < AUDIT_BATCH_RECORDS) {
        batch[n++] = dev->queue[dev->queue_head];
        dev->queue_head = (dev->queue_head + 1) % AUDIT_QUEUE_RECORDS;
        dev->queue_count--;
    }
    *ret_stop = dev->stopping && dev->queue_count == 0;
    *ret_reopen = dev->reopen_requested;
    dev->reopen_requested = false;
    pthread_mutex_unlock(&dev->lock);
    return n;
}

/* No checkpoint key (it could not be loaded): records still flow, the
 * verifier will report them as unanchored. Said once per interval. */
static void checkpoint_failed(struct audit_dev *dev)
{
    log_warn("audit: device %s: no checkpoint written (checkpoint key "
             "unavailable)", dev->path);
    dev->since_checkpoint = 0;
}

static void *writer_main(void *arg)
{
    struct audit_dev *dev = arg;
    struct audit_record batch[AUDIT_BATCH_RECORDS];
    bool stop = false, reopen = false;
    size_t n;

    while (!stop) {
        n = take(dev, batch, &stop, &reopen);
        if (n > 0 || (dev->ops->spool && dev->spool_count > 0))
            process(dev, batch, n);
        if ((dev->since_checkpoint >= dev->checkpoint_interval || reopen) &&
            audit_checkpoint_write(dev) != 0)
            checkpoint_failed(dev);
        if (reopen && dev->ops->reopen != NULL &&
            dev->ops->reopen(dev->impl) != 0)
            log_error("audit: device %s: cannot reopen its file", dev->path);
        /* Only now: a checkpoint the batch triggered is chained too. */
        pthread_mutex_lock(&dev->lock);
        dev->stats.queued -= n;
        pthread_mutex_unlock(&dev->lock);
    }
    if ((dev->since_checkpoint > 0 || dev->seq == 0) &&
        audit_checkpoint_write(dev) != 0)
        checkpoint_failed(dev);
    return NULL;
}

int audit_dev_start(struct audit_dev *dev)
{
    KH_ASSERT(!dev->thread_running);
    if (dev->impl == NULL)
        return KH_EUNAVAIL;
    if (dev->ops->spool) {
        dev->spool = calloc(dev->spool_max_records + 2, sizeof(*dev->spool));
        if (dev->spool == NULL)
            return KH_ENOMEM;
    }
    resume_chain(dev);
    dev->stopping = false;
    if (pthread_create(&dev->thread, NULL, writer_main, dev) != 0)
        return KH_EINTERNAL;
    dev->thread_running = true;
    return 0;
}

int audit_dev_enqueue(struct audit_dev *dev, char *body, size_t len,
                      struct audit_ticket *ticket, bool secret)
{
    size_t tail;

    pthread_mutex_lock(&dev->lock);
    if (!dev->thread_running || dev->stopping ||
        dev->queue_count == AUDIT_QUEUE_RECORDS) {
        if (dev->thread_running)
            dev->stats.lost++;
        pthread_mutex_unlock(&dev->lock);
        free(body);
        return KH_ELIMIT;
    }
    tail = (dev->queue_head + dev->queue_count) % AUDIT_QUEUE_RECORDS;
    if (ticket != NULL)
        audit_ticket_hold(ticket);
    dev->queue[tail] = (struct audit_record){
        .body = body, .len = len, .ticket = ticket, .secret = secret};
    dev->queue_count++;
    dev->stats.queued++;
    pthread_cond_signal(&dev->cond);
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

void audit_dev_request_reopen(struct audit_dev *dev)
{
    pthread_mutex_lock(&dev->lock);
    dev->reopen_requested = true;
    pthread_cond_signal(&dev->cond);
    pthread_mutex_unlock(&dev->lock);
}

void audit_dev_stop(struct audit_dev *dev)
{
    size_t i;

    if (!dev->thread_running)
        return;
    pthread_mutex_lock(&dev->lock);
    dev->stopping = true;
    pthread_cond_signal(&dev->cond);
    pthread_mutex_unlock(&dev->lock);
    pthread_join(dev->thread, NULL);
    dev->thread_running = false;
    if (dev->spool_count > 0)
        log_warn("audit: device %s: %zu spooled records not delivered at "
                 "unload", dev->path, dev->spool_count);
    pthread_mutex_lock(&dev->lock);
    dev->stats.lost += dev->spool_count;
    pthread_mutex_unlock(&dev->lock);
    for (i = dev->spool_count; i > 0; i--)
        spool_pop(dev);
    free(dev->spool);
    dev->spool = NULL;
}
