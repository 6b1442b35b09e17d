/*
 * audit.h - the audit broker (hostd/README.md): every request and every
 * response is written to each enabled audit device before the client gets
 * an answer, and no request is served that no device recorded.
 *
 * Devices (file, socket, syslog; device.h) are enabled through sys/audit
 * (stored in the barrier at AUDIT_TABLE_PATH, loaded at unseal) or declared
 * in the server configuration. Each has one writer thread fed by a bounded
 * queue; request threads wait on a ticket with a deadline (the device's
 * write_timeout) until at least one device confirmed the record: written
 * (file: write returned; socket: send returned), and for responses that
 * carry a secret on a device with sync_secrets, also fdatasync'ed. A
 * stream socket delivers at least once: after a reconnect it sends its
 * recent lines again (socket.c), which the verifier skips as exact
 * duplicates.
 *
 * Records are Vault's JSON (one line each) with every string of request
 * and response data replaced by "hmac-sha256:<hex>" under a per-device
 * salt (AUDIT_SALT_PREFIX<path> in the barrier), plus two chain fields:
 * "seq" (1, 2, ... per device) and "prev_hash" (hex SHA-256 of the
 * previous line's bytes, without its newline). Every checkpoint_interval
 * records, at rotation and at unload, a device writes a checkpoint record
 * whose count and head hash are MAC'd with the checkpoint key: 32 random
 * bytes wrapped by an auto seal's HSM (stored outside the barrier at
 * AUDIT_CKEY_SEAL_PATH) or, with the shamir seal, stored inside the
 * barrier (AUDIT_CKEY_BARRIER_PATH). verify.h checks logs offline.
 *
 * A device enabled through the API may only write under the allowed
 * directories (audit_options or KEYHOLD_AUDIT_ALLOWED_DIRS), never follows
 * a symlink and creates its file with mode 0600 unless told otherwise.
 *
 * Thread safety: every function may be called from any thread. load and
 * unload are called by the core under its state lock.
 */
#ifndef KH_AUDIT_AUDIT_H
#define KH_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/assert.h"
#include "common/err.h"

struct kh_core;
struct kh_request;
struct kh_response;
struct kh_config_stanza;
struct token_entry;
struct audit_broker;

#define AUDIT_TABLE_PATH "core/audit"
#define AUDIT_SALT_PREFIX "sys/audit/salt/"
#define AUDIT_HEAD_PREFIX "sys/audit/head/"
#define AUDIT_CKEY_BARRIER_PATH "sys/audit/checkpoint-key"
#define AUDIT_CKEY_SEAL_PATH "core/seal/audit-checkpoint-key"
#define AUDIT_ALLOWED_DIRS_ENV "KEYHOLD_AUDIT_ALLOWED_DIRS"

/* What the server configuration says about audit. */
struct audit_options
{
    /* Devices declared in the configuration: type = device type; params
     * are its options, plus "path" (the mount path, default "<type>/").
     * Not owned; read only during audit_broker_create. */
    const struct kh_config_stanza *devices;
    size_t device_count;
    /* Directories API-enabled file devices may write under; when none,
     * AUDIT_ALLOWED_DIRS_ENV (colon-separated) is read; when neither is
     * set, no file device can be enabled through the API. */
    const char *const *allowed_dirs;
    size_t allowed_dir_count;
};

/* Counters of one device (sys/audit lists them as "keyhold_stats"). */
struct audit_device_stats
{
    uint64_t written;       /* records the device confirmed */
    uint64_t failed;        /* records a write attempt could not deliver */
    uint64_t spooled;       /* records waiting in the spool now */
    uint64_t lost;          /* records the spool or queue could not hold */
    uint64_t checkpoints;
    uint64_t seq;           /* last chain sequence number written */
    uint64_t queued;        /* records given to the writer and not yet
                             * chained (or counted lost) and tried */
};

/* Create an idle broker (no devices until audit_broker_load). core is not
 * owned: the broker reads core->barrier, core->storage and core->seal in
 * load/unload only. */
int audit_broker_create(struct kh_core *core,
                        const struct audit_options *options,
                        struct audit_broker **ret_broker, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;

/* Unload and free; accepts NULL. */
void audit_broker_free(struct audit_broker *b);

/* At unseal (core lock held): load the checkpoint key (creating it on
 * first use), the device table and salts, open every device and start
 * its writer. A device that fails to open is logged and stays in the
 * table, disabled, so requests are refused rather than served unaudited. */
int audit_broker_load(struct audit_broker *b, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;

/* At seal: drain the queues (bounded by each write_timeout), write a
 * final checkpoint, store the chain heads, close devices, wipe salts and
 * the checkpoint key. Idempotent. */
void audit_broker_unload(struct audit_broker *b);

/* SIGHUP: each file device writes a checkpoint, reopens its path (the
 * operator moved the old file away) and continues the chain there. */
void audit_broker_reopen(struct audit_broker *b);

/* The request gate. 0 when at least one device recorded the record or
 * when no device is enabled; KH_EUNAVAIL with errmsg "audit: no device
 * recorded the request" otherwise. token may be NULL (unauthenticated
 * paths). */
int audit_log_request(struct audit_broker *b, const struct kh_request *req,
                      const struct token_entry *token, char *errmsg,
                      size_t errmsg_size) KH_MUST_CHECK;
/* The same for the response (error != 0: error_text is the error shown
 * to the client). A response that carries a secret is confirmed only
 * after a sync on devices with sync_secrets. */
int audit_log_response(struct audit_broker *b, const struct kh_request *req,
                       const struct token_entry *token,
                       const struct kh_response *resp, int error,
                       const char *error_text, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;

/* sys/audit/:path. options: object of string values. */
int audit_broker_enable(struct audit_broker *b, const char *path,
                        const char *type, const char *description,
                        json_t *options, bool local, char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;
int audit_broker_disable(struct audit_broker *b, const char *path,
                         char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* {"<path>": {"type", "description", "options", "path", "local",
 *  "keyhold_stats"}}. *ret is new. */
int audit_broker_describe(struct audit_broker *b, json_t **ret) KH_MUST_CHECK;
/* sys/audit-hash: "hmac-sha256:<hex>" of input under path's salt into
 * out (size >= AUDIT_HASH_TEXT_BYTES). */
#define AUDIT_HASH_TEXT_BYTES (sizeof("hmac-sha256:") + 64)
int audit_broker_hash(struct audit_broker *b, const char *path,
                      const char *input, char *out, size_t out_size,
                      char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
/* sys/audit/verify-checkpoint: is line a checkpoint record whose MAC is
 * good? *ret_latest_count: the count of the last checkpoint the server
 * stored for that device (0 if none). */
int audit_broker_verify_checkpoint(struct audit_broker *b, const char *line,
                                   bool *ret_valid,
                                   uint64_t *ret_latest_count, char *errmsg,
                                   size_t errmsg_size) KH_MUST_CHECK;
int audit_broker_stats(struct audit_broker *b, const char *path,
                       struct audit_device_stats *ret) KH_MUST_CHECK;

#endif
