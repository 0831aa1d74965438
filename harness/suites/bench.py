"""Benchmarks that print figures: instruction counts on QEMU (exact under -icount shift=0), wall time on the host.

Nothing here judges; the HIL suite's budgets do that. Each benchmark runs the same models the HIL suite runs.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness import datasets
from harness.boards import BoardOptions, get_board
from harness.cycles import Estimate, estimate_trace
from harness.models.lstm import LstmModel
from harness.session import BoardSession, session_for

if TYPE_CHECKING:
    from harness.suites.quant import EvalSet, QuantCase

FEATURES = ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir")


@dataclass(frozen=True)
class LstmShape:
    name: str
    hidden: tuple[int, ...]
    steps: int
    seed: int

    def model(self, input_size: int) -> LstmModel:
        return LstmModel.random(input_size, list(self.hidden), 1, seed=self.seed)

    def macs_per_sequence(self, input_size: int) -> int:
        """MACs of the recurrent layers: 4·H·(I+H) per layer per step (the dense head is left out)."""
        total, width = 0, input_size
        for h in self.hidden:
            total += 4 * h * (width + h)
            width = h
        return total * self.steps


LSTM_SHAPES = (LstmShape("lstm32x24", (32,), 24, 32), LstmShape("lstm128x168", (128,), 168, 128))


@dataclass(frozen=True)
class LstmFigure:
    board: str
    shape: LstmShape
    where: str
    unit: str
    per_sequence: list[float]
    host_round_trip_s: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_sequence)


def bench_lstm_on(session: BoardSession, shape: LstmShape, repeats: int) -> LstmFigure:
    ds = datasets.load("beijing_pm")
    windows = datasets.forecast_windows(ds, FEATURES, "TEMP", window=shape.steps, split="test", limit=repeats,
                                        spacing="even").X  # fmt: skip
    dep = session.deploy_lstm(shape.model(len(FEATURES)))
    hello = session.hello
    assert hello is not None
    figures, trips = [], []
    for x in windows:
        t0 = time.perf_counter()
        result = dep.client.infer(np.asarray(x))
        trips.append(time.perf_counter() - t0)
        figures.append(hello.ticks_to_counter_unit(result.ticks))
    return LstmFigure(session.board.name, shape, dep.where, hello.counter_unit, figures, trips)


def bench_lstm(boards: list[str], repeats: int = 5) -> list[LstmFigure]:
    out: list[LstmFigure] = []
    for name in boards:
        session = session_for(get_board(name))
        try:
            for shape in LSTM_SHAPES:
                out.append(bench_lstm_on(session, shape, repeats))
        finally:
            session.close()
    return out


def _table(rows: list[tuple[str, ...]]) -> str:
    """Rows of text cells as left-aligned columns, two spaces apart; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


# Instructions per MAC of CMSIS-NN's float32 LSTM for the same shapes (input 7), measured on the same emulated
# Cortex-M4F with the same compiler at -O3.
LSTM_ANCHORS = {"lstm128x168": 5.68, "lstm32x24": 7.28}


def format_lstm(figures: list[LstmFigure]) -> str:
    rows = [("board", "model", "weights", "MACs/seq", "per sequence", "min..max", "per MAC", "anchor", "round trip")]
    for f in figures:
        macs = f.shape.macs_per_sequence(len(FEATURES))
        unit = {"instructions": "instr", "ns": "ns"}.get(f.unit, f.unit)
        lo, hi = min(f.per_sequence), max(f.per_sequence)
        per_seq = f"{f.median / 1e6:.3f} ms" if f.unit == "ns" else f"{f.median:,.0f} {unit}"
        spread = f"{lo / 1e6:.3f}..{hi / 1e6:.3f} ms" if f.unit == "ns" else f"{lo:,.0f}..{hi:,.0f}"
        anchor = LSTM_ANCHORS.get(f.shape.name) if f.board in ANCHOR_BOARDS else None
        rows.append((f.board, f.shape.name, f.where, f"{macs:,}", per_seq, spread, f"{f.median / macs:.2f} {unit}",
                     "-" if anchor is None else f"{anchor:.2f}",
                     f"{statistics.median(f.host_round_trip_s) * 1e3:.1f} ms"))  # fmt: skip
    return _table(rows)


# ---- training -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainShape:
    name: str
    dataset: str
    features: tuple[str, ...]
    target: str
    hidden: tuple[int, ...]
    steps: int
    seed: int


