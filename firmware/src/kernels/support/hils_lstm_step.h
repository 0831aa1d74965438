/* One LSTM step of the integer kernels, with nothing checked: hil_lstm_cell_s8/s16 check the layer first, and
 * hil_lstm_forward_s8/s16 check the whole model once (hils_qlstm_ok, every row included) instead of at every step. */
#ifndef HILS_LSTM_STEP_H
#define HILS_LSTM_STEP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"

/* Gate pre-activation r, Q3.12: the two products requantized with their own scales, then summed. */
HILS_INLINE int16_t hils_gate_q31(const hil_qlstm_layer_t *L, size_t r, int32_t a_ih, int32_t a_hh)
{
    const int8_t s_ih = L->ih.shift[r];
    const int8_t s_hh = L->hh.shift[r];
    if (HILS_USUALLY(s_ih < 0 && s_hh < 0)) { /* the usual case: both below 2^30 in magnitude, their sum an int32 */
        return hils_sat16_32(hils_requant_q31_small(a_ih, L->ih.multiplier[r], s_ih) +
                             hils_requant_q31_small(a_hh, L->hh.multiplier[r], s_hh));
    }
    return hils_sat16(hils_requant_q31(a_ih, L->ih.multiplier[r], s_ih) +
                      hils_requant_q31(a_hh, L->hh.multiplier[r], s_hh));
}

/* The first sums of four rows: their biases (or 0). */
HILS_INLINE void hils_bias4(int32_t acc[4], const int32_t *bias, size_t r)
{
    if (bias != NULL) {
        memcpy(acc, bias + r, 4u * sizeof(int32_t));
    } else {
        memset(acc, 0, 4u * sizeof(int32_t));
    }
}

HILS_INLINE int16_t hils_gate_q15(const hil_qlstm_layer_t *L, size_t r, int64_t a_ih, int64_t a_hh)
{
    return hils_sat16(hils_requant_q15(a_ih, L->ih.multiplier[r], L->ih.shift[r]) +
                      hils_requant_q15(a_hh, L->hh.multiplier[r], L->hh.shift[r]));
}

/* hils_gate_q15 of 32-bit sums (rows of at most HILS_S16_CHUNK_COLS): 32-bit operations in the usual case. */
HILS_INLINE int16_t hils_gate_q15_32(const hil_qlstm_layer_t *L, size_t r, int32_t a_ih, int32_t a_hh)
{
    const int8_t s_ih = L->ih.shift[r];
    const int8_t s_hh = L->hh.shift[r];
    if (s_ih < 0 && s_hh < 0) { /* each below 2^30 in magnitude */
        return hils_sat16_32(hils_requant_q15_small(a_ih, L->ih.multiplier[r], s_ih) +
                             hils_requant_q15_small(a_hh, L->hh.multiplier[r], s_hh));
    }
    return hils_gate_q15(L, r, a_ih, a_hh);
}

/* Gate pre-activation of row i of the four at m, sh (multipliers, shifts) from its two sums, for shifts in -31..-1.
 * q15: the Q15-reduced multipliers of the s16 kernels (32-bit sums, HILS_S16_CHUNK_COLS). */
HILS_INLINE int16_t hils_gate_small(const int32_t *m_ih, const int8_t *sh_ih, const int32_t *m_hh, const int8_t *sh_hh,
                                    unsigned i, int32_t a_ih, int32_t a_hh, int q15)
{
    if (q15) {
        return hils_sat16_32(hils_requant_q15_small(a_ih, m_ih[i], sh_ih[i]) +
                             hils_requant_q15_small(a_hh, m_hh[i], sh_hh[i]));
    }
    return hils_sat16_32(hils_requant_q31_small(a_ih, m_ih[i], sh_ih[i]) +
                         hils_requant_q31_small(a_hh, m_hh[i], sh_hh[i]));
}

/* Gate pre-activations r..r+3 from their sums, for a layer whose shifts are all in -31..-1 (hils_qlstm_shifts_small):
 * no test per row. Unrolled for s8 (GCC keeps the loop otherwise, with the scales reloaded through the layer), not for
 * s16 (GCC spills when it is). */
