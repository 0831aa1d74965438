#include <stdint.h>
#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_lstm_step.h"
#include "support/hils_qdense.h"
#include "support/hils_quant_model.h"

hil_status_t hil_lstm_forward_s16(const hil_qlstm_t *model, const hil_scratch_t *ctx, const int16_t *input,
                                  uint16_t steps, uint8_t infer_flags, int16_t *output)
{
    if (model == NULL || ctx == NULL || ctx->buf == NULL || input == NULL || output == NULL || steps == 0u ||
        (infer_flags & (uint8_t)~HIL_INFER_FLAGS) != 0u || ((uintptr_t)ctx->buf & 3u) != 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_qlstm_ok(model, HIL_MODEL_LSTM_S16)) {
        return HIL_ERR_BAD_MODEL;
    }
    const unsigned n_layers = model->n_layers;
    uint16_t hidden[HIL_LSTM_MAX_LAYERS];
    for (unsigned l = 0; l < n_layers; l++) {
        hidden[l] = model->layers[l].hidden_size;
    }
    const hils_lstm_layout_t lay = hils_lstm_layout(hidden, n_layers, sizeof(int16_t), hils_qlstm_pairs_bytes(model));
    if (ctx->size < lay.total) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    uint8_t *base = (uint8_t *)ctx->buf;
    int16_t *c[HIL_LSTM_MAX_LAYERS];
    int16_t *h[HIL_LSTM_MAX_LAYERS];
    int16_t *gates = (int16_t *)(void *)(base + lay.gates);
    int32_t *pairs = lay.pairs != 0u ? (int32_t *)(void *)(base + lay.pairs) : NULL; /* c comes first: never 0 */
    int shifts_small[HIL_LSTM_MAX_LAYERS];
    for (unsigned l = 0; l < n_layers; l++) {
        shifts_small[l] = hils_qlstm_shifts_small(&model->layers[l]);
        c[l] = (int16_t *)(void *)(base + lay.c[l]);
        h[l] = (int16_t *)(void *)(base + lay.h[l]);
        if ((infer_flags & HIL_INFER_CONTINUE) == 0u) { /* else: the state the previous call left */
            memset(c[l], 0, 2u * (size_t)hidden[l]);
            memset(h[l], 0, 2u * (size_t)hidden[l]);
        }
    }

    /* Step-major, as hil_lstm_forward_f32: scratch does not grow with `steps`. */
    const size_t n_in = model->layers[0].input_size;
    const size_t n_out = model->head.out_size;
    const int all_steps = (infer_flags & HIL_INFER_ALL_STEPS) != 0u;
    for (uint16_t t = 0; t < steps; t++) {
        const int16_t *x = input + (size_t)t * n_in;
        for (unsigned l = 0; l < n_layers; l++) {
            hils_lstm_step_s16(&model->layers[l], x, h[l], c[l], gates, pairs,
                               shifts_small[l]); /* checked by hils_qlstm_ok */
            x = h[l];
        }
        if (all_steps || t == steps - 1u) {
            int16_t *y = all_steps ? output + (size_t)t * n_out : output;
            hils_dense_s16_run(&model->head, x, y, pairs); /* checked by hils_qlstm_ok */
        }
    }
    return HIL_OK;
}
