/* The frame loop: bytes in, frames out. The board brings up the hardware (and paints its stack); this file only
 * speaks the protocol, so every board runs the same loop. */
#include <string.h>

#include "hil/hil_config.h"
#include "hil/hil_port.h"
#include "hil/hil_wire.h"
#include "hil_fmt.h"
#include "hil_ops.h"

#define HIL_RAW_MAX HIL_WIRE_RAW_BYTES(HIL_MAX_PAYLOAD)
#define HIL_WIRE_MAX HIL_WIRE_COBS_BYTES(HIL_RAW_MAX)
#define HIL_ERR_PAYLOAD_MAX (2u + HIL_ERROR_REASON_MAX)

#if HIL_MAX_PAYLOAD > 0xFFFF
#error "HIL_MAX_PAYLOAD must fit the 16-bit length field of the header"
#endif

/* Received bytes up to the 0x00, decoded in place; aligned so f32 payload fields at offset 12 can be read as
 * floats where they lie. */
static uint8_t hil_rx[HIL_WIRE_MAX] __attribute__((aligned(8)));
static size_t hil_rx_len;
static uint8_t hil_rx_overflow;

/* The answer being built (header | payload | crc) and its wire form. The wire form is kept until the next
 * executed request: a repeated seq is answered from it without running the handler again. */
static uint8_t hil_tx_raw[HIL_RAW_MAX] __attribute__((aligned(8)));
static uint8_t hil_tx_wire[HIL_WIRE_MAX];
static size_t hil_tx_len;
static uint8_t hil_have_prev;
static uint16_t hil_prev_seq;

/* Answers to frames that were not executed (NAK, bad version, too large) go through their own buffers so the
 * stored answer survives them. */
static uint8_t hil_err_raw[HIL_WIRE_RAW_BYTES(HIL_ERR_PAYLOAD_MAX)];
static uint8_t hil_err_wire[HIL_WIRE_COBS_BYTES(HIL_WIRE_RAW_BYTES(HIL_ERR_PAYLOAD_MAX))];

static hil_link_stats_t hil_link;
static hil_op_t hil_op; /* static: its reason buffer would otherwise sit on the stack of every request */

static void hil_send(const uint8_t *wire, size_t len)
{
    hil_port_write(wire, len);
    hil_link.frames_tx++;
}

static uint16_t hil_error_payload(uint8_t *dst, hil_status_t code, const char *reason)
{
    size_t n = strlen(reason);
    if (n > HIL_ERROR_REASON_MAX) {
        n = HIL_ERROR_REASON_MAX;
    }
    dst[0] = (uint8_t)code;
    dst[1] = (uint8_t)n;
    memcpy(dst + 2, reason, n);
    return (uint16_t)(2u + n);
}

