"""Dense networks (MLP): the numpy reference of ``hil_mlp_forward_f32`` and a training loop.

The network is ``hidden layers with ReLU -> linear output``, weights ``w [out, in]`` as the device stores them
(``firmware/include/hil/hil_quant.h``, blob kind ``HIL_MODEL_MLP_F32``). Training minimises softmax cross-entropy
with Adam (``harness.models.lstm_train.Adam``, PyTorch's arithmetic) on shuffled mini-batches drawn from a seeded
generator, so a run is repeatable bit for bit on one machine.

The gesture study's classifier trained on real data is ``harness.suites.studies.imu_classifier``; this module knows
no data store.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.models.lstm import BlobError  # one exception for every blob that is not what its reader expects
from harness.models.lstm_train import Adam
from harness.proto.wire import (
    HIL_LSTM_MAX_LAYERS,
    HIL_MODEL_FORMAT_VERSION,
    HIL_MODEL_HEADER_SIZE,
    HIL_MODEL_MAGIC,
    HIL_MODEL_MLP_F32,
)

__all__ = [
    "HIL_MODEL_MLP_F32",
    "MAX_LAYERS",
    "BlobError",
    "DenseLayer",
    "MlpModel",
    "MlpTrainConfig",
    "accuracy",
    "blob_size",
    "forward",
    "from_blob",
    "layer_outputs",
    "loss_and_grad",
    "to_blob",
    "train",
]

MAX_LAYERS = HIL_LSTM_MAX_LAYERS  # the model header has that many size slots

# hil_model_header_t with the MLP meaning of its fields: sizes = units of each layer; byte 20 = weight index bits.
_HEADER = struct.Struct(f"<IHBBHH{HIL_LSTM_MAX_LAYERS}HB3x")
if _HEADER.size != HIL_MODEL_HEADER_SIZE:
    raise ImportError(f"MLP header packs to {_HEADER.size} bytes, HIL_MODEL_HEADER_SIZE is {HIL_MODEL_HEADER_SIZE}")
_F32_LE = np.dtype("<f4")


@dataclass
class DenseLayer:
    """``y = w @ x + b`` with ``w [out, in]``, ``b [out]``."""

    w: np.ndarray
    b: np.ndarray

    def __post_init__(self) -> None:
        self.w = np.asarray(self.w)
        self.b = np.asarray(self.b)
        if self.w.ndim != 2 or 0 in self.w.shape:
            raise ValueError(f"w has shape {self.w.shape}, expected [out, in] with both >= 1")
        if self.b.shape != (self.w.shape[0],):
            raise ValueError(f"b has shape {self.b.shape}, expected ({self.w.shape[0]},)")

    @property
    def in_size(self) -> int:
        return int(self.w.shape[1])

    @property
    def out_size(self) -> int:
        return int(self.w.shape[0])


@dataclass
class MlpModel:
    """Dense layers; every layer but the last is followed by ReLU."""

    layers: list[DenseLayer]

    def __post_init__(self) -> None:
        self.layers = list(self.layers)
        if not 1 <= len(self.layers) <= MAX_LAYERS:
            raise ValueError(f"an MlpModel has 1..{MAX_LAYERS} layers (the device's limit), got {len(self.layers)}")
        for k in range(1, len(self.layers)):
            if self.layers[k].in_size != self.layers[k - 1].out_size:
                raise ValueError(
                    f"layer {k} takes {self.layers[k].in_size} inputs but layer {k - 1} has "
                    f"{self.layers[k - 1].out_size} units"
                )

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(inputs, units of layer 0, ..., outputs)``."""
        return (self.layers[0].in_size, *(layer.out_size for layer in self.layers))

    @property
    def input_size(self) -> int:
        return self.layers[0].in_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].out_size

    @property
    def n_params(self) -> int:
        return int(sum(layer.w.size + layer.b.size for layer in self.layers))

    @classmethod
    def random(cls, sizes: Sequence[int], seed: int) -> MlpModel:
        """He-uniform weights (``±sqrt(6 / fan_in)``, the init that keeps ReLU activations' variance) and zero
        biases, float32."""
        sizes = list(sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be [inputs, units..., outputs] with every entry >= 1, got {sizes}")
        rng = np.random.default_rng(seed)
        layers = []
        for n_in, n_out in itertools.pairwise(sizes):
            bound = np.sqrt(6.0 / n_in)
            w = rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32)
            layers.append(DenseLayer(w=w, b=np.zeros(n_out, np.float32)))
        return cls(layers)

    def copy(self) -> MlpModel:
        return MlpModel([DenseLayer(layer.w.copy(), layer.b.copy()) for layer in self.layers])


