"""Datasets described by a ``manifest.toml``: loading with a sha256 check, splits, and forecasting windows.

A dataset is a folder holding one CSV and a ``manifest.toml`` that declares the file's sha256, its columns (kind,
unit, how missing values are filled), its time index and its split. Folders are found in the directories named by
``HIL_DATASETS_PATH`` and then in the repository's ``datasets/``, so a user adds a dataset without touching code.
The manifest keys are documented in ``datasets/README.md``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "SPLITS",
    "Dataset",
    "DatasetError",
    "DatasetIntegrityError",
    "DatasetNotFoundError",
    "ForecastTask",
    "ForecastWindows",
    "Manifest",
    "ManifestError",
    "MinMaxScaler",
    "UnknownColumnError",
    "WindowError",
    "available",
    "forecast_windows",
    "load",
    "search_path",
]

ENV_VAR = "HIL_DATASETS_PATH"
MANIFEST = "manifest.toml"
REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"
SPLITS = ("train", "val", "test")

Split = Literal["train", "val", "test"]
ColumnKind = Literal["numeric", "categorical", "time", "index"]
_COLUMN_KINDS = ("numeric", "categorical", "time", "index")
_TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")


class DatasetError(Exception):
    """Base class of every error raised by this module."""


class DatasetNotFoundError(DatasetError, LookupError):
    """No folder with that name and a manifest.toml in the search path."""


class DatasetIntegrityError(DatasetError):
    """The data file's sha256 differs from the one its manifest records."""


class ManifestError(DatasetError):
    """A manifest is malformed, or the file does not look the way the manifest says."""


class UnknownColumnError(DatasetError, LookupError):
    """A column name that the dataset does not have (or not of the kind asked for)."""


class WindowError(DatasetError, ValueError):
    """Windowing parameters that cannot be met by the split."""


# --------------------------------------------------------------------------------------------------------------
# Manifest


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: ColumnKind
    unit: str = ""
    description: str = ""
    missing: int | None = None
    fill: str | None = None
    fill_reason: str | None = None


@dataclass(frozen=True)
class TimeSpec:
    column: str | None
    parts: dict[str, str] | None
    format: str | None
    interval: pd.Timedelta
    start: pd.Timestamp | None
    end: pd.Timestamp | None

    @property
    def source_columns(self) -> tuple[str, ...]:
        return (self.column,) if self.column is not None else tuple((self.parts or {}).values())


@dataclass(frozen=True)
class SplitSpec:
    method: str
    train: Fraction
    val: Fraction
    test: Fraction
    rule: str = ""

    def bounds(self, n_rows: int) -> dict[str, tuple[int, int]]:
        # Fractions from the decimal text, so 0.70 * 43824 floors to 30676 and not to a float-rounding neighbour.
        train_end = math.floor(self.train * n_rows)
        val_end = math.floor((self.train + self.val) * n_rows)
        return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, n_rows)}


@dataclass(frozen=True)
class Manifest:
    path: Path
    title: str
    file: str
    sha256: str | None
    rows: int | None
    na_values: tuple[str, ...]
    time: TimeSpec
    split: SplitSpec
    columns: tuple[ColumnSpec, ...]
    task: dict[str, Any] | None
    source: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def data_path(self) -> Path:
        return self.directory / self.file

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise UnknownColumnError(
            f"{self.path}: no column {name!r}; declared: {', '.join(c.name for c in self.columns)}"
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"{path} is not valid TOML: {exc}") from exc
        where = str(path)
        file_tbl = _table(raw, "file", where)
        time_tbl = _table(raw, "time", where)
        split_tbl = _table(raw, "split", where)
        columns_raw = raw.get("columns")
        if not isinstance(columns_raw, list) or not columns_raw:
            raise ManifestError(
                f"{where}: no [[columns]] entries; declare every CSV column, e.g.\n"
                '[[columns]]\nname = "temp"\nkind = "numeric"\nunit = "°C"'
            )
        task = raw.get("task")
        if task is not None and not isinstance(task, dict):
            raise ManifestError(f"{where}: [task] must be a table")
        return cls(
            path=path,
            title=str(raw.get("title", path.parent.name)),
            file=_required(file_tbl, "path", str, f"{where} [file]"),
            sha256=_optional(file_tbl, "sha256", str, f"{where} [file]"),
            rows=_optional(file_tbl, "rows", int, f"{where} [file]"),
            na_values=tuple(_optional(file_tbl, "na_values", list, f"{where} [file]") or ()),
            time=_parse_time(time_tbl, f"{where} [time]"),
            split=_parse_split(split_tbl, f"{where} [split]"),
            columns=tuple(_parse_column(c, f"{where} [[columns]] #{i + 1}") for i, c in enumerate(columns_raw)),
            task=task,
            source=dict(raw.get("source", {})),
            raw=raw,
        )


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: missing table [{key}]; see datasets/README.md for its keys")
    return value


