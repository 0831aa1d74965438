#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"
#include "support/hils_quant_model.h"

hil_status_t hil_lstm_cell_s16(const hil_qlstm_layer_t *layer, const int16_t *x, int16_t *h, int16_t *c, int16_t *gates)
{
    if (layer == NULL || x == NULL || h == NULL || c == NULL || gates == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_qlstm_layer_ok(layer, 1)) {
        return HIL_ERR_BAD_MODEL;
    }
    const size_t n_in = layer->input_size;
    const size_t n_h = layer->hidden_size;
    const size_t rows = 4u * n_h;

    /* As hil_lstm_cell_s8, with int64 accumulators and the Q15-reduced multipliers of the s16 requantization. */
    size_t r = 0;
    if (layer->w_ih.index_bits == 0u && layer->w_hh.index_bits == 0u) { /* plain weights: rows in pairs */
        for (size_t k = 0; k < rows; k++) {
            if (!hils_row_ok(&layer->ih, k, HILS_Q31_SHIFT_MIN, HILS_Q15_SHIFT_MAX) ||
                !hils_row_ok(&layer->hh, k, HILS_Q31_SHIFT_MIN, HILS_Q15_SHIFT_MAX)) {
                return HIL_ERR_BAD_MODEL;
            }
        }
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
                gates[r + i] =
                    hils_sat16(hils_requant_q15(s_ih[i], layer->ih.multiplier[r + i], layer->ih.shift[r + i]) +
                               hils_requant_q15(s_hh[i], layer->hh.multiplier[r + i], layer->hh.shift[r + i]));
            }
        }
    }
    for (; r < rows; r++) {
        if (!hils_row_ok(&layer->ih, r, HILS_Q31_SHIFT_MIN, HILS_Q15_SHIFT_MAX) ||
            !hils_row_ok(&layer->hh, r, HILS_Q31_SHIFT_MIN, HILS_Q15_SHIFT_MAX)) {
            return HIL_ERR_BAD_MODEL;
        }
        const int64_t bias = layer->ih.bias != NULL ? layer->ih.bias[r] : 0;
        const int64_t a_ih = bias + hils_dot_w8_x16(&layer->w_ih, r, n_in, x);
        const int64_t a_hh = hils_dot_w8_x16(&layer->w_hh, r, n_h, h);
        gates[r] = hils_sat16(hils_requant_q15(a_ih, layer->ih.multiplier[r], layer->ih.shift[r]) +
                              hils_requant_q15(a_hh, layer->hh.multiplier[r], layer->hh.shift[r]));
    }
    (void)hil_sigmoid_s16(gates, gates, 2u * n_h); /* i, f */
    (void)hil_tanh_s16(gates + 2u * n_h, gates + 2u * n_h, n_h);
    (void)hil_sigmoid_s16(gates + 3u * n_h, gates + 3u * n_h, n_h);
    hils_lstm_cell_update(gates, c, n_h, layer->cell_frac);
    (void)hil_tanh_s16(gates, gates, n_h);
    for (size_t j = 0; j < n_h; j++) {
        const int32_t p = (int32_t)gates[3u * n_h + j] * (int32_t)gates[j]; /* Q0.30, fits the Q31 form */
        h[j] = hils_sat16(hils_requant_q31(p, layer->h_multiplier, layer->h_shift));
    }
    return HIL_OK;
}
