/*
 * fw_board.h - the board layer the portable core runs on: non-volatile
 * storage, entropy, the hardware unique key, a millisecond tick, and the
 * fatal path. Each port (boards/<name>/) implements all of it; the core
 * must never touch hardware except through these calls.
 *
 * Fallible calls return 0 or -FW_ST_* (fw_proto.h).
 */
#ifndef FW_BOARD_H
#define FW_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "fw_limits.h"

/* Non-volatile region of FW_NV_SIZE bytes (flash-like: written in whole
 * records, A/B). Writes must reach the medium before returning. */
int fw_board_nv_read(uint32_t off, void *buf, size_t len);
int fw_board_nv_write(uint32_t off, const void *buf, size_t len);

/* Entropy in mbedTLS's callback shape. */
int fw_board_entropy(void *ctx, unsigned char *out, size_t len, size_t *olen);

/* 1 if the entropy source is the emulation-only test seed. */
int fw_board_entropy_is_test(void);

/* Hardware unique key (fused on real parts). get returns -FW_ST_NOKEY if
 * none is provisioned yet; provision stores one (first boot, emulation). */
int fw_board_huk_get(uint8_t huk[FW_AES_KEY_LEN]);
int fw_board_huk_provision(const uint8_t huk[FW_AES_KEY_LEN]);

uint32_t fw_board_ms(void);

/* Monotonic nanoseconds at the board's finest resolution (MPS2: SysTick
 * counts of the CPU clock; under QEMU -icount shift=0 one virtual ns is
 * one guest instruction, so a difference counts instructions). */
uint64_t fw_board_ns(void);
const char *fw_board_name(void);

/* Fatal error: wipe what the board can and stop. Never returns. */
void fw_panic(int code) __attribute__((noreturn));

#if defined(FW_RELEASE) && defined(FW_BOARD_TEST_ENTROPY)
#error "firmware: a release build refuses the test-only entropy source"
#endif

#endif
