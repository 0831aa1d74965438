#include <math.h>

#include "hil/hil_lstm_train.h"

hil_status_t hil_loss_f32(const float *y, uint16_t n_out, const float *target, uint8_t loss_kind, float *dy,
                          float *loss)
{
    if (y == NULL || target == NULL || loss == NULL || n_out == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    float value;
    if (loss_kind == HIL_LOSS_MSE) {
        const float scale = 2.0f / (float)n_out;
        float sum = 0.0f;
        for (uint16_t o = 0; o < n_out; o++) {
            const float d = y[o] - target[o];
            sum += d * d;
            if (dy != NULL) {
                dy[o] = d * scale;
            }
        }
        value = sum / (float)n_out;
    } else if (loss_kind == HIL_LOSS_CE) {
        const float t = target[0];
        if (!(t >= 0.0f && t < (float)n_out) || floorf(t) != t) { /* the negated test also refuses NaN */
            return HIL_ERR_BAD_REQUEST;
        }
        const uint16_t cls = (uint16_t)t;
        /* Shifted by the maximum so no expf overflows: the largest term is exp(0) = 1 and the sum is in [1, O]. */
        float y_max = y[0];
        for (uint16_t o = 1; o < n_out; o++) {
            y_max = y[o] > y_max ? y[o] : y_max;
        }
        const float shifted_cls = y[cls] - y_max;
        float sum = 0.0f;
        for (uint16_t o = 0; o < n_out; o++) {
            sum += expf(y[o] - y_max);
        }
        if (dy != NULL) {
            for (uint16_t o = 0; o < n_out; o++) {
                dy[o] = expf(y[o] - y_max) / sum; /* softmax, minus the one-hot target below */
            }
            dy[cls] -= 1.0f;
        }
        value = logf(sum) - shifted_cls;
    } else {
        return HIL_ERR_BAD_REQUEST;
    }
    *loss = value;
    return isfinite(value) ? HIL_OK : HIL_ERR_NON_FINITE;
}
