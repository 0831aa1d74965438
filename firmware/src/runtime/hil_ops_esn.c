/* Handlers of the Echo State Network trained on the device: configure (the reservoir is drawn from the seed, memory
 * is refused up front), feed training samples into the normal equations, fit the readout by ridge regression, score
 * windows of a stream, and set the autoencoder's anomaly threshold. docs/protocol.md describes the conversation.
 *
 * Memory: ESN_CONFIG reserves everything at once and nothing grows afterwards: weights, state, A and B (whose size
 * depends on D and O, not on the number of samples: FEED adds each sample to A += z z^T, B += z y^T and forgets it)
 * and max_windows calibration MSEs. The ESN has the arena to itself: ESN_CONFIG drops any LSTM model, MODEL_BEGIN and
 * RESET drop the ESN.
 *
 * Threshold: median + std of the training windows' MSEs needs W_out, which exists only after the fit, and keeping
 * the training samples would make memory grow with them. So the training windows are scored in a second pass: after
 * ESN_FIT the host streams the training data again with SCORE|CALIBRATE, the device keeps each window's MSE (up to
 * max_windows floats, reserved by ESN_CONFIG), and ESN_THRESHOLD sorts them for the exact median. The cost is the
 * training data twice over the link; the gain is the reference's threshold to the last bit of its inputs.
 *
 * All or nothing: a FEED or SCORE chunk is checked whole before any sample changes the state: flags, shape, order
 * (its position must be where the stream is, so a lost or repeated chunk cannot slip in), finiteness, and a bound
 * proving that nothing computed from it can overflow float32 (hil_esn_bound). A refused chunk leaves A, B, the state
 * and the counters as they were. The one exception is ESN_FIT: the Cholesky factorisation overwrites A in place, and
 * an untouched copy would need D(D+1)/2 more floats (20 KB at N = 100) that a 96 KB part does not have; when
 * A + ridge I is not positive definite in float32 the normal equations are gone, the device says so, and the ESN
 * goes back to CONFIGURED with A and B zeroed, to be fed again. */
#include <math.h>
#include <string.h>

#include "hil/hil_config.h"
#include "hil/hil_esn.h"
#include "hil/hil_port.h"
#include "hil/hil_wire.h"
#include "hil_arena.h"
#include "hil_journal.h"
#include "hil_runtime.h"

#define HIL_ROUND8(n) (((uint64_t)(n) + 7u) & ~(uint64_t)7u) /* what hil_arena_alloc takes for n bytes */

/* Largest magnitude a chunk may lead to (pre-activations, A, B, squared errors). 1e30 leaves 8 orders of magnitude
 * below FLT_MAX for what the bound does not model: rounding, the ridge added to A's diagonal. */
#define HIL_ESN_SAFE_MAGNITUDE 1e30

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

/* ------------------------------------------------------------------------------------------------ ESN_CONFIG */

typedef struct {
    uint64_t weights, state, normal, calib, total;
} hil_esn_need_t;

/* Arena bytes of every region ESN_CONFIG reserves; total is UINT64_MAX when the kernel's sizes do not fit size_t. */
static hil_esn_need_t hil_esn_need(const hil_esn_config_t *cfg, uint32_t max_windows, hil_esn_sizes_t *sizes)
{
    hil_esn_need_t need = {0u, 0u, 0u, 0u, UINT64_MAX};
    if (hil_esn_buffer_size_f32(cfg, sizes) == 0u) {
        return need;
    }
    const uint64_t n = cfg->n_reservoir;
    const uint64_t o = cfg->n_outputs;
    const uint64_t d = 1u + (cfg->readout_input ? cfg->n_inputs : 0u) + n;
    need.weights = HIL_ROUND8(sizes->weights);
    /* x, pre-activations, z, the previous target (feedback) and the readout: the kernel's state plus O floats. */
    need.state = 2u * HIL_ROUND8(4u * n) + HIL_ROUND8(4u * d) + 2u * HIL_ROUND8(4u * o);
    /* The power iteration's scratch lives where A will be: init runs before the first sample is added. */
    need.normal = HIL_ROUND8(sizes->a > sizes->init_scratch ? sizes->a : sizes->init_scratch) + HIL_ROUND8(sizes->b);
    need.calib = HIL_ROUND8(4u * (uint64_t)max_windows);
    need.total = need.weights + need.state + need.normal + need.calib;
    return need;
}

