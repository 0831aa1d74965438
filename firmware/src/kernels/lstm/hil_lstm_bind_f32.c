#include <stdint.h>
#include <string.h>

#include "hil/hil_lstm.h"

/* The header is read byte by byte so the result depends neither on the compiler's struct padding nor on the
 * host's endianness: the blob format is little-endian by definition. */
static uint16_t hils_rd_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

static uint32_t hil_rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Field offsets of hil_model_header_t as laid out in the blob. */
#define HIL_HDR_MAGIC 0u
#define HIL_HDR_FORMAT_VERSION 4u
#define HIL_HDR_KIND 6u
#define HIL_HDR_N_LAYERS 7u
#define HIL_HDR_INPUT_SIZE 8u
#define HIL_HDR_OUTPUT_SIZE 10u
#define HIL_HDR_HIDDEN_SIZE 12u
#define HIL_HDR_RESERVED (HIL_HDR_HIDDEN_SIZE + 2u * HIL_LSTM_MAX_LAYERS)

#if HIL_HDR_RESERVED + 4u != HIL_MODEL_HEADER_SIZE
#error "hil_model_header_t field offsets disagree with HIL_MODEL_HEADER_SIZE"
#endif

hil_status_t hil_lstm_bind_f32(const uint8_t *blob, size_t blob_bytes, hil_lstm_model_f32_t *model)
{
    if (blob == NULL || model == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    /* Weights are used in place as floats; a misaligned blob would fault on VLDR on Cortex-M. */
    if (((uintptr_t)blob & 3u) != 0u || blob_bytes < HIL_MODEL_HEADER_SIZE) {
        return HIL_ERR_BAD_MODEL;
    }
    if (hil_rd_u32(blob + HIL_HDR_MAGIC) != HIL_MODEL_MAGIC ||
        hils_rd_u16(blob + HIL_HDR_FORMAT_VERSION) != HIL_MODEL_FORMAT_VERSION ||
        blob[HIL_HDR_KIND] != HIL_MODEL_LSTM_F32 || hil_rd_u32(blob + HIL_HDR_RESERVED) != 0u) {
        return HIL_ERR_BAD_MODEL;
    }

    const uint8_t n_layers = blob[HIL_HDR_N_LAYERS];
    const uint16_t input_size = hils_rd_u16(blob + HIL_HDR_INPUT_SIZE);
    const uint16_t output_size = hils_rd_u16(blob + HIL_HDR_OUTPUT_SIZE);
    if (n_layers < 1u || n_layers > HIL_LSTM_MAX_LAYERS || input_size == 0u) {
        return HIL_ERR_BAD_MODEL;
    }
    const int headless = output_size == 0u;

    /* Built in a local so a refused blob leaves the caller's model as it was. */
    hil_lstm_model_f32_t m;
    memset(&m, 0, sizeof(m));
    m.n_layers = n_layers;

    /* 64-bit sums: 16-bit sizes make multi-gigabyte layers expressible, which would wrap a 32-bit size_t. */
    uint64_t n_floats = 0u;
    uint16_t layer_in = input_size;
    for (unsigned l = 0; l < HIL_LSTM_MAX_LAYERS; l++) {
        const uint16_t hidden = hils_rd_u16(blob + HIL_HDR_HIDDEN_SIZE + 2u * l);
        if ((l < n_layers) != (hidden != 0u)) {
            return HIL_ERR_BAD_MODEL; /* a used layer without units, or an unused entry that is not 0 */
        }
        if (l < n_layers) {
            m.layers[l].input_size = layer_in;
            m.layers[l].hidden_size = hidden;
            n_floats += 4u * (uint64_t)hidden * ((uint64_t)layer_in + hidden + 1u);
            layer_in = hidden;
        }
    }
    n_floats += (uint64_t)output_size * ((uint64_t)layer_in + 1u); /* 0 without a head */
    m.output_size = headless ? layer_in : output_size;
    if ((uint64_t)blob_bytes - HIL_MODEL_HEADER_SIZE != n_floats * sizeof(float)) {
        return HIL_ERR_BAD_MODEL;
    }

    const float *p = (const float *)(const void *)(blob + HIL_MODEL_HEADER_SIZE);
    for (unsigned l = 0; l < n_layers; l++) {
        hil_lstm_layer_f32_t *layer = &m.layers[l];
        const size_t rows = 4u * (size_t)layer->hidden_size;
        layer->w_ih = p;
        p += rows * layer->input_size;
        layer->w_hh = p;
        p += rows * layer->hidden_size;
        layer->bias = p;
        p += rows;
    }
    if (!headless) {
        m.dense_w = p;
        p += (size_t)output_size * layer_in;
        m.dense_b = p;
    }

    *model = m;
    return HIL_OK;
}
