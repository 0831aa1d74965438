/* fp32 Echo State Network built and trained on the device, in the CMSIS-NN manner.
 *
 * The reservoir is drawn from a seed, so the device never receives it: host and device build the same matrices
 * bit for bit. harness/models/esn.py is the reference and specifies the PRNG, the draw order and the spectral
 * radius estimate in its module docstring; this header repeats what a caller needs. No kernel allocates: every
 * buffer belongs to the caller and hil_esn_buffer_size_f32() says how big each must be.
 *
 * Sizes: K = n_inputs, N = n_reservoir, O = n_outputs, D = 1 + (readout_input ? K : 0) + N.
 *
 * Model:
 *   x(t) = (1 - a) x(t-1) + a tanh(W_in [1; u(t)] + W_res x(t-1) + W_back y(t-1))     x(-1) = 0, y(-1) = 0
 *   z(t) = [1; u(t); x(t)]   (or [1; x(t)] without readout_input)                     extended state, D floats
 *   y(t) = W_out z(t)                                                                 W_out stored as W_out^T [D][O]
 * Training streams the normal equations A += z z^T, B += z y^T (samples after the washout), then solves
 * (A + ridge I) W_out^T = B by Cholesky in place: memory does not grow with the number of samples.
 *
 * Layouts (all row-major float32):
 *   W_in   [N][K+1]  column 0 multiplies the constant 1 (input bias)
 *   W_res  [N][N]    dense; entries the mask drew as zero are stored as 0.0f
 *   W_back [N][O]    only with feedback
 *   A      D(D+1)/2  lower triangle packed by rows: element (i, j <= i) at i(i+1)/2 + j
 *   B      [D][O]    becomes W_out^T after hil_esn_solve_f32
 *
 * Memory (bytes, hil_esn_buffer_size_f32), every region a multiple of 4:
 *   weights      = 4 (N(K+1) + N^2 + (feedback ? N O : 0))      W_in | W_res | W_back, one buffer, in that order
 *   init_scratch = 4 * 2N                                        power iteration; only during init
 *   state        = 4 (2N + D + O)                                x, pre-activations, z, y
 *   a            = 4 D(D+1)/2
 *   b            = 4 D O
 *   train_total  = weights + state + max(a, init_scratch) + b   peak: init runs before A is used, so its scratch
 *                                                                can live where A will be (2N <= D(D+1)/2 always)
 *   infer_total  = weights + state + b                           A is free once W_out^T is solved
 * The return value of hil_esn_buffer_size_f32 is train_total; a runtime refuses a config whose total does not fit.
 *
 * Floating point: every kernel sums in a fixed, sequential order. The reservoir (PRNG, W_in, W_res with its
 * spectral-radius scaling, W_back) is bit-identical to the reference on any IEEE float32 FPU and under any
 * -ffp-contract: the spectral radius kernel keeps its products unfused and the rest has no multiply-add. A, B, W_out
 * and the readout are bit-identical to the float32 reference only without contraction (GCC's ISO C modes, such as
 * the kernel tests' -std=c11, imply -ffp-contract=off); the Cortex-M4F board builds with -ffp-contract=fast, whose
 * VFMA changes their last bits. States use the platform's tanhf and agree with the reference to a few ulps.
 */
#ifndef HIL_ESN_H
#define HIL_ESN_H

#include "hil/hil_types.h"

/* ------------------------------------------------------------------------------------------------------ PRNG */

/* PCG32 "XSH RR" with a fixed increment: state' = state * HIL_PRNG_MULTIPLIER + HIL_PRNG_INCREMENT (mod 2^64);
 * the output of a step is xorshifted = ((old >> 18) ^ old) >> 27 rotated right by old >> 59, from the state
 * before the step. */
#define HIL_PRNG_MULTIPLIER 6364136223846793005ull
#define HIL_PRNG_INCREMENT 1442695040888963407ull

typedef struct {
    uint64_t state;
} hil_prng_t;

/* state = 0, one step, state += seed, one step. Every seed, 0 included, gives its own stream.
 * The PRNG functions return values, not a status: prng must not be NULL. */
void hil_prng_seed(hil_prng_t *prng, uint32_t seed);

/* Next 32-bit output. */
uint32_t hil_prng_next_u32(hil_prng_t *prng);

/* Next output mapped to [-1, 1): ((out >> 8) - 2^23) * 2^-23, exact in float32. */
float hil_prng_uniform_f32(hil_prng_t *prng);

/* ------------------------------------------------------------------------------------------------ the model */

