/*
 * duration.c - kh_duration_parse(): lease TTLs and other durations written
 * in configuration files.
 *
 * Owns the duration grammar: a bare non-negative integer is seconds (as
 * Vault's parseutil.ParseDurationSecond does), otherwise a sequence of
 * <number><unit> with units s, m, h, d as in Go's time.ParseDuration
 * ("30m", "1h30m", "1.5h", "1d12h"), truncated to whole seconds. It must
 * never accept a sign, a space, an empty string or a value above
 * INT64_MAX seconds (so a result always fits in time_t).
 */
#include "config/config.h"

#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/err.h"

/* Fraction digits that count; further ones are below a millisecond even
 * in days and are dropped (the result is whole seconds anyway). */
#define DURATION_FRACTION_DIGITS 9

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static uint64_t unit_seconds(char c)
{
    switch (c) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    default:
        return 0;
    }
}

/* Digits at text[*i]; false on overflow. Counts them in *ret_digits. */
static bool parse_digits(const char *text, size_t *i, uint64_t *ret_value,
                         size_t *ret_digits)
{
    uint64_t v = 0;
    size_t n = 0;

    while (is_digit(text[*i])) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(text[*i] - '0'), &v))
            return false;
        (*i)++;
        n++;
    }
    *ret_value = v;
    *ret_digits = n;
    return true;
}

/* The fraction after '.', scaled by unit, in whole seconds. */
static uint64_t parse_fraction(const char *text, size_t *i, uint64_t unit_s)
{
    uint64_t frac = 0;
    uint64_t scale = 1;
    size_t n = 0;

    for (; is_digit(text[*i]); (*i)++, n++) {
        if (n >= DURATION_FRACTION_DIGITS)
            continue;
        frac = frac * 10 + (uint64_t)(text[*i] - '0');
        scale *= 10;
    }
    KH_ASSERT(frac < scale || n == 0);
    return frac * unit_s / scale;
}

/* One <number><unit> at text[*i], added to *total. */
static int parse_component(const char *text, size_t *i, uint64_t *total)
{
    uint64_t whole = 0;
    uint64_t part;
    uint64_t unit_s;
    size_t whole_digits;
    size_t frac_start;
    size_t unit_at;

    if (!parse_digits(text, i, &whole, &whole_digits))
        return KH_EINVAL;
    frac_start = *i;
    if (text[*i] == '.') {
        unit_at = *i + 1;
        while (is_digit(text[unit_at]))
            unit_at++;
    } else {
        unit_at = *i;
    }
    if (whole_digits == 0 && unit_at <= frac_start + 1)
        return KH_EINVAL; /* no digit at all: "h", ".h" */
    unit_s = unit_seconds(text[unit_at]);
    if (unit_s == 0)
        return KH_EINVAL; /* missing or unknown unit */
    if (__builtin_mul_overflow(whole, unit_s, &part))
        return KH_EINVAL;
    if (text[*i] == '.') {
        (*i)++;
        if (__builtin_add_overflow(part, parse_fraction(text, i, unit_s),
                                   &part))
            return KH_EINVAL;
    }
    KH_ASSERT(*i == unit_at);
    *i = unit_at + 1;
    if (__builtin_add_overflow(*total, part, total))
        return KH_EINVAL;
    return 0;
}

int kh_duration_parse(const char *text, uint64_t *ret_seconds)
{
    uint64_t total = 0;
    size_t digits = 0;
    size_t i = 0;
    int r = KH_EINVAL;

    KH_ASSERT(ret_seconds != NULL);
    if (text == NULL || text[0] == '\0')
        goto out;
    if (!parse_digits(text, &i, &total, &digits))
        goto out;
    if (text[i] != '\0') {
        /* Not a bare integer: reparse as Go-style components. Each one
         * consumes at least two bytes, so the loop ends. */
        i = 0;
        total = 0;
        while (text[i] != '\0') {
            r = parse_component(text, &i, &total);
            if (r < 0)
                goto out;
        }
    }
    if (total > (uint64_t)INT64_MAX) {
        r = KH_EINVAL;
        goto out;
    }
    *ret_seconds = total;
    r = 0; /* success */
out:
    return r;
}
