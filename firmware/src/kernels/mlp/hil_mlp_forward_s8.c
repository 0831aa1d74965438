#include <stdint.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

hil_status_t hil_mlp_forward_s8(const hil_qmlp_t *model, const hil_scratch_t *ctx, const int8_t *input, int8_t *output)
{
    if (model == NULL || ctx == NULL || input == NULL || output == NULL || ((uintptr_t)ctx->buf & 3u) != 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_qmlp_ok(model, HIL_MODEL_MLP_S8)) {
        return HIL_ERR_BAD_MODEL;
    }
    uint16_t units[HIL_MLP_MAX_LAYERS];
    for (unsigned l = 0; l < model->n_layers; l++) {
        units[l] = model->layers[l].out_size;
    }
    size_t second = 0u;
    if (!hils_scratch_ok(ctx, hils_mlp_scratch(units, model->n_layers, sizeof(int8_t), &second))) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    /* Hidden layers ping-pong between two scratch buffers; their ReLU is the activation range of each layer. */
    int8_t *bufs[2] = {(int8_t *)ctx->buf, (int8_t *)(void *)((uint8_t *)ctx->buf + second)};
    const int8_t *x = input;
    const unsigned last = model->n_layers - 1u;
    for (unsigned l = 0; l <= last; l++) {
        int8_t *y = l == last ? output : bufs[l & 1u];
        const hil_status_t st = hil_dense_s8(&model->layers[l], x, y);
        if (st != HIL_OK) {
            return st;
        }
        x = y;
    }
    return HIL_OK;
}