HILS_INLINE void hils_gates4_small(const hil_qlstm_layer_t *L, size_t r, const int32_t s_ih[4], const int32_t s_hh[4],
                                   int16_t *gates, int q15)
{
    const int32_t *m_ih = L->ih.multiplier + r;
    const int32_t *m_hh = L->hh.multiplier + r;
    const int8_t *sh_ih = L->ih.shift + r;
    const int8_t *sh_hh = L->hh.shift + r;
    if (q15) {
        for (unsigned i = 0; i < 4u; i++) {
            gates[r + i] = hils_gate_small(m_ih, sh_ih, m_hh, sh_hh, i, s_ih[i], s_hh[i], 1);
        }
        return;
    }
#pragma GCC unroll 4
    for (unsigned i = 0; i < 4u; i++) {
        gates[r + i] = hils_gate_small(m_ih, sh_ih, m_hh, sh_hh, i, s_ih[i], s_hh[i], 0);
    }
}

/* The first sums of rows r..r+3 of a layer of one input (a univariate series): bias plus one product, worked out
 * with the gates rather than through the four-row loop's set-up. x0: x[0] plus the input offset. */
HILS_INLINE void hils_sums4_x1(int32_t s[4], const hil_qlstm_layer_t *L, size_t r, int32_t x0)
{
    const int8_t *w = L->w_ih.values + r; /* one column: rows r..r+3 are consecutive bytes */
#pragma GCC unroll 4
    for (unsigned i = 0; i < 4u; i++) {
        s[i] = (L->ih.bias != NULL ? L->ih.bias[r + i] : 0) + (int32_t)w[i] * x0;
    }
}

/* `pairs`: hils_qlstm_pairs_bytes of scratch for the DSP path's four-row loop, or NULL (hil_lstm_cell_s8/s16, which
 * have no scratch of their own) for rows in pairs. `shifts_small`: hils_qlstm_shifts_small(layer), or 0. */
