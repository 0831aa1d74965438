#include <math.h>

#include "hil/hil_lstm_train.h"

hil_status_t hil_clip_grad_norm_f32(float *grad, size_t n, float max_norm, float *norm_out)
{
    if (grad == NULL || isnan(max_norm)) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* Plain float accumulation: doubles are software-emulated on a Cortex-M4F, and a norm that is off by a few
     * ulps only moves the clipping threshold by as much. */
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        sum += grad[i] * grad[i];
    }
    const float norm = sqrtf(sum);
    if (norm_out != NULL) {
        *norm_out = norm;
    }
    /* PyTorch would scale by max_norm / inf = 0 (or NaN) and wipe the gradient silently; refusing lets the
     * runtime report the bad step instead of applying it. */
    if (!isfinite(norm)) {
        return HIL_ERR_NON_FINITE;
    }
    if (max_norm > 0.0f && norm > max_norm) {
        /* The 1e-6 is PyTorch's, kept so device and reference clip to the same scale. */
        const float scale = max_norm / (norm + 1e-6f);
        for (size_t i = 0; i < n; i++) {
            grad[i] *= scale;
        }
    }
    return HIL_OK;
}
