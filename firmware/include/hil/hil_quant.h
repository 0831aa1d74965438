/* Quantized and compressed inference kernels: dense networks (MLP) and stacked LSTMs in int8, int16 and Q m.n fixed
 * point, with k-means-clustered weights as an option of the int8-weight kernels; and the float32 MLP they are
 * measured against. harness/models/quant.py is the integer reference: it reproduces every operation below bit for
 * bit, and tests/kernels/test_quant_kernels.py compares the two for exact equality.
 *
 * No kernel in this header except the hil_mlp_*_f32 ones touches a float at run time: scales live on the host,
 * which quantizes inputs and dequantizes outputs; the device sees integers, multipliers and shifts only, so a
 * Cortex-M3 without FPU runs them without soft-float calls.
 *
 * ----------------------------------------------------------------------------------------------- number formats
 * s8    int8 activations, affine: real = scale * (q - zero_point), scale and zero point per tensor, calibrated.
 *       int8 weights, symmetric per output row (zero point 0, values in [-127, 127]), scale per row.
 *       int32 bias in units of scale_in * scale_w[row]. int32 accumulation.
 * s16   int16 activations, symmetric (zero point 0, scale per tensor); int8 weights and int32 bias as s8 ("16x8",
 *       as TFLite and CMSIS-NN): the recurrent state and the cell are where an LSTM loses accuracy, and 16-bit
 *       activations cure that; int8 weights keep the weight bytes of s8 and the same weight formats (plain or
 *       clustered), and an int16 x int8 product fits in 24 bits. int64 accumulation.
 * q15   int16 fixed point Q m.n (m integer bits, n = 15 - m fraction bits, real = q * 2^-n) for weights, biases and
 *       activations, one format per tensor chosen from its range; formats meet through shifts, as in CMSIS-NN's
 *       legacy q15 functions. int64 accumulation, saturation to int16.
 *
 * Requantization (s8, s16). A real factor r > 0 is stored as multiplier M (Q31, in [2^30, 2^31)) and shift s, with
 * r = M * 2^(s - 31). For an int32 value a:
 *     requant(a) = (a * M + 2^(t - 1)) >> t,   t = 31 - s, 1 <= t <= 62, 64-bit product, arithmetic shift
 * i.e. a single rounding, to nearest with ties toward +infinity. The s16 kernels accumulate in int64 and use the
 * multiplier reduced to Q15, M15 = (M + 2^15) >> 16, with t = 15 - s (so s <= 14): a * M15 then fits in 64 bits.
 * Every rounding shift in these kernels, rshift(v, n) = (v + 2^(n-1)) >> n (n >= 1; n = 0 is v), rounds the same way.
 *
 * LSTM. Gate pre-activations are int16 Q3.12 (real = g / 4096, so they saturate at +-8: sigmoid(8) = 0.99966 and
 * tanh(8) = 1 - 2e-7, a saturation error at most 3.4e-4 against the unsaturated float gate). Gates after their
 * activation are Q0.15. The cell state c is int16 with cell_frac fraction bits (a power-of-two scale, chosen from
 * the calibrated range of c). One step, for each unit j, all products in int32:
 *     i = sigmoid(g_i), f = sigmoid(g_f), g = tanh(g_g), o = sigmoid(g_o)                    (Q0.15)
 *     c = sat16(rshift(f * c, 15) + rshift(i * g, 30 - cell_frac))
 *     h = out(o * tanh(q3_12(c)))           o * tanh(.) is Q0.30; out() is requant + zero point + clamp (s8, s16)
 *                                           or sat16(rshift(., 30 - h_frac)) (q15)
 * where q3_12(c) = rshift(c, cell_frac - 12) for cell_frac >= 12 and sat16(c * 2^(12 - cell_frac)) below.
 * s8/s16 gate pre-activation: g = sat16(requant_ih(bias + W_ih (x - x_zp)) + requant_hh(W_hh (h - h_zp))), one
 * multiplier per row for each half (the two halves have different input scales). q15: the three terms are aligned to
 * a common fraction F (W_ih x times 2^ih_align, W_hh h times 2^hh_align, bias times 2^bias_align), summed in int64
 * and g = sat16(rshift(sum, gate_shift)), gate_shift = F - 12.
 * The initial state is zero: c = 0 and h = h_zp (the code of a real 0).
 *
 * Activations (hil_sigmoid_s16, hil_tanh_s16): x Q3.12 -> y Q0.15 by a 513-entry table of f at x = -8 + k/32,
 * k = 0..512 (entries round(f * 32768), clamped to [-32768, 32767]), and linear interpolation between entries:
 *     u = x + 32768, k = u >> 7, r = u & 127,  y = T[k] + (((T[k+1] - T[k]) * r + 64) >> 7)
 * Largest error against the float function over all 65536 inputs (y / 32768 - f(x / 4096)), measured by
 * tests/unit/test_quant_reference.py:  sigmoid 3.9e-5 (1.3 LSB of Q0.15),  tanh 1.2e-4 (3.8 LSB). A table costs
 * 1026 bytes of flash; a polynomial would save them at the price of a multiply chain per element.
 *
 * k-means-clustered weights (s8 and s16 kernels, any weight matrix): a codebook of 2^b int8 centroids (one per
 * matrix, b = 8, 4 or 2 for compression factors 4, 8, 16 against float32) and b-bit indices packed LSB first, each
 * row starting on a byte: element k of a row is bits (k*b) % 8 .. +b-1 of byte (k*b) / 8 of that row; a row is
 * ceil(cols * b / 8) bytes. The dot product looks each weight up as it goes; nothing is expanded into RAM.
 *
 * ------------------------------------------------------------------------------------------------ model blobs
 * All little-endian. The header is hil_model_header_t (hil_model.h, 24 bytes) with these fields reinterpreted:
 *   kind            HIL_MODEL_MLP_* or HIL_MODEL_LSTM_{S8,S16,Q15}
 *   n_layers        MLP: dense layers (1..HIL_MLP_MAX_LAYERS); LSTM: LSTM layers as in hil_lstm.h
 *   hidden_size[l]  MLP: units of dense layer l (the last used entry equals output_size); LSTM: as in hil_lstm.h
 *   reserved        byte 20: weight index bits b (0 = plain weights; 2, 4, 8 = clustered; s8/s16 kinds only),
 *                   bytes 21..23: 0
 * Every section below starts 4-byte aligned: "pad" is zero bytes up to the next multiple of 4 from the blob start.
 * The blob is exactly as long as its header says; the binders refuse any other length.
 *
 * MLP_F32: per layer (rows = units, cols = inputs): f32 W[rows][cols], f32 b[rows]. Hidden layers ReLU.
 * MLP_S8, MLP_S16: per layer, a dense record:
 *   i16 in_zp, i16 out_zp, i16 act_min, i16 act_max    (act_min = out_zp for a fused ReLU; s16: zero points 0)
 *   i32 bias[rows], i32 multiplier[rows], i8 shift[rows], pad
 *   weights: b = 0: i8 W[rows][cols], pad;  b > 0: i8 codebook[2^b], u8 indices[rows][ceil(cols*b/8)], pad
 * MLP_Q15: per layer: u8 bias_shift, u8 out_shift, u8 relu, u8 0, i16 W[rows][cols], pad, i16 bias[rows], pad
 *   y = sat16(rshift(W x + bias * 2^bias_shift, out_shift)), then max(y, 0) if relu.
 * LSTM_S8, LSTM_S16: per layer (R = 4H rows, gate blocks i, f, g, o as hil_lstm.h):
 *   i16 x_zp, i16 h_zp, u8 cell_frac, u8 0, i8 h_shift, u8 0, i32 h_multiplier
 *   i32 bias[R], i32 ih_multiplier[R], i8 ih_shift[R], pad, weights W_ih [R][I] as in a dense record
 *   i32 hh_multiplier[R], i8 hh_shift[R], pad, weights W_hh [R][H]
 * then the head: one dense record (rows = output_size, cols = H_last, in_zp = h_zp of the last layer).
 * LSTM_Q15: per layer: u8 ih_align, u8 hh_align, u8 bias_align, u8 gate_shift, u8 cell_frac, u8 h_frac, u16 0,
 *   i16 W_ih[R][I], pad, i16 W_hh[R][H], pad, i16 bias[R], pad;  then the head: one MLP_Q15 layer record.
 * Binders also refuse values the arithmetic above cannot take: shifts outside their ranges, a negative multiplier,
 * |bias| > 2^30, more than HIL_QUANT_MAX_IN inputs to a row, zero points that do not chain from layer to layer.
 */
