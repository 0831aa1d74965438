#include "hil/hil_quant.h"
#include "support/hils_qdense.h"
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
    for (size_t r = 0; r < layer->out_size; r++) {
        if (!hils_row_ok(&layer->rq, r, -31, 14)) {
            return HIL_ERR_BAD_MODEL;
        }
    }
    hils_dense_s16_run(layer, x, y, NULL);
    return HIL_OK;
}
