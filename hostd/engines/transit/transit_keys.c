/*
 * transit_keys.c - key management: keys/ (list), keys/:name (create,
 * read, delete), keys/:name/rotate, keys/:name/config, and export/
 * (Vault API: transit).
 *
 * Owns the creation rules (types, derived only for AEAD keys, managed
 * keys are aes256-gcm96, never derived and never exportable), the config
 * rules (min versions, one-way exportable and allow_plaintext_backup,
 * auto_rotate_period bounds), deletion only when deletion_allowed, and
 * export only when exportable. Every record change holds the mount's
 * write lock from read to store; a failed store leaves the cached key as
 * it was. It never puts key material in an error message.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define UNSUPPORTED "1 error occurred:\n\t* unsupported operation\n\n"

static int respond_view(const struct transit_call *call,
                        const struct transit_policy *pol)
{
    json_t *data = transit_key_view(call->state, pol);

    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

int transit_keys_list(const struct transit_call *call)
{
    struct kh_storage_list list = {NULL, 0};
    json_t *keys = NULL;
    size_t i;
    int r;

    transit_lock_read(call->state);
    r = view_list(call->br->view, "policy/", &list);
    transit_unlock(call->state);
    if (r != 0)
        return r;
    if (list.count == 0) {
        r = KH_ENOTFOUND;
        goto out;
    }
    keys = json_array();
    for (i = 0; keys != NULL && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0) {
            json_decref(keys);
            keys = NULL;
        }
    }
    r = keys != NULL ? kh_response_envelope(call->resp, call->br->req,
                                            json_pack("{s:o}", "keys", keys))
                     : KH_ENOMEM;
out:
    kh_storage_list_free(&list);
    return r;
}

int transit_keys_read(const struct transit_call *call)
{
    struct transit_policy *pol = NULL;
    int r;

    if (call->tail[0] != '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EMETHOD,
                         UNSUPPORTED);
    r = transit_name_check(call->name, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    r = transit_key_acquire(call, call->name, false, &pol);
    if (r == KH_ENOTFOUND)
        call->errmsg[0] = '\0';
    if (r != 0)
        return r;
    r = respond_view(call, pol);
    transit_unlock(call->state);
    return r;
}

/* The creation settings from the request fields into *ret. */
static int create_settings(const struct transit_call *call,
                           struct transit_policy *ret)
{
    const json_t *data = call->br->req->data;
    const char *type = transit_field_string(data, "type");
    const struct transit_type_info *info;
    bool convergent = false, present = false;
    char *e = call->errmsg;
    size_t n = call->errmsg_size;
    int r;

    info = transit_type_by_name(type != NULL ? type : "aes256-gcm96");
    if (info == NULL)
        return kh_errmsg(e, n, KH_EINVAL, "unknown key type \"%s\"",
                         type != NULL ? type : "");
    ret->type = info->type;
    r = transit_field_bool(data, "derived", false, &ret->derived, e, n);
    if (r == 0)
        r = transit_field_bool(data, "exportable", false, &ret->exportable, e,
                               n);
    if (r == 0)
        r = transit_field_bool(data, "allow_plaintext_backup", false,
                               &ret->allow_plaintext_backup, e, n);
    if (r == 0)
        r = transit_field_bool(data, "managed_key", false, &ret->managed, e, n);
    if (r == 0)
        r = transit_field_bool(data, "convergent_encryption", false,
                               &convergent, e, n);
    if (r == 0)
        r = transit_field_duration(data, "auto_rotate_period", &present,
                                   &ret->auto_rotate_period_s, e, n);
    if (r != 0)
        return r;
    if (convergent)
        return kh_errmsg(e, n, KH_EINVAL,
                         "convergent encryption is not supported");
    if (ret->derived && !info->aead)
        return kh_errmsg(e, n, KH_EINVAL,
                         "key derivation is supported only for "
                         "aes256-gcm96 and chacha20-poly1305 keys");
    return 0;
}

