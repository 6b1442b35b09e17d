/*
 * fw_p11.h - internals of libkeyhold-fw-pkcs11.so, the PKCS#11 v2.40 face
 * of the Keyhold device (fw_proto.h): the module state every entry point
 * shares under one mutex, the device link, and the helpers the entry
 * points in fw_p11.c (library, slot, token, sessions, login) and
 * fw_p11_key.c (objects, key generation, AES-GCM, random) call.
 *
 * One slot (id 0) holds one token, present while the device answers. The
 * device's login lasts as long as the connection, so the module keeps one
 * connection and, when it drops, forgets every session and the login:
 * callers see CKR_DEVICE_REMOVED or CKR_SESSION_HANDLE_INVALID and open a
 * new session and log in again once the device is back. A wrapping-key
 * slot s of the device is the secret-key object with handle s + 1; a P-256
 * slot s is the private-key object FWP11_H_EC_PRIV + s and the public-key
 * object FWP11_H_EC_PUB + s (fw_p11_ec.c: key pairs, CKM_ECDSA sign and
 * verify). Session objects are AES secret keys held by the module
 * (C_CreateObject, or C_UnwrapKey without CKA_TOKEN), handle
 * FWP11_H_SOBJ + index: the only keys that C_WrapKey can wrap. They are
 * private, die with their session, at logout and when the device goes,
 * and are wiped when they die.
 *
 * This header and its files must never hold a PIN or key byte beyond the
 * call that carries it (request buffers are wiped) except a session
 * object's value, and never print.
 */
#ifndef FW_P11_H
#define FW_P11_H

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_proto.h"
#include "host/fw_hsess.h"

#define FWP11_SLOT_ID      0ul
#define FWP11_SESSIONS_MAX 16u
#define FWP11_DEVICE_MAX   256u  /* KEYHOLD_FW_DEVICE, bytes */
#define FWP11_TIMEOUT_MS   10000 /* one reply (QEMU signs in ~1 s) */
#define FWP11_TOKEN_LABEL  "keyhold-fw"
#define FWP11_H_EC_PRIV    0x11ul /* + P-256 slot */
#define FWP11_H_EC_PUB     0x21ul /* + P-256 slot */
#define FWP11_H_SOBJ       0x101ul /* + session-object index */
#define FWP11_SOBJ_MAX     16u
#define FWP11_SOBJ_ID_MAX  32u /* CKA_ID of a session object, bytes */
#define FWP11_OBJECTS_MAX  (FW_WRAP_SLOTS + 2u * FW_EC_SLOTS + FWP11_SOBJ_MAX)
#define FWP11_ECDSA_IN_MAX 64u /* CKM_ECDSA input: a hash up to SHA-512 */

enum fwp11_op_kind {
    FWP11_OP_NONE = 0,
    FWP11_OP_ENCRYPT,
    FWP11_OP_DECRYPT,
    FWP11_OP_SIGN,
    FWP11_OP_VERIFY,
};

/* An AES-GCM or ECDSA operation between *Init and its one-shot call
 * (slot: the wrapping-key or the P-256 slot); C_WrapKey and C_UnwrapKey
 * fill one on the stack for their one call. */
struct fwp11_op
{
    enum fwp11_op_kind kind;
    uint8_t slot;
    uint8_t iv[FW_GCM_IV_LEN];
    uint8_t aad[FW_AAD_MAX];
    size_t aad_len;
};

struct fwp11_session
{
    int used;
    ck_flags_t flags;
    struct fwp11_op op;
    int find_active;
    ck_object_handle_t find_hits[FWP11_OBJECTS_MAX];
    size_t find_count;
    size_t find_pos;
};

/* A session object: an AES key of 16, 24 or 32 bytes held by the
 * module for session owner (fw_p11_key.c). */
struct fwp11_sobj
{
    int used;
    ck_session_handle_t owner;
    uint8_t value[FW_AES_KEY_LEN];
    size_t value_len;
    uint8_t label[FW_LABEL_MAX];
    size_t label_len;
    uint8_t id[FWP11_SOBJ_ID_MAX];
    size_t id_len;
    int sensitive;
    int extractable;
    int local; /* 0: created or unwrapped (the only ways in) */
};

/* The connection to the device (fw_p11_dev.c) and its v4 session: the
 * device key is pinned from KEYHOLD_FW_DEVICE_KEY (hex of INFO's devpub,
 * recorded at provisioning) or else at first contact, for the module's
 * lifetime. */
