#include <stdint.h>

#include "hil/hil_lstm_train.h"

size_t hil_lstm_train_buffer_size_f32(const hil_lstm_model_f32_t *model, uint16_t steps)
{
    /* 0 for anything the backward pass refuses, so a caller never sizes scratch from garbage. */
    if (model == NULL || steps == 0u || model->n_layers < 1u || model->n_layers > HIL_LSTM_MAX_LAYERS ||
        model->output_size == 0u || model->layers[0].input_size == 0u) {
        return 0u;
    }
    /* 64-bit sums: 16-bit sizes and steps make sizes beyond a 32-bit size_t expressible. The largest possible
     * total, 4 layers * (2 * 65535 + 2) * 65535 floats, is far below 2^64. */
    uint64_t floats = 0u;
    uint64_t max_hidden = 0u;
    for (unsigned l = 0; l < model->n_layers; l++) {
        const uint64_t hidden = model->layers[l].hidden_size;
        if (hidden == 0u) {
            return 0u;
        }
        floats += (2u * (uint64_t)steps + 2u) * hidden; /* c h per step; running dh, dc */
        if (hidden > max_hidden) {
            max_hidden = hidden;
        }
    }
    floats += 8u * max_hidden;    /* recomputed gates and their dL/d(pre-activation), one layer-step */
    floats += model->output_size; /* head output, then dL/dy */
    const uint64_t bytes = floats * sizeof(float);
#if SIZE_MAX < UINT64_MAX
    if (bytes > (uint64_t)SIZE_MAX) {
        return SIZE_MAX; /* no context can be this large: the backward pass will answer BUFFER_TOO_SMALL */
    }
#endif
    return (size_t)bytes;
}
