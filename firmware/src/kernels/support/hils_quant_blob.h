/* Internal kernel support, not public API: every symbol here takes the hils_ / HILS_ prefix (as CMSIS-NN's arm_nn_). */
/* Reading the model blobs of hil_quant.h. Private to src/kernels; static inline so each binder stays one file.
 *
 * Fields are read byte by byte (little-endian by definition, whatever the compiler's struct padding); arrays are
 * used in place, which the 4-byte alignment of every section and of the blob itself makes legal on Cortex-M. */
#ifndef HILS_QUANT_BLOB_H
#define HILS_QUANT_BLOB_H

#include <stdint.h>
#include <string.h>

#include "hil/hil_quant.h"
#include "hils_quant_math.h"
#include "hils_quant_model.h"

/* A cursor over the blob. Sizes are 64-bit: 16-bit dimensions multiply past a 32-bit size_t. Once a read runs
 * past the end, ok stays 0 and every later read returns NULL/0, so a binder checks once at the end of a record. */
typedef struct {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    int ok;
} hils_rd_t;

static inline const uint8_t *hils_rd_take(hils_rd_t *r, uint64_t bytes)
{
    if (!r->ok || bytes > r->size - r->pos) {
        r->ok = 0;
        return NULL;
    }
    const uint8_t *p = r->base + r->pos;
    r->pos += bytes;
    return p;
}

static inline void hils_rd_pad(hils_rd_t *r)
{
    const uint64_t next = (r->pos + 3u) & ~(uint64_t)3u;
    if (next > r->size) {
        r->ok = 0;
    } else {
        r->pos = next;
    }
}

static inline uint8_t hils_rd_u8(hils_rd_t *r)
{
    const uint8_t *p = hils_rd_take(r, 1u);
    return p != NULL ? p[0] : 0u;
}

static inline uint16_t hils_le16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | ((uint16_t)p[1] << 8));
}

static inline uint32_t hils_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint16_t hils_rd_u16(hils_rd_t *r)
{
    const uint8_t *p = hils_rd_take(r, 2u);
    return p != NULL ? hils_le16(p) : 0u;
}

static inline int16_t hils_rd_i16(hils_rd_t *r)
{
    return (int16_t)hils_rd_u16(r);
}

static inline int32_t hils_rd_i32(hils_rd_t *r)
{
    const uint8_t *p = hils_rd_take(r, 4u);
    return p != NULL ? (int32_t)hils_le32(p) : 0;
}

/* Field offsets of hil_model_header_t in the blob (hil_model.h). */
#define HILS_QHDR_KIND 6u
#define HILS_QHDR_N_LAYERS 7u
#define HILS_QHDR_INPUT_SIZE 8u
#define HILS_QHDR_OUTPUT_SIZE 10u
#define HILS_QHDR_SIZES 12u
#define HILS_QHDR_BITS (HILS_QHDR_SIZES + 2u * HIL_LSTM_MAX_LAYERS)

#if HILS_QHDR_BITS + 4u != HIL_MODEL_HEADER_SIZE
#error "hil_model_header_t field offsets disagree with HIL_MODEL_HEADER_SIZE"
#endif

typedef struct {
    uint8_t n_layers;
    uint8_t bits;
    uint16_t input_size;
    uint16_t output_size;
    uint16_t size[HIL_LSTM_MAX_LAYERS];
} hils_qhdr_t;

/* Checks the header of a blob of `kind` and leaves the cursor after it. `mlp`: the last size is the output size.
 * `clusterable`: the kind may carry clustered weights (byte 20). */
