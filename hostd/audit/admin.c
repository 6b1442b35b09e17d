/*
 * admin.c - what sys/audit* asks of the broker: enable, disable, describe,
 * hash, stats and checkpoint verification. Changes of the table run under
 * the broker's write lock and are stored before they answer; a device
 * leaves the table (and its salt and chain head are deleted) before its
 * writer drains, outside the lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "barrier/barrier.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"

static struct audit_dev *find_locked(struct audit_broker *b, const char *path,
                                     size_t *ret_index)
{
    char norm[AUDIT_PATH_BYTES_MAX];
    size_t i;

    if (audit_path_normalise(path, norm) != 0)
        return NULL;
    for (i = 0; i < b->dev_count; i++)
        if (strcmp(b->devs[i]->path, norm) == 0) {
            if (ret_index != NULL)
                *ret_index = i;
            return b->devs[i];
        }
    return NULL;
}

int audit_broker_enable(struct audit_broker *b, const char *path,
                        const char *type, const char *description,
                        json_t *options, bool local, char *errmsg,
                        size_t errmsg_size)
{
    struct audit_dev *dev = NULL;
    int r;

    pthread_rwlock_wrlock(&b->lock);
    r = KH_ESEALED;
    if (!b->loaded)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "path already in use");
    if (find_locked(b, path, NULL) != NULL)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                  "at most %d audit devices", AUDIT_DEVICES_MAX);
    if (b->dev_count == AUDIT_DEVICES_MAX)
        goto out;
    errmsg[0] = '\0';
    r = audit_table_dev_new(b, path, type, description, options, local,
                            false, &dev, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    b->devs[b->dev_count++] = dev;
    r = audit_table_store(b);
    if (r != 0) {
        b->devs[--b->dev_count] = NULL;
        kh_errmsg(errmsg, errmsg_size, r, "cannot store the audit table");
        goto out;
    }
    dev = NULL;
    r = 0; /* success */
out:
    pthread_rwlock_unlock(&b->lock);
    audit_table_dev_free(dev);
    return r;
}

static void forget_device_state(struct audit_broker *b, const char *path)
{
    char key[KH_STORAGE_KEY_BYTES_MAX];

    int r;

    audit_dev_key(AUDIT_SALT_PREFIX, path, key, sizeof(key));
    r = barrier_delete(b->core->barrier, key);
    audit_dev_key(AUDIT_HEAD_PREFIX, path, key, sizeof(key));
    if (barrier_delete(b->core->barrier, key) != 0 || r != 0)
        log_warn("audit: device %s disabled, but its salt or chain head "
                 "could not be deleted", path);
}

int audit_broker_disable(struct audit_broker *b, const char *path,
                         char *errmsg, size_t errmsg_size)
{
    struct audit_dev *dev = NULL;
    size_t i = 0;
    int r = 0;

    pthread_rwlock_wrlock(&b->lock);
    dev = find_locked(b, path, &i);
    if (dev == NULL)
        goto out; /* Vault: disabling a missing device succeeds */
    if (dev->from_config) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "audit device \"%s\" is declared in the server "
                      "configuration", dev->path);
        dev = NULL;
        goto out;
    }
    memmove(&b->devs[i], &b->devs[i + 1],
            (b->dev_count - i - 1) * sizeof(b->devs[0]));
    b->devs[--b->dev_count] = NULL;
    r = audit_table_store(b);
    if (r != 0) {
        b->devs[b->dev_count++] = dev;
        dev = NULL;
        kh_errmsg(errmsg, errmsg_size, r, "cannot store the audit table");
        goto out;
    }
out:
    pthread_rwlock_unlock(&b->lock);
    if (dev != NULL) {
        char gone[AUDIT_PATH_BYTES_MAX];
        snprintf(gone, sizeof(gone), "%s", dev->path);
        audit_table_dev_free(dev);
        forget_device_state(b, gone);
    }
    return r;
}

static json_t *stats_json(struct audit_dev *d)
{
    struct audit_device_stats s;

    pthread_mutex_lock(&d->lock);
    s = d->stats;
    pthread_mutex_unlock(&d->lock);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:s}",
                     "written", (json_int_t)s.written, "failed",
                     (json_int_t)s.failed, "spooled", (json_int_t)s.spooled,
                     "lost", (json_int_t)s.lost, "checkpoints",
                     (json_int_t)s.checkpoints, "seq", (json_int_t)s.seq,
                     "queued", (json_int_t)s.queued, "recording",
                     d->thread_running, "error", d->error);
}