static int hil_esn_config_ok(const hil_esn_config_t *c)
{
    /* Positive tests, so that a NaN fails each of them; the same ranges as hil_esn_init_f32 and EsnConfig. */
    return c->n_inputs >= 1u && c->n_reservoir >= 1u && c->n_outputs >= 1u && c->power_iterations >= 2u &&
           c->feedback <= 1u && c->readout_input <= 1u && c->density > 0.0f && c->density <= 1.0f &&
           c->spectral_radius > 0.0f && isfinite(c->spectral_radius) && isfinite(c->input_scale) &&
           c->leak_rate > 0.0f && c->leak_rate <= 1.0f && c->ridge >= 0.0f && isfinite(c->ridge) &&
           isfinite(c->feedback_scale);
}

static void *hil_esn_alloc(uint64_t bytes)
{
    return hil_arena_alloc((uint32_t)bytes); /* bytes <= the arena, checked by the caller */
}

hil_status_t hil_op_esn_config(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "ESN_CONFIG", HIL_ESN_CONFIG_SIZE, 1);
    if (st != HIL_OK) {
        return st;
    }
    const uint8_t *r = op->req;
    const uint8_t flags = r[0];
    hil_esn_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.feedback = r[1];
    cfg.readout_input = r[2];
    cfg.n_inputs = hil_get_u16(r + 4);
    cfg.n_reservoir = hil_get_u16(r + 6);
    cfg.n_outputs = hil_get_u16(r + 8);
    cfg.power_iterations = hil_get_u16(r + 10);
    cfg.seed = hil_get_u32(r + 12);
    cfg.washout = hil_get_u32(r + 16);
    const uint32_t window = hil_get_u32(r + 20);
    const uint32_t max_windows = hil_get_u32(r + 24);
    cfg.density = hil_get_f32(r + 28);
    cfg.spectral_radius = hil_get_f32(r + 32);
    cfg.input_scale = hil_get_f32(r + 36);
    cfg.leak_rate = hil_get_f32(r + 40);
    cfg.ridge = hil_get_f32(r + 44);
    cfg.feedback_scale = hil_get_f32(r + 48);
    if ((flags & ~HIL_ESN_CONFIG_QUERY) != 0u || r[3] != 0u) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "ESN_CONFIG flags 0x%02x, byte 3 = %u: want 0 or 1, and 0",
                        (uint32_t)flags, (uint32_t)r[3]);
    }
    if (!hil_esn_config_ok(&cfg) || window == 0u) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST,
                        "ESN config out of range: K, N, O >= 1, iterations >= 2, 0 < density <= 1, rho > 0, "
                        "0 < leak <= 1, ridge >= 0, window >= 1");
    }

    hil_esn_sizes_t sizes;
    const hil_esn_need_t need = hil_esn_need(&cfg, max_windows, &sizes);
    const uint32_t arena = (uint32_t)HIL_ARENA_BYTES;
    const uint32_t needed = need.total > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)need.total;
    uint8_t *p = op->resp;
    hil_put_u32(p + 0, needed);
    hil_put_u32(p + 4, arena);
    hil_put_u32(p + 8, (uint32_t)need.weights);
    hil_put_u32(p + 12, (uint32_t)need.state);
    hil_put_u32(p + 16, (uint32_t)need.normal);
    hil_put_u32(p + 20, (uint32_t)need.calib);
    const uint32_t d = 1u + (cfg.readout_input ? cfg.n_inputs : 0u) + cfg.n_reservoir;
    hil_put_u16(p + 24, d > 0xFFFFu ? 0xFFFFu : (uint16_t)d);
    hil_put_u16(p + 26, 0u);
    hil_put_f32(p + 28, 0.0f);
    hil_put_u64(p + 32, 0u);
    op->resp_len = HIL_ESN_INFO_SIZE;
    if ((flags & HIL_ESN_CONFIG_QUERY) != 0u) {
        return HIL_OK;
    }
    if (d > 0xFFFFu) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "D = 1 + K + N = %u does not fit 16 bits", d);
    }
    if (need.total > arena) {
        /* Refused before anything is dropped: a loaded LSTM model stays usable. */
        return hil_fail(op, HIL_ERR_ARENA_EXHAUSTED,
                        "ESN needs %u B (weights %u, A+B %u, state %u, calib %u), "
                        "arena has %u B",
                        needed, (uint32_t)need.weights, (uint32_t)need.normal, (uint32_t)need.state,
                        (uint32_t)need.calib, arena);
    }

    hil_drop_all();       /* the ESN takes the whole arena: any LSTM model, its training state and staged input go */
    hil_journal_forget(); /* the arena is about to be overwritten: no LSTM model to recover after a reset */
    hil_esn_state_t *e = &hil_rt.esn;
    const uint32_t n = cfg.n_reservoir;
    const uint32_t o = cfg.n_outputs;
    e->weights = hil_esn_alloc(need.weights);
    e->x = hil_esn_alloc(4u * n);
    e->pre = hil_esn_alloc(4u * n);
    e->z = hil_esn_alloc(4u * d);
    e->y_prev = hil_esn_alloc(4u * o);
    e->y_hat = hil_esn_alloc(4u * o);
    e->ne.a = hil_esn_alloc(HIL_ROUND8(sizes.a > sizes.init_scratch ? sizes.a : sizes.init_scratch));
    e->ne.b = hil_esn_alloc(sizes.b);
    e->calib = max_windows != 0u ? hil_esn_alloc(4u * (uint64_t)max_windows) : NULL;
    if (e->weights == NULL || e->x == NULL || e->pre == NULL || e->z == NULL || e->y_prev == NULL || e->y_hat == NULL ||
        e->ne.a == NULL || e->ne.b == NULL || (max_windows != 0u && e->calib == NULL)) {
        hil_drop_all(); /* cannot happen after the check above; never half-configured */
        return hil_fail(op, HIL_ERR_ARENA_EXHAUSTED, "ESN regions did not fit");
    }
    const uint64_t t0 = hil_port_counter();
    st = hil_esn_init_f32(&cfg, e->weights, sizes.weights, e->ne.a, sizes.init_scratch, &e->res);
    const uint64_t t1 = hil_port_counter();
    if (st != HIL_OK) {
        hil_drop_all();
        return hil_fail(op, st, "reservoir not built (status %u): %s; the arena is empty", (uint32_t)st,
                        st == HIL_ERR_NON_FINITE ? "W_res x overflowed" : "W_res has no growth, raise the density");
    }
    e->cfg = cfg;
    e->window = window;
    e->max_windows = max_windows;
    e->n_features = (uint16_t)d;
    e->sizes = sizes;
    e->ne.n_features = (uint16_t)d;
    e->ne.n_outputs = (uint16_t)o;
    e->ne.a_size = sizes.a;
    e->ne.b_size = sizes.b;
    memset(e->ne.a, 0, sizes.a); /* the power iteration's scratch was here */
    memset(e->ne.b, 0, sizes.b);
    memset(e->x, 0, 4u * n);
    memset(e->y_prev, 0, 4u * o);
    e->threshold = NAN;
    e->phase = HIL_ESN_CONFIGURED;
    hil_put_f32(p + 28, e->res.rho_estimate);
    hil_put_u64(p + 32, t1 - t0);
    return HIL_OK;
}

