/*
 * fw_sess.h - the device side of the v4 session (internal): SESSION_OPEN's
 * key agreement, and the sealing and opening of frames under the two
 * direction keys (fw_proto.h, "Session"). Only fw_cmds.c calls it; it
 * never sees the login, only keys and counters.
 */
#ifndef FW_SESS_H
#define FW_SESS_H

#include <stddef.h>
#include <stdint.h>

#include "fw_proto.h"

/* 1 while a session's keys are held. */
int fw_sess_is_open(void);

/* Forget the session: both keys and the counter are wiped. */
void fw_sess_close(void);

/* SESSION_OPEN: in is hpub || hn (FW_SESSION_REQ_LEN bytes) of the frame
 * numbered seq; out gets dpub || dn || sig (FW_SESSION_REP_LEN bytes).
 * Any previous session is closed first; on failure none is open. */
int fw_sess_open(const uint8_t *in, uint32_t seq,
                 const uint8_t dev_priv[FW_EC_PRIV_LEN], uint8_t *out,
                 size_t *ret_len);

/* Open the sealed request f into out (FW_SEALED_MAX bytes) and take its
 * seq as the last accepted. -FW_ST_NOSESSION without a session,
 * -FW_ST_REPLAY for a seq not above the last (session kept), -FW_ST_AUTH
 * for a bad tag or a payload shorter than a tag (session closed). */
int fw_sess_unseal(const struct fw_frame *f, uint8_t *out, size_t *ret_len);

/* Encode a sealed reply to the accepted request seq into out (cap >=
 * FW_MAX_FRAME); len <= FW_SEALED_MAX. Returns the frame length, 0 on
 * failure. */
size_t fw_sess_seal(uint8_t *out, size_t cap, uint8_t cmd, uint8_t status,
                    uint32_t seq, const uint8_t *pt, size_t len);

#endif
