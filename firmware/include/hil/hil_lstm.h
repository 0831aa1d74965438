/* fp32 LSTM inference: stacked LSTM layers followed by a dense head, in the CMSIS-NN manner.
 *
 * Weights are const and may live in flash; all mutable memory is the caller's context, sized by
 * hil_lstm_buffer_size_f32(). Gate order and weight layout follow PyTorch: rows [i | f | g | o], each block
 * hidden_size rows; W_ih is [4H][I] row-major, W_hh is [4H][H] row-major, one bias [4H] = b_ih + b_hh.
 *
 * Model blob (what the harness loads into the arena or compiles into flash), little-endian:
 *   hil_model_header_t (hil_model.h, HIL_MODEL_HEADER_SIZE bytes), kind HIL_MODEL_LSTM_F32
 *   for each layer l: W_ih f32[4H_l][I_l], W_hh f32[4H_l][H_l], bias f32[4H_l]   (I_0 = input_size, I_l = H_{l-1})
 *   dense: W f32[output_size][H_last], bias f32[output_size]
 * The blob is exactly that long; hil_lstm_bind_f32() refuses any other length.
 *
 * A blob whose header says output_size 0 has no dense head: its output is the last layer's h (output_size H_last,
 * dense_w and dense_b NULL). That is the lower part of a model split by layer over two boards (INFER's FORWARD flag
 * sends each step's h to the board that runs the rest); it cannot be trained.
 */
#ifndef HIL_LSTM_H
#define HIL_LSTM_H

#include "hil/hil_model.h"
#include "hil/hil_types.h"

typedef struct {
    uint16_t input_size;
    uint16_t hidden_size;
    const float *w_ih; /* [4H][I] */
    const float *w_hh; /* [4H][H] */
    const float *bias; /* [4H] */
} hil_lstm_layer_f32_t;

typedef struct {
    uint8_t n_layers;
    hil_lstm_layer_f32_t layers[HIL_LSTM_MAX_LAYERS];
    uint16_t output_size;
    const float *dense_w; /* [O][H_last]; NULL with dense_b: no head, the output is h of the last layer (O = H_last) */
    const float *dense_b; /* [O] */
} hil_lstm_model_f32_t;

/* Caller-owned scratch: h and c of every layer, then the 4*max(H) gate pre-activations. */
typedef struct {
    float *buf;
    size_t size; /* bytes */
} hil_lstm_ctx_f32_t;

/* Parse a blob (in RAM or flash) into `model`; pointers point into the blob, nothing is copied. */
hil_status_t hil_lstm_bind_f32(const uint8_t *blob, size_t blob_bytes, hil_lstm_model_f32_t *model);

/* HIL_OK when the layer chain is usable: 1..HIL_LSTM_MAX_LAYERS layers, nonzero sizes, every pointer set, each
 * layer's input the previous layer's hidden size. The kernels check it on every call because a model may be
 * compiled in rather than bound; O(layers), nothing next to the cost of one step. HIL_ERR_BAD_MODEL otherwise. */
hil_status_t hil_lstm_check_f32(const hil_lstm_model_f32_t *model);

/* Bytes of context hil_lstm_forward_f32 needs for this model. */
size_t hil_lstm_buffer_size_f32(const hil_lstm_model_f32_t *model);

/* What INFER computed inside: `steps` steps from zero state as hil_lstm_forward_f32 runs them, stopped after layer
 * `layer` of the last step. trace[6H] (H of that layer) = its gate pre-activations (i, f, g, o blocks), c, h. The
 * mismatch triage of the harness (TRACE, harness/triage.py) compares it with the reference. */
hil_status_t hil_lstm_trace_f32(const hil_lstm_model_f32_t *model, const hil_lstm_ctx_f32_t *ctx, const float *input,
                                uint16_t steps, uint8_t layer, float *trace);

/* One time step of one layer: updates h[H] and c[H] in place from x[I]; gates is scratch of 4H floats (left holding
 * the step's pre-activations). */
hil_status_t hil_lstm_cell_f32(const hil_lstm_layer_f32_t *layer, const float *x, float *h, float *c, float *gates);

/* y[O] = W x[H] + b */
hil_status_t hil_dense_f32(const float *w, const float *b, uint16_t in_size, uint16_t out_size, const float *x,
                           float *y);

/* Run `steps` time steps of input[steps][input_size] from zero state.
 * Without HIL_INFER_ALL_STEPS output is [output_size] (the head on the last step's h),
 * with it output is [steps][output_size]. */
hil_status_t hil_lstm_forward_f32(const hil_lstm_model_f32_t *model, const hil_lstm_ctx_f32_t *ctx, const float *input,
                                  uint16_t steps, uint8_t infer_flags, float *output);

#endif /* HIL_LSTM_H */
