"""Echo State Network trained by ridge regression: the numpy reference for the ``hil_esn_*_f32`` kernels.

The device builds its reservoir from a seed, so host and device must draw the same numbers in the same order and
scale them by the same spectral-radius estimate. Everything that decides the reservoir is therefore specified to
the bit and reproduced here in float32 with the device's order of operations:

PRNG (``Pcg32``, C ``hil_prng_*``)
    PCG32 "XSH RR": a 64-bit LCG ``s <- s * 6364136223846793005 + 1442695040888963407 (mod 2**64)``; each output
    is taken from the state *before* the step: ``x = ((s >> 18) ^ s) >> 27`` (low 32 bits), ``r = s >> 59``,
    output ``x`` rotated right by ``r``. Seeding (every 32-bit seed, 0 included, gives its own stream):
    ``s = 0``, step, ``s += seed``, step. Float mapping: ``uniform = ((out >> 8) - 2**23) * 2**-23``, uniform in
    ``[-1, 1)`` on a grid of 2**-23; the top 24 bits make it exact in float32.

Draw order (``draw_reservoir``, C ``hil_esn_init_f32``)
    1. ``W_in`` ``[N][K+1]`` row-major, one draw per entry: ``input_scale * uniform``. Column 0 multiplies the
       constant 1: the input has a bias term, so ``W_in @ [1; u]``.
    2. ``W_res`` ``[N][N]`` row-major, two draws per entry, always both: a mask draw ``m`` (the entry is nonzero iff
       ``(m >> 8) < trunc(density * 2**24)``) then a value draw (``uniform``, used only if the mask says so). Drawing
       both whatever the mask keeps the stream position independent of the density.
    3. ``W_back`` ``[N][O]`` row-major, only with ``feedback``: ``feedback_scale * uniform``.

Spectral radius (``spectral_radius``, C ``hil_esn_spectral_radius_f32``)
    ``W_res`` is not symmetric and its largest eigenvalues are often a complex pair, so the growth of one iterate
    oscillates. The estimate is the geometric mean of the growth over the last ``m`` iterations of a normalised
    power iteration, ``m`` the largest power of two <= ``iterations // 2`` (the first half is burn-in); i.e.
    ``(||W^P x0|| / ||W^(P-m) x0||)^(1/m)``, which cancels the start vector's weight and averages the oscillation.
    ``x0`` is all ones (normalised). Only +, *, /, sqrt, frexp and ldexp are used (the m-th root is ``log2 m`` square
    roots), all exact or correctly rounded in IEEE float32, so device and host agree to the bit without a libm
    ``log``/``exp``. Accuracy against ``numpy.linalg.eigvals`` over 360 random reservoirs (N = 50/100/200, density
    0.05-1): with 128 iterations 99% are within 1.8% and the worst was 5.5% low; with 64, 99% within 3.2% and the
    worst 9.8% low. The error is almost always an under-estimate, from eigenvalues of nearly equal modulus that the
    iteration has not separated yet.

Scaling: ``s = spectral_radius / rho_estimate`` (float32 division), then every ``W_res`` entry ``*= s``.

State update, extended state and readout
    ``x(t) = (1 - a) x(t-1) + a tanh(W_in [1; u(t)] + W_res x(t-1) + W_back y(t-1))``, ``x(-1) = 0``, ``y(-1) = 0``;
    ``y`` is the teacher (target) while training and, when predicting without a teacher, the model's own output.
    Extended state ``z(t) = [1; u(t); x(t)]`` (``D = 1 + K + N``), or ``[1; x(t)]`` (``D = 1 + N``) with
    ``readout_input=False``; ``y(t) = W_out z(t)``, ``W_out`` ``[O][D]``, stored and solved as ``W_out^T`` ``[D][O]``.

Training (``NormalEquations``, C ``hil_esn_accumulate_f32``/``hil_esn_solve_f32``)
    ``A += z z^T`` (lower triangle), ``B += z y^T`` for every sample after the washout, then
    ``(A + ridge I) W_out^T = B`` by Cholesky. The bias row is regularised too. Memory is ``D(D+1)/2 + D*O`` floats,
    whatever the number of samples. A grows with the number of samples and the ridge does not, so a ridge that is
    fine in float64 can leave ``A + ridge I`` indefinite in float32 (ridge 1e-4 over 3000 samples of two sines, D = 53,
    fails at pivot 51): in float32 ``W_out`` has meaningful digits only while ``cond(A + ridge I) * 3 D u < 1``.

Autoencoder (``EsnAutoencoder``): ``O = K``, target = input. Per-window MSE is the mean over the window's samples
and channels of the squared reconstruction error, over non-overlapping windows starting after the washout (a
trailing partial window is dropped). Threshold = median + population std (``ddof=0``) of the training windows'
MSEs; a window is anomalous iff its MSE > threshold. With ``readout_input=True`` the readout sees its own target:
with a small ridge it learns nearly the identity on ``u`` and reconstructs anomalies almost as well as normal data
(on two noisy sines at ridge 0.1 the threshold came out 22x lower than with ``[1; x]``, i.e. the score measures
little but the ridge's shrinkage). ``EsnConfig.autoencoder`` therefore defaults ``readout_input`` to False.

``dtype=np.float32`` in ``Esn.fit``/``predict``/``run`` reproduces the device's float32 arithmetic in its order
(sequential sums, no FMA): ``A``, ``B`` and ``W_out`` from the same ``z`` stream are bit-identical to the kernels'.
States differ only by the ulps in which numpy's ``tanh`` and the device's ``tanhf`` disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from harness import metrics

__all__ = [
    "PCG32_INCREMENT",
    "PCG32_MULTIPLIER",
    "DetectionReport",
    "Esn",
    "EsnAutoencoder",
    "EsnBufferSizes",
    "EsnConfig",
    "EsnConfigError",
    "NonFiniteError",
    "NormalEquations",
    "NotPositiveDefiniteError",
    "Pcg32",
    "Reservoir",
    "anomaly_threshold",
    "buffer_sizes",
    "cholesky",
    "detection_report",
    "draw_reservoir",
    "extended_state",
    "make_reservoir",
    "pack_lower",
    "power_window",
    "ridge_solve",
    "spectral_radius",
    "uniform_from_u32",
    "unpack_lower",
    "window_labels",
    "window_mse",
]

PCG32_MULTIPLIER = 6364136223846793005
PCG32_INCREMENT = 1442695040888963407
_MASK64 = (1 << 64) - 1
_MASK32 = (1 << 32) - 1
_F32 = np.float32
_U16_MAX = 0xFFFF
# Samples per block when the float64 fit accumulates Z^T Z: bounds the reference's memory like the device's.
_FIT_CHUNK = 256


class EsnConfigError(ValueError):
    """An ESN configuration the device would refuse."""


class NotPositiveDefiniteError(np.linalg.LinAlgError):
    """Cholesky met a pivot <= 0 (or NaN): ``A + ridge I`` is not positive definite in this precision."""


class NonFiniteError(FloatingPointError):
    """NaN or Inf where the device would return HIL_ERR_NON_FINITE."""


# ---------------------------------------------------------------------------------------------------------- PRNG


class Pcg32:
    """PCG32 XSH RR with a fixed increment; the bit-exact twin of ``hil_prng_seed``/``hil_prng_next_u32``."""

    def __init__(self, seed: int, *, increment: int = PCG32_INCREMENT) -> None:
        # ``increment`` (odd) selects PCG's stream; the device has only the default. Another value exists to check
        # this generator against PCG's published outputs, which use other streams.
        if not 0 <= seed <= _MASK32:
            raise ValueError(f"seed {seed} is outside 0..2**32-1; the device takes a uint32 seed")
        if increment % 2 != 1 or not 0 < increment <= _MASK64:
            raise ValueError(f"increment {increment} must be an odd 64-bit number")
        self.increment = increment
        self.state = 0
        self._step()
        self.state = (self.state + seed) & _MASK64
        self._step()

    def _step(self) -> None:
        self.state = (self.state * PCG32_MULTIPLIER + self.increment) & _MASK64

    def next_u32(self) -> int:
        old = self.state
        self._step()
        xorshifted = (((old >> 18) ^ old) >> 27) & _MASK32
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & _MASK32

    def u32(self, count: int) -> np.ndarray:
        """The next ``count`` outputs as a uint32 array."""
        return np.fromiter((self.next_u32() for _ in range(count)), dtype=np.uint32, count=count)

    def uniform(self, count: int) -> np.ndarray:
        """The next ``count`` outputs mapped to float32 in ``[-1, 1)``, as ``hil_prng_uniform_f32`` maps them."""
        return uniform_from_u32(self.u32(count))


def uniform_from_u32(values: ArrayLike) -> np.ndarray:
    """``((v >> 8) - 2**23) * 2**-23`` in float32: exact, because the integer has at most 24 significant bits."""
    top = np.asarray(values, dtype=np.uint32) >> np.uint32(8)
    return (top.astype(np.int32) - np.int32(1 << 23)).astype(_F32) * _F32(2.0**-23)


# -------------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class EsnConfig:
    """What the device needs to build and train the same ESN; mirrors ``hil_esn_config_t``.

    Float fields are rounded to float32 on construction: that is what the device stores, so both sides compute
    with the same numbers. ``washout`` samples at the start of every stream are run but not fitted or scored.
    """

    n_inputs: int
    n_reservoir: int
    n_outputs: int
    density: float = 0.1
    spectral_radius: float = 0.9
    input_scale: float = 1.0
    leak_rate: float = 1.0
    ridge: float = 1e-6
    feedback: bool = False
    feedback_scale: float = 1.0
    seed: int = 0
    power_iterations: int = 128
    washout: int = 0
    readout_input: bool = True

    def __post_init__(self) -> None:
        for name in ("n_inputs", "n_reservoir", "n_outputs", "power_iterations"):
            value = getattr(self, name)
            if not 1 <= value <= _U16_MAX:
                raise EsnConfigError(f"{name}={value}: the device stores it in 16 bits; use 1..{_U16_MAX}")
        if self.power_iterations < 2:
            raise EsnConfigError("power_iterations must be >= 2: half of them are burn-in, half are averaged")
        if not 0 <= self.seed <= _MASK32 or not 0 <= self.washout <= _MASK32:
            raise EsnConfigError(f"seed={self.seed}, washout={self.washout}: both must fit a uint32")
        for f in fields(self):
            if f.type == "float":
                with np.errstate(over="ignore"):  # an overflow becomes inf, refused just below
                    value = float(_F32(getattr(self, f.name)))
                if not math.isfinite(value):
                    raise EsnConfigError(f"{f.name}={getattr(self, f.name)} is not finite in float32")
                object.__setattr__(self, f.name, value)
        checks = [
            (0 < self.density <= 1, "density must be in (0, 1]"),
            (self.spectral_radius > 0, "spectral_radius must be > 0"),
            (0 < self.leak_rate <= 1, "leak_rate must be in (0, 1]"),
            (self.ridge >= 0, "ridge must be >= 0 (0 only with more samples than features)"),
        ]
        for ok, message in checks:
            if not ok:
                raise EsnConfigError(f"{message}; got {self}")
        object.__setattr__(self, "feedback", bool(self.feedback))
        object.__setattr__(self, "readout_input", bool(self.readout_input))

    @classmethod
    def autoencoder(cls, n_inputs: int, n_reservoir: int, **kwargs: Any) -> EsnConfig:
        """``O = K``; the readout reads ``[1; x]`` unless told otherwise (see the module docstring for why)."""
        kwargs.setdefault("readout_input", False)
        return cls(n_inputs=n_inputs, n_reservoir=n_reservoir, n_outputs=n_inputs, **kwargs)

    @property
    def n_features(self) -> int:
        """``D``, the length of the extended state ``z``."""
        return 1 + (self.n_inputs if self.readout_input else 0) + self.n_reservoir

    @property
    def mask_threshold(self) -> int:
        """``trunc(density * 2**24)``: a ``W_res`` entry is nonzero iff its mask draw ``>> 8`` is below this."""
        return int(_F32(self.density) * _F32(1 << 24))


@dataclass(frozen=True)
class EsnBufferSizes:
    """Bytes per region, the mirror of ``hil_esn_sizes_t`` (formulas in ``firmware/include/hil/hil_esn.h``)."""

    weights: int
    init_scratch: int
    state: int
    a: int
    b: int
    train_total: int
    infer_total: int


def buffer_sizes(cfg: EsnConfig) -> EsnBufferSizes:
    """What ``hil_esn_buffer_size_f32`` reports for ``cfg``."""
    n, k, o, d = cfg.n_reservoir, cfg.n_inputs, cfg.n_outputs, cfg.n_features
    weights = 4 * (n * (k + 1) + n * n + (n * o if cfg.feedback else 0))
    state = 4 * (2 * n + d + o)
    a = 4 * (d * (d + 1) // 2)
    b = 4 * d * o
    init_scratch = 4 * 2 * n
    return EsnBufferSizes(
        weights=weights,
        init_scratch=init_scratch,
        state=state,
        a=a,
        b=b,
        train_total=weights + state + max(a, init_scratch) + b,
        infer_total=weights + state + b,
    )


# ----------------------------------------------------------------------------------------------------- reservoir


@dataclass
class Reservoir:
    """The fixed weights, float32 as on the device: ``w_in [N, K+1]`` (column 0 = bias), ``w_res [N, N]`` (scaled),
    ``w_back [N, O]`` or None. ``rho_estimate`` is the power-iteration spectral radius of ``w_res`` before scaling."""

    w_in: np.ndarray
    w_res: np.ndarray
    w_back: np.ndarray | None
    rho_estimate: float


def draw_reservoir(cfg: EsnConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``W_in``, unscaled ``W_res`` and ``W_back`` in the documented draw order, float32."""
    n, k, o = cfg.n_reservoir, cfg.n_inputs, cfg.n_outputs
    rng = Pcg32(cfg.seed)
    w_in = (_F32(cfg.input_scale) * rng.uniform(n * (k + 1))).reshape(n, k + 1)
    draws = rng.u32(2 * n * n)
    keep = (draws[0::2] >> np.uint32(8)) < np.uint32(cfg.mask_threshold)
    w_res = np.where(keep, uniform_from_u32(draws[1::2]), _F32(0)).astype(_F32).reshape(n, n)
    w_back = (_F32(cfg.feedback_scale) * rng.uniform(n * o)).reshape(n, o) if cfg.feedback else None
    return w_in, w_res, w_back


