"""What every importer returns and raises: the model it mapped, and how the file's own framework runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from harness.models.dense import DenseLayer, MlpModel
from harness.models.lstm import LstmLayer, LstmModel
from harness.models.quant.qmodels import QLstm, QMlp

DeviceModel = LstmModel | MlpModel | QMlp | QLstm
FinalActivation = Literal["softmax", "sigmoid"]


class ImportRefused(ValueError):
    """The file holds something the device cannot run as the file means it: an operator, a layer or an attribute
    with no device counterpart. The message names it and where it is."""


class FrameworkMissing(ImportError):
    """Reading or running this kind of file needs a package that is not installed; the message says which."""


@dataclass(frozen=True, eq=False)
class Reference:
    """The file's own framework running the file: ``run(X)`` takes the batch the device takes (float32, or the
    integer codes of an integer model) and returns its outputs ``[N, outputs]``."""

    name: str  # e.g. "onnxruntime 1.23.2"
    run: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class ImportedModel:
    """A model file mapped onto a device model.

    ``sequence``: the input is ``[steps, features]`` (an LSTM), else a vector of ``features``. ``steps`` is the
    sequence length the file fixes, or None when any length runs. ``final_activation`` is the file's last operator
    when it is a softmax or sigmoid over the outputs: the device answers the values before it and the harness
    applies it, in float64, before comparing with the framework (it changes no ranking and costs the device
    nothing worth measuring)."""

    path: Path
    format: str
    model: DeviceModel
    sequence: bool
    features: int
    steps: int | None = None
    final_activation: FinalActivation | None = None
    layers: tuple[str, ...] = field(default=())
    # a clip of the LSTM cell state the file asks for (LiteRT's cell_clip) and the device does not do: the same
    # results while |c| stays below it, which validation checks on the data
    cell_clip: float | None = None

    @property
    def quantized(self) -> bool:
        return isinstance(self.model, QMlp | QLstm)

    @property
    def outputs(self) -> int:
        if isinstance(self.model, LstmModel):
            return self.model.output_size
        if isinstance(self.model, MlpModel):
            return self.model.sizes[-1]
        if isinstance(self.model, QLstm):
            return self.model.head.rows
        return self.model.layers[-1].rows

    def describe(self) -> str:
        shape = f"[{self.steps or 'T'}, {self.features}]" if self.sequence else f"[{self.features}]"
        head = f"{self.path.name} ({self.format}): input {shape} -> {self.outputs}"
        tail = f", then {self.final_activation} on the host" if self.final_activation else ""
        return head + tail + "".join(f"\n  {line}" for line in self.layers)


def float_model(name: str, lstm_layers: list[LstmLayer], dense: list[DenseLayer], relu_after: list[bool],
                lines: list[str]) -> LstmModel | MlpModel:  # fmt: skip
    """The device model of a float file: LSTM layers with at most one linear head (none: the last h, through an
    identity head, exact in float32), or dense layers with ReLU after each but the last. ``relu_after[k]``: dense
    layer k is followed by a ReLU. Anything else is refused, naming the file ``name``."""
    if lstm_layers:
        if len(dense) > 1 or any(relu_after):
            with_relu = " with ReLU" if any(relu_after) else ""
            raise ImportRefused(f"{name}: after its LSTM layers the model has {len(dense)} dense layers{with_relu}; "
                                "the device's LSTM has one linear head")  # fmt: skip
        if not dense:
            h = lstm_layers[-1].hidden_size
            dense = [DenseLayer(w=np.eye(h, dtype=np.float32), b=np.zeros(h, np.float32))]
            lines.append(f"no head: the output is the last step's h ({h} values, identity head on the device)")
        return LstmModel(layers=lstm_layers, dense_w=dense[0].w, dense_b=dense[0].b)
    if not dense:
        raise ImportRefused(f"{name}: no LSTM or dense layer on the data's way: nothing to run")
    hidden = relu_after[:-1]
    if not all(hidden) or relu_after[-1]:
        k = hidden.index(False) if not all(hidden) else len(dense) - 1
        raise ImportRefused(f"{name}: dense layer {k} is {'not ' if not all(hidden) else ''}followed by ReLU; the "
                            "device's dense network has ReLU after every layer but the last (linear)")  # fmt: skip
    return MlpModel(layers=dense)


def finish(y: np.ndarray, activation: FinalActivation | None) -> np.ndarray:
    """The host's part of a model whose last operator is ``activation``: applied to the device's ``y [N, out]``."""
    y = np.asarray(y, dtype=np.float64)
    if activation is None:
        return y
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-y))
    z = np.exp(y - y.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def need(module: str, package: str, what: str):
    """Import ``module`` or say which package to install for ``what``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FrameworkMissing(
            f"{what} needs the Python package {package!r} ({exc}); install it into the harness's environment: "
            f"'.venv/bin/pip install {package}' (or 'pip install -e .[validate]' for every importer's packages)"
        ) from exc