/* Answer a frame that is not executed and not remembered. */
static void hil_send_unexecuted(const hil_header_t *req, uint8_t flags, hil_status_t code, const char *fmt, ...)
{
    char reason[HIL_ERROR_REASON_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    hil_vfmt(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    hil_header_t h = {HIL_PROTO_VERSION, req->opcode, (uint8_t)(HIL_FLAG_RESPONSE | HIL_FLAG_ERROR | flags), req->seq,
                      0u};
    h.length = hil_error_payload(hil_err_raw + HIL_HEADER_SIZE, code, reason);
    hil_send(hil_err_wire, hil_frame_build(&h, hil_err_raw, hil_err_wire));
}

static void hil_execute(const hil_header_t *req)
{
    if (req->opcode != HIL_OP_HELLO && hil_have_prev && req->seq == hil_prev_seq) {
        hil_link.duplicates++;
        hil_send(hil_tx_wire, hil_tx_len);
        return;
    }
    hil_op.req = hil_rx + HIL_HEADER_SIZE;
    hil_op.req_len = req->length;
    hil_op.resp = hil_tx_raw + HIL_HEADER_SIZE;
    hil_op.link = &hil_link;
    const hil_status_t st = hil_ops_dispatch(req->opcode, &hil_op);

    hil_header_t h = {HIL_PROTO_VERSION, req->opcode, HIL_FLAG_RESPONSE, req->seq, hil_op.resp_len};
    if (st != HIL_OK) {
        h.flags |= HIL_FLAG_ERROR;
        h.length = hil_error_payload(hil_op.resp, st, hil_op.reason);
    }
    hil_tx_len = hil_frame_build(&h, hil_tx_raw, hil_tx_wire);
    /* HELLO opens a conversation: a new host may reuse any seq, so the old answer must not be replayed. */
    hil_have_prev = req->opcode != HIL_OP_HELLO;
    hil_prev_seq = req->seq;
    hil_send(hil_tx_wire, hil_tx_len);
    if (hil_op.after == HIL_AFTER_REBOOT) {
        hil_port_reboot();
    }
}

static void hil_frame_complete(void)
{
    hil_header_t h;
    size_t raw_len = 0;
    hil_link.frames_rx++;
    hil_status_t st = hil_cobs_decode(hil_rx, hil_rx_len, hil_rx, &raw_len);

    if (hil_rx_overflow) {
        /* Only a prefix is here; its header, if whole, says whom to answer. A header that announces a payload this
         * board takes means the bytes are not what was sent (noise inserted, or a lost delimiter glued two frames):
         * damage, NAKed like a bad CRC so the host sends it again. Only a payload announced too large is one. */
        if (raw_len >= HIL_HEADER_SIZE) {
            hil_header_read(hil_rx, &h);
            if (h.length > HIL_MAX_PAYLOAD) {
                hil_send_unexecuted(&h, 0u, HIL_ERR_PAYLOAD_TOO_LARGE, "payload of %u B > max payload %u B",
                                    (uint32_t)h.length, (uint32_t)HIL_MAX_PAYLOAD);
            } else {
                hil_link.crc_errors++;
                hil_send_unexecuted(&h, HIL_FLAG_NAK, HIL_ERR_BAD_CRC,
                                    "frame damaged: over %u B arrived for a %u B payload", (uint32_t)sizeof(hil_rx),
                                    (uint32_t)h.length);
            }
        } else {
            hil_link.crc_errors++;
        }
        return;
    }
    int have_header = raw_len >= HIL_HEADER_SIZE;
    const int cobs_ok = st == HIL_OK;
    if (cobs_ok) {
        st = hil_frame_parse(hil_rx, raw_len, &h, &have_header);
    } else if (have_header) {
        hil_header_read(hil_rx, &h);
    }
    if (st == HIL_ERR_BAD_CRC) {
        hil_link.crc_errors++;
        if (!have_header) {
            return; /* nobody to answer: the host's timeout retransmits */
        }
        if (!cobs_ok || raw_len < HIL_HEADER_SIZE + HIL_CRC_SIZE) {
            hil_send_unexecuted(&h, HIL_FLAG_NAK, HIL_ERR_BAD_CRC, "frame damaged: %s after %u B",
                                cobs_ok ? "ends" : "bad COBS", (uint32_t)raw_len);
        } else {
            const size_t body = raw_len - HIL_CRC_SIZE;
            hil_send_unexecuted(&h, HIL_FLAG_NAK, HIL_ERR_BAD_CRC, "crc 0x%08x != 0x%08x over %u B",
                                hil_crc32(0u, hil_rx, body), hil_get_u32(hil_rx + body), (uint32_t)body);
        }
        return;
    }
    if (h.length > HIL_MAX_PAYLOAD) {
        hil_send_unexecuted(&h, 0u, HIL_ERR_PAYLOAD_TOO_LARGE, "payload of %u B > max payload %u B", (uint32_t)h.length,
                            (uint32_t)HIL_MAX_PAYLOAD);
        return;
    }
    if (st != HIL_OK) {
        hil_send_unexecuted(&h, 0u, st, "length field %u != %u payload bytes", (uint32_t)h.length,
                            (uint32_t)(raw_len - HIL_HEADER_SIZE - HIL_CRC_SIZE));
        return;
    }
    if (h.version != HIL_PROTO_VERSION) {
        hil_send_unexecuted(&h, 0u, HIL_ERR_BAD_VERSION, "protocol version %u, firmware speaks %u", (uint32_t)h.version,
                            (uint32_t)HIL_PROTO_VERSION);
        return;
    }
    hil_execute(&h);
}

static void hil_rx_byte(uint8_t b)
{
    if (b != HIL_FRAME_DELIMITER) {
        if (hil_rx_len < sizeof(hil_rx)) {
            hil_rx[hil_rx_len++] = b;
        } else {
            hil_rx_overflow = 1u; /* keep the prefix for its header, drop the rest up to the 0x00 */
        }
        return;
    }
    /* Empty frames cost nothing: the host may send a lone 0x00 to resynchronise after noise. */
    if (hil_rx_len != 0u) {
        hil_frame_complete();
    }
    hil_rx_len = 0u;
    hil_rx_overflow = 0u;
}

static void hil_banner(void)
{
    hil_port_facts_t facts;
    char line[160];
    hil_port_facts(&facts);
    const uint64_t id = (uint64_t)(HIL_BUILD_ID);
    const size_t n =
        hil_fmt(line, sizeof(line), "HIL-FW %s %u.%u.%u board=%s cpu=%s build=%08x%08x\r\n", HIL_FW_NAME,
                (uint32_t)HIL_FW_VERSION_MAJOR, (uint32_t)HIL_FW_VERSION_MINOR, (uint32_t)HIL_FW_VERSION_PATCH,
                facts.board_name, facts.cpu_name, (uint32_t)(id >> 32), (uint32_t)id);
    hil_port_write((const uint8_t *)line, n);
}

int main(void)
{
    hil_port_init();
    hil_ops_init();
    hil_banner();
    for (;;) {
        uint8_t chunk[64];
        const size_t n = hil_port_read(chunk, sizeof(chunk));
        if (n == 0u) {
            hil_port_idle();
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            hil_rx_byte(chunk[i]);
        }
    }
}