def power_window(iterations: int) -> int:
    """How many of the last iterations the estimate averages: the largest power of two <= ``iterations // 2``."""
    if iterations < 2:
        raise ValueError(f"iterations={iterations}; need >= 2 (half burn-in, half averaged)")
    return 1 << ((iterations // 2).bit_length() - 1)


def _seq_sum_rows(terms: np.ndarray) -> np.ndarray:
    # add.accumulate computes out[i] = out[i-1] + a[i], one rounding each: the C loop's sequential sum, which a
    # reduce (pairwise, SIMD-blocked) is not.
    return np.add.accumulate(terms, axis=-1)[..., -1]


def spectral_radius(w: ArrayLike, iterations: int = 128, dtype: Any = np.float32) -> float:
    """Power-iteration estimate of the spectral radius of square ``w`` (method and accuracy: module docstring).

    With float32 it is bit-identical to ``hil_esn_spectral_radius_f32``; float64 runs the same algorithm for
    comparison. Returns 0.0 if an iterate becomes exactly zero (``w`` maps the start vector to nothing).
    """
    dt = np.dtype(dtype)
    mat = np.asarray(w, dtype=dt)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1] or mat.shape[0] == 0:
        raise ValueError(f"w has shape {mat.shape}; expected a non-empty square matrix")
    exact = dt == np.float32
    n = mat.shape[0]
    window = power_window(iterations)
    burn = iterations - window
    one = dt.type(1)
    x = np.full(n, one / np.sqrt(dt.type(n)), dt)
    mant, ex = one, 0
    for it in range(iterations):
        y = _seq_sum_rows(mat * x) if exact else mat @ x
        peak = np.max(np.abs(y))
        if not np.isfinite(peak):
            raise NonFiniteError("w @ x is not finite: w holds NaN/Inf or values near the float limit")
        if peak == 0:
            return 0.0
        scaled = y / peak
        sumsq = _seq_sum_rows(scaled * scaled) if exact else np.sum(scaled * scaled)
        growth = peak * np.sqrt(sumsq)
        if not np.isfinite(growth):
            raise NonFiniteError("the norm of w @ x overflows float32: scale w down before estimating")
        x = y / growth
        if it >= burn:
            # frexp keeps the running product in range however far the growth is from 1; it is exact.
            m, e = math.frexp(float(dt.type(mant * growth)))
            mant, ex = dt.type(m), ex + e
    # m-th root of mant * 2**ex as log2(m) square roots, making the exponent even before each.
    for _ in range(window.bit_length() - 1):
        if ex % 2:
            mant, ex = mant * dt.type(2), ex - 1
        mant, ex = np.sqrt(mant), ex // 2
    return float(dt.type(math.ldexp(float(mant), ex)))


def make_reservoir(cfg: EsnConfig) -> Reservoir:
    """Draw the weights and scale ``W_res`` to ``cfg.spectral_radius``, exactly as ``hil_esn_init_f32`` does."""
    w_in, w_res, w_back = draw_reservoir(cfg)
    rho = spectral_radius(w_res, cfg.power_iterations, np.float32)
    if rho == 0:
        raise EsnConfigError(
            f"W_res drawn with seed {cfg.seed} and density {cfg.density} has no growth (spectral radius 0) and cannot "
            "be scaled; raise the density or change the seed"
        )
    scale = _F32(cfg.spectral_radius) / _F32(rho)
    if not np.isfinite(scale):
        raise EsnConfigError(f"spectral radius estimate {rho} is too small to scale to {cfg.spectral_radius}")
    return Reservoir(w_in=w_in, w_res=(w_res * scale).astype(_F32), w_back=w_back, rho_estimate=rho)


# -------------------------------------------------------------------------------------------- ridge regression


def pack_lower(a: ArrayLike) -> np.ndarray:
    """Lower triangle of square ``a`` row by row, the device's packed layout: ``(i, j<=i)`` at ``i(i+1)/2 + j``."""
    mat = np.asarray(a)
    return mat[np.tril_indices(mat.shape[0])]


def unpack_lower(packed: ArrayLike, d: int) -> np.ndarray:
    """Inverse of ``pack_lower``: a ``[d, d]`` lower-triangular matrix (zeros above the diagonal)."""
    flat = np.asarray(packed)
    if flat.shape != (d * (d + 1) // 2,):
        raise ValueError(f"packed has shape {flat.shape}; a {d}x{d} lower triangle has {d * (d + 1) // 2} entries")
    out = np.zeros((d, d), flat.dtype)
    out[np.tril_indices(d)] = flat
    return out


def cholesky(a: ArrayLike, *, exact_order: bool = False) -> np.ndarray:
    """Lower ``L`` with ``L L^T = a`` from the lower triangle of ``a`` (Cholesky-Banachiewicz, like the kernel).

    ``exact_order`` sums every entry in the kernel's order, ``a_ij - L_i0 L_j0 - L_i1 L_j1 - ...``, so float32
    input gives the kernel's bits. Raises NotPositiveDefiniteError at the first pivot that is not > 0.
    """
    mat = np.asarray(a)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"a has shape {mat.shape}; expected a square matrix")
    d = mat.shape[0]
    low = np.zeros_like(mat)
    for j in range(d):
        if exact_order:
            terms = np.concatenate([mat[j:, j : j + 1], low[j:, :j] * low[j, :j]], axis=1)
            s = np.subtract.accumulate(terms, axis=1)[:, -1]
        else:
            s = mat[j:, j] - low[j:, :j] @ low[j, :j]
        if not s[0] > 0:
            raise NotPositiveDefiniteError(
                f"pivot {j} of {d} is {s[0]}: the matrix is not positive definite in {mat.dtype}; raise the ridge "
                "or train on more (and more varied) samples"
            )
        diag = np.sqrt(s[0])
        low[j, j] = diag
        low[j + 1 :, j] = s[1:] / diag
    return low


def _solve_lower(low: np.ndarray, b: np.ndarray, exact: bool) -> np.ndarray:
    y = np.zeros_like(b)
    for i in range(low.shape[0]):
        if exact:
            terms = np.concatenate([b[i : i + 1], low[i, :i, None] * y[:i]], axis=0)
            s = np.subtract.accumulate(terms, axis=0)[-1]
        else:
            s = b[i] - low[i, :i] @ y[:i]
        y[i] = s / low[i, i]
    return y


def _solve_upper_t(low: np.ndarray, y: np.ndarray, exact: bool) -> np.ndarray:
    # Solves L^T w = y reading L by columns, in the kernel's order: k ascending from i + 1.
    w = np.zeros_like(y)
    for i in reversed(range(low.shape[0])):
        if exact:
            terms = np.concatenate([y[i : i + 1], low[i + 1 :, i, None] * w[i + 1 :]], axis=0)
            s = np.subtract.accumulate(terms, axis=0)[-1]
        else:
            s = y[i] - low[i + 1 :, i] @ w[i + 1 :]
        w[i] = s / low[i, i]
    return w


def ridge_solve(a: ArrayLike, b: ArrayLike, ridge: float, *, exact_order: bool = False) -> np.ndarray:
    """``W_out^T`` from ``(A + ridge I) W_out^T = B``, computed in the dtype of ``a`` (lower triangle used)."""
    mat = np.array(a, copy=True)
    rhs = np.asarray(b, dtype=mat.dtype)
    if rhs.ndim != 2 or rhs.shape[0] != mat.shape[0]:
        raise ValueError(f"b has shape {rhs.shape}; expected [{mat.shape[0]}, O]")
    if not (np.isfinite(np.tril(mat)).all() and np.isfinite(rhs).all()):
        raise NonFiniteError("A or B holds NaN/Inf: a non-finite input or state reached the normal equations")
    idx = np.arange(mat.shape[0])
    mat[idx, idx] += mat.dtype.type(ridge)
    low = cholesky(mat, exact_order=exact_order)
    w = _solve_upper_t(low, _solve_lower(low, rhs, exact_order), exact_order)
    if not np.isfinite(w).all():
        raise NonFiniteError("W_out overflowed: A + ridge I is too ill-conditioned for this precision; raise the ridge")
    return w


@dataclass
class NormalEquations:
    """Streaming ``A = sum z z^T``, ``B = sum z y^T``. float32 adds sample by sample, as the kernel does."""

    n_features: int
    n_outputs: int
    dtype: Any = np.float64
    a: np.ndarray = field(init=False)
    b: np.ndarray = field(init=False)
    n_samples: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype)
        self.a = np.zeros((self.n_features, self.n_features), self.dtype)
        self.b = np.zeros((self.n_features, self.n_outputs), self.dtype)

    def add(self, z: ArrayLike, y: ArrayLike) -> None:
        """One sample (as ``hil_esn_accumulate_f32``)."""
        self.add_many(np.asarray(z)[np.newaxis], np.asarray(y)[np.newaxis])

    def add_many(self, zs: ArrayLike, ys: ArrayLike) -> None:
        """Samples ``zs [T, D]``, ``ys [T, O]`` in order."""
        zm = np.asarray(zs, dtype=self.dtype)
        ym = np.asarray(ys, dtype=self.dtype)
        if zm.ndim != 2 or zm.shape[1] != self.n_features or ym.shape != (zm.shape[0], self.n_outputs):
            raise ValueError(
                f"zs {zm.shape} and ys {ym.shape} do not match [T, {self.n_features}] and [T, {self.n_outputs}]"
            )
        if self.dtype == np.float32:
            # One product and one sum per entry and sample, in sample order: the kernel's bits.
            for z, y in zip(zm, ym, strict=True):
                self.a += np.outer(z, z)
                self.b += np.outer(z, y)
        else:
            self.a += zm.T @ zm
            self.b += zm.T @ ym
        self.n_samples += zm.shape[0]

    def solve(self, ridge: float) -> np.ndarray:
        """``W_out^T [D, O]``; float32 in the kernel's order."""
        return ridge_solve(self.a, self.b, ridge, exact_order=self.dtype == np.float32)


