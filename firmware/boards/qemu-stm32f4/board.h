/* Register facts of the STM32F4 (RM0090 / RM0368) used by this board. Only the registers this port touches; the
 * values also hold on a real STM32F401/F405. The Cortex-M4 system block is in cortex_m.h. */
#ifndef HIL_BOARD_H
#define HIL_BOARD_H

#include "cortex_m.h"
#include "hil/hil_proto.h"

/* What HELLO reports (hil_port_facts() in cm_port.c): TIM2 counts one tick per instruction under QEMU -icount
 * shift=0 (hil_port_counter() in hil_port.c). */
#define CM_CPU_NAME "cortex-m4f"
#define CM_COUNTER_HZ 1000000000u
#define CM_COUNTER_KIND HIL_COUNTER_INSTRUCTIONS

/* RCC clock enables */
#define HIL_RCC_AHB1ENR CM_REG(0x40023830u)
#define HIL_RCC_APB1ENR CM_REG(0x40023840u)
#define HIL_RCC_APB2ENR CM_REG(0x40023844u)
#define HIL_RCC_AHB1ENR_GPIOAEN (1u << 0)
#define HIL_RCC_APB1ENR_TIM2EN (1u << 0)
#define HIL_RCC_APB1ENR_TIM5EN (1u << 3)
#define HIL_RCC_APB2ENR_USART1EN (1u << 4)
#define HIL_RCC_APB1ENR_USART2EN (1u << 17)

/* GPIOA: USART1 TX on PA9, RX on PA10 (USART2: PA2, PA3), alternate function 7 */
#define HIL_GPIOA_MODER CM_REG(0x40020000u)
#define HIL_GPIOA_AFRL CM_REG(0x40020020u)
#define HIL_GPIOA_AFRH CM_REG(0x40020024u)

/* USART1 (the first -serial of QEMU's stm32f405): the host link */
#define HIL_USART1_BASE 0x40011000u
#define HIL_USART_SR CM_REG(HIL_USART1_BASE + 0x00u)
#define HIL_USART_DR CM_REG(HIL_USART1_BASE + 0x04u)
#define HIL_USART_BRR CM_REG(HIL_USART1_BASE + 0x08u)
#define HIL_USART_CR1 CM_REG(HIL_USART1_BASE + 0x0Cu)
/* USART2 (the second -serial; PA2 TX, PA3 RX, AF7): the peer link of HIL_PEER_LINK builds */
#define HIL_USART2_BASE 0x40004400u
#define HIL_USART2_SR CM_REG(HIL_USART2_BASE + 0x00u)
#define HIL_USART2_DR CM_REG(HIL_USART2_BASE + 0x04u)
#define HIL_USART2_BRR CM_REG(HIL_USART2_BASE + 0x08u)
#define HIL_USART2_CR1 CM_REG(HIL_USART2_BASE + 0x0Cu)
#define HIL_USART2_IRQ 38u
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
#define HIL_TIM_CR1(base) CM_REG((base) + 0x00u)
#define HIL_TIM_EGR(base) CM_REG((base) + 0x14u)
#define HIL_TIM_CNT(base) CM_REG((base) + 0x24u)
#define HIL_TIM_PSC(base) CM_REG((base) + 0x28u)
#define HIL_TIM_ARR(base) CM_REG((base) + 0x2Cu)

/* SysTick: in peer-link builds, a one-shot wake-up for hil_port_peer_idle() */
#define HIL_SYST_CSR CM_REG(0xE000E010u)
#define HIL_SYST_RVR CM_REG(0xE000E014u)
#define HIL_SYST_CVR CM_REG(0xE000E018u)
#define HIL_SYST_CSR_ENABLE_TICKINT_CPU 7u /* enable, interrupt, core clock */
#define HIL_SYSTICK_HZ 168000000u          /* the core clock QEMU's netduinoplus2 gives SysTick */

void USART1_IRQHandler(void);
#if HIL_PEER_LINK
void USART2_IRQHandler(void);
void SysTick_Handler(void);
#define USART2_IRQ_ENTRY USART2_IRQHandler
#define HIL_SYSTICK_ENTRY SysTick_Handler
#else
#define USART2_IRQ_ENTRY Default_Handler
#define HIL_SYSTICK_ENTRY Default_Handler
#endif

#endif /* HIL_BOARD_H */
