#include "hil/hil_quant.h"
#include "support/hils_qdense.h"
#include "support/hils_quant_model.h"

hil_status_t hil_dense_s16(const hil_qdense_t *layer, const int16_t *x, int16_t *y)
{
    if (layer == NULL || x == NULL || y == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* As hil_dense_s8; s16 activations are symmetric, so a zero point other than 0 is a model built for another
     * kernel. */
    if (!hils_qdense_model_ok(layer, 1)) {
        return HIL_ERR_BAD_MODEL;
    }
    hils_dense_s16_run(layer, x, y, NULL);
    return HIL_OK;
}
