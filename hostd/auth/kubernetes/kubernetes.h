/*
 * kubernetes.h - the Kubernetes auth method (Vault API: Kubernetes auth): a
 * workload presents its service-account JWT, the method validates it and
 * a role bound to the service account and namespace decides the policies.
 * The public part is the ops table (type "kubernetes"); the rest is the
 * internal API shared by the files of auth/kubernetes/:
 *
 *   k8s_backend.c  ops table, per-mount state (pem_keys cache), dispatch
 *   k8s_config.c   config: the stored form, read (never the reviewer JWT)
 *   k8s_role.c     role/:name, LIST role, name/namespace binding (globs)
 *   k8s_login.c    login: the decision, its server-log reason, the token
 *   k8s_jwt.c      JWT parse, signature check (OpenSSL EVP, RS256/ES256,
 *                  the algorithm pinned by the key), claims, identity
 *   k8s_review.c   the TokenReview client (libcurl) and its response
 *
 * Validation: with pem_keys configured the JWT is verified locally and no
 * API server is asked (a deleted service account is then not noticed until
 * its token expires); otherwise the API server's TokenReview decides, with
 * token_reviewer_jwt as bearer or, when none is configured, the login JWT
 * itself (so short-lived projected tokens work without a stored secret).
 * Claims (exp, nbf, iat, iss when enabled, aud) are checked either way.
 *
 * Storage layout inside the mount's barrier view:
 *
 *   config        the config (JSON), token_reviewer_jwt included
 *   role/<name>   a role (JSON)
 *
 * Concurrency: config and role writes hold the mount's mutex; logins take
 * no lock (each reads config and role with one view_get) so a slow
 * TokenReview never blocks other logins or reads. Every TokenReview is
 * bounded by a connect and a total timeout (config, default 2 s / 5 s).
 */
#ifndef KH_AUTH_KUBERNETES_KUBERNETES_H
#define KH_AUTH_KUBERNETES_KUBERNETES_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "auth/tokenutil.h"
#include "config/limits.h"
#include "engines/backend.h"

/* ---- limits (house style), each tested at max and max + 1 ---- */

/* Role names: 1..128 bytes of [a-z0-9_.-], lowercased on the way in. */
#define K8S_ROLE_NAME_BYTES_MAX 128
/* Entries of bound_service_account_names / _namespaces; each entry is a
 * DNS subdomain (253 bytes at most) or a glob of one. */
#define K8S_BOUND_ITEMS_MAX      64
#define K8S_BOUND_ITEM_BYTES_MAX 253
#define K8S_AUDIENCE_BYTES_MAX   256
/* Config. */
#define K8S_HOST_BYTES_MAX         512
#define K8S_CA_CERT_BYTES_MAX      (64u * 1024u)
#define K8S_PEM_KEYS_MAX           16
#define K8S_PEM_KEY_BYTES_MAX      (16u * 1024u)
#define K8S_REVIEWER_JWT_BYTES_MAX (16u * 1024u)
#define K8S_ISSUER_BYTES_MAX       512
/* A login JWT (service-account tokens are about 1 KiB). */
#define K8S_JWT_BYTES_MAX 16384u
/* Nesting of the JWT's header and claims objects. */
#define K8S_JWT_JSON_DEPTH_MAX 8u
/* Clock skew allowed on exp, nbf and iat (Vault/go-jose: one minute). */
#define K8S_JWT_LEEWAY_S 60
/* The issuer checked when validation is enabled and none is configured. */
#define K8S_DEFAULT_ISSUER "kubernetes/serviceaccount"
/* Identity fields taken from the claims and the review. */
#define K8S_IDENT_BYTES_MAX 253
#define K8S_UID_BYTES_MAX   64
/* "system:serviceaccount:" + namespace + ":" + name. */
#define K8S_USERNAME_BYTES_MAX (22 + 2 * K8S_IDENT_BYTES_MAX + 1)
/* TokenReview: response body cap and timeouts (seconds). */
#define K8S_REVIEW_RESPONSE_BYTES_MAX (64u * 1024u)
#define K8S_REVIEW_CONNECT_TIMEOUT_S  2u
#define K8S_REVIEW_TIMEOUT_S          5u
#define K8S_REVIEW_TIMEOUT_S_MAX      30u
#define K8S_REVIEW_AUDIENCES_MAX      16
/* Where a pod finds its own CA and token (disable_local_ca_jwt false). */
#define K8S_LOCAL_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

