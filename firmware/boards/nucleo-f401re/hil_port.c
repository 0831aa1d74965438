/* Port for the NUCLEO-F401RE (STM32F401RE), register-level.
 *
 * Link: USART2 (PA2/PA3), the ST-LINK's virtual COM port. RX by interrupt into the common ring (cortex_m.h), TX by
 * polling. Counter: DWT CYCCNT, core clock cycles at nucleo_sysclk_hz (HIL_COUNTER_CPU_CYCLES). Reset: SYSRESETREQ.
 */
#include "board.h"

void USART2_IRQHandler(void)
{
    /* RXNEIE also fires on an overrun; reading SR then DR clears ORE (and noise/framing flags) as well as RXNE, so the
     * interrupt cannot stay pending. A byte lost to an overrun fails its frame's CRC: NAKed, sent again. */
    uint32_t sr = NUCLEO_USART_SR;
    while ((sr & (NUCLEO_USART_SR_RXNE | NUCLEO_USART_SR_ORE)) != 0u) {
        const uint8_t byte = (uint8_t)NUCLEO_USART_DR;
        if ((sr & NUCLEO_USART_SR_RXNE) != 0u) {
            CM_RX_RING_PUSH(byte);
        }
        sr = NUCLEO_USART_SR;
    }
}

/* CYCCNT is 32 bits: it wraps every 51 s at 84 MHz, and a training run outlasts that. hil_port_counter() extends it to
 * 64 bits by counting wraps, and SysTick calls it every 2^24 cycles (0.2 s) so no wrap goes unseen while INFER keeps
 * the frame loop busy. The interrupt costs a few dozen cycles per 16.7 million: 2 ppm of any measurement. */
static uint32_t nucleo_cycles_last;
static uint32_t nucleo_cycles_wraps;

uint64_t hil_port_counter(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    const uint32_t now = NUCLEO_DWT_CYCCNT;
    if (now < nucleo_cycles_last) {
        nucleo_cycles_wraps++;
    }
    nucleo_cycles_last = now;
    const uint64_t cycles = ((uint64_t)nucleo_cycles_wraps << 32) | now;
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
    return cycles;
}

void SysTick_Handler(void)
{
    (void)hil_port_counter();
}

static void nucleo_counter_init(void)
{
    NUCLEO_DEMCR |= NUCLEO_DEMCR_TRCENA;
    NUCLEO_DWT_CYCCNT = 0u;
    NUCLEO_DWT_CTRL |= NUCLEO_DWT_CTRL_CYCCNTENA;
    NUCLEO_SYST_RVR = 0x00FFFFFFu;
    NUCLEO_SYST_CVR = 0u;
    NUCLEO_SYST_CSR = NUCLEO_SYST_CSR_ENABLE | NUCLEO_SYST_CSR_TICKINT | NUCLEO_SYST_CSR_CLKSOURCE_CPU;
}

void hil_port_init(void)
{
    const uint32_t apb1_hz = nucleo_clock_init();
    NUCLEO_RCC_AHB1ENR |= NUCLEO_RCC_AHB1ENR_GPIOAEN;
    NUCLEO_RCC_APB1ENR |= NUCLEO_RCC_APB1ENR_USART2EN;
    (void)NUCLEO_RCC_APB1ENR; /* the F4 needs a read-back before the enabled peripheral may be written */
    NUCLEO_GPIOA_MODER = (NUCLEO_GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4); /* PA2, PA3: alternate function */
    NUCLEO_GPIOA_AFRL = (NUCLEO_GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8); /* AF7 = USART2 */
    NUCLEO_USART_BRR = NUCLEO_BRR_FOR(apb1_hz);
    NUCLEO_USART_CR1 = NUCLEO_USART_CR1_UE | NUCLEO_USART_CR1_TE | NUCLEO_USART_CR1_RE | NUCLEO_USART_CR1_RXNEIE;
    cm_nvic_enable(NUCLEO_USART2_IRQ);
    nucleo_counter_init();
    __asm volatile("cpsie i" ::: "memory");
}

void hil_port_write(const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while ((NUCLEO_USART_SR & NUCLEO_USART_SR_TXE) == 0u) {
        }
        NUCLEO_USART_DR = src[i];
    }
}

void hil_port_idle(void)
{
    cm_idle_until_rx(); /* SysTick wakes it every 0.2 s too: harmless, the frame loop finds nothing and idles again */
}

void hil_port_reboot(void)
{
    while ((NUCLEO_USART_SR & NUCLEO_USART_SR_TC) == 0u) { /* let the answer leave before the reset cuts it */
    }
    cm_system_reset();
}
