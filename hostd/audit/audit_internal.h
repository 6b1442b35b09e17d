/*
 * audit_internal.h - what the broker's files share: one enabled device
 * (struct audit_dev) with its queue, writer thread, chain and spool; the
 * ticket a request thread waits on; the broker itself.
 *
 * Locks: broker->lock (rwlock) guards the device array; dev->lock guards
 * the queue, the flags and the stats; ticket->lock guards a ticket. Order:
 * broker->lock, then dev->lock, then ticket->lock; the writer never takes
 * broker->lock. Chain state and the spool belong to the writer thread.
 */
#ifndef KH_AUDIT_AUDIT_INTERNAL_H
#define KH_AUDIT_AUDIT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/audit.h"
#include "audit/chain.h"
#include "audit/device.h"
#include "common/err.h"

#define AUDIT_DEVICES_MAX 32
#define AUDIT_PATH_BYTES_MAX 128
#define AUDIT_DESCRIPTION_BYTES_MAX 512
#define AUDIT_SALT_BYTES 32
#define AUDIT_QUEUE_RECORDS 4096
#define AUDIT_BATCH_RECORDS 256
#define AUDIT_WRITE_TIMEOUT_MS_DEFAULT 2000
#define AUDIT_CHECKPOINT_INTERVAL_DEFAULT 1000
#define AUDIT_CHECKPOINT_INTERVAL_MAX 1000000
#define AUDIT_SPOOL_RECORDS_DEFAULT 10000
#define AUDIT_SPOOL_BYTES_DEFAULT (64u * 1024u * 1024u)
#define AUDIT_RETRY_MS_MIN 100
#define AUDIT_RETRY_MS_MAX 2000
/* Longest a written record waits for fdatasync when no secret asks. */
#define AUDIT_SYNC_INTERVAL_MS 100

/* One waiter: settled once by each device the record was queued to. */
struct audit_ticket
{
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned refs;
    unsigned ok;
    unsigned failed;
    unsigned expected;
};

struct audit_record
{
    char *body;                 /* JSON object text; malloc'ed */
    size_t len;
    struct audit_ticket *ticket; /* NULL: nobody waits */
    bool secret;                /* wait for the sync (sync_secrets) */
};

struct audit_line
{
    char *text;                 /* chained line with '\n'; malloc'ed */
    size_t len;
    struct audit_ticket *ticket;
    bool secret;
    uint8_t hash[AUDIT_CHAIN_HASH_BYTES];
    uint64_t seq;
};

/* Per-device formatting options. */
struct audit_format
{
    const uint8_t *salt;        /* AUDIT_SALT_BYTES */
    bool log_raw;
    bool hmac_accessor;
};

struct audit_dev
{
    struct audit_broker *broker;
    char path[AUDIT_PATH_BYTES_MAX];     /* "file/" */
    char type[16];
    char description[AUDIT_DESCRIPTION_BYTES_MAX];
    json_t *options;                     /* owned */
    bool local;
    bool from_config;
    const struct audit_device_ops *ops;
    void *impl;                          /* NULL when it failed to open */
    char error[KH_ERRMSG_SIZE];          /* why it failed to open */
    uint8_t salt[AUDIT_SALT_BYTES];
    /* Parsed common options. */
    bool log_raw, hmac_accessor, sync_secrets;
    char prefix[AUDIT_PREFIX_BYTES_MAX];
    uint64_t write_timeout_ms;
    uint64_t checkpoint_interval;
    uint64_t spool_max_records, spool_max_bytes;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct audit_record queue[AUDIT_QUEUE_RECORDS];
    size_t queue_head, queue_count;
    bool locks_ready;
    bool stopping, reopen_requested, thread_running;
    pthread_t thread;
    struct audit_device_stats stats;

