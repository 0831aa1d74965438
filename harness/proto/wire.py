"""Framing of the wire protocol: COBS(header | payload | crc32) 0x00.

Every number here mirrors firmware/include/hil/hil_proto.h and hil_types.h; tests/unit/test_proto_constants.py
parses those headers and fails on any difference, so change both together.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

HIL_PROTO_VERSION = 1
HIL_HEADER_SIZE = 8
HIL_CRC_SIZE = 4
HIL_FRAME_DELIMITER = 0x00

HIL_FLAG_RESPONSE = 0x01
HIL_FLAG_ERROR = 0x02
HIL_FLAG_NAK = 0x04

HIL_OP_HELLO = 0x01
HIL_OP_STATS = 0x02
HIL_OP_RESET = 0x03
HIL_OP_TENSOR_READ = 0x04
HIL_OP_TENSOR_WRITE = 0x05
HIL_OP_MODEL_BEGIN = 0x10
HIL_OP_MODEL_CHUNK = 0x11
HIL_OP_MODEL_COMMIT = 0x12
HIL_OP_MODEL_BUILTIN = 0x13
HIL_OP_MODEL_RECOVER = 0x14
HIL_OP_INPUT_BEGIN = 0x20
HIL_OP_INPUT_CHUNK = 0x21
HIL_OP_INFER = 0x22
HIL_OP_TRACE = 0x23
HIL_OP_TRAIN_CONFIG = 0x30
HIL_OP_TRAIN_STEP = 0x31
HIL_OP_EVAL = 0x32
HIL_OP_ESN_CONFIG = 0x40
HIL_OP_ESN_FEED = 0x41
HIL_OP_ESN_FIT = 0x42
HIL_OP_ESN_SCORE = 0x43
HIL_OP_ESN_THRESHOLD = 0x44

HIL_INFER_ALL_STEPS = 0x01
HIL_INFER_CONTINUE = 0x02
HIL_INFER_FORWARD = 0x04
HIL_INFER_FORWARD_TAIL_SIZE = 24

HIL_TENSOR_PARAMS = 1
HIL_TENSOR_GRADS = 2
HIL_TENSOR_OPT_M = 3
HIL_TENSOR_OPT_V = 4
HIL_TENSOR_ESN_W_IN = 16
HIL_TENSOR_ESN_W_RES = 17
HIL_TENSOR_ESN_W_BACK = 18
HIL_TENSOR_ESN_W_OUT = 19
HIL_TENSOR_ESN_STATE = 20
HIL_TENSOR_ESN_THRESHOLD = 21
HIL_TENSOR_ESN_A = 22

HIL_OPT_SGD = 0
HIL_OPT_ADAM = 1
HIL_LOSS_MSE = 0
HIL_LOSS_CE = 1
HIL_TRAIN_QUERY = 0x01

HIL_ESN_CONFIG_QUERY = 0x01
HIL_ESN_STREAM_BEGIN = 0x01
HIL_ESN_STREAM_TARGETS = 0x02
HIL_ESN_STREAM_CALIBRATE = 0x04

HIL_RESET_SOFT = 0
HIL_RESET_REBOOT = 1

HIL_CAP_LSTM_F32 = 0x00000001
HIL_CAP_BUILTIN_MODEL = 0x00000002
HIL_CAP_STACK_PAINT = 0x00000004
HIL_CAP_EXACT_COUNTER = 0x00000008
HIL_CAP_LSTM_TRAIN_F32 = 0x00000010
HIL_CAP_RECOVER = 0x00000020
HIL_CAP_ESN_F32 = 0x00000040
HIL_CAP_MLP_F32 = 0x00000080
HIL_CAP_QUANT_S8 = 0x00000100
HIL_CAP_QUANT_S16 = 0x00000200
HIL_CAP_QUANT_Q15 = 0x00000400
HIL_CAP_PEER_LINK = 0x00000800

HIL_COUNTER_WALL_NS = 0
HIL_COUNTER_CPU_CYCLES = 1
HIL_COUNTER_INSTRUCTIONS = 2

HIL_MODEL_LSTM_F32 = 1
HIL_MODEL_MLP_F32 = 0x10
HIL_MODEL_MLP_S8 = 0x11
HIL_MODEL_MLP_S16 = 0x12
HIL_MODEL_MLP_Q15 = 0x13
HIL_MODEL_LSTM_S8 = 0x21
HIL_MODEL_LSTM_S16 = 0x22
HIL_MODEL_LSTM_Q15 = 0x23
HIL_MODEL_MAGIC = 0x4D4C4948
HIL_MODEL_FORMAT_VERSION = 1
HIL_MODEL_HEADER_SIZE = 24
HIL_LSTM_MAX_LAYERS = 4

HIL_HELLO_FIXED_SIZE = 40
HIL_STATS_SIZE = 44
HIL_MODEL_INFO_SIZE = 20
HIL_INFER_HEADER_SIZE = 12
HIL_TRACE_REQUEST_SIZE = 12
HIL_ERROR_REASON_MAX = 96
HIL_TRAIN_CONFIG_SIZE = 28
HIL_TRAIN_INFO_SIZE = 20
HIL_TRAIN_STEP_SIZE = 20
HIL_TENSOR_REQ_SIZE = 8
HIL_ESN_CONFIG_SIZE = 52
HIL_ESN_INFO_SIZE = 40
HIL_ESN_STREAM_HEADER_SIZE = 8
HIL_ESN_FEED_SIZE = 24
HIL_ESN_FIT_SIZE = 16
HIL_ESN_SCORE_HEADER_SIZE = 32
HIL_ESN_THRESHOLD_SIZE = 24


class Status(enum.IntEnum):
    """hil_status_t: the error code an error frame carries."""

    HIL_OK = 0
    HIL_ERR_BAD_CRC = 1
    HIL_ERR_UNKNOWN_OPCODE = 2
    HIL_ERR_PAYLOAD_TOO_LARGE = 3
    HIL_ERR_MODEL_NOT_LOADED = 4
    HIL_ERR_SHAPE_MISMATCH = 5
    HIL_ERR_ARENA_EXHAUSTED = 6
    HIL_ERR_NON_FINITE = 7
    HIL_ERR_BUSY = 8
    HIL_ERR_BAD_REQUEST = 9
    HIL_ERR_BAD_MODEL = 10
    HIL_ERR_BAD_VERSION = 11
    HIL_ERR_OUT_OF_RANGE = 12
    HIL_ERR_BUFFER_TOO_SMALL = 13
    HIL_ERR_PEER = 14


# Module-level names for the status codes too, so `wire.HIL_ERR_BAD_MODEL` reads like the C.
globals().update({s.name: int(s) for s in Status})

CAPABILITY_NAMES: dict[str, int] = {
    "lstm_f32": HIL_CAP_LSTM_F32,
    "builtin_model": HIL_CAP_BUILTIN_MODEL,
    "stack_paint": HIL_CAP_STACK_PAINT,
    "exact_counter": HIL_CAP_EXACT_COUNTER,
    "lstm_train_f32": HIL_CAP_LSTM_TRAIN_F32,
    "recover": HIL_CAP_RECOVER,
    "esn_f32": HIL_CAP_ESN_F32,
    "mlp_f32": HIL_CAP_MLP_F32,
    "quant_s8": HIL_CAP_QUANT_S8,
    "quant_s16": HIL_CAP_QUANT_S16,
    "quant_q15": HIL_CAP_QUANT_Q15,
    "peer_link": HIL_CAP_PEER_LINK,
}


@dataclass(frozen=True)
class ModelKind:
    """A model blob kind as INFER sees it (firmware/src/runtime/hil_models.c holds the device's table):
    the element type of its inputs and outputs on the wire, whether it takes sequences, what HELLO must offer."""

    kind: int
    name: str
    dtype: str  # numpy dtype string, little-endian: "<f4", "i1", "<i2"
    recurrent: bool  # takes steps >= 1 (and ALL_STEPS); an MLP takes one vector, steps = 1
    capability: str

    @property
    def is_float(self) -> bool:
        return self.dtype == "<f4"


MODEL_KINDS: dict[int, ModelKind] = {
    k.kind: k
    for k in (
        ModelKind(HIL_MODEL_LSTM_F32, "LSTM_F32", "<f4", True, "lstm_f32"),
        ModelKind(HIL_MODEL_MLP_F32, "MLP_F32", "<f4", False, "mlp_f32"),
        ModelKind(HIL_MODEL_MLP_S8, "MLP_S8", "i1", False, "quant_s8"),
        ModelKind(HIL_MODEL_MLP_S16, "MLP_S16", "<i2", False, "quant_s16"),
        ModelKind(HIL_MODEL_MLP_Q15, "MLP_Q15", "<i2", False, "quant_q15"),
        ModelKind(HIL_MODEL_LSTM_S8, "LSTM_S8", "i1", True, "quant_s8"),
        ModelKind(HIL_MODEL_LSTM_S16, "LSTM_S16", "<i2", True, "quant_s16"),
        ModelKind(HIL_MODEL_LSTM_Q15, "LSTM_Q15", "<i2", True, "quant_q15"),
    )
}

OPCODE_NAMES: dict[int, str] = {
    value: name.removeprefix("HIL_OP_") for name, value in dict(globals()).items() if name.startswith("HIL_OP_")
}

_HEADER = struct.Struct("<BBBBHH")
_CRC = struct.Struct("<I")
assert _HEADER.size == HIL_HEADER_SIZE


class FrameError(ValueError):
    """A frame could not be decoded: bad COBS, too short, or failed CRC."""


class CrcError(FrameError):
    """The frame decoded but its CRC-32 does not match; `header` holds what was read, if anything."""

    def __init__(self, message: str, header: Header | None) -> None:
        super().__init__(message)
        self.header = header


@dataclass(frozen=True)
class Header:
    version: int
    opcode: int
    flags: int
    seq: int
    length: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & HIL_FLAG_RESPONSE)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & HIL_FLAG_ERROR)

    @property
    def is_nak(self) -> bool:
        return bool(self.flags & HIL_FLAG_NAK)


@dataclass(frozen=True)
class Frame:
    header: Header
    payload: bytes

    @property
    def opcode_name(self) -> str:
        return OPCODE_NAMES.get(self.header.opcode, f"0x{self.header.opcode:02x}")

    def describe(self) -> str:
        h = self.header
        kind = "NAK" if h.is_nak else "ERR" if h.is_error else "RSP" if h.is_response else "REQ"
        return f"{kind} {self.opcode_name} seq={h.seq} len={h.length}"


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result has no 0x00, at most len/254 + 1 bytes longer."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError(f"COBS: zero byte inside a frame at offset {i}")
        end = i + code
        if end > n:
            raise FrameError(f"COBS: block of {code - 1} bytes at offset {i} runs past the frame end ({n} bytes)")
        block = data[i + 1 : end]
        if 0 in block:
            raise FrameError(f"COBS: zero byte inside a frame near offset {i}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(
    opcode: int, seq: int, payload: bytes = b"", flags: int = 0, version: int = HIL_PROTO_VERSION
) -> bytes:
    """The bytes to put on the wire, delimiter included."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit the 16-bit length field")
    body = _HEADER.pack(version, opcode, flags, 0, seq & 0xFFFF, len(payload)) + payload
    return cobs_encode(body + _CRC.pack(zlib.crc32(body))) + bytes([HIL_FRAME_DELIMITER])


