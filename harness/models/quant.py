"""Quantized and compressed models: the integer reference of the ``hil_quant.h`` kernels, and the quantizer.

Reference
    Every function under "integer arithmetic" and "integer forward passes" reproduces the device bit for bit: the
    same int32/int64 accumulators, the single-rounding requantization ``(a * M + 2^(t-1)) >> t`` (round to nearest,
    ties toward +infinity), saturation, the 513-entry sigmoid/tanh tables with linear interpolation, the LSTM cell
    update in Q0.15 / Q3.12 / cell_frac. ``firmware/include/hil/hil_quant.h`` states the arithmetic;
    ``tests/kernels/test_quant_kernels.py`` compares kernel and reference for exact equality. Where the device's
    int32 accumulator would overflow, the reference raises ``OverflowError`` instead of guessing.

Quantizer (host side; floats are fine here, the device never sees them)
    Calibration runs the float model over a representative subset of the *training* data and takes each tensor's
    min/max (``percentile=None``, the default) or a symmetric percentile. Min/max is the default because these models
    are small and their activation ranges tight: clipping outliers buys little resolution and costs saturation on the
    very samples that carry a gesture. Activations: int8 affine (range widened to include 0, scale = range / 255,
    zero point rounded), int16 symmetric (scale = max|x| / 32767). Weights: int8 symmetric per output row
    (scale = max|row| / 127). Biases: int32 in units of ``scale_in * scale_w[row]``. Q m.n: the fewest integer bits
    that hold the tensor's max magnitude (``frac_bits``). k-means: 1-D Lloyd iterations from a deterministic init
    (linear over [min, max], Deep Compression's best; or k-means++ from a seeded generator), a fixed number of
    iterations, one codebook per weight matrix quantized to int8 with one scale.

Blobs: ``to_blob`` writes the layouts documented in ``hil_quant.h``. The accuracy and size of every variant of the
study models is ``harness.suites.quant.quant_report()``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from harness.models import dense, lstm
from harness.models.dense import MlpModel
from harness.models.lstm import LstmModel
from harness.proto.wire import (
    HIL_LSTM_MAX_LAYERS,
    HIL_MODEL_FORMAT_VERSION,
    HIL_MODEL_LSTM_Q15,
    HIL_MODEL_LSTM_S8,
    HIL_MODEL_LSTM_S16,
    HIL_MODEL_MAGIC,
    HIL_MODEL_MLP_Q15,
    HIL_MODEL_MLP_S8,
    HIL_MODEL_MLP_S16,
)

__all__ = [
    "GATE_FRAC",
    "HIL_MODEL_LSTM_Q15",
    "HIL_MODEL_LSTM_S8",
    "HIL_MODEL_LSTM_S16",
    "HIL_MODEL_MLP_Q15",
    "HIL_MODEL_MLP_S8",
    "HIL_MODEL_MLP_S16",
    "SIGMOID_TABLE",
    "TANH_TABLE",
    "AffineQuant",
    "Q15Dense",
    "Q15Lstm",
    "Q15LstmLayer",
    "Q15Mlp",
    "QDense",
    "QLstm",
    "QLstmLayer",
    "QMlp",
    "QWeights",
    "QuantizationError",
    "activation_table",
    "affine_quant",
    "calibration_range",
    "cluster_weights",
    "dense_q15",
    "dense_s8",
    "dense_s16",
    "frac_bits",
    "kmeans_1d",
    "lstm_forward",
    "mlp_forward",
    "pack_indices",
    "predict",
    "quantize_lstm",
    "quantize_mlp",
    "quantize_multiplier",
    "quantize_weights_per_channel",
    "requantize_q15",
    "requantize_q31",
    "rshift_round",
    "sigmoid_s16",
    "symmetric_quant",
    "tanh_s16",
    "to_blob",
    "to_fixed",
    "unpack_indices",
]

# The model kinds are the protocol's (hil_proto.h, mirrored in harness/proto/wire.py, imported above); the rest is
# mirrored from firmware/include/hil/hil_quant.h (tests/unit/test_quant_reference.py compares them).
GATE_FRAC = 12
MAX_IN = 16384  # HIL_QUANT_MAX_IN
MAX_BIAS = 1 << 30  # HIL_QUANT_MAX_BIAS
LUT_ENTRIES = 513
Q31_SHIFT_MIN, Q31_SHIFT_MAX, Q15_SHIFT_MAX = -31, 30, 14
INDEX_BITS = (0, 2, 4, 8)
# Compression factor against float32 -> bits per clustered weight: 2^(32 / factor) centroids.
TARGET_FACTORS = {4: 8, 8: 4, 16: 2}

_HEADER = struct.Struct(f"<IHBBHH{HIL_LSTM_MAX_LAYERS}HB3x")
_I16_MIN, _I16_MAX = -32768, 32767
_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

Kind = Literal["s8", "s16"]


class QuantizationError(ValueError):
    """A model or range the integer formats cannot represent (a bias beyond int32, a shift out of range...)."""


# ---------------------------------------------------------------------------------------- integer arithmetic


def _i64(v: object) -> np.ndarray:
    return np.asarray(v, dtype=np.int64)


def rshift_round(v: object, n: object) -> np.ndarray:
    """``v / 2^n`` rounded to nearest, ties toward +infinity: ``(v + 2^(n-1)) >> n``; ``n = 0`` returns ``v``."""
    v, n = _i64(v), _i64(n)
    half = np.where(n > 0, np.left_shift(np.int64(1), np.maximum(n - 1, 0)), 0)
    return np.right_shift(v + half, n)


def requantize_q31(acc: object, multiplier: object, shift: object) -> np.ndarray:
    """``acc * M * 2^(shift - 31)`` with one rounding, as ``hils_requant_q31`` (int32 ``acc``)."""
    t = np.clip(31 - _i64(shift), 1, 62)
    return rshift_round(_i64(acc) * _i64(multiplier), t)


def requantize_q15(acc: object, multiplier: object, shift: object) -> np.ndarray:
    """The s16 form: int64 ``acc`` times the multiplier reduced to Q15, ``(M + 2^15) >> 16``, then ``15 - shift``."""
    m15 = (_i64(multiplier) + 32768) >> 16
    t = np.clip(15 - _i64(shift), 1, 62)
    return rshift_round(_i64(acc) * m15, t)


def sat16(v: object) -> np.ndarray:
    return np.clip(_i64(v), _I16_MIN, _I16_MAX)


def _check_int32(acc: np.ndarray, what: str) -> None:
    if acc.size and (acc.min() < _I32_MIN or acc.max() > _I32_MAX):
        raise OverflowError(
            f"{what}: accumulator reaches {int(np.abs(acc).max())}, beyond int32 where the device would wrap; "
            f"the model breaks the limits of hil_quant.h (inputs per row <= {MAX_IN}, |bias| <= 2^30)"
        )


def activation_table(name: Literal["sigmoid", "tanh"]) -> np.ndarray:
    """The 513-entry int16 table of the device: ``f(-8 + k/32)`` in Q0.15, rounded half up, clamped to int16."""
    x = (np.arange(LUT_ENTRIES) - 256) / 32.0
    if name == "sigmoid":
        f = 1.0 / (1.0 + np.exp(-x))
    elif name == "tanh":
        f = np.tanh(x)
    else:
        raise ValueError(f"no table for {name!r}; the device has 'sigmoid' and 'tanh'")
    return np.clip(np.floor(f * 32768.0 + 0.5), _I16_MIN, _I16_MAX).astype(np.int16)


SIGMOID_TABLE = activation_table("sigmoid")
TANH_TABLE = activation_table("tanh")


def _lut(table: np.ndarray, x: object) -> np.ndarray:
    u = _i64(x) + 32768
    k = u >> 7
    r = u & 127
    a = table.astype(np.int64)[k]
    b = table.astype(np.int64)[k + 1]
    return a + (((b - a) * r + 64) >> 7)


def sigmoid_s16(x: object) -> np.ndarray:
    """Q3.12 -> Q0.15 sigmoid of ``hil_sigmoid_s16``."""
    return _lut(SIGMOID_TABLE, x)


def tanh_s16(x: object) -> np.ndarray:
    """Q3.12 -> Q0.15 tanh of ``hil_tanh_s16``."""
    return _lut(TANH_TABLE, x)


def cell_to_q3_12(c: object, cell_frac: int) -> np.ndarray:
    if cell_frac >= GATE_FRAC:
        return rshift_round(c, cell_frac - GATE_FRAC)
    return sat16(_i64(c) * (1 << (GATE_FRAC - cell_frac)))


def _cell_step(gates: np.ndarray, c: np.ndarray, cell_frac: int) -> tuple[np.ndarray, np.ndarray]:
    """Saturated Q3.12 gates [B, 4H] and cell [B, H] -> new cell and ``o * tanh(c)`` in Q0.30 (hils_quant_math.h)."""
    n_h = c.shape[1]
    i = sigmoid_s16(gates[:, :n_h])
    f = sigmoid_s16(gates[:, n_h : 2 * n_h])
    g = tanh_s16(gates[:, 2 * n_h : 3 * n_h])
    o = sigmoid_s16(gates[:, 3 * n_h :])
    c_new = sat16(rshift_round(f * c, 15) + rshift_round(i * g, 30 - cell_frac))
    return c_new, o * tanh_s16(cell_to_q3_12(c_new, cell_frac))


# ------------------------------------------------------------------------------------------ quantizer primitives


@dataclass(frozen=True)
class AffineQuant:
    """``real = scale * (q - zero_point)`` on ``bits``-bit signed integers (host side: inputs and outputs)."""

    scale: float
    zero_point: int
    bits: int = 8

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def quantize(self, x: object) -> np.ndarray:
        q = np.rint(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, self.qmin, self.qmax).astype(np.int8 if self.bits == 8 else np.int16)

    def dequantize(self, q: object) -> np.ndarray:
        return self.scale * (np.asarray(q, dtype=np.float64) - self.zero_point)


def calibration_range(values: object, percentile: float | None = None) -> tuple[float, float]:
    """``(min, max)`` of ``values``, or the ``100 - p`` and ``p`` percentiles."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise QuantizationError("no calibration values: pass a non-empty representative subset")
    if percentile is None:
        return float(v.min()), float(v.max())
    if not 50 < percentile <= 100:
        raise ValueError(f"percentile={percentile}; use a value in (50, 100], e.g. 99.99")
    lo, hi = np.percentile(v, [100 - percentile, percentile])
    return float(lo), float(hi)


