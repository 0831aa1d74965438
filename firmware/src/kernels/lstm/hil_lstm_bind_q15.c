#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_blob.h"

hil_status_t hil_lstm_bind_q15(const uint8_t *blob, size_t blob_bytes, hil_lstm_q15_t *model)
{
    if (blob == NULL || model == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    hils_rd_t r;
    hils_qhdr_t h;
    if (!hils_qhdr_read(&r, blob, blob_bytes, HIL_MODEL_LSTM_Q15, 0, 0, &h)) {
        return HIL_ERR_BAD_MODEL;
    }
    /* Built in a local so a refused blob leaves the caller's model as it was. */
    hil_lstm_q15_t m;
    memset(&m, 0, sizeof(m));
    m.n_layers = h.n_layers;
    uint16_t in = h.input_size;
    for (unsigned l = 0; l < h.n_layers; l++) {
        hil_lstm_layer_q15_t *L = &m.layers[l];
        const uint64_t rows = 4u * (uint64_t)h.size[l];
        L->input_size = in;
        L->hidden_size = h.size[l];
        L->ih_align = hils_rd_u8(&r);
        L->hh_align = hils_rd_u8(&r);
        L->bias_align = hils_rd_u8(&r);
        L->gate_shift = hils_rd_u8(&r);
        L->cell_frac = hils_rd_u8(&r);
        L->h_frac = hils_rd_u8(&r);
        const uint16_t zero = hils_rd_u16(&r);
        L->w_ih = (const int16_t *)(const void *)hils_rd_take(&r, 2u * rows * in);
        hils_rd_pad(&r);
        L->w_hh = (const int16_t *)(const void *)hils_rd_take(&r, 2u * rows * h.size[l]);
        hils_rd_pad(&r);
        L->bias = (const int16_t *)(const void *)hils_rd_take(&r, 2u * rows);
        hils_rd_pad(&r);
        if (!r.ok || zero != 0u || !hils_lstm_q15_layer_ok(L)) {
            return HIL_ERR_BAD_MODEL;
        }
        in = h.size[l];
    }
    if (!hils_rd_dense_q15(&r, h.output_size, in, &m.head) || r.pos != r.size || !hils_lstm_q15_ok(&m)) {
        return HIL_ERR_BAD_MODEL;
    }
    *model = m;
    return HIL_OK;
}
