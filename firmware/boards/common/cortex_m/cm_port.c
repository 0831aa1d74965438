/* The parts of the port every Cortex-M board shares: the RX ring between the board's UART interrupt
 * (CM_RX_RING_PUSH() in cortex_m.h) and the frame loop, and the facts HELLO and STATS report. */
#include "board.h"
#include "hil/hil_proto.h"

extern uint32_t _sstack, hil_ram_budget, hil_flash_budget;

uint8_t cm_rx_ring[HIL_RX_BUFFER_BYTES];
volatile uint32_t cm_rx_head;
volatile uint32_t cm_rx_tail;

size_t cm_ring_read(const uint8_t *ring, uint32_t size, volatile uint32_t *head, volatile uint32_t *tail, uint8_t *dst,
                    size_t max)
{
    const uint32_t h = *head;
    uint32_t t = *tail;
    size_t n = 0;
    while (t != h && n < max) {
        dst[n++] = ring[t & (size - 1u)];
        t++;
    }
    *tail = t;
    return n;
}

size_t hil_port_read(uint8_t *dst, size_t max)
{
    return cm_ring_read(cm_rx_ring, HIL_RX_BUFFER_BYTES, &cm_rx_head, &cm_rx_tail, dst, max);
}

/* cm_startup() painted the stack below its frame with CM_STACK_PAINT: the deepest overwritten word is the high-water
 * mark. */
static uint32_t cm_stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == CM_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

void hil_port_facts(hil_port_facts_t *facts)
{
    facts->ram_bytes = (uint32_t)(uintptr_t)&hil_ram_budget; /* the budgets linker.ld holds the image to */
    facts->flash_bytes = (uint32_t)(uintptr_t)&hil_flash_budget;
    facts->stack_bytes = (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
    facts->stack_high_water = cm_stack_high_water();
    facts->counter_hz = CM_COUNTER_HZ;
    facts->counter_kind = CM_COUNTER_KIND;
    facts->board_name = HIL_BOARD_NAME;
    facts->cpu_name = CM_CPU_NAME;
}
