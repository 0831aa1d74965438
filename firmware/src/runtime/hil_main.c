/* The frame loop: bytes in, frames out. The board brings up the hardware (and paints its stack); this file only
 * speaks the protocol, so every board runs the same loop. */
#include <string.h>

#include "hil/hil_config.h"
#include "hil/hil_port.h"
#include "hil/hil_wire.h"
#include "hil_fmt.h"
#include "hil_forward.h"
#include "hil_ops.h"

#define HIL_RAW_MAX HIL_WIRE_RAW_BYTES(HIL_MAX_PAYLOAD)
#define HIL_WIRE_MAX HIL_WIRE_COBS_BYTES(HIL_RAW_MAX)
#define HIL_ERR_PAYLOAD_MAX (2u + HIL_ERROR_REASON_MAX)

#if HIL_MAX_PAYLOAD > 0xFFFF
#error "HIL_MAX_PAYLOAD must fit the 16-bit length field of the header"
#endif

/* One link's frame state: received bytes up to the 0x00 (decoded in place; aligned so f32 payload fields at offset 12
 * can be read as floats where they lie), the answer being built (header | payload | crc) and its wire form. The wire
 * form is kept until the next executed request: a repeated seq is answered from it without running the handler
 * again. The host link is always here; a board with a peer link (HIL_PEER_LINK) has a second one, whose requests are
 * executed the same way and answered on it, and whose answers go to the forwarder (hil_forward.c). */
typedef struct {
    uint8_t *rx;
    size_t rx_len;
    uint8_t rx_overflow;
    uint8_t *tx_raw;
    uint8_t *tx_wire;
    size_t tx_len;
    uint8_t have_prev;
    uint16_t prev_seq;
    hil_link_stats_t stats;
    void (*write)(const uint8_t *src, size_t len);
    void (*on_answer)(const hil_header_t *h, const uint8_t *payload); /* NULL: answers are executed as requests */
} hil_link_t;

static uint8_t hil_host_rx[HIL_WIRE_MAX] __attribute__((aligned(8)));
static uint8_t hil_host_tx_raw[HIL_RAW_MAX] __attribute__((aligned(8)));
static uint8_t hil_host_tx_wire[HIL_WIRE_MAX];
static hil_link_t hil_host = {hil_host_rx,    0u,  0u, hil_host_tx_raw, hil_host_tx_wire, 0u, 0u, 0u, {0u, 0u, 0u, 0u},
                              hil_port_write, NULL};

#if HIL_PEER_LINK
static uint8_t hil_peer_rx[HIL_WIRE_MAX] __attribute__((aligned(8)));
static uint8_t hil_peer_tx_raw[HIL_RAW_MAX] __attribute__((aligned(8)));
static uint8_t hil_peer_tx_wire[HIL_WIRE_MAX];
static hil_peer_bytes_t hil_peer_bytes;

static void hil_peer_write_counted(const uint8_t *src, size_t len)
{
    hil_port_peer_write(src, len);
    hil_peer_bytes.tx += (uint32_t)len;
}

static hil_link_t hil_peer = {hil_peer_rx,
                              0u,
                              0u,
                              hil_peer_tx_raw,
                              hil_peer_tx_wire,
                              0u,
                              0u,
                              0u,
                              {0u, 0u, 0u, 0u},
                              hil_peer_write_counted,
                              hil_forward_on_answer};
#endif

/* Answers to frames that were not executed (NAK, bad version, too large) go through their own buffers so the
 * stored answer survives them. */
static uint8_t hil_err_raw[HIL_WIRE_RAW_BYTES(HIL_ERR_PAYLOAD_MAX)];
static uint8_t hil_err_wire[HIL_WIRE_COBS_BYTES(HIL_WIRE_RAW_BYTES(HIL_ERR_PAYLOAD_MAX))];

static hil_op_t hil_op; /* static: its reason buffer would otherwise sit on the stack of every request */

