/*
 * k8s_login.c - POST auth/<mount>/login {role, jwt} (Vault API: Kubernetes auth
 * "Login"): the decision, in Vault's order - role, bound CIDRs, JWT
 * (algorithm, claims, signature when pem_keys are set), service account
 * binding, TokenReview (when no pem_keys), review identity = JWT
 * identity - and the token it earns.
 *
 * Owns the login outcome, so it is the one place that logs it: a refusal
 * is logged with its reason (warn; an unreachable or slow API server at
 * error level, with the timeout) and the client gets only 403 "permission
 * denied". Missing fields and an unknown role stay 400s, as in Vault. It
 * never logs a JWT or the reviewer JWT and takes no lock, so a slow review
 * delays only its own request, for at most the configured timeout.
 */
#include "auth/kubernetes/kubernetes.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "core/core.h"
#include "mount/mount_table.h"
#include "token/token_store.h"

#define DENIED "permission denied"

/* Everything one login decides on; heap-allocated (the role is large). */
struct login_ctx
{
    struct k8s_role role;
    struct k8s_config config;
    struct k8s_identity id;
    char *local_ca;    /* K8S_LOCAL_SA_DIR/ca.crt, or NULL */
    char *local_token; /* K8S_LOCAL_SA_DIR/token, or NULL; secret */
    char reason[KH_ERRMSG_SIZE];
};

static const char *mount_path(const struct k8s_call *call)
{
    return call->br->mount != NULL ? call->br->mount->path : "auth/kubernetes/";
}

/* A small file into a malloc'ed NUL-terminated string, trailing newlines
 * removed; NULL when absent, unreadable, empty or larger than max. */
