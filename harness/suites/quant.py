"""The quantized models the HIL suite (tests/hil/test_quantized.py) and ``python -m harness bench quant`` run, and the
host-side table of every variant's accuracy and size (``quant_report``).

Two models, each as float32 and as every integer variant of ``VARIANTS``:

- ``imu_mlp_180-50-15-4``: the gesture study's dense classifier (``studies.imu_classifier``) on BasicMotions windows of
  30 steps x 6 channels, scored on the archive's test cases; calibrated on 64 training windows spread evenly over the
  training set (as ``quant_report``).
- ``electricity_lstm32x24``: LSTM(32) forecasting the next hour of load from 24 (``studies.electricity_lstm``), scored
  on windows of the chronological *test* split (nothing was trained, calibrated or tuned on it); calibrated on 256
  training windows. Errors are in the task's min-max scaled units (fitted on the training split).

For ``python -m harness bench quant`` only (too slow for every board in ``make test``), a third model of the shape the
kernels are usually compared on (``BEIJING``): 7 Beijing weather channels -> LSTM(128) x 168 steps -> 1, random
weights (the shape ``bench lstm`` runs), calibrated on 32 training windows, as float32, int16, int8 and Q m.n.

The device runs the blob; the host quantizes inputs and dequantizes outputs (``quant.quantize_input`` /
``dequantize_output``), exactly as ``quant.predict`` does around the integer reference.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from harness import datasets, metrics
from harness.models import dense, lstm, quant
from harness.models.dense import MlpModel
from harness.models.lstm import LstmModel
from harness.proto.messages import INFER_REQUEST
from harness.suites import studies

if TYPE_CHECKING:
    from harness.proto.client import ModelInfo, Stats
    from harness.session import BoardSession

IMU = "imu_mlp_180-50-15-4"
ELECTRICITY = "electricity_lstm32x24"
BEIJING = "beijing_lstm128x168"
MODELS = (IMU, ELECTRICITY)  # the HIL suite's
BENCH_MODELS = (*MODELS, BEIJING)
VARIANTS = ("float32", "int16", "int8", "qmn", "kmeans-f4", "kmeans-f8", "kmeans-f16")
BEIJING_VARIANTS = ("float32", "int16", "int8", "qmn")
DATASET = {IMU: "basic_motions", ELECTRICITY: "electricity_hourly", BEIJING: "beijing_pm"}
BEIJING_FEATURES = ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir")
STEPS = {ELECTRICITY: 24, BEIJING: 168}  # steps per inference of each LSTM
IMU_CALIB_WINDOWS = 64
_CAPABILITY = {"int16": "quant_s16", "qmn": "quant_q15"}  # int8 and k-means variants run the s8 kernels


def capability(model: str, variant: str) -> str:
    """The HELLO capability a (model, variant) needs."""
    if variant == "float32":
        return "mlp_f32" if model == IMU else "lstm_f32"
    return _CAPABILITY.get(variant, "quant_s8")


@dataclass(frozen=True, eq=False)
class QuantCase:
    """One model in one variant: what goes to the device and how its answers are checked."""

    model: str
    variant: str
    float_model: MlpModel | LstmModel
    qmodel: quant.QModel | None  # None for float32
    blob: bytes
    float_blob_bytes: int

    @property
    def name(self) -> str:
        return f"{self.model}:{self.variant}"

    @property
    def task(self) -> Literal["classify", "forecast"]:
        return "classify" if self.model == IMU else "forecast"

    @property
    def capability(self) -> str:
        return capability(self.model, self.variant)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference: sum of in*out over the dense layers; for the LSTM 4H(I+H) per layer and
        step plus the head once (many-to-one)."""
        m = self.float_model
        if isinstance(m, MlpModel):
            return sum(layer.in_size * layer.out_size for layer in m.layers)
        total, width = 0, m.layers[0].input_size
        for layer in m.layers:
            total += 4 * layer.hidden_size * (width + layer.hidden_size)
            width = layer.hidden_size
        return total * STEPS[self.model] + width * m.output_size

    def encode(self, x: np.ndarray) -> np.ndarray:
        """What crosses the wire for float inputs x: float32, or the integers the host quantized them to."""
        if self.qmodel is None:
            return np.asarray(x, dtype=np.float32)
        return quant.quantize_input(self.qmodel, x)

    def reference(self, xw: np.ndarray) -> np.ndarray:
        """The device's expected answer for wire inputs xw [N, ...]: the integer reference's exact outputs, or the
        float32 reference model's."""
        if self.qmodel is None:
            if isinstance(self.float_model, MlpModel):
                return dense.forward(self.float_model, xw, dtype=np.float32)
            return lstm.forward(self.float_model, xw, dtype=np.float32)
        if isinstance(self.qmodel, quant.QMlp | quant.Q15Mlp):
            return quant.mlp_forward(self.qmodel, xw)
        return quant.lstm_forward(self.qmodel, xw)

    def decode(self, y: np.ndarray) -> np.ndarray:
        """Device outputs as real numbers (float64)."""
        if self.qmodel is None:
            return np.asarray(y, dtype=np.float64)
        return quant.dequantize_output(self.qmodel, y)