# ------------------------------------------------------------------------------------------------------- model


def extended_state(cfg: EsnConfig, u: ArrayLike, x: ArrayLike) -> np.ndarray:
    """``z = [1; u; x]`` (or ``[1; x]`` without ``readout_input``) for ``u [T, K]``, ``x [T, N]``: ``[T, D]``."""
    um = np.asarray(u)
    xm = np.asarray(x)
    parts = [np.ones((xm.shape[0], 1), xm.dtype), *([um.astype(xm.dtype)] if cfg.readout_input else []), xm]
    return np.concatenate(parts, axis=1)


def _as_stream(value: ArrayLike, width: int, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim == 1 and width == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2 or arr.shape[1] != width or arr.shape[0] == 0:
        raise ValueError(f"{name} has shape {arr.shape}; expected [T, {width}] with T >= 1")
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} has dtype {arr.dtype}; pass floating-point samples")
    return arr


@dataclass
class Esn:
    """An ESN: config, reservoir and (after ``fit``) ``w_out_t [D, O]``."""

    config: EsnConfig
    reservoir: Reservoir
    w_out_t: np.ndarray | None = None

    @classmethod
    def create(cls, config: EsnConfig) -> Esn:
        return cls(config=config, reservoir=make_reservoir(config))

    def run(
        self,
        u: ArrayLike,
        teacher: ArrayLike | None = None,
        *,
        dtype: Any = np.float64,
        readout: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """States ``x [T, N]`` from zero over ``u [T, K]``, and outputs ``[T, O]`` if ``readout``.

        Feedback uses ``teacher[t-1]`` when a teacher is given, otherwise the model's own previous output (which
        needs ``readout``). float32 follows the kernels' order of operations.
        """
        cfg, res = self.config, self.reservoir
        dt = np.dtype(dtype)
        exact = dt == np.float32
        us = _as_stream(u, cfg.n_inputs, "u").astype(dt)
        ys = None if teacher is None else _as_stream(teacher, cfg.n_outputs, "teacher").astype(dt)
        if ys is not None and ys.shape[0] != us.shape[0]:
            raise ValueError(f"teacher has {ys.shape[0]} samples but u has {us.shape[0]}; give one target per input")
        if cfg.feedback and ys is None and not readout:
            raise ValueError("this ESN feeds its output back: pass a teacher, or readout=True to feed its own output")
        w_out_t = None
        if readout:
            if self.w_out_t is None:
                raise RuntimeError("the readout is not trained: call fit() first")
            w_out_t = self.w_out_t.astype(dt)
        w_in, w_res = res.w_in.astype(dt), res.w_res.astype(dt)
        w_back = None if res.w_back is None else res.w_back.astype(dt)
        a = dt.type(cfg.leak_rate)
        keep = dt.type(1) - a
        n_steps = us.shape[0]
        x = np.zeros(cfg.n_reservoir, dt)
        y_prev = np.zeros(cfg.n_outputs, dt)
        states = np.empty((n_steps, cfg.n_reservoir), dt)
        outputs = np.empty((n_steps, cfg.n_outputs), dt) if readout else None
        for t in range(n_steps):
            if exact:
                terms = [w_in[:, :1], w_in[:, 1:] * us[t], w_res * x]
                if w_back is not None:
                    terms.append(w_back * y_prev)
                pre = _seq_sum_rows(np.concatenate(terms, axis=1))
            else:
                pre = w_in[:, 0] + w_in[:, 1:] @ us[t] + w_res @ x
                if w_back is not None:
                    pre = pre + w_back @ y_prev
            x = keep * x + a * np.tanh(pre)
            states[t] = x
            if outputs is not None and w_out_t is not None:
                z = extended_state(cfg, us[t : t + 1], x[np.newaxis])[0]
                outputs[t] = _seq_sum_rows((w_out_t * z[:, np.newaxis]).T) if exact else z @ w_out_t
            if w_back is not None:
                y_prev = ys[t] if ys is not None else outputs[t]  # type: ignore[index]
        return states, outputs

    def fit(self, u: ArrayLike, y: ArrayLike | None = None, *, dtype: Any = np.float64) -> Esn:
        """Train the readout on ``u [T, K]`` against ``y [T, O]`` (``y=None``: autoencoder, ``y = u``).

        The first ``config.washout`` samples drive the reservoir but are not fitted. Returns self.
        """
        cfg = self.config
        us = _as_stream(u, cfg.n_inputs, "u")
        if y is None:
            if cfg.n_outputs != cfg.n_inputs:
                raise ValueError(f"y=None trains an autoencoder, which needs n_outputs == n_inputs ({cfg.n_inputs})")
            ys = us
        else:
            ys = _as_stream(y, cfg.n_outputs, "y")
        if ys.shape[0] != us.shape[0]:
            raise ValueError(f"y has {ys.shape[0]} samples but u has {us.shape[0]}; give one target per input")
        if us.shape[0] <= cfg.washout:
            raise ValueError(f"{us.shape[0]} samples leave nothing to fit after a washout of {cfg.washout}")
        dt = np.dtype(dtype)
        states, _ = self.run(us, ys if cfg.feedback else None, dtype=dt)
        normal = NormalEquations(cfg.n_features, cfg.n_outputs, dt)
        for start in range(cfg.washout, us.shape[0], _FIT_CHUNK):
            stop = min(start + _FIT_CHUNK, us.shape[0])
            z = extended_state(cfg, us[start:stop].astype(dt), states[start:stop])
            normal.add_many(z, ys[start:stop])
        self.w_out_t = normal.solve(cfg.ridge)
        return self

    def predict(self, u: ArrayLike, teacher: ArrayLike | None = None, *, dtype: Any = np.float64) -> np.ndarray:
        """Outputs ``[T, O]`` from zero state; with feedback, ``teacher`` forces it, else the ESN runs on its own."""
        _, outputs = self.run(u, teacher, dtype=dtype, readout=True)
        assert outputs is not None
        return outputs


# --------------------------------------------------------------------------------------------------- anomalies


def _n_windows(n_samples: int, window: int, start: int) -> int:
    if window < 1 or start < 0:
        raise ValueError(f"window={window}, start={start}: need window >= 1 and start >= 0")
    return max(n_samples - start, 0) // window


def window_mse(u: ArrayLike, u_hat: ArrayLike, window: int, start: int = 0) -> np.ndarray:
    """MSE of each non-overlapping window of ``window`` samples from ``start``: mean over its samples and channels
    of ``(u_hat - u)**2``, float64. A trailing partial window is dropped."""
    um = np.asarray(u, dtype=np.float64)
    vm = np.asarray(u_hat, dtype=np.float64)
    if um.shape != vm.shape:
        raise ValueError(f"u {um.shape} and u_hat {vm.shape} differ; compare a stream with its own reconstruction")
    um = um.reshape(um.shape[0], -1)
    vm = vm.reshape(vm.shape[0], -1)
    count = _n_windows(um.shape[0], window, start)
    stop = start + count * window
    err = (vm[start:stop] - um[start:stop]) ** 2
    return err.reshape(count, window * um.shape[1]).mean(axis=1)


def anomaly_threshold(train_mse: ArrayLike) -> float:
    """median + population standard deviation (``ddof=0``) of the training windows' MSEs."""
    mse = np.asarray(train_mse, dtype=np.float64)
    if mse.ndim != 1 or mse.size == 0:
        raise ValueError(f"train_mse has shape {mse.shape}; pass the 1-D MSEs of at least one training window")
    return float(np.median(mse) + np.std(mse, ddof=0))


def window_labels(sample_labels: ArrayLike, window: int, start: int = 0) -> np.ndarray:
    """A window is anomalous if any of its samples is labelled anomalous (same windows as ``window_mse``)."""
    lab = np.asarray(sample_labels).astype(bool).reshape(-1)
    count = _n_windows(lab.size, window, start)
    return lab[start : start + count * window].reshape(count, window).any(axis=1)


def _segments(labels: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True))


