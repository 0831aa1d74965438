"""hil_lstm_*_f32 and hil_dense_f32 on the host, through ctypes, against the float32 numpy reference."""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from ctypes import POINTER, c_int, c_size_t, c_uint8, c_uint16, c_void_p

import numpy as np
import pytest

from harness.models import lstm
from harness.models.lstm import HIL_LSTM_MAX_LAYERS, HIL_MODEL_HEADER_SIZE, LstmModel
from tests.kernels.guarded import CANARY, Guarded, aligned_copy

HIL_INFER_ALL_STEPS = 0x01


# ctypes mirrors of hil_lstm.h; every float pointer is a c_void_p, which has the same ABI.
class LayerF32(ctypes.Structure):
    _fields_ = [
        ("input_size", c_uint16),
        ("hidden_size", c_uint16),
        ("w_ih", c_void_p),
        ("w_hh", c_void_p),
        ("bias", c_void_p),
    ]


class ModelF32(ctypes.Structure):
    _fields_ = [
        ("n_layers", c_uint8),
        ("layers", LayerF32 * HIL_LSTM_MAX_LAYERS),
        ("output_size", c_uint16),
        ("dense_w", c_void_p),
        ("dense_b", c_void_p),
    ]


class CtxF32(ctypes.Structure):
    _fields_ = [("buf", c_void_p), ("size", c_size_t)]


class Kernels:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.bind_f32 = lib.hil_lstm_bind_f32
        self.bind_f32.argtypes = [c_void_p, c_size_t, POINTER(ModelF32)]
        self.bind_f32.restype = c_int
        self.buffer_size_f32 = lib.hil_lstm_buffer_size_f32
        self.buffer_size_f32.argtypes = [POINTER(ModelF32)]
        self.buffer_size_f32.restype = c_size_t
        self.cell_f32 = lib.hil_lstm_cell_f32
        self.cell_f32.argtypes = [POINTER(LayerF32), c_void_p, c_void_p, c_void_p, c_void_p]
        self.cell_f32.restype = c_int
        self.dense_f32 = lib.hil_dense_f32
        self.dense_f32.argtypes = [c_void_p, c_void_p, c_uint16, c_uint16, c_void_p, c_void_p]
        self.dense_f32.restype = c_int
        self.forward_f32 = lib.hil_lstm_forward_f32
        self.forward_f32.argtypes = [POINTER(ModelF32), POINTER(CtxF32), c_void_p, c_uint16, c_uint8, c_void_p]
        self.forward_f32.restype = c_int


class Bound:
    """A blob in aligned memory and the model bound to it (the model points into the blob)."""

    def __init__(self, k: Kernels, blob: bytes, status: dict[str, int]) -> None:
        self.raw, self.addr = aligned_copy(blob)
        self.model = ModelF32()
        rc = k.bind_f32(self.addr, len(blob), ctypes.byref(self.model))
        assert rc == status["HIL_OK"], f"bind returned {rc}"


@pytest.fixture(scope="module")
def k(kernel_lib: ctypes.CDLL) -> Kernels:
    return Kernels(kernel_lib)


def run_forward(
    k: Kernels, bound: Bound, x: np.ndarray, all_steps: bool, ctx_bytes: int | None = None
) -> tuple[int, Guarded, Guarded]:
    """Forward with guarded output and context (context pre-filled with NaN to prove the zero initial state)."""
    steps = x.shape[0]
    out_bytes = 4 * bound.model.output_size * (steps if all_steps else 1)
    need = k.buffer_size_f32(ctypes.byref(bound.model))
    out = Guarded(out_bytes)
    scratch = Guarded(need if ctx_bytes is None else ctx_bytes, fill=0xFF)
    ctx = CtxF32(scratch.ptr, scratch.nbytes)
    xs = np.ascontiguousarray(x, dtype=np.float32)
    flags = HIL_INFER_ALL_STEPS if all_steps else 0
    rc = k.forward_f32(ctypes.byref(bound.model), ctypes.byref(ctx), xs.ctypes.data, steps, flags, out.ptr)
    out.assert_guards_intact("output")
    scratch.assert_guards_intact("context")
    return rc, out, scratch


