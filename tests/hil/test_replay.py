"""Replay of a recording at its own rate (harness.suites.replay): the hourly Beijing weather through the LSTM one
sample per request and the BasicMotions gestures at 10 Hz through the IMU classifier, with their figures for the
chip each board stands for (rows: replay_*); a case bound by each limit at 115200 baud, a sensor sampled faster than
the core computes (compute) and one whose frames a real UART cannot carry in a sampling period (wire); and that
wire case on a link really paced at 115200 baud (--hil-baud), where the bench falls behind the recording."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest

from harness import datasets
from harness.models import dense, lstm
from harness.proto.client import Client
from harness.session import BoardSession
from harness.suites import studies
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
    run.record(record, model="lstm7x32-replay", dataset="beijing_pm", every=10)
    print(run.describe())


GESTURE_WINDOW = 30  # samples the IMU classifier sees: 3 s at 10 Hz, the study's window
GESTURE_PERIOD_S = 0.1  # BasicMotions is sampled at 10 Hz


def test_gestures_replayed_at_10_hz_are_classified_within_each_sample(deploy, board, record) -> None:
    imu = studies.imu_classifier()
    task = datasets.ClassificationTask(datasets.load_cases("basic_motions"))
    cases = task.windows("test")  # whole recordings, 100 samples each, standardised as the classifier was trained
    first_of_each = [int(np.flatnonzero(cases.y == c)[0]) for c in range(len(cases.class_names))]
    dep = deploy(imu.model, where="arena")
    right = total = 0
    for i in first_of_each:
        stream = np.ascontiguousarray(cases.X[i], dtype=np.float32)  # [100, 6]
        # a classification at every sample, over the 3 s that end at it, before the next sample comes
        run = replay(dep.client, stream, period_s=GESTURE_PERIOD_S, board=board.budgets_name, baud=115200,
                     window=GESTURE_WINDOW)  # fmt: skip
        windows = np.stack([stream[k - GESTURE_WINDOW + 1 : k + 1].reshape(-1) for k in range(GESTURE_WINDOW - 1,
                            len(stream))])  # fmt: skip
        # the first layer sums 180 products in another order than numpy: FLOAT_ATOL of the quantized suite
        np.testing.assert_allclose(run.outputs, dense.forward(imu.model, windows), atol=1e-4)
        assert run.missed == 0, run.describe()
        right += int(np.sum(np.argmax(run.outputs, axis=1) == cases.y[i]))
        total += len(run.steps)
        run.record(record, model="imu_mlp_180-50-15-4-replay", dataset="basic_motions", every=5)
        print(cases.class_names[cases.y[i]], run.describe())
    record("replay_accuracy", right / total, "1", model="imu_mlp_180-50-15-4-replay", dataset="basic_motions")


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
    # About 0.1 where the counter is exact (QEMU counts instructions). The host board's counter is wall-clock time:
    # under CI's two busy workers a step took 2x the probe's median (0.213 seen), so the bound is 0.5, still far
    # below the 1 of a stream that keeps up.
    assert run.real_time_factor < 0.5, run.describe()


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


@contextlib.contextmanager
def _paced(session: BoardSession, baud: int) -> Iterator[Client]:
    """The session's link through a PacedLink at ``baud`` (what --hil-baud does for the whole run), then back."""
    if not (session.board.url or "").startswith("socket://"):
        pytest.skip(f"{session.board.name}'s link is a real line ({session.board.url}): it is paced by its own UART")
    before = session.baud
    session.close_link()
    session.baud = baud
    try:
        yield session.open(session.image)
    finally:
        session.close_link()
        session.baud = before
        session.open(session.image)


def test_a_paced_line_that_cannot_carry_the_stream_falls_behind(hil_session, board, hours) -> None:
    with _paced(hil_session, 115200) as client:
        assert hil_session.pacer is not None and client.line_baud == 115200
        hil_session.deploy(TINY, where="arena")
        probe = replay(client, hours[:3], period_s=1.0, board=board.budgets_name)  # the wire at the link's baud
        wire_s = probe.steps[-1].wire_s
        assert probe.baud == 115200 and wire_s > 0
        run = replay(client, hours[:20], period_s=wire_s * 0.8, rate=1.0, board=board.budgets_name)
        assert hil_session.pacer is not None
        print(hil_session.pacer.summary())
    # Every answer crossed a line at 115200 baud: none can come back sooner than its bytes take. And each sample
    # needs more line time than the recording gives it: the bench falls a fifth of a wire time behind per sample,
    # which after 19 is at least 3.8 wire times; half of that is asked, so a busy machine cannot fail it.
    assert min(s.latency_s for s in run.steps) >= wire_s, run.describe()
    assert run.steps[-1].late_s >= 0.5 * 19 * 0.2 * wire_s, run.describe()
    assert run.bound == "wire", run.describe()
    print(run.describe())


def test_replay_refuses_what_it_cannot_run(client, board, hours) -> None:
    with pytest.raises(ReplayError, match="positive number of seconds"):
        replay(client, hours, period_s=0, board=board.budgets_name)
    with pytest.raises(ReplayError, match="rate=-1"):
        replay(client, hours, period_s=1.0, rate=-1, board=board.budgets_name)
    with pytest.raises(ReplayError, match=r"\[T, input_size\]"):
        replay(client, hours[0], period_s=1.0, board=board.budgets_name)
    with pytest.raises(ReplayError, match="window=200"):
        replay(client, hours, period_s=1.0, board=board.budgets_name, window=200)
