"""Argument checks the loaders and tasks share: a split name, a positive count."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.datasets.errors import WindowError
from harness.datasets.manifest import SPLITS


def check_split(name: str) -> str:
    if name not in SPLITS:
        raise WindowError(f"split {name!r} is not one of {', '.join(SPLITS)}")
    return name


def positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise WindowError(f"{key} must be a positive integer, got {value!r}")
    return int(value)
