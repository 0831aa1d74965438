"""hil_lstm_backward_f32, clipping and the optimizers on the host, through ctypes, against harness.models.lstm_train.

The C side works on one sequence at a time and accumulates; a batch is B backward calls and hil_vec_scale_f32(1/B),
exactly as the device runtime will drive it. The reference is the float32 one, which makes the same class of
rounding errors, so the tolerances below measure arithmetic order, not precision. Every test runs twice: on the
ISO C build and on a build that fuses multiply-adds as the Cortex-M4F board does.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_float, c_int, c_size_t, c_uint8, c_uint16, c_uint32, c_void_p

import numpy as np
import pytest

from harness.models import lstm
from harness.models import lstm_train as lt
from harness.models.lstm import HIL_MODEL_HEADER_SIZE, LstmModel
from tests.kernels.guarded import CANARY, Guarded
from tests.kernels.test_lstm_kernel import Bound, CtxF32, Kernels, ModelF32

HIL_LOSS_MSE = 0
HIL_LOSS_CE = 1
LOSS_KIND = {"mse": HIL_LOSS_MSE, "ce": HIL_LOSS_CE}


class SgdParams(ctypes.Structure):
    _fields_ = [("lr", c_float), ("momentum", c_float)]


class AdamParams(ctypes.Structure):
    _fields_ = [("lr", c_float), ("beta1", c_float), ("beta2", c_float), ("eps", c_float)]


class TrainKernels(Kernels):
    fused = False  # built with -ffp-contract=fast (and FMA), as the Cortex-M4F board builds

    def __init__(self, lib: ctypes.CDLL) -> None:
        super().__init__(lib)
        self.train_buffer_size = lib.hil_lstm_train_buffer_size_f32
        self.train_buffer_size.argtypes = [POINTER(ModelF32), c_uint16]
        self.train_buffer_size.restype = c_size_t
        self.backward = lib.hil_lstm_backward_f32
        self.backward.argtypes = [
            POINTER(ModelF32),
            POINTER(CtxF32),  # hil_lstm_train_ctx_f32_t has the same two fields
            c_void_p,
            c_uint16,
            c_void_p,
            c_uint8,
            c_void_p,
            POINTER(c_float),
        ]
        self.backward.restype = c_int
        self.vec_scale = lib.hil_vec_scale_f32
        self.vec_scale.argtypes = [c_void_p, c_size_t, c_float]
        self.vec_scale.restype = c_int
        self.clip = lib.hil_clip_grad_norm_f32
        self.clip.argtypes = [c_void_p, c_size_t, c_float, POINTER(c_float)]
        self.clip.restype = c_int
        self.sgd = lib.hil_sgd_step_f32
        self.sgd.argtypes = [POINTER(SgdParams), c_void_p, c_void_p, c_void_p, c_size_t]
        self.sgd.restype = c_int
        self.adam = lib.hil_adam_step_f32
        self.adam.argtypes = [POINTER(AdamParams), c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_uint32]
        self.adam.restype = c_int


# Every test runs on the ISO C build (no contraction, what the references' float32 arithmetic is) and on the FMA
# build (what the M4F board runs): the tolerances and the all-or-nothing guarantees must hold for both.
@pytest.fixture(scope="module", params=["iso", "fma"])
def tk(request: pytest.FixtureRequest, kernel_lib: ctypes.CDLL) -> TrainKernels:
    lib = kernel_lib if request.param == "iso" else request.getfixturevalue("fma_kernel_lib")
    kernels = TrainKernels(lib)
    kernels.fused = request.param == "fma"
    return kernels


def buffer_bytes(model: LstmModel, steps: int) -> int:
    """The formula documented in hil_lstm_train.h, written out independently of the C code."""
    hidden = model.hidden_sizes
    return 4 * (sum((2 * steps + 2) * h for h in hidden) + 8 * max(hidden) + model.output_size)


def f32(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)


class Trainer:
    """A bound model plus guarded scratch and gradient, driven like the device runtime drives the kernels."""

    def __init__(self, tk: TrainKernels, status: dict[str, int], model: LstmModel, steps: int) -> None:
        self.tk, self.status, self.steps = tk, status, steps
        self.bound = Bound(tk, lstm.to_blob(model), status)
        self.n = lt.flat_size(model)
        self.scratch_bytes = tk.train_buffer_size(ctypes.byref(self.bound.model), steps)
        self.scratch = Guarded(self.scratch_bytes, fill=0xFF)
        self.grad = Guarded(4 * self.n, fill=0)

    @property
    def params(self) -> np.ndarray:
        """The flat parameter vector: the blob payload the bound model points into."""
        start = self.bound.addr - self.bound.raw.ctypes.data + HIL_MODEL_HEADER_SIZE
        return self.bound.raw[start : start + 4 * self.n].view(np.float32)

    def backward(self, x: np.ndarray, target, loss: str, ctx_bytes: int | None = None) -> tuple[int, float]:
        ctx = CtxF32(self.scratch.ptr, self.scratch_bytes if ctx_bytes is None else ctx_bytes)
        xs = f32(x)
        tgt = f32(np.atleast_1d(target))
        out = c_float(np.nan)
        rc = self.tk.backward(
            ctypes.byref(self.bound.model),
            ctypes.byref(ctx),
            xs.ctypes.data,
            xs.shape[0],
            tgt.ctypes.data,
            LOSS_KIND[loss],
            self.grad.ptr,
            ctypes.byref(out),
        )
        self.scratch.assert_guards_intact("scratch")
        self.grad.assert_guards_intact("grad")
        return rc, out.value

    def batch(self, X: np.ndarray, target, loss: str) -> tuple[float, np.ndarray]:
        """Batch-mean loss and gradient: B accumulating backward calls, then scale by 1/B."""
        self.grad.floats()[:] = 0
        total = np.float32(0)
        for b in range(X.shape[0]):
            rc, value = self.backward(X[b], target[b], loss)
            assert rc == self.status["HIL_OK"], f"backward returned {rc} on sequence {b}"
            total += np.float32(value)
        n_batch = X.shape[0]
        assert self.tk.vec_scale(self.grad.ptr, self.n, 1.0 / n_batch) == self.status["HIL_OK"]
        return float(total / np.float32(n_batch)), self.grad.floats().copy()


def _data(model: LstmModel, n_batch: int, steps: int, loss: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_batch, steps, model.input_size)).astype(np.float32)
    if loss == "mse":
        return X, rng.normal(size=(n_batch, model.output_size)).astype(np.float32)
    return X, np.arange(n_batch) % model.output_size  # every class present


# ----------------------------------------------------------------------------------------- gradients vs reference

# (input, hidden, output, steps, batch, loss)
CASES = {
    "lstm32-T24-I7": (7, [32], 7, 24, 1, "mse"),
    "lstm32-T24-I7-B3": (7, [32], 1, 24, 3, "mse"),
    "stack-32-16": (7, [32, 16], 3, 24, 3, "mse"),
    "lstm8-ce4": (3, [8], 4, 24, 4, "ce"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_gradient_matches_float32_reference(tk: TrainKernels, status: dict[str, int], record_property, case) -> None:
    n_in, hidden, n_out, steps, n_batch, loss = case
    model = LstmModel.random(n_in, hidden, n_out, seed=sum(hidden) + n_out)
    X, target = _data(model, n_batch, steps, loss, seed=steps + n_batch)
    trainer = Trainer(tk, status, model, steps)
    c_loss, c_grad = trainer.batch(X, target, loss)
    ref_loss, ref_grad = lt.loss_and_grad(model, X, target, loss=loss, dtype=np.float32)
    _, grad64 = lt.loss_and_grad(model, X, target, loss=loss, dtype=np.float64)
    scale = float(np.abs(ref_grad).max())
    err = float(np.abs(c_grad - ref_grad).max()) / scale
    err64 = float(np.abs(ref_grad - grad64).max()) / scale
    record_property("max_rel_err_vs_f32_ref", err)
    record_property("max_rel_err_f32_ref_vs_f64", err64)
    # Relative to the largest entry, because every entry is a sum of products whose rounding scales with the
    # largest terms, not with the (possibly tiny) sum. Each side rounds float32 sums of up to I+H+1 terms per gate
    # and 24 steps of accumulation, in different orders (four partial sums in C, blocked BLAS in numpy; fused
    # multiply-adds in the FMA build). Measured worst 3.4e-7 (4.5e-7 fused) over these cases, the same size as the
    # float32 reference's own distance from float64 (err64, up to 2.4e-7): C is as accurate as float32 allows.
    # 3e-6 leaves ~7x margin for other BLAS builds and compilers; a wrong term (a gate derivative, a missing
    # recurrent path, the 1/B scale) moves entries by 1e-2 or more.
    assert err < 3e-6, f"C gradient differs from the float32 reference by {err:.2e} of its largest entry"
    # The loss is one float32 forward pass and a mean over B sequences: a few ulps of its value.
    assert c_loss == pytest.approx(ref_loss, rel=1e-5)
    assert np.isfinite(c_grad).all()


@pytest.mark.parametrize("hidden", [[32], [32, 16]], ids=["1-layer", "2-layers"])
def test_training_forward_is_the_inference_forward(tk: TrainKernels, status: dict[str, int], hidden) -> None:
    # The backward pass runs its own forward (it must keep every step); it must compute exactly what
    # hil_lstm_forward_f32 computes, or the device would train a slightly different model than it serves. Compared
    # bit for bit on the final h and c of every layer, read from both scratch layouts (hil_lstm.h: h, c per layer;
    # hil_lstm_train.h: per layer and step c, h): a loss alone would round small differences away.
    model = LstmModel.random(7, hidden, 1, seed=12)
    steps = 24
    X, target = _data(model, 1, steps, "mse", seed=12)
    trainer = Trainer(tk, status, model, steps)
    rc, c_loss = trainer.backward(X[0], target[0], "mse")
    assert rc == status["HIL_OK"]
    need = tk.buffer_size_f32(ctypes.byref(trainer.bound.model))
    scratch, y = Guarded(need), Guarded(4)
    ctx = CtxF32(scratch.ptr, need)
    xs = f32(X[0])
    rc = tk.forward_f32(ctypes.byref(trainer.bound.model), ctypes.byref(ctx), xs.ctypes.data, steps, 0, y.ptr)
    assert rc == status["HIL_OK"]
    infer, train = scratch.floats(), trainer.scratch.floats()
    infer_at = train_at = 0
    for n_h in hidden:
        last = train[train_at + (steps - 1) * 2 * n_h :][: 2 * n_h]
        np.testing.assert_array_equal(last[n_h:], infer[infer_at : infer_at + n_h], err_msg="h differs")
        np.testing.assert_array_equal(last[:n_h], infer[infer_at + n_h : infer_at + 2 * n_h], "c differs")
        infer_at += 2 * n_h
        train_at += 2 * n_h * steps
    d = y.floats()[0] - target[0, 0]
    assert np.float32(c_loss) == d * d  # one output: the MSE is (y - t)^2, from the same y


def test_gradient_accumulates(tk: TrainKernels, status: dict[str, int]) -> None:
    model = LstmModel.random(3, [8, 4], 2, seed=2)
    X, target = _data(model, 1, 10, "mse", seed=2)
    trainer = Trainer(tk, status, model, 10)
    _, once = trainer.batch(X, target, "mse")
    rc, _ = trainer.backward(X[0], target[0], "mse")  # onto the gradient already there
    assert rc == status["HIL_OK"]
    # Adding the same contributions a second time: each entry is at most a few ulps from 2x its first value.
    np.testing.assert_allclose(trainer.grad.floats(), 2 * once, rtol=0, atol=1e-6 * np.abs(once).max())


# ----------------------------------------------------------------------------------------- scratch


@pytest.mark.parametrize(
    ("n_in", "hidden", "n_out", "steps"),
    [(7, [32], 7, 24), (3, [8, 16, 8, 4], 2, 5), (1, [1], 1, 1), (2, [5, 9], 3, 17)],
    ids=["lstm32", "4-layers", "tiny", "stack"],
)
def test_buffer_size_is_exact(
    tk: TrainKernels, status: dict[str, int], n_in: int, hidden: list[int], n_out: int, steps: int
) -> None:
    model = LstmModel.random(n_in, hidden, n_out, seed=steps)
    trainer = Trainer(tk, status, model, steps)
    assert trainer.scratch_bytes == buffer_bytes(model, steps)
    X, target = _data(model, 1, steps, "mse", seed=1)

    rc, _ = trainer.backward(X[0], target[0], "mse", ctx_bytes=trainer.scratch_bytes - 4)  # one float less
    assert rc == status["HIL_ERR_BUFFER_TOO_SMALL"]
    assert (trainer.scratch.body == 0xFF).all() and (trainer.grad.body == 0).all(), "a refusal must write nothing"

    rc, _ = trainer.backward(X[0], target[0], "mse")  # exactly the size: guards checked inside
    assert rc == status["HIL_OK"]
    # And not more than it needs: every float of the scratch was used (the fill 0xFFFFFFFF is a NaN no kernel
    # computes from finite data).
    unused = np.flatnonzero(trainer.scratch.body.view(np.uint32) == 0xFFFFFFFF)
    assert unused.size == 0, f"scratch floats {unused[:8]}... never written: the formula over-allocates"


def test_buffer_size_of_bad_requests(tk: TrainKernels, status: dict[str, int]) -> None:
    bound = Bound(tk, lstm.to_blob(LstmModel.random(3, [5], 2, seed=1)), status)
    assert tk.train_buffer_size(ctypes.byref(bound.model), 0) == 0
    assert tk.train_buffer_size(None, 5) == 0
    broken = ModelF32.from_buffer_copy(bound.model)
    broken.n_layers = 0
    assert tk.train_buffer_size(ctypes.byref(broken), 5) == 0


# ----------------------------------------------------------------------------------------- refusals


@pytest.fixture
def small(tk: TrainKernels, status: dict[str, int]) -> Trainer:
    return Trainer(tk, status, LstmModel.random(3, [5, 4], 4, seed=1), 6)


def test_bad_requests_write_nothing(tk: TrainKernels, status: dict[str, int], small: Trainer) -> None:
    X, target = _data(LstmModel.random(3, [5, 4], 4, seed=1), 1, 6, "mse", seed=0)
    bad = status["HIL_ERR_BAD_REQUEST"]
    for cls in (-1.0, 4.0, 1.5, np.nan):
        assert small.backward(X[0], cls, "ce")[0] == bad, f"CE class {cls} accepted"
    model, ctx = ctypes.byref(small.bound.model), ctypes.byref(CtxF32(small.scratch.ptr, small.scratch_bytes))
    xs, tgt, out = X[0].ctypes.data, target[0].ctypes.data, ctypes.byref(c_float())
    assert tk.backward(model, ctx, xs, 6, tgt, 2, small.grad.ptr, out) == bad  # unknown loss kind
    assert tk.backward(model, ctx, xs, 0, tgt, 0, small.grad.ptr, out) == bad
    assert tk.backward(None, ctx, xs, 6, tgt, 0, small.grad.ptr, out) == bad
    assert tk.backward(model, None, xs, 6, tgt, 0, small.grad.ptr, out) == bad
    assert tk.backward(model, ctypes.byref(CtxF32(None, 10**6)), xs, 6, tgt, 0, small.grad.ptr, out) == bad
    assert tk.backward(model, ctx, None, 6, tgt, 0, small.grad.ptr, out) == bad
    assert tk.backward(model, ctx, xs, 6, None, 0, small.grad.ptr, out) == bad
    assert tk.backward(model, ctx, xs, 6, tgt, 0, None, out) == bad
    assert tk.backward(model, ctx, xs, 6, tgt, 0, small.grad.ptr, None) == bad
    broken = ModelF32.from_buffer_copy(small.bound.model)
    broken.layers[1].input_size = 4  # the chain no longer matches: must not run past the weights
    assert tk.backward(ctypes.byref(broken), ctx, xs, 6, tgt, 0, small.grad.ptr, out) == status["HIL_ERR_BAD_MODEL"]
    assert (small.grad.body == 0).all() and (small.scratch.body == 0xFF).all()
    small.grad.assert_guards_intact("grad")
    small.scratch.assert_guards_intact("scratch")


@pytest.mark.parametrize("where", ["input", "target"])
def test_non_finite_loss_leaves_grad_untouched(status: dict[str, int], small: Trainer, where: str) -> None:
    X, target = _data(LstmModel.random(3, [5, 4], 4, seed=1), 1, 6, "mse", seed=0)
    x, t = X[0].copy(), target[0].copy()
    if where == "input":
        x[3, 1] = np.nan
    else:
        t[2] = np.inf
    rc, value = small.backward(x, t, "mse")
    assert rc == status["HIL_ERR_NON_FINITE"]
    assert not np.isfinite(value)
    assert (small.grad.body == 0).all()


def test_non_finite_gradient_with_finite_loss(status: dict[str, int], small: Trainer) -> None:
    # An Inf weight in layer 1's W_ih saturates one gate (forward stays finite), but its backward product
    # 0 * Inf is NaN in layer 0's dL/dh: only the scan of the accumulated gradient can catch that.
    layer1_w_ih = 4 * 5 * (3 + 5 + 1)
    small.params[layer1_w_ih] = np.inf
    X, target = _data(LstmModel.random(3, [5, 4], 4, seed=1), 1, 6, "mse", seed=0)
    rc, value = small.backward(X[0], target[0], "mse")
    assert np.isfinite(value)
    assert rc == status["HIL_ERR_NON_FINITE"]


# ----------------------------------------------------------------------------------------- clipping


@pytest.mark.parametrize("max_norm", [0.5, 1e6, 0.0], ids=["clips", "above", "off"])
def test_clip_matches_reference(tk: TrainKernels, status: dict[str, int], max_norm: float) -> None:
    g = f32(np.random.default_rng(3).normal(scale=0.1, size=4000))
    buf = Guarded(4 * g.size)
    buf.floats()[:] = g
    norm = c_float()
    assert tk.clip(buf.ptr, g.size, max_norm, ctypes.byref(norm)) == status["HIL_OK"]
    buf.assert_guards_intact("grad")
    ref, ref_norm = lt.clip_grad_norm(g, max_norm)
    # The C norm sums 4000 squares sequentially, numpy pairwise: their float32 rounding differs by up to about
    # sqrt(n) * eps ~ 4e-6 relative (measured 2.3e-7). The clipped entries inherit that through the scale.
    assert norm.value == pytest.approx(ref_norm, rel=1e-5)
    if max_norm == 0.5:
        assert ref_norm > max_norm
        np.testing.assert_allclose(buf.floats(), ref, rtol=1e-5)
        assert float(np.linalg.norm(buf.floats().astype(np.float64))) == pytest.approx(max_norm, rel=1e-5)
    else:
        np.testing.assert_array_equal(buf.floats(), g)  # untouched, bit for bit


def test_clip_refuses_non_finite(tk: TrainKernels, status: dict[str, int]) -> None:
    g = f32([1.0, np.inf, 2.0])
    buf = Guarded(12)
    buf.floats()[:] = g
    before = buf.body.copy()
    assert tk.clip(buf.ptr, 3, 1.0, None) == status["HIL_ERR_NON_FINITE"]
    assert (buf.body == before).all()
    assert tk.clip(buf.ptr, 3, np.nan, None) == status["HIL_ERR_BAD_REQUEST"]
    assert tk.clip(None, 3, 1.0, None) == status["HIL_ERR_BAD_REQUEST"]


# ----------------------------------------------------------------------------------------- optimizers


def _ulps(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in units in the last place between two float32 arrays of finite values."""
    ia, ib = a.view(np.int32).astype(np.int64), b.view(np.int32).astype(np.int64)
    # Map the sign-magnitude float order onto a monotonic integer line.
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return int(np.abs(ia - ib).max())


