"""Datasets described by a ``manifest.toml``: loading with a sha256 check, splits, windows and labels.

A dataset is a folder holding its data file(s) and a ``manifest.toml`` that declares every file's sha256 and the
file's ``format``, which decides what a load returns:

``csv`` (the default)
    One CSV of time-indexed rows: columns (kind, unit, how missing or invalid readings are filled), the time index,
    a chronological split and, optionally, ``[labels]`` given as time intervals. ``load(name)`` -> :class:`Dataset`;
    :class:`ForecastTask` and :class:`AnomalyTask` make model inputs from it.
``sktime-ts``
    Labelled equal-length multichannel cases in sktime's ``.ts`` text format, one file per split.
    ``load_cases(name)`` -> :class:`CaseDataset` of :class:`ClassificationData`; :class:`ClassificationTask`.
``npz-recordings``
    Variable-length labelled recordings concatenated in one ``.npz`` with offsets, with a subject per recording.
    ``load_recordings(name)`` -> :class:`RecordingDataset`; :class:`NoveltyTask`.

Folders are found in the directories named by ``HIL_DATASETS_PATH`` and then in the repository's ``datasets/``, so
a user adds a dataset without touching code. The manifest keys are documented in ``datasets/README.md``.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import math
import os
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

__all__ = [
    "FORMATS",
    "SPLITS",
    "AnomalyTask",
    "CaseDataset",
    "CasesManifest",
    "ClassificationData",
    "ClassificationTask",
    "DataFormatError",
    "Dataset",
    "DatasetError",
    "DatasetIntegrityError",
    "DatasetKindError",
    "DatasetNotFoundError",
    "ForecastTask",
    "ForecastWindows",
    "LabelSegment",
    "LabelledStream",
    "Manifest",
    "ManifestError",
    "MinMaxScaler",
    "NoveltyTask",
    "RecordingDataset",
    "RecordingsManifest",
    "StandardScaler",
    "TaskError",
    "TsFile",
    "UnknownColumnError",
    "WindowError",
    "available",
    "forecast_windows",
    "load",
    "load_any",
    "load_cases",
    "load_recordings",
    "read_manifest",
    "read_ts",
    "search_path",
]

ENV_VAR = "HIL_DATASETS_PATH"
MANIFEST = "manifest.toml"
REPO_DATASETS = Path(__file__).resolve().parent.parent / "datasets"
SPLITS = ("train", "val", "test")
FORMATS = ("csv", "sktime-ts", "npz-recordings")
# The function that loads each format, named in errors that point a caller at the right one.
_LOADERS = {"csv": "load", "sktime-ts": "load_cases", "npz-recordings": "load_recordings"}

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


class DataFormatError(DatasetError):
    """A data file cannot be read in the format its manifest declares (a malformed .ts line, a pickled .npz)."""


class DatasetKindError(DatasetError, TypeError):
    """The dataset exists but has another format than the loader asked for; the message names the right loader."""


class UnknownColumnError(DatasetError, LookupError):
    """A column name that the dataset does not have (or not of the kind asked for)."""


class WindowError(DatasetError, ValueError):
    """Windowing parameters that cannot be met by the split."""


class TaskError(DatasetError, ValueError):
    """Task parameters the dataset cannot meet: an unknown class or subject, overlapping subject sets."""


# --------------------------------------------------------------------------------------------------------------
# Manifest


@dataclass(frozen=True)
class FileSpec:
    """One data file: its path inside the dataset's folder, sha256, split (for formats with a file per split) and
    the number of rows / cases / recordings it must hold, if declared."""

    path: str
    sha256: str | None
    split: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: ColumnKind
    unit: str = ""
    description: str = ""
    missing: int | None = None
    fill: str | None = None
    fill_reason: str | None = None
    invalid: tuple[pd.Timestamp, ...] = ()
    """Times whose recorded value is known to be wrong: treated as missing and filled like the missing ones."""
    invalid_reason: str | None = None


@dataclass(frozen=True)
class TimeSpec:
    column: str | None
    parts: dict[str, str] | None
    format: str | None
    interval: pd.Timedelta
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    utc: bool = False
    """Timestamps carry UTC offsets; the index holds them converted to UTC (without a zone)."""

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
class LabelInterval:
    """Rows with ``start <= time <= end`` (both ends included) carry the label."""

    start: pd.Timestamp
    end: pd.Timestamp
    kind: str = ""
    note: str = ""
    rows: int | None = None
    """How many readings the interval must label; checked on load."""


@dataclass(frozen=True)
class LabelSpec:
    name: str
    rule: str
    intervals: tuple[LabelInterval, ...]


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    unit: str = ""
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class BaseManifest:
    """What every format's manifest has: where it is, its data files, an optional [task] and [source]."""

    path: Path
    title: str
    format: str
    files: tuple[FileSpec, ...]
    task: dict[str, Any] | None
    source: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def data_path(self) -> Path:
        """The first (for csv and npz-recordings the only) data file."""
        return self.directory / self.files[0].path

    def path_of(self, spec: FileSpec) -> Path:
        return self.directory / spec.path


