#include <math.h>

#include "hil/hil_esn.h"

/* Start of row i of a lower triangle packed by rows. */
static size_t hil_tri_row(size_t i)
{
    return i * (i + 1u) / 2u;
}

hil_status_t hil_esn_solve_f32(const hil_esn_normal_f32_t *ne, float ridge)
{
    if (ne == NULL || ne->a == NULL || ne->b == NULL || ne->n_features == 0u || ne->n_outputs == 0u ||
        !(ridge >= 0.0f) || !isfinite(ridge)) {
        return HIL_ERR_BAD_REQUEST;
    }
    const size_t d = ne->n_features;
    const size_t o = ne->n_outputs;
    if ((uint64_t)ne->a_size < 4u * ((uint64_t)d * (d + 1u) / 2u) || (uint64_t)ne->b_size < 4u * (uint64_t)d * o) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    float *a = ne->a;
    float *b = ne->b;
    /* A NaN that entered with one sample would otherwise surface as a "not positive definite" pivot or, worse, as
     * a finite-looking W_out: name the real cause. */
    for (size_t i = 0; i < hil_tri_row(d); i++) {
        if (!isfinite(a[i])) {
            return HIL_ERR_NON_FINITE;
        }
    }
    for (size_t i = 0; i < d * o; i++) {
        if (!isfinite(b[i])) {
            return HIL_ERR_NON_FINITE;
        }
    }
    for (size_t i = 0; i < d; i++) {
        a[hil_tri_row(i) + i] += ridge;
    }

    /* Cholesky-Banachiewicz in place, row by row: L_ij needs only rows <= i, and both rows are contiguous in the
     * packed layout. */
    for (size_t i = 0; i < d; i++) {
        float *li = a + hil_tri_row(i);
        for (size_t j = 0; j <= i; j++) {
            const float *lj = a + hil_tri_row(j);
            float s = li[j];
            for (size_t k = 0; k < j; k++) {
                s -= li[k] * lj[k];
            }
            if (j == i) {
                if (!(s > 0.0f)) {
                    return HIL_ERR_NON_FINITE; /* not positive definite in float32: the ridge is too small */
                }
                li[i] = sqrtf(s);
            } else {
                li[j] = s / lj[j];
            }
        }
    }

    /* L Y = B, then L^T W = Y, both in place in B, all O right-hand sides together. */
    for (size_t i = 0; i < d; i++) {
        const float *li = a + hil_tri_row(i);
        for (size_t c = 0; c < o; c++) {
            float s = b[i * o + c];
            for (size_t k = 0; k < i; k++) {
                s -= li[k] * b[k * o + c];
            }
            b[i * o + c] = s / li[i];
        }
    }
    for (size_t i = d; i-- > 0;) {
        const float diag = a[hil_tri_row(i) + i];
        for (size_t c = 0; c < o; c++) {
            float s = b[i * o + c];
            for (size_t k = i + 1u; k < d; k++) {
                s -= a[hil_tri_row(k) + i] * b[k * o + c];
            }
            b[i * o + c] = s / diag;
        }
    }
    for (size_t i = 0; i < d * o; i++) {
        if (!isfinite(b[i])) {
            return HIL_ERR_NON_FINITE;
        }
    }
    return HIL_OK;
}