#define K8S_KEY_BYTES_MAX (5 + K8S_ROLE_NAME_BYTES_MAX + 1)

static_assert(K8S_KEY_BYTES_MAX + 64 < KH_STORAGE_KEY_BYTES_MAX,
              "keys plus the view prefix fit the storage");
static_assert(K8S_JWT_BYTES_MAX < KH_HTTP_BODY_BYTES_DEFAULT,
              "a login body can carry the longest JWT");

/* The ops table, listed in engines/registry.c. */
extern const struct backend_ops kubernetes_backend_ops;

/* ---- per-mount state and one call ---- */

struct k8s_jwt_keys;

/* The parsed pem_keys of the current config, cached per mount: parsing a
 * PEM through OpenSSL 3's decoders costs far more than a verify, so a
 * login re-parses only when the keys changed (keyed by their SHA-256). */
struct k8s_keys_cache
{
    pthread_mutex_t lock;
    uint8_t digest[32];
    struct k8s_jwt_keys *keys; /* NULL: empty */
};

struct k8s_state
{
    pthread_mutex_t lock; /* held by config and role writes */
    struct k8s_keys_cache cache;
};

struct k8s_call
{
    const struct backend_request *br;
    struct k8s_state *state;
    const char *role; /* validated, lowercased; "" if none */
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*k8s_handler_fn)(const struct k8s_call *call);

/* Answer 200 with the envelope around data (stolen); KH_ENOMEM when data
 * is NULL (a failed json_pack). */
int k8s_respond(const struct k8s_call *call, json_t *data) KH_MUST_CHECK;

/* ---- config (k8s_config.c) ---- */

struct k8s_config
{
    char host[K8S_HOST_BYTES_MAX + 1]; /* "https://host[:port]", no '/' */
    char *ca_cert;                     /* PEM or NULL; malloc'ed */
    char *reviewer_jwt; /* secret or NULL; malloc'ed, wiped on clear */
    char *pem_keys[K8S_PEM_KEYS_MAX]; /* malloc'ed PEM texts */
    size_t pem_key_count;
    char issuer[K8S_ISSUER_BYTES_MAX + 1];
    bool disable_iss_validation;
    bool disable_local_ca_jwt;
    uint64_t connect_timeout_s;
    uint64_t timeout_s;
};

/* Free the members (wiping the reviewer JWT) and zero c. Accepts NULL. */
void k8s_config_clear(struct k8s_config *c);
/* KH_ENOTFOUND when not configured, KH_ECORRUPT when malformed. On error
 * *ret is zeroed (nothing to clear). */
int k8s_config_load(const struct barrier_view *view,
                    struct k8s_config *ret) KH_MUST_CHECK;

int k8s_config_read(const struct k8s_call *call) KH_MUST_CHECK;
int k8s_config_write(const struct k8s_call *call) KH_MUST_CHECK;
int k8s_config_exists(const struct k8s_call *call,
                      bool *ret_exists) KH_MUST_CHECK;

/* ---- roles (k8s_role.c) ---- */

struct k8s_bound
{
    size_t count;
    char items[K8S_BOUND_ITEMS_MAX][K8S_BOUND_ITEM_BYTES_MAX + 1];
};

struct k8s_role
{
    char name[K8S_ROLE_NAME_BYTES_MAX + 1];
    struct k8s_bound names;
    struct k8s_bound namespaces;
    char audience[K8S_AUDIENCE_BYTES_MAX + 1]; /* "" = not checked */
    bool alias_by_name; /* alias_name_source serviceaccount_name */
    struct tokenutil token;
};

