#include "hil/hil_quant.h"
#include "support/hils_quant_model.h"

hil_status_t hil_mlp_trace_f32(const hil_mlp_f32_t *model, const hil_scratch_t *ctx, const float *input, uint8_t layer,
                               float *trace)
{
    return hils_mlp_f32_run(model, ctx, input, layer, trace);
}
