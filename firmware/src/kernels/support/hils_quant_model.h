/* Internal kernel support, not public API: every symbol here takes the hils_ / HILS_ prefix (as CMSIS-NN's arm_nn_). */
/* Model checks and scratch layouts shared by the forward and buffer_size kernels of hil_quant.h. Private to
 * src/kernels. A model may be compiled in rather than bound, so the forwards check it on every call (O(rows), nothing
 * next to one step); the binders refuse the same things earlier, with the blob at hand. */
#ifndef HILS_QUANT_MODEL_H
#define HILS_QUANT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hil/hil_quant.h"
#include "hils_quant_math.h"

/* Shift ranges of the two requantizations: t = 31 - s (Q31) or 15 - s (Q15) must be in 1..62. */
#define HILS_Q31_SHIFT_MIN (-31)
#define HILS_Q31_SHIFT_MAX 30
#define HILS_Q15_SHIFT_MAX 14

static inline int hils_rows_ok(const hil_requant_t *rq, size_t rows, int max_shift)
{
    for (size_t r = 0; r < rows; r++) {
        if (!hils_row_ok(rq, r, HILS_Q31_SHIFT_MIN, max_shift)) {
            return 0;
        }
    }
    return 1;
}

/* Whether every gate row of L has both shifts in -31..-1, the form hils_requant_q31_small takes: every model the
 * quantizer makes. For a layer hils_qlstm_ok passed (shifts -31 and above); the forwards ask once per call and then
 * skip the test per row. */
static inline int hils_qlstm_shifts_small(const hil_qlstm_layer_t *L)
{
    const size_t rows = 4u * (size_t)L->hidden_size;
    return hils_shifts_negative(L->ih.shift, rows) && hils_shifts_negative(L->hh.shift, rows);
}

/* A dense layer of an s8 (s16 = 0) or s16 (s16 = 1) model: pointers, sizes, zero points, activation range, rows. */
static inline int hils_qdense_model_ok(const hil_qdense_t *d, int s16)
{
    const int32_t lo = s16 ? HILS_S16_MIN : INT8_MIN;
    const int32_t hi = s16 ? HILS_S16_MAX : INT8_MAX;
    const int32_t zp_lo = s16 ? 0 : INT8_MIN;
    const int32_t zp_hi = s16 ? 0 : INT8_MAX;
    return hils_qdense_ok(d, lo, hi) && d->in_zp >= zp_lo && d->in_zp <= zp_hi && d->out_zp >= zp_lo &&
           d->out_zp <= zp_hi && hils_rows_ok(&d->rq, d->out_size, s16 ? HILS_Q15_SHIFT_MAX : HILS_Q31_SHIFT_MAX);
}

static inline int hils_qmlp_ok(const hil_qmlp_t *m, uint8_t kind)
{
    const int s16 = kind == HIL_MODEL_MLP_S16;
    if (m->kind != kind || m->n_layers < 1u || m->n_layers > HIL_MLP_MAX_LAYERS) {
        return 0;
    }
    for (unsigned l = 0; l < m->n_layers; l++) {
        const hil_qdense_t *d = &m->layers[l];
        if (!hils_qdense_model_ok(d, s16)) {
            return 0;
        }
        if (l > 0u && (d->in_size != m->layers[l - 1u].out_size || d->in_zp != m->layers[l - 1u].out_zp)) {
            return 0;
        }
    }
    return 1;
}

static inline int hils_mlp_q15_ok(const hil_mlp_q15_t *m)
{
    if (m->n_layers < 1u || m->n_layers > HIL_MLP_MAX_LAYERS) {
        return 0;
    }
    for (unsigned l = 0; l < m->n_layers; l++) {
        if (!hils_dense_q15_ok(&m->layers[l]) || (l > 0u && m->layers[l].in_size != m->layers[l - 1u].out_size)) {
            return 0;
        }
    }
    return 1;
}

static inline int hils_mlp_f32_ok(const hil_mlp_f32_t *m)
{
    if (m->n_layers < 1u || m->n_layers > HIL_MLP_MAX_LAYERS) {
        return 0;
    }
    for (unsigned l = 0; l < m->n_layers; l++) {
        const hil_dense_f32_t *d = &m->layers[l];
        if (d->in_size == 0u || d->out_size == 0u || d->w == NULL || d->b == NULL ||
            (l > 0u && d->in_size != m->layers[l - 1u].out_size)) {
            return 0;
        }
    }
    return 1;
}

/* Ping-pong scratch of an MLP: hidden layer l writes buffer l % 2 (the last layer writes the caller's output), and
 * each buffer is as wide as the widest layer it serves. Returns the bytes; *second is the offset of buffer 1, rounded
 * up to 4 bytes so float and int16 buffers stay aligned. */