def affine_quant(lo: float, hi: float, bits: int = 8) -> AffineQuant:
    """Asymmetric parameters for ``[lo, hi]``, widened to include 0 so a real zero (ReLU, padding, the initial state)
    has an exact code."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    levels = (1 << bits) - 1
    scale = (hi - lo) / levels if hi > lo else 1.0
    qmin = -(1 << (bits - 1))
    zp = int(np.clip(round(qmin - lo / scale), qmin, qmin + levels))
    return AffineQuant(scale=scale, zero_point=zp, bits=bits)


def symmetric_quant(absmax: float, bits: int = 16) -> AffineQuant:
    qmax = (1 << (bits - 1)) - 1
    return AffineQuant(scale=absmax / qmax if absmax > 0 else 1.0, zero_point=0, bits=bits)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``(M, shift)`` with ``real ~= M * 2^(shift - 31)``, ``M`` in ``[2^30, 2^31)`` (or ``M = 0`` for 0). Factors
    below ``2^-32`` keep ``shift = -31`` and a smaller ``M``, which the arithmetic takes as well."""
    if not (math.isfinite(real) and real >= 0):
        raise QuantizationError(f"requantization factor {real} is not a finite number >= 0")
    if real == 0:
        return 0, 0
    mant, exp = math.frexp(real)  # real = mant * 2^exp, mant in [0.5, 1)
    m = round(mant * (1 << 31))
    if m == 1 << 31:
        m, exp = m // 2, exp + 1
    if exp < Q31_SHIFT_MIN:
        return round(real * 2.0 ** (31 - Q31_SHIFT_MIN)), Q31_SHIFT_MIN
    return int(m), int(exp)


