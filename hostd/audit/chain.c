/*
 * chain.c - line framing, line hashing and checkpoint MACs of audit logs
 * (chain.h). Pure functions; the checkpoint key is the caller's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "audit/chain.h"
#include "common/encoding.h"
#include "common/err.h"

void audit_chain_hash(const char *line, size_t len,
                      uint8_t out[AUDIT_CHAIN_HASH_BYTES])
{
    KH_ASSERT(line != NULL || len == 0);
    KH_ASSERT(out != NULL);
    SHA256((const unsigned char *)line, len, out);
}

int audit_chain_line(const char *prefix, uint64_t seq,
                     const uint8_t prev[AUDIT_CHAIN_HASH_BYTES],
                     const char *body, size_t body_len, char **ret_line,
                     size_t *ret_len)
{
    char head[AUDIT_PREFIX_BYTES_MAX + 128];
    char hex[AUDIT_CHAIN_HEX_BYTES];
    size_t head_len, total;
    char *line;
    int n;

    KH_ASSERT(body != NULL);
    KH_ASSERT(seq > 0);
    if (body_len < 2 || body[0] != '{' || body[body_len - 1] != '}' ||
        body_len > AUDIT_RECORD_BYTES_MAX ||
        strlen(prefix) >= AUDIT_PREFIX_BYTES_MAX)
        return KH_EINVAL;
    kh_hex_encode(prev, AUDIT_CHAIN_HASH_BYTES, hex);
    n = snprintf(head, sizeof(head), "%s{\"seq\":%" PRIu64
                 ",\"prev_hash\":\"%s\"%s", prefix, seq, hex,
                 body_len > 2 ? "," : "");
    KH_ASSERT(n > 0 && (size_t)n < sizeof(head));
    head_len = (size_t)n;
    total = head_len + (body_len - 1) + 1;
    line = malloc(total + 1);
    if (line == NULL)
        return KH_ENOMEM;
    memcpy(line, head, head_len);
    memcpy(line + head_len, body + 1, body_len - 1);
    line[total - 1] = '\n';
    line[total] = '\0';
    *ret_line = line;
    *ret_len = total;
    return 0;
}

void audit_checkpoint_mac(const uint8_t key[AUDIT_CKEY_BYTES],
                          const char *device, uint64_t count,
                          const char *head_hex,
                          char out[AUDIT_MAC_TEXT_BYTES])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    char msg[512];
    int n;

    n = snprintf(msg, sizeof(msg),
                 "keyhold-audit-checkpoint\n%.256s\n%" PRIu64 "\n%.64s",
                 device, count, head_hex);
    KH_ASSERT(n > 0 && (size_t)n < sizeof(msg));
    KH_ASSERT(HMAC(EVP_sha256(), key, AUDIT_CKEY_BYTES,
                   (const unsigned char *)msg, (size_t)n, mac,
                   &mac_len) != NULL);
    KH_ASSERT(mac_len == 32);
    memcpy(out, "hmac-sha256:", strlen("hmac-sha256:"));
    kh_hex_encode(mac, mac_len, out + strlen("hmac-sha256:"));
}
