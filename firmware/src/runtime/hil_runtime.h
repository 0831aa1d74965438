/* The request side of the runtime: state shared by the handler files and the helpers they all use.
 * hil_ops.c holds THE dispatch table; each model's handlers live in their own hil_ops_<model>.c. */
#ifndef HIL_RUNTIME_H
#define HIL_RUNTIME_H

#include "hil/hil_esn.h"
#include "hil/hil_lstm.h"
#include "hil/hil_lstm_train.h"
#include "hil_models.h"
#include "hil_ops.h"

typedef enum {
    HIL_MODEL_NONE = 0, /* nothing loaded */
    HIL_MODEL_LOADING,  /* blob reserved by MODEL_BEGIN, chunks arriving */
    HIL_MODEL_READY     /* bound and its scratch reserved: INFER may run */
} hil_model_state_t;

/* Training state, reserved by TRAIN_CONFIG above the model; all of it flat f32 vectors of n_params. */
typedef struct {
    uint8_t configured;
    uint8_t optimizer; /* HIL_OPT_* */
    uint8_t loss;      /* HIL_LOSS_* */
    uint16_t steps;    /* sequence length every batch has */
    uint16_t max_batch;
    float lr, beta1, beta2, eps, clip;
    uint32_t n_params;
    float *params; /* inside the blob, right after its header */
    float *grad;
    float *m; /* SGD momentum or Adam first moment */
    float *v; /* Adam second moment (NULL for SGD) */
    hil_lstm_train_ctx_f32_t ctx;
    uint32_t steps_done;
} hil_train_state_t;

/* The Echo State Network, built by ESN_CONFIG in an arena it has to itself (hil_ops_esn.c). Phases: CONFIGURED (FEED
 * adds samples to A and B), FITTED (A holds L, B holds W_out^T; SCORE runs). */
typedef enum { HIL_ESN_NONE = 0, HIL_ESN_CONFIGURED, HIL_ESN_FITTED } hil_esn_phase_t;

typedef struct {
    hil_esn_phase_t phase;
    hil_esn_config_t cfg;
    uint32_t window;      /* samples per scored window */
    uint32_t max_windows; /* capacity of calib */
    uint16_t n_features;  /* D */
    hil_esn_sizes_t sizes;
    hil_esn_reservoir_f32_t res;
    hil_esn_normal_f32_t ne; /* a: A, later L; b: B, later W_out^T */
    float *weights;          /* W_in | W_res | W_back */
    float *x;                /* N: reservoir state of the current stream */
    float *pre;              /* N: pre-activations (update scratch) */
    float *z;                /* D: extended state */
    float *y_prev;           /* O: the teacher's previous target (zero at a stream's start) */
    float *y_hat;            /* O: readout */
    float *calib;            /* max_windows calibration MSEs, kept for ESN_THRESHOLD */
    uint32_t n_calib;
    float threshold;     /* NaN until ESN_THRESHOLD */
    uint8_t in_stream;   /* a stream was begun and may be continued */
    uint8_t calibrating; /* the current SCORE stream keeps its MSEs */
    uint32_t position;   /* samples of the current stream so far */
    float window_sum;    /* squared errors of the window being scored */
    uint32_t samples_fitted;
    uint32_t windows_scored;
    uint32_t windows_flagged;
} hil_esn_state_t;

/* All runtime state of the request side; the frame loop owns the link state. The arena holds, bottom up:
 * blob | inference scratch | training state | staged input, and is only ever released from the top. */
