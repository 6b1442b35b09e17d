/*
 * sys_keys.c - sys/rotate and sys/key-status (Vault API: sys/rotate and sys/key-status): the
 * barrier's keyring terms. Reveals counts and times, never key material.
 */
#include "barrier/barrier.h"
#include "common/err.h"
#include "core/core.h"
#include "core/sys/sys_handlers.h"

int sys_rotate(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    int r;

    r = barrier_rotate(core->barrier);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "failed to rotate: %s",
                         kh_strerror(r));
    kh_response_no_content(resp);
    return 0;
}

int sys_key_status(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size)
{
    struct barrier_key_status status;
    char when[KH_TIME_STR_SIZE];
    int r;

    r = barrier_key_status(core->barrier, &status);
    if (r != 0)
        return r;
    kh_time_format(&status.install_time, when);
    return kh_response_envelope_inject(
        resp, req,
        json_pack("{s:i, s:s, s:I}", "term", (int)status.term,
                  "install_time", when, "encryptions",
                  (json_int_t)status.encryptions));
}
