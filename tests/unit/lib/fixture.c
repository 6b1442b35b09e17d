/*
 * fixture.c - the shared unit-test set-ups declared in fixture.h: temporary
 * directories, LMDB with an initialised barrier, a whole core, and
 * requests built from wire pieces.
 *
 * Owns only test scaffolding: every helper returns an error instead of
 * asserting, frees what it built when it fails, and wipes the keys it
 * handles. It never touches anything outside its temporary directories.
 */
#include "fixture.h"

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/secret.h"
#include "config/limits.h"
#include "core/request_handle.h"
#include "http/request_parse.h"
#include "token/token_store.h"

/* ---- temporary directories ---- */

int fixture_tmp_make(const char *prefix, char **ret_dir)
{
    const char *base = getenv("KH_TEST_TMP");
    char *dir = NULL;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    /* $KH_TEST_TMP may not exist yet in a fresh build directory */
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        return KH_EIO;
    if (asprintf(&dir, "%s/%s-XXXXXX", base, prefix) < 0)
        return KH_ENOMEM;
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return KH_EIO;
    }
    *ret_dir = dir;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int fixture_tmp_remove(char *dir)
{
    int r = 0;

    if (dir == NULL)
        return 0;
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        r = KH_EIO;
    free(dir);
    return r;
}

/* ---- LMDB and an initialised barrier ---- */

static int store_barrier(struct fixture_store *fs)
{
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    int r = KH_EINTERNAL;

    r = barrier_create(fs->storage, &fs->barrier);
    if (r != 0)
        goto out;
    r = kh_random_bytes(root_key, sizeof(root_key));
    if (r != 0)
        goto out;
    r = barrier_initialize(fs->barrier, root_key);
    if (r != 0)
        goto out;
    r = 0; /* success */
out:
    kh_wipe(root_key, sizeof(root_key));
    return r;
}

int fixture_store_open(struct fixture_store *fs, const char *prefix,
                       const char *subdir, char *errmsg, size_t errmsg_size)
{
    char *path = NULL;
    int r = KH_EINTERNAL;

    memset(fs, 0, sizeof(*fs));
    r = fixture_tmp_make(prefix, &fs->dir);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "temporary directory");
        goto out;
    }
    if (subdir != NULL && asprintf(&path, "%s/%s", fs->dir, subdir) < 0) {
        r = KH_ENOMEM;
        goto out;
    }
    r = kh_storage_lmdb_open(path != NULL ? path : fs->dir, 0, &fs->storage,
                             errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = store_barrier(fs);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "barrier: %s", kh_strerror(r));
        goto out;
    }
    r = 0; /* success */
out:
    free(path);
    if (r != 0)
        (void)fixture_store_close(fs);
    return r;
}

int fixture_store_close(struct fixture_store *fs)
{
    int r;

    barrier_free(fs->barrier);
    kh_storage_close(fs->storage);
    r = fixture_tmp_remove(fs->dir);
    memset(fs, 0, sizeof(*fs));
    return r;
}

int fixture_token_core_open(const struct fixture_store *fs,
                            struct kh_core **ret_core)
{
    struct kh_core *core = calloc(1, sizeof(*core));
    int r = KH_EINTERNAL;

    if (core == NULL)
        return KH_ENOMEM;
    core->storage = fs->storage;
    core->barrier = fs->barrier;
    r = token_store_create(fs->barrier, &core->tokens);
    if (r != 0)
        goto out;
    r = token_store_setup(core->tokens);
    if (r != 0)
        goto out;
    *ret_core = core;
    core = NULL;
    r = 0; /* success */
out:
    fixture_token_core_close(core);
    return r;
}

void fixture_token_core_close(struct kh_core *core)
{
    if (core == NULL)
        return;
    token_store_free(core->tokens);
    free(core);
}

/* ---- one backend mounted over a store ---- */

