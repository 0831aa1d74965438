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

from harness.datasets.csv_series import Dataset, LabelSegment, load
from harness.datasets.errors import (
    DataFormatError,
    DatasetError,
    DatasetIntegrityError,
    DatasetKindError,
    DatasetNotFoundError,
    ManifestError,
    TaskError,
    UnknownColumnError,
    WindowError,
)
from harness.datasets.manifest import (
    FORMATS,
    SPLITS,
    AnyManifest,
    BaseManifest,
    CasesManifest,
    ChannelSpec,
    ColumnKind,
    ColumnSpec,
    FileSpec,
    LabelInterval,
    LabelSpec,
    Manifest,
    RecordingsManifest,
    Split,
    SplitSpec,
    TimeSpec,
    read_manifest,
)
from harness.datasets.recordings import RecordingDataset, load_recordings
from harness.datasets.samples import ClassificationData
from harness.datasets.scalers import MinMaxScaler, StandardScaler
from harness.datasets.store import ENV_VAR, MANIFEST, REPO_DATASETS, available, find_manifest, search_path, sha256_of
from harness.datasets.tasks import (
    AnomalyTask,
    ClassificationTask,
    ForecastTask,
    ForecastWindows,
    LabelledStream,
    NoveltyTask,
    forecast_windows,
)
from harness.datasets.ts_cases import CaseDataset, TsFile, load_cases, read_ts

__all__ = [
    "ENV_VAR",
    "FORMATS",
    "MANIFEST",
    "REPO_DATASETS",
    "SPLITS",
    "AnomalyTask",
    "AnyManifest",
    "BaseManifest",
    "CaseDataset",
    "CasesManifest",
    "ChannelSpec",
    "ClassificationData",
    "ClassificationTask",
    "ColumnKind",
    "ColumnSpec",
    "DataFormatError",
    "Dataset",
    "DatasetError",
    "DatasetIntegrityError",
    "DatasetKindError",
    "DatasetNotFoundError",
    "FileSpec",
    "ForecastTask",
    "ForecastWindows",
    "LabelInterval",
    "LabelSegment",
    "LabelSpec",
    "LabelledStream",
    "Manifest",
    "ManifestError",
    "MinMaxScaler",
    "NoveltyTask",
    "RecordingDataset",
    "RecordingsManifest",
    "Split",
    "SplitSpec",
    "StandardScaler",
    "TaskError",
    "TimeSpec",
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
    "sha256_of",
]


def load_any(name: str) -> Dataset | CaseDataset | RecordingDataset:
    """Load ``name`` with the loader its manifest's ``format`` calls for."""
    fmt = read_manifest(find_manifest(name)).format
    if fmt == "sktime-ts":
        return load_cases(name)
    if fmt == "npz-recordings":
        return load_recordings(name)
    return load(name)
