/*
 * sys_seal.c - sys/init, sys/unseal, sys/seal, sys/step-down
 * (Vault API: sys/init, §2.2, §2.4). Key shares pass through here decoded in
 * a stack buffer that is wiped before return.
 */
#include <string.h>

#include "common/err.h"
#include "raft/raft_node.h"
#include "common/secret.h"
#include "core/core.h"
#include "core/sys/sys_handlers.h"

int sys_init_read(struct kh_core *core, const struct kh_request *req,
                  struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    struct kh_core_status s;

    kh_core_status(core, &s);
    return kh_response_raw(resp,
                           json_pack("{s:b}", "initialized", s.initialized));
}

static int init_field(const struct kh_request *req, const char *name,
                      unsigned def, unsigned *ret, char *errmsg,
                      size_t errmsg_size)
{
    unsigned long long v = 0;
    int r;

    r = kh_request_uint(req, name, def, KH_SHAMIR_SHARES_MAX, &v, errmsg,
                        errmsg_size);
    if (r == 0)
        *ret = (unsigned)v;
    return r;
}

static bool field_present(const struct kh_request *req, const char *name)
{
    json_t *v = json_object_get(req->data, name);

    return v != NULL && !json_is_null(v) &&
           !(json_is_string(v) && json_string_length(v) == 0) &&
           !(json_is_array(v) && json_array_size(v) == 0);
}

int sys_init_write(struct kh_core *core, const struct kh_request *req,
                   struct kh_response *resp, char *errmsg,
                   size_t errmsg_size)
{
    struct kh_init_request init = {0};
    json_t *result = NULL;
    int r;

    if (field_present(req, "pgp_keys") ||
        field_present(req, "root_token_pgp_key") ||
        field_present(req, "recovery_pgp_keys"))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "PGP-encrypted key shares are not supported");
    r = init_field(req, "secret_shares", 0, &init.secret_shares, errmsg,
                   errmsg_size);
    if (r == 0)
        r = init_field(req, "secret_threshold", 0, &init.secret_threshold,
                       errmsg, errmsg_size);
    if (r == 0)
        r = init_field(req, "recovery_shares", 0, &init.recovery_shares,
                       errmsg, errmsg_size);
    if (r == 0)
        r = init_field(req, "recovery_threshold", 0,
                       &init.recovery_threshold, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = kh_core_init(core, &init, &result, errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_raw(resp, result);
}

int sys_decode_share(const char *text, uint8_t *out, size_t out_size,
                     size_t *ret_len)
{
    size_t len = strlen(text);
    size_t n = 0;

    if (len > KH_UNSEAL_KEY_TEXT_MAX)
        return KH_EINVAL;
    if (kh_hex_decode(text, len, out, out_size, &n) == 0 &&
        (n == KH_ROOT_KEY_BYTES || n == KH_SHARE_BYTES_MAX)) {
        *ret_len = n;
        return 0;
    }
    if (kh_base64_decode(text, len, out, out_size, &n) == 0 && n > 0) {
        *ret_len = n;
        return 0;
    }
    kh_wipe(out, out_size);
    return KH_EINVAL;
}

int sys_unseal(struct kh_core *core, const struct kh_request *req,
               struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    uint8_t share[KH_UNSEAL_KEY_TEXT_MAX];
    size_t share_len = 0;
    const char *key = kh_request_string(req, "key");
    bool reset = false, migrate = false;
    int r;

    r = kh_request_bool(req, "reset", false, &reset, errmsg, errmsg_size);
    if (r == 0)
        r = kh_request_bool(req, "migrate", false, &migrate, errmsg,
                            errmsg_size);
    if (r != 0)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "seal migration is not supported");
    if (migrate)
        goto out;
    if (key != NULL && key[0] != '\0' && !reset) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "'key' must be a valid hex or base64 string");
        if (sys_decode_share(key, share, sizeof(share), &share_len) != 0)
            goto out;
    }
    r = kh_core_unseal(core, share_len > 0 ? share : NULL, share_len, reset,
                       errmsg, errmsg_size);
    if (r == 0)
        r = kh_response_raw(resp, sys_seal_status_json(core));
out:
    kh_wipe(share, sizeof(share));
    return r;
}

int sys_seal(struct kh_core *core, const struct kh_request *req,
             struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    int r;

    r = kh_core_seal(core);
    if (r == 0)
        kh_response_no_content(resp);
    return r;
}

int sys_step_down(struct kh_core *core, const struct kh_request *req,
                  struct kh_response *resp, char *errmsg, size_t errmsg_size)
{
    int r;

    (void)req;
    /* A single node is always the active node: nothing to step down to. */
    if (core->raft != NULL) {
        r = kh_raft_node_step_down(core->raft, KH_RAFT_CHANGE_TIMEOUT_MS);
        if (r != 0)
            return kh_errmsg(errmsg, errmsg_size, r, "cannot step down: %s",
                             kh_strerror(r));
    }
    kh_response_no_content(resp);
    return 0;
}