OPTIMIZERS = {
    "sgd": (lambda: lt.Sgd(lr=0.05), SgdParams(0.05, 0.0)),
    "sgd-momentum": (lambda: lt.Sgd(lr=0.05, momentum=0.9), SgdParams(0.05, 0.9)),
    "adam": (lambda: lt.Adam(lr=0.01), AdamParams(0.01, 0.9, 0.999, 1e-8)),
    "adam-custom": (lambda: lt.Adam(lr=0.003, beta1=0.8, beta2=0.99, eps=1e-6), AdamParams(0.003, 0.8, 0.99, 1e-6)),
}


@pytest.mark.parametrize("name", OPTIMIZERS.keys())
def test_optimizer_matches_reference_over_50_steps(
    tk: TrainKernels, status: dict[str, int], record_property, name: str
) -> None:
    make_ref, c_params = OPTIMIZERS[name]
    ref = make_ref()
    rng = np.random.default_rng(7)
    n = 777
    params = Guarded(4 * n)
    params.floats()[:] = ref_p = f32(rng.normal(size=n))
    state = [Guarded(4 * n, fill=0), Guarded(4 * n, fill=0)]  # momentum, or Adam's m and v; zeroed
    worst_ulps, worst_rel = 0, 0.0
    for step in range(1, 51):
        g = f32(rng.normal(scale=rng.uniform(0.01, 3.0), size=n))
        g[:5] = 0.0  # exact zeros: Adam's 0/(0+eps) and momentum's decay of an idle entry
        if isinstance(c_params, SgdParams):
            rc = tk.sgd(ctypes.byref(c_params), params.ptr, g.ctypes.data, state[0].ptr, n)
        else:
            rc = tk.adam(ctypes.byref(c_params), params.ptr, g.ctypes.data, state[0].ptr, state[1].ptr, n, step)
        assert rc == status["HIL_OK"]
        ref_p = ref.step(ref_p, g)
        if isinstance(ref, lt.Adam):
            pairs = [(params, ref_p), (state[0], ref.m), (state[1], ref.v)]
        elif ref.momentum:
            pairs = [(params, ref_p), (state[0], ref.momentum_buffer)]
        else:
            pairs = [(params, ref_p)]
        for got, want in pairs:
            worst_ulps = max(worst_ulps, _ulps(got.floats(), want))
            worst_rel = max(worst_rel, float(np.abs(got.floats() - want).max() / np.abs(want).max()))
    for buf in (params, *state):
        buf.assert_guards_intact(name)
    record_property("max_ulps", worst_ulps)
    record_property("max_rel_err", worst_rel)
    if not tk.fused:
        # Same IEEE float32 operations in the same order on both sides (C11 does not contract a*b+c into an FMA
        # unless asked, and numpy applies one operation per array), so SGD is bit for bit. Adam adds powf, which C
        # takes from libm and numpy may take from its own SIMD code: one ulp in a bias correction moves the step
        # size by one ulp, which can move a parameter by one ulp per step. Measured 0 on glibc; 4 ulps after 50
        # steps still fails on any change to the formula (a missing bias correction is off by 10-1000x).
        assert worst_ulps <= (0 if name.startswith("sgd") else 4), f"{name}: {worst_ulps} ulps from the reference"
    else:
        # Fused, p - lr*buf and beta*m + (1-beta)*g round once where the reference rounds twice: up to one ulp of
        # the array's scale per step, so at most 50 * 6e-8 = 3e-6 of the largest entry after 50 steps (measured
        # 4.4e-7: the errors mostly cancel). Ulps are no measure here: an entry near 0 has tiny ulps while its
        # error is an ulp of the terms that cancelled in it.
        assert worst_rel <= 3e-6, f"{name}: {worst_rel:.2e} of the largest entry from the reference"