def _required(tbl: dict[str, Any], key: str, typ: type, where: str) -> Any:
    if key not in tbl:
        raise ManifestError(f"{where}: missing key {key!r}; see datasets/README.md")
    return _optional(tbl, key, typ, where)


def _optional(tbl: dict[str, Any], key: str, typ: type, where: str) -> Any:
    value = tbl.get(key)
    if value is None:
        return None
    # bool is an int subclass; `rows = true` is a typo, not a count.
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ManifestError(f"{where}: {key} must be a {typ.__name__}, got {value!r}")
    return value


def _parse_time(tbl: dict[str, Any], where: str) -> TimeSpec:
    column = _optional(tbl, "column", str, where)
    parts = _optional(tbl, "parts", dict, where)
    if (column is None) == (parts is None):
        raise ManifestError(
            f'{where}: give exactly one of column = "<timestamp column>" or '
            'parts = { year = "...", month = "...", day = "...", hour = "..." }'
        )
    if parts is not None:
        unknown = sorted(set(parts) - set(_TIME_PARTS))
        if unknown or not {"year", "month", "day"} <= set(parts):
            raise ManifestError(
                f"{where}: parts needs year, month and day, and may add {', '.join(_TIME_PARTS[3:])}; "
                f"got {sorted(parts)}"
            )
    interval_text = _required(tbl, "interval", str, where)
    try:
        interval = pd.Timedelta(interval_text)
    except ValueError as exc:
        raise ManifestError(f'{where}: interval {interval_text!r} is not a duration such as "1h" or "20ms"') from exc
    if interval <= pd.Timedelta(0):
        raise ManifestError(f"{where}: interval must be positive, got {interval_text!r}")

    def stamp(key: str) -> pd.Timestamp | None:
        text = _optional(tbl, key, str, where)
        if text is None:
            return None
        try:
            return pd.Timestamp(text)
        except ValueError as exc:
            raise ManifestError(f"{where}: {key} {text!r} is not an ISO-8601 time") from exc

    return TimeSpec(column, parts, _optional(tbl, "format", str, where), interval, stamp("start"), stamp("end"))


def _parse_split(tbl: dict[str, Any], where: str) -> SplitSpec:
    method = _required(tbl, "method", str, where)
    if method != "chronological":
        raise ManifestError(f'{where}: method {method!r} is not supported; use "chronological"')
    fractions = []
    for key in SPLITS:
        value = tbl.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ManifestError(f"{where}: {key} must be a fraction between 0 and 1, e.g. train = 0.70; got {value!r}")
        fractions.append(Fraction(str(value)))
    if sum(fractions) != 1:
        raise ManifestError(f"{where}: train + val + test must be exactly 1, got {float(sum(fractions))}")
    return SplitSpec(method, *fractions, rule=str(tbl.get("rule", "")))


def _parse_column(entry: Any, where: str) -> ColumnSpec:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: must be a table with name and kind")
    name = _required(entry, "name", str, where)
    kind = _required(entry, "kind", str, where)
    if kind not in _COLUMN_KINDS:
        raise ManifestError(f"{where} ({name}): kind {kind!r} is not one of {', '.join(_COLUMN_KINDS)}")
    fill = _optional(entry, "fill", str, where)
    if fill is not None:
        if fill not in _FILLS:
            raise ManifestError(f"{where} ({name}): fill {fill!r} is not one of {', '.join(_FILLS)}")
        if kind != "numeric":
            raise ManifestError(f"{where} ({name}): fill applies to numeric columns only, this one is {kind}")
        if not entry.get("fill_reason"):
            raise ManifestError(f"{where} ({name}): fill = {fill!r} needs fill_reason saying why filling is sound here")
    return ColumnSpec(
        name=name,
        kind=kind,  # type: ignore[arg-type]  # checked against _COLUMN_KINDS above
        unit=str(entry.get("unit", "")),
        description=str(entry.get("description", "")),
        missing=_optional(entry, "missing", int, where),
        fill=fill,
        fill_reason=_optional(entry, "fill_reason", str, where),
    )


