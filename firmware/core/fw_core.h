/*
 * fw_core.h - the portable device core (internal to the firmware): boot,
 * the byte-stream entry point and the frame dispatcher. Ports call these
 * from their main loop; nothing here knows about a UART or a socket.
 */
#ifndef FW_CORE_H
#define FW_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "fw_proto.h"

/* Seed the DRBG, load (or create) the encrypted NV state, log a boot. */
int fw_core_boot(void);

/* Feed one received byte; when a reply is due, write it to out (cap >=
 * FW_MAX_FRAME) and return its length, else return 0. */
size_t fw_core_rx(uint8_t byte, uint8_t *out, size_t cap);

/* Drop a partly received frame (called after FW_RX_IDLE_MS of silence). */
void fw_core_rx_idle(void);

/* The host transport lost its peer: end the session and the login. */
void fw_core_session_end(void);

/* Handle one parsed frame; returns the reply length written to out. */
size_t fw_core_handle(const struct fw_frame *f, uint8_t *out, size_t cap);

/* Wipe all RAM-held secrets (panic and shutdown paths). */
void fw_core_wipe(void);

#endif
