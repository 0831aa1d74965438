#include "hil/hil_esn.h"

float hil_prng_uniform_f32(hil_prng_t *prng)
{
    /* 24 bits fit a float32 significand: the integer converts exactly and the power-of-two scale is exact, so the
     * value is the same on every FPU and in numpy. */
    const int32_t top = (int32_t)(hil_prng_next_u32(prng) >> 8);
    return (float)(top - (int32_t)0x800000) * 0x1p-23f;
}
