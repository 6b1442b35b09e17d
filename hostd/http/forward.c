/*
 * forward.c - the standby's forwarding client (Vault API: high
 * availability, "request forwarding"): one HTTP exchange with the active
 * node per call, over the calling thread's kept-alive libcurl handle.
 *
 * Owns the per-thread handle (a pthread key whose destructor releases it
 * when the thread exits), the request target and header text built for
 * the active node, and the answer buffer until it is handed to the caller.
 * The target and the headers may carry secrets (a token header, a query
 * argument), so they are wiped before they are freed, libcurl's copy of
 * the header list included; the answer buffer is wiped whenever it moves
 * or dies. The request body is passed to libcurl without a copy.
 *
 * It never logs, never follows a redirect, never uses a proxy and never
 * retries on its own (libcurl only reopens a kept-alive connection that
 * the active node closed before answering a byte). The handle is reset
 * before and after every exchange, so it never keeps a pointer into a
 * request that has ended; a reset keeps its live connections.
 */
#include "http/forward.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/secret.h"

#define FORWARD_ANSWER_BYTES_INITIAL 16384u
#define FORWARD_CONTENT_TYPE_NAME    "content-type:"

static_assert(KH_FORWARD_RESPONSE_BYTES_MAX >= 64u * 1024u * 1024u + 65536u,
              "a 64 MiB raft snapshot and its framing fit an answer");
static_assert(KH_FORWARD_CONNECT_TIMEOUT_MS < KH_FORWARD_TIMEOUT_MS,
              "a connect leaves time for the exchange");
static_assert(KH_FORWARD_URL_BYTES_MAX < 1024u * 1024u,
              "a request target stays small");

/* The answer being collected by the libcurl callbacks. */
struct forward_answer
{
    CURL *curl;
    uint8_t *data; /* cap bytes, NUL after len when not NULL */
    size_t len;
    size_t cap;
    size_t max;             /* body bytes allowed */
    int error;              /* set by a callback that stopped the transfer */
    const char *error_text; /* what that callback refused */
    char content_type[KH_FORWARD_CONTENT_TYPE_BYTES_MAX];
};

static _Atomic size_t forward_limit_override;
static _Atomic long forward_timeout_override;

static pthread_once_t forward_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t forward_key;
static int forward_key_status = -1;

static void forward_handle_destroy(void *handle)
{
    curl_easy_cleanup(handle);
}

static void forward_key_create(void)
{
    forward_key_status =
        pthread_key_create(&forward_key, forward_handle_destroy);
}

static bool forward_key_ready(void)
{
    return pthread_once(&forward_key_once, forward_key_create) == 0 &&
           forward_key_status == 0;
}

/* The calling thread's handle, created on first use; NULL when libcurl or
 * the thread key cannot provide one. */
static CURL *forward_handle(void)
{
    CURL *curl;

    if (!forward_key_ready())
        return NULL;
    curl = pthread_getspecific(forward_key);
    if (curl != NULL)
        return curl;
    curl = curl_easy_init();
    if (curl != NULL && pthread_setspecific(forward_key, curl) != 0) {
        curl_easy_cleanup(curl);
        curl = NULL;
    }
    return curl;
}

void http_forward_thread_release(void)
{
    CURL *curl;

    if (!forward_key_ready())
        return;
    curl = pthread_getspecific(forward_key);
    if (curl == NULL)
        return;
    (void)pthread_setspecific(forward_key, NULL);
    curl_easy_cleanup(curl);
}

void http_forward_set_limit_for_tests(size_t bytes_max)
{
    atomic_store(&forward_limit_override, bytes_max);
}

void http_forward_set_timeout_for_tests(long timeout_ms)
{
    KH_ASSERT(timeout_ms >= 0);
    atomic_store(&forward_timeout_override, timeout_ms);
}

static size_t forward_limit(void)
{
    size_t limit = atomic_load(&forward_limit_override);

    return limit != 0 ? limit : KH_FORWARD_RESPONSE_BYTES_MAX;
}

