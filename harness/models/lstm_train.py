"""On-device LSTM training, the numpy reference: loss, backpropagation through time, clipping, SGD and Adam.

Every trainable parameter lives in ONE flat vector in model-blob order (the blob of ``lstm.to_blob`` minus its
header): per layer ``W_ih [4H, I]``, ``W_hh [4H, H]``, ``bias [4H]`` (= ``b_ih + b_hh``), then ``dense_w [O, H]``,
``dense_b [O]``. Gradients and optimizer state are flat vectors in the same layout, so the device's optimizers and
clipping are plain loops over ``n`` floats and a model bound over a blob in RAM is trained in place.

The network is many-to-one, as ``hil_lstm_forward_f32`` without ``HIL_INFER_ALL_STEPS``: zero initial state, all
``T`` steps, the head on the last step's ``h``. Everything is computed in the ``dtype`` asked for; with float32
every intermediate is float32 so the reference makes the same class of rounding errors as the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from harness.models.lstm import LstmLayer, LstmModel

__all__ = [
    "Adam",
    "NonFiniteUpdateError",
    "Sgd",
    "TrainStepResult",
    "batch_loss",
    "clip_grad_norm",
    "flat_size",
    "flatten",
    "loss_and_grad",
    "train_step",
    "unflatten",
]

Loss = Literal["mse", "ce"]
_LOSSES = ("mse", "ce")


class NonFiniteUpdateError(FloatingPointError):
    """An optimizer step would have produced NaN or Inf; the parameters and optimizer state were left unchanged,
    as the device's all-or-nothing optimizers leave them."""


# --------------------------------------------------------------------------------------------------- flat layout


