#include <math.h>

#include "hil/hil_lstm.h"
#include "support/hils_test_hooks.h"
#include "support/hils_vec_f32.h"

#ifdef HIL_TEST_PERTURB_STEP
uint32_t hils_test_step;
uint32_t hils_test_layer;
#endif

static float hil_sigmoidf(float x)
{
    /* expf overflows to +inf for x < -88 and 1/inf is 0: the saturated value, no NaN. */
    return 1.0f / (1.0f + expf(-x));
}

hil_status_t hil_lstm_cell_f32(const hil_lstm_layer_f32_t *layer, const float *x, float *h, float *c, float *gates)
{
    if (layer == NULL || x == NULL || h == NULL || c == NULL || gates == NULL || layer->w_ih == NULL ||
        layer->w_hh == NULL || layer->bias == NULL || layer->input_size == 0u || layer->hidden_size == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    const size_t n_in = layer->input_size;
    const size_t n_h = layer->hidden_size;
    const size_t rows = 4u * n_h;
    const float *w_ih = layer->w_ih;
    const float *w_hh = layer->w_hh;

    /* All 4H pre-activations first: h is both an input of every row and an output of this step. */
#if HILS_F32_BLOCKED
    for (size_t r = 0; r < rows; r += 4u) { /* four rows at a time (4H always divides): x, h loaded once for four */
        float acc[4] = {layer->bias[r], layer->bias[r + 1u], layer->bias[r + 2u], layer->bias[r + 3u]};
        hils_dot4_acc_f32(acc, w_ih, n_in, x, n_in);
        hils_dot4_acc_f32(acc, w_hh, n_h, h, n_h);
        gates[r] = acc[0];
        gates[r + 1u] = acc[1];
        gates[r + 2u] = acc[2];
        gates[r + 3u] = acc[3];
        w_ih += 4u * n_in;
        w_hh += 4u * n_h;
    }
#else
    for (size_t r = 0; r < rows; r++) {
        gates[r] = hils_dot_acc_f32(hils_dot_acc_f32(layer->bias[r], w_ih, x, n_in), w_hh, h, n_h);
        w_ih += n_in;
        w_hh += n_h;
    }
#endif

    HILS_TEST_PERTURB(gates);

    const float *g_i = gates;
    const float *g_f = gates + n_h;
    const float *g_g = gates + 2u * n_h;
    const float *g_o = gates + 3u * n_h;
    for (size_t j = 0; j < n_h; j++) {
        const float cj = hil_sigmoidf(g_f[j]) * c[j] + hil_sigmoidf(g_i[j]) * tanhf(g_g[j]);
        c[j] = cj;
        h[j] = hil_sigmoidf(g_o[j]) * tanhf(cj);
    }
    return HIL_OK;
}
