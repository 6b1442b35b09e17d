/*
 * fuzz_kv_patch.c - the KV engine's RFC 7386 merge patch (kv_patch.c) on
 * arbitrary documents.
 *
 * Input: "<target JSON>\n<patch JSON>"; both must parse as objects, else
 * the input is skipped. kv_merge_patch must never crash and must either
 * fail with KH_ELIMIT (patch deeper than KH_JSON_DEPTH_MAX) or succeed
 * with a result that satisfies the RFC's properties, else abort():
 *   - idempotence: applying the patch again changes nothing;
 *   - no top-level member the patch sets to null survives;
 *   - every top-level non-object, non-null member of the patch is in the
 *     result unchanged;
 *   - the patch document itself is not modified.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "engines/kv/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const json_t *result, const json_t *patch)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)patch, key, value)
    {
        json_t *got = json_object_get(result, key);
        if (json_is_null(value) && got != NULL)
            abort();
        if (!json_is_null(value) && !json_is_object(value) &&
            !json_equal(got, value))
            abort();
        if (json_is_object(value) && !json_is_object(got))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    json_t *target = NULL, *patch = NULL, *before = NULL, *again = NULL;
    int r;

    if (nl == NULL)
        return 0;
    target = json_loadb((const char *)data, (size_t)(nl - data), 0, NULL);
    patch = json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1, 0,
                       NULL);
    if (!json_is_object(target) || !json_is_object(patch))
        goto out;
    before = json_deep_copy(patch);
    if (before == NULL)
        abort();
    r = kv_merge_patch(target, patch);
    if (r == KH_ELIMIT)
        goto out;
    if (r != 0 || !json_equal(patch, before))
        abort();
    check_result(target, patch);
    again = json_deep_copy(target);
    if (again == NULL || kv_merge_patch(again, patch) != 0 ||
        !json_equal(again, target))
        abort();
out:
    json_decref(target);
    json_decref(patch);
    json_decref(before);
    json_decref(again);
    return 0;
}
