"""``.keras`` files (Keras 3): a Sequential model, or a Functional one that is a chain, of LSTM and Dense layers
(Dropout, Flatten and an InputLayer pass), read from the archive's ``config.json`` and ``model.weights.h5`` with
h5py alone; Keras itself, on whatever backend is installed, is the reference.

A Dense layer's activation maps when it is ``relu`` on a hidden layer or ``linear`` on the last; a last ``softmax``
or ``sigmoid`` runs on the host. Anything else is refused with the layer's name and position.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.importers.base import ImportedModel, ImportRefused, Reference, float_model, need
from harness.models.dense import DenseLayer
from harness.models.lstm import LstmLayer, from_keras

SUFFIXES = (".keras",)
FORMAT = "keras"

_PASS = {"InputLayer", "Dropout", "Flatten"}


def load(path: Path) -> ImportedModel:
    path = Path(path)
    h5py = need("h5py", "h5py", "reading .keras files")
    try:
        archive = zipfile.ZipFile(path)
        config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ImportRefused(f"{path}: not a Keras 3 archive with a config.json ({exc})") from exc
    kind = config.get("class_name")
    if kind not in ("Sequential", "Functional"):
        raise ImportRefused(f"{path.name}: a {kind} model; Sequential models and Functional chains are mapped")
    specs = config["config"]["layers"]
    if kind == "Functional":
        _check_chain(path, specs)
    shape = None
    for spec in specs:
        shape = shape or spec["config"].get("batch_shape") or spec["config"].get("batch_input_shape")
    if shape is None or len(shape) not in (2, 3) or shape[-1] is None:
        raise ImportRefused(f"{path.name}: no input shape with a fixed feature axis in the model's config "
                            f"(got {shape}); build the model with keras.Input(shape=...)")  # fmt: skip
    sequence = len(shape) == 3
    import io

    with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
        return _map(path, specs, weights, shape, sequence)


def _check_chain(path: Path, specs: list[dict]) -> None:
    """A Functional model maps when it is a chain: each layer takes exactly the output of the layer before it."""
    for k, spec in enumerate(specs[1:], start=1):
        nodes = spec.get("inbound_nodes") or []
        sources = [arg["config"]["keras_history"][0] for node in nodes for arg in node.get("args", [])
                   if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__"]  # fmt: skip
        before = specs[k - 1]["config"].get("name")
        if sources != [before]:
            name = spec["config"].get("name")
            raise ImportRefused(f"{path.name}: {spec['class_name']} layer {k} ({name}) takes {sources or 'nothing'}, "
                                f"not the output of {before!r}: only a chain of layers is mapped")  # fmt: skip


def _vars(weights: Any, group: str, path: Path, where: str) -> list[np.ndarray]:
    if group not in weights:
        raise ImportRefused(f"{path.name}: {where}: no weights under {group!r} in model.weights.h5")
    g = weights[group]
    return [np.asarray(g[str(k)], dtype=np.float32) for k in range(len(g))]


def _map(path: Path, specs: list[dict], weights: Any, shape: list, sequence: bool) -> ImportedModel:
    layers: list[LstmLayer] = []
    dense: list[DenseLayer] = []
    acts: list[str] = []
    lines: list[str] = []
    seq_out = sequence
    for k, spec in enumerate(specs):
        kind, c = spec["class_name"], spec["config"]
        name = c.get("name", f"layer{k}")
        where = f"{kind} layer {k} ({name})"
        if kind in _PASS:
            continue
        if acts and acts[-1] in ("softmax", "sigmoid"):
            raise ImportRefused(f"{path.name}: {where} comes after a final {acts[-1]}")
        if kind == "LSTM":
            if dense:
                raise ImportRefused(f"{path.name}: {where}: an LSTM after a Dense layer has no device kernel")
            for key, want in (("activation", "tanh"), ("recurrent_activation", "sigmoid"), ("go_backwards", False),
                              ("stateful", False)):  # fmt: skip
                if c.get(key, want) != want:
                    raise ImportRefused(f"{path.name}: {where}: {key}={c.get(key)!r}; the device's LSTM has "
                                        f"{key}={want!r}")  # fmt: skip
            if not seq_out:
                raise ImportRefused(f"{path.name}: {where} takes the previous LSTM's last step only; set "
                                    "return_sequences=True on every LSTM but the last")  # fmt: skip
            w = _vars(weights, f"layers/{name}/cell/vars", path, where)
            layers.append(from_keras(w[0], w[1], w[2] if c.get("use_bias", True) else None))
            seq_out = bool(c.get("return_sequences", False))
            lines.append(f"LSTM {layers[-1].input_size} -> {layers[-1].hidden_size} ({where})")
        elif kind == "Dense":
            if seq_out:
                raise ImportRefused(f"{path.name}: {where} on a sequence; the device's dense layers take one vector "
                                    "(the last LSTM needs return_sequences=False)")  # fmt: skip
            act = c.get("activation", "linear")
            if act not in ("relu", "linear", "softmax", "sigmoid"):
                raise ImportRefused(f"{path.name}: {where}: activation {act!r}; mapped are relu (hidden layers), "
                                    "linear, and a last softmax or sigmoid")  # fmt: skip
            w = _vars(weights, f"layers/{name}/vars", path, where)
            b = w[1] if c.get("use_bias", True) else np.zeros(w[0].shape[1], np.float32)
            dense.append(DenseLayer(w=np.ascontiguousarray(w[0].T), b=b))
            acts.append(act)
            lines.append(f"Dense {w[0].shape[0]} -> {w[0].shape[1]}, {act} ({where})")
        elif kind == "Activation" and c.get("activation") in ("softmax", "sigmoid", "relu") and dense:
            if acts[-1] != "linear":
                raise ImportRefused(f"{path.name}: {where} after an activation {acts[-1]!r}")
            acts[-1] = c["activation"]
        elif kind == "Softmax" and dense and acts[-1] == "linear":
            acts[-1] = "softmax"
        else:
            raise ImportRefused(f"{path.name}: {where}: this layer has no device counterpart; mapped are LSTM, "
                                "Dense, Dropout, Flatten and a last Softmax or Activation")  # fmt: skip
    final = acts[-1] if acts and acts[-1] in ("softmax", "sigmoid") else None
    if final:
        acts[-1] = "linear"
    if layers and seq_out:
        raise ImportRefused(f"{path.name}: the last LSTM returns sequences and no layer takes its last step")
    if any(a not in ("relu", "linear") for a in acts):
        raise ImportRefused(f"{path.name}: activations {acts}; softmax or sigmoid only on the last layer")
    model = float_model(path.name, layers, dense, [a == "relu" for a in acts], lines)
    steps = shape[1] if sequence else None
    return ImportedModel(path=path, format=FORMAT, model=model, sequence=sequence, features=int(shape[-1]),
                         steps=steps, final_activation=final, layers=tuple(lines))  # type: ignore[arg-type]  # fmt: skip


def _pick_backend() -> None:
    """Keras 3 defaults to TensorFlow and fails to import without it: name the first backend that is installed."""
    import importlib.util
    import os

    if "KERAS_BACKEND" not in os.environ:
        for backend in ("tensorflow", "jax", "torch"):
            if importlib.util.find_spec(backend) is not None:
                os.environ["KERAS_BACKEND"] = backend
                return


def reference(path: Path) -> Reference:
    _pick_backend()
    keras = need("keras", "keras", "running .keras files as the reference (with one of its backends)")
    model = keras.saving.load_model(str(path), compile=False)
    batch = model.inputs[0].shape[0] if model.inputs else None

    def run(X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if batch is None:
            return np.asarray(model.predict(X, verbose=0)).reshape(len(X), -1)
        # predict() returns numpy on every backend (calling the model would give the backend's tensor type)
        return np.concatenate([np.asarray(model.predict(X[i : i + batch], verbose=0)).reshape(batch, -1)
                               for i in range(0, len(X), batch)])  # fmt: skip

    return Reference(name=f"Keras {keras.__version__} ({keras.backend.backend()})", run=run)