@dataclass(frozen=True, kw_only=True)
class Manifest(BaseManifest):
    """Manifest of a ``csv`` dataset: one CSV of time-indexed rows."""

    na_values: tuple[str, ...]
    time: TimeSpec
    split: SplitSpec
    columns: tuple[ColumnSpec, ...]
    labels: LabelSpec | None = None

    @property
    def file(self) -> str:
        return self.files[0].path

    @property
    def sha256(self) -> str | None:
        return self.files[0].sha256

    @property
    def rows(self) -> int | None:
        return self.files[0].count

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise UnknownColumnError(
            f"{self.path}: no column {name!r}; declared: {', '.join(c.name for c in self.columns)}"
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        manifest = read_manifest(path)
        if not isinstance(manifest, Manifest):
            raise DatasetKindError(
                f"{path} declares format {manifest.format!r}, not a csv time series; read it with read_manifest()"
            )
        return manifest


@dataclass(frozen=True, kw_only=True)
class CasesManifest(BaseManifest):
    """Manifest of a ``sktime-ts`` dataset: equal-length labelled cases, one ``.ts`` file per split."""

    interval: pd.Timedelta | None
    length: int | None
    class_names: tuple[str, ...] | None
    channels: tuple[ChannelSpec, ...]


@dataclass(frozen=True, kw_only=True)
class RecordingsManifest(BaseManifest):
    """Manifest of an ``npz-recordings`` dataset: labelled recordings of any length, concatenated with offsets."""

    arrays: dict[str, str]
    meta: tuple[str, ...]
    interval: pd.Timedelta | None
    class_names: tuple[str, ...] | None
    channels: tuple[ChannelSpec, ...]


AnyManifest = Manifest | CasesManifest | RecordingsManifest
_M = TypeVar("_M", bound=BaseManifest)

_COMMON_KEYS = ("title", "format", "file", "files", "task", "source")
_FORMAT_KEYS = {
    "csv": ("time", "split", "columns", "labels"),
    "sktime-ts": ("series", "classes", "channels"),
    "npz-recordings": ("series", "classes", "channels", "arrays"),
}
# The key under [file] / [[files]] that states how many items a file holds, checked on load.
_COUNT_KEYS = {"csv": "rows", "sktime-ts": "cases", "npz-recordings": "recordings"}


def read_manifest(path: Path) -> AnyManifest:
    """Read and check a manifest; the ``format`` key decides which manifest class it becomes."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path} is not valid TOML: {exc}") from exc
    where = str(path)
    fmt = raw.get("format", "csv")
    if fmt not in FORMATS:
        raise ManifestError(f"{where}: format {fmt!r} is not one of {', '.join(FORMATS)}; see datasets/README.md")
    # A misspelt table ([label] for [labels]) would otherwise be ignored without a word.
    unknown = sorted(set(raw) - set(_COMMON_KEYS) - set(_FORMAT_KEYS[fmt]))
    if unknown:
        raise ManifestError(
            f"{where}: unknown top-level keys {unknown} for format {fmt!r}; it takes "
            f"{', '.join(_COMMON_KEYS + _FORMAT_KEYS[fmt])} (see datasets/README.md)"
        )
    task = raw.get("task")
    if task is not None and not isinstance(task, dict):
        raise ManifestError(f"{where}: [task] must be a table")
    source = raw.get("source", {})
    if not isinstance(source, dict):
        raise ManifestError(f"{where}: [source] must be a table")
    common: dict[str, Any] = {
        "path": path,
        "title": str(raw.get("title", path.parent.name)),
        "format": fmt,
        "files": _parse_files(raw, where, _COUNT_KEYS[fmt]),
        "task": task,
        "source": dict(source),
        "raw": raw,
    }
    if fmt == "csv":
        return _read_csv_manifest(raw, where, common)
    if fmt == "sktime-ts":
        return _read_cases_manifest(raw, where, common)
    return _read_recordings_manifest(raw, where, common)


def _read_csv_manifest(raw: dict[str, Any], where: str, common: dict[str, Any]) -> Manifest:
    if len(common["files"]) != 1 or "file" not in raw:
        raise ManifestError(f"{where}: a csv dataset has exactly one data file; declare it as [file] with path = ...")
    time = _parse_time(_table(raw, "time", where), f"{where} [time]")
    split_tbl = _table(raw, "split", where)
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, list) or not columns_raw:
        raise ManifestError(
            f"{where}: no [[columns]] entries; declare every CSV column, e.g.\n"
            '[[columns]]\nname = "temp"\nkind = "numeric"\nunit = "°C"'
        )
    labels_raw = raw.get("labels")
    return Manifest(
        **common,
        na_values=tuple(_optional(raw["file"], "na_values", list, f"{where} [file]") or ()),
        time=time,
        split=_parse_split(split_tbl, f"{where} [split]"),
        columns=tuple(_parse_column(c, f"{where} [[columns]] #{i + 1}", time.utc) for i, c in enumerate(columns_raw)),
        labels=None if labels_raw is None else _parse_labels(labels_raw, f"{where} [labels]", time.utc),
    )


def _read_cases_manifest(raw: dict[str, Any], where: str, common: dict[str, Any]) -> CasesManifest:
    files: tuple[FileSpec, ...] = common["files"]
    splits = [f.split for f in files]
    if None in splits or len(set(splits)) != len(splits) or "train" not in splits:
        raise ManifestError(
            f"{where}: a sktime-ts dataset has one [[files]] entry per split, each with split = one of "
            f'{", ".join(SPLITS)}, and a "train" one at least; got splits {splits}'
        )
    series = _optional_table(raw, "series", where)
    return CasesManifest(
        **common,
        interval=_parse_interval(series, f"{where} [series]", required=False),
        length=_optional(series, "length", int, f"{where} [series]"),
        class_names=_parse_classes(raw, where),
        channels=_parse_channels(raw, where),
    )


_ARRAY_ROLES = ("samples", "offsets", "label")
_OPTIONAL_ARRAY_ROLES = ("subject", "class_names", "channel_names")


def _read_recordings_manifest(raw: dict[str, Any], where: str, common: dict[str, Any]) -> RecordingsManifest:
    if len(common["files"]) != 1 or "file" not in raw:
        raise ManifestError(f"{where}: an npz-recordings dataset has one .npz file; declare it as [file]")
    tbl = _table(raw, "arrays", where)
    w = f"{where} [arrays]"
    arrays = {role: _required(tbl, role, str, w) for role in _ARRAY_ROLES}
    for role in _OPTIONAL_ARRAY_ROLES:
        name = _optional(tbl, role, str, w)
        if name is not None:
            arrays[role] = name
    meta = _optional(tbl, "meta", list, w) or []
    if not all(isinstance(m, str) for m in meta):
        raise ManifestError(f'{w}: meta must be a list of array names, e.g. meta = ["side"]; got {meta!r}')
    unknown = sorted(set(tbl) - set(_ARRAY_ROLES) - set(_OPTIONAL_ARRAY_ROLES) - {"meta"})
    if unknown:
        raise ManifestError(
            f"{w}: unknown keys {unknown}; it takes {', '.join(_ARRAY_ROLES + _OPTIONAL_ARRAY_ROLES)} and meta"
        )
    series = _optional_table(raw, "series", where)
    return RecordingsManifest(
        **common,
        arrays=arrays,
        meta=tuple(meta),
        interval=_parse_interval(series, f"{where} [series]", required=False),
        class_names=_parse_classes(raw, where),
        channels=_parse_channels(raw, where),
    )


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: missing table [{key}]; see datasets/README.md for its keys")
    return value


def _optional_table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ManifestError(f"{where}: [{key}] must be a table; see datasets/README.md for its keys")
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


def _parse_files(raw: dict[str, Any], where: str, count_key: str) -> tuple[FileSpec, ...]:
    single, many = raw.get("file"), raw.get("files")
    if (single is None) == (many is None):
        raise ManifestError(
            f"{where}: give the data as [file] (one file) or as [[files]] (one entry per split, each with split = "
            '"train" | "val" | "test"), not both and not neither; see datasets/README.md'
        )
    if single is not None:
        if not isinstance(single, dict):
            raise ManifestError(f"{where}: [file] must be a table with path and sha256")
        entries, labels = [single], [f"{where} [file]"]
    else:
        if not isinstance(many, list) or not many or not all(isinstance(e, dict) for e in many):
            raise ManifestError(f"{where}: [[files]] must be one or more tables with path, sha256 and split")
        entries, labels = many, [f"{where} [[files]] #{i + 1}" for i in range(len(many))]
    specs = []
    for entry, w in zip(entries, labels, strict=True):
        path = _required(entry, "path", str, w)
        # The folder is the unit that is checked and copied; a path out of it would escape both.
        if Path(path).is_absolute() or ".." in Path(path).parts:
            raise ManifestError(f"{w}: path {path!r} must name a file inside the dataset's folder")
        split = _optional(entry, "split", str, w)
        if split is not None and split not in SPLITS:
            raise ManifestError(f"{w}: split {split!r} is not one of {', '.join(SPLITS)}")
        specs.append(FileSpec(path, _optional(entry, "sha256", str, w), split, _optional(entry, count_key, int, w)))
    return tuple(specs)


def _parse_interval(tbl: dict[str, Any], where: str, *, required: bool = True) -> pd.Timedelta | None:
    text = _required(tbl, "interval", str, where) if required else _optional(tbl, "interval", str, where)
    if text is None:
        return None
    try:
        interval = pd.Timedelta(text)
    except ValueError as exc:
        raise ManifestError(f'{where}: interval {text!r} is not a duration such as "1h" or "20ms"') from exc
    if interval <= pd.Timedelta(0):
        raise ManifestError(f"{where}: interval must be positive, got {text!r}")
    return interval


def _stamp(value: Any, where: str, key: str, utc: bool) -> pd.Timestamp:
    """A time from the manifest (TOML string or TOML datetime) in the clock of the index."""
    if isinstance(value, datetime.date):
        stamp = pd.Timestamp(value)
    elif isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError as exc:
            raise ManifestError(f"{where}: {key} {value!r} is not an ISO-8601 time") from exc
    else:
        raise ManifestError(f'{where}: {key} must be an ISO-8601 time such as "2024-01-01T00:00:00", got {value!r}')
    if stamp.tzinfo is not None:
        if not utc:
            raise ManifestError(
                f"{where}: {key} {value!r} has a UTC offset but the time index has none; write it in the file's own "
                "clock without an offset, or set utc = true in [time] so the index is in UTC"
            )
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


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
    interval = _parse_interval(tbl, where)
    assert interval is not None  # required=True
    utc = bool(_optional(tbl, "utc", bool, where))

    def stamp(key: str) -> pd.Timestamp | None:
        value = tbl.get(key)
        return None if value is None else _stamp(value, where, key, utc)

    return TimeSpec(column, parts, _optional(tbl, "format", str, where), interval, stamp("start"), stamp("end"), utc)


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


def _parse_column(entry: Any, where: str, utc: bool) -> ColumnSpec:
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
    invalid_raw = entry.get("invalid")
    invalid: tuple[pd.Timestamp, ...] = ()
    if invalid_raw is not None:
        if not isinstance(invalid_raw, list) or not invalid_raw:
            raise ManifestError(f'{where} ({name}): invalid must be a list of times, e.g. ["2012-03-25T01:00:00"]')
        if kind != "numeric" or fill is None:
            raise ManifestError(
                f"{where} ({name}): invalid readings are filled like missing ones, so the column must be numeric with "
                'fill = "interpolate" and a fill_reason'
            )
        if not entry.get("invalid_reason"):
            raise ManifestError(f"{where} ({name}): invalid needs invalid_reason saying how those readings are wrong")
        invalid = tuple(_stamp(v, where, "invalid", utc) for v in invalid_raw)
    return ColumnSpec(
        name=name,
        kind=kind,  # type: ignore[arg-type]  # checked against _COLUMN_KINDS above
        unit=str(entry.get("unit", "")),
        description=str(entry.get("description", "")),
        missing=_optional(entry, "missing", int, where),
        fill=fill,
        fill_reason=_optional(entry, "fill_reason", str, where),
        invalid=invalid,
        invalid_reason=_optional(entry, "invalid_reason", str, where),
    )


def _parse_labels(tbl: Any, where: str, utc: bool) -> LabelSpec:
    example = (
        '\n[labels]\nname = "anomaly"\nrule = "how the intervals were chosen"\n'
        '[[labels.intervals]]\nstart = "2024-01-02T08:00:00"\nend = "2024-01-02T11:00:00"'
    )
    if not isinstance(tbl, dict):
        raise ManifestError(f"{where}: must be a table, e.g.{example}")
    name = _optional(tbl, "name", str, where) or "anomaly"
    rule = _optional(tbl, "rule", str, where)
    if not rule:
        # Labels made by hand are only as good as the rule that made them; a reader must be able to redo them.
        raise ManifestError(f"{where}: rule is missing; say how the intervals were chosen and by whom")
    entries = tbl.get("intervals")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ManifestError(f"{where}: needs one or more [[labels.intervals]] tables, e.g.{example}")
    intervals = []
    for i, entry in enumerate(entries):
        w = f"{where} intervals #{i + 1}"
        for key in ("start", "end"):
            if key not in entry:
                raise ManifestError(f"{w}: missing key {key!r}; an interval is start and end, both included")
        start, end = _stamp(entry["start"], w, "start", utc), _stamp(entry["end"], w, "end", utc)
        if end < start:
            raise ManifestError(f"{w}: end {end} is before start {start}")
        intervals.append(
            LabelInterval(
                start,
                end,
                kind=str(entry.get("kind", "")),
                note=str(entry.get("note", "")),
                rows=_optional(entry, "rows", int, w),
            )
        )
    intervals.sort(key=lambda iv: iv.start)
    for a, b in itertools.pairwise(intervals):
        if b.start <= a.end:
            raise ManifestError(f"{where}: intervals {a.start}..{a.end} and {b.start}..{b.end} overlap; merge them")
    return LabelSpec(name, rule, tuple(intervals))


def _parse_classes(raw: dict[str, Any], where: str) -> tuple[str, ...] | None:
    tbl = _optional_table(raw, "classes", where)
    names = _optional(tbl, "names", list, f"{where} [classes]")
    if names is None:
        return None
    if not names or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ManifestError(f'{where} [classes]: names must be distinct non-empty strings, e.g. ["walk", "run"]')
    return tuple(names)


def _parse_channels(raw: dict[str, Any], where: str) -> tuple[ChannelSpec, ...]:
    entries = raw.get("channels")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ManifestError(
            f"{where}: no [[channels]] entries; declare every channel in the file's order, e.g.\n"
            '[[channels]]\nname = "acc_x"\nunit = "g"'
        )
    channels = tuple(
        ChannelSpec(
            name=_required(e, "name", str, f"{where} [[channels]] #{i + 1}"),
            unit=str(e.get("unit", "")),
            description=str(e.get("description", "")),
        )
        for i, e in enumerate(entries)
    )
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ManifestError(f"{where}: [[channels]] names must be distinct, got {names}")
    return channels


def _fill_interpolate(series: pd.Series) -> pd.Series:
    # Linear in time (not in row number) so a gap in the index is bridged at the right slope; readings missing
    # at either edge have only one neighbour and take its value.
    return series.interpolate(method="time").ffill().bfill()


_FILLS = {"interpolate": _fill_interpolate}


# --------------------------------------------------------------------------------------------------------------
# Discovery and integrity


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
        f"the data file and a {MANIFEST} (see datasets/README.md) under datasets/ or a directory listed in {ENV_VAR}."
    )


def _listing() -> str:
    return ", ".join(available()) or "(none)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_files(manifest: BaseManifest) -> None:
    """Every declared file exists and has the declared sha256."""
    for spec in manifest.files:
        data_path = manifest.path_of(spec)
        if not data_path.is_file():
            raise ManifestError(f"{manifest.path} names file {spec.path!r} but {data_path} does not exist")
        actual = sha256_of(data_path)
        if spec.sha256 is None:
            table = (
                "[file]" if len(manifest.files) == 1 and "file" in manifest.raw else f"the [[files]] entry {spec.path}"
            )
            raise ManifestError(
                f"{manifest.path} has no sha256 under {table}. The file's sha256 is {actual}; once you have checked "
                f'the file is the one you mean, add sha256 = "{actual}" there.'
            )
        if actual != spec.sha256.lower():
            raise DatasetIntegrityError(
                f"{data_path} has sha256 {actual} but {manifest.path} expects {spec.sha256}. The file changed after "
                "the manifest was written: restore the original file, or, if the change is intended, put the new "
                "sha256 (and count) in the manifest and say how the data was changed in datasets/README.md."
            )


def _read_kind(name: str, kind: type[_M], loader: str) -> _M:
    manifest = read_manifest(_find(name))
    if not isinstance(manifest, kind):
        raise DatasetKindError(
            f"dataset {name!r} has format {manifest.format!r}, which {loader}() does not read; load it with "
            f"{_LOADERS[manifest.format]}({name!r}) (or load_any({name!r}))"
        )
    _verify_files(manifest)
    return manifest


def _check_split(name: str) -> str:
    if name not in SPLITS:
        raise WindowError(f"split {name!r} is not one of {', '.join(SPLITS)}")
    return name


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise WindowError(f"{key} must be a positive integer, got {value!r}")
    return int(value)


def _breaks(index: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    # Compare as timedelta64: pandas may keep the index in s, ms or us rather than ns.
    steps = np.diff(index.to_numpy())
    return np.flatnonzero(steps != interval.to_timedelta64()) + 1


def _true_runs(mask: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` inside ``[lo, hi)`` where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask[lo:hi].astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(lo + int(a), lo + int(b)) for a, b in zip(starts, stops, strict=True)]


# --------------------------------------------------------------------------------------------------------------
# csv: time series


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
        start, stop = self.split_bounds[_check_split(name)]
        return self.frame.iloc[start:stop]

    @property
    def segment_starts(self) -> np.ndarray:
        """Rows where the spacing to the previous row is not the declared interval: gaps a window must not span."""
        return _breaks(self.time, self.manifest.time.interval)

    def runs(self, split: Split | None = None) -> list[tuple[int, int]]:
        """Row ranges ``[lo, hi)`` without a time gap inside ``split`` (inside the whole file if None)."""
        start, stop = (0, len(self)) if split is None else self.split_bounds[_check_split(split)]
        breaks = self.segment_starts
        edges = np.unique(np.concatenate([[start], breaks[(breaks > start) & (breaks < stop)], [stop]]))
        return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(edges)]


def load(name: str) -> Dataset:
    """Load csv dataset ``name`` from the search path, checking the file's sha256 and the manifest's declarations."""
    manifest = _read_kind(name, Manifest, "load")
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
            series = _FILLS[spec.fill](series)  # type: ignore[index]  # fill is set when anything is missing
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
        raise ManifestError(f"{where}: time must increase strictly; data row {row} ({index[row - 1]}) does not")
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


# --------------------------------------------------------------------------------------------------------------
# Scaling


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
class StandardScaler:
    """Per-channel standardisation, ``(x - mean) / std``, with mean and population std (ddof=0) of every step of
    every case or recording it was fitted on."""

    channels: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, data: np.ndarray | Sequence[np.ndarray], channels: Sequence[str]) -> StandardScaler:
        """Fit on ``data`` [..., C] (e.g. cases [N, T, C]) or on a list of recordings [T_i, C]."""
        n = len(channels)
        parts = [data] if isinstance(data, np.ndarray) else list(data)
        if not parts:
            raise WindowError("nothing to fit the scaler on; give at least one case or recording")
        for part in parts:
            if np.shape(part)[-1] != n:
                raise WindowError(f"data has {np.shape(part)[-1]} channels in its last axis, the scaler {n}")
        steps = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, n) for p in parts])
        if steps.shape[0] == 0:
            raise WindowError("nothing to fit the scaler on: the data has no time steps")
        std = steps.std(axis=0)
        # A channel constant over the training data carries no scale; dividing by 1 keeps it finite.
        return cls(tuple(channels), steps.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise ``values`` [..., C], float64."""
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean


# --------------------------------------------------------------------------------------------------------------
# csv: forecasting windows


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


def _check_features(features: Any) -> tuple[str, ...]:
    if isinstance(features, str):
        raise WindowError(f"features must be a list of column names, e.g. [{features!r}], not one string")
    features = tuple(features)
    if not features:
        raise WindowError("features is empty; name at least one numeric column")
    return features


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
        object.__setattr__(self, "features", _check_features(self.features))
        self.dataset.check_numeric([*self.features, self.target])
        for key in ("window", "horizon"):
            _positive_int(key, getattr(self, key))
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
        task = _task_table(dataset.manifest, "forecast", "features, target, window and horizon")
        try:
            # features as written, not tuple()d: a string must reach the "not one string" check, not split into letters.
            return cls(dataset, task["features"], task["target"], int(task["window"]), int(task.get("horizon", 1)))
        except KeyError as exc:
            raise ManifestError(f"{dataset.manifest.path} [task] is missing {exc.args[0]!r}") from exc

    @property
    def span(self) -> int:
        """Rows one sample covers: the window plus the steps up to the target."""
        return self.window + self.horizon

    def starts(self, split: Split) -> np.ndarray:
        """Every row where a window may start so that inputs and target stay inside ``split`` and one gap-free run."""
        start, stop = self.dataset.split_bounds[_check_split(split)]
        runs = self.dataset.runs(split)
        valid = np.concatenate([np.arange(lo, hi - self.span + 1) for lo, hi in runs] or [np.empty(0, np.int64)])
        if valid.size == 0:
            longest = max((hi - lo for lo, hi in runs), default=0)
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
        _positive_int("stride", stride)
        if limit is not None:
            _positive_int("limit", limit)
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


def _task_table(manifest: BaseManifest, kind: str, keys: str) -> dict[str, Any]:
    task = manifest.task
    if not task or task.get("kind") != kind:
        raise ManifestError(f'{manifest.path} declares no {kind} task; add [task] with kind = "{kind}", {keys}')
    return task


# --------------------------------------------------------------------------------------------------------------
# csv: labelled streams for anomaly detection


@dataclass(frozen=True, eq=False)
class LabelledStream:
    """Consecutive rows ``start .. start+len-1`` with no time gap: scaled inputs ``u`` [T, F] float32 and the
    boolean label of each row."""

    u: np.ndarray
    labels: np.ndarray
    start: int
    time: pd.DatetimeIndex

    def __len__(self) -> int:
        return len(self.u)


@dataclass(frozen=True, eq=False)
class AnomalyTask:
    """Streams of ``features`` with the manifest's labels, for a detector that runs step by step (the ESN).

    A stream never spans a time gap: the file's gap-free runs inside a split are streamed separately, so a model
    state is never carried across missing readings. The min-max scaler is fitted on the training rows that carry no
    label, so the scale is that of normal operation and anomalies may fall outside [0, 1].
    """

    dataset: Dataset
    features: tuple[str, ...]
    window: int = 24
    scaler: MinMaxScaler = field(init=False)
    _scaled: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", _check_features(self.features))
        self.dataset.check_numeric(self.features)
        _positive_int("window", self.window)
        labels = self.dataset.labels
        if labels is None:
            raise ManifestError(
                f"{self.dataset.manifest.path} declares no [labels]; an anomaly task needs labelled intervals "
                "(see datasets/README.md)"
            )
        lo, hi = self.dataset.split_bounds["train"]
        normal = ~labels.to_numpy()[lo:hi]
        if not normal.any():
            raise WindowError(f"dataset {self.dataset.name!r} has no unlabelled training row to fit the scaler on")
        values = self.dataset.values(self.features)
        scaler = MinMaxScaler.fit(values[lo:hi][normal], self.features)
        object.__setattr__(self, "scaler", scaler)
        object.__setattr__(self, "_scaled", scaler.transform(values).astype(np.float32))

    @classmethod
    def from_manifest(cls, dataset: Dataset) -> AnomalyTask:
        """The task the dataset's manifest declares under ``[task]`` (kind = "anomaly")."""
        task = _task_table(dataset.manifest, "anomaly", "features and window")
        try:
            return cls(dataset, task["features"], int(task["window"]))
        except KeyError as exc:
            raise ManifestError(f"{dataset.manifest.path} [task] is missing {exc.args[0]!r}") from exc

    def streams(
        self, split: Split | None = None, *, normal_only: bool = False, min_length: int | None = None
    ) -> list[LabelledStream]:
        """The gap-free runs of ``split`` (of the whole file if None) that are at least ``min_length`` rows long
        (default: one ``window``). ``normal_only`` cuts every labelled row out, as a detector's training data."""
        min_length = _positive_int("min_length", self.window if min_length is None else min_length)
        labels = self.dataset.labels.to_numpy()  # type: ignore[union-attr]  # checked in __post_init__
        out = []
        for lo, hi in self.dataset.runs(split):
            pieces = _true_runs(~labels, lo, hi) if normal_only else [(lo, hi)]
            for a, b in pieces:
                if b - a >= min_length:
                    out.append(LabelledStream(self._scaled[a:b], labels[a:b].copy(), a, self.dataset.time[a:b]))
        return out


# --------------------------------------------------------------------------------------------------------------
# Labelled multichannel samples (cases, or windows of cases and recordings)


@dataclass(frozen=True, eq=False)
class ClassificationData:
    """Labelled samples of equal length: ``X`` float32 [N, T, C], ``y`` int64 [N] indexing ``class_names``.

    ``case[k]`` is the case (or recording) sample ``k`` came from and ``offset[k]`` its first step there, so windows
    cut from one case can be traced back and voted over; ``subject[k]`` is who was recorded, where known.
    """

    X: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    channels: tuple[str, ...]
    units: tuple[str, ...]
    split: str
    case: np.ndarray
    offset: np.ndarray
    subject: np.ndarray | None = None
    interval: pd.Timedelta | None = None

    def __post_init__(self) -> None:
        n = len(self.X)
        if self.X.ndim != 3 or self.X.shape[2] != len(self.channels):
            raise WindowError(
                f"X must be [N, T, {len(self.channels)}] for channels {self.channels}, got {self.X.shape}"
            )
        for key in ("y", "case", "offset", "subject"):
            value = getattr(self, key)
            if value is not None and np.shape(value) != (n,):
                raise WindowError(f"{key} must have one entry per sample ({n}), got shape {np.shape(value)}")

    def __len__(self) -> int:
        return len(self.X)

    @property
    def steps(self) -> int:
        return int(self.X.shape[1])

    def class_counts(self) -> dict[str, int]:
        """Samples per class, every class listed (0 if absent), in class order."""
        counts = np.bincount(self.y, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}

    def flat(self, order: Literal["time", "channel"] = "time") -> np.ndarray:
        """[N, T*C] inputs for a dense network. ``"time"``: all channels of step 0, then of step 1, ... (the order a
        device receives a stream in); ``"channel"``: all steps of channel 0, then of channel 1, ..."""
        if order not in ("time", "channel"):
            raise WindowError(f'order must be "time" or "channel", got {order!r}')
        X = self.X if order == "time" else self.X.transpose(0, 2, 1)
        return np.ascontiguousarray(X.reshape(len(self.X), -1))

    def standardise(self, scaler: StandardScaler) -> ClassificationData:
        """The same samples with ``scaler`` applied per channel (fit the scaler on the training split only)."""
        if scaler.channels != self.channels:
            raise WindowError(f"scaler was fitted on channels {scaler.channels}, these samples have {self.channels}")
        return replace(self, X=scaler.transform(self.X).astype(np.float32))

    def windows(self, window: int, stride: int | None = None) -> ClassificationData:
        """Every sample cut into windows of ``window`` steps starting every ``stride`` steps (default: ``window``,
        no overlap); a window keeps its sample's label, case and subject. Steps after the last whole window are
        dropped."""
        window = _positive_int("window", window)
        stride = window if stride is None else _positive_int("stride", stride)
        starts = np.arange(0, self.steps - window + 1, stride)
        if starts.size == 0:
            raise WindowError(
                f"window {window} is longer than the {self.steps} steps of each sample; use <= {self.steps}"
            )
        per = starts.size
        X = self.X[:, starts[:, None] + np.arange(window)].reshape(len(self) * per, window, self.X.shape[2])
        return replace(
            self,
            X=X,
            y=np.repeat(self.y, per),
            case=np.repeat(self.case, per),
            offset=np.repeat(self.offset, per) + np.tile(starts, len(self)),
            subject=None if self.subject is None else np.repeat(self.subject, per),
        )

    def select(self, mask: np.ndarray) -> ClassificationData:
        """The samples where boolean ``mask`` [N] is True (or the given indices)."""
        return replace(
            self,
            X=self.X[mask],
            y=self.y[mask],
            case=self.case[mask],
            offset=self.offset[mask],
            subject=None if self.subject is None else self.subject[mask],
        )


# --------------------------------------------------------------------------------------------------------------
# sktime-ts: cases


@dataclass(frozen=True, eq=False)
class TsFile:
    """The content of one sktime ``.ts`` file: header values, ``X`` float64 [N, T, C] and each case's label text."""

    path: Path
    header: dict[str, str]
    class_labels: tuple[str, ...]
    X: np.ndarray
    labels: tuple[str, ...]

    @property
    def problem(self) -> str:
        return self.header.get("problemname", "")


# Headers whose value makes the file something this reader does not handle (and would misread if it ignored them).
_TS_UNSUPPORTED = {
    "timestamps": ("true", "time-stamped values"),
    "equallength": ("false", "cases of unequal length"),
    "targetlabel": ("true", "regression targets"),
}


def read_ts(path: Path) -> TsFile:
    """Parse an sktime ``.ts`` file of equal-length, labelled, multichannel cases.

    Header lines ``@key value`` (``@problemName``, ``@dimensions``, ``@seriesLength``, ``@classLabel true A B ...``)
    come before ``@data``; each line after it is one case, ``channel:channel:...:label``, every channel a
    comma-separated list of values. ``#`` lines are comments.
    """
    header: dict[str, str] = {}
    class_labels: tuple[str, ...] | None = None
    cases: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    with path.open(encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, 1):
            line = text.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}:{lineno}"
            if not in_data:
                if not line.startswith("@"):
                    raise DataFormatError(f"{where}: expected a @key header line or @data, got {line[:40]!r}")
                key, _, value = line[1:].partition(" ")
                key, value = key.lower(), value.strip()
                if key == "data":
                    in_data = True
                    if class_labels is None:
                        raise DataFormatError(
                            f"{where}: no @classLabel true <names> line before @data; a classification file "
                            "names its classes"
                        )
                    continue
                bad, what = _TS_UNSUPPORTED.get(key, (None, ""))
                if bad is not None and value.split()[:1] == [bad]:
                    raise DataFormatError(f"{where}: @{key} {value} — this reader handles no {what}")
                if key == "classlabel":
                    flag, *names = value.split()
                    if flag.lower() != "true" or not names:
                        raise DataFormatError(f"{where}: @classLabel {value!r}: the cases must carry class labels")
                    class_labels = tuple(names)
                header[key] = value
                continue
            *channel_texts, label = line.split(":")
            if not channel_texts:
                raise DataFormatError(f"{where}: a case is channel:channel:...:label, got no ':' in {line[:40]!r}")
            if label not in (class_labels or ()):
                raise DataFormatError(f"{where}: label {label!r} is not one of @classLabel {class_labels}")
            try:
                channels = [np.array(c.split(","), dtype=np.float64) for c in channel_texts]
            except ValueError as exc:
                raise DataFormatError(
                    f"{where}: {exc}; values must be numbers (missing values '?' are not supported: fill them in a "
                    "copy of the file and record how in datasets/README.md)"
                ) from exc
            lengths = {c.size for c in channels}
            if len(lengths) != 1:
                raise DataFormatError(f"{where}: channels have different lengths {sorted(lengths)}")
            if cases and (len(channels), channels[0].size) != cases[0].shape[::-1]:
                raise DataFormatError(
                    f"{where}: case has {len(channels)} channels x {channels[0].size} steps, the first case "
                    f"{cases[0].shape[1]} x {cases[0].shape[0]}"
                )
            cases.append(np.stack(channels, axis=-1))
            labels.append(label)
    if not cases:
        raise DataFormatError(f"{path}: no cases{'' if in_data else ' and no @data line'}")
    X = np.stack(cases)
    for key, actual in (("dimensions", X.shape[2]), ("serieslength", X.shape[1])):
        if key in header and header[key] != str(actual):
            raise DataFormatError(f"{path}: @{key} says {header[key]} but the cases have {actual}")
    return TsFile(path, header, class_labels or (), X, tuple(labels))