/* --------------------------------------------------------------------------------------- FEED / SCORE chunks */

typedef struct {
    uint8_t flags;
    uint16_t n;
    uint32_t position;
    const float *u;    /* [n][K] */
    const float *y;    /* targets: [n][O], or u itself for an autoencoder */
    uint32_t y_stride; /* floats from one target to the next: O, or K when the target is the input */
} hil_esn_chunk_t;

static float hil_abs_max(const float *v, size_t n, size_t stride, size_t width)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < width; j++) {
            const float a = fabsf(v[i * stride + j]);
            m = a > m ? a : m;
        }
    }
    return m;
}

/* No value a chunk leads to can overflow float32, so no sample of it can fail half-way (the "all or nothing" of
 * the file comment). |x| <= 1 in exact arithmetic (a convex combination of x(t-1) and a tanh); 2 leaves room for
 * rounding. Then |pre_i| <= max|W_in| (1 + K |u|max) + max_i sum_j |W_res_ij| * 2 + max|W_back| O |y|max, every z
 * entry is <= max(2, |u|max), and A, B, the readout and a window's squared errors follow. The weights are bounded
 * here, not at ESN_CONFIG, because TENSOR_WRITE may change them; float sums of |w| that overflow read as Inf and
 * refuse, which is right. Cost: N^2 additions per chunk, under 1% of its state updates. */
