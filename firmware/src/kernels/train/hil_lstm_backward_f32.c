#include <math.h>
#include <string.h>

#include "hil/hil_lstm_train.h"
#include "support/hils_vec_f32.h"

/* What the forward pass keeps of one layer at one step: c and h, H floats each. The gates i, f, g, o are
 * recomputed from x, h and c of the step before when the backward pass reaches the step: one more forward pass
 * of compute buys a third of the memory, which is what lets LSTM(32) over 24 steps train with Adam in the
 * 96 KB of an STM32F401. */
enum { HIL_REC_C = 0, HIL_REC_H = 1, HIL_REC_N = 2 };
/* The gates of one layer-step, 4H floats, in the row order of the weights. */
enum { HIL_GATE_I = 0, HIL_GATE_F = 1, HIL_GATE_G = 2, HIL_GATE_O = 3 };

static float hil_sigmoidf(float x)
{
    /* expf overflows to +inf for x < -88 and 1/inf is 0: the saturated value, no NaN. */
    return 1.0f / (1.0f + expf(-x));
}

/* The activated gates of one layer at one step into gates[4H]. `h_prev` NULL at step 0 (zero state: the
 * recurrent terms are skipped, which adds exactly nothing). The same dot products in the same order as
 * hil_lstm_cell_f32, so the model trained is bit for bit the model inference runs, and a recomputation in the
 * backward pass reproduces the forward pass exactly. */
static void hil_train_gates(const hil_lstm_layer_f32_t *layer, const float *x, const float *h_prev, float *gates)
{
    const size_t n_in = layer->input_size;
    const size_t n_h = layer->hidden_size;
    const float *w_ih = layer->w_ih;
    const float *w_hh = layer->w_hh;
#if HILS_F32_BLOCKED
    for (size_t row = 0; row < 4u * n_h; row += 4u) { /* hil_lstm_cell_f32's four-row pass */
        float acc[4] = {layer->bias[row], layer->bias[row + 1u], layer->bias[row + 2u], layer->bias[row + 3u]};
        hils_dot4_acc_f32(acc, w_ih, n_in, x, n_in);
        if (h_prev != NULL) {
            hils_dot4_acc_f32(acc, w_hh, n_h, h_prev, n_h);
        }
        for (unsigned j = 0; j < 4u; j++) {
            gates[row + j] = acc[j];
        }
        w_ih += 4u * n_in;
        w_hh += 4u * n_h;
    }
#else
    for (size_t row = 0; row < 4u * n_h; row++) {
        const float acc = hils_dot_acc_f32(layer->bias[row], w_ih, x, n_in);
        gates[row] = h_prev != NULL ? hils_dot_acc_f32(acc, w_hh, h_prev, n_h) : acc;
        w_ih += n_in;
        w_hh += n_h;
    }
#endif
    for (size_t j = 0; j < n_h; j++) {
        gates[HIL_GATE_I * n_h + j] = hil_sigmoidf(gates[HIL_GATE_I * n_h + j]);
        gates[HIL_GATE_F * n_h + j] = hil_sigmoidf(gates[HIL_GATE_F * n_h + j]);
        gates[HIL_GATE_G * n_h + j] = tanhf(gates[HIL_GATE_G * n_h + j]);
        gates[HIL_GATE_O * n_h + j] = hil_sigmoidf(gates[HIL_GATE_O * n_h + j]);
    }
}

/* One step of one layer: its record r = [c | h] from x and the record of the step before (NULL at step 0). */
static void hil_train_cell(const hil_lstm_layer_f32_t *layer, const float *x, const float *prev, float *r, float *gates)
{
    const size_t n_h = layer->hidden_size;
    hil_train_gates(layer, x, prev != NULL ? prev + HIL_REC_H * n_h : NULL, gates);
    for (size_t j = 0; j < n_h; j++) {
        const float c_prev = prev != NULL ? prev[HIL_REC_C * n_h + j] : 0.0f;
        const float *g = gates + j;
        const float c = g[HIL_GATE_F * n_h] * c_prev + g[HIL_GATE_I * n_h] * g[HIL_GATE_G * n_h];
        r[HIL_REC_C * n_h + j] = c;
        r[HIL_REC_H * n_h + j] = gates[HIL_GATE_O * n_h + j] * tanhf(c);
    }
}

