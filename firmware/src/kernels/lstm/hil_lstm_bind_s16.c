#include "hil/hil_quant.h"
#include "support/hils_quant_blob.h"

hil_status_t hil_lstm_bind_s16(const uint8_t *blob, size_t blob_bytes, hil_qlstm_t *model)
{
    return hils_qlstm_bind(blob, blob_bytes, HIL_MODEL_LSTM_S16, model);
}