static hil_status_t hil_esn_bound(hil_op_t *op, const char *name, const hil_esn_chunk_t *c, int scoring)
{
    const hil_esn_state_t *e = &hil_rt.esn;
    const hil_esn_config_t *cfg = &e->cfg;
    const size_t k = cfg->n_inputs;
    const size_t n = cfg->n_reservoir;
    const size_t o = cfg->n_outputs;
    const double u_max = (double)hil_abs_max(c->u, c->n, k, k);
    const float t_max = hil_abs_max(c->y, c->n, c->y_stride, o);
    const float prev_max = hil_abs_max(e->y_prev, 1u, o, o);
    const double y_max = (double)(t_max > prev_max ? t_max : prev_max);
    const double in_max = (double)hil_abs_max(e->weights, n, k + 1u, k + 1u);
    float row_max = 0.0f;
    const float *w_res = e->weights + n * (k + 1u);
    for (size_t i = 0; i < n; i++) {
        float s = 0.0f;
        for (size_t j = 0; j < n; j++) {
            s += fabsf(w_res[i * n + j]);
        }
        row_max = s > row_max ? s : row_max;
    }
    const double back_max = cfg->feedback ? (double)hil_abs_max(w_res + n * n, n, o, o) : 0.0;
    const double pre = in_max * (1.0 + (double)k * u_max) + 2.0 * (double)row_max + back_max * (double)o * y_max;
    const double z_max = cfg->readout_input && u_max > 2.0 ? u_max : 2.0;
    double worst = pre;
    if (!scoring) {
        const double count = (double)e->samples_fitted + (double)c->n;
        const double a = count * z_max * z_max;
        const double b = count * z_max * y_max;
        worst = a > worst ? a : worst;
        worst = b > worst ? b : worst;
    } else {
        float col_max = 0.0f; /* largest column sum of |W_out^T|: bounds |y_hat| by col_max * z_max */
        for (size_t j = 0; j < o; j++) {
            float s = 0.0f;
            for (size_t i = 0; i < e->n_features; i++) {
                s += fabsf(e->ne.b[i * o + j]);
            }
            col_max = s > col_max ? s : col_max;
        }
        const double err = (double)col_max * z_max + y_max;
        const double window_sum = err * err * (double)o * (double)e->window;
        worst = window_sum > worst ? window_sum : worst;
    }
    if (!(worst <= HIL_ESN_SAFE_MAGNITUDE)) {
        int ex = 0;
        (void)frexp(u_max > y_max ? u_max : y_max, &ex);
        return hil_fail(op, HIL_ERR_OUT_OF_RANGE,
                        "%s values up to 2^%d could overflow float32 in the ESN; "
                        "nothing applied: scale the data",
                        name, (int32_t)ex);
    }
    return HIL_OK;
}

