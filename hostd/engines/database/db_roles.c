/*
 * db_roles.c - database/roles/:name, the definitions of dynamic users
 * (Vault API: database engine): which connection, the statements that create,
 * revoke, roll back and renew a user, and the TTLs of its leases.
 *
 * Owns the mapping between request fields and struct db_role. It never
 * connects to a database: statements are checked when they run.
 */
#include "engines/database/database.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

/* Replace *dst with the statements field name when present. */
static int take_statements(const struct kh_request *req, const char *name,
                           json_t **dst, char *errmsg, size_t errmsg_size)
{
    json_t *list = NULL;
    int r;

    r = db_fields_statements(json_object_get(req->data, name), name, &list,
                             errmsg, errmsg_size);
    if (r != 0 || list == NULL)
        return r;
    json_decref(*dst);
    *dst = list;
    return 0;
}

static int take_ttl(const struct kh_request *req, const char *name,
                    uint64_t *dst, char *errmsg, size_t errmsg_size)
{
    const json_t *v = json_object_get(req->data, name);

    if (v == NULL || json_is_null(v))
        return 0;
    return db_fields_duration(v, name, DB_TTL_MAX_S, dst, errmsg, errmsg_size);
}

static int role_apply(const struct kh_request *req, struct db_role *role,
                      char *errmsg, size_t errmsg_size)
{
    const char *db_name = kh_request_string(req, "db_name");
    int r;

    if (db_name != NULL) {
        if (!db_name_valid(db_name))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "invalid db_name");
        snprintf(role->db_name, sizeof(role->db_name), "%s", db_name);
    }
    if ((r = take_statements(req, "creation_statements", &role->creation,
                             errmsg, errmsg_size)) ||
        (r = take_statements(req, "revocation_statements", &role->revocation,
                             errmsg, errmsg_size)) ||
        (r = take_statements(req, "rollback_statements", &role->rollback,
                             errmsg, errmsg_size)) ||
        (r = take_statements(req, "renew_statements", &role->renew, errmsg,
                             errmsg_size)) ||
        (r = take_ttl(req, "default_ttl", &role->default_ttl_s, errmsg,
                      errmsg_size)) ||
        (r = take_ttl(req, "max_ttl", &role->max_ttl_s, errmsg, errmsg_size)))
        return r;
    if (role->db_name[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "empty database name attribute");
    if (json_array_size(role->creation) == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "creation_statements are required");
    if (role->max_ttl_s != 0 && role->default_ttl_s > role->max_ttl_s)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "ttl cannot be greater than max_ttl");
    return 0;
}

int db_roles_write(const struct db_call *call)
{
    struct db_role role = {0};
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    pthread_mutex_lock(&call->state->records_lock);
    r = db_role_load(&call->state->view, call->name, &role);
    if (r == KH_ENOTFOUND)
        r = 0;
    if (r == 0)
        r = role_apply(call->br->req, &role, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = db_role_store(&call->state->view, call->name, &role);
    pthread_mutex_unlock(&call->state->records_lock);
    db_role_clear(&role);
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

static json_t *array_or_empty(json_t *a)
{
    return a != NULL ? json_incref(a) : json_array();
}

int db_roles_read(const struct db_call *call)
{
    struct db_role role = {0};
    json_t *data;
    int r;

    KH_ASSERT(call->state != NULL);
    KH_ASSERT(db_name_valid(call->name));
    r = db_role_load(&call->state->view, call->name, &role);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ENOTFOUND, "%s",
                         "");
    if (r != 0)
        return r;
    data = json_pack("{s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:s}", "db_name",
                     role.db_name, "creation_statements",
                     array_or_empty(role.creation), "revocation_statements",
                     array_or_empty(role.revocation), "rollback_statements",
                     array_or_empty(role.rollback), "renew_statements",
                     array_or_empty(role.renew), "default_ttl",
                     (json_int_t)role.default_ttl_s, "max_ttl",
                     (json_int_t)role.max_ttl_s, "credential_type", "password");
    db_role_clear(&role);
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

int db_roles_delete(const struct db_call *call)
{
    int r;

    r = db_call_delete(call, &call->state->records_lock, "role");
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

int db_roles_list(const struct db_call *call)
{
    KH_ASSERT(call->br->req->op == KH_OP_LIST);
    return db_call_list(call, "role");
}
