/*
 * approle_login.c - POST auth/<mount>/login {role_id, secret_id}
 * (Vault API: AppRole): resolve the role by the salted hash of its role ID,
 * check and consume the secret ID, issue a token.
 *
 * Owns the login decision. It must never tell a wrong role ID from a wrong
 * secret ID (both answer 400 "invalid role or secret ID"), compares the
 * role ID in constant time, and consumes a use-limited secret ID under the
 * mount's mutex (held by the caller) so that N concurrent logins with a
 * num_uses = 1 secret ID yield exactly one token.
 */
#include "auth/approle/approle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "mount/mount_table.h"
#include "token/token_store.h"

#define ROLE_ID_DOMAIN "role_id"
#define SECRET_DOMAIN  "secret_id"
#define LOGIN_INVALID  "invalid role or secret ID"
/* Internal marker for "credentials do not match" (never returned). */
#define LOGIN_DENIED KH_EPERM

/* Resolve role_id to its role; LOGIN_DENIED when no role has it. */
static int login_role(const struct approle_call *call, const char *role_id,
                      struct approle_role *role)
{
    char hmac[APPROLE_HMAC_HEX_BYTES], key[APPROLE_KEY_BYTES_MAX];
    char name[APPROLE_NAME_BYTES_MAX + 1];
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = approle_hmac(call->state, call->br->view, ROLE_ID_DOMAIN, role_id,
                     hmac);
    if (r == 0)
        r = approle_key(key, "role_id", NULL, hmac);
    if (r == 0)
        r = view_get(call->br->view, key, &value, &len);
    if (r == 0 && (len == 0 || len > APPROLE_NAME_BYTES_MAX))
        r = KH_ECORRUPT;
    if (r == 0) {
        memcpy(name, value, len);
        name[len] = '\0';
        r = approle_role_load(call->br->view, name, role);
    }
    free(value);
    if (r == KH_ENOTFOUND)
        return LOGIN_DENIED;
    if (r == 0 && (strlen(role->role_id) != strlen(role_id) ||
                   !kh_ct_equal(role->role_id, role_id, strlen(role_id))))
        return LOGIN_DENIED;
    return r;
}

/* Take one use of s (stored at hmac): the last use removes it. */
static int secret_consume(const struct approle_call *call,
                          const struct approle_role *role, const char *hmac,
                          struct approle_secret *s)
{
    char key[APPROLE_KEY_BYTES_MAX];
    char *text = NULL;
    size_t len = 0;
    int r;

    KH_ASSERT(s->num_uses <= APPROLE_SECRET_ID_NUM_USES_MAX);
    KH_ASSERT(role->name[0] != '\0');
    if (s->num_uses == 0)
        return 0;
    if (s->num_uses == 1)
        return approle_secret_remove(call->br->view, role->name, hmac,
                                     s->accessor);
    s->num_uses--;
    s->last_updated_time = approle_now();
    r = approle_key(key, "secret_id", role->name, hmac);
    if (r == 0)
        r = approle_secret_encode(s, &text, &len);
    if (r == 0)
        r = view_put(call->br->view, key, (const uint8_t *)text, len);
    kh_free_secret(text, len);
    return r;
}

/* Check the secret ID against the role and consume one use. */
static int login_secret(const struct approle_call *call,
                        const struct approle_role *role, const char *secret_id,
                        struct approle_secret *ret)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];
    struct approle_secret s;
    int r;

    memset(&s, 0, sizeof(s));
    r = approle_hmac(call->state, call->br->view, SECRET_DOMAIN, secret_id,
                     hmac);
    if (r == 0)
        r = approle_secret_load(call->br->view, role->name, hmac, &s);
    if (r == KH_ENOTFOUND)
        return LOGIN_DENIED;
    if (r == 0 && approle_secret_expired(&s, approle_now())) {
        r = approle_secret_remove(call->br->view, role->name, hmac, s.accessor);
        r = r == 0 ? LOGIN_DENIED : r;
    }
    if (r == 0 &&
        !tokenutil_cidrs_allow(&s.cidr_list, call->br->req->remote_addr))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "source address unauthorized through CIDR "
                      "restrictions on the secret ID");
    if (r == 0)
        r = secret_consume(call, role, hmac, &s);
    if (r == 0) {
        *ret = s;
        return 0;
    }
    approle_secret_clear(&s);
    return r;
}

