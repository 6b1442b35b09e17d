/*
 * test_audit_file.c - the audit broker with file and syslog devices over
 * real files in a temporary directory and a real barrier (LMDB): record
 * format and HMAC, the hash chain and checkpoints (checked with the
 * verifier), rotation, resume after unseal, the attack-surface rules
 * (allowed directories, symlinks, modes), and failing closed when the
 * file cannot be written (disk full, unwritable at load).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit/verify.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "core/core.h"
#include "core/request.h"
#include "token/token_store.h"

#define CANARY_TOKEN "hvs.CANARYtokenCANARYtoken01"
#define CANARY_SECRET "canary-Secret-7f3a9c"
#define CANARY_ACCESSOR "CANARYaccessor0000000001"

struct fx
{
    char *dir;
    char log[512];
    struct kh_storage *storage;
    struct barrier *barrier;
    struct kh_core *core;
    struct audit_broker *b;
    struct token_entry *token;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_broker(struct fx *f, const struct audit_options *o)
{
    char errmsg[KH_ERRMSG_SIZE] = "";

    if (audit_broker_create(f->core, o, &f->b, errmsg, sizeof(errmsg)) != 0)
        fail_msg("create: %s", errmsg);
    if (audit_broker_load(f->b, errmsg, sizeof(errmsg)) != 0)
        fail_msg("load: %s", errmsg);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    const char *base = getenv("KH_TEST_TMP");
    uint8_t root_key[KH_ROOT_KEY_BYTES];
    char errmsg[KH_ERRMSG_SIZE], db[600];

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    (void)mkdir(base, 0700);
    assert_true(asprintf(&f->dir, "%s/audit-XXXXXX", base) > 0);
    assert_non_null(mkdtemp(f->dir));
    snprintf(db, sizeof(db), "%s/db", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/logs/audit.log", f->dir);
    snprintf(errmsg, sizeof(errmsg), "%s/logs", f->dir);
    assert_int_equal(mkdir(errmsg, 0700), 0);
    setenv(AUDIT_ALLOWED_DIRS_ENV, errmsg, 1);
    assert_int_equal(kh_storage_lmdb_open(db, 0, &f->storage, errmsg,
                                          sizeof(errmsg)), 0);
    assert_int_equal(barrier_create(f->storage, &f->barrier), 0);
    assert_int_equal(kh_random_bytes(root_key, sizeof(root_key)), 0);
    assert_int_equal(barrier_initialize(f->barrier, root_key), 0);
    f->core = calloc(1, sizeof(*f->core));
    f->core->storage = f->storage;
    f->core->barrier = f->barrier;
    f->token = calloc(1, sizeof(*f->token));
    snprintf(f->token->accessor, sizeof(f->token->accessor), "%s",
             CANARY_ACCESSOR);
    snprintf(f->token->policies[0], TOKEN_POLICY_NAME_MAX, "default");
    snprintf(f->token->policies[1], TOKEN_POLICY_NAME_MAX, "ops");
    f->token->policy_count = 2;
    snprintf(f->token->display_name, TOKEN_DISPLAY_NAME_BYTES, "token-ci");
    snprintf(f->token->meta[0].key, TOKEN_META_KEY_BYTES_MAX, "team");
    snprintf(f->token->meta[0].value, TOKEN_META_VALUE_BYTES_MAX, "blue");
    f->token->meta_count = 1;
    f->token->type = TOKEN_TYPE_SERVICE;
    fx_broker(f, NULL);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    audit_broker_free(f->b);
    barrier_free(f->barrier);
    kh_storage_close(f->storage);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f->core);
    free(f->token);
    free(f);
    unsetenv(AUDIT_ALLOWED_DIRS_ENV);
    return 0;
}

static int enable(struct fx *f, const char *path, const char *type,
                  json_t *options)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r = audit_broker_enable(f->b, path, type, "test", options, false,
                                errmsg, sizeof(errmsg));

    json_decref(options);
    return r;
}

static void enable_file(struct fx *f, const char *extra_key,
                        const char *extra_value)
{
    json_t *o = json_pack("{s:s}", "file_path", f->log);

    if (extra_key != NULL)
        json_object_set_new(o, extra_key, json_string(extra_value));
    assert_int_equal(enable(f, "file", "file", o), 0);
}

static void make_request(struct kh_request *req, const char *path)
{
    memset(req, 0, sizeof(*req));
    req->op = KH_OP_UPDATE;
    req->path = strdup(path);
    req->data = json_pack("{s:s, s:{s:[s, i]}}", "password", CANARY_SECRET,
                          "nested", "list", CANARY_SECRET, 7);
    req->query = json_object();
    snprintf(req->token, sizeof(req->token), "%s", CANARY_TOKEN);
    req->has_token = true;
    snprintf(req->remote_addr, sizeof(req->remote_addr), "127.0.0.1");
    snprintf(req->request_id, sizeof(req->request_id),
             "5e0d1c39-0000-4000-8000-000000000001");
}

static int log_pair(struct fx *f, const char *path)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct kh_request req;
    struct kh_response resp = {0};
    int r;

    make_request(&req, path);
    r = audit_log_request(f->b, &req, f->token, errmsg, sizeof(errmsg));
    if (r == 0) {
        assert_int_equal(kh_response_envelope(
                             &resp, &req,
                             json_pack("{s:s}", "value", CANARY_SECRET)),
                         0);
        r = audit_log_response(f->b, &req, f->token, &resp, 0, NULL, errmsg,
                               sizeof(errmsg));
    }
    kh_response_clear(&resp);
    kh_request_clear(&req);
    return r;
}

static char *slurp(const char *path, size_t *ret_len)
{
    FILE *fp = fopen(path, "r");
    char *buf;
    long n;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    if (ret_len != NULL)
        *ret_len = (size_t)n;
    return buf;
}

static int verify(const char *const *files, size_t n, struct audit_verify *v)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    int r;

    assert_int_equal(audit_verify_init(v, 0), 0);
    r = audit_verify_files(v, files, n, errmsg, sizeof(errmsg));
    audit_verify_release(v); /* the results stay in *v */
    return r;
}