static inline size_t hils_mlp_scratch(const uint16_t *units, unsigned n_layers, size_t elem, size_t *second)
{
    size_t widest[2] = {0u, 0u};
    for (unsigned l = 0; l + 1u < n_layers; l++) {
        if (units[l] > widest[l & 1u]) {
            widest[l & 1u] = units[l];
        }
    }
    const size_t first = (widest[0] * elem + 3u) & ~(size_t)3u;
    if (second != NULL) {
        *second = first;
    }
    return widest[1] == 0u ? widest[0] * elem : first + widest[1] * elem;
}

/* The offset of no column pairs (hils_qmlp_scratch): a one-layer MLP's pairs start at offset 0. */
#define HILS_NO_PAIRS SIZE_MAX

/* The scratch of an s8/s16 MLP: hils_mlp_scratch, then, word-aligned, the DSP path's column pairs of the widest layer
 * input (none elsewhere). *second and *pairs (may be NULL) get the offsets of ping-pong buffer 1 and of the pairs
 * (HILS_NO_PAIRS when there are none). */
static inline size_t hils_qmlp_scratch(const hil_qmlp_t *m, size_t elem, size_t *second, size_t *pairs)
{
    uint16_t units[HIL_MLP_MAX_LAYERS];
    size_t widest_in = 0u;
    for (unsigned l = 0; l < m->n_layers; l++) {
        units[l] = m->layers[l].out_size;
        widest_in = m->layers[l].in_size > widest_in ? m->layers[l].in_size : widest_in;
    }
    size_t total = hils_mlp_scratch(units, m->n_layers, elem, second);
    /* clustered weights are looked up byte by byte and take no pairs (a blob's layers share one weight format; a mixed
     * compiled-in model stays right, its plain layers then go two rows at a time) */
    const size_t pairs_bytes = m->layers[0].w.index_bits == 0u ? hils_pairs_bytes(widest_in) : 0u;
    if (pairs != NULL) {
        *pairs = HILS_NO_PAIRS;
    }
    if (pairs_bytes != 0u) {
        total = (total + 3u) & ~(size_t)3u;
        if (pairs != NULL) {
            *pairs = total;
        }
        total += pairs_bytes;
    }
    return total;
}

static inline int hils_qlstm_layer_ok(const hil_qlstm_layer_t *L, int s16)
{
    const int32_t zp_lo = s16 ? 0 : INT8_MIN;
    const int32_t zp_hi = s16 ? 0 : INT8_MAX;
    return L->input_size != 0u && L->hidden_size != 0u && L->input_size <= HIL_QUANT_MAX_IN &&
           L->hidden_size <= HIL_QUANT_MAX_IN && hils_weights_ok(&L->w_ih) && hils_weights_ok(&L->w_hh) &&
           L->ih.multiplier != NULL && L->ih.shift != NULL && L->hh.multiplier != NULL && L->hh.shift != NULL &&
           L->cell_frac <= 15u && L->h_multiplier >= 0 && L->h_shift >= HILS_Q31_SHIFT_MIN &&
           L->h_shift <= HILS_Q31_SHIFT_MAX && L->x_zp >= zp_lo && L->x_zp <= zp_hi && L->h_zp >= zp_lo &&
           L->h_zp <= zp_hi;
}

static inline int hils_qlstm_rows_ok(const hil_qlstm_layer_t *L, int s16)
{
    const int max_shift = s16 ? HILS_Q15_SHIFT_MAX : HILS_Q31_SHIFT_MAX;
    const size_t rows = 4u * (size_t)L->hidden_size;
    return hils_rows_ok(&L->ih, rows, max_shift) && hils_rows_ok(&L->hh, rows, max_shift);
}

static inline int hils_qlstm_ok(const hil_qlstm_t *m, uint8_t kind)
{
    const int s16 = kind == HIL_MODEL_LSTM_S16;
    if (m->kind != kind || m->n_layers < 1u || m->n_layers > HIL_LSTM_MAX_LAYERS) {
        return 0;
    }
    for (unsigned l = 0; l < m->n_layers; l++) {
        const hil_qlstm_layer_t *L = &m->layers[l];
        if (!hils_qlstm_layer_ok(L, s16) || !hils_qlstm_rows_ok(L, s16)) {
            return 0;
        }
        if (l > 0u && (L->input_size != m->layers[l - 1u].hidden_size || L->x_zp != m->layers[l - 1u].h_zp)) {
            return 0;
        }
    }
    const hil_qlstm_layer_t *top = &m->layers[m->n_layers - 1u];
    return hils_qdense_model_ok(&m->head, s16) && m->head.in_size == top->hidden_size && m->head.in_zp == top->h_zp;
}