def _fill_interpolate(series: pd.Series) -> pd.Series:
    # Linear in time (not in row number) so a gap in the index is bridged at the right slope; readings missing
    # at either edge have only one neighbour and take its value.
    return series.interpolate(method="time").ffill().bfill()


_FILLS = {"interpolate": _fill_interpolate}


# --------------------------------------------------------------------------------------------------------------
# Discovery and loading


def search_path() -> list[Path]:
    """Directories searched for datasets, in order: ``HIL_DATASETS_PATH`` entries, then the repository's."""
    extra = [Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return [*extra, REPO_DATASETS]


def available() -> list[str]:
    """Names of every dataset found in the search path, sorted; a name found twice is listed once."""
    names = {m.parent.name for root in search_path() if root.is_dir() for m in root.glob(f"*/{MANIFEST}")}
    return sorted(names)


def _find(name: str) -> Path:
    if not name or Path(name).name != name or name in (".", ".."):
        raise DatasetNotFoundError(f"{name!r} is not a dataset name; use a folder name such as one of: {_listing()}")
    for root in search_path():
        candidate = root / name / MANIFEST
        if candidate.is_file():
            return candidate
    searched = ", ".join(f"{root}{'' if root.is_dir() else ' (missing)'}" for root in search_path())
    raise DatasetNotFoundError(
        f"no dataset {name!r}; available: {_listing()}. Searched {searched}. To add one, make a folder {name}/ with "
        f"the CSV and a {MANIFEST} (see datasets/README.md) under datasets/ or a directory listed in {ENV_VAR}."
    )


def _listing() -> str:
    return ", ".join(available()) or "(none)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: ``frame`` is indexed by time and holds the numeric (filled) and categorical columns."""

    name: str
    manifest: Manifest
    frame: pd.DataFrame
    filled: pd.DataFrame
    """True where a missing value was filled as the manifest declares (numeric columns only)."""

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
        start, stop = self.split_bounds[_check_split(name)]
        return self.frame.iloc[start:stop]

    @property
    def segment_starts(self) -> np.ndarray:
        """Rows where the spacing to the previous row is not the declared interval: gaps a window must not span."""
        # Compare as timedelta64: pandas may keep the index in s, ms or us rather than ns.
        steps = np.diff(self.time.to_numpy())
        return np.flatnonzero(steps != self.manifest.time.interval.to_timedelta64()) + 1


def load(name: str) -> Dataset:
    """Load dataset ``name`` from the search path, checking the file's sha256 and the manifest's declarations."""
    manifest = Manifest.read(_find(name))
    data_path = manifest.data_path
    if not data_path.is_file():
        raise ManifestError(f"{manifest.path} names file {manifest.file!r} but {data_path} does not exist")
    actual = sha256_of(data_path)
    if manifest.sha256 is None:
        raise ManifestError(
            f"{manifest.path} has no sha256 under [file]. The file's sha256 is {actual}; once you have checked the "
            f'file is the one you mean, add sha256 = "{actual}" to [file].'
        )
    if actual != manifest.sha256.lower():
        raise DatasetIntegrityError(
            f"{data_path} has sha256 {actual} but {manifest.path} expects {manifest.sha256}. The file changed after "
            "the manifest was written: restore the original file, or, if the change is intended, put the new sha256 "
            "(and rows) in the manifest and say how the data was changed in datasets/README.md."
        )
    frame, filled = _parse_csv(manifest)
    return Dataset(name=name, manifest=manifest, frame=frame, filled=filled)


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
        if spec.kind == "numeric":
            filled[spec.name] = series.isna().to_numpy()
        if n_missing:
            series = _FILLS[spec.fill](series)  # type: ignore[index]  # fill is not None when n_missing
            if series.isna().any():
                raise ManifestError(f"{where}: column {spec.name!r} has no value at all to fill from")
        out[spec.name] = series
    return pd.DataFrame(out, index=index), pd.DataFrame(filled, index=index)


def _time_index(raw: pd.DataFrame, manifest: Manifest) -> pd.DatetimeIndex:
    spec = manifest.time
    where = f"{manifest.data_path} (time from {', '.join(spec.source_columns)})"
    try:
        if spec.column is not None:
            stamps = pd.to_datetime(raw[spec.column], format=spec.format)
        else:
            parts = {part: pd.to_numeric(raw[col]) for part, col in (spec.parts or {}).items()}
            stamps = pd.to_datetime(pd.DataFrame(parts))
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"{where}: cannot build the time index: {exc}") from exc
    index = pd.DatetimeIndex(stamps, name="time")
    if index.hasnans:
        raise ManifestError(f"{where}: data row {int(np.flatnonzero(index.isna())[0]) + 1} has no time")
    steps = np.diff(index.asi8)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 2
        raise ManifestError(f"{where}: time must increase strictly; data row {row} ({index[row - 1]}) does not")
    for key, which, declared, actual in (
        ("start", "first", spec.start, index[0]),
        ("end", "last", spec.end, index[-1]),
    ):
        if declared is not None and declared != actual:
            raise ManifestError(f"{where}: the {which} time is {actual} but [time] {key} is {declared}")
    return index


