/*
 * fuzz_http_request.c - libFuzzer target for the request path: wire pieces
 * through http_request_build(), request_handle() and
 * http_response_render(), exactly as the server runs them, over a real
 * core (LMDB in a temp directory, Shamir seal, initialised and unsealed in
 * LLVMFuzzerInitialize).
 *
 * Input: fields separated by '\n': method, url (with an optional
 * "?k=v&k2" query, split here into at most QUERY_ARGS_MAX arguments),
 * content type, a token selector byte (0: none, 1: the root token, 2: a
 * wrong token, 3: the root token as "Authorization: Bearer"), and the rest
 * of the input as the body. Missing fields are empty.
 *
 * Requests that change the core state or write durably (writes to
 * sys/seal*, sys/rotate, sys/init, sys/unseal, sys/step-down) are not
 * handled, so every input runs against the same unsealed core.
 *
 * Besides crashes, sanitizer reports and leaks, these are findings
 * (abort()): a status outside 100..599; a rendered body that is not a JSON
 * object; a 2xx answer from a route that needs a token when the request
 * carried none or a wrong one.
 *
 * glibc's explicit_bzero(), behind kh_wipe(), is not intercepted by
 * AddressSanitizer, so a wipe past the end of a buffer would go unseen;
 * this target defines its own on top of memset (which ASan checks), so
 * every kh_wipe()/kh_free_secret() on the request path is bounds-checked.
 */
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "config/config.h"
#include "core/core.h"
#include "core/request_handle.h"
#include "http/request_parse.h"
#include "http/response.h"
#include "router/router.h"
#include "server/json_alloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELD_COUNT    4 /* method, url, content type, token */
#define QUERY_ARGS_MAX (KH_HTTP_QUERY_ARGS_MAX + 2) /* limit + 1 reachable */
#define BODY_BYTES_MAX (64u * 1024u)
#define BAD_TOKEN      "hvs.fuzz-wrong-token"

enum token_choice {
    TOKEN_NONE = 0,
    TOKEN_ROOT,
    TOKEN_WRONG,
    TOKEN_BEARER_ROOT,
    TOKEN_CHOICES,
};

static struct fuzz_state
{
    char dir[4096];
    struct kh_config *config;
    struct kh_core *core;
    char root_token[TOKEN_ID_BYTES_MAX + 1];
    char bearer[TOKEN_ID_BYTES_MAX + 16];
} fuzz;

static const char *const skipped_prefixes[] = {
    "sys/seal", "sys/rotate", "sys/init", "sys/unseal", "sys/step-down",
};

/* Overrides libc's for this binary only: same contract, checked by ASan;
 * the barrier keeps the stores from being elided. */
