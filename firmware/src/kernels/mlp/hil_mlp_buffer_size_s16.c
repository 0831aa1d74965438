#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

size_t hil_mlp_buffer_size_s16(const hil_qmlp_t *model)
{
    /* 0 for a model forward would refuse anyway, so the caller never sizes scratch from garbage. */
    if (model == NULL || !hils_qmlp_ok(model, HIL_MODEL_MLP_S16)) {
        return 0u;
    }
    return hils_qmlp_scratch(model, sizeof(int16_t), NULL, NULL);
}
