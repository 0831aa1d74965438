/* Vector table and reset for the Cortex-M3 of the MPS2 AN385 (32 external interrupts). No FPU: nothing to enable
 * before C runs, and the image is built soft-float so no VFP instruction exists to fault. */
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);

void Reset_Handler(void)
{
    /* QEMU boots from the table at 0; say so explicitly, since a warm reset through a debugger may not. */
    HIL_SCB_VTOR = 0x00000000u;

    const uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }

    /* Paint the stack below the current frame; hil_port_facts() finds the deepest overwritten word. */
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; p < sp - 16; p++) {
        *p = HIL_STACK_PAINT;
    }

    main();
    for (;;) {
    }
}

/* An interrupt nobody enabled, or a fault other than HardFault: report it as one. */
void Default_Handler(void)
{
    HardFault_Handler();
}

#define D Default_Handler
__attribute__((section(".isr_vector"), used)) void (*const hil_vectors[16 + 32])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    Reset_Handler,
    D,                 /* NMI */
    HardFault_Handler, /* HardFault */
    D, D, D,           /* MemManage, BusFault, UsageFault */
    0, 0, 0, 0,        /* reserved */
    D, D, 0, D, D,     /* SVCall, DebugMon, reserved, PendSV, SysTick */
    UART0RX_IRQHandler, /* IRQ 0: UART0 RX */
    /* IRQ 1..31 (UART0 TX is polled, its interrupt stays disabled) */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
};
#undef D
