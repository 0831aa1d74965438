"""The models the HIL suite runs, by name, so every test and the benchmark use the same shapes and seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness import datasets
from harness.datasets.scalers import MinMaxScaler
from harness.models.lstm import LstmModel
from harness.suites.bench import FEATURES


@dataclass(frozen=True)
class ModelCase:
    name: str
    hidden: tuple[int, ...]
    window: int  # time steps per sequence
    seed: int

    def build(self, input_size: int) -> LstmModel:
        return LstmModel.random(input_size, list(self.hidden), 1, seed=self.seed)


# LSTM(32) over one day, and the seed tutorial's LSTM(128) over one week of hourly weather (7 features -> 1).
SMALL = ModelCase("lstm32x24", (32,), 24, seed=32)
SEED_TUTORIAL = ModelCase("lstm128x168", (128,), 168, seed=128)
CASES = (SMALL, SEED_TUTORIAL)


# The streaming and replay tests' LSTM(7 -> 32), fed the Beijing features one hour at a time.
STREAM_MODEL = LstmModel.random(len(FEATURES), [32], 1, seed=15)


def beijing_test_hours(count: int) -> np.ndarray:
    """``count`` consecutive hours of the Beijing test split, min-max scaled on the training split, float32 [T, 7]."""
    ds = datasets.load("beijing_pm")
    values = ds.values(list(FEATURES))
    lo, hi = ds.split_bounds["train"]
    scaled = MinMaxScaler.fit(values[lo:hi], FEATURES).transform(values)
    start = ds.split_bounds["test"][0]
    return np.ascontiguousarray(scaled[start : start + count], dtype=np.float32)
