#include "hil/hil_lstm.h"
#include "support/hils_vec_f32.h"

hil_status_t hil_dense_f32(const float *w, const float *b, uint16_t in_size, uint16_t out_size, const float *x,
                           float *y)
{
    if (w == NULL || b == NULL || x == NULL || y == NULL || in_size == 0u || out_size == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    for (uint16_t o = 0; o < out_size; o++) {
        y[o] = hils_dot_acc_f32(b[o], w, x, in_size);
        w += in_size;
    }
    return HIL_OK;
}
