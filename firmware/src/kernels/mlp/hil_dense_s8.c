#include "hil/hil_quant.h"
#include "support/hils_qdense.h"
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
    /* Every row is checked before the first output is written, so a refused layer leaves y as it was. O(rows),
     * nothing next to the rows * cols products. */
    for (size_t r = 0; r < layer->out_size; r++) {
        if (!hils_row_ok(&layer->rq, r, -31, 30)) {
            return HIL_ERR_BAD_MODEL;
        }
    }
    hils_dense_s8_run(layer, x, y, NULL);
    return HIL_OK;
}
