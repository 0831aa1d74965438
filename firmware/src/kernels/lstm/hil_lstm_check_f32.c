#include "hil/hil_lstm.h"

hil_status_t hil_lstm_check_f32(const hil_lstm_model_f32_t *model)
{
    if (model == NULL || model->n_layers < 1u || model->n_layers > HIL_LSTM_MAX_LAYERS || model->output_size == 0u ||
        (model->dense_w == NULL) != (model->dense_b == NULL)) {
        return HIL_ERR_BAD_MODEL;
    }
    /* no head: the output is the last layer's h, so it has that many values */
    if (model->dense_w == NULL && model->output_size != model->layers[model->n_layers - 1u].hidden_size) {
        return HIL_ERR_BAD_MODEL;
    }
    for (unsigned l = 0; l < model->n_layers; l++) {
        const hil_lstm_layer_f32_t *layer = &model->layers[l];
        if (layer->input_size == 0u || layer->hidden_size == 0u || layer->w_ih == NULL || layer->w_hh == NULL ||
            layer->bias == NULL || (l > 0u && layer->input_size != model->layers[l - 1u].hidden_size)) {
            return HIL_ERR_BAD_MODEL;
        }
    }
    return HIL_OK;
}