typedef struct {
    uint16_t n_inputs;         /* K >= 1 */
    uint16_t n_reservoir;      /* N >= 1 */
    uint16_t n_outputs;        /* O >= 1 */
    uint16_t power_iterations; /* >= 2; the last largest-power-of-two <= iterations/2 are averaged */
    uint32_t seed;             /* PRNG seed */
    uint32_t washout;          /* samples run but neither fitted nor scored; used by the runtime, not the kernels */
    uint8_t feedback;          /* 0 or 1: W_back y(t-1) enters the update */
    uint8_t readout_input;     /* 0 or 1: z includes u */
    uint8_t reserved[2];       /* 0 */
    float density;             /* (0, 1]: chance that a W_res entry is nonzero */
    float spectral_radius;     /* > 0: W_res is scaled to this estimated spectral radius */
    float input_scale;         /* W_in = input_scale * uniform[-1, 1) */
    float leak_rate;           /* (0, 1] */
    float ridge;               /* >= 0, added to the diagonal of A (bias row included) */
    float feedback_scale;      /* W_back = feedback_scale * uniform[-1, 1) */
} hil_esn_config_t;

/* The fixed weights, filled by hil_esn_init_f32; pointers point into the caller's weights buffer. */
typedef struct {
    uint16_t n_inputs;
    uint16_t n_reservoir;
    uint16_t n_outputs;
    float leak_rate;
    float rho_estimate;  /* power-iteration spectral radius of W_res before scaling */
    const float *w_in;   /* [N][K+1] */
    const float *w_res;  /* [N][N], scaled */
    const float *w_back; /* [N][O], NULL without feedback */
} hil_esn_reservoir_f32_t;

/* The normal equations, caller-owned. The caller zeroes a and b before the first sample. */
typedef struct {
    uint16_t n_features; /* D */
    uint16_t n_outputs;  /* O */
    float *a;            /* D(D+1)/2, packed lower triangle */
    size_t a_size;       /* bytes */
    float *b;            /* [D][O] */
    size_t b_size;       /* bytes */
} hil_esn_normal_f32_t;

/* Bytes of each region (see "Memory" above). */
typedef struct {
    size_t weights;
    size_t init_scratch;
    size_t state;
    size_t a;
    size_t b;
    size_t train_total;
    size_t infer_total;
} hil_esn_sizes_t;

/* train_total for `cfg`, and every region in *sizes if sizes is not NULL; 0 if the config is invalid or its sizes
 * do not fit a size_t. */
size_t hil_esn_buffer_size_f32(const hil_esn_config_t *cfg, hil_esn_sizes_t *sizes);

/* Spectral radius estimate of the n x n matrix w: the geometric mean of the growth of a normalised power iteration
 * over its last m iterations (m = largest power of two <= iterations / 2), starting from all ones. scratch holds
 * 2n floats. *rho = 0 if an iterate becomes exactly zero. HIL_ERR_NON_FINITE if w x overflows or holds NaN. */
hil_status_t hil_esn_spectral_radius_f32(const float *w, uint16_t n, uint16_t iterations, float *scratch,
                                         size_t scratch_bytes, float *rho);

/* Draw W_in, W_res, W_back from cfg->seed into `weights` (layout above), estimate the spectral radius of W_res with
 * cfg->power_iterations and scale W_res to cfg->spectral_radius. *res is written only on success.
 * HIL_ERR_BAD_REQUEST for an invalid config or a W_res whose estimate is 0 (nothing to scale: raise the density);
 * HIL_ERR_BUFFER_TOO_SMALL if weights or scratch (2N floats) are smaller than hil_esn_buffer_size_f32 says. */
hil_status_t hil_esn_init_f32(const hil_esn_config_t *cfg, float *weights, size_t weights_bytes, float *scratch,
                              size_t scratch_bytes, hil_esn_reservoir_f32_t *res);

/* One step: x[N] in place from u[K] and y_prev[O] (ignored, may be NULL, without feedback); scratch holds N floats
 * of pre-activations. */
hil_status_t hil_esn_update_f32(const hil_esn_reservoir_f32_t *res, const float *u, const float *y_prev, float *x,
                                float *scratch, size_t scratch_bytes);

/* A += z z^T (lower triangle), B += z y^T for one sample z[D], y[O]. */
hil_status_t hil_esn_accumulate_f32(const hil_esn_normal_f32_t *ne, const float *z, const float *y);

/* Solve (A + ridge I) W_out^T = B in place: A becomes its Cholesky factor L, B becomes W_out^T [D][O].
 * HIL_ERR_NON_FINITE if A or B holds NaN/Inf, if a pivot is not > 0 (A + ridge I is not positive definite in
 * float32: raise the ridge), or if W_out^T overflows; A and B are then unusable and must be accumulated again. */
hil_status_t hil_esn_solve_f32(const hil_esn_normal_f32_t *ne, float ridge);

/* y[O] = W_out z[D], with w_out_t = W_out^T [D][O] as hil_esn_solve_f32 leaves it. */
hil_status_t hil_esn_readout_f32(const float *w_out_t, uint16_t n_features, uint16_t n_outputs, const float *z,
                                 float *y);

#endif /* HIL_ESN_H */
