"""``.onnx`` files: LSTM layers, Gemm or MatMul + Add, Relu, and a final Softmax or Sigmoid, with the layout and
shape operators an exporter puts around them; onnxruntime is the reference.

The importer follows the data from the graph's input: every node the data passes through must be one it maps
(``LSTM``, ``Gemm``, ``MatMul`` then ``Add`` of a constant, ``Relu``) or one that only moves the data (``Transpose``,
``Squeeze``, ``Unsqueeze``, ``Reshape``, ``Flatten``, ``Identity``, ``Dropout``, and ``Gather``/``Slice`` taking the
last time step). Nodes that compute shapes from the data (``Shape`` and what follows it) are not data. Anything else
on the data's way is refused with its operator, node index and name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.importers.base import ImportedModel, ImportRefused, Reference, float_model, need
from harness.models.dense import DenseLayer
from harness.models.lstm import LstmLayer, from_onnx

SUFFIXES = (".onnx",)
FORMAT = "onnx"

_MOVES = {"Identity", "Dropout", "Squeeze", "Unsqueeze", "Reshape", "Flatten", "Transpose"}
_LSTM_DEFAULT_ACTIVATIONS = [b"Sigmoid", b"Tanh", b"Tanh"]


def _onnx() -> Any:
    return need("onnx", "onnx", "reading .onnx files")


class _Graph:
    def __init__(self, path: Path) -> None:
        onnx = _onnx()
        try:
            self.proto = onnx.load(str(path))
        except Exception as exc:  # onnx raises DecodeError and others from protobuf
            raise ImportRefused(f"{path}: not a readable ONNX model ({exc})") from exc
        self.path = path
        self.numpy_helper = onnx.numpy_helper
        self.helper = onnx.helper
        g = self.proto.graph
        self.consts: dict[str, np.ndarray] = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
        self.index = {tuple(n.output): k for k, n in enumerate(g.node)}
        self.producer = {out: n for n in g.node for out in n.output}
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = onnx.numpy_helper.to_array(a.t)
        self.consumers: dict[str, list[Any]] = {}
        for n in g.node:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        inputs = [i for i in g.input if i.name not in self.consts]
        if len(inputs) != 1:
            raise ImportRefused(f"{path}: the graph has {len(inputs)} data inputs; the device takes one")
        self.input = inputs[0]
        if len(g.output) != 1:
            raise ImportRefused(f"{path}: the graph has {len(g.output)} outputs; the device answers one")
        self.output = g.output[0].name

    def where(self, node: Any) -> str:
        return f"{node.op_type} at node {self.index[tuple(node.output)]} ({node.name or 'unnamed'})"

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, node: Any, k: int, what: str) -> np.ndarray:
        name = node.input[k] if k < len(node.input) else ""
        if name not in self.consts:
            raise ImportRefused(f"{self.where(node)}: its {what} must be a constant in the file")
        return np.asarray(self.consts[name])

    def refuse(self, node: Any, why: str) -> ImportRefused:
        return ImportRefused(f"{self.path.name}: {self.where(node)}: {why}")

    def zeros_only(self, name: str) -> bool:
        """``name`` is absent, or made of zeros: a zero constant or a ConstantOfShape of 0 moved about."""
        if not name:
            return True
        if name in self.consts:
            return not np.any(self.consts[name])
        node = self.producer.get(name)
        if node is None:
            return False
        if node.op_type == "ConstantOfShape":
            value = self.attrs(node).get("value")
            return value is None or not np.any(self.numpy_helper.to_array(value))
        if node.op_type in ("Slice", "Reshape", "Expand", "Unsqueeze", "Squeeze", "Identity", "Transpose"):
            return self.zeros_only(node.input[0])
        return False


def _data_consumer(g: _Graph, name: str) -> Any | None:
    users = [n for n in g.consumers.get(name, []) if n.op_type != "Shape"]
    if len(users) > 1:
        raise g.refuse(users[1], f"the data {name!r} feeds {len(users)} nodes; the device runs one chain of layers")
    return users[0] if users else None


def load(path: Path) -> ImportedModel:
    g = _Graph(Path(path))
    dims = [d.dim_value if d.HasField("dim_value") else None for d in g.input.type.tensor_type.shape.dim]
    if len(dims) not in (2, 3):
        raise ImportRefused(f"{g.path.name}: input {g.input.name!r} has {len(dims)} axes; the device takes "
                            "[batch, features] or [batch, steps, features]")  # fmt: skip
    sequence = len(dims) == 3
    features = dims[-1]
    if features is None:
        raise ImportRefused(f"{g.path.name}: the input's feature axis has no fixed size")
    steps = dims[1] if sequence else None
    # the data's axes: "B" batch, "T" time, "D" directions, "F" features
    axes = list("BTF") if sequence else list("BF")
    lstm_layers: list[LstmLayer] = []
    dense: list[DenseLayer] = []
    relu_after: list[bool] = []
    final = None
    lines: list[str] = []
    name = g.input.name
    while name != g.output:
        node = _data_consumer(g, name)
        if node is None:
            raise ImportRefused(f"{g.path.name}: the data stops at {name!r} before the graph's output")
        op = node.op_type
        if final is not None:
            raise g.refuse(node, f"comes after the final {final}; only a last Softmax or Sigmoid can run on the host")
        if op == "LSTM":
            if dense:
                raise g.refuse(node, "an LSTM after a dense layer has no device kernel")
            if axes != list("TBF"):
                raise g.refuse(node, f"takes its input as [{', '.join(axes)}]; expected time-major [T, B, F] "
                                     "(layout=0), the exporter's usual Transpose in front")  # fmt: skip
            lstm_layers.append(_lstm(g, node, len(lstm_layers)))
            h = lstm_layers[-1].hidden_size
            lines.append(f"LSTM {lstm_layers[-1].input_size} -> {h} ({g.where(node)})")
            out = [o for o in node.output]
            used = [k for k, o in enumerate(out) if o and g.consumers.get(o)] + (
                [k for k, o in enumerate(out) if o == g.output]
            )
            if used == [0]:
                axes = list("TDBF")
                name = out[0]
            elif used == [1]:  # Y_h: the last step's h, [D, B, H]
                axes = list("DBF")
                name = out[1]
            else:
                raise g.refuse(node, "only one of its outputs Y or Y_h may be used (Y_c, the cell, has no device "
                                     "counterpart as an output)")  # fmt: skip
            continue
        if op in ("Gemm", "MatMul"):
            layer, name = _dense(g, node, axes)
            dense.append(layer)
            relu_after.append(False)
            lines.append(f"Dense {layer.w.shape[1]} -> {layer.w.shape[0]} ({g.where(node)})")
            continue
        if op == "Relu":
            if not dense or relu_after[-1]:
                raise g.refuse(node, "a Relu is only mapped right after a dense layer")
            relu_after[-1] = True
            lines[-1] += ", Relu"
        elif op in ("Softmax", "Sigmoid"):
            if op == "Softmax":
                axis = g.attrs(node).get("axis", -1)
                if axis not in (-1, len(axes) - 1):
                    raise g.refuse(node, f"a Softmax over axis {axis}; only over the outputs (the last axis)")
            final = op.lower()
        elif op == "Tanh":
            raise g.refuse(node, "a Tanh between layers has no device counterpart (the device's dense layers "
                                 "are ReLU then linear)")  # fmt: skip
        elif op in ("Gather", "Slice"):
            axes = _last_step(g, node, axes, steps)
        elif op in _MOVES:
            axes = _move(g, node, axes)
        else:
            raise g.refuse(node, "this operator has no device counterpart; mapped are LSTM, Gemm, MatMul + Add, "
                                 "Relu, a final Softmax or Sigmoid, and the layout operators "
                                 f"{', '.join(sorted(_MOVES))}, Gather/Slice of the last step")  # fmt: skip
        name = node.output[0]
    return _assemble(g, lstm_layers, dense, relu_after, final, sequence, features, steps, lines)


def _lstm(g: _Graph, node: Any, position: int) -> LstmLayer:
    a = g.attrs(node)
    if a.get("direction", b"forward") not in (b"forward", "forward"):
        raise g.refuse(node, f"direction {a['direction']!r}: only forward LSTMs have a device kernel; export a "
                             "unidirectional model")  # fmt: skip
    if "clip" in a:
        raise g.refuse(node, f"clip={a['clip']}: the device's LSTM does not clip the cell input")
    if a.get("input_forget", 0):
        raise g.refuse(node, "input_forget=1 (coupled input and forget gates) is not the device's LSTM")
    acts = a.get("activations")
    if acts and [x if isinstance(x, bytes) else x.encode() for x in acts] != _LSTM_DEFAULT_ACTIVATIONS:
        raise g.refuse(node, f"activations {acts}: the device has Sigmoid, Tanh, Tanh only")
    if a.get("layout", 0) != 0:
        raise g.refuse(node, "layout=1 (batch-major) is not mapped; export with the default layout 0")
    inputs = list(node.input) + [""] * (8 - len(node.input))
    if inputs[4]:
        raise g.refuse(node, "has sequence_lens: every sequence of the device runs the whole window")
    if inputs[7]:
        raise g.refuse(node, "has peephole weights P: the device's LSTM has no peepholes")
    for k, what in ((5, "initial_h"), (6, "initial_c")):
        if not g.zeros_only(inputs[k]):
            raise g.refuse(node, f"its {what} is not zero: the device starts every window from zero state")
    W = g.const(node, 1, "W")
    R = g.const(node, 2, "R")
    B = g.const(node, 3, "B") if inputs[3] else None
    hidden = a.get("hidden_size")
    if hidden is not None and R.shape[-1] != hidden:
        raise g.refuse(node, f"hidden_size {hidden} disagrees with R {R.shape}")
    try:
        return from_onnx(W.astype(np.float32), R.astype(np.float32), None if B is None else B.astype(np.float32))
    except ValueError as exc:
        raise g.refuse(node, f"LSTM layer {position}: {exc}") from exc


def _dense(g: _Graph, node: Any, axes: list[str]) -> tuple[DenseLayer, str]:
    if axes[-1] != "F" or "T" in axes:
        raise g.refuse(node, f"a dense layer on data laid out [{', '.join(axes)}]; the device's dense layers take "
                             "one vector (after an LSTM: its last step)")  # fmt: skip
    if node.op_type == "Gemm":
        a = g.attrs(node)
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise g.refuse(node, f"Gemm with transA={a.get('transA', 0)}, alpha={a.get('alpha', 1.0)}, "
                                 f"beta={a.get('beta', 1.0)}: only y = x B + C is mapped")  # fmt: skip
        w = g.const(node, 1, "weight B")
        w = w if a.get("transB", 0) else w.T
        b = g.const(node, 2, "bias C") if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0], w.dtype)
        return DenseLayer(w=w.astype(np.float32), b=np.broadcast_to(b, (w.shape[0],)).astype(np.float32)), (
            node.output[0]
        )
    w = g.const(node, 1, "weight").T  # MatMul: x [.., K] @ W [K, N]
    add = _data_consumer(g, node.output[0])
    if add is not None and add.op_type == "Add":
        other = 1 if add.input[0] == node.output[0] else 0
        b = g.const(add, other, "bias")
        return DenseLayer(w=w.astype(np.float32), b=np.broadcast_to(b, (w.shape[0],)).astype(np.float32)), (
            add.output[0]
        )
    return DenseLayer(w=w.astype(np.float32), b=np.zeros(w.shape[0], np.float32)), node.output[0]


def _last_step(g: _Graph, node: Any, axes: list[str], steps: int | None) -> list[str]:
    if "T" not in axes:
        raise g.refuse(node, f"{node.op_type} outside the time axis: only taking the last time step is mapped")
    t = axes.index("T")
    last = {-1} if steps is None else {-1, steps - 1}
    if node.op_type == "Gather":
        idx = g.const(node, 1, "index")
        if g.attrs(node).get("axis", 0) != t or idx.ndim != 0 or int(idx) not in last:
            raise g.refuse(node, "a Gather that is not the last time step (index -1 on the time axis)")
        return [a for a in axes if a != "T"]
    starts = g.const(node, 1, "starts")
    along = g.const(node, 3, "axes") if len(node.input) > 3 and node.input[3] else np.arange(len(starts))
    if list(np.asarray(along) % len(axes)) != [t] or int(starts[0]) not in last:
        raise g.refuse(node, "a Slice that is not the last time step ([-1:] on the time axis)")
    return axes  # T stays, of length 1: a Squeeze or Reshape follows


def _move(g: _Graph, node: Any, axes: list[str]) -> list[str]:
    op = node.op_type
    if op in ("Identity", "Dropout"):
        return axes
    if op == "Transpose":
        perm = g.attrs(node).get("perm", list(reversed(range(len(axes)))))
        return [axes[p] for p in perm]
    if op == "Squeeze":
        drop = g.const(node, 1, "axes") if len(node.input) > 1 else np.array(g.attrs(node).get("axes", []))
        drop = {int(k) % len(axes) for k in np.atleast_1d(drop)}
        kept = [a for k, a in enumerate(axes) if k not in drop]
        if any(axes[k] in "BF" for k in drop):
            raise g.refuse(node, "squeezes a batch or feature axis")
        return kept
    if op == "Unsqueeze":
        raise g.refuse(node, "an Unsqueeze of the data is not mapped")
    # Reshape or Flatten: only [B, 1.., F] -> [B, F] (a vector that keeps its size)
    size_axes = [a for a in axes if a not in ("T", "D")]
    if size_axes != ["B", "F"]:
        raise g.refuse(node, f"reshapes data laid out [{', '.join(axes)}]; only [B, 1, F] -> [B, F] is mapped")
    return ["B", "F"]


def _assemble(g: _Graph, lstm_layers: list[LstmLayer], dense: list[DenseLayer], relu_after: list[bool],
              final: str | None, sequence: bool, features: int, steps: int | None,
              lines: list[str]) -> ImportedModel:  # fmt: skip
    model = float_model(g.path.name, lstm_layers, dense, relu_after, lines)
    return ImportedModel(path=g.path, format=FORMAT, model=model, sequence=sequence, features=int(features),
                         steps=steps, final_activation=final, layers=tuple(lines))  # type: ignore[arg-type]  # fmt: skip


def reference(path: Path) -> Reference:
    ort = need("onnxruntime", "onnxruntime", "running .onnx files as the reference")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch = session.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) and batch > 0 else None  # a file fixed at batch 1 runs one at a time

    def run(X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        parts = [X] if step is None else [X[i : i + step] for i in range(0, len(X), step)]
        return np.concatenate([np.asarray(session.run(None, {name: p})[0]).reshape(len(p), -1) for p in parts])

    return Reference(name=f"onnxruntime {ort.__version__}", run=run)