static void hil_send(hil_link_t *link, const uint8_t *wire, size_t len)
{
    link->write(wire, len);
    link->stats.frames_tx++;
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
static void hil_send_unexecuted(hil_link_t *link, const hil_header_t *req, uint8_t flags, hil_status_t code,
                                const char *fmt, ...)
{
    char reason[HIL_ERROR_REASON_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    hil_vfmt(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    hil_header_t h = {HIL_PROTO_VERSION, req->opcode, (uint8_t)(HIL_FLAG_RESPONSE | HIL_FLAG_ERROR | flags), req->seq,
                      0u};
    h.length = hil_error_payload(hil_err_raw + HIL_HEADER_SIZE, code, reason);
    hil_send(link, hil_err_wire, hil_frame_build(&h, hil_err_raw, hil_err_wire));
}

static void hil_execute(hil_link_t *link, const hil_header_t *req)
{
    if (req->opcode != HIL_OP_HELLO && link->have_prev && req->seq == link->prev_seq) {
        link->stats.duplicates++;
        hil_send(link, link->tx_wire, link->tx_len);
        return;
    }
    hil_op.req = link->rx + HIL_HEADER_SIZE;
    hil_op.req_len = req->length;
    hil_op.resp = link->tx_raw + HIL_HEADER_SIZE;
    hil_op.link = &hil_host.stats; /* STATS reports the host link's counters */
    const hil_status_t st = hil_ops_dispatch(req->opcode, &hil_op);

    hil_header_t h = {HIL_PROTO_VERSION, req->opcode, HIL_FLAG_RESPONSE, req->seq, hil_op.resp_len};
    if (st != HIL_OK) {
        h.flags |= HIL_FLAG_ERROR;
        h.length = hil_error_payload(hil_op.resp, st, hil_op.reason);
    }
    link->tx_len = hil_frame_build(&h, link->tx_raw, link->tx_wire);
    /* HELLO opens a conversation: a new host may reuse any seq, so the old answer must not be replayed. */
    link->have_prev = req->opcode != HIL_OP_HELLO;
    link->prev_seq = req->seq;
    hil_send(link, link->tx_wire, link->tx_len);
    if (hil_op.after == HIL_AFTER_REBOOT) {
        hil_port_reboot();
    }
}

static void hil_frame_complete(hil_link_t *link)
{
    hil_header_t h;
    size_t raw_len = 0;
    uint8_t *rx = link->rx;
    link->stats.frames_rx++;
    hil_status_t st = hil_cobs_decode(rx, link->rx_len, rx, &raw_len);

    if (link->rx_overflow) {
        /* Only a prefix is here; its header, if whole, says whom to answer. A header that announces a payload this
         * board takes means the bytes are not what was sent (noise inserted, or a lost delimiter glued two frames):
         * damage, NAKed like a bad CRC so the host sends it again. Only a payload announced too large is one. */
        if (raw_len >= HIL_HEADER_SIZE) {
            hil_header_read(rx, &h);
            if (h.length > HIL_MAX_PAYLOAD) {
                hil_send_unexecuted(link, &h, 0u, HIL_ERR_PAYLOAD_TOO_LARGE, "payload of %u B > max payload %u B",
                                    (uint32_t)h.length, (uint32_t)HIL_MAX_PAYLOAD);
            } else {
                link->stats.crc_errors++;
                hil_send_unexecuted(link, &h, HIL_FLAG_NAK, HIL_ERR_BAD_CRC,
                                    "frame damaged: over %u B arrived for a %u B payload", (uint32_t)HIL_WIRE_MAX,
                                    (uint32_t)h.length);
            }
        } else {
            link->stats.crc_errors++;
        }
        return;
    }
    int have_header = raw_len >= HIL_HEADER_SIZE;
    const int cobs_ok = st == HIL_OK;
    if (cobs_ok) {
        st = hil_frame_parse(rx, raw_len, &h, &have_header);
    } else if (have_header) {
        hil_header_read(rx, &h);
    }
    if (st == HIL_ERR_BAD_CRC) {
        link->stats.crc_errors++;
        if (!have_header) {
            return; /* nobody to answer: the host's timeout retransmits */
        }
        if (!cobs_ok || raw_len < HIL_HEADER_SIZE + HIL_CRC_SIZE) {
            hil_send_unexecuted(link, &h, HIL_FLAG_NAK, HIL_ERR_BAD_CRC, "frame damaged: %s after %u B",
                                cobs_ok ? "ends" : "bad COBS", (uint32_t)raw_len);
        } else {
            const size_t body = raw_len - HIL_CRC_SIZE;
            hil_send_unexecuted(link, &h, HIL_FLAG_NAK, HIL_ERR_BAD_CRC, "crc 0x%08x != 0x%08x over %u B",
                                hil_crc32(0u, rx, body), hil_get_u32(rx + body), (uint32_t)body);
        }
        return;
    }
    if (h.length > HIL_MAX_PAYLOAD) {
        hil_send_unexecuted(link, &h, 0u, HIL_ERR_PAYLOAD_TOO_LARGE, "payload of %u B > max payload %u B",
                            (uint32_t)h.length, (uint32_t)HIL_MAX_PAYLOAD);
        return;
    }
    if (st != HIL_OK) {
        hil_send_unexecuted(link, &h, 0u, st, "length field %u != %u payload bytes", (uint32_t)h.length,
                            (uint32_t)(raw_len - HIL_HEADER_SIZE - HIL_CRC_SIZE));
        return;
    }
    if (h.version != HIL_PROTO_VERSION) {
        hil_send_unexecuted(link, &h, 0u, HIL_ERR_BAD_VERSION, "protocol version %u, firmware speaks %u",
                            (uint32_t)h.version, (uint32_t)HIL_PROTO_VERSION);
        return;
    }
    if (link->on_answer != NULL && (h.flags & HIL_FLAG_RESPONSE) != 0u) {
        link->on_answer(&h, rx + HIL_HEADER_SIZE); /* an answer to a request this board sent: never executed */
        return;
    }
    hil_execute(link, &h);
}

static void hil_rx_byte(hil_link_t *link, uint8_t b)
{
    if (b != HIL_FRAME_DELIMITER) {
        if (link->rx_len < HIL_WIRE_MAX) {
            link->rx[link->rx_len++] = b;
        } else {
            link->rx_overflow = 1u; /* keep the prefix for its header, drop the rest up to the 0x00 */
        }
        return;
    }
    /* Empty frames cost nothing: the host may send a lone 0x00 to resynchronise after noise. */
    if (link->rx_len != 0u) {
        hil_frame_complete(link);
    }
    link->rx_len = 0u;
    link->rx_overflow = 0u;
}

/* Feed what one read brought; 0 when nothing had arrived. */
static size_t hil_link_poll(hil_link_t *link, size_t (*read)(uint8_t *dst, size_t max))
{
    uint8_t chunk[64];
    const size_t n = read(chunk, sizeof(chunk));
    for (size_t i = 0; i < n; i++) {
        hil_rx_byte(link, chunk[i]);
    }
    return n;
}

#if HIL_PEER_LINK
static size_t hil_peer_read_counted(uint8_t *dst, size_t max)
{
    const size_t n = hil_port_peer_read(dst, max);
    hil_peer_bytes.rx += (uint32_t)n;
    return n;
}

size_t hil_peer_poll(void)
{
    return hil_link_poll(&hil_peer, hil_peer_read_counted);
}

void hil_peer_send_request(const hil_header_t *h)
{
    /* The request is built in the peer link's answer buffers: a board that forwards is not answering its peer
     * meanwhile, and its stored answer must not be replayed for a later request, so it is forgotten. */
    hil_peer.have_prev = 0u;
    hil_send(&hil_peer, hil_peer.tx_wire, hil_frame_build(h, hil_peer.tx_raw, hil_peer.tx_wire));
}

uint8_t *hil_peer_request_payload(void)
{
    return hil_peer.tx_raw + HIL_HEADER_SIZE;
}

hil_peer_bytes_t hil_peer_bytes_so_far(void)
{
    return hil_peer_bytes;
}
#endif

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
        size_t n = hil_link_poll(&hil_host, hil_port_read);
#if HIL_PEER_LINK
        n += hil_peer_poll();
#endif
        if (n == 0u) {
            hil_port_idle();
        }
    }
}
