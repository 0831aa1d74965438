"""Format ``csv``: one CSV of time-indexed rows, its time index, fills, gaps and labelled intervals ->
:class:`Dataset`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.datasets.checks import check_split
from harness.datasets.errors import ManifestError, UnknownColumnError
from harness.datasets.manifest import FILLS, LabelInterval, Manifest, Split
from harness.datasets.store import read_kind


def _breaks(index: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    # Compare as timedelta64: pandas may keep the index in s, ms or us rather than ns.
    steps = np.diff(index.to_numpy())
    return np.flatnonzero(steps != interval.to_timedelta64()) + 1


def true_runs(mask: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` inside ``[lo, hi)`` where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask[lo:hi].astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(lo + int(a), lo + int(b)) for a, b in zip(starts, stops, strict=True)]


@dataclass(frozen=True)
class LabelSegment:
    """The rows one ``[labels]`` interval marks, as gap-free runs ``[lo, hi)`` of row numbers.

    ``expected`` is how many readings the interval would hold at the declared sampling interval with no reading
    missing; ``missing`` of them fall in time gaps of the file and have no row to label.
    """

    interval: LabelInterval
    runs: tuple[tuple[int, int], ...]
    expected: int

    @property
    def rows(self) -> int:
        return sum(hi - lo for lo, hi in self.runs)

    @property
    def missing(self) -> int:
        return self.expected - self.rows


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded csv dataset: ``frame`` is indexed by time and holds the numeric (filled) and categorical columns."""

    name: str
    manifest: Manifest
    frame: pd.DataFrame
    filled: pd.DataFrame
    """True where a missing or invalid value was filled as the manifest declares (numeric columns only)."""
    labels: pd.Series | None = None
    """Boolean per row, named by ``[labels] name``: True inside one of the manifest's intervals. None if unlabelled."""
    label_segments: tuple[LabelSegment, ...] = ()
    """One entry per ``[labels]`` interval, in time order."""

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def directory(self) -> Path:
        return self.manifest.directory

    @property
    def time(self) -> pd.DatetimeIndex:
        return self.frame.index  # type: ignore[return-value]  # built as a DatetimeIndex by load()

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.manifest.columns if c.kind == "numeric")

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.manifest.columns if c.kind == "categorical")

    def unit(self, column: str) -> str:
        return self.manifest.column(column).unit

    def check_numeric(self, columns: Sequence[str]) -> None:
        unknown = [c for c in columns if c not in self.numeric_columns]
        if unknown:
            raise UnknownColumnError(
                f"dataset {self.name!r} has no numeric column {', '.join(map(repr, unknown))}; "
                f"numeric columns: {', '.join(self.numeric_columns)}"
                + (f"; categorical: {', '.join(self.categorical_columns)}" if self.categorical_columns else "")
            )

    def values(self, columns: Sequence[str]) -> np.ndarray:
        """float64 array [rows, len(columns)] of numeric columns, in the order asked."""
        self.check_numeric(columns)
        return self.frame[list(columns)].to_numpy(dtype=np.float64)

    @property
    def split_bounds(self) -> dict[str, tuple[int, int]]:
        """Row ranges ``[start, stop)`` of train, val and test."""
        return self.manifest.split.bounds(len(self))

    def split(self, name: str) -> pd.DataFrame:
        start, stop = self.split_bounds[check_split(name)]
        return self.frame.iloc[start:stop]

    @property
    def segment_starts(self) -> np.ndarray:
        """Rows where the spacing to the previous row is not the declared interval: gaps a window must not span."""
        return _breaks(self.time, self.manifest.time.interval)

    def runs(self, split: Split | None = None) -> list[tuple[int, int]]:
        """Row ranges ``[lo, hi)`` without a time gap inside ``split`` (inside the whole file if None)."""
        start, stop = (0, len(self)) if split is None else self.split_bounds[check_split(split)]
        breaks = self.segment_starts
        edges = np.unique(np.concatenate([[start], breaks[(breaks > start) & (breaks < stop)], [stop]]))
        return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(edges)]


