/*
 * transit_ciphertext.c - the "vault:v<N>:<base64>" text that carries
 * transit ciphertexts, signatures and HMACs (Vault API: transit).
 *
 * Owns formatting and parsing only: the version is a decimal number in
 * 1..UINT32_MAX without sign or leading zeros, the payload standard
 * base64. The parser treats its input as hostile (it is the fuzz target
 * fuzz_transit_ciphertext): bounded scans, no reads past the NUL, and it
 * never echoes the input into an error message.
 */
#include "engines/transit/transit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

#define CT_PREFIX     "vault:v"
#define CT_DIGITS_MAX 10 /* UINT32_MAX has 10 digits */

char *transit_ciphertext_format(uint32_t version, const uint8_t *blob,
                                size_t len)
{
    size_t b64_len = kh_base64_encoded_len(len);
    size_t size = sizeof(CT_PREFIX) + CT_DIGITS_MAX + 1 + b64_len + 1;
    char *out;
    int n;

    KH_ASSERT(version > 0);
    KH_ASSERT(blob != NULL || len == 0);
    out = malloc(size);
    if (out == NULL)
        return NULL;
    n = snprintf(out, size, CT_PREFIX "%u:", (unsigned)version);
    KH_ASSERT(n > 0 && (size_t)n + b64_len < size);
    kh_base64_encode(blob, len, true, out + n);
    return out;
}

/* The version digits at p (up to the ':'); *ret_end after the ':'. */
static int parse_version(const char *p, uint32_t *ret, const char **ret_end)
{
    uint64_t value = 0;
    size_t i;

    for (i = 0; i <= CT_DIGITS_MAX; i++) {
        if (p[i] == ':')
            break;
        if (p[i] < '0' || p[i] > '9')
            return KH_EINVAL;
        value = value * 10 + (uint64_t)(p[i] - '0');
    }
    if (i == 0 || i > CT_DIGITS_MAX || p[i] != ':')
        return KH_EINVAL;
    if (p[0] == '0' || value > UINT32_MAX)
        return KH_EINVAL;
    *ret = (uint32_t)value;
    *ret_end = p + i + 1;
    return 0;
}

int transit_ciphertext_parse(const char *text, uint32_t *ret_version,
                             uint8_t **ret_blob, size_t *ret_len,
                             char *errmsg, size_t errmsg_size)
{
    const char *payload = NULL;
    uint32_t version = 0;
    size_t b64_len, size, len = 0;
    uint8_t *blob;

    KH_ASSERT(ret_version != NULL);
    KH_ASSERT(ret_blob != NULL);
    if (text == NULL || strncmp(text, "vault:", 6) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid ciphertext: no prefix");
    if (text[6] != 'v' ||
        parse_version(text + sizeof(CT_PREFIX) - 1, &version, &payload) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid ciphertext: could not decode version");
    b64_len = strlen(payload);
    if (b64_len == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid ciphertext: empty payload");
    size = b64_len / 4 * 3 + 3;
    blob = malloc(size);
    if (blob == NULL)
        return KH_ENOMEM;
    if (kh_base64_decode(payload, b64_len, blob, size, &len) != 0 ||
        len == 0) {
        kh_free_secret(blob, size);
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "invalid ciphertext: could not decode base64");
    }
    KH_ASSERT(len <= size);
    *ret_version = version;
    *ret_blob = blob;
    *ret_len = len;
    return 0;
}