TRAIN_SHAPES = (
    TrainShape("lstm32x24", "electricity_hourly", ("y",), "y", (32,), 24, 7),
    TrainShape("lstm128x168", "beijing_pm", FEATURES, "TEMP", (128,), 168, 128),
)


@dataclass(frozen=True)
class TrainFigure:
    board: str
    shape: TrainShape
    unit: str
    forward: float | None  # median counter units per INFER of one sequence
    step: float | None  # median counter units per TRAIN_STEP of one sequence (Adam)
    needed_bytes: int  # model blob + training state + scratch
    arena_bytes: int
    note: str = ""


def bench_train_on(session: BoardSession, shape: TrainShape, repeats: int) -> TrainFigure:
    from harness.models.lstm import to_blob
    from harness.proto.client import DeviceError, TrainConfig

    ds = datasets.load(shape.dataset)
    w = datasets.forecast_windows(ds, shape.features, shape.target, window=shape.steps, split="train",
                                  limit=repeats, spacing="even")  # fmt: skip
    model = LstmModel.random(len(shape.features), list(shape.hidden), 1, seed=shape.seed)
    client = session.open(session.image)
    hello = session.hello
    assert hello is not None
    blob = len(to_blob(model))
    try:
        dep = session.deploy_lstm(model, where="arena")
    except DeviceError as exc:
        return TrainFigure(session.board.name, shape, hello.counter_unit, None, None, blob, hello.arena_bytes,
                           f"model does not fit the arena: {exc.reason}")  # fmt: skip
    client = dep.client
    config = TrainConfig("adam", "mse", shape.steps, 1, lr=1e-3)
    info = client.train_config(config, query=True)
    needed = blob + info.needed_bytes
    if not info.fits:
        return TrainFigure(session.board.name, shape, hello.counter_unit, None, None, needed, hello.arena_bytes,
                           f"training does not fit: needs {info.needed_bytes} B above the model, has "
                           f"{info.free_bytes} B")  # fmt: skip
    client.train_config(config)
    forward = [hello.ticks_to_counter_unit(client.infer(x).ticks) for x in w.X]
    steps = [
        hello.ticks_to_counter_unit(client.train_step(x[None], y[None]).ticks) for x, y in zip(w.X, w.y, strict=True)
    ]
    return TrainFigure(session.board.name, shape, hello.counter_unit, statistics.median(forward),
                       statistics.median(steps), needed, hello.arena_bytes)  # fmt: skip


def bench_train(boards: list[str], repeats: int = 3) -> list[TrainFigure]:
    out: list[TrainFigure] = []
    for name in boards:
        session = session_for(get_board(name))
        try:
            for shape in TRAIN_SHAPES:
                out.append(bench_train_on(session, shape, repeats))
        finally:
            session.close()
    return out


