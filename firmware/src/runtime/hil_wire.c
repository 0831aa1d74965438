#include "hil/hil_wire.h"

/* Nibble-wise table: 64 bytes of flash instead of 1 KiB, and a 64 KiB blob still checks in a few million
 * instructions, far below what the link needs to bring the blob in. */
static const uint32_t hil_crc32_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t hil_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ hil_crc32_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ hil_crc32_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

size_t hil_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst)
{
    size_t code_at = 0;
    size_t out = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == 0u) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            dst[out++] = src[i];
            code++;
            if (code == 0xFFu) {
                dst[code_at] = code;
                code_at = out++;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

hil_status_t hil_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t *out_len)
{
    size_t i = 0;
    size_t out = 0;
    while (i < len) {
        const uint8_t code = src[i];
        if (code == 0u || i + code > len) {
            *out_len = out;
            return HIL_ERR_BAD_CRC;
        }
        for (size_t k = 1; k < code; k++) {
            const uint8_t b = src[i + k];
            if (b == 0u) {
                *out_len = out;
                return HIL_ERR_BAD_CRC;
            }
            dst[out++] = b;
        }
        i += code;
        if (code != 0xFFu && i < len) {
            dst[out++] = 0u;
        }
    }
    *out_len = out;
    return HIL_OK;
}

void hil_header_write(const hil_header_t *h, uint8_t *dst)
{
    dst[0] = h->version;
    dst[1] = h->opcode;
    dst[2] = h->flags;
    dst[3] = 0u;
    hil_put_u16(dst + 4, h->seq);
    hil_put_u16(dst + 6, h->length);
}

void hil_header_read(const uint8_t *src, hil_header_t *h)
{
    h->version = src[0];
    h->opcode = src[1];
    h->flags = src[2];
    h->seq = hil_get_u16(src + 4);
    h->length = hil_get_u16(src + 6);
}

size_t hil_frame_build(const hil_header_t *h, uint8_t *raw, uint8_t *wire)
{
    const size_t body = HIL_HEADER_SIZE + (size_t)h->length;
    hil_header_write(h, raw);
    hil_put_u32(raw + body, hil_crc32(0u, raw, body));
    const size_t n = hil_cobs_encode(raw, body + HIL_CRC_SIZE, wire);
    wire[n] = HIL_FRAME_DELIMITER;
    return n + 1u;
}

hil_status_t hil_frame_parse(const uint8_t *raw, size_t raw_len, hil_header_t *h, int *have_header)
{
    *have_header = raw_len >= HIL_HEADER_SIZE;
    if (*have_header) {
        hil_header_read(raw, h);
    }
    if (raw_len < HIL_HEADER_SIZE + HIL_CRC_SIZE) {
        return HIL_ERR_BAD_CRC;
    }
    const size_t body = raw_len - HIL_CRC_SIZE;
    if (hil_crc32(0u, raw, body) != hil_get_u32(raw + body)) {
        return HIL_ERR_BAD_CRC;
    }
    if ((size_t)h->length != body - HIL_HEADER_SIZE) {
        return HIL_ERR_BAD_REQUEST;
    }
    return HIL_OK;
}
