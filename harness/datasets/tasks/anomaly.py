"""Anomaly detection on a csv dataset with ``[labels]``: gap-free labelled streams for a step-by-step detector,
min-max scaled on the unlabelled training rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.datasets.checks import check_features, positive_int, task_table
from harness.datasets.csv_series import Dataset, true_runs
from harness.datasets.errors import ManifestError, WindowError
from harness.datasets.manifest import Split
from harness.datasets.scalers import MinMaxScaler


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
        object.__setattr__(self, "features", check_features(self.features))
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
        task = task_table(dataset.manifest, "anomaly", "features and window")
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