static char *file_read_small(const char *path, size_t max)
{
    char *buf = NULL;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    buf = malloc(max + 2);
    n = buf != NULL ? read(fd, buf, max + 1) : -1;
    close(fd);
    if (n <= 0 || (size_t)n > max) {
        kh_free_secret(buf, buf != NULL ? max + 2 : 0);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return buf;
}

/* Vault's in-cluster defaults: the pod's own CA and token, unless
 * disable_local_ca_jwt is set or the config names its own. */
static void local_sa_load(struct login_ctx *ctx)
{
    if (ctx->config.disable_local_ca_jwt)
        return;
    if (ctx->config.ca_cert == NULL)
        ctx->local_ca =
            file_read_small(K8S_LOCAL_SA_DIR "/ca.crt", K8S_CA_CERT_BYTES_MAX);
    if (ctx->config.reviewer_jwt == NULL)
        ctx->local_token = file_read_small(K8S_LOCAL_SA_DIR "/token",
                                           K8S_REVIEWER_JWT_BYTES_MAX);
}

/* Step 7: the reviewed user must be the JWT's service account. */
static int review_matches(struct login_ctx *ctx,
                          const struct k8s_review_result *res)
{
    char want[K8S_USERNAME_BYTES_MAX + 1];
    char *reason = ctx->reason;

    snprintf(want, sizeof(want), "system:serviceaccount:%s:%s",
             ctx->id.namespace, ctx->id.name);
    if (strcmp(want, res->username) != 0)
        return kh_errmsg(reason, sizeof(ctx->reason), KH_EPERM,
                         "JWT names did not match: TokenReview says %s",
                         res->username);
    if (ctx->id.uid[0] != '\0' && res->uid[0] != '\0' &&
        strcmp(ctx->id.uid, res->uid) != 0)
        return kh_errmsg(reason, sizeof(ctx->reason), KH_EPERM,
                         "JWT UIDs did not match");
    return 0;
}

/* Step 6: the API server's TokenReview. */
static int login_review(struct login_ctx *ctx, const char *jwt,
                        const struct k8s_jwt *parsed)
{
    struct k8s_review_request rq = {0};
    struct k8s_review_result res;
    json_t *aud = NULL;
    int r;

    local_sa_load(ctx);
    if (ctx->role.audience[0] != '\0')
        aud = json_pack("[s]", ctx->role.audience);
    else
        aud = k8s_jwt_audiences(parsed);
    if (aud == NULL)
        return KH_ENOMEM;
    rq.host = ctx->config.host;
    rq.ca_cert =
        ctx->config.ca_cert != NULL ? ctx->config.ca_cert : ctx->local_ca;
    rq.bearer = ctx->config.reviewer_jwt != NULL ? ctx->config.reviewer_jwt
                : ctx->local_token != NULL       ? ctx->local_token
                                                 : jwt;
    rq.token = jwt;
    rq.audiences = aud;
    rq.connect_timeout_s = ctx->config.connect_timeout_s;
    rq.timeout_s = ctx->config.timeout_s;
    r = k8s_review(&rq, &res, ctx->reason, sizeof(ctx->reason));
    if (r == 0)
        r = review_matches(ctx, &res);
    json_decref(aud);
    return r;
}

/* Steps 3-5: the JWT itself, its signature when pem_keys are set, and the
 * binding of its service account to the role. */
static int login_jwt(const struct k8s_call *call, struct login_ctx *ctx,
                     const struct k8s_jwt *parsed, const char *jwt)
{
    struct k8s_jwt_keys keys = {0};
    struct k8s_jwt_rules rules = {0};
    const struct k8s_config *c = &ctx->config;
    int r;

    rules.now = (int64_t)time(NULL);
    rules.audience = ctx->role.audience;
    if (!c->disable_iss_validation)
        rules.issuer = c->issuer[0] != '\0' ? c->issuer : K8S_DEFAULT_ISSUER;
    r = k8s_jwt_check_claims(parsed, &rules, ctx->reason, sizeof(ctx->reason));
    if (r == 0 && c->pem_key_count > 0) {
        r = k8s_state_keys(call->state, c, &keys, ctx->reason,
                           sizeof(ctx->reason));
        if (r == 0)
            r = k8s_jwt_verify(parsed, jwt, &keys, ctx->reason,
                               sizeof(ctx->reason));
        k8s_jwt_keys_clear(&keys);
    }
    if (r == 0)
        r = k8s_jwt_identity(parsed, &ctx->id, ctx->reason,
                             sizeof(ctx->reason));
    if (r == 0 && !k8s_bound_match(&ctx->role.names, ctx->id.name))
        r = kh_errmsg(ctx->reason, sizeof(ctx->reason), KH_EPERM,
                      "service account name not authorized: %s/%s",
                      ctx->id.namespace, ctx->id.name);
    if (r == 0 && !k8s_bound_match(&ctx->role.namespaces, ctx->id.namespace))
        r = kh_errmsg(ctx->reason, sizeof(ctx->reason), KH_EPERM,
                      "namespace not authorized: %s/%s", ctx->id.namespace,
                      ctx->id.name);
    return r;
}

static int login_decide(const struct k8s_call *call, struct login_ctx *ctx,
                        const char *jwt, size_t len)
{
    struct k8s_jwt parsed = {0};
    int r;

    r = k8s_jwt_parse(jwt, len, &parsed, ctx->reason, sizeof(ctx->reason));
    if (r != 0)
        return r;
    r = login_jwt(call, ctx, &parsed, jwt);
    if (r == 0 && ctx->config.pem_key_count == 0)
        r = login_review(ctx, jwt, &parsed);
    k8s_jwt_clear(&parsed);
    return r;
}

static int login_issue(const struct k8s_call *call, const struct login_ctx *ctx)
{
    char display[2 * K8S_IDENT_BYTES_MAX + 2];
    char path[MOUNT_PATH_BYTES_MAX + 8];
    struct token_params params;
    json_t *meta;
    int r;

    KH_ASSERT(ctx->id.name[0] != '\0');
    KH_ASSERT(ctx->id.namespace[0] != '\0');
    memset(&params, 0, sizeof(params));
    tokenutil_params(&ctx->role.token, &params);
    meta = json_pack("{s:s, s:s, s:s, s:s, s:s}", "role", ctx->role.name,
                     "service_account_name", ctx->id.name,
                     "service_account_namespace", ctx->id.namespace,
                     "service_account_secret_name", ctx->id.secret_name,
                     "service_account_uid", ctx->id.uid);
    if (meta == NULL)
        return KH_ENOMEM;
    snprintf(display, sizeof(display), "%s-%s", ctx->id.namespace,
             ctx->id.name);
    snprintf(path, sizeof(path), "%slogin", mount_path(call));
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

/* Steps 1-2 (role, config, CIDRs) into ctx; 400s (call->errmsg) for the
 * client's own mistakes, KH_EPERM with ctx->reason for a refusal. */
static int login_load(const struct k8s_call *call, const char *role_name,
                      struct login_ctx *ctx)
{
    char name[K8S_ROLE_NAME_BYTES_MAX + 1];
    char msg[KH_ERRMSG_SIZE];
    int r;

    if (k8s_role_name_check(role_name, strlen(role_name), name, msg,
                            sizeof(msg)) != 0)
        r = KH_ENOTFOUND;
    else
        r = k8s_role_load(call->br->view, name, &ctx->role);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "invalid role name \"%.200s\"", role_name);
    if (r != 0)
        return r;
    r = k8s_config_load(call->br->view, &ctx->config);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "could not load backend configuration");
    if (r != 0)
        return r;
    if (!tokenutil_cidrs_allow(&ctx->role.token.bound_cidrs,
                               call->br->req->remote_addr))
        return kh_errmsg(ctx->reason, sizeof(ctx->reason), KH_EPERM,
                         "client address %s is outside token_bound_cidrs",
                         call->br->req->remote_addr);
    return 0;
}

