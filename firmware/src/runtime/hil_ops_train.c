/* Handlers of on-device LSTM training: configure (memory checked up front), train a step, evaluate, and read or
 * write the flat tensors (parameters, gradient, optimizer state) so the host can compare every one of them.
 *
 * A step is all or nothing: the gradient is computed beside the parameters, and the optimizers check every new
 * value before writing any (hil_sgd_step_f32 / hil_adam_step_f32), so a non-finite loss or update leaves the
 * parameters and optimizer state exactly as they were. A repeated TRAIN_STEP (same seq) is answered from the
 * frame loop's stored answer and never applied twice. */
#include <string.h>

#include "hil/hil_config.h"
#include "hil/hil_lstm_train.h"
#include "hil/hil_port.h"
#include "hil/hil_wire.h"
#include "hil_arena.h"
#include "hil_journal.h"
#include "hil_runtime.h"

#define HIL_ROUND8(n) (((uint64_t)(n) + 7u) & ~(uint64_t)7u) /* what hil_arena_alloc takes for n bytes */

static float hil_get_f32(const uint8_t *p)
{
    const uint32_t bits = hil_get_u32(p);
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

static void hil_put_f32(uint8_t *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    hil_put_u32(p, bits);
}

static uint32_t hil_n_params(void)
{
    return (hil_rt.blob_bytes - HIL_MODEL_HEADER_SIZE) / 4u;
}

typedef struct {
    uint64_t state_bytes;   /* gradient + optimizer state */
    uint64_t scratch_bytes; /* backward pass */
} hil_train_need_t;

static hil_train_need_t hil_train_need(uint8_t optimizer, uint16_t steps)
{
    const uint64_t vec = HIL_ROUND8((uint64_t)hil_n_params() * 4u);
    hil_train_need_t need;
    need.state_bytes = vec * (optimizer == HIL_OPT_ADAM ? 3u : 2u);
    need.scratch_bytes = HIL_ROUND8(hil_lstm_train_buffer_size_f32(&hil_rt.model, steps));
    return need;
}

hil_status_t hil_op_train_config(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "TRAIN_CONFIG", HIL_TRAIN_CONFIG_SIZE, 1);
    if (st != HIL_OK) {
        return st;
    }
    if (hil_rt.state != HIL_MODEL_READY) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "TRAIN_CONFIG before a model is committed");
    }
    if ((hil_rt.kind->flags & HIL_KIND_TRAINABLE) == 0u) {
        return hil_fail(op, HIL_ERR_BAD_MODEL, "a %s model cannot learn here: training takes LSTM_F32",
                        hil_rt.kind->name);
    }
    if (hil_rt.blob == NULL) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "the model is in flash and cannot learn; stream it into the arena");
    }
    if (hil_rt.model.dense_w == NULL) {
        return hil_fail(op, HIL_ERR_BAD_MODEL, "a model without a dense head (the lower part of a split) cannot learn");
    }
    const uint8_t *r = op->req;
    const uint8_t optimizer = r[0];
    const uint8_t loss = r[1];
    const uint16_t steps = hil_get_u16(r + 2);
    const uint16_t max_batch = hil_get_u16(r + 4);
    const uint8_t flags = r[6];
    const float lr = hil_get_f32(r + 8);
    const float beta1 = hil_get_f32(r + 12);
    const float beta2 = hil_get_f32(r + 16);
    const float eps = hil_get_f32(r + 20);
    const float clip = hil_get_f32(r + 24);
    if (optimizer != HIL_OPT_SGD && optimizer != HIL_OPT_ADAM) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "optimizer %u unknown (0 SGD, 1 Adam)", (uint32_t)optimizer);
    }
    if (loss != HIL_LOSS_MSE && loss != HIL_LOSS_CE) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "loss %u unknown (0 MSE, 1 cross-entropy)", (uint32_t)loss);
    }
    if (loss == HIL_LOSS_CE && hil_rt.model.output_size < 2u) {
        return hil_fail(op, HIL_ERR_SHAPE_MISMATCH, "cross-entropy needs >= 2 outputs, model has %u",
                        (uint32_t)hil_rt.model.output_size);
    }
    if (steps == 0u || max_batch == 0u || (flags & ~HIL_TRAIN_QUERY) != 0u) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "steps %u, max batch %u, flags 0x%02x: want >0, >0, 0 or 1",
                        (uint32_t)steps, (uint32_t)max_batch, (uint32_t)flags);
    }
    /* Negated comparisons: NaN fails them too. */
    if (!(lr > 0.0f) || !(beta1 >= 0.0f && beta1 < 1.0f) || !(eps >= 0.0f) ||
        (optimizer == HIL_OPT_ADAM && !(beta2 >= 0.0f && beta2 < 1.0f)) || clip != clip) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "hyper-parameters out of range (lr > 0, 0 <= betas < 1, eps >= 0)");
    }

    const hil_train_need_t need = hil_train_need(optimizer, steps);
    const uint64_t needed = need.state_bytes + need.scratch_bytes;
    const uint32_t free_above_model = (uint32_t)HIL_ARENA_BYTES - hil_rt.mark_after_model;
    uint8_t *p = op->resp;
    hil_put_u32(p + 0, needed > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)needed);
    hil_put_u32(p + 4, free_above_model);
    hil_put_u32(p + 8, hil_n_params());
    hil_put_u32(p + 12, (uint32_t)need.scratch_bytes);
    hil_put_u32(p + 16, (uint32_t)need.state_bytes);
    op->resp_len = HIL_TRAIN_INFO_SIZE;
    if ((flags & HIL_TRAIN_QUERY) != 0u) {
        return HIL_OK;
    }
    if (needed > free_above_model) {
        return hil_fail(op, HIL_ERR_ARENA_EXHAUSTED, "training needs %u B (state %u + scratch %u), arena has %u B",
                        (uint32_t)needed, (uint32_t)need.state_bytes, (uint32_t)need.scratch_bytes, free_above_model);
    }

    /* Rebuild everything above the model: an earlier configuration and any staged input go. */
    hil_arena_release(hil_rt.mark_after_model);
    hil_rt.input = NULL;
    hil_rt.input_bytes = 0u;
    hil_train_state_t *t = &hil_rt.train;
    memset(t, 0, sizeof(*t));
    const uint32_t n = hil_n_params();
    t->grad = hil_arena_alloc(n * 4u);
    t->m = hil_arena_alloc(n * 4u);
    t->v = optimizer == HIL_OPT_ADAM ? hil_arena_alloc(n * 4u) : NULL;
    t->ctx.buf = hil_arena_alloc((uint32_t)need.scratch_bytes);
    t->ctx.size = (size_t)need.scratch_bytes;
    if (t->grad == NULL || t->m == NULL || (optimizer == HIL_OPT_ADAM && t->v == NULL) || t->ctx.buf == NULL) {
        hil_arena_release(hil_rt.mark_after_model); /* cannot happen after the check above; never half-configured */
        memset(t, 0, sizeof(*t));
        return hil_fail(op, HIL_ERR_ARENA_EXHAUSTED, "training state did not fit");
    }
    memset(t->grad, 0, n * 4u);
    memset(t->m, 0, n * 4u);
    if (t->v != NULL) {
        memset(t->v, 0, n * 4u);
    }
    hil_rt.mark_input = hil_arena_mark();
    t->params = (float *)(void *)(hil_rt.blob + HIL_MODEL_HEADER_SIZE);
    t->n_params = n;
    t->optimizer = optimizer;
    t->loss = loss;
    t->steps = steps;
    t->max_batch = max_batch;
    t->lr = lr;
    t->beta1 = beta1;
    t->beta2 = beta2;
    t->eps = eps;
    t->clip = clip;
    t->configured = 1u;
    return HIL_OK;
}

