/*
 * userpass_users.c - userpass users (Vault API: userpass): users/:username
 * create, update, read, delete, LIST users, users/:username/password and
 * users/:username/policies; the stored user record.
 *
 * Owns the user record. It must never return or log a password or its
 * hash (reads show the token fields only), and it runs every write under
 * the mount's mutex (held by the caller).
 */
#include "auth/userpass/userpass.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

int userpass_respond(const struct userpass_call *call, json_t *data)
{
    if (data == NULL)
        return KH_ENOMEM;
    return kh_response_envelope(call->resp, call->br->req, data);
}

static bool name_char(char c, bool edge)
{
    if (isalnum((unsigned char)c) || c == '_')
        return true;
    return !edge && (c == '-' || c == '.' || c == '@');
}

int userpass_name_check(const char *name, size_t len,
                        char out[USERPASS_NAME_BYTES_MAX + 1], char *errmsg,
                        size_t errmsg_size)
{
    size_t i;

    KH_ASSERT(name != NULL);
    if (len == 0 || len > USERPASS_NAME_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "username must be 1 to %d bytes",
                         USERPASS_NAME_BYTES_MAX);
    for (i = 0; i < len; i++) {
        if (!name_char(name[i], i == 0 || i == len - 1))
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "invalid username: use letters, digits, '_', "
                             "'-', '.' and '@', starting and ending with a "
                             "letter, digit or '_'");
        out[i] = (char)tolower((unsigned char)name[i]);
    }
    out[len] = '\0';
    return 0;
}

static int user_key(char out[USERPASS_KEY_BYTES_MAX], const char *name)
{
    int n = snprintf(out, USERPASS_KEY_BYTES_MAX, "user/%s", name);

    return n < 0 || n >= USERPASS_KEY_BYTES_MAX ? KH_ELIMIT : 0;
}

/* The members of a stored user into user. */
static int user_decode(const uint8_t *value, size_t len,
                       struct userpass_user *user)
{
    char msg[KH_ERRMSG_SIZE];
    const json_t *name;
    json_t *obj;
    int r = KH_ECORRUPT;

    obj = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    name = json_object_get(obj, "name");
    if (!json_is_object(obj) || !json_is_string(name) ||
        json_string_length(name) >= sizeof(user->name))
        goto out;
    memcpy(user->name, json_string_value(name), json_string_length(name) + 1);
    r = userpass_hash_decode(json_object_get(obj, "password"), &user->password);
    if (r == 0 && tokenutil_parse(&user->token, obj, msg, sizeof(msg)) != 0)
        r = KH_ECORRUPT;
out:
    json_decref(obj);
    return r;
}

int userpass_user_load(const struct barrier_view *view, const char *name,
                       struct userpass_user *ret)
{
    char key[USERPASS_KEY_BYTES_MAX];
    struct userpass_user *user = NULL;
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = user_key(key, name);
    if (r == 0)
        r = view_get(view, key, &value, &len);
    if (r == 0) {
        user = calloc(1, sizeof(*user));
        r = user != NULL ? 0 : KH_ENOMEM;
    }
    if (r == 0) {
        tokenutil_init(&user->token);
        r = user_decode(value, len, user);
    }
    if (r == 0)
        *ret = *user;
    kh_free_secret(user, user != NULL ? sizeof(*user) : 0);
    kh_free_secret(value, len);
    return r;
}

static int user_save(const struct userpass_call *call,
                     const struct userpass_user *user)
{
    char key[USERPASS_KEY_BYTES_MAX];
    char *text = NULL;
    size_t len = 0;
    json_t *obj;
    int r = KH_ENOMEM;

    KH_ASSERT(user->name[0] != '\0');
    KH_ASSERT(user->password.n != 0);
    obj = json_pack("{s:s, s:o}", "name", user->name, "password",
                    userpass_hash_encode(&user->password));
    if (obj == NULL || tokenutil_encode(&user->token, obj) != 0)
        goto out;
    text = json_dumps(obj, JSON_COMPACT);
    if (text == NULL)
        goto out;
    len = strlen(text);
    r = user_key(key, user->name);
    if (r == 0)
        r = view_put(call->br->view, key, (const uint8_t *)text, len);
out:
    kh_free_secret(text, len);
    json_decref(obj);
    return r;
}

int userpass_users_list(const struct userpass_call *call)
{
    struct kh_storage_list list = {0};
    json_t *keys = NULL;
    size_t i;
    int r;

    r = view_list(call->br->view, "user/", &list);
    if (r == 0 && list.count == 0)
        r = KH_ENOTFOUND;
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    keys = json_array();
    for (i = 0; keys != NULL && i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0)
            goto out;
    }
    if (keys != NULL)
        r = userpass_respond(call, json_pack("{s:O}", "keys", keys));
out:
    json_decref(keys);
    kh_storage_list_free(&list);
    return r;
}