@dataclass(frozen=True)
class DetectionReport:
    """Window-level precision/recall/F1 and, per labelled segment, the detection delay in samples (None: missed).

    A flag is raised at the *last* sample of its window (only then does the device know the window's MSE); the
    delay of a segment ``[s, e]`` is that sample minus ``s`` for the first flagged window that overlaps it.
    """

    precision: float
    recall: float
    f1: float
    delays: tuple[int | None, ...]

    @property
    def detected(self) -> int:
        return sum(d is not None for d in self.delays)

    @property
    def mean_delay(self) -> float:
        """Mean delay over detected segments; nan if none was detected."""
        found = [d for d in self.delays if d is not None]
        return float(np.mean(found)) if found else math.nan


def detection_report(flags: ArrayLike, sample_labels: ArrayLike, window: int, start: int = 0) -> DetectionReport:
    """Score window ``flags`` (as from ``EsnAutoencoder.flags``) against per-sample labels (1 = anomalous)."""
    flag = np.asarray(flags).astype(bool).reshape(-1)
    lab = np.asarray(sample_labels).astype(bool).reshape(-1)
    truth = window_labels(lab, window, start)
    if flag.shape != truth.shape:
        raise ValueError(
            f"{flag.size} flags but the labels give {truth.size} windows of {window} from sample {start}; "
            "score flags and labels of the same stream with the same window and start"
        )
    first = start + np.arange(flag.size) * window
    last = first + window - 1
    delays: list[int | None] = []
    for seg_start, seg_end in _segments(lab):
        hit = np.flatnonzero(flag & (last >= seg_start) & (first <= seg_end))
        delays.append(int(last[hit[0]] - seg_start) if hit.size else None)
    return DetectionReport(
        precision=metrics.precision(flag, truth),
        recall=metrics.recall(flag, truth),
        f1=metrics.f1(flag, truth),
        delays=tuple(delays),
    )


