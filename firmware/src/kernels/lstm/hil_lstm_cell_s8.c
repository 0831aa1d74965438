#include "hil/hil_quant.h"
#include "support/hils_lstm_step.h"
#include "support/hils_quant_model.h"

hil_status_t hil_lstm_cell_s8(const hil_qlstm_layer_t *layer, const int8_t *x, int8_t *h, int16_t *c, int16_t *gates)
{
    if (layer == NULL || x == NULL || h == NULL || c == NULL || gates == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_qlstm_layer_ok(layer, 0)) {
        return HIL_ERR_BAD_MODEL;
    }
    if (!hils_qlstm_rows_ok(layer, 0)) {
        return HIL_ERR_BAD_MODEL; /* before h or c is touched */
    }
    hils_lstm_step_s8(layer, x, h, c, gates, NULL, 0);
    return HIL_OK;
}
