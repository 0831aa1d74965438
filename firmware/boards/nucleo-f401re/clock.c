/* The clock tree of the NUCLEO-F401RE: the plan and its arithmetic are in board.h. */
#include "board.h"

/* Polls of a ready flag before giving up on it. HSE in bypass is ready within a few clocks of HSEON when the MCO
 * runs; PLL lock takes ~100 us. At the 16 MHz HSI the CPU runs on out of reset, 200000 polls of a volatile register
 * are more than 50 ms: long enough for both, short enough that a board without MCO boots at once. */
#define NUCLEO_READY_POLLS 200000u

uint32_t nucleo_sysclk_hz = NUCLEO_HSI_HZ; /* what CYCCNT counts until the PLL runs */
const char *nucleo_cpu_name = "cortex-m4f stm32f401re hsi-16MHz";

static int nucleo_wait(uint32_t mask)
{
    for (uint32_t i = 0; i < NUCLEO_READY_POLLS; i++) {
        if ((NUCLEO_RCC_CR & mask) != 0u) {
            return 1;
        }
    }
    return 0;
}

uint32_t nucleo_clock_init(void)
{
    /* HSEBYP may only be written while HSE is off: set it first, then HSEON. */
    NUCLEO_RCC_CR |= NUCLEO_RCC_CR_HSEBYP;
    NUCLEO_RCC_CR |= NUCLEO_RCC_CR_HSEON;
    const int hse = nucleo_wait(NUCLEO_RCC_CR_HSERDY);
    if (!hse) { /* and in the reverse order: a write of HSEBYP is ignored while HSEON is set */
        NUCLEO_RCC_CR &= ~NUCLEO_RCC_CR_HSEON;
        NUCLEO_RCC_CR &= ~NUCLEO_RCC_CR_HSEBYP;
    }

    NUCLEO_RCC_PLLCFGR = (hse ? NUCLEO_PLL_M_HSE : NUCLEO_PLL_M_HSI) | (NUCLEO_PLL_N << NUCLEO_RCC_PLLCFGR_N_POS) |
                         ((NUCLEO_PLL_P / 2u - 1u) << NUCLEO_RCC_PLLCFGR_P_POS) |
                         (hse ? NUCLEO_RCC_PLLCFGR_SRC_HSE : 0u) | (NUCLEO_PLL_Q << NUCLEO_RCC_PLLCFGR_Q_POS);
    NUCLEO_RCC_CR |= NUCLEO_RCC_CR_PLLON;
    if (!nucleo_wait(NUCLEO_RCC_CR_PLLRDY)) {
        NUCLEO_RCC_CR &= ~NUCLEO_RCC_CR_PLLON;
        return NUCLEO_HSI_HZ; /* stay on the HSI: slower, but the link and the counter stay right */
    }

    /* More wait states before a faster clock, and read back: the new latency must be in effect first. */
    NUCLEO_FLASH_ACR = NUCLEO_FLASH_LATENCY | NUCLEO_FLASH_ACR_PRFTEN | NUCLEO_FLASH_ACR_ICEN | NUCLEO_FLASH_ACR_DCEN;
    while ((NUCLEO_FLASH_ACR & NUCLEO_FLASH_ACR_LATENCY_MASK) != NUCLEO_FLASH_LATENCY) {
    }
    NUCLEO_RCC_CFGR = NUCLEO_RCC_CFGR_PPRE1_DIV2 | NUCLEO_RCC_CFGR_SW_PLL; /* AHB and APB2 /1 */
    while ((NUCLEO_RCC_CFGR & NUCLEO_RCC_CFGR_SWS_MASK) != NUCLEO_RCC_CFGR_SWS_PLL) {
    }
    nucleo_sysclk_hz = NUCLEO_SYSCLK_HZ;
    nucleo_cpu_name = hse ? "cortex-m4f stm32f401re hse-bypass-84MHz" : "cortex-m4f stm32f401re hsi-pll-84MHz";
    return NUCLEO_APB1_HZ;
}