def check_against_reference(
    k: Kernels, status: dict[str, int], model: LstmModel, x: np.ndarray, all_steps: bool, atol: float = 1e-6
) -> float:
    bound = Bound(k, lstm.to_blob(model), status)
    rc, out, _ = run_forward(k, bound, x, all_steps)
    assert rc == status["HIL_OK"]
    expected = lstm.forward(model, x, dtype=np.float32, all_steps=all_steps).reshape(-1)
    got = out.floats()
    assert np.isfinite(got).all()
    err = float(np.max(np.abs(got - expected)))
    # Both sides are float32 on the same float32 weights and bias; they differ only in the order each gate sums
    # its I+H+1 terms (sequential in C, blocked in BLAS; FMA on some hosts): a few ulps per gate. Sigmoid and tanh
    # have slope <= 1 and saturate, so that does not grow through the gates, and the forget gate (< 1) keeps it
    # from piling up in c over 168 steps. Largest error measured over these shapes: 1.2e-7 on outputs up to ~3;
    # 1e-6 (+1e-6 relative for the wider heads) leaves ~8x margin and still fails on any real kernel bug.
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=atol)
    return err


def _inputs(steps: int, input_size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(steps, input_size)).astype(np.float32)


# ------------------------------------------------------------------------------------------ against the reference


@pytest.mark.parametrize("all_steps", [False, True], ids=["last", "all"])
@pytest.mark.parametrize("steps", [1, 24, 168])
@pytest.mark.parametrize("input_size", [1, 7])
@pytest.mark.parametrize("hidden", [1, 32, 128])
def test_single_layer_matches_reference(
    k: Kernels, status: dict[str, int], record_property, hidden: int, input_size: int, steps: int, all_steps: bool
) -> None:
    model = LstmModel.random(input_size, [hidden], output_size=input_size, seed=hidden * 10 + input_size)
    err = check_against_reference(k, status, model, _inputs(steps, input_size, seed=steps), all_steps)
    record_property("max_abs_err", err)


@pytest.mark.parametrize("all_steps", [False, True], ids=["last", "all"])
@pytest.mark.parametrize(
    ("input_size", "hidden_sizes", "output_size", "steps"),
    [(7, [32, 32], 7, 24), (1, [128, 32], 1, 168), (7, [8, 16, 8, 4], 2, 24)],
    ids=["7-32-32", "1-128-32", "4-layers"],
)
def test_stack_matches_reference(
    k: Kernels,
    status: dict[str, int],
    record_property,
    input_size: int,
    hidden_sizes: list[int],
    output_size: int,
    steps: int,
    all_steps: bool,
) -> None:
    model = LstmModel.random(input_size, hidden_sizes, output_size, seed=len(hidden_sizes))
    err = check_against_reference(k, status, model, _inputs(steps, input_size, seed=5), all_steps)
    record_property("max_abs_err", err)


def test_saturated_gates_stay_finite_and_match(k: Kernels, status: dict[str, int], record_property) -> None:
    # Pre-activations of hundreds push expf(-x) past FLT_MAX: the kernel must give the limit, not NaN.
    model = LstmModel.random(7, [32], 3, seed=9, scale=3.0)
    x = 50 * _inputs(24, 7, seed=9)
    # Pre-activations reach ~1e3, where one float32 ulp is 6e-5: a gate not yet saturated moves by up to that
    # (sigmoid slope <= 1/4, tanh <= 1). Measured 2.5e-6; 1e-4 is the one-ulp bound, not a guess.
    err = check_against_reference(k, status, model, x, all_steps=True, atol=1e-4)
    record_property("max_abs_err", err)


def test_context_is_reset_between_calls(k: Kernels, status: dict[str, int]) -> None:
    model = LstmModel.random(7, [32, 16], 7, seed=3)
    bound = Bound(k, lstm.to_blob(model), status)
    need = k.buffer_size_f32(ctypes.byref(bound.model))
    scratch = Guarded(need)
    ctx = CtxF32(scratch.ptr, need)
    x = _inputs(24, 7, seed=3)
    outs = []
    for _ in range(2):
        out = Guarded(4 * 7)
        rc = k.forward_f32(ctypes.byref(bound.model), ctypes.byref(ctx), x.ctypes.data, 24, 0, out.ptr)
        assert rc == status["HIL_OK"]
        outs.append(out.floats().copy())
    np.testing.assert_array_equal(outs[0], outs[1])
    scratch.assert_guards_intact("context")


