/*
 * fw_mps2.h - the MPS2 ports' own calls (UART ring, WFI), the board facts
 * that differ between AN385 (Cortex-M3, the default) and AN505 (Cortex-
 * M33 in the secure state, built with -DFW_MPS2_AN505), and the board-RAM
 * layout the QEMU test harness relies on: it writes the test entropy seed
 * at FW_MPS2_BOARD_RAM + FW_MPS2_SEED_OFF before first boot.
 */
#ifndef FW_MPS2_H
#define FW_MPS2_H

#include <stddef.h>
#include <stdint.h>

#if defined(FW_MPS2_AN505)
#define FW_MPS2_UART0 0x50200000u     /* secure alias of UART0 */
#define FW_MPS2_UART_RX_IRQ 32u
#define FW_MPS2_BOARD_RAM 0x80000000u /* QEMU "mps.ram", file-backed */
#define FW_MPS2_SYSCLK 20000000u
#define FW_MPS2_NAME "mps2-an505 (QEMU, test entropy)"
#else
#define FW_MPS2_UART0 0x40004000u
#define FW_MPS2_UART_RX_IRQ 0u
#define FW_MPS2_BOARD_RAM 0x21000000u
#define FW_MPS2_SYSCLK 25000000u
#define FW_MPS2_NAME "mps2-an385 (QEMU, test entropy)"
#endif

#define FW_MPS2_SEED_OFF 0x40u
#define FW_MPS2_NV_OFF 0x1000u

void fw_mps2_init(void);
int fw_mps2_rx(uint8_t *ret_byte);
void fw_mps2_tx(const uint8_t *p, size_t n);
void fw_mps2_wait(void);

#endif
