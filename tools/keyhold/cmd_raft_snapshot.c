/*
 * cmd_raft_snapshot.c - `keyhold operator raft snapshot save|restore|
 * inspect`: integrated storage's snapshot file, streamed from and to
 * sys/storage/raft/snapshot[-force], and checked offline.
 *
 * Owns the client's reading of the snapshot format (every integer
 * big-endian):
 *   "KHSNAP01", u32 version 1, u64 index, u64 term, u64 creation time
 *   (Unix seconds), u64 data length, the data, SHA-256 of all before it;
 *   data = u32 magic "KHSN", u32 version 1, u64 applied index, then per
 *   key: u16 key length (1..4096, no NUL), key, u32 value length, value.
 * It also owns the transfers' own curl handles: a snapshot is streamed to
 * disk instead of going through http.c's capped in-memory buffer, and
 * both directions show progress on a terminal. Must never trust a length
 * before checking it against the bytes that remain, never send a snapshot
 * that does not verify, never leave a half-written file under the
 * caller's name, and never put the token anywhere but a header (wiped).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "cli.h"
#include "common/err.h"
#include "common/secret.h"
#include "output.h"
#include "table.h"
#include "verbs.h"

/* The format (hostd/raft/raft_node.h, raft_fsm.h). */
#define SNAP_MAGIC             "KHSNAP01"
#define SNAP_MAGIC_BYTES       8u
#define SNAP_VERSION           1u
#define SNAP_HEADER_BYTES      (8u + 4u + 8u + 8u + 8u + 8u)
#define SNAP_DIGEST_BYTES      32u
#define SNAP_DATA_MAGIC        0x4b48534eu /* "KHSN" */
#define SNAP_DATA_VERSION      1u
#define SNAP_DATA_HEADER_BYTES (4u + 4u + 8u)

/* Limits: the server's KH_RAFT_SNAPSHOT_BYTES_MAX of data and
 * KH_STORAGE_KEY_BYTES_MAX per key; a file is read whole, at most 1 MiB
 * over the data limit. */
#define SNAP_DATA_BYTES_MAX  (64u * 1024u * 1024u)
#define SNAP_FILE_BYTES_MAX  (SNAP_DATA_BYTES_MAX + 1024u * 1024u)
#define SNAP_KEY_BYTES_MAX   4096u
#define SNAP_ERROR_BYTES_MAX (1024u * 1024u) /* an error answer's body */
/* 9999-12-31T23:59:59Z: the last time RFC 3339 can print. */
#define SNAP_TIME_MAX 253402300799ull

/* Progress shows once this much has moved, and redraws every step. */
#define SNAP_PROGRESS_BYTES_MIN  (1024 * 1024)
#define SNAP_PROGRESS_STEP_BYTES (256 * 1024)

#define SNAP_PATH       "sys/storage/raft/snapshot"
#define SNAP_FORCE_PATH "sys/storage/raft/snapshot-force"
#define SNAP_TMP_SUFFIX ".tmp"
#define SNAP_MIB        (1024.0 * 1024.0)

struct snap_info
{
    uint64_t index;
    uint64_t term;
    uint64_t created; /* Unix seconds */
    uint64_t applied; /* the data's applied index */
    size_t size;      /* bytes in the file */
    size_t keys;
    const uint8_t *records; /* the key records, inside the file */
    size_t records_len;
};

struct snap_cursor
{
    const uint8_t *p;
    size_t left;
    size_t record; /* 1-based number of the next record */
};

/* One key's top-level prefix: up to and including its first '/'. */
struct snap_prefix
{
    const uint8_t *p;
    size_t len;
};

/* ---- the format ---- */

