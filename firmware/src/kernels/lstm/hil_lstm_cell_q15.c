#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"
#include "support/hils_quant_model.h"

hil_status_t hil_lstm_cell_q15(const hil_lstm_layer_q15_t *layer, const int16_t *x, int16_t *h, int16_t *c,
                               int16_t *gates)
{
    if (layer == NULL || x == NULL || h == NULL || c == NULL || gates == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_lstm_q15_layer_ok(layer)) {
        return HIL_ERR_BAD_MODEL;
    }
    const size_t n_in = layer->input_size;
    const size_t n_h = layer->hidden_size;
    const size_t rows = 4u * n_h;
    /* Products of two Q m.n numbers carry the sum of their fraction bits; the x and h halves and the bias are
     * brought to one fraction by multiplying (a left shift of a negative value is undefined), then to Q3.12. */
    const int64_t ih_scale = (int64_t)1 << layer->ih_align;
    const int64_t hh_scale = (int64_t)1 << layer->hh_align;
    const int64_t bias_scale = (int64_t)1 << layer->bias_align;
    const int16_t *w_ih = layer->w_ih;
    const int16_t *w_hh = layer->w_hh;
    for (size_t r = 0; r < rows; r++) {
        const int64_t acc = hils_dot_q15(w_ih, x, n_in) * ih_scale + hils_dot_q15(w_hh, h, n_h) * hh_scale +
                            (int64_t)layer->bias[r] * bias_scale;
        gates[r] = hils_sat16(hils_rshift_round(acc, layer->gate_shift));
        w_ih += n_in;
        w_hh += n_h;
    }
    const unsigned h_shift = 30u - layer->h_frac;
    const hils_unit_shifts_t k = hils_unit_shifts(layer->cell_frac);
    for (size_t j = 0; j < n_h; j++) {
        const int32_t p = hils_lstm_unit(gates, c, n_h, j, &k); /* Q0.30 */
        h[j] = hils_sat16(hils_rshift_round(p, h_shift));
    }
    return HIL_OK;
}
