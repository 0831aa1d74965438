#include <stdint.h>
#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

hil_status_t hil_mlp_trace_f32(const hil_mlp_f32_t *model, const hil_scratch_t *ctx, const float *input, uint8_t layer,
                               float *trace)
{
    if (model == NULL || ctx == NULL || input == NULL || trace == NULL || ((uintptr_t)ctx->buf & 3u) != 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_mlp_f32_ok(model)) {
        return HIL_ERR_BAD_MODEL;
    }
    if (layer >= model->n_layers) {
        return HIL_ERR_BAD_REQUEST;
    }
    uint16_t units[HIL_MLP_MAX_LAYERS];
    for (unsigned l = 0; l < model->n_layers; l++) {
        units[l] = model->layers[l].out_size;
    }
    size_t second = 0u;
    if (!hils_scratch_ok(ctx, hils_mlp_scratch(units, model->n_layers, sizeof(float), &second))) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    /* hil_mlp_forward_f32's layers up to `layer`: its output after the ReLU of a hidden layer. */
    float *bufs[2] = {(float *)ctx->buf, (float *)(void *)((uint8_t *)ctx->buf + second)};
    const float *x = input;
    const unsigned last = model->n_layers - 1u;
    for (unsigned l = 0; l <= layer; l++) {
        const hil_dense_f32_t *d = &model->layers[l];
        float *y = bufs[l & 1u];
        const hil_status_t st = hil_dense_f32(d->w, d->b, d->in_size, d->out_size, x, y);
        if (st != HIL_OK) {
            return st;
        }
        if (l != last) {
            for (uint16_t k = 0; k < d->out_size; k++) {
                y[k] = y[k] > 0.0f ? y[k] : 0.0f;
            }
        }
        x = y;
    }
    memcpy(trace, x, model->layers[layer].out_size * sizeof(float));
    return HIL_OK;
}
