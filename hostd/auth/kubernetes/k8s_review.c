/*
 * k8s_review.c - the TokenReview client (Vault API: Kubernetes auth, "TokenReview
 * (authentication.k8s.io/v1)"): one POST to
 * <kubernetes_host>/apis/authentication.k8s.io/v1/tokenreviews over
 * verified TLS, and the interpretation of the answer.
 *
 * Owns the HTTP exchange with the API server. Every call is bounded by a
 * connect and a total timeout (the login runs on one of the HTTP layer's
 * few worker threads, so a slow API server must never hold it for long),
 * speaks https only, follows no redirects, ignores proxy variables, and
 * caps the response at K8S_REVIEW_RESPONSE_BYTES_MAX. It never logs and
 * never keeps a token: the request text and the bearer header it builds
 * are wiped before they are freed (libcurl's own copy of the header list
 * is freed by libcurl).
 */
#include "auth/kubernetes/kubernetes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/secret.h"
#include "http/request_parse.h"

#define REVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define SA_PREFIX   "system:serviceaccount:"

struct review_buf
{
    char *data; /* K8S_REVIEW_RESPONSE_BYTES_MAX + 1 bytes */
    size_t len;
    bool too_big;
};

static size_t review_write(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct review_buf *buf = user;
    size_t n = size * nmemb;

    if (n > K8S_REVIEW_RESPONSE_BYTES_MAX - buf->len) {
        buf->too_big = true;
        return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    memcpy(buf->data + buf->len, ptr, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

json_t *k8s_review_body(const char *token, const json_t *audiences)
{
    json_t *spec, *body;

    spec = json_pack("{s:s}", "token", token);
    if (spec != NULL && audiences != NULL && json_array_size(audiences) > 0 &&
        json_object_set_new(spec, "audiences", json_deep_copy(audiences)) != 0)
        goto fail;
    body =
        json_pack("{s:s, s:s, s:o}", "apiVersion", "authentication.k8s.io/v1",
                  "kind", "TokenReview", "spec", spec);
    return body; /* json_pack stole spec, even on failure */
fail:
    json_decref(spec);
    return NULL;
}

/* The error text of a refusal body (a metav1.Status "message"), or "". */
static const char *status_message(const json_t *obj)
{
    const json_t *m = json_object_get(obj, "message");

    return json_is_string(m) ? json_string_value(m) : "";
}

static bool audiences_overlap(const json_t *requested, const json_t *got)
{
    size_t i, j;

    for (i = 0; i < json_array_size(requested); i++) {
        const char *want = json_string_value(json_array_get(requested, i));
        for (j = 0;
             want != NULL && json_is_array(got) && j < json_array_size(got);
             j++) {
            const char *have = json_string_value(json_array_get(got, j));
            if (have != NULL && strcmp(want, have) == 0)
                return true;
        }
    }
    return false;
}

/* True for "system:serviceaccount:NS:NAME" with NS and NAME non-empty and
 * free of ':'. */
static bool username_is_sa(const char *u)
{
    const char *rest, *colon;

    if (strncmp(u, SA_PREFIX, strlen(SA_PREFIX)) != 0)
        return false;
    rest = u + strlen(SA_PREFIX);
    colon = strchr(rest, ':');
    return colon != NULL && colon != rest && colon[1] != '\0' &&
           strchr(colon + 1, ':') == NULL;
}

/* status.user into ret. */
static int review_user(const json_t *status, struct k8s_review_result *ret,
                       char *errmsg, size_t errmsg_size)
{
    const json_t *user = json_object_get(status, "user");
    const json_t *name = json_object_get(user, "username");
    const json_t *uid = json_object_get(user, "uid");

    if (!json_is_string(name) ||
        json_string_length(name) >= sizeof(ret->username) ||
        strlen(json_string_value(name)) != json_string_length(name) ||
        !username_is_sa(json_string_value(name)))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "TokenReview user is not a service account "
                         "(system:serviceaccount:NS:NAME)");
    if (uid != NULL &&
        (!json_is_string(uid) || json_string_length(uid) >= sizeof(ret->uid)))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "TokenReview user uid is malformed");
    memset(ret, 0, sizeof(*ret));
    memcpy(ret->username, json_string_value(name),
           json_string_length(name) + 1);
    if (uid != NULL)
        memcpy(ret->uid, json_string_value(uid), json_string_length(uid) + 1);
    return 0;
}

/* The status object of a 2xx answer, checked. */
static int review_status(const json_t *obj, const json_t *requested,
                         struct k8s_review_result *ret, char *errmsg,
                         size_t errmsg_size)
{
    const json_t *status = json_object_get(obj, "status");
    const json_t *error;

    if (json_is_string(status) &&
        strcmp(json_string_value(status), "Failure") == 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "API server answered a Failure status: %.200s",
                         status_message(obj));
    if (!json_is_object(status))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "TokenReview answer has no status");
    error = json_object_get(status, "error");
    if (json_is_string(error) && json_string_length(error) > 0)
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "TokenReview error: %.200s", json_string_value(error));
    if (!json_is_true(json_object_get(status, "authenticated")))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "API server did not authenticate the token (service "
                         "account deleted, token revoked or expired)");
    if (requested != NULL && json_array_size(requested) > 0 &&
        !audiences_overlap(requested, json_object_get(status, "audiences")))
        return kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                         "TokenReview audiences do not overlap the requested "
                         "audiences");
    return review_user(status, ret, errmsg, errmsg_size);
}

