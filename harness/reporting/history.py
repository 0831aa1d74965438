"""Run rows as Parquet, and the history of runs: one Parquet file per run in ``<report root>/history/``.

``pd.read_parquet("reports/history")`` reads every run in one call (pyarrow reads a folder as one dataset).
Appending a run writes one new file and never rewrites the others, so two runs that finish together cannot lose
each other's rows, and a run appended twice (a rebuilt report) just replaces its own file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.reporting.results import COLUMNS, RESULTS_FILE, read_results

__all__ = ["HISTORY_COLUMNS", "HISTORY_DIR", "PARQUET_FILE", "SCHEMA", "append", "read_history", "read_run",
           "write_parquet"]  # fmt: skip

PARQUET_FILE = "results.parquet"
HISTORY_DIR = "history"

# One schema for every file, so a folder of them is one table whatever each run happened to record.
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("time", pa.timestamp("ms", tz="UTC")),
        ("git_sha", pa.string()),
        ("board", pa.string()),
        ("build_id", pa.string()),
        ("toolchain", pa.string()),
        ("test", pa.string()),
        ("model", pa.string()),
        ("dataset", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("sample", pa.int64()),
        # False: the run was killed before it finished (its rows up to then; runs.recover_abandoned appended it)
        ("run_complete", pa.bool_()),
    ]
)
HISTORY_COLUMNS = (*COLUMNS, "run_complete")
assert tuple(SCHEMA.names) == HISTORY_COLUMNS, "history schema: the results columns, then run_complete"


def _table(frame: pd.DataFrame, *, complete: bool = True) -> pa.Table:
    frame = frame.copy()
    frame["run_complete"] = complete
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ms, UTC]")
    arrays = [
        pa.array(frame[name].to_numpy(dtype=_NUMPY_TYPES.get(field.type, object)), type=field.type, from_pandas=True)
        if name != "time"
        else pa.array(frame[name], type=field.type)
        for name, field in zip(SCHEMA.names, SCHEMA, strict=True)
    ]  # fmt: skip
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


_NUMPY_TYPES = {pa.float64(): "float64", pa.bool_(): "bool"}


def _write_atomically(table: pa.Table, path: Path) -> None:
    # A dot-file is ignored by pyarrow's folder reader, so a half-written file never shows up in the history.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_parquet(run_dir: Path | str, *, complete: bool = True) -> Path:
    """``run_dir/results.parquet`` from ``results.csv``: the same rows and columns, typed (and run_complete)."""
    run_dir = Path(run_dir)
    path = run_dir / PARQUET_FILE
    _write_atomically(_table(read_results(run_dir), complete=complete), path)
    return path


def _from_table(table: pa.Table, columns: tuple[str, ...] = COLUMNS) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["sample"] = frame["sample"].astype("Int64")
    # files written before the column existed hold runs that finished
    frame["run_complete"] = frame["run_complete"].astype("boolean").fillna(True).astype(bool)
    for name in COLUMNS:
        if SCHEMA.field(name).type == pa.string():
            frame[name] = frame[name].fillna("").astype(str)
    return frame[list(columns)]


def read_run(run_dir: Path | str) -> pd.DataFrame:
    """A run's rows: from results.csv, which is written as the run goes (Parquet is made from it at the end)."""
    run_dir = Path(run_dir)
    if (run_dir / RESULTS_FILE).is_file():
        return read_results(run_dir)
    if (run_dir / PARQUET_FILE).is_file():
        return _from_table(pq.read_table(run_dir / PARQUET_FILE, schema=SCHEMA))
    raise FileNotFoundError(f"no {RESULTS_FILE} or {PARQUET_FILE} in {run_dir}; is it a run folder?")


def append(run_dir: Path | str, report_root: Path | str, *, complete: bool = True) -> Path:
    """Add a run to the history under ``report_root``; returns the file written. ``complete=False``: the run was
    killed before it finished, and these are the rows it wrote until then."""
    run_dir = Path(run_dir)
    history = Path(report_root) / HISTORY_DIR
    history.mkdir(parents=True, exist_ok=True)
    path = history / f"{run_dir.name}.parquet"
    _write_atomically(_table(read_run(run_dir), complete=complete), path)
    return path


def read_history(report_root: Path | str) -> pd.DataFrame:
    """Every run appended under ``report_root`` (empty with the right columns when there is none), with
    ``run_complete`` saying which runs were killed before they finished."""
    folder = Path(report_root) / HISTORY_DIR
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return _from_table(SCHEMA.empty_table(), HISTORY_COLUMNS)
    return _from_table(pq.read_table(folder, schema=SCHEMA), HISTORY_COLUMNS)
