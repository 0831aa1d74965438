"""An LSTM split by layer over two microcontrollers joined by a UART.

Board A (the lower board) holds the first layers without a head; board B (the upper board) holds the rest and the
head. The harness sends a sequence to A as an INFER with the FORWARD flag: A runs its layers one step at a time and
sends each step's h to B over the board-to-board link as a one-step INFER in the ordinary framing (CONTINUE after
the first, so B keeps its own h and c), B answers each step, and A answers the harness with B's output and the
figures of both boards (firmware/src/runtime/hil_forward.c). Up to HIL_PEER_WINDOW steps are in flight, so both
boards compute at once.

On QEMU both boards are qemu-stm32f4 images built with HIL_PEER_LINK (USART2 as the peer link, its ring and frame
buffers taken from the arena); QEMU joins the two USART2s over a local TCP socket (harness/boards/qemu.py, the
"peer" board option).

What splitting buys is RAM: weights streamed into the arena (the only place they can be updated or trained) must
fit one board's arena; split, each board holds its own layers. ``measure`` records, per sequence: outputs against
the unsplit numpy reference (and, when the model fits one board, against that board's own answer), instructions per
step on each board, bytes per step on the link each way, and the end-to-end latency.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.boards import BoardOptions, get_board
from harness.boards.base import BoardError
from harness.link import free_local_port
from harness.models.lstm import LstmModel, forward, layers_to_blob, to_blob
from harness.proto import wire
from harness.proto.client import Client, DeviceError
from harness.session import BoardSession, session_for
from harness.suites.replay import CORE_HZ, UART_BITS_PER_BYTE

PEER_DEFINES = {"HIL_PEER_LINK": "1"}
# The shipped splits (bench split, tests/hil/test_distributed.py): 53,916 B of weights fit one board; 123,548 B are
# more than one 96 KB board's arena and fit two (75 KB and 51 KB)
FITS_ONE = LstmModel.random(7, [32, 32], 1, seed=11)
FITS_ONLY_SPLIT = LstmModel.random(7, [64, 32], 1, seed=12)
PEER_BOARDS = ("qemu-stm32f4",)  # boards whose port has a peer link (firmware/boards/<b>/hil_port.c)


class SplitError(BoardError):
    """The split cannot be set up as asked (a board without a peer link, a split point outside the model)."""


@dataclass
class BoardPair:
    lower: BoardSession  # runs the first layers and forwards
    upper: BoardSession  # runs the rest and the head

    @property
    def clients(self) -> tuple[Client, Client]:
        assert self.lower.client is not None and self.upper.client is not None
        return self.lower.client, self.upper.client


@contextmanager
def board_pair(board: str = "qemu-stm32f4", *, log_dir: Path | None = None) -> Iterator[BoardPair]:
    """Two boards of kind ``board`` running the peer-link image, their second UARTs joined; stopped on exit."""
    if board not in PEER_BOARDS:
        raise SplitError(
            f"board {board!r} has no peer link to split a model over; boards with one: {', '.join(PEER_BOARDS)}"
        )
    port = free_local_port()
    sessions: list[BoardSession] = []
    try:
        for role, peer in (("lower", f"listen:{port}"), ("upper", f"connect:{port}")):
            b = get_board(board, BoardOptions(log_dir=log_dir, extra={"peer": peer}))
            b.name = f"{board}-{role}"  # type: ignore[misc]  # per instance: the two logs must not share a file
            s = session_for(b, log_dir=log_dir)
            s.open(b.build(defines=PEER_DEFINES))
            sessions.append(s)
        hello = sessions[0].hello
        if hello is None or not hello.capabilities & wire.HIL_CAP_PEER_LINK:
            raise SplitError(f"the {board} image built with {PEER_DEFINES} does not report a peer link in HELLO")
        yield BoardPair(*sessions)
    finally:
        for s in sessions:
            s.close()


def split(model: LstmModel, at: int) -> tuple[bytes, LstmModel]:
    """The lower board's blob (layers [0, at), no head) and the upper board's model (the rest and the head)."""
    if not 1 <= at < len(model.layers):
        raise SplitError(f"split point {at} must leave layers on both boards; the model has {len(model.layers)}")
    return layers_to_blob(model.layers[:at]), LstmModel(model.layers[at:], model.dense_w, model.dense_b)


@dataclass(frozen=True)
class SplitFigures:
    steps: int
    windows: int
    max_abs_error: float  # device (split) against the unsplit float32 numpy reference, over all windows
    single_board_max_diff: float | None  # split against one board running the whole model; None: it does not fit
    lower_instructions_per_step: float
    upper_instructions_per_step: float
    single_instructions_per_step: float | None
    link_bytes_per_step_to_upper: float
    link_bytes_per_step_to_lower: float
    latency_s: float  # harness wall time per sequence through the pair (median)
    single_latency_s: float | None
    lower_arena_used: int
    upper_arena_used: int
    whole_model_bytes: int  # the unsplit blob: what one board's arena would have to hold, before its scratch
    arena_bytes: int  # of one peer-link board

    def target_ms_per_step(self, core_hz: float, baud: int) -> dict[str, float]:
        """On the target chip at ``core_hz`` with the boards joined by a ``baud`` UART (8N1): each board's compute
        per step, the link's time per step (the larger direction: the link is full duplex), and the split's step
        time when streaming, the slowest of the three since the boards and the link work at once; one board's own
        step time beside it when it was measured."""
        lower = self.lower_instructions_per_step / core_hz * 1e3
        upper = self.upper_instructions_per_step / core_hz * 1e3
        wire = max(self.link_bytes_per_step_to_upper, self.link_bytes_per_step_to_lower) * UART_BITS_PER_BYTE
        wire_ms = wire / baud * 1e3
        out = {"lower": lower, "upper": upper, "wire": wire_ms, "split": max(lower, upper, wire_ms)}
        if self.single_instructions_per_step is not None:
            out["single"] = self.single_instructions_per_step / core_hz * 1e3
        return out


def measure(
    pair: BoardPair, model: LstmModel, windows: np.ndarray, *, at: int = 1, single: Client | None = None
) -> SplitFigures:
    """Run ``windows`` [N, T, I] through the split model; compare with the reference and, given ``single`` (a
    board that holds the whole model), with that board."""
    lower_blob, upper_model = split(model, at)
    lower, upper = pair.clients
    lower_info = lower.load_model(lower_blob)
    upper_info = upper.load_model(to_blob(upper_model))
    if upper_info.input_size != lower_info.output_size:
        raise SplitError(
            f"upper board takes {upper_info.input_size} inputs, lower board gives {lower_info.output_size}"
        )
    expected = forward(model, windows)
    outputs, lat, low_ticks, up_ticks, tx, rx = [], [], 0, 0, 0, 0
    for x in windows:
        t0 = time.perf_counter()
        r = lower.infer(x, forward=True)
        lat.append(time.perf_counter() - t0)
        assert r.forward is not None
        outputs.append(r.outputs)
        low_ticks += r.ticks
        up_ticks += r.forward.peer_ticks
        tx += r.forward.peer_tx_bytes
        rx += r.forward.peer_rx_bytes
    got = np.stack(outputs)
    n_steps = windows.shape[0] * windows.shape[1]
    hz = pair.lower.hello.counter_hz if pair.lower.hello else 1_000_000_000
    per_step = 1e9 / hz / n_steps  # ticks -> instructions per step (QEMU: one tick per instruction at 1 GHz)
    single_diff = single_ips = single_lat = None
    if single is not None:
        single.load_model(to_blob(model))
        s_out, s_lat, s_ticks = [], [], 0
        for x in windows:
            t0 = time.perf_counter()
            r = single.infer(x)
            s_lat.append(time.perf_counter() - t0)
            s_out.append(r.outputs)
            s_ticks += r.ticks
        single_diff = float(np.max(np.abs(got - np.stack(s_out))))
        single_ips = s_ticks * per_step
        single_lat = float(np.median(s_lat))
    arena = pair.lower.hello.arena_bytes if pair.lower.hello else 0
    return SplitFigures(
        steps=windows.shape[1],
        windows=windows.shape[0],
        max_abs_error=float(np.max(np.abs(got - expected))),
        single_board_max_diff=single_diff,
        lower_instructions_per_step=low_ticks * per_step,
        upper_instructions_per_step=up_ticks * per_step,
        single_instructions_per_step=single_ips,
        link_bytes_per_step_to_upper=tx / n_steps,
        link_bytes_per_step_to_lower=rx / n_steps,
        latency_s=float(np.median(lat)),
        single_latency_s=single_lat,
        lower_arena_used=lower_info.arena_used,
        upper_arena_used=upper_info.arena_used,
        whole_model_bytes=len(to_blob(model)),
        arena_bytes=arena,
    )


def refuses_whole(client: Client, model: LstmModel) -> str:
    """Load the whole model on one board and return the device's refusal (it must not fit the arena)."""
    try:
        client.load_model(to_blob(model))
    except DeviceError as exc:
        if exc.status == wire.HIL_ERR_ARENA_EXHAUSTED:
            return str(exc)
        raise
    raise SplitError(f"the whole model ({len(to_blob(model))} B) fits one board's arena; pick a larger one")


