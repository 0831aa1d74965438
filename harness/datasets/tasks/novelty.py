"""Novelty detection across subjects from ``npz-recordings``: learn one class from some people's recordings, test
on everyone else's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from harness.datasets.checks import positive_int, task_table
from harness.datasets.errors import ManifestError, TaskError, WindowError
from harness.datasets.recordings import RecordingDataset, subject_key
from harness.datasets.samples import ClassificationData
from harness.datasets.scalers import StandardScaler


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
        task = task_table(dataset.manifest, "novelty", "normal_class, train_subjects and window")
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
