"""Every path of the integer kernels, on the board, bit for bit against the numpy reference.

The study models (test_quantized.py) have widths 1, 7, 15, 32, 50, 128 and 180. The kernels take other roads for other
shapes: on a core with the DSP extension, rows go four at a time over column pairs built once per vector, the last
cols % 4 columns (1, 2 or 3 of them) as one more group read inside the row, rows narrower than four columns without
pairs, rows left over from the fours two and then one at a time, int16 rows wider than the 32-bit chunk
(HILS_S16_CHUNK_COLS = 252) through 64-bit sums, and requantization in 32 bits when the shift is negative and in 64
otherwise. The host and the Cortex-M3 run the portable loops on the same models. Each model here is built so one
inference crosses several of these roads, with values at the ends of each format where the accumulator bounds are
tightest.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.models import quant
from harness.models.dense import MlpModel
from harness.models.lstm import LstmModel
from harness.models.quant import AffineQuant, QDense, QMlp, QWeights
from harness.session import BoardSession

pytestmark = pytest.mark.hil_requires("quant_s8")
KINDS = [pytest.param("s8", id="s8"), pytest.param("s16", id="s16", marks=pytest.mark.hil_requires("quant_s16"))]


def _dense(
    rng: np.random.Generator, x: np.ndarray, rows: int, kind: str, *, relu: bool, in_zp: int, mixed: bool
) -> QDense:
    """Random int8 weights and biases up to 2^20; each row's requantization maps its sums on `x` to about a quarter
    of the output range, so outputs spread over the codes instead of saturating. Rows have a negative shift (the
    32-bit road, taken without a test per row when the whole layer has one); when `mixed`, one in four has a shift of
    0..3 instead, with a multiplier scaled down to match (the 64-bit road)."""
    lo, hi = (-128, 127) if kind == "s8" else (-32768, 32767)
    w = rng.integers(-128, 128, size=(rows, x.shape[1])).astype(np.int8)
    bias = rng.integers(-(1 << 20), 1 << 20, size=rows).astype(np.int32)
    acc = (x.astype(np.int64) - in_zp) @ w.T.astype(np.int64) + bias
    scale = (hi / 4) / np.maximum(np.abs(acc).mean(axis=0), 1.0)
    shift = np.clip(np.floor(np.log2(scale)).astype(np.int64) + 1, -31, -1)
    if mixed:
        shift[::4] = rng.integers(0, 4, size=len(shift[::4]))
    multiplier = np.clip(np.round(scale * 2.0 ** (31 - shift)), 0, (1 << 31) - 1).astype(np.int32)
    out_zp = 0 if kind == "s16" else int(rng.integers(-20, 20))
    return QDense(QWeights(w), bias, multiplier, shift.astype(np.int8), in_zp, out_zp, out_zp if relu else lo, hi)


def _mlp(rng: np.random.Generator, sizes: list[int], x: np.ndarray, kind: str) -> QMlp:
    """Layers built one after another on the codes the previous one gives for x; zero points chain. Every other
    layer has shifts of 0 and above in some rows."""
    layers: list[QDense] = []
    in_zp = 0 if kind == "s16" else int(rng.integers(-128, 128))
    for i, rows in enumerate(sizes[1:]):
        mixed = (i + len(sizes)) % 2 == 0
        layer = _dense(rng, x, rows, kind, relu=i + 2 < len(sizes), in_zp=in_zp, mixed=mixed)
        layers.append(layer)
        x = quant.dense_s8(layer, x) if kind == "s8" else quant.dense_s16(layer, x)
        in_zp = layer.out_zp
    bits = 8 if kind == "s8" else 16
    return QMlp(kind, layers, AffineQuant(1.0, layers[0].in_zp, bits), AffineQuant(1.0, layers[-1].out_zp, bits))


def _inputs(rng: np.random.Generator, n: int, cols: int, kind: str) -> np.ndarray:
    lo, hi = (-128, 128) if kind == "s8" else (-32768, 32768)
    x = rng.integers(lo, hi, size=(n, cols))
    x[0] = lo  # the ends of the format, where the products are largest
    x[1] = hi - 1
    return x.astype(np.int8 if kind == "s8" else np.int16)


def _check_mlp(session: BoardSession, qm: QMlp, x: np.ndarray) -> None:
    client = session.deploy_blob(quant.to_blob(qm), where="arena").client
    got = np.stack([client.infer(row).outputs for row in x])  # one at a time: rows up to 1.2 KB, past one frame
    want = quant.mlp_forward(qm, x)
    lo, hi = qm.layers[-1].act_min, qm.layers[-1].act_max
    assert np.mean((want > lo) & (want < hi)) > 0.5, "a test model should not saturate most of its outputs"
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} outputs differ, first at (window, unit) {bad[0].tolist()}: " + (
        f"device {got[tuple(bad[0])]}, reference {want[tuple(bad[0])]}"
    )


# Widths chosen for what they leave over: cols % 4 = 0..3 at and around the groups of four, group counts (cols / 4) of
# every remainder mod 4 (the loop takes four groups a pass), rows % 4 = 1..3 after the fours, and widths below four
# (no pairs at all).
MLP_SIZES = [[181, 7, 6, 5], [3, 9, 2, 13], [6, 255, 1], [4, 17, 10, 3]]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sizes", MLP_SIZES, ids=["-".join(map(str, s)) for s in MLP_SIZES])
def test_dense_layers_of_every_width_are_exact(hil_session: BoardSession, kind: str, sizes: list[int]) -> None:
    rng = np.random.default_rng([len(sizes), *sizes])
    x = _inputs(rng, 12, sizes[0], kind)
    qm = _mlp(rng, sizes, x, kind)
    _check_mlp(hil_session, qm, x)


@pytest.mark.hil_requires("quant_s16")
def test_s16_rows_at_and_past_the_32_bit_chunk(hil_session: BoardSession) -> None:
    """The largest products (-128 x -32768 = 2^22) in every column with the largest bias: 252 columns are the widest
    the 32-bit sum takes (2^30 + 252 * 2^22 < 2^31; at 256 it would reach 2^31); 253, 256 and 600 go through 64-bit
    sums. A wrong bound wraps and flips the saturated output's sign."""
    for cols in (252, 253, 256, 600):
        rows = 6
        w = np.full((rows, cols), -128, np.int8)
        w[1] = 127
        w[4, ::2] = 127  # half the columns cancel the other half
        layer = QDense(
            QWeights(w),
            np.array([1 << 30, -(1 << 30), 0, 1 << 30, 12345, -(1 << 30)], np.int32),
            np.full(rows, (1 << 31) - 1, np.int32),
            np.array([-31, -31, -16, -20, -1, 3], np.int8),
            0,
            0,
            -32768,
            32767,
        )
        qm = QMlp("s16", [layer], AffineQuant(1.0, 0, 16), AffineQuant(1.0, 0, 16))
        x = np.stack([np.full(cols, -32768), np.full(cols, 32767), np.arange(cols) * 97 % 65536 - 32768])
        _check_mlp(hil_session, qm, x.astype(np.int16))


