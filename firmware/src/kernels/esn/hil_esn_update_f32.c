#include <math.h>

#include "hil/hil_esn.h"

hil_status_t hil_esn_update_f32(const hil_esn_reservoir_f32_t *res, const float *u, const float *y_prev, float *x,
                                float *scratch, size_t scratch_bytes)
{
    if (res == NULL || u == NULL || x == NULL || scratch == NULL || res->w_in == NULL || res->w_res == NULL ||
        res->n_inputs == 0u || res->n_reservoir == 0u ||
        (res->w_back != NULL && (y_prev == NULL || res->n_outputs == 0u))) {
        return HIL_ERR_BAD_REQUEST;
    }
    const size_t n = res->n_reservoir;
    if (scratch_bytes < n * sizeof(float)) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    const size_t k = res->n_inputs;
    const size_t o = res->n_outputs;
    const float *w_in = res->w_in;
    const float *w_res = res->w_res;
    const float *w_back = res->w_back;

    /* Every pre-activation before any x changes: x(t-1) feeds every row. One sum per row, in the order
     * bias, inputs, reservoir, feedback, which the float32 reference repeats. */
    for (size_t i = 0; i < n; i++) {
        float acc = w_in[0];
        for (size_t j = 0; j < k; j++) {
            acc += w_in[1u + j] * u[j];
        }
        for (size_t j = 0; j < n; j++) {
            acc += w_res[j] * x[j];
        }
        if (w_back != NULL) {
            for (size_t j = 0; j < o; j++) {
                acc += w_back[j] * y_prev[j];
            }
            w_back += o;
        }
        scratch[i] = acc;
        w_in += k + 1u;
        w_res += n;
    }
    const float a = res->leak_rate;
    const float keep = 1.0f - a;
    for (size_t i = 0; i < n; i++) {
        x[i] = keep * x[i] + a * tanhf(scratch[i]);
    }
    return HIL_OK;
}
