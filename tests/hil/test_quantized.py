"""Quantized inference on the device: every integer variant BIT-EXACT against its numpy integer reference, and the
results table (bytes, RAM, instructions, accuracy) per model and variant as result rows.

Models and variants: harness/suites/quant.py (the IMU classifier 180-50-15-4 on BasicMotions test windows, the
electricity LSTM(32) on held-out test windows; float32, int16, int8, Q m.n, k-means factors 4, 8, 16). The host
quantizes inputs (int8: a quarter of the float32 bytes on the wire) and dequantizes outputs; the device sees
integers only. Integer outputs are compared for exact equality, window by window; float32 outputs within a tolerance
whose reason is written beside it.

Rows per (model, variant), model = "<model>:<variant>": param_bytes, param_bytes_vs_float32, input_bytes_per_inference,
arena_high_water and stack_high_water (from a fresh boot: this variant alone), instructions_per_inference and
instructions_per_mac (exact counters; other boards record latency in their unit), exact_mismatched_windows or
max_abs_err_vs_ref, and quality against ground truth and against the float model: accuracy and
agreement_with_float32 (IMU, beside source_study_accuracy = the gesture study's 0.9167), mae/rmse and
mae_vs_float32/rmse_vs_float32 (electricity, min-max scaled units).
"""

from __future__ import annotations

import dataclasses
import logging
import struct

import numpy as np
import pytest

from harness.models import quant
from harness.proto import wire
from harness.proto.client import Client, DeviceError
from harness.proto.wire import Status
from harness.session import BoardSession
from harness.suites import quant as qs
from harness.suites import studies

progress = logging.getLogger("harness.progress")  # shown live by `python -m harness run`, quiet otherwise

# Windows per model. quick keeps a QEMU board near a minute for all 14 variants (int8 windows go 4 in flight); full
# scores the IMU on all 320 test windows and the forecast on 1000 spread over the test split (~3,900).
WINDOWS = {"quick": {qs.IMU: 64, qs.ELECTRICITY: 64}, "full": {qs.IMU: None, qs.ELECTRICITY: 1000}}

# float32 tolerances (integer variants have none: they are compared exactly).
# IMU MLP: device and numpy both compute in float32 but sum the 180 products of the first layer in different orders
# (four accumulators, VFMA on the M4F; soft-float on the M3; BLAS on the host); the logits reach |26| where one ulp is
# 1.9e-6. Measured max |device - reference| over all 320 test windows: 7.6e-6 (qemu-stm32f4), 6.4e-6 (qemu-cm3). 1e-4
# leaves a factor 13 while a kernel fault (a wrong weight row, a skipped ReLU, a layer off by one) moves logits by 1e-2
# or more. Electricity LSTM: as tests/hil/test_lstm_inference.py (outputs O(0.1..1), a few ulp); measured <= 1.8e-7
# over 1000 windows on both QEMU boards.
FLOAT_ATOL = {qs.IMU: 1e-4, qs.ELECTRICITY: 1e-6}

# Quality floors of the quantization itself (the device is bit-exact to the reference, so these catch a quantizer or
# calibration regression, not a device fault). Measured on the quick windows: every IMU variant agrees with the float
# model's class on 100% of windows except the 2-bit k-means (87.5%); forecast RMSE against the float model 0.0002
# (Q m.n) to 0.0033 (k-means f4), 0.017 (f8), 0.063 (f16), in scaled units where the forecast's own RMSE is ~0.03.
# Each bound sits a factor ~2-3 beyond what was measured.
AGREEMENT_FLOOR = {"kmeans-f16": 0.7}  # others: 0.95
RMSE_VS_FLOAT_CEIL = {"kmeans-f8": 0.04, "kmeans-f16": 0.15}  # others: 0.01


def _params() -> list:
    marks = {(m, v): pytest.mark.hil_requires(qs.capability(m, v)) for m in qs.MODELS for v in qs.VARIANTS}
    return [pytest.param(m, v, marks=mark, id=f"{m}:{v}") for (m, v), mark in marks.items()]


