/*
 * device.h - the audit device interface (house style): one const
 * vtable per device type, one file each (file.c, socket.c, syslog.c).
 *
 * A device only moves bytes: it never formats, hashes or chains records
 * (the broker and writer.c do) and never logs. Its functions are called
 * from the device's one writer thread only, so an implementation needs no
 * lock of its own. Every write has a deadline (CLOCK_MONOTONIC); a device
 * whose peer does not take bytes returns KH_EUNAVAIL at the deadline
 * instead of blocking.
 */
#ifndef KH_AUDIT_DEVICE_H
#define KH_AUDIT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include <jansson.h>

#include "common/assert.h"

#define AUDIT_HASH_BYTES 32
#define AUDIT_DIRS_MAX 16
#define AUDIT_DIR_BYTES_MAX 1024

/* Where API-enabled devices may write (file.c enforces it). */
struct audit_dir_policy
{
    char dirs[AUDIT_DIRS_MAX][AUDIT_DIR_BYTES_MAX];
    size_t count;
};

struct audit_device_params
{
    const char *path;           /* the mount path, "file/" */
    const json_t *options;      /* object of string values */
    bool from_config;           /* declared by the operator: any directory */
    const struct audit_dir_policy *dirs;
};

struct audit_device_ops
{
    const char *type;
    /* Keep lines a write could not deliver and replay them in order. */
    bool spool;
    /* Validate options ("unknown option" is an error) and open. */
    int (*open)(const struct audit_device_params *params, void **ret_impl,
                char *errmsg, size_t errmsg_size);
    /* Deliver count lines (each ends in '\n') in order. *ret_done: how
     * many whole lines were delivered, also on failure. A spooling
     * device may deliver lines again (the socket device re-sends its
     * in-flight window after a reconnect: at least once) and may keep a
     * line it delivered in part, to finish it in the next call, whose
     * first line is then that one (the writer retries its spool from
     * the head). */
    int (*write)(void *impl, const struct iovec *lines, size_t count,
                 const struct timespec *deadline, size_t *ret_done);
    /* Make written lines durable (NULL: nothing to do). */
    int (*sync)(void *impl);
    /* Reopen after rotation (NULL: nothing to reopen). */
    int (*reopen)(void *impl);
    /* The last line already on the device (NULL or KH_ENOTFOUND when
     * unknown or empty): *ret_line is malloc'ed, without newline. */
    int (*tail)(void *impl, char **ret_line, size_t *ret_len);
    void (*close)(void *impl);
};

extern const struct audit_device_ops audit_file_ops;
extern const struct audit_device_ops audit_socket_ops;
extern const struct audit_device_ops audit_syslog_ops;

/* The device type named type, or NULL. */
const struct audit_device_ops *audit_device_ops_find(const char *type);

/* An option as a string: NULL when absent. */
const char *audit_option(const json_t *options, const char *name);
/* KH_EINVAL with errmsg when options has a key not in names. */
int audit_options_check(const json_t *options, const char *const *names,
                        size_t count, char *errmsg, size_t errmsg_size);
/* Parse a boolean option ("true"/"false"/"1"/"0"; absent: def). */
int audit_option_bool(const json_t *options, const char *name, bool def,
                      bool *ret, char *errmsg, size_t errmsg_size);
/* Milliseconds from a duration option ("2s", "500ms", "2"; absent: def). */
int audit_option_ms(const json_t *options, const char *name, uint64_t def,
                    uint64_t *ret, char *errmsg, size_t errmsg_size);

/* Milliseconds until deadline (0 when past), for poll(). */
int audit_ms_until(const struct timespec *deadline);
/* now (CLOCK_MONOTONIC) + ms into *ret. */
void audit_deadline_in(uint64_t ms, struct timespec *ret);

#endif
