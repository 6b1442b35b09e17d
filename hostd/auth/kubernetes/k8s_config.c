/*
 * k8s_config.c - auth/<mount>/config (Vault API: Kubernetes auth "Config"): write
 * (replaces the whole config, Vault's semantics), read, and the stored
 * record the login loads.
 *
 * Owns the config record. The reviewer JWT is a secret: it is stored
 * through the barrier, wiped wherever this file holds it, and never
 * returned (a read says only whether one is set). Everything is validated
 * on the way in (https host, parsable CA and pem_keys, bounded sizes), so
 * a login only re-checks what a corrupt record could break. Writes run
 * under the mount's mutex (held by the caller).
 *
 * Keyhold extension: tokenreview_connect_timeout and tokenreview_timeout
 * (durations, default 2 s and 5 s, at most 30 s) bound each TokenReview.
 */
#include "auth/kubernetes/kubernetes.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/secret.h"

#define CONFIG_KEY "config"

void k8s_config_clear(struct k8s_config *c)
{
    size_t i;

    if (c == NULL)
        return;
    KH_ASSERT(c->pem_key_count <= K8S_PEM_KEYS_MAX);
    free(c->ca_cert);
    if (c->reviewer_jwt != NULL)
        kh_free_secret(c->reviewer_jwt, strlen(c->reviewer_jwt));
    for (i = 0; i < c->pem_key_count; i++)
        free(c->pem_keys[i]);
    memset(c, 0, sizeof(*c));
}

/* A string field of at most max bytes without control characters into a
 * malloc'ed copy (*ret NULL when absent or empty). */
static int string_field(const json_t *obj, const char *name, size_t max,
                        char **ret, char *errmsg, size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, name);
    size_t len, i;
    const char *s;

    *ret = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"%s\" must be a string", name);
    s = json_string_value(v);
    len = json_string_length(v);
    if (len > max)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT,
                         "\"%s\" is longer than %zu bytes", name, max);
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\r' &&
            s[i] != '\t')
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "\"%s\" holds control characters", name);
    }
    if (len == 0)
        return 0;
    *ret = strdup(s);
    return *ret != NULL ? 0 : KH_ENOMEM;
}

/* kubernetes_host: required, "https://...", trailing '/' removed. */
static int host_field(const json_t *obj, struct k8s_config *c, char *errmsg,
                      size_t errmsg_size)
{
    char *host = NULL;
    size_t len;
    int r;

    r = string_field(obj, "kubernetes_host", K8S_HOST_BYTES_MAX, &host, errmsg,
                     errmsg_size);
    if (r != 0)
        return r;
    if (host == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL, "no host provided");
    len = strlen(host);
    while (len > 0 && host[len - 1] == '/')
        host[--len] = '\0';
    if (strncmp(host, "https://", 8) != 0 || len <= 8 ||
        strpbrk(host, " \t\r\n") != NULL) {
        free(host);
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "kubernetes_host must be an https:// URL (the "
                         "TokenReview is only ever sent over verified TLS)");
    }
    memcpy(c->host, host, len + 1);
    free(host);
    return 0;
}

/* True when pem holds at least one certificate and nothing unparsable
 * before it. */
static bool ca_parses(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    bool ok = cert != NULL;

    X509_free(cert);
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

/* pem_keys: an array of PEM strings or one PEM string; each must parse
 * as a supported key. */
static int pem_keys_field(const json_t *obj, struct k8s_config *c,
                          bool validate, char *errmsg, size_t errmsg_size)
{
    const json_t *v = tokenutil_field(obj, "pem_keys");
    struct k8s_jwt_keys keys = {0};
    size_t i, n;
    int r;

    if (v == NULL)
        return 0;
    if (!json_is_array(v) && !json_is_string(v))
        return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                         "\"pem_keys\" must be a list of PEM strings");
    n = json_is_array(v) ? json_array_size(v) : 1;
    if (n > K8S_PEM_KEYS_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ELIMIT, "at most %d pem_keys",
                         K8S_PEM_KEYS_MAX);
    for (i = 0; i < n; i++) {
        const json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(item) || json_string_length(item) == 0 ||
            json_string_length(item) > K8S_PEM_KEY_BYTES_MAX)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "pem_keys[%zu] must be a PEM string of at most "
                             "%u bytes",
                             i, K8S_PEM_KEY_BYTES_MAX);
        c->pem_keys[i] = strdup(json_string_value(item));
        if (c->pem_keys[i] == NULL)
            return KH_ENOMEM;
        c->pem_key_count = i + 1;
    }
    if (!validate)
        return 0;
    r = k8s_jwt_keys_parse(c->pem_keys, c->pem_key_count, &keys, errmsg,
                           errmsg_size);
    k8s_jwt_keys_clear(&keys);
    return r;
}

