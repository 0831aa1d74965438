/* Vector table of the STM32F405 (82 external interrupts). Reset_Handler (FPU on, then the startup body) and the
 * fault handlers are the common ones (cortex_m.h). */
#include "board.h"

/* clang-format off */
#define D Default_Handler
__attribute__((section(".isr_vector"), used)) void (*const cm_vectors[16 + 82])(void) = {
    CM_CORE_VECTORS_WITH_SYSTICK(HIL_SYSTICK_ENTRY),
    /* IRQ 0..36 */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    USART1_IRQHandler, /* IRQ 37 */
    USART2_IRQ_ENTRY,  /* IRQ 38: the peer link in HIL_PEER_LINK builds (board.h) */
    /* IRQ 39..81 */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    D, D, D, D, D,
};
#undef D
/* clang-format on */
