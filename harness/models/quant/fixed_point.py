"""Integer arithmetic exactly as the kernels do it: shifts that round, requantization by multiplier and shift,
saturation, the sigmoid/tanh tables with interpolation, the LSTM cell update.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from harness.models.quant.formats import GATE_FRAC, I16_MAX, I16_MIN, I32_MAX, I32_MIN, LUT_ENTRIES, MAX_IN


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
    return np.clip(_i64(v), I16_MIN, I16_MAX)


def _check_int32(acc: np.ndarray, what: str) -> None:
    if acc.size and (acc.min() < I32_MIN or acc.max() > I32_MAX):
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
    return np.clip(np.floor(f * 32768.0 + 0.5), I16_MIN, I16_MAX).astype(np.int16)


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