def _as_batch(model: MlpModel, x: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, bool]:
    xs = np.asarray(x)
    if xs.ndim not in (1, 2) or xs.shape[-1] != model.input_size:
        raise ValueError(f"x has shape {xs.shape}; expected [{model.input_size}] or [B, {model.input_size}]")
    return xs.astype(dtype, copy=False).reshape(-1, model.input_size), xs.ndim == 1


def layer_outputs(model: MlpModel, x: np.ndarray, *, dtype: np.dtype | type = np.float32) -> list[np.ndarray]:
    """Every layer's output for ``x [B, in]``: after ReLU for hidden layers, the logits last."""
    h, _ = _as_batch(model, x, np.dtype(dtype))
    outs = []
    for k, layer in enumerate(model.layers):
        h = h @ layer.w.astype(h.dtype).T + layer.b.astype(h.dtype)
        if k < len(model.layers) - 1:
            h = np.maximum(h, 0)
        outs.append(h)
    return outs


def forward(model: MlpModel, x: np.ndarray, *, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Logits ``[O]`` for ``x [in]``, or ``[B, O]`` for ``x [B, in]``, computed in ``dtype``."""
    _, single = _as_batch(model, x, np.dtype(dtype))
    y = layer_outputs(model, x, dtype=dtype)[-1]
    return y[0] if single else y


def accuracy(model: MlpModel, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(forward(model, x), axis=1) == np.asarray(y)))


def loss_and_grad(model: MlpModel, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Mean softmax cross-entropy over the batch and its gradient as ``[dw0, db0, dw1, db1, ...]`` (float64)."""
    xs, _ = _as_batch(model, x, np.dtype(np.float64))
    labels = np.asarray(y, dtype=np.int64)
    acts = [xs]
    for k, layer in enumerate(model.layers):
        z = acts[-1] @ layer.w.T.astype(np.float64) + layer.b
        acts.append(np.maximum(z, 0) if k < len(model.layers) - 1 else z)
    logits = acts[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp of the largest logit is 1: no overflow
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(xs)
    loss = float(-log_p[np.arange(n), labels].mean())
    delta = np.exp(log_p)
    delta[np.arange(n), labels] -= 1.0
    delta /= n
    grads: list[np.ndarray] = []
    for k in range(len(model.layers) - 1, -1, -1):
        grads[:0] = [delta.T @ acts[k], delta.sum(axis=0)]
        if k > 0:
            delta = (delta @ model.layers[k].w.astype(np.float64)) * (acts[k] > 0)
    return loss, grads


def _flatten(model: MlpModel) -> np.ndarray:
    return np.concatenate([a.ravel() for layer in model.layers for a in (layer.w, layer.b)]).astype(np.float32)


def _unflatten(like: MlpModel, flat: np.ndarray) -> MlpModel:
    layers, offset = [], 0
    for layer in like.layers:
        w = flat[offset : offset + layer.w.size].reshape(layer.w.shape)
        offset += layer.w.size
        b = flat[offset : offset + layer.b.size]
        offset += layer.b.size
        layers.append(DenseLayer(w=w.astype(np.float32), b=b.astype(np.float32)))
    return MlpModel(layers)


@dataclass(frozen=True)
class MlpTrainConfig:
    epochs: int = 150
    batch: int = 32
    lr: float = 1e-3
    seed: int = 0


def train(
    model: MlpModel, x: np.ndarray, y: np.ndarray, config: MlpTrainConfig = MlpTrainConfig()
) -> tuple[MlpModel, list]:
    """Adam on shuffled mini-batches (float32 parameters, float64 gradients); returns the trained model (``model``
    is not modified) and the mean training loss of every epoch."""
    xs = np.asarray(x, dtype=np.float32)
    ys = np.asarray(y, dtype=np.int64)
    if len(xs) != len(ys) or len(xs) == 0:
        raise ValueError(f"x has {len(xs)} samples and y {len(ys)}; need the same number, at least one")
    rng = np.random.default_rng(config.seed)
    opt = Adam(lr=config.lr)
    flat = _flatten(model)
    current = model
    history = []
    for _ in range(config.epochs):
        order = rng.permutation(len(xs))
        losses = []
        for start in range(0, len(xs), config.batch):
            idx = order[start : start + config.batch]
            loss, grads = loss_and_grad(current, xs[idx], ys[idx])
            flat = opt.step(flat, np.concatenate([g.ravel() for g in grads]))
            current = _unflatten(model, flat)
            losses.append(loss)
        history.append(float(np.mean(losses)))
    return current, history


# ---------------------------------------------------------------------------------------------------- model blob


def to_blob(model: MlpModel) -> bytes:
    """The model as the MLP_F32 blob ``hil_mlp_bind_f32`` parses."""
    sizes = [layer.out_size for layer in model.layers]
    if max(model.sizes) > 0xFFFF:
        raise BlobError(f"sizes {model.sizes} exceed the blob's 16-bit fields")
    header = _HEADER.pack(
        HIL_MODEL_MAGIC,
        HIL_MODEL_FORMAT_VERSION,
        HIL_MODEL_MLP_F32,
        len(model.layers),
        model.input_size,
        model.output_size,
        *sizes,
        *([0] * (MAX_LAYERS - len(sizes))),
        0,
    )
    parts = [header]
    for layer in model.layers:
        parts += [np.ascontiguousarray(a, dtype=_F32_LE).tobytes() for a in (layer.w, layer.b)]
    return b"".join(parts)


def blob_size(sizes: Sequence[int]) -> int:
    """Bytes of the MLP_F32 blob for ``sizes = (inputs, units..., outputs)``."""
    return HIL_MODEL_HEADER_SIZE + 4 * sum(o * (i + 1) for i, o in itertools.pairwise(sizes))


def from_blob(blob: bytes | bytearray | memoryview) -> MlpModel:
    data = bytes(blob)
    if len(data) < HIL_MODEL_HEADER_SIZE:
        raise BlobError(f"blob is {len(data)} bytes, shorter than the {HIL_MODEL_HEADER_SIZE}-byte header")
    magic, version, kind, n_layers, n_in, n_out, *rest = _HEADER.unpack_from(data)
    sizes = rest[:MAX_LAYERS]
    if (magic, version, kind) != (HIL_MODEL_MAGIC, HIL_MODEL_FORMAT_VERSION, HIL_MODEL_MLP_F32):
        raise BlobError(f"magic 0x{magic:08X}, version {version}, kind {kind}: not an MLP_F32 blob")
    if not 1 <= n_layers <= MAX_LAYERS or 0 in sizes[:n_layers] or sizes[n_layers - 1] != n_out:
        raise BlobError(f"header sizes {sizes} with {n_layers} layers and output {n_out} are inconsistent")
    all_sizes = (n_in, *sizes[:n_layers])
    if len(data) != blob_size(all_sizes):
        raise BlobError(f"blob is {len(data)} bytes, its header describes {blob_size(all_sizes)}")
    offset = HIL_MODEL_HEADER_SIZE
    layers = []
    for n_i, n_o in itertools.pairwise(all_sizes):
        w = np.frombuffer(data, _F32_LE, n_o * n_i, offset).reshape(n_o, n_i).astype(np.float32)
        offset += 4 * n_o * n_i
        b = np.frombuffer(data, _F32_LE, n_o, offset).astype(np.float32)
        offset += 4 * n_o
        layers.append(DenseLayer(w, b))
    return MlpModel(layers)
