/* The model kinds the runtime binds and runs: ONE table (hil_models.c) of {kind, bind, buffer_size, forward, element
 * sizes}. MODEL_COMMIT, MODEL_BUILTIN and MODEL_RECOVER look the blob header's kind up in it; INFER runs the entry's
 * forward on values of the entry's element type, which is also what crosses the wire (int8 inputs are a quarter of
 * the bytes of float32 ones, and the link, not the kernel, is what a HIL run waits for). */
#ifndef HIL_MODELS_H
#define HIL_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "hil/hil_lstm.h"
#include "hil/hil_quant.h"
#include "hil/hil_types.h"

/* hil_model_kind_t.flags */
#define HIL_KIND_FLOAT 0x01u     /* f32 values: INFER checks inputs and outputs for NaN/Inf */
#define HIL_KIND_RECURRENT 0x02u /* takes steps >= 1 (and ALL_STEPS); otherwise one vector, steps = 1 */
#define HIL_KIND_TRAINABLE 0x04u /* TRAIN_* and TENSOR PARAMS work on it; bound into hil_rt.model (hil_runtime.h) */

typedef struct {
    uint8_t kind;         /* HIL_MODEL_* */
    uint8_t in_elem;      /* bytes per input value, on the wire and to the kernel */
    uint8_t out_elem;     /* bytes per output value */
    uint8_t flags;        /* HIL_KIND_* */
    uint32_t capability;  /* HIL_CAP_* bit HELLO reports for it */
    uint32_t model_bytes; /* sizeof the kind's bound model struct (hil_quant.h, hil_lstm.h) */
    const char *name;     /* for reasons: "MLP_S8" */
    /* Parse `bytes` of blob (4-byte aligned, in RAM or flash) into the kind's model struct at `m` (model_bytes,
     * aligned for pointers); pointers point into the blob, a refused blob leaves *m as it was. */
    hil_status_t (*bind)(const uint8_t *blob, size_t bytes, void *m);
    /* Scratch the forward needs, in bytes (0: none, or a model the forward would refuse). */
    size_t (*buffer_size)(const void *m);
    /* input[steps][input_size] -> output[steps_out][output_size], both of the kind's element type. */
    hil_status_t (*forward)(const void *m, void *scratch, size_t scratch_bytes, const void *input, uint16_t steps,
                            uint8_t infer_flags, void *output);
} hil_model_kind_t;

/* The table's entry for `kind`, or NULL. */
const hil_model_kind_t *hil_model_kind(uint8_t kind);

/* The capability bits of every kind in the table, for HELLO. */
uint32_t hil_model_capabilities(void);

#endif /* HIL_MODELS_H */