def test_cell_from_nonzero_state(k: Kernels, status: dict[str, int]) -> None:
    model = LstmModel.random(7, [32], 1, seed=4)
    layer = model.layers[0]
    bound = Bound(k, lstm.to_blob(model), status)
    rng = np.random.default_rng(4)
    x = rng.normal(size=7).astype(np.float32)
    h = Guarded(4 * 32)
    c = Guarded(4 * 32)
    h.floats()[:] = h0 = rng.uniform(-1, 1, 32).astype(np.float32)
    c.floats()[:] = c0 = rng.uniform(-2, 2, 32).astype(np.float32)
    gates = Guarded(4 * 4 * 32)
    rc = k.cell_f32(ctypes.byref(bound.model.layers[0]), x.ctypes.data, h.ptr, c.ptr, gates.ptr)
    assert rc == status["HIL_OK"]
    pre = layer.w_ih @ x + layer.w_hh @ h0 + (layer.b_ih + layer.b_hh)
    g_i, g_f, g_g, g_o = np.split(pre, 4)
    c1 = 1 / (1 + np.exp(-g_f)) * c0 + 1 / (1 + np.exp(-g_i)) * np.tanh(g_g)
    h1 = 1 / (1 + np.exp(-g_o)) * np.tanh(c1)
    # One step, float32, sums of 40 terms in different orders: a few ulps of values below ~3.
    np.testing.assert_allclose(c.floats(), c1, rtol=0, atol=2e-6)
    np.testing.assert_allclose(h.floats(), h1, rtol=0, atol=2e-6)
    for buf, name in ((h, "h"), (c, "c"), (gates, "gates")):
        buf.assert_guards_intact(name)


def test_dense(k: Kernels, status: dict[str, int]) -> None:
    rng = np.random.default_rng(5)
    w = rng.normal(size=(5, 33)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    x = rng.normal(size=33).astype(np.float32)
    y = Guarded(4 * 5)
    assert k.dense_f32(w.ctypes.data, b.ctypes.data, 33, 5, x.ctypes.data, y.ptr) == status["HIL_OK"]
    # 33 float32 products summed in another order than numpy's: a few ulps of |y| ~ 10.
    np.testing.assert_allclose(y.floats(), w @ x + b, rtol=0, atol=1e-5)
    y.assert_guards_intact("dense output")
    assert k.dense_f32(None, b.ctypes.data, 33, 5, x.ctypes.data, y.ptr) == status["HIL_ERR_BAD_REQUEST"]


# ------------------------------------------------------------------------------------------ bind and buffer size


def test_bind_points_into_the_blob(k: Kernels, status: dict[str, int]) -> None:
    model = LstmModel.random(3, [5, 4], 2, seed=1)
    blob = lstm.to_blob(model)
    bound = Bound(k, blob, status)
    m = bound.model
    assert (m.n_layers, m.output_size) == (2, 2)
    assert [(m.layers[i].input_size, m.layers[i].hidden_size) for i in range(2)] == [(3, 5), (5, 4)]
    offset = bound.addr + HIL_MODEL_HEADER_SIZE
    for i, (n_in, h) in enumerate([(3, 5), (5, 4)]):
        assert (m.layers[i].w_ih, m.layers[i].w_hh, m.layers[i].bias) == (
            offset,
            offset + 4 * 4 * h * n_in,
            offset + 4 * 4 * h * (n_in + h),
        )
        offset += 4 * 4 * h * (n_in + h + 1)
    assert (m.dense_w, m.dense_b) == (offset, offset + 4 * 2 * 4)
    assert m.dense_b + 4 * 2 == bound.addr + len(blob)
    assert k.buffer_size_f32(ctypes.byref(m)) == 4 * (2 * 5 + 2 * 4 + 4 * 5)


def _patched(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: _patched(b, 0, "<I", 0x4D4C4949),
        lambda b: _patched(b, 4, "<H", 2),
        lambda b: _patched(b, 6, "<B", 2),
        lambda b: _patched(b, 7, "<B", 0),
        lambda b: _patched(b, 7, "<B", 5),
        lambda b: _patched(b, 7, "<B", 1),  # one layer: the length no longer matches
        lambda b: _patched(b, 8, "<H", 0),
        lambda b: _patched(b, 10, "<H", 0),
        lambda b: _patched(b, 12, "<H", 0),
        lambda b: _patched(b, 16, "<H", 1),
        lambda b: _patched(b, 20, "<I", 1),
        lambda b: b[:-4],
        lambda b: b + b"\0\0\0\0",
        lambda b: b[: HIL_MODEL_HEADER_SIZE - 1],
        lambda b: b"",
    ],
    ids=[
        "magic",
        "version",
        "kind",
        "layers0",
        "layers5",
        "layers_vs_length",
        "input0",
        "output0",
        "hidden0",
        "unused_hidden",
        "reserved",
        "short",
        "long",
        "header_cut",
        "empty",
    ],
)
def test_bind_refuses_corrupt_blob(k: Kernels, status: dict[str, int], mutate) -> None:
    blob = mutate(lstm.to_blob(LstmModel.random(3, [5, 4], 2, seed=1)))
    _keep, addr = aligned_copy(blob)
    model = ModelF32()
    assert k.bind_f32(addr, len(blob), ctypes.byref(model)) == status["HIL_ERR_BAD_MODEL"]
    assert model.n_layers == 0, "a refused blob must leave the caller's model untouched"


