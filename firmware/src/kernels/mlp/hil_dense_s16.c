#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"

hil_status_t hil_dense_s16(const hil_qdense_t *layer, const int16_t *x, int16_t *y)
{
    if (layer == NULL || x == NULL || y == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* s16 activations are symmetric: a zero point other than 0 is a model built for another kernel. */
    if (!hils_qdense_ok(layer, HILS_S16_MIN, HILS_S16_MAX) || layer->in_zp != 0 || layer->out_zp != 0) {
        return HIL_ERR_BAD_MODEL;
    }
    const size_t rows = layer->out_size;
    const size_t cols = layer->in_size;
    const hil_requant_t *rq = &layer->rq;
    for (size_t r = 0; r < rows; r++) {
        if (!hils_row_ok(rq, r, -31, 14)) {
            return HIL_ERR_BAD_MODEL;
        }
    }
    size_t r = 0;
    int64_t sums[2];
    if (layer->w.index_bits == 0u) { /* plain weights: rows in pairs, each x word packed once for both */
        for (; r + 2u <= rows; r += 2u) {
            sums[0] = rq->bias != NULL ? rq->bias[r] : 0;
            sums[1] = rq->bias != NULL ? rq->bias[r + 1u] : 0;
            const int8_t *w0 = layer->w.values + r * cols;
            hils_dot2_w8_x16(w0, w0 + cols, cols, x, sums);
            for (unsigned i = 0; i < 2u; i++) {
                const int64_t v = hils_requant_q15(sums[i], rq->multiplier[r + i], rq->shift[r + i]);
                y[r + i] = (int16_t)hils_clamp64(v, layer->act_min, layer->act_max);
            }
        }
    }
    for (; r < rows; r++) {
        const int64_t bias = rq->bias != NULL ? rq->bias[r] : 0;
        const int64_t acc = bias + hils_dot_w8_x16(&layer->w, r, cols, x);
        const int64_t v = hils_requant_q15(acc, rq->multiplier[r], rq->shift[r]);
        y[r] = (int16_t)hils_clamp64(v, layer->act_min, layer->act_max);
    }
    return HIL_OK;
}