def _sgd_overflowing_last(n: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.full(n, 1e-3, np.float32)
    g[-1] = 1e10  # 1e30 * 1e10 = 1e40 > FLT_MAX: only the very last element overflows
    return g, f32(np.linspace(-1, 1, n))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_is_all_or_nothing(tk: TrainKernels, status: dict[str, int], momentum: float) -> None:
    n = 300
    g, p0 = _sgd_overflowing_last(n)
    params, buf = Guarded(4 * n), Guarded(4 * n)
    params.floats()[:] = p0
    buf.floats()[:] = f32(np.linspace(0.5, -0.5, n))
    before = params.body.copy(), buf.body.copy()
    rc = tk.sgd(ctypes.byref(SgdParams(1e30, momentum)), params.ptr, g.ctypes.data, buf.ptr, n)
    assert rc == status["HIL_ERR_NON_FINITE"]
    assert (params.body == before[0]).all(), "params changed by a refused step"
    assert (buf.body == before[1]).all(), "momentum buffer changed by a refused step"
    # The same step without the overflowing entry is taken: the refusal was about that element alone.
    ok = tk.sgd(ctypes.byref(SgdParams(1e30, momentum)), params.ptr, g.ctypes.data, buf.ptr, n - 1)
    assert ok == status["HIL_OK"]


@pytest.mark.parametrize("case", ["absurd-lr", "v-overflows"])
def test_adam_is_all_or_nothing(tk: TrainKernels, status: dict[str, int], case: str) -> None:
    n = 300
    rng = np.random.default_rng(9)
    g = f32(rng.normal(size=n))
    if case == "absurd-lr":
        hp = AdamParams(3e38, 0.9, 0.999, 1e-8)  # lr / (1 - beta1^t) overflows for every element
    else:
        hp = AdamParams(1e-3, 0.9, 0.999, 1e-8)
        g[-1] = 1e25  # (1 - beta2) * g * g overflows v of the last element; its parameter update stays finite
    params, m, v = Guarded(4 * n), Guarded(4 * n), Guarded(4 * n)
    params.floats()[:] = f32(rng.normal(size=n))
    m.floats()[:] = f32(rng.normal(scale=0.1, size=n))
    v.floats()[:] = f32(rng.uniform(0, 0.1, size=n))
    before = [buf.body.copy() for buf in (params, m, v)]
    rc = tk.adam(ctypes.byref(hp), params.ptr, g.ctypes.data, m.ptr, v.ptr, n, 3)
    assert rc == status["HIL_ERR_NON_FINITE"]
    for buf, old, what in zip((params, m, v), before, ("params", "m", "v"), strict=True):
        assert (buf.body == old).all(), f"{what} changed by a refused step"
        buf.assert_guards_intact(what)


def test_optimizers_refuse_bad_hyper_parameters(tk: TrainKernels, status: dict[str, int]) -> None:
    n = 4
    p, g, s1, s2 = (Guarded(4 * n, fill=0) for _ in range(4))
    bad = status["HIL_ERR_BAD_REQUEST"]
    for hp in (SgdParams(-0.1, 0.0), SgdParams(np.nan, 0.0), SgdParams(0.1, -0.5)):
        assert tk.sgd(ctypes.byref(hp), p.ptr, g.ptr, s1.ptr, n) == bad
    assert tk.sgd(ctypes.byref(SgdParams(0.1, 0.9)), p.ptr, g.ptr, None, n) == bad  # momentum needs its buffer
    assert tk.sgd(ctypes.byref(SgdParams(0.1, 0.0)), p.ptr, g.ptr, None, n) == status["HIL_OK"]
    for hp in (AdamParams(0.1, 1.0, 0.999, 1e-8), AdamParams(0.1, 0.9, -0.1, 1e-8), AdamParams(0.1, 0.9, 0.9, -1)):
        assert tk.adam(ctypes.byref(hp), p.ptr, g.ptr, s1.ptr, s2.ptr, n, 1) == bad
    assert tk.adam(ctypes.byref(AdamParams(0.1, 0.9, 0.999, 1e-8)), p.ptr, g.ptr, s1.ptr, s2.ptr, n, 0) == bad
    assert (p.body == 0).all()


# ----------------------------------------------------------------------------------------- training in C


def _sine_windows(steps: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Forecast the next sample of a sine (plus a slower one, so it is not a pure period copy)."""
    t = np.arange(count + steps + 1) * 0.3
    series = (np.sin(t) + 0.5 * np.sin(0.37 * t)).astype(np.float32)
    X = np.stack([series[k : k + steps] for k in range(count)])[:, :, None]
    y = series[steps : steps + count, None]
    return X, y


def test_training_run_matches_reference_curve(tk: TrainKernels, status: dict[str, int], record_property) -> None:
    steps, n_batch, n_iters, clip = 16, 8, 50, 1.0
    X, y = _sine_windows(steps, 64)
    model = LstmModel.random(1, [8], 1, seed=21)
    trainer = Trainer(tk, status, model, steps)
    m, v = np.zeros(trainer.n, np.float32), np.zeros(trainer.n, np.float32)
    hp = AdamParams(0.02, 0.9, 0.999, 1e-8)
    ref_opt, ref_p = lt.Adam(lr=0.02), lt.flatten(model)
    c_curve, ref_curve = [], []
    for it in range(n_iters):
        idx = (np.arange(n_batch) * 8 + it) % len(X)  # a different, spread-out mini-batch every step
        Xb, yb = X[idx], y[idx]
        c_loss, _ = trainer.batch(Xb, yb, "mse")
        assert tk.clip(trainer.grad.ptr, trainer.n, clip, None) == status["HIL_OK"]
        grad_ptr, params_ptr = trainer.grad.ptr, trainer.params.ctypes.data
        rc = tk.adam(ctypes.byref(hp), params_ptr, grad_ptr, m.ctypes.data, v.ctypes.data, trainer.n, it + 1)
        assert rc == status["HIL_OK"], f"Adam refused step {it + 1}"
        result = lt.train_step(ref_p, Xb, yb, loss="mse", optimizer=ref_opt, clip=clip, like=model)
        ref_p = result.params
        c_curve.append(c_loss)
        ref_curve.append(result.loss)
    c_curve, ref_curve = np.array(c_curve), np.array(ref_curve)
    rel = np.abs(c_curve - ref_curve) / ref_curve
    record_property("max_rel_loss_diff", float(rel.max()))
    record_property("max_abs_param_diff", float(np.abs(trainer.params - ref_p).max()))
    record_property("loss_first_last", (float(c_curve[0]), float(c_curve[-1])))
    # Device and reference start from the same float32 weights and take the same Adam steps; they differ by the
    # float32 rounding of the gradients (~3e-7 relative, see above), which Adam passes on at most in proportion
    # (its update m/sqrt(v) is scale-free) and 50 steps of a contracting fit do not amplify much. Measured worst
    # 2.5e-6 relative per step, fused or not (parameters 7e-7 apart at the end); 1e-4 leaves 40x margin; a wrong step
    # (another lr, a missing clip or bias correction, an update skipped) changes the curve by 1e-2 or more.
    assert rel.max() < 1e-4, f"loss curves part: worst step {int(rel.argmax())}, rel diff {rel.max():.2e}"
    # The fit is real: the last losses are a small fraction of the first.
    assert c_curve[-5:].mean() < 0.2 * c_curve[:5].mean(), f"no learning: {c_curve[:5]} ... {c_curve[-5:]}"


def test_stale_scratch_does_not_leak(tk: TrainKernels, status: dict[str, int]) -> None:
    # A batch costs calls, not memory: one scratch serves every sequence, so what a previous sequence (or
    # garbage) left in it must not reach the next gradient.
    model = LstmModel.random(2, [6], 2, seed=4)
    X, target = _data(model, 2, 9, "mse", seed=4)
    trainer = Trainer(tk, status, model, 9)
    _, first = trainer.batch(X[1:], target[1:], "mse")
    trainer.scratch.body[:] = CANARY  # garbage of another kind
    assert trainer.backward(X[0], target[0], "mse")[0] == status["HIL_OK"]
    _, again = trainer.batch(X[1:], target[1:], "mse")
    np.testing.assert_array_equal(first, again)