hil_status_t hil_lstm_backward_f32(const hil_lstm_model_f32_t *model, const hil_lstm_train_ctx_f32_t *ctx,
                                   const float *input, uint16_t steps, const float *target, uint8_t loss_kind,
                                   float *grad, float *loss)
{
    if (model == NULL || ctx == NULL || ctx->buf == NULL || input == NULL || steps == 0u || target == NULL ||
        grad == NULL || loss == NULL || (loss_kind != HIL_LOSS_MSE && loss_kind != HIL_LOSS_CE)) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (hil_lstm_check_f32(model) != HIL_OK) {
        return HIL_ERR_BAD_MODEL;
    }
    if (ctx->size < hil_lstm_train_buffer_size_f32(model, steps)) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    const size_t n_out = model->output_size;
    /* The class index is checked again by hil_loss_f32; checked here too so a bad request touches no scratch. */
    if (loss_kind == HIL_LOSS_CE &&
        (!(target[0] >= 0.0f && target[0] < (float)n_out) || floorf(target[0]) != target[0])) {
        return HIL_ERR_BAD_REQUEST;
    }

    /* Scratch: records of every layer at every step, head output / dL/dy, the recomputed gates, dL/d(gates),
     * running dL/dh and dL/dc.
     * Gradient: views into the flat vector in blob order. */
    const unsigned n_layers = model->n_layers;
    float *rec[HIL_LSTM_MAX_LAYERS];
    float *dh[HIL_LSTM_MAX_LAYERS];
    float *dc[HIL_LSTM_MAX_LAYERS];
    float *g_w_ih[HIL_LSTM_MAX_LAYERS];
    float *g_w_hh[HIL_LSTM_MAX_LAYERS];
    float *g_bias[HIL_LSTM_MAX_LAYERS];
    float *p = ctx->buf;
    float *gp = grad;
    size_t max_h = 0u;
    for (unsigned l = 0; l < n_layers; l++) {
        const size_t n_h = model->layers[l].hidden_size;
        const size_t n_in = model->layers[l].input_size;
        rec[l] = p;
        p += HIL_REC_N * n_h * steps;
        max_h = n_h > max_h ? n_h : max_h;
        g_w_ih[l] = gp;
        gp += 4u * n_h * n_in;
        g_w_hh[l] = gp;
        gp += 4u * n_h * n_h;
        g_bias[l] = gp;
        gp += 4u * n_h;
    }
    float *y = p;
    p += n_out;
    float *gates = p;
    p += 4u * max_h;
    float *dgates = p;
    p += 4u * max_h;
    for (unsigned l = 0; l < n_layers; l++) {
        dh[l] = p;
        dc[l] = p + model->layers[l].hidden_size;
        p += 2u * model->layers[l].hidden_size;
    }
    const size_t h_last = model->layers[n_layers - 1u].hidden_size;
    float *g_dense_w = gp;
    gp += n_out * h_last;
    float *g_dense_b = gp;
    gp += n_out;
    const size_t n_params = (size_t)(gp - grad);

    /* Forward, step-major as hil_lstm_forward_f32, keeping every record. */
    const size_t n_in0 = model->layers[0].input_size;
    for (size_t t = 0; t < steps; t++) {
        const float *x = input + t * n_in0;
        for (unsigned l = 0; l < n_layers; l++) {
            const size_t stride = HIL_REC_N * (size_t)model->layers[l].hidden_size;
            float *r = rec[l] + t * stride;
            hil_train_cell(&model->layers[l], x, t > 0u ? r - stride : NULL, r, gates);
            x = r + HIL_REC_H * (size_t)model->layers[l].hidden_size;
        }
    }
    const float *h_top = rec[n_layers - 1u] + (size_t)(steps - 1u) * HIL_REC_N * h_last + HIL_REC_H * h_last;
    const hil_status_t st = hil_dense_f32(model->dense_w, model->dense_b, (uint16_t)h_last, (uint16_t)n_out, h_top, y);
    if (st != HIL_OK) {
        return st;
    }
    float loss_value = 0.0f;
    const hil_status_t loss_st = hil_loss_f32(y, (uint16_t)n_out, target, loss_kind, y, &loss_value);
    *loss = loss_value;
    if (loss_st != HIL_OK) {
        return loss_st; /* before any gradient is touched */
    }

    /* Head: y now holds dL/dy. */
    for (unsigned l = 0; l < n_layers; l++) {
        memset(dh[l], 0, 2u * model->layers[l].hidden_size * sizeof(float)); /* dh and dc are adjacent */
    }
    {
        const float *w = model->dense_w;
        float *gw = g_dense_w;
        float *dh_top = dh[n_layers - 1u];
        for (size_t o = 0; o < n_out; o++) {
            const float d = y[o];
            for (size_t k = 0; k < h_last; k++) {
                gw[k] += d * h_top[k];
                dh_top[k] += d * w[k];
            }
            g_dense_b[o] += d;
            w += h_last;
            gw += h_last;
        }
    }

    /* Backward, step-major from the last step, top layer first. When layer l is reached at step t, dh[l] holds
     * both the recurrent part (from its own step t+1) and the part through layer l+1's input at step t, which
     * was added a moment before. So only running vectors are needed, never a whole sequence of dL/dh. */
    for (size_t t = steps; t-- > 0u;) {
        for (unsigned l = n_layers; l-- > 0u;) {
            const hil_lstm_layer_f32_t *layer = &model->layers[l];
            const size_t n_h = layer->hidden_size;
            const size_t n_in = layer->input_size;
            const float *r = rec[l] + t * HIL_REC_N * n_h;
            const float *prev = t > 0u ? r - HIL_REC_N * n_h : NULL;
            const float *x = l == 0u ? input + t * n_in0 : rec[l - 1u] + t * HIL_REC_N * n_in + HIL_REC_H * n_in;
            float *dh_l = dh[l];
            float *dc_l = dc[l];

            const float *h_prev = prev != NULL ? prev + HIL_REC_H * n_h : NULL;
            hil_train_gates(layer, x, h_prev, gates);
            for (size_t j = 0; j < n_h; j++) {
                const float i = gates[HIL_GATE_I * n_h + j];
                const float f = gates[HIL_GATE_F * n_h + j];
                const float g = gates[HIL_GATE_G * n_h + j];
                const float o = gates[HIL_GATE_O * n_h + j];
                const float c_prev = prev != NULL ? prev[HIL_REC_C * n_h + j] : 0.0f;
                const float tc = tanhf(r[HIL_REC_C * n_h + j]);
                const float d_o = dh_l[j] * tc;
                const float d_c = dc_l[j] + dh_l[j] * o * (1.0f - tc * tc);
                const float d_i = d_c * g;
                const float d_f = d_c * c_prev;
                const float d_g = d_c * i;
                dc_l[j] = d_c * f; /* dL/dc of step t-1 through this step's forget gate */
                dgates[HIL_GATE_I * n_h + j] = d_i * i * (1.0f - i);
                dgates[HIL_GATE_F * n_h + j] = d_f * f * (1.0f - f);
                dgates[HIL_GATE_G * n_h + j] = d_g * (1.0f - g * g);
                dgates[HIL_GATE_O * n_h + j] = d_o * o * (1.0f - o);
            }

            float *gw_ih = g_w_ih[l];
            float *gw_hh = g_w_hh[l];
            for (size_t row = 0; row < 4u * n_h; row++) {
                const float d = dgates[row];
                for (size_t k = 0; k < n_in; k++) {
                    gw_ih[k] += d * x[k];
                }
                if (h_prev != NULL) {
                    for (size_t k = 0; k < n_h; k++) {
                        gw_hh[k] += d * h_prev[k];
                    }
                }
                g_bias[l][row] += d;
                gw_ih += n_in;
                gw_hh += n_h;
            }

            /* dL/dh of step t-1 (recurrent part); not needed after step 0. */
            if (h_prev != NULL) {
                memset(dh_l, 0, n_h * sizeof(float));
                const float *w = layer->w_hh;
                for (size_t row = 0; row < 4u * n_h; row++) {
                    const float d = dgates[row];
                    for (size_t k = 0; k < n_h; k++) {
                        dh_l[k] += d * w[k];
                    }
                    w += n_h;
                }
            }
            /* dL/dx of this step is dL/dh of the layer below at the same step, which it processes next. */
            if (l > 0u) {
                float *dx = dh[l - 1u];
                const float *w = layer->w_ih;
                for (size_t row = 0; row < 4u * n_h; row++) {
                    const float d = dgates[row];
                    for (size_t k = 0; k < n_in; k++) {
                        dx[k] += d * w[k];
                    }
                    w += n_in;
                }
            }
        }
    }

    /* One pass over the whole vector: a NaN anywhere (from an input, a weight, an overflow) ends up here. */
    for (size_t k = 0; k < n_params; k++) {
        if (!isfinite(grad[k])) {
            return HIL_ERR_NON_FINITE;
        }
    }
    return HIL_OK;
}