#ifndef HIL_QUANT_H
#define HIL_QUANT_H

#include "hil/hil_lstm.h"
#include "hil/hil_model.h"
#include "hil/hil_types.h"

#define HIL_MLP_MAX_LAYERS HIL_LSTM_MAX_LAYERS /* the header has that many size slots */
#define HIL_GATE_FRAC 12                       /* LSTM gate pre-activations are Q3.12 */
/* Inputs per output row. With it, an s8 accumulator (|x - zp| <= 255, |w| <= 128, |bias| <= 2^30) stays inside
 * int32 and the s16/q15 int64 products stay below 2^62. */
#define HIL_QUANT_MAX_IN 16384u
#define HIL_QUANT_MAX_BIAS (1L << 30)

/* ----------------------------------------------------------------------------------------------- parameters */

/* An int8 weight matrix [rows][cols]: plain values, or a codebook and packed indices (header comment). */
typedef struct {
    const int8_t *values;   /* plain: row-major; NULL when clustered */
    const uint8_t *indices; /* clustered: packed rows; NULL when plain */
    const int8_t *codebook; /* clustered: 2^index_bits centroids */
    uint8_t index_bits;     /* 0 (plain), 2, 4 or 8 */
} hil_weights_s8_t;

/* Per-row requantization: bias (may be NULL: none) and the factor multiplier * 2^(shift - 31). */
typedef struct {
    const int32_t *bias;
    const int32_t *multiplier;
    const int8_t *shift;
} hil_requant_t;

