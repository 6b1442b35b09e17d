/*
 * fixture.h - the set-ups the unit tests share (tests/unit/lib, built into
 * kh_testlib and linked into every unit test): a temporary directory, an
 * LMDB store with an initialised barrier, a whole core opened from HCL
 * text and unsealed, and a request built from wire pieces as the server
 * builds it.
 *
 * Every helper returns 0 or a negative KH_E* code (with errmsg where one
 * is taken) instead of asserting, so a test decides how to fail and a
 * group set-up can return -1. Each *_open fills a caller-owned struct that
 * its *_close releases, also when the open failed half-way; closing a
 * zeroed struct does nothing. Temporary directories live under
 * $KH_TEST_TMP (created when missing), else /tmp, and are removed with
 * everything below them.
 *
 * Test support only: nothing here is linked into keyholdd.
 */
#ifndef KH_TESTS_FIXTURE_H
#define KH_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier/barrier.h"
#include "common/encoding.h"
#include "config/config.h"
#include "core/core.h"
#include "core/request.h"
#include "engines/backend.h"
#include "mount/mount_table.h"
#include "storage/storage.h"

/* ---- temporary directories ---- */

/* Create "<base>/<prefix>-XXXXXX" and return its path (heap; release with
 * fixture_tmp_remove()). KH_EIO when it cannot be made. */
int fixture_tmp_make(const char *prefix, char **ret_dir);

/* Remove dir and everything below it, then free it. NULL: 0. KH_EIO when
 * something could not be removed (dir is freed either way). */
int fixture_tmp_remove(char *dir);

/* A loopback TCP port that binds now, from 10000..19999: below the
 * kernel's ephemeral range (a raft node binds long after the port was
 * picked, and an outgoing connection could take an ephemeral one
 * meanwhile) and apart from the integration harness's 20000..31999.
 * Returns 0 when none was found. */
int fixture_free_port(void);

/* ---- LMDB and an initialised barrier ---- */

struct fixture_store
{
    char *dir; /* the temporary directory */
    struct kh_storage *storage;
    struct barrier *barrier;
};

/* A fresh temporary directory (prefix as for fixture_tmp_make()), LMDB in
 * it (in its subdirectory subdir, when not NULL) and a barrier initialised
 * with a random root key, which is wiped. */
int fixture_store_open(struct fixture_store *fs, const char *prefix,
                       const char *subdir, char *errmsg, size_t errmsg_size);

/* Free the barrier and the storage, remove the directory, zero fs. The
 * result is fixture_tmp_remove()'s. */
int fixture_store_close(struct fixture_store *fs);

/* A core struct holding only fs's storage and barrier and a token store
 * set up on them: what a backend under test reaches through br->core.
 * Free with fixture_token_core_close() (NULL allowed). */
int fixture_token_core_open(const struct fixture_store *fs,
                            struct kh_core **ret_core);
void fixture_token_core_close(struct kh_core *core);

/* ---- requests ---- */

/* One request as it arrives on the wire. */
struct fixture_request
{
    const char *method;
    const char *url;         /* "/v1/...", optionally "?k=v&flag&k2=v2" */
    const char *body;        /* JSON text, or NULL for none */
    const char *token;       /* X-Vault-Token, or NULL */
    const char *remote_addr; /* NULL: 127.0.0.1 */
};

/* The most query arguments a fixture_request url may carry. */
#define FIXTURE_QUERY_ARGS_MAX 8

/* Build req with http_request_build() as the server does: the query split
 * into arguments, Content-Type application/merge-patch+json for PATCH and
 * application/json for other requests with a body. req is zeroed first
 * and must be cleared with kh_request_clear() whatever the result.
 * KH_ETOOBIG when the url has more than FIXTURE_QUERY_ARGS_MAX arguments;
 * otherwise http_request_build()'s result and errmsg. */
int fixture_request_build(const struct fixture_request *spec,
                          struct kh_request *req, char *errmsg,
                          size_t errmsg_size);

/* Build spec's request and run it through request_handle() on core. resp
 * is zeroed first and the caller clears it; ret_request_id (NULL allowed,
 * KH_UUID_STR_LEN + 1 bytes) receives the request's ID. Returns
 * fixture_request_build()'s result; request_handle() answers in resp. */
