/*
 * http.c - one HTTP exchange with the server over libcurl.
 *
 * Owns the curl easy handle of a request, its header list (which holds a
 * copy of the token and is wiped before it is freed) and the response
 * buffer. Must never put the token into a URL or an error message, never
 * follow a redirect from https to plain http (the token would travel in the
 * clear), and never read more than CLI_RESPONSE_BYTES_MAX bytes.
 */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common/err.h"
#include "common/secret.h"

struct http_sink
{
    struct cli_buf buf;
    int error; /* first append failure, KH_ETOOBIG or KH_ENOMEM */
};

static size_t http_write_cb(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct http_sink *sink = user;
    size_t n = size * nmemb;
    int r;

    r = cli_buf_append(&sink->buf, ptr, n);
    if (r < 0) {
        sink->error = r;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Go's RFC 3986 path escaping: unreserved and sub-delims stay, and '/'. */
static bool path_byte_is_plain(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-._~/!$&'()*+,;=:@", c) != NULL;
}

static int http_url_build(const char *address, const char *path,
                          const char *query, char **ret_url)
{
    struct cli_buf url;
    size_t address_len = strlen(address);
    size_t i;
    int r = KH_EINTERNAL;

    cli_buf_init(&url, CLI_URL_BYTES_MAX);
    while (address_len > 0 && address[address_len - 1] == '/')
        address_len--;
    r = cli_buf_append(&url, address, address_len);
    if (r == 0)
        r = cli_buf_puts(&url, "/v1/");
    for (i = 0; r == 0 && path[i] != '\0'; i++) {
        unsigned char c = (unsigned char)path[i];
        if (path_byte_is_plain(c))
            r = cli_buf_append(&url, &path[i], 1);
        else
            r = cli_buf_printf(&url, "%%%02X", c);
    }
    if (r == 0 && query != NULL && query[0] != '\0')
        r = cli_buf_printf(&url, "?%s", query);
    if (r < 0)
        goto out;
    r = cli_buf_steal(&url, ret_url, &address_len);
    if (r < 0)
        goto out;
    r = 0; /* success */
out:
    cli_buf_free(&url);
    return r;
}

static int http_header_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *next = curl_slist_append(*list, line);

    if (next == NULL)
        return KH_ENOMEM;
    *list = next;
    return 0;
}

static int http_headers_build(const struct cli_ctx *ctx, const char *method,
                              bool has_body, struct curl_slist **ret_headers)
{
    struct curl_slist *headers = NULL;
    char line[sizeof("X-Vault-Token: ") + CLI_TOKEN_BYTES_MAX];
    int r = KH_ENOMEM;

    line[0] = '\0';
    r = http_header_add(&headers, "X-Vault-Request: true");
    /* No "Expect: 100-continue" round trip for larger bodies. */
    if (r == 0)
        r = http_header_add(&headers, "Expect:");
    /* Vault refuses a PATCH that is not a JSON merge patch (415). */
    if (r == 0 && has_body)
        r = http_header_add(&headers,
                            strcmp(method, "PATCH") == 0
                                ? "Content-Type: application/merge-patch+json"
                                : "Content-Type: application/json");
    /* An empty POST: no form content type from curl either. */
    if (r == 0 && !has_body)
        r = http_header_add(&headers, "Content-Type:");
    if (r == 0 && ctx->token != NULL) {
        KH_ASSERT(ctx->token_len <= CLI_TOKEN_BYTES_MAX);
        (void)snprintf(line, sizeof(line), "X-Vault-Token: %s", ctx->token);
        r = http_header_add(&headers, line);
    }
    if (r < 0)
        goto out;
    *ret_headers = headers;
    headers = NULL;
    r = 0; /* success */
out:
    kh_wipe(line, sizeof(line));
    curl_slist_free_all(headers);
    return r;
}

/* curl_slist_free_all() frees without wiping; the token is in there. */
static void http_headers_free(struct curl_slist *headers)
{
    struct curl_slist *item;

    for (item = headers; item != NULL; item = item->next)
        kh_wipe(item->data, strlen(item->data));
    curl_slist_free_all(headers);
}

/* Method-specific options: GET is curl's default, POST carries the body
 * (an empty one when there is none: without POSTFIELDS curl would send a
 * GET), the others are custom verbs (kept across redirects). */
static CURLcode http_method_set(CURL *curl, const char *method,
                                const char *body, size_t body_len)
{
    CURLcode c = CURLE_OK;
    bool post = strcmp(method, "POST") == 0;

    if (body != NULL || post) {
        c = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(body != NULL ? body_len : 0));
        if (c == CURLE_OK)
            c = curl_easy_setopt(curl, CURLOPT_POSTFIELDS,
                                 body != NULL ? body : "");
    }
    if (c == CURLE_OK && strcmp(method, "GET") == 0)
        c = curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    else if (c == CURLE_OK && !post)
        c = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    return c;
}

