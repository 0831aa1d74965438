#include "hil/hil_lstm_train.h"

hil_status_t hil_vec_scale_f32(float *x, size_t n, float s)
{
    if (x == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    for (size_t i = 0; i < n; i++) {
        x[i] *= s;
    }
    return HIL_OK;
}
