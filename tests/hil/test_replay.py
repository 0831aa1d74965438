"""Replay of a recording at its own rate (harness.suites.replay): the hourly Beijing weather through the LSTM one
sample per request, its figures for the chip each board stands for, and a case bound by each limit at 115200 baud:
a sensor sampled faster than the core computes (compute), and one whose frames a real UART cannot carry in a
sampling period (wire)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.models import lstm
from harness.suites.bench import FEATURES
from harness.suites.replay import ReplayError, replay
from tests.hil.models import STREAM_MODEL, beijing_test_hours

MODEL = STREAM_MODEL
TINY = lstm.LstmModel.random(len(FEATURES), [4], 1, seed=16)
HOURS = 120


@pytest.fixture(scope="module")
def hours() -> np.ndarray:
    """The first hours of the test split, float32 [T, 7]."""
    return beijing_test_hours(HOURS)


def test_hourly_weather_replayed_keeps_up_and_tracks_the_reference(deploy, board, hours, record) -> None:
    dep = deploy(MODEL, where="arena")
    run = replay(dep.client, hours, period_s=3600.0, board=board.budgets_name, baud=115200)
    # one sample per request with the state kept: the same per-step outputs as the whole sequence at once
    np.testing.assert_allclose(run.outputs, lstm.forward(MODEL, hours, all_steps=True), atol=1e-6)  # float32 ulp
    assert run.missed == 0 and run.bound == "none", run.describe()
    for step in run.steps[::10]:
        record("replay_device_ms", step.device_s * 1e3, "ms", model="lstm7x32-replay", dataset="beijing_pm",
               sample=step.index)  # fmt: skip
        record("replay_latency_ms", step.latency_s * 1e3, "ms", model="lstm7x32-replay", dataset="beijing_pm",
               sample=step.index)  # fmt: skip
    record("replay_real_time_factor", run.real_time_factor, "x", model="lstm7x32-replay", dataset="beijing_pm")
    record("replay_missed_deadlines", run.missed, "", model="lstm7x32-replay", dataset="beijing_pm")
    print(run.describe())


def test_a_sensor_faster_than_the_core_is_compute_bound(deploy, board, hours) -> None:
    dep = deploy(MODEL, where="arena")
    probe = replay(dep.client, hours[:5], period_s=1.0, board=board.budgets_name, baud=115200)
    device = float(np.median([s.device_s for s in probe.steps]))
    # At 115200 baud where a step computes longer than its frames take (qemu-cm3: soft float, ~8 ms against ~6 ms);
    # where the core is faster than that UART, the same case without the wire (else the wire would bind first).
    baud = 115200 if device > probe.steps[-1].wire_s else None
    # a period of a tenth of what a step computes: every sample misses
    run = replay(dep.client, hours[:20], period_s=device / 10, board=board.budgets_name, baud=baud)
    assert run.bound == "compute" and run.missed == 20, run.describe()
    assert run.real_time_factor < 0.2


def test_frames_a_115200_baud_uart_cannot_carry_are_wire_bound(deploy, board, hours) -> None:
    dep = deploy(TINY, where="arena")
    probe = replay(dep.client, hours[:5], period_s=1.0, board=board.budgets_name, baud=115200)
    wire_s, device_s = probe.steps[-1].wire_s, float(np.median([s.device_s for s in probe.steps]))
    # 7 floats in, 1 out: about 70 bytes a sample both ways, about 6 ms at 115200 baud; the tiny LSTM computes in
    # far less on every board, so a period between the two is bound by the wire
    assert device_s < wire_s / 2, f"device {device_s * 1e3:.3g} ms, wire {wire_s * 1e3:.3g} ms"
    run = replay(dep.client, hours[:20], period_s=wire_s * 0.8, board=board.budgets_name, baud=115200)
    assert run.bound == "wire" and run.missed == 20, run.describe()
    fast = replay(dep.client, hours[:20], period_s=wire_s * 0.8, board=board.budgets_name, baud=921600)
    assert fast.bound == "none" and fast.missed == 0, fast.describe()  # the same stream on a faster UART keeps up


def test_replay_refuses_what_it_cannot_run(client, board, hours) -> None:
    with pytest.raises(ReplayError, match="positive number of seconds"):
        replay(client, hours, period_s=0, board=board.budgets_name)
    with pytest.raises(ReplayError, match="rate=-1"):
        replay(client, hours, period_s=1.0, rate=-1, board=board.budgets_name)
    with pytest.raises(ReplayError, match=r"\[T, input_size\]"):
        replay(client, hours[0], period_s=1.0, board=board.budgets_name)