BENCH_BAUDS = (115200, 921600, 4_000_000)


def format_figures(name: str, board: str, f: SplitFigures) -> str:
    core_hz = CORE_HZ.get(board, 84e6)
    single = f"{f.single_instructions_per_step:,.0f}" if f.single_instructions_per_step is not None else "does not fit"
    lines = [
        f"{name}: {f.windows} windows x {f.steps} steps on two {board} boards",
        f"  max |split - numpy reference| {f.max_abs_error:.3g}"
        + (f"; |split - one board| {f.single_board_max_diff:.3g}" if f.single_board_max_diff is not None else ""),
        f"  instructions per step: lower {f.lower_instructions_per_step:,.0f}, "
        f"upper {f.upper_instructions_per_step:,.0f} (one board: {single})",
        f"  link bytes per step: {f.link_bytes_per_step_to_upper:.1f} to the upper board, "
        f"{f.link_bytes_per_step_to_lower:.1f} back",
        f"  arena: whole model {f.whole_model_bytes:,} B of weights; lower {f.lower_arena_used:,} B, upper "
        f"{f.upper_arena_used:,} B used of {f.arena_bytes:,} B each",
        f"  latency per sequence on this machine (QEMU): split {f.latency_s * 1e3:.0f} ms"
        + (f", one board {f.single_latency_s * 1e3:.0f} ms" if f.single_latency_s is not None else ""),
    ]
    for baud in BENCH_BAUDS:
        t = f.target_ms_per_step(core_hz, baud)
        one = f", one board {t['single']:.3f} ms" if "single" in t else ""
        bound = "link" if t["split"] == t["wire"] else "compute"
        lines.append(
            f"  at {core_hz / 1e6:.0f} MHz, {baud} baud: per step lower {t['lower']:.3f} ms, "
            f"upper {t['upper']:.3f} ms, link {t['wire']:.3f} ms -> split {t['split']:.3f} ms ({bound}-bound){one}"
        )
    return "\n".join(lines)


def bench_split(board: str = "qemu-stm32f4", *, windows: int = 8, steps: int = 24) -> str:
    """The figures of the two shipped splits, on ``windows`` random sequences (seeded)."""
    x = np.random.default_rng(24).uniform(0, 1, size=(windows, steps, 7)).astype(np.float32)
    out = []
    with board_pair(board) as pair:
        out.append(
            format_figures(
                "LSTM 7-32-32-1 (fits one board)", board, measure(pair, FITS_ONE, x, single=pair.upper.client)
            )
        )
        refusal = refuses_whole(pair.upper.client, FITS_ONLY_SPLIT)
        out.append(format_figures("LSTM 7-64-32-1 (fits only split)", board, measure(pair, FITS_ONLY_SPLIT, x)))
        out.append(f"  one board: {refusal}")
    return "\n".join(out)
