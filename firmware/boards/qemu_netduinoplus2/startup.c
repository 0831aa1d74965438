/* Vector table and reset for the STM32F405 (82 external interrupts). */
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

void Reset_Handler(void);
void hil_reset_c(void);
void Default_Handler(void);

/* Enable the FPU before any C runs: GCC may schedule VFP instructions (even plain float moves, or register
 * spills in memcpy-like code) anywhere in a C function, including before a CPACR write in that same function.
 * An instruction barrier makes the new access rights visible to the next instruction. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm volatile("movw r0, #0xED88      \n" /* SCB->CPACR */
                   "movt r0, #0xE000      \n"
                   "ldr  r1, [r0]         \n"
                   "orr  r1, r1, #0xF00000\n" /* CP10, CP11: full access */
                   "str  r1, [r0]         \n"
                   "dsb                   \n"
                   "isb                   \n"
                   "b    hil_reset_c      \n");
}

void hil_reset_c(void)
{
    HIL_SCB_VTOR = 0x08000000u; /* the table is linked in flash; the boot alias at 0 is not guaranteed on reset */

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
__attribute__((section(".isr_vector"), used)) void (*const hil_vectors[16 + 82])(void) = {
    (void (*)(void))(uintptr_t)&_estack,
    Reset_Handler,
    D,                 /* NMI */
    HardFault_Handler, /* HardFault */
    D, D, D,           /* MemManage, BusFault, UsageFault */
    0, 0, 0, 0,        /* reserved */
    D, D, 0, D, D,     /* SVCall, DebugMon, reserved, PendSV, SysTick */
    /* IRQ 0..36 */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    USART1_IRQHandler, /* IRQ 37 */
    /* IRQ 38..81 */
    D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D, D,
    D, D, D, D, D, D,
};
#undef D