static long forward_timeout_ms(void)
{
    long timeout = atomic_load(&forward_timeout_override);

    return timeout != 0 ? timeout : KH_FORWARD_TIMEOUT_MS;
}

/* ---- what is sent ---- */

static bool forward_is_alnum(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch >= '0' && ch <= '9');
}

/* An HTTP method is a token (RFC 9110 section 5.6.2). */
static bool forward_method_ok(const char *method)
{
    size_t i;

    for (i = 0; method[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)method[i];

        if (i >= KH_FORWARD_METHOD_BYTES_MAX)
            return false;
        if (!forward_is_alnum(ch) && strchr("!#$%&'*+-.^_`|~", ch) == NULL)
            return false;
    }
    return i > 0;
}

/* A header value holds no control character but HTAB. */
static bool forward_value_ok(const char *value)
{
    const unsigned char *p;

    if (value == NULL)
        return true;
    for (p = (const unsigned char *)value; *p != '\0'; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* active_api_addr is "http(s)://" plus printable text without a query or
 * fragment; *ret_len excludes trailing slashes. */
static int forward_addr_check(const char *addr, size_t *ret_len, char *errmsg,
                              size_t errmsg_size)
{
    size_t len = strnlen(addr, KH_FORWARD_ADDR_BYTES_MAX + 1);
    size_t scheme, i;

    if (len > KH_FORWARD_ADDR_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "the active node's address is longer than %u bytes",
                         KH_FORWARD_ADDR_BYTES_MAX);
    scheme = strncmp(addr, "http://", 7) == 0    ? 7
             : strncmp(addr, "https://", 8) == 0 ? 8
                                                 : 0;
    for (i = 0; i < len; i++)
        if ((unsigned char)addr[i] <= 0x20 || (unsigned char)addr[i] >= 0x7f ||
            addr[i] == '?' || addr[i] == '#')
            scheme = 0;
    while (len > scheme && addr[len - 1] == '/')
        len--;
    if (scheme == 0 || len == scheme)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "the active node's address \"%.200s\" is not an "
                         "http:// or https:// address",
                         addr);
    *ret_len = len;
    return 0;
}

/* Everything the active node would be sent is well-formed. */
static int forward_request_check(const struct http_raw_request *raw,
                                 char *errmsg, size_t errmsg_size)
{
    if (!forward_method_ok(raw->method))
        return kh_errmsg(errmsg, errmsg_size, KH_EMETHOD,
                         "method cannot be forwarded");
    if (raw->url[0] != '/')
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "path does not start with '/'");
    if (!forward_value_ok(raw->vault_token) ||
        !forward_value_ok(raw->authorization) ||
        !forward_value_ok(raw->content_type) ||
        !forward_value_ok(raw->remote_addr))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "a forwarded header holds a control character");
    return 0;
}

/* Add the most that escaping text can take (3 bytes a byte) plus extra to
 * *total; false when that passes KH_FORWARD_URL_BYTES_MAX. */
static bool forward_bound_add(size_t *total, const char *text, size_t extra)
{
    size_t len = strnlen(text, KH_FORWARD_URL_BYTES_MAX);

    if (len >= KH_FORWARD_URL_BYTES_MAX / 3)
        return false;
    *total += 3 * len + extra;
    return *total <= KH_FORWARD_URL_BYTES_MAX;
}

/* Percent-encode every byte outside RFC 3986's unreserved set (and '/'
 * when keep_slash): curl_easy_escape()'s rule, written into a buffer this
 * file wipes. out has room for 3 * strlen(in). Returns bytes written. */
static size_t forward_escape(char *out, const char *in, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    size_t n = 0;

    for (p = (const unsigned char *)in; *p != '\0'; p++) {
        if (forward_is_alnum(*p) || *p == '-' || *p == '.' || *p == '_' ||
            *p == '~' || (keep_slash && *p == '/')) {
            out[n++] = (char)*p;
            continue;
        }
        out[n++] = '%';
        out[n++] = hex[*p >> 4];
        out[n++] = hex[*p & 0x0f];
    }
    return n;
}