static CURLcode http_options_set(CURL *curl, const struct cli_ctx *ctx,
                                 const char *url, char *errbuf)
{
    bool https = strncmp(url, "https://", 8) == 0;
    CURLcode c;

    c = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_TIMEOUT, CLI_TIMEOUT_S);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                             (curl_off_t)CLI_RESPONSE_BYTES_MAX);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR,
                             https ? "https" : "http,https");
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_MAXREDIRS, CLI_REDIRECTS_MAX);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_POSTREDIR, CURL_REDIR_POST_ALL);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_USERAGENT, "keyhold/" KH_VERSION);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_SSLVERSION,
                             (long)CURL_SSLVERSION_TLSv1_2);
    if (c == CURLE_OK && ctx->ca_cert != NULL)
        c = curl_easy_setopt(curl, CURLOPT_CAINFO, ctx->ca_cert);
    if (c == CURLE_OK && ctx->skip_verify)
        c = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    if (c == CURLE_OK && ctx->skip_verify)
        c = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    return c;
}

/* "Get", "Post", ...: the operation name Go's url.Error prints. */
static void http_op_name(const char *method, char *out, size_t out_size)
{
    size_t i;

    for (i = 0; method[i] != '\0' && i + 1 < out_size; i++)
        out[i] = i == 0 ? method[i] : (char)(method[i] | 0x20);
    out[i] = '\0';
}

static int http_failure(CURL *curl, CURLcode c, const char *method,
                        const char *url, const char *errbuf,
                        const struct http_sink *sink, char *errmsg,
                        size_t errmsg_size)
{
    char op[16];
    const char *reason = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c);
    long os_errno = 0;

    http_op_name(method, op, sizeof(op));
    if (sink->error == KH_ETOOBIG || c == CURLE_FILESIZE_EXCEEDED)
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "%s \"%s\": response larger than %u bytes", op, url,
                         CLI_RESPONSE_BYTES_MAX);
    if (sink->error == KH_ENOMEM)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "%s \"%s\": out of memory", op, url);
    (void)curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno != 0 && strstr(reason, strerror((int)os_errno)) == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "%s \"%s\": %s: %s",
                         op, url, reason, strerror((int)os_errno));
    return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL, "%s \"%s\": %s", op, url,
                     reason);
}

int cli_http_request(const struct cli_ctx *ctx, const char *method,
                     const char *path, const char *query, const char *body,
                     size_t body_len, struct cli_http_response *ret_resp,
                     char *errmsg, size_t errmsg_size)
{
    struct http_sink sink = {.error = 0};
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = NULL;
    CURL *curl = NULL;
    CURLcode c;
    long status = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(ctx != NULL && method != NULL && path != NULL);
    KH_ASSERT(ret_resp != NULL);
    cli_buf_init(&sink.buf, CLI_RESPONSE_BYTES_MAX);
    r = http_url_build(ctx->address, path, query, &url);
    if (r < 0) {
        kh_errmsg(errmsg, errmsg_size, r, "request URL for %s is too long",
                  path);
        goto out;
    }
    r = http_headers_build(ctx, method, body != NULL, &headers);
    if (r < 0 || (curl = curl_easy_init()) == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "out of memory");
        goto out;
    }
    c = http_options_set(curl, ctx, url, errbuf);
    if (c == CURLE_OK)
        c = http_method_set(curl, method, body, body_len);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write_cb);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    if (c == CURLE_OK)
        c = curl_easy_perform(curl);
    if (c != CURLE_OK) {
        r = http_failure(curl, c, method, url, errbuf, &sink, errmsg,
                         errmsg_size);
        goto out;
    }
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    r = cli_buf_steal(&sink.buf, &ret_resp->body, &ret_resp->body_len);
    if (r < 0)
        goto out;
    ret_resp->status = status;
    ret_resp->url = url;
    url = NULL;
    r = 0; /* success */
out:
    if (curl != NULL)
        curl_easy_cleanup(curl);
    http_headers_free(headers);
    cli_buf_free(&sink.buf);
    free(url);
    return r;
}

void cli_http_response_free(struct cli_http_response *resp)
{
    if (resp == NULL)
        return;
    if (resp->body != NULL)
        kh_free_secret(resp->body, resp->body_len + 1);
    free(resp->url);
    resp->body = NULL;
    resp->body_len = 0;
    resp->url = NULL;
}