def _check_split(name: str) -> str:
    if name not in SPLITS:
        raise WindowError(f"split {name!r} is not one of {', '.join(SPLITS)}")
    return name


# --------------------------------------------------------------------------------------------------------------
# Scaling and forecasting windows


@dataclass(frozen=True, eq=False)
class MinMaxScaler:
    """Per-column min-max scaling to [0, 1] over the rows it was fitted on."""

    columns: tuple[str, ...]
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, columns: Sequence[str]) -> MinMaxScaler:
        values = np.asarray(values, dtype=np.float64)
        return cls(tuple(columns), values.min(axis=0), values.max(axis=0))

    @property
    def range(self) -> np.ndarray:
        span = self.max - self.min
        # A column constant over the training rows carries no scale; dividing by 1 keeps it finite (all zeros
        # on train) instead of turning every row into nan.
        return np.where(span > 0, span, 1.0)

    def _index(self, columns: Sequence[str] | None) -> np.ndarray:
        if columns is None:
            return np.arange(len(self.columns))
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise UnknownColumnError(f"scaler was fitted on {list(self.columns)}, not on {missing}")
        return np.array([self.columns.index(c) for c in columns])

    def transform(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Scale ``values`` [..., len(columns)] (default: every fitted column, in order)."""
        idx = self._index(columns)
        return (np.asarray(values, dtype=np.float64) - self.min[idx]) / self.range[idx]

    def inverse(self, values: np.ndarray, columns: Sequence[str] | None = None) -> np.ndarray:
        """Undo :meth:`transform`, e.g. to turn a scaled TEMP forecast back into °C."""
        idx = self._index(columns)
        return np.asarray(values, dtype=np.float64) * self.range[idx] + self.min[idx]


@dataclass(frozen=True, eq=False)
class ForecastWindows:
    """Windows of one split: ``X[k]`` holds rows ``start[k] .. start[k]+window-1``, ``y[k]`` the target at
    ``target_row[k]`` (at ``target_time[k]``), all scaled by ``scaler``."""

    X: np.ndarray
    y: np.ndarray
    start: np.ndarray
    target_row: np.ndarray
    target_time: pd.DatetimeIndex
    split: str
    features: tuple[str, ...]
    target: str
    scaler: MinMaxScaler

    def __len__(self) -> int:
        return len(self.X)


@dataclass(frozen=True, eq=False)
class ForecastTask:
    """``window`` steps of ``features`` -> ``target`` ``horizon`` steps after the window's last step.

    The scaler is fitted once, on the training rows of every feature and the target, and applied to all splits:
    validation and test values may fall outside [0, 1], which is what a deployed model meets too.
    """

    dataset: Dataset
    features: tuple[str, ...]
    target: str
    window: int = 168
    horizon: int = 1
    scaler: MinMaxScaler = field(init=False)
    _scaled: np.ndarray = field(init=False, repr=False)
    _scaled_target: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.features, str):
            raise WindowError(f"features must be a list of column names, e.g. [{self.features!r}], not one string")
        object.__setattr__(self, "features", tuple(self.features))
        if not self.features:
            raise WindowError("features is empty; name at least one numeric column")
        self.dataset.check_numeric([*self.features, self.target])
        for key in ("window", "horizon"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise WindowError(f"{key} must be a positive integer, got {value!r}")
        columns = list(dict.fromkeys([*self.features, self.target]))
        start, stop = self.dataset.split_bounds["train"]
        if stop <= start:
            raise WindowError(
                f"dataset {self.dataset.name!r} has an empty training split; the scaler has nothing to fit"
            )
        values = self.dataset.values(columns)
        scaler = MinMaxScaler.fit(values[start:stop], columns)
        scaled = scaler.transform(values)
        object.__setattr__(self, "scaler", scaler)
        object.__setattr__(self, "_scaled", scaled[:, [columns.index(c) for c in self.features]].astype(np.float32))
        object.__setattr__(self, "_scaled_target", scaled[:, columns.index(self.target)].astype(np.float32))

    @classmethod
    def from_manifest(cls, dataset: Dataset) -> ForecastTask:
        """The task the dataset's manifest declares under ``[task]`` (kind = "forecast")."""
        task = dataset.manifest.task
        if not task or task.get("kind") != "forecast":
            raise ManifestError(
                f'{dataset.manifest.path} declares no forecasting task; add [task] with kind = "forecast", features, '
                "target, window and horizon"
            )
        try:
            return cls(
                dataset, tuple(task["features"]), task["target"], int(task["window"]), int(task.get("horizon", 1))
            )
        except KeyError as exc:
            raise ManifestError(f"{dataset.manifest.path} [task] is missing {exc.args[0]!r}") from exc

    @property
    def span(self) -> int:
        """Rows one sample covers: the window plus the steps up to the target."""
        return self.window + self.horizon

    def starts(self, split: Split) -> np.ndarray:
        """Every row where a window may start so that inputs and target stay inside ``split`` and one gap-free run."""
        start, stop = self.dataset.split_bounds[_check_split(split)]
        breaks = self.dataset.segment_starts
        edges = np.unique(np.concatenate([[start], breaks[(breaks > start) & (breaks < stop)], [stop]]))
        runs = [np.arange(lo, hi - self.span + 1) for lo, hi in itertools.pairwise(edges)]
        valid = np.concatenate(runs) if runs else np.empty(0, dtype=np.int64)
        if valid.size == 0:
            longest = int(np.diff(edges).max()) if edges.size > 1 else 0
            detail = f"{stop - start} rows (rows {start}..{stop - 1})"
            if longest != stop - start:
                detail += f", the longest run without a time gap {longest} rows"
            raise WindowError(
                f"window {self.window} + horizon {self.horizon} needs {self.span} consecutive rows but split {split!r} "
                f"of {self.dataset.name!r} has {detail}; use a shorter window"
            )
        return valid.astype(np.int64)

    def windows(
        self,
        split: Split = "train",
        *,
        stride: int = 1,
        limit: int | None = None,
        spacing: Literal["first", "even"] = "first",
    ) -> ForecastWindows:
        """Scaled float32 windows ``X`` [N, window, F] and targets ``y`` [N, 1].

        ``stride`` keeps windows whose start is a multiple of ``stride`` rows after the split's start. ``limit``
        keeps at most that many of those: the first ones, or (``spacing="even"``) ones spread evenly across the
        split so a short CI run still sees every season.
        """
        if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
            raise WindowError(f"stride must be a positive integer, got {stride!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1):
            raise WindowError(f"limit must be a positive integer or None, got {limit!r}")
        if spacing not in ("first", "even"):
            raise WindowError(f'spacing must be "first" or "even", got {spacing!r}')
        starts = self.starts(split)
        split_start = self.dataset.split_bounds[split][0]
        starts = starts[(starts - split_start) % stride == 0]
        if limit is not None and limit < starts.size:
            if spacing == "first":
                starts = starts[:limit]
            else:
                starts = starts[np.unique(np.linspace(0, starts.size - 1, limit).round().astype(np.int64))]
        steps = np.arange(self.window)
        X = self._scaled[starts[:, None] + steps]
        target_row = starts + self.window - 1 + self.horizon
        y = self._scaled_target[target_row][:, None]
        return ForecastWindows(
            X=X,
            y=y,
            start=starts,
            target_row=target_row,
            target_time=self.dataset.time[target_row],
            split=split,
            features=self.features,
            target=self.target,
            scaler=self.scaler,
        )


def forecast_windows(
    ds: Dataset,
    features: Sequence[str],
    target: str,
    window: int = 168,
    horizon: int = 1,
    split: Split = "train",
    *,
    stride: int = 1,
    limit: int | None = None,
    spacing: Literal["first", "even"] = "first",
) -> ForecastWindows:
    """Shorthand for ``ForecastTask(ds, features, target, window, horizon).windows(split, ...)``."""
    task = ForecastTask(ds, features, target, window, horizon)  # type: ignore[arg-type]  # tuple()d on init
    return task.windows(split, stride=stride, limit=limit, spacing=spacing)