# LSTMs: input widths 1 (no pairs), 5 and 6 (one and two columns over), hidden widths 5 and 3 in a second layer (the
# first layer's h is the second's x).
LSTM_SHAPES = [(1, [6]), (5, [5, 3]), (6, [9])]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", LSTM_SHAPES, ids=[f"in{i}-h{'x'.join(map(str, h))}" for i, h in LSTM_SHAPES])
def test_lstm_of_every_width_is_exact(hil_session: BoardSession, kind: str, shape: tuple[int, list[int]]) -> None:
    n_in, hidden = shape
    rng = np.random.default_rng([n_in, *hidden])
    model = LstmModel.random(n_in, hidden, 2, seed=n_in + len(hidden), scale=0.6)
    calib = rng.normal(size=(16, 12, n_in))
    qm = quant.quantize_lstm(model, calib, kind=kind)
    # Inputs three times wider than the calibration: saturated codes at both ends, gates past the tables' ranges.
    xq = quant.quantize_input(qm, 3.0 * rng.normal(size=(6, 12, n_in)))
    client = hil_session.deploy_blob(quant.to_blob(qm), where="arena").client
    for x in xq:
        got = client.infer(x, all_steps=True).outputs
        np.testing.assert_array_equal(got, quant.lstm_forward(qm, x, all_steps=True))


def _shift_up(multiplier: np.ndarray, shift: np.ndarray, rows: slice) -> None:
    """Give `rows` a shift of 0 and the multiplier that keeps their factor (to the multiplier's last bit)."""
    multiplier[rows] = multiplier[rows] >> (-shift[rows].astype(np.int64))
    shift[rows] = 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_in", [1, 6])
def test_lstm_with_shifts_of_zero_is_exact(hil_session: BoardSession, kind: str, n_in: int) -> None:
    """The quantizer gives every gate row and h a negative shift, and the forwards then skip the test per row (for one
    input, also the four-row loop). A model with a shift of 0 in some gate rows and in h takes the general road."""
    rng = np.random.default_rng(n_in)
    model = LstmModel.random(n_in, [8], 1, seed=11, scale=0.6)
    qm = quant.quantize_lstm(model, rng.normal(size=(16, 12, n_in)), kind=kind)
    layer = qm.layers[0]
    assert (layer.ih_shift < 0).all() and (layer.hh_shift < 0).all() and layer.h_shift < 0
    _shift_up(layer.ih_multiplier, layer.ih_shift, slice(3, 6))
    _shift_up(layer.hh_multiplier, layer.hh_shift, slice(13, 14))
    layer.h_multiplier, layer.h_shift = layer.h_multiplier >> -layer.h_shift, 0
    xq = quant.quantize_input(qm, 2.0 * rng.normal(size=(4, 12, n_in)))
    client = hil_session.deploy_blob(quant.to_blob(qm), where="arena").client
    for x in xq:
        np.testing.assert_array_equal(
            client.infer(x, all_steps=True).outputs, quant.lstm_forward(qm, x, all_steps=True)
        )


@pytest.mark.hil_requires("quant_s16")
def test_s16_lstm_with_inputs_past_the_32_bit_chunk(hil_session: BoardSession) -> None:
    """260 input features: every gate row's input products go through the 64-bit sums."""
    rng = np.random.default_rng(260)
    model = LstmModel.random(260, [4], 1, seed=5, scale=0.2)
    qm = quant.quantize_lstm(model, rng.normal(size=(8, 6, 260)), kind="s16")
    xq = quant.quantize_input(qm, 2.0 * rng.normal(size=(3, 6, 260)))
    client = hil_session.deploy_blob(quant.to_blob(qm), where="arena").client
    for x in xq:
        np.testing.assert_array_equal(
            client.infer(x, all_steps=True).outputs, quant.lstm_forward(qm, x, all_steps=True)
        )


def test_quantized_mlp_from_a_float_model_is_exact(hil_session: BoardSession) -> None:
    """The quantizer's own output (not hand-made integers) at odd widths: 23 -> 11 -> 3."""
    rng = np.random.default_rng(23)
    model = MlpModel.random([23, 11, 3], seed=23)
    qm = quant.quantize_mlp(model, rng.normal(size=(64, 23)), kind="s8")
    assert isinstance(qm, QMlp)
    xq = quant.quantize_input(qm, 2.0 * rng.normal(size=(10, 23)))
    _check_mlp(hil_session, qm, xq)