struct fwp11_dev
{
    int fd; /* -1: not connected */
    uint32_t seq;
    char spec[FWP11_DEVICE_MAX]; /* unix:PATH or tcp:HOST:PORT */
    struct fw_parser parser;
    uint8_t frame[FW_MAX_FRAME];
    struct fwh_sess sess;
    int pinned; /* devpub holds the device key */
    uint8_t devpub[FW_EC_PUB_LEN];
};

struct fwp11_state
{
    pthread_mutex_t lock;
    int initialized;
    int logged_in;
    struct fwp11_dev dev;
    struct fwp11_session sessions[FWP11_SESSIONS_MAX];
    struct fwp11_sobj sobjs[FWP11_SOBJ_MAX];
};

extern struct fwp11_state g_fwp11;

/* ---- device link (fw_p11_dev.c) ----------------------------------- */

/* Connect to dev->spec and open a session (INFO, the device key checked
 * against the pinned one, SESSION_OPEN); 0 or -1. */
int fwp11_dev_open(struct fwp11_dev *dev);
void fwp11_dev_close(struct fwp11_dev *dev);
/* Connected and the peer has not hung up (no round trip). */
int fwp11_dev_alive(struct fwp11_dev *dev);
/* One request and its reply, both sealed in the session (reopened first
 * after a LOGOUT or RESET closed it): returns the reply's FW_ST_* status
 * (>= 0) with up to cap payload bytes in rep and their count in *ret_len,
 * or -1 if the link or the session failed (a reply that does not open, a
 * plaintext answer: the device lost the session; the caller closes the
 * link and reconnects). */
int fwp11_dev_call(struct fwp11_dev *dev, uint8_t cmd, const uint8_t *req,
                   size_t n, uint8_t *rep, size_t cap, size_t *ret_len);

/* ---- shared helpers (fw_p11.c); call with the lock held ------------ */

/* Take the lock if the library is initialised. */
ck_rv_t fwp11_enter(void);
void fwp11_leave(void);

/* The session behind handle h, or NULL. */
struct fwp11_session *fwp11_session_get(ck_session_handle_t h);

/* A device command: connects when needed; on a link failure the
 * connection, every session and the login are dropped and
 * CKR_DEVICE_REMOVED returned. Else CKR_OK and the status in *ret_st. */
ck_rv_t fwp11_call(uint8_t cmd, const uint8_t *req, size_t n, uint8_t *rep,
                   size_t cap, size_t *ret_len, int *ret_st);

/* The CKR_* for a device status other than OK. */
ck_rv_t fwp11_status_rv(int st);

/* CKA_* template value helpers shared by key generation (fw_p11_crypt.c,
 * fw_p11_ec.c): 0, or -1 if the value has the wrong size. */
int fwp11_attr_bool(const struct ck_attribute *a, int *ret);
int fwp11_attr_ulong(const struct ck_attribute *a, unsigned long *ret);

/* ---- session objects (fw_p11_key.c); call with the lock held ------ */

/* The session object behind handle h, or NULL. */
struct fwp11_sobj *fwp11_sobj_get(ck_object_handle_t h);

/* Wipe the session objects of session owner (0: all of them). */
void fwp11_sobj_drop(ck_session_handle_t owner);

/* A new session object for session owner from a template (class secret
 * key, type AES, not a token object; CKA_VALUE only when value is NULL,
 * else value_len bytes of value); its handle in *ret. With ret NULL the
 * template and a free entry are checked and nothing is made. */
ck_rv_t fwp11_sobj_new(ck_session_handle_t owner,
                       const struct ck_attribute *templ, unsigned long count,
                       const uint8_t *value, size_t value_len,
                       ck_object_handle_t *ret);

/* ---- AES-GCM through the device (fw_p11_crypt.c) -------------------- */

/* CK_GCM_PARAMS of mech into op (IV 12 bytes, tag 128 bits, AAD bounded);
 * CKR_MECHANISM_PARAM_INVALID or CKR_MECHANISM_INVALID otherwise. */
ck_rv_t fwp11_gcm_params(const struct ck_mechanism *mech,
                         struct fwp11_op *op);

/* WRAP (op->kind ENCRYPT: out = ct || tag) or UNWRAP (DECRYPT: out = pt)
 * of in through the device; out holds in_len + or - FW_GCM_TAG_LEN. */
ck_rv_t fwp11_gcm_run(struct fwp11_op *op, const uint8_t *in, size_t in_len,
                      uint8_t *out, unsigned long *out_len);

/* Space-padded copy of s into a fixed-size PKCS#11 field. */
void fwp11_pad(unsigned char *dst, size_t n, const char *s);

#endif