typedef struct {
    uint16_t batch;
    uint32_t seq_values;    /* steps * input_size */
    uint32_t target_values; /* per sequence */
    const float *inputs;
    const float *targets;
} hil_batch_t;

/* The batch of a TRAIN_STEP or EVAL request, inline or staged, checked for shape and finiteness. */
static hil_status_t hil_batch(hil_op_t *op, const char *name, hil_batch_t *b)
{
    hil_status_t st = hil_need(op, name, 4u, 0);
    if (st != HIL_OK) {
        return st;
    }
    const hil_train_state_t *t = &hil_rt.train;
    if (hil_rt.state != HIL_MODEL_READY || !t->configured) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "%s before MODEL_COMMIT and TRAIN_CONFIG", name);
    }
    b->batch = hil_get_u16(op->req);
    if (b->batch == 0u || b->batch > t->max_batch) {
        return hil_fail(op, HIL_ERR_SHAPE_MISMATCH, "batch of %u, configured for 1..%u", (uint32_t)b->batch,
                        (uint32_t)t->max_batch);
    }
    b->seq_values = (uint32_t)t->steps * hil_rt.model.layers[0].input_size;
    b->target_values = t->loss == HIL_LOSS_MSE ? hil_rt.model.output_size : 1u;
    const uint64_t want = (uint64_t)b->batch * (b->seq_values + b->target_values);
    const uint8_t *data;
    uint32_t have;
    if (op->req_len > 4u) {
        data = op->req + 4;
        have = (uint32_t)op->req_len - 4u;
    } else {
        data = hil_rt.input;
        have = hil_rt.input_bytes;
        if (data == NULL) {
            return hil_fail(op, HIL_ERR_BAD_REQUEST, "%s without inline data and none staged", name);
        }
    }
    if ((uint64_t)have != want * 4u) {
        return hil_fail(op, HIL_ERR_SHAPE_MISMATCH,
                        "%s data has %u B, batch %u x (%u steps x %u in + %u target) "
                        "wants %u values",
                        name, have, (uint32_t)b->batch, (uint32_t)t->steps, (uint32_t)hil_rt.model.layers[0].input_size,
                        b->target_values, (uint32_t)want);
    }
    b->inputs = (const float *)(const void *)data;
    b->targets = b->inputs + (uint32_t)b->batch * b->seq_values;
    uint32_t bits = 0u;
    const uint32_t bad = hil_first_non_finite(b->inputs, (uint32_t)want, &bits);
    if (bad != (uint32_t)want) {
        return hil_fail(op, HIL_ERR_NON_FINITE, "%s value [%u] is %s", name, bad, hil_non_finite_name(bits));
    }
    return HIL_OK;
}

