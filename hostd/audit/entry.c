/*
 * entry.c - the audit record bodies, in Vault's format: time, type, auth
 * (client token HMAC'd, accessor, policies, metadata), request (id,
 * operation, path, remote address, data with every string HMAC'd),
 * response (data and wrap info HMAC'd), error.
 *
 * HMAC is HMAC-SHA256 keyed with the device's salt, written
 * "hmac-sha256:<hex>" like Vault's. log_raw turns hashing off (the
 * operator's choice, option of the device); hmac_accessor=false leaves
 * accessors readable. The JSON tree is walked with an explicit stack, never
 * recursively. Never logs; a token ID never leaves here unhashed unless
 * log_raw is set.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit/audit_internal.h"
#include "common/encoding.h"
#include "common/secret.h"
#include "core/request.h"
#include "token/token_store.h"

#define HMAC_PREFIX "hmac-sha256:"

void audit_hash_text(const uint8_t salt[AUDIT_SALT_BYTES], const char *text,
                     size_t len, char out[AUDIT_HASH_TEXT_BYTES])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;

    KH_ASSERT(salt != NULL);
    KH_ASSERT(HMAC(EVP_sha256(), salt, AUDIT_SALT_BYTES,
                   (const unsigned char *)text, len, mac, &mac_len) != NULL);
    memcpy(out, HMAC_PREFIX, strlen(HMAC_PREFIX));
    kh_hex_encode(mac, mac_len, out + strlen(HMAC_PREFIX));
    kh_wipe(mac, sizeof(mac));
}

static json_t *hashed_string(const struct audit_format *f, const char *text)
{
    char out[AUDIT_HASH_TEXT_BYTES];

    if (f->log_raw)
        return json_string(text);
    audit_hash_text(f->salt, text, strlen(text), out);
    return json_string(out);
}

static int hash_string_in_place(const struct audit_format *f, json_t *v)
{
    char out[AUDIT_HASH_TEXT_BYTES];

    audit_hash_text(f->salt, json_string_value(v), json_string_length(v),
                    out);
    return json_string_set(v, out) == 0 ? 0 : KH_ENOMEM;
}

static int stack_push(json_t ***stack, size_t *count, size_t *cap, json_t *v)
{
    if (*count == *cap) {
        size_t n = *cap * 2;
        json_t **grown = realloc(*stack, n * sizeof(**stack));
        if (grown == NULL)
            return KH_ENOMEM;
        *stack = grown;
        *cap = n;
    }
    (*stack)[(*count)++] = v;
    return 0;
}

static int visit(const struct audit_format *f, json_t *v, json_t ***stack,
                 size_t *count, size_t *cap)
{
    if (json_is_string(v))
        return hash_string_in_place(f, v);
    if (json_is_object(v) || json_is_array(v))
        return stack_push(stack, count, cap, v);
    return 0;
}

/* Replace every string value under root by its HMAC (keys stay). */
static int hash_tree(const struct audit_format *f, json_t *root)
{
    size_t count = 0, cap = 64, i;
    json_t **stack = malloc(cap * sizeof(*stack));
    const char *key;
    json_t *node, *v;
    int r = 0;

    if (stack == NULL)
        return KH_ENOMEM;
    if (!f->log_raw)
        r = visit(f, root, &stack, &count, &cap);
    while (r == 0 && count > 0) {
        node = stack[--count];
        if (json_is_object(node)) {
            json_object_foreach(node, key, v) {
                r = visit(f, v, &stack, &count, &cap);
                if (r != 0)
                    break;
            }
        } else {
            json_array_foreach(node, i, v) {
                r = visit(f, v, &stack, &count, &cap);
                if (r != 0)
                    break;
            }
        }
    }
    free(stack);
    return r;
}

/* A hashed deep copy of v (JSON null when v is NULL). */
static json_t *hashed_copy(const struct audit_format *f, const json_t *v)
{
    json_t *copy;

    if (v == NULL)
        return json_null();
    copy = json_deep_copy(v);
    if (copy != NULL && hash_tree(f, copy) != 0) {
        json_decref(copy);
        copy = NULL;
    }
    return copy;
}

static const char *operation_name(enum kh_operation op)
{
    switch (op) {
    case KH_OP_LIST: return "list";
    case KH_OP_CREATE: return "create";
    case KH_OP_UPDATE: return "update";
    case KH_OP_PATCH: return "patch";
    case KH_OP_DELETE: return "delete";
    case KH_OP_READ:
    case KH_OP_HEAD:
    default: return "read";
    }
}

static json_t *auth_object(const struct audit_format *f,
                           const struct kh_request *req,
                           const struct token_entry *t)
{
    json_t *auth = json_object(), *pol = json_array(), *meta = NULL;
    size_t i;

    if (auth == NULL || pol == NULL)
        goto fail;
    if (req->has_token && req->token[0] != '\0')
        json_object_set_new(auth, "client_token",
                            hashed_string(f, req->token));
    if (t == NULL) {
        json_decref(pol);
        json_object_set_new(auth, "token_type", json_string("default"));
        return auth;
    }
    for (i = 0; i < t->policy_count; i++)
        json_array_append_new(pol, json_string(t->policies[i]));
    meta = t->meta_count > 0 ? json_object() : json_null();
    for (i = 0; meta != NULL && i < t->meta_count; i++)
        json_object_set_new(meta, t->meta[i].key,
                            json_string(t->meta[i].value));
    json_object_set_new(auth, "accessor",
                        f->hmac_accessor ? hashed_string(f, t->accessor)
                                         : json_string(t->accessor));
    json_object_set_new(auth, "display_name", json_string(t->display_name));
    json_object_set(auth, "policies", pol);
    json_object_set_new(auth, "token_policies", pol);
    json_object_set_new(auth, "metadata", meta);
    json_object_set_new(auth, "token_type",
                        json_string(t->type == TOKEN_TYPE_BATCH ? "batch"
                                                                : "service"));
    return auth;
fail:
    json_decref(auth);
    json_decref(pol);
    return NULL;
}

