#include "hil/hil_quant.h"
#include "support/hils_qdense.h"
#include "support/hils_quant_model.h"

hil_status_t hil_dense_s8(const hil_qdense_t *layer, const int8_t *x, int8_t *y)
{
    if (layer == NULL || x == NULL || y == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* The checks of a bound s8 model's layer, every row included, before the first output is written: a refused layer
     * leaves y as it was. O(rows), nothing next to the rows * cols products. */
    if (!hils_qdense_model_ok(layer, 0)) {
        return HIL_ERR_BAD_MODEL;
    }
    hils_dense_s8_run(layer, x, y, NULL);
    return HIL_OK;
}