int userpass_user_read(const struct userpass_call *call)
{
    struct userpass_user *user;
    json_t *data = NULL;
    int r;

    user = malloc(sizeof(*user));
    if (user == NULL)
        return KH_ENOMEM;
    r = userpass_user_load(call->br->view, call->username, user);
    if (r == 0) {
        data = json_object();
        r = data != NULL ? tokenutil_describe(&user->token, data) : KH_ENOMEM;
    }
    if (r == 0) {
        r = userpass_respond(call, data);
        data = NULL;
    }
    json_decref(data);
    kh_free_secret(user, sizeof(*user));
    return r;
}

int userpass_user_exists(const struct userpass_call *call, bool *ret_exists)
{
    struct userpass_user *user;
    int r;

    user = malloc(sizeof(*user));
    if (user == NULL)
        return KH_ENOMEM;
    r = userpass_user_load(call->br->view, call->username, user);
    kh_free_secret(user, sizeof(*user));
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    return 0;
}

/* The request's password (*ret NULL when absent); 400 when empty, too
 * long, or not a string. */
static int password_field(const struct userpass_call *call, const char **ret,
                          size_t *ret_len)
{
    const json_t *v = tokenutil_field(call->br->req->data, "password");

    *ret = NULL;
    *ret_len = 0;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing password");
    if (json_string_length(v) > USERPASS_PASSWORD_BYTES_MAX)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_ELIMIT,
                         "password is longer than %d bytes",
                         USERPASS_PASSWORD_BYTES_MAX);
    *ret = json_string_value(v);
    *ret_len = json_string_length(v);
    return 0;
}

/* Load the user or start a new one; *ret_created tells which. */
static int user_load_or_new(const struct userpass_call *call,
                            struct userpass_user *user, bool *ret_created)
{
    int r;

    r = userpass_user_load(call->br->view, call->username, user);
    *ret_created = r == KH_ENOTFOUND;
    if (r != KH_ENOTFOUND)
        return r;
    memset(user, 0, sizeof(*user));
    snprintf(user->name, sizeof(user->name), "%s", call->username);
    tokenutil_init(&user->token);
    return 0;
}

int userpass_user_write(const struct userpass_call *call)
{
    struct userpass_user *user;
    const char *password = NULL;
    size_t password_len = 0;
    bool created = false;
    int r;

    if (tokenutil_field(call->br->req->data, "password_hash") != NULL)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "\"password_hash\" is not supported: send "
                         "\"password\"");
    user = malloc(sizeof(*user));
    if (user == NULL)
        return KH_ENOMEM;
    r = password_field(call, &password, &password_len);
    if (r == 0)
        r = user_load_or_new(call, user, &created);
    if (r == 0 && created && password == NULL)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "missing password");
    if (r == 0)
        r = tokenutil_parse(&user->token, call->br->req->data, call->errmsg,
                            call->errmsg_size);
    if (r == 0 && password != NULL)
        r = userpass_hash_new(password, password_len, &user->password);
    if (r == 0)
        r = user_save(call, user);
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(user, sizeof(*user));
    return r;
}

int userpass_user_delete(const struct userpass_call *call)
{
    char key[USERPASS_KEY_BYTES_MAX];
    int r;

    r = user_key(key, call->username);
    if (r == 0)
        r = view_delete(call->br->view, key);
    if (r == KH_ENOTFOUND)
        r = 0;
    if (r == 0)
        kh_response_no_content(call->resp);
    return r;
}

/* Load an existing user for a sub-resource update: 400 when absent. */
static int user_existing(const struct userpass_call *call,
                         struct userpass_user *user)
{
    int r = userpass_user_load(call->br->view, call->username, user);

    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "username does not exist");
    return r;
}

int userpass_user_password(const struct userpass_call *call)
{
    struct userpass_user *user;
    const char *password = NULL;
    size_t password_len = 0;
    int r;

    user = malloc(sizeof(*user));
    if (user == NULL)
        return KH_ENOMEM;
    r = password_field(call, &password, &password_len);
    if (r == 0 && password == NULL)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "missing password");
    if (r == 0)
        r = user_existing(call, user);
    if (r == 0)
        r = userpass_hash_new(password, password_len, &user->password);
    if (r == 0)
        r = user_save(call, user);
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(user, sizeof(*user));
    return r;
}

int userpass_user_policies(const struct userpass_call *call)
{
    const json_t *data = call->br->req->data;
    struct userpass_user *user;
    const char *name;
    bool present = false;
    int r;

    user = malloc(sizeof(*user));
    if (user == NULL)
        return KH_ENOMEM;
    r = user_existing(call, user);
    name = tokenutil_pick(data, "token_policies", "policies");
    if (r == 0 && name == NULL)
        user->token.policies.count = 0; /* Vault: no field clears them */
    else if (r == 0)
        r = tokenutil_field_policies(data, name, &present,
                                     &user->token.policies, call->errmsg,
                                     call->errmsg_size);
    if (r == 0)
        r = user_save(call, user);
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(user, sizeof(*user));
    return r;
}