@dataclass(frozen=True, eq=False)
class CaseDataset:
    """A loaded sktime-ts dataset: one :class:`ClassificationData` per split, as the files divide them."""

    name: str
    manifest: CasesManifest
    splits: dict[str, ClassificationData]

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.splits["train"].class_names

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.manifest.channels)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(c.unit for c in self.manifest.channels)

    def split(self, name: str) -> ClassificationData:
        if _check_split(name) not in self.splits:
            raise WindowError(f"dataset {self.name!r} has no {name!r} split; it has {', '.join(self.splits)}")
        return self.splits[name]

    @property
    def train(self) -> ClassificationData:
        return self.split("train")

    @property
    def test(self) -> ClassificationData:
        return self.split("test")


def load_cases(name: str) -> CaseDataset:
    """Load sktime-ts dataset ``name``: every file's sha256 checked, one split per file."""
    manifest = _read_kind(name, CasesManifest, "load_cases")
    parsed = [(spec, read_ts(manifest.path_of(spec))) for spec in manifest.files]
    file_classes = parsed[0][1].class_labels
    class_names = manifest.class_names or file_classes
    channels = tuple(c.name for c in manifest.channels)
    splits = {}
    for spec, ts in parsed:
        where = f"{manifest.path} ({spec.path})"
        if set(ts.class_labels) != set(class_names):
            raise ManifestError(
                f"{where}: the file's @classLabel names {list(ts.class_labels)} differ from "
                f"{'[classes] names' if manifest.class_names else parsed[0][0].path + ' ones'} {list(class_names)}"
            )
        if spec.count is not None and spec.count != len(ts.X):
            raise ManifestError(
                f"{where}: the file has {len(ts.X)} cases but the manifest declares cases = {spec.count}"
            )
        if ts.X.shape[2] != len(channels):
            raise ManifestError(
                f"{where}: the file has {ts.X.shape[2]} channels but [[channels]] declares {len(channels)}: {channels}"
            )
        if manifest.length is not None and ts.X.shape[1] != manifest.length:
            raise ManifestError(f"{where}: cases have {ts.X.shape[1]} steps but [series] length = {manifest.length}")
        n = len(ts.X)
        splits[str(spec.split)] = ClassificationData(
            X=ts.X.astype(np.float32),
            y=np.array([class_names.index(label) for label in ts.labels], dtype=np.int64),
            class_names=class_names,
            channels=channels,
            units=tuple(c.unit for c in manifest.channels),
            split=str(spec.split),
            case=np.arange(n, dtype=np.int64),
            offset=np.zeros(n, dtype=np.int64),
            interval=manifest.interval,
        )
    return CaseDataset(name=name, manifest=manifest, splits=splits)


