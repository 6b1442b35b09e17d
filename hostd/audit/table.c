/*
 * table.c - the audit device table: building one device (options, open,
 * salt, writer), storing the API-enabled ones in the barrier at
 * AUDIT_TABLE_PATH and loading them, with the configured ones, at unseal.
 *
 * The table is JSON: {"entries": [{"path", "type", "description",
 * "options", "local"}]}. Salts live at AUDIT_SALT_PREFIX<path> (32 random
 * bytes, created on first enable). Callers hold broker->lock for writing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "barrier/barrier.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"

int audit_path_normalise(const char *path, char out[AUDIT_PATH_BYTES_MAX])
{
    size_t len, i;

    if (path == NULL)
        return KH_EINVAL;
    len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    if (len == 0 || len + 2 > AUDIT_PATH_BYTES_MAX || path[0] == '/')
        return KH_EINVAL;
    for (i = 0; i < len; i++) {
        char c = path[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == '/'))
            return KH_EINVAL;
    }
    if (strstr(path, "..") != NULL || strstr(path, "//") != NULL)
        return KH_EINVAL;
    memcpy(out, path, len);
    out[len] = '/';
    out[len + 1] = '\0';
    return 0;
}

static int salt_load(struct audit_dev *dev)
{
    char key[KH_STORAGE_KEY_BYTES_MAX];
    struct barrier *barrier = dev->broker->core->barrier;
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    audit_dev_key(AUDIT_SALT_PREFIX, dev->path, key, sizeof(key));
    r = barrier_get(barrier, key, &value, &len);
    if (r == 0 && len != AUDIT_SALT_BYTES)
        r = KH_ECORRUPT;
    if (r == 0)
        memcpy(dev->salt, value, AUDIT_SALT_BYTES);
    kh_free_secret(value, len);
    if (r != KH_ENOTFOUND)
        return r;
    r = kh_random_bytes(dev->salt, AUDIT_SALT_BYTES);
    if (r == 0)
        r = barrier_put(barrier, key, dev->salt, AUDIT_SALT_BYTES);
    return r;
}

void audit_table_dev_free(struct audit_dev *dev)
{
    if (dev == NULL)
        return;
    audit_dev_stop(dev);
    if (dev->impl != NULL)
        dev->ops->close(dev->impl);
    if (dev->locks_ready) {
        pthread_mutex_destroy(&dev->lock);
        pthread_cond_destroy(&dev->cond);
    }
    json_decref(dev->options);
    kh_wipe(dev->salt, sizeof(dev->salt));
    free(dev);
}

static int dev_fill(struct audit_dev *dev, const char *path, const char *type,
                    const char *description, const json_t *options,
                    char *errmsg, size_t errmsg_size)
{
    if (audit_path_normalise(path, dev->path) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid audit path \"%s\"", path ? path : "");
    dev->ops = audit_device_ops_find(type);
    if (dev->ops == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "unknown audit device type \"%s\"",
                         type ? type : "");
    snprintf(dev->type, sizeof(dev->type), "%s", type);
    if (description != NULL &&
        strlen(description) >= sizeof(dev->description))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "description too long");
    snprintf(dev->description, sizeof(dev->description), "%s",
             description ? description : "");
    dev->options = options != NULL ? json_deep_copy(options) : json_object();
    return dev->options != NULL ? 0 : KH_ENOMEM;
}

int audit_table_dev_new(struct audit_broker *b, const char *path,
                        const char *type, const char *description,
                        const json_t *options, bool local, bool from_config,
                        struct audit_dev **ret_dev, char *errmsg,
                        size_t errmsg_size)
{
    struct audit_device_params params = {0};
    struct audit_dev *dev = calloc(1, sizeof(*dev));
    int r;

    if (dev == NULL)
        return KH_ENOMEM;
    dev->broker = b;
    dev->local = local;
    dev->from_config = from_config;
    r = dev_fill(dev, path, type, description, options, errmsg, errmsg_size);
    if (r == 0)
        r = audit_dev_configure(dev, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    params = (struct audit_device_params){.path = dev->path,
                                          .options = dev->options,
                                          .from_config = from_config,
                                          .dirs = &b->dirs};
    r = dev->ops->open(&params, &dev->impl, errmsg, errmsg_size);
    if (r == 0)
        r = salt_load(dev);
    if (r == 0)
        r = audit_dev_start(dev);
    if (r != 0) {
        /* Half-open: the caller may keep it in the table, disabled. */
        snprintf(dev->error, sizeof(dev->error), "%s",
                 errmsg[0] ? errmsg : kh_strerror(r));
        if (dev->impl != NULL)
            dev->ops->close(dev->impl);
        dev->impl = NULL;
        *ret_dev = dev;
        return r;
    }
    *ret_dev = dev;
    dev = NULL;
    r = 0; /* success */