/* Log a refusal once, with its reason; the client sees only 403. The
 * reason may quote a token's or the API server's text: control bytes are
 * replaced so no line can be forged in the log. */
static int login_refuse(const struct k8s_call *call, struct login_ctx *ctx,
                        int r)
{
    const char *role = ctx->role.name; /* validated: safe to log */
    size_t i;

    for (i = 0; ctx->reason[i] != '\0'; i++) {
        if ((unsigned char)ctx->reason[i] < 0x20 || ctx->reason[i] == 0x7f)
            ctx->reason[i] = '?';
    }

    if (r == KH_EUNAVAIL)
        log_error("kubernetes login (%s, role %s): API server unavailable, "
                  "login refused: %s",
                  mount_path(call), role, ctx->reason);
    else
        log_warn("kubernetes login (%s, role %s) refused: %s", mount_path(call),
                 role, ctx->reason);
    return kh_errmsg(call->errmsg, call->errmsg_size, KH_EPERM, DENIED);
}

int k8s_login(const struct k8s_call *call)
{
    const char *role = kh_request_string(call->br->req, "role");
    const json_t *jwt = tokenutil_field(call->br->req->data, "jwt");
    struct login_ctx *ctx;
    int r;

    if (role == NULL || role[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing role");
    if (!json_is_string(jwt) || json_string_length(jwt) == 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing jwt");
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return KH_ENOMEM;
    r = login_load(call, role, ctx);
    if (r == KH_EPERM)
        r = login_refuse(call, ctx, r);
    if (r == 0) {
        r = login_decide(call, ctx, json_string_value(jwt),
                         json_string_length(jwt));
        /* Every failure of the decision is a refusal, except running out
         * of memory (503) or a bug (500). */
        if (r != 0 && r != KH_ENOMEM && r != KH_EINTERNAL)
            r = login_refuse(call, ctx, r);
    }
    if (r == 0) {
        log_info("kubernetes login (%s, role %s): %s/%s (alias %s%s%s)",
                 mount_path(call), ctx->role.name, ctx->id.namespace,
                 ctx->id.name,
                 ctx->role.alias_by_name ? ctx->id.namespace : ctx->id.uid,
                 ctx->role.alias_by_name ? "/" : "",
                 ctx->role.alias_by_name ? ctx->id.name : "");
        r = login_issue(call, ctx);
    }
    k8s_config_clear(&ctx->config);
    free(ctx->local_ca);
    if (ctx->local_token != NULL)
        kh_free_secret(ctx->local_token, strlen(ctx->local_token));
    kh_free_secret(ctx, sizeof(*ctx));
    return r;
}