int audit_broker_describe(struct audit_broker *b, json_t **ret)
{
    json_t *all = json_object();
    size_t i;
    int r = 0;

    if (all == NULL)
        return KH_ENOMEM;
    pthread_rwlock_rdlock(&b->lock);
    for (i = 0; i < b->dev_count && r == 0; i++) {
        struct audit_dev *d = b->devs[i];
        json_t *e = json_pack("{s:s, s:s, s:O, s:s, s:b, s:o}", "type",
                              d->type, "description", d->description,
                              "options", d->options, "path", d->path,
                              "local", d->local, "keyhold_stats",
                              stats_json(d));
        if (e == NULL || json_object_set_new(all, d->path, e) != 0)
            r = KH_ENOMEM;
    }
    pthread_rwlock_unlock(&b->lock);
    if (r != 0) {
        json_decref(all);
        return r;
    }
    *ret = all;
    return 0;
}

int audit_broker_hash(struct audit_broker *b, const char *path,
                      const char *input, char *out, size_t out_size,
                      char *errmsg, size_t errmsg_size)
{
    struct audit_dev *d;
    int r = 0;

    KH_ASSERT(out_size >= AUDIT_HASH_TEXT_BYTES);
    pthread_rwlock_rdlock(&b->lock);
    d = find_locked(b, path, NULL);
    if (d == NULL)
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "unknown audit backend");
    else
        audit_hash_text(d->salt, input, strlen(input), out);
    pthread_rwlock_unlock(&b->lock);
    return r;
}

int audit_broker_stats(struct audit_broker *b, const char *path,
                       struct audit_device_stats *ret)
{
    struct audit_dev *d;
    int r = KH_ENOTFOUND;

    pthread_rwlock_rdlock(&b->lock);
    d = find_locked(b, path, NULL);
    if (d != NULL && d->locks_ready) {
        pthread_mutex_lock(&d->lock);
        *ret = d->stats;
        pthread_mutex_unlock(&d->lock);
        r = 0;
    }
    pthread_rwlock_unlock(&b->lock);
    return r;
}

static uint64_t latest_checkpoint(struct audit_broker *b, const char *device)
{
    char key[KH_STORAGE_KEY_BYTES_MAX];
    uint8_t *value = NULL;
    size_t len = 0;
    json_int_t count = 0;
    json_t *doc;

    audit_dev_key(AUDIT_HEAD_PREFIX, device, key, sizeof(key));
    if (barrier_get(b->core->barrier, key, &value, &len) != 0)
        return 0;
    doc = json_loadb((const char *)value, len, 0, NULL);
    free(value);
    if (json_unpack(doc, "{s:I}", "checkpoint_count", &count) != 0 ||
        count < 0)
        count = 0;
    json_decref(doc);
    return (uint64_t)count;
}

int audit_broker_verify_checkpoint(struct audit_broker *b, const char *line,
                                   bool *ret_valid,
                                   uint64_t *ret_latest_count, char *errmsg,
                                   size_t errmsg_size)
{
    const char *start = strstr(line, AUDIT_CHAIN_MARKER);
    const char *device = NULL, *head = NULL, *mac = NULL;
    char expect[AUDIT_MAC_TEXT_BYTES];
    json_int_t count = -1;
    json_t *doc = NULL;
    int r = KH_EINVAL;

    if (start != NULL)
        doc = json_loads(start, 0, NULL);
    if (json_unpack(doc, "{s:{s:s, s:I, s:s, s:s}}", "checkpoint", "device",
                    &device, "count", &count, "head", &head, "mac",
                    &mac) != 0 ||
        count < 0 || strlen(head) != 64 || strlen(mac) + 1 != sizeof(expect)) {
        kh_errmsg(errmsg, errmsg_size, r, "not a checkpoint record");
        goto out;
    }
    pthread_rwlock_rdlock(&b->lock);
    r = b->ckey != NULL ? 0 : KH_ESEALED;
    if (r == 0)
        audit_checkpoint_mac(b->ckey, device, (uint64_t)count, head, expect);
    pthread_rwlock_unlock(&b->lock);
    if (r != 0)
        goto out;
    *ret_valid = kh_ct_equal(expect, mac, sizeof(expect) - 1);
    *ret_latest_count = latest_checkpoint(b, device);
    r = 0; /* success */
out:
    json_decref(doc);
    return r;
}
