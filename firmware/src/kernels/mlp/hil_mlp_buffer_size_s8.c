#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

size_t hil_mlp_buffer_size_s8(const hil_qmlp_t *model)
{
    /* 0 for a model forward would refuse anyway, so the caller never sizes scratch from garbage. */
    if (model == NULL || !hils_qmlp_ok(model, HIL_MODEL_MLP_S8)) {
        return 0u;
    }
    return hils_qmlp_scratch(model, sizeof(int8_t), NULL, NULL);
}
