"""The importers on the shipped model files (tests/models, made by the frameworks) and on files they must refuse.

Framework vs numpy reference on real windows: the importer read the file as its framework runs it."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.importers import FrameworkMissing, ImportRefused, importers, load_model, reference_for
from harness.importers.tflite_file import quantize_multiplier
from harness.suites.validate import FLOAT_TOL, INT8_LSTM_FRAMEWORK_CODES, inputs_for, numpy_reference

MODELS = Path(__file__).resolve().parents[1] / "models"

# (file, dataset, kind of model it must map to)
SHIPPED = [
    ("weather_lstm2x16.onnx", "beijing_pm", "LstmModel"),
    ("imu_mlp.onnx", "basic_motions", "MlpModel"),
    ("electricity_lstm16.tflite", "electricity_hourly", "LstmModel"),
    ("imu_mlp_int8.tflite", "basic_motions", "QMlp"),
    ("electricity_lstm16_int8.tflite", "electricity_hourly", "QLstm"),
    ("electricity_lstm16.keras", "electricity_hourly", "LstmModel"),
    ("weather_lstm2x16.pt", "beijing_pm", "LstmModel"),
]


def test_every_format_has_an_importer() -> None:
    assert {".onnx", ".tflite", ".keras", ".pt"} <= set(importers())


@pytest.mark.parametrize(("name", "dataset", "kind"), SHIPPED, ids=[s[0] for s in SHIPPED])
def test_framework_and_numpy_reference_agree(name: str, dataset: str, kind: str) -> None:
    try:
        model = load_model(MODELS / name)
        ref = reference_for(MODELS / name)
    except FrameworkMissing as exc:
        pytest.skip(str(exc))
    assert type(model.model).__name__ == kind
    inputs = inputs_for(model, dataset, 24)
    X = model.model.input.quantize(inputs.X) if model.quantized else inputs.X
    ours = numpy_reference(model, X)
    theirs = ref.run(X)
    if kind == "QLstm":  # LiteRT's own int16 sigmoid/tanh: a few codes apart (INT8_LSTM_FRAMEWORK_CODES' reason)
        gap = np.abs(ours.astype(np.int64) - theirs.astype(np.int64))
        assert 0 < gap.max() <= INT8_LSTM_FRAMEWORK_CODES
        return
    if model.quantized:  # the integer arithmetic must be LiteRT's: every code equal
        np.testing.assert_array_equal(ours, theirs)
        return
    from harness.importers import finish

    ours = finish(ours, model.final_activation)
    scale = max(1.0, float(np.abs(theirs).max()))
    assert np.abs(ours - theirs).max() <= FLOAT_TOL * scale


def test_int8_model_maps_the_files_own_scales() -> None:
    model = load_model(MODELS / "imu_mlp_int8.tflite")
    first = model.model.layers[0]
    assert model.model.input.zero_point == first.in_zp
    assert first.multiplier.min() >= 1 << 30  # LiteRT's multipliers are normalised to [2^30, 2^31)
    assert len(set(first.multiplier.tolist())) > 1  # per-channel scales: one multiplier per row


@pytest.mark.parametrize(
    ("real", "expected"),
    [(0.5, (1 << 30, 0)), (0.25, (1 << 30, -1)), (1.0, (1 << 30, 1)), (0.0, (0, 0)), (2.0**-40, (0, 0))],
)
def test_quantize_multiplier_as_litert(real: float, expected: tuple[int, int]) -> None:
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_up_to_the_next_power() -> None:
    # frac * 2^31 rounds to 2^31: LiteRT halves it and raises the shift
    assert quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)


# ------------------------------------------------------------------------------------------------- refusals


def _onnx_lstm(tmp_path: Path, **attrs: object) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    h, n_in = 4, 3
    extra_inputs = attrs.pop("extra_inputs", {})
    inits = [
        numpy_helper.from_array(rng.normal(size=(1, 4 * h, n_in)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(size=(1, 4 * h, h)).astype(np.float32), "R"),
        numpy_helper.from_array(np.zeros((1, 8 * h), np.float32), "B"),
    ]
    names = ["xt", "W", "R", "B", "", "", "", ""]
    for slot, arr in extra_inputs.items():
        inits.append(numpy_helper.from_array(arr, f"in{slot}"))
        names[slot] = f"in{slot}"
    while names and names[-1] == "":
        names.pop()
    # batch-major input turned time-major, as exporters do
    front = helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2])
    node = helper.make_node("LSTM", names, ["y", "y_h"], hidden_size=h, **attrs)
    squeeze_axes = numpy_helper.from_array(np.array([0], np.int64), "axes0")
    out = helper.make_node("Squeeze", ["y_h", "axes0"], ["out"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, n_in])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, h])
    graph = helper.make_graph([front, node, out], "g", [x], [y], [*inits, squeeze_axes])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_plain_lstm_is_taken(tmp_path: Path) -> None:
    model = load_model(_onnx_lstm(tmp_path))
    assert model.model.output_size == 4  # no head: the last h through an identity head


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        ({"clip": 3.0}, "clip=3.0"),
        ({"direction": "bidirectional"}, "direction"),
        ({"input_forget": 1}, "input_forget"),
        ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations"),
        ({"extra_inputs": {7: np.ones((1, 12), np.float32)}}, "peephole"),
        ({"extra_inputs": {5: np.ones((1, 1, 4), np.float32)}}, "initial_h is not zero"),
    ],
    ids=["clip", "bidirectional", "input_forget", "activations", "peephole", "initial_h"],
)
def test_onnx_lstm_attributes_the_device_lacks_are_refused(tmp_path: Path, attrs: dict, words: str) -> None:
    with pytest.raises(ImportRefused, match=words) as info:
        load_model(_onnx_lstm(tmp_path, **attrs))
    assert "LSTM at node 1" in str(info.value)  # the operator and its position


def test_onnx_unknown_operator_is_named_with_its_position(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("LeakyRelu", ["a"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])  # fmt: skip
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ImportRefused, match=r"LeakyRelu at node 1 .*no device counterpart"):
        load_model(path)


def _edited_keras(tmp_path: Path, edit) -> Path:
    src = MODELS / "electricity_lstm16.keras"
    dst = tmp_path / "edited.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    return dst


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [("go_backwards", True, "go_backwards"), ("recurrent_activation", "hard_sigmoid", "recurrent_activation")],
)
def test_keras_lstm_options_the_device_lacks_are_refused(tmp_path: Path, key: str, value: object, words: str) -> None:
    def edit(config: dict) -> None:
        config["config"]["layers"][1]["config"][key] = value

    with pytest.raises(ImportRefused, match=rf"LSTM layer 1 \(lstm\): {words}"):
        load_model(_edited_keras(tmp_path, edit))


def test_keras_dense_activation_the_device_lacks_is_refused(tmp_path: Path) -> None:
    def edit(config: dict) -> None:
        config["config"]["layers"][2]["config"]["activation"] = "gelu"

    with pytest.raises(ImportRefused, match=r"Dense layer 2 \(dense\): activation 'gelu'"):
        load_model(_edited_keras(tmp_path, edit))


def test_torch_bidirectional_state_dict_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    lstm = torch.nn.LSTM(3, 4, bidirectional=True)
    sd = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    sd |= {"head.weight": torch.zeros(1, 8), "head.bias": torch.zeros(1)}
    torch.save(sd, tmp_path / "bi.pt")
    with pytest.raises(ImportRefused, match="bidirectional"):
        load_model(tmp_path / "bi.pt")


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "m.h5").write_bytes(b"x")
    with pytest.raises(ImportRefused, match=r"no importer for '\.h5'"):
        load_model(tmp_path / "m.h5")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_model(tmp_path / "absent.onnx")


def test_not_a_tflite_file(tmp_path: Path) -> None:
    shutil.copy(MODELS / "imu_mlp.onnx", tmp_path / "fake.tflite")
    with pytest.raises(ImportRefused, match="not a TFLite flatbuffer"):
        load_model(tmp_path / "fake.tflite")


# ---------------------------------------------------------------------------------------------- data and CLI


def test_a_users_csv_gives_windows_and_labels(tmp_path: Path) -> None:
    from harness.suites.validate import ValidationError

    rng = np.random.default_rng(1)
    rows = 300
    frame = {f"c{k}": rng.normal(size=rows) for k in range(7)}
    frame["label"] = np.where(np.arange(rows) % 2 == 0, "walk", "run")
    import pandas as pd

    csv = tmp_path / "mine.csv"
    pd.DataFrame(frame).to_csv(csv, index=False)
    model = load_model(MODELS / "weather_lstm2x16.pt")  # any steps: 24 per window
    inputs = inputs_for(model, str(csv), 10)
    assert inputs.X.shape == (10, 24, 7)
    assert set(inputs.labels.tolist()) <= {0, 1}
    np.testing.assert_array_equal(inputs.X[0], pd.read_csv(csv).iloc[:24, :7].to_numpy(np.float32))
    pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)}).to_csv(csv, index=False)
    with pytest.raises(ValidationError, match=r"takes \[T, 7\] but mine.csv .* gives 2 values per step"):
        inputs_for(model, str(csv), 10)


def test_validate_refuses_a_file_before_starting_a_board(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    (tmp_path / "m.tflite").write_bytes(b"not a model at all")
    code = main(["validate", str(tmp_path / "m.tflite"), "--dataset", "beijing_pm", "--report-dir", str(tmp_path)])
    assert code == 2
    assert "not a TFLite flatbuffer" in capsys.readouterr().err
    assert not any(tmp_path.glob("2*")), "no run folder for a refused file"


def test_keras_functional_chain_of_stacked_lstms(tmp_path: Path) -> None:
    from harness.importers.keras_file import _pick_backend

    _pick_backend()
    keras = pytest.importorskip("keras")
    from harness.importers import finish
    from harness.models import lstm

    keras.utils.set_random_seed(1)
    inp = keras.Input((12, 3))
    x = keras.layers.LSTM(8, return_sequences=True)(inp)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.LSTM(8)(x))
    keras.Model(inp, out).save(tmp_path / "chain.keras")
    model = load_model(tmp_path / "chain.keras")
    assert model.model.hidden_sizes == (8, 8) and model.final_activation == "softmax"
    X = np.random.default_rng(0).normal(size=(4, 12, 3)).astype(np.float32)
    ours = finish(np.stack([lstm.forward(model.model, x) for x in X]), model.final_activation)
    assert np.abs(ours - reference_for(tmp_path / "chain.keras").run(X)).max() <= FLOAT_TOL

    skip = keras.layers.Add()([keras.layers.Dense(3)(keras.layers.Flatten()(inp)), keras.layers.Dense(3)(out)])
    keras.Model(inp, skip).save(tmp_path / "branch.keras")
    with pytest.raises(ImportRefused, match="only a chain of layers is mapped"):
        load_model(tmp_path / "branch.keras")
