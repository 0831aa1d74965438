/* Internal kernel support, not public API: every symbol here takes the hils_ / HILS_ prefix (as CMSIS-NN's arm_nn_). */
/* Inner loops shared by the fp32 kernels. Private to src/kernels; static inline so each kernel stays one file. */
#ifndef HILS_VEC_F32_H
#define HILS_VEC_F32_H

#include <stddef.h>

/* acc + sum(a[k] * b[k]). Four partial sums: the loads of one product overlap the multiply-add of the previous
 * one, and the loop test runs once per four products; on a Cortex-M4F this halves the instructions per MAC.
 * The summation order differs from a plain loop by float rounding only (the references compare with tolerances
 * that allow for any order). */
static inline float hils_dot_acc_f32(float acc, const float *a, const float *b, size_t n)
{
    float s0 = acc, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    size_t k = 0;
    for (; k + 4u <= n; k += 4u) {
        s0 += a[k] * b[k];
        s1 += a[k + 1u] * b[k + 1u];
        s2 += a[k + 2u] * b[k + 2u];
        s3 += a[k + 3u] * b[k + 3u];
    }
    for (; k < n; k++) {
        s0 += a[k] * b[k];
    }
    return (s0 + s1) + (s2 + s3);
}

#endif /* HILS_VEC_F32_H */