int k8s_review_parse(long http_status, const char *body, size_t len,
                     const json_t *requested, struct k8s_review_result *ret,
                     char *errmsg, size_t errmsg_size)
{
    struct k8s_review_result result;
    json_t *obj = NULL;
    int r;

    KH_ASSERT(body != NULL || len == 0);
    KH_ASSERT(ret != NULL);
    if (len > 0 && http_json_depth_ok(body, len, KH_JSON_DEPTH_MAX))
        obj = json_loadb(body, len, 0, NULL);
    if (http_status < 200 || http_status > 206) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                      "API server answered HTTP %ld%s%.200s", http_status,
                      http_status == 401 ? " (reviewer token refused)" : "",
                      json_is_object(obj) ? status_message(obj) : "");
        goto out;
    }
    if (!json_is_object(obj)) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                      "TokenReview answer is not a JSON object");
        goto out;
    }
    r = review_status(obj, requested, &result, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    *ret = result;
    r = 0; /* success */
out:
    json_decref(obj);
    return r;
}

/* Map a libcurl failure to KH_EUNAVAIL with a message naming the cause. */
static int review_curl_error(CURLcode code, const char *errbuf,
                             const struct k8s_review_request *rq, char *errmsg,
                             size_t errmsg_size)
{
    const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);

    if (code == CURLE_OPERATION_TIMEDOUT)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "TokenReview at %s timed out (connect timeout %llu "
                         "s, total timeout %llu s): %s",
                         rq->host, (unsigned long long)rq->connect_timeout_s,
                         (unsigned long long)rq->timeout_s, detail);
    if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "cannot reach the API server at %s: %s", rq->host,
                         detail);
    if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT ||
        code == CURLE_SSL_CONNECT_ERROR)
        return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                         "TLS to the API server at %s failed (check "
                         "kubernetes_ca_cert): %s",
                         rq->host, detail);
    return kh_errmsg(errmsg, errmsg_size, KH_EUNAVAIL,
                     "TokenReview at %s failed: %s", rq->host, detail);
}

/* Set the options of one review; KH_ENOMEM/KH_EINTERNAL when libcurl
 * refuses one. */
static int review_setup(CURL *curl, const struct k8s_review_request *rq,
                        const char *url, const char *text,
                        struct curl_slist *headers, struct review_buf *buf,
                        char *errbuf)
{
    struct curl_blob ca = {0};
    CURLcode c = CURLE_OK;

#define SETOPT(opt, val)                                                       \
    do {                                                                       \
        if (c == CURLE_OK)                                                     \
            c = curl_easy_setopt(curl, opt, val);                              \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_PROXY, "");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)(rq->connect_timeout_s * 1000));
    SETOPT(CURLOPT_TIMEOUT_MS, (long)(rq->timeout_s * 1000));
    SETOPT(CURLOPT_HTTPHEADER, headers);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDS, text);
    SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    SETOPT(CURLOPT_WRITEFUNCTION, review_write);
    SETOPT(CURLOPT_WRITEDATA, buf);
    SETOPT(CURLOPT_ERRORBUFFER, errbuf);
    if (rq->ca_cert != NULL && rq->ca_cert[0] != '\0') {
        ca.data = (void *)rq->ca_cert;
        ca.len = strlen(rq->ca_cert);
        ca.flags = CURL_BLOB_COPY;
        SETOPT(CURLOPT_CAINFO_BLOB, &ca);
    }
