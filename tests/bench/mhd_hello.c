/*
 * mhd_hello.c - the reference HTTP server for tests/bench/run_http.sh: a
 * hello-world on libmicrohttpd started exactly as hostd/http/server.c
 * daemon_start() starts keyholdd's listener (epoll, internal polling
 * thread, a pool of KH_HTTP_THREADS_DEFAULT threads, the same connection
 * limit, timeout, memory limit and completion callback), answering every
 * request with a small JSON body. The gap between the two is what the
 * request path of keyholdd costs on top of libmicrohttpd.
 *
 * Owns only its daemon. It must never serve anything but the fixed body
 * and never listen beyond 127.0.0.1. Usage: mhd_hello PORT (0 picks a
 * free port); prints "listening on PORT" once ready, exits 0 on SIGTERM
 * or SIGINT.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "config/limits.h"

static const char hello_body[] =
    "{\"initialized\":true,\"sealed\":false,\"standby\":false,"
    "\"version\":\"hello\"}";

/* The same two-step pattern as server.c on_request(): the first call sees
 * the headers, the last one (no upload left) answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    static int first_call_marker;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (*con_cls == NULL) {
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    resp = MHD_create_response_from_buffer(sizeof(hello_body) - 1,
                                           (void *)hello_body,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    *con_cls = NULL;
}

static struct MHD_Daemon *hello_start(const struct sockaddr_in *addr)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, KH_HTTP_THREADS_DEFAULT, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, KH_HTTP_CONNECTIONS_MAX, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, KH_HTTP_CONNECTION_TIMEOUT_S, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, KH_HTTP_HEADER_BYTES_MAX * 2,
         NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, (void *)addr},
        {MHD_OPTION_END, 0, NULL},
    };

    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct MHD_Daemon *daemon;
    const union MHD_DaemonInfo *info;
    sigset_t signals;
    char *end = NULL;
    unsigned long port;
    int sig = 0;

    port = argc == 2 ? strtoul(argv[1], &end, 10) : 0;
    if (argc != 2 || end == argv[1] || *end != '\0' || port > 65535) {
        fprintf(stderr, "usage: mhd_hello PORT\n");
        return 2;
    }
    /* Before the daemon's threads exist, so they inherit the mask. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon = hello_start(&addr);
    if (daemon == NULL) {
        fprintf(stderr, "mhd_hello: cannot listen on 127.0.0.1:%lu\n", port);
        return 1;
    }
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on %u\n", info != NULL ? (unsigned)info->port : 0u);
    fflush(stdout);
    while (sigwait(&signals, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
        continue;
    MHD_stop_daemon(daemon);
    return 0;
}