@dataclass(frozen=True, eq=False)
class ClassificationTask:
    """Cases standardised per channel (mean and std fitted on the training cases only), optionally cut into
    windows of ``window`` steps every ``stride`` steps."""

    dataset: CaseDataset
    window: int | None = None
    stride: int | None = None
    scaler: StandardScaler = field(init=False)

    def __post_init__(self) -> None:
        if self.window is not None:
            _positive_int("window", self.window)
        if self.stride is not None:
            _positive_int("stride", self.stride)
        object.__setattr__(self, "scaler", StandardScaler.fit(self.dataset.train.X, self.dataset.channels))

    @classmethod
    def from_manifest(cls, dataset: CaseDataset) -> ClassificationTask:
        """The task the dataset's manifest declares under ``[task]`` (kind = "classification")."""
        task = _task_table(dataset.manifest, "classification", "and optionally window and stride")
        window, stride = task.get("window"), task.get("stride")
        return cls(dataset, None if window is None else int(window), None if stride is None else int(stride))

    def windows(self, split: Split = "train") -> ClassificationData:
        data = self.dataset.split(split).standardise(self.scaler)
        return data if self.window is None else data.windows(self.window, self.stride)


# --------------------------------------------------------------------------------------------------------------
# npz-recordings


def _subject_key(subject: str) -> tuple[int, int | str]:
    # Subjects are often numbered: "2" before "10".
    return (0, int(subject)) if subject.isdigit() else (1, subject)


