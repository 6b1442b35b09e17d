/*
 * fw_board_mps2.c - the MPS2 boards under QEMU (AN385; AN505 with
 * -DFW_MPS2_AN505, addresses in fw_mps2.h): CMSDK UART0 with the RX
 * interrupt into a ring buffer, SysTick 1 ms, NV in the board RAM (QEMU
 * maps it from a host file, so it survives kill -9), and the hardware
 * unique key and a TEST-ONLY entropy seed in that same RAM.
 *
 * QEMU's MPS2 has no TRNG. Entropy here is SHA-256 over a 32-byte seed the
 * test harness writes at FW_MPS2_SEED_OFF, a persisted boot counter and
 * SysTick jitter: fine for CI, worthless for security. INFO reports it
 * (FW_INFO_TEST_ENTROPY) and a release build refuses it at compile time
 * (fw_mbedtls_check.h / fw_board.h). A real board must use its MCU TRNG
 * through fw_board_entropy and a fused HUK. This file must never be built
 * for hardware.
 */
#include "core/fw_board.h"
#include "boards/mps2-an385/fw_mps2.h"

#include <string.h>

#include "core/fw_core.h"
#include "crypto/fw_crypto.h"
#include "fw_proto.h"

#define UART0 FW_MPS2_UART0
#define UART_DATA (*(volatile uint32_t *)(UART0 + 0x00))
#define UART_STATE (*(volatile uint32_t *)(UART0 + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(UART0 + 0x08))
#define UART_INTSTATUS (*(volatile uint32_t *)(UART0 + 0x0C))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0 + 0x10))
#define NVIC_ISER ((volatile uint32_t *)0xE000E100u)
#define SYST ((volatile uint32_t *)0xE000E010u)

#define BOARD_RAM FW_MPS2_BOARD_RAM
#define BOARD_MAGIC 0x44424B48u /* "KHBD" */
#define RX_RING 1024u

struct board_hdr
{
    uint32_t magic;
    uint32_t huk_set;
    uint32_t boots;
    uint32_t pad[5];
    uint8_t huk[FW_AES_KEY_LEN];  /* at 0x20 */
    uint8_t seed[32];             /* at FW_MPS2_SEED_OFF (0x40) */
};

#define HDR ((volatile struct board_hdr *)BOARD_RAM)
#define NV_BASE ((volatile uint8_t *)(BOARD_RAM + FW_MPS2_NV_OFF))

static volatile uint32_t g_ms;
static volatile uint8_t g_rx[RX_RING];
static volatile uint32_t g_rx_head, g_rx_tail;
static uint32_t g_entropy_calls;

void SysTick_Handler(void);
void UART0RX_Handler(void);
void Fault_Handler(void);

void SysTick_Handler(void)
{
    g_ms++;
}

/* Clear the interrupt before draining (a byte arriving in between would
 * otherwise leave RX full with no interrupt pending). */
void UART0RX_Handler(void)
{
    UART_INTSTATUS = 2u;
    while (UART_STATE & 2u) {
        uint8_t b = (uint8_t)UART_DATA;
        uint32_t next = (g_rx_head + 1u) % RX_RING;
        if (next != g_rx_tail) {
            g_rx[g_rx_head] = b;
            g_rx_head = next;
        }
    }
}

void Fault_Handler(void)
{
    fw_panic(-FW_ST_INTERNAL);
}

void fw_mps2_init(void)
{
    SYST[1] = FW_MPS2_SYSCLK / 1000u - 1u;
    SYST[2] = 0;
    SYST[0] = 7u;
    UART_BAUDDIV = 16u;
    UART_CTRL = 1u | 2u | 8u; /* TX, RX, RX interrupt */
    NVIC_ISER[FW_MPS2_UART_RX_IRQ / 32u] = 1u << (FW_MPS2_UART_RX_IRQ % 32u);
    if (HDR->magic != BOARD_MAGIC) {
        HDR->magic = BOARD_MAGIC;
        HDR->huk_set = 0;
        HDR->boots = 0;
    }
    HDR->boots = HDR->boots + 1u;
}

