"""The integer model types, each with the bytes it occupies in a blob (``hil_quant.h`` layouts)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from harness.models.quant.calibration import AffineQuant, pack_indices
from harness.models.quant.formats import Kind


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