static uint64_t be_read(const uint8_t *p, size_t bytes)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/* Read one record and step past it; its key in *ret_key. */
static int snap_record_next(struct snap_cursor *c, struct snap_prefix *ret_key,
                            char *errmsg, size_t errmsg_size)
{
    size_t klen;
    uint64_t vlen;

    if (c->left < 2)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "record %zu is truncated", c->record);
    klen = (size_t)be_read(c->p, 2);
    if (klen == 0 || klen > SNAP_KEY_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "record %zu: key length %zu is outside 1..%u",
                         c->record, klen, SNAP_KEY_BYTES_MAX);
    if (c->left - 2 < klen + 4)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "record %zu is truncated", c->record);
    if (memchr(c->p + 2, 0, klen) != NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "record %zu: the key holds a NUL byte", c->record);
    vlen = be_read(c->p + 2 + klen, 4);
    if (c->left - 2 - klen - 4 < vlen)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "record %zu: its value runs past the end of the "
                         "data",
                         c->record);
    ret_key->p = c->p + 2;
    ret_key->len = klen;
    c->p += 6 + klen + (size_t)vlen;
    c->left -= 6 + klen + (size_t)vlen;
    c->record++;
    return 0;
}

/* Magic, version, lengths and checksum of the outer file. */
static int snap_check_file(const uint8_t *file, size_t len,
                           struct snap_info *info, char *errmsg,
                           size_t errmsg_size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    uint64_t data_len;
    uint64_t version;

    if (len < SNAP_HEADER_BYTES + SNAP_DIGEST_BYTES)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "truncated: %zu bytes, less than a header and a "
                         "checksum (%u bytes)",
                         len, SNAP_HEADER_BYTES + SNAP_DIGEST_BYTES);
    if (memcmp(file, SNAP_MAGIC, SNAP_MAGIC_BYTES) != 0)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "not a Keyhold snapshot (bad magic)");
    version = be_read(file + 8, 4);
    if (version != SNAP_VERSION)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "unsupported snapshot version %" PRIu64, version);
    data_len = be_read(file + 36, 8);
    if (data_len > SNAP_DATA_BYTES_MAX)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "the data length %" PRIu64 " exceeds the limit of "
                         "%u bytes",
                         data_len, SNAP_DATA_BYTES_MAX);
    if (len - SNAP_HEADER_BYTES - SNAP_DIGEST_BYTES != data_len)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "%s: the header announces %" PRIu64 " bytes of data, "
                         "the file holds %zu",
                         len - SNAP_HEADER_BYTES - SNAP_DIGEST_BYTES < data_len
                             ? "truncated"
                             : "trailing bytes",
                         data_len, len - SNAP_HEADER_BYTES - SNAP_DIGEST_BYTES);
    if (EVP_Digest(file, len - SNAP_DIGEST_BYTES, digest, &digest_len,
                   EVP_sha256(), NULL) != 1 ||
        digest_len != SNAP_DIGEST_BYTES)
        return kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                         "SHA-256 is not available");
    if (!kh_ct_equal(digest, file + len - SNAP_DIGEST_BYTES, SNAP_DIGEST_BYTES))
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "SHA-256 mismatch: the file is corrupt");
    info->index = be_read(file + 12, 8);
    info->term = be_read(file + 20, 8);
    info->created = be_read(file + 28, 8);
    info->size = len;
    info->records = file + SNAP_HEADER_BYTES;
    info->records_len = (size_t)data_len;
    return 0;
}

/* Check a whole snapshot file; *ret_info points into file. */
static int snap_check(const uint8_t *file, size_t len,
                      struct snap_info *ret_info, char *errmsg,
                      size_t errmsg_size)
{
    struct snap_info info = {0};
    struct snap_cursor c;
    struct snap_prefix key;
    int r;

    r = snap_check_file(file, len, &info, errmsg, errmsg_size);
    if (r < 0)
        return r;
    if (info.records_len < SNAP_DATA_HEADER_BYTES ||
        be_read(info.records, 4) != SNAP_DATA_MAGIC ||
        be_read(info.records + 4, 4) != SNAP_DATA_VERSION)
        return kh_errmsg(errmsg, errmsg_size, KH_ECORRUPT,
                         "the data does not start with a version 1 \"KHSN\" "
                         "header");
    info.applied = be_read(info.records + 8, 8);
    info.records += SNAP_DATA_HEADER_BYTES;
    info.records_len -= SNAP_DATA_HEADER_BYTES;
    c.p = info.records;
    c.left = info.records_len;
    c.record = 1;
    while (c.left > 0) {
        r = snap_record_next(&c, &key, errmsg, errmsg_size);
        if (r < 0)
            return r;
        info.keys++;
    }
    *ret_info = info;
    return 0;
}