static inline int hils_qhdr_read(hils_rd_t *r, const uint8_t *blob, size_t bytes, uint8_t kind, int mlp,
                                 int clusterable, hils_qhdr_t *h)
{
    r->base = blob;
    r->size = bytes;
    r->pos = 0u;
    r->ok = 1;
    /* Arrays are used in place: a misaligned blob would fault on a word load on Cortex-M. */
    if (((uintptr_t)blob & 3u) != 0u || bytes < HIL_MODEL_HEADER_SIZE) {
        return 0;
    }
    if (hils_le32(blob) != HIL_MODEL_MAGIC || hils_le16(blob + 4u) != HIL_MODEL_FORMAT_VERSION ||
        blob[HILS_QHDR_KIND] != kind || blob[HILS_QHDR_BITS + 1u] != 0u || blob[HILS_QHDR_BITS + 2u] != 0u ||
        blob[HILS_QHDR_BITS + 3u] != 0u) {
        return 0;
    }
    h->n_layers = blob[HILS_QHDR_N_LAYERS];
    h->bits = blob[HILS_QHDR_BITS];
    h->input_size = hils_le16(blob + HILS_QHDR_INPUT_SIZE);
    h->output_size = hils_le16(blob + HILS_QHDR_OUTPUT_SIZE);
    if (h->n_layers < 1u || h->n_layers > HIL_LSTM_MAX_LAYERS || h->input_size == 0u || h->output_size == 0u ||
        !hils_bits_ok(h->bits) || (!clusterable && h->bits != 0u)) {
        return 0;
    }
    for (unsigned l = 0; l < HIL_LSTM_MAX_LAYERS; l++) {
        h->size[l] = hils_le16(blob + HILS_QHDR_SIZES + 2u * l);
        if ((l < h->n_layers) != (h->size[l] != 0u)) {
            return 0; /* a used layer without units, or an unused entry that is not 0 */
        }
    }
    if (mlp && h->size[h->n_layers - 1u] != h->output_size) {
        return 0;
    }
    r->pos = HIL_MODEL_HEADER_SIZE;
    return 1;
}

static inline void hils_rd_weights(hils_rd_t *r, size_t rows, size_t cols, uint8_t bits, hil_weights_s8_t *w)
{
    memset(w, 0, sizeof(*w));
    w->index_bits = bits;
    if (bits == 0u) {
        w->values = (const int8_t *)hils_rd_take(r, (uint64_t)rows * cols);
    } else {
        w->codebook = (const int8_t *)hils_rd_take(r, (uint64_t)1u << bits);
        w->indices = hils_rd_take(r, (uint64_t)rows * hils_row_bytes(cols, bits));
    }
    hils_rd_pad(r);
}

static inline void hils_rd_requant(hils_rd_t *r, size_t rows, int with_bias, hil_requant_t *rq)
{
    rq->bias = with_bias ? (const int32_t *)(const void *)hils_rd_take(r, 4u * (uint64_t)rows) : NULL;
    rq->multiplier = (const int32_t *)(const void *)hils_rd_take(r, 4u * (uint64_t)rows);
    rq->shift = (const int8_t *)hils_rd_take(r, rows);
    hils_rd_pad(r);
}

/* One s8/s16 dense record (hil_quant.h), checked as the forward will check it. */
static inline int hils_rd_qdense(hils_rd_t *r, uint16_t rows, uint16_t cols, uint8_t bits, int s16, hil_qdense_t *d)
{
    d->out_size = rows;
    d->in_size = cols;
    d->in_zp = hils_rd_i16(r);
    d->out_zp = hils_rd_i16(r);
    d->act_min = hils_rd_i16(r);
    d->act_max = hils_rd_i16(r);
    hils_rd_requant(r, rows, 1, &d->rq);
    hils_rd_weights(r, rows, cols, bits, &d->w);
    return r->ok && hils_qdense_model_ok(d, s16);
}

