#include <math.h>

#include "hil/hil_esn.h"

static int hil_esn_config_ok(const hil_esn_config_t *cfg)
{
    /* Written as positive tests so that a NaN fails every one of them. */
    return cfg->n_inputs >= 1u && cfg->n_reservoir >= 1u && cfg->n_outputs >= 1u && cfg->power_iterations >= 2u &&
           cfg->feedback <= 1u && cfg->readout_input <= 1u && cfg->density > 0.0f && cfg->density <= 1.0f &&
           cfg->spectral_radius > 0.0f && isfinite(cfg->spectral_radius) && isfinite(cfg->input_scale) &&
           cfg->leak_rate > 0.0f && cfg->leak_rate <= 1.0f && cfg->ridge >= 0.0f && isfinite(cfg->ridge) &&
           isfinite(cfg->feedback_scale);
}

hil_status_t hil_esn_init_f32(const hil_esn_config_t *cfg, float *weights, size_t weights_bytes, float *scratch,
                              size_t scratch_bytes, hil_esn_reservoir_f32_t *res)
{
    if (cfg == NULL || weights == NULL || scratch == NULL || res == NULL || !hil_esn_config_ok(cfg)) {
        return HIL_ERR_BAD_REQUEST;
    }
    hil_esn_sizes_t sizes;
    if (hil_esn_buffer_size_f32(cfg, &sizes) == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (weights_bytes < sizes.weights || scratch_bytes < sizes.init_scratch) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }

    const size_t n = cfg->n_reservoir;
    const size_t n_in = (size_t)cfg->n_inputs + 1u;
    float *w_in = weights;
    float *w_res = w_in + n * n_in;
    float *w_back = w_res + n * n;

    /* The draw order is part of the contract with harness/models/esn.py: W_in, then W_res (mask, value), then
     * W_back. */
    hil_prng_t prng;
    hil_prng_seed(&prng, cfg->seed);
    for (size_t i = 0; i < n * n_in; i++) {
        w_in[i] = cfg->input_scale * hil_prng_uniform_f32(&prng);
    }
    /* Exact: density <= 1 times a power of two, truncated. Comparing integers keeps the mask free of rounding. */
    const uint32_t keep_below = (uint32_t)(cfg->density * 16777216.0f);
    for (size_t i = 0; i < n * n; i++) {
        /* Both draws every time, so the stream position after W_res does not depend on the density. */
        const uint32_t mask = hil_prng_next_u32(&prng) >> 8;
        const float value = hil_prng_uniform_f32(&prng);
        w_res[i] = mask < keep_below ? value : 0.0f;
    }
    if (cfg->feedback) {
        for (size_t i = 0; i < n * cfg->n_outputs; i++) {
            w_back[i] = cfg->feedback_scale * hil_prng_uniform_f32(&prng);
        }
    }

    float rho = 0.0f;
    const hil_status_t st =
        hil_esn_spectral_radius_f32(w_res, cfg->n_reservoir, cfg->power_iterations, scratch, scratch_bytes, &rho);
    if (st != HIL_OK) {
        return st;
    }
    const float scale = cfg->spectral_radius / rho;
    if (!(rho > 0.0f) || !isfinite(scale)) {
        return HIL_ERR_BAD_REQUEST; /* nothing to scale: a nilpotent W_res, too sparse to have a cycle */
    }
    for (size_t i = 0; i < n * n; i++) {
        w_res[i] *= scale;
    }

    hil_esn_reservoir_f32_t r;
    r.n_inputs = cfg->n_inputs;
    r.n_reservoir = cfg->n_reservoir;
    r.n_outputs = cfg->n_outputs;
    r.leak_rate = cfg->leak_rate;
    r.rho_estimate = rho;
    r.w_in = w_in;
    r.w_res = w_res;
    r.w_back = cfg->feedback ? w_back : NULL;
    *res = r;
    return HIL_OK;
}