/* Read path whole and check it. Prints "Error <doing>: ..." and returns
 * an enum cli_exit value; on success the caller frees *ret_file with
 * kh_free_secret(file, len + 1). */
static int snap_load(const char *path, const char *doing, char **ret_file,
                     size_t *ret_len, struct snap_info *ret_info)
{
    char errmsg[KH_ERRMSG_SIZE] = "";
    struct snap_info info;
    char *file = NULL;
    size_t len = 0;
    int r;

    r = cli_read_file(path, SNAP_FILE_BYTES_MAX, &file, &len);
    if (r == KH_ETOOBIG) {
        fprintf(stderr,
                "Error %s: %s is larger than %u bytes: not a valid "
                "snapshot\n",
                doing, path, SNAP_FILE_BYTES_MAX);
        return CLI_EXIT_LOCAL;
    }
    if (r < 0) {
        fprintf(stderr, "Error %s: cannot read %s: %s\n", doing, path,
                r == KH_EIO ? strerror(errno) : kh_strerror(r));
        return CLI_EXIT_LOCAL;
    }
    r = snap_check((const uint8_t *)file, len, &info, errmsg, sizeof(errmsg));
    if (r < 0) {
        fprintf(stderr, "Error %s: %s is not a valid snapshot: %s\n", doing,
                path, errmsg);
        kh_free_secret(file, len + 1);
        return CLI_EXIT_LOCAL;
    }
    *ret_file = file;
    *ret_len = len;
    *ret_info = info;
    return CLI_EXIT_OK;
}

/* ---- transfers ---- */

struct snap_xfer
{
    CURL *curl;
    int fd;              /* save: the temporary file; -1: keep the body */
    bool upload;         /* progress counts the request body */
    bool progress;       /* stderr is a terminal */
    curl_off_t shown;    /* bytes the progress line last showed, 0: none */
    uint64_t written;    /* bytes written to fd */
    struct cli_buf body; /* the answer when it does not go to fd */
    int error;           /* a local failure that stopped the transfer */
    int saved_errno;     /* with error KH_EIO */
};

static void xfer_init(struct snap_xfer *x, int fd, bool upload)
{
    memset(x, 0, sizeof(*x));
    x->fd = fd;
    x->upload = upload;
    x->progress = isatty(STDERR_FILENO) != 0;
    cli_buf_init(&x->body, SNAP_ERROR_BYTES_MAX);
}

