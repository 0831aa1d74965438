"""Mismatch triage on the board: TRACE answers what INFER computed inside, and on a deliberately broken kernel the
triage names the step, layer, gate and unit that were broken.

The broken image is the board's own build with the test hook of support/hils_test_hooks.h (HIL_TEST_PERTURB_*:
one gate pre-activation of one unit, at one step in one layer, moved by DELTA). It is never recorded as figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import datasets
from harness.models.dense import MlpModel
from harness.models.lstm import LstmModel, forward
from harness.suites.validate import ValidationFailed, validate
from harness.triage import LSTM_BLOCKS, locate_divergence, lstm_trace, mlp_trace

FEATURES = ("pm2.5", "DEWP", "TEMP", "PRES", "Iws", "Is", "Ir")
MODELS = Path(__file__).resolve().parents[1] / "models"
# The float reference and the device sum in different orders: intermediates agree to a few ulp of their size
# (measured: at most 2.4e-7 on gate pre-activations of O(1..10)); the triage's default 2e-5 + 2e-5 |ref| is
# harness.suites.validate.FLOAT_TOL's, and a broken kernel moves a value by DELTA = 0.5.
ATOL = RTOL = 2e-5


def _windows(steps: int, count: int) -> np.ndarray:
    ds = datasets.load("beijing_pm")
    return datasets.forecast_windows(ds, FEATURES, "TEMP", window=steps, split="test", limit=count, spacing="even").X


def _perturbed(hil_session, step: int, layer: int, gate: int, unit: int, hidden: int):
    if hil_session.link_url:
        pytest.skip("a board behind --hil-link cannot be given another image")
    return hil_session.board.build(defines={
        "HIL_TEST_PERTURB_STEP": str(step), "HIL_TEST_PERTURB_LAYER": str(layer),
        "HIL_TEST_PERTURB_ROW": str(gate * hidden + unit), "HIL_TEST_PERTURB_DELTA": "0.5f",
    })  # fmt: skip


@pytest.mark.hil_requires("lstm_f32")
def test_trace_is_what_the_reference_computes_inside(deploy) -> None:
    model = LstmModel.random(7, [16, 12], 1, seed=4, scale=0.3)
    x = _windows(24, 1)[0]
    dep = deploy(model)
    dep.client.stage_input(x)
    for steps, layer in ((1, 0), (7, 1), (24, 0), (24, 1)):
        ref = lstm_trace(model, x, steps, layer)
        dev = dep.client.trace(steps, layer, len(ref))
        assert np.abs(dev - ref).max() <= ATOL + RTOL * np.abs(ref).max(), (steps, layer)
    # the last step's h of the top layer is what INFER's head reads
    out = dep.client.infer(x).outputs
    h_top = lstm_trace(model, x, 24, 1)[-12:]
    assert np.allclose(out, model.dense_w @ h_top + model.dense_b, atol=1e-5)
    assert locate_divergence(dep.client, model, x) is None


@pytest.mark.hil_requires("mlp_f32")
def test_trace_of_a_dense_network(deploy) -> None:
    model = MlpModel.random([12, 10, 6, 3], seed=2)
    x = np.random.default_rng(3).normal(size=12).astype(np.float32)
    dep = deploy(model)
    dep.client.stage_input(x[np.newaxis])
    for layer in range(3):
        ref = mlp_trace(model, x, layer)
        assert np.abs(dep.client.trace(1, layer, len(ref)) - ref).max() <= ATOL + RTOL * np.abs(ref).max()
    assert locate_divergence(dep.client, model, x) is None


@pytest.mark.hil_requires("lstm_f32")
@pytest.mark.parametrize(
    ("step", "layer", "gate", "unit"), [(20, 1, 1, 5), (16, 0, 2, 11)], ids=["forget-layer1", "cell-layer0"]
)
def test_a_broken_gate_is_found_where_it_was_broken(hil_session, step: int, layer: int, gate: int, unit: int) -> None:
    model = LstmModel.random(7, [16, 16], 1, seed=7, scale=0.3)
    x = _windows(24, 1)[0]
    plain = hil_session.board.build()
    broken = _perturbed(hil_session, step, layer, gate, unit, 16)
    try:
        hil_session.open(broken)
        dep = hil_session.deploy(model)
        assert np.abs(dep.client.infer(x).outputs - forward(model, x)).max() > ATOL, "the break must show outside"
        found = locate_divergence(dep.client, model, x)
        assert found is not None, "the broken kernel went unnoticed"
        assert (found.step, found.layer, found.quantity, found.unit) == (step, layer, LSTM_BLOCKS[gate], unit), (
            found.describe()
        )
        assert found.device - found.reference == pytest.approx(0.5, abs=1e-4)
    finally:
        hil_session.open(plain)


@pytest.mark.hil_requires("lstm_f32")
def test_validate_failure_message_names_the_broken_gate(hil_session) -> None:
    """The user's view: a model file validated on a broken build fails, and the message says where."""
    pytest.importorskip("onnxruntime")
    plain = hil_session.board.build()
    broken = _perturbed(hil_session, 164, 1, 2, 2, 16)  # cell gate of unit 2 in layer 1, step 164 of 168
    try:
        hil_session.open(broken)
        result = validate(hil_session, MODELS / "weather_lstm2x16.onnx", dataset="beijing_pm", windows=2)
        assert not result.pairs["numpy_vs_device"].passed
        with pytest.raises(
            ValidationFailed, match="first divergence at step 164, layer 1, cell gate pre-activation, unit 2"
        ):
            result.check()
    finally:
        hil_session.open(plain)
