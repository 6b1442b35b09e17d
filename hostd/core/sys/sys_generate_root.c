/*
 * sys_generate_root.c - sys/generate-root/attempt and /update
 * (Vault API: sys/generate-root). Unauthenticated by design: the key shares are the
 * credential. PGP delivery is not offered (400), only the OTP scheme.
 */
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "core/sys/sys_handlers.h"

int sys_generate_root_read(struct kh_core *core, const struct kh_request *req,
                           struct kh_response *resp, char *errmsg,
                           size_t errmsg_size)
{
    json_t *status = NULL;
    int r;

    r = kh_core_generate_root_status(core, &status);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r,
                         "server is not yet initialized");
    return kh_response_raw(resp, status);
}

int sys_generate_root_start(struct kh_core *core,
                            const struct kh_request *req,
                            struct kh_response *resp, char *errmsg,
                            size_t errmsg_size)
{
    const char *pgp = kh_request_string(req, "pgp_key");
    json_t *status = NULL;
    int r;

    if (pgp != NULL && pgp[0] != '\0')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "PGP-encrypted root tokens are not supported; "
                         "use an OTP");
    r = kh_core_generate_root_start(core, kh_request_string(req, "otp"),
                                    &status, errmsg, errmsg_size);
    if (r != 0)
        return r;
    return kh_response_raw(resp, status);
}

int sys_generate_root_cancel(struct kh_core *core,
                             const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size)
{
    kh_core_generate_root_cancel(core);
    kh_response_no_content(resp);
    return 0;
}

int sys_generate_root_update(struct kh_core *core,
                             const struct kh_request *req,
                             struct kh_response *resp, char *errmsg,
                             size_t errmsg_size)
{
    uint8_t share[KH_UNSEAL_KEY_TEXT_MAX];
    size_t share_len = 0;
    const char *key = kh_request_string(req, "key");
    json_t *status = NULL;
    int r;

    r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                  "'key' must be a valid hex or base64 string");
    if (key == NULL || sys_decode_share(key, share, sizeof(share),
                                        &share_len) != 0)
        goto out;
    r = kh_core_generate_root_update(core, share, share_len,
                                     kh_request_string(req, "nonce"), &status,
                                     errmsg, errmsg_size);
    if (r == 0)
        r = kh_response_raw(resp, status);
out:
    kh_wipe(share, sizeof(share));
    return r;
}
