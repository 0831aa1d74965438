"""Run rows as Parquet (the same table as the CSV) and the history folder pandas reads in one call."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.reporting import history
from harness.reporting.results import COLUMNS, Record, ResultsWriter, RunInfo, read_results


def _run(root: Path, run_id: str, value: float) -> Path:
    info = RunInfo(run_id, "2026-11-22T00:00:00.000Z", "abc1234", board="host", toolchain="cc 12")
    with ResultsWriter(root / run_id, info) as writer:
        writer.write(Record("t.py::test_a[host]", "lstm32x24", "beijing_pm", "model_bytes", value, "B"))
        writer.write(Record("t.py::test_a[host]", "lstm32x24", "beijing_pm", "latency_ns", 61_000.5, "ns", sample=0))
        writer.write(Record("t.py::test_a[host]", "NA", "", "x", float("nan"), "", sample=1))
    return root / run_id


def test_parquet_holds_the_same_table_as_the_csv(tmp_path: Path) -> None:
    run = _run(tmp_path, "20261122T010000Z-aaaaaa", 20636)
    path = history.write_parquet(run)
    assert path == run / history.PARQUET_FILE
    csv_rows = read_results(run)
    parquet_rows = pd.read_parquet(path)
    assert list(parquet_rows.columns) == [*csv_rows.columns, "run_complete"]
    assert parquet_rows["run_complete"].all()
    pd.testing.assert_series_equal(parquet_rows["value"], csv_rows["value"])
    assert parquet_rows["sample"].tolist()[1:] == [0, 1] and pd.isna(parquet_rows["sample"][0])
    assert (parquet_rows["time"] == csv_rows["time"]).all()
    assert parquet_rows["model"].tolist() == ["lstm32x24", "lstm32x24", "NA"]  # "NA" stays text


def test_history_is_one_read_parquet_call(tmp_path: Path) -> None:
    first = _run(tmp_path, "20261122T010000Z-aaaaaa", 20636)
    second = _run(tmp_path, "20261123T010000Z-bbbbbb", 20640)
    history.append(first, tmp_path)
    history.append(second, tmp_path)
    history.append(second, tmp_path)  # appending a run again replaces its file, never duplicates it
    rows = pd.read_parquet(tmp_path / history.HISTORY_DIR)
    assert sorted(set(rows["run_id"])) == [first.name, second.name]
    assert len(rows) == 6
    sizes = rows[rows["metric"] == "model_bytes"].sort_values("run_id")["value"].tolist()
    assert sizes == [20636, 20640]
    typed = history.read_history(tmp_path)
    assert typed["sample"].dtype == "Int64" and len(typed) == 6


def test_no_history_is_an_empty_table(tmp_path: Path) -> None:
    empty = history.read_history(tmp_path)
    assert empty.empty and list(empty.columns) == [*COLUMNS, "run_complete"]


def test_a_killed_run_is_in_the_history_marked_incomplete(tmp_path: Path) -> None:
    finished = _run(tmp_path, "20261122T010000Z-aaaaaa", 20636)
    killed = _run(tmp_path, "20261123T010000Z-bbbbbb", 20640)
    history.append(finished, tmp_path)
    history.append(killed, tmp_path, complete=False)
    rows = history.read_history(tmp_path)
    by_run = rows.groupby("run_id")["run_complete"].agg(set).to_dict()
    assert by_run == {finished.name: {True}, killed.name: {False}}
