"""Bulk inference over a link paced at a real UART's rate: how close pipelined requests come to the link's limit.

Stop-and-wait leaves the line idle while the device computes and while the answer comes back. With several INFER
requests in flight the device computes window k while k+1 is on the wire, so a window should cost the larger of its
wire time and its compute time, not their sum. ``measure`` runs the same windows on one board:

- unpaced, pipelined: the board's own time per window on this bench. QEMU runs at its own speed, not the target's,
  and its UART model takes a byte per main-loop turn (about 15-25 KB/s here), so on QEMU this is mostly receiving;
  the target's compute time, from the device's counter at the chip's clock, is given beside it;
- paced at ``baud`` (harness.link_pacing) with 1, 2 and 4 requests in flight: time per window, its ratio to
  max(wire, the board's own time), and how busy the line to the device was from the first request until the last
  one was through (stop-and-wait leaves it idle for every answer and every computation);
- payload over wire bytes, both directions counted: for whole windows, and for the same hours streamed as one
  stateful sequence in frames of as many samples as fit (batching: INFER with CONTINUE, every step's output back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from harness.models.lstm import LstmModel
from harness.proto import messages, wire
from harness.proto.client import Client
from harness.session import BoardSession
from harness.suites.replay import CORE_HZ, UART_BITS_PER_BYTE

IN_FLIGHT = (1, 2, 4)


@dataclass(frozen=True)
class PacedFigure:
    in_flight: int
    seconds_per_window: float
    line_busy: float  # share of the time from the first request to the last request's last byte the line was sending

    def ratio(self, limit_s: float) -> float:
        return self.seconds_per_window / limit_s


@dataclass(frozen=True)
class PipelineFigures:
    board: str
    baud: int
    windows: int
    steps: int  # samples per window
    wire_s: float  # per window, the busier direction (a UART carries both at once)
    board_s: float  # per window on this bench, unpaced and pipelined: receiving and computing
    target_compute_s: float | None  # per window at the target's core clock (None: no clock known)
    paced: tuple[PacedFigure, ...]
    window_payload_ratio: float
    stream_payload_ratio: float
    stream_samples_per_frame: int

    @property
    def limit_s(self) -> float:
        return max(self.wire_s, self.board_s)

    def best(self) -> PacedFigure:
        return min(self.paced, key=lambda f: f.seconds_per_window)


class _Bytes:
    """What a client carried between two points, payload apart from framing."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.sent, self.received = client.counters.bytes_sent, client.counters.bytes_received

    def wire(self) -> int:
        c = self.client.counters
        return (c.bytes_sent - self.sent) + (c.bytes_received - self.received)


def _frame_bytes(payload: int) -> int:
    return len(wire.encode_frame(wire.HIL_OP_INFER, 0, bytes(payload)))


def _timed(client: Client, xs: np.ndarray, in_flight: int) -> tuple[float, list[np.ndarray]]:
    t0 = time.monotonic()
    results = client.infer_many(list(xs), in_flight=in_flight)
    return (time.monotonic() - t0) / len(xs), [r.outputs for r in results]