static inline int hils_rd_dense_q15(hils_rd_t *r, uint16_t rows, uint16_t cols, hil_dense_q15_t *d)
{
    d->out_size = rows;
    d->in_size = cols;
    d->bias_shift = hils_rd_u8(r);
    d->out_shift = hils_rd_u8(r);
    d->relu = hils_rd_u8(r);
    const uint8_t zero = hils_rd_u8(r);
    d->w = (const int16_t *)(const void *)hils_rd_take(r, 2u * (uint64_t)rows * cols);
    hils_rd_pad(r);
    d->bias = (const int16_t *)(const void *)hils_rd_take(r, 2u * (uint64_t)rows);
    hils_rd_pad(r);
    return r->ok && zero == 0u && d->relu <= 1u && hils_dense_q15_ok(d);
}

/* MLP_S8 and MLP_S16 share their layout; kind tells which. */
static inline hil_status_t hils_qmlp_bind(const uint8_t *blob, size_t blob_bytes, uint8_t kind, hil_qmlp_t *model)
{
    if (blob == NULL || model == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    hils_rd_t r;
    hils_qhdr_t h;
    if (!hils_qhdr_read(&r, blob, blob_bytes, kind, 1, 1, &h)) {
        return HIL_ERR_BAD_MODEL;
    }
    /* Built in a local so a refused blob leaves the caller's model as it was. */
    hil_qmlp_t m;
    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.n_layers = h.n_layers;
    uint16_t in = h.input_size;
    for (unsigned l = 0; l < h.n_layers; l++) {
        if (!hils_rd_qdense(&r, h.size[l], in, h.bits, kind == HIL_MODEL_MLP_S16, &m.layers[l])) {
            return HIL_ERR_BAD_MODEL;
        }
        in = h.size[l];
    }
    if (r.pos != r.size || !hils_qmlp_ok(&m, kind)) {
        return HIL_ERR_BAD_MODEL;
    }
    *model = m;
    return HIL_OK;
}

/* LSTM_S8 and LSTM_S16 share their layout; kind tells which. */
static inline hil_status_t hils_qlstm_bind(const uint8_t *blob, size_t blob_bytes, uint8_t kind, hil_qlstm_t *model)
{
    if (blob == NULL || model == NULL) {
        return HIL_ERR_BAD_REQUEST;
    }
    hils_rd_t r;
    hils_qhdr_t h;
    if (!hils_qhdr_read(&r, blob, blob_bytes, kind, 0, 1, &h)) {
        return HIL_ERR_BAD_MODEL;
    }
    const int s16 = kind == HIL_MODEL_LSTM_S16;
    hil_qlstm_t m;
    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.n_layers = h.n_layers;
    uint16_t in = h.input_size;
    for (unsigned l = 0; l < h.n_layers; l++) {
        hil_qlstm_layer_t *L = &m.layers[l];
        const size_t rows = 4u * (size_t)h.size[l];
        L->input_size = in;
        L->hidden_size = h.size[l];
        L->x_zp = hils_rd_i16(&r);
        L->h_zp = hils_rd_i16(&r);
        L->cell_frac = hils_rd_u8(&r);
        const uint8_t zero1 = hils_rd_u8(&r);
        L->h_shift = (int8_t)hils_rd_u8(&r);
        const uint8_t zero2 = hils_rd_u8(&r);
        L->h_multiplier = hils_rd_i32(&r);
        hils_rd_requant(&r, rows, 1, &L->ih);
        hils_rd_weights(&r, rows, in, h.bits, &L->w_ih);
        hils_rd_requant(&r, rows, 0, &L->hh);
        hils_rd_weights(&r, rows, h.size[l], h.bits, &L->w_hh);
        if (!r.ok || zero1 != 0u || zero2 != 0u) {
            return HIL_ERR_BAD_MODEL;
        }
        in = h.size[l];
    }
    if (!hils_rd_qdense(&r, h.output_size, in, h.bits, s16, &m.head) || r.pos != r.size || !hils_qlstm_ok(&m, kind)) {
        return HIL_ERR_BAD_MODEL;
    }
    *model = m;
    return HIL_OK;
}

#endif /* HILS_QUANT_BLOB_H */