static int timeouts_field(const json_t *obj, struct k8s_config *c, char *errmsg,
                          size_t errmsg_size)
{
    bool present = false;
    int r;

    c->connect_timeout_s = K8S_REVIEW_CONNECT_TIMEOUT_S;
    c->timeout_s = K8S_REVIEW_TIMEOUT_S;
    r = tokenutil_field_duration(obj, "tokenreview_connect_timeout",
                                 K8S_REVIEW_TIMEOUT_S_MAX, &present,
                                 &c->connect_timeout_s, errmsg, errmsg_size);
    if (r == 0)
        r = tokenutil_field_duration(obj, "tokenreview_timeout",
                                     K8S_REVIEW_TIMEOUT_S_MAX, &present,
                                     &c->timeout_s, errmsg, errmsg_size);
    if (r == 0 && (c->connect_timeout_s == 0 || c->timeout_s == 0 ||
                   c->connect_timeout_s > c->timeout_s))
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "TokenReview timeouts must be at least 1 s, and the "
                      "connect timeout at most the total timeout");
    return r;
}

/* Build a config from obj (a request's data or the stored record).
 * validate: also parse the CA and pem_keys (a write; the stored record was
 * validated when written and the barrier authenticates it, so a load skips
 * the costly OpenSSL decoding). */
static int config_parse(const json_t *obj, bool validate,
                        struct k8s_config *ret, char *errmsg,
                        size_t errmsg_size)
{
    struct k8s_config c;
    char *issuer = NULL;
    bool present = false;
    int r;

    memset(&c, 0, sizeof(c));
    c.disable_iss_validation = true;
    r = host_field(obj, &c, errmsg, errmsg_size);
    if (r == 0)
        r = string_field(obj, "kubernetes_ca_cert", K8S_CA_CERT_BYTES_MAX,
                         &c.ca_cert, errmsg, errmsg_size);
    if (r == 0 && validate && c.ca_cert != NULL && !ca_parses(c.ca_cert))
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "kubernetes_ca_cert is not a PEM certificate");
    if (r == 0)
        r = string_field(obj, "token_reviewer_jwt", K8S_REVIEWER_JWT_BYTES_MAX,
                         &c.reviewer_jwt, errmsg, errmsg_size);
    if (r == 0 && c.reviewer_jwt != NULL &&
        strpbrk(c.reviewer_jwt, " \t\r\n") != NULL)
        r = kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                      "token_reviewer_jwt must not contain whitespace");
    if (r == 0)
        r = pem_keys_field(obj, &c, validate, errmsg, errmsg_size);
    if (r == 0)
        r = string_field(obj, "issuer", K8S_ISSUER_BYTES_MAX, &issuer, errmsg,
                         errmsg_size);
    if (r == 0 && issuer != NULL)
        memcpy(c.issuer, issuer, strlen(issuer) + 1);
    if (r == 0)
        r = tokenutil_field_bool(obj, "disable_iss_validation", &present,
                                 &c.disable_iss_validation, errmsg,
                                 errmsg_size);
    if (r == 0)
        r = tokenutil_field_bool(obj, "disable_local_ca_jwt", &present,
                                 &c.disable_local_ca_jwt, errmsg, errmsg_size);
    if (r == 0)
        r = timeouts_field(obj, &c, errmsg, errmsg_size);
    free(issuer);
    if (r == 0) {
        *ret = c;
        return 0;
    }
    k8s_config_clear(&c);
    return r;
}

