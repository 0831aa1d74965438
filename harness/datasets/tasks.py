"""Tasks: what a model is fed. Forecast windows and anomaly streams from a csv dataset, standardised (windowed)
cases, and novelty detection across subjects from recordings; each can be read from the manifest's ``[task]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.datasets.checks import check_split, positive_int
from harness.datasets.csv_series import Dataset, true_runs
from harness.datasets.errors import ManifestError, TaskError, WindowError
from harness.datasets.manifest import BaseManifest, Split
from harness.datasets.recordings import RecordingDataset, subject_key
from harness.datasets.samples import ClassificationData
from harness.datasets.scalers import MinMaxScaler, StandardScaler
from harness.datasets.ts_cases import CaseDataset


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
            positive_int(key, getattr(self, key))
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
        start, stop = self.dataset.split_bounds[check_split(split)]
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
        positive_int("stride", stride)
        if limit is not None:
            positive_int("limit", limit)
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
        positive_int("window", self.window)
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
        min_length = positive_int("min_length", self.window if min_length is None else min_length)
        labels = self.dataset.labels.to_numpy()  # type: ignore[union-attr]  # checked in __post_init__
        out = []
        for lo, hi in self.dataset.runs(split):
            pieces = true_runs(~labels, lo, hi) if normal_only else [(lo, hi)]
            for a, b in pieces:
                if b - a >= min_length:
                    out.append(LabelledStream(self._scaled[a:b], labels[a:b].copy(), a, self.dataset.time[a:b]))
        return out


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
            positive_int("window", self.window)
        if self.stride is not None:
            positive_int("stride", self.stride)
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
        positive_int("window", self.window)
        if self.stride is not None:
            positive_int("stride", self.stride)
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
        unknown = sorted(set(train + test) - set(ds.subjects), key=subject_key)
        if unknown:
            raise TaskError(f"subjects {unknown} are not in {ds.name!r}; its subjects are {', '.join(ds.subjects)}")
        both = sorted(set(train) & set(test), key=subject_key)
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
