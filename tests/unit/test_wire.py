"""Framing: COBS + CRC-32 round trips and the edge cases, over a real pyserial loop:// port."""

import os
import struct
import zlib

import pytest
import serial

from harness.proto import wire


def _roundtrip_over_loop(frames: list[bytes]) -> list[wire.Frame]:
    port = serial.serial_for_url("loop://", timeout=0.2)
    try:
        reader = wire.FrameReader()
        out: list[bytes] = []
        for f in frames:
            for i in range(0, len(f), 1024):  # loop:// holds only a few KiB; read as we write, like a UART
                piece = f[i : i + 1024]
                port.write(piece)
                out += reader.feed(port.read(len(piece)))
        return [wire.decode_frame(chunk) for chunk in out]
    finally:
        port.close()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00",
        b"\x00" * 600,
        b"\x01\x00\x02\x00",
        bytes(range(256)) * 3,
        b"\xff" * 254,
        b"\xff" * 255,
        os.urandom(8192),
    ],
    ids=["empty", "one-zero", "zeros", "interleaved", "all-bytes", "254", "255", "max-host"],
)
def test_frame_roundtrip_over_loop(payload: bytes) -> None:
    encoded = wire.encode_frame(wire.HIL_OP_INFER, 0xBEEF, payload, flags=wire.HIL_FLAG_RESPONSE)
    assert encoded[-1] == 0 and 0 not in encoded[:-1]
    (frame,) = _roundtrip_over_loop([encoded])
    assert frame.payload == payload
    assert frame.header == wire.Header(
        wire.HIL_PROTO_VERSION, wire.HIL_OP_INFER, wire.HIL_FLAG_RESPONSE, 0xBEEF, len(payload)
    )


def test_cobs_overhead_is_bounded() -> None:
    for n in (0, 1, 253, 254, 255, 1024, 4096):
        data = os.urandom(n).replace(b"\x00", b"\x01")
        assert len(wire.cobs_encode(data)) <= n + n // 254 + 1


def test_several_frames_in_one_read_and_split_reads() -> None:
    frames = [wire.encode_frame(wire.HIL_OP_MODEL_CHUNK, i, bytes([i]) * i) for i in range(1, 6)]
    stream = b"".join(frames)
    reader = wire.FrameReader()
    got = []
    for i in range(0, len(stream), 3):  # arrives three bytes at a time
        got += reader.feed(stream[i : i + 3])
    assert [wire.decode_frame(g).header.seq for g in got] == [1, 2, 3, 4, 5]


def test_corrupted_frame_fails_crc_but_keeps_header() -> None:
    raw = bytearray(wire.cobs_decode(wire.encode_frame(wire.HIL_OP_HELLO, 77, b"payload")[:-1]))
    raw[10] ^= 0x40  # flip one payload bit, keep the stored CRC
    with pytest.raises(wire.CrcError) as err:
        wire.decode_frame(wire.cobs_encode(bytes(raw)))
    assert err.value.header is not None and err.value.header.seq == 77


def test_every_single_bit_flip_is_detected() -> None:
    raw = wire.cobs_decode(wire.encode_frame(wire.HIL_OP_INFER, 3, os.urandom(64))[:-1])
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(wire.FrameError):
            wire.decode_frame(wire.cobs_encode(bytes(flipped)))


def test_truncated_and_garbage_frames_are_rejected() -> None:
    with pytest.raises(wire.FrameError, match="shorter than header"):
        wire.decode_frame(wire.cobs_encode(b"\x01\x02\x03"))
    with pytest.raises(wire.FrameError, match="runs past"):
        wire.decode_frame(b"\x09\x01\x02")
    body = struct.pack("<BBBBHH", 1, 1, 0, 0, 5, 10) + b"abc"  # says 10 bytes, carries 3
    with pytest.raises(wire.FrameError, match="announces 10"):
        wire.decode_frame(wire.cobs_encode(body + struct.pack("<I", zlib.crc32(body))))


def test_banner_text_before_first_frame_is_split_off() -> None:
    reader = wire.FrameReader()
    frame = wire.encode_frame(wire.HIL_OP_HELLO, 1, b"x", flags=wire.HIL_FLAG_RESPONSE)
    chunks = reader.feed(b"HIL-FW hil-fw 0.1.0 board=host\r\n" + frame)
    assert reader.text_lines == ["HIL-FW hil-fw 0.1.0 board=host"]
    assert wire.decode_frame(chunks[0]).payload == b"x"


def test_crc_is_zlib_crc32_over_header_and_payload() -> None:
    raw = wire.cobs_decode(wire.encode_frame(0x22, 9, b"abc")[:-1])
    assert struct.unpack("<I", raw[-4:])[0] == zlib.crc32(raw[:-4])


def test_payload_too_large_for_length_field() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        wire.encode_frame(1, 1, bytes(0x10000))
