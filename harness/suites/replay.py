"""Replay a recording as a deployed model meets it: one sample per INFER, the LSTM's state kept on the device between
samples (INFER's CONTINUE flag), paced by the recording's sampling period times a rate, or as fast as the link goes.

Per sample it measures what the device spent (its counter, turned into seconds at the core clock of the chip the
board stands for: QEMU counts instructions, taken here at one per cycle, an optimistic bound that
docs/performance.md quantifies), what a real UART would spend carrying the request and the answer at ``baud``
(8N1: 10 bits a byte, the frames as encoded), and the end-to-end latency on this bench's wall clock. A sample meets
its deadline when the device's time and the wire's fit in one sampling period: in the field the next sample
arrives then. ``bound`` says what limits the stream: the wire, the compute, or neither.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from harness.proto import messages, wire
from harness.proto.client import Client

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

    def budget_s(self) -> float:
        return self.device_s + self.wire_s


@dataclass(frozen=True)
class Replay:
    board: str
    period_s: float  # the recording's sampling period: the deadline of every sample
    rate: Rate
    clock_hz: float | None
    baud: int | None
    steps: tuple[ReplayStep, ...]
    outputs: np.ndarray  # the device's answers [T, O]

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
        return (f"{len(self.steps)} samples every {self.period_s:g} s replayed {rate} on {self.board}{clock}{link}: "
                f"device {device * 1e3:.3g} ms per sample (median), {self.missed} missed, real-time factor "
                f"{self.real_time_factor:.3g}, bound: {self.bound}")  # fmt: skip


class ReplayError(ValueError):
    """The replay cannot run as asked (a period or rate that is not positive, samples of the wrong shape)."""


def frame_bytes(opcode: int, payload: bytes, flags: int = 0) -> int:
    """Bytes a frame carrying ``payload`` takes on the wire: encoded exactly as the client and firmware encode it."""
    return len(wire.encode_frame(opcode, 0, payload, flags))


def replay(client: Client, samples: np.ndarray, *, period_s: float, board: str, rate: Rate = "max",
           baud: int | None = None) -> Replay:  # fmt: skip
    """Feed ``samples`` [T, input_size] (already in the wire's element type) one per INFER, the first from zero
    state and every next one continuing it, paced at ``period_s / rate`` on the wall clock (``"max"``: no pacing)."""
    if not period_s > 0:
        raise ReplayError(f"period_s={period_s!r}: a sampling period is a positive number of seconds")
    if rate != "max" and not (isinstance(rate, int | float) and rate > 0):
        raise ReplayError(f"rate={rate!r}: a positive factor of real time, or 'max'")
    xs = np.asarray(samples)
    if xs.ndim != 2 or len(xs) == 0:
        raise ReplayError(f"samples must be [T, input_size] with T >= 1, got shape {xs.shape}")
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

    wire_s = 0.0
    steps, outs = [], []
    t0 = time.monotonic()
    for k, x in enumerate(xs):
        if rate != "max":
            wait = t0 + k * period_s / float(rate) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        sent = time.monotonic()
        result = client.infer(x[np.newaxis], continue_state=k > 0)
        latency = time.monotonic() - sent
        out = np.atleast_1d(result.outputs)
        if baud:
            flags = wire.HIL_INFER_CONTINUE if k > 0 else 0
            request = frame_bytes(wire.HIL_OP_INFER,
                                  messages.INFER_REQUEST.pack(steps=1, infer_flags=flags) + x.tobytes())  # fmt: skip
            answer = frame_bytes(wire.HIL_OP_INFER, messages.INFER_ANSWER.pack(ticks=result.ticks, steps_out=1,
                                 output_size=out.size) + out.tobytes(), wire.HIL_FLAG_RESPONSE)  # fmt: skip
            wire_s = (request + answer) * UART_BITS_PER_BYTE / baud
        steps.append(ReplayStep(k, device_seconds(result.ticks), wire_s, latency))
        outs.append(out)
    return Replay(board, period_s, rate, clock_hz, baud, tuple(steps), np.stack(outs))
