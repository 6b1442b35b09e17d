/*
 * mount_codec.c - stored and API forms of mount entries. Mount entries
 * hold no secrets; the stored form still lives inside the barrier.
 */
#include "mount/mount_codec.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

static json_t *entry_stored(const struct mount_entry *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:O, s:I, "
                     "s:I}",
                     "path", m->path, "type", m->type, "uuid", m->uuid,
                     "accessor", m->accessor, "description", m->description,
                     "local", m->local, "seal_wrap", m->seal_wrap, "builtin",
                     m->builtin, "options", m->options, "default_lease_ttl",
                     (json_int_t)m->default_lease_ttl_s, "max_lease_ttl",
                     (json_int_t)m->max_lease_ttl_s);
}

char *mount_codec_encode(const struct mount_entry *const *entries,
                         size_t count, bool is_auth)
{
    json_t *list = json_array();
    char *text = NULL;
    size_t i;

    if (list == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        if (entries[i]->is_auth != is_auth)
            continue;
        if (json_array_append_new(list, entry_stored(entries[i])) != 0)
            goto out;
    }
    text = json_dumps(list, JSON_COMPACT);
out:
    json_decref(list);
    return text;
}

static int copy_field(char *dst, size_t size, const char *src)
{
    if (strlen(src) >= size)
        return KH_ECORRUPT;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int entry_decode(json_t *item, struct mount_entry *m)
{
    const char *path, *type, *uuid, *accessor, *description;
    json_t *options;
    json_int_t dttl, mttl;
    int local, seal_wrap, builtin;
    int r;

    if (json_unpack(item, "{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:o, "
                          "s:I, s:I}",
                    "path", &path, "type", &type, "uuid", &uuid, "accessor",
                    &accessor, "description", &description, "local", &local,
                    "seal_wrap", &seal_wrap, "builtin", &builtin, "options",
                    &options, "default_lease_ttl", &dttl, "max_lease_ttl",
                    &mttl) != 0 ||
        !json_is_object(options) || dttl < 0 || mttl < 0)
        return KH_ECORRUPT;
    r = copy_field(m->path, sizeof(m->path), path);
    if (r == 0)
        r = copy_field(m->type, sizeof(m->type), type);
    if (r == 0)
        r = copy_field(m->uuid, sizeof(m->uuid), uuid);
    if (r == 0)
        r = copy_field(m->accessor, sizeof(m->accessor), accessor);
    if (r == 0)
        r = copy_field(m->description, sizeof(m->description), description);
    if (r != 0)
        return r;
    m->is_auth = strncmp(m->path, "auth/", 5) == 0;
    m->local = local;
    m->seal_wrap = seal_wrap;
    m->builtin = builtin;
    m->options = json_incref(options);
    m->default_lease_ttl_s = (uint64_t)dttl;
    m->max_lease_ttl_s = (uint64_t)mttl;
    return 0;
}

int mount_codec_decode(const char *text, size_t len,
                       struct mount_entry **entries, size_t max,
                       size_t *count)
{
    json_t *list = json_loadb(text, len, 0, NULL);
    size_t i;
    int r = KH_ECORRUPT;

    if (list == NULL || !json_is_array(list))
        goto out;
    r = KH_ELIMIT;
    if (*count + json_array_size(list) > max)
        goto out;
    for (i = 0; i < json_array_size(list); i++) {
        struct mount_entry *m = calloc(1, sizeof(*m));
        r = KH_ENOMEM;
        if (m == NULL)
            goto out;
        r = entry_decode(json_array_get(list, i), m);
        if (r != 0) {
            json_decref(m->options);
            free(m);
            goto out;
        }
        entries[(*count)++] = m;
    }
    r = 0; /* success */
out:
    json_decref(list);
    return r;
}

json_t *mount_codec_describe(const struct mount_entry *m)
{
    json_t *config = json_pack("{s:I, s:I, s:b}", "default_lease_ttl",
                               (json_int_t)m->default_lease_ttl_s,
                               "max_lease_ttl",
                               (json_int_t)m->max_lease_ttl_s,
                               "force_no_cache", 0);

    if (m->is_auth && config != NULL)
        json_object_set_new(config, "token_type",
                            json_string("default-service"));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:O, s:b, s:b, s:b, "
                     "s:s, s:s, s:s}",
                     "type", m->type, "description", m->description,
                     "accessor", m->accessor, "uuid", m->uuid, "config",
                     config, "options", m->options, "local", m->local,
                     "seal_wrap", m->seal_wrap, "external_entropy_access", 0,
                     "plugin_version", "", "running_plugin_version",
                     "builtin", "running_sha256", "");
}
