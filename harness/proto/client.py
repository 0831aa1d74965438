"""Client(link): speaks the wire protocol to one board over any pyserial port.

Requests carry sequence numbers; several may be in flight (a window) so the link stays busy while the device
works. A request is sent again when its answer is late or the device NAKs it; the device answers a repeated
sequence number from its stored response, so a retransmitted request is never executed twice.
"""

from __future__ import annotations

import logging
import random
import struct
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import serial

from harness.link import LinkError
from harness.proto import wire
from harness.proto.wire import Status

if TYPE_CHECKING:
    from harness.models.esn import EsnConfig

log = logging.getLogger("harness.wire")


class DeviceError(RuntimeError):
    """The device refused a request; `status` is its hil_status_t, `reason` its own words."""

    def __init__(self, opcode: int, status: int, reason: str) -> None:
        self.opcode = opcode
        self.status = Status(status) if status in Status._value2member_map_ else status
        self.reason = reason
        name = self.status.name if isinstance(self.status, Status) else f"code {status}"
        super().__init__(f"device refused {wire.OPCODE_NAMES.get(opcode, hex(opcode))}: {name} ({status}): {reason}")


class LinkTimeout(LinkError):
    """No valid answer arrived in time, after every retransmission."""


class BuildMismatch(RuntimeError):
    """The firmware answering is not the image the harness built and flashed."""


@dataclass(frozen=True)
class Hello:
    proto_version: int
    fw_version: str
    capabilities: int
    counter_hz: int
    counter_kind: int
    max_payload: int
    ram_bytes: int
    flash_bytes: int
    arena_bytes: int
    rx_buffer_bytes: int
    build_id: int
    board: str
    cpu: str
    fw_name: str

    @classmethod
    def parse(cls, payload: bytes) -> Hello:
        if len(payload) < wire.HIL_HELLO_FIXED_SIZE:
            raise LinkError(f"HELLO answer has {len(payload)} bytes, expected at least {wire.HIL_HELLO_FIXED_SIZE}")
        (proto, major, minor, patch, caps, hz, kind, _pad, max_payload, ram, flash, arena, rxbuf, build_id) = (
            struct.unpack_from("<BBBBIIBBHIIIIQ", payload)
        )
        strings: list[str] = []
        pos = wire.HIL_HELLO_FIXED_SIZE
        for _ in range(3):
            if pos >= len(payload):
                raise LinkError("HELLO answer ends before its board/cpu/firmware strings")
            n = payload[pos]
            strings.append(payload[pos + 1 : pos + 1 + n].decode("ascii", errors="replace"))
            pos += 1 + n
        version = f"{major}.{minor}.{patch}"
        return cls(proto, version, caps, hz, kind, max_payload, ram, flash, arena, rxbuf, build_id, *strings)

    @property
    def capability_names(self) -> set[str]:
        return {name for name, bit in wire.CAPABILITY_NAMES.items() if self.capabilities & bit}

    @property
    def counter_unit(self) -> str:
        return {
            wire.HIL_COUNTER_WALL_NS: "ns",
            wire.HIL_COUNTER_CPU_CYCLES: "cycles",
            wire.HIL_COUNTER_INSTRUCTIONS: "instructions",
        }.get(self.counter_kind, "ticks")

    def ticks_to_counter_unit(self, ticks: int) -> float:
        """The one conversion from device ticks to what they measure (ns, cycles or QEMU instructions)."""
        if self.counter_kind in (wire.HIL_COUNTER_WALL_NS, wire.HIL_COUNTER_INSTRUCTIONS):
            # both count virtual or real nanoseconds scaled by counter_hz; 1 GHz means one tick per unit
            return ticks if self.counter_hz == 1_000_000_000 else ticks * 1e9 / self.counter_hz
        return float(ticks)

    def ticks_to_seconds(self, ticks: int) -> float:
        return ticks / self.counter_hz


@dataclass(frozen=True)
class Stats:
    arena_bytes: int
    arena_used: int
    arena_high_water: int
    stack_bytes: int
    stack_high_water: int
    frames_rx: int
    frames_tx: int
    crc_errors: int
    duplicates: int
    last_ticks: int

    @classmethod
    def parse(cls, payload: bytes) -> Stats:
        if len(payload) != wire.HIL_STATS_SIZE:
            raise LinkError(f"STATS answer has {len(payload)} bytes, expected {wire.HIL_STATS_SIZE}")
        return cls(*struct.unpack("<9IQ", payload))


