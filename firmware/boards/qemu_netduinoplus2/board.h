/* Register facts of the STM32F4 (RM0090 / RM0368) and the Cortex-M4 system block used by this board. Only the
 * registers this port touches; the values also hold on a real STM32F401/F405. */
#ifndef HIL_BOARD_H
#define HIL_BOARD_H

#include <stdint.h>

#define HIL_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Cortex-M4 system control */
#define HIL_SCB_VTOR HIL_REG(0xE000ED08u)
#define HIL_SCB_AIRCR HIL_REG(0xE000ED0Cu)
#define HIL_AIRCR_SYSRESETREQ (0x05FA0000u | (1u << 2))
#define HIL_NVIC_ISER(n) HIL_REG(0xE000E100u + 4u * (n))
#define HIL_SYST_CSR HIL_REG(0xE000E010u)
#define HIL_SYST_RVR HIL_REG(0xE000E014u)
#define HIL_SYST_CVR HIL_REG(0xE000E018u)

/* RCC clock enables */
#define HIL_RCC_AHB1ENR HIL_REG(0x40023830u)
#define HIL_RCC_APB1ENR HIL_REG(0x40023840u)
#define HIL_RCC_APB2ENR HIL_REG(0x40023844u)
#define HIL_RCC_AHB1ENR_GPIOAEN (1u << 0)
#define HIL_RCC_APB1ENR_TIM2EN (1u << 0)
#define HIL_RCC_APB1ENR_TIM5EN (1u << 3)
#define HIL_RCC_APB2ENR_USART1EN (1u << 4)

/* GPIOA: USART1 TX on PA9, RX on PA10, alternate function 7 */
#define HIL_GPIOA_MODER HIL_REG(0x40020000u)
#define HIL_GPIOA_AFRH HIL_REG(0x40020024u)

/* USART1 (the first -serial of QEMU's stm32f405) */
#define HIL_USART1_BASE 0x40011000u
#define HIL_USART_SR HIL_REG(HIL_USART1_BASE + 0x00u)
#define HIL_USART_DR HIL_REG(HIL_USART1_BASE + 0x04u)
#define HIL_USART_BRR HIL_REG(HIL_USART1_BASE + 0x08u)
#define HIL_USART_CR1 HIL_REG(HIL_USART1_BASE + 0x0Cu)
#define HIL_USART_SR_RXNE (1u << 5)
#define HIL_USART_SR_TC (1u << 6)
#define HIL_USART_SR_TXE (1u << 7)
#define HIL_USART_CR1_RE (1u << 2)
#define HIL_USART_CR1_TE (1u << 3)
#define HIL_USART_CR1_RXNEIE (1u << 5)
#define HIL_USART_CR1_UE (1u << 13)
#define HIL_USART1_IRQ 37u

/* General-purpose timers TIM2 and TIM5 (32-bit on the F4) */
#define HIL_TIM2_BASE 0x40000000u
#define HIL_TIM5_BASE 0x40000C00u
#define HIL_TIM_CR1(base) HIL_REG((base) + 0x00u)
#define HIL_TIM_EGR(base) HIL_REG((base) + 0x14u)
#define HIL_TIM_CNT(base) HIL_REG((base) + 0x24u)
#define HIL_TIM_PSC(base) HIL_REG((base) + 0x28u)
#define HIL_TIM_ARR(base) HIL_REG((base) + 0x2Cu)

#define HIL_STACK_PAINT 0xC5C5C5C5u

void HardFault_Handler(void);
void USART1_IRQHandler(void);

#endif /* HIL_BOARD_H */
