#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

size_t hil_lstm_buffer_size_s8(const hil_qlstm_t *model)
{
    /* 0 for a model forward would refuse anyway, so the caller never sizes scratch from garbage. */
    if (model == NULL || !hils_qlstm_ok(model, HIL_MODEL_LSTM_S8)) {
        return 0u;
    }
    uint16_t hidden[HIL_LSTM_MAX_LAYERS];
    for (unsigned l = 0; l < model->n_layers; l++) {
        hidden[l] = model->layers[l].hidden_size;
    }
    return hils_lstm_layout(hidden, model->n_layers, sizeof(int8_t), hils_qlstm_pairs_bytes(model)).total;
}
