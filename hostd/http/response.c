/*
 * response.c - error to status mapping and response rendering.
 *
 * The table below is the only mapping from KH_E* codes to HTTP statuses in
 * the project. Error texts go to the client as given: callers never put
 * secrets in them (CONVENTIONS 6).
 */
#include "http/response.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct status_row
{
    int error;
    unsigned status;
};

static const struct status_row status_table[] = {
    {KH_EINVAL, 400},     {KH_ESTATE, 400},      {KH_ELIMIT, 400},
    {KH_EPERM, 403},      {KH_ENOTFOUND, 404},   {KH_EMETHOD, 405},
    {KH_ECONFLICT, 409},  {KH_ETOOBIG, 413},     {KH_EMEDIATYPE, 415},
    {KH_EINTERNAL, 500},  {KH_EIO, 500},         {KH_ECORRUPT, 500},
    {KH_EHSM, 500},       {KH_EAUTH, 500},       {KH_ECONFIG, 500},     {KH_EFULL, 507},
    {KH_ENOMEM, 503},     {KH_ESEALED, 503},     {KH_EUNINIT, 503},
    {KH_EUNAVAIL, 503},
};

unsigned http_status_for_error(int r)
{
    size_t i;

    for (i = 0; i < KH_ARRAY_LEN(status_table); i++) {
        if (status_table[i].error == r)
            return status_table[i].status;
    }
    return 500;
}

void http_response_error(struct kh_response *resp, int r, const char *errmsg)
{
    const char *text = errmsg;
    json_t *errors;

    kh_response_clear(resp);
    resp->status = (int)http_status_for_error(r);
    if (text == NULL || text[0] == '\0') {
        text = kh_strerror(r);
        if (r == KH_ENOTFOUND || r == KH_EMETHOD)
            text = NULL;
    }
    if (r == KH_ESEALED || r == KH_EUNINIT)
        text = "Vault is sealed";
    errors = json_array();
    if (errors != NULL && text != NULL)
        json_array_append_new(errors, json_string(text));
    resp->body = json_pack("{s:o}", "errors", errors);
}

int http_response_render(const struct kh_response *resp, char **ret_text,
                         size_t *ret_len, unsigned *ret_status)
{
    char *text = NULL;

    if (resp->text != NULL) {
        text = strdup(resp->text);
        if (text == NULL)
            return KH_ENOMEM;
        *ret_status = resp->status != 0 ? (unsigned)resp->status : 200;
    } else if (resp->body != NULL) {
        text = json_dumps(resp->body, JSON_COMPACT);
        if (text == NULL)
            return KH_ENOMEM;
        *ret_status = resp->status != 0 ? (unsigned)resp->status : 200;
    } else {
        *ret_status = resp->status != 0 && resp->status != 200
                          ? (unsigned)resp->status
                          : 204;
    }
    *ret_text = text;
    *ret_len = text != NULL ? strlen(text) : 0;
    return 0;
}
