/*
 * fuzz_audit_verify.c - arbitrary bytes as an audit log for the verifier
 * (hostd/audit/verify.c). It must never crash, leak or read out of
 * bounds, and its verdict must be consistent: when it accepts a buffer,
 * every line was counted either as a record or as a duplicate; each
 * duplicate is byte-identical to a record accepted before it; and each
 * record after the first really carries the SHA-256 of the record
 * accepted before it (checked here independently of the verifier's own
 * code path); else abort(). The first byte picks allow_partial and a
 * small duplicate ring (1..8 records) or the default one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/chain.h"
#include "audit/verify.h"
#include "common/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Was hash that of a record accepted earlier? */
static bool seen(const uint8_t (*hashes)[AUDIT_CHAIN_HASH_BYTES], size_t n,
                 const uint8_t *hash)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (memcmp(hashes[i], hash, AUDIT_CHAIN_HASH_BYTES) == 0)
            return true;
    return false;
}

static void check_links(const char *buf, size_t size,
                        const struct audit_verify *v)
{
    const char *line = buf, *end = buf + size, *nl;
    uint8_t (*hashes)[AUDIT_CHAIN_HASH_BYTES];
    uint8_t hash[AUDIT_CHAIN_HASH_BYTES];
    char hex[AUDIT_CHAIN_HEX_BYTES];
    uint64_t records = 0, duplicates = 0;

    /* At most one line per byte. */
    hashes = malloc((size + 1) * sizeof(*hashes));
    if (hashes == NULL)
        abort();
    while (line < end && (nl = memchr(line, '\n', (size_t)(end - line)))) {
        audit_chain_hash(line, (size_t)(nl - line), hash);
        if (seen((const uint8_t(*)[AUDIT_CHAIN_HASH_BYTES])hashes, records,
                 hash)) {
            duplicates++;
        } else {
            if (records > 0 &&
                memmem(line, (size_t)(nl - line), hex, 64) == NULL)
                abort();
            memcpy(hashes[records], hash, sizeof(hash));
            kh_hex_encode(hash, sizeof(hash), hex);
            records++;
        }
        line = nl + 1;
    }
    free(hashes);
    if (records != v->records || duplicates != v->duplicates)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct audit_verify v;
    size_t ring;
    int r;

    if (size == 0)
        return 0;
    ring = (data[0] & 2) != 0 ? 1 + ((data[0] >> 2) & 7) : 0;
    if (audit_verify_init(&v, ring) != 0)
        abort();
    v.allow_partial = (data[0] & 1) != 0;
    audit_verify_file(&v, "fuzz");
    r = audit_verify_buffer(&v, (const char *)data + 1, size - 1);
    audit_verify_release(&v);
    if (r == 0) {
        if (v.broken)
            abort();
        check_links((const char *)data + 1, size - 1, &v);
    } else if (!v.broken || v.broken_line == 0) {
        abort();
    }
    return 0;
}
