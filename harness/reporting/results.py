"""Result rows of a run: one CSV row per measurement, appended and synced as it is taken.

A run folder ``reports/<run_id>/`` gets ``results.csv``. Each :meth:`ResultsWriter.write` appends one complete row
and fsyncs it, so a run that crashes, hangs or is killed keeps every measurement it took up to that point.
"""

from __future__ import annotations

import csv
import fcntl
import io
import math
import os
import secrets
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pandas as pd

__all__ = [
    "COLUMNS",
    "RESULTS_FILE",
    "Record",
    "ResultsFormatError",
    "ResultsWriter",
    "RunInfo",
    "git_sha",
    "new_run_id",
    "read_results",
    "utc_now",
]

RESULTS_FILE = "results.csv"
COLUMNS = (
    "run_id",
    "time",
    "git_sha",
    "board",
    "build_id",
    "toolchain",
    "test",
    "model",
    "dataset",
    "metric",
    "value",
    "unit",
    "sample",
)
_TEXT_COLUMNS = [c for c in COLUMNS if c not in ("time", "value", "sample")]


class ResultsFormatError(Exception):
    """A results file that is not in the format this module writes."""


def utc_now() -> str:
    """Current time as ISO-8601 UTC with milliseconds, e.g. ``2026-11-22T03:15:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts by start time: ``20261122T031500Z-1a2b3c`` (UTC, then 6 random hex digits)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    # The random tail keeps two runs started in the same second (xdist workers, parallel CI jobs) apart.
    return f"{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def git_sha(repo_dir: Path | str) -> str:
    """Short SHA of HEAD in ``repo_dir``, with ``-dirty`` if tracked files have uncommitted changes.

    "unknown" when there is no answer to give: not a git checkout, no commit yet, or no git on the machine (a
    results row must still be written from an unpacked release tarball).
    """

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = git("rev-parse", "--short", "HEAD")
    if not sha:
        return "unknown"
    # Untracked files are left out: a stray log or build folder does not change what was built.
    status = git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}-dirty" if status else sha


@dataclass(frozen=True)
class RunInfo:
    """What is fixed for the whole run. ``started`` is ISO-8601 UTC."""

    run_id: str
    started: str
    git_sha: str
    board: str = ""
    build_id: str = ""
    toolchain: str = ""

    @classmethod
    def start(cls, repo_dir: Path | str, *, board: str = "", build_id: str = "", toolchain: str = "") -> RunInfo:
        """A new run starting now, with a fresh run id and the git SHA of ``repo_dir``."""
        return cls(new_run_id(), utc_now(), git_sha(repo_dir), board, build_id, toolchain)


@dataclass
class Record:
    """One measurement. ``sample`` is the sample index for per-sample rows, None for a summary row."""

    test: str
    model: str
    dataset: str
    metric: str
    value: float
    unit: str
    sample: int | None = None


def _format_value(value: float, metric: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"value of metric {metric!r} must be a number, got {value!r}") from exc
    # repr is the shortest text that reads back as the same float. Every non-finite value is written as nan so
    # the column has one "no number" spelling for readers of the CSV other than read_results.
    return repr(number) if math.isfinite(number) else "nan"


class ResultsWriter:
    """Appends rows to ``run_dir/results.csv``; ``board``, ``build_id``, ``toolchain`` follow the board under test.

    Rows written before ``build_id`` is known carry what was known then (usually empty), which is the truth
    about when the measurement was taken.
    """

    def __init__(self, run_dir: Path | str, info: RunInfo) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RESULTS_FILE
        self._info = info
        self.board = info.board
        self.build_id = info.build_id
        self.toolchain = info.toolchain
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Several writers may share the file (pytest-xdist workers of one run): every row is one write() on an
        # O_APPEND descriptor, which the kernel never interleaves with another's, and the header is written by
        # whichever writer finds the file empty while it holds the file's lock.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.closed = False
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size == 0:
                self._append(COLUMNS)
            else:
                self._check_header()
        except BaseException:
            os.close(self._fd)
            self.closed = True
            raise
        finally:
            if not self.closed:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @property
    def info(self) -> RunInfo:
        """The run info with the board and build id as currently known."""
        return replace(self._info, board=self.board, build_id=self.build_id, toolchain=self.toolchain)

    def _check_header(self) -> None:
        with self.path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        if tuple(header) != COLUMNS:
            raise ResultsFormatError(
                f"{self.path} exists with columns {header}, not {list(COLUMNS)}; write this run to a new folder "
                "or move the old file away"
            )

    def _append(self, row: tuple[str, ...] | list[str]) -> None:
        # Formatted first and written in one call, so a kill between fields cannot leave half a row behind.
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(row)
        data = buf.getvalue().encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # a full disk: say so rather than leave a torn row unexplained
            raise OSError(f"{self.path}: wrote {written} of {len(data)} bytes of a row; is the disk full?")
        os.fsync(self._fd)

    def write(self, record: Record) -> None:
        """Append one row for ``record`` and sync it to disk before returning."""
        if self.closed:
            raise ResultsFormatError(f"{self.path} writer is closed; open a new ResultsWriter to add rows")
        if record.sample is not None and (isinstance(record.sample, bool) or not isinstance(record.sample, int)):
            raise TypeError(f"sample of metric {record.metric!r} must be an int or None, got {record.sample!r}")
        info = self._info
        self._append(
            [
                info.run_id,
                utc_now(),
                info.git_sha,
                self.board,
                self.build_id,
                self.toolchain,
                record.test,
                record.model,
                record.dataset,
                record.metric,
                _format_value(record.value, record.metric),
                record.unit,
                "" if record.sample is None else str(record.sample),
            ]
        )

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
            self.closed = True

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_results(run_dir: Path | str) -> pd.DataFrame:
    """The rows of ``run_dir/results.csv``: text columns as str (empty stays ""), ``time`` as UTC datetimes,
    ``value`` as float64 (nan where not finite), ``sample`` as nullable Int64."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no {RESULTS_FILE} in {run_dir}; a run folder gets one from its first ResultsWriter.write"
        )
    frame = pd.read_csv(
        path,
        dtype={**dict.fromkeys(_TEXT_COLUMNS, str), "value": "float64", "sample": "Int64"},
        # Only the value and sample columns can be missing; a model or board literally named "NA" must stay text.
        keep_default_na=False,
        na_values={"value": ["nan"], "sample": [""]},
        encoding="utf-8",
    )
    if tuple(frame.columns) != COLUMNS:
        raise ResultsFormatError(f"{path} has columns {list(frame.columns)}, expected {list(COLUMNS)}")
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    return frame