static void hil_step_answer(hil_op_t *op, float loss, float norm, uint64_t ticks)
{
    uint8_t *p = op->resp;
    hil_put_f32(p + 0, loss);
    hil_put_f32(p + 4, norm);
    hil_put_u64(p + 8, ticks);
    hil_put_u32(p + 16, hil_rt.train.steps_done);
    op->resp_len = HIL_TRAIN_STEP_SIZE;
}

hil_status_t hil_op_train_step(hil_op_t *op)
{
    hil_batch_t b;
    hil_status_t st = hil_batch(op, "TRAIN_STEP", &b);
    if (st != HIL_OK) {
        return st;
    }
    hil_train_state_t *t = &hil_rt.train;
    const size_t n = t->n_params;
    float loss_sum = 0.0f;
    float norm = 0.0f;

    /* The counter spans the whole step: forward, backward, averaging, clipping and the update. */
    const uint64_t t0 = hil_port_counter();
    memset(t->grad, 0, n * 4u);
    for (uint16_t i = 0; i < b.batch; i++) {
        float loss = 0.0f;
        st = hil_lstm_backward_f32(&hil_rt.model, &t->ctx, b.inputs + (size_t)i * b.seq_values, t->steps,
                                   b.targets + (size_t)i * b.target_values, t->loss, t->grad, &loss);
        if (st != HIL_OK) {
            return hil_fail(op, st, "sequence %u of the batch: loss %s; parameters unchanged", (uint32_t)i,
                            st == HIL_ERR_NON_FINITE ? "or gradient not finite" : "refused");
        }
        loss_sum += loss;
    }
    if (b.batch > 1u) {
        (void)hil_vec_scale_f32(t->grad, n, 1.0f / (float)b.batch);
    }
    (void)hil_clip_grad_norm_f32(t->grad, n, t->clip, &norm);
    hil_journal_begin_update(); /* from here until the commit below a reset leaves the parameters torn */
    if (t->optimizer == HIL_OPT_ADAM) {
        const hil_adam_params_t p = {t->lr, t->beta1, t->beta2, t->eps};
        st = hil_adam_step_f32(&p, t->params, t->grad, t->m, t->v, n, t->steps_done + 1u);
    } else {
        const hil_sgd_params_t p = {t->lr, t->beta1};
        st = hil_sgd_step_f32(&p, t->params, t->grad, t->m, n);
    }
    const uint64_t t1 = hil_port_counter();
    if (st != HIL_OK) {
        hil_journal_abort_update();
        return hil_fail(op, st, "update would make parameters non-finite (grad norm %u.%03u); parameters unchanged",
                        (uint32_t)norm, (uint32_t)((norm - (float)(uint32_t)norm) * 1000.0f));
    }
    hil_journal_commit(hil_rt.blob, hil_rt.blob_bytes); /* outside the counted span: bookkeeping, not learning */
    t->steps_done++;
    hil_rt.last_ticks = t1 - t0;
    hil_step_answer(op, loss_sum / (float)b.batch, norm, t1 - t0);
    return HIL_OK;
}