/* A dense layer with int8 weights, for s8 and s16 activations: y = clamp(requant(bias + W (x - in_zp)) + out_zp). */
typedef struct {
    uint16_t in_size;
    uint16_t out_size;
    int16_t in_zp;
    int16_t out_zp;
    int16_t act_min;
    int16_t act_max;
    hil_weights_s8_t w;
    hil_requant_t rq;
} hil_qdense_t;

/* A dense layer in Q m.n: y = sat16(rshift(W x + bias * 2^bias_shift, out_shift)), max(y, 0) if relu. */
typedef struct {
    uint16_t in_size;
    uint16_t out_size;
    uint8_t bias_shift; /* 0..30 */
    uint8_t out_shift;  /* 0..31 */
    uint8_t relu;
    const int16_t *w;    /* [out][in] */
    const int16_t *bias; /* [out] */
} hil_dense_q15_t;

typedef struct {
    uint16_t in_size;
    uint16_t out_size;
    const float *w; /* [out][in] */
    const float *b; /* [out] */
} hil_dense_f32_t;

/* Dense networks: hidden layers ReLU, the last one linear. kind tells the s8 and s16 forwards apart. */
typedef struct {
    uint8_t n_layers;
    hil_dense_f32_t layers[HIL_MLP_MAX_LAYERS];
} hil_mlp_f32_t;

