/* Internal kernel support, not public API: every symbol here takes the hils_ / HILS_ prefix (as CMSIS-NN's arm_nn_). */
/* The rows of an s8 / s16 dense layer, with nothing checked: hil_dense_s8/s16 check the layer first, the forwards
 * check the whole model once (hils_qmlp_ok, hils_qlstm_ok, every row included). `pairs`: hils_pairs_bytes(in_size) of
 * scratch for the DSP path's four-row loop, or NULL (hil_dense_s8/s16, which have no scratch) for rows in pairs. */
#ifndef HILS_QDENSE_H
#define HILS_QDENSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"

HILS_INLINE int8_t hils_out_s8(const hil_qdense_t *d, size_t r, int32_t acc)
{
    return (int8_t)hils_requant_clamp_q31(acc, d->rq.multiplier[r], d->rq.shift[r], d->out_zp, d->act_min, d->act_max);
}

HILS_INLINE int16_t hils_out_s16(const hil_qdense_t *d, size_t r, int64_t acc)
{
    return (int16_t)hils_clamp64(hils_requant_q15(acc, d->rq.multiplier[r], d->rq.shift[r]), d->act_min, d->act_max);
}

/* hils_out_s16 of a 32-bit sum (rows of at most HILS_S16_CHUNK_COLS): 32-bit operations in the usual case. */
HILS_INLINE int16_t hils_out_s16_32(const hil_qdense_t *d, size_t r, int32_t acc)
{
    const int8_t shift = d->rq.shift[r];
    if (shift < 0) {
        const int32_t v = hils_requant_q15_small(acc, d->rq.multiplier[r], shift);
        return (int16_t)(v < d->act_min ? d->act_min : (v > d->act_max ? d->act_max : v));
    }
    return hils_out_s16(d, r, acc);
}