/* "<addr><escaped path>?<name>=<value>&..." into *ret_url (malloc'ed,
 * *ret_size bytes, to wipe). */
static int forward_url(const struct http_raw_request *raw, const char *addr,
                       size_t addr_len, char **ret_url, size_t *ret_size,
                       char *errmsg, size_t errmsg_size)
{
    size_t size = addr_len + 1, n, i;
    bool fits = forward_bound_add(&size, raw->url, 0);
    char *url;

    for (i = 0; fits && i < raw->query_count; i++)
        fits = forward_bound_add(&size, raw->query[i].name, 2) &&
               (raw->query[i].value == NULL ||
                forward_bound_add(&size, raw->query[i].value, 0));
    if (!fits)
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "request target too long to forward");
    url = malloc(size);
    if (url == NULL)
        return KH_ENOMEM;
    memcpy(url, addr, addr_len);
    n = addr_len + forward_escape(url + addr_len, raw->url, true);
    for (i = 0; i < raw->query_count; i++) {
        url[n++] = i == 0 ? '?' : '&';
        n += forward_escape(url + n, raw->query[i].name, false);
        if (raw->query[i].value == NULL)
            continue;
        url[n++] = '=';
        n += forward_escape(url + n, raw->query[i].value, false);
    }
    KH_ASSERT(n < size);
    url[n] = '\0';
    *ret_url = url;
    *ret_size = size;
    return 0;
}

/* Wipe libcurl's copies of the header lines (a token among them), then
 * free the list. Accepts NULL. */
static void forward_headers_free(struct curl_slist *list)
{
    struct curl_slist *node;

    for (node = list; node != NULL; node = node->next)
        kh_wipe(node->data, strlen(node->data));
    curl_slist_free_all(list);
}

/* Append "name: value" ("name;" for an empty value: libcurl's spelling of
 * an empty header) to *list. The line is built in a buffer wiped here. */
static int forward_header_add(struct curl_slist **list, const char *name,
                              const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    struct curl_slist *next;
    char *line = malloc(len);

    if (line == NULL)
        return KH_ENOMEM;
    if (value[0] == '\0')
        snprintf(line, len, "%s;", name);
    else
        snprintf(line, len, "%s: %s", name, value);
    next = curl_slist_append(*list, line);
    kh_free_secret(line, len);
    if (next == NULL)
        return KH_ENOMEM; /* *list is intact: the caller frees it */
    *list = next;
    return 0;
}

/* Append a fixed line (no secret in it) to *list. */
static int forward_line_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *next = curl_slist_append(*list, line);

    if (next == NULL)
        return KH_ENOMEM; /* *list is intact: the caller frees it */
    *list = next;
    return 0;
}

/* The header list for raw. "Name:" lines remove a header libcurl would add
 * on its own: a form Content-Type, "Expect: 100-continue", "Accept". */
static int forward_headers(const struct http_raw_request *raw,
                           struct curl_slist **ret)
{
    const char *client = raw->remote_addr != NULL && raw->remote_addr[0] != '\0'
                             ? raw->remote_addr
                             : NULL;
    const struct
    {
        const char *name;
        const char *value;
    } headers[] = {
        {"X-Vault-Token", raw->vault_token},
        {"Authorization", raw->authorization},
        {"Content-Type", raw->content_type},
        {"X-Vault-Forwarded-For", client},
        {"X-Forwarded-For", client},
    };
    struct curl_slist *list = NULL;
    size_t i;
    int r = KH_ENOMEM;

    for (i = 0; i < KH_ARRAY_LEN(headers); i++) {
        if (headers[i].value == NULL)
            continue;
        r = forward_header_add(&list, headers[i].name, headers[i].value);
        if (r != 0)
            goto out;
    }
    r = forward_line_add(&list, "Expect:");
    if (r == 0)
        r = forward_line_add(&list, "Accept:");
    if (r == 0 && raw->content_type == NULL)
        r = forward_line_add(&list, "Content-Type:");
    if (r != 0)
        goto out;
    KH_ASSERT(list != NULL);
    *ret = list;
    list = NULL;
    r = 0; /* success */
out:
    forward_headers_free(list);
    return r;
}

