"""Bring your own model: every shipped model file (tests/models, made by the frameworks) validated on the board
three ways, through the ``validate_model`` fixture a user's own test calls; and a validation that must fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.importers import FrameworkMissing, Reference, reference_for
from harness.suites.validate import ValidationFailed, validate

MODELS = Path(__file__).resolve().parents[1] / "models"

CASES = [
    ("weather_lstm2x16.onnx", "beijing_pm"),
    ("imu_mlp.onnx", "basic_motions"),
    ("electricity_lstm16.tflite", "electricity_hourly"),
    ("imu_mlp_int8.tflite", "basic_motions"),
    ("electricity_lstm16_int8.tflite", "electricity_hourly"),
    ("electricity_lstm16.keras", "electricity_hourly"),
    ("weather_lstm2x16.pt", "beijing_pm"),
]


@pytest.mark.hil_requires("lstm_f32")
@pytest.mark.parametrize(("name", "dataset"), CASES, ids=[c[0] for c in CASES])
def test_model_file_validates_on_the_board(name: str, dataset: str, validate_model) -> None:
    try:
        result = validate_model(MODELS / name, dataset=dataset).check()
    except FrameworkMissing as exc:
        pytest.skip(str(exc))
    if result.imported.quantized:  # the device answers the numpy reference's codes, every one
        assert result.pairs["numpy_vs_device"].lsb_differ == 0
    if name == "imu_mlp_int8.tflite":  # an int8 LiteRT dense model: the device answers LiteRT's codes, every one
        assert all(p.lsb_differ == 0 for p in result.pairs.values())
    if result.accuracy:
        assert result.accuracy["device"] == result.accuracy["framework"]


@pytest.mark.hil_requires("lstm_f32")
def test_a_reference_that_disagrees_fails_with_its_figures(hil_session) -> None:
    """The check can fail: a framework answer moved by 1e-3 (a misread file) fails framework vs numpy and
    framework vs device, and the message carries the figures."""
    path = MODELS / "electricity_lstm16.keras"
    try:
        honest = reference_for(path)
    except FrameworkMissing as exc:
        pytest.skip(str(exc))
    skewed = Reference(name="skewed", run=lambda X: np.asarray(honest.run(X)) + 1e-3)
    result = validate(hil_session, path, dataset="electricity_hourly", windows=3, reference=skewed)
    assert not result.pairs["framework_vs_numpy"].passed
    assert not result.pairs["framework_vs_device"].passed
    assert result.pairs["numpy_vs_device"].passed
    with pytest.raises(ValidationFailed, match=r"framework_vs_numpy +max\|d\| 0\.001"):
        result.check()


@pytest.mark.hil_requires("lstm_f32")
def test_trained_scale_lstm_128_over_168_steps_within_tolerance(hil_session, tmp_path: Path, record) -> None:
    """The tolerance's reason holds for weights at trained scale, not only PyTorch's small default init: an ONNX
    LSTM(128) with weights uniform in +-0.3 over 168 real weather steps, against onnxruntime."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from harness.models.lstm import LstmModel, to_onnx
    from harness.suites.validate import FLOAT_TOL

    model = LstmModel.random(7, [128], 1, seed=3, scale=0.3)
    W, R, B = to_onnx(model.layers[0])
    inits = [numpy_helper.from_array(a, n) for a, n in ((W, "W"), (R, "R"), (B, "B"))]
    inits += [numpy_helper.from_array(model.dense_w, "hw"), numpy_helper.from_array(model.dense_b, "hb"),
              numpy_helper.from_array(np.array([0], np.int64), "ax")]  # fmt: skip
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["xt", "W", "R", "B"], ["y", "y_h"], hidden_size=128),
        helper.make_node("Squeeze", ["y_h", "ax"], ["h"]),
        helper.make_node("Gemm", ["h", "hw", "hb"], ["out"], transB=1),
    ]
    graph = helper.make_graph(nodes, "lstm128", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 168, 7])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1])], inits)  # fmt: skip
    path = tmp_path / "lstm128_trained_scale.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = validate(hil_session, path, dataset="beijing_pm", windows=3, record=record)
    worst = max(p.max_abs for p in result.pairs.values())
    assert worst <= FLOAT_TOL, result.describe()
