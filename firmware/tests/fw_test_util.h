/*
 * fw_test_util.h - host-test harness for the firmware core: a device on a
 * fresh temporary NV file, restartable in-process, driven byte by byte
 * through fw_core_rx exactly as a UART would. Test-only.
 */
#ifndef FW_TEST_UTIL_H
#define FW_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "fw_proto.h"
#include "host/fw_hsess.h"

struct fw_reply
{
    uint8_t cmd;
    uint8_t status;
    uint32_t seq;
    size_t len;
    uint8_t payload[FW_MAX_PAYLOAD];
};

/* Make a temp dir and boot a device on <dir>/nv. Returns 0 on success. */
int fwt_setup(void);
/* Simulate a power cycle: reopen NV and boot again. */
int fwt_restart(void);
/* Remove the temp dir. */
void fwt_teardown(void);
const char *fwt_nv_path(void);

/* Feed raw bytes; returns the number of reply frames decoded into rep
 * (up to max). */
size_t fwt_feed(const uint8_t *p, size_t n, struct fw_reply *rep, size_t max);

/* Send one command sealed in the harness's session (opened first when
 * there is none, and once more if the device answers a plaintext
 * NOSESSION/AUTH/REPLAY, e.g. after another client replaced it); the
 * reply is opened into rep. Returns the reply status (or -1 if no single
 * reply). A LOGOUT or RESET that succeeds ends the session. */
int fwt_cmd(uint8_t cmd, const void *payload, size_t len,
            struct fw_reply *rep);

/* Send one command in plaintext (no session involved). */
int fwt_cmd_plain(uint8_t cmd, const void *payload, size_t len,
                  struct fw_reply *rep);

/* Open a session: INFO for the device key, then SESSION_OPEN, whose
 * signature is checked under it. Returns 0 on success. */
int fwt_session_open(void);

/* Forget the harness's session (the device may still hold it). */
void fwt_session_drop(void);

/* The harness's host session and the next sequence number it will use
 * (tests that build frames by hand take it and advance it). */
struct fwh_sess *fwt_session(void);
uint32_t fwt_next_seq(void);

/* Decode one reply frame (sealed ones opened in the harness's session:
 * -1 if that fails) from the device's bytes out[0..n). */
int fwt_decode(const uint8_t *out, size_t n, uint32_t seq,
               struct fw_reply *rep);

/* Convenience: INIT_PIN + LOGIN with "1234". */
void fwt_init_login(void);

/* Verify r||s over hash with OpenSSL; 1 if valid. */
int fwt_openssl_verify(const uint8_t pub[FW_EC_PUB_LEN],
                       const uint8_t hash[FW_HASH_LEN],
                       const uint8_t sig[FW_EC_SIG_LEN]);

/* SHA-256 over n parts with OpenSSL (independent of the device's code). */
void fwt_sha256(const void *const *ptrs, const size_t *lens, size_t n,
                uint8_t out[FW_HASH_LEN]);

#endif
