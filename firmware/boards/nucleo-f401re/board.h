/* Register facts of the STM32F401RE (RM0368) that this port touches, and its clock plan. The Cortex-M4 system block
 * is in cortex_m.h. */
#ifndef HIL_BOARD_H
#define HIL_BOARD_H

#include "cortex_m.h"
#include "hil/hil_proto.h"

/* ---- clock plan (RM0368 "Reset and clock control") -------------------------------------------------------------
 * The ST-LINK on the Nucleo drives its 8 MHz MCO into OSC_IN: HSE in bypass mode. PLL: VCO in = 8 MHz / M = 1 MHz
 * (the manual's 1..2 MHz, 2 MHz recommended for jitter; 1 MHz is what gives 48 MHz to USB), VCO out = 1 MHz * N =
 * 336 MHz (192..432 MHz), SYSCLK = VCO / P = 84 MHz (the part's maximum), USB/SDIO = VCO / Q = 48 MHz. AHB /1,
 * APB1 /2 = 42 MHz (its maximum), APB2 /1 = 84 MHz. Should HSE never become ready (a board whose solder bridges
 * route no MCO), the same VCO is made from the 16 MHz HSI with M = 16: the same 84 MHz, less accurate (HSI is
 * +-1 % at 25 C), which HELLO's cpu string says. */
/* Defaults: a board with another crystal or clock overrides them (HIL_C_DEFINES); the assertions below hold it to
 * the part's limits. */
#ifndef NUCLEO_HSE_HZ
#define NUCLEO_HSE_HZ 8000000u
#endif
#ifndef NUCLEO_PLL_M_HSE
#define NUCLEO_PLL_M_HSE 8u
#endif
#ifndef NUCLEO_PLL_N
#define NUCLEO_PLL_N 336u
#endif
#ifndef NUCLEO_PLL_P
#define NUCLEO_PLL_P 4u
#endif
#ifndef NUCLEO_PLL_Q
#define NUCLEO_PLL_Q 7u
#endif
#define NUCLEO_HSI_HZ 16000000u
#define NUCLEO_PLL_M_HSI 16u
#define NUCLEO_VCO_IN_HZ (NUCLEO_HSE_HZ / NUCLEO_PLL_M_HSE)
#define NUCLEO_VCO_OUT_HZ (NUCLEO_VCO_IN_HZ * NUCLEO_PLL_N)
#define NUCLEO_SYSCLK_HZ (NUCLEO_VCO_OUT_HZ / NUCLEO_PLL_P)
#define NUCLEO_USB_HZ (NUCLEO_VCO_OUT_HZ / NUCLEO_PLL_Q)
#define NUCLEO_APB1_DIV 2u
#define NUCLEO_APB1_HZ (NUCLEO_SYSCLK_HZ / NUCLEO_APB1_DIV)
/* Flash wait states for 64 < HCLK <= 84 MHz at 2.7..3.6 V (RM0368 "Relation between CPU clock frequency and flash
 * memory read time"); the Nucleo's MCU runs at 3.3 V. Out of reset the regulator is in scale 2, which allows 84 MHz:
 * no PWR write is needed. */
#define NUCLEO_FLASH_LATENCY 2u

_Static_assert(NUCLEO_HSI_HZ / NUCLEO_PLL_M_HSI == NUCLEO_VCO_IN_HZ, "the HSI fallback must give the same VCO input");
_Static_assert(NUCLEO_VCO_IN_HZ >= 1000000u && NUCLEO_VCO_IN_HZ <= 2000000u, "PLL VCO input outside 1..2 MHz");
_Static_assert(NUCLEO_VCO_OUT_HZ >= 192000000u && NUCLEO_VCO_OUT_HZ <= 432000000u, "PLL VCO output outside 192..432");
_Static_assert(NUCLEO_SYSCLK_HZ <= 84000000u, "SYSCLK above the STM32F401's 84 MHz");
_Static_assert(NUCLEO_APB1_HZ <= 42000000u, "APB1 above its 42 MHz");
_Static_assert(NUCLEO_USB_HZ == 48000000u, "USB OTG FS needs 48 MHz");

/* The link: 115200 Bd (lab.toml's default baud) from APB1, oversampling by 16, rounded to the nearest divider:
 * 42 MHz / 365 = 115068 Bd, -0.11 %. */
#define NUCLEO_BAUD 115200u
#define NUCLEO_BRR_FOR(apb1_hz) (((apb1_hz) + NUCLEO_BAUD / 2u) / NUCLEO_BAUD)

/* What HELLO reports (hil_port_facts() in cm_port.c): DWT CYCCNT counts core clock cycles. Both are set by
 * nucleo_clock_init(): the clock that was reached, and the source it came from. */
extern uint32_t nucleo_sysclk_hz;
extern const char *nucleo_cpu_name;
#define CM_CPU_NAME nucleo_cpu_name
#define CM_COUNTER_HZ nucleo_sysclk_hz
#define CM_COUNTER_KIND HIL_COUNTER_CPU_CYCLES

/* clock.c: HSE bypass (or the HSI fallback) -> PLL -> 84 MHz, flash wait states, bus prescalers. Returns the APB1
 * clock the UART divides. */
