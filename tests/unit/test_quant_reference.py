"""harness.models.quant without a compiler: the quantizer against hand-computed cases, round-trip error bounds,
k-means on planted clusters, index packing, the activation tables' error, the blob layout, and the accuracy/size
table of every variant (printed)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from harness.models import dense, lstm, quant
from harness.models.lstm import LstmModel
from harness.models.quant import QuantizationError

HEADER = Path(__file__).resolve().parents[2] / "firmware" / "include" / "hil" / "hil_quant.h"


def _header_with_includes() -> str:
    """hil_quant.h and the hil/ headers it includes (the model kinds live in hil_model.h)."""
    text = HEADER.read_text()
    included = re.findall(r'^#include "hil/(\w+\.h)"', text, flags=re.M)
    return "\n".join([text, *((HEADER.parent / name).read_text() for name in included)])


def test_constants_match_hil_quant_h() -> None:
    text = _header_with_includes()
    defines = {name: int(value, 0) for name, value in re.findall(r"#define (HIL_\w+) (0x[0-9A-Fa-f]+|\d+)\b", text)}
    for name in ("MLP_S8", "MLP_S16", "MLP_Q15", "LSTM_S8", "LSTM_S16", "LSTM_Q15"):
        assert getattr(quant, f"HIL_MODEL_{name}") == defines[f"HIL_MODEL_{name}"], name
    assert defines["HIL_MODEL_MLP_F32"] == dense.HIL_MODEL_MLP_F32
    assert defines["HIL_GATE_FRAC"] == quant.GATE_FRAC
    assert int(re.search(r"HIL_QUANT_MAX_IN (\d+)u", text).group(1)) == quant.MAX_IN
    assert 1 << int(re.search(r"HIL_QUANT_MAX_BIAS \(1L << (\d+)\)", text).group(1)) == quant.MAX_BIAS


# ------------------------------------------------------------------------------------------- hand-computed cases


def test_affine_parameters_hand_computed() -> None:
    # [-1, 3]: scale = 4 / 255; zero point = round(-128 - (-1) / (4/255)) = round(-128 + 63.75) = -64.
    q = quant.affine_quant(-1.0, 3.0)
    assert q.scale == pytest.approx(4 / 255, rel=1e-15)
    assert q.zero_point == -64
    assert q.quantize([-1.0, 0.0, 3.0]).tolist() == [-128, -64, 127]
    # A range that excludes 0 is widened to include it: ReLU outputs [0.5, 2] -> [0, 2], zero point -128.
    q = quant.affine_quant(0.5, 2.0)
    assert (q.scale, q.zero_point) == (pytest.approx(2 / 255), -128)
    assert quant.symmetric_quant(3.2767).scale == pytest.approx(1e-4)


def test_per_channel_weight_scales_hand_computed() -> None:
    w = np.array([[0.5, -1.27], [0.25, 1.0], [0.0, 0.0]])
    q, scales = quant.quantize_weights_per_channel(w)
    np.testing.assert_allclose(scales, [0.01, 1 / 127, 1.0])  # an all-zero row gets scale 1: any scale is exact
    assert q.tolist() == [[50, -127], [32, 127], [0, 0]]  # 0.25 * 127 = 31.75 -> 32


def test_multiplier_and_shift_hand_computed() -> None:
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(0.25) == (1 << 30, -1)
    assert quant.quantize_multiplier(1.0) == (1 << 30, 1)
    assert quant.quantize_multiplier(0.75) == (3 << 29, 0)
    assert quant.quantize_multiplier(0.0) == (0, 0)
    m, s = quant.quantize_multiplier(2.0**-40)  # below 2^-32: denormal multiplier at the lowest shift
    assert s == -31 and m == 1 << 22
    rng = np.random.default_rng(0)
    for real in np.exp(rng.uniform(np.log(1e-9), np.log(1e4), 200)):
        m, s = quant.quantize_multiplier(real)
        assert 1 << 30 <= m < 1 << 31
        assert m * 2.0 ** (s - 31) == pytest.approx(real, rel=2.0**-30)


def test_q_format_from_range() -> None:
    assert quant.frac_bits(0.9) == 15  # Q0.15
    assert quant.frac_bits(1.0) == 14  # 1.0 needs an integer bit: Q1.14
    assert quant.frac_bits(3.2) == 13  # Q2.13
    assert quant.frac_bits(4.0) == 12  # Q3.12
    assert quant.frac_bits(200.0) == 7  # Q8.7
    assert quant.frac_bits(0.0) == 15
    with pytest.raises(QuantizationError):
        quant.frac_bits(40000.0)


def test_rounding_shift_ties_toward_plus_infinity() -> None:
    assert quant.rshift_round([3, -3, 5, -5, 6, -6, 7], 1).tolist() == [2, -1, 3, -2, 3, -3, 4]
    assert quant.rshift_round([1, -1, 2, -2], 2).tolist() == [0, 0, 1, 0]  # 0.25 0 | -0.25 0 | 0.5 1 | -0.5 0
    assert quant.rshift_round([-7, 7], 0).tolist() == [-7, 7]
    # requant: a * 2^30 * 2^(-1 - 31) = a / 4: 2 -> 0.5 -> 1, -2 -> -0.5 -> 0, 6 -> 1.5 -> 2, -6 -> -1.5 -> -1.
    assert quant.requantize_q31([2, -2, 6, -6], 1 << 30, -1).tolist() == [1, 0, 2, -1]
    # The s16 form reduces M to Q15 first: (2^30 + 2^15) >> 16 = 2^14, t = 15 - (-1) = 16.
    assert quant.requantize_q15([2, -2, 6, -6], 1 << 30, -1).tolist() == [1, 0, 2, -1]


# --------------------------------------------------------------------------------------- round-trip error bounds


@pytest.mark.parametrize(("lo", "hi", "bits"), [(-1.0, 3.0, 8), (0.0, 16.5, 8), (-0.02, 0.01, 8), (-5.0, 5.0, 16)])
def test_dequantize_quantize_error_is_at_most_half_a_step(lo: float, hi: float, bits: int) -> None:
    q = quant.affine_quant(lo, hi, bits) if bits == 8 else quant.symmetric_quant(max(-lo, hi), bits)
    x = np.concatenate([np.random.default_rng(1).uniform(lo, hi, 10000), [lo, hi, 0.0]])
    err = np.abs(q.dequantize(q.quantize(x)) - x)
    assert err.max() <= q.scale / 2 * (1 + 1e-9)
    assert q.dequantize(q.quantize(0.0)) == 0.0  # a real zero is exact


def test_weight_and_fixed_point_round_trips() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(scale=rng.uniform(0.01, 2, size=(20, 1)), size=(20, 50))
    q, scales = quant.quantize_weights_per_channel(w)
    assert (np.abs(q.astype(float) * scales[:, None] - w) <= scales[:, None] / 2 * (1 + 1e-9)).all()
    x = rng.uniform(-3.9, 3.9, 5000)
    n = quant.frac_bits(3.9)
    assert np.abs(quant.to_fixed(x, n) / 2.0**n - x).max() <= 2.0 ** -(n + 1)


# -------------------------------------------------------------------------------------------- k-means, packing


@pytest.mark.parametrize("init", ["linear", "kmeans++"])
def test_kmeans_recovers_planted_clusters(init: str) -> None:
    rng = np.random.default_rng(3)
    centers = np.array([-3.0, -1.0, 0.5, 2.0])
    truth = rng.integers(0, 4, 2000)
    values = centers[truth] + rng.normal(scale=0.05, size=truth.size)
    c, labels = quant.kmeans_1d(values, 4, init=init, seed=5)
    np.testing.assert_allclose(c, centers, atol=0.01)
    assert (labels == truth).all()
    again = quant.kmeans_1d(values, 4, init=init, seed=5)
    assert (again[0] == c).all() and (again[1] == labels).all()  # deterministic


def test_kmeans_with_more_centroids_than_values_keeps_empty_ones() -> None:
    c, labels = quant.kmeans_1d([0.0, 1.0, 1.0], 16)
    assert c.shape == (16,) and np.all(np.diff(c) >= 0)
    assert c[labels].tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("cols", [1, 3, 4, 7, 8, 181])
def test_pack_unpack_round_trip(bits: int, cols: int) -> None:
    idx = np.random.default_rng(cols).integers(0, 1 << bits, size=(5, cols))
    packed = quant.pack_indices(idx, bits)
    assert packed.shape == (5, -(-cols * bits // 8))
    assert (quant.unpack_indices(packed, bits, cols) == idx).all()


def test_packing_is_lsb_first_rows_on_bytes() -> None:
    assert quant.pack_indices([[1, 2, 3]], 4).tolist() == [[0x21, 0x03]]
    assert quant.pack_indices([[1, 2, 3, 0, 3]], 2).tolist() == [[0b00111001, 0b11]]
    assert quant.pack_indices([[1], [2]], 2).tolist() == [[1], [2]]  # each row starts a new byte
    with pytest.raises(ValueError):
        quant.pack_indices([[4]], 2)


# --------------------------------------------------------------------------------------------------- activations


def test_activation_tables_error_matches_the_header() -> None:
    x = np.arange(-32768, 32768)
    text = HEADER.read_text()
    for name, f in (("sigmoid", lambda v: 1 / (1 + np.exp(-v))), ("tanh", np.tanh)):
        y = getattr(quant, f"{name}_s16")(x)
        assert (np.diff(y) >= 0).all(), f"{name} table is not monotone"
        err = float(np.abs(y / 32768 - f(x / 4096)).max())
        documented = float(re.search(rf"{name} (\d\.\de-\d+) \(", text).group(1))
        # The header states the measured error to two digits: it must bound the error and not overstate it by more
        # than its rounding.
        assert err <= documented < err * 1.1, f"{name}: measured {err:.3g}, hil_quant.h says {documented}"
    assert quant.sigmoid_s16(0) == 16384 and quant.tanh_s16(0) == 0
    assert quant.sigmoid_s16(32767) == 32757 and quant.tanh_s16(-32768) == -32768


# ------------------------------------------------------------------------------------------------------- models


def test_reference_raises_where_the_device_accumulator_would_overflow() -> None:
    layer = quant.QDense(
        quant.QWeights(np.full((1, 2), 127, np.int8)),
        np.array([2**31 - 100], np.int32),
        np.array([1 << 30], np.int32),
        np.array([0], np.int8),
        in_zp=-128,
    )
    with pytest.raises(OverflowError, match="beyond int32"):
        quant.dense_s8(layer, np.full((1, 2), 127))


def test_quantizer_refusals() -> None:
    model = dense.MlpModel.random([4, 3, 2], seed=0)
    x = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(QuantizationError, match="codebooks"):
        quant.quantize_mlp(model, x, kind="q15", index_bits=4)
    with pytest.raises(ValueError, match="index_bits"):
        quant.quantize_mlp(model, x, kind="s8", index_bits=3)
    with pytest.raises(QuantizationError, match="calibration"):
        quant.quantize_mlp(model, x[:0], kind="s8")


def test_blob_layout_of_a_small_int8_mlp() -> None:
    model = dense.MlpModel.random([5, 3, 2], seed=1)
    qm = quant.quantize_mlp(model, np.random.default_rng(1).normal(size=(20, 5)), kind="s8", index_bits=2)
    blob = quant.to_blob(qm)
    _magic, _version, kind, n_layers, n_in, n_out, *sizes, bits = struct.unpack_from("<IHBBHH4HB", blob)
    assert (kind, n_layers, n_in, n_out, sizes, bits) == (quant.HIL_MODEL_MLP_S8, 2, 5, 2, [3, 2, 0, 0], 2)
    # Layer 0: 8 bytes of zero points and range, bias/multiplier 3 x 4 bytes each, 3 shifts + 1 pad, codebook 4,
    # indices 3 rows x ceil(5 * 2 / 8) = 2 bytes + 2 pad; layer 1: 8 + 8 + 8 + 4 (2 shifts + pad) + 4 + 2 x 1 + 2.
    assert len(blob) == 24 + (8 + 12 + 12 + 4 + 4 + 8) + (8 + 8 + 8 + 4 + 4 + 4)
    off = 24 + 8
    assert np.frombuffer(blob, "<i4", 3, off).tolist() == qm.layers[0].bias.tolist()
    codebook_at = off + 12 + 12 + 4
    assert np.frombuffer(blob, np.int8, 4, codebook_at).tolist() == qm.layers[0].weights.codebook.tolist()
    packed = np.frombuffer(blob, np.uint8, 6, codebook_at + 4).reshape(3, 2)
    assert (quant.unpack_indices(packed, 2, 5) == qm.layers[0].weights.indices).all()


def test_f32_mlp_blob_round_trip() -> None:
    model = dense.MlpModel.random([7, 4, 3], seed=2)
    blob = dense.to_blob(model)
    assert len(blob) == dense.blob_size(model.sizes)
    back = dense.from_blob(blob)
    for a, b in zip(model.layers, back.layers, strict=True):
        assert (a.w == b.w).all() and (a.b == b.b).all()


def test_mlp_training_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(4)
    model = dense.MlpModel.random([6, 5, 3], seed=4)
    model = dense.MlpModel(
        [dense.DenseLayer(lay.w.astype(np.float64), lay.b.astype(np.float64) + 0.1) for lay in model.layers]
    )
    x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
    _, grads = dense.loss_and_grad(model, x, y)
    eps = 1e-6
    for (li, name), g in zip([(0, "w"), (0, "b"), (1, "w"), (1, "b")], grads, strict=True):
        arr = getattr(model.layers[li], name)
        for idx in [(0,) * arr.ndim, tuple(s - 1 for s in arr.shape)]:
            old = arr[idx]
            arr[idx] = old + eps
            up, _ = dense.loss_and_grad(model, x, y)
            arr[idx] = old - eps
            down, _ = dense.loss_and_grad(model, x, y)
            arr[idx] = old
            # Central difference in float64: truncation O(eps^2), cancellation ~1e-16 / 1e-6; 1e-7 is ample.
            assert g[idx] == pytest.approx((up - down) / (2 * eps), abs=1e-7)


@pytest.mark.parametrize("kind", ["s8", "s16", "q15"])
def test_integer_lstm_follows_the_float_model(kind: str) -> None:
    model = LstmModel.random(3, [12], 2, seed=5)
    rng = np.random.default_rng(5)
    calib, x = rng.uniform(-1, 1, size=(32, 20, 3)), rng.uniform(-1, 1, size=(16, 20, 3))
    qm = quant.quantize_lstm(model, calib, kind=kind)
    err = float(np.abs(quant.predict(qm, x, all_steps=True) - lstm.forward(model, x, all_steps=True)).max())
    # s8 and s16 share int8 weights (half a step of max|row| / 127 each, ~0.4 % of a row's scale): over 5 seeds
    # their error is 0.5-1.4e-2 on outputs up to 0.4, set by the weights, not the activations. Q m.n has 16-bit
    # weights and activations, leaving the tables' 1e-4: measured 0.9-1.5e-4. Bounds 3x the worst seed.
    assert err < {"s8": 0.05, "s16": 0.05, "q15": 5e-4}[kind]
