"""LSTM inference on the device against the float32 numpy reference, on real Beijing weather windows."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from harness import datasets, metrics
from harness.models.lstm import forward
from tests.hil.models import CASES, ModelCase

FEATURES = ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir")

# Tolerance: device and numpy both compute in float32 but sum in different orders (sequential on the device,
# pairwise/BLAS in numpy), so each pre-activation differs by a few ulp; sigmoid/tanh are contractive and the
# outputs are O(0.1..1). Measured max |device - reference| over the test windows: 3.0e-8 (LSTM(32), 24 steps)
# and 2.2e-8 (LSTM(128), 168 steps) on both boards. 1e-6 leaves a factor ~30 for other weights and windows
# while a real kernel fault (a swapped gate, a skipped step, a stale state) moves outputs by 1e-3 or more.
ATOL = 1e-6

progress = logging.getLogger("harness.progress")  # shown live by `python -m harness run`, quiet otherwise


def _windows(case: ModelCase, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` windows evenly spaced over the test split; each is a full upload and inference."""
    ds = datasets.load("beijing_pm")
    task = datasets.forecast_windows(
        ds, FEATURES, "TEMP", window=case.window, split="test", limit=count, spacing="even"
    )
    return task.X, task.y


@pytest.mark.hil_requires("lstm_f32")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lstm_matches_reference_on_weather(case: ModelCase, deploy, hil_session, record, hil_windows) -> None:
    model = case.build(len(FEATURES))
    X, _ = _windows(case, hil_windows)
    hil_session.reboot()  # the high-water marks recorded below are this model's, not an earlier test's
    dep = deploy(model)
    progress.info("%s %s: %s B deployed into %s", hil_session.board.name, case.name, f"{dep.model_bytes:,}", dep.where)
    assert (dep.info.input_size, dep.info.output_size) == (7, 1)
    hello = hil_session.hello
    errors = []
    for i, x in enumerate(X):
        result = dep.client.infer(x)
        ref = forward(model, x, dtype=np.float32)
        err = metrics.max_abs_err(result.outputs, ref)
        errors.append(err)
        latency = hello.ticks_to_counter_unit(result.ticks)
        progress.info("%s %s: window %d/%d, %s %s, max |device - reference| %.2g", hil_session.board.name,
                      case.name, i + 1, len(X), f"{latency:,.0f}", hello.counter_unit, err)  # fmt: skip
        record("max_abs_err_vs_ref", err, "1", model=case.name, dataset="beijing_pm", sample=i)
        record(f"latency_{hello.counter_unit}", latency, hello.counter_unit, model=case.name, dataset="beijing_pm",
               sample=i)  # fmt: skip
        # the report plots device output over reference output per window
        record("output_device", float(result.outputs[0]), "1", model=case.name, dataset="beijing_pm", sample=i)
        record("output_reference", float(ref[0]), "1", model=case.name, dataset="beijing_pm", sample=i)
        assert err <= ATOL, f"window {i}: device {result.outputs} vs reference {ref} differ by {err:.3g} > {ATOL}"
    record("max_abs_err_vs_ref", max(errors), "1", model=case.name, dataset="beijing_pm")
    record("model_bytes", dep.model_bytes, "B", model=case.name)
    record("model_in_flash", float(dep.where == "flash"), "bool", model=case.name)
    stats = dep.client.stats()
    record("arena_high_water", stats.arena_high_water, "B", model=case.name)
    if "stack_paint" in hello.capability_names:
        assert 0 < stats.stack_high_water <= stats.stack_bytes
        record("stack_high_water", stats.stack_high_water, "B", model=case.name)


@pytest.mark.hil_requires("lstm_f32")
def test_error_per_time_step(deploy, record) -> None:
    case = CASES[0]
    model = case.build(len(FEATURES))
    X, _ = _windows(case, 2)
    dep = deploy(model)
    result = dep.client.infer(X[0], all_steps=True)
    ref = forward(model, X[0], dtype=np.float32, all_steps=True)
    assert result.outputs.shape == ref.shape == (case.window, 1)
    per_step = np.abs(result.outputs - ref).max(axis=1)
    for t, e in enumerate(per_step):
        record("abs_err_per_step", float(e), "1", model=case.name, dataset="beijing_pm", sample=t)
        # one sequence's output at every step, device over reference, for the report
        record("output_per_step_device", float(result.outputs[t, 0]), "1", model=case.name, dataset="beijing_pm",
               sample=t)  # fmt: skip
        record("output_per_step_reference", float(ref[t, 0]), "1", model=case.name, dataset="beijing_pm", sample=t)
    assert per_step.max() <= ATOL
    # the last step of the all-steps answer is the many-to-one answer
    np.testing.assert_array_equal(result.outputs[-1], dep.client.infer(X[0]).outputs)


@pytest.mark.hil_requires("lstm_f32")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_input_twice_is_bit_identical(case: ModelCase, deploy, hil_session, record) -> None:
    model = case.build(len(FEATURES))
    X, _ = _windows(case, 2)
    dep = deploy(model)
    first, second = dep.client.infer(X[1]), dep.client.infer(X[1])
    assert first.outputs.tobytes() == second.outputs.tobytes()
    if "exact_counter" in hil_session.hello.capability_names:
        assert first.ticks == second.ticks, f"instruction counts differ: {first.ticks} vs {second.ticks}"
        record("instructions_per_inference", hil_session.hello.ticks_to_counter_unit(first.ticks), "instructions",
               model=case.name)  # fmt: skip
