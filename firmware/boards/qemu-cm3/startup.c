/* Vector table of the Cortex-M3 of the MPS2 AN385 (32 external interrupts). Reset_Handler and the fault handlers
 * are the common ones (cortex_m.h); with no FPU and a soft-float build, reset enables nothing before C runs. */
#include "board.h"

/* clang-format off */
#define D Default_Handler
__attribute__((section(".isr_vector"), used)) void (*const cm_vectors[16 + 32])(void) = {
    CM_CORE_VECTORS,
    UART0RX_IRQHandler, /* IRQ 0: UART0 RX */
    /* IRQ 1..31 (UART0 TX is polled, its interrupt stays disabled) */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
};
#undef D
/* clang-format on */