static int write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return KH_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A successful answer's body goes to the file, any other to x->body. */
static size_t xfer_write_cb(char *ptr, size_t size, size_t nmemb, void *user)
{
    struct snap_xfer *x = user;
    size_t n = size * nmemb;
    long status = 0;
    int r;

    (void)curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    if (x->fd < 0 || status < 200 || status > 299) {
        r = cli_buf_append(&x->body, ptr, n);
    } else if (n > SNAP_FILE_BYTES_MAX - x->written) {
        r = KH_ETOOBIG;
    } else {
        r = write_all(x->fd, ptr, n);
        x->saved_errno = errno;
        x->written += n;
    }
    if (r < 0) {
        x->error = r;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

/* "Label: 3.2 MiB / 40.0 MiB (8%)" redrawn on stderr (a terminal). */
static int xfer_progress_cb(void *user, curl_off_t dltotal, curl_off_t dlnow,
                            curl_off_t ultotal, curl_off_t ulnow)
{
    struct snap_xfer *x = user;
    curl_off_t now = x->upload ? ulnow : dlnow;
    curl_off_t total = x->upload ? ultotal : dltotal;

    if (!x->progress || now < SNAP_PROGRESS_BYTES_MIN || now == x->shown)
        return 0;
    if (x->shown != 0 && now - x->shown < SNAP_PROGRESS_STEP_BYTES &&
        now != total)
        return 0;
    x->shown = now;
    if (total > 0)
        fprintf(stderr, "\r%s snapshot: %.1f MiB / %.1f MiB (%d%%)   ",
                x->upload ? "Uploading" : "Downloading", (double)now / SNAP_MIB,
                (double)total / SNAP_MIB, (int)(now * 100 / total));
    else
        fprintf(stderr, "\r%s snapshot: %.1f MiB   ",
                x->upload ? "Uploading" : "Downloading",
                (double)now / SNAP_MIB);
    return 0;
}

/* <address>/v1/<path>; path is one of this file's constant ASCII paths. */
static int xfer_url(const char *address, const char *path, char **ret_url)
{
    static const char v1[] = "/v1/";
    size_t alen = strlen(address);
    size_t plen = strlen(path);
    char *url;

    while (alen > 0 && address[alen - 1] == '/')
        alen--;
    if (alen + sizeof(v1) + plen > CLI_URL_BYTES_MAX)
        return KH_EINVAL;
    url = malloc(alen + sizeof(v1) + plen);
    if (url == NULL)
        return KH_ENOMEM;
    memcpy(url, address, alen);
    memcpy(url + alen, v1, sizeof(v1) - 1);
    memcpy(url + alen + sizeof(v1) - 1, path, plen + 1);
    *ret_url = url;
    return 0;
}

/* curl_slist_free_all() frees without wiping; the token is in there. */
static void xfer_headers_free(struct curl_slist *headers)
{
    struct curl_slist *item;

    for (item = headers; item != NULL; item = item->next)
        kh_wipe(item->data, strlen(item->data));
    curl_slist_free_all(headers);
}

static int xfer_header_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *next = curl_slist_append(*list, line);

    if (next == NULL)
        return KH_ENOMEM;
    *list = next;
    return 0;
}

/* http.c's headers, with a binary body for an upload. */
static int xfer_headers(const struct cli_ctx *ctx, bool upload,
                        struct curl_slist **ret_headers)
{
    struct curl_slist *headers = NULL;
    char line[sizeof("X-Vault-Token: ") + CLI_TOKEN_BYTES_MAX];
    int r;

    line[0] = '\0';
    r = xfer_header_add(&headers, "X-Vault-Request: true");
    if (r == 0)
        r = xfer_header_add(&headers, "Expect:");
    if (r == 0)
        r = xfer_header_add(&headers,
                            upload ? "Content-Type: application/octet-stream"
                                   : "Content-Type:");
    if (r == 0 && ctx->token != NULL) {
        KH_ASSERT(ctx->token_len <= CLI_TOKEN_BYTES_MAX);
        (void)snprintf(line, sizeof(line), "X-Vault-Token: %s", ctx->token);
        r = xfer_header_add(&headers, line);
    }
    if (r < 0)
        goto out;
    *ret_headers = headers;
    headers = NULL;
    r = 0; /* success */
out:
    kh_wipe(line, sizeof(line));
    xfer_headers_free(headers);
    return r;
}

/* http.c's options, except the total timeout: a large snapshot may take
 * longer than CLI_TIMEOUT_S, so a transfer stalled that long fails. */
static CURLcode xfer_options(CURL *curl, const struct cli_ctx *ctx,
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
        c = curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CLI_TIMEOUT_S);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, CLI_TIMEOUT_S);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                             (curl_off_t)SNAP_FILE_BYTES_MAX);
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

/* The body (POST) or none (GET), the callbacks, then the exchange. */
static CURLcode xfer_perform(CURL *curl, struct snap_xfer *x,
                             struct curl_slist *headers, const char *body,
                             size_t body_len)
{
    CURLcode c = CURLE_OK;

    if (body != NULL) {
        c = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)body_len);
        if (c == CURLE_OK)
            c = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    } else {
        c = curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, xfer_write_cb);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xfer_progress_cb);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_XFERINFODATA, x);
    if (c == CURLE_OK)
        c = curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    if (c == CURLE_OK)
        c = curl_easy_perform(curl);
    if (x->shown != 0)
        fputc('\n', stderr);
    return c;
}

/* Go's url.Error for a transfer that got no usable answer. */
static int xfer_failure(const struct snap_xfer *x, CURLcode c, bool post,
                        const char *url, const char *errbuf,
                        struct cli_result *res)
{
    const char *op = post ? "Post" : "Get";
    const char *reason = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(c);