void explicit_bzero(void *p, size_t len)
{
    memset(p, 0, len);
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void fail(const char *what, const char *errmsg)
{
    fprintf(stderr, "fuzz_http_request: %s: %s\n", what, errmsg);
    abort();
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

static void fuzz_cleanup(void)
{
    kh_core_close(fuzz.core);
    fuzz.core = NULL;
    kh_config_free(fuzz.config);
    fuzz.config = NULL;
    if (fuzz.dir[0] != '\0')
        (void)nftw(fuzz.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    fuzz.dir[0] = '\0';
}

static void open_core(void)
{
    struct kh_core_options options = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    char text[8192];
    const char *base = getenv("KH_TEST_TMP");

    if (base == NULL || base[0] == '\0')
        base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    (void)mkdir(base, 0700);
    snprintf(fuzz.dir, sizeof(fuzz.dir), "%s/fuzz-http-XXXXXX", base);
    if (mkdtemp(fuzz.dir) == NULL)
        fail("mkdtemp", fuzz.dir);
    snprintf(text, sizeof(text),
             "listener \"tcp\" {\n  address = \"127.0.0.1:0\"\n"
             "  tls_disable = true\n}\n"
             "storage \"lmdb\" {\n  path = \"%s/data\"\n}\n"
             "disable_mlock = true\n",
             fuzz.dir);
    fuzz.config = kh_config_new();
    if (fuzz.config == NULL)
        fail("config", "out of memory");
    if (kh_config_parse_text(fuzz.config, text, strlen(text), "fuzz.hcl",
                             errmsg, sizeof(errmsg)) != 0)
        fail("config", errmsg);
    options.config = fuzz.config;
    if (kh_core_open(&options, &fuzz.core, errmsg, sizeof(errmsg)) != 0)
        fail("core open", errmsg);
}

static void init_and_unseal(void)
{
    struct kh_init_request init = {.secret_shares = 1, .secret_threshold = 1};
    char errmsg[KH_ERRMSG_SIZE] = "";
    uint8_t key[KH_SHARE_BYTES_MAX];
    size_t key_len = 0;
    json_t *result = NULL;
    const char *hex;
    const char *token;

    if (kh_core_init(fuzz.core, &init, &result, errmsg, sizeof(errmsg)) != 0)
        fail("core init", errmsg);
    token = json_string_value(json_object_get(result, "root_token"));
    hex = json_string_value(json_array_get(json_object_get(result, "keys"), 0));
    if (token == NULL || hex == NULL)
        fail("core init", "no root token or key in the result");
    snprintf(fuzz.root_token, sizeof(fuzz.root_token), "%s", token);
    snprintf(fuzz.bearer, sizeof(fuzz.bearer), "Bearer %s", token);
    if (kh_hex_decode(hex, strlen(hex), key, sizeof(key), &key_len) != 0)
        fail("core init", "the key is not hex");
    json_decref(result);
    if (kh_core_unseal(fuzz.core, key, key_len, false, errmsg,
                       sizeof(errmsg)) != 0)
        fail("core unseal", errmsg);
    kh_wipe(key, sizeof(key));
    if (barrier_sealed(fuzz.core->barrier))
        fail("core unseal", "still sealed");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    json_alloc_install_wiping(); /* as keyholdd's main does */
    kh_log_set_level(KH_LOG_OFF);
    open_core();
    init_and_unseal();
    atexit(fuzz_cleanup);
    return 0;
}

/* The input split into NUL-terminated fields and an exact-size body. */
struct fuzz_input
{
    char *field[FIELD_COUNT];
    uint8_t *body;
    size_t body_len;
    char *query_text;
    struct http_query_arg query[QUERY_ARGS_MAX];
    size_t query_count;
};

static void input_free(struct fuzz_input *in)
{
    size_t i;

    for (i = 0; i < FIELD_COUNT; i++)
        free(in->field[i]);
    free(in->body);
    memset(in, 0, sizeof(*in));
}

/* Split "k=v&k2&..." (in place) into at most QUERY_ARGS_MAX arguments. */
static void split_query(struct fuzz_input *in, char *text)
{
    char *save = NULL;
    char *pair;

    for (pair = strtok_r(text, "&", &save);
         pair != NULL && in->query_count < QUERY_ARGS_MAX;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq != NULL)
            *eq++ = '\0';
        in->query[in->query_count].name = pair;
        in->query[in->query_count].value = eq;
        in->query_count++;
    }
}

static void input_split(struct fuzz_input *in, const uint8_t *data, size_t size)
{
    size_t pos = 0;
    size_t i;
    char *q;

    memset(in, 0, sizeof(*in));
    for (i = 0; i < FIELD_COUNT; i++) {
        const uint8_t *nl =
            pos < size ? memchr(data + pos, '\n', size - pos) : NULL;
        size_t end = nl != NULL ? (size_t)(nl - data) : size;
        in->field[i] = strndup((const char *)data + pos, end - pos);
        if (in->field[i] == NULL)
            abort();
        pos = nl != NULL ? end + 1 : size;
    }
    in->body_len = size - pos;
    in->body = malloc(in->body_len > 0 ? in->body_len : 1);
    if (in->body == NULL)
        abort();
    memcpy(in->body, data + pos, in->body_len);
    q = strchr(in->field[1], '?');
    if (q != NULL) {
        *q++ = '\0';
        split_query(in, q);
    }
}

static bool is_skipped(const struct kh_request *req)
{
    size_t i;

    if (req->op == KH_OP_READ || req->op == KH_OP_LIST || req->op == KH_OP_HEAD)
        return false;
    for (i = 0; i < KH_ARRAY_LEN(skipped_prefixes); i++) {
        if (strncmp(req->path, skipped_prefixes[i],
                    strlen(skipped_prefixes[i])) == 0)
            return true;
    }
    return false;
}

static void set_token(struct http_raw_request *raw, const char *selector)
{
    enum token_choice choice =
        (enum token_choice)((unsigned char)selector[0] % TOKEN_CHOICES);

    if (choice == TOKEN_ROOT)
        raw->vault_token = fuzz.root_token;
    else if (choice == TOKEN_WRONG)
        raw->vault_token = BAD_TOKEN;
    else if (choice == TOKEN_BEARER_ROOT)
        raw->authorization = fuzz.bearer;
}

/* The findings beyond sanitizer reports: see the file comment. req is
 * NULL when the request was refused before it was built. */
static void check_response(const struct kh_request *req,
                           const struct http_raw_request *raw, const char *text,
                           unsigned status)
{
    const struct kh_route *route = NULL;
    char errmsg[KH_ERRMSG_SIZE];
    bool has_root = raw->vault_token == fuzz.root_token ||
                    raw->authorization == fuzz.bearer;

    if (status < 100 || status > 599)
        fail("status out of range", raw->url);
    if (text != NULL) {
        json_error_t jerr;
        json_t *body = json_loads(text, 0, &jerr);
        if (!json_is_object(body))
            fail("body is not a JSON object", text);
        json_decref(body);
    }
    if (req != NULL && !has_root && status >= 200 && status < 300 &&
        router_lookup(req->path, req->op, &route, errmsg, sizeof(errmsg)) ==
            0 &&
        !(route->flags & ROUTE_UNAUTHENTICATED))
        fail("authenticated route answered without the token", req->path);
}

/* Answer as the server's dispatch() does: the build error, or the request
 * path's response; then render and check. */
static void handle(int build_r, const char *build_errmsg,
                   struct kh_request *req, const struct http_raw_request *raw)
{
    struct kh_response resp = {0};
    char *text = NULL;
    size_t len = 0;
    unsigned status = 0;

    if (build_r != 0)
        http_response_error(&resp, build_r, build_errmsg);
    else
        request_handle(fuzz.core, req, &resp);
    if (http_response_render(&resp, &text, &len, &status) == 0) {
        if (resp.text == NULL)
            check_response(build_r == 0 ? req : NULL, raw, text, status);
        free(text);
    }
    kh_response_clear(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    struct http_raw_request raw = {0};
    struct kh_request req = {0};
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r;

    input_split(&in, data, size);
    raw.method = in.field[0];
    raw.url = in.field[1];
    raw.content_type = in.field[2][0] != '\0' ? in.field[2] : NULL;
    set_token(&raw, in.field[3]);
    raw.query = in.query;
    raw.query_count = in.query_count;
    raw.body = in.body;
    raw.body_len = in.body_len;
    raw.body_bytes_max = BODY_BYTES_MAX;
    raw.remote_addr = "127.0.0.1";
    r = http_request_build(&raw, &req, errmsg, sizeof(errmsg));
    if (r != 0 || !is_skipped(&req))
        handle(r, errmsg, &req, &raw);
    kh_request_clear(&req);
    input_free(&in);
    return 0;
}
