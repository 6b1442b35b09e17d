/*
 * main.c - the MPS2 (AN385, AN505) firmware main loop: boot the core, then
 * move bytes from the UART ring into fw_core_rx and replies back out, sleeping
 * in WFI between interrupts. A partial frame is dropped after
 * FW_RX_IDLE_MS of silence. It must never parse frames itself.
 */
#include "boards/mps2-an385/fw_mps2.h"
#include "core/fw_board.h"
#include "core/fw_core.h"

static uint8_t g_out[FW_MAX_FRAME];

int main(void)
{
    uint32_t last_rx = 0;
    int pending = 0;

    fw_mps2_init();
    if (fw_core_boot() != 0)
        fw_panic(-FW_ST_INTERNAL);
    for (;;) {
        uint8_t b;
        while (fw_mps2_rx(&b)) {
            size_t len = fw_core_rx(b, g_out, sizeof(g_out));
            if (len > 0)
                fw_mps2_tx(g_out, len);
            last_rx = fw_board_ms();
            pending = 1;
        }
        if (pending && fw_board_ms() - last_rx > FW_RX_IDLE_MS) {
            fw_core_rx_idle();
            pending = 0;
        }
        fw_mps2_wait();
    }
}
