#include "hil/hil_lstm.h"
#include "support/hils_vec_f32.h"

hil_status_t hil_dense_f32(const float *w, const float *b, uint16_t in_size, uint16_t out_size, const float *x,
                           float *y)
{
    if (w == NULL || b == NULL || x == NULL || y == NULL || in_size == 0u || out_size == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    uint16_t o = 0;
#if HILS_F32_BLOCKED
    for (; o + 4u <= out_size; o += 4u) { /* four rows per pass, as the LSTM cell's gates */
        float acc[4] = {b[o], b[o + 1u], b[o + 2u], b[o + 3u]};
        hils_dot4_acc_f32(acc, w, in_size, x, in_size);
        y[o] = acc[0];
        y[o + 1u] = acc[1];
        y[o + 2u] = acc[2];
        y[o + 3u] = acc[3];
        w += 4u * in_size;
    }
#endif
    for (; o < out_size; o++) {
        y[o] = hils_dot_acc_f32(b[o], w, x, in_size);
        w += in_size;
    }
    return HIL_OK;
}
