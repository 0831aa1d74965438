/* Register facts of the MPS2 with the AN385 FPGA image (Cortex-M3, ARM DAI0385) as QEMU's mps2-an385 models it,
 * and the Cortex-M3 system block. Only the registers this port touches. */
#ifndef HIL_BOARD_H
#define HIL_BOARD_H

#include <stdint.h>

#define HIL_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Cortex-M3 system control */
#define HIL_SCB_VTOR HIL_REG(0xE000ED08u)
#define HIL_SCB_AIRCR HIL_REG(0xE000ED0Cu)
#define HIL_AIRCR_SYSRESETREQ (0x05FA0000u | (1u << 2))
#define HIL_NVIC_ISER(n) HIL_REG(0xE000E100u + 4u * (n))

/* CMSDK APB UART0 (the first -serial of QEMU's mps2-an385): one-byte holding registers, no FIFO */
#define HIL_UART0_BASE 0x40004000u
#define HIL_UART_DATA HIL_REG(HIL_UART0_BASE + 0x00u)
#define HIL_UART_STATE HIL_REG(HIL_UART0_BASE + 0x04u)
#define HIL_UART_CTRL HIL_REG(HIL_UART0_BASE + 0x08u)
#define HIL_UART_INTCLEAR HIL_REG(HIL_UART0_BASE + 0x0Cu) /* INTSTATUS on read, write 1 to clear */
#define HIL_UART_BAUDDIV HIL_REG(HIL_UART0_BASE + 0x10u)
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

#define HIL_STACK_PAINT 0xC5C5C5C5u

void HardFault_Handler(void);
void UART0RX_IRQHandler(void);

#endif /* HIL_BOARD_H */