uint32_t nucleo_clock_init(void);

/* RCC */
#define NUCLEO_RCC_CR CM_REG(0x40023800u)
#define NUCLEO_RCC_PLLCFGR CM_REG(0x40023804u)
#define NUCLEO_RCC_CFGR CM_REG(0x40023808u)
#define NUCLEO_RCC_AHB1ENR CM_REG(0x40023830u)
#define NUCLEO_RCC_APB1ENR CM_REG(0x40023840u)
#define NUCLEO_RCC_CR_HSIRDY (1u << 1)
#define NUCLEO_RCC_CR_HSEON (1u << 16)
#define NUCLEO_RCC_CR_HSERDY (1u << 17)
#define NUCLEO_RCC_CR_HSEBYP (1u << 18)
#define NUCLEO_RCC_CR_PLLON (1u << 24)
#define NUCLEO_RCC_CR_PLLRDY (1u << 25)
#define NUCLEO_RCC_PLLCFGR_N_POS 6u
#define NUCLEO_RCC_PLLCFGR_P_POS 16u /* 00: /2, 01: /4, 10: /6, 11: /8 */
#define NUCLEO_RCC_PLLCFGR_SRC_HSE (1u << 22)
#define NUCLEO_RCC_PLLCFGR_Q_POS 24u
#define NUCLEO_RCC_CFGR_SW_PLL 2u
#define NUCLEO_RCC_CFGR_SWS_MASK (3u << 2)
#define NUCLEO_RCC_CFGR_SWS_PLL (2u << 2)
#define NUCLEO_RCC_CFGR_PPRE1_DIV2 (4u << 10)
#define NUCLEO_RCC_AHB1ENR_GPIOAEN (1u << 0)
#define NUCLEO_RCC_APB1ENR_USART2EN (1u << 17)

/* Flash interface: wait states, prefetch, instruction and data caches */
#define NUCLEO_FLASH_ACR CM_REG(0x40023C00u)
#define NUCLEO_FLASH_ACR_LATENCY_MASK 0xFu
#define NUCLEO_FLASH_ACR_PRFTEN (1u << 8)
#define NUCLEO_FLASH_ACR_ICEN (1u << 9)
#define NUCLEO_FLASH_ACR_DCEN (1u << 10)

/* GPIOA: USART2 TX on PA2, RX on PA3, alternate function 7; the ST-LINK V2-1 bridges them to its virtual COM port */
#define NUCLEO_GPIOA_MODER CM_REG(0x40020000u)
#define NUCLEO_GPIOA_AFRL CM_REG(0x40020020u)

/* USART2 (APB1) */
#define NUCLEO_USART2_BASE 0x40004400u
#define NUCLEO_USART_SR CM_REG(NUCLEO_USART2_BASE + 0x00u)
#define NUCLEO_USART_DR CM_REG(NUCLEO_USART2_BASE + 0x04u)
#define NUCLEO_USART_BRR CM_REG(NUCLEO_USART2_BASE + 0x08u)
#define NUCLEO_USART_CR1 CM_REG(NUCLEO_USART2_BASE + 0x0Cu)
#define NUCLEO_USART_SR_ORE (1u << 3)
#define NUCLEO_USART_SR_RXNE (1u << 5)
#define NUCLEO_USART_SR_TC (1u << 6)
#define NUCLEO_USART_SR_TXE (1u << 7)
#define NUCLEO_USART_CR1_RE (1u << 2)
#define NUCLEO_USART_CR1_TE (1u << 3)
#define NUCLEO_USART_CR1_RXNEIE (1u << 5)
#define NUCLEO_USART_CR1_UE (1u << 13)
#define NUCLEO_USART2_IRQ 38u
#define NUCLEO_IRQ_COUNT 85u /* IRQ 0..84 (SPI4 last) */

/* Cycle counter (ARMv7-M debug): DEMCR.TRCENA powers the DWT, DWT_CTRL.CYCCNTENA starts CYCCNT */
#define NUCLEO_DEMCR CM_REG(0xE000EDFCu)
#define NUCLEO_DEMCR_TRCENA (1u << 24)
#define NUCLEO_DWT_CTRL CM_REG(0xE0001000u)
#define NUCLEO_DWT_CYCCNT CM_REG(0xE0001004u)
#define NUCLEO_DWT_CTRL_CYCCNTENA (1u << 0)

/* SysTick: its interrupt keeps the 64-bit extension of CYCCNT current (hil_port.c) */
#define NUCLEO_SYST_CSR CM_REG(0xE000E010u)
#define NUCLEO_SYST_RVR CM_REG(0xE000E014u)
#define NUCLEO_SYST_CVR CM_REG(0xE000E018u)
#define NUCLEO_SYST_CSR_ENABLE (1u << 0)
#define NUCLEO_SYST_CSR_TICKINT (1u << 1)
#define NUCLEO_SYST_CSR_CLKSOURCE_CPU (1u << 2)

void USART2_IRQHandler(void);
void SysTick_Handler(void);

#endif /* HIL_BOARD_H */