hil_status_t hil_op_eval(hil_op_t *op)
{
    hil_batch_t b;
    hil_status_t st = hil_batch(op, "EVAL", &b);
    if (st != HIL_OK) {
        return st;
    }
    const hil_train_state_t *t = &hil_rt.train;
    float *y = t->ctx.buf; /* the backward scratch is idle during EVAL and holds far more than O floats */
    float loss_sum = 0.0f;
    const uint64_t t0 = hil_port_counter();
    for (uint16_t i = 0; i < b.batch; i++) {
        float loss = 0.0f;
        st = hil_lstm_forward_f32(&hil_rt.model, &hil_rt.ctx, b.inputs + (size_t)i * b.seq_values, t->steps, 0u, y);
        if (st == HIL_OK) {
            st = hil_loss_f32(y, hil_rt.model.output_size, b.targets + (size_t)i * b.target_values, t->loss, NULL,
                              &loss);
        }
        if (st != HIL_OK) {
            return hil_fail(op, st, "sequence %u of the batch: loss not computed (status %u)", (uint32_t)i,
                            (uint32_t)st);
        }
        loss_sum += loss;
    }
    const uint64_t t1 = hil_port_counter();
    hil_step_answer(op, loss_sum / (float)b.batch, 0.0f, t1 - t0);
    return HIL_OK;
}

