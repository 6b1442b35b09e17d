/*
 * userpass.h - the userpass auth method (Vault API: userpass): users with a
 * password and token fields, and a login that trades the password for a
 * token. The public part is the ops table (type "userpass"); the rest is
 * the internal API shared by the files of auth/userpass/:
 *
 *   userpass_backend.c  ops table, per-mount state, path dispatch
 *   userpass_users.c    users/:username, .../password, .../policies, LIST
 *   userpass_kdf.c      password hashing (scrypt) and the stored hash form
 *   userpass_login.c    login/:username
 *
 * Storage layout inside the mount's barrier view:
 *
 *   user/<username>     the user (JSON): token fields and the password hash
 *                       {kdf: "scrypt", n, r, p, salt, hash} (base64)
 *
 * Passwords are hashed with scrypt (OpenSSL 3 EVP_KDF "SCRYPT") at
 * N = 2^15, r = 8, p = 3 (32 MiB, one of OWASP's equivalent settings),
 * with a random 16-byte salt per user. The parameters are stored with the
 * hash, so they can be raised later without breaking existing users.
 *
 * Concurrency: writes (create, update, password, policies, delete) hold
 * the mount's mutex for the whole read-modify-write; logins take no lock
 * (one view_get is atomic) so slow hashing never serialises them.
 */
#ifndef KH_AUTH_USERPASS_USERPASS_H
#define KH_AUTH_USERPASS_USERPASS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/tokenutil.h"
#include "engines/backend.h"

/* ---- limits (house style), each tested at max and max + 1 ---- */

/* Usernames: 1..128 bytes of [a-z0-9_.@-] (lowercased on the way in),
 * first and last character alphanumeric or '_'. */
#define USERPASS_NAME_BYTES_MAX 128
/* Passwords: 1..1024 bytes. */
#define USERPASS_PASSWORD_BYTES_MAX 1024

/* scrypt parameters for new hashes. */
#define USERPASS_SCRYPT_N (1ull << 15)
#define USERPASS_SCRYPT_R 8u
#define USERPASS_SCRYPT_P 3u
/* Ceilings accepted from a stored record (a corrupt record must not make
 * a login allocate gigabytes). */
#define USERPASS_SCRYPT_N_MAX        (1ull << 20)
#define USERPASS_SCRYPT_R_MAX        32u
#define USERPASS_SCRYPT_P_MAX        16u
#define USERPASS_SCRYPT_MAXMEM_BYTES (1ull << 30)
#define USERPASS_SALT_BYTES          16
#define USERPASS_HASH_BYTES          32

#define USERPASS_KEY_BYTES_MAX (5 + USERPASS_NAME_BYTES_MAX + 1)

/* The ops table, listed in engines/registry.c. */
extern const struct backend_ops userpass_backend_ops;

struct userpass_state
{
    pthread_mutex_t lock; /* held by every write */
};

struct userpass_call
{
    const struct backend_request *br;
    struct userpass_state *state;
    const char *username; /* validated, lowercased */
    struct kh_response *resp;
    char *errmsg;
    size_t errmsg_size;
};

typedef int (*userpass_handler_fn)(const struct userpass_call *call);

struct userpass_hash
{
    uint64_t n;
    uint32_t r;
    uint32_t p;
    uint8_t salt[USERPASS_SALT_BYTES];
    uint8_t hash[USERPASS_HASH_BYTES];
};

struct userpass_user
{
    char name[USERPASS_NAME_BYTES_MAX + 1];
    struct tokenutil token;
    struct userpass_hash password;
};

/* ---- password hashing (userpass_kdf.c) ---- */

/* Hash password with a fresh salt and the current parameters. */
int userpass_hash_new(const char *password, size_t len,
                      struct userpass_hash *ret) KH_MUST_CHECK;
/* Hash password with h's salt and parameters; *ret_match tells whether it
 * equals h's hash (constant-time compare). */
int userpass_hash_verify(const struct userpass_hash *h, const char *password,
                         size_t len, bool *ret_match) KH_MUST_CHECK;
/* The same work as a verify, against nothing: for unknown users. */
void userpass_hash_dummy(const char *password, size_t len);
/* Stored form: an object {kdf, n, r, p, salt, hash} (new reference), or
 * NULL on allocation failure; decode returns KH_ECORRUPT when malformed. */
json_t *userpass_hash_encode(const struct userpass_hash *h);
int userpass_hash_decode(const json_t *obj,
                         struct userpass_hash *ret) KH_MUST_CHECK;

/* ---- users (userpass_users.c) ---- */

/* Copy name lowercased into out; KH_EINVAL with errmsg on a bad name. */
int userpass_name_check(const char *name, size_t len,
                        char out[USERPASS_NAME_BYTES_MAX + 1], char *errmsg,
                        size_t errmsg_size) KH_MUST_CHECK;
/* KH_ENOTFOUND when absent, KH_ECORRUPT when malformed. */
int userpass_user_load(const struct barrier_view *view, const char *name,
                       struct userpass_user *ret) KH_MUST_CHECK;

int userpass_respond(const struct userpass_call *call,
                     json_t *data) KH_MUST_CHECK;

int userpass_users_list(const struct userpass_call *call) KH_MUST_CHECK;
int userpass_user_read(const struct userpass_call *call) KH_MUST_CHECK;
int userpass_user_write(const struct userpass_call *call) KH_MUST_CHECK;
int userpass_user_delete(const struct userpass_call *call) KH_MUST_CHECK;
int userpass_user_password(const struct userpass_call *call) KH_MUST_CHECK;
int userpass_user_policies(const struct userpass_call *call) KH_MUST_CHECK;
int userpass_user_exists(const struct userpass_call *call,
                         bool *ret_exists) KH_MUST_CHECK;

/* ---- login (userpass_login.c) ---- */

int userpass_login(const struct userpass_call *call) KH_MUST_CHECK;

#endif
