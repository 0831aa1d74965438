#include "hil/hil_quant.h"
#include "support/hils_quant_math.h"

hil_status_t hil_dense_s8(const hil_qdense_t *layer, const int8_t *x, int8_t *y)
{
    if (layer == NULL || x == NULL || y == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_qdense_ok(layer, INT8_MIN, INT8_MAX) || layer->in_zp < INT8_MIN || layer->in_zp > INT8_MAX ||
        layer->out_zp < INT8_MIN || layer->out_zp > INT8_MAX) {
        return HIL_ERR_BAD_MODEL;
    }
    const size_t rows = layer->out_size;
    const size_t cols = layer->in_size;
    const hil_requant_t *rq = &layer->rq;
    /* Every row is checked before the first output is written, so a refused layer leaves y as it was. O(rows),
     * nothing next to the rows * cols products. */
    for (size_t r = 0; r < rows; r++) {
        if (!hils_row_ok(rq, r, -31, 30)) {
            return HIL_ERR_BAD_MODEL;
        }
    }
    const int32_t x_offset = -(int32_t)layer->in_zp;
    size_t r = 0;
    int32_t sums[2];
    if (layer->w.index_bits == 0u) { /* plain weights: rows in pairs, each x word unpacked once for both */
        for (; r + 2u <= rows; r += 2u) {
            sums[0] = rq->bias != NULL ? rq->bias[r] : 0;
            sums[1] = rq->bias != NULL ? rq->bias[r + 1u] : 0;
            const int8_t *w0 = layer->w.values + r * cols;
            hils_dot2_w8_x8(w0, w0 + cols, cols, x, x_offset, sums);
            for (unsigned i = 0; i < 2u; i++) {
                const int64_t v = hils_requant_q31(sums[i], rq->multiplier[r + i], rq->shift[r + i]) + layer->out_zp;
                y[r + i] = (int8_t)hils_clamp64(v, layer->act_min, layer->act_max);
            }
        }
    }
    for (; r < rows; r++) {
        const int32_t bias = rq->bias != NULL ? rq->bias[r] : 0;
        const int32_t acc = bias + hils_dot_w8_x8(&layer->w, r, cols, x, x_offset);
        const int64_t v = hils_requant_q31(acc, rq->multiplier[r], rq->shift[r]) + layer->out_zp;
        y[r] = (int8_t)hils_clamp64(v, layer->act_min, layer->act_max);
    }
    return HIL_OK;
}
