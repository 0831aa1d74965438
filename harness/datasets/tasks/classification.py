"""Classification of ``sktime-ts`` cases: standardised per channel on the training cases, optionally windowed."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.datasets.checks import positive_int, task_table
from harness.datasets.manifest import Split
from harness.datasets.samples import ClassificationData
from harness.datasets.scalers import StandardScaler
from harness.datasets.ts_cases import CaseDataset


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
        task = task_table(dataset.manifest, "classification", "and optionally window and stride")
        window, stride = task.get("window"), task.get("stride")
        return cls(dataset, None if window is None else int(window), None if stride is None else int(stride))

    def windows(self, split: Split = "train") -> ClassificationData:
        data = self.dataset.split(split).standardise(self.scaler)
        return data if self.window is None else data.windows(self.window, self.stride)
