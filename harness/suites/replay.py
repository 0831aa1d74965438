"""Replay a recording as a deployed model meets it: one sample per INFER, the LSTM's state kept on the device between
samples (INFER's CONTINUE flag), or for a classifier without state the window of the last samples (a device's ring
buffer), paced by the recording's sampling period times a rate, or as fast as the link goes.

Per sample it measures what the device spent (its counter, turned into seconds at the core clock of the chip the
board stands for: QEMU counts instructions, taken here at one per cycle, an optimistic bound that
docs/performance.md quantifies), what a real UART would spend carrying the request and the answer at ``baud``
(8N1: 10 bits a byte, the frames as encoded), and the end-to-end latency on this bench's wall clock. A sample meets
its deadline when the device's time and the wire's fit in one sampling period: in the field the next sample
arrives then. ``bound`` says what limits the stream: the wire, the compute, or neither.

On a paced link (``--hil-baud``, harness.link_pacing) the wire is there for real: a paced replay that the line cannot
carry falls behind its schedule, and each request's ``late_s`` says by how much.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from harness.proto import messages, wire
from harness.proto.client import Client

if TYPE_CHECKING:
    from collections.abc import Callable

    Recorder = Callable[..., None]  # the ``record`` fixture: record(metric, value, unit, **tags)

# Core clock of the chip each board stands for (Hz): QEMU's netduinoplus2 is held to the STM32F401RE of the Nucleo,
# mps2-an385 to the STM32F103RE. A board not listed has a counter in seconds already (host) or none known.
CORE_HZ = {"qemu-stm32f4": 84e6, "nucleo-f401re": 84e6, "qemu-cm3": 72e6}
UART_BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit

Rate = float | Literal["max"]


@dataclass(frozen=True)
class ReplayStep:
    index: int
    device_s: float  # the device's compute time for this sample, in target seconds
    wire_s: float  # request and answer on a UART at the replay's baud (0: not modelled)
    latency_s: float  # from sending the request to reading the answer, on this bench's wall clock
    late_s: float = 0.0  # how far behind its schedule the request left (paced replays: the bench fell behind)

    def budget_s(self) -> float:
        return self.device_s + self.wire_s


@dataclass(frozen=True)
class Replay:
    board: str
    period_s: float  # the time between requests (the sampling period, times hop for a window): every deadline
    rate: Rate
    clock_hz: float | None
    baud: int | None
    steps: tuple[ReplayStep, ...]
    outputs: np.ndarray  # the device's answers [requests, O]

    @property
    def missed(self) -> int:
        return sum(s.budget_s() > self.period_s for s in self.steps)

    def slack_s(self) -> np.ndarray:
        """Per sample, the deadline minus what the device and the wire spent (negative: missed)."""
        return np.array([self.period_s - s.budget_s() for s in self.steps])

    @property
    def real_time_factor(self) -> float:
        """The sampling period over the median time a sample costs (above 1: faster than the sensor)."""
        return self.period_s / statistics.median(s.budget_s() for s in self.steps)

    @property
    def bound(self) -> Literal["wire", "compute", "none"]:
        """What keeps the stream from keeping up: the larger of the median wire and compute times when a median
        sample misses its deadline, else none."""
        wire_s = statistics.median(s.wire_s for s in self.steps)
        device_s = statistics.median(s.device_s for s in self.steps)
        if wire_s + device_s <= self.period_s:
            return "none"
        return "wire" if wire_s >= device_s else "compute"

    def describe(self) -> str:
        rate = "as fast as the link goes" if self.rate == "max" else f"at {self.rate:g}x real time"
        clock = f" at {self.clock_hz / 1e6:g} MHz" if self.clock_hz else ""
        link = f", UART {self.baud} baud" if self.baud else ""
        device = statistics.median(s.device_s for s in self.steps)
        late = max(s.late_s for s in self.steps)
        behind = f", fell {late * 1e3:.3g} ms behind its schedule" if late > 0.001 else ""
        return (f"{len(self.steps)} requests every {self.period_s:g} s replayed {rate} on {self.board}{clock}{link}: "
                f"device {device * 1e3:.3g} ms per request (median), {self.missed} missed, real-time factor "
                f"{self.real_time_factor:.3g}, bound: {self.bound}{behind}")  # fmt: skip

    def record(self, record: Recorder, *, model: str, dataset: str, every: int = 1) -> None:
        """The rows the report's replay section plots: per request (every ``every``-th) the device's and the wire's
        time and the bench's latency, in ms; once, the deadline, misses, real-time factor and least slack."""
        tags = {"model": model, "dataset": dataset}
        for step in self.steps[::every]:
            record("replay_device_ms", step.device_s * 1e3, "ms", sample=step.index, **tags)
            record("replay_wire_ms", step.wire_s * 1e3, "ms", sample=step.index, **tags)
            record("replay_latency_ms", step.latency_s * 1e3, "ms", sample=step.index, **tags)
        record("replay_deadline_ms", self.period_s * 1e3, "ms", **tags)
        record("replay_slack_min_ms", float(self.slack_s().min()) * 1e3, "ms", **tags)
        record("replay_real_time_factor", self.real_time_factor, "x", **tags)
        record("replay_missed_deadlines", self.missed, "", **tags)


