/*
 * transit_misc.c - the key-less endpoints random[/:source][/:bytes] and
 * hash[/:algorithm] (Vault API: transit).
 *
 * Owns their field rules: random bytes from the kernel CSPRNG (sources
 * "platform", "all" and "seal" all draw from it), at most
 * TRANSIT_RANDOM_BYTES_MAX per call, format base64 (default) or hex; hash
 * input at most TRANSIT_PLAINTEXT_BYTES_MAX decoded bytes, format hex
 * (default) or base64. Random output is wiped where it dies.
 */
#include "engines/transit/transit.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

/* "base64" or "hex" (def when absent) into *ret_hex. */
static int format_field(const struct transit_call *call, bool def_hex,
                        bool *ret_hex)
{
    const char *format = transit_field_string(call->br->req->data, "format");

    if (format == NULL || format[0] == '\0') {
        *ret_hex = def_hex;
        return 0;
    }
    if (strcmp(format, "hex") != 0 && strcmp(format, "base64") != 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unsupported encoding format %s; must be \"hex\" "
                         "or \"base64\"",
                         format);
    *ret_hex = strcmp(format, "hex") == 0;
    return 0;
}

/* bytes in the chosen text form, malloc'ed. */
static char *encode(const uint8_t *bytes, size_t len, bool hex)
{
    char *out;

    if (!hex)
        return transit_b64(bytes, len);
    out = malloc(2 * len + 1);
    if (out != NULL)
        kh_hex_encode(bytes, len, out);
    return out;
}

/* The byte count of random/: path ("32", "platform/32", "platform") or
 * the bytes field, default 32. */
static int random_count(const struct transit_call *call, uint64_t *ret)
{
    const char *path = call->name[0] != '\0' ? call->name : NULL;
    const char *num = NULL;
    char *end = NULL;
    unsigned long long n;

    if (path != NULL && (strcmp(path, "platform") == 0 ||
                         strcmp(path, "all") == 0 || strcmp(path, "seal") == 0))
        num = call->tail[0] != '\0' ? call->tail : NULL;
    else if (path != NULL && call->tail[0] == '\0')
        num = path;
    else if (path != NULL)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unsupported random source");
    if (num == NULL)
        return transit_field_uint(call->br->req->data, "bytes", 32,
                                  TRANSIT_RANDOM_BYTES_MAX, ret, call->errmsg,
                                  call->errmsg_size);
    n = strtoull(num, &end, 10);
    if (num[0] < '0' || num[0] > '9' || *end != '\0' ||
        n > TRANSIT_RANDOM_BYTES_MAX)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "bytes must be between 1 and %u",
                         TRANSIT_RANDOM_BYTES_MAX);
    *ret = n;
    return 0;
}

int transit_random_write(const struct transit_call *call)
{
    uint64_t count = 0;
    uint8_t *bytes = NULL;
    char *text = NULL;
    bool hex = false;
    int r;

    r = random_count(call, &count);
    if (r == 0 && count == 0)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "bytes must be between 1 and %u",
                      TRANSIT_RANDOM_BYTES_MAX);
    if (r == 0)
        r = format_field(call, false, &hex);
    if (r != 0)
        return r;
    bytes = malloc((size_t)count);
    if (bytes == NULL)
        return KH_ENOMEM;
    r = kh_random_bytes(bytes, (size_t)count);
    if (r == 0) {
        text = encode(bytes, (size_t)count, hex);
        r = text != NULL
                ? kh_response_envelope(call->resp, call->br->req,
                                       json_pack("{s:s}", "random_bytes", text))
                : KH_ENOMEM;
    }
    kh_free_secret(text, text != NULL ? strlen(text) : 0);
    kh_free_secret(bytes, (size_t)count);
    return r;
}

int transit_hash_write(const struct transit_call *call)
{
    const json_t *data = call->br->req->data;
    const char *name = transit_field_string(data, "algorithm");
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    const EVP_MD *md;
    uint8_t *in = NULL;
    size_t len = 0;
    char *text = NULL;
    bool hex = true;
    int r;

    if (call->name[0] != '\0')
        name = call->name;
    if (name == NULL || name[0] == '\0')
        name = "sha2-256";
    md = transit_md_by_name(name);
    if (md == NULL || call->tail[0] != '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unsupported algorithm %s", name);
    r = format_field(call, true, &hex);
    if (r == 0)
        r = transit_field_b64(data, "input", TRANSIT_PLAINTEXT_BYTES_MAX, true,
                              &in, &len, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    if (EVP_Digest(in, len, digest, &digest_len, md, NULL) != 1)
        r = KH_EINTERNAL;
    if (r == 0)
        text = encode(digest, digest_len, hex);
    if (r == 0)
        r = text != NULL
                ? kh_response_envelope(call->resp, call->br->req,
                                       json_pack("{s:s}", "sum", text))
                : KH_ENOMEM;
    free(text);
    kh_free_secret(in, len);
    return r;
}
