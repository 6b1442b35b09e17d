/*
 * authutil.c - storage helpers shared by the auth methods (see
 * authutil.h).
 *
 * Owns nothing beyond one call: it reads the view and builds JSON. It must
 * never decide permissions nor write storage.
 */
#include "auth/authutil.h"

#include "common/err.h"
#include "storage/storage.h"

int auth_list_keys(const struct barrier_view *view, const char *prefix,
                   json_t **ret_data)
{
    struct kh_storage_list list = {0};
    json_t *keys = NULL, *data = NULL;
    size_t i;
    int r;

    r = view_list(view, prefix, &list);
    if (r == 0 && list.count == 0)
        r = KH_ENOTFOUND;
    if (r != 0)
        goto out;
    r = KH_ENOMEM;
    keys = json_array();
    if (keys == NULL)
        goto out;
    for (i = 0; i < list.count; i++) {
        if (json_array_append_new(keys, json_string(list.keys[i])) != 0)
            goto out;
    }
    data = json_pack("{s:O}", "keys", keys);
    if (data == NULL)
        goto out;
    *ret_data = data;
    r = 0; /* success */
out:
    json_decref(keys);
    kh_storage_list_free(&list);
    return r;
}
