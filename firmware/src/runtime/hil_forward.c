/* INFER with HIL_INFER_FORWARD (hil_forward.h). The peer's answers arrive while this board computes the next steps:
 * up to HIL_PEER_WINDOW steps are in flight, so both boards compute at once and the link's time hides behind them. */
#include "hil_forward.h"

#include <string.h>

#include "hil/hil_port.h"
#include "hil_fmt.h"
#include "hil_runtime.h"

#if HIL_PEER_LINK

typedef struct {
    uint16_t next_seq;
    uint8_t greeted;        /* the peer answered a HELLO since boot: its stored answer cannot collide with our seqs */
    uint16_t hello_answers; /* HELLO answers seen */
    /* the INFER being forwarded */
    uint16_t first_seq;
    uint16_t sent;
    uint16_t answered;
    uint8_t all_steps;
    uint8_t *out; /* the host's answer: outputs start here */
    uint32_t out_cap;
    uint32_t step_bytes; /* of one peer answer's outputs; 0 until the first */
    uint16_t peer_out_size;
    uint64_t peer_ticks;
    hil_status_t peer_status;
    uint16_t failed_step;
    uint64_t timeout_ticks; /* HIL_PEER_TIMEOUT_MS in counter ticks */
    char peer_reason[HIL_ERROR_REASON_MAX + 1];
} hil_forward_t;

static hil_forward_t hil_fw;

static uint64_t hil_get_u64(const uint8_t *p)
{
    return (uint64_t)hil_get_u32(p) | ((uint64_t)hil_get_u32(p + 4) << 32);
}

void hil_forward_on_answer(const hil_header_t *h, const uint8_t *payload)
{
    if (h->opcode == HIL_OP_HELLO) {
        hil_fw.hello_answers++;
        return;
    }
    /* Only the next answer of the INFER being forwarded counts; a late answer of an abandoned one is dropped. */
    if (h->opcode != HIL_OP_INFER || hil_fw.peer_status != HIL_OK || hil_fw.answered >= hil_fw.sent ||
        h->seq != (uint16_t)(hil_fw.first_seq + hil_fw.answered)) {
        return;
    }
    const uint16_t step = hil_fw.answered++;
    if ((h->flags & HIL_FLAG_ERROR) != 0u) {
        const uint8_t n = h->length >= 2u ? payload[1] : 0u;
        const uint8_t len = (n <= HIL_ERROR_REASON_MAX && 2u + n <= h->length) ? n : 0u;
        memcpy(hil_fw.peer_reason, payload + 2, len);
        hil_fw.peer_reason[len] = '\0';
        hil_fw.peer_status = h->length >= 1u ? (hil_status_t)payload[0] : HIL_ERR_PEER;
        hil_fw.failed_step = step;
        return;
    }
    const uint32_t bytes = h->length >= HIL_INFER_HEADER_SIZE ? (uint32_t)h->length - HIL_INFER_HEADER_SIZE : 0u;
    const uint32_t offset = hil_fw.all_steps ? (uint32_t)step * bytes : 0u;
    if (h->length < HIL_INFER_HEADER_SIZE || (hil_fw.step_bytes != 0u && bytes != hil_fw.step_bytes) ||
        offset + bytes > hil_fw.out_cap) {
        hil_fw.peer_status = HIL_ERR_PAYLOAD_TOO_LARGE;
        hil_fw.failed_step = step;
        hil_fmt(hil_fw.peer_reason, sizeof(hil_fw.peer_reason), "peer answered %u output bytes, room for %u", bytes,
                hil_fw.out_cap - (offset < hil_fw.out_cap ? offset : hil_fw.out_cap));
        return;
    }
    hil_fw.step_bytes = bytes;
    hil_fw.peer_out_size = hil_get_u16(payload + 10);
    hil_fw.peer_ticks += hil_get_u64(payload);
    memcpy(hil_fw.out + offset, payload + HIL_INFER_HEADER_SIZE, bytes);
}

/* Poll the peer link until `*count` reaches `want` or the peer has been silent for HIL_PEER_TIMEOUT_MS; 0 on time.
 * hil_port_peer_idle() sleeps until a byte or about 1 ms, so the wait neither spins nor sleeps through its own
 * timeout. */
static int hil_forward_wait(const uint16_t *count, uint16_t want)
{
    uint64_t since = hil_port_counter();
    while (*count < want && hil_fw.peer_status == HIL_OK) {
        if (hil_peer_poll() != 0u) {
            since = hil_port_counter();
            continue;
        }
        if (hil_port_counter() - since > hil_fw.timeout_ticks) {
            return 1;
        }
        hil_port_peer_idle();
    }
    return 0;
}

static void hil_forward_send(uint8_t opcode, uint16_t length)
{
    const hil_header_t h = {HIL_PROTO_VERSION, opcode, 0u, hil_fw.next_seq++, length};
    hil_peer_send_request(&h);
}