typedef struct {
    hil_model_state_t state;
    uint8_t *blob;                /* arena copy being loaded / bound (NULL for the built-in model) */
    uint32_t blob_bytes;          /* announced by MODEL_BEGIN */
    uint32_t mark_after_blob;     /* arena mark above the blob: COMMIT rebuilds from here */
    uint32_t mark_after_model;    /* arena mark above blob and scratch: TRAIN_CONFIG rebuilds from here */
    uint32_t mark_input;          /* arena mark the staged input sits on: INPUT_BEGIN rebuilds from here */
    const hil_model_kind_t *kind; /* the bound model's entry in the kind table (hil_models.c); NULL until bound */
    hil_lstm_model_f32_t model;   /* the trainable kind (LSTM_F32) is bound here, where training finds it */
    void *bound;                  /* the bound model: &model, or its struct in the arena above the blob */
    hil_lstm_ctx_f32_t ctx;       /* the forward's scratch in the arena; kinds other than LSTM_F32 take its bytes */
    uint16_t input_size;          /* of the bound model, from its blob header */
    uint16_t output_size;
    uint8_t n_layers;
    uint8_t *input; /* staged input (NULL when none) */
    uint32_t input_bytes;
    uint64_t last_ticks;
    uint8_t stream_live; /* the scratch holds the recurrent state an INFER left: HIL_INFER_CONTINUE may go on */
    hil_train_state_t train;
    hil_esn_state_t esn; /* the arena holds either the LSTM (blob and above) or the ESN, never both */
} hil_runtime_t;

extern hil_runtime_t hil_rt;

/* Set op->reason from a format (hil_fmt.h) and return `status`. */
hil_status_t hil_fail(hil_op_t *op, hil_status_t status, const char *fmt, ...);
/* Payload length check; `exact` 0 means "at least min". */
hil_status_t hil_need(hil_op_t *op, const char *name, uint16_t min, int exact);
/* Bounds of a chunk [offset, offset+n) inside a buffer of `size` bytes. */
hil_status_t hil_chunk_in(hil_op_t *op, const char *what, uint32_t offset, uint32_t n, uint32_t size);
/* A chunk request (u32 offset, bytes) written into `buf` of `size` bytes; idempotent, so chunks may repeat. */
hil_status_t hil_chunk_write(hil_op_t *op, const char *what, uint8_t *buf, uint32_t size);
/* Index of the first NaN/Inf among n floats (its bits in *bits), or n. */
uint32_t hil_first_non_finite(const float *v, uint32_t n, uint32_t *bits);
const char *hil_non_finite_name(uint32_t bits);
/* Forget the model and everything above it; empty the arena. */
void hil_drop_all(void);
/* Drop the staged input (and, with `train` set, the training state too) so the arena can be rebuilt. */
void hil_drop_input(void);

/* handlers: hil_ops_model.c (model load, staged input, INFER: every inference kind) */
hil_status_t hil_op_model_begin(hil_op_t *op);
hil_status_t hil_op_model_chunk(hil_op_t *op);
hil_status_t hil_op_model_commit(hil_op_t *op);
hil_status_t hil_op_model_builtin(hil_op_t *op);
hil_status_t hil_op_model_recover(hil_op_t *op);
hil_status_t hil_op_input_begin(hil_op_t *op);
hil_status_t hil_op_input_chunk(hil_op_t *op);
hil_status_t hil_op_infer(hil_op_t *op);
hil_status_t hil_op_trace(hil_op_t *op);
/* handlers: hil_ops_train.c */
hil_status_t hil_op_train_config(hil_op_t *op);
hil_status_t hil_op_train_step(hil_op_t *op);
hil_status_t hil_op_eval(hil_op_t *op);
hil_status_t hil_op_tensor_read(hil_op_t *op);
hil_status_t hil_op_tensor_write(hil_op_t *op);
/* handlers: hil_ops_esn.c */
hil_status_t hil_op_esn_config(hil_op_t *op);
hil_status_t hil_op_esn_feed(hil_op_t *op);
hil_status_t hil_op_esn_fit(hil_op_t *op);
hil_status_t hil_op_esn_score(hil_op_t *op);
hil_status_t hil_op_esn_threshold(hil_op_t *op);
/* TENSOR_READ/WRITE of the HIL_TENSOR_ESN_* ids: where the tensor is and how many floats it has. */
hil_status_t hil_esn_tensor(hil_op_t *op, uint8_t id, float **data, uint32_t *n, int *writable);

#endif /* HIL_RUNTIME_H */