def load(name: str) -> Dataset:
    """Load csv dataset ``name`` from the search path, checking the file's sha256 and the manifest's declarations."""
    manifest = read_kind(name, Manifest, "load")
    frame, filled = _parse_csv(manifest)
    labels, segments = _label_rows(manifest, frame.index)  # type: ignore[arg-type]  # a DatetimeIndex
    return Dataset(name=name, manifest=manifest, frame=frame, filled=filled, labels=labels, label_segments=segments)


def _parse_csv(manifest: Manifest) -> tuple[pd.DataFrame, pd.DataFrame]:
    where = str(manifest.data_path)
    # Only the manifest's markers mean "missing": pandas' defaults would turn a category named "NA" or "null"
    # into a missing value behind the manifest's back.
    raw = pd.read_csv(
        manifest.data_path, dtype=str, keep_default_na=False, na_values=list(manifest.na_values), encoding="utf-8"
    )
    declared = [c.name for c in manifest.columns]
    undeclared = [c for c in raw.columns if c not in declared]
    absent = [c for c in declared if c not in raw.columns]
    if undeclared or absent:
        raise ManifestError(
            f"{manifest.path} does not match {where}: "
            + (
                f'CSV columns not declared: {undeclared} (add a [[columns]] entry, kind = "index" to ignore one); '
                if undeclared
                else ""
            )
            + (f"declared columns not in the CSV: {absent}; " if absent else "")
            + f"the CSV has {list(raw.columns)}"
        )
    if manifest.rows is not None and len(raw) != manifest.rows:
        raise ManifestError(f"{where} has {len(raw)} data rows but {manifest.path} declares rows = {manifest.rows}")
    missing_time = [c for c in manifest.time.source_columns if c not in raw.columns]
    if missing_time:
        raise ManifestError(f"{manifest.path} [time] names columns {missing_time} that the CSV does not have")
    # [file] where: the rows of one station (say) out of a file of several, chosen before anything is parsed
    raw = manifest.select_rows(raw)

    index = _time_index(raw, manifest)
    out: dict[str, pd.Series] = {}
    filled: dict[str, np.ndarray] = {}
    for spec in manifest.columns:
        if spec.kind not in ("numeric", "categorical"):
            continue
        column = raw[spec.name]
        if spec.kind == "numeric":
            values = pd.to_numeric(column, errors="coerce")
            bad = values.isna() & column.notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise ManifestError(
                    f"{where}: numeric column {spec.name!r} has {column.iloc[row]!r} on data row {row + 1}; "
                    f"add it to [file] na_values if it marks a missing reading, or declare the column categorical"
                )
            series = pd.Series(values.to_numpy(dtype=np.float64), index=index, name=spec.name)
        else:
            series = pd.Series(pd.Categorical(column), index=index, name=spec.name)
        n_missing = int(series.isna().sum())
        if spec.missing is not None and spec.missing != n_missing:
            raise ManifestError(
                f"{where}: column {spec.name!r} has {n_missing} missing values, manifest says {spec.missing}"
            )
        if n_missing and spec.fill is None:
            raise ManifestError(
                f"{where}: column {spec.name!r} has {n_missing} missing values and its manifest entry declares no "
                'fill; add fill = "interpolate" with a fill_reason, or clean the file'
            )
        if spec.invalid:
            rows = index.get_indexer(pd.DatetimeIndex(spec.invalid))
            if (rows < 0).any():
                absent_time = spec.invalid[int(np.flatnonzero(rows < 0)[0])]
                raise ManifestError(
                    f"{manifest.path} column {spec.name!r}: invalid time {absent_time} is not a time of {where}; list "
                    f"times exactly as the index has them{' (in UTC)' if manifest.time.utc else ''}"
                )
            series.iloc[rows] = np.nan
        if spec.kind == "numeric":
            filled[spec.name] = series.isna().to_numpy()
        if series.isna().any():
            series = FILLS[spec.fill](series)  # type: ignore[index]  # fill is set when anything is missing
            if series.isna().any():
                raise ManifestError(f"{where}: column {spec.name!r} has no value at all to fill from")
        out[spec.name] = series
    return pd.DataFrame(out, index=index), pd.DataFrame(filled, index=index)