out:
    audit_table_dev_free(dev);
    return r;
}

int audit_table_store(struct audit_broker *b)
{
    json_t *entries = json_array(), *doc;
    char *text = NULL;
    size_t i;
    int r = KH_ENOMEM;

    for (i = 0; entries != NULL && i < b->dev_count; i++) {
        const struct audit_dev *d = b->devs[i];
        if (d->from_config)
            continue;
        json_array_append_new(
            entries, json_pack("{s:s, s:s, s:s, s:O, s:b}", "path", d->path,
                               "type", d->type, "description",
                               d->description, "options", d->options,
                               "local", d->local));
    }
    doc = json_pack("{s:o}", "entries", entries);
    if (doc != NULL)
        text = json_dumps(doc, JSON_COMPACT);
    if (text != NULL)
        r = barrier_put(b->core->barrier, AUDIT_TABLE_PATH,
                        (const uint8_t *)text, strlen(text));
    free(text);
    json_decref(doc);
    return r;
}

/* Add one device; a device that cannot open is logged and kept in the
 * table, disabled, so requests fail closed until it is fixed. */
static void load_one(struct audit_broker *b, const json_t *e,
                     bool from_config)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct audit_dev *dev = NULL;
    const char *path = json_string_value(json_object_get(e, "path"));
    const char *type = json_string_value(json_object_get(e, "type"));
    int r;

    if (b->dev_count == AUDIT_DEVICES_MAX) {
        log_error("audit: more than %d devices", AUDIT_DEVICES_MAX);
        return;
    }
    r = audit_table_dev_new(
        b, path, type,
        json_string_value(json_object_get(e, "description")),
        json_object_get(e, "options"),
        json_is_true(json_object_get(e, "local")), from_config, &dev, errmsg,
        sizeof(errmsg));
    if (r != 0)
        log_error("audit: device %s (%s) cannot record: %s",
                  path ? path : "?", type ? type : "?",
                  errmsg[0] ? errmsg : kh_strerror(r));
    if (dev != NULL)
        b->devs[b->dev_count++] = dev;
}

int audit_table_load(struct audit_broker *b, char *errmsg,
                     size_t errmsg_size)
{
    uint8_t *value = NULL;
    size_t len = 0, i;
    json_t *doc = NULL, *entries, *e;
    int r;

    r = barrier_get(b->core->barrier, AUDIT_TABLE_PATH, &value, &len);
    if (r != 0 && r != KH_ENOTFOUND)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "audit: cannot read the device table");
    if (r == 0) {
        doc = json_loadb((const char *)value, len, 0, NULL);
        free(value);
        entries = json_object_get(doc, "entries");
        if (!json_is_array(entries)) {
            json_decref(doc);
            return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                             "audit: the device table is malformed");
        }
        json_array_foreach(entries, i, e)
            load_one(b, e, false);
    }
    json_decref(doc);
    json_array_foreach(b->config_devices, i, e)
        load_one(b, e, true);
    return 0;
}