/* "auth/approle/" -> "approle" (Vault names login tokens after the
 * mount). */
static void mount_display_name(const struct approle_call *call, char *out,
                               size_t out_size)
{
    const char *path = call->br->mount != NULL ? call->br->mount->path : "";
    size_t len;

    if (strncmp(path, "auth/", 5) == 0)
        path += 5;
    len = strlen(path);
    if (len > 0 && path[len - 1] == '/')
        len--;
    snprintf(out, out_size, "%.*s", (int)len, len > 0 ? path : "approle");
}

/* Issue the token: the role's token fields, the secret ID's
 * token_bound_cidrs when it has some, metadata {role_name, ...}. */
static int login_issue(const struct approle_call *call,
                       const struct approle_role *role,
                       const struct approle_secret *s)
{
    char display[MOUNT_PATH_BYTES_MAX], path[MOUNT_PATH_BYTES_MAX + 8];
    struct token_params params;
    json_t *meta;
    size_t i;
    int r = KH_ENOMEM;

    KH_ASSERT(role->name[0] != '\0');
    KH_ASSERT(s->token_bound_cidrs.count <= TOKENUTIL_CIDRS_MAX);
    memset(&params, 0, sizeof(params));
    tokenutil_params(&role->token, &params);
    for (i = 0; i < s->token_bound_cidrs.count; i++)
        params.bound_cidrs[i] = s->token_bound_cidrs.items[i];
    if (s->token_bound_cidrs.count > 0)
        params.bound_cidr_count = s->token_bound_cidrs.count;
    meta = s->metadata != NULL ? json_deep_copy(s->metadata) : json_object();
    if (meta == NULL ||
        json_object_set_new(meta, "role_name", json_string(role->name)) != 0)
        goto out;
    mount_display_name(call, display, sizeof(display));
    snprintf(path, sizeof(path), "%slogin",
             call->br->mount != NULL ? call->br->mount->path : "");
    params.meta = meta;
    params.display_name = display;
    params.path = path;
    params.renewable = true;
    r = token_store_issue(call->br->core->tokens, call->br->mount, &params,
                          call->br->req, call->resp, call->errmsg,
                          call->errmsg_size);
out:
    json_decref(meta);
    return r;
}

/* Spend the work of a secret ID check when the role ID was wrong, so the
 * two failures cost about the same. */
static void login_equalise(const struct approle_call *call,
                           const char *secret_id)
{
    char hmac[APPROLE_HMAC_HEX_BYTES];

    if (secret_id != NULL && approle_hmac(call->state, call->br->view,
                                          SECRET_DOMAIN, secret_id, hmac) == 0)
        kh_wipe(hmac, sizeof(hmac));
}

int approle_login(const struct approle_call *call)
{
    const char *role_id = kh_request_string(call->br->req, "role_id");
    const char *secret_id = kh_request_string(call->br->req, "secret_id");
    struct approle_role *role;
    struct approle_secret s;
    int r;

    if (role_id == NULL || role_id[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing role_id");
    memset(&s, 0, sizeof(s));
    role = malloc(sizeof(*role));
    if (role == NULL)
        return KH_ENOMEM;
    r = strlen(role_id) > APPROLE_ROLE_ID_BYTES_MAX
            ? LOGIN_DENIED
            : login_role(call, role_id, role);
    if (r == LOGIN_DENIED)
        login_equalise(call, secret_id);
    if (r == 0 && !tokenutil_cidrs_allow(&role->secret_id_bound_cidrs,
                                         call->br->req->remote_addr))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "source address unauthorized by CIDR restrictions "
                      "on the role");
    if (r == 0 && role->bind_secret_id &&
        (secret_id == NULL || secret_id[0] == '\0'))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "missing secret_id");
    if (r == 0 && role->bind_secret_id)
        r = login_secret(call, role, secret_id, &s);
    if (r == LOGIN_DENIED)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      LOGIN_INVALID);
    else if (r == 0)
        r = login_issue(call, role, &s);
    approle_secret_clear(&s);
    kh_free_secret(role, sizeof(*role));
    return r;
}