    if (x->error == KH_EIO)
        return kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_EIO,
                         "writing the snapshot: %s", strerror(x->saved_errno));
    if (x->error == KH_ETOOBIG || c == CURLE_FILESIZE_EXCEEDED)
        return kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_ETOOBIG,
                         "%s \"%s\": response larger than %u bytes", op, url,
                         x->fd >= 0 ? SNAP_FILE_BYTES_MAX
                                    : SNAP_ERROR_BYTES_MAX);
    if (x->error == KH_ENOMEM)
        return kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_ENOMEM,
                         "%s \"%s\": out of memory", op, url);
    return kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_EUNAVAIL,
                     "%s \"%s\": %s", op, url, reason);
}

/* Hand the answer to *res as api.c would classify it: 2xx is EMPTY (the
 * body, if any, went to the file), anything else an API error. */
static int xfer_answer(struct snap_xfer *x, long status, char **url,
                       struct cli_result *res)
{
    json_error_t error;
    int r;

    r = cli_buf_steal(&x->body, &res->resp.body, &res->resp.body_len);
    if (r < 0)
        return kh_errmsg(res->errmsg, sizeof(res->errmsg), r, "out of memory");
    res->resp.status = status;
    res->resp.url = *url;
    *url = NULL;
    if (res->resp.body_len > 0)
        res->json = json_loadb(res->resp.body, res->resp.body_len, 0, &error);
    res->outcome = status >= 200 && status <= 299 ? CLI_OUTCOME_EMPTY
                                                  : CLI_OUTCOME_API_ERROR;
    return 0;
}

/* One snapshot exchange. *res is always filled (cli_result_free); returns
 * 0 when the server answered, else the FAILED outcome's code (KH_EIO: the
 * local file could not be written). */
static int xfer_run(const struct cli_ctx *ctx, const char *path,
                    const char *body, size_t body_len, struct snap_xfer *x,
                    struct cli_result *res)
{
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char *url = NULL;
    CURLcode c;
    long status = 0;
    int r = KH_EINTERNAL;

    memset(res, 0, sizeof(*res));
    res->method = body != NULL ? "POST" : "GET";
    res->outcome = CLI_OUTCOME_FAILED;
    r = xfer_url(ctx->address, path, &url);
    if (r < 0) {
        kh_errmsg(res->errmsg, sizeof(res->errmsg), r,
                  "request URL for %s is too long", path);
        goto out;
    }
    r = xfer_headers(ctx, body != NULL, &headers);
    if (r < 0 || (x->curl = curl_easy_init()) == NULL) {
        r = kh_errmsg(res->errmsg, sizeof(res->errmsg), KH_ENOMEM,
                      "out of memory");
        goto out;
    }
    c = xfer_options(x->curl, ctx, url, errbuf);
    if (c == CURLE_OK)
        c = xfer_perform(x->curl, x, headers, body, body_len);
    if (c != CURLE_OK) {
        r = xfer_failure(x, c, body != NULL, url, errbuf, res);
        goto out;
    }
    (void)curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    r = xfer_answer(x, status, &url, res);
    if (r < 0)
        goto out;
    r = 0; /* success */
out:
    if (x->curl != NULL)
        curl_easy_cleanup(x->curl);
    x->curl = NULL;
    xfer_headers_free(headers);
    free(url);
    return r;
}

/* ---- save ---- */

/* Make the rename durable; a failure here loses nothing already synced,
 * so it is not reported. */
static void save_sync_dir(const char *path)
{
    char copy[PATH_MAX];
    int fd;

    (void)snprintf(copy, sizeof(copy), "%s", path);
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fsync(fd);
    (void)close(fd);
}

