/*
 * hsm.h - the hardware layer's one public header.
 *
 * An hsm handle holds one key-encryption key (KEK) that never leaves the
 * device, and wraps/unwraps small secrets (the barrier root key) with it.
 * Backends, one file each behind a const vtable: pkcs11 (SoftHSM2 or any
 * PKCS#11 token), tpm2 (a TPM 2.0 chip or swtpm: the secret is sealed to
 * the TPM, optionally bound to PCR values), device (the Keyhold firmware
 * over its framed protocol, firmware/include/fw_proto.h).
 * hostd/seal/ calls this header for the KEK; hostd/engines/transit/ for
 * named keys (through the seal's handle).
 *
 * Thread safety: a handle serialises its own calls with an internal lock
 * (PKCS#11 sessions, TPM connections and the device link are
 * single-user).
 *
 * Errors: KH_EAUTH (the PIN was refused: retrying with the same PIN
 * could lock it, so callers must not retry), KH_EHSM (the device refused; errmsg says what: wrong PIN, missing
 * key, absent token, missing library), KH_ECORRUPT (unwrap failed
 * authentication: wrong key or tampered blob), KH_EUNAVAIL (the device is
 * gone; try again later), KH_ESTATE (tpm2 only: the PCRs the blob is
 * bound to no longer hold their values; the detail names them),
 * KH_EINVAL, KH_ENOMEM.
 */
#ifndef KH_HSM_H
#define KH_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/assert.h"

struct hsm;

enum hsm_mechanism {
    HSM_MECH_AES_GCM = 1,      /* CKM_AES_GCM, 96-bit IV, 128-bit tag */
    HSM_MECH_AES_KEY_WRAP_PAD, /* CKM_AES_KEY_WRAP_PAD (RFC 5649) */
};

struct hsm_pkcs11_params
{
    const char *lib;           /* path of the PKCS#11 module */
    long slot;                 /* -1: find the token by label */
    const char *token_label;   /* used when slot < 0 */
    const char *pin;           /* user PIN */
    const char *key_label;     /* CKA_LABEL of the AES-256 KEK */
    enum hsm_mechanism mechanism;
    bool generate_key;         /* create the KEK if no key has the label */
};

/* What the token says about the KEK (read back for tests and status). */
struct hsm_key_attributes
{
    bool sensitive;
    bool extractable;
    bool never_extractable;
    bool token_object;         /* persistent, not a session object */
    unsigned long value_len;   /* bytes */
};

/* Largest blob hsm_wrap produces for a secret of len bytes. The tpm2
 * blob carries the TPM's public and private areas and a PCR header (up
 * to about 430 bytes); the pkcs11 blobs need at most 64. */
#define HSM_WRAP_OVERHEAD 512
#define HSM_SECRET_BYTES_MAX 256

/* Load the module, find the token, log in, find (or generate) the KEK.
 * params is not referenced after return; a copy of the PIN is kept in
 * locked memory (kh_secure_alloc) only to log in again after a lost
 * session, and is wiped by hsm_close. */
