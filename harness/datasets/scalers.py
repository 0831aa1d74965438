"""Scalers fitted on training data only: per-column min-max, per-channel standardisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.datasets.errors import UnknownColumnError, WindowError


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
