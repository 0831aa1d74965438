#include "hil/hil_quant.h"
#include "support/hils_quant_blob.h"

hil_status_t hil_mlp_bind_s16(const uint8_t *blob, size_t blob_bytes, hil_qmlp_t *model)
{
    return hils_qmlp_bind(blob, blob_bytes, HIL_MODEL_MLP_S16, model);
}
