/*
 * log.c - the stderr logger. One fprintf per line under stdio's own lock,
 * so lines from worker threads never interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

static int log_level = KH_LOG_INFO;
static int log_json;

static const char *const level_names[] = {"trace", "debug", "info",
                                          "warn",  "error", "off"};

int kh_log_level_parse(const char *text, enum kh_log_level *ret_level)
{
    size_t i;

    if (text == NULL)
        return KH_EINVAL;
    if (strcmp(text, "warning") == 0) {
        *ret_level = KH_LOG_WARN;
        return 0;
    }
    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *ret_level = (enum kh_log_level)i;
            return 0;
        }
    }
    return KH_EINVAL;
}

void kh_log_set_level(enum kh_log_level level)
{
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

void kh_log_set_json(bool json)
{
    __atomic_store_n(&log_json, json ? 1 : 0, __ATOMIC_RELAXED);
}

bool kh_log_enabled(enum kh_log_level level)
{
    return (int)level >= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

/* Escape msg for a JSON string into out (always NUL-terminated). */
static void json_escape(const char *msg, char *out, size_t size)
{
    size_t o = 0;

    for (; *msg != '\0' && o + 7 < size; msg++) {
        unsigned char c = (unsigned char)*msg;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

void kh_log(enum kh_log_level level, const char *fmt, ...)
{
    char msg[2048];
    char escaped[4096];
    char stamp[64];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (!kh_log_enabled(level) || level >= KH_LOG_OFF)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);

    if (__atomic_load_n(&log_json, __ATOMIC_RELAXED)) {
        json_escape(msg, escaped, sizeof(escaped));
        fprintf(stderr, "{\"@timestamp\":\"%s\",\"@level\":\"%s\","
                        "\"@module\":\"keyholdd\",\"@message\":\"%s\"}\n",
                stamp, level_names[level], escaped);
    } else {
        fprintf(stderr, "%s [%s] %s\n", stamp, level_names[level], msg);
    }
}
