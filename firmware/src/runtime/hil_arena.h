/* The one static arena: a bump allocator with marks, because everything it holds is stacked in a fixed order
 * (model blob, then the model's scratch, then the staged input) and is only ever dropped from the top. */
#ifndef HIL_ARENA_H
#define HIL_ARENA_H

#include "hil/hil_types.h"

typedef struct {
    uint32_t size;       /* HIL_ARENA_BYTES */
    uint32_t used;       /* bytes below the bump pointer */
    uint32_t high_water; /* most bytes ever used since boot */
} hil_arena_stats_t;

/* Drop everything. */
void hil_arena_reset(void);

/* `bytes` (rounded up to 8) from the top, or NULL when that many are not free; never partially. */
void *hil_arena_alloc(uint32_t bytes);

/* Drop everything allocated after `mark` (a value hil_arena_mark() returned). */
uint32_t hil_arena_mark(void);
void hil_arena_release(uint32_t mark);

uint32_t hil_arena_free_bytes(void);
/* Where the first allocation lands: what MODEL_RECOVER inspects before it allocates anything. */
uint8_t *hil_arena_base(void);
void hil_arena_stats(hil_arena_stats_t *stats);

#endif /* HIL_ARENA_H */