/* The chunk of a FEED or SCORE request, checked whole (see the file comment) before anything changes. */
static hil_status_t hil_esn_chunk(hil_op_t *op, const char *name, uint8_t allowed, hil_esn_chunk_t *c)
{
    hil_status_t st = hil_need(op, name, HIL_ESN_STREAM_HEADER_SIZE, 0);
    if (st != HIL_OK) {
        return st;
    }
    const hil_esn_state_t *e = &hil_rt.esn;
    const uint8_t *r = op->req;
    c->flags = r[0];
    c->n = hil_get_u16(r + 2);
    c->position = hil_get_u32(r + 4);
    if ((c->flags & ~allowed) != 0u || r[1] != 0u || c->n == 0u) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "%s flags 0x%02x (allowed 0x%02x), byte 1 = %u, %u samples", name,
                        (uint32_t)c->flags, (uint32_t)allowed, (uint32_t)r[1], (uint32_t)c->n);
    }
    const uint32_t k = e->cfg.n_inputs;
    const uint32_t o = e->cfg.n_outputs;
    const int targets = (c->flags & HIL_ESN_STREAM_TARGETS) != 0u;
    if (!targets && o != k) {
        return hil_fail(op, HIL_ERR_SHAPE_MISMATCH,
                        "%s without targets reconstructs the input: needs O == K, "
                        "ESN has O %u, K %u",
                        name, o, k);
    }
    const uint32_t values = (uint32_t)c->n * (k + (targets ? o : 0u));
    if ((uint32_t)op->req_len != HIL_ESN_STREAM_HEADER_SIZE + 4u * values) {
        return hil_fail(op, HIL_ERR_SHAPE_MISMATCH, "%s has %u B of samples, %u x (%u in%s) wants %u B", name,
                        (uint32_t)op->req_len - HIL_ESN_STREAM_HEADER_SIZE, (uint32_t)c->n, k,
                        targets ? " + targets" : "", 4u * values);
    }
    if ((c->flags & HIL_ESN_STREAM_BEGIN) != 0u) {
        if (c->position != 0u) {
            return hil_fail(op, HIL_ERR_OUT_OF_RANGE, "%s BEGIN at position %u: a stream begins at 0", name,
                            c->position);
        }
    } else if (!e->in_stream) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "%s without a stream: the first chunk has the BEGIN flag", name);
    } else if (c->position != e->position) {
        return hil_fail(op, HIL_ERR_OUT_OF_RANGE,
                        "%s chunk starts at sample %u, the stream is at %u: chunks go "
                        "in order",
                        name, c->position, e->position);
    }
    c->u = (const float *)(const void *)(r + HIL_ESN_STREAM_HEADER_SIZE);
    c->y = targets ? c->u + (size_t)c->n * k : c->u;
    c->y_stride = targets ? o : k;
    uint32_t bits = 0u;
    const uint32_t bad = hil_first_non_finite(c->u, values, &bits);
    if (bad != values) {
        return hil_fail(op, HIL_ERR_NON_FINITE, "%s value [%u] is %s; nothing applied", name, bad,
                        hil_non_finite_name(bits));
    }
    return HIL_OK;
}

static void hil_esn_begin_stream(hil_esn_state_t *e)
{
    memset(e->x, 0, 4u * (size_t)e->cfg.n_reservoir);
    memset(e->y_prev, 0, 4u * (size_t)e->cfg.n_outputs);
    e->position = 0u;
    e->window_sum = 0.0f; /* a partial window of the previous stream is dropped, as window_mse drops it */
    e->in_stream = 1u;
}

/* z = [1; u; x], or [1; x] without readout_input. */
static void hil_esn_extend(const hil_esn_state_t *e, const float *u)
{
    float *z = e->z;
    *z++ = 1.0f;
    if (e->cfg.readout_input) {
        memcpy(z, u, 4u * (size_t)e->cfg.n_inputs);
        z += e->cfg.n_inputs;
    }
    memcpy(z, e->x, 4u * (size_t)e->cfg.n_reservoir);
}

/* One state update; its ticks are added to *update_ticks. */
static hil_status_t hil_esn_step(hil_esn_state_t *e, const float *u, uint64_t *update_ticks)
{
    const uint64_t t0 = hil_port_counter();
    const hil_status_t st = hil_esn_update_f32(&e->res, u, e->y_prev, e->x, e->pre, 4u * (size_t)e->cfg.n_reservoir);
    *update_ticks += hil_port_counter() - t0;
    return st;
}

