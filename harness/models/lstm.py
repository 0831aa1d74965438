"""Stacked LSTM + dense head: the numpy reference for the ``hil_lstm_*_f32`` kernels.

Weights follow PyTorch's layout (gate blocks ``i, f, g, o``; ``W_ih`` is ``[4H, I]``), which is also the device
layout. Converters map Keras (``i, f, c, o``, kernels stored transposed) and ONNX (``i, o, f, c``) weights onto it,
and ``to_blob``/``from_blob`` produce and parse the model blob described in ``firmware/include/hil/hil_lstm.h``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.proto.wire import (
    HIL_LSTM_MAX_LAYERS,
    HIL_MODEL_FORMAT_VERSION,
    HIL_MODEL_HEADER_SIZE,
    HIL_MODEL_LSTM_F32,
    HIL_MODEL_MAGIC,
)

__all__ = [
    "BlobError",
    "LstmLayer",
    "LstmModel",
    "blob_size",
    "forward",
    "from_blob",
    "from_keras",
    "from_onnx",
    "from_torch_state_dict",
    "to_blob",
    "to_keras",
    "to_onnx",
    "to_torch_state_dict",
]

# hil_model_header_t: magic, format_version, kind, n_layers, input_size, output_size, hidden_size[4], reserved.
_HEADER = struct.Struct(f"<IHBBHH{HIL_LSTM_MAX_LAYERS}HI")
if _HEADER.size != HIL_MODEL_HEADER_SIZE:
    raise ImportError(
        f"hil_model_header_t packs to {_HEADER.size} bytes but HIL_MODEL_HEADER_SIZE is {HIL_MODEL_HEADER_SIZE}: "
        "update _HEADER in harness/models/lstm.py to match firmware/include/hil/hil_lstm.h"
    )
_U16_MAX = 0xFFFF
_F32_LE = np.dtype("<f4")

# Position of each PyTorch gate block (i, f, g, o) in the other frameworks' order.
_ONNX_FROM_TORCH = (0, 3, 1, 2)  # ONNX i, o, f, c
_TORCH_FROM_ONNX = (0, 2, 3, 1)


class BlobError(ValueError):
    """A model blob that does not follow its layout (hil_lstm.h, hil_quant.h): raised by every model's blob reader
    and writer."""


def _as_array(value: Any, name: str) -> np.ndarray:
    # Tensors from torch (possibly on GPU or requiring grad) are accepted without importing torch.
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} has dtype {arr.dtype}; pass a floating-point array")
    return arr


def _check_shape(arr: np.ndarray, shape: tuple[int, ...], name: str) -> None:
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")


@dataclass
class LstmLayer:
    """One LSTM layer in PyTorch layout: ``w_ih [4H, I]``, ``w_hh [4H, H]``, ``b_ih [4H]``, ``b_hh [4H]``."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray

    def __post_init__(self) -> None:
        self.w_ih = _as_array(self.w_ih, "w_ih")
        self.w_hh = _as_array(self.w_hh, "w_hh")
        self.b_ih = _as_array(self.b_ih, "b_ih")
        self.b_hh = _as_array(self.b_hh, "b_hh")
        if self.w_hh.ndim != 2 or self.w_hh.shape[0] != 4 * self.w_hh.shape[1] or self.w_hh.shape[1] == 0:
            raise ValueError(f"w_hh has shape {self.w_hh.shape}, expected [4H, H] with H >= 1")
        rows = self.w_hh.shape[0]
        if self.w_ih.ndim != 2 or self.w_ih.shape[0] != rows or self.w_ih.shape[1] == 0:
            raise ValueError(f"w_ih has shape {self.w_ih.shape}, expected [{rows}, I] with I >= 1")
        _check_shape(self.b_ih, (rows,), "b_ih")
        _check_shape(self.b_hh, (rows,), "b_hh")

    @property
    def input_size(self) -> int:
        return int(self.w_ih.shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.w_hh.shape[1])


