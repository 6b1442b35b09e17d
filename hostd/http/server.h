/*
 * server.h - the HTTP(S) listeners on libmicrohttpd.
 *
 * One MHD daemon per configured listener: poll() with a pool of worker
 * threads, TLS 1.2+ when configured. Workers parse a request into a
 * struct kh_request and call request_handle(). SIGHUP reloads certificates
 * without dropping the listening socket (the old daemon is quiesced and
 * drains while a new one serves).
 */
#ifndef KH_HTTP_SERVER_H
#define KH_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"
#include "config/config.h"
#include "core/core.h"

struct http_server;

/* Start every listener. The configs must outlive the server. */
int http_server_start(struct kh_core *core,
                      const struct kh_config_listener *listeners,
                      size_t count, struct http_server **ret_server,
                      char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* Re-read certificate and key files of TLS listeners; on failure the old
 * certificates keep serving and errmsg says why. */
int http_server_reload_tls(struct http_server *server, char *errmsg,
                           size_t errmsg_size);

/* The bound port of listener i (useful with port 0). */
uint16_t http_server_port(const struct http_server *server, size_t i);

/* Stop all listeners, waiting for in-flight requests; accepts NULL. */
void http_server_stop(struct http_server *server);

#endif