@dataclass
class EsnAutoencoder:
    """An ESN trained to reconstruct its input, with the median + std threshold on window MSE."""

    esn: Esn
    window: int
    threshold: float
    train_mse: np.ndarray

    @classmethod
    def train(cls, config: EsnConfig, u: ArrayLike, window: int, *, dtype: Any = np.float64) -> EsnAutoencoder:
        """Fit on normal data ``u [T, K]``; the threshold comes from the same stream's windows after the washout."""
        if config.n_outputs != config.n_inputs:
            raise EsnConfigError(f"an autoencoder needs n_outputs == n_inputs; use EsnConfig.autoencoder({config})")
        esn = Esn.create(config).fit(u, dtype=dtype)
        model = cls(esn=esn, window=window, threshold=math.nan, train_mse=np.empty(0))
        model.train_mse = model.scores(u, dtype=dtype)
        if model.train_mse.size == 0:
            raise ValueError(f"no whole window of {window} samples after the washout: train on a longer stream")
        model.threshold = anomaly_threshold(model.train_mse)
        return model

    def scores(self, u: ArrayLike, *, dtype: Any = np.float64) -> np.ndarray:
        """Per-window reconstruction MSE of stream ``u`` (run from zero state, teacher-forced with ``u`` itself)."""
        us = _as_stream(u, self.esn.config.n_inputs, "u")
        u_hat = self.esn.predict(us, us if self.esn.config.feedback else None, dtype=dtype)
        return window_mse(us, u_hat, self.window, self.esn.config.washout)

    def flags(self, u: ArrayLike, *, dtype: Any = np.float64) -> np.ndarray:
        return self.scores(u, dtype=dtype) > self.threshold

    def evaluate(self, u: ArrayLike, sample_labels: Sequence[int] | np.ndarray) -> DetectionReport:
        return detection_report(self.flags(u), sample_labels, self.window, self.esn.config.washout)
