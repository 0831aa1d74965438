#include <stdint.h>

#include "hil/hil_quant.h"
#include "support/hils_qdense.h"
#include "support/hils_quant_model.h"

hil_status_t hil_mlp_forward_s16(const hil_qmlp_t *model, const hil_scratch_t *ctx, const int16_t *input,
                                 int16_t *output)
{
    if (model == NULL || ctx == NULL || input == NULL || output == NULL || ((uintptr_t)ctx->buf & 3u) != 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_qmlp_ok(model, HIL_MODEL_MLP_S16)) {
        return HIL_ERR_BAD_MODEL;
    }
    size_t second = 0u;
    size_t pairs_at = 0u;
    if (!hils_scratch_ok(ctx, hils_qmlp_scratch(model, sizeof(int16_t), &second, &pairs_at))) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    int32_t *pairs = pairs_at != HILS_NO_PAIRS ? (int32_t *)(void *)((uint8_t *)ctx->buf + pairs_at) : NULL;
    /* Hidden layers ping-pong between two scratch buffers; their ReLU is the activation range of each layer. */
    int16_t *bufs[2] = {(int16_t *)ctx->buf, (int16_t *)(void *)((uint8_t *)ctx->buf + second)};
    const int16_t *x = input;
    const unsigned last = model->n_layers - 1u;
    for (unsigned l = 0; l <= last; l++) {
        int16_t *y = l == last ? output : bufs[l & 1u];
        hils_dense_s16_run(&model->layers[l], x, y, pairs); /* checked by hils_qmlp_ok */
        x = y;
    }
    return HIL_OK;
}
