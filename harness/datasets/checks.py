"""Argument checks the loaders and tasks share: a split name, a positive count, a list of feature columns, the
manifest's ``[task]`` table of one kind."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.datasets.errors import ManifestError, WindowError
from harness.datasets.manifest import SPLITS, BaseManifest


def check_split(name: str) -> str:
    if name not in SPLITS:
        raise WindowError(f"split {name!r} is not one of {', '.join(SPLITS)}")
    return name


def positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise WindowError(f"{key} must be a positive integer, got {value!r}")
    return int(value)


def check_features(features: Any) -> tuple[str, ...]:
    if isinstance(features, str):
        raise WindowError(f"features must be a list of column names, e.g. [{features!r}], not one string")
    features = tuple(features)
    if not features:
        raise WindowError("features is empty; name at least one numeric column")
    return features


def task_table(manifest: BaseManifest, kind: str, keys: str) -> dict[str, Any]:
    task = manifest.task
    if not task or task.get("kind") != kind:
        raise ManifestError(f'{manifest.path} declares no {kind} task; add [task] with kind = "{kind}", {keys}')
    return task