typedef struct {
    uint8_t kind; /* HIL_MODEL_MLP_S8 or HIL_MODEL_MLP_S16 */
    uint8_t n_layers;
    hil_qdense_t layers[HIL_MLP_MAX_LAYERS];
} hil_qmlp_t;

typedef struct {
    uint8_t n_layers;
    hil_dense_q15_t layers[HIL_MLP_MAX_LAYERS];
} hil_mlp_q15_t;

/* One LSTM layer with int8 weights, for s8 and s16 activations. */
typedef struct {
    uint16_t input_size;
    uint16_t hidden_size;
    int16_t x_zp; /* zero point of the layer's input (the data, or the previous layer's h) */
    int16_t h_zp; /* zero point of this layer's h */
    uint8_t cell_frac;
    int8_t h_shift;
    int32_t h_multiplier;  /* Q0.30 o * tanh(c) -> h */
    hil_weights_s8_t w_ih; /* [4H][I] */
    hil_weights_s8_t w_hh; /* [4H][H] */
    hil_requant_t ih;      /* bias + W_ih part -> Q3.12 */
    hil_requant_t hh;      /* W_hh part -> Q3.12, bias NULL */
} hil_qlstm_layer_t;

typedef struct {
    uint8_t kind; /* HIL_MODEL_LSTM_S8 or HIL_MODEL_LSTM_S16 */
    uint8_t n_layers;
    hil_qlstm_layer_t layers[HIL_LSTM_MAX_LAYERS];
    hil_qdense_t head;
} hil_qlstm_t;

typedef struct {
    uint16_t input_size;
    uint16_t hidden_size;
    uint8_t ih_align;    /* 0..16 */
    uint8_t hh_align;    /* 0..16 */
    uint8_t bias_align;  /* 0..30 */
    uint8_t gate_shift;  /* 0..31 */
    uint8_t cell_frac;   /* 0..15 */
    uint8_t h_frac;      /* 0..15 */
    const int16_t *w_ih; /* [4H][I] */
    const int16_t *w_hh; /* [4H][H] */
    const int16_t *bias; /* [4H] */
} hil_lstm_layer_q15_t;

typedef struct {
    uint8_t n_layers;
    hil_lstm_layer_q15_t layers[HIL_LSTM_MAX_LAYERS];
    hil_dense_q15_t head;
} hil_lstm_q15_t;

/* Caller-owned scratch of the forward kernels, 4-byte aligned, sized by the matching buffer_size function. */
typedef struct {
    void *buf;
    size_t size; /* bytes */
} hil_scratch_t;

/* ----------------------------------------------------------------------------------------------- kernels */

/* Elementwise Q3.12 -> Q0.15 (header comment); y may equal x. */
hil_status_t hil_sigmoid_s16(const int16_t *x, int16_t *y, size_t n);
hil_status_t hil_tanh_s16(const int16_t *x, int16_t *y, size_t n);

/* One dense layer; no scratch (rows two at a time: the forwards' four-row DSP loop needs the pairs' scratch). */
hil_status_t hil_dense_s8(const hil_qdense_t *layer, const int8_t *x, int8_t *y);
hil_status_t hil_dense_s16(const hil_qdense_t *layer, const int16_t *x, int16_t *y);
hil_status_t hil_dense_q15(const hil_dense_q15_t *layer, const int16_t *x, int16_t *y);

/* Parse a blob (in RAM or flash, 4-byte aligned) into `model`; pointers point into the blob, nothing is copied, and
 * a refused blob leaves `model` untouched. */
hil_status_t hil_mlp_bind_f32(const uint8_t *blob, size_t blob_bytes, hil_mlp_f32_t *model);
hil_status_t hil_mlp_bind_s8(const uint8_t *blob, size_t blob_bytes, hil_qmlp_t *model);
hil_status_t hil_mlp_bind_s16(const uint8_t *blob, size_t blob_bytes, hil_qmlp_t *model);
hil_status_t hil_mlp_bind_q15(const uint8_t *blob, size_t blob_bytes, hil_mlp_q15_t *model);
hil_status_t hil_lstm_bind_s8(const uint8_t *blob, size_t blob_bytes, hil_qlstm_t *model);
hil_status_t hil_lstm_bind_s16(const uint8_t *blob, size_t blob_bytes, hil_qlstm_t *model);
hil_status_t hil_lstm_bind_q15(const uint8_t *blob, size_t blob_bytes, hil_lstm_q15_t *model);

