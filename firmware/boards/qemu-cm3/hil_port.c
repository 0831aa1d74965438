/* Port for the Cortex-M3 of the MPS2 AN385 under QEMU (-M mps2-an385).
 *
 * Link: CMSDK APB UART0, which QEMU connects to the first -serial. RX by interrupt into the common ring
 * (cortex_m.h), TX by polling.
 * Counter: hil_port_counter() in hil_counter.S (exact instructions from the 25 MHz FPGAIO counter).
 * Reset: SYSRESETREQ, which QEMU turns into a full machine reset (devices and the image reloaded, SRAM kept).
 */
#include "board.h"

/* The RX interrupt stays raised until INTCLEAR is written, and a byte may arrive while the handler runs. Clear
 * first, then drain: a byte that lands after the clear raises it again, so none is left sitting in the holding
 * register with the interrupt already cleared (the UART has no FIFO: QEMU then holds back every later byte). */
void UART0RX_IRQHandler(void)
{
    HIL_UART_INTCLEAR = HIL_UART_INT_RX;
    while ((HIL_UART_STATE & HIL_UART_STATE_RXFULL) != 0u) {
        CM_RX_RING_PUSH((uint8_t)HIL_UART_DATA);
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
    cm_nvic_enable(HIL_UART0_RX_IRQ);
    /* The counter needs no set-up: FPGAIO COUNTER and CLK100HZ run from reset (PRESCALE resets to 0). */
    __asm volatile("cpsie i" ::: "memory");
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
    cm_idle_until_rx();
}

void hil_port_reboot(void)
{
    /* Let the answer leave before the reset cuts it. TXFULL clears when QEMU has handed the byte to the socket;
     * a real CMSDK UART would still be shifting it out, so a port for hardware waits one character time more. */
    while ((HIL_UART_STATE & HIL_UART_STATE_TXFULL) != 0u) {
    }
    cm_system_reset();
}