static inline void hils_lstm_step_s8(const hil_qlstm_layer_t *layer, const int8_t *x, int8_t *h, int16_t *c,
                                     int16_t *gates, int32_t *pairs, int shifts_small)
{
    const size_t n_in = layer->input_size;
    const size_t n_h = layer->hidden_size;
    const size_t rows = 4u * n_h;
    const int32_t x_offset = -(int32_t)layer->x_zp;
    const int32_t h_offset = -(int32_t)layer->h_zp;

    /* All 4H pre-activations first: h is both an input of every row and an output of this step. */
    size_t r = 0;
    const int plain = layer->w_ih.index_bits == 0u && layer->w_hh.index_bits == 0u;
#if HILS_DSP
    if (plain && pairs != NULL) { /* four rows per pass; x and h unpacked once per step */
        int32_t *px = pairs;
        int32_t *ph = pairs + 2u * hils_pair_groups(n_in);
        hils_pairs_x8(px, x, n_in, x_offset);
        hils_pairs_x8(ph, h, n_h, h_offset);
        if (shifts_small && n_in == 1u) {
            const int32_t x0 = (int32_t)x[0] + x_offset;
            for (; r < rows; r += 4u) {
                int32_t s_hh[4] = {0, 0, 0, 0};
                int32_t s_ih[4];
                hils_rows4_x8(s_hh, layer->w_hh.values + r * n_h, n_h, n_h, ph, h, h_offset);
                hils_sums4_x1(s_ih, layer, r, x0);
                hils_gates4_small(layer, r, s_ih, s_hh, gates, 0);
            }
        }
        for (; r < rows; r += 4u) { /* rows = 4H */
            int32_t s_ih[4];
            int32_t s_hh[4] = {0, 0, 0, 0};
            hils_bias4(s_ih, layer->ih.bias, r);
            const int8_t *wi = layer->w_ih.values + r * n_in;
            const int8_t *wh = layer->w_hh.values + r * n_h;
            hils_rows4_x8(s_ih, wi, n_in, n_in, px, x, x_offset);
            hils_rows4_x8(s_hh, wh, n_h, n_h, ph, h, h_offset);
            if (shifts_small) {
                hils_gates4_small(layer, r, s_ih, s_hh, gates, 0);
                continue;
            }
            /* unrolled: GCC keeps the loop otherwise, with the row's scales reloaded through the layer */
#pragma GCC unroll 4
            for (unsigned i = 0; i < 4u; i++) {
                gates[r + i] = hils_gate_q31(layer, r + i, s_ih[i], s_hh[i]);
            }
        }
    }
#else
    (void)pairs;
    (void)shifts_small;
#endif
    if (plain) { /* rows in pairs */
        int32_t s_ih[2];
        int32_t s_hh[2];
        for (; r < rows; r += 2u) { /* rows = 4H is even */
            s_ih[0] = layer->ih.bias != NULL ? layer->ih.bias[r] : 0;
            s_ih[1] = layer->ih.bias != NULL ? layer->ih.bias[r + 1u] : 0;
            s_hh[0] = 0;
            s_hh[1] = 0;
            const int8_t *wi = layer->w_ih.values + r * n_in;
            const int8_t *wh = layer->w_hh.values + r * n_h;
            hils_dot2_w8_x8(wi, wi + n_in, n_in, x, x_offset, s_ih);
            hils_dot2_w8_x8(wh, wh + n_h, n_h, h, h_offset, s_hh);
            for (unsigned i = 0; i < 2u; i++) {
                gates[r + i] = hils_gate_q31(layer, r + i, s_ih[i], s_hh[i]);
            }
        }
    }
    for (; r < rows; r++) {
        const int32_t bias = layer->ih.bias != NULL ? layer->ih.bias[r] : 0;
        const int32_t a_ih = bias + hils_dot_w8_x8(&layer->w_ih, r, n_in, x, x_offset);
        const int32_t a_hh = hils_dot_w8_x8(&layer->w_hh, r, n_h, h, h_offset);
        gates[r] = hils_gate_q31(layer, r, a_ih, a_hh);
    }
    const hils_unit_shifts_t k = hils_unit_shifts(layer->cell_frac);
    const int32_t h_multiplier = layer->h_multiplier;
    const int8_t h_shift = layer->h_shift;
    const int32_t h_zp = layer->h_zp;
    if (HILS_USUALLY(h_shift < 0 && h_shift >= -31)) { /* hils_requant_clamp_q31's usual case, tested once */
        for (size_t j = 0; j < n_h; j++) {
            const int32_t p = hils_lstm_unit(gates, c, n_h, j, &k); /* Q0.30 */
            h[j] = hils_sat8_32(hils_requant_q31_small(p, h_multiplier, h_shift) + h_zp);
        }
        return;
    }
    for (size_t j = 0; j < n_h; j++) {
        const int32_t p = hils_lstm_unit(gates, c, n_h, j, &k);
        h[j] = (int8_t)hils_requant_clamp_q31(p, h_multiplier, h_shift, h_zp, INT8_MIN, INT8_MAX);
    }
}