/* Line i (0-based) of a log, parsed from its chain marker. */
static json_t *line_json(const char *text, int i)
{
    const char *p = text;

    while (i-- > 0) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    p = strstr(p, "{\"seq\":");
    assert_non_null(p);
    return json_loadb(p, strcspn(p, "\n"), 0, NULL);
}

/* Records are Vault's JSON with every secret HMAC'd under the device's
 * salt (sys/audit-hash gives the same value), chained from seq 1, and no
 * canary appears in plaintext. */
static void test_file_records_hmac_and_chain(void **state)
{
    struct fx *f = *state;
    char hash[AUDIT_HASH_TEXT_BYTES], errmsg[KH_ERRMSG_SIZE];
    const char *files[] = {f->log};
    struct audit_verify v;
    json_t *req, *resp;
    char *text;
    struct stat st;

    enable_file(f, NULL, NULL);
    assert_int_equal(log_pair(f, "secret/data/app"), 0);
    text = slurp(f->log, NULL);
    assert_null(strstr(text, CANARY_SECRET));
    assert_null(strstr(text, CANARY_TOKEN));
    assert_null(strstr(text, CANARY_ACCESSOR));
    req = line_json(text, 0);
    resp = line_json(text, 1);
    assert_int_equal(json_integer_value(json_object_get(req, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(req, "type")),
                        "request");
    assert_int_equal(audit_broker_hash(f->b, "file", CANARY_SECRET, hash,
                                       sizeof(hash), errmsg, sizeof(errmsg)),
                     0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(req, "request"), "data"),
            "password")),
        hash);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(resp, "response"), "data"),
            "value")),
        hash);
    assert_int_equal(audit_broker_hash(f->b, "file/", CANARY_TOKEN, hash,
                                       sizeof(hash), errmsg, sizeof(errmsg)),
                     0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(req, "auth"), "client_token")),
                        hash);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(req, "request"), "namespace"),
            "id")),
        "root");
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(req, "auth"), "policies")),
                     2);
    assert_int_equal(verify(files, 1, &v), 0);
    assert_int_equal(v.records, 2);
    assert_int_equal(stat(f->log, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    json_decref(req);
    json_decref(resp);
    free(text);
}

/* Every checkpoint_interval records and at unload a checkpoint is
 * written; the verifier counts them and reports cut records as
 * unanchored; the server verifies a checkpoint's MAC. */
static void test_checkpoints_and_unanchored(void **state)
{
    struct fx *f = *state;
    const char *files[] = {f->log};
    char errmsg[KH_ERRMSG_SIZE], *text, *last_cp, *end;
    struct audit_verify v;
    uint64_t latest = 0;
    bool valid = false;
    int i;

    enable_file(f, "checkpoint_interval", "5");
    for (i = 0; i < 11; i++)
        assert_int_equal(log_pair(f, "secret/x"), 0);
    assert_int_equal(verify(files, 1, &v), 0);
    assert_true(v.checkpoints >= 4);
    assert_true(audit_verify_unanchored(&v) < 5);
    /* The server checks the MAC of the last checkpoint. */
    text = slurp(f->log, NULL);
    last_cp = NULL;
    for (end = strstr(text, "\"type\":\"checkpoint\""); end != NULL;
         end = strstr(end + 1, "\"type\":\"checkpoint\""))
        last_cp = end;
    assert_non_null(last_cp);
    while (last_cp > text && last_cp[-1] != '\n')
        last_cp--;
    end = strchr(last_cp, '\n');
    *end = '\0';
    assert_int_equal(audit_broker_verify_checkpoint(f->b, last_cp, &valid,
                                                    &latest, errmsg,
                                                    sizeof(errmsg)),
                     0);
    assert_true(valid);
    assert_true(latest > 0);
    end = strstr(last_cp, "\"mac\":\"hmac-sha256:") +
          strlen("\"mac\":\"hmac-sha256:");
    *end = *end == 'a' ? 'b' : 'a';
    assert_int_equal(audit_broker_verify_checkpoint(f->b, last_cp, &valid,
                                                    &latest, errmsg,
                                                    sizeof(errmsg)),
                     0);
    assert_false(valid);
    free(text);
    /* After unload the log ends in a checkpoint: nothing unanchored. */
    audit_broker_unload(f->b);
    assert_int_equal(verify(files, 1, &v), 0);
    assert_int_equal(audit_verify_unanchored(&v), 0);
    /* Cut the final checkpoint and two records: three are unanchored. */
    text = slurp(f->log, NULL);
    {
        size_t len = strlen(text);
        int cut = 0;
        while (len > 0 && cut < 4) {
            len--;
            if (len == 0 || text[len - 1] == '\n')
                cut++;
        }
        assert_int_equal(truncate(f->log, (off_t)len), 0);
    }
    assert_int_equal(verify(files, 1, &v), 0);
    assert_true(audit_verify_unanchored(&v) >= 3);
    free(text);
}

/* SIGHUP rotation: the old file ends in a checkpoint, the new file
 * continues the chain, and the verifier walks both as one log. */
static void test_rotation_keeps_chain(void **state)
{
    struct fx *f = *state;
    char old[600];
    const char *both[2] = {old, f->log};
    const char *only_new[1] = {f->log};
    struct audit_verify v;
    int i;

    snprintf(old, sizeof(old), "%s.1", f->log);
    enable_file(f, NULL, NULL);
    for (i = 0; i < 3; i++)
        assert_int_equal(log_pair(f, "secret/a"), 0);
    assert_int_equal(rename(f->log, old), 0);
    audit_broker_reopen(f->b);
    for (i = 0; i < 50 && access(f->log, F_OK) != 0; i++)
        usleep(10000);
    for (i = 0; i < 3; i++)
        assert_int_equal(log_pair(f, "secret/b"), 0);
    assert_int_equal(verify(both, 2, &v), 0);
    assert_int_equal(v.records, 13); /* 12 records, 1 checkpoint */
    assert_int_equal(v.checkpoints, 1);
    assert_int_equal(verify(only_new, 1, &v), KH_ECORRUPT);
    {
        char errmsg[KH_ERRMSG_SIZE];
        assert_int_equal(audit_verify_init(&v, 0), 0);
        v.allow_partial = true;
        assert_int_equal(audit_verify_files(&v, only_new, 1, errmsg,
                                            sizeof(errmsg)),
                         0);
        audit_verify_release(&v);
    }
    assert_int_equal(v.first_seq, 8);
    /* Reversed order is caught. */
    both[0] = f->log;
    both[1] = old;
    assert_int_equal(verify(both, 2, &v), KH_ECORRUPT);
}

/* Seal and unseal: the chain resumes from the file's last line. */
static void test_resume_after_reload(void **state)
{
    struct fx *f = *state;
    char errmsg[KH_ERRMSG_SIZE] = "";
    const char *files[] = {f->log};
    struct audit_verify v;

    enable_file(f, NULL, NULL);
    assert_int_equal(log_pair(f, "secret/a"), 0);
    audit_broker_unload(f->b);
    assert_int_equal(audit_broker_load(f->b, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(log_pair(f, "secret/b"), 0);
    assert_int_equal(verify(files, 1, &v), 0);
    assert_int_equal(v.records, 5); /* 2 + checkpoint + 2 */
    assert_int_equal(v.first_seq, 1);
}

/* Attack surface: only under allowed directories, never through a
 * symlink or hard link, no executable modes, default 0600. */
static void test_file_path_rules(void **state)
{
    struct fx *f = *state;
    char path[700], target[700];
    struct stat st;

    assert_int_equal(enable(f, "f1", "file",
                            json_pack("{s:s}", "file_path",
                                      "/tmp/keyhold-audit-outside.log")),
                     KH_EPERM);
    snprintf(path, sizeof(path), "%s/logs/../db/x.log", f->dir);
    assert_int_equal(enable(f, "f2", "file",
                            json_pack("{s:s}", "file_path", path)),
                     KH_EINVAL);
    /* A symlinked directory inside the allowed one. */
    snprintf(target, sizeof(target), "%s/db", f->dir);
    snprintf(path, sizeof(path), "%s/logs/link", f->dir);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof(path), "%s/logs/link/x.log", f->dir);
    assert_int_equal(enable(f, "f3", "file",
                            json_pack("{s:s}", "file_path", path)),
                     KH_EPERM);
    /* A symlink as the file itself. */
    snprintf(target, sizeof(target), "%s/db/victim", f->dir);
    snprintf(path, sizeof(path), "%s/logs/victim.log", f->dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(enable(f, "f4", "file",
                            json_pack("{s:s}", "file_path", path)),
                     KH_EPERM);
    assert_int_not_equal(access(target, F_OK), 0);
    /* A hard link to another file. */
    snprintf(target, sizeof(target), "%s/db/data.mdb", f->dir);
    snprintf(path, sizeof(path), "%s/logs/hard.log", f->dir);
    assert_int_equal(link(target, path), 0);
    assert_int_equal(enable(f, "f5", "file",
                            json_pack("{s:s}", "file_path", path)),
                     KH_EPERM);
    /* Executable or setuid modes. */
    assert_int_equal(enable(f, "f6", "file",
                            json_pack("{s:s, s:s}", "file_path", f->log,
                                      "mode", "0755")),
                     KH_EINVAL);
    assert_int_equal(enable(f, "f7", "file",
                            json_pack("{s:s, s:s}", "file_path", f->log,
                                      "mode", "04600")),
                     KH_EINVAL);
    assert_int_equal(enable(f, "f8", "file",
                            json_pack("{s:s, s:s}", "file_path", f->log,
                                      "mode", "0640")),
                     0);
    assert_int_equal(stat(f->log, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    /* Unknown options are refused. */
    assert_int_equal(enable(f, "f9", "file",
                            json_pack("{s:s, s:s}", "file_path", f->log,
                                      "bogus", "1")),
                     KH_EINVAL);
    assert_int_equal(log_pair(f, "secret/a"), 0);
}

/* Disk full (RLIMIT_FSIZE makes writes fail like ENOSPC): requests and
 * secret-bearing responses are refused; once space is back they pass. */
static void test_disk_full_refuses(void **state)
{
    struct fx *f = *state;
    struct rlimit old, small;
    struct stat st;
    struct audit_device_stats stats;

    enable_file(f, NULL, NULL);
    assert_int_equal(log_pair(f, "secret/a"), 0);
    assert_int_equal(stat(f->log, &st), 0);
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = (rlim_t)st.st_size + 16;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    assert_int_equal(log_pair(f, "secret/b"), KH_EUNAVAIL);
    assert_int_equal(log_pair(f, "secret/c"), KH_EUNAVAIL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(audit_broker_stats(f->b, "file/", &stats), 0);
    assert_true(stats.failed >= 2);
    /* The partial line was cut: the file still verifies. */
    assert_int_equal(log_pair(f, "secret/d"), 0);
    {
        const char *files[] = {f->log};
        struct audit_verify v;
        assert_int_equal(verify(files, 1, &v), 0);
        assert_int_equal(v.records, 4);
    }
}

/* A device that cannot open at unseal stays in the table, disabled, and
 * every request is refused rather than served unaudited. */
static void test_unwritable_at_load_refuses(void **state)
{
    struct fx *f = *state;
    char errmsg[KH_ERRMSG_SIZE] = "";
    json_t *listing = NULL, *e;

    enable_file(f, NULL, NULL);
    audit_broker_unload(f->b);
    assert_int_equal(unlink(f->log), 0);
    assert_int_equal(mkdir(f->log, 0700), 0); /* path is now a directory */
    assert_int_equal(audit_broker_load(f->b, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(log_pair(f, "secret/a"), KH_EUNAVAIL);
    assert_int_equal(audit_broker_describe(f->b, &listing), 0);
    e = json_object_get(json_object_get(listing, "file/"), "keyhold_stats");
    assert_non_null(e);
    assert_true(json_is_false(json_object_get(e, "recording")));
    json_decref(listing);
    /* Disabling it lets requests through again (no device left). */
    assert_int_equal(audit_broker_disable(f->b, "file", errmsg,
                                          sizeof(errmsg)),
                     0);
    assert_int_equal(log_pair(f, "secret/a"), 0);
}

/* No device enabled: nothing to record, the request passes. Table
 * survives reload; disable forgets the salt (a new one on re-enable). */
static void test_table_enable_disable(void **state)
{
    struct fx *f = *state;
    char errmsg[KH_ERRMSG_SIZE] = "", h1[AUDIT_HASH_TEXT_BYTES];
    char h2[AUDIT_HASH_TEXT_BYTES];
    json_t *listing = NULL;

    assert_int_equal(log_pair(f, "secret/a"), 0);
    enable_file(f, "hmac_accessor", "false");
    assert_int_equal(enable(f, "file", "file",
                            json_pack("{s:s}", "file_path", f->log)),
                     KH_EINVAL);
    assert_int_equal(enable(f, "x", "nosuchtype", json_object()), KH_EINVAL);
    assert_int_equal(audit_broker_hash(f->b, "file", "abc", h1, sizeof(h1),
                                       errmsg, sizeof(errmsg)),
                     0);
    audit_broker_unload(f->b);
    assert_int_equal(audit_broker_load(f->b, errmsg, sizeof(errmsg)), 0);
    assert_int_equal(audit_broker_describe(f->b, &listing), 0);
    assert_non_null(json_object_get(listing, "file/"));
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(listing, "file/"), "options"),
            "file_path")),
        f->log);
    json_decref(listing);
    assert_int_equal(log_pair(f, "secret/a"), 0);
    {   /* hmac_accessor=false leaves the accessor readable */
        char *text = slurp(f->log, NULL);
        assert_non_null(strstr(text, CANARY_ACCESSOR));
        assert_null(strstr(text, CANARY_SECRET));
        free(text);
    }
    assert_int_equal(audit_broker_disable(f->b, "file/", errmsg,
                                          sizeof(errmsg)),
                     0);
    assert_int_equal(audit_broker_hash(f->b, "file", "abc", h2, sizeof(h2),
                                       errmsg, sizeof(errmsg)),
                     KH_EINVAL);
    enable_file(f, NULL, NULL);
    assert_int_equal(audit_broker_hash(f->b, "file", "abc", h2, sizeof(h2),
                                       errmsg, sizeof(errmsg)),
                     0);
    assert_string_not_equal(h1, h2);
}

/* A syslog device declared in the configuration sends each record as
 * one datagram, hashed like the others. */
static void test_syslog_config_device(void **state)
{
    struct fx *f = *state;
    struct kh_config_stanza stanza = {0};
    struct audit_options o = {.devices = &stanza, .device_count = 1};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char buf[65536], sock[600];
    ssize_t n;
    int fd;

    snprintf(sock, sizeof(sock), "%s/logs/syslog.sock", f->dir);
    memcpy(sun.sun_path, sock, strlen(sock));
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    stanza.type = (char *)"syslog";
    stanza.params[0].name = (char *)"socket_path";
    stanza.params[0].value = sock;
    stanza.params[1].name = (char *)"tag";
    stanza.params[1].value = (char *)"khtest";
    stanza.param_count = 2;
    audit_broker_free(f->b);
    fx_broker(f, &o);
    assert_int_equal(log_pair(f, "secret/a"), 0);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "khtest["));
    assert_non_null(strstr(buf, "{\"seq\":1,"));
    assert_null(strstr(buf, CANARY_SECRET));
    /* Configured devices cannot be disabled through the API. */
    assert_int_equal(audit_broker_disable(f->b, "syslog", buf, sizeof(buf)),
                     KH_EINVAL);
    /* An API-enabled syslog device may not pick its socket. */
    assert_int_equal(enable(f, "sl2", "syslog",
                            json_pack("{s:s}", "socket_path", sock)),
                     KH_EPERM);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_records_hmac_and_chain,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_and_unanchored,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_keeps_chain, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_reload, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_file_path_rules, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_disk_full_refuses, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_at_load_refuses,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_table_enable_disable, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_syslog_config_device, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
