/* Reset and the startup body of every Cortex-M board: FPU, VTOR, .data, .bss, stack painting, main(). */
#include "cortex_m.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack;
extern int main(void);

/* Enable the FPU before any C runs: GCC may schedule VFP instructions (even plain float moves, or register
 * spills in memcpy-like code) anywhere in a C function, including before a CPACR write in that same function.
 * An instruction barrier makes the new access rights visible to the next instruction. A soft-float build (no
 * __ARM_FP) has no VFP instruction to fault, and its core may have no CPACR to write. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
#if defined(__ARM_FP)
    __asm volatile("movw r0, #0xED88      \n" /* SCB->CPACR */
                   "movt r0, #0xE000      \n"
                   "ldr  r1, [r0]         \n"
                   "orr  r1, r1, #0xF00000\n" /* CP10, CP11: full access */
                   "str  r1, [r0]         \n"
                   "dsb                   \n"
                   "isb                   \n"
                   "b    cm_startup       \n");
#else
    __asm volatile("b    cm_startup       \n");
#endif
}

void cm_startup(void)
{
    /* The table is linked first in flash; the boot alias at 0 (or a debugger's warm reset) is not guaranteed. */
    CM_SCB_VTOR = (uint32_t)(uintptr_t)cm_vectors;

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
        *p = CM_STACK_PAINT;
    }

    main();
    for (;;) {
    }
}

void cm_system_reset(void)
{
    __asm volatile("dsb" ::: "memory");
    CM_SCB_AIRCR = CM_AIRCR_SYSRESETREQ;
    __asm volatile("dsb" ::: "memory");
    for (;;) {
    }
}
