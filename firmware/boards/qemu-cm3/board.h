/* Register facts of the MPS2 with the AN385 FPGA image (Cortex-M3, ARM DAI0385) as QEMU's mps2-an385 models it.
 * Only the registers this port touches; the Cortex-M3 system block is in cortex_m.h. */
#ifndef HIL_BOARD_H
#define HIL_BOARD_H

#include "cortex_m.h"
#include "hil/hil_proto.h"

/* What HELLO reports (hil_port_facts() in cm_port.c): exact instructions under QEMU -icount shift=0, recovered from
 * the 25 MHz FPGAIO counter (hil_counter.S). */
#define CM_CPU_NAME "cortex-m3"
#define CM_COUNTER_HZ 1000000000u
#define CM_COUNTER_KIND HIL_COUNTER_INSTRUCTIONS

/* CMSDK APB UART0 (the first -serial of QEMU's mps2-an385): one-byte holding registers, no FIFO */
#define HIL_UART0_BASE 0x40004000u
#define HIL_UART_DATA CM_REG(HIL_UART0_BASE + 0x00u)
#define HIL_UART_STATE CM_REG(HIL_UART0_BASE + 0x04u)
#define HIL_UART_CTRL CM_REG(HIL_UART0_BASE + 0x08u)
#define HIL_UART_INTCLEAR CM_REG(HIL_UART0_BASE + 0x0Cu) /* INTSTATUS on read, write 1 to clear */
#define HIL_UART_BAUDDIV CM_REG(HIL_UART0_BASE + 0x10u)
#define HIL_UART_STATE_TXFULL (1u << 0)
#define HIL_UART_STATE_RXFULL (1u << 1)
#define HIL_UART_STATE_RXOVR (1u << 3)
#define HIL_UART_CTRL_TXEN (1u << 0)
#define HIL_UART_CTRL_RXEN (1u << 1)
#define HIL_UART_CTRL_RXINTEN (1u << 3)
#define HIL_UART_INT_RX (1u << 1)
#define HIL_UART0_RX_IRQ 0u /* AN385: UART0 RX = IRQ 0, TX = IRQ 1 */

/* SYSCLK of the AN385 image: UART baud divider and every timer run from it */
#define HIL_SYSCLK_HZ 25000000u

void UART0RX_IRQHandler(void);

#endif /* HIL_BOARD_H */
