"""Forecasting from a csv dataset: ``window`` steps of features -> a target ``horizon`` steps later, min-max scaled
on the training split, windows never crossing a split or a time gap."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from harness.datasets.checks import check_features, check_split, positive_int, task_table
from harness.datasets.csv_series import Dataset
from harness.datasets.errors import ManifestError, WindowError
from harness.datasets.manifest import Split
from harness.datasets.scalers import MinMaxScaler

log = logging.getLogger("harness.datasets")

FilledTargets = Literal["drop", "keep"]


@dataclass(frozen=True, eq=False)
class ForecastWindows:
    """Windows of one split: ``X[k]`` holds rows ``start[k] .. start[k]+window-1``, ``y[k]`` the target at
    ``target_row[k]`` (at ``target_time[k]``), all scaled by ``scaler``. ``left_out_filled`` windows were left out
    because their target is a value the manifest's fill made up, not a reading."""

    X: np.ndarray
    y: np.ndarray
    start: np.ndarray
    target_row: np.ndarray
    target_time: pd.DatetimeIndex
    split: str
    features: tuple[str, ...]
    target: str
    scaler: MinMaxScaler
    left_out_filled: int = 0

    def __len__(self) -> int:
        return len(self.X)

    def describe(self) -> str:
        text = f"{len(self)} {self.split} windows"
        if self.left_out_filled:
            text += f" ({self.left_out_filled} left out: their target {self.target!r} is a filled value, not a reading)"
        return text


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
        object.__setattr__(self, "features", check_features(self.features))
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
        task = task_table(dataset.manifest, "forecast", "features, target, window and horizon")
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
        filled_targets: FilledTargets | None = None,
    ) -> ForecastWindows:
        """Scaled float32 windows ``X`` [N, window, F] and targets ``y`` [N, 1].

        ``stride`` keeps windows whose start is a multiple of ``stride`` rows after the split's start. ``limit``
        keeps at most that many of those: the first ones, or (``spacing="even"``) ones spread evenly across the
        split so a short CI run still sees every season.

        ``filled_targets``: "drop" leaves out windows whose target was filled (interpolated) rather than read, and
        counts them in ``left_out_filled``; "keep" keeps them. The default drops them from the validation and test
        splits, where a score against a made-up target would measure the fill, not the model, and keeps them in
        training, where the manifest's fill_reason says why they may be learned from. They are left out after
        ``limit`` picks its windows, so the windows kept are the same ones either way.
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
        if filled_targets is None:
            filled_targets = "keep" if split == "train" else "drop"
        if filled_targets not in ("drop", "keep"):
            raise WindowError(f'filled_targets must be "drop" or "keep", got {filled_targets!r}')
        left_out = 0
        if filled_targets == "drop" and self.target in self.dataset.filled:
            made_up = self.dataset.filled[self.target].to_numpy()[starts + self.window - 1 + self.horizon]
            left_out = int(made_up.sum())
            starts = starts[~made_up]
            if left_out:
                log.info("%s %s: %d window(s) left out, their target %r is a filled value", self.dataset.name, split,
                         left_out, self.target)  # fmt: skip
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
            left_out_filled=left_out,
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
    filled_targets: FilledTargets | None = None,
) -> ForecastWindows:
    """Shorthand for ``ForecastTask(ds, features, target, window, horizon).windows(split, ...)``."""
    task = ForecastTask(ds, features, target, window, horizon)  # type: ignore[arg-type]  # tuple()d on init
    return task.windows(split, stride=stride, limit=limit, spacing=spacing, filled_targets=filled_targets)