/* ---- what comes back ---- */

/* Room for need bytes. The first allocation takes the announced
 * Content-Length when it is within the cap; growth doubles, capped at
 * max + 1; the old buffer is wiped (never realloc'ed). */
static int forward_answer_reserve(struct forward_answer *a, size_t need)
{
    curl_off_t announced = -1;
    size_t cap;
    uint8_t *data;

    KH_ASSERT(need <= a->max + 1);
    if (need <= a->cap)
        return 0;
    cap = a->cap != 0 ? a->cap * 2 : FORWARD_ANSWER_BYTES_INITIAL;
    if (a->data == NULL &&
        curl_easy_getinfo(a->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                          &announced) == CURLE_OK &&
        announced > 0 && (uint64_t)announced <= a->max)
        cap = (size_t)announced + 1;
    if (cap < need)
        cap = need;
    if (cap > a->max + 1)
        cap = a->max + 1;
    data = malloc(cap);
    if (data == NULL)
        return KH_ENOMEM;
    if (a->len > 0)
        memcpy(data, a->data, a->len);
    kh_free_secret(a->data, a->len);
    a->data = data;
    a->cap = cap;
    return 0;
}

static size_t forward_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct forward_answer *a = user;
    size_t n = size * nmemb;
    int r;

    KH_ASSERT(size == 1);
    KH_ASSERT(a->len <= a->max);
    if (n > a->max - a->len) {
        a->error = KH_ETOOBIG;
        a->error_text = "answered a body over the limit";
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    r = forward_answer_reserve(a, a->len + n + 1);
    if (r != 0) {
        a->error = r;
        a->error_text = "answered a body that does not fit in memory";
        return 0;
    }
    memcpy(a->data + a->len, ptr, n);
    a->len += n;
    a->data[a->len] = '\0';
    return n;
}

/* Keep the Content-Type of the final response (a status line, as of an
 * interim 100 Continue, starts over). */
static size_t forward_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    const size_t name_len = strlen(FORWARD_CONTENT_TYPE_NAME);
    struct forward_answer *a = user;
    size_t n = size * nmemb, len, i;
    const char *value;

    KH_ASSERT(size == 1);
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        a->content_type[0] = '\0';
    if (n < name_len ||
        strncasecmp(ptr, FORWARD_CONTENT_TYPE_NAME, name_len) != 0)
        return n;
    value = ptr + name_len;
    len = n - name_len;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
                       value[len - 1] == '\r' || value[len - 1] == '\n'))
        len--;
    for (i = 0; i < len; i++)
        if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] >= 0x7f)
            a->error = KH_EUNAVAIL;
    if (len >= sizeof(a->content_type))
        a->error = KH_ETOOBIG;
    if (a->error != 0) {
        a->error_text = "answered a Content-Type that cannot be relayed";
        return 0;
    }
    memcpy(a->content_type, value, len);
    a->content_type[len] = '\0';
    return n;
}

/* ---- the exchange ---- */

#define FORWARD_SETOPT(curl, c, opt, val)                                      \
    do {                                                                       \
        if ((c) == CURLE_OK)                                                   \
            (c) = curl_easy_setopt((curl), (opt), (val));                      \
    } while (0)

/* The method and the body. HEAD reads no body; PUT, POST and PATCH always
 * send one (Content-Length: 0 when empty); other methods send one when
 * the client did. */
