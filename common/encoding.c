/* encoding.c - hex, base64, UUID and time formatting. */
#include "common/encoding.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

static const char hex_digits[] = "0123456789abcdef";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void kh_hex_encode(const uint8_t *in, size_t len, char *out)
{
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int kh_hex_decode(const char *in, size_t in_len, uint8_t *out,
                  size_t out_size, size_t *ret_len)
{
    size_t i;

    if (in_len % 2 != 0 || in_len / 2 > out_size)
        return KH_EINVAL;
    for (i = 0; i < in_len / 2; i++) {
        int hi = hex_value(in[2 * i]);
        int lo = hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return KH_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *ret_len = in_len / 2;
    return 0;
}

size_t kh_base64_encoded_len(size_t len)
{
    return (len + 2) / 3 * 4;
}

void kh_base64_encode(const uint8_t *in, size_t len, bool pad, char *out)
{
    size_t i;
    size_t o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = b64_alphabet[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = strchr(b64_alphabet, c);
    return p == NULL ? -1 : (int)(p - b64_alphabet);
}

int kh_base64_decode(const char *in, size_t in_len, uint8_t *out,
                     size_t out_size, size_t *ret_len)
{
    uint32_t acc = 0;
    size_t bits = 0;
    size_t o = 0;
    size_t i;

    while (in_len > 0 && in[in_len - 1] == '=')
        in_len--;
    if (in_len % 4 == 1)
        return KH_EINVAL;
    for (i = 0; i < in_len; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return KH_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= out_size)
                return KH_EINVAL;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *ret_len = o;
    return 0;
}

int kh_random_base62(char *out, size_t count)
{
    static const char base62[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint8_t buf[64];
    size_t done = 0;
    int r = 0;

    while (done < count && r == 0) {
        size_t i;
        r = kh_random_bytes(buf, sizeof(buf));
        /* 248 = 4 * 62: bytes at or above it are dropped, so no bias. */
        for (i = 0; r == 0 && i < sizeof(buf) && done < count; i++) {
            if (buf[i] < 248)
                out[done++] = base62[buf[i] % 62];
        }
    }
    out[count] = '\0';
    kh_wipe(buf, sizeof(buf));
    return r;
}

/* Request IDs are not secrets: draw them from a per-thread pool of random
 * bytes so a request costs no getrandom() system call. */
#define UUID_POOL_BYTES 4096

int kh_uuid_generate(char out[KH_UUID_STR_LEN + 1])
{
    static __thread uint8_t pool[UUID_POOL_BYTES];
    static __thread size_t pool_used = UUID_POOL_BYTES;
    uint8_t b[16];
    int r;

    if (pool_used + sizeof(b) > sizeof(pool)) {
        r = kh_random_bytes(pool, sizeof(pool));
        if (r != 0)
            return r;
        pool_used = 0;
    }
    memcpy(b, pool + pool_used, sizeof(b));
    pool_used += sizeof(b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 hex digits; no printf on the request path. */
    kh_hex_encode(b, 4, out);
    out[8] = '-';
    kh_hex_encode(b + 4, 2, out + 9);
    out[13] = '-';
    kh_hex_encode(b + 6, 2, out + 14);
    out[18] = '-';
    kh_hex_encode(b + 8, 2, out + 19);
    out[23] = '-';
    kh_hex_encode(b + 10, 6, out + 24);
    return 0;
}

void kh_time_format(const struct timespec *ts, char out[KH_TIME_STR_SIZE])
{
    struct tm tm;

    gmtime_r(&ts->tv_sec, &tm);
    snprintf(out, KH_TIME_STR_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ts->tv_nsec);
}
