/* THE table of model kinds (hil_models.h). Adding a kind = its kernels, its HIL_MODEL_* in hil_model.h and HIL_CAP_*
 * in hil_proto.h (mirrored in harness/proto/wire.py MODEL_KINDS), and one line in HIL_MODEL_KINDS below.
 *
 * The kernels have typed signatures (hil_mlp_forward_s8 takes hil_qmlp_t and int8_t); calling them through one
 * pointer type would need casts between incompatible function types, so each line expands to three small adapters
 * with the table's signatures and the entry that points at them.
 *
 * Where a bound model lives: the trainable kind (LSTM_F32) in hil_rt.model, where training finds it; every other
 * kind in the arena just above its blob (hil_ops_model.c), so the static RAM of a build does not grow with the kinds
 * it knows (a 64 KB Cortex-M3 has no room for a union of them all) and a model's footprint is all in the arena. */
#include "hil_models.h"

#include "hil/hil_proto.h"

/* Scratch context type of each dtype's forward kernels. */
typedef hil_lstm_ctx_f32_t hil_ctx_lstm_f32_t;
typedef hil_scratch_t hil_ctx_lstm_s8_t;
typedef hil_scratch_t hil_ctx_lstm_s16_t;
typedef hil_scratch_t hil_ctx_lstm_q15_t;
typedef hil_scratch_t hil_ctx_mlp_f32_t;
typedef hil_scratch_t hil_ctx_mlp_s8_t;
typedef hil_scratch_t hil_ctx_mlp_s16_t;
typedef hil_scratch_t hil_ctx_mlp_q15_t;

/* The forward call of each family: an MLP takes one vector (INFER has checked steps == 1), an LSTM a sequence. */
#define HIL_CALL_MLP(fam, dt, model_t, elem)                                                                           \
    ((void)steps, (void)infer_flags,                                                                                   \
     hil_##fam##_forward_##dt((const model_t *)m, &ctx, (const elem *)input, (elem *)output))
#define HIL_CALL_LSTM(fam, dt, model_t, elem)                                                                          \
    hil_##fam##_forward_##dt((const model_t *)m, &ctx, (const elem *)input, steps, infer_flags, (elem *)output)

#define HIL_ADAPTERS(kind, name, fam, FAM, dt, model_t, elem, flags, cap)                                              \
    static hil_status_t hil_bind_##fam##_##dt(const uint8_t *blob, size_t bytes, void *m)                              \
    {                                                                                                                  \
        return hil_##fam##_bind_##dt(blob, bytes, (model_t *)m);                                                       \
    }                                                                                                                  \
    static size_t hil_size_##fam##_##dt(const void *m)                                                                 \
    {                                                                                                                  \
        return hil_##fam##_buffer_size_##dt((const model_t *)m);                                                       \
    }                                                                                                                  \
    static hil_status_t hil_run_##fam##_##dt(const void *m, void *scratch, size_t scratch_bytes, const void *input,    \
                                             uint16_t steps, uint8_t infer_flags, void *output)                        \
    {                                                                                                                  \
        const hil_ctx_##fam##_##dt##_t ctx = {scratch, scratch_bytes};                                                 \
        return HIL_CALL_##FAM(fam, dt, model_t, elem);                                                                 \
    }

#define HIL_ENTRY(kind, name, fam, FAM, dt, model_t, elem, flags, cap)                                                 \
    {kind,                                                                                                             \
     sizeof(elem),                                                                                                     \
     sizeof(elem),                                                                                                     \
     flags,                                                                                                            \
     cap,                                                                                                              \
     (uint32_t)sizeof(model_t),                                                                                        \
     name,                                                                                                             \
     hil_bind_##fam##_##dt,                                                                                            \
     hil_size_##fam##_##dt,                                                                                            \
     hil_run_##fam##_##dt},

#define HIL_F HIL_KIND_FLOAT
#define HIL_R HIL_KIND_RECURRENT
#define HIL_T HIL_KIND_TRAINABLE

/* clang-format off */
#define HIL_MODEL_KINDS(X)                                                                                          \
    /* kind               name        family      dtype model struct          element  flags               capability */ \
    X(HIL_MODEL_LSTM_F32, "LSTM_F32", lstm, LSTM, f32, hil_lstm_model_f32_t, float,   HIL_F | HIL_R | HIL_T, HIL_CAP_LSTM_F32)  \
    X(HIL_MODEL_LSTM_S8,  "LSTM_S8",  lstm, LSTM, s8,  hil_qlstm_t,          int8_t,  HIL_R,                 HIL_CAP_QUANT_S8)  \
    X(HIL_MODEL_LSTM_S16, "LSTM_S16", lstm, LSTM, s16, hil_qlstm_t,          int16_t, HIL_R,                 HIL_CAP_QUANT_S16) \
    X(HIL_MODEL_LSTM_Q15, "LSTM_Q15", lstm, LSTM, q15, hil_lstm_q15_t,       int16_t, HIL_R,                 HIL_CAP_QUANT_Q15) \
    X(HIL_MODEL_MLP_F32,  "MLP_F32",  mlp,  MLP,  f32, hil_mlp_f32_t,        float,   HIL_F,                 HIL_CAP_MLP_F32)   \
    X(HIL_MODEL_MLP_S8,   "MLP_S8",   mlp,  MLP,  s8,  hil_qmlp_t,           int8_t,  0u,                    HIL_CAP_QUANT_S8)  \
    X(HIL_MODEL_MLP_S16,  "MLP_S16",  mlp,  MLP,  s16, hil_qmlp_t,           int16_t, 0u,                    HIL_CAP_QUANT_S16) \
    X(HIL_MODEL_MLP_Q15,  "MLP_Q15",  mlp,  MLP,  q15, hil_mlp_q15_t,        int16_t, 0u,                    HIL_CAP_QUANT_Q15)
/* clang-format on */

HIL_MODEL_KINDS(HIL_ADAPTERS)

static const hil_model_kind_t hil_model_kinds[] = {HIL_MODEL_KINDS(HIL_ENTRY)};

const hil_model_kind_t *hil_model_kind(uint8_t kind)
{
    for (size_t i = 0; i < sizeof(hil_model_kinds) / sizeof(hil_model_kinds[0]); i++) {
        if (hil_model_kinds[i].kind == kind) {
            return &hil_model_kinds[i];
        }
    }
    return NULL;
}

uint32_t hil_model_capabilities(void)
{
    uint32_t caps = 0u;
    for (size_t i = 0; i < sizeof(hil_model_kinds) / sizeof(hil_model_kinds[0]); i++) {
        caps |= hil_model_kinds[i].capability;
    }
    return caps;
}
