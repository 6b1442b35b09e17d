/*
 * fuzz_transit_ciphertext.c - the transit "vault:v<N>:<base64>" parser
 * (transit_ciphertext.c) on arbitrary bytes.
 *
 * Input: any bytes, made a C string at the first NUL (as a JSON string
 * from the wire would be). transit_ciphertext_parse must never crash or
 * read past the NUL, must answer 0 or KH_EINVAL (KH_ENOMEM aside), and on
 * success must give a version >= 1 and a non-empty payload that formats
 * back to a text which parses to the same version and bytes, else
 * abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "engines/transit/transit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(uint32_t version, const uint8_t *blob,
                             size_t len)
{
    char errmsg[KH_ERRMSG_SIZE];
    uint32_t again_version = 0;
    uint8_t *again = NULL;
    size_t again_len = 0;
    char *text;

    text = transit_ciphertext_format(version, blob, len);
    if (text == NULL)
        return;
    if (transit_ciphertext_parse(text, &again_version, &again, &again_len,
                                 errmsg, sizeof(errmsg)) != 0)
        abort();
    if (again_version != version || again_len != len ||
        memcmp(again, blob, len) != 0)
        abort();
    free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errmsg[KH_ERRMSG_SIZE];
    uint32_t version = 0;
    uint8_t *blob = NULL;
    size_t len = 0;
    char *text;
    int r;

    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    r = transit_ciphertext_parse(text, &version, &blob, &len, errmsg,
                                 sizeof(errmsg));
    if (r != 0 && r != KH_EINVAL && r != KH_ENOMEM)
        abort();
    if (r == 0) {
        if (version == 0 || len == 0 || blob == NULL)
            abort();
        check_round_trip(version, blob, len);
        free(blob);
    }
    free(text);
    return 0;
}
