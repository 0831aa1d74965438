"""Benchmarks that print figures: instruction counts on QEMU (exact under -icount shift=0), wall time on the host.

Nothing here judges; the HIL suite's budgets do that. Each benchmark runs the same models the HIL suite runs.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from harness import datasets
from harness.boards import get_board
from harness.models.lstm import LstmModel
from harness.session import BoardSession, session_for

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


def format_lstm(figures: list[LstmFigure]) -> str:
    rows = [("board", "model", "weights", "MACs/seq", "per sequence", "min..max", "per MAC", "round trip")]
    for f in figures:
        macs = f.shape.macs_per_sequence(len(FEATURES))
        unit = {"instructions": "instr", "ns": "ns"}.get(f.unit, f.unit)
        lo, hi = min(f.per_sequence), max(f.per_sequence)
        per_seq = f"{f.median / 1e6:.3f} ms" if f.unit == "ns" else f"{f.median:,.0f} {unit}"
        spread = f"{lo / 1e6:.3f}..{hi / 1e6:.3f} ms" if f.unit == "ns" else f"{lo:,.0f}..{hi:,.0f}"
        rows.append((f.board, f.shape.name, f.where, f"{macs:,}", per_seq, spread, f"{f.median / macs:.2f} {unit}",
                     f"{statistics.median(f.host_round_trip_s) * 1e3:.1f} ms"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


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
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
    return table + ("\n\n" + "\n".join(notes) if notes else "")
