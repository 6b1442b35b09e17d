/*
 * startup.c - vector table and reset path of the MPS2 ports (Cortex-M3
 * AN385; Cortex-M33 AN505, whose table QEMU finds at VTOR_S): copy
 * .data, zero .bss, run main (fw_mps2_init starts SysTick and the UART
 * IRQ). It owns the vector table; it must never touch device state or
 * keys.
 */
#include <stdint.h>

#include "boards/mps2-an385/fw_mps2.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start,
    __bss_end, __stack_top;

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);
void UART0RX_Handler(void);

void Default_Handler(void)
{
    for (;;) {
    }
}

__attribute__((section(".vectors"), used))
const void *const g_vectors[16 + 64] = {
    &__stack_top,
    (void *)Reset_Handler,
    (void *)Default_Handler, /* NMI */
    (void *)Fault_Handler,   /* HardFault */
    (void *)Fault_Handler,   /* MemManage */
    (void *)Fault_Handler,   /* BusFault */
    (void *)Fault_Handler,   /* UsageFault */
    0, 0, 0, 0,
    (void *)Default_Handler, /* SVC */
    (void *)Default_Handler, /* DebugMon */
    0,
    (void *)Default_Handler, /* PendSV */
    (void *)SysTick_Handler,
    /* UART0 RX: IRQ 0 on AN385, 32 on AN505 */
    [16 + FW_MPS2_UART_RX_IRQ] = (void *)UART0RX_Handler,
};

void Reset_Handler(void)
{
    uint32_t *s = &__data_load, *d = &__data_start;

    while (d < &__data_end)
        *d++ = *s++;
    for (d = &__bss_start; d < &__bss_end;)
        *d++ = 0;
    main();
    for (;;) {
    }
}
