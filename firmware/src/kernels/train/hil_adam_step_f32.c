#include <math.h>

#include "hil/hil_lstm_train.h"

typedef struct {
    float beta1;
    float beta2;
    float one_minus_beta1;
    float one_minus_beta2;
    float step_size;
    float bc2_sqrt;
    float eps;
} hil_adam_consts_t;

/* One element's update; both passes call it, so the checked values are bit for bit the written ones (where a board
 * builds with -ffp-contract=fast, both copies are the same expression and contract the same way). */
static int hil_adam_elem(const hil_adam_consts_t *k, float p, float g, float m, float v, float *p_new, float *m_new,
                         float *v_new)
{
    *m_new = k->beta1 * m + k->one_minus_beta1 * g;
    *v_new = k->beta2 * v + k->one_minus_beta2 * g * g;
    const float denom = sqrtf(*v_new) / k->bc2_sqrt + k->eps;
    *p_new = p - k->step_size * *m_new / denom;
    return isfinite(*m_new) && isfinite(*v_new) && isfinite(*p_new);
}

hil_status_t hil_adam_step_f32(const hil_adam_params_t *p, float *params, const float *grad, float *m, float *v,
                               size_t n, uint32_t step)
{
    if (p == NULL || params == NULL || grad == NULL || m == NULL || v == NULL || step == 0u) {
        return HIL_ERR_BAD_REQUEST;
    }
    if (!(isfinite(p->lr) && p->lr >= 0.0f) || !(p->beta1 >= 0.0f && p->beta1 < 1.0f) ||
        !(p->beta2 >= 0.0f && p->beta2 < 1.0f) || !(isfinite(p->eps) && p->eps >= 0.0f)) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* PyTorch's arrangement: the bias corrections fold into one step size and one divisor of sqrt(v), so the
     * per-element work is one sqrtf and two divisions, and powf runs once per call, not per parameter. */
    const float bc1 = 1.0f - powf(p->beta1, (float)step);
    const float bc2 = 1.0f - powf(p->beta2, (float)step);
    const hil_adam_consts_t k = {
        .beta1 = p->beta1,
        .beta2 = p->beta2,
        .one_minus_beta1 = 1.0f - p->beta1,
        .one_minus_beta2 = 1.0f - p->beta2,
        .step_size = p->lr / bc1,
        .bc2_sqrt = sqrtf(bc2),
        .eps = p->eps,
    };
    /* Check everything before writing anything (see hil_sgd_step_f32). */
    float p_new;
    float m_new;
    float v_new;
    for (size_t i = 0; i < n; i++) {
        if (!hil_adam_elem(&k, params[i], grad[i], m[i], v[i], &p_new, &m_new, &v_new)) {
            return HIL_ERR_NON_FINITE;
        }
    }
    for (size_t i = 0; i < n; i++) {
        (void)hil_adam_elem(&k, params[i], grad[i], m[i], v[i], &p_new, &m_new, &v_new);
        params[i] = p_new;
        m[i] = m_new;
        v[i] = v_new;
    }
    return HIL_OK;
}