hil_status_t hil_op_esn_feed(hil_op_t *op)
{
    hil_esn_state_t *e = &hil_rt.esn;
    if (e->phase != HIL_ESN_CONFIGURED) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "ESN_FEED %s",
                        e->phase == HIL_ESN_NONE ? "before ESN_CONFIG"
                                                 : "after ESN_FIT: A holds its factor now; ESN_CONFIG to train again");
    }
    hil_esn_chunk_t c;
    hil_status_t st = hil_esn_chunk(op, "ESN_FEED", HIL_ESN_STREAM_BEGIN | HIL_ESN_STREAM_TARGETS, &c);
    if (st == HIL_OK) {
        st = hil_esn_bound(op, "ESN_FEED", &c, 0);
    }
    if (st != HIL_OK) {
        return st;
    }
    const uint32_t k = e->cfg.n_inputs;
    const size_t o = e->cfg.n_outputs;
    uint64_t update_ticks = 0u;
    const uint64_t t0 = hil_port_counter();
    if ((c.flags & HIL_ESN_STREAM_BEGIN) != 0u) {
        hil_esn_begin_stream(e);
    }
    for (uint32_t i = 0; i < c.n; i++) {
        const float *u = c.u + (size_t)i * k;
        const float *y = c.y + (size_t)i * c.y_stride;
        st = hil_esn_step(e, u, &update_ticks);
        if (st == HIL_OK && e->position >= e->cfg.washout) {
            hil_esn_extend(e, u);
            st = hil_esn_accumulate_f32(&e->ne, e->z, y);
            e->samples_fitted++;
        }
        if (st != HIL_OK) { /* the chunk was checked: a kernel cannot refuse it */
            return hil_fail(op, st, "ESN_FEED sample %u: kernel status %u", i, (uint32_t)st);
        }
        memcpy(e->y_prev, y, 4u * o); /* teacher forcing: the next update sees this target as y(t-1) */
        e->position++;
    }
    const uint64_t t1 = hil_port_counter();
    uint8_t *p = op->resp;
    hil_put_u32(p + 0, e->samples_fitted);
    hil_put_u32(p + 4, e->position);
    hil_put_u64(p + 8, t1 - t0);
    hil_put_u64(p + 16, update_ticks);
    op->resp_len = HIL_ESN_FEED_SIZE;
    return HIL_OK;
}

/* ------------------------------------------------------------------------------------------------- ESN_FIT */

hil_status_t hil_op_esn_fit(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "ESN_FIT", 0u, 1);
    if (st != HIL_OK) {
        return st;
    }
    hil_esn_state_t *e = &hil_rt.esn;
    if (e->phase != HIL_ESN_CONFIGURED || e->samples_fitted == 0u) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "ESN_FIT %s",
                        e->phase == HIL_ESN_NONE     ? "before ESN_CONFIG"
                        : e->phase == HIL_ESN_FITTED ? "twice: ESN_CONFIG to train again"
                                                     : "without samples past the washout: ESN_FEED first");
    }
    const uint64_t t0 = hil_port_counter();
    st = hil_esn_solve_f32(&e->ne, e->cfg.ridge);
    const uint64_t t1 = hil_port_counter();
    e->in_stream = 0u; /* scoring starts its own streams */
    if (st != HIL_OK) {
        const uint32_t fitted = e->samples_fitted;
        memset(e->ne.a, 0, e->ne.a_size);
        memset(e->ne.b, 0, e->ne.b_size);
        e->samples_fitted = 0u;
        return hil_fail(op, st,
                        "A + ridge I not positive definite after %u samples (raise the ridge); A consumed: "
                        "feed again",
                        fitted);
    }
    e->phase = HIL_ESN_FITTED;
    e->n_calib = 0u;
    e->windows_scored = 0u;
    e->windows_flagged = 0u;
    e->threshold = NAN;
    uint8_t *p = op->resp;
    hil_put_u32(p + 0, e->samples_fitted);
    hil_put_u16(p + 4, e->n_features);
    hil_put_u16(p + 6, e->cfg.n_outputs);
    hil_put_u64(p + 8, t1 - t0);
    op->resp_len = HIL_ESN_FIT_SIZE;
    return HIL_OK;
}

/* ----------------------------------------------------------------------------------------------- ESN_SCORE */

/* Windows that end before stream position p: windows are `window` samples from the washout on, non-overlapping. */
static uint32_t hil_esn_windows_before(const hil_esn_state_t *e, uint32_t p)
{
    return p > e->cfg.washout ? (p - e->cfg.washout) / e->window : 0u;
}

