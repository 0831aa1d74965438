"""The payloads the protocol carries: one :class:`Layout` per fixed-size payload (the only place in the harness a
layout is written; docs/protocol.md's "Payload layouts" table states the same, and tests/unit/test_protocol_doc.py
holds the two equal), and the dataclasses the client returns.

A layout is a list of (field, type) pairs, types ``u8 u16 u32 u64 f32``, little-endian and packed; a field named
``0`` is reserved (sent as zero, ignored on receipt). Each layout with a ``HIL_*_SIZE`` in ``hil_proto.h`` is
checked against it when this module is imported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.link import LinkError
from harness.proto import wire

if TYPE_CHECKING:
    from harness.models.esn import EsnConfig

TYPES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "f32": "f"}
RESERVED = "0"


@dataclass(frozen=True)
class Layout:
    """One payload: ``name`` as its row in docs/protocol.md, ``fields`` in wire order, ``size`` the hil_proto.h
    constant it must equal (None where the header has none), ``then`` what follows the fixed part, if anything."""

    name: str
    fields: tuple[tuple[str, str], ...]
    size: str | None = None
    then: str = ""

    def __post_init__(self) -> None:
        unknown = [t for _, t in self.fields if t not in TYPES]
        if unknown:
            raise ValueError(f"layout {self.name}: types {unknown} are not among {', '.join(TYPES)}")
        if self.size is not None and self.struct.size != getattr(wire, self.size):
            raise ValueError(
                f"layout {self.name} adds up to {self.struct.size} bytes but {self.size} is {getattr(wire, self.size)}:"
                " hil_proto.h and harness/proto/messages.py disagree"
            )

    @cached_property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(TYPES[t] for _, t in self.fields))

    @property
    def names(self) -> tuple[str, ...]:
        """The fields that carry something, in wire order."""
        return tuple(n for n, _ in self.fields if n != RESERVED)

    def pack(self, **values: Any) -> bytes:
        """The payload's fixed part from its fields by name; reserved fields are zero."""
        missing = set(self.names) - set(values)
        extra = set(values) - set(self.names)
        if missing or extra:
            raise TypeError(f"{self.name}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
        return self.struct.pack(*(0 if n == RESERVED else values[n] for n, _ in self.fields))

    def unpack(self, payload: bytes, *, exact: bool = True) -> dict[str, Any]:
        """Fields by name from ``payload`` (its fixed part when ``exact`` is False); a wrong length is a LinkError
        that says what arrived and what was expected."""
        n = self.struct.size
        if (len(payload) != n) if exact else (len(payload) < n):
            expected = f"{n}" if exact else f"at least {n}"
            raise LinkError(f"{self.name} has {len(payload)} bytes, expected {expected}")
        values = self.struct.unpack_from(payload)
        return {name: v for (name, _), v in zip(self.fields, values, strict=True) if name != RESERVED}


def _layout(name: str, spec: str, size: str | None = None, then: str = "") -> Layout:
    """``spec`` as the docs write it: "u32 a, b, u16 c, 0" -- a type applies to the names after it."""
    fields, current = [], None
    for item in (s.strip() for s in spec.split(",")):
        parts = item.split()
        if len(parts) == 2:
            current, item = parts
        if current is None:
            raise ValueError(f"layout {name}: {item!r} has no type before it")
        fields.append((item, current))
    return Layout(name, tuple(fields), size, then)


HELLO = _layout(
    "HELLO answer",
    "u8 proto_version, fw_major, fw_minor, fw_patch, u32 capabilities, counter_hz, u8 counter_kind, 0, "
    "u16 max_payload, u32 ram_bytes, flash_bytes, arena_bytes, rx_buffer_bytes, u64 build_id",
    "HIL_HELLO_FIXED_SIZE",
    then="three strings, each u8 length + ASCII: board, cpu, firmware name",
)
STATS = _layout(
    "STATS answer",
    "u32 arena_bytes, arena_used, arena_high_water, stack_bytes, stack_high_water, frames_rx, frames_tx, "
    "crc_errors, duplicates, u64 last_ticks",
    "HIL_STATS_SIZE",
)
ERROR = _layout("error answer", "u8 code, reason_len", then="reason_len ASCII bytes, no terminator")
RESET = _layout("RESET request", "u8 mode")
BEGIN = _layout("MODEL_BEGIN / INPUT_BEGIN request", "u32 total_bytes")
CHUNK = _layout("MODEL_CHUNK / INPUT_CHUNK request", "u32 offset", then="the bytes at that offset")
COMMIT = _layout("MODEL_COMMIT request", "u32 crc32")
MODEL_INFO = _layout(
    "model info answer",
    "u32 model_bytes, scratch_bytes, arena_used, u16 input_size, output_size, u8 kind, n_layers, u16 0",
    "HIL_MODEL_INFO_SIZE",
)
INFER_REQUEST = _layout(
    "INFER request",
    "u16 steps, u8 infer_flags, 0",
    then="inputs[steps][input_size] in the kind's element type, or none",
)
INFER_ANSWER = _layout(
    "INFER answer",
    "u64 ticks, u16 steps_out, output_size",
    "HIL_INFER_HEADER_SIZE",
    then="outputs[steps_out][output_size] in the kind's element type",
)
TRACE_REQUEST = _layout(
    "TRACE request",
    "u16 steps, u8 layer, 0, u32 offset, count",
    "HIL_TRACE_REQUEST_SIZE",
    then="f32 inputs[steps][input_size], or none (the staged input's first steps)",
)
INFER_FORWARD_TAIL = _layout(
    "INFER FORWARD answer tail",
    "u64 peer_ticks, elapsed_ticks, u32 peer_tx_bytes, peer_rx_bytes",
    "HIL_INFER_FORWARD_TAIL_SIZE",
)
TRAIN_CONFIG = _layout(
    "TRAIN_CONFIG request",
    "u8 optimizer, loss, u16 steps, max_batch, u8 flags, 0, f32 lr, beta1, beta2, eps, clip",
    "HIL_TRAIN_CONFIG_SIZE",
)
TRAIN_INFO = _layout(
    "train info answer",
    "u32 needed_bytes, free_bytes, n_params, scratch_bytes, state_bytes",
    "HIL_TRAIN_INFO_SIZE",
)
TRAIN_BATCH = _layout(
    "TRAIN_STEP / EVAL request",
    "u16 batch, u8 0, u8 0",
    then="f32 inputs[batch][steps][input_size], f32 targets[batch][output_size], or none",
)
TRAIN_STEP = _layout("train step answer", "f32 loss, grad_norm, u64 ticks, u32 steps_done", "HIL_TRAIN_STEP_SIZE")
TENSOR_READ = _layout("TENSOR_READ request", "u8 tensor, 0, u16 0, u32 offset, count")
TENSOR_WRITE = _layout(
    "TENSOR_WRITE request", "u8 tensor, 0, u16 0, u32 offset", "HIL_TENSOR_REQ_SIZE", then="f32 values"
)
ESN_CONFIG = _layout(
    "ESN_CONFIG request",
    "u8 flags, feedback, readout_input, 0, u16 n_inputs, n_reservoir, n_outputs, power_iterations, "
    "u32 seed, washout, window, max_windows, "
    "f32 density, spectral_radius, input_scale, leak_rate, ridge, feedback_scale",
    "HIL_ESN_CONFIG_SIZE",
)
ESN_INFO = _layout(
    "ESN info answer",
    "u32 needed_bytes, free_bytes, weights_bytes, state_bytes, normal_bytes, calib_bytes, u16 n_features, 0, "
    "f32 rho_estimate, u64 ticks",
    "HIL_ESN_INFO_SIZE",
)
ESN_STREAM = _layout(
    "ESN_FEED / ESN_SCORE request",
    "u8 flags, 0, u16 n, u32 position",
    "HIL_ESN_STREAM_HEADER_SIZE",
    then="f32 u[n][K], then f32 y[n][O] with STREAM_TARGETS",
)
ESN_FEED = _layout("ESN_FEED answer", "u32 samples_fitted, position, u64 ticks, update_ticks", "HIL_ESN_FEED_SIZE")
ESN_FIT = _layout("ESN_FIT answer", "u32 samples_fitted, u16 n_features, n_outputs, u64 ticks", "HIL_ESN_FIT_SIZE")
ESN_SCORE = _layout(
    "ESN_SCORE answer",
    "u32 position, u16 n_windows, 0, u32 windows_scored, windows_flagged, u64 ticks, update_ticks",
    "HIL_ESN_SCORE_HEADER_SIZE",
    then="f32 mse[n_windows], u8 flag[n_windows]",
)
ESN_THRESHOLD = _layout(
    "ESN_THRESHOLD answer", "f32 threshold, median, std, u32 n_windows, u64 ticks", "HIL_ESN_THRESHOLD_SIZE"
)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        HELLO, STATS, ERROR, RESET, BEGIN, CHUNK, COMMIT, MODEL_INFO, INFER_REQUEST, INFER_ANSWER, INFER_FORWARD_TAIL,
        TRACE_REQUEST,
        TRAIN_CONFIG,
        TRAIN_INFO, TRAIN_BATCH, TRAIN_STEP, TENSOR_READ, TENSOR_WRITE, ESN_CONFIG, ESN_INFO, ESN_STREAM, ESN_FEED,
        ESN_FIT, ESN_SCORE, ESN_THRESHOLD,
    )
}  # fmt: skip


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
        f = HELLO.unpack(payload, exact=False)
        strings: list[str] = []
        pos = HELLO.struct.size
        for _ in range(3):
            if pos >= len(payload):
                raise LinkError("HELLO answer ends before its board/cpu/firmware strings")
            n = payload[pos]
            strings.append(payload[pos + 1 : pos + 1 + n].decode("ascii", errors="replace"))
            pos += 1 + n
        version = f"{f['fw_major']}.{f['fw_minor']}.{f['fw_patch']}"
        fixed = {k: v for k, v in f.items() if not k.startswith("fw_")}
        return cls(fw_version=version, **fixed, board=strings[0], cpu=strings[1], fw_name=strings[2])

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
        return cls(**STATS.unpack(payload))


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
        return cls(**MODEL_INFO.unpack(payload))

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
    forward: ForwardFigures | None = None  # an INFER forwarded to a peer board: what the peer and the link did