/* The downloaded file must verify before it takes the caller's name. */
static int save_commit(const char *tmp, const char *path)
{
    struct snap_info info;
    char *file = NULL;
    size_t len = 0;
    int r;

    r = snap_load(tmp, "taking the snapshot", &file, &len, &info);
    if (r != CLI_EXIT_OK)
        return CLI_EXIT_REMOTE; /* the server sent it */
    kh_free_secret(file, len + 1);
    if (rename(tmp, path) != 0) {
        fprintf(stderr,
                "Error taking the snapshot: cannot rename %s to %s: "
                "%s\n",
                tmp, path, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    save_sync_dir(path);
    return CLI_EXIT_OK;
}

/* Stream the snapshot into tmp (opened as fd, closed here). */
static int save_receive(const struct cli_ctx *ctx, int fd, const char *tmp)
{
    struct snap_xfer x;
    struct cli_result res;
    int exit_code;
    int r;

    xfer_init(&x, fd, false);
    r = xfer_run(ctx, SNAP_PATH, NULL, 0, &x, &res);
    if (r == KH_EIO) {
        fprintf(stderr, "Error taking the snapshot: %s: %s\n", tmp, res.errmsg);
        exit_code = CLI_EXIT_LOCAL;
    } else if (r < 0 || res.outcome != CLI_OUTCOME_EMPTY) {
        exit_code = cli_api_fail(&res, "taking the snapshot");
    } else if (fsync(fd) != 0) {
        fprintf(stderr, "Error taking the snapshot: syncing %s: %s\n", tmp,
                strerror(errno));
        exit_code = CLI_EXIT_LOCAL;
    } else {
        exit_code = CLI_EXIT_OK;
    }
    if (close(fd) != 0 && exit_code == CLI_EXIT_OK) {
        fprintf(stderr, "Error taking the snapshot: closing %s: %s\n", tmp,
                strerror(errno));
        exit_code = CLI_EXIT_LOCAL;
    }
    cli_result_free(&res);
    cli_buf_free(&x.body);
    return exit_code;
}

static int snapshot_save_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    char tmp[PATH_MAX];
    int exit_code;
    int fd;

    if (argc != 1)
        return cli_usage_error(1, argc);
    if (snprintf(tmp, sizeof(tmp), "%s" SNAP_TMP_SUFFIX, argv[0]) >=
        (int)sizeof(tmp)) {
        fprintf(stderr,
                "Error taking the snapshot: the path %s is too "
                "long\n",
                argv[0]);
        return CLI_EXIT_LOCAL;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "Error opening output file %s: %s\n", tmp,
                strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    exit_code = save_receive(ctx, fd, tmp);
    if (exit_code == CLI_EXIT_OK)
        exit_code = save_commit(tmp, argv[0]);
    if (exit_code != CLI_EXIT_OK)
        (void)unlink(tmp);
    return exit_code;
}

/* ---- restore ---- */

static int snapshot_restore_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct snap_info info;
    struct snap_xfer x;
    struct cli_result res;
    char *file = NULL;
    size_t len = 0;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = snap_load(argv[0], "installing the snapshot", &file, &len, &info);
    if (r != CLI_EXIT_OK)
        return r;
    xfer_init(&x, -1, true);
    (void)xfer_run(ctx, ctx->force ? SNAP_FORCE_PATH : SNAP_PATH, file, len, &x,
                   &res);
    if (res.outcome != CLI_OUTCOME_EMPTY)
        r = cli_api_fail(&res, "installing the snapshot");
    else
        r = CLI_EXIT_OK;
    cli_result_free(&res);
    cli_buf_free(&x.body);
    kh_free_secret(file, len + 1);
    return r;
}

/* ---- inspect ---- */

static int prefix_cmp(const void *a, const void *b)
{
    const struct snap_prefix *pa = a;
    const struct snap_prefix *pb = b;
    size_t n = pa->len < pb->len ? pa->len : pb->len;
    int c = memcmp(pa->p, pb->p, n);

    if (c != 0)
        return c;
    return pa->len < pb->len ? -1 : (pa->len > pb->len ? 1 : 0);
}

/* Every key's prefix, sorted, so equal prefixes are adjacent. */
static int snap_prefixes(const struct snap_info *info,
                         struct snap_prefix **ret_prefixes)
{
    char errmsg[KH_ERRMSG_SIZE];
    struct snap_prefix *prefixes;
    struct snap_cursor c = {info->records, info->records_len, 1};
    const uint8_t *slash;
    size_t i;
    int r;

    prefixes = calloc(info->keys > 0 ? info->keys : 1, sizeof(*prefixes));
    if (prefixes == NULL)
        return KH_ENOMEM;
    for (i = 0; i < info->keys; i++) {
        r = snap_record_next(&c, &prefixes[i], errmsg, sizeof(errmsg));
        KH_ASSERT(r == 0); /* snap_check() walked the same records */
        slash = memchr(prefixes[i].p, '/', prefixes[i].len);
        if (slash != NULL)
            prefixes[i].len = (size_t)(slash - prefixes[i].p) + 1;
    }
    qsort(prefixes, info->keys, sizeof(*prefixes), prefix_cmp);
    *ret_prefixes = prefixes;
    return 0;
}

/* A prefix as text: printable ASCII as is, other bytes and '\' as \xHH. */
static void prefix_text(const struct snap_prefix *prefix, char *out,
                        size_t size)
{
    size_t i;
    size_t n = 0;

    KH_ASSERT(size >= prefix->len * 4 + 1);
    for (i = 0; i < prefix->len; i++) {
        unsigned char ch = prefix->p[i];

        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, size - n, "\\x%02x", ch);
    }
    out[n] = '\0';
}

