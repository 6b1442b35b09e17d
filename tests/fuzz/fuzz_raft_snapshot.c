/*
 * fuzz_raft_snapshot.c - arbitrary bytes as a raft snapshot file
 * (kh_raft_snapshot_check), both as they come and wrapped in a valid file
 * header and SHA-256 trailer, so the store data parser behind the digest
 * is reached too. Neither may crash or read out of bounds; a wrapped input
 * the checker accepts must report exactly the data it was given, and a
 * raw input it accepts must carry a correct digest: abort() otherwise.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_codec.h"
#include "raft/raft_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void wrapped(const uint8_t *data, size_t size)
{
    struct kh_raft_wbuf w;
    const uint8_t *got = NULL;
    size_t got_len = 0;
    uint8_t digest[32];
    unsigned int n = 0;

    kh_raft_wbuf_init(&w, KH_RAFT_SNAPSHOT_FILE_BYTES_MAX);
    kh_raft_wbuf_put(&w, KH_RAFT_SNAPSHOT_MAGIC, 8);
    kh_raft_wbuf_put_u32(&w, KH_RAFT_SNAPSHOT_VERSION);
    kh_raft_wbuf_put_u64(&w, 10);
    kh_raft_wbuf_put_u64(&w, 2);
    kh_raft_wbuf_put_u64(&w, 1700000000);
    kh_raft_wbuf_put_u64(&w, size);
    kh_raft_wbuf_put(&w, data, size);
    if (kh_raft_wbuf_error(&w) != 0 ||
        EVP_Digest(w.data, w.len, digest, &n, EVP_sha256(), NULL) != 1)
        abort();
    kh_raft_wbuf_put(&w, digest, sizeof(digest));
    if (kh_raft_snapshot_check(w.data, w.len, NULL, NULL, NULL, &got,
                               &got_len) == 0 &&
        (got_len != size || (size > 0 && memcmp(got, data, size) != 0)))
        abort();
    kh_raft_wbuf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t digest[32];
    unsigned int n = 0;

    if (kh_raft_snapshot_check(data, size, NULL, NULL, NULL, NULL, NULL) == 0) {
        if (EVP_Digest(data, size - 32, digest, &n, EVP_sha256(), NULL) != 1 ||
            memcmp(digest, data + size - 32, 32) != 0)
            abort();
    }
    wrapped(data, size);
    return 0;
}