WINDOW_STEPS = STEPS[ELECTRICITY]  # the electricity task's window (its manifest), the LSTM's steps per inference


@dataclass(frozen=True, eq=False)
class EvalSet:
    """Held-out windows: inputs X, ground truth y (class labels or next-hour targets), the float model's outputs."""

    model: str
    X: np.ndarray
    y: np.ndarray
    float_out: np.ndarray  # float64 outputs of the float model: logits or forecasts


def _beijing_windows(split: Literal["train", "test"], limit: int | None) -> datasets.ForecastWindows:
    task = datasets.ForecastTask(datasets.load("beijing_pm"), BEIJING_FEATURES, "TEMP", STEPS[BEIJING], 1)
    return task.windows(split, limit=limit, spacing="even")


def _imu_calib() -> np.ndarray:
    x = studies.imu_classifier().data.x_train
    return x[:: max(1, len(x) // IMU_CALIB_WINDOWS)][:IMU_CALIB_WINDOWS]


@functools.cache
def cases(model: str) -> tuple[QuantCase, ...]:
    """Every variant of `model`, float32 first; quantized once per process."""
    if model == IMU:
        float_model: MlpModel | LstmModel = studies.imu_classifier().model
        f32_blob = dense.to_blob(float_model)
        calib = _imu_calib()
    elif model == ELECTRICITY:
        el = studies.electricity_lstm()
        float_model = el.model
        f32_blob = lstm.to_blob(float_model)
        calib = el.x_train
    elif model == BEIJING:
        float_model = LstmModel.random(len(BEIJING_FEATURES), [128], 1, seed=128)
        f32_blob = lstm.to_blob(float_model)
        calib = _beijing_windows("train", 32).X
    else:
        raise ValueError(f"no quantized suite model {model!r}; the models are {', '.join(BENCH_MODELS)}")
    out = []
    for variant in BEIJING_VARIANTS if model == BEIJING else VARIANTS:
        if variant == "float32":
            out.append(QuantCase(model, variant, float_model, None, f32_blob, len(f32_blob)))
            continue
        args = _variant_args(variant)
        if isinstance(float_model, MlpModel):
            qm: quant.QModel = quant.quantize_mlp(float_model, calib, **args)
        else:
            qm = quant.quantize_lstm(float_model, calib, **args)
        out.append(QuantCase(model, variant, float_model, qm, quant.to_blob(qm), len(f32_blob)))
    return tuple(out)


def case(model: str, variant: str) -> QuantCase:
    for c in cases(model):
        if c.variant == variant:
            return c
    raise ValueError(f"no variant {variant!r} of {model}; the variants are {', '.join(VARIANTS)}")


@functools.cache
def eval_set(model: str, limit: int | None = None) -> EvalSet:
    """The held-out windows of `model`: all of them (limit None) or `limit` spread evenly over the split (for the
    IMU test cases, which are in class order, that keeps the classes balanced)."""
    if model == IMU:
        imu = studies.imu_classifier()
        X, y = imu.data.x_val, imu.data.y_val
        if limit is not None and limit < len(X):
            pick = np.unique(np.linspace(0, len(X) - 1, limit).round().astype(np.int64))
            X, y = X[pick], y[pick]
        return EvalSet(model, X, y, dense.forward(imu.model, X, dtype=np.float64))
    if model == ELECTRICITY:
        task = datasets.ForecastTask.from_manifest(datasets.load("electricity_hourly"))
        w = task.windows("test", limit=limit, spacing="even")
        if w.X.shape[1] != STEPS[ELECTRICITY]:
            raise ValueError(f"electricity windows have {w.X.shape[1]} steps; the suite's LSTM runs {STEPS[model]}")
        return EvalSet(model, w.X, w.y, lstm.forward(studies.electricity_lstm().model, w.X, dtype=np.float64))
    if model == BEIJING:
        w = _beijing_windows("test", limit or 8)
        return EvalSet(model, w.X, w.y, lstm.forward(case(BEIJING, "float32").float_model, w.X, dtype=np.float64))
    raise ValueError(f"no quantized suite model {model!r}; the models are {', '.join(BENCH_MODELS)}")


def scores(model: str, ev: EvalSet, outputs: np.ndarray) -> dict[str, tuple[float, str]]:
    """Quality of real-valued outputs [N, O] against ground truth and against the float model: metric -> (value,
    unit). Classification: accuracy and agreement of the predicted class with the float model's. Forecast: MAE and
    RMSE (scaled units) against the targets and against the float model's forecasts."""
    out = np.asarray(outputs, dtype=np.float64)
    if model == IMU:
        pred = np.argmax(out, axis=1)
        return {
            "accuracy": (metrics.accuracy(pred, ev.y), "1"),
            "agreement_with_float32": (float(np.mean(pred == np.argmax(ev.float_out, axis=1))), "1"),
        }
    return {
        "mae": (metrics.mae(out, ev.y), "scaled"),
        "rmse": (metrics.rmse(out, ev.y), "scaled"),
        "mae_vs_float32": (metrics.mae(out, ev.float_out), "scaled"),
        "rmse_vs_float32": (metrics.rmse(out, ev.float_out), "scaled"),
    }


# ---------------------------------------------------------------------------------------------------- on a board


@dataclass(frozen=True, eq=False)
class CaseRun:
    """One case run on a board over an EvalSet, from a fresh boot."""

    case: QuantCase
    board: str
    info: ModelInfo
    outputs: np.ndarray  # device answers [N, O] in the wire's element type
    expected: np.ndarray  # the reference's answers for the same wire inputs
    timed: list[float]  # counter units per inference of the windows run one at a time
    unit: str  # "instructions" (QEMU), "ns" (host), "cycles"
    stats: Stats  # STATS after the run: arena and stack high-water marks of this case alone

    @property
    def exact(self) -> bool:
        return self.case.qmodel is not None

    @property
    def mismatched_windows(self) -> np.ndarray:
        """Indices of windows whose integer answer differs from the reference in any bit."""
        return np.flatnonzero(np.any(self.outputs.astype(np.int64) != self.expected.astype(np.int64), axis=1))

    @property
    def max_abs_err(self) -> float:
        return float(np.max(np.abs(self.outputs.astype(np.float64) - self.expected.astype(np.float64))))

    @property
    def per_inference(self) -> float:
        return float(np.median(self.timed))


def run_case(session: BoardSession, case: QuantCase, ev: EvalSet, *, timed: int = 4, in_flight: int = 4) -> CaseRun:
    """Reboot the board (so STATS' high-water marks are this case's alone), stream the blob into the arena, run every
    window of `ev`: the first `timed` one at a time for the counter (a request arriving mid-inference would add its
    receive interrupts to the count), the rest with `in_flight` requests on the link (a lone request leaves the link
    idle while the device computes)."""
    client = session.open(session.image)
    client.reset(reboot=True)
    client.hello()  # retried until the rebooted firmware answers; the high-water marks restart with it
    # a blob larger than the arena (the float32 and Q m.n LSTM(128)) is compiled into flash; the rest are streamed
    dep = session.deploy_blob(case.blob, where="auto")
    hello = session.hello
    assert hello is not None
    xw = case.encode(ev.X)
    first = [dep.client.infer(x) for x in xw[:timed]]
    rest = xw[timed:]
    if len(rest) and rest[0].nbytes + INFER_REQUEST.struct.size > dep.client.max_payload:  # staged one at a time
        rest = [dep.client.infer(x) for x in rest]
    elif len(rest):
        rest = dep.client.infer_many(rest, in_flight=in_flight)
    outputs = np.stack([r.outputs for r in [*first, *rest]])
    return CaseRun(
        case=case,
        board=session.board.name,
        info=dep.info,
        outputs=outputs,
        expected=case.reference(xw),
        timed=[hello.ticks_to_counter_unit(r.ticks) for r in first],
        unit=hello.counter_unit,
        stats=dep.client.stats(),
    )


# ------------------------------------------------------------------------- host-side accuracy and size table


@dataclass(frozen=True)
class ReportRow:
    model: str
    variant: str
    metric: str
    value: float
    param_bytes: int  # the whole blob the device stores: header, weights, biases, requantization parameters
    vs_float32: float  # param_bytes / float32 blob bytes


def _variant_args(variant: str) -> dict:
    if variant.startswith("kmeans-f"):
        return {"kind": "s8", "index_bits": quant.TARGET_FACTORS[int(variant.removeprefix("kmeans-f"))]}
    return {"kind": {"int16": "s16", "int8": "s8", "qmn": "q15"}[variant]}


def quant_report(*, calib_windows: int = 64) -> list[ReportRow]:
    """Accuracy and parameter bytes of every variant, evaluated with the numpy references (host side).

    IMU classifier: accuracy on the 320 BasicMotions test windows, calibrated on ``calib_windows`` training windows
    spread evenly over the training set. Electricity LSTM: RMSE (scaled units) on 1000 validation windows spread over
    the validation split, calibrated on 256 training windows. k-means variants are int8 activations with clustered
    int8 codebooks (factor 4/8/16 -> 8/4/2-bit indices), post-training, no fine-tuning of the centroids.
    """
    rows = []
    imu = studies.imu_classifier()
    step = max(1, len(imu.data.x_train) // calib_windows)
    calib = imu.data.x_train[::step][:calib_windows]
    f32_bytes = len(dense.to_blob(imu.model))
    for variant in VARIANTS:
        if variant == "float32":
            acc, size = imu.val_accuracy, f32_bytes
        else:
            qm = quant.quantize_mlp(imu.model, calib, **_variant_args(variant))
            logits = quant.predict(qm, imu.data.x_val)
            acc, size = float(np.mean(np.argmax(logits, axis=1) == imu.data.y_val)), len(quant.to_blob(qm))
        rows.append(ReportRow("imu_mlp_180-50-15-4", variant, "accuracy", acc, size, size / f32_bytes))
    el = studies.electricity_lstm()
    f32_bytes = len(lstm.to_blob(el.model))
    for variant in VARIANTS:
        if variant == "float32":
            rmse, size = el.val_rmse, f32_bytes
        else:
            qm = quant.quantize_lstm(el.model, el.x_train, **_variant_args(variant))
            pred = quant.predict(qm, el.x_val)
            rmse, size = float(np.sqrt(np.mean((pred - el.y_val) ** 2))), len(quant.to_blob(qm))
        rows.append(ReportRow("electricity_lstm32x24", variant, "rmse", rmse, size, size / f32_bytes))
    return rows


def format_report(rows: Sequence[ReportRow]) -> str:
    lines = [f"{'model':<24}{'variant':<12}{'metric':<10}{'value':>9}{'bytes':>9}{'vs f32':>8}"]
    for r in rows:
        lines.append(
            f"{r.model:<24}{r.variant:<12}{r.metric:<10}{r.value:>9.4f}{r.param_bytes:>9d}{r.vs_float32:>8.3f}"
        )
    return "\n".join(lines)
