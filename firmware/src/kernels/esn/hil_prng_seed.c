#include "hil/hil_esn.h"

void hil_prng_seed(hil_prng_t *prng, uint32_t seed)
{
    /* PCG's own seeding with the stream fixed: the seed enters between two steps, so seed 0 is a stream like any
     * other instead of the all-zero state an xorshift generator would be stuck in. */
    prng->state = 0u;
    (void)hil_prng_next_u32(prng);
    prng->state += seed;
    (void)hil_prng_next_u32(prng);
}