/* Rules that need the whole picture (managed keys, rotation period). */
static int create_check(const struct transit_call *call,
                        const struct transit_policy *s)
{
    char *e = call->errmsg;
    size_t n = call->errmsg_size;
    struct hsm *hsm = NULL;

    if (s->auto_rotate_period_s != 0 &&
        (s->auto_rotate_period_s < TRANSIT_AUTO_ROTATE_MIN_S ||
         s->auto_rotate_period_s > TRANSIT_AUTO_ROTATE_MAX_S))
        return kh_errmsg(e, n, KH_EINVAL,
                         "auto_rotate_period must be 0 or between 1h and "
                         "100 years");
    if (!s->managed)
        return 0;
    if (s->type != TRANSIT_AES256_GCM96)
        return kh_errmsg(e, n, KH_EINVAL,
                         "managed keys must be of type aes256-gcm96");
    if (s->derived || s->exportable || s->allow_plaintext_backup)
        return kh_errmsg(e, n, KH_EINVAL,
                         "managed keys cannot be derived, exportable or "
                         "backed up");
    return transit_managed_hsm(call, &hsm);
}

static int keys_create(const struct transit_call *call)
{
    struct transit_policy settings;
    struct transit_policy *pol = NULL;
    int r;

    memset(&settings, 0, sizeof(settings));
    r = create_settings(call, &settings);
    if (r == 0)
        r = create_check(call, &settings);
    if (r != 0)
        return r;
    transit_lock_write(call->state);
    r = transit_key_find_locked(call, call->name, &pol);
    if (r == KH_ENOTFOUND)
        r = transit_key_create_locked(call, call->name, &settings, &pol);
    if (r == 0)
        r = respond_view(call, pol);
    transit_unlock(call->state);
    return r;
}

static int keys_rotate(const struct transit_call *call)
{
    struct transit_policy *pol = NULL;
    int r;

    r = transit_key_acquire(call, call->name, true, &pol);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "key not found");
    if (r != 0)
        return r;
    r = transit_key_rotate_locked(call, pol);
    if (r == 0)
        r = respond_view(call, pol);
    transit_unlock(call->state);
    return r;
}

/* Apply the config fields to next (a copy of the key's settings). */
static int config_apply(const struct transit_call *call,
                        struct transit_policy *next)
{
    const json_t *data = call->br->req->data;
    char *e = call->errmsg;
    size_t n = call->errmsg_size;
    uint64_t min_dec = next->min_decryption_version;
    uint64_t min_enc = next->min_encryption_version;
    bool exportable = next->exportable, backup = next->allow_plaintext_backup;
    bool present = false;
    uint64_t period = 0;
    int r;

    r = transit_field_uint(data, "min_decryption_version", min_dec, UINT32_MAX,
                           &min_dec, e, n);
    if (r == 0)
        r = transit_field_uint(data, "min_encryption_version", min_enc,
                               UINT32_MAX, &min_enc, e, n);
    if (r == 0)
        r = transit_field_bool(data, "deletion_allowed", next->deletion_allowed,
                               &next->deletion_allowed, e, n);
    if (r == 0)
        r = transit_field_bool(data, "exportable", exportable, &exportable, e,
                               n);
    if (r == 0)
        r = transit_field_bool(data, "allow_plaintext_backup", backup, &backup,
                               e, n);
    if (r == 0)
        r = transit_field_duration(data, "auto_rotate_period", &present,
                                   &period, e, n);
    if (r != 0)
        return r;
    if (min_dec == 0)
        min_dec = 1; /* Vault: 0 means "leave at the first version" */
    if (min_dec > next->latest_version)
        return kh_errmsg(e, n, KH_EINVAL,
                         "cannot set min decryption version of %llu, latest "
                         "key version is %u",
                         (unsigned long long)min_dec,
                         (unsigned)next->latest_version);
    if (min_enc > next->latest_version || (min_enc != 0 && min_enc < min_dec))
        return kh_errmsg(e, n, KH_EINVAL,
                         "min encryption version must be 0 or between the "
                         "min decryption version and the latest version");
    if ((next->exportable && !exportable) ||
        (next->allow_plaintext_backup && !backup))
        return kh_errmsg(e, n, KH_EINVAL,
                         "exportable and allow_plaintext_backup cannot be "
                         "disabled once enabled");
    if (next->managed && (exportable || backup))
        return kh_errmsg(e, n, KH_EINVAL,
                         "managed keys cannot be exportable or backed up");
    next->min_decryption_version = (uint32_t)min_dec;
    next->min_encryption_version = (uint32_t)min_enc;
    next->exportable = exportable;
    next->allow_plaintext_backup = backup;
    if (present)
        next->auto_rotate_period_s = period;
    return create_check(call, next);
}

