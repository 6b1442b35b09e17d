/*
 * token_response.c - the JSON a client sees of a token: the "auth" block
 * of a create/login/renew response (Vault API: response envelope) and the "data" of
 * a lookup (§4.2).
 *
 * Owns the field names and shapes only. It never reads storage, and the
 * only token ID it ever writes is the one its caller passes (the
 * client's own, or one just created for it).
 */
#include <string.h>
#include <time.h>

#include "common/encoding.h"
#include "common/err.h"
#include "token/token_internal.h"

uint64_t token_ttl_remaining(const struct token_entry *e, int64_t now)
{
    if (e->expire_time == 0 || e->expire_time <= now)
        return 0;
    return (uint64_t)(e->expire_time - now);
}

static json_t *policies_json(const struct token_entry *e)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < e->policy_count; i++) {
        if (json_array_append_new(a, json_string(e->policies[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The metadata object, or JSON null when there is none (Vault). */
static json_t *meta_json(const struct token_entry *e)
{
    json_t *o;
    size_t i;

    if (e->meta_count == 0)
        return json_null();
    o = json_object();
    for (i = 0; o != NULL && i < e->meta_count; i++) {
        if (json_object_set_new(o, e->meta[i].key,
                                json_string(e->meta[i].value)) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static const char *type_name(const struct token_entry *e)
{
    return e->type == TOKEN_TYPE_BATCH ? "batch" : "service";
}

json_t *token_auth_json(const struct token_entry *e, const char *client_token,
                        int64_t now)
{
    json_t *auth;

    KH_ASSERT(e != NULL);
    KH_ASSERT(client_token != NULL);
    auth = json_pack("{s:s, s:s, s:o, s:o, s:I, s:b, s:s, s:s, s:b, s:n, "
                     "s:I}",
                     "client_token", client_token, "accessor", e->accessor,
                     "policies", policies_json(e), "metadata", meta_json(e),
                     "lease_duration", (json_int_t)token_ttl_remaining(e, now),
                     "renewable", e->renewable, "entity_id", "", "token_type",
                     type_name(e), "orphan", e->orphan, "mfa_requirement",
                     "num_uses", (json_int_t)e->num_uses);
    /* token_policies: omitempty in Vault */
    if (auth != NULL && e->policy_count > 0 &&
        json_object_set_new(auth, "token_policies", policies_json(e)) != 0) {
        json_decref(auth);
        return NULL;
    }
    return auth;
}

static json_t *time_json(int64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = 0};
    char text[KH_TIME_STR_SIZE];

    kh_time_format(&ts, text);
    return json_string(text);
}

/* Fields present only when set (Vault's lookup does the same). */
static int lookup_optional(json_t *data, const struct token_entry *e)
{
    json_t *cidrs;
    size_t i;
    int r = 0;

    if (e->period_s != 0)
        r |= json_object_set_new(data, "period",
                                 json_integer((json_int_t)e->period_s));
    if (e->role[0] != '\0')
        r |= json_object_set_new(data, "role", json_string(e->role));
    if (e->last_renewal != 0) {
        r |= json_object_set_new(data, "last_renewal_time",
                                 json_integer(e->last_renewal));
        r |= json_object_set_new(data, "last_renewal",
                                 time_json(e->last_renewal));
    }
    if (e->bound_cidr_count > 0) {
        cidrs = json_array();
        for (i = 0; cidrs != NULL && i < e->bound_cidr_count; i++)
            r |= json_array_append_new(cidrs, json_string(e->bound_cidrs[i]));
        r |= json_object_set_new(data, "bound_cidrs", cidrs);
    }
    return r == 0 ? 0 : KH_ENOMEM;
}

json_t *token_lookup_json(const struct token_entry *e, const char *id,
                          int64_t now)
{
    json_t *data;

    KH_ASSERT(e != NULL);
    KH_ASSERT(id != NULL);
    data = json_pack(
        "{s:s, s:I, s:I, s:s, s:s, s:o, s:I, s:s, s:o, s:o, s:I, s:b, s:s, "
        "s:o, s:b, s:I, s:s}",
        "accessor", e->accessor, "creation_time", (json_int_t)e->creation_time,
        "creation_ttl", (json_int_t)e->creation_ttl_s, "display_name",
        e->display_name, "entity_id", "", "expire_time",
        e->expire_time != 0 ? time_json(e->expire_time) : json_null(),
        "explicit_max_ttl", (json_int_t)e->explicit_max_ttl_s, "id", id,
        "issue_time", time_json(e->creation_time), "meta", meta_json(e),
        "num_uses", (json_int_t)e->num_uses, "orphan", e->orphan, "path",
        e->path, "policies", policies_json(e), "renewable", e->renewable, "ttl",
        (json_int_t)token_ttl_remaining(e, now), "type", type_name(e));
    if (data != NULL && lookup_optional(data, e) != 0) {
        json_decref(data);
        return NULL;
    }
    return data;
}

int token_respond_auth(struct kh_response *resp, const struct kh_request *req,
                       const struct token_entry *e, const char *client_token)
{
    json_t *auth;
    int r;

    auth = token_auth_json(e, client_token, token_now());
    if (auth == NULL)
        return KH_ENOMEM;
    r = kh_response_envelope(resp, req, NULL);
    if (r == 0 && json_object_set_new(resp->body, "auth", auth) != 0)
        r = KH_ENOMEM;
    else if (r != 0)
        json_decref(auth);
    return r;
}
