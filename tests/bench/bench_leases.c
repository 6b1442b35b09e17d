/*
 * bench_leases.c - the lease manager at scale (issue: "With 100,000
 * leases: restart and unseal restore them and revoke them on time").
 *
 * Creates N leases (default 100,000) through the real request path on a
 * test engine whose secrets expire T seconds later, seals, then measures:
 * unseal-to-serving time (the index is reloaded from the barrier), the
 * resident memory the index adds, and how late the last lease is revoked
 * after it became due. Prints figures; never fails on a number.
 *
 *   bench_leases [-n N] [-t TTL_SECONDS]
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "core/core.h"
#include "core/request_handle.h"
#include "engines/backend.h"
#include "http/request_parse.h"
#include "lease/lease.h"

static volatile int revoked;

static int bench_handle(const struct backend_request *br,
                        struct kh_response *resp, char *errmsg,
                        size_t errmsg_size)
{
    unsigned long long ttl = 0;
    int r = kh_request_uint(br->req, "ttl", 60, 1u << 30, &ttl, errmsg,
                            errmsg_size);

    if (r == 0)
        r = kh_response_envelope(resp, br->req, json_pack("{s:s}", "u", "x"));
    resp->lease.requested = true;
    resp->lease.internal = json_pack("{s:s}", "user", "x");
    resp->lease.ttl_s = ttl;
    return r;
}

static int bench_revoke(const struct backend_request *br,
                        const json_t *internal, char *errmsg,
                        size_t errmsg_size)
{
    __atomic_add_fetch(&revoked, 1, __ATOMIC_RELAXED);
    return 0;
}

static const struct backend_ops bench_ops = {
    .type = "leasebench", .handle = bench_handle, .revoke = bench_revoke,
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int request(struct kh_core *core, const char *token,
                   const char *method, const char *url,
                   const struct http_query_arg *arg, const char *body)
{
    struct http_raw_request raw = {
        .method = method, .url = url, .query = arg, .query_count = arg ? 1 : 0,
        .body = (const uint8_t *)(body ? body : ""),
        .body_len = body ? strlen(body) : 0,
        .body_bytes_max = KH_HTTP_BODY_BYTES_DEFAULT, .vault_token = token,
        .remote_addr = "127.0.0.1",
    };
    struct kh_request req = {0};
    struct kh_response resp = {0};
    char errmsg[KH_ERRMSG_SIZE];
    int status = 0;

    if (http_request_build(&raw, &req, errmsg, sizeof(errmsg)) == 0) {
        request_handle(core, &req, &resp);
        status = resp.status != 0 ? resp.status : (resp.body ? 200 : 204);
    }
    kh_request_clear(&req);
    kh_response_clear(&resp);
    return status;
}

static int remove_entry(const char *p, const struct stat *s, int f,
                        struct FTW *w)
{
    return remove(p);
}

int main(int argc, char **argv)
{
    long n = 100000, ttl = 120;
    char dir[] = "/tmp/kh-bench-leases-XXXXXX", text[512], errmsg[512];
    char ttl_text[32], key_hex[80], token[128];
    struct kh_init_request init = {.secret_shares = 1, .secret_threshold = 1};
    struct http_query_arg arg = {"ttl", ttl_text};
    struct kh_core_options options = {0};
    struct kh_config *config;
    struct kh_core *core = NULL;
    json_t *result = NULL;
    uint8_t key[32];
    size_t key_len = 0;
    double t0, created, due, unseal_s;
    long rss_sealed, rss_unsealed, i;
    int opt;

    while ((opt = getopt(argc, argv, "n:t:")) != -1) {
        if (opt == 'n')
            n = atol(optarg);
        else if (opt == 't')
            ttl = atol(optarg);
    }
    if (backend_registry_add(&bench_ops) != 0 || mkdtemp(dir) == NULL)
        return 1;
    snprintf(text, sizeof(text),
             "storage \"lmdb\" { path = \"%s/data\" }\ndisable_mlock = true\n"
             "log_level = \"warn\"\n", dir);
    config = kh_config_new();
    options.config = config;
    if (kh_config_parse_text(config, text, strlen(text), "bench", errmsg,
                             sizeof(errmsg)) != 0 ||
        kh_core_open(&options, &core, errmsg, sizeof(errmsg)) != 0 ||
        kh_core_init(core, &init, &result, errmsg, sizeof(errmsg)) != 0) {
        fprintf(stderr, "bench_leases: %s\n", errmsg);
        return 1;
    }
    snprintf(token, sizeof(token), "%s",
             json_string_value(json_object_get(result, "root_token")));
    snprintf(key_hex, sizeof(key_hex), "%s", json_string_value(
        json_array_get(json_object_get(result, "keys"), 0)));
    json_decref(result);
    if (kh_hex_decode(key_hex, strlen(key_hex), key, sizeof(key),
                      &key_len) != 0 ||
        kh_core_unseal(core, key, key_len, false, errmsg, sizeof(errmsg)) ||
        request(core, token, "POST", "/v1/sys/mounts/db", NULL,
                "{\"type\":\"leasebench\"}") != 204)
        return 1;

    snprintf(ttl_text, sizeof(ttl_text), "%ld", ttl);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (request(core, token, "GET", "/v1/db/creds/app", &arg, NULL) !=
            200) {
            fprintf(stderr, "bench_leases: issue %ld failed\n", i);
            return 1;
        }
    }
    created = now_s();
    due = created + (double)ttl; /* the last lease's expiry (upper bound) */
    printf("created %ld leases in %.1f s (%.0f/s, one durable write each)\n",
           n, created - t0, (double)n / (created - t0));

    if (kh_core_seal(core) != 0) {
        fprintf(stderr, "seal failed\n");
        return 1;
    }
    rss_sealed = rss_kib();
    t0 = now_s();
    if (kh_core_unseal(core, key, key_len, false, errmsg, sizeof(errmsg))) {
        fprintf(stderr, "bench_leases: unseal: %s\n", errmsg);
        return 1;
    }
    unseal_s = now_s() - t0;
    rss_unsealed = rss_kib();
    printf("unseal to serving with %zu leases restored: %.3f s\n",
           lease_count(core->leases), unseal_s);
    printf("resident memory of the restored index: %ld KiB (%.0f B/lease)\n",
           rss_unsealed - rss_sealed,
           (double)(rss_unsealed - rss_sealed) * 1024.0 / (double)n);

    while (lease_count(core->leases) > 0 && now_s() < due + 600)
        usleep(100000);
    printf("all %d revoked %.1f s after the last became due (%zu left)\n",
           revoked, now_s() - due, lease_count(core->leases));

    kh_core_close(core);
    kh_config_free(config);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
