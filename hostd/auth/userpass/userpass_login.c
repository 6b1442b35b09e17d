/*
 * userpass_login.c - POST auth/<mount>/login/:username {password}
 * (Vault API: userpass): verify the password, issue a token.
 *
 * Owns the login decision. It must never reveal whether a user exists: an
 * unknown user costs the same scrypt run (against a dummy hash) and gets
 * the same 400 "invalid username or password" as a wrong password. It
 * takes no lock, so concurrent logins hash in parallel.
 */
#include "auth/userpass/userpass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"
#include "core/core.h"
#include "mount/mount_table.h"
#include "token/token_store.h"

#define LOGIN_INVALID "invalid username or password"

/* "auth/userpass/" and "bob" -> "userpass-bob" (Vault's display name). */
static void display_name(const struct userpass_call *call, char *out,
                         size_t out_size)
{
    const char *path = call->br->mount != NULL ? call->br->mount->path : "";
    size_t len;

    if (strncmp(path, "auth/", 5) == 0)
        path += 5;
    len = strlen(path);
    if (len > 0 && path[len - 1] == '/')
        len--;
    if (len == 0) {
        path = "userpass";
        len = strlen(path);
    }
    snprintf(out, out_size, "%.*s-%s", (int)len, path, call->username);
}

static int login_issue(const struct userpass_call *call,
                       const struct userpass_user *user)
{
    char display[MOUNT_PATH_BYTES_MAX + USERPASS_NAME_BYTES_MAX + 2];
    char path[MOUNT_PATH_BYTES_MAX + USERPASS_NAME_BYTES_MAX + 8];
    struct token_params params;
    json_t *meta;
    int r;

    KH_ASSERT(user->name[0] != '\0');
    KH_ASSERT(call->username[0] != '\0');
    memset(&params, 0, sizeof(params));
    tokenutil_params(&user->token, &params);
    meta = json_pack("{s:s}", "username", user->name);
    if (meta == NULL)
        return KH_ENOMEM;
    display_name(call, display, sizeof(display));
    snprintf(path, sizeof(path), "%slogin/%s",
             call->br->mount != NULL ? call->br->mount->path : "", user->name);
    params.meta = meta;
    params.display_name = display;
    params.path = path;
    params.renewable = true;
    r = token_store_issue(call->br->core->tokens, call->br->mount, &params,
                          call->br->req, call->resp, call->errmsg,
                          call->errmsg_size);
    json_decref(meta);
    return r;
}

/* Verify password for the user; *ret_ok false for any mismatch, including
 * an unknown user (hashed against a dummy). */
static int login_verify(const struct userpass_call *call, const char *password,
                        size_t len, struct userpass_user *user, bool *ret_ok)
{
    int r;

    *ret_ok = false;
    r = userpass_user_load(call->br->view, call->username, user);
    if (r == KH_ENOTFOUND) {
        userpass_hash_dummy(password, len);
        return 0;
    }
    if (r == 0)
        r = userpass_hash_verify(&user->password, password, len, ret_ok);
    return r;
}

int userpass_login(const struct userpass_call *call)
{
    const json_t *v = tokenutil_field(call->br->req->data, "password");
    struct userpass_user *user;
    bool ok = false;
    int r;

    if (v == NULL || !json_is_string(v) || json_string_length(v) == 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing password");
    if (json_string_length(v) > USERPASS_PASSWORD_BYTES_MAX)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         LOGIN_INVALID);
    user = malloc(sizeof(*user));
    if (user == NULL)
        return KH_ENOMEM;
    r = login_verify(call, json_string_value(v), json_string_length(v), user,
                     &ok);
    if (r == 0 && !ok)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      LOGIN_INVALID);
    /* Vault checks token_bound_cidrs at login too: permission denied. */
    if (r == 0 && !tokenutil_cidrs_allow(&user->token.bound_cidrs,
                                         call->br->req->remote_addr))
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EPERM,
                      "permission denied");
    if (r == 0)
        r = login_issue(call, user);
    kh_free_secret(user, sizeof(*user));
    return r;
}