@dataclass(frozen=True)
class ModelInfo:
    model_bytes: int
    scratch_bytes: int
    arena_used: int
    input_size: int
    output_size: int
    kind: int
    n_layers: int

    @classmethod
    def parse(cls, payload: bytes) -> ModelInfo:
        if len(payload) != wire.HIL_MODEL_INFO_SIZE:
            raise LinkError(f"model info has {len(payload)} bytes, expected {wire.HIL_MODEL_INFO_SIZE}")
        model_bytes, scratch, used, inp, out, kind, layers, _ = struct.unpack("<IIIHHBBH", payload)
        return cls(model_bytes, scratch, used, inp, out, kind, layers)

    @property
    def model_kind(self) -> wire.ModelKind:
        """What INFER carries for this model: element type on the wire, sequence or one vector."""
        try:
            return wire.MODEL_KINDS[self.kind]
        except KeyError:
            raise LinkError(
                f"the device bound a model of kind 0x{self.kind:02x}, which this harness does not know "
                "(harness/proto/wire.py MODEL_KINDS): update the harness to the firmware's hil_proto.h"
            ) from None

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.model_kind.dtype)


@dataclass(frozen=True)
class InferResult:
    outputs: np.ndarray  # [output_size] or [steps, output_size]; float32, or int8/int16 for integer kinds
    ticks: int


@dataclass(frozen=True)
class TrainConfig:
    """What TRAIN_CONFIG carries; the semantics are PyTorch's (harness.models.lstm_train mirrors them)."""

    optimizer: str = "adam"  # "sgd" or "adam"
    loss: str = "mse"  # "mse" or "ce"
    steps: int = 24  # sequence length
    max_batch: int = 1
    lr: float = 1e-3
    momentum: float = 0.0  # SGD
    beta1: float = 0.9  # Adam
    beta2: float = 0.999
    eps: float = 1e-8
    clip: float = 0.0  # max gradient norm; <= 0: no clipping

    def payload(self, *, query: bool = False) -> bytes:
        opt = {"sgd": wire.HIL_OPT_SGD, "adam": wire.HIL_OPT_ADAM}[self.optimizer]
        loss = {"mse": wire.HIL_LOSS_MSE, "ce": wire.HIL_LOSS_CE}[self.loss]
        b1 = self.momentum if self.optimizer == "sgd" else self.beta1
        flags = wire.HIL_TRAIN_QUERY if query else 0
        return struct.pack("<BBHHBB5f", opt, loss, self.steps, self.max_batch, flags, 0, self.lr, b1, self.beta2,
                           self.eps, self.clip)  # fmt: skip


@dataclass(frozen=True)
class TrainInfo:
    needed_bytes: int
    free_bytes: int
    n_params: int
    scratch_bytes: int
    state_bytes: int

    @classmethod
    def parse(cls, payload: bytes) -> TrainInfo:
        if len(payload) != wire.HIL_TRAIN_INFO_SIZE:
            raise LinkError(f"train info has {len(payload)} bytes, expected {wire.HIL_TRAIN_INFO_SIZE}")
        return cls(*struct.unpack("<5I", payload))

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.free_bytes


@dataclass(frozen=True)
class StepResult:
    loss: float
    grad_norm: float  # before clipping; 0 for evaluate()
    ticks: int
    steps_done: int

    @classmethod
    def parse(cls, payload: bytes) -> StepResult:
        if len(payload) != wire.HIL_TRAIN_STEP_SIZE:
            raise LinkError(f"train step answer has {len(payload)} bytes, expected {wire.HIL_TRAIN_STEP_SIZE}")
        loss, norm, ticks, done = struct.unpack("<ffQI", payload)
        return cls(loss, norm, ticks, done)


# ---- Echo State Network (ESN_* opcodes; docs/protocol.md "Echo State Network") ----------------------------------


def esn_config_payload(cfg: EsnConfig, *, window: int, max_windows: int, query: bool = False) -> bytes:
    """ESN_CONFIG's request: ``cfg`` (harness.models.esn.EsnConfig, the mirror of hil_esn_config_t) plus the runtime's
    window (samples per scored window) and max_windows (calibration MSEs the device keeps for the threshold)."""
    flags = wire.HIL_ESN_CONFIG_QUERY if query else 0
    return struct.pack(
        "<BBBBHHHHIIII6f", flags, int(cfg.feedback), int(cfg.readout_input), 0, cfg.n_inputs, cfg.n_reservoir,
        cfg.n_outputs, cfg.power_iterations, cfg.seed, cfg.washout, window, max_windows, cfg.density,
        cfg.spectral_radius, cfg.input_scale, cfg.leak_rate, cfg.ridge, cfg.feedback_scale,
    )  # fmt: skip


