/* Port for the Cortex-M3 of the MPS2 AN385 under QEMU (-M mps2-an385).
 *
 * Link: CMSDK APB UART0, which QEMU connects to the first -serial. RX by interrupt into a ring, TX by polling.
 * Counter: hil_port_counter() in hil_counter.S (exact instructions from the 25 MHz FPGAIO counter).
 * Reset: SYSRESETREQ, which QEMU turns into a full machine reset (devices and the image reloaded, SRAM kept).
 */
#include "board.h"
#include "hil/hil_config.h"
#include "hil/hil_port.h"
#include "hil/hil_proto.h"

extern uint32_t _sstack, _estack, hil_ram_budget, hil_flash_budget;

#if (HIL_RX_BUFFER_BYTES & (HIL_RX_BUFFER_BYTES - 1)) != 0
#error "HIL_RX_BUFFER_BYTES must be a power of two"
#endif

/* Written by the interrupt (head) and by the frame loop (tail); each index has one writer. */
static uint8_t hil_rx_ring[HIL_RX_BUFFER_BYTES];
static volatile uint32_t hil_rx_head;
static volatile uint32_t hil_rx_tail;

/* The RX interrupt stays raised until INTCLEAR is written, and a byte may arrive while the handler runs. Clear
 * first, then drain: a byte that lands after the clear raises it again, so none is left sitting in the holding
 * register with the interrupt already cleared (the UART has no FIFO: QEMU then holds back every later byte). */
void UART0RX_IRQHandler(void)
{
    HIL_UART_INTCLEAR = HIL_UART_INT_RX;
    while ((HIL_UART_STATE & HIL_UART_STATE_RXFULL) != 0u) {
        const uint8_t b = (uint8_t)HIL_UART_DATA;
        const uint32_t head = hil_rx_head;
        /* a full ring drops the byte: that frame then fails its CRC, is NAKed and sent again */
        if (head - hil_rx_tail < HIL_RX_BUFFER_BYTES) {
            hil_rx_ring[head & (HIL_RX_BUFFER_BYTES - 1u)] = b;
            hil_rx_head = head + 1u;
        }
    }
    /* An overrun (real hardware only: QEMU never offers a byte while one is held) latches until cleared. */
    if ((HIL_UART_STATE & HIL_UART_STATE_RXOVR) != 0u) {
        HIL_UART_STATE = HIL_UART_STATE_RXOVR;
    }
}

void hil_port_init(void)
{
    /* 115200 Bd from the 25 MHz SYSCLK; QEMU ignores the rate but ignores a divider below 16 as unprogrammed. */
    HIL_UART_BAUDDIV = HIL_SYSCLK_HZ / 115200u;
    HIL_UART_CTRL = HIL_UART_CTRL_TXEN | HIL_UART_CTRL_RXEN | HIL_UART_CTRL_RXINTEN;
    HIL_NVIC_ISER(HIL_UART0_RX_IRQ / 32u) = 1u << (HIL_UART0_RX_IRQ % 32u);
    /* The counter needs no set-up: FPGAIO COUNTER and CLK100HZ run from reset (PRESCALE resets to 0). */
    __asm volatile("cpsie i" ::: "memory");
}

size_t hil_port_read(uint8_t *dst, size_t max)
{
    const uint32_t head = hil_rx_head;
    uint32_t tail = hil_rx_tail;
    size_t n = 0;
    while (tail != head && n < max) {
        dst[n++] = hil_rx_ring[tail & (HIL_RX_BUFFER_BYTES - 1u)];
        tail++;
    }
    hil_rx_tail = tail;
    return n;
}

void hil_port_write(const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while ((HIL_UART_STATE & HIL_UART_STATE_TXFULL) != 0u) {
        }
        HIL_UART_DATA = src[i];
    }
}

void hil_port_idle(void)
{
    /* Interrupts off between the check and WFI, so a byte arriving in between still wakes the core (a pending
     * interrupt ends WFI even when masked) instead of sleeping on it. */
    __asm volatile("cpsid i" ::: "memory");
    if (hil_rx_head == hil_rx_tail) {
        __asm volatile("dsb\n wfi" ::: "memory");
    }
    __asm volatile("cpsie i" ::: "memory");
}

void hil_port_reboot(void)
{
    /* Let the answer leave before the reset cuts it. TXFULL clears when QEMU has handed the byte to the socket;
     * a real CMSDK UART would still be shifting it out, so a port for hardware waits one character time more. */
    while ((HIL_UART_STATE & HIL_UART_STATE_TXFULL) != 0u) {
    }
    __asm volatile("dsb" ::: "memory");
    HIL_SCB_AIRCR = HIL_AIRCR_SYSRESETREQ;
    __asm volatile("dsb" ::: "memory");
    for (;;) {
    }
}

static uint32_t hil_stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == HIL_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

void hil_port_facts(hil_port_facts_t *facts)
{
    facts->ram_bytes = (uint32_t)(uintptr_t)&hil_ram_budget;
    facts->flash_bytes = (uint32_t)(uintptr_t)&hil_flash_budget;
    facts->stack_bytes = (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
    facts->stack_high_water = hil_stack_high_water();
    facts->counter_hz = 1000000000u;
    facts->counter_kind = HIL_COUNTER_INSTRUCTIONS;
    facts->board_name = "qemu_mps2_an385";
    facts->cpu_name = "cortex-m3";
}

static void hil_fault_puts(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    hil_port_write((const uint8_t *)s, n);
}

static void hil_fault_hex(uint32_t v)
{
    char buf[9];
    for (int i = 7; i >= 0; i--) {
        buf[i] = "0123456789abcdef"[v & 0xFu];
        v >>= 4;
    }
    buf[8] = '\0';
    hil_fault_puts(buf);
}

/* frame = the exception stack frame: r0 r1 r2 r3 r12 lr pc xpsr */
void hil_fault_report(const uint32_t *frame);
void hil_fault_report(const uint32_t *frame)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    /* The 0x00 ends any frame the fault cut short, so the host's reader sees the marker as a line of its own. */
    const uint8_t delimiter = HIL_FRAME_DELIMITER;
    hil_port_write(&delimiter, 1u);
    hil_fault_puts("HIL-FAULT exception=");
    hil_fault_hex(ipsr & 0x1FFu);
    hil_fault_puts(" pc=");
    hil_fault_hex(frame[6]);
    hil_fault_puts(" lr=");
    hil_fault_hex(frame[5]);
    hil_fault_puts("\r\n");
    hil_port_reboot();
}

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm volatile("tst   lr, #4        \n"
                   "ite   eq            \n"
                   "mrseq r0, msp       \n"
                   "mrsne r0, psp       \n"
                   "b     hil_fault_report\n");
}