@dataclass
class LstmModel:
    """Stacked LSTM layers followed by a dense head ``dense_w [O, H_last]``, ``dense_b [O]``."""

    layers: list[LstmLayer]
    dense_w: np.ndarray
    dense_b: np.ndarray

    def __post_init__(self) -> None:
        self.layers = list(self.layers)
        if not self.layers:
            raise ValueError("an LstmModel needs at least one layer")
        for k in range(1, len(self.layers)):
            prev, cur = self.layers[k - 1], self.layers[k]
            if cur.input_size != prev.hidden_size:
                raise ValueError(
                    f"layer {k} takes {cur.input_size} inputs but layer {k - 1} has {prev.hidden_size} units; "
                    "each layer's input_size must equal the previous layer's hidden_size"
                )
        self.dense_w = _as_array(self.dense_w, "dense_w")
        self.dense_b = _as_array(self.dense_b, "dense_b")
        h_last = self.layers[-1].hidden_size
        if self.dense_w.ndim != 2 or self.dense_w.shape[1] != h_last or self.dense_w.shape[0] == 0:
            raise ValueError(f"dense_w has shape {self.dense_w.shape}, expected [O, {h_last}] with O >= 1")
        _check_shape(self.dense_b, (self.dense_w.shape[0],), "dense_b")

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(layer.hidden_size for layer in self.layers)

    @property
    def output_size(self) -> int:
        return int(self.dense_w.shape[0])

    @property
    def n_params(self) -> int:
        """Parameter count as PyTorch reports it (both LSTM biases); the device stores one bias per layer."""
        arrays = [a for layer in self.layers for a in (layer.w_ih, layer.w_hh, layer.b_ih, layer.b_hh)]
        return int(sum(a.size for a in [*arrays, self.dense_w, self.dense_b]))

    @classmethod
    def random(
        cls,
        input_size: int,
        hidden_sizes: Sequence[int],
        output_size: int,
        seed: int,
        scale: float | None = None,
    ) -> LstmModel:
        """Weights uniform in ``±scale``; by default PyTorch's init, ``±1/sqrt(fan)`` with fan = H (LSTM) or
        H_last (Linear). Stored as float32 so the device and the float64 reference see the same values."""
        hidden_sizes = list(hidden_sizes)
        if input_size < 1 or output_size < 1 or not hidden_sizes or min(hidden_sizes) < 1:
            raise ValueError(
                f"sizes must be >= 1 with at least one layer; got input_size={input_size}, "
                f"hidden_sizes={hidden_sizes}, output_size={output_size}"
            )
        rng = np.random.default_rng(seed)

        def uniform(bound: float, shape: tuple[int, ...]) -> np.ndarray:
            return rng.uniform(-bound, bound, size=shape).astype(np.float32)

        layers = []
        n_in = input_size
        for h in hidden_sizes:
            bound = 1.0 / np.sqrt(h) if scale is None else scale
            layers.append(
                LstmLayer(
                    w_ih=uniform(bound, (4 * h, n_in)),
                    w_hh=uniform(bound, (4 * h, h)),
                    b_ih=uniform(bound, (4 * h,)),
                    b_hh=uniform(bound, (4 * h,)),
                )
            )
            n_in = h
        bound = 1.0 / np.sqrt(n_in) if scale is None else scale
        return cls(layers=layers, dense_w=uniform(bound, (output_size, n_in)), dense_b=uniform(bound, (output_size,)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Same formula as the kernel; exp overflows to inf for very negative x and 1/inf is the saturated 0.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def forward(model: LstmModel, x: np.ndarray, *, dtype: Any = np.float32, all_steps: bool = False) -> np.ndarray:
    """Run the model from zero state over ``x`` ``[T, I]`` or ``[B, T, I]``.

    Returns the head's output on the last step, ``[O]`` (``[B, O]``), or on every step with ``all_steps``,
    ``[T, O]`` (``[B, T, O]``). Everything, weights included, is computed in ``dtype``; with float32 the bias is
    ``b_ih + b_hh`` summed in float32, exactly the bias ``to_blob`` writes for the device.
    """
    dt = np.dtype(dtype)
    xs = np.asarray(x)
    batched = xs.ndim == 3
    if xs.ndim not in (2, 3) or xs.shape[-1] != model.input_size or xs.shape[-2] == 0:
        raise ValueError(
            f"x has shape {xs.shape}; expected [T, {model.input_size}] or [B, T, {model.input_size}] with T >= 1"
        )
    xs = xs.astype(dt, copy=False)
    if not batched:
        xs = xs[np.newaxis]
    n_batch, n_steps, _ = xs.shape

    params = [
        (layer.w_ih.astype(dt).T, layer.w_hh.astype(dt).T, layer.b_ih.astype(dt) + layer.b_hh.astype(dt))
        for layer in model.layers
    ]
    dense_wt, dense_b = model.dense_w.astype(dt).T, model.dense_b.astype(dt)
    h = [np.zeros((n_batch, layer.hidden_size), dt) for layer in model.layers]
    c = [np.zeros((n_batch, layer.hidden_size), dt) for layer in model.layers]
    outputs = []
    for t in range(n_steps):
        inp = xs[:, t, :]
        for k, (w_ih_t, w_hh_t, bias) in enumerate(params):
            gates = inp @ w_ih_t + h[k] @ w_hh_t + bias
            g_i, g_f, g_g, g_o = np.split(gates, 4, axis=1)
            c[k] = _sigmoid(g_f) * c[k] + _sigmoid(g_i) * np.tanh(g_g)
            h[k] = _sigmoid(g_o) * np.tanh(c[k])
            inp = h[k]
        if all_steps or t == n_steps - 1:
            outputs.append(inp @ dense_wt + dense_b)
    y = np.stack(outputs, axis=1) if all_steps else outputs[-1]
    return y if batched else y[0]


# ---------------------------------------------------------------------------------------------------- model blob


def to_blob(model: LstmModel) -> bytes:
    """The model as the blob ``hil_lstm_bind_f32`` parses (little-endian float32, one bias = b_ih + b_hh)."""
    return _blob(model.layers, (model.dense_w, model.dense_b))


def layers_to_blob(layers: Sequence[LstmLayer]) -> bytes:
    """LSTM layers without a head: the blob says output_size 0 and the device answers the last layer's h. The lower
    part of a model split by layer over two boards (harness.suites.distributed)."""
    return _blob(layers, None)


def _blob(layers: Sequence[LstmLayer], head: tuple[np.ndarray, np.ndarray] | None) -> bytes:
    layers = list(layers)
    hidden_sizes = [layer.hidden_size for layer in layers]
    output_size = 0 if head is None else int(head[0].shape[0])
    sizes = [layers[0].input_size, output_size, *hidden_sizes] if layers else []
    if not 1 <= len(layers) <= HIL_LSTM_MAX_LAYERS:
        raise BlobError(f"the device takes 1..{HIL_LSTM_MAX_LAYERS} layers, this model has {len(layers)}")
    if max(sizes) > _U16_MAX:
        raise BlobError(f"sizes {sizes} exceed the blob's 16-bit fields; use layers of at most {_U16_MAX} units")
    hidden = [*hidden_sizes, *([0] * (HIL_LSTM_MAX_LAYERS - len(layers)))]
    header = _HEADER.pack(
        HIL_MODEL_MAGIC,
        HIL_MODEL_FORMAT_VERSION,
        HIL_MODEL_LSTM_F32,
        len(layers),
        layers[0].input_size,
        output_size,
        *hidden,
        0,
    )
    parts = [header]
    for layer in layers:
        bias = layer.b_ih.astype(np.float32) + layer.b_hh.astype(np.float32)
        parts += [np.ascontiguousarray(a, dtype=_F32_LE).tobytes() for a in (layer.w_ih, layer.w_hh, bias)]
    if head is not None:
        parts += [np.ascontiguousarray(a, dtype=_F32_LE).tobytes() for a in head]
    return b"".join(parts)


def blob_size(input_size: int, hidden_sizes: Sequence[int], output_size: int) -> int:
    """Bytes of the blob for these sizes: header plus float32 weights."""
    n_floats = 0
    n_in = input_size
    for h in hidden_sizes:
        n_floats += 4 * h * (n_in + h + 1)
        n_in = h
    n_floats += output_size * (n_in + 1)
    return HIL_MODEL_HEADER_SIZE + 4 * n_floats


def from_blob(blob: bytes | bytearray | memoryview) -> LstmModel:
    """Parse a blob into float32 arrays; the single stored bias becomes ``b_ih`` and ``b_hh`` is zero."""
    data = bytes(blob)
    if len(data) < HIL_MODEL_HEADER_SIZE:
        raise BlobError(f"blob is {len(data)} bytes, shorter than the {HIL_MODEL_HEADER_SIZE}-byte header")
    magic, version, kind, n_layers, n_in, n_out, *rest = _HEADER.unpack_from(data)
    hidden_all, reserved = rest[:-1], rest[-1]
    if magic != HIL_MODEL_MAGIC:
        raise BlobError(f"bad magic 0x{magic:08X} (expected 0x{HIL_MODEL_MAGIC:08X}): this is not a model blob")
    if version != HIL_MODEL_FORMAT_VERSION:
        raise BlobError(
            f"format version {version}, this harness reads {HIL_MODEL_FORMAT_VERSION}: regenerate the blob with to_blob"
        )
    if kind != HIL_MODEL_LSTM_F32:
        raise BlobError(f"blob kind {kind} is not HIL_MODEL_LSTM_F32 ({HIL_MODEL_LSTM_F32}); parse it with its model")
    if not 1 <= n_layers <= HIL_LSTM_MAX_LAYERS:
        raise BlobError(f"n_layers is {n_layers}, must be 1..{HIL_LSTM_MAX_LAYERS}")
    hidden = list(hidden_all[:n_layers])
    if n_in == 0 or n_out == 0 or 0 in hidden:
        raise BlobError(f"zero size in header: input {n_in}, hidden {hidden}, output {n_out}; every size must be >= 1")
    if any(hidden_all[n_layers:]) or reserved:
        raise BlobError(f"unused header fields must be 0 (hidden_size {list(hidden_all)}, reserved {reserved})")
    expected = blob_size(n_in, hidden, n_out)
    if len(data) != expected:
        raise BlobError(f"blob is {len(data)} bytes, its header describes {expected}: truncated or padded blob")

    offset = HIL_MODEL_HEADER_SIZE

    def take(*shape: int) -> np.ndarray:
        nonlocal offset
        count = int(np.prod(shape))
        arr = np.frombuffer(data, dtype=_F32_LE, count=count, offset=offset).reshape(shape).astype(np.float32)
        offset += 4 * count
        return arr

    layers = []
    prev = n_in
    for h in hidden:
        w_ih, w_hh, bias = take(4 * h, prev), take(4 * h, h), take(4 * h)
        layers.append(LstmLayer(w_ih=w_ih, w_hh=w_hh, b_ih=bias, b_hh=np.zeros_like(bias)))
        prev = h
    dense_w = take(n_out, prev)
    dense_b = take(n_out)
    return LstmModel(layers=layers, dense_w=dense_w, dense_b=dense_b)


# ------------------------------------------------------------------------------------------- layout converters


def _permute_gates(arr: np.ndarray, order: Sequence[int], axis: int = 0) -> np.ndarray:
    blocks = np.split(arr, 4, axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def from_torch_state_dict(
    sd: Mapping[str, Any],
    num_layers: int,
    prefix: str = "",
    *,
    dense_weight: Any,
    dense_bias: Any,
) -> LstmModel:
    """From ``torch.nn.LSTM(...).state_dict()`` (tensors or arrays) plus the head's ``Linear`` weight and bias.

    ``prefix`` is prepended to the LSTM keys, e.g. ``"lstm."`` for a state dict of a whole module.
    """
    unsupported = [key for key in sd if key.startswith(prefix) and ("_reverse" in key or "weight_hr_" in key)]
    if unsupported:
        raise ValueError(f"{unsupported}: bidirectional and projected LSTMs have no device kernel; export without them")
    layers = []
    for k in range(num_layers):
        names = [f"{prefix}{name}_l{k}" for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        missing = [name for name in names if name not in sd]
        if missing:
            raise KeyError(f"state dict lacks {missing}; check num_layers={num_layers} and prefix={prefix!r}")
        w_ih, w_hh, b_ih, b_hh = (_as_array(sd[name], name).copy() for name in names)
        layers.append(LstmLayer(w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh))
    dense_w = _as_array(dense_weight, "dense_weight").copy()
    dense_b = _as_array(dense_bias, "dense_bias").copy()
    return LstmModel(layers=layers, dense_w=dense_w, dense_b=dense_b)


def to_torch_state_dict(model: LstmModel, prefix: str = "") -> dict[str, np.ndarray]:
    """LSTM weights keyed as ``torch.nn.LSTM.state_dict()``; the head is ``model.dense_w``/``model.dense_b``."""
    sd: dict[str, np.ndarray] = {}
    for k, layer in enumerate(model.layers):
        sd[f"{prefix}weight_ih_l{k}"] = layer.w_ih.copy()
        sd[f"{prefix}weight_hh_l{k}"] = layer.w_hh.copy()
        sd[f"{prefix}bias_ih_l{k}"] = layer.b_ih.copy()
        sd[f"{prefix}bias_hh_l{k}"] = layer.b_hh.copy()
    return sd


def from_keras(kernel: Any, recurrent_kernel: Any, bias: Any = None) -> LstmLayer:
    """One ``keras.layers.LSTM`` layer: ``kernel [I, 4H]``, ``recurrent_kernel [H, 4H]``, ``bias [4H]``.

    Keras's gate order ``i, f, c, o`` is PyTorch's ``i, f, g, o``; only the storage is transposed. Keras has one
    bias, which becomes ``b_ih``. A Keras ``Dense`` head's kernel is ``[H, O]``: pass ``kernel.T`` as ``dense_w``.
    """
    kernel = _as_array(kernel, "kernel")
    recurrent_kernel = _as_array(recurrent_kernel, "recurrent_kernel")
    if recurrent_kernel.ndim != 2 or recurrent_kernel.shape[1] != 4 * recurrent_kernel.shape[0]:
        raise ValueError(f"recurrent_kernel has shape {recurrent_kernel.shape}, expected [H, 4H]")
    rows = recurrent_kernel.shape[1]
    b = np.zeros(rows, recurrent_kernel.dtype) if bias is None else _as_array(bias, "bias").copy()
    return LstmLayer(
        w_ih=np.ascontiguousarray(kernel.T),
        w_hh=np.ascontiguousarray(recurrent_kernel.T),
        b_ih=b,
        b_hh=np.zeros_like(b),
    )


def to_keras(layer: LstmLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H])``; the two PyTorch biases are summed."""
    return (
        np.ascontiguousarray(layer.w_ih.T),
        np.ascontiguousarray(layer.w_hh.T),
        layer.b_ih + layer.b_hh,
    )


def from_onnx(W: Any, R: Any, B: Any = None) -> LstmLayer:
    """One forward-direction ONNX ``LSTM``: ``W [1, 4H, I]``, ``R [1, 4H, H]``, ``B [1, 8H]`` (``Wb | Rb``),
    gate order ``i, o, f, c``. Assumes the operator's default activations, no peepholes and no clip."""
    w = _as_array(W, "W")
    r = _as_array(R, "R")
    if w.ndim != 3 or r.ndim != 3 or w.shape[0] != 1 or r.shape[0] != 1:
        raise ValueError(
            f"W {w.shape} and R {r.shape} must be [1, 4H, I] and [1, 4H, H]; "
            "bidirectional LSTMs have no device kernel, export with direction='forward'"
        )
    rows = r.shape[1]
    if B is None:
        b = np.zeros(2 * rows, r.dtype)
    else:
        b = _as_array(B, "B")
        _check_shape(b, (1, 2 * rows), "B")
        b = b[0]
    return LstmLayer(
        w_ih=_permute_gates(w[0], _TORCH_FROM_ONNX),
        w_hh=_permute_gates(r[0], _TORCH_FROM_ONNX),
        b_ih=_permute_gates(b[:rows], _TORCH_FROM_ONNX),
        b_hh=_permute_gates(b[rows:], _TORCH_FROM_ONNX),
    )


def to_onnx(layer: LstmLayer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W [1, 4H, I], R [1, 4H, H], B [1, 8H])`` in ONNX gate order ``i, o, f, c``."""
    b = np.concatenate([_permute_gates(layer.b_ih, _ONNX_FROM_TORCH), _permute_gates(layer.b_hh, _ONNX_FROM_TORCH)])
    return (
        _permute_gates(layer.w_ih, _ONNX_FROM_TORCH)[np.newaxis],
        _permute_gates(layer.w_hh, _ONNX_FROM_TORCH)[np.newaxis],
        b[np.newaxis],
    )