def _multipliers(factors: np.ndarray, max_shift: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(f)) for f in np.ravel(factors)]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    if shift.size and shift.max() > max_shift:
        raise QuantizationError(
            f"{what}: requantization factor {float(np.max(factors)):.3g} needs shift {int(shift.max())} > {max_shift}; "
            "the output range is far narrower than the input's: recalibrate on more representative data"
        )
    return mult, shift.astype(np.int8)


def quantize_weights_per_channel(w: object) -> tuple[np.ndarray, np.ndarray]:
    """int8 ``[-127, 127]`` values and one scale per row (``max|row| / 127``; 1 for an all-zero row)."""
    w = np.asarray(w, dtype=np.float64)
    absmax = np.abs(w).max(axis=1)
    scales = np.where(absmax > 0, absmax / 127.0, 1.0)
    q = np.clip(np.rint(w / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales


def frac_bits(absmax: float, bits: int = 16) -> int:
    """Fraction bits ``n`` of the Q m.n format (m + n = bits - 1) with the fewest integer bits ``m`` such that
    ``absmax < 2^m``."""
    if not math.isfinite(absmax):
        raise QuantizationError(f"range {absmax} is not finite")
    m = 0 if absmax <= 0 else max(0, math.floor(math.log2(absmax)) + 1)
    if m > bits - 1:
        raise QuantizationError(f"|x| up to {absmax:.3g} needs {m} integer bits; a {bits}-bit Q format has {bits - 1}")
    return bits - 1 - m


def to_fixed(x: object, frac: int) -> np.ndarray:
    """``x`` in Q(15 - frac).frac, rounded to nearest (ties to even, host side) and saturated to int16."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 2.0**frac), _I16_MIN, _I16_MAX).astype(np.int16)


def kmeans_1d(
    values: object,
    k: int,
    *,
    iterations: int = 30,
    init: Literal["linear", "kmeans++"] = "linear",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means on scalars: ``(centroids [k] ascending, labels)``. Deterministic: the init is linear over
    ``[min, max]`` or k-means++ drawn from ``default_rng(seed)``, and exactly ``iterations`` updates run. A centroid
    left without members keeps its place (it costs a codebook entry, nothing else)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or k < 1:
        raise ValueError(f"k-means needs values and k >= 1; got {v.size} values, k={k}")
    if init == "linear":
        c = np.linspace(v.min(), v.max(), k)
    elif init == "kmeans++":
        rng = np.random.default_rng(seed)
        c = np.empty(k)
        c[0] = v[rng.integers(v.size)]
        for j in range(1, k):
            d2 = np.min((v[:, None] - c[None, :j]) ** 2, axis=1)
            total = d2.sum()
            c[j] = v[rng.choice(v.size, p=d2 / total)] if total > 0 else v[rng.integers(v.size)]
    else:
        raise ValueError(f"init={init!r}; use 'linear' or 'kmeans++'")

    def assign(cent: np.ndarray) -> np.ndarray:
        # Sorted centroids in 1-D: the nearest one is found by the midpoints between neighbours.
        return np.searchsorted((cent[1:] + cent[:-1]) / 2, v, side="right")

    for _ in range(iterations):
        c = np.sort(c)
        labels = assign(c)
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=v, minlength=k)
        c = np.where(counts > 0, sums / np.maximum(counts, 1), c)
    c = np.sort(c)
    return c, assign(c)


def pack_indices(indices: object, bits: int) -> np.ndarray:
    """``[rows, cols]`` indices -> ``[rows, ceil(cols * bits / 8)]`` bytes, LSB first, each row starting on a byte."""
    idx = np.asarray(indices)
    if bits not in (2, 4, 8) or idx.ndim != 2:
        raise ValueError(f"pack_indices takes [rows, cols] indices and bits 2, 4 or 8; got {idx.shape}, bits={bits}")
    if idx.size and (idx.min() < 0 or idx.max() >= 1 << bits):
        raise ValueError(f"indices must be in [0, {1 << bits}) for {bits}-bit packing")
    per = 8 // bits
    rows, cols = idx.shape
    row_bytes = -(-cols * bits // 8)
    padded = np.zeros((rows, row_bytes * per), dtype=np.uint32)
    padded[:, :cols] = idx
    shifts = (np.arange(per) * bits).astype(np.uint32)
    return (padded.reshape(rows, row_bytes, per) << shifts).sum(axis=2).astype(np.uint8)


def unpack_indices(packed: object, bits: int, cols: int) -> np.ndarray:
    data = np.asarray(packed, dtype=np.uint8)
    per = 8 // bits
    shifts = (np.arange(per) * bits).astype(np.uint8)
    out = (data[:, :, None] >> shifts) & ((1 << bits) - 1)
    return out.reshape(data.shape[0], -1)[:, :cols].astype(np.uint8)


# ----------------------------------------------------------------------------------------------- model types


@dataclass
class QWeights:
    """An int8 weight matrix ``[rows, cols]``: plain, or clustered (``values == codebook[indices]``)."""

    values: np.ndarray
    codebook: np.ndarray | None = None
    indices: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.int8)
        if self.values.ndim != 2:
            raise ValueError(f"weights must be [rows, cols], got {self.values.shape}")
        if (self.codebook is None) != (self.indices is None):
            raise ValueError("clustered weights need both codebook and indices")
        if self.codebook is not None:
            self.codebook = np.asarray(self.codebook, dtype=np.int8)
            self.indices = np.asarray(self.indices, dtype=np.uint8)
            if len(self.codebook) not in (4, 16, 256) or self.indices.shape != self.values.shape:
                raise ValueError("a codebook has 4, 16 or 256 entries and the indices the matrix's shape")

    @classmethod
    def clustered(cls, codebook: np.ndarray, indices: np.ndarray) -> QWeights:
        return cls(values=np.asarray(codebook, np.int8)[indices], codebook=codebook, indices=indices)

    @property
    def bits(self) -> int:
        return 0 if self.codebook is None else len(self.codebook).bit_length() - 1

    def to_bytes(self) -> bytes:
        if self.codebook is None:
            return _pad(self.values.tobytes())
        return _pad(self.codebook.tobytes() + pack_indices(self.indices, self.bits).tobytes())


@dataclass
class QDense:
    """A dense layer with int8 weights for s8 or s16 activations (``hil_qdense_t``)."""

    weights: QWeights
    bias: np.ndarray  # int32 [rows]
    multiplier: np.ndarray  # int32 [rows]
    shift: np.ndarray  # int8 [rows]
    in_zp: int = 0
    out_zp: int = 0
    act_min: int = -128
    act_max: int = 127

    @property
    def rows(self) -> int:
        return int(self.weights.values.shape[0])

    @property
    def cols(self) -> int:
        return int(self.weights.values.shape[1])

    def to_bytes(self) -> bytes:
        head = struct.pack("<hhhh", self.in_zp, self.out_zp, self.act_min, self.act_max)
        rq = _requant_bytes(self.bias, self.multiplier, self.shift)
        return head + rq + self.weights.to_bytes()


@dataclass
class QMlp:
    kind: Kind
    layers: list[QDense]
    input: AffineQuant
    output: AffineQuant


@dataclass
class Q15Dense:
    """``y = sat16(rshift(W x + bias * 2^bias_shift, out_shift))``, then ReLU if ``relu``."""

    w: np.ndarray  # int16 [rows, cols]
    bias: np.ndarray  # int16 [rows]
    bias_shift: int
    out_shift: int
    relu: bool = False

    def to_bytes(self) -> bytes:
        head = struct.pack("<BBBx", self.bias_shift, self.out_shift, int(self.relu))
        return head + _pad(_le(self.w, "<i2")) + _pad(_le(self.bias, "<i2"))


@dataclass
class Q15Mlp:
    layers: list[Q15Dense]
    in_frac: int
    out_frac: int


@dataclass
class QLstmLayer:
    """One LSTM layer with int8 weights for s8 or s16 activations (``hil_qlstm_layer_t``)."""

    w_ih: QWeights
    w_hh: QWeights
    bias: np.ndarray  # int32 [4H]
    ih_multiplier: np.ndarray
    ih_shift: np.ndarray
    hh_multiplier: np.ndarray
    hh_shift: np.ndarray
    x_zp: int
    h_zp: int
    cell_frac: int
    h_multiplier: int
    h_shift: int

    @property
    def hidden_size(self) -> int:
        return int(self.w_hh.values.shape[1])

    def to_bytes(self) -> bytes:
        head = struct.pack("<hhBxbxi", self.x_zp, self.h_zp, self.cell_frac, self.h_shift, self.h_multiplier)
        ih = _requant_bytes(self.bias, self.ih_multiplier, self.ih_shift) + self.w_ih.to_bytes()
        hh = _requant_bytes(None, self.hh_multiplier, self.hh_shift) + self.w_hh.to_bytes()
        return head + ih + hh


@dataclass
class QLstm:
    kind: Kind
    layers: list[QLstmLayer]
    head: QDense
    input: AffineQuant
    output: AffineQuant


@dataclass
class Q15LstmLayer:
    w_ih: np.ndarray  # int16 [4H, I]
    w_hh: np.ndarray  # int16 [4H, H]
    bias: np.ndarray  # int16 [4H]
    ih_align: int
    hh_align: int
    bias_align: int
    gate_shift: int
    cell_frac: int
    h_frac: int

    @property
    def hidden_size(self) -> int:
        return int(self.w_hh.shape[1])

    def to_bytes(self) -> bytes:
        head = struct.pack(
            "<BBBBBBxx", self.ih_align, self.hh_align, self.bias_align, self.gate_shift, self.cell_frac, self.h_frac
        )
        return head + _pad(_le(self.w_ih, "<i2")) + _pad(_le(self.w_hh, "<i2")) + _pad(_le(self.bias, "<i2"))


@dataclass
class Q15Lstm:
    layers: list[Q15LstmLayer]
    head: Q15Dense
    in_frac: int
    out_frac: int


QModel = QMlp | Q15Mlp | QLstm | Q15Lstm


def _le(a: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(a, dtype=np.dtype(dtype)).tobytes()


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _requant_bytes(bias: np.ndarray | None, multiplier: np.ndarray, shift: np.ndarray) -> bytes:
    parts = [] if bias is None else [_le(bias, "<i4")]
    parts += [_le(multiplier, "<i4"), _pad(_le(shift, "i1"))]
    return b"".join(parts)


# ------------------------------------------------------------------------------------- integer forward passes


def dense_s8(d: QDense, x: object) -> np.ndarray:
    """``hil_dense_s8`` on ``x [B, cols]`` int8 -> ``[B, rows]`` int8."""
    acc = (_i64(x) - d.in_zp) @ d.weights.values.astype(np.int64).T + _i64(d.bias)
    _check_int32(acc, "dense_s8")
    y = requantize_q31(acc, d.multiplier, d.shift) + d.out_zp
    return np.clip(y, d.act_min, d.act_max).astype(np.int8)


def dense_s16(d: QDense, x: object) -> np.ndarray:
    """``hil_dense_s16`` on ``x [B, cols]`` int16 -> ``[B, rows]`` int16 (int64 accumulator, Q15 multiplier)."""
    acc = _i64(x) @ d.weights.values.astype(np.int64).T + _i64(d.bias)
    return np.clip(requantize_q15(acc, d.multiplier, d.shift), d.act_min, d.act_max).astype(np.int16)


def dense_q15(d: Q15Dense, x: object) -> np.ndarray:
    """``hil_dense_q15`` on ``x [B, cols]`` int16 -> ``[B, rows]`` int16."""
    acc = _i64(x) @ d.w.astype(np.int64).T + _i64(d.bias) * (1 << d.bias_shift)
    y = sat16(rshift_round(acc, d.out_shift))
    return (np.maximum(y, 0) if d.relu else y).astype(np.int16)


def mlp_forward(model: QMlp | Q15Mlp, xq: object) -> np.ndarray:
    """The integer network on quantized inputs ``[in]`` or ``[B, in]``; returns the integer outputs."""
    x = np.asarray(xq)
    single = x.ndim == 1
    h = x.reshape(1, -1) if single else x
    for layer in model.layers:
        if isinstance(model, Q15Mlp):
            h = dense_q15(layer, h)
        elif model.kind == "s8":
            h = dense_s8(layer, h)
        else:
            h = dense_s16(layer, h)
    return h[0] if single else h


def _qlstm_gates(layer: QLstmLayer, kind: Kind, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    w_ih = layer.w_ih.values.astype(np.int64).T
    w_hh = layer.w_hh.values.astype(np.int64).T
    if kind == "s8":
        a_ih = (x - layer.x_zp) @ w_ih + layer.bias
        a_hh = (h - layer.h_zp) @ w_hh
        _check_int32(a_ih, "lstm_s8 input gates")
        _check_int32(a_hh, "lstm_s8 recurrent gates")
        g = requantize_q31(a_ih, layer.ih_multiplier, layer.ih_shift)
        g += requantize_q31(a_hh, layer.hh_multiplier, layer.hh_shift)
    else:
        g = requantize_q15(x @ w_ih + layer.bias, layer.ih_multiplier, layer.ih_shift)
        g += requantize_q15(h @ w_hh, layer.hh_multiplier, layer.hh_shift)
    return sat16(g)


def lstm_forward(model: QLstm | Q15Lstm, xq: object, *, all_steps: bool = False) -> np.ndarray:
    """The integer LSTM on quantized inputs ``[T, I]`` or ``[B, T, I]`` from zero state: the head's integer output
    on the last step (``[O]`` / ``[B, O]``) or on every step (``[T, O]`` / ``[B, T, O]``)."""
    x_all = _i64(xq)
    single = x_all.ndim == 2
    if single:
        x_all = x_all[np.newaxis]
    n_batch, n_steps, _ = x_all.shape
    q15 = isinstance(model, Q15Lstm)
    h = [np.full((n_batch, layer.hidden_size), 0 if q15 else layer.h_zp, np.int64) for layer in model.layers]
    c = [np.zeros((n_batch, layer.hidden_size), np.int64) for layer in model.layers]
    outs = []
    for t in range(n_steps):
        inp = x_all[:, t, :]
        for k, layer in enumerate(model.layers):
            if q15:
                acc = (inp @ layer.w_ih.astype(np.int64).T) * (1 << layer.ih_align)
                acc += (h[k] @ layer.w_hh.astype(np.int64).T) * (1 << layer.hh_align)
                acc += _i64(layer.bias) * (1 << layer.bias_align)
                gates = sat16(rshift_round(acc, layer.gate_shift))
            else:
                gates = _qlstm_gates(layer, model.kind, inp, h[k])
            c[k], p = _cell_step(gates, c[k], layer.cell_frac)
            if q15:
                h[k] = sat16(rshift_round(p, 30 - layer.h_frac))
            elif model.kind == "s8":
                h[k] = np.clip(requantize_q31(p, layer.h_multiplier, layer.h_shift) + layer.h_zp, -128, 127)
            else:
                h[k] = sat16(requantize_q31(p, layer.h_multiplier, layer.h_shift))
            inp = h[k]
        if all_steps or t == n_steps - 1:
            if q15:
                outs.append(dense_q15(model.head, inp))
            elif model.kind == "s8":
                outs.append(dense_s8(model.head, inp))
            else:
                outs.append(dense_s16(model.head, inp))
    y = np.stack(outs, axis=1) if all_steps else outs[-1]
    return y[0] if single else y


def quantize_input(model: QModel, x: object) -> np.ndarray:
    if isinstance(model, Q15Mlp | Q15Lstm):
        return to_fixed(x, model.in_frac)
    return model.input.quantize(x)


def dequantize_output(model: QModel, y: object) -> np.ndarray:
    if isinstance(model, Q15Mlp | Q15Lstm):
        return np.asarray(y, dtype=np.float64) / 2.0**model.out_frac
    return model.output.dequantize(y)


def predict(model: QModel, x: object, *, all_steps: bool = False) -> np.ndarray:
    """Float in, float out through the integer reference: quantize, run, dequantize (what the host does around a
    device run)."""
    xq = quantize_input(model, x)
    yq = mlp_forward(model, xq) if isinstance(model, QMlp | Q15Mlp) else lstm_forward(model, xq, all_steps=all_steps)
    return dequantize_output(model, yq)


# ------------------------------------------------------------------------------------------------ quantizers


def cluster_weights(w: object, bits: int, *, iterations: int = 30, seed: int = 0) -> tuple[QWeights, np.ndarray]:
    """k-means with ``2^bits`` centroids over the whole matrix, centroids quantized to int8 with one scale.
    Returns the clustered weights and the (equal) scale of every row."""
    wf = np.asarray(w, dtype=np.float64)
    centroids, labels = kmeans_1d(wf, 1 << bits, iterations=iterations, seed=seed)
    absmax = float(np.abs(centroids).max())
    scale = absmax / 127.0 if absmax > 0 else 1.0
    codebook = np.clip(np.rint(centroids / scale), -127, 127).astype(np.int8)
    weights = QWeights.clustered(codebook, labels.reshape(wf.shape).astype(np.uint8))
    return weights, np.full(wf.shape[0], scale)


def _int8_weights(w: np.ndarray, bits: int) -> tuple[QWeights, np.ndarray]:
    if bits not in INDEX_BITS:
        raise ValueError(f"index_bits={bits}; use 0 (plain int8) or 2, 4, 8 (k-means)")
    if bits == 0:
        q, scales = quantize_weights_per_channel(w)
        return QWeights(q), scales
    return cluster_weights(w, bits)


def _int32_bias(b: np.ndarray, scales: np.ndarray, what: str) -> np.ndarray:
    q = np.rint(np.asarray(b, dtype=np.float64) / scales)
    if np.abs(q).max(initial=0) > MAX_BIAS:
        raise QuantizationError(
            f"{what}: bias {float(np.abs(b).max()):.3g} is {float(np.abs(q).max()):.3g} units of scale_in * scale_w, "
            "beyond the 2^30 the int32 accumulator allows; the input scale is too fine for this bias"
        )
    return q.astype(np.int32)


def _act_quant(kind: Kind, values: np.ndarray, percentile: float | None) -> AffineQuant:
    lo, hi = calibration_range(values, percentile)
    return affine_quant(lo, hi, 8) if kind == "s8" else symmetric_quant(max(abs(lo), abs(hi)), 16)


def _absmax(values: object, percentile: float | None) -> float:
    lo, hi = calibration_range(values, percentile)
    return max(abs(lo), abs(hi))


def quantize_mlp(
    model: MlpModel,
    calib_x: object,
    *,
    kind: Literal["s8", "s16", "q15"] = "s8",
    index_bits: int = 0,
    percentile: float | None = None,
) -> QMlp | Q15Mlp:
    """Post-training quantization of ``model`` calibrated on ``calib_x [N, in]`` (a representative training subset).
    ``index_bits`` 2/4/8 clusters every weight matrix with k-means (s8 and s16 only)."""
    x = np.asarray(calib_x, dtype=np.float64)
    outs = dense.layer_outputs(model, x, dtype=np.float64)
    last = len(model.layers) - 1
    if kind == "q15":
        if index_bits:
            raise QuantizationError("clustered weights are int8 codebooks: use kind 's8' or 's16' with index_bits")
        in_frac = frac_bits(_absmax(x, percentile))
        x_f = in_frac
        layers15 = []
        for k, (layer, y) in enumerate(zip(model.layers, outs, strict=True)):
            w_f = frac_bits(float(np.abs(layer.w).max()))
            acc_f = x_f + w_f
            b_f = min(frac_bits(float(np.abs(layer.b).max())), acc_f)
            out_f = min(frac_bits(_absmax(y, percentile)), acc_f)
            layers15.append(
                Q15Dense(to_fixed(layer.w, w_f), to_fixed(layer.b, b_f), acc_f - b_f, acc_f - out_f, relu=k < last)
            )
            x_f = out_f
        return Q15Mlp(layers15, in_frac=in_frac, out_frac=x_f)
    if kind not in ("s8", "s16"):
        raise ValueError(f"kind={kind!r}; use 's8', 's16' or 'q15'")
    in_q = _act_quant(kind, x, percentile)
    prev = in_q
    layers = []
    for k, (layer, y) in enumerate(zip(model.layers, outs, strict=True)):
        out_q = _act_quant(kind, y, percentile)
        weights, w_scales = _int8_weights(layer.w, index_bits)
        bias = _int32_bias(layer.b, prev.scale * w_scales, f"layer {k}")
        max_shift = Q31_SHIFT_MAX if kind == "s8" else Q15_SHIFT_MAX
        mult, shift = _multipliers(prev.scale * w_scales / out_q.scale, max_shift, f"layer {k}")
        # A fused ReLU is the activation range starting at the code of 0.
        act_min = (out_q.zero_point if kind == "s8" else 0) if k < last else out_q.qmin
        layers.append(QDense(weights, bias, mult, shift, prev.zero_point, out_q.zero_point, act_min, out_q.qmax))
        prev = out_q
    return QMlp(kind, layers, input=in_q, output=prev)


@dataclass
class _LstmTrace:
    x: list[np.ndarray] = field(default_factory=list)  # each layer's input
    h: list[np.ndarray] = field(default_factory=list)
    c_absmax: list[float] = field(default_factory=list)
    y: np.ndarray | None = None


def _lstm_trace(model: LstmModel, X: np.ndarray) -> _LstmTrace:
    """The float64 forward of ``lstm.forward``, keeping what calibration needs."""
    xs = np.asarray(X, dtype=np.float64)
    n_batch, n_steps, _ = xs.shape
    trace = _LstmTrace()
    inp_seq = xs
    for layer in model.layers:
        n_h = layer.hidden_size
        h = np.zeros((n_batch, n_h))
        c = np.zeros((n_batch, n_h))
        hs, cmax = [], 0.0
        bias = layer.b_ih.astype(np.float64) + layer.b_hh
        for t in range(n_steps):
            gates = inp_seq[:, t] @ layer.w_ih.T.astype(np.float64) + h @ layer.w_hh.T.astype(np.float64) + bias
            g_i, g_f, g_g, g_o = np.split(gates, 4, axis=1)
            c = lstm._sigmoid(g_f) * c + lstm._sigmoid(g_i) * np.tanh(g_g)
            h = lstm._sigmoid(g_o) * np.tanh(c)
            hs.append(h)
            cmax = max(cmax, float(np.abs(c).max()))
        trace.x.append(inp_seq)
        inp_seq = np.stack(hs, axis=1)
        trace.h.append(inp_seq)
        trace.c_absmax.append(cmax)
    trace.y = inp_seq @ model.dense_w.T.astype(np.float64) + model.dense_b
    return trace


def quantize_lstm(
    model: LstmModel,
    calib_x: object,
    *,
    kind: Literal["s8", "s16", "q15"] = "s8",
    index_bits: int = 0,
    percentile: float | None = None,
) -> QLstm | Q15Lstm:
    """Post-training quantization of an LSTM calibrated on ``calib_x [N, T, I]`` (every step of every window counts;
    the head's range is taken over every step too, so all-steps inference is covered)."""
    trace = _lstm_trace(model, np.asarray(calib_x, dtype=np.float64))
    if kind == "q15":
        if index_bits:
            raise QuantizationError("clustered weights are int8 codebooks: use kind 's8' or 's16' with index_bits")
        in_frac = frac_bits(_absmax(trace.x[0], percentile))
        x_f = in_frac
        layers15 = []
        for k, layer in enumerate(model.layers):
            h_f = frac_bits(_absmax(trace.h[k], percentile))
            wih_f = frac_bits(float(np.abs(layer.w_ih).max()))
            whh_f = frac_bits(float(np.abs(layer.w_hh).max()))
            bias = layer.b_ih.astype(np.float64) + layer.b_hh
            f = max(GATE_FRAC, x_f + wih_f, h_f + whh_f)
            b_f = min(frac_bits(float(np.abs(bias).max())), f)
            ih_align, hh_align = f - (x_f + wih_f), f - (h_f + whh_f)
            if max(ih_align, hh_align) > 16:
                raise QuantizationError(f"layer {k}: aligning the gate sums needs a shift of {max(ih_align, hh_align)}")
            layers15.append(
                Q15LstmLayer(
                    to_fixed(layer.w_ih, wih_f),
                    to_fixed(layer.w_hh, whh_f),
                    to_fixed(bias, b_f),
                    ih_align,
                    hh_align,
                    f - b_f,
                    f - GATE_FRAC,
                    frac_bits(trace.c_absmax[k]),  # c is int16 with a power-of-two scale
                    h_f,
                )
            )
            x_f = h_f
        w_f = frac_bits(float(np.abs(model.dense_w).max()))
        acc_f = x_f + w_f
        b_f = min(frac_bits(float(np.abs(model.dense_b).max())), acc_f)
        out_f = min(frac_bits(_absmax(trace.y, percentile)), acc_f)
        head = Q15Dense(to_fixed(model.dense_w, w_f), to_fixed(model.dense_b, b_f), acc_f - b_f, acc_f - out_f)
        return Q15Lstm(layers15, head, in_frac=in_frac, out_frac=out_f)
    if kind not in ("s8", "s16"):
        raise ValueError(f"kind={kind!r}; use 's8', 's16' or 'q15'")
    max_shift = Q31_SHIFT_MAX if kind == "s8" else Q15_SHIFT_MAX
    in_q = _act_quant(kind, trace.x[0], percentile)
    x_q = in_q
    layers = []
    for k, layer in enumerate(model.layers):
        h_q = _act_quant(kind, trace.h[k], percentile)
        w_ih, s_ih = _int8_weights(layer.w_ih, index_bits)
        w_hh, s_hh = _int8_weights(layer.w_hh, index_bits)
        bias = _int32_bias(layer.b_ih.astype(np.float64) + layer.b_hh, x_q.scale * s_ih, f"layer {k}")
        gate_unit = 2.0**-GATE_FRAC
        ih_m, ih_s = _multipliers(x_q.scale * s_ih / gate_unit, max_shift, f"layer {k} input gates")
        hh_m, hh_s = _multipliers(h_q.scale * s_hh / gate_unit, max_shift, f"layer {k} recurrent gates")
        h_m, h_s = quantize_multiplier(2.0**-30 / h_q.scale)  # o * tanh(c) is Q0.30; always the Q31 form
        layers.append(
            QLstmLayer(
                w_ih,
                w_hh,
                bias,
                ih_m,
                ih_s,
                hh_m,
                hh_s,
                x_q.zero_point,
                h_q.zero_point,
                frac_bits(trace.c_absmax[k]),  # c is int16 with a power-of-two scale
                h_m,
                h_s,
            )
        )
        x_q = h_q
    out_q = _act_quant(kind, trace.y, percentile)
    w, s_w = _int8_weights(model.dense_w, index_bits)
    head = QDense(
        w,
        _int32_bias(model.dense_b, x_q.scale * s_w, "head"),
        *_multipliers(x_q.scale * s_w / out_q.scale, max_shift, "head"),
        x_q.zero_point,
        out_q.zero_point,
        out_q.qmin,
        out_q.qmax,
    )
    return QLstm(kind, layers, head, input=in_q, output=out_q)


# ------------------------------------------------------------------------------------------------------ blobs

_KINDS = {
    ("mlp", "s8"): HIL_MODEL_MLP_S8,
    ("mlp", "s16"): HIL_MODEL_MLP_S16,
    ("lstm", "s8"): HIL_MODEL_LSTM_S8,
    ("lstm", "s16"): HIL_MODEL_LSTM_S16,
}


def _header(kind: int, input_size: int, output_size: int, sizes: Sequence[int], bits: int) -> bytes:
    if not 1 <= len(sizes) <= HIL_LSTM_MAX_LAYERS:
        raise QuantizationError(f"the device takes 1..{HIL_LSTM_MAX_LAYERS} layers, got {len(sizes)}")
    if max(input_size, output_size, *sizes) > MAX_IN:
        raise QuantizationError(f"sizes {input_size}, {list(sizes)}, {output_size} exceed HIL_QUANT_MAX_IN {MAX_IN}")
    slots = [*sizes, *([0] * (HIL_LSTM_MAX_LAYERS - len(sizes)))]
    return _HEADER.pack(
        HIL_MODEL_MAGIC, HIL_MODEL_FORMAT_VERSION, kind, len(sizes), input_size, output_size, *slots, bits
    )


def _common_bits(weights: Sequence[QWeights]) -> int:
    bits = {w.bits for w in weights}
    if len(bits) != 1:
        raise QuantizationError(f"one blob has one weight format; these matrices mix index bits {sorted(bits)}")
    return bits.pop()


def to_blob(model: QModel) -> bytes:
    """The model blob of ``hil_quant.h`` for any quantized model."""
    if isinstance(model, QMlp):
        bits = _common_bits([d.weights for d in model.layers])
        sizes = [d.rows for d in model.layers]
        header = _header(_KINDS["mlp", model.kind], model.layers[0].cols, sizes[-1], sizes, bits)
        return header + b"".join(d.to_bytes() for d in model.layers)
    if isinstance(model, Q15Mlp):
        sizes = [int(d.w.shape[0]) for d in model.layers]
        header = _header(HIL_MODEL_MLP_Q15, int(model.layers[0].w.shape[1]), sizes[-1], sizes, 0)
        return header + b"".join(d.to_bytes() for d in model.layers)
    if isinstance(model, QLstm):
        bits = _common_bits([w for layer in model.layers for w in (layer.w_ih, layer.w_hh)] + [model.head.weights])
        sizes = [layer.hidden_size for layer in model.layers]
        n_in = int(model.layers[0].w_ih.values.shape[1])
        header = _header(_KINDS["lstm", model.kind], n_in, model.head.rows, sizes, bits)
        return header + b"".join(layer.to_bytes() for layer in model.layers) + model.head.to_bytes()
    if isinstance(model, Q15Lstm):
        sizes = [layer.hidden_size for layer in model.layers]
        n_in = int(model.layers[0].w_ih.shape[1])
        header = _header(HIL_MODEL_LSTM_Q15, n_in, int(model.head.w.shape[0]), sizes, 0)
        return header + b"".join(layer.to_bytes() for layer in model.layers) + model.head.to_bytes()
    raise TypeError(f"to_blob takes QMlp, Q15Mlp, QLstm or Q15Lstm, not {type(model).__name__}")