#undef SETOPT
    if (c == CURLE_OUT_OF_MEMORY)
        return KH_ENOMEM;
    return c == CURLE_OK ? 0 : KH_EINTERNAL;
}

/* The request headers, the bearer one included (*ret_auth: the text to
 * wipe, malloc'ed). */
static int review_headers(const char *bearer, struct curl_slist **ret,
                          char **ret_auth, size_t *ret_auth_len)
{
    struct curl_slist *list = NULL, *next;
    size_t len = strlen("Authorization: Bearer ") + strlen(bearer) + 1;
    char *auth = malloc(len);
    int r = KH_ENOMEM;

    if (auth == NULL)
        return KH_ENOMEM;
    snprintf(auth, len, "Authorization: Bearer %s", bearer);
    next = curl_slist_append(list, "Content-Type: application/json");
    if (next == NULL)
        goto out;
    list = next;
    next = curl_slist_append(list, "Accept: application/json");
    if (next == NULL)
        goto out;
    list = next;
    next = curl_slist_append(list, auth);
    if (next == NULL)
        goto out;
    list = next;
    *ret = list;
    list = NULL;
    *ret_auth = auth;
    *ret_auth_len = len;
    auth = NULL;
    r = 0; /* success */
out:
    curl_slist_free_all(list);
    kh_free_secret(auth, auth != NULL ? len : 0);
    return r;
}

/* Run the POST; *ret_status is the HTTP status, buf holds the body. */
static int review_exchange(const struct k8s_review_request *rq,
                           const char *text, struct review_buf *buf,
                           long *ret_status, char *errmsg, size_t errmsg_size)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char url[K8S_HOST_BYTES_MAX + sizeof(REVIEW_PATH)];
    struct curl_slist *headers = NULL;
    char *auth = NULL;
    size_t auth_len = 0;
    CURL *curl = NULL;
    CURLcode code;
    int r;

    snprintf(url, sizeof(url), "%s%s", rq->host, REVIEW_PATH);
    r = review_headers(rq->bearer, &headers, &auth, &auth_len);
    if (r != 0)
        goto out;
    curl = curl_easy_init();
    r = curl != NULL ? review_setup(curl, rq, url, text, headers, buf, errbuf)
                     : KH_ENOMEM;
    if (r != 0)
        goto out;
    code = curl_easy_perform(curl);
    if (code == CURLE_WRITE_ERROR && buf->too_big) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EPERM,
                      "TokenReview answer is larger than %u bytes",
                      K8S_REVIEW_RESPONSE_BYTES_MAX);
        goto out;
    }
    if (code != CURLE_OK) {
        r = review_curl_error(code, errbuf, rq, errmsg, errmsg_size);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
    r = 0; /* success */
out:
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    kh_free_secret(auth, auth_len);
    return r;
}

int k8s_review(const struct k8s_review_request *rq,
               struct k8s_review_result *ret, char *errmsg, size_t errmsg_size)
{
    struct review_buf buf = {0};
    json_t *body = NULL;
    char *text = NULL;
    long status = 0;
    int r = KH_ENOMEM;

    KH_ASSERT(rq->host != NULL);
    KH_ASSERT(strncmp(rq->host, "https://", 8) == 0);
    KH_ASSERT(rq->timeout_s > 0);
    KH_ASSERT(rq->timeout_s <= K8S_REVIEW_TIMEOUT_S_MAX);
    body = k8s_review_body(rq->token, rq->audiences);
    text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    buf.data = malloc(K8S_REVIEW_RESPONSE_BYTES_MAX + 1);
    if (text == NULL || buf.data == NULL)
        goto out;
    buf.data[0] = '\0';
    r = review_exchange(rq, text, &buf, &status, errmsg, errmsg_size);
    if (r == 0)
        r = k8s_review_parse(status, buf.data, buf.len, rq->audiences, ret,
                             errmsg, errmsg_size);
out:
    kh_free_secret(text, text != NULL ? strlen(text) : 0);
    kh_free_secret(buf.data, buf.data != NULL ? buf.len + 1 : 0);
    json_decref(body);
    return r;
}
