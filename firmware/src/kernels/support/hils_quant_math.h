/* Internal kernel support, not public API: every symbol here takes the hils_ / HILS_ prefix (as CMSIS-NN's arm_nn_). */
/* Integer arithmetic shared by the quantized kernels (hil_quant.h). Private to src/kernels; static inline so each
 * kernel stays one file. harness/models/quant.py mirrors every function here; change both together. */
#ifndef HILS_QUANT_MATH_H
#define HILS_QUANT_MATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hil/hil_quant.h"

/* The DSP extension (Cortex-M4/M7/M33...): the dot products below take four int8 products per SMLAD pair. The compiler
 * says whether the target has it, so the board's -mcpu picks the path; the portable loops stay for the Cortex-M3 and
 * the host. Both paths form the same exact integer sums, in another order: integer addition does not care. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define HILS_DSP 1
#else
#define HILS_DSP 0
#endif
#if HILS_DSP || (defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* For the per-row and per-unit helpers that GCC, counting their several call sites, would otherwise call. */
#define HILS_INLINE static inline __attribute__((always_inline))
/* A per-row or per-unit branch's usual side, laid out to fall through: a taken branch refills the M4's pipeline
 * (bench cycles measured -3.3% and -0.5% cycles at LSTM(32)x24 for the two places it is used). */
#define HILS_USUALLY(c) __builtin_expect(!!(c), 1)

#if HILS_DSP
/* SXTB16 / SXTAB16 of bytes 1 and 3: the rotation is the instruction's own operand, which GCC does not fold from C. */
static inline int32_t hils_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline int32_t hils_sxtab16_ror8(int32_t a, uint32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* (lo & 0xFFFF) | (hi << 16) and (hi & 0xFFFF0000) | (lo >> 16): pairs (x0, x2) and (x1, x3) of int16 x in one PKHBT /
 * PKHTB each (GCC writes two instructions for either from C). */
static inline int32_t hils_pack_lo(uint32_t lo, uint32_t hi)
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

static inline int32_t hils_pack_hi(uint32_t lo, uint32_t hi)
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}

/* x_offset in both halfwords, for SXTAB16 */
static inline int32_t hils_pair16(int32_t v)
{
    return (int32_t)(((uint32_t)(uint16_t)v << 16) | (uint16_t)v);
}
#endif

