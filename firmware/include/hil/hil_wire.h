/* Framing of the wire protocol (see hil_proto.h): COBS, CRC-32 and the 8-byte header.
 *
 * Everything works on caller-owned buffers; nothing here keeps state, so the frame loop, the NAK path and the
 * unit tests on the host can all use it on their own buffers.
 */
#ifndef HIL_WIRE_H
#define HIL_WIRE_H

#include "hil/hil_proto.h"
#include "hil/hil_types.h"

/* Decoded frame size limit for a payload of `payload` bytes. */
#define HIL_WIRE_RAW_BYTES(payload) (HIL_HEADER_SIZE + (payload) + HIL_CRC_SIZE)
/* COBS adds one byte per started run of 254 plus the leading code byte; +1 for the 0x00 delimiter. */
#define HIL_WIRE_COBS_BYTES(raw) ((raw) + (raw) / 254u + 2u)
/* Wire bytes of one frame carrying `payload` bytes, delimiter included. */
#define HIL_WIRE_FRAME_BYTES(payload) HIL_WIRE_COBS_BYTES(HIL_WIRE_RAW_BYTES(payload))

typedef struct {
    uint8_t version;
    uint8_t opcode;
    uint8_t flags;
    uint16_t seq;
    uint16_t length;
} hil_header_t;

/* CRC-32 IEEE 802.3, the same number as Python's zlib.crc32(data, crc). Start with crc = 0. */
uint32_t hil_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* Encode `len` bytes; `dst` needs HIL_WIRE_COBS_BYTES(len) - 1 bytes. Returns the encoded length (no 0x00). */
size_t hil_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);

/* Decode `len` encoded bytes (without the 0x00) into `dst`, which may be `src` itself: the output never runs
 * ahead of the input. On a malformed block (runs past the end, or holds a 0x00) it returns HIL_ERR_BAD_CRC and
 * `*out_len` still says how many bytes were decoded before the damage, so the caller can read a header. */
hil_status_t hil_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t *out_len);

void hil_header_write(const hil_header_t *h, uint8_t *dst);
void hil_header_read(const uint8_t *src, hil_header_t *h);

/* Frame the HIL_HEADER_SIZE + h->length bytes already in `raw` (header is written here, payload must be in
 * place after it): appends the CRC in `raw` (so `raw` needs HIL_CRC_SIZE spare bytes) and COBS-encodes into
 * `wire` with the delimiter. Returns the wire length. */
size_t hil_frame_build(const hil_header_t *h, uint8_t *raw, uint8_t *wire);

/* Check a decoded frame of `raw_len` bytes: CRC, then length field. HIL_ERR_BAD_CRC when it is too short or the
 * CRC fails (`*h` is filled when at least a header is there, `*have_header` says so); HIL_ERR_BAD_REQUEST when the
 * CRC is good but the length field disagrees with the frame. */
hil_status_t hil_frame_parse(const uint8_t *raw, size_t raw_len, hil_header_t *h, int *have_header);

/* Little-endian field access; payloads are byte streams with no alignment promise. */
static inline uint16_t hil_get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static inline uint32_t hil_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void hil_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void hil_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void hil_put_u64(uint8_t *p, uint64_t v)
{
    hil_put_u32(p, (uint32_t)v);
    hil_put_u32(p + 4, (uint32_t)(v >> 32));
}

#endif /* HIL_WIRE_H */
