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

/* Cortex-M4F (ARMv7E-M with a single-precision FPU): the float kernels block rows (hils_dot4_acc_f32); elsewhere
 * (the host, the Cortex-M3's soft float) they keep hils_dot_acc_f32, whose results and counts the baselines hold. */
#if defined(__ARM_ARCH_7EM__) && defined(__ARM_FP) && (__ARM_FP & 4)
#define HILS_F32_BLOCKED 1
#else
#define HILS_F32_BLOCKED 0
#endif

/* acc[j] += sum(w[j * stride + k] * x[k]) for the four rows j = 0..3 that start `stride` floats apart: each x[k]
 * is loaded once for four rows. On a Cortex-M4F (ARMv7E-M with an FPU) the inner loop is assembly: four columns of
 * four rows in five VLDMs and sixteen VFMAs, 23 instructions per 16 MACs against ~2.3 per MAC for C (GCC keeps one
 * VLDR per value); docs/performance.md has its Cortex-M4 cycle estimate. Each row is summed in column order from
 * acc[j]: an order of float rounding like any other (the references compare with tolerances). */
static inline void hils_dot4_acc_f32(float acc[4], const float *w, size_t stride, const float *x, size_t n)
{
    const float *w0 = w;
    const float *w1 = w + stride;
    const float *w2 = w1 + stride;
    const float *w3 = w2 + stride;
    float a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    size_t k = 0;
#if HILS_F32_BLOCKED
    size_t blocks = n / 4u;
    if (blocks != 0u) {
        /* The sixteen products are issued row-interleaved so no VFMA waits on the one before it. */
        __asm__ volatile("1:\n\t"
                         "vldmia %[x]!, {s0-s3}\n\t"
                         "vldmia %[w0]!, {s4-s7}\n\t"
                         "vldmia %[w1]!, {s8-s11}\n\t"
                         "vldmia %[w2]!, {s12-s15}\n\t"
                         "vldmia %[w3]!, {s16-s19}\n\t"
                         "vfma.f32 %[a0], s0, s4\n\t"
                         "vfma.f32 %[a1], s0, s8\n\t"
                         "vfma.f32 %[a2], s0, s12\n\t"
                         "vfma.f32 %[a3], s0, s16\n\t"
                         "vfma.f32 %[a0], s1, s5\n\t"
                         "vfma.f32 %[a1], s1, s9\n\t"
                         "vfma.f32 %[a2], s1, s13\n\t"
                         "vfma.f32 %[a3], s1, s17\n\t"
                         "vfma.f32 %[a0], s2, s6\n\t"
                         "vfma.f32 %[a1], s2, s10\n\t"
                         "vfma.f32 %[a2], s2, s14\n\t"
                         "vfma.f32 %[a3], s2, s18\n\t"
                         "vfma.f32 %[a0], s3, s7\n\t"
                         "vfma.f32 %[a1], s3, s11\n\t"
                         "vfma.f32 %[a2], s3, s15\n\t"
                         "vfma.f32 %[a3], s3, s19\n\t"
                         "subs %[n], %[n], #1\n\t"
                         "bne 1b"
                         : [a0] "+t"(a0), [a1] "+t"(a1), [a2] "+t"(a2), [a3] "+t"(a3), [x] "+r"(x), [w0] "+r"(w0),
                           [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [n] "+r"(blocks)
                         :
                         : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
                           "s14", "s15", "s16", "s17", "s18", "s19", "cc", "memory");
        n -= 4u * (n / 4u); /* the pointers moved past the blocks: the rest from k = 0 */
    }
#endif
    for (; k < n; k++) {
        const float xk = x[k];
        a0 += w0[k] * xk;
        a1 += w1[k] * xk;
        a2 += w2[k] * xk;
        a3 += w3[k] * xk;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#endif /* HILS_VEC_F32_H */
