/* Port for the STM32F405 under QEMU (-M netduinoplus2); register-level, so it runs on a real STM32F4 too.
 *
 * Link: USART1 (PA9/PA10), which QEMU connects to the first -serial. RX by interrupt into a ring, TX by polling.
 * Counter: see hil_port_counter(). Reset: SYSRESETREQ, which QEMU turns into a full machine reset.
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

void USART1_IRQHandler(void)
{
    while ((HIL_USART_SR & HIL_USART_SR_RXNE) != 0u) {
        const uint8_t b = (uint8_t)HIL_USART_DR; /* reading DR also clears an overrun */
        const uint32_t head = hil_rx_head;
        /* a full ring drops the byte: that frame then fails its CRC, is NAKed and sent again */
        if (head - hil_rx_tail < HIL_RX_BUFFER_BYTES) {
            hil_rx_ring[head & (HIL_RX_BUFFER_BYTES - 1u)] = b;
            hil_rx_head = head + 1u;
        }
    }
}

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
    HIL_GPIOA_MODER = (HIL_GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);  /* PA9, PA10: alternate function */
    HIL_GPIOA_AFRH = (HIL_GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);     /* AF7 = USART1 */
    /* 115200 Bd from the 16 MHz HSI the F4 runs on out of reset (16e6 / 115200 = 138.9); QEMU ignores it */
    HIL_USART_BRR = 139u;
    HIL_USART_CR1 = HIL_USART_CR1_UE | HIL_USART_CR1_TE | HIL_USART_CR1_RE | HIL_USART_CR1_RXNEIE;
    HIL_NVIC_ISER(HIL_USART1_IRQ / 32u) = 1u << (HIL_USART1_IRQ % 32u);
    hil_counter_init();
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
        while ((HIL_USART_SR & HIL_USART_SR_TXE) == 0u) {
        }
        HIL_USART_DR = src[i];
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
    (void)hil_port_counter(); /* keep the coarse wrap count current across long idle spells */
}

void hil_port_reboot(void)
{
    while ((HIL_USART_SR & HIL_USART_SR_TC) == 0u) { /* let the answer leave before the reset cuts it */
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
    facts->board_name = "qemu_netduinoplus2";
    facts->cpu_name = "cortex-m4f";
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