int fixture_mount_open(struct mount_entry *mount,
                       const struct fixture_store *fs,
                       const struct backend_ops *ops, const char *path,
                       const char *uuid, const char *options_json, char *errmsg,
                       size_t errmsg_size)
{
    int r = KH_EINTERNAL;

    memset(mount, 0, sizeof(*mount));
    snprintf(mount->path, sizeof(mount->path), "%s", path);
    snprintf(mount->type, sizeof(mount->type), "%s", ops->type);
    mount->is_auth = ops->is_auth;
    mount->ops = ops;
    if (uuid != NULL)
        snprintf(mount->uuid, sizeof(mount->uuid), "%s", uuid);
    else if ((r = kh_uuid_generate(mount->uuid)) != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "mount uuid");
    if (options_json != NULL) {
        mount->options = json_loads(options_json, 0, NULL);
        if (mount->options == NULL)
            return kh_errmsg(errmsg, errmsg_size, KH_EINVAL,
                             "mount options are not JSON");
    }
    r = view_init(&mount->view, fs->barrier, fs->storage,
                  ops->is_auth ? "auth" : "logical", mount->uuid);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "view of %s", path);
    if (ops->init != NULL) {
        r = ops->init(mount, &mount->state);
        if (r != 0)
            return kh_errmsg(errmsg, errmsg_size, r, "init of %s: %s", path,
                             kh_strerror(r));
    }
    return 0;
}

void fixture_mount_close(struct mount_entry *mount)
{
    if (mount->ops != NULL && mount->ops->cleanup != NULL)
        mount->ops->cleanup(mount->state);
    json_decref(mount->options);
    memset(mount, 0, sizeof(*mount));
}

int fixture_backend_request(struct kh_core *core,
                            const struct mount_entry *mount,
                            const struct kh_request *req,
                            const struct token_entry *token,
                            struct backend_request *ret_br)
{
    size_t len = strlen(mount->path);

    if (req->path == NULL || strncmp(req->path, mount->path, len) != 0)
        return KH_ENOTFOUND;
    *ret_br = (struct backend_request){
        .core = core,
        .mount = mount,
        .req = req,
        .subpath = req->path + len,
        .view = &mount->view,
        .token = token,
        .state = mount->state,
    };
    return 0;
}

/* ---- one backend over its own store ---- */

int fixture_backend_open(struct fixture_backend *fb, const char *prefix,
                         const struct backend_ops *ops, const char *path,
                         char *errmsg, size_t errmsg_size)
{
    int r;

    memset(fb, 0, sizeof(*fb));
    r = fixture_store_open(&fb->db, prefix, NULL, errmsg, errmsg_size);
    if (r != 0)
        return r;
    r = fixture_token_core_open(&fb->db, &fb->core);
    if (r != 0)
        return kh_errmsg(errmsg, errmsg_size, r, "token store: %s",
                         kh_strerror(r));
    return fixture_mount_open(&fb->mount, &fb->db, ops, path, NULL, NULL,
                              errmsg, errmsg_size);
}

int fixture_backend_close(struct fixture_backend *fb)
{
    fixture_mount_close(&fb->mount);
    fixture_token_core_close(fb->core);
    fb->core = NULL;
    return fixture_store_close(&fb->db);
}

int fixture_backend_setup(void **state, const char *prefix,
                          const struct backend_ops *ops, const char *path)
{
    struct fixture_backend *fb = calloc(1, sizeof(*fb));
    char errmsg[KH_ERRMSG_SIZE] = "";

    if (fb == NULL)
        return -1;
    if (fixture_backend_open(fb, prefix, ops, path, errmsg, sizeof(errmsg))) {
        fprintf(stderr, "backend set-up: %s\n", errmsg);
        (void)fixture_backend_close(fb);
        free(fb);
        return -1;
    }
    *state = fb;
    return 0;
}

int fixture_backend_teardown(void **state)
{
    struct fixture_backend *fb = *state;
    int r;

    r = fixture_backend_close(fb);
    free(fb);
    *state = NULL;
    return r == 0 ? 0 : -1;
}