/* Copy name lowercased into out; KH_EINVAL with errmsg on a bad name. */
int k8s_role_name_check(const char *name, size_t len,
                        char out[K8S_ROLE_NAME_BYTES_MAX + 1], char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;
/* KH_ENOTFOUND when absent, KH_ECORRUPT when malformed. */
int k8s_role_load(const struct barrier_view *view, const char *name,
                  struct k8s_role *ret) KH_MUST_CHECK;
/* True when value matches one entry of bound: "*" matches anything, '*'
 * inside an entry matches any run of characters (linear, no recursion). */
bool k8s_bound_match(const struct k8s_bound *bound, const char *value);
/* Glob match of one pattern ('*' only) against value. */
bool k8s_glob_match(const char *pattern, const char *value);

int k8s_role_list(const struct k8s_call *call) KH_MUST_CHECK;
int k8s_role_read(const struct k8s_call *call) KH_MUST_CHECK;
int k8s_role_write(const struct k8s_call *call) KH_MUST_CHECK;
int k8s_role_delete(const struct k8s_call *call) KH_MUST_CHECK;
int k8s_role_exists(const struct k8s_call *call,
                    bool *ret_exists) KH_MUST_CHECK;

/* ---- JWT (k8s_jwt.c) ---- */

enum k8s_jwt_alg {
    K8S_JWT_RS256 = 1, /* RSASSA-PKCS1-v1_5 with SHA-256, RSA >= 2048 */
    K8S_JWT_ES256 = 2, /* ECDSA P-256 with SHA-256, raw r||s signature */
};

/* A verification key with the one algorithm it may verify. */
struct k8s_jwt_key
{
    EVP_PKEY *pkey;
    enum k8s_jwt_alg alg;
};

struct k8s_jwt_keys
{
    size_t count;
    struct k8s_jwt_key items[K8S_PEM_KEYS_MAX];
};

/* Parse PEM public keys or certificates (one per entry). RSA keys are
 * pinned to RS256 (and must have >= 2048 bits), P-256 keys to ES256;
 * anything else is KH_EINVAL with errmsg naming the entry. */
int k8s_jwt_keys_parse(char *const *pems, size_t count,
                       struct k8s_jwt_keys *ret, char *errmsg,
                       size_t errmsg_size) KH_MUST_CHECK;
/* Free the keys and zero keys. Accepts NULL. */
void k8s_jwt_keys_clear(struct k8s_jwt_keys *keys);

/* A parsed (not yet trusted) JWT. */
struct k8s_jwt
{
    json_t *header;     /* owned */
    json_t *claims;     /* owned */
    char alg[16];       /* the header's "alg" */
    size_t signed_len;  /* bytes of "header.payload" in the token */
    uint8_t *signature; /* decoded; owned */
    size_t signature_len;
};

/* Split and decode token (compact JWS: three base64url segments, no
 * padding). The header must name an asymmetric algorithm (RS*, PS*, ES*,
 * EdDSA); "none" and HMAC algorithms are refused here. KH_ELIMIT above
 * K8S_JWT_BYTES_MAX or K8S_JWT_JSON_DEPTH_MAX; KH_EINVAL otherwise, with
 * errmsg. Clear *ret with k8s_jwt_clear() on success. */
int k8s_jwt_parse(const char *token, size_t len, struct k8s_jwt *ret,
                  char *errmsg, size_t errmsg_size) KH_MUST_CHECK;
void k8s_jwt_clear(struct k8s_jwt *jwt);

/* Verify the signature of the token jwt was parsed from: it must verify
 * under one key whose pinned algorithm equals the header's alg (never the
 * other way round). KH_EPERM with errmsg when it does not. */
int k8s_jwt_verify(const struct k8s_jwt *jwt, const char *token,
                   const struct k8s_jwt_keys *keys, char *errmsg,
                   size_t errmsg_size) KH_MUST_CHECK;

struct k8s_jwt_rules
{
    int64_t now;          /* unix seconds */
    const char *issuer;   /* NULL: iss not checked */
    const char *audience; /* NULL or "": aud not checked */
};

/* exp and nbf (when present) and iat (when present, not in the future)
 * with K8S_JWT_LEEWAY_S; iss and aud per rules. KH_EPERM with errmsg. */
int k8s_jwt_check_claims(const struct k8s_jwt *jwt,
                         const struct k8s_jwt_rules *rules, char *errmsg,
                         size_t errmsg_size) KH_MUST_CHECK;

struct k8s_identity
{
    char namespace[K8S_IDENT_BYTES_MAX + 1];
    char name[K8S_IDENT_BYTES_MAX + 1];
    char uid[K8S_UID_BYTES_MAX + 1];           /* "" when absent */
    char secret_name[K8S_IDENT_BYTES_MAX + 1]; /* legacy tokens only */
    char pod_name[K8S_IDENT_BYTES_MAX + 1];    /* projected tokens */
};

/* The service account named by the claims: the projected "kubernetes.io"
 * object when present, else the legacy "kubernetes.io/serviceaccount/..."
 * claims. Namespace and name are required. KH_EPERM with errmsg. */
int k8s_jwt_identity(const struct k8s_jwt *jwt, struct k8s_identity *ret,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* The "aud" claim as an array of strings (new reference; empty when
 * absent), or NULL on allocation failure. */
json_t *k8s_jwt_audiences(const struct k8s_jwt *jwt);

/* ---- TokenReview (k8s_review.c) ---- */

struct k8s_review_request
{
    const char *host;        /* "https://..." */
    const char *ca_cert;     /* PEM, or NULL for the system store */
    const char *bearer;      /* Authorization: Bearer ... */
    const char *token;       /* spec.token */
    const json_t *audiences; /* array of strings; empty: omitted */
    uint64_t connect_timeout_s;
    uint64_t timeout_s;
};

struct k8s_review_result
{
    char username[K8S_USERNAME_BYTES_MAX + 1];
    char uid[K8S_UID_BYTES_MAX + 1];
};

/* POST the TokenReview and interpret the answer. KH_EUNAVAIL with errmsg
 * when the API server cannot be reached or answers too slowly (errmsg says
 * which, with the timeout); KH_EPERM with errmsg when it refuses the
 * token. Never logs; the caller owns the outcome. */
int k8s_review(const struct k8s_review_request *rq,
               struct k8s_review_result *ret, char *errmsg,
               size_t errmsg_size) KH_MUST_CHECK;

/* Interpret an API server answer (exposed for the unit tests): status
 * outside 200..206, a metav1.Status "Failure", status.error, not
 * authenticated, audiences without overlap with requested (when requested
 * is non-empty), or a username that is not system:serviceaccount:NS:NAME
 * are KH_EPERM with errmsg. */
int k8s_review_parse(long http_status, const char *body, size_t len,
                     const json_t *requested, struct k8s_review_result *ret,
                     char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* The request body for token and audiences (new reference) or NULL. */
json_t *k8s_review_body(const char *token, const json_t *audiences);

/* ---- per-mount key cache (k8s_backend.c) ---- */

/* The parsed pem_keys of c into *ret (each key referenced, so the cache
 * may change meanwhile); free with k8s_jwt_keys_clear(). From the cache
 * when the keys are unchanged, else parsed and cached. Errors as
 * k8s_jwt_keys_parse(). */
int k8s_state_keys(struct k8s_state *state, const struct k8s_config *c,
                   struct k8s_jwt_keys *ret, char *errmsg,
                   size_t errmsg_size) KH_MUST_CHECK;

/* ---- login (k8s_login.c) ---- */

int k8s_login(const struct k8s_call *call) KH_MUST_CHECK;

#endif
