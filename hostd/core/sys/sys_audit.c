/*
 * sys_audit.c - sys/audit (list, enable, disable), sys/audit-hash and
 * sys/audit/verify-checkpoint (sys_audit.h): request parsing and answers
 * only; the broker (hostd/audit) does the work and the route rows demand
 * sudo. Never echoes an option value that could be secret in an error.
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "common/err.h"
#include "core/core.h"
#include "core/sys/sys_audit.h"

#define AUDIT_ROUTE_PREFIX "sys/audit/"
#define AUDIT_HASH_ROUTE_PREFIX "sys/audit-hash/"

int sys_audit_list(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size)
{
    json_t *listing = NULL;
    int r;

    r = audit_broker_describe(core->audit, &listing);
    if (r != 0)
        return r;
    return kh_response_envelope_inject(resp, req, listing);
}

int sys_audit_enable(struct kh_core *core, const struct kh_request *req,
                     struct kh_response *resp, char *errmsg,
                     size_t errmsg_size)
{
    const char *path = req->path + strlen(AUDIT_ROUTE_PREFIX);
    const char *type = kh_request_string(req, "type");
    const char *description = kh_request_string(req, "description");
    json_t *options = json_object_get(req->data, "options");
    bool local = false;
    int r;

    KH_ASSERT(strncmp(req->path, AUDIT_ROUTE_PREFIX,
                      strlen(AUDIT_ROUTE_PREFIX)) == 0);
    if (type == NULL || type[0] == '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "type must be specified");
    if (options != NULL && !json_is_object(options) && !json_is_null(options))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "options must be an object of strings");
    r = kh_request_bool(req, "local", false, &local, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = audit_broker_enable(core->audit, path, type, description,
                            json_is_object(options) ? options : NULL, local,
                            errmsg, errmsg_size);
    if (r != 0)
        return r;
    kh_response_no_content(resp);
    return 0;
}

int sys_audit_disable(struct kh_core *core, const struct kh_request *req,
                      struct kh_response *resp, char *errmsg,
                      size_t errmsg_size)
{
    int r;

    KH_ASSERT(strncmp(req->path, AUDIT_ROUTE_PREFIX,
                      strlen(AUDIT_ROUTE_PREFIX)) == 0);
    r = audit_broker_disable(core->audit,
                             req->path + strlen(AUDIT_ROUTE_PREFIX), errmsg,
                             errmsg_size);
    if (r != 0)
        return r;
    kh_response_no_content(resp);
    return 0;
}

int sys_audit_hash(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size)
{
    const char *input = kh_request_string(req, "input");
    char hash[AUDIT_HASH_TEXT_BYTES];
    int r;

    KH_ASSERT(strncmp(req->path, AUDIT_HASH_ROUTE_PREFIX,
                      strlen(AUDIT_HASH_ROUTE_PREFIX)) == 0);
    if (input == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "input must be specified");
    r = audit_broker_hash(core->audit,
                          req->path + strlen(AUDIT_HASH_ROUTE_PREFIX), input,
                          hash, sizeof(hash), errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_envelope_inject(resp, req,
                                       json_pack("{s:s}", "hash", hash));
}

int sys_audit_verify_checkpoint(struct kh_core *core,
                                const struct kh_request *req,
                                struct kh_response *resp, char *errmsg,
                                size_t errmsg_size)
{
    const char *record = kh_request_string(req, "record");
    uint64_t latest = 0;
    bool valid = false;
    int r;

    if (record == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "record must be specified");
    r = audit_broker_verify_checkpoint(core->audit, record, &valid, &latest,
                                       errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_envelope_inject(
        resp, req,
        json_pack("{s:b, s:I}", "valid", valid, "latest_count",
                  (json_int_t)latest));
}