int fixture_backend_call(struct fixture_backend *fb,
                         const struct fixture_request *spec,
                         const struct token_entry *token,
                         struct kh_response *resp, int *ret_result,
                         char *errmsg, size_t errmsg_size)
{
    struct fixture_request at = *spec;
    struct backend_request br;
    struct kh_request req;
    char *url = NULL;
    int r = KH_EINTERNAL;

    memset(resp, 0, sizeof(*resp));
    memset(&req, 0, sizeof(req));
    if (spec->url[0] != '/' &&
        asprintf(&url, "/v1/%s%s", fb->mount.path, spec->url) < 0) {
        r = KH_ENOMEM;
        goto out;
    }
    if (url != NULL)
        at.url = url;
    r = fixture_request_build(&at, &req, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = fixture_backend_request(fb->core, &fb->mount, &req, token, &br);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "%s is not below %s", req.path,
                  fb->mount.path);
        goto out;
    }
    errmsg[0] = '\0';
    *ret_result = fb->mount.ops->handle(&br, resp, errmsg, errmsg_size);
    r = 0; /* success */
out:
    kh_request_clear(&req);
    free(url);
    return r;
}

/* ---- a whole core ---- */

int fixture_core_open(struct fixture_core *fc, const char *prefix,
                      const char *hcl, char *errmsg, size_t errmsg_size)
{
    struct kh_core_options options = {0};
    char *text = NULL;
    int r = KH_EINTERNAL;

    memset(fc, 0, sizeof(*fc));
    r = fixture_tmp_make(prefix, &fc->dir);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "temporary directory");
        goto out;
    }
    if (asprintf(&text,
                 "%s\nstorage \"lmdb\" {\n  path = \"%s/data\"\n}\n"
                 "disable_mlock = true\n",
                 hcl != NULL ? hcl : "", fc->dir) < 0) {
        r = KH_ENOMEM;
        goto out;
    }
    fc->config = kh_config_new();
    if (fc->config == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    r = kh_config_parse_text(fc->config, text, strlen(text), "test.hcl", errmsg,
                             errmsg_size);
    if (r != 0)
        goto out;
    options.config = fc->config;
    r = kh_core_open(&options, &fc->core, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = 0; /* success */
out:
    free(text);
    if (r != 0)
        (void)fixture_core_close(fc);
    return r;
}

/* Keep the root token and the one hex share of an init result in fc. */
static int core_keep_result(struct fixture_core *fc, const json_t *result)
{
    const char *token =
        json_string_value(json_object_get(result, "root_token"));
    const char *share =
        json_string_value(json_array_get(json_object_get(result, "keys"), 0));

    if (token == NULL || share == NULL ||
        strlen(token) >= sizeof(fc->root_token) ||
        strlen(share) >= sizeof(fc->unseal_key))
        return KH_EINTERNAL;
    snprintf(fc->root_token, sizeof(fc->root_token), "%s", token);
    snprintf(fc->unseal_key, sizeof(fc->unseal_key), "%s", share);
    return 0;
}

int fixture_core_init_unseal(struct fixture_core *fc, char *errmsg,
                             size_t errmsg_size)
{
    struct kh_init_request init = {.secret_shares = 1, .secret_threshold = 1};
    uint8_t key[KH_SHARE_BYTES_MAX];
    json_t *result = NULL;
    size_t key_len = 0;
    int r = KH_EINTERNAL;

    r = kh_core_init(fc->core, &init, &result, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = core_keep_result(fc, result);
    if (r == 0)
        r = kh_hex_decode(fc->unseal_key, strlen(fc->unseal_key), key,
                          sizeof(key), &key_len);
    if (r != 0) {
        kh_errmsg(errmsg, errmsg_size, r, "init result: %s", kh_strerror(r));
        goto out;
    }
    r = kh_core_unseal(fc->core, key, key_len, false, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = 0; /* success */
out:
    json_decref(result);
    kh_wipe(key, sizeof(key));
    return r;
}

int fixture_core_close(struct fixture_core *fc)
{
    int r;

    kh_core_close(fc->core);
    kh_config_free(fc->config);
    r = fixture_tmp_remove(fc->dir);
    kh_wipe(fc, sizeof(*fc));
    return r;
}

/* ---- requests ---- */

/* Split "k=v&flag&k2=v2" in place into args, pointing into query. */
static int split_query(char *query, struct http_query_arg *args,
                       size_t *ret_count)
{
    char *save = NULL;
    char *pair;
    size_t n = 0;

    for (pair = strtok_r(query, "&", &save); pair != NULL;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (n == FIXTURE_QUERY_ARGS_MAX)
            return KH_ETOOBIG;
        if (eq != NULL)
            *eq++ = '\0';
        args[n].name = pair;
        args[n].value = eq;
        n++;
    }
    *ret_count = n;
    return 0;
}

int fixture_request_build(const struct fixture_request *spec,
                          struct kh_request *req, char *errmsg,
                          size_t errmsg_size)
{
    struct http_query_arg args[FIXTURE_QUERY_ARGS_MAX];
    struct http_raw_request raw = {0};
    const char *body = spec->body != NULL ? spec->body : "";
    char *url = strdup(spec->url);
    char *query;
    int r = KH_EINTERNAL;

    memset(req, 0, sizeof(*req));
    if (url == NULL) {
        r = KH_ENOMEM;
        goto out;
    }
    query = strchr(url, '?');
    if (query != NULL) {
        *query++ = '\0';
        raw.query = args;
        r = split_query(query, args, &raw.query_count);
        if (r != 0) {
            kh_errmsg(errmsg, errmsg_size, r, "too many query arguments");
            goto out;
        }
    }
    raw.method = spec->method;
    raw.url = url;
    if (strcmp(spec->method, "PATCH") == 0)
        raw.content_type = "application/merge-patch+json";
    else if (spec->body != NULL)
        raw.content_type = "application/json";
    raw.vault_token = spec->token;
    raw.body = (const uint8_t *)body;
    raw.body_len = strlen(body);
    raw.body_bytes_max = KH_HTTP_BODY_BYTES_DEFAULT;
    raw.remote_addr =
        spec->remote_addr != NULL ? spec->remote_addr : "127.0.0.1";
    r = http_request_build(&raw, req, errmsg, errmsg_size);
out:
    free(url);
    return r;
}

int fixture_request_handle(struct kh_core *core,
                           const struct fixture_request *spec,
                           struct kh_response *resp, char *ret_request_id,
                           char *errmsg, size_t errmsg_size)
{
    struct kh_request req;
    int r;

    memset(resp, 0, sizeof(*resp));
    r = fixture_request_build(spec, &req, errmsg, errmsg_size);
    if (r == 0) {
        request_handle(core, &req, resp);
        if (ret_request_id != NULL)
            memcpy(ret_request_id, req.request_id, KH_UUID_STR_LEN + 1);
    }
    kh_request_clear(&req);
    return r;
}

#define FIXTURE_PORT_LOW 10000
#define FIXTURE_PORT_SPAN 10000
#define FIXTURE_PORT_TRIES 500

/* Never the same port twice in one process: a caller may pick several
 * before it binds any. */
static bool port_given(int port)
{
    static int given[256];
    static size_t count;
    size_t i;

    for (i = 0; i < count && i < 256; i++)
        if (given[i] == port)
            return true;
    given[count++ % 256] = port;
    return false;
}

int fixture_free_port(void)
{
    static unsigned seed;
    struct sockaddr_in sa;
    int i, fd, port, ok;

    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (i = 0; i < FIXTURE_PORT_TRIES; i++) {
        port = FIXTURE_PORT_LOW + (int)(rand_r(&seed) % FIXTURE_PORT_SPAN);
        if (port_given(port))
            continue;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}
