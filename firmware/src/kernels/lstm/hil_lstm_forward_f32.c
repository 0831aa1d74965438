#include <string.h>

#include "hil/hil_lstm.h"
#include "support/hils_test_hooks.h"

hil_status_t hil_lstm_forward_f32(const hil_lstm_model_f32_t *model, const hil_lstm_ctx_f32_t *ctx, const float *input,
                                  uint16_t steps, uint8_t infer_flags, float *output)
{
    if (model == NULL || ctx == NULL || ctx->buf == NULL || input == NULL || output == NULL || steps == 0u ||
        (infer_flags & (uint8_t)~HIL_INFER_FLAGS) != 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (hil_lstm_check_f32(model) != HIL_OK) {
        return HIL_ERR_BAD_MODEL;
    }
    if (ctx->size < hil_lstm_buffer_size_f32(model)) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
#ifdef HIL_TEST_EXTRA_LOOPS
    /* Test hook, absent from every normal build: tests/hil/test_budgets.py builds an image with
     * HIL_TEST_EXTRA_LOOPS=N to make this kernel deliberately slower by N iterations per call, and checks that the
     * instruction budget fails it. The counter is volatile so the compiler keeps every iteration. */
    for (volatile uint32_t hil_test_loop = 0u; hil_test_loop < (uint32_t)(HIL_TEST_EXTRA_LOOPS); hil_test_loop++) {
    }
#endif

    const unsigned n_layers = model->n_layers;
    float *h[HIL_LSTM_MAX_LAYERS];
    float *c[HIL_LSTM_MAX_LAYERS];
    float *p = ctx->buf;
    for (unsigned l = 0; l < n_layers; l++) {
        const size_t hidden = model->layers[l].hidden_size;
        h[l] = p;
        c[l] = p + hidden;
        p += 2u * hidden;
    }
    float *gates = p;
    if ((infer_flags & HIL_INFER_CONTINUE) == 0u) { /* else: h and c are where the previous call left them */
        memset(ctx->buf, 0, (size_t)(gates - ctx->buf) * sizeof(float));
    }

    /* Step-major: every layer advances one step before the next input is read, so no layer's whole output
     * sequence is ever stored and scratch stays independent of `steps`. */
    const size_t n_in = model->layers[0].input_size;
    const hil_lstm_layer_f32_t *top = &model->layers[n_layers - 1u];
    const int all_steps = (infer_flags & HIL_INFER_ALL_STEPS) != 0u;
    for (uint16_t t = 0; t < steps; t++) {
        const float *x = input + (size_t)t * n_in;
        for (unsigned l = 0; l < n_layers; l++) {
            HILS_TEST_AT(t, l);
            const hil_status_t st = hil_lstm_cell_f32(&model->layers[l], x, h[l], c[l], gates);
            if (st != HIL_OK) {
                return st;
            }
            x = h[l];
        }
        if (all_steps || t == steps - 1u) {
            float *y = all_steps ? output + (size_t)t * model->output_size : output;
            if (model->dense_w == NULL) {
                memcpy(y, h[n_layers - 1u], (size_t)top->hidden_size * sizeof(float));
                continue;
            }
            const hil_status_t st = hil_dense_f32(model->dense_w, model->dense_b, top->hidden_size, model->output_size,
                                                  h[n_layers - 1u], y);
            if (st != HIL_OK) {
                return st;
            }
        }
    }
    return HIL_OK;
}
