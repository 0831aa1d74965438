"""The ``manifest.toml`` schema: one frozen dataclass per table, and ``read_manifest``, which checks every key and
names the file and table of anything wrong.
"""

from __future__ import annotations

import datetime
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd

from harness.datasets.errors import DatasetKindError, ManifestError, UnknownColumnError

SPLITS = ("train", "val", "test")
FORMATS = ("csv", "sktime-ts", "npz-recordings")
Split = Literal["train", "val", "test"]
ColumnKind = Literal["numeric", "categorical", "time", "index"]
_COLUMN_KINDS = ("numeric", "categorical", "time", "index")
_TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")


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
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """``[file] where``: (column, accepted texts) pairs; a row is kept when every column holds one of its texts."""

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

    def select_rows(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The rows of the CSV, read as text, that ``[file] where`` keeps (all of them without ``where``), in file
        order. Raises UnknownColumnError for a column the CSV does not have, ManifestError when no row is kept."""
        if not self.where:
            return raw
        absent = [column for column, _ in self.where if column not in raw.columns]
        if absent:
            raise UnknownColumnError(
                f"{self.path} [file] where names column {', '.join(map(repr, absent))}, which "
                f"{self.data_path.name} does not have; its columns: {', '.join(map(repr, raw.columns))}"
            )
        keep = pd.Series(True, index=raw.index)
        for column, accepted in self.where:
            keep &= raw[column].isin(accepted)
        if keep.any():
            return raw.loc[keep].reset_index(drop=True)
        details = []
        for column, accepted in self.where:
            present = raw[column].dropna().unique().tolist()
            shown = ", ".join(map(repr, present[:10])) + (f" and {len(present) - 10} more" if len(present) > 10 else "")
            details.append(
                f"{column} in {list(accepted)} keeps {int(raw[column].isin(accepted).sum())} rows "
                f"(the column holds {shown or 'no value'})"
            )
        raise ManifestError(
            f"{self.path} [file] where keeps no row of the {len(raw)} in {self.data_path.name}: "
            + "; ".join(details)
            + ("; together they keep none" if len(self.where) > 1 else "")
            + ". Values match the CSV's text exactly (case and spaces count)."
        )

    @classmethod
    def read(cls, path: Path) -> Manifest:
        manifest = read_manifest(path)
        if not isinstance(manifest, Manifest):
            raise DatasetKindError(
                f"{path} declares format {manifest.format!r}, not a csv time series; read it with read_manifest()"
            )
        return manifest


class _Channels:
    """Names and units of the ``[[channels]]`` a manifest declares, in order."""

    channels: tuple[ChannelSpec, ...]

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def channel_units(self) -> tuple[str, ...]:
        return tuple(c.unit for c in self.channels)


@dataclass(frozen=True, kw_only=True)
class CasesManifest(_Channels, BaseManifest):
    """Manifest of a ``sktime-ts`` dataset: equal-length labelled cases, one ``.ts`` file per split."""

    interval: pd.Timedelta | None
    length: int | None
    class_names: tuple[str, ...] | None
    channels: tuple[ChannelSpec, ...]


@dataclass(frozen=True, kw_only=True)
class RecordingsManifest(_Channels, BaseManifest):
    """Manifest of an ``npz-recordings`` dataset: labelled recordings of any length, concatenated with offsets."""

    arrays: dict[str, str]
    meta: tuple[str, ...]
    interval: pd.Timedelta | None
    class_names: tuple[str, ...] | None
    channels: tuple[ChannelSpec, ...]


AnyManifest = Manifest | CasesManifest | RecordingsManifest
ManifestT = TypeVar("ManifestT", bound=BaseManifest)
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
            + ("; a row filter, where = { column = value }, goes in the [file] table" if "where" in unknown else "")
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
    columns = tuple(_parse_column(c, f"{where} [[columns]] #{i + 1}", time.utc) for i, c in enumerate(columns_raw))
    return Manifest(
        **common,
        na_values=tuple(_optional(raw["file"], "na_values", list, f"{where} [file]") or ()),
        time=time,
        split=_parse_split(split_tbl, f"{where} [split]"),
        columns=columns,
        labels=None if labels_raw is None else _parse_labels(labels_raw, f"{where} [labels]", time.utc),
        where=_parse_where(raw["file"].get("where"), f"{where} [file]", columns),
    )


def _parse_where(value: Any, where: str, columns: tuple[ColumnSpec, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``where = { origin = "LGA" }`` or ``{ origin = ["JFK", "LGA"] }``: a row is kept when each named column holds
    one of its values. Values are compared with the CSV's text; an integer stands for its decimal text."""
    if value is None:
        return ()
    example = 'e.g. where = { station = "LGA" } or where = { station = ["JFK", "LGA"] }'
    if not isinstance(value, dict) or not value:
        raise ManifestError(f"{where}: where must be a table of column = value(s), {example}; got {value!r}")
    declared = [c.name for c in columns]
    pairs = []
    for column, accepted in value.items():
        if column not in declared:
            raise UnknownColumnError(
                f"{where}: where names column {column!r}, which no [[columns]] entry declares; "
                f"declared columns: {', '.join(map(repr, declared))}"
            )
        items = accepted if isinstance(accepted, list) else [accepted]
        texts = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise ManifestError(
                    f"{where}: where {column} = {accepted!r}: give the values as the CSV writes them, as strings "
                    f'(or integers), e.g. "LGA" or "1.5"; got {item!r}'
                )
            texts.append(str(item))
        if not texts:
            raise ManifestError(f"{where}: where {column} = [] accepts no value, so no row would be kept; {example}")
        pairs.append((column, tuple(texts)))
    return tuple(pairs)


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
        if fill not in FILLS:
            raise ManifestError(f"{where} ({name}): fill {fill!r} is not one of {', '.join(FILLS)}")
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


FILLS = {"interpolate": _fill_interpolate}
