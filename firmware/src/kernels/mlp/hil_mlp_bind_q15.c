#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_blob.h"

hil_status_t hil_mlp_bind_q15(const uint8_t *blob, size_t blob_bytes, hil_mlp_q15_t *model)
{
    if (blob == NULL || model == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    hils_rd_t r;
    hils_qhdr_t h;
    if (!hils_qhdr_read(&r, blob, blob_bytes, HIL_MODEL_MLP_Q15, 1, 0, &h)) {
        return HIL_ERR_BAD_MODEL;
    }
    /* Built in a local so a refused blob leaves the caller's model as it was. */
    hil_mlp_q15_t m;
    memset(&m, 0, sizeof(m));
    m.n_layers = h.n_layers;
    uint16_t in = h.input_size;
    for (unsigned l = 0; l < h.n_layers; l++) {
        if (!hils_rd_dense_q15(&r, h.size[l], in, &m.layers[l])) {
            return HIL_ERR_BAD_MODEL;
        }
        in = h.size[l];
    }
    if (r.pos != r.size || !hils_mlp_q15_ok(&m)) {
        return HIL_ERR_BAD_MODEL;
    }
    *model = m;
    return HIL_OK;
}