@dataclass(frozen=True)
class ForwardFigures:
    """The tail of a forwarded INFER's answer: the peer's ticks summed over the steps, this board's ticks from the
    first step to the peer's last answer, and the bytes the board-to-board link carried each way."""

    peer_ticks: int
    elapsed_ticks: int
    peer_tx_bytes: int
    peer_rx_bytes: int


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
        return TRAIN_CONFIG.pack(optimizer=opt, loss=loss, steps=self.steps, max_batch=self.max_batch, flags=flags,
                                 lr=self.lr, beta1=b1, beta2=self.beta2, eps=self.eps, clip=self.clip)  # fmt: skip


@dataclass(frozen=True)
class TrainInfo:
    needed_bytes: int
    free_bytes: int
    n_params: int
    scratch_bytes: int
    state_bytes: int

    @classmethod
    def parse(cls, payload: bytes) -> TrainInfo:
        return cls(**TRAIN_INFO.unpack(payload))

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
        return cls(**TRAIN_STEP.unpack(payload))


# ---- Echo State Network (ESN_* opcodes; docs/protocol.md "Echo State Network") ----------------------------------


def esn_config_payload(cfg: EsnConfig, *, window: int, max_windows: int, query: bool = False) -> bytes:
    """ESN_CONFIG's request: ``cfg`` (harness.models.esn.EsnConfig, the mirror of hil_esn_config_t) plus the runtime's
    window (samples per scored window) and max_windows (calibration MSEs the device keeps for the threshold)."""
    flags = wire.HIL_ESN_CONFIG_QUERY if query else 0
    return ESN_CONFIG.pack(
        flags=flags, feedback=int(cfg.feedback), readout_input=int(cfg.readout_input), n_inputs=cfg.n_inputs,
        n_reservoir=cfg.n_reservoir, n_outputs=cfg.n_outputs, power_iterations=cfg.power_iterations, seed=cfg.seed,
        washout=cfg.washout, window=window, max_windows=max_windows, density=cfg.density,
        spectral_radius=cfg.spectral_radius, input_scale=cfg.input_scale, leak_rate=cfg.leak_rate, ridge=cfg.ridge,
        feedback_scale=cfg.feedback_scale,
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
        return cls(**ESN_INFO.unpack(payload))

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
        return cls(**ESN_THRESHOLD.unpack(payload))


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