def _time_index(raw: pd.DataFrame, manifest: Manifest) -> pd.DatetimeIndex:
    spec = manifest.time
    where = f"{manifest.data_path} (time from {', '.join(spec.source_columns)})"
    try:
        if spec.column is not None:
            stamps = pd.to_datetime(raw[spec.column], format=spec.format, utc=spec.utc)
            if spec.utc:
                stamps = stamps.dt.tz_convert(None)
        else:
            parts = {part: pd.to_numeric(raw[col]) for part, col in (spec.parts or {}).items()}
            stamps = pd.to_datetime(pd.DataFrame(parts))
    except (ValueError, TypeError) as exc:
        hint = ""
        if "zone" in str(exc).lower() and not spec.utc:
            hint = " (the times carry different UTC offsets, e.g. across a daylight-saving change: add utc = true)"
        raise ManifestError(f"{where}: cannot build the time index: {exc}{hint}") from exc
    index = pd.DatetimeIndex(stamps, name="time")
    if index.tz is not None:
        raise ManifestError(f"{where}: the times carry a UTC offset ({index.tz}); add utc = true to [time]")
    if index.hasnans:
        raise ManifestError(f"{where}: data row {int(np.flatnonzero(index.isna())[0]) + 1} has no time")
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 2
        several = "" if manifest.where else " (a file holding several series, e.g. stations, needs [file] where)"
        raise ManifestError(
            f"{where}: time must increase strictly; data row {row} ({index[row - 1]}) does not{several}"
        )
    for key, which, declared, actual in (
        ("start", "first", spec.start, index[0]),
        ("end", "last", spec.end, index[-1]),
    ):
        if declared is not None and declared != actual:
            raise ManifestError(f"{where}: the {which} time is {actual} but [time] {key} is {declared}")
    return index


def _label_rows(manifest: Manifest, index: pd.DatetimeIndex) -> tuple[pd.Series | None, tuple[LabelSegment, ...]]:
    """The boolean label per row and the rows of each interval, computed from the manifest (never from the file)."""
    spec = manifest.labels
    if spec is None:
        return None, ()
    interval = manifest.time.interval
    breaks = _breaks(index, interval)
    mask = np.zeros(len(index), dtype=bool)
    segments = []
    for iv in spec.intervals:
        lo = int(index.searchsorted(iv.start, side="left"))
        hi = int(index.searchsorted(iv.end, side="right"))
        clock = " UTC" if manifest.time.utc else ""
        if hi <= lo:
            raise ManifestError(
                f"{manifest.path} [labels]: interval {iv.start} to {iv.end}{clock} holds no reading of "
                f"{manifest.data_path}, whose times run from {index[0]} to {index[-1]}{clock}; check the interval"
            )
        if iv.rows is not None and iv.rows != hi - lo:
            raise ManifestError(
                f"{manifest.path} [labels]: interval {iv.start} to {iv.end}{clock} holds {hi - lo} readings but "
                f"declares rows = {iv.rows}"
            )
        # A label interval that spans a time gap is labelled on both sides and kept as separate runs, so nothing
        # downstream treats the readings either side of the gap as consecutive.
        inner = breaks[(breaks > lo) & (breaks < hi)].tolist()
        runs = tuple(itertools.pairwise([lo, *inner, hi]))
        mask[lo:hi] = True
        segments.append(LabelSegment(iv, runs, expected=int((iv.end - iv.start) // interval) + 1))
    return pd.Series(mask, index=index, name=spec.name), tuple(segments)