@pytest.fixture(scope="session")
def quant_windows(pytestconfig: pytest.Config) -> dict[str, int | None]:
    return WINDOWS[pytestconfig.getoption("--hil-size")]


@pytest.mark.parametrize("model,variant", _params())
def test_variant_on_device(model: str, variant: str, hil_session: BoardSession, record, quant_windows) -> None:
    case = qs.case(model, variant)
    ev = qs.eval_set(model, quant_windows[model])
    run = qs.run_case(hil_session, case, ev)
    hello = hil_session.hello
    assert hello is not None
    name, dataset = case.name, qs.DATASET[model]
    progress.info("%s %s: %d windows, %s %s per inference", hil_session.board.name, name, len(ev.X),
                  f"{run.per_inference:,.0f}", run.unit)  # fmt: skip

    # what the device was given and what it said about it
    assert run.info.kind == case.blob[6], f"device bound kind 0x{run.info.kind:02x}, the blob says 0x{case.blob[6]:02x}"
    assert run.info.model_bytes == len(case.blob)
    assert (run.info.input_size, run.info.output_size) == (ev.X.shape[-1], case.float_model.output_size)
    wire_dtype = np.dtype(wire.MODEL_KINDS[run.info.kind].dtype)
    assert run.outputs.dtype == wire_dtype.newbyteorder("="), "outputs came back in another type than the kind's"

    # the results table
    record("param_bytes", len(case.blob), "B", model=name)
    record("param_bytes_vs_float32", len(case.blob) / case.float_blob_bytes, "1", model=name)
    record("input_bytes_per_inference", ev.X[0].size * wire_dtype.itemsize, "B", model=name, dataset=dataset)
    record("arena_high_water", run.stats.arena_high_water, "B", model=name)
    if "stack_paint" in hello.capability_names:
        record("stack_high_water", run.stats.stack_high_water, "B", model=name)
    if "exact_counter" in hello.capability_names:
        record("instructions_per_inference", run.per_inference, "instructions", model=name, dataset=dataset)
        record("instructions_per_mac", run.per_inference / case.macs, "instructions", model=name, dataset=dataset)
    else:
        record(f"latency_{run.unit}", run.per_inference, run.unit, model=name, dataset=dataset)
    record("windows", len(ev.X), "1", model=name, dataset=dataset)
    quality = qs.scores(model, ev, case.decode(run.outputs))
    for metric, (value, unit) in quality.items():
        record(metric, value, unit, model=name, dataset=dataset)
    if model == qs.IMU:
        record("source_study_accuracy", studies.STUDY_ACCURACY, "1", model=name, dataset="gesture study (own data)")

    # the device matches its reference: integers exactly, floats within FLOAT_ATOL
    if run.exact:
        bad = run.mismatched_windows
        record("exact_mismatched_windows", len(bad), "1", model=name, dataset=dataset)
        assert len(bad) == 0, (
            f"{len(bad)} of {len(ev.X)} windows differ from the integer reference; first, window {bad[0]}: device "
            f"{run.outputs[bad[0]].tolist()} vs reference {run.expected[bad[0]].tolist()}"
        )
    else:
        err = run.max_abs_err
        record("max_abs_err_vs_ref", err, "1", model=name, dataset=dataset)
        assert err <= FLOAT_ATOL[model], f"float32 device differs from the reference by {err:.3g}"

    # the arena held this model alone: blob, bound model and scratch reserved at commit, inputs inline
    assert run.stats.arena_high_water == run.info.arena_used, "something allocated in the arena after MODEL_COMMIT"
    assert run.info.arena_used <= hello.arena_bytes

    # quality of the quantization (the float32 row is the float model itself)
    if variant != "float32" and model == qs.IMU:
        floor = AGREEMENT_FLOOR.get(variant, 0.95)
        assert quality["agreement_with_float32"][0] >= floor, f"{name} agrees with the float model below {floor}"
    if variant != "float32" and model == qs.ELECTRICITY:
        ceil = RMSE_VS_FLOAT_CEIL.get(variant, 0.01)
        assert quality["rmse_vs_float32"][0] <= ceil, f"{name} strays from the float model by RMSE > {ceil}"


