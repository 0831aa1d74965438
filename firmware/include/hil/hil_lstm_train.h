/* fp32 LSTM training on the device: backpropagation through time, gradient clipping, SGD and Adam.
 *
 * Parameter layout. All trainable parameters form ONE flat float vector in model-blob order, the blob minus its
 * header (see hil_lstm.h): per layer W_ih[4H][I], W_hh[4H][H], bias[4H]; then dense W[O][H_last], b[O].
 *   n_params = sum_l 4*H_l*(I_l + H_l + 1) + O*(H_last + 1) = (blob_bytes - HIL_MODEL_HEADER_SIZE) / 4
 * A model bound with hil_lstm_bind_f32() over a blob in RAM points into exactly this vector, so the optimizers
 * update the bound model in place. Gradients and optimizer state (SGD momentum, Adam m and v) are flat vectors of
 * n_params floats in the same layout: clipping and the optimizers are plain loops that know nothing of layers.
 * harness/models/lstm_train.py is the numpy reference of every function here.
 *
 * One training step over a batch of B sequences, as the runtime runs it:
 *   memset(grad, 0, n_params * 4)
 *   for each sequence b: hil_lstm_backward_f32(..., grad, &loss_b)      grad accumulates (sum over b)
 *   hil_vec_scale_f32(grad, n_params, 1.0f / B)                           batch mean, as PyTorch's losses
 *   hil_clip_grad_norm_f32(grad, n_params, max_norm, &norm)
 *   hil_sgd_step_f32(...) or hil_adam_step_f32(..., ++step)
 * Any HIL_ERR_NON_FINITE on the way means: discard grad, do not update (the optimizers refuse by themselves too).
 */
#ifndef HIL_LSTM_TRAIN_H
#define HIL_LSTM_TRAIN_H

#include "hil/hil_lstm.h"
#include "hil/hil_types.h"

/* loss_kind of hil_lstm_backward_f32: HIL_LOSS_MSE or HIL_LOSS_CE (hil_model.h). */

/* Caller-owned scratch of the backward pass, at least hil_lstm_train_buffer_size_f32() bytes, float-aligned. */
typedef struct {
    float *buf;
    size_t size; /* bytes */
} hil_lstm_train_ctx_f32_t;

/* torch.optim.SGD without dampening, weight decay or Nesterov. */
typedef struct {
    float lr;       /* >= 0 */
    float momentum; /* >= 0; 0 = plain SGD, momentum_buf unused */
} hil_sgd_params_t;

/* torch.optim.Adam without weight decay or amsgrad. */
typedef struct {
    float lr;    /* >= 0 */
    float beta1; /* [0, 1) */
    float beta2; /* [0, 1) */
    float eps;   /* >= 0 */
} hil_adam_params_t;

/* Bytes of scratch hil_lstm_backward_f32 needs for sequences of `steps` steps:
 *   4 * ( sum_l (2*steps + 2) * H_l  +  8 * max_l H_l  +  O )
 * 2*steps*H_l: c and h of layer l at every step, kept by the forward pass; the gates are recomputed from them when
 * the backward pass reaches a step (one more forward pass of compute for a third of the memory: LSTM(32) over 24
 * steps then trains with Adam in 96 KB); 2*H_l: the backward's running dL/dh and dL/dc of layer l; 8*max H: the
 * recomputed gates and their dL/d(pre-activation) for the current layer and step; O: the head's output, then dL/dy.
 * Returns 0 for a model the backward pass would refuse (no layers, a zero size) or steps == 0, and SIZE_MAX when
 * the size does not fit in size_t (no context can be that large, so the backward pass refuses it too). */
size_t hil_lstm_train_buffer_size_f32(const hil_lstm_model_f32_t *model, uint16_t steps);

/* Forward over one sequence input[steps][I] from zero state, the loss of the head on the last step's h
 * (many-to-one, as hil_lstm_forward_f32 without HIL_INFER_ALL_STEPS), and full backpropagation through time.
 * grad[n_params] is ACCUMULATED: grad += dL/dparams, so a batch is B calls followed by hil_vec_scale_f32(1/B).
 * *loss receives this sequence's loss (MSE: mean over outputs; CE: with a log-softmax shifted by max(y)).
 * Returns HIL_ERR_BAD_REQUEST (NULL pointer, steps == 0, unknown loss_kind, CE class not an integer in 0..O-1),
 * HIL_ERR_BAD_MODEL (inconsistent layer chain), HIL_ERR_BUFFER_TOO_SMALL (ctx->size below the buffer size; nothing
 * written), HIL_ERR_NON_FINITE (the loss is not finite: grad untouched; or, after accumulation, some grad entry is
 * not finite: grad then holds partial sums and must be discarded). */
hil_status_t hil_lstm_backward_f32(const hil_lstm_model_f32_t *model, const hil_lstm_train_ctx_f32_t *ctx,
                                   const float *input, uint16_t steps, const float *target, uint8_t loss_kind,
                                   float *grad, float *loss);

/* Loss of one head output y[O] against `target` (as hil_lstm_backward_f32 takes it); when dy is not NULL, also
 * dL/dy into dy[O] (dy may be y itself). HIL_ERR_NON_FINITE when the loss is not finite, HIL_ERR_BAD_REQUEST for
 * an unknown loss_kind or a class index outside 0..O-1. */
hil_status_t hil_loss_f32(const float *y, uint16_t n_out, const float *target, uint8_t loss_kind, float *dy,
                          float *loss);

/* x[i] *= s for n floats (the 1/B batch mean of accumulated gradients). */
hil_status_t hil_vec_scale_f32(float *x, size_t n, float s);

/* PyTorch clip_grad_norm_ on one flat vector: norm = ||grad||_2 (written to *norm_out if not NULL); when
 * norm > max_norm, grad *= max_norm / (norm + 1e-6). max_norm <= 0 only measures. A non-finite norm returns
 * HIL_ERR_NON_FINITE with grad untouched (PyTorch would scale every entry to 0 or NaN); NaN max_norm is
 * HIL_ERR_BAD_REQUEST. */
hil_status_t hil_clip_grad_norm_f32(float *grad, size_t n, float max_norm, float *norm_out);

/* One SGD step over n parameters: buf = momentum * buf + grad; params -= lr * buf (params -= lr * grad when
 * momentum == 0; momentum_buf may then be NULL). Zero momentum_buf before the first step: momentum * 0 + grad is
 * exactly PyTorch's first-step buf = grad.
 * All or nothing: if any new parameter or buffer value would be NaN or Inf, returns HIL_ERR_NON_FINITE and leaves
 * params and momentum_buf exactly as they were. Invalid hyper-parameters: HIL_ERR_BAD_REQUEST. */
hil_status_t hil_sgd_step_f32(const hil_sgd_params_t *p, float *params, const float *grad, float *momentum_buf,
                              size_t n);

/* One Adam step over n parameters; `step` is 1-based (1 on the first call), m and v zeroed before step 1:
 *   m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g
 *   params -= (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * (PyTorch's arrangement of lr * m_hat / (sqrt(v_hat) + eps); the bias corrections use powf once per call).
 * All or nothing, as hil_sgd_step_f32: on HIL_ERR_NON_FINITE params, m and v are unchanged. step == 0 or invalid
 * hyper-parameters: HIL_ERR_BAD_REQUEST. */
hil_status_t hil_adam_step_f32(const hil_adam_params_t *p, float *params, const float *grad, float *m, float *v,
                               size_t n, uint32_t step);

#endif /* HIL_LSTM_TRAIN_H */
