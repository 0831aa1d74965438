#include "hil/hil_esn.h"

hil_status_t hil_esn_readout_f32(const float *w_out_t, uint16_t n_features, uint16_t n_outputs, const float *z,
                                 float *y)
{
    if (w_out_t == NULL || z == NULL || y == NULL || n_features == 0u || n_outputs == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* W_out^T is read down a column: that is the layout the in-place solve leaves, and D*O is small. */
    for (size_t c = 0; c < n_outputs; c++) {
        float acc = 0.0f;
        for (size_t i = 0; i < n_features; i++) {
            acc += w_out_t[i * n_outputs + c] * z[i];
        }
        y[c] = acc;
    }
    return HIL_OK;
}
