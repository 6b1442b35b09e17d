/*
 * log.h - structured logs to stderr.
 *
 * Formats: "standard" (time [LEVEL] message) and "json" (one object per
 * line). The level may change at run time (SIGHUP reload); reads and writes
 * of it are atomic. Only the caller that owns an outcome logs (house style):
 * library code returns errors instead. Never pass a secret here.
 */
#ifndef KH_COMMON_LOG_H
#define KH_COMMON_LOG_H

#include <stdbool.h>

enum kh_log_level {
    KH_LOG_TRACE = 0,
    KH_LOG_DEBUG,
    KH_LOG_INFO,
    KH_LOG_WARN,
    KH_LOG_ERROR,
    KH_LOG_OFF,
};

/* Parse "trace|debug|info|warn|warning|error|off"; returns 0 or KH_EINVAL. */
int kh_log_level_parse(const char *text, enum kh_log_level *ret_level);
void kh_log_set_level(enum kh_log_level level);
void kh_log_set_json(bool json);
bool kh_log_enabled(enum kh_log_level level);

void kh_log(enum kh_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_trace(...) kh_log(KH_LOG_TRACE, __VA_ARGS__)
#define log_debug(...) kh_log(KH_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) kh_log(KH_LOG_INFO, __VA_ARGS__)
#define log_warn(...) kh_log(KH_LOG_WARN, __VA_ARGS__)
#define log_error(...) kh_log(KH_LOG_ERROR, __VA_ARGS__)

#endif
