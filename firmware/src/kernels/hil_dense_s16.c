#include "hil/hil_quant.h"
#include "hil_quant_math.h"

hil_status_t hil_dense_s16(const hil_qdense_t *layer, const int16_t *x, int16_t *y)
{
    if (layer == NULL || x == NULL || y == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* s16 activations are symmetric: a zero point other than 0 is a model built for another kernel. */
    if (!hil_qdense_ok(layer, HIL_S16_MIN, HIL_S16_MAX) || layer->in_zp != 0 || layer->out_zp != 0) {
        return HIL_ERR_BAD_MODEL;
    }
    const size_t rows = layer->out_size;
    const size_t cols = layer->in_size;
    const hil_requant_t *rq = &layer->rq;
    for (size_t r = 0; r < rows; r++) {
        if (!hil_row_ok(rq, r, -31, 14)) {
            return HIL_ERR_BAD_MODEL;
        }
    }
    for (size_t r = 0; r < rows; r++) {
        const int64_t bias = rq->bias != NULL ? rq->bias[r] : 0;
        const int64_t acc = bias + hil_dot_w8_x16(&layer->w, r, cols, x);
        const int64_t v = hil_requant_q15(acc, rq->multiplier[r], rq->shift[r]);
        y[r] = (int16_t)hil_clamp64(v, layer->act_min, layer->act_max);
    }
    return HIL_OK;
}