@dataclass(frozen=True)
class _Layout:
    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int

    @classmethod
    def of(cls, model: LstmModel) -> _Layout:
        return cls(model.input_size, model.hidden_sizes, model.output_size)

    @property
    def size(self) -> int:
        n, n_in = 0, self.input_size
        for h in self.hidden_sizes:
            n += 4 * h * (n_in + h + 1)
            n_in = h
        return n + self.output_size * (n_in + 1)

    def views(self, flat: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
        """Reshaped views into ``flat``: ``[(w_ih, w_hh, bias) per layer], dense_w, dense_b``. Writing to a view
        writes the flat vector, which is how gradients land in the flat layout without a copy."""
        if flat.ndim != 1 or flat.size != self.size:
            raise ValueError(
                f"flat vector has shape {flat.shape}; this model needs ({self.size},): "
                "build it with flatten(model) for the same sizes"
            )
        offset = 0

        def take(*shape: int) -> np.ndarray:
            nonlocal offset
            count = int(np.prod(shape))
            view = flat[offset : offset + count].reshape(shape)
            offset += count
            return view

        layers = []
        n_in = self.input_size
        for h in self.hidden_sizes:
            layers.append((take(4 * h, n_in), take(4 * h, h), take(4 * h)))
            n_in = h
        dense_w = take(self.output_size, n_in)
        dense_b = take(self.output_size)
        return layers, dense_w, dense_b


def flat_size(model: LstmModel) -> int:
    """Number of floats in the flat parameter vector (one bias per layer, unlike ``LstmModel.n_params``)."""
    return _Layout.of(model).size


def flatten(model: LstmModel) -> np.ndarray:
    """The model's parameters as one flat vector in blob order, in the model's own dtype.

    The combined bias ``b_ih + b_hh`` is summed in that dtype, so for a float32 model the result is exactly what
    ``to_blob`` writes: ``to_blob(m)[HIL_MODEL_HEADER_SIZE:] == flatten(m).astype('<f4').tobytes()``.
    """
    parts = []
    for layer in model.layers:
        parts += [layer.w_ih.ravel(), layer.w_hh.ravel(), layer.b_ih + layer.b_hh]
    parts += [model.dense_w.ravel(), model.dense_b.ravel()]
    return np.concatenate(parts)


def unflatten(like: LstmModel, flat: np.ndarray) -> LstmModel:
    """A model with ``like``'s sizes and the parameters in ``flat`` (copied, in ``flat``'s dtype); the combined
    bias becomes ``b_ih`` and ``b_hh`` is zero, as ``from_blob`` does."""
    flat = np.asarray(flat)
    if flat.dtype.kind != "f":
        raise TypeError(f"flat vector has dtype {flat.dtype}; pass a floating-point array")
    layers, dense_w, dense_b = _Layout.of(like).views(flat)
    return LstmModel(
        layers=[
            LstmLayer(w_ih=w_ih.copy(), w_hh=w_hh.copy(), b_ih=b.copy(), b_hh=np.zeros_like(b))
            for w_ih, w_hh, b in layers
        ],
        dense_w=dense_w.copy(),
        dense_b=dense_b.copy(),
    )


# ----------------------------------------------------------------------------------------- loss and BPTT


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The kernels' formula; exp overflows to inf for very negative x and 1/inf is the saturated 0, not NaN.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _check_batch(layout: _Layout, X: Any, target: Any, loss: str, dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    if loss not in _LOSSES:
        raise ValueError(f"loss={loss!r}; use 'mse' (regression) or 'ce' (classification with integer targets)")
    xs = np.asarray(X)
    if xs.ndim != 3 or xs.shape[0] == 0 or xs.shape[1] == 0 or xs.shape[2] != layout.input_size:
        raise ValueError(f"X has shape {xs.shape}; expected [B, T, {layout.input_size}] with B >= 1 and T >= 1")
    n_batch = xs.shape[0]
    tgt = np.asarray(target)
    if loss == "mse":
        if tgt.shape != (n_batch, layout.output_size):
            raise ValueError(f"MSE target has shape {tgt.shape}; expected [B, O] = [{n_batch}, {layout.output_size}]")
        tgt = tgt.astype(dt)
    else:
        if tgt.shape != (n_batch,):
            raise ValueError(f"CE target has shape {tgt.shape}; expected [B] = [{n_batch}] class indices")
        as_int = tgt.astype(np.int64)
        if not np.array_equal(as_int, tgt) or as_int.min() < 0 or as_int.max() >= layout.output_size:
            raise ValueError(
                f"CE targets must be integer class indices in 0..{layout.output_size - 1}, got {tgt.tolist()}"
            )
        tgt = as_int
    return xs.astype(dt), tgt


def _head_loss(y: np.ndarray, tgt: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Loss (a 0-d array in y's dtype) and dL/dy for the batch mean."""
    n_batch, n_out = y.shape
    if loss == "mse":
        diff = y - tgt
        return np.mean(diff * diff), diff * (2 / (n_batch * n_out))
    # Log-softmax shifted by the row maximum, so large logits cannot overflow exp.
    shifted = y - np.max(y, axis=1, keepdims=True)
    expo = np.exp(shifted)
    total = np.sum(expo, axis=1, keepdims=True)
    rows = np.arange(n_batch)
    nll = np.log(total[:, 0]) - shifted[rows, tgt]
    dy = expo / total
    dy[rows, tgt] -= 1
    return np.mean(nll), dy * (1 / n_batch)


@dataclass
class _Forward:
    """What the backward pass needs of the forward pass."""

    params: np.ndarray  # flat, in the computing dtype
    xs: np.ndarray  # [B, T, I]
    acts: list[list[tuple[np.ndarray, ...]]]  # acts[l][t] = (i, f, g, o, c, h)
    loss: np.ndarray  # 0-d
    dy: np.ndarray  # dL/dy [B, O]


def _forward(flat: np.ndarray, layout: _Layout, X: Any, target: Any, loss: str, dt: np.dtype) -> _Forward:
    params = np.asarray(flat).astype(dt)
    layers, dense_w, dense_b = layout.views(params)
    xs, tgt = _check_batch(layout, X, target, loss, dt)
    n_steps = xs.shape[1]

    # acts[l][t] = (i, f, g, o, c, h), every gate after its nonlinearity: what the device keeps per step.
    acts: list[list[tuple[np.ndarray, ...]]] = [[] for _ in layers]
    for t in range(n_steps):
        inp = xs[:, t, :]
        for k, (w_ih, w_hh, bias) in enumerate(layers):
            pre = inp @ w_ih.T + bias
            if t > 0:
                pre = pre + acts[k][t - 1][5] @ w_hh.T
            a_i, a_f, a_g, a_o = np.split(pre, 4, axis=1)
            i, f, g, o = _sigmoid(a_i), _sigmoid(a_f), np.tanh(a_g), _sigmoid(a_o)
            c = i * g if t == 0 else f * acts[k][t - 1][4] + i * g
            h = o * np.tanh(c)
            acts[k].append((i, f, g, o, c, h))
            inp = h
    y = acts[-1][-1][5] @ dense_w.T + dense_b
    loss_value, dy = _head_loss(y, tgt, loss)
    return _Forward(params=params, xs=xs, acts=acts, loss=loss_value, dy=dy)


def _loss_and_grad_flat(
    flat: np.ndarray, layout: _Layout, X: Any, target: Any, loss: str, dt: np.dtype
) -> tuple[float, np.ndarray]:
    fw = _forward(flat, layout, X, target, loss, dt)
    xs, acts, dy = fw.xs, fw.acts, fw.dy
    layers, dense_w, _ = layout.views(fw.params)
    n_batch, n_steps, _ = xs.shape
    h_top = acts[-1][-1][5]

    grad = np.zeros_like(fw.params)
    g_layers, g_dense_w, g_dense_b = layout.views(grad)
    g_dense_w += dy.T @ h_top
    g_dense_b += np.sum(dy, axis=0)

    # Step-major, top layer first, as the kernel runs: when layer k is reached at step t, dh[k] already holds both
    # the recurrent part (from its step t+1) and the part through layer k+1's input at step t.
    dh = [np.zeros((n_batch, h), dt) for h in layout.hidden_sizes]
    dc = [np.zeros((n_batch, h), dt) for h in layout.hidden_sizes]
    dh[-1] = dh[-1] + dy @ dense_w
    for t in range(n_steps - 1, -1, -1):
        for k in range(len(layers) - 1, -1, -1):
            w_ih, w_hh, _ = layers[k]
            g_w_ih, g_w_hh, g_bias = g_layers[k]
            i, f, g, o, c, _h = acts[k][t]
            c_prev = acts[k][t - 1][4] if t > 0 else np.zeros_like(c)
            tc = np.tanh(c)
            d_o = dh[k] * tc
            d_c = dc[k] + dh[k] * o * (1 - tc * tc)
            d_i = d_c * g
            d_f = d_c * c_prev
            d_g = d_c * i
            dc[k] = d_c * f
            dgates = np.concatenate(
                [d_i * i * (1 - i), d_f * f * (1 - f), d_g * (1 - g * g), d_o * o * (1 - o)],
                axis=1,
            )
            x = xs[:, t, :] if k == 0 else acts[k - 1][t][5]
            g_w_ih += dgates.T @ x
            g_bias += np.sum(dgates, axis=0)
            if t > 0:
                g_w_hh += dgates.T @ acts[k][t - 1][5]
                dh[k] = dgates @ w_hh
            if k > 0:
                dh[k - 1] = dh[k - 1] + dgates @ w_ih
    return float(fw.loss), grad


def loss_and_grad(
    model: LstmModel, X: Any, target: Any, *, loss: Loss = "mse", dtype: Any = np.float64
) -> tuple[float, np.ndarray]:
    """Batch-mean loss and its gradient w.r.t. ``flatten(model)``, by full backpropagation through time.

    ``X`` is ``[B, T, I]``. ``loss="mse"``: ``target [B, O]``, mean over batch and outputs of ``(y - t)^2``
    (PyTorch ``MSELoss``). ``loss="ce"``: ``target [B]`` integer classes, softmax cross-entropy averaged over the
    batch (PyTorch ``CrossEntropyLoss``). The bias gradient is w.r.t. the combined bias ``b_ih + b_hh``.
    """
    dt = np.dtype(dtype)
    return _loss_and_grad_flat(flatten(model), _Layout.of(model), X, target, loss, dt)


def batch_loss(model: LstmModel, X: Any, target: Any, *, loss: Loss = "mse", dtype: Any = np.float64) -> float:
    """The loss of ``loss_and_grad`` without the backward pass (evaluation, finite differences)."""
    dt = np.dtype(dtype)
    return float(_forward(flatten(model), _Layout.of(model), X, target, loss, dt).loss)


# ------------------------------------------------------------------------------------ clipping and optimizers


def clip_grad_norm(grad: np.ndarray, max_norm: float) -> tuple[np.ndarray, float]:
    """PyTorch's ``clip_grad_norm_`` on one flat vector, not in place: ``(clipped, norm before clipping)``.

    When the L2 norm exceeds ``max_norm`` the gradient is scaled by ``max_norm / (norm + 1e-6)``; ``max_norm <= 0``
    turns clipping off (the norm is still returned). Computed in ``grad``'s dtype.
    """
    g = np.asarray(grad)
    dt = g.dtype
    norm = np.sqrt(np.sum(g * g))
    if max_norm > 0 and norm > max_norm:
        return g * (dt.type(max_norm) / (norm + dt.type(1e-6))), float(norm)
    return g.copy(), float(norm)


def _refuse_non_finite(*arrays: np.ndarray) -> None:
    bad = sum(int(np.count_nonzero(~np.isfinite(a))) for a in arrays)
    if bad:
        raise NonFiniteUpdateError(
            f"the update would make {bad} parameter/state values NaN or Inf; nothing was changed: "
            "lower the learning rate, clip the gradients, or check the inputs for NaN"
        )


def _prepare(params: np.ndarray, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(params)
    if p.ndim != 1 or p.dtype.kind != "f":
        raise ValueError(f"params must be a flat floating-point vector, got shape {p.shape} dtype {p.dtype}")
    g = np.asarray(grad)
    if g.shape != p.shape:
        raise ValueError(f"grad has shape {g.shape} but params {p.shape}; both must be in the flat layout")
    # The params' dtype is the arithmetic's dtype: float32 parameters are updated in float32, as on the device.
    return p, g.astype(p.dtype, copy=False)


@dataclass
class Sgd:
    """``torch.optim.SGD`` without dampening, weight decay or Nesterov: ``buf = momentum * buf + g`` (``buf = g`` on
    the first step), ``p -= lr * buf``; plain ``p -= lr * g`` when ``momentum == 0``."""

    lr: float
    momentum: float = 0.0
    momentum_buffer: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"lr={self.lr}; the learning rate must be finite and >= 0")
        if not (np.isfinite(self.momentum) and self.momentum >= 0):
            raise ValueError(f"momentum={self.momentum}; it must be finite and >= 0")

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """New parameters (``params`` is not modified); the momentum buffer advances only if the step is taken."""
        p, g = _prepare(params, grad)
        dt = p.dtype.type
        # Overflow is an expected outcome here, reported by _refuse_non_finite with advice, not as a warning.
        with np.errstate(over="ignore", invalid="ignore"):
            if self.momentum == 0:
                new_p = p - dt(self.lr) * g
                _refuse_non_finite(new_p)
                return new_p
            buf = g.copy() if self.momentum_buffer is None else dt(self.momentum) * self.momentum_buffer + g
            new_p = p - dt(self.lr) * buf
        _refuse_non_finite(buf, new_p)
        self.momentum_buffer = buf
        return new_p


@dataclass
class Adam:
    """``torch.optim.Adam`` (no weight decay, no amsgrad), bias-corrected, arranged as PyTorch computes it:
    ``p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``, which is
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)``."""

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    m: np.ndarray | None = field(default=None, repr=False)
    v: np.ndarray | None = field(default=None, repr=False)
    t: int = 0  # steps taken; the next step is t + 1

    def __post_init__(self) -> None:
        if not (np.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"lr={self.lr}; the learning rate must be finite and >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"beta1={self.beta1}, beta2={self.beta2}; both must be in [0, 1)")
        if not (np.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps={self.eps}; it must be finite and >= 0")

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """New parameters (``params`` is not modified); ``m``, ``v`` and ``t`` advance only if the step is taken."""
        p, g = _prepare(params, grad)
        dt = p.dtype.type
        m = np.zeros_like(p) if self.m is None else self.m
        v = np.zeros_like(p) if self.v is None else self.v
        step = self.t + 1
        one, beta1, beta2 = dt(1), dt(self.beta1), dt(self.beta2)
        # Scalars in the params' dtype, as the device computes them once per call with powf.
        bias_correction1 = one - beta1 ** dt(step)
        bias_correction2 = one - beta2 ** dt(step)
        # Overflow is an expected outcome here, reported by _refuse_non_finite with advice, not as a warning.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            step_size = dt(self.lr) / bias_correction1
            bc2_sqrt = np.sqrt(bias_correction2)
            new_m = beta1 * m + (one - beta1) * g
            new_v = beta2 * v + (one - beta2) * g * g
            denom = np.sqrt(new_v) / bc2_sqrt + dt(self.eps)
            new_p = p - step_size * new_m / denom
        _refuse_non_finite(new_m, new_v, new_p)
        self.m, self.v, self.t = new_m, new_v, step
        return new_p


# ------------------------------------------------------------------------------------------------- one step


@dataclass(frozen=True)
class TrainStepResult:
    """One training step: the batch loss and gradient norm before the update, and the updated flat parameters."""

    loss: float
    grad_norm: float
    params: np.ndarray


def train_step(
    model_or_flat: LstmModel | np.ndarray,
    X: Any,
    target: Any,
    *,
    loss: Loss = "mse",
    optimizer: Sgd | Adam,
    clip: float = 0.0,
    like: LstmModel | None = None,
    dtype: Any = None,
) -> TrainStepResult:
    """Loss and gradient on one batch, ``clip_grad_norm(grad, clip)``, then ``optimizer.step``.

    ``model_or_flat`` is an ``LstmModel`` or a flat vector; a flat vector needs ``like=`` (any model with the same
    sizes) to know its shapes. The arithmetic runs in ``dtype``, by default the dtype of the flat parameters
    (float32 for a model made by ``LstmModel.random`` or ``from_blob``).
    """
    if isinstance(model_or_flat, LstmModel):
        layout = _Layout.of(model_or_flat)
        flat = flatten(model_or_flat)
    else:
        if like is None:
            raise TypeError("train_step got a flat vector without like=: pass like=<LstmModel with the same sizes>")
        layout = _Layout.of(like)
        flat = np.asarray(model_or_flat)
    dt = flat.dtype if dtype is None else np.dtype(dtype)
    flat = flat.astype(dt, copy=False)
    loss_value, grad = _loss_and_grad_flat(flat, layout, X, target, loss, dt)
    clipped, norm = clip_grad_norm(grad, clip)
    return TrainStepResult(loss=loss_value, grad_norm=norm, params=optimizer.step(flat, clipped))
