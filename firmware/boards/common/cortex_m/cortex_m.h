/* What every Cortex-M board shares (firmware/boards/common/cortex_m/, the cm_ prefix): the core's system registers,
 * reset, the RX ring the board's UART interrupt fills, hil_port_read(), hil_port_facts() with stack painting, and
 * the fault report.
 *
 * A board provides, in its folder (docs/porting.md):
 *   board.h     includes this file; its registers; CM_CPU_NAME, CM_COUNTER_HZ and CM_COUNTER_KIND (HIL_COUNTER_*),
 *               which hil_port_facts() reports
 *   hil_port.c  hil_port_init(), hil_port_write(), hil_port_counter(), hil_port_idle() (cm_idle_until_rx() plus
 *               whatever the counter needs), hil_port_reboot() (drain the UART, then cm_system_reset()) and the
 *               UART's RX interrupt, which calls CM_RX_RING_PUSH() per byte
 *   startup.c   the vector table cm_vectors: CM_CORE_VECTORS, then the board's interrupts
 *   linker.ld   MEMORY, HIL_STACK_BYTES, INCLUDE sections.ld, the budget ASSERTs
 *   board.cmake hil_cortex_m_board(CPU_FLAGS ... LINKER_SCRIPT ... SOURCES ...) (cortex_m.cmake)
 */
#ifndef CORTEX_M_H
#define CORTEX_M_H

#include <stddef.h>
#include <stdint.h>

#include "hil/hil_config.h"
#include "hil/hil_port.h"

#define CM_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System control block and NVIC: the same addresses on every ARMv7-M core */
#define CM_SCB_VTOR CM_REG(0xE000ED08u)
#define CM_SCB_AIRCR CM_REG(0xE000ED0Cu)
#define CM_AIRCR_SYSRESETREQ (0x05FA0000u | (1u << 2))
#define CM_NVIC_ISER(n) CM_REG(0xE000E100u + 4u * (n))

/* What cm_startup() paints the free stack with; hil_port_facts() (cm_port.c) finds the deepest overwritten word. */
#define CM_STACK_PAINT 0xC5C5C5C5u

/* The 16 entries of the core's exceptions that open every vector table: the initial stack pointer, reset, the
 * fault report for HardFault, Default_Handler (which reports a fault too) for the rest; a board whose counter needs
 * the SysTick interrupt names its handler with CM_CORE_VECTORS_WITH_SYSTICK. */
/* clang-format off */
#define CM_CORE_VECTORS_WITH_SYSTICK(systick)                                                                          \
    (void (*)(void))(uintptr_t)&_estack, Reset_Handler,                                                                \
    Default_Handler,                                                 /* NMI */                                         \
    HardFault_Handler,                                               /* HardFault */                                   \
    Default_Handler, Default_Handler, Default_Handler,               /* MemManage, BusFault, UsageFault */             \
    0, 0, 0, 0,                                                      /* reserved */                                    \
    Default_Handler, Default_Handler, 0, Default_Handler, (systick)  /* SVCall, DebugMon, -, PendSV, SysTick */
#define CM_CORE_VECTORS CM_CORE_VECTORS_WITH_SYSTICK(Default_Handler)
/* clang-format on */

#if (HIL_RX_BUFFER_BYTES & (HIL_RX_BUFFER_BYTES - 1)) != 0
#error "HIL_RX_BUFFER_BYTES must be a power of two"
#endif

/* The RX ring (cm_port.c, which also implements hil_port_read()). Written by the interrupt (head) and by the
 * frame loop (tail); each index has one writer. */
extern uint8_t cm_rx_ring[HIL_RX_BUFFER_BYTES];
extern volatile uint32_t cm_rx_head;
extern volatile uint32_t cm_rx_tail;

/* Push one received byte into a ring of `size` bytes (a power of two) from a UART's RX interrupt; a full ring drops
 * the byte: that frame then fails its CRC, is NAKed and sent again. A macro rather than an inline function: GCC
 * lays out the interrupt's loop around an inlined call differently (two instructions more or less per byte), and
 * this way the byte path compiles exactly as it did when each board had its own copy. */
#define CM_RING_PUSH(ring, size, head, tail, byte)                                                                     \
    do {                                                                                                               \
        const uint8_t cm_b_ = (byte);                                                                                  \
        const uint32_t cm_head_ = (head);                                                                              \
        if (cm_head_ - (tail) < (size)) {                                                                              \
            (ring)[cm_head_ & ((size)-1u)] = cm_b_;                                                                    \
            (head) = cm_head_ + 1u;                                                                                    \
        }                                                                                                              \
    } while (0)

/* From the board's RX interrupt, once per received byte of the host link. */
#define CM_RX_RING_PUSH(byte) CM_RING_PUSH(cm_rx_ring, HIL_RX_BUFFER_BYTES, cm_rx_head, cm_rx_tail, byte)

/* Copy up to `max` bytes out of a ring of `size` bytes (a power of two) without blocking; hil_port_read() is this on
 * the host link's ring, a board's peer link the same on its own. */
size_t cm_ring_read(const uint8_t *ring, uint32_t size, volatile uint32_t *head, volatile uint32_t *tail, uint8_t *dst,
                    size_t max);

/* The body of hil_port_idle(): sleep until an interrupt unless a byte is already waiting. Interrupts are off between
 * the check and WFI, so a byte arriving in between still wakes the core (a pending interrupt ends WFI even when
 * masked) instead of sleeping on it. */
static inline void cm_idle_until_rx(void)
{
    __asm volatile("cpsid i" ::: "memory");
    if (cm_rx_head == cm_rx_tail) {
        __asm volatile("dsb\n wfi" ::: "memory");
    }
    __asm volatile("cpsie i" ::: "memory");
}

static inline void cm_nvic_enable(uint32_t irq)
{
    CM_NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

/* SYSRESETREQ; the board first lets its UART finish sending (hil_port_reboot()). Does not return. */
__attribute__((noreturn)) void cm_system_reset(void);

/* cm_startup.c: Reset_Handler enables the FPU when the build uses one (before any C runs: DESIGN.md section 4), then
 * cm_startup() points VTOR at cm_vectors, copies .data, zeroes .bss, paints the stack and calls main(). */
void Reset_Handler(void);
void cm_startup(void);
/* cm_fault.c: prints "HIL-FAULT exception=... pc=... lr=..." on the link, then resets. Default_Handler: for every
 * vector the board does not use. */
void HardFault_Handler(void);
void Default_Handler(void);

/* Defined by the board (its startup.c), placed first in flash by sections.ld; VTOR points at it. */
extern void (*const cm_vectors[])(void);
/* Top of the main stack (sections.ld): the first entry of cm_vectors. */
extern uint32_t _estack;

#endif /* CORTEX_M_H */