static CURLcode forward_setup_method(CURL *curl,
                                     const struct http_raw_request *raw)
{
    const char *m = raw->method;
    bool body = raw->body_len > 0 || strcmp(m, "PUT") == 0 ||
                strcmp(m, "POST") == 0 || strcmp(m, "PATCH") == 0;
    CURLcode c = CURLE_OK;

    if (strcmp(m, "HEAD") == 0) {
        FORWARD_SETOPT(curl, c, CURLOPT_NOBODY, 1L);
        return c;
    }
    if (body) {
        FORWARD_SETOPT(curl, c, CURLOPT_POSTFIELDS,
                       raw->body != NULL ? (const char *)raw->body : "");
        FORWARD_SETOPT(curl, c, CURLOPT_POSTFIELDSIZE_LARGE,
                       (curl_off_t)raw->body_len);
    } else {
        FORWARD_SETOPT(curl, c, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(m, body ? "POST" : "GET") != 0)
        FORWARD_SETOPT(curl, c, CURLOPT_CUSTOMREQUEST, m);
    return c;
}

/* Every option of one exchange; KH_ENOMEM/KH_EINTERNAL when libcurl
 * refuses one. */
static int forward_setup(CURL *curl, const struct http_raw_request *raw,
                         const char *url, const char *ca_file,
                         struct curl_slist *headers,
                         struct forward_answer *answer, char *errbuf)
{
    long timeout = forward_timeout_ms();
    long connect = timeout < KH_FORWARD_CONNECT_TIMEOUT_MS
                       ? timeout
                       : KH_FORWARD_CONNECT_TIMEOUT_MS;
    CURLcode c = CURLE_OK;

    FORWARD_SETOPT(curl, c, CURLOPT_URL, url);
    FORWARD_SETOPT(curl, c, CURLOPT_PROTOCOLS_STR, "http,https");
    FORWARD_SETOPT(curl, c, CURLOPT_FOLLOWLOCATION, 0L);
    FORWARD_SETOPT(curl, c, CURLOPT_PROXY, "");
    FORWARD_SETOPT(curl, c, CURLOPT_NOSIGNAL, 1L);
    FORWARD_SETOPT(curl, c, CURLOPT_TCP_NODELAY, 1L);
    FORWARD_SETOPT(curl, c, CURLOPT_TCP_KEEPALIVE, 1L);
    FORWARD_SETOPT(curl, c, CURLOPT_PATH_AS_IS, 1L);
    FORWARD_SETOPT(curl, c, CURLOPT_SSL_VERIFYPEER, 1L);
    FORWARD_SETOPT(curl, c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL)
        FORWARD_SETOPT(curl, c, CURLOPT_CAINFO, ca_file);
    FORWARD_SETOPT(curl, c, CURLOPT_CONNECTTIMEOUT_MS, connect);
    FORWARD_SETOPT(curl, c, CURLOPT_TIMEOUT_MS, timeout);
    FORWARD_SETOPT(curl, c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)answer->max);
    FORWARD_SETOPT(curl, c, CURLOPT_HTTPHEADER, headers);
    FORWARD_SETOPT(curl, c, CURLOPT_WRITEFUNCTION, forward_write);
    FORWARD_SETOPT(curl, c, CURLOPT_WRITEDATA, answer);
    FORWARD_SETOPT(curl, c, CURLOPT_HEADERFUNCTION, forward_header);
    FORWARD_SETOPT(curl, c, CURLOPT_HEADERDATA, answer);
    FORWARD_SETOPT(curl, c, CURLOPT_ERRORBUFFER, errbuf);
    if (c == CURLE_OK)
        c = forward_setup_method(curl, raw);
    if (c == CURLE_OUT_OF_MEMORY)
        return KH_ENOMEM;
    return c == CURLE_OK ? 0 : KH_EINTERNAL;
}

