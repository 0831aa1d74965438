"""`python -m harness run PATH...`: the user's own test files, anywhere, run alone (not added to the whole suite),
with the run folder, rows and report of any run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.cli import _split_targets, main
from harness.reporting.results import read_results

MY_TESTS = """
def test_my_model(record):
    record("my_error", 0.25, "1", model="my_lstm", dataset="my_data")

def test_my_other_model(record):
    record("my_error", 0.5, "1", model="my_mlp", dataset="my_data")
"""


def test_paths_are_made_absolute_and_the_rest_goes_to_pytest(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "test_a.py").write_text("def test_x():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    paths, rest = _split_targets(["mine", "mine/test_a.py::test_x", "-x", "-k", "mine"])
    assert paths == [str(tmp_path / "mine"), f"{tmp_path / 'mine' / 'test_a.py'}::test_x"]
    assert rest == ["-x", "-k", "mine"]
    assert _split_targets(["-x", "mine"]) == ([], ["-x", "mine"]), "after a pytest option, words are its arguments"
    assert _split_targets(["no_such_dir"]) == ([], ["no_such_dir"])


def test_a_users_test_file_runs_alone_into_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "elsewhere" / "test_mine.py"
    mine.parent.mkdir()
    mine.write_text(MY_TESTS)
    reports = tmp_path / "reports"
    code = main(["run", str(mine), "--report-dir", str(reports), "--no-browser", "--baselines", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert code == 0, out
    (run_dir,) = [p for p in reports.iterdir() if p.is_dir() and p.name != "history"]
    cases = list(ET.parse(run_dir / "junit.xml").getroot().iter("testcase"))
    assert sorted(c.get("name") for c in cases) == ["test_my_model", "test_my_other_model"], "only the user's tests"
    rows = read_results(run_dir)
    assert sorted(rows["model"].unique()) == ["my_lstm", "my_mlp"]
    assert json.loads((run_dir / "run.json").read_text())["exit_status"] == 0
    assert (run_dir / "report.html").is_file()
    assert f"HIL run {run_dir.name}: {mine}" in out
