#include "hil/hil_esn.h"

uint32_t hil_prng_next_u32(hil_prng_t *prng)
{
    const uint64_t old = prng->state;
    prng->state = old * HIL_PRNG_MULTIPLIER + HIL_PRNG_INCREMENT;
    /* The output permutes the old state, so the LCG's weak low bits never reach the caller. */
    const uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    const uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}