/* A failed exchange as a KH_E* code with errmsg naming the active node. */
static int forward_failure(CURLcode code, const struct forward_answer *a,
                           const char *errbuf, const char *addr, char *errmsg,
                           size_t errmsg_size)
{
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);

    if (code == CURLE_FILESIZE_EXCEEDED)
        return kh_errmsg(errmsg, errmsg_size, KH_ETOOBIG,
                         "the active node at %.300s announced a body over "
                         "%zu bytes",
                         addr, a->max);
    if (a->error != 0)
        return kh_errmsg(errmsg, errmsg_size, a->error,
                         "the active node at %.300s %s", addr, a->error_text);
    if (code == CURLE_OUT_OF_MEMORY)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "out of memory forwarding to %.300s", addr);
    if (code == CURLE_OPERATION_TIMEDOUT)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "the active node at %.300s did not answer within "
                         "%ld ms: %s",
                         addr, forward_timeout_ms(), detail);
    return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                     "cannot reach the active node at %.300s: %s", addr,
                     detail);
}

/* Run the exchange on the thread's handle and fill *answer and *ret_status.
 * The handle is reset on the way out: it keeps no pointer into this call. */
static int forward_exchange(const struct http_raw_request *raw, const char *url,
                            const char *addr, const char *ca_file,
                            struct curl_slist *headers,
                            struct forward_answer *answer, long *ret_status,
                            char *errmsg, size_t errmsg_size)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *curl = forward_handle();
    long status = 0;
    CURLcode code;
    int r;

    if (curl == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                         "no HTTP client handle to forward to %.300s", addr);
    curl_easy_reset(curl);
    answer->curl = curl;
    r = forward_setup(curl, raw, url, ca_file, headers, answer, errbuf);
    if (r != 0) {
        r = kh_errmsg(errmsg, errmsg_size, r,
                      "cannot set up forwarding to %.300s", addr);
        goto out;
    }
    code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        r = forward_failure(code, answer, errbuf, addr, errmsg, errmsg_size);
        goto out;
    }
    if (curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
        status < 100 || status > 599) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                      "the active node at %.300s answered status %ld", addr,
                      status);
        goto out;
    }
    *ret_status = status;
    r = 0; /* success */
out:
    curl_easy_reset(curl);
    answer->curl = NULL;
    return r;
}

int http_forward(const struct http_raw_request *raw,
                 const char *active_api_addr, const char *ca_file,
                 struct http_forward_result *ret, char *errmsg,
                 size_t errmsg_size)
{
    struct forward_answer answer = {0};
    struct curl_slist *headers = NULL;
    size_t addr_len = 0, url_size = 0;
    char *url = NULL;
    long status = 0;
    int r = KH_EINTERNAL;

    KH_ASSERT(raw != NULL);
    KH_ASSERT(active_api_addr != NULL);
    KH_ASSERT(ret != NULL);
    KH_ASSERT(raw->method != NULL);
    KH_ASSERT(raw->url != NULL);
    KH_ASSERT(raw->body != NULL || raw->body_len == 0);
    KH_ASSERT(raw->query != NULL || raw->query_count == 0);
    r = forward_addr_check(active_api_addr, &addr_len, errmsg, errmsg_size);
    if (r == 0)
        r = forward_request_check(raw, errmsg, errmsg_size);
    if (r == 0)
        r = forward_url(raw, active_api_addr, addr_len, &url, &url_size, errmsg,
                        errmsg_size);
    if (r == 0)
        r = forward_headers(raw, &headers);
    if (r != 0)
        goto out;
    answer.max = forward_limit();
    r = forward_exchange(raw, url, active_api_addr, ca_file, headers, &answer,
                         &status, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    memset(ret, 0, sizeof(*ret));
    ret->status = status;
    if (answer.len > 0) {
        ret->body = answer.data;
        ret->body_len = answer.len;
        answer.data = NULL;
        answer.len = 0;
    }
    memcpy(ret->content_type, answer.content_type, sizeof(ret->content_type));
    r = 0; /* success */
out:
    forward_headers_free(headers);
    kh_free_secret(url, url_size);
    kh_free_secret(answer.data, answer.len);
    return r;
}

void http_forward_result_free(struct http_forward_result *result)
{
    if (result == NULL)
        return;
    KH_ASSERT(result->body != NULL || result->body_len == 0);
    kh_free_secret(result->body, result->body_len);
    memset(result, 0, sizeof(*result));
}
