/*
 * transit_batch.c - one request's items: the request fields themselves,
 * or each object of batch_input (Vault API: transit "Batch").
 *
 * Owns the batch rules: batch_input is a list of at most
 * TRANSIT_BATCH_ITEMS_MAX objects and, when present, the top-level item
 * fields are ignored; every item runs on its own and fails on its own
 * ({"error": "...", "reference": ...}); results keep input order and echo
 * each item's reference. Any failed item makes the answer a 400 with the
 * full envelope, unless partial_failure_response_code is set and some item
 * succeeded. Each item writes its error into its own buffer, so messages
 * never leak between items.
 */
#include "engines/transit/transit.h"

#include <string.h>

#include "common/err.h"

static int item_run(const struct transit_call *call,
                    struct transit_policy *pol, enum transit_item_kind kind,
                    const json_t *item, json_t *result)
{
    switch (kind) {
    case TRANSIT_ITEM_ENCRYPT:
        return transit_item_encrypt(call, pol, item, result);
    case TRANSIT_ITEM_DECRYPT:
        return transit_item_decrypt(call, pol, item, result);
    case TRANSIT_ITEM_REWRAP:
        return transit_item_rewrap(call, pol, item, result);
    case TRANSIT_ITEM_SIGN:
        return transit_item_sign(call, pol, item, result);
    case TRANSIT_ITEM_VERIFY:
        return transit_item_verify(call, pol, item, result);
    case TRANSIT_ITEM_HMAC:
        return transit_item_hmac(call, pol, item, result);
    }
    return KH_EINTERNAL;
}

/* One batch item into a result object; *ret_ok false when it failed. */
static json_t *batch_item(const struct transit_call *call,
                          struct transit_policy *pol,
                          enum transit_item_kind kind, const json_t *item,
                          bool *ret_ok)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct transit_call item_call = *call;
    const char *ref = transit_field_string(item, "reference");
    json_t *result = json_object();
    int r;

    if (result == NULL)
        return NULL;
    item_call.errmsg = errmsg;
    item_call.errmsg_size = sizeof(errmsg);
    if (!json_is_object(item))
        r = kh_errmsg(errmsg, sizeof(errmsg), KH_EINVAL,
                      "batch item is not an object");
    else
        r = item_run(&item_call, pol, kind, item, result);
    if (r != 0) {
        json_object_clear(result);
        if (r == KH_ENOMEM) {
            json_decref(result);
            return NULL;
        }
        if (json_object_set_new(result, "error",
                                json_string(errmsg[0] != '\0'
                                                ? errmsg
                                                : kh_strerror(r))) != 0) {
            json_decref(result);
            return NULL;
        }
    }
    if (json_object_set_new(result, "reference",
                            json_string(ref != NULL ? ref : "")) != 0) {
        json_decref(result);
        return NULL;
    }
    *ret_ok = r == 0;
    return result;
}

/* The status of a batch answer with failures. */
static int batch_status(const struct transit_call *call, size_t ok_count)
{
    uint64_t code = 0;
    char scratch[KH_ERRMSG_SIZE];

    if (ok_count > 0 &&
        transit_field_uint(call->br->req->data, "partial_failure_response_code",
                           0, 599, &code, scratch, sizeof(scratch)) == 0 &&
        code >= 200)
        return (int)code;
    return 400;
}

static int batch_all(const struct transit_call *call,
                     struct transit_policy *pol, enum transit_item_kind kind,
                     const json_t *batch)
{
    size_t count = json_array_size(batch), ok_count = 0, i;
    json_t *results;
    int r;

    if (count > TRANSIT_BATCH_ITEMS_MAX)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                         "batch_input has more than %d items",
                         TRANSIT_BATCH_ITEMS_MAX);
    if (count == 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing batch input to process");
    results = json_array();
    for (i = 0; results != NULL && i < count; i++) {
        bool ok = false;
        json_t *one = batch_item(call, pol, kind, json_array_get(batch, i),
                                 &ok);
        if (one == NULL || json_array_append_new(results, one) != 0) {
            json_decref(results);
            results = NULL;
        }
        ok_count += ok ? 1 : 0;
    }
    if (results == NULL)
        return KH_ENOMEM;
    r = kh_response_envelope(call->resp, call->br->req,
                             json_pack("{s:o}", "batch_results", results));
    if (r == 0 && ok_count < count)
        call->resp->status = batch_status(call, ok_count);
    return r;
}

int transit_batch_run(const struct transit_call *call,
                      struct transit_policy *pol, enum transit_item_kind kind)
{
    const json_t *data = call->br->req->data;
    const json_t *batch = json_object_get(data, "batch_input");
    json_t *result;
    int r;

    KH_ASSERT(pol != NULL);
    KH_ASSERT(data != NULL);
    if (batch != NULL && !json_is_null(batch)) {
        if (!json_is_array(batch))
            return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                             "batch_input must be a list of objects");
        return batch_all(call, pol, kind, batch);
    }
    result = json_object();
    if (result == NULL)
        return KH_ENOMEM;
    r = item_run(call, pol, kind, data, result);
    if (r != 0) {
        json_decref(result);
        return r;
    }
    return kh_response_envelope(call->resp, call->br->req, result);
}