# ------------------------------------------------------------------------------------------------ the protocol


def _deploy(hil_session: BoardSession, model: str, variant: str) -> tuple[qs.QuantCase, Client]:
    case = qs.case(model, variant)
    dep = hil_session.deploy_blob(case.blob, where="arena")
    return case, dep.client


@pytest.mark.hil_requires("quant_s8")
def test_int8_input_takes_a_quarter_of_the_float_bytes(hil_session: BoardSession) -> None:
    """The INFER payload of the int8 IMU classifier is 4 + 180 B, against 4 + 720 B for float32; a float-sized payload
    is refused with the element size in the reason, never read as 4x the values."""
    case, client = _deploy(hil_session, qs.IMU, "int8")
    xq = case.encode(qs.eval_set(qs.IMU, 4).X[:1])[0]
    sent = client.counters.bytes_sent
    client.infer(xq)
    int8_bytes = client.counters.bytes_sent - sent
    assert int8_bytes < 4 + 180 + 24, f"an int8 INFER frame took {int8_bytes} B on the wire"  # + header, CRC, COBS
    with pytest.raises(DeviceError) as err:
        client.request(wire.HIL_OP_INFER, struct.pack("<HBB", 1, 0, 0) + xq.astype("<f4").tobytes())
    assert err.value.status is Status.HIL_ERR_SHAPE_MISMATCH
    assert "1x720 1-byte values" in err.value.reason and "180" in err.value.reason, err.value.reason


@pytest.mark.hil_requires("quant_s8")
def test_mlp_takes_one_vector(hil_session: BoardSession) -> None:
    case, client = _deploy(hil_session, qs.IMU, "int8")
    xq = case.encode(qs.eval_set(qs.IMU, 4).X[:2])
    with pytest.raises(DeviceError) as err:
        client.infer(xq)  # [2, 180]: two steps
    assert err.value.status is Status.HIL_ERR_SHAPE_MISMATCH and "one vector" in err.value.reason


@pytest.mark.hil_requires("quant_s16")
def test_client_encodes_in_the_loaded_kind(hil_session: BoardSession) -> None:
    """The client refuses floats for an integer model (quantize first) and integers beyond the kind's type, before
    anything reaches the device; int16 outputs come back as int16."""
    case, client = _deploy(hil_session, qs.ELECTRICITY, "int16")
    assert client.model is not None and client.model.kind == wire.HIL_MODEL_LSTM_S16
    x = qs.eval_set(qs.ELECTRICITY, 4).X[0]
    sent = client.counters.frames_sent
    with pytest.raises(TypeError, match="quantize"):
        client.infer(x)
    with pytest.raises(ValueError, match="outside int16"):
        client.infer(np.full(x.shape, 40000, dtype=np.int32))
    assert client.counters.frames_sent == sent
    result = client.infer(case.encode(x))
    assert result.outputs.dtype == np.int16
    np.testing.assert_array_equal(result.outputs, case.reference(case.encode(x)[np.newaxis])[0])


@pytest.mark.hil_requires("quant_q15")
def test_quantized_lstm_all_steps_is_exact(hil_session: BoardSession) -> None:
    case, client = _deploy(hil_session, qs.ELECTRICITY, "qmn")
    assert isinstance(case.qmodel, quant.Q15Lstm)
    xq = case.encode(qs.eval_set(qs.ELECTRICITY, 4).X[1])
    result = client.infer(xq, all_steps=True)
    ref = quant.lstm_forward(case.qmodel, xq, all_steps=True)
    assert result.outputs.shape == ref.shape == (qs.WINDOW_STEPS, 1)
    np.testing.assert_array_equal(result.outputs, ref)
    np.testing.assert_array_equal(result.outputs[-1], client.infer(xq).outputs)


