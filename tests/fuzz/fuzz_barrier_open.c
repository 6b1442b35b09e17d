/*
 * fuzz_barrier_open.c - arbitrary bytes as barrier records and keyrings.
 *
 * 1. aead_decrypt with a fixed key, with and without additional data: it
 *    must never crash and never succeed. The fixed key is known to no seed
 *    (seeds are sealed under another key), so a success on fuzzer input
 *    would be a forged tag: abort().
 * 2. keyring_decode of the same bytes: it must never crash; when it
 *    accepts them, encoding the result must give the same bytes back (the
 *    format is canonical), else abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "barrier/aead.h"
#include "barrier/keyring.h"
#include "common/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_key[AEAD_KEY_BYTES] = {
    0xf0, 0x0d, 0xfa, 0xce, 0xf0, 0x0d, 0xfa, 0xce, 0xf0, 0x0d, 0xfa,
    0xce, 0xf0, 0x0d, 0xfa, 0xce, 0xf0, 0x0d, 0xfa, 0xce, 0xf0, 0x0d,
    0xfa, 0xce, 0xf0, 0x0d, 0xfa, 0xce, 0xf0, 0x0d, 0xfa, 0xce};
static const uint8_t fuzz_aad[] = "logical/fuzz/path";

static void fuzz_decrypt(const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(size + 1);
    size_t out_len = 0;
    uint32_t term = 0;

    if (out == NULL)
        abort();
    if (aead_decrypt(fuzz_key, fuzz_aad, sizeof(fuzz_aad) - 1, data, size, out,
                     size, &out_len) == 0)
        abort();
    if (aead_decrypt(fuzz_key, NULL, 0, data, size, out, size, &out_len) == 0)
        abort();
    if (aead_peek_term(data, size, &term) == 0 && size < AEAD_OVERHEAD)
        abort();
    free(out);
}

static void fuzz_keyring(const uint8_t *data, size_t size)
{
    struct keyring *kr = NULL;
    uint8_t *again = NULL;
    size_t again_len = 0;

    if (keyring_decode(data, size, &kr) != 0)
        return;
    if (keyring_encode(kr, 0, &again, &again_len) != 0)
        abort();
    if (again_len != size || memcmp(again, data, size) != 0)
        abort();
    kh_free_secret(again, again_len);
    keyring_free(kr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decrypt(data, size);
    fuzz_keyring(data, size);
    return 0;
}