@dataclass(frozen=True, eq=False)
class RecordingDataset:
    """A loaded npz-recordings dataset: recording ``i`` is ``samples[offsets[i]:offsets[i+1]]`` [T_i, C] float32,
    of class ``y[i]`` (an index into ``class_names``), recorded from ``subject[i]``."""

    name: str
    manifest: RecordingsManifest
    samples: np.ndarray
    offsets: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    subject: np.ndarray | None
    meta: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.y)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.manifest.channels)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(c.unit for c in self.manifest.channels)

    @property
    def interval(self) -> pd.Timedelta | None:
        return self.manifest.interval

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def recording(self, i: int) -> np.ndarray:
        return self.samples[self.offsets[i] : self.offsets[i + 1]]

    @property
    def recordings(self) -> list[np.ndarray]:
        """Every recording as a [T_i, C] view into ``samples``."""
        return [self.recording(i) for i in range(len(self))]

    @property
    def subjects(self) -> tuple[str, ...]:
        if self.subject is None:
            return ()
        return tuple(sorted(set(self.subject.tolist()), key=_subject_key))

    def class_counts(self, indices: np.ndarray | None = None) -> dict[str, int]:
        """Recordings per class (of ``indices`` if given), every class listed."""
        y = self.y if indices is None else self.y[indices]
        counts = np.bincount(y, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}

    def windows(
        self,
        indices: Sequence[int] | np.ndarray,
        window: int,
        stride: int | None = None,
        *,
        scaler: StandardScaler | None = None,
        split: str = "",
    ) -> ClassificationData:
        """Windows of ``window`` samples every ``stride`` (default: ``window``) from each recording in ``indices``,
        never across two recordings; a recording shorter than the window gives none. ``scaler`` standardises."""
        window = _positive_int("window", window)
        stride = window if stride is None else _positive_int("stride", stride)
        steps = np.arange(window)
        parts, recs, offsets = [], [], []
        for i in np.asarray(indices, dtype=np.int64).tolist():
            rec = self.recording(i)
            if scaler is not None:
                rec = scaler.transform(rec)
            starts = np.arange(0, len(rec) - window + 1, stride)
            parts.append(rec[starts[:, None] + steps].astype(np.float32, copy=False))
            recs.append(np.full(starts.size, i, dtype=np.int64))
            offsets.append(starts)
        n_windows = sum(p.shape[0] for p in parts)
        if n_windows == 0:
            raise WindowError(
                f"no window of {window} samples fits in the {len(parts)} recordings asked for of {self.name!r}; "
                f"the longest has {max((len(self.recording(i)) for i in indices), default=0)} samples"
            )
        case = np.concatenate(recs)
        return ClassificationData(
            X=np.concatenate(parts).reshape(n_windows, window, len(self.channels)),
            y=self.y[case],
            class_names=self.class_names,
            channels=self.channels,
            units=self.units,
            split=split,
            case=case,
            offset=np.concatenate(offsets).astype(np.int64),
            subject=None if self.subject is None else self.subject[case],
            interval=self.interval,
        )