int fw_mps2_rx(uint8_t *ret_byte)
{
    if (g_rx_tail == g_rx_head)
        return 0;
    *ret_byte = g_rx[g_rx_tail];
    g_rx_tail = (g_rx_tail + 1u) % RX_RING;
    return 1;
}

void fw_mps2_tx(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (UART_STATE & 1u) {
        }
        UART_DATA = p[i];
    }
}

/* Sleep until an interrupt, unless a byte is already waiting. */
void fw_mps2_wait(void)
{
    __asm volatile("cpsid i" ::: "memory");
    if (g_rx_tail == g_rx_head)
        __asm volatile("wfi" ::: "memory");
    __asm volatile("cpsie i" ::: "memory");
}

int fw_board_nv_read(uint32_t off, void *buf, size_t len)
{
    if (off > FW_NV_SIZE || len > FW_NV_SIZE - off)
        return -FW_ST_NV;
    memcpy(buf, (const void *)(NV_BASE + off), len);
    return 0;
}

int fw_board_nv_write(uint32_t off, const void *buf, size_t len)
{
    if (off > FW_NV_SIZE || len > FW_NV_SIZE - off)
        return -FW_ST_NV;
    memcpy((void *)(NV_BASE + off), buf, len);
    __asm volatile("dsb" ::: "memory");
    return 0;
}

int fw_board_entropy(void *ctx, unsigned char *out, size_t len, size_t *olen)
{
    size_t done = 0;

    while (done < len) {
        uint8_t blk[FW_HASH_LEN], mix[12];
        fw_put_u32(mix, HDR->boots);
        fw_put_u32(mix + 4, ++g_entropy_calls);
        fw_put_u32(mix + 8, SYST[2] ^ (g_ms << 16));
        struct fw_span parts[3] = {
            {(const uint8_t *)"KH-TEST-ENTROPY", 15},
            {(const uint8_t *)HDR->seed, sizeof(HDR->seed)},
            {mix, sizeof(mix)},
        };
        if (fw_sha256(parts, 3, blk) != 0)
            return -1;
        size_t n = len - done < sizeof(blk) ? len - done : sizeof(blk);
        memcpy(out + done, blk, n);
        done += n;
        fw_wipe(blk, sizeof(blk));
    }
    *olen = len;
    return 0;
}

int fw_board_entropy_is_test(void)
{
    return 1;
}

int fw_board_huk_get(uint8_t huk[FW_AES_KEY_LEN])
{
    if (HDR->huk_set != 1u)
        return -FW_ST_NOKEY;
    memcpy(huk, (const void *)HDR->huk, FW_AES_KEY_LEN);
    return 0;
}

int fw_board_huk_provision(const uint8_t huk[FW_AES_KEY_LEN])
{
    memcpy((void *)HDR->huk, huk, FW_AES_KEY_LEN);
    __asm volatile("dsb" ::: "memory");
    HDR->huk_set = 1u;
    return 0;
}

uint32_t fw_board_ms(void)
{
    return g_ms;
}

/* ms from the tick plus the SysTick count within the ms; the tick is read
 * again so a wrap between the two reads is seen (one retry suffices). */
uint64_t fw_board_ns(void)
{
    const uint32_t reload = FW_MPS2_SYSCLK / 1000u - 1u;
    uint32_t ms, cvr;

    for (int i = 0; i < 2; i++) {
        ms = g_ms;
        cvr = SYST[2];
        if (ms == g_ms)
            break;
    }
    return (uint64_t)ms * 1000000u +
           (uint64_t)(reload - cvr) * (1000000000u / FW_MPS2_SYSCLK);
}

const char *fw_board_name(void)
{
    return FW_MPS2_NAME;
}

void fw_panic(int code)
{
    (void)code;
    __asm volatile("cpsid i" ::: "memory");
    fw_core_wipe();
    for (;;) {
        __asm volatile("wfi");
    }
}