/* Four bytes from any address: one LDR on an ARMv7-M core, which loads unaligned words (rows of an odd width are). */
static inline uint32_t hils_load4(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Whether all n shifts are negative, the requantizations' usual form (hils_requant_q31_small and _q15_small, once the
 * model's check has kept every shift at -31 or above): the AND of their sign bits, four shifts a load. */
static inline int hils_shifts_negative(const int8_t *shift, size_t n)
{
    uint32_t all = 0xffffffffu;
    size_t k = 0;
    for (; k + 4u <= n; k += 4u) {
        all &= hils_load4(shift + k);
    }
    for (; k < n; k++) {
        all &= (uint32_t)(uint8_t)shift[k] * 0x01010101u;
    }
    return (all & 0x80808080u) == 0x80808080u;
}

/* Groups of four columns the DSP kernels take for rows of `cols` inputs: cols / 4, and one more for the last cols % 4
 * when there are at least four (hils_pairs_x8). */
static inline size_t hils_pair_groups(size_t cols)
{
    return cols < 4u ? 0u : (cols + 3u) / 4u;
}

/* Bytes of the column pairs a DSP kernel needs for rows of `cols` inputs (hils_pairs_x8/x16); 0 where there is no DSP
 * extension, so the scratch of the host and the Cortex-M3 stays as it was. */
static inline size_t hils_pairs_bytes(size_t cols)
{
    return HILS_DSP ? 8u * hils_pair_groups(cols) : 0u;
}

#if HILS_DSP
/* Of the last group, built from columns cols - 4 .. cols - 1 so its weights are read inside the row, the columns the
 * full groups already counted are zeroed: (x[c-4], x[c-2]) keeps x[c-2] when rem >= 2, (x[c-3], x[c-1]) keeps x[c-3]
 * when rem = 3. */
static inline void hils_pairs_tail(int32_t *pair, size_t rem)
{
    pair[0] = rem >= 2u ? (int32_t)((uint32_t)pair[0] & 0xFFFF0000u) : 0;
    pair[1] = rem >= 3u ? pair[1] : (int32_t)((uint32_t)pair[1] & 0xFFFF0000u);
}

/* The columns of x as the four-row loop takes them: for each group of four, the int16 pairs (x0, x2) and (x1, x3) in
 * two words, so that SXTB16 and SXTB16 ROR 8 of four int8 weights meet their inputs in two SMLADs; then the tail group
 * (hils_pairs_tail). Built once per vector (per LSTM step, per dense layer) and read by every row, so x's zero point
 * is added once per element, not once per product. |x + x_offset| <= 255 fits a halfword. */
static inline void hils_pairs_x8(int32_t *pairs, const int8_t *x, size_t cols, int32_t x_offset)
{
    const int32_t off2 = hils_pair16(x_offset);
    const size_t full = cols / 4u;
    for (size_t g = 0; g < full; g++) {
        const uint32_t v = hils_load4(x + 4u * g);
        pairs[2u * g] = __sxtab16(off2, v);
        pairs[2u * g + 1u] = hils_sxtab16_ror8(off2, v);
    }
    if (full != hils_pair_groups(cols)) {
        const uint32_t v = hils_load4(x + cols - 4u);
        pairs[2u * full] = __sxtab16(off2, v);
        pairs[2u * full + 1u] = hils_sxtab16_ror8(off2, v);
        hils_pairs_tail(pairs + 2u * full, cols & 3u);
    }
}

static inline void hils_pairs_x16(int32_t *pairs, const int16_t *x, size_t cols)
{
    const size_t full = cols / 4u;
    for (size_t g = 0; g < full; g++) {
        const uint32_t x01 = hils_load4(x + 4u * g);
        const uint32_t x23 = hils_load4(x + 4u * g + 2u);
        pairs[2u * g] = hils_pack_lo(x01, x23);
        pairs[2u * g + 1u] = hils_pack_hi(x01, x23);
    }
    if (full != hils_pair_groups(cols)) {
        const uint32_t x01 = hils_load4(x + cols - 4u);
        const uint32_t x23 = hils_load4(x + cols - 2u);
        pairs[2u * full] = hils_pack_lo(x01, x23);
        pairs[2u * full + 1u] = hils_pack_hi(x01, x23);
        hils_pairs_tail(pairs + 2u * full, cols & 3u);
    }
}

/* acc[j] += sum_k W[j][k] * x[k] for the four int8 rows j = 0..3 that start `stride` bytes apart at w, over the
 * 4 * groups columns whose pairs hils_pairs_x8/x16 built. Per group of four columns: one LDRD of the pairs, then per
 * two rows two LDRs of four weights back to back (the second pipelines behind the first: 3 cycles, not 4), and per
 * row SXTB16, SXTB16 ROR 8 and two SMLADs: 21 instructions per 16 MACs, and the loop's SUBS and BNE once per four
 * groups (CMSIS-NN's int8 loop: 15 per 8). GCC does not keep four accumulators, two row pointers and the pairs in
 * registers from C, hence the assembly; its fourteen registers leave none for an inlining caller, hence a call (and
 * acc's address goes to the stack). SMLAD wraps at 32 bits: the callers bound the sums (int8 x: HIL_QUANT_MAX_IN;
 * int16 x: chunks of HILS_S16_CHUNK_COLS). docs/performance.md has the loop's Cortex-M4 cycle estimate. */
#define HILS_DOT4_GROUP                                                                                                \
    "ldrd %[xe], %[xo], [%[xp]], #8\n\t"                                                                               \
    "ldr %[wv], [%[w0], %[s]]\n\t"                                                                                     \
    "ldr %[wu], [%[w0]], #4\n\t"                                                                                       \
    "sxtb16 %[t], %[wv]\n\t"                                                                                           \
    "smlad %[a1], %[t], %[xe], %[a1]\n\t"                                                                              \
    "sxtb16 %[wv], %[wv], ror #8\n\t"                                                                                  \
    "smlad %[a1], %[wv], %[xo], %[a1]\n\t"                                                                             \
    "sxtb16 %[t], %[wu]\n\t"                                                                                           \
    "smlad %[a0], %[t], %[xe], %[a0]\n\t"                                                                              \
    "sxtb16 %[wu], %[wu], ror #8\n\t"                                                                                  \
    "smlad %[a0], %[wu], %[xo], %[a0]\n\t"                                                                             \
    "ldr %[wv], [%[w2], %[s]]\n\t"                                                                                     \
    "ldr %[wu], [%[w2]], #4\n\t"                                                                                       \
    "sxtb16 %[t], %[wv]\n\t"                                                                                           \
    "smlad %[a3], %[t], %[xe], %[a3]\n\t"                                                                              \
    "sxtb16 %[wv], %[wv], ror #8\n\t"                                                                                  \
    "smlad %[a3], %[wv], %[xo], %[a3]\n\t"                                                                             \
    "sxtb16 %[t], %[wu]\n\t"                                                                                           \
    "smlad %[a2], %[t], %[xe], %[a2]\n\t"                                                                              \
    "sxtb16 %[wu], %[wu], ror #8\n\t"                                                                                  \
    "smlad %[a2], %[wu], %[xo], %[a2]\n\t"

__attribute__((noinline, unused)) static void hils_dot4_w8_pairs(int32_t acc[4], const int8_t *w, size_t stride,
                                                                 const int32_t *pairs, size_t groups)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *w0 = w;               /* rows 0 and 1: [w0], [w0 + stride] */
    const int8_t *w2 = w + 2u * stride; /* rows 2 and 3 */
    int32_t xe, xo, wv, wu, t;
    /* groups / 4 passes of four groups, after one group alone when bit 0 of the count is set and two when bit 1 is
     * (each LSRS leaves the bit in C and, the second time, Z for no passes; the groups' instructions set no flags) */
    __asm__ volatile(
        "lsrs %[n], %[n], #1\n\t"
        "bcc 2f\n\t" HILS_DOT4_GROUP "2:\n\t"
        "lsrs %[n], %[n], #1\n\t"
        "bcc 3f\n\t" HILS_DOT4_GROUP HILS_DOT4_GROUP "3:\n\t"
        "beq 4f\n\t"
        "1:\n\t" HILS_DOT4_GROUP HILS_DOT4_GROUP HILS_DOT4_GROUP HILS_DOT4_GROUP "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "4:"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w0] "+r"(w0), [w2] "+r"(w2), [xp] "+r"(pairs),
          [n] "+r"(groups), [xe] "=&r"(xe), [xo] "=&r"(xo), [wv] "=&r"(wv), [wu] "=&r"(wu), [t] "=&r"(t)
        : [s] "r"(stride)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* The tail group of four rows (hils_pairs_tail): its weights are the last four of each row's `cols`. */
static inline void hils_dot4_w8_tail(int32_t acc[4], const int8_t *w, size_t stride, size_t cols, const int32_t *pair)
{
    const int8_t *last = w + cols - 4u;
    for (unsigned j = 0; j < 4u; j++) {
        const uint32_t v = hils_load4(last + j * stride);
        acc[j] = __smlad(hils_sxtb16_ror8(v), pair[1], __smlad(__sxtb16(v), pair[0], acc[j]));
    }
}

/* acc[j] += W[j] . x for four rows of four columns or more, from the pairs hils_pairs_x8/x16 built: the full groups,
 * then the tail. */
static inline void hils_rows4_pairs(int32_t acc[4], const int8_t *w, size_t stride, size_t cols, const int32_t *pairs)
{
    const size_t full = cols / 4u;
    hils_dot4_w8_pairs(acc, w, stride, pairs, full);
    if ((cols & 3u) != 0u) {
        hils_dot4_w8_tail(acc, w, stride, cols, pairs + 2u * full);
    }
}

/* acc[j] += sum_k W[j][k] * (x[k] + x_offset), k < cols, for the four rows j = 0..3 of int8 weights `stride` bytes
 * apart from w, given the pairs hils_pairs_x8 built from x. */
static inline void hils_rows4_x8(int32_t acc[4], const int8_t *w, size_t stride, size_t cols, const int32_t *pairs,
                                 const int8_t *x, int32_t x_offset)
{
    if (cols < 4u) {
        int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3]; /* no call: the sums stay in registers */
        for (size_t k = 0; k < cols; k++) {
            const int32_t xk = (int32_t)x[k] + x_offset;
            a0 += (int32_t)w[k] * xk;
            a1 += (int32_t)w[stride + k] * xk;
            a2 += (int32_t)w[2u * stride + k] * xk;
            a3 += (int32_t)w[3u * stride + k] * xk;
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
    hils_rows4_pairs(acc, w, stride, cols, pairs);
}

/* Columns whose int8 x int16 products sum exactly in int32 beside an int32 bias: |w * x| <= 2^22 and |bias| <= 2^30
 * (HIL_QUANT_MAX_BIAS), so 252 columns reach at most 2^31 - 2^24. A multiple of four, so chunks keep the groups. */
#define HILS_S16_CHUNK_COLS 252u

/* hils_rows4_x8 for int16 x (zero point 0; pairs from hils_pairs_x16), cols <= HILS_S16_CHUNK_COLS. */
static inline void hils_rows4_x16(int32_t acc[4], const int8_t *w, size_t stride, size_t cols, const int32_t *pairs,
                                  const int16_t *x)
{
    if (cols < 4u) {
        int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3]; /* no call: the sums stay in registers */
        for (size_t k = 0; k < cols; k++) {
            const int32_t xk = x[k];
            a0 += (int32_t)w[k] * xk;
            a1 += (int32_t)w[stride + k] * xk;
            a2 += (int32_t)w[2u * stride + k] * xk;
            a3 += (int32_t)w[3u * stride + k] * xk;
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
    hils_rows4_pairs(acc, w, stride, cols, pairs);
}

/* Rows wider than HILS_S16_CHUNK_COLS: exact 32-bit partials over chunks of columns, summed in int64. */
static inline void hils_rows4_x16_wide(int64_t acc[4], const int8_t *w, size_t cols, const int32_t *pairs,
                                       const int16_t *x)
{
    for (size_t c0 = 0; c0 < cols; c0 += HILS_S16_CHUNK_COLS) {
        const size_t n = cols - c0 < HILS_S16_CHUNK_COLS ? cols - c0 : HILS_S16_CHUNK_COLS;
        int32_t part[4] = {0, 0, 0, 0};
        hils_rows4_x16(part, w + c0, cols, n, pairs + c0 / 2u, x + c0);
        for (unsigned j = 0; j < 4u; j++) {
            acc[j] += part[j];
        }
    }
}
#endif

/* The rounding shifts below floor negative values by >>. C leaves >> of a negative value to the implementation;
 * GCC, Clang and Arm Compiler all shift arithmetically, as CMSIS-NN also assumes. Refuse a compiler that does not. */
#if (-1 >> 1) != -1
#error "hils_quant_math.h needs >> of a negative integer to be an arithmetic shift"
#endif

#define HILS_S16_MIN (-32768)
#define HILS_S16_MAX 32767

/* rshift(v, n): v / 2^n rounded to nearest, ties toward +infinity. */
static inline int64_t hils_rshift_round(int64_t v, unsigned n)
{
    return n == 0u ? v : (v + ((int64_t)1 << (n - 1u))) >> n;
}

static inline int64_t hils_clamp64(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int16_t hils_sat16(int64_t v)
{
    return (int16_t)hils_clamp64(v, HILS_S16_MIN, HILS_S16_MAX);
}

/* hils_requant_q31 for shift <= -1, the usual case (factors below 1/2): t = 31 - shift >= 32, so the result fits int32.
 * With u = -1 - shift (0..30) and q = floor(p / 2^31), which fits int32 because |p| < 2^62: (p + 2^(t-1)) >> t equals
 * (q + 2^u) >> (u + 1) = ((q >> u) + 1) >> 1, since p / 2^31 - q < 1 cannot change the floor of an integer over
 * 2^(u+1). SMULL, two operations for q, no branch. The caller keeps shift in -31..-1. */
HILS_INLINE int32_t hils_requant_q31_small(int32_t a, int32_t multiplier, int8_t shift)
{
    const int32_t q = (int32_t)(((int64_t)a * multiplier) >> 31);
    return ((q >> (-1 - (int32_t)shift)) + 1) >> 1;
}

/* a * M * 2^(s - 31), one rounding. |a| < 2^31 and 0 <= M < 2^31 keep the product and the rounding term below 2^63.
 * The shift is clamped so a corrupt compiled-in model cannot make it undefined; binders refuse such shifts. */
static inline int64_t hils_requant_q31(int32_t a, int32_t multiplier, int8_t shift)
{
    if (shift <= -1 && shift >= -31) {
        return hils_requant_q31_small(a, multiplier, shift);
    }
    int32_t t = 31 - (int32_t)shift;
    t = t < 1 ? 1 : (t > 62 ? 62 : t);
    if (t >= 32) {
        return hils_requant_q31_small(a, multiplier, (int8_t)(31 - t));
    }
    return hils_rshift_round((int64_t)a * multiplier, (unsigned)t);
}

/* hils_requant_q15 for a 32-bit accumulator and shift <= -1 (t = 15 - shift >= 16): |a * m15| <= 2^46, so q = p >> 15
 * fits int32, and (p + 2^(t-1)) >> t = ((q >> (t - 16)) + 1) >> 1 (2^(t-1) is a multiple of 2^15). The caller keeps
 * shift in -31..-1. */
HILS_INLINE int32_t hils_requant_q15_small(int32_t a, int32_t multiplier, int8_t shift)
{
    const int32_t m15 = (int32_t)(((uint32_t)multiplier + 32768u) >> 16);
    const int32_t q = (int32_t)(((int64_t)a * m15) >> 15);
    return ((q >> (-1 - (int32_t)shift)) + 1) >> 1;
}

/* hils_requant_q31(a) + zp, clamped to lo..hi: in 32-bit operations in the usual case (shift < 0). */
HILS_INLINE int32_t hils_requant_clamp_q31(int32_t a, int32_t multiplier, int8_t shift, int32_t zp, int32_t lo,
                                           int32_t hi)
{
    if (HILS_USUALLY(shift < 0 && shift >= -31)) {
        const int32_t v = hils_requant_q31_small(a, multiplier, shift) + zp; /* |.| < 2^30 + 2^15 */
        return v < lo ? lo : (v > hi ? hi : v);
    }
    return (int32_t)hils_clamp64(hils_requant_q31(a, multiplier, shift) + zp, lo, hi);
}

/* v clamped to int16, for |v| < 2^31: one SSAT where the core has it (ARMv7-M and later). */
static inline int16_t hils_sat16_32(int32_t v)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    return (int16_t)__ssat(v, 16);
#else
    return (int16_t)(v < HILS_S16_MIN ? HILS_S16_MIN : (v > HILS_S16_MAX ? HILS_S16_MAX : v));
#endif
}

/* The s16 form: a 64-bit accumulator (|a| < 2^38 under HIL_QUANT_MAX_IN) times the multiplier reduced to Q15. */
static inline int64_t hils_requant_q15(int64_t a, int32_t multiplier, int8_t shift)
{
    const int64_t m15 = ((int64_t)multiplier + 32768) >> 16;
    int32_t t = 15 - (int32_t)shift;
    t = t < 1 ? 1 : (t > 62 ? 62 : t);
    return hils_rshift_round(a * m15, (unsigned)t);
}

/* Activation tables: 513 entries of f at x = -8 + k/32 (hil_quant.h), interpolated over the low 7 bits of x. The
 * interpolated value lies between two entries, so it cannot leave int16. */
#define HILS_LUT_ENTRIES 513

static inline int16_t hils_lut_s16(const int16_t *table, int16_t x)
{
    const uint32_t u = (uint32_t)((int32_t)x + 32768);
    const uint32_t k = u >> 7;
    const int32_t r = (int32_t)(u & 127u);
    const int32_t a = table[k];
    const int32_t b = table[k + 1u];
    return (int16_t)(a + (((b - a) * r + 64) >> 7));
}

/* The shifts of hils_lstm_unit for a layer's cell_frac (0..15), worked out once per step so the unit loop has no
 * branch on them: i * g (Q0.30) to the cell's format is a rounding shift right by ig_shift (15..30); the cell to
 * Q3.12 is a shift left by c_up (cell_frac < 12, saturated) or a rounding shift right by c_down (cell_frac >= 12). */
typedef struct {
    int32_t ig_round;
    uint32_t ig_shift;
    uint32_t c_up;
    int32_t c_round;
    uint32_t c_down;
} hils_unit_shifts_t;

static inline hils_unit_shifts_t hils_unit_shifts(unsigned cell_frac)
{
    const unsigned down = cell_frac > HIL_GATE_FRAC ? cell_frac - HIL_GATE_FRAC : 0u;
    const hils_unit_shifts_t k = {
        .ig_round = 1 << (29u - cell_frac),
        .ig_shift = 30u - cell_frac,
        .c_up = cell_frac < HIL_GATE_FRAC ? HIL_GATE_FRAC - cell_frac : 0u,
        .c_round = down > 0u ? 1 << (down - 1u) : 0,
        .c_down = down,
    };
    return k;
}

/* The activation tables (hil_sigmoid_s16.c, hil_tanh_s16.c), for the LSTM step's fused unit loop. */
extern const int16_t hils_sigmoid_table[HILS_LUT_ENTRIES];
extern const int16_t hils_tanh_table[HILS_LUT_ENTRIES];

/* Unit j of every integer LSTM variant, given its four pre-activations (Q3.12) in gates[j + {0, 1, 2, 3} * H]: the
 * gates through the tables, c[j] updated in place, and o * tanh(c) returned (Q0.30) for the caller's output format.
 * One pass per unit: the values go from table to product in registers. Each product of two int16 is below 2^30 in
 * magnitude, so the rounding shifts and their sum stay in int32; the cell before the tanh table is below 2^27. */
HILS_INLINE int32_t hils_lstm_unit(const int16_t *gates, int16_t *c, size_t n_h, size_t j, const hils_unit_shifts_t *k)
{
    const int32_t i = hils_lut_s16(hils_sigmoid_table, gates[j]);
    const int32_t f = hils_lut_s16(hils_sigmoid_table, gates[n_h + j]);
    const int32_t g = hils_lut_s16(hils_tanh_table, gates[2u * n_h + j]);
    const int32_t o = hils_lut_s16(hils_sigmoid_table, gates[3u * n_h + j]);
    const int16_t cj = hils_sat16_32(((f * (int32_t)c[j] + (1 << 14)) >> 15) + ((i * g + k->ig_round) >> k->ig_shift));
    c[j] = cj;
    const int16_t c_q3_12 = hils_sat16_32(((int32_t)cj * (1 << k->c_up) + k->c_round) >> k->c_down);
    return o * (int32_t)hils_lut_s16(hils_tanh_table, c_q3_12);
}

/* v clamped to int8, for |v| < 2^31: one SSAT where the core has it. */
static inline int8_t hils_sat8_32(int32_t v)
{
#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
    return (int8_t)__ssat(v, 8);
#else
    return (int8_t)(v < INT8_MIN ? INT8_MIN : (v > INT8_MAX ? INT8_MAX : v));
#endif
}

static inline int hils_bits_ok(uint8_t bits)
{
    return bits == 0u || bits == 2u || bits == 4u || bits == 8u;
}

static inline size_t hils_row_bytes(size_t cols, unsigned bits)
{
    return (cols * bits + 7u) / 8u;
}

static inline int hils_weights_ok(const hil_weights_s8_t *w)
{
    if (w->index_bits == 0u) {
        return w->values != NULL;
    }
    return hils_bits_ok(w->index_bits) && w->indices != NULL && w->codebook != NULL;
}

/* Row checks the arithmetic relies on (|bias| <= 2^30 keeps the int32 accumulator from overflowing). */
static inline int hils_row_ok(const hil_requant_t *rq, size_t r, int min_shift, int max_shift)
{
    const int32_t bias = rq->bias != NULL ? rq->bias[r] : 0;
    return rq->multiplier[r] >= 0 && rq->shift[r] >= min_shift && rq->shift[r] <= max_shift &&
           bias >= -HIL_QUANT_MAX_BIAS && bias <= HIL_QUANT_MAX_BIAS;
}

/* sum_k W[row][k] * (x[k] + x_offset), int8 activations. Exact in int32 under HIL_QUANT_MAX_IN. Clustered weights are
 * looked up byte by byte: one load of packed indices serves 1, 2 or 4 products. */
static inline int32_t hils_dot_w8_x8(const hil_weights_s8_t *w, size_t row, size_t cols, const int8_t *x,
                                     int32_t x_offset)
{
    int32_t acc = 0;
    size_t k = 0;
    if (w->index_bits == 0u) {
        const int8_t *wr = w->values + row * cols;
#if HILS_DSP
        /* x + x_offset as two int16 pairs (elements 0,2 and 1,3) by SXTAB16, the weights likewise by SXTB16, then two
         * SMLADs: 4 products per 8 instructions. |x + x_offset| <= 255 fits a halfword. */
        const int32_t off2 = hils_pair16(x_offset);
        const int8_t *const end = wr + (cols & ~(size_t)3u);
        const int8_t *wp = wr;
        const int8_t *xp = x;
        while (wp != end) {
            const uint32_t xv = hils_load4(xp);
            const uint32_t wv = hils_load4(wp);
            xp += 4;
            wp += 4;
            acc = __smlad(__sxtb16(wv), __sxtab16(off2, xv), acc);
            acc = __smlad(hils_sxtb16_ror8(wv), hils_sxtab16_ror8(off2, xv), acc);
        }
        k = cols & ~(size_t)3u;
#endif
        for (; k < cols; k++) {
            acc += (int32_t)wr[k] * ((int32_t)x[k] + x_offset);
        }
        return acc;
    }
    const int8_t *cb = w->codebook;
    const uint8_t *ir = w->indices + row * hils_row_bytes(cols, w->index_bits);
    if (w->index_bits == 8u) {
        for (; k < cols; k++) {
            acc += (int32_t)cb[ir[k]] * ((int32_t)x[k] + x_offset);
        }
    } else if (w->index_bits == 4u) {
        for (; k + 2u <= cols; k += 2u) {
            const uint32_t b = *ir++;
            acc += (int32_t)cb[b & 15u] * ((int32_t)x[k] + x_offset);
            acc += (int32_t)cb[b >> 4] * ((int32_t)x[k + 1u] + x_offset);
        }
        if (k < cols) {
            acc += (int32_t)cb[*ir & 15u] * ((int32_t)x[k] + x_offset);
        }
    } else {
        for (; k + 4u <= cols; k += 4u) {
            const uint32_t b = *ir++;
            acc += (int32_t)cb[b & 3u] * ((int32_t)x[k] + x_offset);
            acc += (int32_t)cb[(b >> 2) & 3u] * ((int32_t)x[k + 1u] + x_offset);
            acc += (int32_t)cb[(b >> 4) & 3u] * ((int32_t)x[k + 2u] + x_offset);
            acc += (int32_t)cb[b >> 6] * ((int32_t)x[k + 3u] + x_offset);
        }
        for (unsigned s = 0; k < cols; k++, s += 2u) {
            acc += (int32_t)cb[(*ir >> s) & 3u] * ((int32_t)x[k] + x_offset);
        }
    }
    return acc;
}

/* Two rows of plain int8 weights against the same int8 x: sums[0] += w0 . (x + x_offset), sums[1] += w1 . (x +
 * x_offset). Each x word is unpacked once for both rows (on the DSP path 8 products per 13 instructions, against 8 per
 * 20 one row at a time). */
static inline void hils_dot2_w8_x8(const int8_t *w0, const int8_t *w1, size_t cols, const int8_t *x, int32_t x_offset,
                                   int32_t sums[2])
{
    int32_t a0 = sums[0];
    int32_t a1 = sums[1];
    size_t k = 0;
#if HILS_DSP
    const int32_t off2 = hils_pair16(x_offset);
    const int8_t *const end = x + (cols & ~(size_t)3u);
    const int8_t *xp = x;
    while (xp != end) {
        const uint32_t xv = hils_load4(xp);
        const uint32_t v0 = hils_load4(w0);
        const uint32_t v1 = hils_load4(w1);
        xp += 4;
        w0 += 4;
        w1 += 4;
        const int32_t xe = __sxtab16(off2, xv);
        const int32_t xo = hils_sxtab16_ror8(off2, xv);
        a0 = __smlad(__sxtb16(v0), xe, a0);
        a1 = __smlad(__sxtb16(v1), xe, a1);
        a0 = __smlad(hils_sxtb16_ror8(v0), xo, a0);
        a1 = __smlad(hils_sxtb16_ror8(v1), xo, a1);
    }
    k = cols & ~(size_t)3u;
    w0 -= k;
    w1 -= k;
#endif
    for (; k < cols; k++) {
        const int32_t xk = (int32_t)x[k] + x_offset;
        a0 += (int32_t)w0[k] * xk;
        a1 += (int32_t)w1[k] * xk;
    }
    sums[0] = a0;
    sums[1] = a1;
}

/* Two rows of plain int8 weights against the same int16 x (zero point 0), 64-bit sums. */
static inline void hils_dot2_w8_x16(const int8_t *w0, const int8_t *w1, size_t cols, const int16_t *x, int64_t sums[2])
{
    int64_t a0 = sums[0];
    int64_t a1 = sums[1];
    size_t k = 0;
#if HILS_DSP
    const int16_t *const end = x + (cols & ~(size_t)3u);
    const int16_t *xp = x;
    while (xp != end) {
        const uint32_t x01 = hils_load4(xp);
        const uint32_t x23 = hils_load4(xp + 2);
        const uint32_t v0 = hils_load4(w0);
        const uint32_t v1 = hils_load4(w1);
        xp += 4;
        w0 += 4;
        w1 += 4;
        const int32_t xe = hils_pack_lo(x01, x23);
        const int32_t xo = hils_pack_hi(x01, x23);
        a0 = __smlald(__sxtb16(v0), xe, a0);
        a1 = __smlald(__sxtb16(v1), xe, a1);
        a0 = __smlald(hils_sxtb16_ror8(v0), xo, a0);
        a1 = __smlald(hils_sxtb16_ror8(v1), xo, a1);
    }
    k = cols & ~(size_t)3u;
    w0 -= k;
    w1 -= k;
#endif
    for (; k < cols; k++) {
        a0 += (int32_t)w0[k] * (int32_t)x[k];
        a1 += (int32_t)w1[k] * (int32_t)x[k];
    }
    sums[0] = a0;
    sums[1] = a1;
}

/* sum_k W[row][k] * x[k], int16 activations (zero point 0); each product fits in 24 bits, the sum in int64. */
static inline int64_t hils_dot_w8_x16(const hil_weights_s8_t *w, size_t row, size_t cols, const int16_t *x)
{
    int64_t acc = 0;
    size_t k = 0;
    if (w->index_bits == 0u) {
        const int8_t *wr = w->values + row * cols;
#if HILS_DSP
        /* x as pairs (x0, x2) and (x1, x3) by PKHBT, PKHTB, the weights by SXTB16, then two SMLALDs
         * into the 64-bit sum */
        const int8_t *const end = wr + (cols & ~(size_t)3u);
        const int8_t *wp = wr;
        const int16_t *xp = x;
        while (wp != end) {
            const uint32_t x01 = hils_load4(xp);
            const uint32_t x23 = hils_load4(xp + 2);
            const uint32_t wv = hils_load4(wp);
            xp += 4;
            wp += 4;
            acc = __smlald(__sxtb16(wv), hils_pack_lo(x01, x23), acc);
            acc = __smlald(hils_sxtb16_ror8(wv), hils_pack_hi(x01, x23), acc);
        }
        k = cols & ~(size_t)3u;
#endif
        for (; k < cols; k++) {
            acc += (int32_t)wr[k] * (int32_t)x[k];
        }
        return acc;
    }
    const int8_t *cb = w->codebook;
    const uint8_t *ir = w->indices + row * hils_row_bytes(cols, w->index_bits);
    if (w->index_bits == 8u) {
        for (; k < cols; k++) {
            acc += (int32_t)cb[ir[k]] * (int32_t)x[k];
        }
    } else if (w->index_bits == 4u) {
        for (; k + 2u <= cols; k += 2u) {
            const uint32_t b = *ir++;
            acc += (int32_t)cb[b & 15u] * (int32_t)x[k] + (int32_t)cb[b >> 4] * (int32_t)x[k + 1u];
        }
        if (k < cols) {
            acc += (int32_t)cb[*ir & 15u] * (int32_t)x[k];
        }
    } else {
        for (; k + 4u <= cols; k += 4u) {
            const uint32_t b = *ir++;
            acc += (int32_t)cb[b & 3u] * (int32_t)x[k] + (int32_t)cb[(b >> 2) & 3u] * (int32_t)x[k + 1u] +
                   (int32_t)cb[(b >> 4) & 3u] * (int32_t)x[k + 2u] + (int32_t)cb[b >> 6] * (int32_t)x[k + 3u];
        }
        for (unsigned s = 0; k < cols; k++, s += 2u) {
            acc += (int32_t)cb[(*ir >> s) & 3u] * (int32_t)x[k];
        }
    }
    return acc;
}

/* sum_k w[k] * x[k], Q m.n: each product fits in int32, the sum in int64. */
static inline int64_t hils_dot_q15(const int16_t *w, const int16_t *x, size_t n)
{
    int64_t acc = 0;
    for (size_t k = 0; k < n; k++) {
        acc += (int32_t)w[k] * (int32_t)x[k];
    }
    return acc;
}

/* Pointer and size checks of a dense layer; the row values are checked where they are used. */
static inline int hils_qdense_ok(const hil_qdense_t *d, int32_t act_lo, int32_t act_hi)
{
    return d->in_size != 0u && d->out_size != 0u && d->in_size <= HIL_QUANT_MAX_IN && hils_weights_ok(&d->w) &&
           d->rq.multiplier != NULL && d->rq.shift != NULL && d->act_min <= d->act_max && d->act_min >= act_lo &&
           d->act_max <= act_hi;
}

static inline int hils_dense_q15_ok(const hil_dense_q15_t *d)
{
    return d->in_size != 0u && d->out_size != 0u && d->in_size <= HIL_QUANT_MAX_IN && d->w != NULL && d->bias != NULL &&
           d->bias_shift <= 30u && d->out_shift <= 31u;
}

static inline int hils_scratch_ok(const hil_scratch_t *ctx, size_t need)
{
    return ctx != NULL && ctx->size >= need && (need == 0u || ctx->buf != NULL);
}

#endif /* HILS_QUANT_MATH_H */
