"""Labelled multichannel samples of equal length, as cases, or windows of cases and recordings, come out of a load."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from harness.datasets.checks import positive_int
from harness.datasets.errors import WindowError
from harness.datasets.scalers import StandardScaler


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
        window = positive_int("window", window)
        stride = window if stride is None else positive_int("stride", stride)
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
