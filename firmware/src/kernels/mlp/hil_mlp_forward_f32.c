#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

hil_status_t hil_mlp_forward_f32(const hil_mlp_f32_t *model, const hil_scratch_t *ctx, const float *input,
                                 float *output)
{
    return hils_mlp_f32_run(model, ctx, input, model != NULL ? model->n_layers - 1u : 0u, output);
}
