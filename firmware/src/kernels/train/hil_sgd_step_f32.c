#include <math.h>

#include "hil/hil_lstm_train.h"

/* One element's update; both passes call it, so the checked value is bit for bit the written one (where a board
 * builds with -ffp-contract=fast, both inlined copies are the same expression and contract the same way). */
static int hil_sgd_elem(float lr, float mu, float p, float g, float buf, float *p_new, float *buf_new)
{
    if (mu == 0.0f) {
        *buf_new = buf;
        *p_new = p - lr * g;
        return isfinite(*p_new);
    }
    *buf_new = mu * buf + g;
    *p_new = p - lr * *buf_new;
    return isfinite(*buf_new) && isfinite(*p_new);
}

hil_status_t hil_sgd_step_f32(const hil_sgd_params_t *p, float *params, const float *grad, float *momentum_buf,
                              size_t n)
{
    if (p == NULL || params == NULL || grad == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    const float lr = p->lr;
    const float mu = p->momentum;
    if (!(isfinite(lr) && lr >= 0.0f) || !(isfinite(mu) && mu >= 0.0f) || (mu != 0.0f && momentum_buf == NULL)) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* Check everything before writing anything: a refused step must leave the model trainable from where it was,
     * and a half-applied one could not be undone without a copy of the parameters. */
    float p_new;
    float buf_new;
    for (size_t i = 0; i < n; i++) {
        const float buf = mu != 0.0f ? momentum_buf[i] : 0.0f;
        if (!hil_sgd_elem(lr, mu, params[i], grad[i], buf, &p_new, &buf_new)) {
            return HIL_ERR_NON_FINITE;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const float buf = mu != 0.0f ? momentum_buf[i] : 0.0f;
        (void)hil_sgd_elem(lr, mu, params[i], grad[i], buf, &p_new, &buf_new);
        params[i] = p_new;
        if (mu != 0.0f) {
            momentum_buf[i] = buf_new;
        }
    }
    return HIL_OK;
}