@dataclass(frozen=True)
class EsnInfo:
    """ESN_CONFIG's answer: arena bytes the configuration needs (by region) and has; the reservoir's estimate."""

    needed_bytes: int
    free_bytes: int  # the whole arena: ESN_CONFIG drops any LSTM model
    weights_bytes: int
    state_bytes: int
    normal_bytes: int  # A and B: independent of the number of training samples
    calib_bytes: int  # max_windows calibration MSEs
    n_features: int  # D
    rho_estimate: float  # power-iteration spectral radius of W_res before scaling; 0 for a query
    ticks: int  # drawing the reservoir and the power iteration

    @classmethod
    def parse(cls, payload: bytes) -> EsnInfo:
        if len(payload) != wire.HIL_ESN_INFO_SIZE:
            raise LinkError(f"ESN info has {len(payload)} bytes, expected {wire.HIL_ESN_INFO_SIZE}")
        needed, free, weights, state, normal, calib, d, _pad, rho, ticks = struct.unpack("<6IHHfQ", payload)
        return cls(needed, free, weights, state, normal, calib, d, rho, ticks)

    @property
    def fits(self) -> bool:
        return self.needed_bytes <= self.free_bytes


@dataclass(frozen=True)
class EsnFeedResult:
    """ESN_FEED over one stream (all its chunks): counters from the last answer, ticks summed over chunks."""

    samples_fitted: int  # since ESN_CONFIG, washout samples excluded
    position: int  # samples of the stream so far
    ticks: int
    update_ticks: int  # the state updates alone
    chunks: int


@dataclass(frozen=True)
class EsnFitResult:
    samples_fitted: int
    n_features: int
    n_outputs: int
    ticks: int


@dataclass(frozen=True)
class EsnScoreResult:
    """ESN_SCORE over one stream: every completed window's MSE and flag, in order."""

    mse: np.ndarray  # float32 [windows]
    flags: np.ndarray  # bool [windows]; all False while calibrating or before ESN_THRESHOLD
    position: int
    windows_scored: int  # device counters since ESN_FIT (calibration windows not counted)
    windows_flagged: int
    ticks: int
    update_ticks: int
    chunks: int


@dataclass(frozen=True)
class EsnThreshold:
    threshold: float  # median + std, rounded to float32
    median: float
    std: float
    n_windows: int
    ticks: int

    @classmethod
    def parse(cls, payload: bytes) -> EsnThreshold:
        if len(payload) != wire.HIL_ESN_THRESHOLD_SIZE:
            raise LinkError(f"ESN threshold answer has {len(payload)} bytes, expected {wire.HIL_ESN_THRESHOLD_SIZE}")
        return cls(*struct.unpack("<fffIQ", payload))


TENSORS = {
    "params": wire.HIL_TENSOR_PARAMS,
    "grads": wire.HIL_TENSOR_GRADS,
    "opt_m": wire.HIL_TENSOR_OPT_M,
    "opt_v": wire.HIL_TENSOR_OPT_V,
    "esn_w_in": wire.HIL_TENSOR_ESN_W_IN,
    "esn_w_res": wire.HIL_TENSOR_ESN_W_RES,
    "esn_w_back": wire.HIL_TENSOR_ESN_W_BACK,
    "esn_w_out": wire.HIL_TENSOR_ESN_W_OUT,
    "esn_state": wire.HIL_TENSOR_ESN_STATE,
    "esn_threshold": wire.HIL_TENSOR_ESN_THRESHOLD,
    "esn_a": wire.HIL_TENSOR_ESN_A,
}


@dataclass
class LinkCounters:
    frames_sent: int = 0
    frames_received: int = 0
    retransmits: int = 0
    naks: int = 0
    stale: int = 0
    bad_frames: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


@dataclass
class _Pending:
    opcode: int
    seq: int
    encoded: bytes
    deadline: float
    attempts: int = 1


