#include <string.h>

#include "hil/hil_lstm.h"
#include "support/hils_test_hooks.h"

hil_status_t hil_lstm_trace_f32(const hil_lstm_model_f32_t *model, const hil_lstm_ctx_f32_t *ctx, const float *input,
                                uint16_t steps, uint8_t layer, float *trace)
{
    if (model == NULL || ctx == NULL || ctx->buf == NULL || input == NULL || trace == NULL || steps == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (hil_lstm_check_f32(model) != HIL_OK) {
        return HIL_ERR_BAD_MODEL;
    }
    if (layer >= model->n_layers) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (ctx->size < hil_lstm_buffer_size_f32(model)) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    /* The scratch as hil_lstm_forward_f32 lays it out, from zero state, and the same cell per layer and step: what
     * this reads is what INFER computed up to that point. */
    float *h[HIL_LSTM_MAX_LAYERS];
    float *c[HIL_LSTM_MAX_LAYERS];
    float *p = ctx->buf;
    for (unsigned l = 0; l < model->n_layers; l++) {
        h[l] = p;
        c[l] = p + model->layers[l].hidden_size;
        p += 2u * model->layers[l].hidden_size;
    }
    float *gates = p;
    memset(ctx->buf, 0, (size_t)(gates - ctx->buf) * sizeof(float));
    const size_t n_in = model->layers[0].input_size;
    for (uint16_t t = 0; t < steps; t++) {
        const float *x = input + (size_t)t * n_in;
        const unsigned last = t + 1u == steps ? layer : model->n_layers - 1u;
        for (unsigned l = 0; l <= last; l++) {
            HILS_TEST_AT(t, l);
            const hil_status_t st = hil_lstm_cell_f32(&model->layers[l], x, h[l], c[l], gates);
            if (st != HIL_OK) {
                return st;
            }
            x = h[l];
        }
    }
    const size_t n_h = model->layers[layer].hidden_size;
    memcpy(trace, gates, 4u * n_h * sizeof(float)); /* the cell leaves its pre-activations in `gates` */
    memcpy(trace + 4u * n_h, c[layer], n_h * sizeof(float));
    memcpy(trace + 5u * n_h, h[layer], n_h * sizeof(float));
    return HIL_OK;
}
