"""Finishing a run folder (harness.reporting.runs) and its terminal summary (harness.reporting.summary), on real
files: a results.csv written by ResultsWriter, a junit.xml as pytest writes it with our properties, a budget file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.reporting import history, runs, summary
from harness.reporting.baselines import Budget, BudgetBook
from harness.reporting.failure_classes import PROPERTY_ATTEMPTS, PROPERTY_CLASS, PROPERTY_REASON
from harness.reporting.results import RESULTS_FILE, Record, ResultsWriter, RunInfo

JUNIT = f"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.hil.test_a" name="test_ok" file="tests/hil/test_a.py" time="0.5"/>
<testcase classname="tests.hil.test_a" name="test_link" file="tests/hil/test_a.py" time="2.0">
  <properties>
    <property name="{PROPERTY_CLASS}" value="link"/>
    <property name="{PROPERTY_REASON}" value="the serial link dropped"/>
    <property name="{PROPERTY_ATTEMPTS}" value="2"/>
  </properties>
  <failure message="LinkError: read timed out">trace</failure>
</testcase>
<testcase classname="tests.hil.test_a" name="test_skip" file="tests/hil/test_a.py" time="0">
  <skipped message="not on this board"/>
</testcase>
</testsuite></testsuites>
"""


def _run_folder(root: Path, run_id: str, values: list[float], *, junit: bool = True) -> Path:
    run_dir = root / run_id
    info = RunInfo(run_id=run_id, started="2026-12-03T00:00:00Z", git_sha="abc", board="b1")
    test, metric = "tests/hil/test_a.py::test_ok", "instructions_per_inference"
    with ResultsWriter(run_dir, info) as writer:
        for i, v in enumerate(values):
            writer.write(Record(test, "m", "d", metric, v, "instr", i))
        writer.write(Record(test, "m", "d", metric, max(values), "instr"))
    if junit:
        (run_dir / "junit.xml").write_text(JUNIT)
    return run_dir


def _budget(root: Path, expected: float) -> Path:
    directory = root / "baselines"
    BudgetBook("b1", [
        Budget(board="b1", model="m", metric="instructions_per_inference", unit="instr", expected=expected,
               pass_rel=0.01, fail_rel=0.05),
    ]).write(directory / "b1.toml")  # fmt: skip
    return directory


def test_latest_run_is_the_newest_folder_with_rows(tmp_path: Path) -> None:
    _run_folder(tmp_path, "20261203-000001", [1.0])
    _run_folder(tmp_path, "20261203-000002", [1.0])
    (tmp_path / "20261203-000003").mkdir()  # a run that measured nothing is not "the latest run"
    assert runs.latest_run(tmp_path).name == "20261203-000002"
    assert runs.find_run(tmp_path, None).name == "20261203-000002"
    assert runs.find_run(tmp_path, "20261203-000001").name == "20261203-000001"


def test_a_missing_run_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(runs.NoRunError, match="python -m harness run"):
        runs.latest_run(tmp_path / "nothing-here")
    (tmp_path / "20261203-000009").mkdir()
    with pytest.raises(runs.NoRunError, match="is '20261203-000009' a run id"):
        runs.find_run(tmp_path, "20261203-000009")


def test_finishing_a_run_without_rows_writes_only_its_meta(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    done = runs.finish_run(run_dir, tmp_path, exit_status=3, command="pytest x", browser=False)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["exit_status"] == 3 and meta["command"] == "pytest x" and meta["exit_meaning"]
    assert (done.report, done.history_file) == (None, None)
    assert not (run_dir / history.PARQUET_FILE).exists()


def test_finishing_a_run_writes_parquet_history_and_report(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path, "20261203-000001", [100.0, 101.0])
    done = runs.finish_run(run_dir, tmp_path, exit_status=0, baselines_dir=_budget(tmp_path, 101.0), browser=False)
    assert done.report is not None and done.report.is_file()
    assert "instructions_per_inference" in done.report.read_text()
    back = history.read_run(run_dir)
    assert sorted(back["value"].tolist()) == [100.0, 101.0, 101.0]
    assert len(history.read_history(tmp_path)) == 3
    # Finishing again (a rerun of `harness report`) keeps meta written before and adds nothing twice to run.json.
    runs.finish_run(run_dir, tmp_path, browser=False)
    assert json.loads((run_dir / "run.json").read_text())["exit_status"] == 0


def test_summary_names_each_failure_with_its_class_and_attempts(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path, "r", [100.0])
    text = summary.format_run(run_dir)
    assert text.splitlines()[0] == "tests: 1 passed, 1 failed, 1 skipped"
    assert "  [link] tests/hil/test_a.py::test_link (attempt 2): the serial link dropped" in text
    assert "instructions_per_inference" in text


def test_summary_gives_budget_verdicts_from_the_baselines(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path, "r", [110.0])
    text = summary.format_run(run_dir, baselines_dir=_budget(tmp_path, 100.0))
    assert "budgets: 1 fail" in text
    assert "  FAIL:" in text
    assert "budgets: 1 pass" in summary.format_run(run_dir, baselines_dir=_budget(tmp_path / "ok", 110.0))


def test_summary_of_a_run_that_measured_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "junit.xml").write_text(JUNIT)
    assert not (run_dir / RESULTS_FILE).exists()
    assert summary.format_run(run_dir).endswith("no measurements were recorded")
    assert summary.outcomes(tmp_path / "no-junit") == {}
