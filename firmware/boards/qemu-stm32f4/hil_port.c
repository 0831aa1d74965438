/* Port for the STM32F405 under QEMU (-M netduinoplus2); register-level, so it runs on a real STM32F4 too.
 *
 * Link: USART1 (PA9/PA10), which QEMU connects to the first -serial. RX by interrupt into the common ring
 * (cortex_m.h), TX by polling. HIL_PEER_LINK builds add USART2 (PA2/PA3, the second -serial) as the peer link, with
 * its own ring, for a model split over two boards (hil_forward.c).
 * Counter: see hil_port_counter(). Reset: SYSRESETREQ, which QEMU turns into a full machine reset.
 */
#include "board.h"

void USART1_IRQHandler(void)
{
    while ((HIL_USART_SR & HIL_USART_SR_RXNE) != 0u) {
        CM_RX_RING_PUSH((uint8_t)HIL_USART_DR); /* reading DR also clears an overrun */
    }
}

#if HIL_PEER_LINK
#if (HIL_PEER_RX_BUFFER_BYTES & (HIL_PEER_RX_BUFFER_BYTES - 1)) != 0
#error "HIL_PEER_RX_BUFFER_BYTES must be a power of two"
#endif
static uint8_t hil_peer_ring[HIL_PEER_RX_BUFFER_BYTES];
static volatile uint32_t hil_peer_head;
static volatile uint32_t hil_peer_tail;

void USART2_IRQHandler(void)
{
    while ((HIL_USART2_SR & HIL_USART_SR_RXNE) != 0u) {
        CM_RING_PUSH(hil_peer_ring, HIL_PEER_RX_BUFFER_BYTES, hil_peer_head, hil_peer_tail, (uint8_t)HIL_USART2_DR);
    }
}

size_t hil_port_peer_read(uint8_t *dst, size_t max)
{
    return cm_ring_read(hil_peer_ring, HIL_PEER_RX_BUFFER_BYTES, &hil_peer_head, &hil_peer_tail, dst, max);
}

/* Both rings empty; called with interrupts masked, before a WFI. */
static int hil_nothing_waiting(void)
{
    return cm_rx_head == cm_rx_tail && hil_peer_head == hil_peer_tail;
}

void hil_port_peer_write(const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while ((HIL_USART2_SR & HIL_USART_SR_TXE) == 0u) {
        }
        HIL_USART2_DR = src[i];
    }
}

/* One shot: it only ends the WFI of hil_port_peer_idle(). */
void SysTick_Handler(void)
{
    HIL_SYST_CSR = 0u;
}

void hil_port_peer_idle(void)
{
    /* Sleep until a byte on either link, or 1 ms: the forwarder's timeout must see time pass when nothing comes,
     * and QEMU's virtual clock only moves while the core sleeps when a timer is due. */
    __asm volatile("cpsid i" ::: "memory");
    if (hil_nothing_waiting()) {
        HIL_SYST_RVR = HIL_SYSTICK_HZ / 1000u - 1u;
        HIL_SYST_CVR = 0u;
        HIL_SYST_CSR = HIL_SYST_CSR_ENABLE_TICKINT_CPU;
        __asm volatile("dsb\n wfi" ::: "memory");
        HIL_SYST_CSR = 0u; /* a byte woke the core first: no tick afterwards */
    }
    __asm volatile("cpsie i" ::: "memory");
}

static void hil_peer_init(void)
{
    HIL_RCC_APB1ENR |= HIL_RCC_APB1ENR_USART2EN;
    (void)HIL_RCC_APB1ENR;
    HIL_GPIOA_MODER = (HIL_GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4); /* PA2, PA3: alternate function */
    HIL_GPIOA_AFRL = (HIL_GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8); /* AF7 = USART2 */
    HIL_USART2_BRR = 139u; /* 115200 Bd from the 16 MHz HSI, as USART1; QEMU ignores it */
    HIL_USART2_CR1 = HIL_USART_CR1_UE | HIL_USART_CR1_TE | HIL_USART_CR1_RE | HIL_USART_CR1_RXNEIE;
    cm_nvic_enable(HIL_USART2_IRQ);
}
#endif