@pytest.mark.hil_requires("quant_s8", "lstm_train_f32")
def test_quantized_model_cannot_train(hil_session: BoardSession) -> None:
    from harness.proto.client import TrainConfig

    _, client = _deploy(hil_session, qs.ELECTRICITY, "int8")
    with pytest.raises(DeviceError) as err:
        client.train_config(TrainConfig(steps=qs.WINDOW_STEPS), query=True)
    assert err.value.status is Status.HIL_ERR_BAD_MODEL and "LSTM_S8" in err.value.reason
    with pytest.raises(DeviceError) as err:
        client.read_tensor("params", 4)
    assert err.value.status is Status.HIL_ERR_BAD_MODEL


def test_unknown_kind_is_refused(hil_session: BoardSession) -> None:
    client = hil_session.open(hil_session.image)
    blob = bytearray(qs.case(qs.IMU, "int8").blob)
    blob[6] = 0x7E
    with pytest.raises(DeviceError) as err:
        client.load_model(bytes(blob))
    assert err.value.status is Status.HIL_ERR_BAD_MODEL and "0x7e unknown" in err.value.reason, err.value.reason
    assert client.model is None


@pytest.mark.hil_requires("quant_s8")
def test_quantized_model_compiled_into_flash(hil_session: BoardSession, record) -> None:
    """MODEL_BUILTIN binds by the blob's kind too: the int8 LSTM compiled into the image, bit-exact from flash, with
    only its bound model and scratch in the arena."""
    if hil_session.link_url is not None:
        pytest.skip("a board reached through --hil-link is not built or flashed by this run")
    case = qs.case(qs.ELECTRICITY, "int8")
    dep = hil_session.deploy_blob(case.blob, where="flash")
    assert dep.where == "flash" and dep.info.kind == wire.HIL_MODEL_LSTM_S8
    assert dep.info.arena_used < len(case.blob), "a built-in model is bound in place, never copied into the arena"
    xw = case.encode(qs.eval_set(qs.ELECTRICITY, 8).X)
    outputs = np.stack([r.outputs for r in dep.client.infer_many(xw)])
    np.testing.assert_array_equal(outputs, case.reference(xw))
    record("arena_used_model_in_flash", dep.info.arena_used, "B", model=case.name)


@pytest.mark.hil_requires("quant_s8")
def test_one_lsb_off_is_caught(hil_session: BoardSession) -> None:
    """The exact comparison has teeth: an int8 IMU classifier whose first output's bias is one output LSB higher runs
    bit-exact against its own reference and differs from the unchanged reference by exactly one LSB on that output."""
    case = qs.case(qs.IMU, "int8")
    qm = case.qmodel
    assert isinstance(qm, quant.QMlp)
    head = qm.layers[-1]
    lsb = round(2.0 ** (31 - int(head.shift[0])) / int(head.multiplier[0]))  # one output step in bias units
    bias = head.bias.copy()
    bias[0] += lsb
    nudged = dataclasses.replace(qm, layers=[*qm.layers[:-1], dataclasses.replace(head, bias=bias)])
    client = hil_session.deploy_blob(quant.to_blob(nudged), where="arena").client
    xw = case.encode(qs.eval_set(qs.IMU, 16).X)
    outputs = np.stack([r.outputs for r in client.infer_many(xw)])
    np.testing.assert_array_equal(outputs, quant.mlp_forward(nudged, xw))
    diff = outputs.astype(np.int64) - case.reference(xw).astype(np.int64)
    unclamped = case.reference(xw)[:, 0] < head.act_max
    assert np.all(diff[:, 1:] == 0) and np.all(diff[unclamped, 0] == 1), diff.tolist()
