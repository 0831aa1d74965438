"""Bring your own model: a model file validated on a board, three ways (``docs/validate.md``).

``validate(session, path, dataset=..., windows=...)`` imports the file (``harness.importers``), deploys it, runs the
same real windows through the file's own framework, the numpy reference and the device, and compares each pair:

* framework vs numpy reference: checks the importer (did we read the file as the framework does?);
* numpy reference vs device: checks the firmware;
* framework vs device: what the user cares about.

With ST's metric set per pair (max abs error, RMSE, MAE, L2 relative, cosine), accuracy for classifiers, and the
device's instructions (or ns on the host), model bytes and memory high-water marks. When the device and the numpy
reference disagree beyond tolerance, ``harness.triage`` fetches the device's intermediates for the worst window and
names the first step, layer, gate and unit where they part.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import datasets, metrics
from harness.importers import ImportedModel, Reference, finish, load_model, reference_for
from harness.models import dense, lstm
from harness.models.quant import forward as qforward
from harness.models.quant.qmodels import QLstm

progress = logging.getLogger("harness.progress")

# Float tolerance of every pair, on outputs scaled by max(1, max |reference output|). Device, numpy and framework
# all compute in float32 but sum in different orders (the device sequentially or in 4 partial sums, numpy pairwise,
# frameworks in SIMD blocks) and take sigmoid/tanh/exp from different libraries (newlib, glibc, the framework's
# vectorized approximations), a few ulp apart per operation; an LSTM carries that through its steps, damped by the
# contracting gates. Measured on the shipped models (tests/models) and on an ONNX LSTM of hidden 128 over 168 steps
# with weights at trained scale (+-0.3, tests/hil/test_validate.py): at most 4.1e-7 between any two (3.9e-7
# framework vs device on qemu-stm32f4). 2e-5 leaves a factor of 40 for other
# models and data, while a kernel fault (a wrong gate, a skipped step) moves outputs by 1e-3 or more.
FLOAT_TOL = 2e-5


# Integer LSTMs converted by LiteRT: the device maps LiteRT's 8x8_16 LSTM parameter for parameter (Q3.12 gates,
# the int16 power-of-two cell, the same requantizations), but LiteRT's int16 sigmoid and tanh are approximations of
# their own: with correctly rounded activations and LiteRT's roundings in the numpy model, 1.2% of h codes still
# differ at the first step. Measured on tests/models/electricity_lstm16_int8.tflite (400 and 48 test windows): h
# within 2 LSB of LiteRT's (7.2% of codes differ, 1.4% at step 1, 11% at step 24), the output within 4 LSB.
# Framework pairs of such a model may differ by 8 codes (twice that); the device and the numpy reference must still
# agree code for code.
INT8_LSTM_FRAMEWORK_CODES = 8


class ValidationError(ValueError):
    """The model and the data do not fit together (sizes, a dataset without labels a metric needs)."""


class ValidationFailed(AssertionError):
    """A pair disagreed beyond tolerance; the message has the figures and, when found, the first divergence."""


@dataclass(frozen=True)
class Inputs:
    """Real windows for the model: ``X`` float32 ``[N, steps, features]`` or ``[N, features]``, and ``labels``
    (class indices) when the data has them."""

    X: np.ndarray
    labels: np.ndarray | None
    source: str


@dataclass(frozen=True)
class PairFigures:
    pair: str  # "framework_vs_numpy", "numpy_vs_device", "framework_vs_device"
    max_abs: float
    rmse: float
    mae: float
    l2r: float
    cos: float
    lsb_differ: int | None  # integer models: how many output codes differ
    tolerance: float  # integer models: in codes
    passed: bool
    max_lsb: int | None = None  # integer models: the largest difference, in codes

    def line(self) -> str:
        lsb = "" if self.lsb_differ is None else f", {self.lsb_differ} codes differ (by <= {self.max_lsb})"
        verdict = "ok" if self.passed else f"FAIL (> {self.tolerance:g})"
        return (f"{self.pair:20s} max|d| {self.max_abs:.3g}  RMSE {self.rmse:.3g}  MAE {self.mae:.3g}  "
                f"L2R {self.l2r:.3g}  COS {self.cos:.9f}{lsb}  {verdict}")  # fmt: skip


@dataclass
class ValidationResult:
    imported: ImportedModel
    reference: str
    board: str
    source: str
    windows: int
    pairs: dict[str, PairFigures] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    per_window: dict[str, float] = field(default_factory=dict)  # "instructions" or "ns": median per inference
    memory: dict[str, int] = field(default_factory=dict)
    divergence: Any = None  # harness.triage.Divergence of the worst window, when numpy and device disagree
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what fails the validation besides a pair's figures

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.pairs.values()) and not self.problems

    def describe(self) -> str:
        m = self.imported
        lines = [f"{m.describe()}", f"reference: {self.reference}; board: {self.board}; data: {self.source}, "
                 f"{self.windows} windows"]  # fmt: skip
        lines += [f"  {p.line()}" for p in self.pairs.values()]
        if self.accuracy:
            lines.append("  accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in self.accuracy.items()))
        if self.per_window:
            lines.append("  per inference: " + ", ".join(f"{v:,.0f} {k}" for k, v in self.per_window.items()))
        if self.memory:
            lines.append("  memory: " + ", ".join(f"{k} {v:,} B" for k, v in self.memory.items()))
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  PROBLEM: {n}" for n in self.problems]
        if self.divergence is not None:
            lines.append(f"  {self.divergence.describe()}")
        return "\n".join(lines)

    def check(self) -> ValidationResult:
        """Raise ValidationFailed with every figure if any pair disagreed beyond tolerance."""
        if not self.passed:
            raise ValidationFailed(self.describe())
        return self


# ------------------------------------------------------------------------------------------------------ inputs


def inputs_for(model: ImportedModel, dataset: str, windows: int) -> Inputs:
    """``windows`` windows evenly spread over the test split of a shipped dataset (its manifest's task), or over
    a CSV file of the user's (numeric columns are features; a column named ``label`` gives classes)."""
    path = Path(dataset)
    if path.suffix.lower() == ".csv":
        return _csv_inputs(model, path, windows)
    manifest = datasets.read_manifest(datasets.find_manifest(dataset))
    if manifest.format == "sktime-ts":
        task = datasets.ClassificationTask.from_manifest(datasets.load_cases(dataset))
        data = task.windows("test")
        X, labels = data.X, data.y
        if not model.sequence:
            X = data.flat()
        idx = _spread(len(X), windows)
        return _fit(model, X[idx].astype(np.float32), labels[idx], f"{dataset} (test windows, standardised)")
    if manifest.format != "csv":
        raise ValidationError(f"dataset {dataset!r} is {manifest.format}; validate takes forecast or classification "
                              "datasets, or a CSV file")  # fmt: skip
    ds = datasets.load(dataset)
    task = datasets.ForecastTask.from_manifest(ds)
    steps = model.steps or task.window
    w = datasets.forecast_windows(ds, task.features, task.target, window=steps, split="test", limit=windows,
                                  spacing="even")  # fmt: skip
    X = w.X if model.sequence else w.X.reshape(len(w.X), -1)
    return _fit(model, X.astype(np.float32), None, f"{dataset} (test windows of {steps} steps, min-max scaled)")


def _spread(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(int))


def _csv_inputs(model: ImportedModel, path: Path, windows: int) -> Inputs:
    import pandas as pd

    frame = pd.read_csv(path)
    labels = frame.pop("label").to_numpy() if "label" in frame.columns else None
    numeric = frame.select_dtypes("number")
    values = numeric.to_numpy(np.float32)
    if model.sequence:
        steps = model.steps or 24
        starts = _spread(max(len(values) - steps + 1, 0), windows)
        X = np.stack([values[s : s + steps] for s in starts]) if len(starts) else np.zeros((0, steps, 0))
        lab = None if labels is None else labels[starts + steps - 1]
    else:
        idx = _spread(len(values), windows)
        X, lab = values[idx], None if labels is None else labels[idx]
    if lab is not None:
        lab = pd.factorize(lab, sort=True)[0] if lab.dtype.kind not in "iu" else lab
    return _fit(model, X, lab, f"{path.name} ({len(numeric.columns)} numeric columns, as they are)")


def _fit(model: ImportedModel, X: np.ndarray, labels: np.ndarray | None, source: str) -> Inputs:
    if len(X) == 0:
        raise ValidationError(f"{source}: no windows for {model.path.name}")
    if X.shape[-1] != model.features:
        shape = f"[{model.steps or 'T'}, {model.features}]" if model.sequence else f"[{model.features}]"
        per = "step" if model.sequence else "window"
        raise ValidationError(f"{model.path.name} takes {shape} but {source} gives {X.shape[-1]} values per {per}; "
                              "pick a dataset with matching features")  # fmt: skip
    return Inputs(X=X, labels=labels, source=source)


# ----------------------------------------------------------------------------------------------------- running


def numpy_reference(model: ImportedModel, X: np.ndarray) -> np.ndarray:
    """The numpy reference's outputs ``[N, outputs]`` (integer codes for an integer model, before any host
    activation otherwise)."""
    if isinstance(model.model, QLstm):
        return qforward.lstm_forward(model.model, X)
    if model.quantized:
        return qforward.mlp_forward(model.model, X)  # type: ignore[arg-type]
    if model.sequence:
        return np.stack([lstm.forward(model.model, x, dtype=np.float32) for x in X])  # type: ignore[arg-type]
    return np.stack([dense.forward(model.model, x) for x in X]).astype(np.float32)  # type: ignore[arg-type]


def max_cell(model: ImportedModel, X: np.ndarray) -> float:
    """The largest |c| any LSTM layer reaches on ``X`` (float64): checks a cell clip the device does not do."""
    m: lstm.LstmModel = model.model  # type: ignore[assignment]
    top = 0.0
    for x in X:
        seq = np.asarray(x, np.float64)
        for layer in m.layers:
            h = np.zeros(layer.hidden_size)
            c = np.zeros(layer.hidden_size)
            out = []
            for xt in seq:
                g = layer.w_ih @ xt + layer.w_hh @ h + layer.b_ih + layer.b_hh
                i, f, gg, o = np.split(g, 4)
                c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(gg)
                h = 1 / (1 + np.exp(-o)) * np.tanh(c)
                top = max(top, float(np.abs(c).max()))
                out.append(h)
            seq = np.array(out)
    return top


def _figures(pair: str, a: np.ndarray, b: np.ndarray, *, integer: bool) -> PairFigures:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(1.0, float(np.abs(a64).max()))
    max_abs = metrics.max_abs_err(b64, a64)
    tolerance = 0.0 if integer else FLOAT_TOL * scale
    return PairFigures(pair=pair, max_abs=max_abs, rmse=metrics.rmse(b64, a64), mae=metrics.mae(b64, a64),
                       l2r=metrics.l2r(b64, a64), cos=metrics.cos(b64, a64),
                       lsb_differ=int(np.count_nonzero(a64 != b64)) if integer else None, tolerance=tolerance,
                       passed=max_abs <= tolerance)  # fmt: skip


def validate(
    session: Any,
    path: str | Path,
    *,
    dataset: str,
    windows: int = 32,
    record: Callable[..., None] | None = None,
    reference: Reference | None = None,
) -> ValidationResult:
    """Import ``path``, deploy it on ``session``'s board and compare framework, numpy and device on ``windows``
    windows of ``dataset``; rows go to ``record`` (the pytest fixture's signature) when given."""
    imported = load_model(path)
    inputs = inputs_for(imported, dataset, windows)
    ref = reference or reference_for(imported.path)
    name = imported.path.name
    progress.info("validate %s: %s", name, imported.describe().replace("\n", ";"))
    q = imported.model.input if imported.quantized else None  # type: ignore[union-attr]
    X_dev = q.quantize(inputs.X) if q is not None else inputs.X
    y_fw = ref.run(X_dev)
    y_np = numpy_reference(imported, X_dev)
    session.reboot()  # the high-water marks below are this model's
    dep = session.deploy(imported.model)
    hello = session.hello
    y_dev, ticks = [], []
    for k, x in enumerate(X_dev):
        res = dep.client.infer(x)
        y_dev.append(np.asarray(res.outputs).reshape(-1))
        ticks.append(hello.ticks_to_counter_unit(res.ticks))
        if (k + 1) % 8 == 0 or k + 1 == len(X_dev):
            progress.info("validate %s on %s: window %d/%d", name, session.board.name, k + 1, len(X_dev))
    y_dev_a = np.stack(y_dev)
    stats = dep.client.stats()
    result = ValidationResult(imported=imported, reference=ref.name, board=session.board.name, source=inputs.source,
                              windows=len(X_dev))  # fmt: skip
    integer = imported.quantized
    if integer:  # compare codes; the metrics on dequantized values
        out_q = imported.model.output  # type: ignore[union-attr]
        fw, npy, dev = (out_q.dequantize(v) for v in (y_fw, y_np, y_dev_a))
        raw = {"framework": y_fw, "numpy": y_np, "device": y_dev_a}
    else:
        act = imported.final_activation
        fw, npy, dev = np.asarray(y_fw, np.float64), finish(y_np, act), finish(y_dev_a, act)
        raw = None
    for pair, (a, b) in {"framework_vs_numpy": (fw, npy), "numpy_vs_device": (npy, dev),
                         "framework_vs_device": (fw, dev)}.items():  # fmt: skip
        figures = _figures(pair, a, b, integer=integer)
        if integer and raw is not None:
            left, right = pair.split("_vs_")
            gap = np.abs(raw[left].astype(np.int64) - raw[right].astype(np.int64))
            allowed = INT8_LSTM_FRAMEWORK_CODES if isinstance(imported.model, QLstm) and "framework" in pair else 0
            figures = PairFigures(**{**figures.__dict__, "lsb_differ": int(np.count_nonzero(gap)),
                                     "max_lsb": int(gap.max()), "tolerance": float(allowed),
                                     "passed": int(gap.max()) <= allowed})  # fmt: skip
        result.pairs[pair] = figures
    if inputs.labels is not None and imported.outputs > 1:
        for who, y in (("framework", fw), ("numpy", npy), ("device", dev)):
            result.accuracy[who] = metrics.accuracy(np.argmax(y, axis=1), inputs.labels)
    result.per_window[hello.counter_unit] = float(np.median(ticks))
    result.memory = {"model": dep.model_bytes, "arena_high_water": stats.arena_high_water,
                     "stack_high_water": stats.stack_high_water}  # fmt: skip
    if imported.cell_clip is not None:
        top = max_cell(imported, inputs.X)
        text = (f"the file clips the LSTM cell at {imported.cell_clip:g}; |c| reaches {top:.3g} on these windows, so "
                "the device's unclipped cell ")  # fmt: skip
        if top < imported.cell_clip:
            result.notes.append(text + "computes the same")
        else:
            result.problems.append(text + "computes something else: the device has no cell clip")
    if not result.pairs["numpy_vs_device"].passed and not integer:
        result.divergence = _triage(dep.client, imported, inputs.X, npy, dev)
    if record is not None:
        _record(record, result, name, dataset, fw, dev)
    progress.info("validate %s:\n%s", name, result.describe())
    return result


def _triage(client: Any, imported: ImportedModel, X: np.ndarray, npy: np.ndarray, dev: np.ndarray) -> Any:
    """The first divergence inside the worst window, or None when the board cannot say (an older firmware)."""
    try:
        from harness.triage import locate_divergence
    except ImportError:
        return None
    worst = int(np.argmax(np.abs(npy - dev).reshape(len(X), -1).max(axis=1)))
    try:
        return locate_divergence(client, imported.model, X[worst], atol=FLOAT_TOL, rtol=FLOAT_TOL)
    except Exception as exc:  # triage is a diagnosis: its failure must not hide the figures already measured
        progress.info("triage of window %d failed: %s", worst, exc)
        return None


def _record(record: Callable[..., None], r: ValidationResult, model: str, dataset: str, fw: np.ndarray,
            dev: np.ndarray) -> None:  # fmt: skip
    for pair, p in r.pairs.items():
        for metric in ("max_abs", "rmse", "mae", "l2r", "cos"):
            record(f"validate_{pair}_{metric}", getattr(p, metric), "1", model=model, dataset=dataset)
        if p.lsb_differ is not None:
            record(f"validate_{pair}_codes_differ", p.lsb_differ, "1", model=model, dataset=dataset)
            record(f"validate_{pair}_max_lsb", p.max_lsb, "LSB", model=model, dataset=dataset)
    for who, acc in r.accuracy.items():
        record(f"validate_accuracy_{who}", acc, "1", model=model, dataset=dataset)
    for unit, value in r.per_window.items():
        record(f"validate_latency_{unit}", value, unit, model=model, dataset=dataset)
    for what, value in r.memory.items():
        record(f"validate_{what}_bytes", value, "B", model=model, dataset=dataset)
    err = np.abs(np.asarray(fw, np.float64) - np.asarray(dev, np.float64)).reshape(len(fw), -1).max(axis=1)
    for k, e in enumerate(err):
        record("validate_window_err", float(e), "1", model=model, dataset=dataset, sample=k)
    if r.divergence is not None:
        record("validate_divergence_step", r.divergence.step, "step", model=model, dataset=dataset)