/* RFC 3339 in UTC, or the raw seconds when the year would pass 9999. */
static void created_text(uint64_t seconds, char *out, size_t size)
{
    time_t t = (time_t)seconds;
    struct tm tm;

    if (seconds > SNAP_TIME_MAX || gmtime_r(&t, &tm) == NULL ||
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(out, size, "%" PRIu64 " (out of range)", seconds);
}

/* Key counts per prefix: into a table (prefix, count) or a JSON object. */
static int prefix_counts(const struct snap_prefix *prefixes, size_t keys,
                         struct cli_table *table, json_t *object)
{
    char text[SNAP_KEY_BYTES_MAX * 4 + 1];
    char count[32];
    size_t i;
    size_t run = 0;
    int r = 0;

    for (i = 0; r == 0 && i < keys; i++) {
        run++;
        if (i + 1 < keys && prefix_cmp(&prefixes[i], &prefixes[i + 1]) == 0)
            continue;
        prefix_text(&prefixes[i], text, sizeof(text));
        (void)snprintf(count, sizeof(count), "%zu", run);
        if (table != NULL)
            r = cli_table_add(table, text, count);
        else
            r = cli_json_set_int(object, text, (long long)run);
        run = 0;
    }
    return r;
}

static int inspect_table(const struct snap_info *info,
                         const struct snap_prefix *prefixes)
{
    struct cli_table t;
    char num[4][32];
    char created[64];
    int r;

    created_text(info->created, created, sizeof(created));
    (void)snprintf(num[0], sizeof(num[0]), "%" PRIu64, info->index);
    (void)snprintf(num[1], sizeof(num[1]), "%" PRIu64, info->term);
    (void)snprintf(num[2], sizeof(num[2]), "%zu", info->size);
    (void)snprintf(num[3], sizeof(num[3]), "%zu", info->keys);
    cli_table_init(&t, 2);
    t.headerless = true;
    r = cli_table_add(&t, "Index", num[0]);
    if (r == 0)
        r = cli_table_add(&t, "Term", num[1]);
    if (r == 0)
        r = cli_table_add(&t, "Created", created);
    if (r == 0)
        r = cli_table_add(&t, "Size", num[2]);
    if (r == 0)
        r = cli_table_add(&t, "Keys", num[3]);
    if (r == 0)
        (void)cli_output_table(&t);
    cli_table_free(&t);
    cli_table_init(&t, 2);
    if (r == 0 && info->keys > 0)
        r = cli_table_add(&t, "Prefix", "Count");
    if (r == 0)
        r = prefix_counts(prefixes, info->keys, &t, NULL);
    if (r == 0 && info->keys > 0) {
        printf("\n");
        (void)cli_output_table(&t);
    }
    cli_table_free(&t);
    return r < 0 ? cli_output_failed(r) : CLI_EXIT_OK;
}

/* A u64 as a JSON integer, or as a decimal string above INT64_MAX. */
static json_t *json_u64(uint64_t v)
{
    char text[32];

    if (v <= INT64_MAX)
        return json_integer((json_int_t)v);
    (void)snprintf(text, sizeof(text), "%" PRIu64, v);
    return json_string(text);
}

static int inspect_value(const struct cli_ctx *ctx,
                         const struct snap_info *info,
                         const struct snap_prefix *prefixes)
{
    char created[64];
    json_t *counts = json_object();
    json_t *out;
    int r;

    created_text(info->created, created, sizeof(created));
    out = json_pack("{s:o,s:o,s:s,s:I,s:I,s:o*}", "index",
                    json_u64(info->index), "term", json_u64(info->term),
                    "created", created, "size", (json_int_t)info->size, "keys",
                    (json_int_t)info->keys, "prefixes", counts);
    if (out == NULL)
        return cli_output_failed(KH_ENOMEM);
    r = prefix_counts(prefixes, info->keys, NULL, counts);
    r = r < 0 ? cli_output_failed(r) : cli_output_value(ctx, out);
    json_decref(out);
    return r;
}

static int snapshot_inspect_run(struct cli_ctx *ctx, size_t argc, char **argv)
{
    struct snap_prefix *prefixes = NULL;
    struct snap_info info;
    char *file = NULL;
    size_t len = 0;
    int r;

    if (argc != 1)
        return cli_usage_error(1, argc);
    r = snap_load(argv[0], "inspecting the snapshot", &file, &len, &info);
    if (r != CLI_EXIT_OK)
        return r;
    if (snap_prefixes(&info, &prefixes) < 0)
        r = cli_output_failed(KH_ENOMEM);
    else if (ctx->format == CLI_FORMAT_TABLE)
        r = inspect_table(&info, prefixes);
    else
        r = inspect_value(ctx, &info, prefixes);
    free(prefixes);
    kh_free_secret(file, len + 1);
    return r;
}

/* ---- the verb table ---- */

static const struct cli_command snapshot_save = {
    .name = "save",
    .run = snapshot_save_run,
    .synopsis = "Saves a snapshot of the current state of the Raft cluster "
                "into a file",
    .usage = "Usage: keyhold operator raft snapshot save [options] FILE\n"
             "\n"
             "  Streams a snapshot of the cluster's whole store into FILE "
             "(written\n"
             "  as FILE.tmp, synced, checked, then renamed; an existing FILE "
             "is\n"
             "  replaced). On a terminal, progress shows once 1 MiB has "
             "arrived.\n"
             "  Needs sudo.\n",
};

static const struct cli_command snapshot_restore = {
    .name = "restore",
    .run = snapshot_restore_run,
    .synopsis = "Installs the provided snapshot, returning the cluster to "
                "the state defined in it",
    .usage = "Usage: keyhold operator raft snapshot restore [options] FILE\n"
             "\n"
             "  Replaces the cluster's whole store with the snapshot in "
             "FILE. The\n"
             "  file is checked first (format and SHA-256): a corrupt file "
             "is\n"
             "  refused before anything is sent. The server refuses a "
             "snapshot\n"
             "  whose keyring this cluster's keys cannot open unless -force "
             "is\n"
             "  given. Needs sudo.\n"
             "\n"
             "  -force\n"
             "      Install the snapshot even when its keys do not match "
             "this\n"
             "      cluster's (sys/storage/raft/snapshot-force).\n",
};

static const struct cli_command snapshot_inspect = {
    .name = "inspect",
    .run = snapshot_inspect_run,
    .synopsis = "Inspects a snapshot file without contacting the server",
    .usage = "Usage: keyhold operator raft snapshot inspect [options] FILE\n"
             "\n"
             "  Checks the snapshot in FILE (magic, version, lengths, "
             "SHA-256 and\n"
             "  every record) and prints its index, term, creation time "
             "(UTC),\n"
             "  size in bytes, number of keys, and the number of keys per "
             "top-level\n"
             "  prefix (the key up to its first '/'). Exits 1 for a "
             "corrupt or\n"
             "  truncated file.\n",
};

static const struct cli_command *const snapshot_subs[] = {
    &snapshot_inspect, &snapshot_restore, &snapshot_save, NULL};

const struct cli_command cli_cmd_raft_snapshot = {
    .name = "snapshot",
    .synopsis = "Save, restore or inspect raft snapshots",
    .usage = "Usage: keyhold operator raft snapshot <subcommand> [options] "
             "[args]\n"
             "\n"
             "  Saves the cluster's store to a file, restores it from one, "
             "or\n"
             "  checks a file offline.\n",
    .subs = snapshot_subs,
};