int fixture_request_handle(struct kh_core *core,
                           const struct fixture_request *spec,
                           struct kh_response *resp, char *ret_request_id,
                           char *errmsg, size_t errmsg_size);

/* ---- one backend mounted over a store ---- */

/* Fill mount (zeroed first) as the mount table would: ops at path (with
 * its trailing '/'), type ops->type, uuid (NULL: a fresh one), options
 * parsed from options_json (NULL: none), the view ("auth" or "logical")
 * over fs, and the state from ops->init. Release with
 * fixture_mount_close(), also after a failure. */
int fixture_mount_open(struct mount_entry *mount,
                       const struct fixture_store *fs,
                       const struct backend_ops *ops, const char *path,
                       const char *uuid, const char *options_json, char *errmsg,
                       size_t errmsg_size);
void fixture_mount_close(struct mount_entry *mount);

/* The backend_request the request gate hands mount's backend for req once
 * its checks have passed: the sub-path below the mount, the mount's view
 * and state, core and token (both NULL allowed). br points into req and
 * mount. KH_ENOTFOUND when req's path is not below the mount. */
int fixture_backend_request(struct kh_core *core,
                            const struct mount_entry *mount,
                            const struct kh_request *req,
                            const struct token_entry *token,
                            struct backend_request *ret_br);

/* ---- one backend over its own store ---- */

/* What a backend test needs: a store, a token core over it, and the
 * backend mounted at one path. */
struct fixture_backend
{
    struct fixture_store db;
    struct kh_core *core; /* fixture_token_core_open() */
    struct mount_entry mount;
};

/* Open fb: fixture_store_open(prefix), fixture_token_core_open() and
 * fixture_mount_open() of ops at path with a fresh uuid and no options.
 * Release with fixture_backend_close(), also after a failure. */
int fixture_backend_open(struct fixture_backend *fb, const char *prefix,
                         const struct backend_ops *ops, const char *path,
                         char *errmsg, size_t errmsg_size);

/* Close the mount and the token core, then fixture_store_close(). */
int fixture_backend_close(struct fixture_backend *fb);

/* The same as cmocka group or test set-up and tear-down: *state becomes
 * a heap struct fixture_backend opened as above (-1, with the message on
 * stderr, when that fails), and is closed and freed again. */
int fixture_backend_setup(void **state, const char *prefix,
                          const struct backend_ops *ops, const char *path);
int fixture_backend_teardown(void **state);

/* Build spec's request, hand it to fb's backend with token (NULL allowed)
 * as fixture_backend_request() describes, and clear it. A spec->url that
 * does not start with '/' is a sub-path below the mount. resp is zeroed
 * first; the caller clears it. Returns 0 when the request reached the
 * backend, with handle()'s result in *ret_result and its message in
 * errmsg; else the error of building or routing the request. */
int fixture_backend_call(struct fixture_backend *fb,
                         const struct fixture_request *spec,
                         const struct token_entry *token,
                         struct kh_response *resp, int *ret_result,
                         char *errmsg, size_t errmsg_size);

/* ---- a whole core ---- */

struct fixture_core
{
    char *dir; /* the temporary directory; the data is in dir/data */
    struct kh_config *config;
    struct kh_core *core;
    char root_token[256];                        /* after init_unseal */
    char unseal_key[2 * KH_SHARE_BYTES_MAX + 1]; /* hex, after init_unseal */
};

/* A core over a fresh store: hcl (extra stanzas such as a listener, or
 * NULL) plus an LMDB storage stanza and disable_mlock, parsed as
 * "test.hcl". The core is uninitialised and sealed. */
int fixture_core_open(struct fixture_core *fc, const char *prefix,
                      const char *hcl, char *errmsg, size_t errmsg_size);

/* Initialise fc's core with one share (threshold 1) through the core API,
 * keep the root token and the hex share in fc, and unseal with it. */
int fixture_core_init_unseal(struct fixture_core *fc, char *errmsg,
                             size_t errmsg_size);

/* Close the core, free the config, remove the directory, wipe fc. The
 * result is fixture_tmp_remove()'s. */
int fixture_core_close(struct fixture_core *fc);

#endif