static int keys_config(const struct transit_call *call)
{
    struct transit_policy *pol = NULL;
    struct transit_policy old;
    int r;

    r = transit_key_acquire(call, call->name, true, &pol);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "no existing key named %s could be found",
                         call->name);
    if (r != 0)
        return r;
    old = *pol; /* settings only: versions are not touched */
    r = config_apply(call, pol);
    if (r == 0)
        r = transit_policy_store(call->br->view, pol);
    if (r != 0) {
        *pol = old;
        goto out;
    }
    r = respond_view(call, pol);
out:
    kh_wipe(&old, sizeof(old));
    transit_unlock(call->state);
    return r;
}

int transit_keys_write(const struct transit_call *call)
{
    int r = transit_name_check(call->name, call->errmsg, call->errmsg_size);

    if (r != 0)
        return r;
    if (call->tail[0] == '\0')
        return keys_create(call);
    if (strcmp(call->tail, "rotate") == 0)
        return keys_rotate(call);
    if (strcmp(call->tail, "config") == 0)
        return keys_config(call);
    return kh_errmsg(call->errmsg, call->errmsg_size, KH_ENOTFOUND,
                     "no handler for route \"%s\". route entry not found.",
                     call->br->req->path);
}

/* The 200 answer after a delete whose token objects were not all
 * destroyed, or 204. */
static int delete_answer(const struct transit_call *call, size_t failed)
{
    char text[256];
    json_t *warnings;
    int r;

    if (failed == 0) {
        kh_response_no_content(call->resp);
        return 0;
    }
    snprintf(text, sizeof(text),
             "the key was deleted but %zu HSM key object(s) labelled "
             TRANSIT_LABEL_PREFIX "%s-%s-v* could not be destroyed",
             failed, call->state->mount_uuid, call->name);
    r = kh_response_envelope(call->resp, call->br->req, NULL);
    if (r != 0)
        return r;
    warnings = json_pack("[s]", text);
    if (warnings == NULL ||
        json_object_set_new(call->resp->body, "warnings", warnings) != 0)
        return KH_ENOMEM;
    return 0;
}

int transit_keys_delete(const struct transit_call *call)
{
    struct transit_policy *pol = NULL;
    size_t failed = 0;
    int r;

    if (call->tail[0] != '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EMETHOD,
                         UNSUPPORTED);
    r = transit_name_check(call->name, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    r = transit_key_acquire(call, call->name, true, &pol);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "could not delete key; not found");
    if (r != 0)
        return r;
    if (!pol->deletion_allowed) {
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "deletion is not allowed for this key");
        goto out;
    }
    r = transit_policy_delete(call->br->view, pol->name);
    if (r != 0)
        goto out;
    if (pol->managed)
        (void)transit_managed_destroy(call, pol, 1, &failed);
    transit_cache_remove(call->state, call->name);
    r = delete_answer(call, failed);
out:
    transit_unlock(call->state);
    return r;
}
