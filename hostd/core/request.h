/*
 * request.h - one API request and its response, as they travel the
 * request path (hostd/README.md).
 *
 * http/ builds a struct kh_request from the wire (method, decoded path,
 * query, JSON body, token, remote address) and hands it to
 * request_handle(), which runs the ordered gates and a handler that fills a
 * struct kh_response. http/response.c turns the response, or an error code
 * plus message, into status, headers and body - the one place errors become
 * HTTP statuses.
 *
 * Ownership: the http layer owns both structs and frees them with
 * kh_request_clear()/kh_response_clear() after the response is queued.
 */
#ifndef KH_CORE_REQUEST_H
#define KH_CORE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/assert.h"
#include "common/encoding.h"
#include "common/err.h"
#include "config/limits.h"

struct token_entry;

enum kh_operation {
    KH_OP_READ = 1,
    KH_OP_LIST,
    KH_OP_CREATE,   /* POST/PUT of an item that does not exist */
    KH_OP_UPDATE,   /* POST/PUT (default until an existence check says) */
    KH_OP_PATCH,
    KH_OP_DELETE,
    KH_OP_HEAD,     /* only sys/health answers it */
};

struct kh_request
{
    enum kh_operation op;
    char *path;                 /* decoded, without "/v1/"; owned */
    json_t *query;              /* object of string values; owned */
    json_t *data;               /* request fields: body merged over query;
                                   always an object; owned */
    const uint8_t *raw_body;    /* the body bytes (not owned; valid during
                                   the handler) */
    size_t raw_body_len;
    char token[KH_HTTP_TOKEN_BYTES_MAX + 1]; /* wiped by kh_request_clear */
    bool has_token;
    char remote_addr[64];
    char request_id[KH_UUID_STR_LEN + 1];
    /* Set by the token gate for authenticated requests (NULL otherwise);
     * valid while the request is handled. */
    const struct token_entry *token_entry;
};

/* A secret the handler wants leased: the gate registers it with the lease
 * manager and fills lease_id, lease_duration and renewable. */
struct kh_response_lease
{
    bool requested;
    json_t *internal;           /* what revoke/renew need; owned */
    uint64_t ttl_s;             /* 0: the mount's default */
    uint64_t max_ttl_s;         /* 0: the mount's max */
    bool renewable;
};

struct kh_response
{
    int status;                 /* 0 = 200 with body, 204 without */
    struct kh_response_lease lease;
    json_t *body;               /* the complete JSON body; owned */
    char *text;                 /* a non-JSON body (e.g. metrics); owned */
    size_t text_len;            /* its bytes when binary (0: strlen) */
    const char *content_type;   /* for text; static string */
};

/* Free the members (wiping the token) and zero the struct. */
void kh_request_clear(struct kh_request *req);
void kh_response_clear(struct kh_response *resp);

/* Fields of the request: a string, or NULL if absent or JSON null. */
const char *kh_request_string(const struct kh_request *req,
                              const char *name);

/* Set resp to the standard envelope around data (stolen; may be NULL). */
int kh_response_envelope(struct kh_response *resp,
                         const struct kh_request *req, json_t *data);

/* Set resp to a raw (non-envelope) JSON object body (stolen). */
int kh_response_raw(struct kh_response *resp, json_t *body);

/* Set resp to 204 No Content. */
void kh_response_no_content(struct kh_response *resp);

/* Lenient typed fields (Vault API: request body rules): absent or null gives the
 * default; ints accept numbers and numeric strings; bools accept JSON
 * booleans and Go-style strings. KH_EINVAL with errmsg when malformed or
 * above max. */
int kh_request_uint(const struct kh_request *req, const char *name,
                    unsigned long long def, unsigned long long max,
                    unsigned long long *ret, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;
int kh_request_bool(const struct kh_request *req, const char *name, bool def,
                    bool *ret, char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* A duration field (TDS) from its JSON value v: a non-negative integer is
 * seconds, a string goes through kh_duration_parse() ("90", "1h30m").
 * NULL or JSON null is absent: *ret_present = false, *ret_s untouched.
 * KH_EINVAL with errmsg when malformed, KH_ELIMIT above max_s. */
int kh_json_duration(const json_t *v, const char *name, uint64_t max_s,
                     bool *ret_present, uint64_t *ret_s, char *errmsg,
                     size_t errmsg_size) KH_MUST_CHECK;

/* The same for the request field name. */
int kh_request_duration(const struct kh_request *req, const char *name,
                        uint64_t max_s, bool *ret_present, uint64_t *ret_s,
                        char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Envelope whose data keys are also copied to the top level (the sys
 * paths of Vault API: response envelope). data is stolen. */
int kh_response_envelope_inject(struct kh_response *resp,
                                const struct kh_request *req, json_t *data);
#endif
