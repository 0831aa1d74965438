"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import datasets


@pytest.fixture(autouse=True)
def _no_user_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own HIL_DATASETS_PATH could shadow the vendored data; a test sets it only if it needs it."""
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)


@pytest.fixture(scope="session")
def vendored() -> Callable[[str], datasets.Dataset | datasets.CaseDataset | datasets.RecordingDataset]:
    """``vendored(name)``: the dataset shipped in datasets/<name>/, loaded by its format's loader once per session,
    with HIL_DATASETS_PATH ignored."""
    loaded: dict[str, datasets.Dataset | datasets.CaseDataset | datasets.RecordingDataset] = {}

    def load(name: str) -> datasets.Dataset | datasets.CaseDataset | datasets.RecordingDataset:
        if name not in loaded:
            with pytest.MonkeyPatch.context() as mp:
                mp.delenv(datasets.ENV_VAR, raising=False)
                loaded[name] = datasets.load_any(name)
        return loaded[name]

    return load
