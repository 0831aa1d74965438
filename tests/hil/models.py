"""The models the HIL suite runs, by name, so every test and the benchmark use the same shapes and seeds."""

from __future__ import annotations

from dataclasses import dataclass

from harness.models.lstm import LstmModel


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