def format_train(figures: list[TrainFigure]) -> str:
    def fmt(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        return f"{value / 1e6:.3f} ms" if unit == "ns" else f"{value:,.0f} instr"

    rows = [("board", "model", "forward", "train step", "step/forward", "RAM needed", "arena")]
    notes = []
    for f in figures:
        ratio = f"{f.step / f.forward:.2f}" if f.step and f.forward else "-"
        rows.append((f.board, f.shape.name, fmt(f.forward, f.unit), fmt(f.step, f.unit), ratio,
                     f"{f.needed_bytes:,} B", f"{f.arena_bytes:,} B"))  # fmt: skip
        if f.note:
            notes.append(f"{f.board} {f.shape.name}: {f.note}")
    table = _table(rows)
    return table + ("\n\n" + "\n".join(notes) if notes else "")


# ---- Echo State Network ---------------------------------------------------------------------------------------
ESN_UNITS = (50, 100, 200)


@dataclass(frozen=True)
class EsnFigure:
    """Counter units (instructions on QEMU, ns on the host) per operation of one ESN size; None: did not fit."""

    board: str
    n_reservoir: int
    unit: str
    needed_bytes: int
    arena_bytes: int
    init: float | None = None  # draw W_in, W_res and the power iteration (ESN_CONFIG)
    update: float | None = None  # per state update x(t) = f(x(t-1), u(t))
    accumulate: float | None = None  # per training sample: A += z z^T, B += z y^T (and z)
    fit: float | None = None  # Cholesky solve of (A + ridge I) W_out^T = B
    score: float | None = None  # per scored sample: update + readout + squared error
    samples: int = 0  # training samples fitted


def bench_esn_on(session: BoardSession, n_reservoir: int) -> EsnFigure:
    """The HIL suite's water-flow autoencoder (K = 1, 24-hour windows) at n_reservoir units, one request in flight
    at a time so no receive interrupt lands inside a counted span."""
    from harness.models.esn import EsnConfig

    cfg = EsnConfig.autoencoder(1, n_reservoir, density=0.1, spectral_radius=0.9, leak_rate=0.5, ridge=0.1,
                                washout=12, seed=1)  # fmt: skip
    task = datasets.AnomalyTask.from_manifest(datasets.load("water_flow"))
    train, test = task.streams("train", normal_only=True), task.streams("test")
    client = session.open(session.image)
    hello = session.hello
    assert hello is not None
    need = client.esn_config(cfg, window=task.window, max_windows=64, query=True)
    fig = EsnFigure(session.board.name, n_reservoir, hello.counter_unit, need.needed_bytes, need.free_bytes)
    if not need.fits:
        return fig
    ticks = hello.ticks_to_counter_unit
    info = client.esn_config(cfg, window=task.window, max_windows=64)
    feeds = [client.esn_feed(s.u, in_flight=1) for s in train]
    fitted = feeds[-1].samples_fitted
    update = sum(f.update_ticks for f in feeds)
    samples = sum(len(s.u) for s in train)
    fit = client.esn_fit()
    scores = [client.esn_score(s.u, in_flight=1) for s in test]
    scored = sum(len(s.u) for s in test)
    return EsnFigure(
        fig.board, n_reservoir, fig.unit, fig.needed_bytes, fig.arena_bytes,
        init=ticks(info.ticks),
        update=ticks(update) / samples,
        accumulate=ticks(sum(f.ticks - f.update_ticks for f in feeds)) / fitted,
        fit=ticks(fit.ticks),
        score=ticks(sum(s.ticks for s in scores)) / scored,
        samples=fitted,
    )  # fmt: skip


def bench_esn(boards: list[str], units: tuple[int, ...] = ESN_UNITS) -> list[EsnFigure]:
    out: list[EsnFigure] = []
    for name in boards:
        session = session_for(get_board(name))
        try:
            out += [bench_esn_on(session, n) for n in units]
        finally:
            session.close()
    return out


def format_esn(figures: list[EsnFigure]) -> str:
    def fmt(value: float | None, unit: str) -> str:
        if value is None:
            return "-"
        if unit == "ns":
            return f"{value / 1e3:,.1f} us" if value < 1e6 else f"{value / 1e6:,.2f} ms"
        return f"{value:,.0f}"

    rows = [("board", "N", "init", "update/sample", "accumulate/sample", "fit", "score/sample", "RAM needed")]
    notes = []
    for f in figures:
        rows.append((f.board, str(f.n_reservoir), fmt(f.init, f.unit), fmt(f.update, f.unit),
                     fmt(f.accumulate, f.unit), fmt(f.fit, f.unit), fmt(f.score, f.unit),
                     f"{f.needed_bytes:,} B"))  # fmt: skip
        if f.update is None:
            notes.append(f"{f.board} N={f.n_reservoir}: does not fit: needs {f.needed_bytes:,} B, has "
                         f"{f.arena_bytes:,} B")  # fmt: skip
    table = _table(rows)
    return table + ("\n\n" + "\n".join(notes) if notes else "")


# ---- quantized inference --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantFigure:
    """One model variant on one board (harness.suites.quant): counter units per inference of windows run one at a time,
    bytes, arena/stack from a fresh boot, quality over `windows` held-out windows, exactness against the reference."""

    board: str
    model: str
    variant: str
    kind: str  # the blob kind the device bound: MLP_S8, LSTM_Q15, ...
    unit: str
    per_inference: float
    macs: int
    param_bytes: int
    float_bytes: int
    arena_bytes: int
    stack_bytes: int
    quality: dict[
        str, float
    ]  # accuracy/agreement_with_float32 or rmse/rmse_vs_float32 ... (harness.suites.quant.scores)
    windows: int
    exact: bool | None  # integer variants: every window bit-equal to the reference; None for float32
    max_abs_err: float  # float32 only


def bench_quant_on(session: BoardSession, windows: dict[str, int | None], timed: int = 4,
                   on_figure: Callable[[QuantFigure], None] | None = None) -> list[QuantFigure]:  # fmt: skip
    from harness.proto import wire
    from harness.suites import quant as qs

    out = []
    for model in qs.BENCH_MODELS:
        ev = qs.eval_set(model, windows.get(model))
        for case in qs.cases(model):
            run = qs.run_case(session, case, ev, timed=timed)
            quality = {k: v for k, (v, _unit) in qs.scores(model, ev, case.decode(run.outputs)).items()}
            out.append(QuantFigure(
                session.board.name, model, case.variant, wire.MODEL_KINDS[run.info.kind].name, run.unit,
                run.per_inference, case.macs, len(case.blob), case.float_blob_bytes, run.stats.arena_high_water,
                run.stats.stack_high_water, quality, len(ev.X),
                len(run.mismatched_windows) == 0 if run.exact else None,
                0.0 if run.exact else run.max_abs_err,
            ))  # fmt: skip
            if on_figure is not None:
                on_figure(out[-1])
    return out


def bench_quant(boards: list[str], windows: dict[str, int | None], timed: int = 4,
                on_figure: Callable[[QuantFigure], None] | None = None) -> list[QuantFigure]:  # fmt: skip
    """Every variant on every board; ``on_figure`` sees each figure as it is measured (progress on a long bench)."""
    out: list[QuantFigure] = []
    for name in boards:
        session = session_for(get_board(name))
        try:
            out += bench_quant_on(session, windows, timed, on_figure)
        finally:
            session.close()
    return out


# Instructions per MAC of the best public kernels (CMSIS-NN, DSP-extension path) for the same shape, measured on the
# same emulated Cortex-M4F with the same compiler at -O3: the figures the integer kernels are held against.
QUANT_ANCHORS = {("beijing_lstm128x168", "int8"): 2.95, ("beijing_lstm128x168", "int16"): 3.59,
                 ("beijing_lstm128x168", "float32"): 5.68}  # fmt: skip
ANCHOR_BOARDS = ("qemu-stm32f4",)


def format_quant(figures: list[QuantFigure]) -> str:
    def anchor(f: QuantFigure) -> str:
        value = QUANT_ANCHORS.get((f.model, f.variant)) if f.board in ANCHOR_BOARDS else None
        return f"{value:.2f}" if value is not None else "-"

    def per(f: QuantFigure) -> str:
        return f"{f.per_inference / 1e3:,.1f} us" if f.unit == "ns" else f"{f.per_inference:,.0f}"

    rows = [("board", "model", "variant", "kind", "weights", "vs f32", "arena", "stack", "per inference",
             "per MAC", "anchor", "f32/this", "quality", "vs float32", "device = ref")]  # fmt: skip
    float_of = {(f.board, f.model): f for f in figures if f.variant == "float32"}
    for f in figures:
        ref = float_of.get((f.board, f.model))
        speed = f"{ref.per_inference / f.per_inference:.2f}x" if ref and f.per_inference else "-"
        if "accuracy" in f.quality:
            quality = f"acc {f.quality['accuracy']:.4f}"
            versus = f"agree {f.quality['agreement_with_float32']:.4f}"
        else:
            quality = f"RMSE {f.quality['rmse']:.4f} MAE {f.quality['mae']:.4f}"
            versus = f"RMSE {f.quality['rmse_vs_float32']:.4f}"
        exact = f"|d| {f.max_abs_err:.1e}" if f.exact is None else ("bit-exact" if f.exact else "MISMATCH")
        size = f"{f.param_bytes / f.float_bytes:.3f}"
        rows.append((f.board, f.model, f.variant, f.kind, f"{f.param_bytes:,} B", size, f"{f.arena_bytes:,} B",
                     f"{f.stack_bytes:,} B", per(f), f"{f.per_inference / f.macs:.2f}", anchor(f), speed, quality,
                     versus, exact))  # fmt: skip
    table = _table(rows)
    macs = {f.model: f.macs for f in figures}
    counts = {f.model: f.windows for f in figures}
    notes = [f"{m}: {macs[m]:,} MACs per inference, quality over {counts[m]} held-out windows" for m in macs]
    notes.append("anchor: instructions per MAC of CMSIS-NN's kernels (DSP path) for the same shape on the same "
                 "emulated Cortex-M4F and compiler (-O3)")  # fmt: skip
    return table + "\n\n" + "\n".join(notes)


# ------------------------------------------------------------------------------ Cortex-M4 cycles, from QEMU's trace


CYCLE_VARIANTS = ("float32", "int16", "int8")


@dataclass(frozen=True)
class CycleFigure:
    """One inference of one model variant on a Cortex-M4F board under QEMU: the instructions the device counted, the
    instructions of the traced call, and the cycles a Cortex-M4 would take for them (harness.cycles)."""

    board: str
    model: str
    variant: str
    entry: str  # the forward kernel whose call was priced
    counted: float  # the device's counter (instructions under -icount shift=0)
    estimate: Estimate  # of the call
    macs: int


def _forward_symbol(kind_name: str) -> str:
    """LSTM_S8 -> hil_lstm_forward_s8: the kernel a bound model's INFER runs."""
    family, _, dtype = kind_name.lower().partition("_")
    return f"hil_{family}_forward_{dtype}"


def cycle_figure(board_name: str, case: QuantCase, ev: EvalSet, workdir: Path) -> CycleFigure:
    """One window of `case` on a fresh board whose QEMU writes its execution trace, then the forward kernel's call in
    that trace priced in Cortex-M4 cycles. The trace (about 7 MB per million instructions) is deleted once priced."""
    from harness.proto import wire
    from harness.suites import quant as qs

    trace = workdir / f"{case.model}-{case.variant}.trace"
    session = session_for(get_board(board_name, BoardOptions(extra={"exec_trace": str(trace)})))
    try:
        run = qs.run_case(session, case, ev, timed=1)
        assert session.image is not None
        elf = session.image.path
    finally:
        session.close()
    entry = _forward_symbol(wire.MODEL_KINDS[run.info.kind].name)
    calls = estimate_trace(trace, elf, entry)
    trace.unlink()
    if len(calls) != 1:
        raise RuntimeError(f"{case.name}: {len(calls)} calls of {entry} in QEMU's trace of one inference")
    return CycleFigure(board_name, case.model, case.variant, entry, run.per_inference, calls[0], case.macs)


def bench_cycles(board_name: str, workdir: Path, variants: tuple[str, ...] = CYCLE_VARIANTS,
                 on_figure: Callable[[CycleFigure], None] | None = None) -> list[CycleFigure]:  # fmt: skip
    """Each model of the quant study in each variant (cycle_figure)."""
    from harness.suites import quant as qs

    out = []
    for model in qs.BENCH_MODELS:
        ev = qs.eval_set(model, 1)
        for case in qs.cases(model):
            if case.variant in variants:
                out.append(cycle_figure(board_name, case, ev, workdir))
                if on_figure is not None:
                    on_figure(out[-1])
    return out


def format_cycles(figures: list[CycleFigure]) -> str:
    rows = [("board", "model", "variant", "counted instr", "traced instr", "est. M4 cycles", "cycles/instr",
             "instr/MAC", "cycles/MAC", "f32/this instr", "f32/this cycles", "same, f32 MAC at 1")]  # fmt: skip
    float_of = {(f.board, f.model): f for f in figures if f.variant == "float32"}
    for f in figures:
        e = f.estimate
        ref = float_of.get((f.board, f.model))
        rows.append((f.board, f.model, f.variant, f"{f.counted:,.0f}", f"{e.instructions:,}", f"{e.cycles:,}",
                     f"{e.cycles_per_instruction:.2f}", f"{e.instructions / f.macs:.2f}", f"{e.cycles / f.macs:.2f}",
                     f"{ref.estimate.instructions / e.instructions:.2f}x" if ref else "-",
                     f"{ref.estimate.cycles / e.cycles:.2f}x" if ref else "-",
                     f"{ref.estimate.cycles_with_float_macs_at(1) / e.cycles_with_float_macs_at(1):.2f}x"
                     if ref else "-"))  # fmt: skip
    unpriced = sum((f.estimate.unpriced for f in figures), start=Counter())
    notes = ["counted: the device's counter around the kernel call; traced: the instructions QEMU executed from the "
             "kernel's entry until back in its caller (the two differ by the call and the counter reads).",
             "cycles: those instructions priced with the Cortex-M4's timings, zero wait states, a taken branch +2 "
             "(harness/cycles.py; docs/performance.md).",
             "same, f32 MAC at 1: the float/this cycle ratio if every VFMA (VMLA...) took one cycle instead of "
             "the manual's three, its most doubted timing: a floor for the ratio, not an estimate."]  # fmt: skip
    if unpriced:
        notes.append("priced at 1 cycle for want of an entry: " + ", ".join(f"{m} x{n}" for m, n in unpriced.items()))
    return _table(rows) + "\n\n" + "\n".join(notes)
