#include <math.h>

#include "hil/hil_esn.h"

/* The product goes through a volatile so it is rounded before the add. Built with -ffp-contract=fast (as the
 * Cortex-M4F board is) the compiler would otherwise fuse it into a VFMA, which rounds once instead of twice: the
 * estimate would lose its last bits, and with them the promise that the device and numpy scale W_res identically.
 * It costs a store and a load per product, once, at init. */
static float hil_unfused_mul(float a, float b)
{
    volatile float product = a * b;
    return product;
}

hil_status_t hil_esn_spectral_radius_f32(const float *w, uint16_t n, uint16_t iterations, float *scratch,
                                         size_t scratch_bytes, float *rho)
{
    if (w == NULL || scratch == NULL || rho == NULL || n == 0u || iterations < 2u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (scratch_bytes < 2u * (size_t)n * sizeof(float)) {
        return HIL_ERR_BUFFER_TOO_SMALL;
    }
    /* A power-of-two window makes its geometric mean a chain of square roots: no logf/expf, whose last bit differs
     * between libms, so the estimate (and the W_res it scales) is the same on device and host. */
    unsigned window = 1u;
    unsigned halvings = 0u;
    while (2u * window <= iterations / 2u) {
        window *= 2u;
        halvings++;
    }
    const unsigned burn = (unsigned)iterations - window;
    float *x = scratch;
    float *y = scratch + n;
    const float start = 1.0f / sqrtf((float)n);
    for (size_t i = 0; i < n; i++) {
        x[i] = start;
    }

    /* The product of the growths is kept as mant * 2^ex: it may leave float range long before the m-th root
     * brings it back. */
    float mant = 1.0f;
    int ex = 0;
    for (unsigned it = 0; it < iterations; it++) {
        const float *row = w;
        float peak = 0.0f;
        for (size_t i = 0; i < n; i++) {
            float acc = 0.0f;
            for (size_t j = 0; j < n; j++) {
                acc += hil_unfused_mul(row[j], x[j]);
            }
            if (!isfinite(acc)) {
                return HIL_ERR_NON_FINITE;
            }
            y[i] = acc;
            const float mag = fabsf(acc);
            if (mag > peak) {
                peak = mag;
            }
            row += n;
        }
        if (peak == 0.0f) {
            *rho = 0.0f; /* x fell into the null space: W^k x = 0, no growth to measure */
            return HIL_OK;
        }
        /* Squares of y / peak are <= 1: the norm neither overflows nor underflows whatever the scale of w. */
        float sumsq = 0.0f;
        for (size_t i = 0; i < n; i++) {
            const float v = y[i] / peak;
            sumsq += hil_unfused_mul(v, v);
        }
        const float growth = peak * sqrtf(sumsq);
        if (!isfinite(growth)) {
            return HIL_ERR_NON_FINITE;
        }
        for (size_t i = 0; i < n; i++) {
            x[i] = y[i] / growth;
        }
        if (it >= burn) {
            int e;
            mant = frexpf(mant * growth, &e);
            ex += e;
        }
    }
    /* m-th root of mant * 2^ex, m = 2^halvings: each square root first makes the exponent even (exactly). */
    for (unsigned h = 0; h < halvings; h++) {
        if (ex % 2 != 0) {
            mant *= 2.0f;
            ex -= 1;
        }
        mant = sqrtf(mant);
        ex /= 2;
    }
    *rho = ldexpf(mant, ex);
    return HIL_OK;
}
