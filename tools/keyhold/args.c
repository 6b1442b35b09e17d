/*
 * args.c - k=v, k=@file, k=- and JSON-object arguments into a request body.
 *
 * Owns the data read from files and standard input while it is turned into
 * JSON, and wipes it afterwards (the values are usually secrets). Must
 * never read standard input twice, nor more than CLI_INPUT_BYTES_MAX from
 * any source.
 */
#include "args.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"

struct args_state
{
    json_t *result;
    FILE *in;
    bool stdin_used;
    char *errmsg;
    size_t errmsg_size;
};

/* Read the whole of a file ("-" = standard input) into *ret_data. */
static int args_read(struct args_state *st, const char *path, char **ret_data,
                     size_t *ret_len)
{
    int r;

    if (strcmp(path, "-") == 0) {
        if (st->in == NULL || st->stdin_used)
            return kh_errmsg(st->errmsg, st->errmsg_size, KH_EINVAL,
                             "stdin already consumed");
        st->stdin_used = true;
        r = cli_read_stream(st->in, CLI_INPUT_BYTES_MAX, ret_data, ret_len);
        path = "stdin";
    } else {
        r = cli_read_file(path, CLI_INPUT_BYTES_MAX, ret_data, ret_len);
    }
    if (r == KH_ETOOBIG)
        return kh_errmsg(st->errmsg, st->errmsg_size, r,
                         "%s is larger than %u bytes", path,
                         CLI_INPUT_BYTES_MAX);
    if (r < 0)
        return kh_errmsg(st->errmsg, st->errmsg_size, r, "error reading %s: %s",
                         path, r == KH_EIO ? strerror(errno) : kh_strerror(r));
    return 0;
}

/* "-" or "@FILE" alone: a JSON object whose members are merged in. */
static int args_merge_object(struct args_state *st, const char *path)
{
    json_error_t error;
    json_t *object = NULL;
    char *data = NULL;
    size_t len = 0;
    int r = KH_EINTERNAL;

    r = args_read(st, path, &data, &len);
    if (r < 0)
        goto out;
    object = json_loadb(data, len, 0, &error);
    if (!json_is_object(object)) {
        r = kh_errmsg(st->errmsg, st->errmsg_size, KH_EINVAL,
                      "%s does not hold a JSON object: %s",
                      strcmp(path, "-") == 0 ? "stdin" : path,
                      object == NULL ? error.text : "not an object");
        goto out;
    }
    if (json_object_update(st->result, object) != 0) {
        r = KH_ENOMEM;
        goto out;
    }
    r = 0; /* success */
out:
    json_decref(object);
    kh_free_secret(data, len + 1);
    return r;
}

/* Set key, or append to the list a repeated key has become. Steals
 * value. */
static int args_set(struct args_state *st, const char *key, json_t *value)
{
    json_t *existing = json_object_get(st->result, key);
    json_t *list;

    if (value == NULL)
        return KH_ENOMEM;
    if (existing == NULL)
        return json_object_set_new(st->result, key, value) == 0 ? 0 : KH_ENOMEM;
    if (json_is_array(existing))
        return json_array_append_new(existing, value) == 0 ? 0 : KH_ENOMEM;
    list = json_array();
    if (list == NULL || json_array_append(list, existing) != 0 ||
        json_array_append_new(list, value) != 0) {
        json_decref(list);
        return KH_ENOMEM;
    }
    return json_object_set_new(st->result, key, list) == 0 ? 0 : KH_ENOMEM;
}

/* "k=v", "k=@file", "k=\@literal" or "k=-". */
static int args_pair(struct args_state *st, const char *arg)
{
    const char *eq = strchr(arg, '=');
    const char *value;
    json_t *string;
    char *key = NULL;
    char *data = NULL;
    size_t len = 0;
    int r = KH_EINTERNAL;

    if (eq == NULL)
        return kh_errmsg(st->errmsg, st->errmsg_size, KH_EINVAL,
                         "format must be key=value: %s", arg);
    key = strndup(arg, (size_t)(eq - arg));
    if (key == NULL)
        return KH_ENOMEM;
    string = json_string(key);
    if (string == NULL) {
        r = kh_errmsg(st->errmsg, st->errmsg_size, KH_EINVAL,
                      "a key is not valid UTF-8 text");
        goto out;
    }
    json_decref(string);
    value = eq + 1;
    if (value[0] == '@' || strcmp(value, "-") == 0) {
        r = args_read(st, value[0] == '@' ? value + 1 : value, &data, &len);
        if (r < 0)
            goto out;
        value = data;
    } else {
        len = strlen(value);
        if (value[0] == '\\' && value[1] == '@')
            value++, len--;
    }
    string = json_stringn(value, len);
    if (string == NULL) {
        r = kh_errmsg(st->errmsg, st->errmsg_size, KH_EINVAL,
                      "the value of %s is not valid UTF-8 text", key);
        goto out;
    }
    r = args_set(st, key, string);
    if (r < 0)
        goto out;
    r = 0; /* success */
out:
    free(key);
    kh_free_secret(data, len + 1);
    return r;
}

int cli_args_build(size_t argc, char **argv, FILE *in, json_t **ret_object,
                   char *errmsg, size_t errmsg_size)
{
    struct args_state st = {.in = in,
                            .stdin_used = false,
                            .errmsg = errmsg,
                            .errmsg_size = errmsg_size};
    size_t i;
    int r = KH_EINTERNAL;

    KH_ASSERT(argv != NULL || argc == 0);
    KH_ASSERT(ret_object != NULL);
    st.result = json_object();
    if (st.result == NULL)
        return KH_ENOMEM;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "-") == 0 || arg[0] == '@')
            r = args_merge_object(&st, arg[0] == '@' ? arg + 1 : arg);
        else
            r = args_pair(&st, arg);
        if (r == KH_ENOMEM)
            kh_errmsg(errmsg, errmsg_size, r, "out of memory");
        if (r < 0)
            goto out;
    }
    *ret_object = st.result;
    st.result = NULL;
    r = 0; /* success */
out:
    json_decref(st.result);
    return r;
}
