"""`python -m harness validate MODEL --dataset D --board host`: a whole run of the validate test, with a run folder
whose rows carry the three-way figures (the host board: built with gcc, no emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.reporting.results import read_results

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_validate_command_writes_a_run_with_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    reports = tmp_path / "reports"
    argv = ["validate", str(MODELS / "imu_mlp.onnx"), "--dataset", "basic_motions", "--board", "host", "--windows", "5"]
    code = main([*argv, "--report-dir", str(reports), "--no-browser", "--baselines", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Dense 180 -> 32" in out  # what was mapped, printed before the board starts
    (run,) = [p for p in reports.iterdir() if p.is_dir() and p.name != "history"]
    rows = read_results(run)
    metrics = set(rows["metric"])
    for pair in ("framework_vs_numpy", "numpy_vs_device", "framework_vs_device"):
        assert {f"validate_{pair}_{m}" for m in ("max_abs", "rmse", "mae", "l2r", "cos")} <= metrics
    assert "validate_accuracy_device" in metrics
    assert (rows[rows["metric"] == "validate_window_err"]["sample"].nunique()) == 5
    assert "Model files validated" in (run / "report.html").read_text(encoding="utf-8")