static inline void hils_lstm_step_s16(const hil_qlstm_layer_t *layer, const int16_t *x, int16_t *h, int16_t *c,
                                      int16_t *gates, int32_t *pairs, int shifts_small)
{
    const size_t n_in = layer->input_size;
    const size_t n_h = layer->hidden_size;
    const size_t rows = 4u * n_h;

    /* As hil_lstm_cell_s8, with int64 accumulators and the Q15-reduced multipliers of the s16 requantization. */
    size_t r = 0;
    const int plain = layer->w_ih.index_bits == 0u && layer->w_hh.index_bits == 0u;
#if HILS_DSP
    if (plain && pairs != NULL) {
        int32_t *px = pairs;
        int32_t *ph = pairs + 2u * hils_pair_groups(n_in);
        hils_pairs_x16(px, x, n_in);
        hils_pairs_x16(ph, h, n_h);
        const int narrow = n_in <= HILS_S16_CHUNK_COLS && n_h <= HILS_S16_CHUNK_COLS;
        if (shifts_small && narrow && n_in == 1u) {
            for (; r < rows; r += 4u) {
                int32_t s_ih[4];
                int32_t s_hh[4] = {0, 0, 0, 0};
                hils_rows4_x16(s_hh, layer->w_hh.values + r * n_h, n_h, n_h, ph, h);
                hils_sums4_x1(s_ih, layer, r, x[0]);
                hils_gates4_small(layer, r, s_ih, s_hh, gates, 1);
            }
        }
        for (; r < rows; r += 4u) {
            const int8_t *wi = layer->w_ih.values + r * n_in;
            const int8_t *wh = layer->w_hh.values + r * n_h;
            if (narrow) { /* 32-bit sums (HILS_S16_CHUNK_COLS) */
                int32_t s_ih[4];
                int32_t s_hh[4] = {0, 0, 0, 0};
                hils_bias4(s_ih, layer->ih.bias, r);
                hils_rows4_x16(s_ih, wi, n_in, n_in, px, x);
                hils_rows4_x16(s_hh, wh, n_h, n_h, ph, h);
                if (shifts_small) {
                    hils_gates4_small(layer, r, s_ih, s_hh, gates, 1);
                    continue;
                }
                for (unsigned i = 0; i < 4u; i++) { /* unrolled, this loop grew: GCC spilled */
                    gates[r + i] = hils_gate_q15_32(layer, r + i, s_ih[i], s_hh[i]);
                }
            } else {
                int64_t s_ih[4];
                int64_t s_hh[4] = {0, 0, 0, 0};
                for (unsigned i = 0; i < 4u; i++) {
                    s_ih[i] = layer->ih.bias != NULL ? layer->ih.bias[r + i] : 0;
                }
                hils_rows4_x16_wide(s_ih, wi, n_in, px, x);
                hils_rows4_x16_wide(s_hh, wh, n_h, ph, h);
                for (unsigned i = 0; i < 4u; i++) {
                    gates[r + i] = hils_gate_q15(layer, r + i, s_ih[i], s_hh[i]);
                }
            }
        }
    }
#else
    (void)pairs;
    (void)shifts_small;
#endif
    if (plain) { /* rows in pairs */
        int64_t s_ih[2];
        int64_t s_hh[2];
        for (; r < rows; r += 2u) { /* rows = 4H is even */
            s_ih[0] = layer->ih.bias != NULL ? layer->ih.bias[r] : 0;
            s_ih[1] = layer->ih.bias != NULL ? layer->ih.bias[r + 1u] : 0;
            s_hh[0] = 0;
            s_hh[1] = 0;
            const int8_t *wi = layer->w_ih.values + r * n_in;
            const int8_t *wh = layer->w_hh.values + r * n_h;
            hils_dot2_w8_x16(wi, wi + n_in, n_in, x, s_ih);
            hils_dot2_w8_x16(wh, wh + n_h, n_h, h, s_hh);
            for (unsigned i = 0; i < 2u; i++) {
                gates[r + i] = hils_gate_q15(layer, r + i, s_ih[i], s_hh[i]);
            }
        }
    }
    for (; r < rows; r++) {
        const int64_t bias = layer->ih.bias != NULL ? layer->ih.bias[r] : 0;
        const int64_t a_ih = bias + hils_dot_w8_x16(&layer->w_ih, r, n_in, x);
        const int64_t a_hh = hils_dot_w8_x16(&layer->w_hh, r, n_h, h);
        gates[r] = hils_gate_q15(layer, r, a_ih, a_hh);
    }
    const hils_unit_shifts_t k = hils_unit_shifts(layer->cell_frac);
    const int32_t h_multiplier = layer->h_multiplier;
    const int8_t h_shift = layer->h_shift;
    if (HILS_USUALLY(h_shift < 0 && h_shift >= -31)) { /* hils_requant_clamp_q31's usual case, tested once */
        for (size_t j = 0; j < n_h; j++) {
            const int32_t p = hils_lstm_unit(gates, c, n_h, j, &k); /* Q0.30, fits the Q31 form */
            h[j] = hils_sat16_32(hils_requant_q31_small(p, h_multiplier, h_shift));
        }
        return;
    }
    for (size_t j = 0; j < n_h; j++) {
        const int32_t p = hils_lstm_unit(gates, c, n_h, j, &k);
        h[j] = (int16_t)hils_requant_clamp_q31(p, h_multiplier, h_shift, 0, HILS_S16_MIN, HILS_S16_MAX);
    }
}

#endif