def load_recordings(name: str) -> RecordingDataset:
    """Load npz-recordings dataset ``name``, checking the file's sha256 and its arrays against the manifest."""
    manifest = _read_kind(name, RecordingsManifest, "load_recordings")
    path = manifest.data_path
    try:
        # Never allow_pickle: unpickling a data file can run arbitrary code.
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path} is not a readable .npz file: {exc}") from exc
    with npz:
        arrays: dict[str, np.ndarray] = {}
        for role, array in [*manifest.arrays.items(), *((m, m) for m in manifest.meta)]:
            if array not in npz.files:
                raise ManifestError(
                    f"{manifest.path} [arrays] {role} = {array!r}, but {path} has arrays {sorted(npz.files)}"
                )
            try:
                arrays[role] = npz[array]
            except ValueError as exc:
                raise DataFormatError(
                    f"{path}: array {array!r} holds Python objects, which need pickle to read; save it as a plain "
                    f"numeric or string array ({exc})"
                ) from exc
    where = f"{path} (manifest {manifest.path})"
    samples, offsets, y = arrays["samples"], arrays["offsets"], arrays["label"]
    channels = tuple(c.name for c in manifest.channels)
    if samples.ndim != 2 or samples.shape[1] != len(channels) or not np.issubdtype(samples.dtype, np.number):
        raise ManifestError(
            f"{where}: samples must be numbers [total samples, {len(channels)}] for [[channels]] {channels}; got "
            f"{samples.dtype} {samples.shape}"
        )
    if not np.isfinite(samples).all():
        raise DataFormatError(
            f"{where}: samples hold non-finite values; clean them in a copy and say how in the README"
        )
    if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer) or offsets.size < 2:
        raise ManifestError(
            f"{where}: offsets must be 1-D integers [recordings + 1], got {offsets.dtype} {offsets.shape}"
        )
    if offsets[0] != 0 or offsets[-1] != len(samples) or (np.diff(offsets) <= 0).any():
        raise ManifestError(
            f"{where}: offsets must rise strictly from 0 to the number of samples ({len(samples)}): recording i is "
            f"samples[offsets[i]:offsets[i+1]]; got {offsets[0]}..{offsets[-1]}"
        )
    n = offsets.size - 1
    spec = manifest.files[0]
    if spec.count is not None and spec.count != n:
        raise ManifestError(f"{where}: the file has {n} recordings but the manifest declares recordings = {spec.count}")
    file_classes = tuple(str(c) for c in arrays["class_names"].tolist()) if "class_names" in arrays else None
    class_names = manifest.class_names or file_classes
    if class_names is None:
        raise ManifestError(f"{where}: name the classes with [classes] names = [...] or [arrays] class_names")
    if manifest.class_names and file_classes is not None and file_classes != manifest.class_names:
        raise ManifestError(f"{where}: [classes] names {manifest.class_names} differ from the file's {file_classes}")
    if "channel_names" in arrays:
        file_channels = tuple(str(c) for c in arrays["channel_names"].tolist())
        if file_channels != channels:
            raise ManifestError(
                f"{where}: [[channels]] {channels} differ from the file's channel names {file_channels}"
            )
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(class_names):
        raise ManifestError(
            f"{where}: label must be one integer class index in 0..{len(class_names) - 1} per recording ({n}); got "
            f"{y.dtype} {y.shape}"
        )
    per_recording = {k: v for k, v in arrays.items() if k == "subject" or k in manifest.meta}
    for key, value in per_recording.items():
        if value.shape != (n,):
            raise ManifestError(f"{where}: {key} must have one entry per recording ({n}), got shape {value.shape}")
    return RecordingDataset(
        name=name,
        manifest=manifest,
        samples=samples.astype(np.float32, copy=False),
        offsets=offsets.astype(np.int64),
        y=y.astype(np.int64),
        class_names=class_names,
        subject=arrays["subject"].astype(str) if "subject" in arrays else None,
        meta={m: arrays[m] for m in manifest.meta},
    )


