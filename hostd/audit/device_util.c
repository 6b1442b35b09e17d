/*
 * device_util.c - what every audit device shares: the registry of device
 * types, option parsing and deadline arithmetic. Pure helpers; never does
 * I/O.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/device.h"
#include "common/err.h"

/* Options the broker handles for every device (audit_internal.h). */
static const char *const common_options[] = {
    "log_raw", "hmac_accessor", "prefix", "write_timeout", "sync_secrets",
    "checkpoint_interval", "format", "spool_max_records", "spool_max_bytes",
};

const struct audit_device_ops *audit_device_ops_find(const char *type)
{
    static const struct audit_device_ops *const all[] = {
        &audit_file_ops, &audit_socket_ops, &audit_syslog_ops,
    };
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(all); i++)
        if (type != NULL && strcmp(all[i]->type, type) == 0)
            return all[i];
    return NULL;
}

const char *audit_option(const json_t *options, const char *name)
{
    json_t *v = json_object_get(options, name);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool name_listed(const char *key, const char *const *names,
                        size_t count)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (strcmp(key, names[i]) == 0)
            return true;
    return false;
}

int audit_options_check(const json_t *options, const char *const *names,
                        size_t count, char *errmsg, size_t errmsg_size)
{
    const char *key;
    json_t *value;

    if (options == NULL)
        return 0;
    if (!json_is_object(options))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "options must be an object");
    json_object_foreach((json_t *)options, key, value) {
        if (!json_is_string(value))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "option \"%s\" must be a string", key);
        if (!name_listed(key, names, count) &&
            !name_listed(key, common_options, KH_ARRAY_LEN(common_options)))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "unknown option \"%s\"", key);
    }
    return 0;
}

int audit_option_bool(const json_t *options, const char *name, bool def,
                      bool *ret, char *errmsg, size_t errmsg_size)
{
    const char *v = audit_option(options, name);

    if (v == NULL) {
        *ret = def;
        return 0;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        *ret = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *ret = false;
        return 0;
    }
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "option \"%s\" must be true or false", name);
}

int audit_option_ms(const json_t *options, const char *name, uint64_t def,
                    uint64_t *ret, char *errmsg, size_t errmsg_size)
{
    const char *v = audit_option(options, name);
    unsigned long long n;
    char *end = NULL;
    uint64_t scale = 1000;

    if (v == NULL) {
        *ret = def;
        return 0;
    }
    errno = 0;
    n = strtoull(v, &end, 10);
    if (end == v || errno != 0 || v[0] == '-')
        goto bad;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "m") == 0)
        scale = 60000;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        goto bad;
    if (n == 0 || n > 3600000ull / scale)
        goto bad;
    *ret = n * scale;
    return 0;
bad:
    return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                     "option \"%s\" must be a duration between 1ms and 1h "
                     "(\"2s\", \"500ms\")", name);
}

int audit_ms_until(const struct timespec *deadline)
{
    struct timespec now;
    int64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
    if (ms <= 0)
        return 0;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void audit_deadline_in(uint64_t ms, struct timespec *ret)
{
    clock_gettime(CLOCK_MONOTONIC, ret);
    ret->tv_sec += (time_t)(ms / 1000);
    ret->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ret->tv_nsec >= 1000000000L) {
        ret->tv_sec += 1;
        ret->tv_nsec -= 1000000000L;
    }
}
