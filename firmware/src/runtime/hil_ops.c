/* THE dispatch table, the requests every build answers (HELLO, STATS, RESET) and the helpers all handlers share.
 * Adding a model = its handler file (hil_ops_<model>.c) and its lines in hil_op_table. */
#include "hil_ops.h"

#include <string.h>

#include "hil/hil_config.h"
#include "hil/hil_port.h"
#include "hil/hil_wire.h"
#include "hil_arena.h"
#include "hil_fmt.h"
#include "hil_journal.h"
#include "hil_runtime.h"

hil_runtime_t hil_rt;

typedef hil_status_t (*hil_handler_t)(hil_op_t *op);

hil_status_t hil_fail(hil_op_t *op, hil_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hil_vfmt(op->reason, sizeof(op->reason), fmt, ap);
    va_end(ap);
    return status;
}

hil_status_t hil_need(hil_op_t *op, const char *name, uint16_t min, int exact)
{
    if (op->req_len < min || (exact && op->req_len != min)) {
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "%s wants %s%u payload bytes, got %u", name,
                        exact ? "" : ">=", (uint32_t)min, (uint32_t)op->req_len);
    }
    return HIL_OK;
}

/* Bounds of a chunk [offset, offset+n) inside a buffer of `size` bytes, in 64 bits so no sum wraps. */
hil_status_t hil_chunk_in(hil_op_t *op, const char *what, uint32_t offset, uint32_t n, uint32_t size)
{
    if ((uint64_t)offset + n > size) {
        return hil_fail(op, HIL_ERR_OUT_OF_RANGE, "chunk %u+%u past %s end %u", offset, n, what, size);
    }
    return HIL_OK;
}

hil_status_t hil_chunk_write(hil_op_t *op, const char *what, uint8_t *buf, uint32_t size)
{
    hil_status_t st = hil_need(op, what, 4u, 0);
    if (st != HIL_OK) {
        return st;
    }
    const uint32_t offset = hil_get_u32(op->req);
    const uint32_t n = (uint32_t)op->req_len - 4u;
    st = hil_chunk_in(op, what, offset, n, size);
    if (st != HIL_OK) {
        return st;
    }
    memcpy(buf + offset, op->req + 4, n);
    return HIL_OK;
}

/* Index of the first NaN/Inf among n floats, or n. Bit test: no libm classification needed on the MCU. */
uint32_t hil_first_non_finite(const float *v, uint32_t n, uint32_t *bits)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], sizeof(b));
        if ((b & 0x7F800000u) == 0x7F800000u) {
            *bits = b;
            return i;
        }
    }
    return n;
}

const char *hil_non_finite_name(uint32_t bits)
{
    return (bits & 0x007FFFFFu) != 0u ? "NaN" : ((bits >> 31) != 0u ? "-Inf" : "Inf");
}

void hil_drop_all(void)
{
    const uint64_t last_ticks = hil_rt.last_ticks; /* a measurement outlives the model it was made with */
    hil_arena_reset();
    memset(&hil_rt, 0, sizeof(hil_rt));
    hil_rt.state = HIL_MODEL_NONE;
    hil_rt.last_ticks = last_ticks;
}

void hil_drop_input(void)
{
    hil_arena_release(hil_rt.mark_input);
    hil_rt.input = NULL;
    hil_rt.input_bytes = 0u;
}

void hil_ops_init(void)
{
    hil_drop_all();
}

static size_t hil_put_str(uint8_t *dst, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0' && n < 255u) {
        dst[1 + n] = (uint8_t)s[n];
        n++;
    }
    dst[0] = (uint8_t)n;
    return 1u + n;
}

static hil_status_t hil_op_hello(hil_op_t *op)
{
    hil_port_facts_t facts;
    hil_port_facts(&facts);
    uint32_t caps = hil_model_capabilities() | HIL_CAP_LSTM_TRAIN_F32 | HIL_CAP_ESN_F32; /* kinds: hil_models.c */
#if HIL_HAVE_BUILTIN_MODEL
    caps |= HIL_CAP_BUILTIN_MODEL;
#endif
#if HIL_ARENA_SURVIVES_RESET
    caps |= HIL_CAP_RECOVER;
#endif
#if HIL_PEER_LINK
    caps |= HIL_CAP_PEER_LINK;
#endif
    if (facts.stack_bytes != 0u) {
        caps |= HIL_CAP_STACK_PAINT;
    }
    /* Only instruction counts repeat exactly from run to run; wall time and real cycles (caches, flash wait
     * states, interrupts) do not. */
    if (facts.counter_kind == HIL_COUNTER_INSTRUCTIONS) {
        caps |= HIL_CAP_EXACT_COUNTER;
    }
    uint8_t *p = op->resp;
    p[0] = HIL_PROTO_VERSION;
    p[1] = HIL_FW_VERSION_MAJOR;
    p[2] = HIL_FW_VERSION_MINOR;
    p[3] = HIL_FW_VERSION_PATCH;
    hil_put_u32(p + 4, caps);
    hil_put_u32(p + 8, facts.counter_hz);
    p[12] = facts.counter_kind;
    p[13] = 0u;
    hil_put_u16(p + 14, (uint16_t)HIL_MAX_PAYLOAD);
    hil_put_u32(p + 16, facts.ram_bytes);
    hil_put_u32(p + 20, facts.flash_bytes);
    hil_put_u32(p + 24, (uint32_t)HIL_ARENA_BYTES);
    hil_put_u32(p + 28, (uint32_t)HIL_RX_BUFFER_BYTES);
    hil_put_u64(p + 32, (uint64_t)(HIL_BUILD_ID));
    size_t n = HIL_HELLO_FIXED_SIZE;
    n += hil_put_str(p + n, facts.board_name);
    n += hil_put_str(p + n, facts.cpu_name);
    n += hil_put_str(p + n, HIL_FW_NAME);
    op->resp_len = (uint16_t)n;
    return HIL_OK;
}

