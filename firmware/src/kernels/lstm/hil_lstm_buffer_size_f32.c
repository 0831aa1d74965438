#include "hil/hil_lstm.h"

size_t hil_lstm_buffer_size_f32(const hil_lstm_model_f32_t *model)
{
    /* 0 for a model forward would refuse anyway, so the caller never sizes scratch from garbage. */
    if (model == NULL || model->n_layers < 1u || model->n_layers > HIL_LSTM_MAX_LAYERS) {
        return 0u;
    }
    size_t floats = 0u;
    size_t max_hidden = 0u;
    for (unsigned l = 0; l < model->n_layers; l++) {
        const size_t hidden = model->layers[l].hidden_size;
        floats += 2u * hidden; /* h, c */
        if (hidden > max_hidden) {
            max_hidden = hidden;
        }
    }
    floats += 4u * max_hidden; /* gate pre-activations, reused by every layer */
    return floats * sizeof(float);
}