def measure(
    session: BoardSession,
    model: LstmModel,
    xs: np.ndarray,
    *,
    baud: int = 115200,
    in_flight: tuple[int, ...] = IN_FLIGHT,
) -> PipelineFigures:
    """The figures above for ``model`` over the windows ``xs`` [N, steps, inputs] (float32) on ``session``'s board.
    A link without a real line is paced at ``baud`` for the paced part and left as it was found; a board's real line
    is the wire itself (its own rate; ``line_busy`` is then not known: NaN)."""
    n, steps, inputs = xs.shape
    baud = session.board.line_baud or baud
    before = session.baud
    client = session.deploy(model, where="arena").client
    reference = [r.outputs for r in client.infer_many(list(xs[:4]), in_flight=1)]
    ticks = [client.infer(xs[k]).ticks for k in range(2)]
    hello = session.hello
    assert hello is not None
    clock = CORE_HZ.get(session.board.budgets_name)
    target = None
    if hello.counter_unit == "ns":
        target = hello.ticks_to_counter_unit(ticks[-1]) / 1e9
    elif clock:
        target = hello.ticks_to_counter_unit(ticks[-1]) / clock
    board_s, _ = _timed(client, xs, max(in_flight))

    request = _frame_bytes(messages.INFER_REQUEST.struct.size + steps * inputs * 4)
    answer = _frame_bytes(messages.INFER_ANSWER.struct.size + model.output_size * 4)
    wire_s = max(request, answer) * UART_BITS_PER_BYTE / baud
    paced: list[PacedFigure] = []
    session.close_link()
    session.baud = baud
    try:
        client = session.deploy(model, where="arena").client
        line = session.pacer.to_device.load if session.pacer is not None else None
        for flight in in_flight:
            busy0, t0 = line.busy_s if line else 0.0, time.monotonic()
            took, outs = _timed(client, xs, flight)
            # until the last request is through: after it, the line can only wait for the last answer
            busy = (line.busy_s - busy0) / (line.last_end - t0) if line else float("nan")
            for got, want in zip(outs[:4], reference, strict=True):
                np.testing.assert_array_equal(got, want)  # in flight or not, the same kernel gives the same bits
            paced.append(PacedFigure(flight, took, busy))
        counted = _Bytes(client)
        client.infer_many(list(xs), in_flight=max(in_flight))
        window_ratio = n * (steps * inputs * 4 + model.output_size * 4) / counted.wire()
        per_frame = (client.max_payload - messages.INFER_REQUEST.struct.size) // (inputs * 4)
        hours = np.ascontiguousarray(xs.reshape(-1, inputs)[: n * steps])
        counted = _Bytes(client)
        for k in range(0, len(hours), per_frame):
            client.infer(hours[k : k + per_frame], all_steps=True, continue_state=k > 0)
        stream_ratio = len(hours) * (inputs + model.output_size) * 4 / counted.wire()
    finally:
        session.close_link()
        session.baud = before
    return PipelineFigures(session.board.name, baud, n, steps, wire_s, board_s, target, tuple(paced), window_ratio,
                           stream_ratio, per_frame)  # fmt: skip


def format_figures(figures: list[PipelineFigures]) -> str:
    lines = []
    for f in figures:
        target = f" (compute at the target's clock {f.target_compute_s * 1e3:.3g} ms)" if f.target_compute_s else ""
        lines.append(f"{f.board}: {f.windows} windows of {f.steps} samples at {f.baud} baud, 8N1")
        wire_ms, board_ms, limit_ms = f.wire_s * 1e3, f.board_s * 1e3, f.limit_s * 1e3
        lines.append(f"  per window: wire (busier direction) {wire_ms:.3g} ms; the board unpaced on this bench "
                     f"{board_ms:.3g} ms{target}; limit max(wire, board) {limit_ms:.3g} ms")  # fmt: skip
        lines.append(f"  {'in flight':>10} {'ms/window':>10} {'/ limit':>8} {'line busy':>10}")
        for p in f.paced:
            lines.append(f"  {p.in_flight:>10} {p.seconds_per_window * 1e3:>10.3g} {p.ratio(f.limit_s):>8.3f} "
                         f"{p.line_busy:>10.1%}")  # fmt: skip
        per_frame, windows, stream = f.stream_samples_per_frame, f.window_payload_ratio, f.stream_payload_ratio
        lines.append(f"  payload / wire bytes, both directions: whole windows {windows:.3f}; the same hours streamed "
                     f"{per_frame} samples a frame {stream:.3f}")  # fmt: skip
    return "\n".join(lines)


def bench_pipeline(boards: list[str], *, windows: int = 40, baud: int = 115200) -> list[PipelineFigures]:
    """measure() for the LSTM(32)x24 of ``python -m harness bench lstm`` on Beijing test windows, on each board."""
    from harness import datasets
    from harness.boards import get_board
    from harness.session import session_for
    from harness.suites.bench import FEATURES, LSTM_SHAPES

    shape = LSTM_SHAPES[0]
    ds = datasets.load("beijing_pm")
    xs = datasets.forecast_windows(ds, FEATURES, "TEMP", window=shape.steps, split="test", limit=windows,
                                   spacing="even").X.astype(np.float32)  # fmt: skip
    out = []
    for name in boards:
        session = session_for(get_board(name))
        try:
            out.append(measure(session, shape.model(len(FEATURES)), xs, baud=baud))
        finally:
            session.close()
    return out