static json_t *request_object(const struct audit_format *f,
                              const struct kh_request *req,
                              const struct token_entry *t)
{
    json_t *data = req->data != NULL && json_object_size(req->data) > 0
                       ? hashed_copy(f, req->data)
                       : json_null();
    json_t *o;

    if (data == NULL)
        return NULL;
    o = json_pack("{s:s, s:s, s:{s:s}, s:s, s:o, s:s}", "id",
                  req->request_id, "operation", operation_name(req->op),
                  "namespace", "id", "root", "path",
                  req->path != NULL ? req->path : "", "data", data,
                  "remote_address", req->remote_addr);
    if (o != NULL && req->has_token && req->token[0] != '\0')
        json_object_set_new(o, "client_token", hashed_string(f, req->token));
    if (o != NULL && t != NULL && t->accessor[0] != '\0')
        json_object_set_new(o, "client_token_accessor",
                            f->hmac_accessor ? hashed_string(f, t->accessor)
                                             : json_string(t->accessor));
    return o;
}

static int finish(json_t *entry, char **ret, size_t *ret_len)
{
    char *text;

    if (entry == NULL)
        return KH_ENOMEM;
    text = json_dumps(entry, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(entry);
    if (text == NULL)
        return KH_ENOMEM;
    if (strlen(text) > AUDIT_RECORD_BYTES_MAX) {
        free(text);
        return KH_ETOOBIG;
    }
    *ret_len = strlen(text);
    *ret = text;
    return 0;
}

static json_t *entry_base(const struct audit_format *f, const char *type,
                          const struct kh_request *req,
                          const struct token_entry *t, const char *error)
{
    char now_text[KH_TIME_STR_SIZE];
    struct timespec now;
    json_t *auth = auth_object(f, req, t);
    json_t *request = request_object(f, req, t);

    clock_gettime(CLOCK_REALTIME, &now);
    kh_time_format(&now, now_text);
    if (auth == NULL || request == NULL) {
        json_decref(auth);
        json_decref(request);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:o, s:o, s:s}", "time", now_text, "type",
                     type, "auth", auth, "request", request, "error",
                     error != NULL ? error : "");
}

int audit_entry_request(const struct audit_format *f,
                        const struct kh_request *req,
                        const struct token_entry *token, char **ret,
                        size_t *ret_len)
{
    KH_ASSERT(f != NULL);
    KH_ASSERT(req != NULL);
    return finish(entry_base(f, "request", req, token, NULL), ret, ret_len);
}

/* The response block: an envelope's data, auth and wrap_info, or a raw
 * body as data; every string HMAC'd. */
static json_t *response_object(const struct audit_format *f,
                               const struct kh_response *resp)
{
    json_t *body = resp != NULL ? resp->body : NULL;
    bool envelope = json_object_get(body, "request_id") != NULL;
    json_t *o = json_object();
    const char *lease;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "mount_type", json_string(""));
    if (body == NULL)
        return o;
    json_object_set_new(o, "data",
                        hashed_copy(f, envelope ? json_object_get(body, "data")
                                                : body));
    if (!envelope)
        return o;
    if (json_is_object(json_object_get(body, "auth")))
        json_object_set_new(o, "auth",
                            hashed_copy(f, json_object_get(body, "auth")));
    if (json_is_object(json_object_get(body, "wrap_info")))
        json_object_set_new(o, "wrap_info",
                            hashed_copy(f,
                                        json_object_get(body, "wrap_info")));
    lease = json_string_value(json_object_get(body, "lease_id"));
    if (lease != NULL && lease[0] != '\0')
        json_object_set_new(o, "secret", json_pack("{s:s}", "lease_id",
                                                   lease));
    return o;
}

int audit_entry_response(const struct audit_format *f,
                         const struct kh_request *req,
                         const struct token_entry *token,
                         const struct kh_response *resp,
                         const char *error_text, char **ret, size_t *ret_len)
{
    json_t *entry = entry_base(f, "response", req, token, error_text);
    json_t *response = response_object(f, resp);

    KH_ASSERT(f != NULL);
    KH_ASSERT(req != NULL);
    if (entry == NULL || response == NULL) {
        json_decref(entry);
        json_decref(response);
        return KH_ENOMEM;
    }
    json_object_set_new(entry, "response", response);
    return finish(entry, ret, ret_len);
}

bool audit_response_secret(const struct kh_response *resp)
{
    static const char *const raw_secrets[] = {
        "root_token", "keys", "keys_base64", "recovery_keys",
        "encoded_token", "encoded_root_token", "otp",
    };
    json_t *body = resp != NULL ? resp->body : NULL;
    json_t *data;
    size_t i;

    if (resp == NULL)
        return false;
    if (resp->lease.requested)
        return true;
    if (json_object_get(body, "request_id") == NULL) {
        for (i = 0; i < KH_ARRAY_LEN(raw_secrets); i++)
            if (json_object_get(body, raw_secrets[i]) != NULL)
                return true;
        return false;
    }
    data = json_object_get(body, "data");
    return json_is_object(json_object_get(body, "auth")) ||
           json_is_object(json_object_get(body, "wrap_info")) ||
           (json_is_object(data) && json_object_size(data) > 0);
}
