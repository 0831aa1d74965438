#include "hil/hil_esn.h"

hil_status_t hil_esn_accumulate_f32(const hil_esn_normal_f32_t *ne, const float *z, const float *y)
{
    if (ne == NULL || z == NULL || y == NULL || ne->a == NULL || ne->b == NULL || ne->n_features == 0u ||
        ne->n_outputs == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    const size_t d = ne->n_features;
    const size_t o = ne->n_outputs;
    /* 64-bit: D(D+1)/2 floats of a large D exceed a 32-bit size_t. */
    if ((uint64_t)ne->a_size < 4u * ((uint64_t)d * (d + 1u) / 2u) || (uint64_t)ne->b_size < 4u * (uint64_t)d * o) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    /* A is symmetric: the lower triangle is all the solve reads, half the memory and half the work. */
    float *a = ne->a;
    for (size_t i = 0; i < d; i++) {
        const float zi = z[i];
        for (size_t j = 0; j <= i; j++) {
            *a++ += zi * z[j];
        }
    }
    float *b = ne->b;
    for (size_t i = 0; i < d; i++) {
        const float zi = z[i];
        for (size_t j = 0; j < o; j++) {
            *b++ += zi * y[j];
        }
    }
    return HIL_OK;
}
