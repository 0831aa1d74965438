#include "hil_arena.h"

#include "hil/hil_config.h"

/* 8-byte alignment for every allocation: float weights are read in place, and doubles or 64-bit fields in a
 * future model must not fault on a Cortex-M either. */
#define HIL_ARENA_ALIGN 8u

/* HIL_NOINIT: on boards whose RAM survives a reset, a trained model can be recovered after one (hil_journal.c). */
static uint8_t hil_arena_buf[HIL_ARENA_BYTES] __attribute__((aligned(HIL_ARENA_ALIGN))) HIL_NOINIT;
static uint32_t hil_arena_used;
static uint32_t hil_arena_high;

uint8_t *hil_arena_base(void)
{
    return hil_arena_buf;
}

void hil_arena_reset(void)
{
    hil_arena_used = 0u;
}

void *hil_arena_alloc(uint32_t bytes)
{
    const uint32_t free_bytes = (uint32_t)HIL_ARENA_BYTES - hil_arena_used;
    if (bytes > free_bytes || ((bytes + HIL_ARENA_ALIGN - 1u) & ~(HIL_ARENA_ALIGN - 1u)) > free_bytes) {
        return NULL;
    }
    void *p = &hil_arena_buf[hil_arena_used];
    hil_arena_used += (bytes + HIL_ARENA_ALIGN - 1u) & ~(HIL_ARENA_ALIGN - 1u);
    if (hil_arena_used > hil_arena_high) {
        hil_arena_high = hil_arena_used;
    }
    return p;
}

uint32_t hil_arena_mark(void)
{
    return hil_arena_used;
}

void hil_arena_release(uint32_t mark)
{
    if (mark < hil_arena_used) {
        hil_arena_used = mark;
    }
}

uint32_t hil_arena_free_bytes(void)
{
    return (uint32_t)HIL_ARENA_BYTES - hil_arena_used;
}

void hil_arena_stats(hil_arena_stats_t *stats)
{
    stats->size = (uint32_t)HIL_ARENA_BYTES;
    stats->used = hil_arena_used;
    stats->high_water = hil_arena_high;
}