/* Outputs r..r+3 of an s8 layer whose shifts are all negative (hils_shifts_negative): no test per row. */
HILS_INLINE void hils_out4_s8_small(const hil_qdense_t *d, size_t r, const int32_t acc[4], int8_t *y)
{
    const int32_t *multiplier = d->rq.multiplier + r;
    const int8_t *shift = d->rq.shift + r;
    const int32_t zp = d->out_zp;
    const int32_t lo = d->act_min;
    const int32_t hi = d->act_max;
#pragma GCC unroll 4
    for (unsigned i = 0; i < 4u; i++) {
        const int32_t v = hils_requant_q31_small(acc[i], multiplier[i], shift[i]) + zp; /* |.| < 2^30 + 2^15 */
        y[r + i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

/* The same for an s16 layer (32-bit sums, HILS_S16_CHUNK_COLS). */
HILS_INLINE void hils_out4_s16_small(const hil_qdense_t *d, size_t r, const int32_t acc[4], int16_t *y)
{
    const int32_t *multiplier = d->rq.multiplier + r;
    const int8_t *shift = d->rq.shift + r;
    const int32_t lo = d->act_min;
    const int32_t hi = d->act_max;
#pragma GCC unroll 4
    for (unsigned i = 0; i < 4u; i++) {
        const int32_t v = hils_requant_q15_small(acc[i], multiplier[i], shift[i]);
        y[r + i] = (int16_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

static inline void hils_dense_s8_run(const hil_qdense_t *d, const int8_t *x, int8_t *y, int32_t *pairs)
{
    const size_t rows = d->out_size;
    const size_t cols = d->in_size;
    const int32_t *bias = d->rq.bias;
    const int32_t x_offset = -(int32_t)d->in_zp;
    const int plain = d->w.index_bits == 0u;
    size_t r = 0;
#if HILS_DSP
    if (plain && pairs != NULL) { /* four rows per pass; x unpacked once */
        hils_pairs_x8(pairs, x, cols, x_offset);
        const int negative = hils_shifts_negative(d->rq.shift, rows);
        for (; r + 4u <= rows; r += 4u) {
            int32_t acc[4] = {0, 0, 0, 0};
            if (bias != NULL) {
                memcpy(acc, bias + r, sizeof acc);
            }
            const int8_t *w = d->w.values + r * cols;
            hils_rows4_x8(acc, w, cols, cols, pairs, x, x_offset);
            if (negative) {
                hils_out4_s8_small(d, r, acc, y);
                continue;
            }
            for (unsigned i = 0; i < 4u; i++) {
                y[r + i] = hils_out_s8(d, r + i, acc[i]);
            }
        }
    }
#else
    (void)pairs;
#endif
    if (plain) { /* rows in pairs, each x word unpacked once for both */
        int32_t sums[2];
        for (; r + 2u <= rows; r += 2u) {
            sums[0] = bias != NULL ? bias[r] : 0;
            sums[1] = bias != NULL ? bias[r + 1u] : 0;
            const int8_t *w0 = d->w.values + r * cols;
            hils_dot2_w8_x8(w0, w0 + cols, cols, x, x_offset, sums);
            y[r] = hils_out_s8(d, r, sums[0]);
            y[r + 1u] = hils_out_s8(d, r + 1u, sums[1]);
        }
    }
    for (; r < rows; r++) {
        const int32_t b = bias != NULL ? bias[r] : 0;
        y[r] = hils_out_s8(d, r, b + hils_dot_w8_x8(&d->w, r, cols, x, x_offset));
    }
}

static inline void hils_dense_s16_run(const hil_qdense_t *d, const int16_t *x, int16_t *y, int32_t *pairs)
{
    const size_t rows = d->out_size;
    const size_t cols = d->in_size;
    const int32_t *bias = d->rq.bias;
    const int plain = d->w.index_bits == 0u;
    size_t r = 0;
#if HILS_DSP
    if (plain && pairs != NULL) {
        hils_pairs_x16(pairs, x, cols);
        const int negative = hils_shifts_negative(d->rq.shift, rows);
        for (; r + 4u <= rows; r += 4u) {
            const int8_t *w = d->w.values + r * cols;
            if (cols <= HILS_S16_CHUNK_COLS) { /* 32-bit sums */
                int32_t acc[4] = {0, 0, 0, 0};
                if (bias != NULL) {
                    memcpy(acc, bias + r, sizeof acc);
                }
                hils_rows4_x16(acc, w, cols, cols, pairs, x);
                if (negative) {
                    hils_out4_s16_small(d, r, acc, y);
                    continue;
                }
                for (unsigned i = 0; i < 4u; i++) {
                    y[r + i] = hils_out_s16_32(d, r + i, acc[i]);
                }
            } else {
                int64_t acc[4];
                for (unsigned i = 0; i < 4u; i++) {
                    acc[i] = bias != NULL ? bias[r + i] : 0;
                }
                hils_rows4_x16_wide(acc, w, cols, pairs, x);
                for (unsigned i = 0; i < 4u; i++) {
                    y[r + i] = hils_out_s16(d, r + i, acc[i]);
                }
            }
        }
    }
#else
    (void)pairs;
#endif
    if (plain) { /* rows in pairs, each x word packed once for both */
        int64_t sums[2];
        for (; r + 2u <= rows; r += 2u) {
            sums[0] = bias != NULL ? bias[r] : 0;
            sums[1] = bias != NULL ? bias[r + 1u] : 0;
            const int8_t *w0 = d->w.values + r * cols;
            hils_dot2_w8_x16(w0, w0 + cols, cols, x, sums);
            y[r] = hils_out_s16(d, r, sums[0]);
            y[r + 1u] = hils_out_s16(d, r + 1u, sums[1]);
        }
    }
    for (; r < rows; r++) {
        const int64_t b = bias != NULL ? bias[r] : 0;
        y[r] = hils_out_s16(d, r, b + hils_dot_w8_x16(&d->w, r, cols, x));
    }
}

#endif /* HILS_QDENSE_H */
