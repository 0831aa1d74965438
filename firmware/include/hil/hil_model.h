/* Model blobs as the kernels' binders read them, and the kernel options that travel on the wire as they are.
 *
 * Kernels include this, never hil_proto.h: they know nothing of frames or opcodes. hil_proto.h includes it, because
 * MODEL_BEGIN/CHUNK carry blobs and INFER and TRAIN_CONFIG carry these options byte for byte, so every number here is
 * also a wire constant: harness/proto/wire.py mirrors it and tests/unit/test_proto_constants.py checks both.
 */
#ifndef HIL_MODEL_H
#define HIL_MODEL_H

#include "hil/hil_types.h"

/* model blob kinds (hil_model_header_t.kind); layouts in hil_lstm.h (LSTM_F32) and hil_quant.h (the rest). The
 * runtime's one table of kinds is firmware/src/runtime/hil_models.c: it says which kernels run a kind and what INFER
 * carries on the wire for it: f32 for the F32 kinds, int8 for S8, int16 for S16 and Q15 (inputs quantized by the host).
 */
#define HIL_MODEL_LSTM_F32 1
#define HIL_MODEL_MLP_F32 0x10  /* one vector per INFER (steps = 1) */
#define HIL_MODEL_MLP_S8 0x11   /* int8 in, int8 out */
#define HIL_MODEL_MLP_S16 0x12  /* int16 in, int16 out */
#define HIL_MODEL_MLP_Q15 0x13  /* int16 Q m.n in and out */
#define HIL_MODEL_LSTM_S8 0x21  /* int8 in [steps][input_size], int8 out */
#define HIL_MODEL_LSTM_S16 0x22 /* int16 in, int16 out */
#define HIL_MODEL_LSTM_Q15 0x23 /* int16 Q m.n in and out */

#define HIL_MODEL_MAGIC 0x4D4C4948u /* "HILM" little-endian */
#define HIL_MODEL_FORMAT_VERSION 1
#define HIL_MODEL_HEADER_SIZE 24
#define HIL_LSTM_MAX_LAYERS 4

/* The first HIL_MODEL_HEADER_SIZE bytes of every blob, little-endian (the binders read it byte by byte). */
typedef struct {
    uint32_t magic;          /* HIL_MODEL_MAGIC */
    uint16_t format_version; /* HIL_MODEL_FORMAT_VERSION */
    uint8_t kind;            /* HIL_MODEL_* */
    uint8_t n_layers;        /* 1..HIL_LSTM_MAX_LAYERS */
    uint16_t input_size;
    uint16_t output_size;
    uint16_t hidden_size[HIL_LSTM_MAX_LAYERS]; /* unused entries 0 */
    uint32_t reserved;                         /* 0 (the quantized kinds: see hil_quant.h) */
} hil_model_header_t;

/* infer_flags of the forward kernels (INFER's flags byte) */
#define HIL_INFER_ALL_STEPS 0x01 /* answer the head's output after every step, not only the last */
/* start from the recurrent state (h, c of every layer) the previous INFER left in the scratch, not from zero: a
 * stream fed a few samples per request. The runtime refuses it when no INFER of this model left a state since. */
#define HIL_INFER_CONTINUE 0x02
#define HIL_INFER_FLAGS (HIL_INFER_ALL_STEPS | HIL_INFER_CONTINUE)

/* loss_kind of hil_lstm_backward_f32 (TRAIN_CONFIG's loss byte) */
#define HIL_LOSS_MSE 0 /* target: output_size floats; loss = mean over outputs of (y - t)^2 */
#define HIL_LOSS_CE 1  /* target: 1 float holding the class index; loss = -log softmax(y)[class] */

#endif /* HIL_MODEL_H */