/* The flat tensor `id`: where it is, how many floats, whether it may be written. */
static hil_status_t hil_tensor(hil_op_t *op, uint8_t id, float **data, uint32_t *n, int *writable)
{
    if (id >= HIL_TENSOR_ESN_W_IN) {
        return hil_esn_tensor(op, id, data, n, writable); /* the ESN's tensors need no LSTM model */
    }
    if (hil_rt.state != HIL_MODEL_READY) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "tensor %u: no model committed", (uint32_t)id);
    }
    const hil_train_state_t *t = &hil_rt.train;
    *writable = 1;
    switch (id) {
    case HIL_TENSOR_PARAMS:
        if ((hil_rt.kind->flags & HIL_KIND_TRAINABLE) == 0u) {
            return hil_fail(op, HIL_ERR_BAD_MODEL, "tensor %u is the parameters of LSTM_F32, not of a %s blob",
                            (uint32_t)id, hil_rt.kind->name);
        }
        if (hil_rt.blob == NULL) {
#if HIL_HAVE_BUILTIN_MODEL
            extern const uint8_t hil_builtin_model[];
            extern const uint32_t hil_builtin_model_bytes;
            *data = (float *)(uintptr_t)(hil_builtin_model + HIL_MODEL_HEADER_SIZE); /* read-only: see writable */
            *n = (hil_builtin_model_bytes - HIL_MODEL_HEADER_SIZE) / 4u;
            *writable = 0;
            return HIL_OK;
#else
            return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "no parameters");
#endif
        }
        *data = (float *)(void *)(hil_rt.blob + HIL_MODEL_HEADER_SIZE);
        *n = hil_n_params();
        return HIL_OK;
    case HIL_TENSOR_GRADS:
    case HIL_TENSOR_OPT_M:
    case HIL_TENSOR_OPT_V: {
        float *v = id == HIL_TENSOR_GRADS ? t->grad : (id == HIL_TENSOR_OPT_M ? t->m : t->v);
        if (!t->configured || v == NULL) {
            return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "tensor %u needs TRAIN_CONFIG%s", (uint32_t)id,
                            id == HIL_TENSOR_OPT_V ? " with Adam" : "");
        }
        *data = v;
        *n = t->n_params;
        return HIL_OK;
    }
    default:
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "tensor %u unknown", (uint32_t)id);
    }
}

hil_status_t hil_op_tensor_read(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "TENSOR_READ", HIL_TENSOR_REQ_SIZE + 4u, 1);
    if (st != HIL_OK) {
        return st;
    }
    float *data;
    uint32_t n;
    int writable;
    st = hil_tensor(op, op->req[0], &data, &n, &writable);
    if (st != HIL_OK) {
        return st;
    }
    const uint32_t offset = hil_get_u32(op->req + 4);
    const uint32_t count = hil_get_u32(op->req + 8);
    if ((uint64_t)count * 4u > HIL_MAX_PAYLOAD) {
        return hil_fail(op, HIL_ERR_PAYLOAD_TOO_LARGE, "%u values do not fit a %u B answer", count,
                        (uint32_t)HIL_MAX_PAYLOAD);
    }
    st = hil_chunk_in(op, "tensor", offset, count, n);
    if (st != HIL_OK) {
        return st;
    }
    memcpy(op->resp, data + offset, (size_t)count * 4u);
    op->resp_len = (uint16_t)(count * 4u);
    return HIL_OK;
}

hil_status_t hil_op_tensor_write(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "TENSOR_WRITE", HIL_TENSOR_REQ_SIZE, 0);
    if (st != HIL_OK) {
        return st;
    }
    float *data;
    uint32_t n;
    int writable;
    st = hil_tensor(op, op->req[0], &data, &n, &writable);
    if (st != HIL_OK) {
        return st;
    }
    if (!writable) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "tensor %u is in flash; stream the model into the arena",
                        (uint32_t)op->req[0]);
    }
    const uint32_t bytes = (uint32_t)op->req_len - HIL_TENSOR_REQ_SIZE;
    if (bytes % 4u != 0u) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "%u B are not whole f32 values", bytes);
    }
    const uint32_t offset = hil_get_u32(op->req + 4);
    st = hil_chunk_in(op, "tensor", offset, bytes / 4u, n);
    if (st != HIL_OK) {
        return st;
    }
    memcpy(data + offset, op->req + HIL_TENSOR_REQ_SIZE, bytes);
    if (op->req[0] == HIL_TENSOR_PARAMS) {
        hil_journal_commit(hil_rt.blob, hil_rt.blob_bytes); /* the new parameters are the ones to recover */
    }
    return HIL_OK;
}
