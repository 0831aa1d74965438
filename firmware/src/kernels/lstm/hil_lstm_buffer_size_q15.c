#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

size_t hil_lstm_buffer_size_q15(const hil_lstm_q15_t *model)
{
    /* 0 for a model forward would refuse anyway, so the caller never sizes scratch from garbage. */
    if (model == NULL || !hils_lstm_q15_ok(model)) {
        return 0u;
    }
    uint16_t hidden[HIL_LSTM_MAX_LAYERS];
    for (unsigned l = 0; l < model->n_layers; l++) {
        hidden[l] = model->layers[l].hidden_size;
    }
    return hils_lstm_layout(hidden, model->n_layers, sizeof(int16_t), 0u).total;
}