def test_bind_refuses_misaligned_blob_and_null(k: Kernels, status: dict[str, int]) -> None:
    blob = lstm.to_blob(LstmModel.random(3, [5], 2, seed=1))
    _keep, addr = aligned_copy(blob, misalign=2)
    model = ModelF32()
    assert k.bind_f32(addr, len(blob), ctypes.byref(model)) == status["HIL_ERR_BAD_MODEL"]
    assert k.bind_f32(None, len(blob), ctypes.byref(model)) == status["HIL_ERR_BAD_REQUEST"]
    _keep, addr = aligned_copy(blob)
    assert k.bind_f32(addr, len(blob), None) == status["HIL_ERR_BAD_REQUEST"]


# ------------------------------------------------------------------------------------------ forward error paths


@pytest.fixture
def small(k: Kernels, status: dict[str, int]) -> Bound:
    return Bound(k, lstm.to_blob(LstmModel.random(3, [5, 4], 2, seed=1)), status)


@pytest.mark.parametrize("short_by", [1, 4, 10**9])
def test_too_small_context(k: Kernels, status: dict[str, int], small: Bound, short_by: int) -> None:
    need = k.buffer_size_f32(ctypes.byref(small.model))
    rc, out, _ = run_forward(k, small, _inputs(6, 3, seed=0), True, ctx_bytes=max(need - short_by, 0))
    assert rc == status["HIL_ERR_BUFFER_TOO_SMALL"]
    assert (out.body == CANARY).all(), "a refused call must not write the output"


def test_bad_requests(k: Kernels, status: dict[str, int], small: Bound) -> None:
    need = k.buffer_size_f32(ctypes.byref(small.model))
    scratch = Guarded(need)
    ctx = CtxF32(scratch.ptr, need)
    x = _inputs(6, 3, seed=0)
    out = Guarded(4 * 2 * 6)
    model = ctypes.byref(small.model)
    bad = status["HIL_ERR_BAD_REQUEST"]
    assert k.forward_f32(model, ctypes.byref(ctx), x.ctypes.data, 0, 0, out.ptr) == bad
    assert k.forward_f32(None, ctypes.byref(ctx), x.ctypes.data, 6, 0, out.ptr) == bad
    assert k.forward_f32(model, None, x.ctypes.data, 6, 0, out.ptr) == bad
    assert k.forward_f32(model, ctypes.byref(CtxF32(None, need)), x.ctypes.data, 6, 0, out.ptr) == bad
    assert k.forward_f32(model, ctypes.byref(ctx), None, 6, 0, out.ptr) == bad
    assert k.forward_f32(model, ctypes.byref(ctx), x.ctypes.data, 6, 0, None) == bad
    assert k.forward_f32(model, ctypes.byref(ctx), x.ctypes.data, 6, 0x80, out.ptr) == bad  # unknown flag
    assert (out.body == CANARY).all()
    out.assert_guards_intact("output")
    scratch.assert_guards_intact("context")


def test_forward_refuses_inconsistent_model(k: Kernels, status: dict[str, int], small: Bound) -> None:
    # Compiled-in models never pass through bind: forward must still refuse a broken layer chain.
    broken = ModelF32.from_buffer_copy(small.model)
    broken.layers[1].input_size = 4
    need = k.buffer_size_f32(ctypes.byref(small.model))
    scratch = Guarded(need)
    ctx = CtxF32(scratch.ptr, need)
    x = _inputs(6, 3, seed=0)
    out = Guarded(4 * 2)
    rc = k.forward_f32(ctypes.byref(broken), ctypes.byref(ctx), x.ctypes.data, 6, 0, out.ptr)
    assert rc == status["HIL_ERR_BAD_MODEL"]
    broken = ModelF32.from_buffer_copy(small.model)
    broken.n_layers = HIL_LSTM_MAX_LAYERS + 1
    assert k.buffer_size_f32(ctypes.byref(broken)) == 0
    rc = k.forward_f32(ctypes.byref(broken), ctypes.byref(ctx), x.ctypes.data, 6, 0, out.ptr)
    assert rc == status["HIL_ERR_BAD_MODEL"]


# ------------------------------------------------------------------------------------------ the MCU build


def test_kernels_compile_clean_for_cortex_m4(kernel_build, tmp_path) -> None:
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc not installed; the host build still ran")
    mcu = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]
    cmd = [cc, *mcu, *kernel_build.cflags, "-c", *map(str, kernel_build.sources)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0, f"MCU build failed:\n{proc.stdout}{proc.stderr}"
