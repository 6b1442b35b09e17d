/*
 * fw_mps2.h - the MPS2 AN385 port's own calls (UART ring, WFI) and its
 * board-RAM layout, which the QEMU test harness relies on: it writes the
 * test entropy seed at BOARD_RAM + FW_MPS2_SEED_OFF before first boot.
 */
#ifndef FW_MPS2_H
#define FW_MPS2_H

#include <stddef.h>
#include <stdint.h>

#define FW_MPS2_SEED_OFF 0x40u
#define FW_MPS2_NV_OFF 0x1000u

void fw_mps2_init(void);
int fw_mps2_rx(uint8_t *ret_byte);
void fw_mps2_tx(const uint8_t *p, size_t n);
void fw_mps2_wait(void);

#endif