/* The stored form (all fields, the reviewer JWT included). */
static json_t *config_encode(const struct k8s_config *c)
{
    json_t *keys = json_array();
    size_t i;

    for (i = 0; keys != NULL && i < c->pem_key_count; i++) {
        if (json_array_append_new(keys, json_string(c->pem_keys[i])) != 0) {
            json_decref(keys);
            return NULL;
        }
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:b, s:b, s:I, s:I}",
                     "kubernetes_host", c->host, "kubernetes_ca_cert",
                     c->ca_cert != NULL ? c->ca_cert : "", "token_reviewer_jwt",
                     c->reviewer_jwt != NULL ? c->reviewer_jwt : "", "pem_keys",
                     keys, "issuer", c->issuer, "disable_iss_validation",
                     c->disable_iss_validation, "disable_local_ca_jwt",
                     c->disable_local_ca_jwt, "tokenreview_connect_timeout",
                     (json_int_t)c->connect_timeout_s, "tokenreview_timeout",
                     (json_int_t)c->timeout_s);
}

int k8s_config_load(const struct barrier_view *view, struct k8s_config *ret)
{
    char msg[KH_ERRMSG_SIZE];
    uint8_t *value = NULL;
    json_t *obj = NULL;
    size_t len = 0;
    int r;

    memset(ret, 0, sizeof(*ret));
    r = view_get(view, CONFIG_KEY, &value, &len);
    if (r != 0)
        return r;
    obj = json_loadb((const char *)value, len, JSON_REJECT_DUPLICATES, NULL);
    r = json_is_object(obj) ? config_parse(obj, false, ret, msg, sizeof(msg))
                            : KH_ECORRUPT;
    if (r != 0 && r != KH_ENOMEM)
        r = KH_ECORRUPT;
    json_decref(obj); /* holds the reviewer JWT: jansson frees unwiped */
    kh_free_secret(value, len);
    return r;
}

int k8s_config_write(const struct k8s_call *call)
{
    struct k8s_config c;
    char *text = NULL;
    json_t *obj = NULL;
    int r;

    r = config_parse(call->br->req->data, true, &c, call->errmsg,
                     call->errmsg_size);
    if (r != 0)
        return r;
    KH_ASSERT(strncmp(c.host, "https://", 8) == 0);
    obj = config_encode(&c);
    text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    r = text != NULL ? view_put(call->br->view, CONFIG_KEY,
                                (const uint8_t *)text, strlen(text))
                     : KH_ENOMEM;
    if (r == 0)
        kh_response_no_content(call->resp);
    kh_free_secret(text, text != NULL ? strlen(text) : 0);
    json_decref(obj);
    k8s_config_clear(&c);
    return r;
}

int k8s_config_read(const struct k8s_call *call)
{
    struct k8s_config c;
    json_t *data = NULL, *keys;
    size_t i;
    int r;

    r = k8s_config_load(call->br->view, &c);
    if (r == KH_ENOTFOUND)
        call->errmsg[0] = '\0'; /* Vault: 404 {"errors":[]} */
    if (r != 0)
        return r;
    keys = json_array();
    for (i = 0; keys != NULL && i < c.pem_key_count; i++)
        json_array_append_new(keys, json_string(c.pem_keys[i]));
    data = json_pack("{s:s, s:s, s:o, s:s, s:b, s:b, s:b, s:I, s:I}",
                     "kubernetes_host", c.host, "kubernetes_ca_cert",
                     c.ca_cert != NULL ? c.ca_cert : "", "pem_keys", keys,
                     "issuer", c.issuer, "disable_iss_validation",
                     c.disable_iss_validation, "disable_local_ca_jwt",
                     c.disable_local_ca_jwt, "token_reviewer_jwt_set",
                     c.reviewer_jwt != NULL, "tokenreview_connect_timeout",
                     (json_int_t)c.connect_timeout_s, "tokenreview_timeout",
                     (json_int_t)c.timeout_s);
    k8s_config_clear(&c);
    return k8s_respond(call, data);
}

int k8s_config_exists(const struct k8s_call *call, bool *ret_exists)
{
    uint8_t *value = NULL;
    size_t len = 0;
    int r;

    r = view_get(call->br->view, CONFIG_KEY, &value, &len);
    kh_free_secret(value, len);
    if (r != 0 && r != KH_ENOTFOUND)
        return r;
    *ret_exists = r == 0;
    return 0;
}
