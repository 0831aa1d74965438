"""harness.suites without a board: the study models train to a useful accuracy from shipped data, and the table of
every integer variant's accuracy and size (printed) holds what each format promises."""

from __future__ import annotations

import pytest

from harness.suites import quant as suite
from harness.suites import studies


def test_the_study_models_learn_their_tasks() -> None:
    imu = studies.imu_classifier()
    assert imu.val_accuracy >= 0.85
    assert imu.data.x_train.shape[1] == 180 and len(imu.data.class_names) == 4
    assert studies.imu_classifier() is imu, "trained once per process"
    el = studies.electricity_lstm()
    naive = float(((el.x_val[:, -1, 0] - el.y_val[:, 0]) ** 2).mean() ** 0.5)  # "next hour = this hour"
    assert el.val_rmse < naive, f"LSTM RMSE {el.val_rmse:.4f} does not beat persistence ({naive:.4f})"


def test_quant_report(capsys: pytest.CaptureFixture[str], record_property) -> None:
    rows = suite.quant_report()
    table = suite.format_report(rows)
    with capsys.disabled():
        print(f"\n{table}\n(gesture study: {studies.STUDY_ACCURACY:.2%} on its own data)")
    record_property("quant_report", table)
    by = {(r.model.split("_")[0], r.variant): r for r in rows}
    assert len(rows) == 2 * len(suite.VARIANTS)
    f32 = by["imu", "float32"]
    assert f32.value >= 0.85, "the float classifier itself must classify"
    for variant in ("int8", "int16", "qmn", "kmeans-f4", "kmeans-f8"):
        assert by["imu", variant].value >= f32.value - 0.03, variant
        assert by["electricity", variant].value <= 1.3 * by["electricity", "float32"].value, variant
    # Sizes: int8 weights are a quarter of float32's plus per-row requantization; Q m.n half; k-means shrinks
    # with the factor (the 256-entry codebooks make factor 4 no smaller than plain int8).
    for model in ("imu", "electricity"):
        assert by[model, "int8"].vs_float32 < 0.4
        assert 0.45 < by[model, "qmn"].vs_float32 < 0.55
        sizes = [by[model, f"kmeans-f{f}"].param_bytes for f in (4, 8, 16)]
        assert sizes == sorted(sizes, reverse=True)
        assert by[model, "kmeans-f16"].param_bytes < by[model, "int8"].param_bytes / 1.9
