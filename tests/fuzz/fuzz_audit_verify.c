/*
 * fuzz_audit_verify.c - arbitrary bytes as an audit log for the verifier
 * (hostd/audit/verify.c). It must never crash, leak or read out of
 * bounds, and its verdict must be consistent: when it accepts a buffer,
 * every line was counted, and each line after the first really carries
 * the SHA-256 of the one before it (checked here independently of the
 * verifier's own code path); else abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/chain.h"
#include "audit/verify.h"
#include "common/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_links(const char *buf, size_t size, uint64_t records)
{
    const char *line = buf, *end = buf + size, *nl;
    uint8_t hash[AUDIT_CHAIN_HASH_BYTES];
    char hex[AUDIT_CHAIN_HEX_BYTES];
    uint64_t count = 0;
    bool have = false;

    while (line < end && (nl = memchr(line, '\n', (size_t)(end - line)))) {
        if (have && memmem(line, (size_t)(nl - line), hex, 64) == NULL)
            abort();
        audit_chain_hash(line, (size_t)(nl - line), hash);
        kh_hex_encode(hash, sizeof(hash), hex);
        have = true;
        count++;
        line = nl + 1;
    }
    if (count != records)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct audit_verify v;
    bool partial;
    int r;

    if (size == 0)
        return 0;
    partial = (data[0] & 1) != 0;
    audit_verify_init(&v);
    v.allow_partial = partial;
    audit_verify_file(&v, "fuzz");
    r = audit_verify_buffer(&v, (const char *)data + 1, size - 1);
    if (r == 0) {
        if (v.broken)
            abort();
        check_links((const char *)data + 1, size - 1, v.records);
    } else if (!v.broken || v.broken_line == 0) {
        abort();
    }
    return 0;
}