@dataclass
class Client:
    """Protocol client over an open pyserial port (ours from open_link, or pytest-embedded's dut.serial.proc)."""

    port: serial.SerialBase
    timeout: float = 3.0  # seconds an ordinary answer may take, per attempt
    attempts: int = 4  # sends of one request before giving up
    window: int = 4  # requests in flight while streaming chunks
    hello_info: Hello | None = None
    # the model this client last bound on the device: INFER encodes inputs and decodes outputs in its element type
    model: ModelInfo | None = None
    counters: LinkCounters = field(default_factory=LinkCounters)
    banner_lines: list[str] = field(default_factory=list)
    # the ESN this client configured (inputs, outputs, window) and where its stream is: chunks carry positions
    _esn_shape: tuple[int, int, int] | None = field(default=None, init=False, repr=False)
    _esn_position: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._reader = wire.FrameReader()
        self._seq = random.randrange(0x10000)  # a new session never collides with the device's stored seq

    # ---- requests -------------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send(self, encoded: bytes) -> None:
        try:
            self.port.write(encoded)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"writing to {self.port.port} failed: {exc}; the board or its link went away") from exc
        self.counters.frames_sent += 1
        self.counters.bytes_sent += len(encoded)

    def _read_frames(self) -> list[wire.Frame]:
        try:
            data = self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"reading from {self.port.port} failed: {exc}; the board or its link went away") from exc
        if not data:
            return []
        self.counters.bytes_received += len(data)
        frames: list[wire.Frame] = []
        for chunk in self._reader.feed(data):
            try:
                frames.append(wire.decode_frame(chunk))
            except wire.CrcError as exc:
                self.counters.bad_frames += 1
                log.warning("dropped a frame from the device: %s", exc)
            except wire.FrameError as exc:
                self.counters.bad_frames += 1
                log.warning("dropped %d undecodable bytes from the device: %s", len(chunk), exc)
        while self._reader.text_lines:
            line = self._reader.text_lines.pop(0)
            self.banner_lines.append(line)
            log.info("device text: %s", line)
        return frames

    def transact(
        self, requests: Iterable[tuple[int, bytes]], *, timeout: float | None = None, window: int | None = None
    ) -> list[wire.Frame]:
        """Send requests keeping up to `window` in flight; answers in request order, errors raised as they come."""
        timeout = self.timeout if timeout is None else timeout
        window = self.window if window is None else max(1, window)
        queue = list(requests)
        answers: dict[int, wire.Frame] = {}
        pending: dict[int, _Pending] = {}
        order: list[int] = []
        next_index = 0
        while next_index < len(queue) or pending:
            while next_index < len(queue) and len(pending) < window:
                opcode, payload = queue[next_index]
                next_index += 1
                seq = self._next_seq()
                encoded = wire.encode_frame(opcode, seq, payload)
                pending[seq] = _Pending(opcode, seq, encoded, time.monotonic() + timeout)
                order.append(seq)
                log.debug("-> %s seq=%d len=%d", wire.OPCODE_NAMES.get(opcode, hex(opcode)), seq, len(payload))
                self._send(encoded)
            for frame in self._read_frames():
                self._accept(frame, pending, answers)
            now = time.monotonic()
            for p in list(pending.values()):
                if now >= p.deadline:
                    self._retransmit(p, timeout, why="no answer")
        return [answers[seq] for seq in order]

    def _accept(self, frame: wire.Frame, pending: dict[int, _Pending], answers: dict[int, wire.Frame]) -> None:
        h = frame.header
        self.counters.frames_received += 1
        log.debug("<- %s", frame.describe())
        p = pending.get(h.seq)
        if p is None or h.opcode != p.opcode:
            self.counters.stale += 1  # an answer to a retransmission already satisfied, or to an old session
            return
        if h.is_nak:
            self.counters.naks += 1
            self._retransmit(p, p.deadline - time.monotonic(), why="NAK")
            return
        if not h.is_response:
            self.counters.stale += 1
            return
        del pending[h.seq]
        if h.is_error:
            code = frame.payload[0] if frame.payload else -1
            n = frame.payload[1] if len(frame.payload) > 1 else 0
            reason = frame.payload[2 : 2 + n].decode("ascii", errors="replace")
            raise DeviceError(h.opcode, code, reason)
        answers[h.seq] = frame

    def _retransmit(self, p: _Pending, timeout: float, *, why: str) -> None:
        if p.attempts >= self.attempts:
            raise LinkTimeout(
                f"{why} for {wire.OPCODE_NAMES.get(p.opcode, hex(p.opcode))} seq={p.seq} after {p.attempts} "
                f"attempts on {self.port.port}; {self._diagnosis()}"
            )
        p.attempts += 1
        p.deadline = time.monotonic() + max(timeout, self.timeout)
        self.counters.retransmits += 1
        log.debug("retransmit seq=%d (%s)", p.seq, why)
        self._send(p.encoded)

    def _diagnosis(self) -> str:
        c = self.counters
        return (
            f"sent {c.frames_sent} frames / {c.bytes_sent} B, received {c.frames_received} frames / "
            f"{c.bytes_received} B ({c.bad_frames} undecodable, {c.naks} NAKs); device text: "
            f"{self.banner_lines[-3:] or 'none'}. Check that the board is running and the link URL is right."
        )

    def send_raw(self, data: bytes) -> None:
        """Put bytes on the link as they are: for tests of the protocol itself (corrupt frames, duplicates)."""
        self._send(data)

    def wait_frame(self, seq: int, *, timeout: float | None = None) -> wire.Frame:
        """The next frame from the device with sequence number `seq` (response, error or NAK), undecoded errors
        not raised: for tests of the protocol itself."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            for frame in self._read_frames():
                self.counters.frames_received += 1
                if frame.header.seq == seq:
                    return frame
        raise LinkTimeout(f"no frame with seq={seq} within {timeout} s on {self.port.port}; {self._diagnosis()}")

    def next_seq(self) -> int:
        """Claim a sequence number for a hand-made frame."""
        return self._next_seq()

    def request(self, opcode: int, payload: bytes = b"", *, timeout: float | None = None) -> bytes:
        return self.transact([(opcode, payload)], timeout=timeout, window=1)[0].payload

    # ---- operations -----------------------------------------------------------------------------------------
    def hello(self, *, within: float = 20.0, expect_build_id: int | None = None) -> Hello:
        """HELLO, repeated until answered (the device may still be booting); checks the build id if given."""
        deadline = time.monotonic() + within
        while True:
            try:
                payload = self.transact([(wire.HIL_OP_HELLO, b"")], timeout=min(1.0, self.timeout), window=1)
                break
            except LinkTimeout:
                if time.monotonic() >= deadline:
                    raise
        info = Hello.parse(payload[0].payload)
        if info.proto_version != wire.HIL_PROTO_VERSION:
            raise LinkError(
                f"firmware speaks protocol {info.proto_version}, this harness {wire.HIL_PROTO_VERSION}: "
                "rebuild the firmware from this checkout"
            )
        if expect_build_id is not None and info.build_id != expect_build_id:
            raise BuildMismatch(
                f"board answers with build id {info.build_id:016x}, but the harness flashed {expect_build_id:016x}: "
                "the board runs another image (stale flash, wrong port, or another bench's board)"
            )
        self.hello_info = info
        return info

    @property
    def max_payload(self) -> int:
        if self.hello_info is None:
            self.hello()
        assert self.hello_info is not None
        return self.hello_info.max_payload

    def stats(self) -> Stats:
        return Stats.parse(self.request(wire.HIL_OP_STATS))

    def reset(self, *, reboot: bool = False) -> None:
        self.request(wire.HIL_OP_RESET, bytes([wire.HIL_RESET_REBOOT if reboot else wire.HIL_RESET_SOFT]))
        if not reboot:
            self.model = None  # a reboot may leave an arena model for MODEL_RECOVER; a soft reset drops it

    def _stream(self, begin_op: int, chunk_op: int, data: bytes) -> None:
        chunk = self.max_payload - 4
        requests = [(begin_op, struct.pack("<I", len(data)))]
        self.transact(requests, window=1)
        chunks = [(chunk_op, struct.pack("<I", off) + data[off : off + chunk]) for off in range(0, len(data), chunk)]
        self.transact(chunks)

    def _bound(self, payload: bytes) -> ModelInfo:
        self.model = None  # whatever was bound before is gone, whether or not the new one parses
        self.model = ModelInfo.parse(payload)
        return self.model

    def load_model(self, blob: bytes) -> ModelInfo:
        """Stream a model blob (any kind, hil_proto.h HIL_MODEL_*) into the device's arena in chunks, then commit it
        (the device checks its CRC and binds it by the kind in its header)."""
        self.model = None
        self._stream(wire.HIL_OP_MODEL_BEGIN, wire.HIL_OP_MODEL_CHUNK, blob)
        return self._bound(self.request(wire.HIL_OP_MODEL_COMMIT, struct.pack("<I", zlib.crc32(blob))))

    def use_builtin_model(self) -> ModelInfo:
        self.model = None
        return self._bound(self.request(wire.HIL_OP_MODEL_BUILTIN))

    def recover_model(self) -> ModelInfo:
        """After a reset: rebind the arena model it left, if its training journal says the parameters are whole."""
        self.model = None
        return self._bound(self.request(wire.HIL_OP_MODEL_RECOVER))

    def _encode_input(self, x: np.ndarray) -> tuple[np.ndarray, wire.ModelKind]:
        """x in the element type of the bound model's kind (float32 when this client bound none: the LSTM_F32 of
        older sessions). Integer kinds take integers the host has quantized (harness.models.quant.quantize_input):
        a float array, or a value outside the type's range, is refused here rather than silently cast."""
        kind = self.model.model_kind if self.model is not None else wire.MODEL_KINDS[wire.HIL_MODEL_LSTM_F32]
        arr = np.asarray(x)
        if not kind.is_float:
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(
                    f"the device runs a {kind.name} model, which takes {np.dtype(kind.dtype).name} inputs; got "
                    f"{arr.dtype}: quantize them first (harness.models.quant.quantize_input)"
                )
            limits = np.iinfo(np.dtype(kind.dtype))
            if arr.size and (arr.min() < limits.min or arr.max() > limits.max):
                raise ValueError(
                    f"inputs span [{arr.min()}, {arr.max()}], outside {np.dtype(kind.dtype).name} of the {kind.name} "
                    "model"
                )
        return np.ascontiguousarray(arr, dtype=kind.dtype), kind

    def infer(self, x: np.ndarray, *, all_steps: bool = False, timeout: float = 120.0) -> InferResult:
        """Run the loaded model over one sequence x[steps, input_size], or one vector x[input_size] (steps = 1, what
        an MLP takes); outputs and the device's tick count. Values cross the wire in the element type of the kind
        this client loaded (ModelInfo.kind): float32, or int8/int16 already quantized by the host; outputs come back
        in it ([output_size] for one vector)."""
        x, kind = self._encode_input(x)
        vector = x.ndim == 1
        if vector:
            x = x[np.newaxis]
        if x.ndim != 2:
            raise ValueError(
                f"infer takes one sequence shaped [steps, input_size] or one vector [input_size], got shape {x.shape}"
            )
        steps = x.shape[0]
        data = x.tobytes()
        flags = wire.HIL_INFER_ALL_STEPS if all_steps else 0
        head = struct.pack("<HBB", steps, flags, 0)
        if len(head) + len(data) <= self.max_payload:
            payload = head + data
        else:
            self._stream(wire.HIL_OP_INPUT_BEGIN, wire.HIL_OP_INPUT_CHUNK, data)
            payload = head
        answer = self.request(wire.HIL_OP_INFER, payload, timeout=timeout)
        return self._parse_infer(answer, all_steps and not vector, kind.dtype)

    def infer_many(
        self, xs: Iterable[np.ndarray], *, all_steps: bool = False, in_flight: int | None = None, timeout: float = 120.0
    ) -> list[InferResult]:
        """infer() over many inputs with up to `in_flight` INFER requests on the link at once (default: the client's
        window), so the link stays busy while the device computes: on QEMU a round trip costs ~45 ms whatever its
        size. Each input must fit one frame inline. The price: a request arriving while the device computes adds its
        receive interrupts to that answer's tick count, so measure ticks with in_flight=1."""
        encoded = [self._encode_input(x) for x in xs]
        requests, shapes = [], []
        flags = wire.HIL_INFER_ALL_STEPS if all_steps else 0
        for x, kind in encoded:
            vector = x.ndim == 1
            x2 = x[np.newaxis] if vector else x
            if x2.ndim != 2:
                raise ValueError(f"infer_many takes [steps, input_size] or [input_size] inputs, got shape {x.shape}")
            payload = struct.pack("<HBB", x2.shape[0], flags, 0) + x2.tobytes()
            if len(payload) > self.max_payload:
                raise ValueError(
                    f"an input of {len(payload)} B does not fit one {self.max_payload} B frame; infer() stages it"
                )
            requests.append((wire.HIL_OP_INFER, payload))
            shapes.append((all_steps and not vector, kind.dtype))
        frames = self.transact(requests, timeout=timeout, window=in_flight)
        return [self._parse_infer(f.payload, a, d) for f, (a, d) in zip(frames, shapes, strict=True)]

    # ---- training ---------------------------------------------------------------------------------------------
    def train_config(self, config: TrainConfig, *, query: bool = False) -> TrainInfo:
        """Reserve gradient, optimizer state and scratch for `config` (or, with query, only say what it needs)."""
        return TrainInfo.parse(self.request(wire.HIL_OP_TRAIN_CONFIG, config.payload(query=query)))

    def _batch_request(self, opcode: int, x: np.ndarray, target: np.ndarray, timeout: float) -> StepResult:
        x = np.ascontiguousarray(x, dtype="<f4")
        if x.ndim != 3:
            raise ValueError(f"a batch is shaped [batch, steps, input_size], got {x.shape}")
        t = np.ascontiguousarray(np.asarray(target, dtype="<f4").reshape(x.shape[0], -1))
        data = x.tobytes() + t.tobytes()
        head = struct.pack("<HBB", x.shape[0], 0, 0)
        if len(head) + len(data) <= self.max_payload:
            payload = head + data
        else:
            self._stream(wire.HIL_OP_INPUT_BEGIN, wire.HIL_OP_INPUT_CHUNK, data)
            payload = head
        return StepResult.parse(self.request(opcode, payload, timeout=timeout))

    def train_step(self, x: np.ndarray, target: np.ndarray, *, timeout: float = 300.0) -> StepResult:
        """One optimizer step on a batch x[batch, steps, input] with targets [batch, outputs] (or class [batch])."""
        return self._batch_request(wire.HIL_OP_TRAIN_STEP, x, target, timeout)

    def evaluate(self, x: np.ndarray, target: np.ndarray, *, timeout: float = 300.0) -> StepResult:
        """The mean loss on a batch, nothing updated."""
        return self._batch_request(wire.HIL_OP_EVAL, x, target, timeout)

    def read_tensor(self, name: str, count: int, offset: int = 0) -> np.ndarray:
        """`count` floats of a flat tensor ("params", "grads", "opt_m", "opt_v"), read in chunks."""
        per = self.max_payload // 4
        parts = []
        for off in range(offset, offset + count, per):
            n = min(per, offset + count - off)
            answer = self.request(wire.HIL_OP_TENSOR_READ, struct.pack("<BBHII", TENSORS[name], 0, 0, off, n))
            parts.append(np.frombuffer(answer, dtype="<f4"))
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)

    def write_tensor(self, name: str, values: np.ndarray, offset: int = 0) -> None:
        data = np.ascontiguousarray(values, dtype="<f4")
        per = (self.max_payload - wire.HIL_TENSOR_REQ_SIZE) // 4
        tensor = TENSORS[name]
        requests = [
            (wire.HIL_OP_TENSOR_WRITE, struct.pack("<BBHI", tensor, 0, 0, offset + i) + data[i : i + per].tobytes())
            for i in range(0, data.size, per)
        ]
        self.transact(requests)

    # ---- Echo State Network -----------------------------------------------------------------------------------
    def esn_config(self, cfg: EsnConfig, *, window: int, max_windows: int = 0, query: bool = False) -> EsnInfo:
        """Build the ESN on the device: reservoir from cfg.seed, A, B, state and max_windows calibration slots (or,
        with query, only say what that needs). Drops any LSTM model; refused up front when it does not fit."""
        payload = esn_config_payload(cfg, window=window, max_windows=max_windows, query=query)
        info = EsnInfo.parse(self.request(wire.HIL_OP_ESN_CONFIG, payload, timeout=120.0))
        self._esn_shape = (cfg.n_inputs, cfg.n_outputs, window)
        return info

    def _esn_chunks(
        self, opcode: int, u: np.ndarray, y: np.ndarray | None, begin: bool, flags: int, answer_bytes: int
    ) -> list[tuple[int, bytes]]:
        """One stream's samples as FEED/SCORE requests that fit a frame each way, with their stream positions."""
        if self._esn_shape is None:
            raise RuntimeError("no ESN configured through this client: call esn_config() first")
        k, o, window = self._esn_shape
        u = np.ascontiguousarray(np.asarray(u, dtype="<f4").reshape(len(u), -1))
        if u.shape[1] != k:
            raise ValueError(f"u has {u.shape[1]} channels; the ESN has {k} inputs")
        width = k
        if y is not None:
            y = np.ascontiguousarray(np.asarray(y, dtype="<f4").reshape(len(y), -1))
            if y.shape != (u.shape[0], o):
                raise ValueError(f"y has shape {y.shape}; expected [{u.shape[0]}, {o}]")
            flags |= wire.HIL_ESN_STREAM_TARGETS
            width += o
        per = min((self.max_payload - wire.HIL_ESN_STREAM_HEADER_SIZE) // (4 * width), 0xFFFF)
        if answer_bytes:  # SCORE: at most per/window + 1 windows end in a chunk, each 5 B of the answer
            windows = (self.max_payload - wire.HIL_ESN_SCORE_HEADER_SIZE) // answer_bytes
            per = min(per, (windows - 1) * window)
        start = 0 if begin else self._esn_position
        requests = []
        for off in range(0, u.shape[0], per):
            n = min(per, u.shape[0] - off)
            f = flags | (wire.HIL_ESN_STREAM_BEGIN if begin and off == 0 else 0)
            data = u[off : off + n].tobytes() + (b"" if y is None else y[off : off + n].tobytes())
            requests.append((opcode, struct.pack("<BBHI", f, 0, n, start + off) + data))
        return requests

    def esn_feed(
        self, u: np.ndarray, y: np.ndarray | None = None, *, begin: bool = True, in_flight: int | None = None
    ) -> EsnFeedResult:
        """Add a stream of training samples u[T, K] (targets y[T, O]; None: y = u, the autoencoder) to the device's
        normal equations; begin=False continues the stream the last call left. Chunks carry their stream position,
        so the device refuses one out of order (a chunk lost and resent while later ones were in flight) instead of
        learning from a shuffled stream; in_flight=1 also keeps the device's counter free of receive interrupts."""
        requests = self._esn_chunks(wire.HIL_OP_ESN_FEED, u, y, begin, 0, 0)
        answers = [f.payload for f in self.transact(requests, timeout=60.0, window=in_flight)]
        for a in answers:
            if len(a) != wire.HIL_ESN_FEED_SIZE:
                raise LinkError(f"ESN_FEED answer has {len(a)} bytes, expected {wire.HIL_ESN_FEED_SIZE}")
        parts = [struct.unpack("<IIQQ", a) for a in answers]
        self._esn_position = parts[-1][1]
        return EsnFeedResult(parts[-1][0], parts[-1][1], sum(p[2] for p in parts), sum(p[3] for p in parts),
                             len(parts))  # fmt: skip

    def esn_fit(self) -> EsnFitResult:
        """Solve (A + ridge I) W_out^T = B on the device (Cholesky in place)."""
        answer = self.request(wire.HIL_OP_ESN_FIT, timeout=120.0)
        if len(answer) != wire.HIL_ESN_FIT_SIZE:
            raise LinkError(f"ESN_FIT answer has {len(answer)} bytes, expected {wire.HIL_ESN_FIT_SIZE}")
        return EsnFitResult(*struct.unpack("<IHHQ", answer))

    def esn_score(
        self,
        u: np.ndarray,
        y: np.ndarray | None = None,
        *,
        begin: bool = True,
        calibrate: bool = False,
        in_flight: int | None = None,
    ) -> EsnScoreResult:
        """Per-window reconstruction MSE (or prediction MSE against y) and anomaly flag of a stream u[T, K].
        calibrate=True scores training data for esn_threshold(): the device keeps those MSEs and flags nothing."""
        flags = wire.HIL_ESN_STREAM_CALIBRATE if calibrate else 0
        requests = self._esn_chunks(wire.HIL_OP_ESN_SCORE, u, y, begin, flags, 5)
        mse: list[np.ndarray] = []
        flag: list[np.ndarray] = []
        parts = []
        head = wire.HIL_ESN_SCORE_HEADER_SIZE
        for frame in self.transact(requests, timeout=60.0, window=in_flight):
            a = frame.payload
            position, count, _pad, scored, flagged, ticks, update_ticks = struct.unpack_from("<IHHIIQQ", a)
            if len(a) != head + 5 * count:
                raise LinkError(f"ESN_SCORE answer has {len(a)} bytes, its header announces {count} windows")
            mse.append(np.frombuffer(a, dtype="<f4", count=count, offset=head))
            flag.append(np.frombuffer(a, dtype=np.uint8, count=count, offset=head + 4 * count).astype(bool))
            parts.append((position, scored, flagged, ticks, update_ticks))
        self._esn_position = parts[-1][0]
        return EsnScoreResult(
            mse=np.concatenate(mse).astype(np.float32),
            flags=np.concatenate(flag),
            position=parts[-1][0],
            windows_scored=parts[-1][1],
            windows_flagged=parts[-1][2],
            ticks=sum(p[3] for p in parts),
            update_ticks=sum(p[4] for p in parts),
            chunks=len(parts),
        )

    def esn_threshold(self) -> EsnThreshold:
        """median + std of the calibration windows' MSEs, set as the device's anomaly threshold."""
        return EsnThreshold.parse(self.request(wire.HIL_OP_ESN_THRESHOLD, timeout=60.0))

    @staticmethod
    def _parse_infer(answer: bytes, all_steps: bool, dtype: str = "<f4") -> InferResult:
        if len(answer) < wire.HIL_INFER_HEADER_SIZE:
            raise LinkError(f"INFER answer has {len(answer)} bytes, shorter than its 12-byte header")
        ticks, steps_out, out_size = struct.unpack_from("<QHH", answer)
        elem = np.dtype(dtype)
        body = len(answer) - wire.HIL_INFER_HEADER_SIZE
        if body != steps_out * out_size * elem.itemsize:
            raise LinkError(
                f"INFER answer carries {body} B of outputs, header says {steps_out}x{out_size} {elem.name} values"
            )
        values = np.frombuffer(answer, dtype=elem, offset=wire.HIL_INFER_HEADER_SIZE)
        outputs = values.reshape(steps_out, out_size).astype(elem.newbyteorder("="))
        return InferResult(outputs if all_steps else outputs[0], ticks)
