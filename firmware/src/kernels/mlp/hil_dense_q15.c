#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"

hil_status_t hil_dense_q15(const hil_dense_q15_t *layer, const int16_t *x, int16_t *y)
{
    if (layer == NULL || x == NULL || y == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_dense_q15_ok(layer)) {
        return HIL_ERR_BAD_MODEL;
    }
    const size_t cols = layer->in_size;
    const int64_t bias_scale = (int64_t)1 << layer->bias_shift;
    const int16_t *w = layer->w;
    for (size_t r = 0; r < layer->out_size; r++) {
        /* The bias is multiplied, not shifted left: a left shift of a negative value is undefined in C. */
        const int64_t acc = hils_dot_q15(w, x, cols) + (int64_t)layer->bias[r] * bias_scale;
        const int16_t v = hils_sat16(hils_rshift_round(acc, layer->out_shift));
        y[r] = (layer->relu != 0u && v < 0) ? (int16_t)0 : v;
        w += cols;
    }
    return HIL_OK;
}