hil_status_t hil_op_esn_score(hil_op_t *op)
{
    hil_esn_state_t *e = &hil_rt.esn;
    if (e->phase != HIL_ESN_FITTED) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "ESN_SCORE before ESN_FIT");
    }
    hil_esn_chunk_t c;
    hil_status_t st =
        hil_esn_chunk(op, "ESN_SCORE", HIL_ESN_STREAM_BEGIN | HIL_ESN_STREAM_TARGETS | HIL_ESN_STREAM_CALIBRATE, &c);
    if (st != HIL_OK) {
        return st;
    }
    const int begin = (c.flags & HIL_ESN_STREAM_BEGIN) != 0u;
    const uint8_t calibrating = (c.flags & HIL_ESN_STREAM_CALIBRATE) != 0u;
    if (!begin && calibrating != e->calibrating) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "ESN_SCORE: CALIBRATE must be the same on every chunk of a stream");
    }
    const uint32_t start = begin ? 0u : e->position;
    const uint32_t n_windows = hil_esn_windows_before(e, start + c.n) - hil_esn_windows_before(e, start);
    if (HIL_ESN_SCORE_HEADER_SIZE + 5u * n_windows > HIL_MAX_PAYLOAD) {
        return hil_fail(op, HIL_ERR_PAYLOAD_TOO_LARGE, "%u windows do not fit a %u B answer: send fewer samples",
                        n_windows, (uint32_t)HIL_MAX_PAYLOAD);
    }
    if (calibrating && e->n_calib + n_windows > e->max_windows) {
        return hil_fail(op, HIL_ERR_OUT_OF_RANGE, "calibration holds %u windows, has %u, chunk adds %u", e->max_windows,
                        e->n_calib, n_windows);
    }
    st = hil_esn_bound(op, "ESN_SCORE", &c, 1);
    if (st != HIL_OK) {
        return st;
    }
    const uint32_t k = e->cfg.n_inputs;
    const size_t o = e->cfg.n_outputs;
    const float per_window = (float)e->window * (float)o;
    uint8_t *p = op->resp;
    float *mse = (float *)(void *)(p + HIL_ESN_SCORE_HEADER_SIZE); /* 8-byte aligned answer buffer */
    uint8_t *flag = p + HIL_ESN_SCORE_HEADER_SIZE + 4u * n_windows;
    uint32_t done = 0u;
    uint64_t update_ticks = 0u;
    const uint64_t t0 = hil_port_counter();
    if (begin) {
        hil_esn_begin_stream(e);
        e->calibrating = calibrating;
    }
    for (uint32_t i = 0; i < c.n; i++) {
        const float *u = c.u + (size_t)i * k;
        const float *y = c.y + (size_t)i * c.y_stride;
        st = hil_esn_step(e, u, &update_ticks);
        if (st == HIL_OK && e->position >= e->cfg.washout) {
            hil_esn_extend(e, u);
            st = hil_esn_readout_f32(e->ne.b, e->n_features, (uint16_t)o, e->z, e->y_hat);
            for (size_t j = 0; j < o; j++) {
                const float diff = e->y_hat[j] - y[j];
                e->window_sum += diff * diff;
            }
            if ((e->position - e->cfg.washout + 1u) % e->window == 0u) {
                const float m = e->window_sum / per_window;
                e->window_sum = 0.0f;
                mse[done] = m;
                flag[done] = (uint8_t)(!calibrating && m > e->threshold); /* false while the threshold is NaN */
                if (calibrating) {
                    e->calib[e->n_calib++] = m;
                } else {
                    e->windows_scored++;
                    e->windows_flagged += flag[done];
                }
                done++;
            }
        }
        if (st != HIL_OK) {
            return hil_fail(op, st, "ESN_SCORE sample %u: kernel status %u", i, (uint32_t)st);
        }
        memcpy(e->y_prev, y, 4u * o);
        e->position++;
    }
    const uint64_t t1 = hil_port_counter();
    hil_put_u32(p + 0, e->position);
    hil_put_u16(p + 4, (uint16_t)done);
    hil_put_u16(p + 6, 0u);
    hil_put_u32(p + 8, e->windows_scored);
    hil_put_u32(p + 12, e->windows_flagged);
    hil_put_u64(p + 16, t1 - t0);
    hil_put_u64(p + 24, update_ticks);
    op->resp_len = (uint16_t)(HIL_ESN_SCORE_HEADER_SIZE + 5u * done);
    return HIL_OK;
}

/* ------------------------------------------------------------------------------------------- ESN_THRESHOLD */