static hil_status_t hil_op_stats(hil_op_t *op)
{
    hil_port_facts_t facts;
    hil_arena_stats_t arena;
    hil_port_facts(&facts);
    hil_arena_stats(&arena);
    uint8_t *p = op->resp;
    hil_put_u32(p + 0, arena.size);
    hil_put_u32(p + 4, arena.used);
    hil_put_u32(p + 8, arena.high_water);
    hil_put_u32(p + 12, facts.stack_bytes);
    hil_put_u32(p + 16, facts.stack_high_water);
    hil_put_u32(p + 20, op->link->frames_rx);
    hil_put_u32(p + 24, op->link->frames_tx);
    hil_put_u32(p + 28, op->link->crc_errors);
    hil_put_u32(p + 32, op->link->duplicates);
    hil_put_u64(p + 36, hil_rt.last_ticks);
    op->resp_len = HIL_STATS_SIZE;
    return HIL_OK;
}

static hil_status_t hil_op_reset(hil_op_t *op)
{
    hil_status_t st = hil_need(op, "RESET", 1u, 1);
    if (st != HIL_OK) {
        return st;
    }
    switch (op->req[0]) {
    case HIL_RESET_SOFT:
        hil_drop_all();
        hil_journal_forget(); /* the host dropped the model: nothing to recover after a later reset */
        return HIL_OK;
    case HIL_RESET_REBOOT:
        op->after = HIL_AFTER_REBOOT;
        return HIL_OK;
    default:
        return hil_fail(op, HIL_ERR_BAD_REQUEST, "reset mode %u unknown (0 soft, 1 reboot)", (uint32_t)op->req[0]);
    }
}

static const struct {
    uint8_t opcode;
    hil_handler_t handler;
} hil_op_table[] = {
    {HIL_OP_HELLO, hil_op_hello},
    {HIL_OP_STATS, hil_op_stats},
    {HIL_OP_RESET, hil_op_reset},
    {HIL_OP_TENSOR_READ, hil_op_tensor_read},
    {HIL_OP_TENSOR_WRITE, hil_op_tensor_write},
    {HIL_OP_MODEL_BEGIN, hil_op_model_begin},
    {HIL_OP_MODEL_CHUNK, hil_op_model_chunk},
    {HIL_OP_MODEL_COMMIT, hil_op_model_commit},
    {HIL_OP_MODEL_BUILTIN, hil_op_model_builtin},
    {HIL_OP_MODEL_RECOVER, hil_op_model_recover},
    {HIL_OP_INPUT_BEGIN, hil_op_input_begin},
    {HIL_OP_INPUT_CHUNK, hil_op_input_chunk},
    {HIL_OP_INFER, hil_op_infer},
    {HIL_OP_TRACE, hil_op_trace},
    {HIL_OP_TRAIN_CONFIG, hil_op_train_config},
    {HIL_OP_TRAIN_STEP, hil_op_train_step},
    {HIL_OP_EVAL, hil_op_eval},
    {HIL_OP_ESN_CONFIG, hil_op_esn_config},
    {HIL_OP_ESN_FEED, hil_op_esn_feed},
    {HIL_OP_ESN_FIT, hil_op_esn_fit},
    {HIL_OP_ESN_SCORE, hil_op_esn_score},
    {HIL_OP_ESN_THRESHOLD, hil_op_esn_threshold},
};

hil_status_t hil_ops_dispatch(uint8_t opcode, hil_op_t *op)
{
    op->resp_len = 0u;
    op->after = HIL_AFTER_NOTHING;
    op->reason[0] = '\0';
    /* A stream's state survives only requests that leave the scratch alone; INFER decides for itself. */
    if (opcode != HIL_OP_INFER && opcode != HIL_OP_STATS && opcode != HIL_OP_INPUT_BEGIN &&
        opcode != HIL_OP_INPUT_CHUNK && opcode != HIL_OP_TENSOR_READ) {
        hil_rt.stream_live = 0u;
    }
    for (size_t i = 0; i < sizeof(hil_op_table) / sizeof(hil_op_table[0]); i++) {
        if (hil_op_table[i].opcode == opcode) {
            return hil_op_table[i].handler(op);
        }
    }
    return hil_fail(op, HIL_ERR_UNKNOWN_OPCODE, "unknown opcode 0x%02x", (uint32_t)opcode);
}
