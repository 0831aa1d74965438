/* Vector table of the STM32F401 (85 external interrupts, RM0368 "Vector table"). Reset_Handler (FPU on, then the
 * startup body) and the fault handlers are the common ones (cortex_m.h); SysTick extends the cycle counter. */
#include "board.h"

/* clang-format off */
#define D Default_Handler
__attribute__((section(".isr_vector"), used)) void (*const cm_vectors[16 + NUCLEO_IRQ_COUNT])(void) = {
    CM_CORE_VECTORS_WITH_SYSTICK(SysTick_Handler),
    /* IRQ 0..37 */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    USART2_IRQHandler, /* IRQ 38 */
    /* IRQ 39..84 */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    D, D, D, D, D, D, D, D,
};
#undef D
/* clang-format on */