def decode_frame(encoded: bytes) -> Frame:
    """Decode one frame without its 0x00 delimiter."""
    raw = cobs_decode(encoded)
    if len(raw) < HIL_HEADER_SIZE + HIL_CRC_SIZE:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than header + CRC ({HIL_HEADER_SIZE + HIL_CRC_SIZE})")
    body, (crc,) = raw[:-HIL_CRC_SIZE], _CRC.unpack(raw[-HIL_CRC_SIZE:])
    version, opcode, flags, _reserved, seq, length = _HEADER.unpack(body[:HIL_HEADER_SIZE])
    header = Header(version, opcode, flags, seq, length)
    if zlib.crc32(body) != crc:
        raise CrcError(f"CRC mismatch: frame says 0x{crc:08x}, computed 0x{zlib.crc32(body):08x}", header)
    payload = body[HIL_HEADER_SIZE:]
    if len(payload) != length:
        raise FrameError(f"header announces {length} payload bytes, frame carries {len(payload)}")
    return Frame(header, payload)


BANNER_PREFIX = b"HIL-"


class FrameReader:
    """Splits a byte stream into encoded frames at 0x00.

    Text the firmware prints outside frames (its one boot banner line, or noise after a reset) ends up at the
    start of a chunk; it is split off at its line end and kept in `text_lines`, so a banner never costs a frame.
    """

    def __init__(self, max_frame_bytes: int = 1 << 17) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes
        self.text_lines: list[str] = []
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Return the encoded frames completed by `data`, each without its delimiter."""
        frames: list[bytes] = []
        start = 0
        while True:
            idx = data.find(HIL_FRAME_DELIMITER, start)
            if idx < 0:
                self._buf += data[start:]
                if len(self._buf) > self._max:
                    self.dropped_bytes += len(self._buf)
                    self._buf.clear()
                return frames
            self._buf += data[start:idx]
            start = idx + 1
            chunk = self._split_text(bytes(self._buf))
            self._buf.clear()
            if chunk:
                frames.append(chunk)

    def _split_text(self, chunk: bytes) -> bytes:
        while chunk.startswith(BANNER_PREFIX) or chunk.startswith(b"\r") or chunk.startswith(b"\n"):
            end = chunk.find(b"\n")
            if end < 0:
                break
            line = chunk[: end + 1].decode("ascii", errors="replace").strip()
            if line:
                self.text_lines.append(line)
            chunk = chunk[end + 1 :]
        return chunk
