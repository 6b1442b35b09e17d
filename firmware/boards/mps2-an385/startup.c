/*
 * startup.c - Cortex-M3 vector table and reset path for the MPS2 AN385
 * port: copy .data, zero .bss, start SysTick, run main. It owns the
 * vector table; it must never touch device state or keys.
 */
#include <stdint.h>

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
const void *const g_vectors[16 + 32] = {
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
    [16 + 0] = (void *)UART0RX_Handler, /* AN385 UART0 RX is IRQ 0 */
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
