#include <string.h>

#include "hil/hil_quant.h"
#include "support/hils_quant_blob.h"

hil_status_t hil_mlp_bind_f32(const uint8_t *blob, size_t blob_bytes, hil_mlp_f32_t *model)
{
    if (blob == NULL || model == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    hils_rd_t r;
    hils_qhdr_t h;
    if (!hils_qhdr_read(&r, blob, blob_bytes, HIL_MODEL_MLP_F32, 1, 0, &h)) {
        return HIL_ERR_BAD_MODEL;
    }
    /* Built in a local so a refused blob leaves the caller's model as it was. */
    hil_mlp_f32_t m;
    memset(&m, 0, sizeof(m));
    m.n_layers = h.n_layers;
    uint16_t in = h.input_size;
    for (unsigned l = 0; l < h.n_layers; l++) {
        hil_dense_f32_t *d = &m.layers[l];
        d->in_size = in;
        d->out_size = h.size[l];
        d->w = (const float *)(const void *)hils_rd_take(&r, 4u * (uint64_t)d->out_size * in);
        d->b = (const float *)(const void *)hils_rd_take(&r, 4u * (uint64_t)d->out_size);
        in = h.size[l];
    }
    if (!r.ok || r.pos != r.size || !hils_mlp_f32_ok(&m)) {
        return HIL_ERR_BAD_MODEL;
    }
    *model = m;
    return HIL_OK;
}