    /* Writer thread only. */
    uint64_t seq;
    uint8_t head[AUDIT_CHAIN_HASH_BYTES];
    uint64_t since_checkpoint;
    struct audit_line *spool;            /* ring of spool_max_records */
    size_t spool_head, spool_count, spool_bytes;
    uint64_t lost_unreported;
    struct timespec retry_at;
    struct timespec sync_at;
    uint64_t retry_ms;
};

struct audit_broker
{
    struct kh_core *core;
    struct audit_dir_policy dirs;
    json_t *config_devices;     /* [{"path","type","options"}] */
    pthread_rwlock_t lock;
    struct audit_dev *devs[AUDIT_DEVICES_MAX];
    size_t dev_count;
    bool loaded;
    bool broken;                         /* table unreadable: refuse all */
    uint8_t *ckey;                       /* kh_secure_alloc; NULL unloaded */
};

/* audit.c */
struct audit_ticket *audit_ticket_new(void);
void audit_ticket_hold(struct audit_ticket *t);
void audit_ticket_settle(struct audit_ticket *t, bool ok);

/* entry.c: the record bodies (compact JSON). *ret is malloc'ed. */
int audit_entry_request(const struct audit_format *f,
                        const struct kh_request *req,
                        const struct token_entry *token, char **ret,
                        size_t *ret_len) KH_MUST_CHECK;
int audit_entry_response(const struct audit_format *f,
                         const struct kh_request *req,
                         const struct token_entry *token,
                         const struct kh_response *resp,
                         const char *error_text, char **ret,
                         size_t *ret_len) KH_MUST_CHECK;
/* "hmac-sha256:<hex>" of text under salt into out. */
void audit_hash_text(const uint8_t salt[AUDIT_SALT_BYTES], const char *text,
                     size_t len, char out[AUDIT_HASH_TEXT_BYTES]);
/* Does the response carry a secret (data, auth or wrap_info)? */
bool audit_response_secret(const struct kh_response *resp);

/* writer.c */
/* Parse the common options into dev (and validate them). */
int audit_dev_configure(struct audit_dev *dev, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;
/* Resume the chain (device tail, else stored head), start the thread. */
int audit_dev_start(struct audit_dev *dev) KH_MUST_CHECK;
/* Queue a record (takes body; holds the ticket). KH_ELIMIT when full. */
int audit_dev_enqueue(struct audit_dev *dev, char *body, size_t len,
                      struct audit_ticket *ticket, bool secret);
/* Drain, final checkpoint, join the thread, store the head. */
void audit_dev_stop(struct audit_dev *dev);
void audit_dev_request_reopen(struct audit_dev *dev);

/* Write a checkpoint line now (writer thread) and store the head. */
int audit_checkpoint_write(struct audit_dev *dev) KH_MUST_CHECK;

/* checkpoint.c: load or create the checkpoint key into b->ckey. */
int audit_ckey_load(struct audit_broker *b, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;

/* table.c: the device table (broker->lock held for writing). */
/* Open, configure, salt and start one device; *ret_dev is new. When the
 * options were valid but the device could not open, *ret_dev is still
 * set (impl NULL, error filled, not running) with the error returned. */
int audit_table_dev_new(struct audit_broker *b, const char *path,
                        const char *type, const char *description,
                        const json_t *options, bool local, bool from_config,
                        struct audit_dev **ret_dev, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;
/* Stop and free; accepts NULL. */
void audit_table_dev_free(struct audit_dev *dev);
/* Store the API-enabled devices at AUDIT_TABLE_PATH. */
int audit_table_store(struct audit_broker *b) KH_MUST_CHECK;
/* Load the stored table and the configured devices into b->devs. */
int audit_table_load(struct audit_broker *b, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;
/* Normalise a mount path ("file" -> "file/"); KH_EINVAL if malformed. */
int audit_path_normalise(const char *path, char out[AUDIT_PATH_BYTES_MAX]);
/* Storage key of a per-device item: prefix + path without '/'. */
void audit_dev_key(const char *prefix, const char *path, char *out,
                   size_t size);

#endif