/* Bytes of scratch the forward needs (0 for a model it would refuse; for a one-layer MLP, none, except on a core with
 * the DSP extension, where the s8/s16 kernels add the int16 column pairs of the widest input: 2 bytes per column). The
 * figure depends on the core the kernels were built for, as CMSIS-NN's get_buffer_size functions do. */
size_t hil_mlp_buffer_size_f32(const hil_mlp_f32_t *model);
size_t hil_mlp_buffer_size_s8(const hil_qmlp_t *model);
size_t hil_mlp_buffer_size_s16(const hil_qmlp_t *model);
size_t hil_mlp_buffer_size_q15(const hil_mlp_q15_t *model);
size_t hil_lstm_buffer_size_s8(const hil_qlstm_t *model);
size_t hil_lstm_buffer_size_s16(const hil_qlstm_t *model);
size_t hil_lstm_buffer_size_q15(const hil_lstm_q15_t *model);

/* One input vector [in_size] -> output [output_size]. */
hil_status_t hil_mlp_forward_f32(const hil_mlp_f32_t *model, const hil_scratch_t *ctx, const float *input,
                                 float *output);
/* The output of dense layer `layer` (after its ReLU when hidden) for one input vector: trace[units of that layer]. */
hil_status_t hil_mlp_trace_f32(const hil_mlp_f32_t *model, const hil_scratch_t *ctx, const float *input, uint8_t layer,
                               float *trace);
hil_status_t hil_mlp_forward_s8(const hil_qmlp_t *model, const hil_scratch_t *ctx, const int8_t *input, int8_t *output);
hil_status_t hil_mlp_forward_s16(const hil_qmlp_t *model, const hil_scratch_t *ctx, const int16_t *input,
                                 int16_t *output);
hil_status_t hil_mlp_forward_q15(const hil_mlp_q15_t *model, const hil_scratch_t *ctx, const int16_t *input,
                                 int16_t *output);

/* One time step of one layer: updates h[H] and c[H] in place from x[I]; gates is scratch of 4H int16 (rows two at a
 * time: the forwards' four-row DSP loop needs the pairs of their scratch). */
hil_status_t hil_lstm_cell_s8(const hil_qlstm_layer_t *layer, const int8_t *x, int8_t *h, int16_t *c, int16_t *gates);
hil_status_t hil_lstm_cell_s16(const hil_qlstm_layer_t *layer, const int16_t *x, int16_t *h, int16_t *c,
                               int16_t *gates);
hil_status_t hil_lstm_cell_q15(const hil_lstm_layer_q15_t *layer, const int16_t *x, int16_t *h, int16_t *c,
                               int16_t *gates);

/* `steps` steps of input[steps][input_size] from zero state; output as hil_lstm_forward_f32 (infer_flags). */
hil_status_t hil_lstm_forward_s8(const hil_qlstm_t *model, const hil_scratch_t *ctx, const int8_t *input,
                                 uint16_t steps, uint8_t infer_flags, int8_t *output);
hil_status_t hil_lstm_forward_s16(const hil_qlstm_t *model, const hil_scratch_t *ctx, const int16_t *input,
                                  uint16_t steps, uint8_t infer_flags, int16_t *output);
hil_status_t hil_lstm_forward_q15(const hil_lstm_q15_t *model, const hil_scratch_t *ctx, const int16_t *input,
                                  uint16_t steps, uint8_t infer_flags, int16_t *output);

#endif /* HIL_QUANT_H */