class ReplayError(ValueError):
    """The replay cannot run as asked (a period or rate that is not positive, samples of the wrong shape)."""


def frame_bytes(opcode: int, payload: bytes, flags: int = 0) -> int:
    """Bytes a frame carrying ``payload`` takes on the wire: encoded exactly as the client and firmware encode it."""
    return len(wire.encode_frame(opcode, 0, payload, flags))


def _request_and_answer_bytes(x: np.ndarray, out: np.ndarray, flags: int, ticks: int) -> int:
    """Bytes the INFER of one sample and its answer take on the wire, framed as the client and firmware frame them."""
    request = frame_bytes(wire.HIL_OP_INFER, messages.INFER_REQUEST.pack(steps=1, infer_flags=flags) + x.tobytes())
    answer = frame_bytes(wire.HIL_OP_INFER, messages.INFER_ANSWER.pack(ticks=ticks, steps_out=1,
                         output_size=out.size) + out.tobytes(), wire.HIL_FLAG_RESPONSE)  # fmt: skip
    return request + answer


def replay(client: Client, samples: np.ndarray, *, period_s: float, board: str, rate: Rate = "max",
           baud: int | Literal["link"] | None = "link", window: int | None = None, hop: int = 1) -> Replay:  # fmt: skip
    """Feed ``samples`` [T, channels] (already in the wire's element type) to the deployed model, one request per
    sample paced at ``period_s / rate`` on the wall clock (``"max"``: no pacing).

    An LSTM gets each sample alone, the first from zero state and every next one continuing it. A model without
    state (a classifier over a window) gets, with ``window=W``, the last W samples flattened in time order each
    ``hop`` samples from the first full window on, as a device with a ring buffer of W samples would run it.

    ``baud``: the UART rate the wire time is modelled at, ``"link"`` (default) for the client's own line (a bench
    row's, or --hil-baud pacing an emulated board; none known: no wire), None for none."""
    if not period_s > 0:
        raise ReplayError(f"period_s={period_s!r}: a sampling period is a positive number of seconds")
    if rate != "max" and not (isinstance(rate, int | float) and rate > 0):
        raise ReplayError(f"rate={rate!r}: a positive factor of real time, or 'max'")
    xs = np.asarray(samples)
    if xs.ndim != 2 or len(xs) == 0:
        raise ReplayError(f"samples must be [T, input_size] with T >= 1, got shape {xs.shape}")
    if window is not None and not (isinstance(window, int) and 1 <= window <= len(xs)):
        raise ReplayError(f"window={window!r}: a whole number of samples from 1 to the {len(xs)} given")
    if not (isinstance(hop, int) and hop >= 1):
        raise ReplayError(f"hop={hop!r}: a whole number of samples >= 1 between windows")
    line_baud = client.line_baud if baud == "link" else baud
    hello = client.hello_info or client.hello()
    clock_hz = None if hello.counter_unit == "ns" else CORE_HZ.get(board)

    def device_seconds(ticks: int) -> float:
        units = hello.ticks_to_counter_unit(ticks)
        if hello.counter_unit == "ns":
            return units / 1e9
        if clock_hz is None:
            raise ReplayError(f"board {board!r} counts {hello.counter_unit} but its core clock is not known; add it "
                              "to harness.suites.replay.CORE_HZ")  # fmt: skip
        return units / clock_hz

    # (sample index, what the request carries, whether it continues the stream)
    if window is None:
        requests = [(k, x, k > 0) for k, x in enumerate(xs)]
    else:
        requests = [(k, xs[k - window + 1 : k + 1].reshape(-1), False) for k in range(window - 1, len(xs), hop)]
    steps, outs = [], []
    t0 = time.monotonic()
    for n, (k, x, continues) in enumerate(requests):
        late = 0.0
        if rate != "max":
            due = t0 + n * hop * period_s / float(rate)
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            late = max(0.0, time.monotonic() - due)
        sent = time.monotonic()
        result = client.infer(x if window is not None else x[np.newaxis], continue_state=continues)
        latency = time.monotonic() - sent
        out = np.atleast_1d(result.outputs)
        wire_s = 0.0
        if line_baud:
            flags = wire.HIL_INFER_CONTINUE if continues else 0
            wire_bytes = _request_and_answer_bytes(x, out, flags, result.ticks)
            wire_s = wire_bytes * UART_BITS_PER_BYTE / line_baud
        steps.append(ReplayStep(k, device_seconds(result.ticks), wire_s, latency, late))
        outs.append(out)
    return Replay(board, period_s * (hop if window is not None else 1), rate, clock_hz, line_baud, tuple(steps),
                  np.stack(outs))  # fmt: skip