int hsm_pkcs11_open(const struct hsm_pkcs11_params *params,
                    struct hsm **ret_hsm, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;

/* Initialise the first token-less slot of a PKCS#11 module (SoftHSM2 keeps
 * a free slot) with a label, SO PIN and user PIN. Used by dev mode and
 * tests. Returns KH_EHSM with errmsg on failure. */
int hsm_pkcs11_init_token(const char *lib, const char *token_label,
                          const char *so_pin, const char *user_pin,
                          char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* ---- tpm2 ------------------------------------------------------------
 *
 * A handle on one TPM 2.0 (one ESYS connection, serialised by the handle's
 * lock: swtpm and many TPM stacks serve one client at a time). Its "KEK"
 * is an ECC P-256 storage primary key of the owner hierarchy, derived
 * again on every connection from the TPM's seed and never persisted, so
 * only the blob is stored and the owner hierarchy must have an empty
 * authorisation value. hsm_wrap seals the secret into a KEYEDHASH object
 * under it (fixedTPM, fixedParent, noDA); with pcrs its authPolicy is
 * PolicyPCR over the current values of those PCRs, without pcrs it opens
 * with an empty authorisation. Every command that carries the secret runs
 * in a session salted with the primary key with parameter encryption, so
 * the secret never crosses the bus in clear. TPM sealing has no AAD: the
 * sealed data starts with SHA-256 of the blob's header and the aad, which
 * hsm_unwrap checks (KH_ECORRUPT on a mismatch).
 *
 * When the TPM goes away (TCTI error), the handle drops the connection and
 * reconnects on the next call; while it is gone calls return KH_EUNAVAIL.
 * A blob stays valid across reconnections and TPM restarts (the primary
 * key is the same while the owner seed is), not across TPM2_Clear. */
#define HSM_TPM2_SECRET_BYTES_MAX 96 /* 128 (MAX_SYM_DATA) - 32 binding */
#define HSM_TPM2_PCR_MAX          23 /* highest PCR index */

struct hsm_tpm2_params
{
    const char *tcti;     /* "device:/dev/tpmrm0", "swtpm:host=H,port=P" */
    const char *pcrs;     /* "7,11": bind to these PCRs; NULL or "": none */
    const char *pcr_bank; /* "sha256" (NULL), "sha1", "sha384", "sha512" */
    /* Optional (NULL): receives the reason of each failed wrap, unwrap and
     * ping (the TPM error, or which PCRs changed), written under the
     * handle's lock and never cleared by a success. Must outlive the
     * handle. Never holds secret bytes. */
    char *detail;
    size_t detail_size;
};

/* Parse params, connect to the TPM and derive the primary key. A TPM that
 * cannot be reached is KH_EUNAVAIL, an owner hierarchy whose
 * authorisation is not empty KH_EAUTH, bad params KH_EINVAL; errmsg says
 * which. params is not referenced after return except detail. */
int hsm_tpm2_open(const struct hsm_tpm2_params *params, struct hsm **ret_hsm,
                  char *errmsg, size_t errmsg_size) KH_MUST_CHECK;

/* ---- device ----------------------------------------------------------
 *
 * A handle on one Keyhold device (firmware/: a board on a serial line,
 * QEMU's UART chardev, or keyhold-fw-sim) speaking the framed protocol of
 * firmware/include/fw_proto.h over one connection, logged in with the
 * user PIN. Its KEK is the device's AES-256 wrapping key with the label
 * key_label (one of FW_WRAP_SLOTS slots), found with WRAP_LIST or, with
 * generate_key, created inside the device with GEN_WRAP; it never leaves
 * the device. hsm_wrap draws a fresh random 12-byte IV for every call and
 * seals the secret with AES-256-GCM in the device; the blob is
 * version(1) | iv(12) | ciphertext | tag(16), and the AAD the device
 * authenticates is version | SHA-256(caller's aad), so an aad of any
 * length fits the device's 64-byte AAD bound.
 *
 * Every exchange has a deadline (HSM_DEVICE_CALL_TIMEOUT_MS for a call,
 * HSM_DEVICE_PING_TIMEOUT_MS for hsm_ping, covering any reconnection), so
 * a dead or hung device never blocks a caller past it. A broken link (a
 * hang-up, an I/O error, a timeout, or a device that forgot the login) is
 * closed; the call reconnects and logs in again once with the kept PIN and
 * repeats the command (a wrap with a fresh IV), else returns KH_EUNAVAIL;
 * the next call tries again. A PIN the device refuses is KH_EAUTH and is
 * never offered again by the handle (each refusal spends a PIN try): all
 * later calls return KH_EAUTH. No named keys (hsm_key_*: KH_EHSM). */
#define HSM_DEVICE_CALL_TIMEOUT_MS     5000
#define HSM_DEVICE_PING_TIMEOUT_MS     1000
#define HSM_DEVICE_OPEN_TIMEOUT_MS     10000
#define HSM_DEVICE_ADDRESS_BYTES_MAX   255
#define HSM_DEVICE_PIN_BYTES_MIN       4  /* FW_PIN_MIN */
#define HSM_DEVICE_PIN_BYTES_MAX       32 /* FW_PIN_MAX */
#define HSM_DEVICE_KEY_LABEL_BYTES_MAX 32 /* FW_LABEL_MAX */

struct hsm_device_params
{
    /* "unix:/path" (keyhold-fw-sim, QEMU chardev), "tcp:host:port"
     * (TCP_NODELAY), or "serial:/dev/ttyACM0" (raw, 115200 8N1). */
    const char *address;
    const char *pin;       /* the device's user PIN */
    const char *key_label; /* label of the device wrapping key */
    bool generate_key;     /* GEN_WRAP in a free slot if no key has it */
};

/* Connect, log in, find (or generate) the KEK; the whole open is bounded
 * by HSM_DEVICE_OPEN_TIMEOUT_MS (name resolution of a tcp host aside).
 * An unreachable device is KH_EUNAVAIL, a refused or locked PIN KH_EAUTH,
 * a device without a PIN (factory state), a missing key or no free slot
 * KH_EHSM, bad params KH_EINVAL; errmsg says which and never holds the
 * PIN. params is not referenced after return; a copy of the PIN is kept
 * in locked memory (kh_secure_alloc) to log in again after a lost link,
 * and is wiped by hsm_close. */
int hsm_device_open(const struct hsm_device_params *params,
                    struct hsm **ret_hsm, char *errmsg,
                    size_t errmsg_size) KH_MUST_CHECK;

/* Wrap secret (len <= HSM_SECRET_BYTES_MAX; tpm2: at most
 * HSM_TPM2_SECRET_BYTES_MAX, else KH_EINVAL) under the KEK, binding aad
 * (may be empty). *ret_blob is malloc'ed (caller frees), at most len +
 * HSM_WRAP_OVERHEAD bytes. */
int hsm_wrap(struct hsm *hsm, const uint8_t *aad, size_t aad_len,
             const uint8_t *secret, size_t len, uint8_t **ret_blob,
             size_t *ret_blob_len) KH_MUST_CHECK;

/* Unwrap into out (size out_size). On any failure out is wiped. */
int hsm_unwrap(struct hsm *hsm, const uint8_t *aad, size_t aad_len,
               const uint8_t *blob, size_t blob_len, uint8_t *out,
               size_t out_size, size_t *ret_len) KH_MUST_CHECK;

/* Read the KEK's attributes back from the token (tpm2: the primary key's
 * and sealed objects' fixed attributes: sensitive, never extractable). */
int hsm_key_attributes(struct hsm *hsm, struct hsm_key_attributes *ret);

/* ---- named keys: keys that live and work inside the token ----------
 *
 * Besides its KEK, a handle can create and use named AES-256 keys for
 * other parts of Keyhold (transit's managed keys). Each is a persistent
 * token object (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_EXTRACTABLE
 * false, so CKA_NEVER_EXTRACTABLE true) found by its CKA_LABEL, which the
 * caller derives and must keep unique; it can encrypt and decrypt with
 * CKM_AES_GCM and nothing else (no wrap, unwrap, derive or sign).
 *
 * WARNING - IVs: hsm_key_encrypt uses the IV the caller supplies. GCM
 * loses all confidentiality and integrity for a key if an IV is ever
 * used twice with it, so the caller must guarantee uniqueness per key (a
 * persisted counter, or random IVs with a use count well below 2^32) and
 * must count uses. A token that insists on choosing its own IV (FIPS
 * modules may) writes it back into iv; the caller must send that IV with
 * the ciphertext. After a lost session the call is retried once with the
 * same IV: the failed attempt released no ciphertext, so no IV is ever
 * used for two ciphertexts that leave the call. */
#define HSM_KEY_LABEL_BYTES_MAX 128
#define HSM_GCM_IV_BYTES        12
#define HSM_GCM_TAG_BYTES       16
/* Largest plaintext (and ciphertext without tag) of one call. */
#define HSM_DATA_BYTES_MAX      (4u * 1024u * 1024u)
/* Largest additional authenticated data of one call. */
#define HSM_AAD_BYTES_MAX       (64u * 1024u)

/* Generate the named key. KH_ECONFLICT when an object with that label
 * already exists (nothing is created), KH_EINVAL for a label that is
 * empty or longer than HSM_KEY_LABEL_BYTES_MAX. */
int hsm_key_generate(struct hsm *hsm, const char *label) KH_MUST_CHECK;

/* AES-256-GCM encryption inside the token with the named key: out gets
 * ciphertext | tag (len + HSM_GCM_TAG_BYTES bytes; out_size at least
 * that). len may be 0. KH_ENOTFOUND when no key has the label. */
int hsm_key_encrypt(struct hsm *hsm, const char *label,
                    uint8_t iv[HSM_GCM_IV_BYTES], const uint8_t *aad,
                    size_t aad_len, const uint8_t *plain, size_t len,
                    uint8_t *out, size_t out_size,
                    size_t *ret_len) KH_MUST_CHECK;

/* The inverse: in is ciphertext | tag (len >= HSM_GCM_TAG_BYTES). out
 * (out_size >= len - HSM_GCM_TAG_BYTES) receives the plaintext.
 * KH_ECORRUPT when authentication fails; out is wiped on any failure. */
int hsm_key_decrypt(struct hsm *hsm, const char *label,
                    const uint8_t iv[HSM_GCM_IV_BYTES], const uint8_t *aad,
                    size_t aad_len, const uint8_t *in, size_t len,
                    uint8_t *out, size_t out_size,
                    size_t *ret_len) KH_MUST_CHECK;

/* Read a named key's attributes back from the token. KH_ENOTFOUND. */
int hsm_key_attributes_by_label(struct hsm *hsm, const char *label,
                                struct hsm_key_attributes *ret) KH_MUST_CHECK;

/* Destroy the named key (C_DestroyObject). KH_ENOTFOUND when none. */
int hsm_key_destroy(struct hsm *hsm, const char *label) KH_MUST_CHECK;

/* A cheap liveness probe (C_GetSessionInfo, TPM2_GetCapability, the
 * device's INFO). 0 when reachable. tpm2 and device: reconnect first when
 * the connection was lost. */
int hsm_ping(struct hsm *hsm);

/* Backend name: "pkcs11", "tpm2", "device". */
const char *hsm_backend_name(const struct hsm *hsm);

/* Log out, close the session, unload the module; accepts NULL. */
void hsm_close(struct hsm *hsm);

#endif