/* Counter.
 *
 * The harness runs QEMU with -icount shift=0: virtual time advances exactly 1 ns per executed instruction.
 * QEMU's stm32f2xx timer model derives CNT from virtual time at its "clock-frequency" property (1 GHz, not set by
 * the netduinoplus2 machine), divided by PSC+1, so TIM2 with PSC = 0 counts exactly one tick per instruction.
 * SysTick instead runs from the 168 MHz system clock: one tick per 5.95 instructions, so it rounds.
 * Measured with a probe image: `ldr r3,=1000000; 1: subs r3,#1; nop; nop; bne 1b; bx lr` called between two reads,
 * i.e. 4,000,000 loop instructions plus 5 around them (str, bl, ldr, bx, and the reading ldr):
 *   TIM2 delta 4,000,005 ticks, identical in every run -> one tick per instruction, exactly;
 *   SysTick delta 672,001 ticks at 168 MHz = 4,000,006 ns -> right on average, but quantised to ~6 instructions.
 * So TIM2 it is: counter_hz 1e9 and HIL_COUNTER_INSTRUCTIONS. On a real F4 the same timer counts the APB1 timer
 * clock instead (16 MHz out of reset), so a port for real hardware must report that clock, not instructions.
 *
 * 64 bits without an interrupt (an interrupt during INFER would add its own instructions to the count, and QEMU's
 * timer model does not wrap CNT at ARR nor raise the update interrupt at the right time): TIM5 counts the same
 * clock prescaled by 65536, a coarse count that wraps only after 78 hours; the exact low 32 bits of TIM2 then pick
 * the one value within +-2^31 of the coarse estimate. Both start within a few instructions of each other. */
#define HIL_COARSE_SHIFT 16u

static uint32_t hil_coarse_last;
static uint32_t hil_coarse_wraps;

static void hil_counter_init(void)
{
    HIL_RCC_APB1ENR |= HIL_RCC_APB1ENR_TIM2EN | HIL_RCC_APB1ENR_TIM5EN;
    (void)HIL_RCC_APB1ENR; /* the F4 needs a read-back before the enabled peripheral may be written */
    HIL_TIM_PSC(HIL_TIM2_BASE) = 0u;
    HIL_TIM_PSC(HIL_TIM5_BASE) = (1u << HIL_COARSE_SHIFT) - 1u;
    HIL_TIM_ARR(HIL_TIM2_BASE) = 0xFFFFFFFFu;
    HIL_TIM_ARR(HIL_TIM5_BASE) = 0xFFFFFFFFu;
    /* UG loads the prescalers (real hardware applies PSC only at an update event) and zeroes both counts */
    HIL_TIM_EGR(HIL_TIM5_BASE) = 1u;
    HIL_TIM_EGR(HIL_TIM2_BASE) = 1u;
    HIL_TIM_CR1(HIL_TIM5_BASE) = 1u;
    HIL_TIM_CR1(HIL_TIM2_BASE) = 1u;
}

uint64_t hil_port_counter(void)
{
    const uint32_t lo = HIL_TIM_CNT(HIL_TIM2_BASE);
    const uint32_t coarse = HIL_TIM_CNT(HIL_TIM5_BASE);
    if (coarse < hil_coarse_last) {
        hil_coarse_wraps++;
    }
    hil_coarse_last = coarse;
    const uint64_t approx = (((uint64_t)hil_coarse_wraps << 32) | coarse) << HIL_COARSE_SHIFT;
    return approx + (uint64_t)(int64_t)(int32_t)(lo - (uint32_t)approx);
}

void hil_port_init(void)
{
    HIL_RCC_AHB1ENR |= HIL_RCC_AHB1ENR_GPIOAEN;
    HIL_RCC_APB2ENR |= HIL_RCC_APB2ENR_USART1EN;
    (void)HIL_RCC_APB2ENR;
    HIL_GPIOA_MODER = (HIL_GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18); /* PA9, PA10: alternate function */
    HIL_GPIOA_AFRH = (HIL_GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);   /* AF7 = USART1 */
    /* 115200 Bd from the 16 MHz HSI the F4 runs on out of reset (16e6 / 115200 = 138.9); QEMU ignores it */
    HIL_USART_BRR = 139u;
    HIL_USART_CR1 = HIL_USART_CR1_UE | HIL_USART_CR1_TE | HIL_USART_CR1_RE | HIL_USART_CR1_RXNEIE;
    cm_nvic_enable(HIL_USART1_IRQ);
    hil_counter_init();
#if HIL_PEER_LINK
    hil_peer_init();
#endif
    __asm volatile("cpsie i" ::: "memory");
}

void hil_port_write(const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while ((HIL_USART_SR & HIL_USART_SR_TXE) == 0u) {
        }
        HIL_USART_DR = src[i];
    }
}

void hil_port_idle(void)
{
#if HIL_PEER_LINK
    /* as cm_idle_until_rx(), with the peer ring too: a frame waiting there must not sleep until the next byte */
    __asm volatile("cpsid i" ::: "memory");
    if (hil_nothing_waiting()) {
        __asm volatile("dsb\n wfi" ::: "memory");
    }
    __asm volatile("cpsie i" ::: "memory");
#else
    cm_idle_until_rx();
#endif
    (void)hil_port_counter(); /* keep the coarse wrap count current across long idle spells */
}

void hil_port_reboot(void)
{
    while ((HIL_USART_SR & HIL_USART_SR_TC) == 0u) { /* let the answer leave before the reset cuts it */
    }
    cm_system_reset();
}
