"""Result rows: appended and synced one by one, read back with the right types, git SHA and run ids."""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from harness.reporting import results
from harness.reporting.results import Record, ResultsFormatError, ResultsWriter, RunInfo

INFO = RunInfo(
    run_id="20261122T031500Z-abc123",
    started="2026-11-22T03:15:00.000Z",
    git_sha="1a2b3c4",
    board="qemu-stm32f4",
    build_id="",
    toolchain="arm-none-eabi-gcc 13.2",
)


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_rows_are_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / INFO.run_id
    writer = ResultsWriter(run_dir, INFO)
    path = run_dir / "results.csv"
    assert _rows(path) == [list(results.COLUMNS)]

    writer.write(Record("test_infer", "lstm", "beijing_pm", "rmse", 0.125, "°C"))
    rows = _rows(path)
    assert len(rows) == 2
    assert dict(zip(rows[0], rows[1], strict=True)) | {"time": "-"} == {
        "run_id": INFO.run_id,
        "time": "-",
        "git_sha": "1a2b3c4",
        "board": "qemu-stm32f4",
        "build_id": "",
        "toolchain": "arm-none-eabi-gcc 13.2",
        "test": "test_infer",
        "model": "lstm",
        "dataset": "beijing_pm",
        "metric": "rmse",
        "value": "0.125",
        "unit": "°C",
        "sample": "",
    }

    # The board's build id arrives with its HELLO answer: later rows carry it, the earlier one keeps what was known.
    writer.build_id = "fw-42"
    writer.write(Record("test_infer", "lstm", "beijing_pm", "abs_err", 0.5, "°C", sample=7))
    rows = _rows(path)
    assert len(rows) == 3
    assert [r[4] for r in rows[1:]] == ["", "fw-42"]
    assert rows[2][-1] == "7"
    assert writer.info.build_id == "fw-42" and INFO.build_id == ""
    writer.close()


def test_a_second_writer_appends_without_a_second_header(tmp_path: Path) -> None:
    with ResultsWriter(tmp_path, INFO) as first:
        first.write(Record("a", "m", "d", "x", 1.0, ""))
    with ResultsWriter(tmp_path, INFO) as second:
        second.write(Record("b", "m", "d", "x", 2.0, ""))
    rows = _rows(tmp_path / "results.csv")
    assert [r[6] for r in rows] == ["test", "a", "b"]


def test_a_foreign_file_is_not_appended_to(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("when,what\n1,2\n", encoding="utf-8")
    with pytest.raises(ResultsFormatError, match="new folder"):
        ResultsWriter(tmp_path, INFO)


def test_read_results_types_and_round_trip(tmp_path: Path) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    with ResultsWriter(tmp_path, INFO) as writer:
        writer.write(Record("t1", "esn", "water-flow", "nse", -0.25, ""))
        writer.write(Record("t1", "esn", "water-flow", "nse", math.nan, ""))
        writer.write(Record("t1", "esn", "water-flow", "nse", -math.inf, "", sample=0))
        writer.write(Record("t1", "NA", "water-flow", "cycles", 123456789, "instructions", sample=3))
        # Commas, quotes and a newline inside a field: the csv module quotes them.
        writer.write(Record("t[a,b]", "lstm", "d", 'err "x", per step\nsecond line', 1 / 3, "µg/m³"))
    after = datetime.now(UTC) + timedelta(seconds=1)

    frame = results.read_results(tmp_path)
    assert list(frame.columns) == list(results.COLUMNS)
    assert len(frame) == 5
    assert frame["value"].dtype == "float64"
    assert frame["value"][0] == -0.25
    # Non-finite values are written as nan and come back as nan.
    assert math.isnan(frame["value"][1]) and math.isnan(frame["value"][2])
    assert frame["value"][3] == 123456789.0
    assert frame["value"][4] == 1 / 3  # repr round-trips a float exactly
    assert frame["sample"].isna().tolist() == [True, True, False, False, True]
    assert frame["sample"][3] == 3
    assert frame["model"][3] == "NA" and frame["build_id"][0] == ""
    assert frame["metric"][4] == 'err "x", per step\nsecond line' and frame["test"][4] == "t[a,b]"
    assert frame["unit"][4] == "µg/m³"
    assert ((frame["time"] >= before) & (frame["time"] <= after)).all()
    assert frame["time"].is_monotonic_increasing


def test_values_must_be_numbers(tmp_path: Path) -> None:
    with ResultsWriter(tmp_path, INFO) as writer:
        with pytest.raises(TypeError, match="'rmse'"):
            writer.write(Record("t", "m", "d", "rmse", "fast", ""))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="sample"):
            writer.write(Record("t", "m", "d", "rmse", 1.0, "", sample=1.5))  # type: ignore[arg-type]
    assert len(_rows(tmp_path / "results.csv")) == 1


def test_read_results_without_a_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"results\.csv"):
        results.read_results(tmp_path)


def test_run_info_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        INFO.board = "host"  # type: ignore[misc]


def test_run_ids_sort_by_start_time() -> None:
    early = results.new_run_id(datetime(2026, 11, 22, 3, 15, 0, tzinfo=UTC))
    assert re.fullmatch(r"20261122T031500Z-[0-9a-f]{6}", early)
    # A local time is converted to UTC first: 04:15 at UTC+1 is 03:15 UTC.
    local = results.new_run_id(datetime(2026, 11, 22, 4, 15, 0, tzinfo=timezone(timedelta(hours=1))))
    assert local.startswith("20261122T031500Z-")
    later = results.new_run_id(datetime(2026, 11, 22, 3, 15, 1, tzinfo=UTC))
    assert sorted([later, early]) == [early, later]
    assert results.new_run_id() != results.new_run_id()


def test_run_info_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    info = RunInfo.start(tmp_path, board="host", toolchain="gcc")
    assert info.git_sha == "unknown" and info.board == "host" and info.build_id == ""
    started = pd.Timestamp(info.started)
    assert started.tzinfo is not None and abs(pd.Timestamp.now(tz="UTC") - started) < pd.Timedelta(minutes=1)
    assert info.run_id[:8] == started.strftime("%Y%m%d")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_sha(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep git from finding a repository above tmp_path, so "not a checkout" really is one.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    assert results.git_sha(repo) == "unknown"
    assert results.git_sha(tmp_path / "does-not-exist") == "unknown"

    def git(*args: str) -> str:
        return subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    assert results.git_sha(repo) == "unknown"  # no commit yet
    (repo / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "--short", "HEAD")
    assert results.git_sha(repo) == head
    (repo / "untracked.log").write_text("noise\n")
    assert results.git_sha(repo) == head
    (repo / "a.txt").write_text("two\n")
    assert results.git_sha(repo) == f"{head}-dirty"