hil_status_t hil_infer_forward(hil_op_t *op, const uint8_t *input, uint16_t steps, uint8_t flags)
{
    const hil_model_kind_t *kind = hil_rt.kind;
    const uint32_t in_step = (uint32_t)hil_rt.input_size * kind->in_elem;
    const uint32_t out_step = (uint32_t)hil_rt.output_size * kind->out_elem;
    if (4u + out_step > HIL_MAX_PAYLOAD) {
        return hil_fail(op, HIL_ERR_PAYLOAD_TOO_LARGE, "a step's %u output bytes do not fit one peer frame of %u B",
                        out_step, (uint32_t)HIL_MAX_PAYLOAD);
    }
    if (hil_fw.timeout_ticks == 0u) { /* once: the facts walk the painted stack, which no wait should repeat */
        hil_port_facts_t facts;
        hil_port_facts(&facts);
        hil_fw.timeout_ticks = (uint64_t)facts.counter_hz / 1000u * HIL_PEER_TIMEOUT_MS;
    }
    if (!hil_fw.greeted) { /* HELLO clears the peer's stored answer, which a seq of ours could otherwise hit */
        hil_fw.peer_status = HIL_OK;
        const uint16_t want = (uint16_t)(hil_fw.hello_answers + 1u);
        hil_forward_send(HIL_OP_HELLO, 0u);
        if (hil_forward_wait(&hil_fw.hello_answers, want)) {
            return hil_fail(op, HIL_ERR_PEER, "no peer answered HELLO on the peer link in %u ms",
                            (uint32_t)HIL_PEER_TIMEOUT_MS);
        }
        hil_fw.greeted = 1u;
    }

    hil_fw.first_seq = hil_fw.next_seq;
    hil_fw.sent = 0u;
    hil_fw.answered = 0u;
    hil_fw.all_steps = (uint8_t)((flags & HIL_INFER_ALL_STEPS) != 0u);
    hil_fw.out = op->resp + HIL_INFER_HEADER_SIZE;
    hil_fw.out_cap = HIL_MAX_PAYLOAD - HIL_INFER_HEADER_SIZE - HIL_INFER_FORWARD_TAIL_SIZE;
    hil_fw.step_bytes = 0u;
    hil_fw.peer_out_size = 0u;
    hil_fw.peer_ticks = 0u;
    hil_fw.peer_status = HIL_OK;
    const hil_peer_bytes_t bytes0 = hil_peer_bytes_so_far();
    const uint64_t start = hil_port_counter();
    uint64_t own_ticks = 0u;

    for (uint16_t t = 0; t < steps; t++) {
        if (hil_fw.sent - hil_fw.answered >= HIL_PEER_WINDOW &&
            hil_forward_wait(&hil_fw.answered, (uint16_t)(hil_fw.sent - HIL_PEER_WINDOW + 1u))) {
            return hil_fail(op, HIL_ERR_PEER, "peer silent for %u ms with steps %u..%u in flight",
                            (uint32_t)HIL_PEER_TIMEOUT_MS, (uint32_t)hil_fw.answered, (uint32_t)hil_fw.sent - 1u);
        }
        if (hil_fw.peer_status != HIL_OK) {
            break;
        }
        /* The step's output is computed straight into the peer request's payload. */
        uint8_t *req = hil_peer_request_payload();
        const uint8_t step_flags = t == 0u ? (uint8_t)(flags & HIL_INFER_CONTINUE) : (uint8_t)HIL_INFER_CONTINUE;
        hil_put_u16(req, 1u);
        req[2] = step_flags;
        req[3] = 0u;
        const uint64_t t0 = hil_port_counter();
        const hil_status_t st = kind->forward(hil_rt.bound, hil_rt.ctx.buf, hil_rt.ctx.size,
                                              input + (size_t)t * in_step, 1u, step_flags, req + 4);
        own_ticks += hil_port_counter() - t0;
        if (st != HIL_OK) {
            return hil_fail(op, st, "%s forward failed at step %u with status %u", kind->name, (uint32_t)t,
                            (uint32_t)st);
        }
        hil_forward_send(HIL_OP_INFER, (uint16_t)(4u + out_step));
        hil_fw.sent++;
    }
    if (hil_fw.peer_status == HIL_OK && hil_forward_wait(&hil_fw.answered, hil_fw.sent)) {
        return hil_fail(op, HIL_ERR_PEER, "peer silent for %u ms with steps %u..%u in flight",
                        (uint32_t)HIL_PEER_TIMEOUT_MS, (uint32_t)hil_fw.answered, (uint32_t)hil_fw.sent - 1u);
    }
    if (hil_fw.peer_status != HIL_OK) {
        return hil_fail(op, hil_fw.peer_status, "peer refused step %u: %s", (uint32_t)hil_fw.failed_step,
                        hil_fw.peer_reason);
    }
    const uint64_t elapsed = hil_port_counter() - start;
    const hil_peer_bytes_t bytes1 = hil_peer_bytes_so_far();
    const uint32_t steps_out = hil_fw.all_steps ? steps : 1u;
    const uint32_t out_bytes = steps_out * hil_fw.step_bytes;
    hil_put_u64(op->resp, own_ticks);
    hil_put_u16(op->resp + 8, (uint16_t)steps_out);
    hil_put_u16(op->resp + 10, hil_fw.peer_out_size);
    uint8_t *tail = op->resp + HIL_INFER_HEADER_SIZE + out_bytes;
    hil_put_u64(tail, hil_fw.peer_ticks);
    hil_put_u64(tail + 8, elapsed);
    hil_put_u32(tail + 16, bytes1.tx - bytes0.tx);
    hil_put_u32(tail + 20, bytes1.rx - bytes0.rx);
    op->resp_len = (uint16_t)(HIL_INFER_HEADER_SIZE + out_bytes + HIL_INFER_FORWARD_TAIL_SIZE);
    hil_rt.last_ticks = own_ticks;
    return HIL_OK;
}

#endif /* HIL_PEER_LINK */