static inline int hils_lstm_q15_layer_ok(const hil_lstm_layer_q15_t *L)
{
    return L->input_size != 0u && L->hidden_size != 0u && L->input_size <= HIL_QUANT_MAX_IN &&
           L->hidden_size <= HIL_QUANT_MAX_IN && L->w_ih != NULL && L->w_hh != NULL && L->bias != NULL &&
           L->ih_align <= 16u && L->hh_align <= 16u && L->bias_align <= 30u && L->gate_shift <= 31u &&
           L->cell_frac <= 15u && L->h_frac <= 15u;
}

static inline int hils_lstm_q15_ok(const hil_lstm_q15_t *m)
{
    if (m->n_layers < 1u || m->n_layers > HIL_LSTM_MAX_LAYERS) {
        return 0;
    }
    for (unsigned l = 0; l < m->n_layers; l++) {
        const hil_lstm_layer_q15_t *L = &m->layers[l];
        if (!hils_lstm_q15_layer_ok(L) || (l > 0u && L->input_size != m->layers[l - 1u].hidden_size)) {
            return 0;
        }
    }
    return hils_dense_q15_ok(&m->head) && m->head.in_size == m->layers[m->n_layers - 1u].hidden_size;
}

/* LSTM scratch, all variants: c of every layer (int16), the 4 * max(H) gates (int16), then h of every layer (h_elem
 * bytes each): the int16 arrays first keeps them aligned whatever h_elem is. Then, word-aligned, `pairs_bytes` for the
 * DSP path's column pairs (hils_qlstm_pairs_bytes; 0 elsewhere). Offsets in bytes from the start. */
typedef struct {
    size_t c[HIL_LSTM_MAX_LAYERS];
    size_t gates;
    size_t h[HIL_LSTM_MAX_LAYERS];
    size_t pairs;
    size_t total;
} hils_lstm_layout_t;

/* Column pairs of one step of the widest layer (x and h side by side; the head's input is the top layer's h); none for
 * clustered weights, which the four-row loop does not take. */
static inline size_t hils_qlstm_pairs_bytes(const hil_qlstm_t *m)
{
    if (m->layers[0].w_ih.index_bits != 0u) {
        return 0u;
    }
    size_t most = 0u;
    for (unsigned l = 0; l < m->n_layers; l++) {
        const size_t b = hils_pairs_bytes(m->layers[l].input_size) + hils_pairs_bytes(m->layers[l].hidden_size);
        most = b > most ? b : most;
    }
    return most;
}

static inline hils_lstm_layout_t hils_lstm_layout(const uint16_t *hidden, unsigned n_layers, size_t h_elem,
                                                  size_t pairs_bytes)
{
    hils_lstm_layout_t lay = {{0u}, 0u, {0u}, 0u, 0u};
    size_t off = 0u;
    size_t widest = 0u;
    for (unsigned l = 0; l < n_layers; l++) {
        lay.c[l] = off;
        off += 2u * (size_t)hidden[l];
        if (hidden[l] > widest) {
            widest = hidden[l];
        }
    }
    lay.gates = off;
    off += 2u * 4u * widest;
    for (unsigned l = 0; l < n_layers; l++) {
        lay.h[l] = off;
        off += h_elem * (size_t)hidden[l];
    }
    if (pairs_bytes != 0u) {
        off = (off + 3u) & ~(size_t)3u;
        lay.pairs = off;
        off += pairs_bytes;
    }
    lay.total = off;
    return lay;
}

/* The float dense network up to layer `last` (ReLU after every layer but the network's last), that layer's output
 * written to `out`: hil_mlp_forward_f32 with last = n_layers - 1, hil_mlp_trace_f32 with any layer. */
static inline hil_status_t hils_mlp_f32_run(const hil_mlp_f32_t *model, const hil_scratch_t *ctx, const float *input,
                                            unsigned last, float *out)
{
    if (model == NULL || ctx == NULL || input == NULL || out == NULL || ((uintptr_t)ctx->buf & 3u) != 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!hils_mlp_f32_ok(model)) {
        return HIL_ERR_BAD_MODEL;
    }
    if (last >= model->n_layers) {
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
    float *bufs[2] = {(float *)ctx->buf, (float *)(void *)((uint8_t *)ctx->buf + second)};
    const float *x = input;
    for (unsigned l = 0; l <= last; l++) {
        const hil_dense_f32_t *d = &model->layers[l];
        float *y = l == last ? out : bufs[l & 1u];
        const hil_status_t st = hil_dense_f32(d->w, d->b, d->in_size, d->out_size, x, y);
        if (st != HIL_OK) {
            return st;
        }
        if (l + 1u != model->n_layers) {
            for (uint16_t k = 0; k < d->out_size; k++) {
                y[k] = y[k] > 0.0f ? y[k] : 0.0f;
            }
        }
        x = y;
    }
    return HIL_OK;
}

#endif /* HILS_QUANT_MODEL_H */