static void hil_sift_down(float *v, size_t root, size_t n)
{
    for (size_t child = 2u * root + 1u; child < n; child = 2u * root + 1u) {
        if (child + 1u < n && v[child + 1u] > v[child]) {
            child++;
        }
        if (!(v[child] > v[root])) {
            return;
        }
        const float t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/* Heapsort, ascending: O(n log n) in place, no recursion, so neither time nor stack depends on the MSEs' order. */
static void hil_sort_f32(float *v, size_t n)
{
    for (size_t i = n / 2u; i-- > 0u;) {
        hil_sift_down(v, i, n);
    }
    for (size_t end = n; end-- > 1u;) {
        const float t = v[0];
        v[0] = v[end];
        v[end] = t;
        hil_sift_down(v, 0u, end);
    }
}

hil_status_t hil_op_esn_threshold(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "ESN_THRESHOLD", 0u, 1);
    if (st != HIL_OK) {
        return st;
    }
    hil_esn_state_t *e = &hil_rt.esn;
    if (e->phase != HIL_ESN_FITTED || e->n_calib == 0u) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "ESN_THRESHOLD %s",
                        e->phase != HIL_ESN_FITTED
                            ? "before ESN_FIT"
                            : "without calibration windows: ESN_SCORE the training data with CALIBRATE");
    }
    const uint64_t t0 = hil_port_counter();
    const size_t n = e->n_calib;
    float *v = e->calib;
    hil_sort_f32(v, n); /* their order is not needed again: every MSE already went to the host in its answer */
    /* numpy's median and population std, in double as numpy computes them (a few hundred soft-float operations on
     * the M4F): the threshold then differs from the reference's only by its final rounding to float32. */
    const double median = n % 2u != 0u ? (double)v[n / 2u] : ((double)v[n / 2u - 1u] + (double)v[n / 2u]) / 2.0;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        sum += (double)v[i];
    }
    const double mean = sum / (double)n;
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)v[i] - mean;
        sq += d * d;
    }
    const double std = sqrt(sq / (double)n);
    e->threshold = (float)(median + std);
    const uint64_t t1 = hil_port_counter();
    uint8_t *p = op->resp;
    hil_put_f32(p + 0, e->threshold);
    hil_put_f32(p + 4, (float)median);
    hil_put_f32(p + 8, (float)std);
    hil_put_u32(p + 12, (uint32_t)n);
    hil_put_u64(p + 16, t1 - t0);
    op->resp_len = HIL_ESN_THRESHOLD_SIZE;
    return HIL_OK;
}

/* ------------------------------------------------------------------------------------------------- tensors */

hil_status_t hil_esn_tensor(hil_op_t *op, uint8_t id, float **data, uint32_t *n, int *writable)
{
    hil_esn_state_t *e = &hil_rt.esn;
    if (e->phase == HIL_ESN_NONE) {
        return hil_fail(op, HIL_ERR_MODEL_NOT_LOADED, "tensor %u: no ESN (ESN_CONFIG first)", (uint32_t)id);
    }
    const uint32_t k = e->cfg.n_inputs;
    const uint32_t nr = e->cfg.n_reservoir;
    const uint32_t o = e->cfg.n_outputs;
    const uint32_t d = e->n_features;
    *writable = 1;
    switch (id) {
    case HIL_TENSOR_ESN_W_IN:
        *data = e->weights;
        *n = nr * (k + 1u);
        return HIL_OK;
    case HIL_TENSOR_ESN_W_RES:
        *data = e->weights + nr * (k + 1u);
        *n = nr * nr;
        return HIL_OK;
    case HIL_TENSOR_ESN_W_BACK:
        if (!e->cfg.feedback) {
            return hil_fail(op, HIL_ERR_BAD_REQUEST, "tensor %u: this ESN has no feedback", (uint32_t)id);
        }
        *data = e->weights + nr * (k + 1u) + nr * nr;
        *n = nr * o;
        return HIL_OK;
    case HIL_TENSOR_ESN_W_OUT:
        *data = e->ne.b;
        *n = d * o;
        return HIL_OK;
    case HIL_TENSOR_ESN_STATE:
        *data = e->x;
        *n = nr;
        return HIL_OK;
    case HIL_TENSOR_ESN_THRESHOLD:
        *data = &e->threshold;
        *n = 1u;
        return HIL_OK;
    case HIL_TENSOR_ESN_A:
        *data = e->ne.a;
        *n = d * (d + 1u) / 2u;
        return HIL_OK;
    default:
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "tensor %u unknown", (uint32_t)id);
    }
}
