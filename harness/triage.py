"""Mismatch triage: where inside the model the device and the reference part (``docs/validate.md``).

When a device's output disagrees with the reference, ``locate_divergence`` asks the board for what its own kernels
computed inside (TRACE: per layer and step, an LSTM's gate pre-activations, c and h; a dense layer's output), finds
the first step by bisection (a divergence, once there, is carried by the state; each probe reruns the model from zero
state on the staged window), then the first layer, quantity and unit there, and compares each with the float32
numpy reference computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.models.dense import MlpModel
from harness.models.lstm import LstmModel

LSTM_BLOCKS = ("input gate", "forget gate", "cell gate", "output gate", "c", "h")


@dataclass(frozen=True)
class Divergence:
    """The first place the device leaves the reference: step (0-based; 0 for a dense network), layer, the quantity
    (an LSTM gate's pre-activation, c or h; a dense layer's output), the unit, and both values."""

    step: int
    layer: int
    quantity: str
    unit: int
    device: float
    reference: float
    probes: int  # TRACE requests it took

    def describe(self) -> str:
        what = f"{self.quantity} pre-activation" if self.quantity.endswith("gate") else self.quantity
        return (f"first divergence at step {self.step}, layer {self.layer}, {what}, unit {self.unit}: device "
                f"{self.device:.7g}, reference {self.reference:.7g} (|diff| {abs(self.device - self.reference):.3g}; "
                f"{self.probes} TRACE requests)")  # fmt: skip


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return (np.float32(1) / (np.float32(1) + np.exp(-v))).astype(np.float32)


def lstm_trace(model: LstmModel, x: np.ndarray, steps: int, layer: int) -> np.ndarray:
    """The reference of TRACE for an LSTM, in float32 as the device: gate pre-activations, c, h of ``layer`` after
    ``steps`` steps of ``x`` from zero state."""
    f32 = np.float32
    h = [np.zeros(lay.hidden_size, f32) for lay in model.layers]
    c = [np.zeros(lay.hidden_size, f32) for lay in model.layers]
    pre = np.zeros(0, f32)
    for t in range(steps):
        inp = np.asarray(x[t], f32)
        last = layer if t + 1 == steps else len(model.layers) - 1
        for k in range(last + 1):
            lay = model.layers[k]
            pre = (lay.w_ih.astype(f32) @ inp + lay.w_hh.astype(f32) @ h[k] + (lay.b_ih + lay.b_hh).astype(f32)).astype(
                f32
            )
            i, fg, g, o = np.split(pre, 4)
            sig = lambda v: (f32(1) / (f32(1) + np.exp(-v))).astype(f32)  # noqa: E731
            c[k] = (sig(fg) * c[k] + sig(i) * np.tanh(g)).astype(f32)
            h[k] = (sig(o) * np.tanh(c[k])).astype(f32)
            inp = h[k]
    return np.concatenate([pre, c[layer], h[layer]])


def mlp_trace(model: MlpModel, x: np.ndarray, layer: int) -> np.ndarray:
    """The reference of TRACE for a dense network: layer ``layer``'s output (after ReLU when hidden)."""
    y = np.asarray(x, np.float32)
    for k in range(layer + 1):
        d = model.layers[k]
        y = (d.w.astype(np.float32) @ y + d.b.astype(np.float32)).astype(np.float32)
        if k != len(model.layers) - 1:
            y = np.maximum(y, 0)
    return y


def _apart(dev: np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    return np.abs(dev.astype(np.float64) - ref) > atol + rtol * np.abs(ref)


def locate_divergence(client: Any, model: LstmModel | MlpModel, window: np.ndarray, *, atol: float = 2e-5,
                      rtol: float = 2e-5) -> Divergence | None:  # fmt: skip
    """Where the device, on ``window`` (``[steps, features]`` or ``[features]``), first leaves the reference; None
    when every probed value agrees within ``atol + rtol * |reference|``. The model must be the one loaded on the
    board (LSTM_F32 or MLP_F32)."""
    x = np.asarray(window, np.float32)
    if isinstance(model, MlpModel):
        client.stage_input(x.reshape(1, -1))
        for layer in range(len(model.layers)):
            ref = mlp_trace(model, x.reshape(-1), layer)
            dev = client.trace(1, layer, len(ref))
            bad = _apart(dev, ref, atol, rtol)
            if bad.any():
                unit = int(np.argmax(np.abs(dev.astype(np.float64) - ref)))
                return Divergence(0, layer, "output", unit, float(dev[unit]), float(ref[unit]), layer + 1)
        return None
    client.stage_input(x)
    top = len(model.layers) - 1
    probes = 0

    def diverged(steps: int, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nonlocal probes
        ref = lstm_trace(model, x, steps, layer)
        dev = client.trace(steps, layer, len(ref))
        probes += 1
        return dev, ref, _apart(dev, ref, atol, rtol)

    if not diverged(len(x), top)[2].any():
        return None
    lo, hi = 0, len(x)  # the top layer agrees after lo steps (0: nothing run yet) and parts after hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if diverged(mid, top)[2].any():
            hi = mid
        else:
            lo = mid
    for layer in range(top + 1):
        dev, ref, bad = diverged(hi, layer)
        if not bad.any():
            continue
        n_h = model.layers[layer].hidden_size
        block = int(np.argmax(bad)) // n_h  # the first of i, f, g, o, c, h with a unit apart
        part = slice(block * n_h, (block + 1) * n_h)
        unit = int(np.argmax(np.abs(dev[part].astype(np.float64) - ref[part])))
        k = block * n_h + unit
        return Divergence(hi - 1, layer, LSTM_BLOCKS[block], unit, float(dev[k]), float(ref[k]), probes)
    return None
