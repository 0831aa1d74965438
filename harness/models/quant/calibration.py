"""Quantizer primitives: ranges from calibration data, affine and symmetric parameters, multipliers and shifts, per-row
weight scales, Q m.n fraction bits, and k-means weight clustering with packed indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from harness.models.quant.formats import I16_MAX, I16_MIN, Q31_SHIFT_MIN, QuantizationError


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
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 2.0**frac), I16_MIN, I16_MAX).astype(np.int16)


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
