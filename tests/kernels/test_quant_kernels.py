"""The hil_quant.h kernels on the host, through ctypes, against harness.models.quant: integer outputs EXACTLY equal.

Real data: the trained IMU classifier on BasicMotions test windows (MLP), the trained electricity LSTM on validation
windows, and a two-layer LSTM on Beijing weather windows of a week. Edge cases are built from integer parameters by
hand: saturation at both ends, zero points, all-zero input, the largest weights, rounding ties, shifts at their
limits, a saturating cell. Every run checks guard bytes around outputs and scratch; every forward refuses a scratch
one byte short; every binder refuses corrupt blobs and leaves the caller's model untouched.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from ctypes import c_int, c_size_t, c_uint8, c_uint16, c_void_p
from pathlib import Path

import numpy as np
import pytest

from harness import datasets
from harness.models import dense, lstm, quant
from harness.models.lstm import LstmModel
from harness.models.quant import AffineQuant, Q15Dense, Q15Mlp, QDense, QMlp, QWeights
from harness.suites import studies
from tests.kernels.guarded import CANARY, Guarded, aligned_copy

MODEL_STRUCT_BYTES = 4096  # more than sizeof(hil_qlstm_t) on any host; the kernels see an opaque, aligned buffer
HIL_INFER_ALL_STEPS = 0x01
ELEM = {"f32": 4, "s8": 1, "s16": 2, "q15": 2}
NP_DTYPE = {"f32": np.float32, "s8": np.int8, "s16": np.int16, "q15": np.int16}
KIND_OF = {"int8": "s8", "int16": "s16", "qmn": "q15"}


class Scratch(ctypes.Structure):
    _fields_ = [("buf", c_void_p), ("size", c_size_t)]


class Kernels:
    def __init__(self, lib: ctypes.CDLL) -> None:
        def fn(name: str, restype: type, *argtypes: type) -> ctypes._CFuncPtr:
            f = getattr(lib, name)
            f.argtypes = list(argtypes)
            f.restype = restype
            return f

        self.sigmoid = fn("hil_sigmoid_s16", c_int, c_void_p, c_void_p, c_size_t)
        self.tanh = fn("hil_tanh_s16", c_int, c_void_p, c_void_p, c_size_t)
        self.bind, self.buffer_size, self.forward = {}, {}, {}
        for family in ("mlp", "lstm"):
            for dt in ("f32", "s8", "s16", "q15") if family == "mlp" else ("s8", "s16", "q15"):
                key = (family, dt)
                self.bind[key] = fn(f"hil_{family}_bind_{dt}", c_int, c_void_p, c_size_t, c_void_p)
                self.buffer_size[key] = fn(f"hil_{family}_buffer_size_{dt}", c_size_t, c_void_p)
                if family == "mlp":
                    self.forward[key] = fn(f"hil_mlp_forward_{dt}", c_int, c_void_p, c_void_p, c_void_p, c_void_p)
                else:
                    self.forward[key] = fn(
                        f"hil_lstm_forward_{dt}", c_int, c_void_p, c_void_p, c_void_p, c_uint16, c_uint8, c_void_p
                    )


@pytest.fixture(scope="module")
def k(kernel_lib: ctypes.CDLL) -> Kernels:
    return Kernels(kernel_lib)


def family_dtype(model: quant.QModel | dense.MlpModel) -> tuple[str, str]:
    if isinstance(model, dense.MlpModel):
        return "mlp", "f32"
    if isinstance(model, QMlp):
        return "mlp", model.kind
    if isinstance(model, Q15Mlp):
        return "mlp", "q15"
    if isinstance(model, quant.QLstm):
        return "lstm", model.kind
    return "lstm", "q15"


class Bound:
    """A blob in aligned memory and the (opaque) model struct the binder filled from it."""

    def __init__(self, k: Kernels, model: quant.QModel | dense.MlpModel, status: dict[str, int]) -> None:
        self.key = family_dtype(model)
        blob = dense.to_blob(model) if self.key == ("mlp", "f32") else quant.to_blob(model)
        self.raw, self.addr = aligned_copy(blob)
        self.struct = np.zeros(MODEL_STRUCT_BYTES, np.uint8)
        rc = k.bind[self.key](self.addr, len(blob), self.struct.ctypes.data)
        assert rc == status["HIL_OK"], f"bind {self.key} returned {rc}"
        self.need = int(k.buffer_size[self.key](self.struct.ctypes.data))

    @property
    def ptr(self) -> int:
        return self.struct.ctypes.data


def run(k: Kernels, bound: Bound, xq: np.ndarray, n_out: int, *, all_steps: bool = False, scratch_bytes: int = -1):
    """Every sample of ``xq`` ([N, in] for an MLP, [N, T, I] for an LSTM) through the kernel, one call each, into
    one guarded output array; the scratch (guarded, pre-filled with 0xFF so a missing initialisation shows) is shared
    by all calls, as the device shares it. Returns (status of the first failing call or HIL_OK, outputs)."""
    family, dt = bound.key
    x = np.ascontiguousarray(xq, dtype=NP_DTYPE[dt])
    per = n_out * (x.shape[1] if all_steps else 1)
    out = Guarded(ELEM[dt] * per * len(x))
    scratch = Guarded(bound.need if scratch_bytes < 0 else scratch_bytes, fill=0xFF)
    ctx = Scratch(scratch.ptr, scratch.nbytes)
    rc = 0
    for i in range(len(x)):
        dst = out.ptr + i * per * ELEM[dt]
        if family == "mlp":
            rc = k.forward[bound.key](bound.ptr, ctypes.byref(ctx), x[i].ctypes.data, dst)
        else:
            flags = HIL_INFER_ALL_STEPS if all_steps else 0
            rc = k.forward[bound.key](bound.ptr, ctypes.byref(ctx), x[i].ctypes.data, x.shape[1], flags, dst)
        if rc != 0:
            break
    out.assert_guards_intact("output")
    scratch.assert_guards_intact("scratch")
    shape = (len(x), x.shape[1], n_out) if all_steps else (len(x), n_out)
    return rc, out.view(NP_DTYPE[dt]).reshape(shape), out


def assert_exact(got: np.ndarray, want: np.ndarray, what: str) -> None:
    want = np.asarray(want).astype(got.dtype)
    bad = np.argwhere(got != want)
    assert bad.size == 0, (
        f"{what}: {len(bad)} of {got.size} integer outputs differ from the reference, first at {tuple(bad[0])}: "
        f"kernel {got[tuple(bad[0])]}, reference {want[tuple(bad[0])]}"
    )


# ---------------------------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_activation_matches_reference_on_every_input(k: Kernels, status: dict[str, int], name: str) -> None:
    x = np.arange(-32768, 32768, dtype=np.int16)
    y = Guarded(2 * x.size)
    assert getattr(k, name)(x.ctypes.data, y.ptr, x.size) == status["HIL_OK"]
    y.assert_guards_intact(name)
    assert_exact(y.view(np.int16), getattr(quant, f"{name}_s16")(x), f"hil_{name}_s16")
    # In place, as the LSTM cells call it.
    inplace = x.copy()
    assert getattr(k, name)(inplace.ctypes.data, inplace.ctypes.data, x.size) == status["HIL_OK"]
    assert_exact(inplace, y.view(np.int16), f"hil_{name}_s16 in place")
    assert getattr(k, name)(None, y.ptr, 1) == status["HIL_ERR_BAD_REQUEST"]
    assert getattr(k, name)(None, None, 0) == status["HIL_OK"]


# ------------------------------------------------------------------------------------------- real data: MLP


@pytest.fixture(scope="module")
def imu() -> studies.ImuClassifier:
    return studies.imu_classifier()


@pytest.fixture(scope="module")
def imu_calib(imu: studies.ImuClassifier) -> np.ndarray:
    return imu.data.x_train[::5]


@pytest.mark.parametrize(
    ("kind", "index_bits"),
    [("s8", 0), ("s16", 0), ("q15", 0), ("s8", 8), ("s8", 4), ("s8", 2), ("s16", 4)],
    ids=["int8", "int16", "qmn", "int8-kmeans8b", "int8-kmeans4b", "int8-kmeans2b", "int16-kmeans4b"],
)
def test_mlp_matches_reference_on_basic_motions(
    k: Kernels, status: dict[str, int], imu: studies.ImuClassifier, imu_calib: np.ndarray, kind: str, index_bits: int
) -> None:
    qm = quant.quantize_mlp(imu.model, imu_calib, kind=kind, index_bits=index_bits)
    xq = quant.quantize_input(qm, imu.data.x_val)
    bound = Bound(k, qm, status)
    rc, got, _ = run(k, bound, xq, imu.model.output_size)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.mlp_forward(qm, xq), f"MLP {kind} bits={index_bits}")
    # The classifier still classifies: a quantizer that scrambled the weights would be exact and useless.
    acc = float(np.mean(np.argmax(got, axis=1) == imu.data.y_val))
    assert acc >= imu.val_accuracy - (0.15 if index_bits == 2 else 0.03), f"accuracy {acc} vs float {imu.val_accuracy}"


def test_mlp_f32_matches_float_reference(k: Kernels, status: dict[str, int], imu: studies.ImuClassifier) -> None:
    bound = Bound(k, imu.model, status)
    rc, got, _ = run(k, bound, imu.data.x_val, imu.model.output_size)
    assert rc == status["HIL_OK"]
    ref64 = dense.forward(imu.model, imu.data.x_val, dtype=np.float64)
    ref32 = dense.forward(imu.model, imu.data.x_val)
    # float32 sums of 180, 50 and 15 products in another order than numpy's BLAS: the kernel may differ from the
    # float64 result by as much as float32 numpy does, a few ulps of the partial sums (|logits| up to ~40). Measured
    # numpy-f32 error 1.2e-5; the kernel is held to 4x that plus 1e-5, and to the same class for every window.
    bound_err = 4 * float(np.abs(ref32 - ref64).max()) + 1e-5
    assert float(np.abs(got - ref64).max()) <= bound_err
    assert (np.argmax(got, axis=1) == np.argmax(ref32, axis=1)).all()
    assert bound.need == 4 * (50 + 15)  # ping-pong: layer 0 and layer 1 outputs, the last writes the caller's output


# ------------------------------------------------------------------------------------------ real data: LSTM


@pytest.fixture(scope="module")
def electricity() -> studies.ElectricityLstm:
    return studies.electricity_lstm()


@pytest.mark.parametrize("all_steps", [False, True], ids=["last", "all"])
@pytest.mark.parametrize(
    ("kind", "index_bits"),
    [("s8", 0), ("s16", 0), ("q15", 0), ("s8", 8), ("s8", 4), ("s8", 2), ("s16", 4)],
    ids=["int8", "int16", "qmn", "int8-kmeans8b", "int8-kmeans4b", "int8-kmeans2b", "int16-kmeans4b"],
)
def test_lstm_matches_reference_on_electricity(
    k: Kernels,
    status: dict[str, int],
    electricity: studies.ElectricityLstm,
    kind: str,
    index_bits: int,
    all_steps: bool,
) -> None:
    qm = quant.quantize_lstm(electricity.model, electricity.x_train, kind=kind, index_bits=index_bits)
    x_val = electricity.x_val[:: 5 if all_steps else 2]
    xq = quant.quantize_input(qm, x_val)
    rc, got, _ = run(k, Bound(k, qm, status), xq, 1, all_steps=all_steps)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.lstm_forward(qm, xq, all_steps=all_steps), f"LSTM {kind} bits={index_bits}")


@pytest.fixture(scope="module")
def weather() -> tuple[LstmModel, np.ndarray, np.ndarray]:
    """A two-layer LSTM(16, 8) on a week of hourly Beijing weather (7 features, 168 steps): untrained (PyTorch
    init) but on real inputs, so every layer sees the input ranges and correlations of the data."""
    task = datasets.ForecastTask.from_manifest(datasets.load("beijing_pm"))
    calib = task.windows("train", limit=64, spacing="even").X
    val = task.windows("val", limit=12, spacing="even").X
    return LstmModel.random(calib.shape[2], [16, 8], 1, seed=7), calib, val


@pytest.mark.parametrize("kind", ["s8", "s16", "q15"])
def test_two_layer_lstm_matches_reference_on_weather(
    k: Kernels, status: dict[str, int], weather: tuple[LstmModel, np.ndarray, np.ndarray], kind: str
) -> None:
    model, calib, val = weather
    qm = quant.quantize_lstm(model, calib, kind=kind)
    xq = quant.quantize_input(qm, val)
    rc, got, _ = run(k, Bound(k, qm, status), xq, 1, all_steps=True)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.lstm_forward(qm, xq, all_steps=True), f"2-layer LSTM {kind}")
    # Exact and also meaningful: the integer forecast tracks the float one (|y| ~ 0.3; int8 carries ~1 % error).
    ref = lstm.forward(model, val, all_steps=True)
    assert float(np.abs(quant.dequantize_output(qm, got) - ref).max()) < 0.05


# ------------------------------------------------------------------------------------------------ edge cases


def one_layer_s8(
    w: np.ndarray,
    bias: np.ndarray,
    mult: np.ndarray,
    shift: np.ndarray,
    *,
    in_zp: int = 0,
    out_zp: int = 0,
    act: tuple[int, int] = (-128, 127),
    kind: str = "s8",
    weights: QWeights | None = None,
) -> QMlp:
    layer = QDense(
        weights if weights is not None else QWeights(np.asarray(w, np.int8)),
        np.asarray(bias, np.int32),
        np.asarray(mult, np.int32),
        np.asarray(shift, np.int8),
        in_zp,
        out_zp,
        *act,
    )
    bits = 8 if kind == "s8" else 16
    return QMlp(kind, [layer], AffineQuant(1.0, in_zp, bits), AffineQuant(1.0, out_zp, bits))


def check_mlp(k: Kernels, status: dict[str, int], qm: quant.QModel, xq: np.ndarray, what: str) -> np.ndarray:
    bound = Bound(k, qm, status)
    n_out = qm.layers[-1].rows if isinstance(qm, QMlp) else int(qm.layers[-1].w.shape[0])
    rc, got, _ = run(k, bound, xq, n_out)
    assert rc == status["HIL_OK"]
    want = quant.mlp_forward(qm, xq)
    assert_exact(got, want, what)
    return got


def test_dense_s8_saturates_at_both_ends_with_the_largest_weights(k: Kernels, status: dict[str, int]) -> None:
    n = 180
    # Row 0: +127 weights, row 1: -127, row 2: alternating; a unit gain would put |acc| ~ 5.8e6 far outside int8.
    w = np.stack([np.full(n, 127), np.full(n, -127), np.where(np.arange(n) % 2, 127, -127)])
    qm = one_layer_s8(w, [0, 0, 0], [1 << 30] * 3, [1] * 3, in_zp=-128)
    xq = np.array([np.full(n, 127), np.full(n, -128), np.where(np.arange(n) % 2, 127, -128)], np.int8)
    got = check_mlp(k, status, qm, xq, "saturation")
    assert got[0].tolist() == [127, -128, 0]  # x - zp = 255 everywhere; row 2's halves cancel
    assert got[1].tolist() == [0, 0, 0]  # x = zp is a real 0: only the (zero) bias is left
    assert got[2].tolist() == [127, -128, 127]


def test_dense_s8_zero_input_is_the_bias(k: Kernels, status: dict[str, int]) -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, size=(40, 64))
    bias = rng.integers(-(1 << 20), 1 << 20, size=40)
    mult = rng.integers(1 << 30, 1 << 31, size=40)
    shift = rng.integers(-20, -8, size=40)
    for in_zp, out_zp in [(0, 0), (-128, 17), (127, -128), (-5, 127)]:
        qm = one_layer_s8(w, bias, mult, shift, in_zp=in_zp, out_zp=out_zp)
        zero = np.full((1, 64), in_zp, np.int8)  # the code of a real 0
        got = check_mlp(k, status, qm, zero, f"zero input zp {in_zp}/{out_zp}")
        want = np.clip(quant.requantize_q31(bias, mult, shift) + out_zp, -128, 127)
        assert_exact(got[0], want, "zero input = requantized bias")
        # And random inputs with the same zero points.
        check_mlp(k, status, qm, rng.integers(-128, 128, size=(16, 64)), f"zp {in_zp}/{out_zp}")


def test_requantization_rounding_and_shift_limits(k: Kernels, status: dict[str, int]) -> None:
    """One input, weight 1: acc = bias + x, so each row tries one (acc, multiplier, shift) triple."""
    rng = np.random.default_rng(2)
    n = 4000
    bias = rng.integers(-(1 << 30), (1 << 30) + 1, size=n)
    mult = rng.integers(1 << 30, 1 << 31, size=n)
    shift = rng.integers(-31, 31, size=n)
    # Hand-made ties: M = 2^30, s = -1 -> a * 2^-2, so acc = +-2 is +-0.5 and acc = +-6 is +-1.5; shift limits.
    fixed = [
        (2, 1 << 30, -1),
        (-2, 1 << 30, -1),
        (6, 1 << 30, -1),
        (-6, 1 << 30, -1),
        (1 << 30, (1 << 31) - 1, 30),
        (-(1 << 30), (1 << 31) - 1, 30),
        (1 << 30, 1 << 30, -31),
        (-(1 << 30), (1 << 31) - 1, -31),
        (5, 0, 0),
    ]
    for j, (b, m, s) in enumerate(fixed):
        bias[j], mult[j], shift[j] = b, m, s
    qm = one_layer_s8(np.ones((n, 1)), bias, mult, shift)
    got = check_mlp(k, status, qm, np.zeros((1, 1), np.int8), "requantization sweep")
    assert got[0, :4].tolist() == [1, 0, 2, -1]  # ties toward +infinity: 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1
    assert got[0, 4:6].tolist() == [127, -128]  # gain ~2^30: saturates
    assert got[0, 6:9].tolist() == [0, 0, 0]  # 2^30 * 2^-32 = 0.25 -> 0; -0.5 -> 0; multiplier 0


def test_dense_s16_extremes(k: Kernels, status: dict[str, int]) -> None:
    n = quant.MAX_IN  # the longest row the kernels take: the int64 accumulator's worst case
    w = np.stack([np.full(n, 127), np.full(n, -128), np.full(n, 127)])
    qm = one_layer_s8(w, [0, 0, 1 << 30], [(1 << 31) - 1] * 3, [14, 14, -31], act=(-32768, 32767), kind="s16")
    xq = np.array([np.full(n, 32767), np.full(n, -32768)], np.int16)
    got = check_mlp(k, status, qm, xq, "s16 extremes")
    assert got[0, :2].tolist() == [32767, -32768] and got[1, :2].tolist() == [-32768, 32767]
    # A ReLU range and random inputs through the Q15-reduced multipliers.
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(33, 70))
    layer = QDense(
        QWeights(w.astype(np.int8)),
        rng.integers(-(1 << 24), 1 << 24, size=33).astype(np.int32),
        rng.integers(1 << 30, 1 << 31, size=33).astype(np.int32),
        rng.integers(-31, 15, size=33).astype(np.int8),
        0,
        0,
        0,
        32767,
    )
    qm = QMlp("s16", [layer], AffineQuant(1.0, 0, 16), AffineQuant(1.0, 0, 16))
    got = check_mlp(k, status, qm, rng.integers(-32768, 32768, size=(20, 70)), "s16 random, ReLU")
    assert got.min() == 0 and got.max() == 32767  # both ends of the range reached by this draw


def test_dense_q15_extremes(k: Kernels, status: dict[str, int]) -> None:
    rng = np.random.default_rng(4)
    n = 256
    w = np.stack([np.full(n, 32767), np.full(n, -32768), rng.integers(-32768, 32768, n), np.zeros(n)])
    for bias_shift, out_shift, relu in [(0, 0, False), (30, 31, False), (15, 20, True), (0, 31, False)]:
        layer = Q15Dense(w.astype(np.int16), np.array([-32768, 32767, 5, -7], np.int16), bias_shift, out_shift, relu)
        qm = Q15Mlp([layer], 0, 0)
        xq = np.concatenate([np.full((1, n), 32767), np.full((1, n), -32768), rng.integers(-32768, 32768, (8, n))])
        got = check_mlp(k, status, qm, xq, f"q15 bias_shift={bias_shift} out_shift={out_shift} relu={relu}")
        if out_shift == 0:
            assert got[0, 0] == 32767 and got[0, 1] == -32768  # saturation at both ends


def test_clustered_weights_with_extreme_codebook(k: Kernels, status: dict[str, int]) -> None:
    rng = np.random.default_rng(5)
    for bits, cols in [(2, 1), (2, 7), (4, 9), (8, 13), (2, 180), (4, 181)]:
        codebook = rng.integers(-127, 128, size=1 << bits)
        codebook[:2] = [-128, 127]  # the largest magnitudes an int8 codebook can hold
        idx = rng.integers(0, 1 << bits, size=(11, cols)).astype(np.uint8)
        weights = QWeights.clustered(codebook.astype(np.int8), idx)
        qm = one_layer_s8(
            None,
            rng.integers(-1000, 1000, 11),
            rng.integers(1 << 30, 1 << 31, 11),
            np.full(11, -6),
            in_zp=-3,
            weights=weights,
        )
        xq = np.concatenate([np.full((1, cols), 127), np.full((1, cols), -128), rng.integers(-128, 128, (6, cols))])
        check_mlp(k, status, qm, xq, f"clustered {bits}-bit, {cols} columns")


def _integrator(hidden: int = 4) -> LstmModel:
    """An LSTM whose cell only grows: input and forget gates open, g = tanh(large) ~ 1, so c climbs ~1 per step."""
    model = LstmModel.random(2, [hidden], 1, seed=11, scale=0.1)
    layer = model.layers[0]
    layer.b_ih[: 2 * hidden] = 6.0  # i, f ~ 1
    layer.b_ih[2 * hidden : 3 * hidden] = 4.0  # g ~ 1
    return model


@pytest.mark.parametrize("kind", ["s8", "s16", "q15"])
def test_lstm_saturating_cell_and_gates(k: Kernels, status: dict[str, int], kind: str) -> None:
    rng = np.random.default_rng(6)
    model = _integrator()
    x = rng.normal(size=(6, 60, 2)).astype(np.float32)
    qm = quant.quantize_lstm(model, x, kind=kind)
    assert qm.layers[0].cell_frac < 12  # |c| reaches ~60: the Q3.12 conversion shifts left (and saturates there)
    xq = quant.quantize_input(qm, x)
    rc, got, _ = run(k, Bound(k, qm, status), xq, 1, all_steps=True)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.lstm_forward(qm, xq, all_steps=True), f"{kind} integrator")
    # The same model with a cell format too fine for it: c saturates at int16 and stays there, exactly as the reference.
    qm.layers[0].cell_frac = 13
    rc, got, _ = run(k, Bound(k, qm, status), xq, 1, all_steps=True)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.lstm_forward(qm, xq, all_steps=True), f"{kind} saturated cell")
    # Gates far past +-8 (large weights, inputs 50x the calibration range): Q3.12 saturation, table ends.
    big = LstmModel.random(3, [8], 2, seed=12, scale=3.0)
    qm = quant.quantize_lstm(big, rng.normal(size=(4, 20, 3)), kind=kind)
    xq = quant.quantize_input(qm, 50 * rng.normal(size=(4, 20, 3)))
    rc, got, _ = run(k, Bound(k, qm, status), xq, 2, all_steps=True)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.lstm_forward(qm, xq, all_steps=True), f"{kind} saturated gates")
    # All-zero input: the real 0 of the input format.
    zero = quant.quantize_input(qm, np.zeros((2, 20, 3)))
    rc, got, _ = run(k, Bound(k, qm, status), zero, 2, all_steps=True)
    assert rc == status["HIL_OK"]
    assert_exact(got, quant.lstm_forward(qm, zero, all_steps=True), f"{kind} zero input")


# --------------------------------------------------------------------------------- scratch, binding, refusals


@pytest.fixture(scope="module")
def models(imu: studies.ImuClassifier, imu_calib: np.ndarray, electricity: studies.ElectricityLstm) -> dict:
    """One model of every family and dtype (the LSTMs small: the refusal tests need shapes, not accuracy)."""
    small = LstmModel.random(2, [5, 3], 2, seed=1)
    calib = np.random.default_rng(0).normal(size=(8, 6, 2))
    out = {("mlp", "f32"): imu.model}
    for kind in ("s8", "s16", "q15"):
        out["mlp", kind] = quant.quantize_mlp(imu.model, imu_calib, kind=kind)
        out["lstm", kind] = quant.quantize_lstm(small, calib, kind=kind)
    out["mlp", "s8-kmeans"] = quant.quantize_mlp(imu.model, imu_calib, kind="s8", index_bits=4)
    out["lstm", "s8-kmeans"] = quant.quantize_lstm(small, calib, kind="s8", index_bits=2)
    return out


def _sample(model: object, key: tuple[str, str]) -> tuple[np.ndarray, int]:
    if key[0] == "mlp":
        n_in = (
            model.input_size
            if key[1] == "f32"
            else (model.layers[0].cols if isinstance(model, QMlp) else model.layers[0].w.shape[1])
        )
        n_out = (
            model.output_size
            if key[1] == "f32"
            else (model.layers[-1].rows if isinstance(model, QMlp) else model.layers[-1].w.shape[0])
        )
        x = np.random.default_rng(0).normal(size=(1, n_in))
        return (x if key[1] == "f32" else quant.quantize_input(model, x)), n_out
    return quant.quantize_input(model, np.random.default_rng(0).normal(size=(1, 6, 2))), 2


MODEL_KEYS = [
    ("mlp", "f32"),
    ("mlp", "s8"),
    ("mlp", "s16"),
    ("mlp", "q15"),
    ("mlp", "s8-kmeans"),
    ("lstm", "s8"),
    ("lstm", "s16"),
    ("lstm", "q15"),
    ("lstm", "s8-kmeans"),
]


@pytest.mark.parametrize("key", MODEL_KEYS, ids=["-".join(key) for key in MODEL_KEYS])
def test_too_small_scratch_is_refused_and_output_untouched(
    k: Kernels, status: dict[str, int], models: dict, key: tuple[str, str]
) -> None:
    model = models[key]
    bound = Bound(k, model, status)
    x, n_out = _sample(model, bound.key)
    assert bound.need > 0
    for short_by in (1, bound.need):
        rc, _, out = run(k, bound, x, n_out, scratch_bytes=bound.need - short_by)
        assert rc == status["HIL_ERR_BUFFER_TOO_SMALL"]
        assert (out.body == CANARY).all(), "a refused call must not write the output"
    rc, _, _ = run(k, bound, x, n_out)
    assert rc == status["HIL_OK"]


def test_scratch_sizes(k: Kernels, status: dict[str, int], models: dict) -> None:
    # LSTM(5, 3): c 2*(5+3), gates 2*4*5, then h (1 or 2 bytes per unit).
    assert Bound(k, models["lstm", "s8"], status).need == 2 * 8 + 2 * 20 + 8
    assert Bound(k, models["lstm", "s16"], status).need == 2 * 8 + 2 * 20 + 16
    assert Bound(k, models["lstm", "q15"], status).need == 2 * 8 + 2 * 20 + 16
    # MLP 180-50-15-4: buffer 0 holds layer 0's 50 outputs (rounded up to 4 bytes), buffer 1 layer 1's 15.
    assert Bound(k, models["mlp", "s8"], status).need == 52 + 15
    assert Bound(k, models["mlp", "s16"], status).need == 100 + 30
    # One layer needs no scratch at all.
    one = one_layer_s8(np.ones((2, 3)), [0, 0], [1 << 30] * 2, [0, 0])
    bound = Bound(k, one, status)
    assert bound.need == 0
    scratch = Scratch(None, 0)
    y = Guarded(2)
    x = np.zeros(3, np.int8)
    assert k.forward["mlp", "s8"](bound.ptr, ctypes.byref(scratch), x.ctypes.data, y.ptr) == status["HIL_OK"]


def _patch(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def _refused(k: Kernels, key: tuple[str, str], blob: bytes, status: dict[str, int], misalign: int = 0) -> None:
    _keep, addr = aligned_copy(blob, misalign)
    model = np.full(MODEL_STRUCT_BYTES, CANARY, np.uint8)
    assert k.bind[key](addr, len(blob), model.ctypes.data) == status["HIL_ERR_BAD_MODEL"]
    assert (model == CANARY).all(), "a refused blob must leave the caller's model untouched"


# Offsets inside the blobs (hil_quant.h): header 24 bytes; an MLP s8/s16 layer record starts with in_zp, out_zp,
# act_min, act_max, then bias[rows], multiplier[rows], shift[rows].
H = 24
COMMON_MUTATIONS = {
    "magic": lambda b: _patch(b, 0, "<I", 0x4D4C4949),
    "version": lambda b: _patch(b, 4, "<H", 2),
    "layers0": lambda b: _patch(b, 7, "<B", 0),
    "layers5": lambda b: _patch(b, 7, "<B", 5),
    "input0": lambda b: _patch(b, 8, "<H", 0),
    "unused_size": lambda b: _patch(b, 12 + 2 * 3, "<H", 1),
    "reserved": lambda b: _patch(b, 22, "<B", 1),
    "short": lambda b: b[:-4],
    "long": lambda b: b + b"\0\0\0\0",
    "header_cut": lambda b: b[: H - 1],
    "empty": lambda b: b"",
}


@pytest.mark.parametrize("key", MODEL_KEYS, ids=["-".join(key) for key in MODEL_KEYS])
@pytest.mark.parametrize("mutation", list(COMMON_MUTATIONS))
def test_bind_refuses_corrupt_blob(
    k: Kernels, status: dict[str, int], models: dict, key: tuple[str, str], mutation: str
) -> None:
    model = models[key]
    bkey = family_dtype(model)
    blob = dense.to_blob(model) if bkey == ("mlp", "f32") else quant.to_blob(model)
    _refused(k, bkey, COMMON_MUTATIONS[mutation](blob), status)


def test_bind_refuses_values_the_arithmetic_cannot_take(k: Kernels, status: dict[str, int], models: dict) -> None:
    s8 = quant.to_blob(models["mlp", "s8"])
    rows0 = 50
    shift0 = H + 8 + 8 * rows0  # first shift byte of layer 0
    _refused(k, ("mlp", "s8"), _patch(s8, shift0, "<b", 31), status)  # t = 0
    _refused(k, ("mlp", "s8"), _patch(s8, shift0, "<b", -32), status)  # t = 63
    _refused(k, ("mlp", "s8"), _patch(s8, H + 8 + 4 * rows0, "<i", -1), status)  # negative multiplier
    _refused(k, ("mlp", "s8"), _patch(s8, H + 8, "<i", (1 << 30) + 1), status)  # bias beyond 2^30
    _refused(k, ("mlp", "s8"), _patch(s8, H + 6, "<h", 128), status)  # act_max beyond int8
    _refused(k, ("mlp", "s8"), _patch(_patch(s8, H + 4, "<h", 5), H + 6, "<h", 4), status)  # act_min > act_max
    _refused(k, ("mlp", "s8"), _patch(s8, 20, "<B", 3), status)  # 3-bit indices do not exist
    # Layer 1's input zero point must be layer 0's output zero point.
    layer1 = H + len(models["mlp", "s8"].layers[0].to_bytes())
    in_zp1 = models["mlp", "s8"].layers[1].in_zp
    _refused(k, ("mlp", "s8"), _patch(s8, layer1, "<h", in_zp1 + 1), status)
    s16 = quant.to_blob(models["mlp", "s16"])
    _refused(k, ("mlp", "s16"), _patch(s16, H + 8 + 8 * rows0, "<b", 15), status)  # Q15 form: t = 0
    _refused(k, ("mlp", "s16"), _patch(s16, H, "<h", 1), status)  # s16 zero points are 0
    # A blob of one kind offered to another binder.
    _refused(k, ("mlp", "s8"), s16, status)
    _refused(k, ("mlp", "s16"), s8, status)
    _refused(k, ("lstm", "s8"), quant.to_blob(models["lstm", "s16"]), status)
    _refused(k, ("mlp", "q15"), _patch(quant.to_blob(models["mlp", "q15"]), 20, "<B", 4), status)  # no codebooks
    q15 = quant.to_blob(models["mlp", "q15"])
    _refused(k, ("mlp", "q15"), _patch(q15, H, "<B", 31), status)  # bias_shift > 30
    _refused(k, ("mlp", "q15"), _patch(q15, H + 2, "<B", 2), status)  # relu is 0 or 1
    lq = quant.to_blob(models["lstm", "q15"])
    _refused(k, ("lstm", "q15"), _patch(lq, H + 4, "<B", 16), status)  # cell_frac > 15
    _refused(k, ("lstm", "q15"), _patch(lq, H, "<B", 17), status)  # ih_align > 16
    ls8 = quant.to_blob(models["lstm", "s8"])
    _refused(k, ("lstm", "s8"), _patch(ls8, H + 4, "<B", 16), status)  # cell_frac
    _refused(k, ("lstm", "s8"), _patch(ls8, H + 5, "<B", 1), status)  # reserved byte
    _refused(k, ("lstm", "s8"), _patch(ls8, H + 2, "<h", models["lstm", "s8"].layers[0].h_zp + 1), status)  # chain
    _refused(k, ("mlp", "s8"), s8, status, misalign=2)


def test_forward_refuses_a_model_bound_for_another_dtype(k: Kernels, status: dict[str, int], models: dict) -> None:
    bound = Bound(k, models["mlp", "s16"], status)
    x = np.zeros(180, np.int8)
    y = Guarded(8)
    scratch = Guarded(4096)
    ctx = Scratch(scratch.ptr, scratch.nbytes)
    assert k.forward["mlp", "s8"](bound.ptr, ctypes.byref(ctx), x.ctypes.data, y.ptr) == status["HIL_ERR_BAD_MODEL"]
    assert k.buffer_size["mlp", "s8"](bound.ptr) == 0
    lb = Bound(k, models["lstm", "s8"], status)
    rc = k.forward["lstm", "s16"](lb.ptr, ctypes.byref(ctx), x.ctypes.data, 3, 0, y.ptr)
    assert rc == status["HIL_ERR_BAD_MODEL"]
    assert (y.body == CANARY).all()
    bad = status["HIL_ERR_BAD_REQUEST"]
    assert k.forward["lstm", "s8"](lb.ptr, ctypes.byref(ctx), x.ctypes.data, 0, 0, y.ptr) == bad  # no steps
    assert k.forward["lstm", "s8"](lb.ptr, ctypes.byref(ctx), x.ctypes.data, 3, 0x80, y.ptr) == bad  # unknown flag
    assert (
        k.forward["lstm", "s8"](lb.ptr, ctypes.byref(Scratch(scratch.ptr + 1, 100)), x.ctypes.data, 3, 0, y.ptr) == bad
    )  # misaligned scratch
    assert k.forward["lstm", "s8"](lb.ptr, None, x.ctypes.data, 3, 0, y.ptr) == bad


# ------------------------------------------------------------------------------------------- the MCU builds

INTEGER_KERNEL = re.compile(r"hil_(sigmoid|tanh|dense|mlp_\w+|lstm_\w+)_(s8|s16|q15)\.c$")
# other kernels, the activation kernels' tables (the LSTM step reads them in its unit loop), memset/memcpy
ALLOWED_EXTERNALS = re.compile(r"^(hil_\w+|hils_(sigmoid|tanh)_table|memset|memcpy|memmove)$")


def test_integer_kernels_compile_for_cortex_m3_without_float_calls(kernel_build, tmp_path) -> None:
    """The Cortex-M3 (no FPU) build: every integer kernel compiles, and calls nothing but other kernels and
    memset/memcpy: no soft-float (__aeabi_f*/d*), no libm, no 64-bit helper. (The f32 kernels build there too, as
    the M3 board's image shows; compiling them here would only repeat it.)"""
    cc = shutil.which("arm-none-eabi-gcc")
    nm = shutil.which("arm-none-eabi-nm")
    if cc is None or nm is None:
        pytest.skip("arm-none-eabi-gcc/nm not installed; the host build still ran")
    m3 = ["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft", "-O2"]
    cflags = [f for f in kernel_build.cflags if f != "-Wdouble-promotion"]
    integer = [s for s in kernel_build.sources if INTEGER_KERNEL.search(s.name)]
    assert len(integer) >= 20, f"expected the integer kernels among the sources, found {[s.name for s in integer]}"

    def compile_one(src: Path) -> tuple[Path, subprocess.CompletedProcess]:
        obj = tmp_path / (src.stem + ".o")
        return obj, subprocess.run([cc, *m3, *cflags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(compile_one, integer))
    for (obj, proc), src in zip(results, integer, strict=True):
        assert proc.returncode == 0, f"Cortex-M3 build of {src.name} failed:\n{proc.stdout}{proc.stderr}"
        out = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True)
        undefined = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
        foreign = [sym for sym in undefined if not ALLOWED_EXTERNALS.match(sym)]
        assert not foreign, f"{src.name} on the Cortex-M3 calls {foreign}: integer kernels must not need them"