@dataclass(frozen=True, eq=False)
class NoveltyTask:
    """Novelty detection across people: learn one class (``normal_class``) from the recordings of
    ``train_subjects``; test on every recording of the held-out ``test_subjects`` (default: all others), where the
    normal class is normal and every other class an anomaly. Windows never span two recordings; standardisation is
    fitted on the training recordings only."""

    dataset: RecordingDataset
    normal_class: str
    train_subjects: tuple[str, ...]
    window: int
    stride: int | None = None
    test_subjects: tuple[str, ...] | None = None
    scaler: StandardScaler = field(init=False)

    def __post_init__(self) -> None:
        ds = self.dataset
        if ds.subject is None:
            raise TaskError(f"{ds.manifest.path}: a novelty task splits by subject, but [arrays] names no subject")
        if self.normal_class not in ds.class_names:
            raise TaskError(f"normal_class {self.normal_class!r} is not one of {', '.join(ds.class_names)}")
        _positive_int("window", self.window)
        if self.stride is not None:
            _positive_int("stride", self.stride)
        for key in ("train_subjects", "test_subjects"):
            value = getattr(self, key)
            if isinstance(value, str):
                raise TaskError(f"{key} must be a list, e.g. [{value!r}], not one string")
        train = tuple(str(s) for s in self.train_subjects)
        test = (
            tuple(s for s in ds.subjects if s not in train)
            if self.test_subjects is None
            else tuple(str(s) for s in self.test_subjects)
        )
        unknown = sorted(set(train + test) - set(ds.subjects), key=_subject_key)
        if unknown:
            raise TaskError(f"subjects {unknown} are not in {ds.name!r}; its subjects are {', '.join(ds.subjects)}")
        both = sorted(set(train) & set(test), key=_subject_key)
        if both:
            raise TaskError(f"subjects {both} are in both train_subjects and test_subjects; a subject is in one only")
        if not train or not test:
            raise TaskError(f"train subjects {list(train)} and test subjects {list(test)}: both need at least one")
        object.__setattr__(self, "train_subjects", train)
        object.__setattr__(self, "test_subjects", test)
        if self.recordings("train").size == 0:
            raise TaskError(f"no {self.normal_class!r} recording from subjects {list(train)}")
        scaler = StandardScaler.fit([ds.recording(i) for i in self.recordings("train")], ds.channels)
        object.__setattr__(self, "scaler", scaler)

    @classmethod
    def from_manifest(cls, dataset: RecordingDataset) -> NoveltyTask:
        """The task the dataset's manifest declares under ``[task]`` (kind = "novelty")."""
        task = _task_table(dataset.manifest, "novelty", "normal_class, train_subjects and window")
        try:
            return cls(
                dataset,
                task["normal_class"],
                task["train_subjects"],
                int(task["window"]),
                None if task.get("stride") is None else int(task["stride"]),
                task.get("test_subjects"),
            )
        except KeyError as exc:
            raise ManifestError(f"{dataset.manifest.path} [task] is missing {exc.args[0]!r}") from exc

    @property
    def normal_index(self) -> int:
        return self.dataset.class_names.index(self.normal_class)

    def recordings(self, split: Literal["train", "test"]) -> np.ndarray:
        """Indices of the recordings in ``split``: train = the normal class of the train subjects, test = every
        recording of the test subjects."""
        ds = self.dataset
        if split == "train":
            mask = (ds.y == self.normal_index) & np.isin(ds.subject, self.train_subjects)  # type: ignore[arg-type]
        elif split == "test":
            mask = np.isin(ds.subject, self.test_subjects)  # type: ignore[arg-type]
        else:
            raise WindowError(f'a novelty task has splits "train" and "test", not {split!r}')
        return np.flatnonzero(mask)

    def windows(self, split: Literal["train", "test"] = "train") -> ClassificationData:
        """Standardised windows of the split's recordings; ``y`` keeps the class, :meth:`is_anomaly` the verdict."""
        return self.dataset.windows(self.recordings(split), self.window, self.stride, scaler=self.scaler, split=split)

    def is_anomaly(self, data: ClassificationData) -> np.ndarray:
        """True for every sample not of the normal class."""
        return data.y != self.normal_index


def load_any(name: str) -> Dataset | CaseDataset | RecordingDataset:
    """Load ``name`` with the loader its manifest's ``format`` calls for."""
    fmt = read_manifest(_find(name)).format
    if fmt == "sktime-ts":
        return load_cases(name)
    if fmt == "npz-recordings":
        return load_recordings(name)
    return load(name)
